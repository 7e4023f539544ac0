// The failure table of ../../README.md, against tests/clients/scripted_server.py
// (real sockets, a server that refuses, closes, stays silent or sends what it
// should not, on cue). Timeouts and backoff are made short through the prefs;
// nothing here depends on how fast the machine is: waits are for events, and
// the only timing checks are lower bounds (a backoff did wait).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, statusCodes } from '../sss-client.mjs';
import { Scripted, WS, skip } from './scripted-server.mjs';

const CS = statusCodes.client;
const SS = statusCodes.subscription;
const srv = new Scripted();
const clients = [];

before(async () => { if (!skip) await srv.start(); });
after(async () => {
  for (const c of clients) c.close();
  await srv.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, pred) {
  for (let i = 0; ; i++) {
    if (await pred()) return;
    if (i > 3000) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// A client of the scripted server; `errors` collects what reached onError.
function mk(url, prefs = {}) {
  const c = client(url, { WebSocket: WS, retryInterval: 20, maxRetryInterval: 200, random: () => 0.5, ...prefs });
  c.errors = [];
  c.onError((e) => c.errors.push(e));
  clients.push(c);
  return c;
}

for (const [status, code] of [[401, 'unauthorized'], [403, 'forbidden'], [404, 'upgrade_refused']]) {
  test(`an upgrade refused with ${status} is permanent: connect rejects with ${code}, onError once, one attempt`, { skip }, async () => {
    const tag = srv.tag(`refused${status}`);
    const c = mk(srv.url(tag, { status }));
    await assert.rejects(c.connect(), { code });
    assert.equal(c.getStatus(), CS.START_FAILED);
    assert.deepEqual(c.errors.map((e) => e.code), [code]);
    assert.equal((await srv.log(tag)).length, 1);
  });
}

test('encoding msgpack against a server that picks no sub-protocol (this one knows only sss.v1.json): upgrade_refused, one attempt', { skip }, async () => {
  const tag = srv.tag('nomsgpack');
  const c = mk(srv.url(tag, {}), { encoding: 'msgpack' });
  await assert.rejects(c.connect(), (e) => e.code === 'upgrade_refused' && /subprotocol/i.test(e.message));
  assert.equal(c.getStatus(), CS.START_FAILED);
  assert.deepEqual(c.errors.map((e) => e.code), ['upgrade_refused']);
  assert.equal((await srv.log(tag)).length, 1);
});

test('an upgrade refused with 503 is transient: each attempt waits the backoff, the third one connects', { skip }, async () => {
  const tag = srv.tag('r503');
  const c = mk(srv.url(tag, { status: 503, times: 2 }), { retryInterval: 100, maxRetryInterval: 1000 });
  const statuses = [];
  c.onStatusChange((s) => statuses.push(s));
  await c.connect();
  const log = await srv.log(tag);
  assert.deepEqual(log.map((a) => a.status), [503, 503, 101]);
  // random() = 0.5: 75 ms then 150 ms (lower bounds only)
  assert.ok(log[1].t_ms - log[0].t_ms >= 75, JSON.stringify(log.map((a) => a.t_ms)));
  assert.ok(log[2].t_ms - log[1].t_ms >= 150, JSON.stringify(log.map((a) => a.t_ms)));
  assert.ok(statuses.includes(CS.START_RETRYING));
  assert.deepEqual(c.errors, []);
});

test('getToken: called before every attempt, sent as ?token=; a 401 asks it again and retries at once, once', { skip }, async () => {
  const tag = srv.tag('token');
  let n = 0;
  const c = mk(srv.url(tag, { expect_token: 'good', after: 1 }), { getToken: async () => { n += 1; return 'good'; } });
  await c.connect();
  assert.equal(n, 2);
  let log = await srv.log(tag);
  assert.deepEqual(log.map((a) => [a.status, a.query.token]), [[401, 'good'], [101, 'good']]);
  await srv.close(tag, { abort: true }); // a drop: the token is asked for again
  await until('the reconnect', () => c.getStatus() === CS.READY && n === 3);
  log = await srv.log(tag);
  assert.deepEqual(log.map((a) => a.query.token), ['good', 'good', 'good']);
  assert.equal(log[2].received[0].sys, 4, 'the reconnect SYNCs');
});

test('getToken: a 401 again after the new token is permanent (unauthorized), so is a hook that gives null', { skip }, async () => {
  const tag = srv.tag('token401');
  let n = 0;
  const c = mk(srv.url(tag, { expect_token: 'good', after: 5 }), { getToken: () => { n += 1; return 'good'; } });
  await assert.rejects(c.connect(), { code: 'unauthorized' });
  assert.equal(n, 2);
  assert.equal((await srv.log(tag)).length, 2);
  assert.deepEqual(c.errors.map((e) => e.code), ['unauthorized']);

  const tag2 = srv.tag('tokennull');
  const tokens = ['good', null];
  const d = mk(srv.url(tag2, { expect_token: 'good', after: 1 }), { getToken: () => tokens.shift() });
  await assert.rejects(d.connect(), { code: 'unauthorized' });
  assert.deepEqual((await srv.log(tag2)).map((a) => a.status), [401], 'no attempt without a token');
});

test('getToken failing is transient (token_failed): backoff, then the next attempt', { skip }, async () => {
  const tag = srv.tag('tokenfail');
  let n = 0;
  const c = mk(srv.url(tag, { expect_token: 't' }), { getToken: async () => { n += 1; if (n === 1) throw new Error('auth server down'); return 't'; } });
  await c.connect();
  assert.equal(n, 2);
  assert.deepEqual((await srv.log(tag)).map((a) => a.query.token), ['t']);
});

for (const [code, err] of [[1002, 'protocol_error'], [1007, 'invalid_payload'], [1009, 'message_too_big'], [1000, 'closed_by_server'], [4001, 'booted']]) {
  test(`close ${code} during BEGIN is permanent (${err}), with retryAttempts 0`, { skip }, async () => {
    const tag = srv.tag(`close${code}`);
    const c = mk(srv.url(tag, { close_at: 'begin', code }));
    await assert.rejects(c.connect(), { code: err });
    assert.deepEqual(c.errors.map((e) => e.code), [err]);
    assert.equal((await srv.log(tag)).length, 1);
    assert.equal(c.getStatus(), code === 4001 ? CS.BOOTED : code === 1000 ? CS.CLOSED : CS.START_FAILED);
  });
}

test('a connection lost during BEGIN is transient; retryAttempts counts attempts after the first failure', { skip }, async () => {
  const tag = srv.tag('lost');
  const c = mk(srv.url(tag, { close_at: 'begin', code: 1006 }), { retryAttempts: 2 });
  const e = await c.connect().catch((x) => x);
  assert.equal(e.code, 'retries_exhausted');
  assert.equal(e.cause.code, 'connection_lost');
  assert.equal((await srv.log(tag)).length, 3);
  assert.deepEqual(c.errors.map((x) => x.code), ['retries_exhausted']);
});

test('no BEGIN reply within beginTimeout: begin_timeout, a failed attempt, the next one connects', { skip }, async () => {
  const tag = srv.tag('silentbegin');
  const c = mk(srv.url(tag, { silent_at: 'begin', times: 1 }), { beginTimeout: 100 });
  const drops = [];
  c.onStatusChange((s) => drops.push(s));
  await c.connect();
  const log = await srv.log(tag);
  assert.equal(log.length, 2);
  assert.equal(log[0].close_code, 4100, 'the client closed the silent connection');
  assert.deepEqual(log[1].received, [{ sys: 3 }], 'BEGIN again');
  assert.ok(drops.includes(CS.RETRY_INTERVAL));
});

test('a connection that drops during SYNC, or gets no SYNC reply, counts failed attempts and backs off', { skip }, async () => {
  const tag = srv.tag('sync');
  // attempt 0 is the BEGIN connection; attempts 1 and 2 are closed at SYNC, 3 is silent, 4 connects
  const c = mk(srv.url(tag, { close_at: 'sync', code: 1006, close_times: 3, silent_at: 'sync', silent_times: 4 }),
    { retryInterval: 100, maxRetryInterval: 10000, syncTimeout: 200 });
  await c.connect();
  const sub = await c.subscribe('news');
  const seen = [];
  c.onDrop((e) => seen.push(['drop', e.code]));
  c.onReconnect(() => seen.push('reconnect'));
  await srv.close(tag, { abort: true });
  await until('the reconnect', () => seen.includes('reconnect'));
  const log = await srv.log(tag);
  assert.equal(log.length, 5);
  assert.deepEqual(log.slice(1).map((a) => a.received[0].sys), [4, 4, 4, 4]);
  const gaps = log.slice(1).map((a, i) => a.t_ms - log[i].t_ms);
  // failures 1, 2, 3, 4 since READY -> at least 75, 150, 300, 600 ms (random 0.5)
  assert.ok(gaps[1] >= 150 && gaps[2] >= 300 && gaps[3] >= 600, JSON.stringify(gaps));
  assert.deepEqual(seen, [['drop', 'connection_lost'], 'reconnect'], 'one drop, one reconnect');
  assert.equal(sub.getStatus(), SS.ACTIVE);
  assert.deepEqual(c.errors, []);
});

test('SYNC records at or below lastUid are dropped: no duplicates, lastUid never goes back', { skip }, async () => {
  const tag = srv.tag('records');
  const feed = (uid, msg) => ({ sys: 8, channel: 'news', topic: 't', msg, uid });
  const records = [feed('1-5', 'old'), feed('1-6', 'a'), feed('1-6', 'dup'), feed('1-3', 'older'), feed('1-10', 'b'), feed('1-7', 'back')];
  const c = mk(srv.url(tag, { lastUid: '1-5', records: JSON.stringify(records) }));
  await c.connect();
  const sub = await c.subscribe('news');
  const got = [];
  sub.on('t', (m, uid) => got.push([m, uid]));
  const back = new Promise((r) => c.onReconnect(r));
  await srv.close(tag, { code: 1001 });
  await back;
  assert.deepEqual(got, [['a', '1-6'], ['b', '1-10']]);
  assert.equal(c.lastUid('news'), '1-10');
  const sync = (await srv.log(tag))[1].received[0];
  assert.deepEqual(sync.subscriptions, [{ channel: 'news', lastUid: '1-5', query: null }]);
});

test('a SUBSCRIBE in flight when the connection drops is sent as SUBSCRIBE after the SYNC reply, not in SYNC', { skip }, async () => {
  const tag = srv.tag('inflight');
  const c = mk(srv.url(tag, { close_at: 'subscribe', code: 1006, times: 1, lastUid: '2-9' }));
  await c.connect();
  const sub = await c.subscribe('news'); // its SUBSCRIBE dies with attempt 0
  assert.equal(sub.channel, 'news');
  assert.equal(c.lastUid('news'), '2-9');
  const log = await srv.log(tag);
  assert.equal(log.length, 2);
  assert.deepEqual(log[1].received.map((m) => m.sys), [4, 1]);
  assert.deepEqual(log[1].received[0].subscriptions, [], 'never SYNCed with lastUid null');
});

// Issue 17, item 3: subscribes made while reconnecting. Each is made from a
// status listener, so it happens in that status whatever the machine's speed.
function onFirstStatus(c, status, fn) {
  const off = c.onStatusChange((s) => {
    if (s !== status) return;
    off();
    fn();
  });
}

test('a subscribe while reconnecting is sent as SUBSCRIBE after the SYNC reply, never in SYNC, and delivers', { skip }, async () => {
  const tag = srv.tag('offline');
  // attempt 1 is closed at its SYNC: the subscribes wait across a failed attempt
  const c = mk(srv.url(tag, { close_at: 'sync', code: 1006, times: 2, lastUid: '3-3' }));
  await c.connect();
  let news;
  let weather;
  onFirstStatus(c, CS.RETRY_INTERVAL, () => { news = c.subscribe('news'); });
  onFirstStatus(c, CS.SYNCING, () => {
    weather = new Promise((resolve) => c.subscribe('weather', { w: 1 }, (...args) => resolve(args)));
  });
  await srv.close(tag, { abort: true });
  await until('both subscribes', () => news && weather);
  const sub = await news;
  const [err, ok, wsub] = await weather;
  assert.deepEqual([err, ok, wsub.channel], [undefined, true, 'weather']);
  assert.equal(c.lastUid('news'), '3-3');
  const got = [];
  sub.on('t', (m, uid) => got.push([m, uid]));
  await srv.send(tag, { sys: 8, channel: 'news', topic: 't', msg: 'hello', uid: '3-4' });
  await until('the FEED', () => got.length === 1);
  assert.deepEqual(got, [['hello', '3-4']]);
  const log = await srv.log(tag);
  assert.equal(log.length, 3);
  assert.deepEqual(log[1].received, [{ sys: 4, id: log[1].received[0].id, subscriptions: [], session: `s-${tag}` }], 'never SYNCed with lastUid null');
  assert.deepEqual(log[2].received.map((m) => [m.sys, m.channel, m.query]), [[4, undefined, undefined], [1, 'news', null], [1, 'weather', { w: 1 }]]);
  assert.deepEqual(log[2].received[0].subscriptions, []);
  assert.deepEqual(c.errors, []);
});

test('a subscribe while reconnecting fails once with retries_exhausted as its cause, and is never sent', { skip }, async () => {
  const tag = srv.tag('offlinefail');
  const c = mk(srv.url(tag, { close_at: 'sync', code: 1006 }), { retryAttempts: 2 });
  await c.connect();
  const calls = [];
  onFirstStatus(c, CS.RETRY_INTERVAL, () => c.subscribe('news', null, (...args) => calls.push(args)));
  const failed = new Promise((r) => c.onReconnectFail(r));
  await srv.close(tag, { abort: true });
  assert.equal((await failed).code, 'retries_exhausted');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].length, 1);
  assert.equal(calls[0][0].code, 'dropped');
  assert.equal(calls[0][0].cause.code, 'retries_exhausted');
  const log = await srv.log(tag);
  assert.equal(log.length, 3);
  for (const a of log.slice(1)) assert.deepEqual(a.received.map((m) => [m.sys, m.subscriptions]), [[4, []]]);
  await assert.rejects(c.subscribe('news'), { code: 'not_ready' });
  assert.equal(calls.length, 1);
});

test('a subscribe while reconnecting fails once when close() comes before the SYNC reply', { skip }, async () => {
  const tag = srv.tag('offlineclose');
  const c = mk(srv.url(tag, { silent_at: 'sync' }), { syncTimeout: 60000 });
  await c.connect();
  const calls = [];
  onFirstStatus(c, CS.RETRY_INTERVAL, () => c.subscribe('news', null, (...args) => calls.push(args)));
  await srv.close(tag, { abort: true });
  await until('the SYNC', async () => (await srv.log(tag)).length === 2 && (await srv.log(tag))[1].received.length === 1);
  assert.equal(c.getStatus(), CS.SYNCING);
  assert.deepEqual(calls, []);
  c.close();
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0].code, 'closed');
  await until('the close in the log', async () => (await srv.log(tag))[1].close_code !== null);
  const log = await srv.log(tag);
  assert.equal(log[1].close_code, 4000);
  assert.deepEqual(log[1].received.map((m) => [m.sys, m.subscriptions]), [[4, []]]);
  assert.equal(calls.length, 1);
});

test('a frame bigger than maxMessageSize: the client closes with 1009 and stops (message_too_big)', { skip }, async () => {
  const tag = srv.tag('big');
  const c = mk(srv.url(tag, { big: 5000 }), { maxMessageSize: 4096 });
  const failed = new Promise((r) => c.onError(r));
  await c.connect(); // the big frame comes after the BEGIN reply
  const e = await failed;
  assert.equal(e.code, 'message_too_big');
  assert.equal(c.getStatus(), CS.RECONNECT_FAILED);
  await until('the close in the log', async () => (await srv.log(tag))[0].close_code !== null);
  assert.equal((await srv.log(tag))[0].close_code, 1009);
  assert.equal((await srv.log(tag)).length, 1);
});

test('connect() after close() starts clean: a former channel is subscribed again and delivers', { skip }, async () => {
  const tag = srv.tag('again');
  const c = mk(srv.url(tag));
  await c.connect();
  const old = await c.subscribe('news');
  c.close();
  assert.equal(old.getStatus(), SS.CLOSED);
  await c.connect();
  assert.equal(c.lastUid('news'), undefined);
  const sub = await c.subscribe('news');
  assert.notEqual(sub, old);
  const got = [];
  sub.on('t', (m) => got.push(m));
  await srv.send(tag, { sys: 8, channel: 'news', topic: 't', msg: 'hello', uid: '1-1' });
  await until('the FEED', () => got.length === 1);
  const log = await srv.log(tag);
  assert.deepEqual(log[1].received.map((m) => m.sys), [3, 1], 'BEGIN (not SYNC), then a real SUBSCRIBE');
});

test('heartbeat: the threshold comes from the BEGIN reply; silence is transient (heartbeat_timeout)', { skip }, async () => {
  const tag = srv.tag('hb');
  const c = mk(srv.url(tag, { hb: 'true', hbInterval: 50, hbThreshold: 50, hb_count: 2 }));
  const drops = [];
  c.onDrop((e) => drops.push(e.code));
  await c.connect();
  await until('the heartbeat timeout', () => drops.length > 0);
  assert.deepEqual(drops, ['heartbeat_timeout']);
  await until('the reconnect', () => c.getStatus() === CS.READY);
});
