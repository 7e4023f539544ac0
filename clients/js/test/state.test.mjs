// The client's state machine against a fake WebSocket (scripted server frames)
// and a fake clock: no network, no real timers, no timing assertions. With
// SSS_TEST_ENCODING=msgpack (state-msgpack.test.mjs) every test runs again with
// the client on sss.v1.msgpack: the fake server picks the offered
// sub-protocol and speaks it, so the same assertions hold in both encodings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, statusCodes } from '../sss-client.mjs';
import { encode, decode } from '../sss-msgpack.mjs';

const ENCODING = process.env.SSS_TEST_ENCODING === 'msgpack' ? 'msgpack' : 'json';

const CS = statusCodes.client;
const SS = statusCodes.subscription;

class FakeWS {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.sent = [];
    this.closed = null;
    FakeWS.all.push(this);
  }
  send(d) { this.sent.push(d); }
  close(code, reason) { this.closed = { code, reason }; }
  // server side: it picks the first sub-protocol offered (undefined: none)
  open(protocol = [this.protocols].flat()[0]) { this.protocol = protocol; this.onopen({}); }
  // a string is sent as it is (a text frame); an object in the picked encoding
  recv(m) {
    if (typeof m === 'string') this.onmessage({ data: m });
    else if (this.protocol === 'sss.v1.msgpack') this.onmessage({ data: encode(m).buffer });
    else this.onmessage({ data: JSON.stringify(m) });
  }
  drop(code = 1006, reason = '') { this.onclose({ code, reason }); }
  // the messages sent but heartbeats, decoded
  json() { return this.sent.filter((s) => s !== 'h').map((s) => (typeof s === 'string' ? JSON.parse(s) : decode(s))); }
  last() { const j = this.json(); return j[j.length - 1]; }
}

class FakeClock {
  constructor() { this.timers = new Map(); this.n = 0; this.log = []; }
  setTimeout(fn, ms) { const h = ++this.n; this.timers.set(h, { fn, ms }); return h; }
  clearTimeout(h) { this.timers.delete(h); }
  pending() { return [...this.timers.values()].map((t) => t.ms); }
  // run the earliest-scheduled timer with the given delay (or any)
  fire(pred = () => true) {
    for (const [h, t] of this.timers) {
      if (pred(t)) { this.timers.delete(h); this.log.push(t.ms); t.fn(); return t.ms; }
    }
    throw new Error('no such timer: ' + JSON.stringify(this.pending()));
  }
}

function setup(prefs = {}) {
  FakeWS.all = [];
  const clock = new FakeClock();
  const c = client('ws://sss.test/', { WebSocket: FakeWS, timers: clock, random: () => 0.5, retryInterval: 100, maxRetryInterval: 1000, encoding: ENCODING, ...prefs });
  const statuses = [];
  c.onStatusChange((s) => statuses.push(s));
  return { c, clock, statuses, ws: () => FakeWS.all[FakeWS.all.length - 1] };
}

const BEGIN_HB = { sys: 3, prot: { hb: true, hbInterval: 500, hbThreshold: 100 } };

async function connected(prefs, begin = { sys: 3, prot: {} }) {
  const t = setup(prefs);
  const p = t.c.connect();
  const ws = t.ws();
  const encoding = (prefs && prefs.encoding) || ENCODING;
  assert.equal(ws.protocols, `sss.v1.${encoding}`);
  ws.open();
  assert.deepEqual(ws.json(), [{ sys: 3 }]);
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.equal(ws.sent[0] instanceof Uint8Array, encoding === 'msgpack', 'a binary frame in MessagePack, text in JSON');
  ws.recv(begin);
  t.userSub = await p;
  return t;
}

async function subscribed(t, channel, query = null, lastUid = '1-1') {
  const p = t.c.subscribe(channel, query);
  const m = t.ws().last();
  assert.deepEqual(m, { sys: 1, channel, query, id: m.id });
  t.ws().recv({ sys: 1, id: m.id, channel, result: true, lastUid });
  return p;
}

test('connect sends BEGIN and resolves on its reply; statuses in order', async () => {
  const t = await connected();
  assert.equal(t.userSub, null);
  assert.equal(t.c.getStatus(), CS.READY);
  assert.deepEqual(t.statuses, [CS.STARTING, CS.BEGINNING, CS.READY]);
});

test('BEGIN with a user channel gives a user subscription with its lastUid', async () => {
  const t = await connected({}, { sys: 3, prot: {}, channel: '_u_alice', lastUid: '1-41', session: 's-1' });
  assert.equal(t.userSub.channel, '_u_alice');
  assert.equal(t.c.lastUid('_u_alice'), '1-41');
});

test('connect with a callback: Node-style cb(err, userSubscription)', async () => {
  const t = setup();
  const got = await new Promise((resolve) => {
    assert.equal(t.c.connect((err, sub) => resolve([err, sub])), undefined);
    t.ws().open();
    t.ws().recv({ sys: 3, prot: {} });
  });
  assert.deepEqual(got, [null, null]);
});

test('ask/response are matched by id, out of order; ask errors reject', async () => {
  const t = await connected();
  const a = t.c.ask('one', 1);
  const b = t.c.ask('two', { x: 2 });
  const [ma, mb] = t.ws().json().slice(-2);
  assert.deepEqual(ma, { sys: 5, topic: 'one', msg: 1, id: ma.id });
  assert.notEqual(ma.id, mb.id);
  t.ws().recv({ sys: 7, id: mb.id, msg: 'B' });
  t.ws().recv({ sys: 7, id: ma.id, msg: 'A' });
  assert.equal(await a, 'A');
  assert.equal(await b, 'B');
  const c = t.c.ask('nope', null);
  t.ws().recv({ sys: 7, id: t.ws().last().id, err: { name: 'Super Scaled Sockets Error', message: 'Unknown request topic sent from client' } });
  await assert.rejects(c, { name: 'Super Scaled Sockets Error', message: 'Unknown request topic sent from client' });
  // callback form
  const r = await new Promise((res) => { t.c.ask('cb', 3, (err, msg) => res([err, msg])); t.ws().recv({ sys: 7, id: t.ws().last().id, msg: 9 }); });
  assert.deepEqual(r, [null, 9]);
  // an ERROR (sys 14) with the ask's id fails that ask
  const d = t.c.ask('bad', null);
  t.ws().recv({ sys: 14, id: t.ws().last().id, err: { name: 'Super Scaled Sockets Error', message: 'bad' } });
  await assert.rejects(d, { message: 'bad' });
});

test('asks in flight fail with a clear error when the connection drops', async () => {
  const t = await connected();
  const a = t.c.ask('slow', null);
  const b = new Promise((res) => t.c.ask('slow2', null, (err) => res(err)));
  t.ws().drop(1006);
  await assert.rejects(a, (e) => e.name === 'Connection dropped' && /ask "slow"/.test(e.message));
  assert.match((await b).message, /dropped before the server answered \(ask "slow2"\)/);
  assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
  // not ready: rejects at once, nothing sent
  await assert.rejects(t.c.ask('x', 1), { name: 'Connection not ready' });
  t.c.close();
});

test('tell both ways, broadcast, publish', async () => {
  const t = await connected();
  await t.c.tell('likedMsg', 42);
  assert.deepEqual(t.ws().last(), { sys: 6, topic: 'likedMsg', msg: 42 });
  const told = [];
  t.c.onTell('updateToken', (m) => told.push(m));
  t.c.onBroadcast('maint', (m) => told.push(['b', m]));
  t.ws().recv({ sys: 6, topic: 'updateToken', msg: 'tok' });
  t.ws().recv({ sys: 6, topic: 'other', msg: 'ignored' });
  t.ws().recv({ sys: 11, topic: 'maint', msg: 'soon' });
  assert.deepEqual(told, ['tok', ['b', 'soon']]);
  const p = t.c.publish('chat', 'say', 'hi');
  const m = t.ws().last();
  assert.deepEqual(m, { sys: 13, channel: 'chat', topic: 'say', msg: 'hi', id: m.id });
  t.ws().recv({ sys: 7, id: m.id, msg: { uid: '1-44' } });
  assert.deepEqual(await p, { uid: '1-44' });
  await assert.rejects(t.c.publish('_x', 't', 1), { name: 'Channel name not allowed' });
});

test('subscribe + FEED routing to on(topic); lastUid from FEED and UPDATESUB', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'sport', { team: 'x' }, '1-41');
  assert.equal(t.c.lastUid('sport'), '1-41');
  const got = [];
  sub.on('article', (m) => got.push(m));
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'article', msg: { a: 1 }, uid: '1-42' });
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'other', msg: 0, uid: '1-43' });
  t.ws().recv({ sys: 8, channel: 'weather', topic: 'article', msg: 'no', uid: '7-1' });
  assert.deepEqual(got, [{ a: 1 }]);
  assert.equal(t.c.lastUid('sport'), '1-43');
  t.ws().recv({ sys: 12, channel: 'sport', uid: '1-44' });
  assert.equal(t.c.lastUid('sport'), '1-44');
  // a second subscribe to the same channel needs no round trip
  const before = t.ws().sent.length;
  const sub2 = await t.c.subscribe('sport', null);
  assert.equal(t.ws().sent.length, before);
  sub.unsubscribe();
  assert.equal(sub.getStatus(), SS.UNSUBSCRIBED);
  assert.equal(t.ws().sent.length, before); // sub2 still holds the channel
  sub2.unsubscribe();
  assert.deepEqual(t.ws().last(), { sys: 2, channel: 'sport' });
  assert.equal(t.c.lastUid('sport'), undefined);
});

test('subscribe refused and bad names (promises: a refusal rejects)', async () => {
  const t = await connected();
  const p = t.c.subscribe('forbidden', null);
  t.ws().recv({ sys: 1, id: t.ws().last().id, channel: 'forbidden', result: false, err: { name: 'Subscription refused', message: 'no entry' } });
  await assert.rejects(p, { name: 'Subscription refused', message: 'no entry', refused: true, channel: 'forbidden' });
  // the original server sent no err with a refusal
  const q = t.c.subscribe('nope', null);
  t.ws().recv({ sys: 1, id: t.ws().last().id, channel: 'nope', result: false });
  await assert.rejects(q, { name: 'Subscription refused', refused: true, channel: 'nope' });
  await assert.rejects(t.c.subscribe('_u_bob', null), { name: 'Channel name not allowed' });
  await assert.rejects(t.c.subscribe('a b', null), { name: 'Channel name not allowed' });
});

// The callback shapes of the original client (src/client.js _handleSubscribe:
// cb(payload.err, payload.result, subscription), or cb(payload.err,
// payload.result) when refused; cb(error) for its own errors).
test('subscribe with a callback: the original\'s arguments', async () => {
  const t = await connected();
  const call = (channel, reply, _, first = () => {}) => new Promise((resolve) => {
    first();
    const before = t.ws().sent.length;
    t.c.subscribe(channel, { k: 1 }, (...args) => resolve(args));
    if (reply && t.ws().sent.length > before) t.ws().recv({ sys: 1, id: t.ws().last().id, channel, ...reply });
  });
  const created = await call('sport', { result: true, lastUid: '1-1' });
  assert.equal(created.length, 3);
  assert.equal(created[0], undefined);
  assert.equal(created[1], true);
  assert.equal(created[2].channel, 'sport');
  const again = await call('sport', null); // no round trip
  assert.deepEqual(again.slice(0, 2), [null, true]);
  assert.notEqual(again[2], created[2]);
  assert.deepEqual(await call('forbidden', { result: false, err: { name: 'Subscription refused', message: 'no entry' } }), [undefined, false]);
  assert.deepEqual(await call('nope', { result: false }), [undefined, false]);
  const bad = await call('_u_x', null);
  assert.equal(bad.length, 1);
  assert.equal(bad[0].name, 'Channel name not allowed');
  // while reconnecting, a channel held here is shared at once: the SYNC covers it
  const held = await call('sport', null, null, () => t.ws().drop(1006));
  assert.deepEqual(held.slice(0, 2), [null, true]);
  assert.equal(held[2].getStatus(), SS.DROPPED);
  // in flight when the client is closed: cb(err)
  t.clock.fire();
  t.ws().open();
  t.ws().recv({ sys: 4, id: t.ws().last().id, result: { sport: true } });
  assert.equal(held[2].getStatus(), SS.ACTIVE);
  const closed = call('late', null);
  t.c.close();
  const d = await closed;
  assert.equal(d.length, 1);
  assert.equal(d[0].name, 'Connection closed');
  // not READY and not reconnecting (closed): cb(err), nothing sent
  const unready = await call('sport', null);
  assert.equal(unready.length, 1);
  assert.equal(unready[0].name, 'Connection not ready');
  assert.equal(unready[0].code, 'not_ready');
});

test('sub.on(topic, cb(msg, uid)): the FEED\'s uid, also for SYNC records', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'sport');
  const got = [];
  sub.on('a', (msg, uid) => got.push([msg, uid]));
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: { n: 1 }, uid: '1-2' });
  t.ws().drop(1006);
  t.clock.fire();
  t.ws().open();
  t.ws().recv({ sys: 4, id: t.ws().last().id, result: { sport: true }, records: [{ sys: 8, channel: 'sport', topic: 'a', msg: 2, uid: '1-3' }] });
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 3, uid: '1-4' });
  assert.deepEqual(got, [[{ n: 1 }, '1-2'], [2, '1-3'], [3, '1-4']]);
  t.c.close();
});

test('client(url, prefs, cb) gives cb the client at once, as the original', () => {
  let got = null;
  const c = client('ws://sss.test/', { WebSocket: FakeWS }, (x) => { got = x; });
  assert.equal(got, c);
});

test('connect with a callback: cb(err, null) when every attempt failed', async () => {
  const t = setup({ autoReconnect: false });
  const got = await new Promise((resolve) => {
    t.c.connect((...args) => resolve(args));
    t.ws().drop(1006);
  });
  assert.equal(got.length, 2);
  assert.equal(got[0].name, 'Unable to connect to the server');
  assert.equal(got[1], null);
});

test('tell without a callback is fire-and-forget: no unhandled rejection when not ready', async () => {
  const t = setup();
  const unhandled = [];
  const on = (e) => unhandled.push(e);
  process.on('unhandledRejection', on);
  try {
    t.c.tell('x', 1); // not connected: the original did nothing
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
    await assert.rejects(t.c.tell('x', 1), { name: 'Connection not ready' }); // awaited: the error shows
    const cbErr = await new Promise((r) => t.c.tell('x', 1, (err) => r(err)));
    assert.equal(cbErr.name, 'Connection not ready');
  } finally {
    process.off('unhandledRejection', on);
  }
});

test('prefs: an unknown name is reported, as the original did; logReconnection logs attempts', () => {
  const warned = [];
  const logged = [];
  const { warn, log } = console;
  console.warn = (...a) => warned.push(a.join(' '));
  console.log = (...a) => logged.push(a);
  try {
    const c = client('ws://sss.test/', { WebSocket: FakeWS, timers: new FakeClock(), nosuch: 1, logReconnection: true });
    c.connect(() => {});
    FakeWS.all.at(-1).open();
  } finally {
    console.warn = warn;
    console.log = log;
  }
  assert.equal(warned.length, 1);
  assert.match(warned[0], /Unknown preference name 'nosuch'/);
  assert.deepEqual(logged.map((a) => a[1].type), ['connectionAttempt', 'connectionSuccessful']);
});

test('reconnect: exponential backoff with jitter (bounded), then SYNC with channels, lastUid and query', async () => {
  const t = await connected();
  await subscribed(t, 'sport', { q: 1 }, '1-41');
  await subscribed(t, 'news', null, null);
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 1, uid: '1-42' });
  const drops = [];
  t.c.onDrop(() => drops.push('drop'));
  t.c.onReconnect(() => drops.push('reconnect'));
  t.ws().drop(1006);
  assert.deepEqual(drops, ['drop']);
  // attempts fail (closed before open): delays grow x2 and stop at maxRetryInterval
  for (let i = 0; i < 6; i++) {
    t.clock.fire();
    assert.equal(t.c.getStatus(), CS.DROPPED_RETRYING);
    t.ws().drop(1006);
  }
  t.clock.fire();
  // random() = 0.5 -> 0.75 of base; base = 100, 200, 400, 800, 1000, 1000, 1000
  assert.deepEqual(t.clock.log, [75, 150, 300, 600, 750, 750, 750]);
  assert.equal(FakeWS.all.length, 8);
  t.ws().open();
  assert.equal(t.c.getStatus(), CS.SYNCING);
  const sync = t.ws().last();
  assert.deepEqual(sync, {
    sys: 4, id: sync.id, subscriptions: [
      { channel: 'sport', lastUid: '1-42', query: { q: 1 } },
      { channel: 'news', lastUid: null, query: null },
    ],
  });
  assert.equal(t.ws().json().length, 1, 'a reconnect sends SYNC, not BEGIN');
  t.ws().recv({ sys: 4, id: sync.id, result: { sport: true, news: true }, records: [{ sys: 8, channel: 'sport', topic: 'a', msg: 2, uid: '1-43' }] });
  assert.equal(t.c.getStatus(), CS.READY);
  assert.deepEqual(drops, ['drop', 'reconnect']);
  assert.equal(t.c.lastUid('sport'), '1-43');
  // the next drop starts the backoff over
  t.ws().drop(1006);
  t.clock.fire();
  assert.equal(t.clock.log.at(-1), 75);
  t.c.close();
});

test('records in the SYNC reply reach on(topic); result false -> subscription error', async () => {
  const t = await connected();
  const a = await subscribed(t, 'sport');
  const b = await subscribed(t, 'gone');
  const got = [];
  const errs = [];
  a.on('t', (m) => got.push(m));
  a.onError((e) => errs.push(['a', e.name]));
  b.onError((e) => errs.push(['b', e.name, /gone/.test(e.message)]));
  t.ws().drop(1006);
  t.clock.fire();
  t.ws().open();
  assert.equal(a.getStatus(), SS.SYNCING);
  t.ws().recv({ sys: 4, id: t.ws().last().id, result: { sport: true, gone: false }, records: [{ sys: 8, channel: 'sport', topic: 't', msg: 'r1', uid: '1-2' }, { sys: 8, channel: 'sport', topic: 't', msg: 'r2', uid: '1-3' }] });
  assert.deepEqual(got, ['r1', 'r2']);
  assert.deepEqual(errs, [['b', 'Unable to sync', true]]);
  assert.equal(a.getStatus(), SS.ACTIVE);
  assert.equal(b.getStatus(), SS.SYNC_FAILED);
  t.c.close();
});

test('BOOT -> onBoot with the reason at once (the client closes with 4001), no reconnect', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'sport');
  const seen = [];
  t.c.onBoot((r) => seen.push(['boot', r]));
  t.c.onReconnect(() => seen.push('reconnect'));
  const a = t.c.ask('x', null);
  t.ws().recv({ sys: 9, reason: 'bye' });
  assert.deepEqual(seen, [['boot', 'bye']], 'as the original: no waiting for the server\'s close');
  assert.deepEqual(t.ws().closed, { code: 4001, reason: 'bye' });
  t.ws().drop(4001, ''); // the late close event of the abandoned socket is ignored
  assert.deepEqual(seen, [['boot', 'bye']]);
  assert.equal(t.c.getStatus(), CS.BOOTED);
  assert.equal(sub.getStatus(), SS.BOOTED);
  assert.deepEqual(t.clock.pending(), []);
  assert.equal(FakeWS.all.length, 1);
  await assert.rejects(a, { name: 'Connection dropped' });
});

test('close 1000 stops; 4008 reconnects and SYNCs', async () => {
  const t = await connected();
  t.ws().drop(1000);
  assert.equal(t.c.getStatus(), CS.CLOSED);
  assert.deepEqual(t.clock.pending(), []);

  const u = await connected();
  await subscribed(u, 'sport', null, '3-9');
  u.ws().drop(4008, 'too slow');
  assert.equal(u.c.getStatus(), CS.RETRY_INTERVAL);
  u.clock.fire();
  u.ws().open();
  assert.deepEqual(u.ws().last().subscriptions, [{ channel: 'sport', lastUid: '3-9', query: null }]);
  u.c.close();
});

test('autoReconnect false: a drop ends in RECONNECT_FAILED and onReconnectFail', async () => {
  const t = await connected({ autoReconnect: false });
  const seen = [];
  t.c.onReconnectFail(() => seen.push('fail'));
  t.ws().drop(1006);
  assert.deepEqual(seen, ['fail']);
  assert.equal(t.c.getStatus(), CS.RECONNECT_FAILED);
  assert.deepEqual(t.clock.pending(), []);
});

test('retryAttempts bounds the reconnect; onReconnectFail then', async () => {
  const t = await connected({ retryAttempts: 2 });
  const seen = [];
  t.c.onReconnectFail(() => seen.push('fail'));
  t.ws().drop(1006);
  t.clock.fire(); t.ws().drop(1006);
  t.clock.fire(); t.ws().drop(1006);
  assert.deepEqual(seen, ['fail']);
  assert.equal(t.c.getStatus(), CS.RECONNECT_FAILED);
  assert.equal(FakeWS.all.length, 3);
});

test('first connect retries, then fails with an error after retryAttempts', async () => {
  const t = setup({ retryAttempts: 1 });
  const p = t.c.connect();
  t.ws().drop(1006);
  t.clock.fire();
  t.ws().drop(1006);
  await assert.rejects(p, { name: 'Unable to connect to the server' });
  assert.equal(t.c.getStatus(), CS.START_FAILED);
});

test('heartbeat: each h is answered with h; silence past hbInterval+hbThreshold reconnects', async () => {
  const t = await connected({}, BEGIN_HB);
  await subscribed(t, 'sport', null, '1-5');
  const ws1 = t.ws();
  ws1.recv('h');
  ws1.recv('h');
  assert.deepEqual(ws1.sent.filter((s) => s === 'h'), ['h', 'h']);
  assert.deepEqual(t.clock.pending(), [600]); // one watchdog, re-armed by every frame
  const errs = [];
  t.c.onDrop((e) => errs.push([e.name, e.code]));
  t.c.onError((e) => errs.push(['onError', e.code]));
  t.clock.fire((x) => x.ms === 600);
  assert.deepEqual(errs, [['Heartbeat timeout', 'heartbeat_timeout']], 'a transient failure goes to onDrop, not onError');
  assert.equal(ws1.closed.code, 4100);
  assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
  ws1.drop(4100); // the late close event of the abandoned socket is ignored
  t.clock.fire();
  t.ws().open();
  assert.equal(t.ws().last().sys, 4);
  t.c.close();
});

test('no heartbeat when prot.hb is not true: h is not answered', async () => {
  const t = await connected();
  t.ws().recv('h');
  assert.equal(t.ws().sent.length, 1);
  assert.deepEqual(t.ws().json(), [{ sys: 3 }]);
  assert.deepEqual(t.clock.pending(), []);
});

test('close(): code 4000, pending requests fail, no reconnect, later events ignored', async () => {
  const t = await connected({}, BEGIN_HB);
  const sub = await subscribed(t, 'sport');
  const a = t.c.ask('x', null);
  const ws = t.ws();
  t.c.close();
  assert.equal(ws.closed.code, 4000);
  await assert.rejects(a, { name: 'Connection closed' });
  assert.equal(t.c.getStatus(), CS.CLOSED);
  assert.equal(sub.getStatus(), SS.CLOSED);
  assert.deepEqual(t.clock.pending(), []);
  ws.drop(4000);
  assert.equal(FakeWS.all.length, 1);
  await assert.rejects(t.c.tell('x', 1), { name: 'Connection not ready' });
});

test('BOOTCHANNEL removes the channel and reports an error on its subscriptions', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'news');
  const errs = [];
  sub.onError((e) => errs.push([e.name, e.message]));
  t.ws().recv({ sys: 10, channel: 'news', reason: 'news closed' });
  assert.deepEqual(errs, [['Removed from channel', 'news closed']]);
  assert.equal(sub.getStatus(), SS.BOOTED);
  assert.equal(t.c.lastUid('news'), undefined);
});

test('a throwing user callback does not break the client; it goes to onError', async () => {
  const t = await connected();
  const errs = [];
  t.c.onError((e) => errs.push(e.message));
  t.c.onTell('boom', () => { throw new Error('user bug'); });
  t.ws().recv({ sys: 6, topic: 'boom', msg: 1 });
  assert.deepEqual(errs, ['user bug']);
  assert.equal(await (async () => { const p = t.c.ask('after', 1); t.ws().recv({ sys: 7, id: t.ws().last().id, msg: 'ok' }); return p; })(), 'ok');
});

test('the CommonJS build, generated from the module, exports the same API', async () => {
  const { execFileSync } = await import('node:child_process');
  const { createRequire } = await import('node:module');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-client-cjs-'));
  try {
    const out = path.join(tmp, 'sss-client.cjs');
    execFileSync(process.execPath, [new URL('../scripts/build-cjs.mjs', import.meta.url).pathname, '--out', tmp]);
    const cjs = createRequire(import.meta.url)(out);
    const esm = await import('../sss-client.mjs');
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm.default).sort());
    assert.equal(typeof cjs.client, 'function');
    assert.deepEqual(cjs.statusCodes, statusCodes);
    // the codec is inlined: the build requires nothing and speaks MessagePack
    assert.doesNotMatch(fs.readFileSync(out, 'utf8'), /\b(require|import)\s*\(|^import /m);
    FakeWS.all = [];
    const c = cjs.client('ws://sss.test/', { WebSocket: FakeWS, timers: new FakeClock(), encoding: 'msgpack' });
    const ready = c.connect();
    FakeWS.all[0].open();
    assert.deepEqual([...FakeWS.all[0].sent[0]], [0x81, 0xa3, 0x73, 0x79, 0x73, 0x03], 'BEGIN as MessagePack');
    FakeWS.all[0].recv({ sys: 3, prot: {} });
    assert.equal(await ready, null);
    c.close();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('uids compare as the pair (a, b) of any length: live FEEDs and UPDATESUB never move lastUid back', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'sport', null, '9-99');
  const got = [];
  sub.on('a', (m, uid) => got.push(uid));
  for (const uid of ['9-99', '9-100', '10-1', '9-200', '10-1', '123456789012345678901234567890-1', '99999999999999999999999999999-5']) {
    t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid });
  }
  assert.deepEqual(got, ['9-100', '10-1', '123456789012345678901234567890-1']);
  t.ws().recv({ sys: 12, channel: 'sport', uid: '5-5' });
  assert.equal(t.c.lastUid('sport'), '123456789012345678901234567890-1');
  // a uid that does not parse: delivered unless equal to lastUid, and becomes it
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid: 'x' });
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid: 'x' });
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid: '1-1' });
  assert.deepEqual(got.slice(3), ['x', '1-1']);
});

test('SYNC records: duplicates and uids at or below lastUid are not delivered', async () => {
  const t = await connected();
  const sub = await subscribed(t, 'sport', null, '1-5');
  const got = [];
  sub.on('a', (m, uid) => got.push(uid));
  t.ws().recv({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid: '1-7' });
  t.ws().drop(1006);
  t.clock.fire();
  t.ws().open();
  const records = ['1-3', '1-7', '1-8', '1-8', '1-6', '1-9'].map((uid) => ({ sys: 8, channel: 'sport', topic: 'a', msg: 0, uid }));
  t.ws().recv({ sys: 4, id: t.ws().last().id, result: { sport: true }, records });
  assert.deepEqual(got, ['1-7', '1-8', '1-9']);
  assert.equal(t.c.lastUid('sport'), '1-9');
  t.c.close();
});

test('close 1001 (going away): the first attempt after it is immediate, the next ones back off', async () => {
  const t = await connected();
  t.ws().drop(1001);
  assert.deepEqual(t.clock.pending(), [0]);
  t.clock.fire();
  t.ws().drop(1001); // the server is still going away: back off now
  assert.deepEqual(t.clock.pending(), [150]);
  t.c.close();
});

test('permanent failures stop and report once with a code; transient ones go to onDrop', async () => {
  // a connected client closed with code: the client and its onError / onDrop reports
  const closedWith = async (code) => {
    const t = await connected();
    const seen = [];
    t.c.onError((e) => seen.push(['error', e.code]));
    t.c.onDrop((e) => seen.push(['drop', e.code]));
    t.ws().drop(code);
    return { t, seen };
  };
  for (const [code, expect, status] of [[1000, 'closed_by_server', CS.CLOSED], [1002, 'protocol_error', CS.RECONNECT_FAILED], [1003, 'protocol_error', CS.RECONNECT_FAILED],
    [1007, 'invalid_payload', CS.RECONNECT_FAILED], [1009, 'message_too_big', CS.RECONNECT_FAILED], [4001, 'booted', CS.BOOTED]]) {
    const { t, seen } = await closedWith(code);
    assert.deepEqual(seen, [['error', expect]], `close ${code}`);
    assert.equal(t.c.getStatus(), status);
    assert.deepEqual(t.clock.pending(), []);
  }
  for (const [code, expect] of [[1008, 'policy_violation'], [4008, 'too_slow'], [1006, 'connection_lost'], [1011, 'connection_lost'], [1001, 'going_away']]) {
    const { t, seen } = await closedWith(code);
    assert.deepEqual(seen, [['drop', expect]], `close ${code}`);
    assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
    t.c.close();
  }
});

test('a frame that is not JSON, or bigger than maxMessageSize: the client closes (1002 / 1009) and stops', async () => {
  const t = await connected();
  const errs = [];
  t.c.onError((e) => errs.push(e.code));
  t.ws().recv('{nope');
  assert.equal(t.ws().closed.code, 1002);
  assert.deepEqual(errs, ['protocol_error']);
  const u = await connected({ maxMessageSize: 30 });
  const p = new Promise((r) => u.c.onError(r));
  u.ws().recv(JSON.stringify('é'.repeat(16))); // 18 characters, 34 bytes
  assert.equal((await p).code, 'message_too_big');
  assert.equal(u.ws().closed.code, 1009);
});

test('autoReconnect false: the first transient failure is final (retries_exhausted, its cause the failure)', async () => {
  const t = await connected({ autoReconnect: false });
  const errs = [];
  t.c.onError((e) => errs.push([e.code, e.cause.code]));
  t.ws().drop(4008);
  assert.deepEqual(errs, [['retries_exhausted', 'too_slow']]);
});

test('BEGIN and SYNC timeouts fail the attempt; the next one waits the backoff', async () => {
  const t = setup({ beginTimeout: 5000, syncTimeout: 6000, connectTimeout: 7000 });
  const p = t.c.connect();
  assert.deepEqual(t.clock.pending(), [7000]);
  t.ws().open();
  assert.deepEqual(t.clock.pending(), [5000]);
  t.clock.fire((x) => x.ms === 5000);
  assert.equal(t.ws().closed.code, 4100);
  assert.deepEqual(t.clock.pending(), [75]);
  t.clock.fire();
  t.ws().open();
  t.ws().recv({ sys: 3, prot: { hb: true, hbInterval: 100 } });
  await p;
  assert.deepEqual(t.clock.pending(), [2600], 'the default hbThreshold is 2500');
  t.ws().drop(1006);
  t.clock.fire((x) => x.ms === 75);
  t.ws().open();
  assert.deepEqual(t.clock.pending(), [6000]);
  t.clock.fire((x) => x.ms === 6000);
  assert.deepEqual(t.clock.pending(), [150], 'the second failure since READY');
  t.clock.fire();
  t.ws().open();
  t.ws().recv({ sys: 4, id: t.ws().last().id, result: {}, prot: { hb: true, hbInterval: 400, hbThreshold: 10 } });
  assert.deepEqual(t.clock.pending(), [410], 'prot re-read from the SYNC reply');
  t.c.close();
});

test('getToken is called before every attempt and its token sent as ?token=', async () => {
  const tokens = [];
  let n = 0;
  const t = setup({ getToken: async () => { n += 1; return `t${n}`; } });
  const p = t.c.connect();
  await new Promise(setImmediate);
  assert.equal(t.ws().url, 'ws://sss.test/?token=t1');
  t.ws().open();
  t.ws().recv({ sys: 3, prot: {} });
  await p;
  t.ws().drop(1006);
  t.clock.fire();
  await new Promise(setImmediate);
  tokens.push(t.ws().url);
  assert.deepEqual(tokens, ['ws://sss.test/?token=t2']);
  t.c.close();
});

test('connect() after close() or a final failure starts clean: former channels are subscribed for real', async () => {
  const t = await connected();
  await subscribed(t, 'sport');
  t.c.close();
  const p = t.c.connect();
  t.ws().open();
  t.ws().recv({ sys: 3, prot: {} });
  await p;
  assert.equal(t.c.lastUid('sport'), undefined);
  const s = await subscribed(t, 'sport', null, '4-4'); // asserts that SUBSCRIBE went out
  assert.equal(s.getStatus(), SS.ACTIVE);
  t.ws().drop(1002); // final
  assert.equal(t.c.getStatus(), CS.RECONNECT_FAILED);
  const q = t.c.connect();
  t.ws().open();
  assert.deepEqual(t.ws().json(), [{ sys: 3 }], 'BEGIN, not SYNC');
  t.ws().recv({ sys: 3, prot: {} });
  await q;
  await subscribed(t, 'sport');
});

test('browsers: offline pauses the retries, online reconnects at once', async () => {
  const w = new EventTarget();
  w.removeEventListener = w.removeEventListener.bind(w);
  const t = await connected({ window: w });
  t.ws().drop(1006);
  assert.deepEqual(t.clock.pending(), [75]);
  w.dispatchEvent(new Event('offline'));
  t.clock.fire();
  t.ws().drop(1006); // failed while offline: no timer, paused
  assert.deepEqual(t.clock.pending(), []);
  assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
  const n = FakeWS.all.length;
  w.dispatchEvent(new Event('online'));
  assert.equal(FakeWS.all.length, n + 1, 'dialled at once');
  assert.equal(t.c.getStatus(), CS.DROPPED_RETRYING);
  t.ws().drop(1006);
  assert.deepEqual(t.clock.pending(), [300]);
  w.dispatchEvent(new Event('online')); // waiting for the backoff: online cuts it short
  assert.equal(FakeWS.all.length, n + 2);
  assert.deepEqual(t.clock.pending(), [10000], 'no backoff timer left, only the new attempt\'s connectTimeout');
  t.c.close();
  w.dispatchEvent(new Event('online')); // closed: the listeners are gone
  assert.equal(FakeWS.all.length, n + 2);
});

test('several listeners per event, each removed with off (or the function on returns)', async () => {
  const t = await connected();
  const seen = [];
  const a = (m) => seen.push(['a', m]);
  const b = (m) => seen.push(['b', m]);
  t.c.onTell('x', a);
  const offB = t.c.onTell('x', b);
  t.ws().recv({ sys: 6, topic: 'x', msg: 1 });
  assert.equal(t.c.offTell('x', a), true);
  t.ws().recv({ sys: 6, topic: 'x', msg: 2 });
  offB();
  t.ws().recv({ sys: 6, topic: 'x', msg: 3 });
  assert.deepEqual(seen, [['a', 1], ['b', 1], ['b', 2]]);
  const drops = [];
  const d1 = () => drops.push(1);
  t.c.onDrop(d1);
  t.c.on('drop', () => drops.push(2));
  assert.equal(t.c.off('drop', d1), true);
  assert.equal(t.c.off('drop', d1), false);
  const sub = await subscribed(t, 'sport');
  const feeds = [];
  const f = (m) => feeds.push(['f', m]);
  sub.on('t', f);
  sub.on('t', (m) => feeds.push(['g', m]));
  t.ws().recv({ sys: 8, channel: 'sport', topic: 't', msg: 1, uid: '1-2' });
  sub.off('t', f);
  t.ws().recv({ sys: 8, channel: 'sport', topic: 't', msg: 2, uid: '1-3' });
  assert.deepEqual(feeds, [['f', 1], ['g', 1], ['g', 2]]);
  t.ws().drop(1006);
  assert.deepEqual(drops, [2]);
  assert.throws(() => t.c.on('nosuch', () => {}), /unknown event/);
  assert.throws(() => t.c.onError('not a function'), TypeError);
  t.c.close();
});

test('invalid options are refused with a TypeError (code invalid_option)', () => {
  const bad = [{ retryAttempts: -1 }, { retryAttempts: 1.5 }, { retryInterval: 0 }, { beginTimeout: 'soon' }, { syncTimeout: NaN },
    { maxMessageSize: 0 }, { getToken: 'abc' }, { autoReconnect: 'yes' }, { protocols: 5 }, { encoding: 'cbor' }, { encoding: 'msgpack ' }, { timers: {} }, { maxRetryInterval: 10, retryInterval: 100 }];
  for (const prefs of bad) assert.throws(() => client('ws://sss.test/', prefs), { name: 'TypeError', code: 'invalid_option' }, JSON.stringify(prefs));
  assert.throws(() => client('not a url'), { code: 'invalid_option' });
  assert.throws(() => client(undefined), { code: 'invalid_option' });
});

// Issue 17, item 3: a subscribe while the client reconnects (after a drop,
// before the SYNC reply) is accepted and sent as SUBSCRIBE after the SYNC
// reply, never put in SYNC with lastUid null.
test('subscribe while reconnecting: sent as SUBSCRIBE after the SYNC reply, never in SYNC; it delivers', async () => {
  const t = await connected();
  await subscribed(t, 'sport', null, '1-1');
  t.ws().drop(1006);
  assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
  const news = t.c.subscribe('news', { q: 1 });
  const weather = new Promise((resolve) => t.c.subscribe('weather', (...args) => resolve(args)));
  t.clock.fire();
  t.ws().drop(1006); // a failed attempt: they still wait
  t.clock.fire();
  const ws = t.ws();
  ws.open();
  assert.equal(t.c.getStatus(), CS.SYNCING);
  const late = t.c.subscribe('late'); // while SYNCING: waits as well
  const sportAgain = await t.c.subscribe('sport'); // held here: shared at once, the SYNC covers it
  assert.equal(sportAgain.getStatus(), SS.SYNCING);
  assert.equal(ws.json().length, 1, 'only the SYNC before its reply');
  const sync = ws.last();
  assert.deepEqual(sync.subscriptions, [{ channel: 'sport', lastUid: '1-1', query: null }]);
  ws.recv({ sys: 4, id: sync.id, result: { sport: true } });
  assert.equal(sportAgain.getStatus(), SS.ACTIVE);
  const subs = ws.json().slice(1);
  assert.deepEqual(subs.map(({ id, ...m }) => m), [
    { sys: 1, channel: 'news', query: { q: 1 } },
    { sys: 1, channel: 'weather', query: null },
    { sys: 1, channel: 'late', query: null },
  ]);
  ws.recv({ sys: 1, id: subs[0].id, channel: 'news', result: true, lastUid: '5-5' });
  ws.recv({ sys: 1, id: subs[1].id, channel: 'weather', result: true, lastUid: null });
  ws.recv({ sys: 1, id: subs[2].id, channel: 'late', result: false });
  const sub = await news;
  assert.equal(sub.channel, 'news');
  assert.equal(sub.getStatus(), SS.ACTIVE);
  const w = await weather;
  assert.deepEqual(w.slice(0, 2), [undefined, true], 'the original callback arguments');
  await assert.rejects(late, { code: 'subscription_refused', channel: 'late' });
  const got = [];
  sub.on('t', (m, uid) => got.push([m, uid]));
  ws.recv({ sys: 8, channel: 'news', topic: 't', msg: 'hi', uid: '5-6' });
  assert.deepEqual(got, [['hi', '5-6']]);
  // the next drop SYNCs them from the uid their SUBSCRIBE reply gave (weather: known empty)
  ws.drop(1006);
  t.clock.fire();
  t.ws().open();
  assert.deepEqual(t.ws().last().subscriptions, [
    { channel: 'sport', lastUid: '1-1', query: null },
    { channel: 'news', lastUid: '5-6', query: { q: 1 } },
    { channel: 'weather', lastUid: null, query: null },
  ]);
  t.c.close();
});

// Each waiting subscribe gets its callback exactly once, when the client stops.
function waiting(t, channel) {
  const calls = [];
  t.c.subscribe(channel, null, (...args) => calls.push(args));
  const p = t.c.subscribe(channel, null);
  p.catch(() => {});
  return { calls, p };
}

test('a subscribe waiting for the SYNC fails once at close(), and is not sent by a later connect', async () => {
  const t = await connected();
  t.ws().drop(1006);
  const w = waiting(t, 'news');
  t.clock.fire();
  t.ws().open(); // SYNCING
  t.c.close();
  await assert.rejects(w.p, { code: 'closed', name: 'Connection closed' });
  assert.equal(w.calls.length, 1);
  assert.equal(w.calls[0].length, 1);
  assert.equal(w.calls[0][0].code, 'closed');
  assert.match(w.calls[0][0].message, /subscribe to "news"/);
  const p = t.c.connect();
  t.ws().open();
  t.ws().recv({ sys: 3, prot: {} });
  await p;
  assert.deepEqual(t.ws().json(), [{ sys: 3 }], 'nothing left from before close()');
  assert.equal(w.calls.length, 1);
  t.c.close();
  assert.equal(w.calls.length, 1);
});

test('a subscribe waiting for the SYNC fails once when retries run out or a failure is permanent; its cause says why', async () => {
  const t = await connected({ retryAttempts: 1 });
  const inflight = t.c.subscribe('old', null); // in flight at the drop
  inflight.catch(() => {});
  t.ws().drop(1006);
  const w = waiting(t, 'news');
  t.clock.fire();
  t.ws().drop(1006); // the one retry failed
  assert.equal(t.c.getStatus(), CS.RECONNECT_FAILED);
  await assert.rejects(w.p, (e) => e.code === 'dropped' && e.cause.code === 'retries_exhausted' && /subscribe to "news"/.test(e.message));
  await assert.rejects(inflight, (e) => e.code === 'dropped' && e.cause.code === 'retries_exhausted');
  assert.equal(w.calls.length, 1);
  assert.equal(w.calls[0][0].cause.code, 'retries_exhausted');

  const u = await connected();
  u.ws().drop(1006);
  const v = waiting(u, 'news');
  u.clock.fire();
  u.ws().open();
  u.ws().drop(1002); // permanent, during the SYNC
  assert.equal(u.c.getStatus(), CS.RECONNECT_FAILED);
  await assert.rejects(v.p, (e) => e.code === 'dropped' && e.cause.code === 'protocol_error');
  assert.equal(v.calls.length, 1);
  assert.equal(u.ws().json().filter((m) => m.sys === 1).length, 0, 'never sent');
  // stopped: not_ready again
  await assert.rejects(u.c.subscribe('news'), { code: 'not_ready' });
});

test('inside onDrop a subscribe waits for the SYNC; ask, tell and publish get not_ready and send nothing', async () => {
  const t = await connected();
  const got = {};
  t.c.onDrop(() => {
    got.sub = t.c.subscribe('news');
    got.ask = t.c.ask('x', 1);
    got.tell = t.c.tell('x', 1);
    got.publish = t.c.publish('news', 't', 1);
  });
  const ws = t.ws();
  ws.drop(1006);
  await assert.rejects(got.ask, { code: 'not_ready' });
  await assert.rejects(got.tell, { code: 'not_ready' });
  await assert.rejects(got.publish, { code: 'not_ready' });
  assert.deepEqual(ws.json(), [{ sys: 3 }]);
  t.clock.fire();
  t.ws().open();
  const sync = t.ws().last();
  assert.deepEqual(sync.subscriptions, []);
  t.ws().recv({ sys: 4, id: sync.id, result: {} });
  const m = t.ws().last();
  assert.deepEqual(m, { sys: 1, channel: 'news', query: null, id: m.id });
  t.ws().recv({ sys: 1, id: m.id, channel: 'news', result: true, lastUid: '1-1' });
  assert.equal((await got.sub).channel, 'news');
  t.c.close();
});

test('before the first READY (also while the first connect retries) a subscribe is not_ready', async () => {
  const t = setup();
  await assert.rejects(t.c.subscribe('news'), { code: 'not_ready' });
  const p = t.c.connect();
  t.ws().drop(1006);
  assert.equal(t.c.getStatus(), CS.RETRY_INTERVAL);
  await assert.rejects(t.c.subscribe('news'), { code: 'not_ready' });
  t.clock.fire();
  t.ws().open();
  await assert.rejects(t.c.subscribe('news'), { code: 'not_ready' }, 'BEGINNING');
  t.ws().recv({ sys: 3, prot: {} });
  await p;
  t.c.close();
});

export { FakeWS, FakeClock, setup, connected, subscribed };
