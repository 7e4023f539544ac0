// sss-client: the JavaScript client of Super Scaled Sockets (sss), wire
// protocol v1: JSON, or MessagePack (sss.v1.msgpack, ext) with the pref
// encoding: 'msgpack' (the codec: sss-msgpack.mjs). A dependency-free ES
// module for browsers and Node 20+.
// Its API is the original super-scaled-sockets-client's, callbacks included, so
// code written against the original runs unchanged: connect cb(err, userSub),
// ask cb(err, msg), tell cb(err), subscribe cb(err, true, sub) / cb(undefined,
// false) when refused, sub.on(topic, (msg, uid) => ...). Extensions are marked
// (ext); the main one: every request method (connect, ask, tell, subscribe,
// publish) returns a promise when its callback is omitted. How failures are
// handled (reconnect, stop and report, refresh the token) is the table of
// ../README.md, the same in the C client. This file and the codec are the only
// sources: scripts/build-cjs.mjs generates the CommonJS build, sss-client.cjs
// (the codec inlined in place of the import below, which it expects verbatim),
// and its declarations, sss-client.d.cts (both git-ignored), from them and
// sss-client.d.ts.
import { encode as mpEncode, decode as mpDecode } from './sss-msgpack.mjs';

const SYS = {
  SUBSCRIBE: 1, UNSUBSCRIBE: 2, BEGIN: 3, SYNC: 4, ASK: 5, TELL: 6, RESPONSE: 7, FEED: 8,
  BOOT: 9, BOOTCHANNEL: 10, BROADCAST: 11, UPDATESUB: 12, PUBLISH: 13, ERROR: 14,
};

const statusCodes = {
  client: {
    INIT: 0, STARTING: 1, START_RETRYING: 2, DROPPED_RETRYING: 3, START_FAILED: 4,
    RETRY_INTERVAL: 5, RECONNECT_FAILED: 6, READY: 7, SYNCING: 8, BEGINNING: 9,
    BOOTED: 10, CLOSED: 11,
  },
  subscription: {
    ACTIVE: 1, DROPPED: 2, SYNCING: 3, SYNC_FAILED: 4, UNSUBSCRIBED: 5, BOOTED: 6,
    CLOSED: 7, RECONNECT_FAILED: 8,
  },
};
const invert = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [v, k]));
const statusText = { client: invert(statusCodes.client), subscription: invert(statusCodes.subscription) };
const CS = statusCodes.client;
const SS = statusCodes.subscription;

/** An error with the `name` and `message` of the protocol's `err` objects and a stable `code` (ext). */
class SSSError extends Error {
  constructor(name, message, extra) {
    super(message);
    Object.defineProperty(this, 'name', { value: name, enumerable: true, writable: true, configurable: true });
    if (extra) Object.assign(this, extra);
  }
}
const fromWire = (err) =>
  err instanceof Error ? err
    : new SSSError(String((err && err.name) || 'Super Scaled Sockets Error'), String((err && err.message) || JSON.stringify(err)), { code: 'server_error' });

// The connection failures of ../README.md: code -> [name, transient, message].
const FAILURES = {
  connect_failed: ['Unable to connect to the server', true, 'the TCP connection or the WebSocket upgrade failed'],
  connect_timeout: ['Connect timeout', true, 'the connection and upgrade did not finish within connectTimeout'],
  unauthorized: ['Unauthorized', false, 'the server refused the upgrade with HTTP 401'],
  forbidden: ['Forbidden', false, 'the server refused the upgrade with HTTP 403'],
  upgrade_failed: ['Upgrade failed', true, 'the server refused the upgrade with a status worth retrying (408, 429, 5xx)'],
  upgrade_refused: ['Upgrade refused', false, 'the server refused the upgrade, or its 101 answer was not valid for this client'],
  begin_timeout: ['BEGIN timeout', true, 'no BEGIN reply within beginTimeout'],
  sync_timeout: ['SYNC timeout', true, 'no SYNC reply within syncTimeout'],
  heartbeat_timeout: ['Heartbeat timeout', true, 'nothing heard from the server within hbInterval + hbThreshold'],
  closed_by_server: ['Connection closed by the server', false, 'the server closed the connection with 1000'],
  going_away: ['Server going away', true, 'the server closed the connection with 1001'],
  protocol_error: ['Protocol error', false, 'the server closed with 1002/1003 or sent a frame this client cannot parse'],
  invalid_payload: ['Invalid payload', false, 'the server closed the connection with 1007'],
  message_too_big: ['Message too big', false, 'a message was bigger than the receiver allows (close 1009)'],
  policy_violation: ['Policy violation', true, 'the server closed the connection with 1008'],
  booted: ['Booted', false, 'the server booted this client (BOOT, close 4001)'],
  too_slow: ['Too slow', true, 'the server closed the connection with 4008: its send queue to this client overflowed'],
  connection_lost: ['Connection lost', true, 'the connection was lost'],
  token_failed: ['Token failed', true, 'the getToken hook failed'],
  retries_exhausted: ['Unable to connect to the server', false, 'every connection attempt failed'],
};
const failure = (code, detail, extra) => {
  const [name, transient, message] = FAILURES[code];
  return new SSSError(name, detail ? `${message}: ${detail}` : message, { code, transient, ...extra });
};

const E = {
  unready: () => new SSSError('Connection not ready', 'the client is not connected (its status is not READY); nothing was sent', { code: 'not_ready' }),
  dropped: (what) => new SSSError('Connection dropped', `the connection dropped before the server answered (${what})`, { code: 'dropped' }),
  closed: (what) => new SSSError('Connection closed', `the client was closed before the server answered (${what})`, { code: 'closed' }),
  badName: (c) => new SSSError('Channel name not allowed', `"${c}": must match [A-Za-z0-9_-]{1,128} and not start with "_"`, { code: 'bad_channel' }),
  noWebSocket: () => new SSSError('No WebSocket', 'no global WebSocket: pass one as prefs.WebSocket (e.g. the "ws" package)', { code: 'no_websocket' }),
  refused: (c, err) => new SSSError('Subscription refused', (err && err.message) || `the server refused channel "${c}"`, { code: 'subscription_refused', channel: c, refused: true }),
  sync: (c) => new SSSError('Unable to sync', `the server refused channel "${c}" or its history no longer reaches back to the last message seen (there may be a gap)`, { code: 'sync_failed', channel: c }),
  removed: (c, reason) => new SSSError('Removed from channel', reason || `removed from channel "${c}"`, { code: 'removed_from_channel', channel: c }),
  already: () => new SSSError('Already connecting', 'connect() was called while the client is connecting or connected', { code: 'already_connecting' }),
  option: (msg) => Object.assign(new TypeError(`sss-client: ${msg}`), { code: 'invalid_option' }),
};

// A close code of the server (or of the network: 1006) -> its failure.
function closeFailure(code, reason) {
  const detail = `close ${code}${reason ? ` "${reason}"` : ''}`;
  switch (code) {
    case 1000: return failure('closed_by_server', detail);
    case 1001: return failure('going_away', detail);
    case 1002: case 1003: return failure('protocol_error', detail);
    case 1007: return failure('invalid_payload', detail);
    case 1008: return failure('policy_violation', detail);
    case 1009: return failure('message_too_big', detail);
    case 4001: return failure('booted', detail, { reason: reason ?? '' });
    case 4008: return failure('too_slow', detail);
    default: return failure('connection_lost', detail);
  }
}

// A socket that closed before it opened -> its failure. Only an implementation
// that tells why (the `ws` package: "Unexpected server response: 401") lets the
// client see a refused upgrade; browsers report every one as a failed connection.
function upgradeFailure(message) {
  const m = /Unexpected server response: (\d{3})/.exec(message || '');
  if (m) {
    const status = Number(m[1]);
    const detail = `HTTP ${status}`;
    if (status === 401) return failure('unauthorized', detail, { status });
    if (status === 403) return failure('forbidden', detail, { status });
    if (status === 408 || status === 429 || status >= 500) return failure('upgrade_failed', detail, { status });
    return failure('upgrade_refused', detail, { status });
  }
  if (/Sec-WebSocket-Accept|subprotocol|Sec-WebSocket-Extensions/i.test(message || '')) return failure('upgrade_refused', message);
  return failure('connect_failed', message || undefined);
}

// Uids are "<a>-<b>", decimal integers of any length: compared as the pair
// (a, b), by digit count then text, so they never overflow. null when either
// does not parse.
const UID_RE = /^(\d+)-(\d+)$/;
const cmpDigits = (a, b) => {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
};
function uidCompare(a, b) {
  const x = typeof a === 'string' && UID_RE.exec(a);
  const y = typeof b === 'string' && UID_RE.exec(b);
  if (!x || !y) return null;
  return cmpDigits(x[1], y[1]) || cmpDigits(x[2], y[2]);
}

const CHANNEL_RE = /^[A-Za-z0-9-][A-Za-z0-9_-]{0,127}$/;

const isFn = (v) => typeof v === 'function';
const isPos = (v) => typeof v === 'number' && Number.isFinite(v) && v > 0;
// pref -> [default, check(value) true when valid, what a valid value is]
const PREFS = {
  autoReconnect: [true, (v) => typeof v === 'boolean', 'a boolean'],
  retryAttempts: [0, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0 (0: forever)'],
  retryInterval: [1000, isPos, 'a number of ms > 0'],
  maxRetryInterval: [30000, isPos, 'a number of ms > 0'],
  connectTimeout: [10000, isPos, 'a number of ms > 0'],
  beginTimeout: [10000, isPos, 'a number of ms > 0'],
  syncTimeout: [10000, isPos, 'a number of ms > 0'],
  maxMessageSize: [16 * 1024 * 1024, (v) => Number.isInteger(v) && v > 0, 'an integer number of bytes > 0'],
  getToken: [undefined, isFn, 'a function returning a token (string), null, or a promise of one'],
  WebSocket: [undefined, isFn, 'a WebSocket class'],
  encoding: ['json', (v) => v === 'json' || v === 'msgpack', "'json' or 'msgpack'"],
  protocols: [undefined, (v) => typeof v === 'string' || (Array.isArray(v) && v.every((p) => typeof p === 'string')), 'a string or an array of strings'],
  session: [undefined, (v) => typeof v === 'string', 'a string'],
  timers: [undefined, (v) => v && isFn(v.setTimeout) && isFn(v.clearTimeout), 'an object with setTimeout and clearTimeout'],
  random: [undefined, isFn, 'a function returning [0, 1)'],
  window: [undefined, (v) => v === null || (v && isFn(v.addEventListener) && isFn(v.removeEventListener)), 'null or an object with addEventListener and removeEventListener'],
  logReconnection: [false, (v) => typeof v === 'boolean', 'a boolean'],
};
const defaults = Object.fromEntries(Object.entries(PREFS).map(([k, [v]]) => [k, v]));
// The sub-protocol of each encoding: the default of prefs.protocols.
const PROTOCOL = { json: 'sss.v1.json', msgpack: 'sss.v1.msgpack' };

// Call `cb` if given, else return a promise; `run(done)` does the work and
// calls done(err, res) once; `args(err, res)` are cb's arguments.
function callOrPromise(cb, run, args = (err, res) => [err || null, res]) {
  if (typeof cb === 'function') {
    run((err, res) => cb(...args(err, res)));
    return undefined;
  }
  return new Promise((resolve, reject) => run((err, res) => (err ? reject(err) : resolve(res))));
}

// The size in bytes of a received frame, without encoding a string unless its
// UTF-16 length leaves the answer open.
function tooBig(data, max) {
  if (typeof data === 'string') {
    if (data.length > max) return true;
    if (data.length * 3 <= max) return false;
    return new TextEncoder().encode(data).length > max;
  }
  const n = data && (data.byteLength ?? data.length ?? data.size);
  return typeof n === 'number' && n > max;
}

// Listeners by name (several per name, in registration order).
class Listeners {
  constructor() { this._m = new Map(); }
  add(name, fn) {
    if (!isFn(fn)) throw new TypeError(`sss-client: the listener of "${name}" must be a function`);
    if (!this._m.has(name)) this._m.set(name, []);
    this._m.get(name).push(fn);
    return () => this.remove(name, fn);
  }
  remove(name, fn) {
    const l = this._m.get(name);
    const i = l ? l.lastIndexOf(fn) : -1;
    if (i < 0) return false;
    l.splice(i, 1);
    if (!l.length) this._m.delete(name);
    return true;
  }
  get(name) { return this._m.has(name) ? [...this._m.get(name)] : []; }
  has(name) { return this._m.has(name); }
}

const CLIENT_EVENTS = ['error', 'reconnect', 'drop', 'boot', 'reconnectFail', 'statusChange'];
const checkEvent = (name, allowed) => {
  if (!allowed.includes(name)) throw new TypeError(`sss-client: unknown event "${name}" (one of ${allowed.join(', ')})`);
};

class Subscription {
  constructor(client, channel, status = SS.ACTIVE) {
    this._client = client;
    this._channel = channel;
    this._status = status;
    this._topics = new Listeners();
    this._events = new Listeners();
  }

  /** The channel name (ext). */
  get channel() { return this._channel; }

  _feed(topic, msg, uid) {
    for (const l of this._topics.get(topic)) this._client._safe(l, msg, uid);
  }

  _setStatus(s) {
    if (s === this._status) return;
    const old = this._status;
    this._status = s;
    for (const l of this._events.get('statusChange')) this._client._safe(l, s, old);
  }

  // As the original: the error first, then the status.
  _error(err, status) {
    if (this._events.has('error')) for (const l of this._events.get('error')) this._client._safe(l, err);
    else this._client._error(err);
    if (status) this._setStatus(status);
  }

  /** Listen for FEEDs of this topic: cb(msg, uid), uid the FEED's. Several per topic; returns a function that removes it (ext). */
  on(topic, cb) { return this._topics.add(topic, cb); }
  /** (ext) Remove a listener added with on(topic, cb); true when it was there. */
  off(topic, cb) { return this._topics.remove(topic, cb); }
  unsubscribe() { this._client._unsubscribe(this); }
  getStatus() { return this._status; }
  onStatusChange(cb) { return this._events.add('statusChange', cb); }
  onError(cb) { return this._events.add('error', cb); }
  /** (ext) Remove an onError / onStatusChange listener: event 'error' or 'statusChange'. */
  offEvent(event, cb) { checkEvent(event, ['error', 'statusChange']); return this._events.remove(event, cb); }
}

class Client {
  constructor(url, prefs = {}) {
    if (typeof url !== 'string' || !/^(wss?|https?):\/\/[^/?#]/i.test(url)) {
      throw E.option(`the url must be an absolute ws://, wss://, http:// or https:// URL (got ${JSON.stringify(url)})`);
    }
    if (prefs != null && typeof prefs !== 'object') throw E.option('prefs must be an object');
    this._url = url;
    this._prefs = { ...defaults };
    for (const k of Object.keys(prefs || {})) {
      if (!(k in PREFS)) {
        console.warn('SuperScaledSockets', `Unknown preference name '${k}' ignored`); // as the original
        continue;
      }
      const v = prefs[k];
      if (v === undefined) continue;
      if (!PREFS[k][1](v)) throw E.option(`prefs.${k} must be ${PREFS[k][2]} (got ${typeof v === 'function' ? 'a function' : JSON.stringify(v)})`);
      this._prefs[k] = v;
    }
    if (this._prefs.maxRetryInterval < this._prefs.retryInterval) throw E.option('prefs.maxRetryInterval must be >= prefs.retryInterval');
    if (this._prefs.protocols === undefined) this._prefs.protocols = PROTOCOL[this._prefs.encoding];
    const t = this._prefs.timers || globalThis;
    this._setTimeout = (f, ms) => t.setTimeout(f, ms);
    this._clearTimeout = (h) => t.clearTimeout(h);
    this._random = this._prefs.random || Math.random;
    this._status = CS.INIT;
    this._events = new Listeners();
    this._tellListeners = new Listeners();
    this._broadcastListeners = new Listeners();
    this._ws = null; // the live socket (open or opening)
    this._open = false;
    this._msgpack = false; // the live socket's encoding: the server's pick
    this._nextId = 1;
    this._gen = 0; // bumped when a connect() ends: late token promises are ignored
    this._retryTimer = null;
    this._stageTimer = null; // connectTimeout, then beginTimeout or syncTimeout
    this._hbTimer = null;
    this._net = null; // the window whose online/offline events are listened to
    this._offline = false;
    this._onOnline = () => this._online();
    this._onOffline = () => { this._offline = true; };
    this._reset();
  }

  // A clean slate: what a connect() after close() or a final failure starts from.
  _reset() {
    this._pending = new Map(); // id -> { cb, what, sub?: { channel, query } }
    // SUBSCRIBEs that wait for the next SYNC reply and are sent after it: those
    // in flight at a drop and those made while reconnecting. Each is here or in
    // _pending, never both; close() and a final failure fail them.
    this._afterSync = []; // { cb, what, sub: { channel, query } }
    this._channels = new Map(); // channel -> { query, lastUid, subs: Set<Subscription> }
    this._hb = null; // { timeout } when the server runs heartbeats
    this._session = this._prefs.session;
    this._syncId = null;
    this._failures = 0; // failed attempts since the last READY
    this._everReady = false; // reached READY since connect(): reconnect with SYNC
    this._retried401 = false;
    this._connectCb = null;
  }

  // ---- helpers ----
  _safe(fn, ...args) {
    try {
      fn(...args);
    } catch (e) {
      if (this._events.has('error') && !this._events.get('error').includes(fn)) this._error(e);
      else this._setTimeout(() => { throw e; }, 0); // surface it, do not corrupt the state machine
    }
  }

  _error(err) { this._fire('error', err); }

  _fire(name, ...args) { for (const l of this._events.get(name)) this._safe(l, ...args); }

  _setStatus(s) {
    if (s === this._status) return;
    const old = this._status;
    this._status = s;
    this._fire('statusChange', s, old);
  }

  _forSubs(fn) { for (const ch of [...this._channels.values()]) for (const s of [...ch.subs]) fn(s, ch); }

  // READY with an open socket: a request goes out now. (Inside onDrop, and the
  // status listeners a drop fires, the status is still READY but the socket is gone.)
  _canSend() { return this._status === CS.READY && this._ws !== null && this._open; }

  // A READY connection was lost and the client has not stopped: it reconnects
  // (or is about to give up, which fails what waits). A subscribe waits for the SYNC.
  _reconnecting() {
    return this._everReady && !this._canSend() && (this._status === CS.READY || this._status === CS.RETRY_INTERVAL
      || this._status === CS.DROPPED_RETRYING || this._status === CS.SYNCING);
  }

  // A message in the socket's encoding: a text frame of JSON or a binary frame
  // of MessagePack. Throws (a TypeError, or a RangeError for a BigInt beyond
  // 64 bits) when the message cannot be encoded; nothing is sent then.
  _encode(obj) { return this._msgpack ? mpEncode(obj) : JSON.stringify(obj); }

  _send(obj) { this._ws.send(typeof obj === 'string' ? obj : this._encode(obj)); }

  // Encoded before it is registered: a msg or query that cannot be encoded
  // fails the request with the encoder's error, and nothing is sent or pending.
  _request(obj, what, cb, sub) {
    const id = this._nextId++;
    let frame;
    try {
      frame = this._encode({ ...obj, id });
    } catch (e) {
      this._safe(cb, e);
      return;
    }
    this._pending.set(id, { cb, what, sub });
    this._ws.send(frame);
  }

  // Fail every request in flight; with `keepSubs`, SUBSCRIBEs wait for the next
  // SYNC instead. Without it, the SUBSCRIBEs waiting for a SYNC fail too, with
  // `cause` (when given: the final failure) on their error.
  _failPending(mkErr, keepSubs, cause) {
    const p = [...this._pending.values()];
    this._pending.clear();
    if (keepSubs) {
      this._afterSync.push(...p.filter((r) => r.sub));
    } else {
      const waiting = this._afterSync;
      this._afterSync = [];
      for (const r of waiting) p.push({ ...r, cause });
    }
    for (const r of p) {
      if (keepSubs && r.sub) continue;
      const err = mkErr(r.what);
      if (r.cause) err.cause = r.cause;
      this._safe(r.cb, err);
    }
  }

  _log(type, extra) {
    if (this._prefs.logReconnection) console.log('SuperScaledSockets', { type, ...extra });
  }

  _backoff(n) {
    const base = Math.min(this._prefs.maxRetryInterval, this._prefs.retryInterval * 2 ** Math.min(n, 30));
    return Math.round(base / 2 + (base / 2) * this._random()); // "equal jitter": [base/2, base]
  }

  _stage(ms, code) {
    this._clearTimeout(this._stageTimer);
    this._stageTimer = ms == null ? null : this._setTimeout(() => {
      this._stageTimer = null;
      this._abandon(4100, code);
      this._failed(failure(code));
    }, ms);
  }

  // ---- browsers: online / offline ----
  _listenNetwork() {
    const w = this._prefs.window === undefined ? globalThis.window : this._prefs.window;
    if (this._net || !w || !isFn(w.addEventListener)) return;
    this._net = w;
    this._offline = !!(w.navigator && w.navigator.onLine === false);
    w.addEventListener('online', this._onOnline);
    w.addEventListener('offline', this._onOffline);
  }

  _unlistenNetwork() {
    if (!this._net) return;
    this._net.removeEventListener('online', this._onOnline);
    this._net.removeEventListener('offline', this._onOffline);
    this._net = null;
    this._offline = false;
  }

  // Back online: an attempt waiting for its backoff (or paused offline) starts at once.
  _online() {
    this._offline = false;
    if (this._status !== CS.RETRY_INTERVAL) return;
    this._clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._retry();
  }

  // ---- connection ----
  // One attempt: the token (when there is a hook), dial + upgrade, BEGIN or SYNC.
  _attempt() {
    if (!this._prefs.getToken) return this._dial(null);
    const gen = this._gen;
    let p;
    try {
      p = Promise.resolve(this._prefs.getToken());
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then((token) => {
      if (gen !== this._gen) return;
      if (token != null && typeof token !== 'string') {
        this._failed(failure('token_failed', `getToken returned ${typeof token}, not a string or null`));
      } else if (token == null && this._retried401) {
        this._failed(failure('unauthorized', 'HTTP 401, and getToken gave no new token'));
      } else {
        this._dial(token);
      }
    }, (e) => {
      if (gen === this._gen) this._failed(failure('token_failed', e && e.message, { cause: e }));
    });
    return undefined;
  }

  _dial(token) {
    const WS = this._prefs.WebSocket || globalThis.WebSocket;
    if (!WS) return this._giveUp(E.noWebSocket());
    let url = this._url;
    if (token != null) {
      const u = new URL(url);
      u.searchParams.set('token', token);
      url = u.toString();
    }
    let ws;
    this._log('connectionAttempt', { reconnectAttempt: this._failures + 1 });
    try {
      ws = new WS(url, this._prefs.protocols);
    } catch (e) {
      return this._giveUp(failure('connect_failed', e && e.message, { cause: e }));
    }
    ws.binaryType = 'arraybuffer'; // MessagePack frames; browsers default to Blob
    this._ws = ws;
    this._open = false;
    this._msgpack = false;
    this._wsError = null;
    this._stage(this._prefs.connectTimeout, 'connect_timeout');
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._open = true;
      // The server's pick decides the encoding. Asked for MessagePack, a server
      // that picked neither (one that knows no sub-protocol, behind a WebSocket
      // that let its 101 through) speaks something else: refused.
      const picked = ws.protocol || '';
      this._msgpack = picked === PROTOCOL.msgpack;
      if (!this._msgpack && this._prefs.encoding === 'msgpack' && picked !== PROTOCOL.json) {
        this._abandon(1000);
        this._failed(failure('upgrade_refused', `the server picked ${picked ? `the sub-protocol "${picked}"` : 'no sub-protocol'}, not ${PROTOCOL.msgpack}`));
        return;
      }
      this._log('connectionSuccessful', { message: 'attempt successful' });
      if (this._everReady) {
        this._setStatus(CS.SYNCING);
        this._forSubs((s) => s._setStatus(SS.SYNCING));
        // Only channels with a known lastUid (or known to be empty) are synced;
        // SUBSCRIBEs in flight at the drop or made since are sent after the reply.
        const subscriptions = [...this._channels].map(([channel, c]) => ({ channel, lastUid: c.lastUid ?? null, query: c.query ?? null }));
        this._syncId = this._nextId++;
        const m = { sys: SYS.SYNC, id: this._syncId, subscriptions };
        if (this._session) m.session = this._session;
        this._send(m);
        this._stage(this._prefs.syncTimeout, 'sync_timeout');
      } else {
        this._setStatus(CS.BEGINNING);
        this._send(this._session ? { sys: SYS.BEGIN, session: this._session } : { sys: SYS.BEGIN });
        this._stage(this._prefs.beginTimeout, 'begin_timeout');
      }
    };
    ws.onmessage = (ev) => { if (ws === this._ws) this._onFrame(ev.data); };
    // A close event always follows; the `ws` package says here why an upgrade failed.
    ws.onerror = (ev) => { if (ws === this._ws) this._wsError = (ev && (ev.message || (ev.error && ev.error.message))) || null; };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      const opened = this._open;
      this._abandon();
      this._failed(opened ? closeFailure(ev.code, ev.reason) : upgradeFailure(this._wsError));
    };
    return undefined;
  }

  // Forget the socket at once (its close event will be ignored) and close it.
  _abandon(code, reason) {
    const ws = this._ws;
    this._ws = null;
    this._open = false;
    this._clearTimeout(this._hbTimer);
    this._hbTimer = null;
    this._clearTimeout(this._stageTimer);
    this._stageTimer = null;
    if (ws) {
      try { ws.close(code, reason); } catch { /* already closing */ }
    }
  }

  // An attempt failed or a READY connection ended (the socket is abandoned):
  // reconnect after the backoff, refresh the token, or stop and report.
  _failed(err) {
    if (this._status === CS.READY) {
      this._failPending(E.dropped, err.transient);
      this._forSubs((s) => s._setStatus(SS.DROPPED));
      if (err.transient) this._fire('drop', err);
    }
    if (err.code === 'unauthorized' && this._prefs.getToken && !this._retried401) {
      this._retried401 = true; // the token expired: ask for a new one and retry at once, once
      this._retry();
      return;
    }
    this._retried401 = false;
    if (!err.transient) {
      this._giveUp(err);
      return;
    }
    this._failures++;
    const max = this._prefs.retryAttempts;
    if (!this._prefs.autoReconnect || (max !== 0 && this._failures > max)) {
      this._giveUp(failure('retries_exhausted', `${this._failures} failed attempts, the last: ${err.code}`, { cause: err }));
      return;
    }
    this._log('connectionAttemptFailed', { attempt: this._failures, code: err.code });
    this._setStatus(CS.RETRY_INTERVAL);
    this._retryDelay = err.code === 'going_away' && this._failures === 1 ? 0 : this._backoff(this._failures - 1);
    if (this._offline) return; // paused until the browser is back online
    this._retryTimer = this._setTimeout(() => {
      this._retryTimer = null;
      this._retry();
    }, this._retryDelay);
  }

  _retry() {
    this._setStatus(this._everReady ? CS.DROPPED_RETRYING : CS.START_RETRYING);
    this._attempt();
  }

  // Stop for good and report: status, requests in flight, subscriptions, the
  // connect callback, onError once, then onBoot / onReconnectFail.
  _giveUp(err) {
    this._gen++;
    this._abandon();
    this._clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._unlistenNetwork();
    const booted = err.code === 'booted';
    const status = booted ? CS.BOOTED : err.code === 'closed_by_server' ? CS.CLOSED
      : this._everReady ? CS.RECONNECT_FAILED : CS.START_FAILED;
    const subStatus = booted ? SS.BOOTED : status === CS.CLOSED ? SS.CLOSED : SS.RECONNECT_FAILED;
    const reconnecting = this._everReady && !booted && status !== CS.CLOSED;
    this._setStatus(status);
    this._failPending(E.dropped, false, err);
    this._forSubs((s) => s._setStatus(subStatus));
    const cb = this._connectCb;
    this._connectCb = null;
    if (cb) this._safe(cb, err);
    this._error(err);
    if (booted) this._fire('boot', err.reason ?? '');
    if (reconnecting) this._fire('reconnectFail', err);
  }

  _armHeartbeat() {
    this._clearTimeout(this._hbTimer);
    this._hbTimer = null;
    if (!this._hb || !this._ws || this._status !== CS.READY) return;
    this._hbTimer = this._setTimeout(() => {
      this._hbTimer = null;
      this._abandon(4100, 'heartbeat timeout');
      this._failed(failure('heartbeat_timeout'));
    }, this._hb.timeout);
  }

  // BEGIN and SYNC replies carry `prot`: the heartbeat is re-read from each.
  _readProt(prot) {
    if (!prot || typeof prot !== 'object') return;
    const num = (v, d) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : d);
    this._hb = prot.hb ? { timeout: num(prot.hbInterval, 30000) + num(prot.hbThreshold, 2500) } : null;
  }

  // A frame this client cannot take: close with `wsCode` and stop.
  _refuse(wsCode, code, detail) {
    this._abandon(wsCode, code);
    this._failed(failure(code, detail));
  }

  _onFrame(data) {
    if (tooBig(data, this._prefs.maxMessageSize)) {
      return this._refuse(1009, 'message_too_big', `a frame bigger than maxMessageSize (${this._prefs.maxMessageSize} bytes)`);
    }
    const text = typeof data === 'string';
    if (!text && !this._msgpack) return this._refuse(1003, 'protocol_error', 'a binary frame');
    this._armHeartbeat(); // anything heard counts
    if (data === 'h') { // a text frame in both encodings
      if (this._hb) this._send('h');
      return undefined;
    }
    if (text && this._msgpack) return this._refuse(1002, 'protocol_error', `a text frame other than h on ${PROTOCOL.msgpack}`);
    let m;
    try {
      m = text ? JSON.parse(data) : mpDecode(data);
    } catch (e) {
      return this._refuse(1002, 'protocol_error', text ? 'a frame that is not JSON' : `a frame that is not MessagePack (${e.message})`);
    }
    if (!m || typeof m !== 'object' || Array.isArray(m) || m instanceof Uint8Array) {
      return this._refuse(1002, 'protocol_error', text ? 'a frame that is not a JSON object' : 'a frame that is not a MessagePack map');
    }
    switch (m.sys) {
      case SYS.BEGIN: return this._onBegin(m);
      case SYS.SYNC: return this._onSync(m);
      case SYS.SUBSCRIBE: return this._onSubscribe(m);
      case SYS.UNSUBSCRIBE: return this._onAnswer(m, null, m.result);
      case SYS.RESPONSE: return this._onAnswer(m, m.err, m.msg);
      case SYS.FEED: return this._onFeed(m);
      case SYS.UPDATESUB: {
        const c = this._channels.get(m.channel);
        if (c && m.uid != null) this._advance(c, m.uid);
        return undefined;
      }
      case SYS.TELL:
        for (const l of this._tellListeners.get(m.topic)) this._safe(l, m.msg);
        return undefined;
      case SYS.BROADCAST:
        for (const l of this._broadcastListeners.get(m.topic)) this._safe(l, m.msg);
        return undefined;
      case SYS.BOOT: // the server closes with 4001 next; as the original, do not wait for it
        this._abandon(4001, typeof m.reason === 'string' ? m.reason : '');
        return this._failed(failure('booted', m.reason || undefined, { reason: m.reason ?? '' }));
      case SYS.BOOTCHANNEL: {
        const c = this._channels.get(m.channel);
        if (!c) return undefined;
        this._channels.delete(m.channel);
        const err = E.removed(m.channel, m.reason);
        for (const s of c.subs) s._error(err, SS.BOOTED);
        return undefined;
      }
      case SYS.ERROR:
        if (m.id != null && this._pending.has(m.id)) return this._onAnswer(m, m.err || {}, undefined);
        this._error(fromWire(m.err));
        return undefined;
      default:
        return undefined; // unknown sys: ignored, as unknown fields are
    }
  }

  _ready() {
    this._clearTimeout(this._stageTimer);
    this._stageTimer = null;
    this._failures = 0;
    this._retried401 = false;
    this._everReady = true;
    this._setStatus(CS.READY);
    this._armHeartbeat();
  }

  _onBegin(m) {
    if (this._status !== CS.BEGINNING) return;
    this._readProt(m.prot);
    if (m.session) this._session = m.session;
    let userSub = null;
    if (typeof m.channel === 'string' && m.channel) {
      userSub = this._channels.has(m.channel) ? this._addSub(m.channel) : this._addSub(m.channel, null, m.lastUid ?? null);
    }
    this._ready();
    const cb = this._connectCb;
    this._connectCb = null;
    if (cb) this._safe(cb, null, userSub);
  }

  _onSync(m) {
    if (this._status !== CS.SYNCING || m.id !== this._syncId) return;
    this._syncId = null;
    this._readProt(m.prot);
    for (const r of Array.isArray(m.records) ? m.records : []) if (r && typeof r === 'object') this._onFeed(r);
    const result = m.result || {};
    this._ready();
    for (const [ch, c] of [...this._channels]) {
      for (const s of [...c.subs]) {
        if (result[ch]) s._setStatus(SS.ACTIVE);
        else s._error(E.sync(ch), SS.SYNC_FAILED);
      }
    }
    // One at a time: a callback may close the client, which fails those left.
    while (this._afterSync.length && this._canSend()) {
      const r = this._afterSync.shift();
      this._subscribeNow(r.sub.channel, r.sub.query, r.cb, r.what);
    }
    this._fire('reconnect');
  }

  _onAnswer(m, err, res) {
    const p = this._pending.get(m.id);
    if (!p) return;
    this._pending.delete(m.id);
    if (err) this._safe(p.cb, fromWire(err));
    else this._safe(p.cb, null, res);
  }

  _onSubscribe(m) {
    const p = this._pending.get(m.id);
    if (!p) return;
    this._pending.delete(m.id);
    const channel = p.sub ? p.sub.channel : m.channel;
    if (!m.result || m.err) {
      this._safe(p.cb, E.refused(channel, m.err));
      return;
    }
    const c = this._channels.get(channel);
    if (c && m.lastUid != null) this._advance(c, m.lastUid);
    this._safe(p.cb, undefined, c ? this._addSub(channel) : this._addSub(channel, p.sub ? p.sub.query : null, m.lastUid ?? null));
  }

  _addSub(channel, query, lastUid, status = SS.ACTIVE) {
    let c = this._channels.get(channel);
    if (!c) {
      c = { query, lastUid, subs: new Set() };
      this._channels.set(channel, c);
    }
    const s = new Subscription(this, channel, status);
    c.subs.add(s);
    return s;
  }

  _unsubscribe(s) {
    const c = this._channels.get(s._channel);
    if (!c || !c.subs.delete(s)) return;
    s._setStatus(SS.UNSUBSCRIBED);
    if (c.subs.size) return;
    this._channels.delete(s._channel);
    if (this._ws && this._open) this._send({ sys: SYS.UNSUBSCRIBE, channel: s._channel });
  }

  // Move a channel's lastUid forward to `uid`; false (nothing changes) when
  // `uid` is not above it. A uid that does not parse is new unless equal.
  _advance(c, uid) {
    if (c.lastUid != null) {
      const d = uidCompare(uid, c.lastUid);
      if (d === null ? uid === c.lastUid : d <= 0) return false;
    }
    c.lastUid = uid;
    return true;
  }

  _onFeed(m) {
    const c = this._channels.get(m.channel);
    if (!c) return;
    if (m.uid != null && !this._advance(c, m.uid)) return; // a duplicate, or older than lastUid
    for (const s of [...c.subs]) s._feed(m.topic, m.msg, m.uid);
  }

  // Subscribe now when READY; while reconnecting, a held channel is shared at
  // once (the SYNC covers it) and a new one waits for the SYNC reply.
  _subscribeNow(channel, query, done, what) {
    const send = this._canSend();
    if (this._channels.has(channel)) {
      const status = send ? SS.ACTIVE : this._status === CS.SYNCING ? SS.SYNCING : SS.DROPPED;
      return done(null, this._addSub(channel, undefined, undefined, status));
    }
    if (send) this._request({ sys: SYS.SUBSCRIBE, channel, query }, what, done, { channel, query });
    else this._afterSync.push({ cb: done, what, sub: { channel, query } });
    return undefined;
  }

  // ---- API ----
  connect(cb) {
    return callOrPromise(cb, (done) => {
      if (this._status !== CS.INIT && this._status !== CS.CLOSED && this._status !== CS.START_FAILED
        && this._status !== CS.BOOTED && this._status !== CS.RECONNECT_FAILED) {
        done(E.already());
        return;
      }
      this._reset(); // a connect after close() or a final failure starts clean
      this._connectCb = done;
      this._listenNetwork();
      this._setStatus(CS.STARTING);
      this._attempt();
    }, (err, userSub) => (err ? [err, null] : [null, userSub ?? null]));
  }

  close() {
    this._gen++;
    this._clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._abandon(4000, 'Connection closed by client');
    this._unlistenNetwork();
    this._setStatus(CS.CLOSED);
    this._failPending(E.closed, false);
    this._forSubs((s) => s._setStatus(SS.CLOSED));
    const cb = this._connectCb;
    this._connectCb = null;
    if (cb) this._safe(cb, E.closed('connect'));
  }

  getStatus() { return this._status; }

  /** The lastUid seen on a channel (ext), undefined when not subscribed. */
  lastUid(channel) { const c = this._channels.get(channel); return c ? c.lastUid : undefined; }

  ask(topic, msg, cb) {
    return callOrPromise(cb, (done) => {
      if (!this._canSend()) return done(E.unready());
      this._request({ sys: SYS.ASK, topic, msg: msg === undefined ? null : msg }, `ask "${topic}"`, done);
      return undefined;
    });
  }

  // The original's tell took an optional callback and was fire-and-forget
  // without one: the promise (ext) is marked handled, so that a tell while
  // not READY does not become an unhandled rejection; await it to see errors.
  tell(topic, msg, cb) {
    const p = callOrPromise(cb, (done) => {
      if (!this._canSend()) return done(E.unready());
      let frame;
      try {
        frame = this._encode({ sys: SYS.TELL, topic, msg: msg === undefined ? null : msg });
      } catch (e) {
        return done(e);
      }
      this._ws.send(frame);
      return done(null);
    }, (err) => [err || null]);
    if (p) p.catch(() => {});
    return p;
  }

  /** (ext) PUBLISH where the server allows it; the result is { uid }. */
  publish(channel, topic, msg, cb) {
    return callOrPromise(cb, (done) => {
      if (!this._canSend()) return done(E.unready());
      if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) return done(E.badName(channel));
      this._request({ sys: SYS.PUBLISH, channel, topic, msg: msg === undefined ? null : msg }, `publish on "${channel}"`, done);
      return undefined;
    });
  }

  // The callback gets the original's arguments: cb(undefined, true, sub) for a
  // new subscription (the reply's absent `err`; cb(null, true, sub) when the
  // channel is already subscribed here and no request goes out),
  // cb(undefined, false) when the server refuses, cb(err) on an error. The
  // promise (ext) resolves to the Subscription and rejects on an error and on
  // a refusal, with a "Subscription refused" SSSError (err.refused true,
  // message the server's reason when it gave one). While the client reconnects
  // (after a drop, until it stops) a subscribe is accepted and its SUBSCRIBE
  // sent after the SYNC reply, as is one in flight when the connection drops;
  // before the first READY and after close() or a final failure: not_ready.
  subscribe(channel, query, cb) {
    if (typeof query === 'function' && cb === undefined) { cb = query; query = null; }
    return callOrPromise(cb, (done) => {
      if (!this._canSend() && !this._reconnecting()) return done(E.unready());
      if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) return done(E.badName(channel));
      return this._subscribeNow(channel, query === undefined ? null : query, done, `subscribe to "${channel}"`);
    }, (err, sub) => {
      if (!err) return [err, true, sub];
      return err.refused ? [undefined, false] : [err];
    });
  }

  /** (ext) Add a listener of a client event: 'error', 'reconnect', 'drop', 'boot', 'reconnectFail', 'statusChange'. */
  on(event, cb) { checkEvent(event, CLIENT_EVENTS); return this._events.add(event, cb); }
  /** (ext) Remove a listener added with on(event, cb) or onX(cb); true when it was there. */
  off(event, cb) { checkEvent(event, CLIENT_EVENTS); return this._events.remove(event, cb); }
  onTell(topic, cb) { return this._tellListeners.add(topic, cb); }
  offTell(topic, cb) { return this._tellListeners.remove(topic, cb); }
  onBroadcast(topic, cb) { return this._broadcastListeners.add(topic, cb); }
  offBroadcast(topic, cb) { return this._broadcastListeners.remove(topic, cb); }
  onError(cb) { return this.on('error', cb); }
  onReconnect(cb) { return this.on('reconnect', cb); }
  onDrop(cb) { return this.on('drop', cb); }
  onBoot(cb) { return this.on('boot', cb); }
  onReconnectFail(cb) { return this.on('reconnectFail', cb); }
  onStatusChange(cb) { return this.on('statusChange', cb); }
}

// As the original, an optional callback gets the client at once.
function client(url, prefs, cb) {
  const c = new Client(url, prefs);
  if (typeof cb === 'function') cb(c);
  return c;
}

const sssClient = { client, statusCodes, statusText, SSSError, Client, Subscription };

export { client, statusCodes, statusText, SSSError, Client, Subscription };
export default sssClient;
