// Type declarations of sss-client (sss-client.mjs). scripts/build-cjs.mjs
// generates those of the CommonJS build (sss-client.d.cts) from this file;
// test/types.test.mjs checks both with tsc and against the implementation.

/** Node-style callback: `err` is null on success. */
export type Callback<T> = (err: SSSError | Error | null, result?: T) => void;

/**
 * subscribe's callback, with the original client's arguments:
 * `(undefined, true, sub)` for a new subscription (`(null, true, sub)` when the
 * channel was already held), `(undefined, false)` when the server refused,
 * `(err)` on an error (not READY and not reconnecting, a bad name, the
 * client stopped before the reply). While the client reconnects it waits: the
 * SUBSCRIBE goes out after the SYNC reply.
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

/** The connection failures of clients/README.md (`transient` ones are retried). */
export type FailureCode =
  | 'connect_failed' | 'connect_timeout' | 'unauthorized' | 'forbidden' | 'upgrade_failed' | 'upgrade_refused'
  | 'begin_timeout' | 'sync_timeout' | 'heartbeat_timeout' | 'closed_by_server' | 'going_away' | 'protocol_error'
  | 'invalid_payload' | 'message_too_big' | 'policy_violation' | 'booted' | 'too_slow' | 'connection_lost'
  | 'token_failed' | 'retries_exhausted';
/** Every `code` an SSSError can carry: the failures, the client's own errors, and the server's `err` replies. */
export type ErrorCode = FailureCode
  | 'not_ready' | 'dropped' | 'closed' | 'bad_channel' | 'no_websocket' | 'subscription_refused' | 'sync_failed'
  | 'removed_from_channel' | 'already_connecting' | 'server_error';

/** Errors carry the protocol's `{name, message}`, e.g. name "Timeout" or "Connection dropped", and (ext) a stable `code`. */
export declare class SSSError extends Error {
  constructor(name: string, message: string, extra?: object);
  name: string;
  /** (ext) Stable, to tell errors apart: see ErrorCode. */
  code?: ErrorCode;
  /** (ext) On a connection failure: true when the client retries it. */
  transient?: boolean;
  /** (ext) retries_exhausted: the last transient failure; token_failed: what getToken threw; dropped, on a subscribe that waited for a SYNC: the final failure. */
  cause?: unknown;
  /** (ext) The HTTP status of a refused upgrade (seen through the `ws` package only). */
  status?: number;
  /** (ext) booted: the server's reason. */
  reason?: string;
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
  /** A text frame (JSON, the heartbeat `h`) or a binary one (MessagePack). */
  send(data: string | Uint8Array): void;
  /** The sub-protocol the server picked; it decides the connection's encoding. */
  readonly protocol?: string;
  /** Set to "arraybuffer" by the client: MessagePack frames arrive as ArrayBuffers. */
  binaryType?: string;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Browsers' `window` (online/offline events), or a stand-in for tests. */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
  navigator?: { onLine?: boolean };
}

export interface Prefs {
  /** Reconnect (and retry the first connect) when the connection drops. Default true. */
  autoReconnect?: boolean;
  /** Attempts after the first failure; 0 (default) retries forever. */
  retryAttempts?: number;
  /** Base delay (ms) of the exponential backoff with jitter. Default 1000. */
  retryInterval?: number;
  /** (ext) Upper bound (ms) of the backoff. Default 30000. */
  maxRetryInterval?: number;
  /** (ext) Dial + upgrade must finish within this (ms), else connect_timeout. Default 10000. */
  connectTimeout?: number;
  /** (ext) The BEGIN reply must come within this (ms), else begin_timeout. Default 10000. */
  beginTimeout?: number;
  /** (ext) The SYNC reply must come within this (ms), else sync_timeout. Default 10000. */
  syncTimeout?: number;
  /** (ext) A bigger frame closes the connection with 1009 (message_too_big, permanent). Default 16 MiB. */
  maxMessageSize?: number;
  /** (ext) Called before every (re)connect; the token goes in the URL as `?token=`; null sends none. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** (ext) WebSocket implementation where no global one exists (e.g. `ws`). */
  WebSocket?: WebSocketConstructor;
  /**
   * (ext) The encoding: "json" (default, sub-protocol sss.v1.json) or "msgpack" (sss.v1.msgpack:
   * MessagePack in binary frames; bytes in a msg are sent as `bin`, which every receiver gets as a
   * base64 string; a BigInt within 64 bits is an integer). With "msgpack", a server that picks
   * neither sss.v1.msgpack nor sss.v1.json fails the attempt with upgrade_refused.
   */
  encoding?: 'json' | 'msgpack';
  /** (ext) Offered sub-protocol(s); the server's pick decides the encoding. Default that of `encoding`. */
  protocols?: string | string[];
  /** (ext) Session id to resume, sent in BEGIN and SYNC. */
  session?: string;
  /** (ext) Timer functions (tests). */
  timers?: { setTimeout(fn: () => void, ms: number): any; clearTimeout(handle: any): void };
  /** (ext) Random source for the jitter, returning [0, 1) (tests). */
  random?: () => number;
  /** (ext) Where online/offline events come from: default the global `window` (browsers); null: none. */
  window?: NetworkEvents | null;
  /** console.log each connection attempt and its outcome, as the original client did. Default false. */
  logReconnection?: boolean;
}

export declare class Subscription {
  /** (ext) The channel name. */
  readonly channel: string;
  /** Listen for FEED messages with this topic, with the FEED's uid. Several per topic; (ext) returns a function that removes it. */
  on(topic: string, cb: (msg: any, uid: string) => void): () => boolean;
  /** (ext) Remove a listener added with on(topic, cb); true when it was there. */
  off(topic: string, cb: (msg: any, uid: string) => void): boolean;
  unsubscribe(): void;
  getStatus(): SubscriptionStatus;
  onStatusChange(cb: (status: SubscriptionStatus, oldStatus: SubscriptionStatus) => void): () => boolean;
  /** Errors of this subscription, e.g. "Unable to sync" after a reconnect, "Removed from channel". */
  onError(cb: (err: SSSError) => void): () => boolean;
  /** (ext) Remove an onError / onStatusChange listener. */
  offEvent(event: 'error' | 'statusChange', cb: (...args: any[]) => void): boolean;
}

/** The client events of on()/off() and the arguments of their listeners. */
export interface ClientEvents {
  /** Permanent failures (once, with a code), errors without a request, and exceptions thrown by listeners. */
  error: (err: SSSError | Error) => void;
  /** After the SYNC reply of a reconnect. */
  reconnect: () => void;
  /** A READY connection was lost and the client reconnects; `err` (ext) says why (a transient failure). */
  drop: (err: SSSError) => void;
  boot: (reason: string) => void;
  /** The client gave up after having been READY (also reported to `error`). */
  reconnectFail: (err: SSSError) => void;
  statusChange: (status: ClientStatus, oldStatus: ClientStatus) => void;
}

export declare class Client {
  constructor(url: string, prefs?: Prefs);
  /** Connect and BEGIN; the result is the per-user subscription when the server names a user, else null. */
  connect(cb: Callback<Subscription | null>): void;
  connect(): Promise<Subscription | null>;
  ask(topic: string, msg: any, cb: Callback<any>): void;
  ask(topic: string, msg?: any): Promise<any>;
  /** cb(null) once sent, cb(err) when not READY (also while reconnecting: nothing is kept for later). */
  tell(topic: string, msg: any, cb: (err: SSSError | null) => void): void;
  /** (ext) The promise is marked handled: an un-awaited tell while not READY is no unhandled rejection. */
  tell(topic: string, msg?: any): Promise<void>;
  /**
   * When READY the SUBSCRIBE goes out now. While reconnecting (after a drop, until
   * the client stops) it goes out after the SYNC reply and the callback waits for
   * its reply; a channel held here is shared at once. Before the first READY and
   * after close() or a final failure: "Connection not ready" (not_ready).
   */
  subscribe(channel: string, query: any, cb: SubscribeCallback): void;
  /** (ext) Without a query (null is sent). */
  subscribe(channel: string, cb: SubscribeCallback): void;
  /** (ext) Resolves to the Subscription; rejects on an error and on a refusal ("Subscription refused", `refused` true). */
  subscribe(channel: string, query?: any): Promise<Subscription>;
  /** (ext) PUBLISH, where the server allows clients to. */
  publish(channel: string, topic: string, msg: any, cb: Callback<{ uid: string }>): void;
  publish(channel: string, topic: string, msg?: any): Promise<{ uid: string }>;
  /** Close with 4000; no reconnect; requests in flight fail with "Connection closed". A later connect() starts clean. */
  close(): void;
  getStatus(): ClientStatus;
  /** (ext) The newest uid seen on a channel, undefined when not subscribed. */
  lastUid(channel: string): string | null | undefined;
  /** (ext) Add a listener (several per event); returns a function that removes it. */
  on<K extends keyof ClientEvents>(event: K, cb: ClientEvents[K]): () => boolean;
  /** (ext) Remove a listener; true when it was there. */
  off<K extends keyof ClientEvents>(event: K, cb: ClientEvents[K]): boolean;
  /** Several listeners per topic; (ext) each onX returns a function that removes its listener. */
  onTell(topic: string, cb: (msg: any) => void): () => boolean;
  /** (ext) */
  offTell(topic: string, cb: (msg: any) => void): boolean;
  onBroadcast(topic: string, cb: (msg: any) => void): () => boolean;
  /** (ext) */
  offBroadcast(topic: string, cb: (msg: any) => void): boolean;
  onError(cb: ClientEvents['error']): () => boolean;
  onReconnect(cb: ClientEvents['reconnect']): () => boolean;
  onDrop(cb: ClientEvents['drop']): () => boolean;
  onBoot(cb: ClientEvents['boot']): () => boolean;
  onReconnectFail(cb: ClientEvents['reconnectFail']): () => boolean;
  onStatusChange(cb: ClientEvents['statusChange']): () => boolean;
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
