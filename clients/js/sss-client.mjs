// sss-client: the JavaScript client of Super Scaled Sockets (sss), wire
// protocol v1 (JSON). One dependency-free ES module for browsers and Node 20+.
// Its API is the original super-scaled-sockets-client's, callbacks included, so
// code written against the original runs unchanged: connect cb(err, userSub),
// ask cb(err, msg), tell cb(err), subscribe cb(err, true, sub) / cb(undefined,
// false) when refused, sub.on(topic, (msg, uid) => ...). Extensions are marked
// (ext); the main one: every request method (connect, ask, tell, subscribe,
// publish) returns a promise when its callback is omitted. This file is the
// only source: scripts/build-cjs.mjs generates the CommonJS build,
// sss-client.cjs (git-ignored), from it.

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

/** An error with the `name` and `message` of the protocol's `err` objects. */
class SSSError extends Error {
  constructor(name, message, extra) {
    super(message);
    Object.defineProperty(this, 'name', { value: name, enumerable: true, writable: true, configurable: true });
    if (extra) Object.assign(this, extra);
  }
}
const fromWire = (err) =>
  err instanceof Error ? err
    : new SSSError(String((err && err.name) || 'Super Scaled Sockets Error'), String((err && err.message) || JSON.stringify(err)));

const E = {
  unready: () => new SSSError('Connection not ready', 'the client is not connected (its status is not READY); nothing was sent'),
  dropped: (what) => new SSSError('Connection dropped', `the connection dropped before the server answered (${what})`),
  closed: (what) => new SSSError('Connection closed', `the client was closed before the server answered (${what})`),
  badName: (c) => new SSSError('Channel name not allowed', `"${c}": must match [A-Za-z0-9_-]{1,128} and not start with "_"`),
  connectFailed: () => new SSSError('Unable to connect to the server', 'every connection attempt failed'),
  noWebSocket: () => new SSSError('No WebSocket', 'no global WebSocket: pass one as prefs.WebSocket (e.g. the "ws" package)'),
  refused: (c, err) => new SSSError('Subscription refused', (err && err.message) || `the server refused channel "${c}"`, { channel: c, refused: true }),
  sync: (c) => new SSSError('Unable to sync', `the server refused channel "${c}" or its history no longer reaches back to the last message seen (there may be a gap)`),
  hb: () => new SSSError('Heartbeat timeout', 'nothing heard from the server within hbInterval + hbThreshold'),
};

const CHANNEL_RE = /^[A-Za-z0-9-][A-Za-z0-9_-]{0,127}$/;

const defaults = {
  autoReconnect: true,
  retryAttempts: 0, // 0: retry forever
  retryInterval: 1000, // base delay of the exponential backoff (ms)
  maxRetryInterval: 30000, // (ext) bound of the backoff (ms)
  WebSocket: undefined, // (ext) a WebSocket class where no global exists, e.g. require('ws')
  protocols: 'sss.v1.json', // (ext) offered sub-protocol(s)
  session: undefined, // (ext) a session id to resume, sent in BEGIN
  timers: undefined, // (ext) { setTimeout, clearTimeout }, for tests
  random: undefined, // (ext) () => [0,1), for tests
  logReconnection: false, // console.log each connection attempt, as the original did
};

// Call `cb` if given, else return a promise; `run(done)` does the work and
// calls done(err, res) once; `args(err, res)` are cb's arguments.
function callOrPromise(cb, run, args = (err, res) => [err || null, res]) {
  if (typeof cb === 'function') {
    run((err, res) => cb(...args(err, res)));
    return undefined;
  }
  return new Promise((resolve, reject) => run((err, res) => (err ? reject(err) : resolve(res))));
}

function textOf(data) {
  if (typeof data === 'string') return data;
  if (data && typeof data.toString === 'function' && typeof Buffer !== 'undefined' && Buffer.isBuffer(data)) return data.toString('utf8');
  return null; // binary frames are not part of the JSON protocol
}

class Subscription {
  constructor(client, channel) {
    this._client = client;
    this._channel = channel;
    this._status = SS.ACTIVE;
    this._listeners = {};
    this._onError = null;
    this._onStatusChange = null;
  }

  /** The channel name (ext). */
  get channel() { return this._channel; }

  _feed(topic, msg, uid) {
    const l = this._listeners[topic];
    if (l) this._client._safe(l, msg, uid);
  }

  _setStatus(s) {
    if (s === this._status) return;
    const old = this._status;
    this._status = s;
    if (this._onStatusChange) this._client._safe(this._onStatusChange, s, old);
  }

  // As the original: the error first, then the status.
  _error(err, status) {
    if (this._onError) this._client._safe(this._onError, err);
    else this._client._error(err);
    if (status) this._setStatus(status);
  }

  /** Listen for FEEDs of this topic: cb(msg, uid), uid the FEED's (one listener per topic). */
  on(topic, cb) { this._listeners[topic] = cb; }
  unsubscribe() { this._client._unsubscribe(this); }
  getStatus() { return this._status; }
  onStatusChange(cb) { this._onStatusChange = cb; }
  onError(cb) { this._onError = cb; }
}

class Client {
  constructor(url, prefs = {}) {
    this._url = url;
    this._prefs = { ...defaults };
    for (const k of Object.keys(prefs || {})) {
      if (k in defaults) this._prefs[k] = prefs[k];
      else console.warn('SuperScaledSockets', `Unknown preference name '${k}' ignored`);
    }
    const t = this._prefs.timers || globalThis;
    this._setTimeout = (f, ms) => t.setTimeout(f, ms);
    this._clearTimeout = (h) => t.clearTimeout(h);
    this._random = this._prefs.random || Math.random;
    this._status = CS.INIT;
    this._ws = null; // the live socket (open or opening)
    this._open = false;
    this._nextId = 1;
    this._pending = new Map(); // id -> { cb, what }
    this._channels = new Map(); // channel -> { query, lastUid, subs: Set<Subscription> }
    this._tellListeners = {};
    this._broadcastListeners = {};
    this._on = {};
    this._hb = null; // { timeout } when the server runs heartbeats
    this._hbTimer = null;
    this._retryTimer = null;
    this._attempt = 0;
    this._reconnecting = false;
    this._connectCb = null;
    this._session = this._prefs.session;
    this._syncId = null;
  }

  // ---- helpers ----
  _safe(fn, ...args) {
    try {
      fn(...args);
    } catch (e) {
      if (fn !== this._on.error && this._on.error) this._safe(this._on.error, e);
      else this._setTimeout(() => { throw e; }, 0); // surface it, do not corrupt the state machine
    }
  }

  _error(err) { if (this._on.error) this._safe(this._on.error, err); }

  _fire(name, ...args) { if (this._on[name]) this._safe(this._on[name], ...args); }

  _setStatus(s) {
    if (s === this._status) return;
    const old = this._status;
    this._status = s;
    this._fire('statusChange', s, old);
  }

  _forSubs(fn) { for (const ch of this._channels.values()) for (const s of ch.subs) fn(s, ch); }

  _send(obj) { this._ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  _request(obj, what, cb) {
    const id = this._nextId++;
    this._pending.set(id, { cb, what });
    this._send({ ...obj, id });
    return id;
  }

  _failPending(mkErr) {
    const p = [...this._pending.values()];
    this._pending.clear();
    for (const { cb, what } of p) this._safe(cb, mkErr(what));
  }

  _log(type, extra) {
    if (this._prefs.logReconnection) console.log('SuperScaledSockets', { type, ...extra });
  }

  _backoff(n) {
    const base = Math.min(this._prefs.maxRetryInterval, this._prefs.retryInterval * 2 ** Math.min(n, 30));
    return Math.round(base / 2 + (base / 2) * this._random()); // "equal jitter": [base/2, base]
  }

  // ---- connection ----
  _dial() {
    const WS = this._prefs.WebSocket || globalThis.WebSocket;
    if (!WS) return this._attemptFailed(E.noWebSocket(), true);
    let ws;
    this._log('connectionAttempt', { reconnectAttempt: this._attempt + 1 });
    try {
      ws = new WS(this._url, this._prefs.protocols);
    } catch (e) {
      return this._attemptFailed(e, true);
    }
    this._ws = ws;
    this._open = false;
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._open = true;
      this._log('connectionSuccessful', { message: 'attempt successful' });
      if (this._reconnecting) {
        this._setStatus(CS.SYNCING);
        this._forSubs((s) => s._setStatus(SS.SYNCING));
        const subscriptions = [...this._channels].map(([channel, c]) => ({ channel, lastUid: c.lastUid ?? null, query: c.query ?? null }));
        this._syncId = this._nextId++;
        const m = { sys: SYS.SYNC, id: this._syncId, subscriptions };
        if (this._session) m.session = this._session;
        this._send(m);
      } else {
        this._setStatus(CS.BEGINNING);
        this._send(this._session ? { sys: SYS.BEGIN, session: this._session } : { sys: SYS.BEGIN });
      }
      this._armHeartbeat();
    };
    ws.onmessage = (ev) => { if (ws === this._ws) this._onFrame(ev.data); };
    ws.onerror = () => {}; // a close event always follows
    ws.onclose = (ev) => { if (ws === this._ws) this._onClose(ev.code, ev.reason); };
    return undefined;
  }

  // Forget the socket at once (its close event will be ignored) and close it.
  _abandon(code, reason) {
    const ws = this._ws;
    this._ws = null;
    this._open = false;
    this._clearTimeout(this._hbTimer);
    this._hbTimer = null;
    if (ws) {
      try { ws.close(code, reason); } catch { /* already closing */ }
    }
  }

  _attemptFailed(err, fatal) {
    this._ws = null;
    const max = this._prefs.autoReconnect ? this._prefs.retryAttempts : 0;
    this._attempt++;
    this._log('connectionAttemptFailed', { attempt: this._attempt });
    if (fatal || (max !== 0 && this._attempt > max) || !this._prefs.autoReconnect) {
      if (this._reconnecting) {
        this._reconnecting = false;
        this._setStatus(CS.RECONNECT_FAILED);
        this._forSubs((s) => s._setStatus(SS.RECONNECT_FAILED));
        this._error(err || E.connectFailed());
        this._fire('reconnectFail', err || E.connectFailed());
      } else {
        this._setStatus(CS.START_FAILED);
        const cb = this._connectCb;
        this._connectCb = null;
        if (cb) this._safe(cb, err || E.connectFailed());
      }
      return;
    }
    this._setStatus(CS.RETRY_INTERVAL);
    this._retryTimer = this._setTimeout(() => {
      this._retryTimer = null;
      this._setStatus(this._reconnecting ? CS.DROPPED_RETRYING : CS.START_RETRYING);
      this._dial();
    }, this._backoff(this._attempt - 1));
  }

  _onClose(code, reason) {
    if (!this._open) return this._attemptFailed(null, false); // never opened: a failed attempt
    this._abandon();
    if (code === 4001) return this._booted(reason ?? '');
    if (code === 1000 || code === 4000) return this._stop(CS.CLOSED, SS.CLOSED, E.dropped);
    return this._drop();
  }

  // BOOT, or a close with 4001: stop for good and fire onBoot(reason).
  _booted(reason) {
    this._abandon(4001, reason);
    return this._stop(CS.BOOTED, SS.BOOTED, E.dropped, () => this._fire('boot', reason));
  }

  _stop(cstatus, sstatus, mkErr, then) {
    this._reconnecting = false;
    this._clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._setStatus(cstatus);
    this._failPending(mkErr);
    this._forSubs((s) => s._setStatus(sstatus));
    const cb = this._connectCb; // closed before BEGIN's reply
    this._connectCb = null;
    if (cb) this._safe(cb, mkErr('connect'));
    if (then) then();
  }

  // The connection was lost: fail what waits, then reconnect (or give up).
  _drop() {
    const wasReady = this._status === CS.READY;
    const cb = this._connectCb;
    this._failPending(E.dropped);
    this._forSubs((s) => s._setStatus(SS.DROPPED));
    if (!this._prefs.autoReconnect) {
      this._setStatus(CS.RECONNECT_FAILED);
      this._forSubs((s) => s._setStatus(SS.RECONNECT_FAILED));
      this._fire('drop');
      this._connectCb = null;
      if (cb) this._safe(cb, E.dropped('connect'));
      else this._fire('reconnectFail', E.dropped('reconnect'));
      return;
    }
    // Dropped before BEGIN's reply: still the first connect, retry it with BEGIN.
    if (cb && !wasReady && !this._reconnecting) {
      this._attemptFailed(null, false);
      return;
    }
    if (!this._reconnecting) this._attempt = 0;
    this._reconnecting = true;
    this._setStatus(CS.DROPPED_RETRYING);
    this._fire('drop');
    this._attemptFailed(null, false);
  }

  _armHeartbeat() {
    this._clearTimeout(this._hbTimer);
    this._hbTimer = null;
    if (!this._hb || !this._ws) return;
    this._hbTimer = this._setTimeout(() => {
      this._hbTimer = null;
      if (!this._ws) return;
      this._error(E.hb());
      this._abandon(4100, 'heartbeat timeout');
      this._drop();
    }, this._hb.timeout);
  }

  _onFrame(data) {
    const text = textOf(data);
    if (text === null) return;
    this._armHeartbeat(); // anything heard counts
    if (text === 'h') {
      if (this._hb) this._send('h');
      return;
    }
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      this._error(new SSSError('Bad message', 'the server sent a frame that is not JSON'));
      return;
    }
    if (!m || typeof m !== 'object') return;
    switch (m.sys) {
      case SYS.BEGIN: return this._onBegin(m);
      case SYS.SYNC: return this._onSync(m);
      case SYS.SUBSCRIBE: return this._onSubscribe(m);
      case SYS.UNSUBSCRIBE: return this._onAnswer(m, null, m.result);
      case SYS.RESPONSE: return this._onAnswer(m, m.err, m.msg);
      case SYS.FEED: return this._onFeed(m);
      case SYS.UPDATESUB: {
        const c = this._channels.get(m.channel);
        if (c && m.uid != null) c.lastUid = m.uid;
        return undefined;
      }
      case SYS.TELL: {
        const l = this._tellListeners[m.topic];
        if (l) this._safe(l, m.msg);
        return undefined;
      }
      case SYS.BROADCAST: {
        const l = this._broadcastListeners[m.topic];
        if (l) this._safe(l, m.msg);
        return undefined;
      }
      case SYS.BOOT: // the server closes with 4001 next; as the original, do not wait for it
        return this._booted(m.reason ?? '');
      case SYS.BOOTCHANNEL: {
        const c = this._channels.get(m.channel);
        if (!c) return undefined;
        this._channels.delete(m.channel);
        const err = new SSSError('Removed from channel', m.reason || `removed from channel "${m.channel}"`, { channel: m.channel });
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

  _onBegin(m) {
    if (this._status !== CS.BEGINNING) return;
    const prot = m.prot || {};
    this._hb = prot.hb ? { timeout: (Number(prot.hbInterval) || 30000) + (prot.hbThreshold != null ? Number(prot.hbThreshold) : 1000) } : null;
    this._armHeartbeat();
    if (m.session) this._session = m.session;
    let userSub = null;
    if (m.channel) userSub = this._addSub(m.channel, null, m.lastUid ?? null);
    this._attempt = 0;
    this._setStatus(CS.READY);
    const cb = this._connectCb;
    this._connectCb = null;
    if (cb) this._safe(cb, null, userSub);
  }

  _onSync(m) {
    if (!this._reconnecting || m.id !== this._syncId) return;
    this._syncId = null;
    for (const r of m.records || []) this._onFeed(r);
    const result = m.result || {};
    this._reconnecting = false;
    this._attempt = 0;
    this._setStatus(CS.READY);
    for (const [ch, c] of this._channels) {
      for (const s of c.subs) {
        if (result[ch]) s._setStatus(SS.ACTIVE);
        else s._error(E.sync(ch), SS.SYNC_FAILED);
      }
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
    if (!m.result || m.err) {
      this._safe(p.cb, E.refused(m.channel ?? p.channel, m.err));
      return;
    }
    this._safe(p.cb, undefined, this._addSub(m.channel ?? p.channel, p.query, m.lastUid ?? null));
  }

  _addSub(channel, query, lastUid) {
    let c = this._channels.get(channel);
    if (!c) {
      c = { query, lastUid, subs: new Set() };
      this._channels.set(channel, c);
    }
    const s = new Subscription(this, channel);
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

  _onFeed(m) {
    const c = this._channels.get(m.channel);
    if (!c) return;
    if (m.uid != null) c.lastUid = m.uid;
    for (const s of [...c.subs]) s._feed(m.topic, m.msg, m.uid);
  }

  // ---- API ----
  connect(cb) {
    return callOrPromise(cb, (done) => {
      if (this._status !== CS.INIT && this._status !== CS.CLOSED && this._status !== CS.START_FAILED
        && this._status !== CS.BOOTED && this._status !== CS.RECONNECT_FAILED) {
        done(new SSSError('Already connecting', 'connect() was called twice'));
        return;
      }
      this._connectCb = done;
      this._attempt = 0;
      this._reconnecting = false;
      this._setStatus(CS.STARTING);
      this._dial();
    }, (err, userSub) => (err ? [err, null] : [null, userSub ?? null]));
  }

  close() {
    this._clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._abandon(4000, 'Connection closed by client');
    this._stop(CS.CLOSED, SS.CLOSED, E.closed);
  }

  getStatus() { return this._status; }

  /** The lastUid seen on a channel (ext), undefined when not subscribed. */
  lastUid(channel) { const c = this._channels.get(channel); return c ? c.lastUid : undefined; }

  ask(topic, msg, cb) {
    return callOrPromise(cb, (done) => {
      if (this._status !== CS.READY) return done(E.unready());
      this._request({ sys: SYS.ASK, topic, msg: msg === undefined ? null : msg }, `ask "${topic}"`, done);
      return undefined;
    });
  }

  // The original's tell took an optional callback and was fire-and-forget
  // without one: the promise (ext) is marked handled, so that a tell while
  // not READY does not become an unhandled rejection; await it to see errors.
  tell(topic, msg, cb) {
    const p = callOrPromise(cb, (done) => {
      if (this._status !== CS.READY) return done(E.unready());
      this._send({ sys: SYS.TELL, topic, msg: msg === undefined ? null : msg });
      return done(null);
    }, (err) => [err || null]);
    if (p) p.catch(() => {});
    return p;
  }

  /** (ext) PUBLISH where the server allows it; the result is { uid }. */
  publish(channel, topic, msg, cb) {
    return callOrPromise(cb, (done) => {
      if (this._status !== CS.READY) return done(E.unready());
      if (!CHANNEL_RE.test(channel)) return done(E.badName(channel));
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
  // message the server's reason when it gave one).
  subscribe(channel, query, cb) {
    if (typeof query === 'function' && cb === undefined) { cb = query; query = null; }
    return callOrPromise(cb, (done) => {
      if (this._status !== CS.READY) return done(E.unready());
      if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) return done(E.badName(channel));
      if (this._channels.has(channel)) return done(null, this._addSub(channel));
      const q = query === undefined ? null : query;
      const id = this._request({ sys: SYS.SUBSCRIBE, channel, query: q }, `subscribe to "${channel}"`, done);
      Object.assign(this._pending.get(id), { channel, query: q });
      return undefined;
    }, (err, sub) => {
      if (!err) return [err, true, sub];
      return err.refused ? [undefined, false] : [err];
    });
  }

  onTell(topic, cb) { this._tellListeners[topic] = cb; }
  onBroadcast(topic, cb) { this._broadcastListeners[topic] = cb; }
  onError(cb) { this._on.error = cb; }
  onReconnect(cb) { this._on.reconnect = cb; }
  onDrop(cb) { this._on.drop = cb; }
  onBoot(cb) { this._on.boot = cb; }
  onReconnectFail(cb) { this._on.reconnectFail = cb; }
  onStatusChange(cb) { this._on.statusChange = cb; }
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
