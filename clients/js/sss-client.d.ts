// Type declarations of sss-client (sss-client.mjs / sss-client.cjs).

/** Node-style callback: `err` is null on success. */
export type Callback<T> = (err: SSSError | Error | null, result?: T) => void;

/**
 * subscribe's callback, with the original client's arguments:
 * `(undefined, true, sub)` for a new subscription (`(null, true, sub)` when the
 * channel was already held), `(undefined, false)` when the server refused,
 * `(err)` on an error (not READY, a bad name, the connection dropped).
 */
export type SubscribeCallback = (err: SSSError | Error | null | undefined, result?: boolean, subscription?: Subscription) => void;

export interface ClientStatusCodes {
  INIT: 0; STARTING: 1; START_RETRYING: 2; DROPPED_RETRYING: 3; START_FAILED: 4;
  RETRY_INTERVAL: 5; RECONNECT_FAILED: 6; READY: 7; SYNCING: 8; BEGINNING: 9;
  BOOTED: 10; CLOSED: 11;
}
export interface SubscriptionStatusCodes {
  ACTIVE: 1; DROPPED: 2; SYNCING: 3; SYNC_FAILED: 4; UNSUBSCRIBED: 5; BOOTED: 6;
  CLOSED: 7; RECONNECT_FAILED: 8;
}
export type ClientStatus = ClientStatusCodes[keyof ClientStatusCodes];
export type SubscriptionStatus = SubscriptionStatusCodes[keyof SubscriptionStatusCodes];

export declare const statusCodes: { client: ClientStatusCodes; subscription: SubscriptionStatusCodes };
export declare const statusText: { client: Record<number, string>; subscription: Record<number, string> };

/** Errors carry the protocol's `{name, message}`, e.g. name "Timeout" or "Connection dropped". */
export declare class SSSError extends Error {
  constructor(name: string, message: string, extra?: object);
  name: string;
  /** The channel of "Subscription refused" and "Removed from channel". */
  channel?: string;
  /** True on the "Subscription refused" rejection of subscribe's promise. */
  refused?: boolean;
}

/** The minimum of a WebSocket the client uses (the browser's, Node 22's, or the `ws` package's). */
export interface WebSocketLike {
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface Prefs {
  /** Reconnect (and retry the first connect) when the connection drops. Default true. */
  autoReconnect?: boolean;
  /** Attempts after the first failure; 0 (default) retries forever. */
  retryAttempts?: number;
  /** Base delay (ms) of the exponential backoff with jitter. Default 1000. */
  retryInterval?: number;
  /** (ext) Upper bound (ms) of the backoff. Default 30000. */
  maxRetryInterval?: number;
  /** (ext) WebSocket implementation where no global one exists (e.g. `ws`). */
  WebSocket?: WebSocketConstructor;
  /** (ext) Offered sub-protocol(s). Default "sss.v1.json". */
  protocols?: string | string[];
  /** (ext) Session id to resume, sent in BEGIN and SYNC. */
  session?: string;
  /** (ext) Timer functions (tests). */
  timers?: { setTimeout(fn: () => void, ms: number): any; clearTimeout(handle: any): void };
  /** (ext) Random source for the jitter, returning [0, 1) (tests). */
  random?: () => number;
  /** console.log each connection attempt and its outcome, as the original client did. Default false. */
  logReconnection?: boolean;
}

export declare class Subscription {
  /** (ext) The channel name. */
  readonly channel: string;
  /** Listen for FEED messages with this topic, with the FEED's uid (one listener per topic; the last wins). */
  on(topic: string, cb: (msg: any, uid: string) => void): void;
  unsubscribe(): void;
  getStatus(): SubscriptionStatus;
  onStatusChange(cb: (status: SubscriptionStatus, oldStatus: SubscriptionStatus) => void): void;
  /** Errors of this subscription, e.g. "Unable to sync" after a reconnect, "Removed from channel". */
  onError(cb: (err: SSSError) => void): void;
}

export declare class Client {
  constructor(url: string, prefs?: Prefs);
  /** Connect and BEGIN; the result is the per-user subscription when the server names a user, else null. */
  connect(cb: Callback<Subscription | null>): void;
  connect(): Promise<Subscription | null>;
  ask(topic: string, msg: any, cb: Callback<any>): void;
  ask(topic: string, msg?: any): Promise<any>;
  /** cb(null) once sent, cb(err) when not READY. */
  tell(topic: string, msg: any, cb: (err: SSSError | null) => void): void;
  /** (ext) The promise is marked handled: an un-awaited tell while not READY is no unhandled rejection. */
  tell(topic: string, msg?: any): Promise<void>;
  subscribe(channel: string, query: any, cb: SubscribeCallback): void;
  /** (ext) Without a query (null is sent). */
  subscribe(channel: string, cb: SubscribeCallback): void;
  /** (ext) Resolves to the Subscription; rejects on an error and on a refusal ("Subscription refused", `refused` true). */
  subscribe(channel: string, query?: any): Promise<Subscription>;
  /** (ext) PUBLISH, where the server allows clients to. */
  publish(channel: string, topic: string, msg: any, cb: Callback<{ uid: string }>): void;
  publish(channel: string, topic: string, msg?: any): Promise<{ uid: string }>;
  /** Close with 4000; no reconnect; requests in flight fail with "Connection closed". */
  close(): void;
  getStatus(): ClientStatus;
  /** (ext) The newest uid seen on a channel, undefined when not subscribed. */
  lastUid(channel: string): string | null | undefined;
  onTell(topic: string, cb: (msg: any) => void): void;
  onBroadcast(topic: string, cb: (msg: any) => void): void;
  onError(cb: (err: Error) => void): void;
  onReconnect(cb: () => void): void;
  onDrop(cb: () => void): void;
  onBoot(cb: (reason: string) => void): void;
  onReconnectFail(cb: (err: Error) => void): void;
  onStatusChange(cb: (status: ClientStatus, oldStatus: ClientStatus) => void): void;
}

/** A new client; as the original's, an optional callback gets it at once. */
export declare function client(url: string, prefs?: Prefs, cb?: (client: Client) => void): Client;

declare const sssClient: {
  client: typeof client;
  statusCodes: typeof statusCodes;
  statusText: typeof statusText;
  SSSError: typeof SSSError;
  Client: typeof Client;
  Subscription: typeof Subscription;
};
export default sssClient;
