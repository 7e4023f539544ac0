// sss-client against the real sss-server (SSS_SERVER) with the test module
// (SSS_TESTMOD), the `ws` package injected as the WebSocket: every test once
// per encoding (sss.v1.json, sss.v1.msgpack), each with its own server, then a
// JSON and a MessagePack client on one channel. Skipped when either variable
// is unset or `ws` is not installed (npm ci in clients/js).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, statusCodes } from '../sss-client.mjs';
import { Server, WS, skip, sleep, until } from './sss-server.mjs';

function suite(encoding) {
  const server = new Server(['--allow-client-publish', '*', '--log-level', 'debug']);
  const clients = [];

  function mk(prefs = {}) {
    const c = client(server.url, { WebSocket: WS, retryInterval: 100, maxRetryInterval: 1000, encoding, ...prefs });
    clients.push(c);
    return c;
  }
  async function connected(prefs) {
    const c = mk(prefs);
    await c.connect();
    // the server picked the encoding asked for
    assert.equal(c._ws.protocol, `sss.v1.${(prefs && prefs.encoding) || encoding}`);
    return c;
  }
  // The worker index (from the debug log) of the connection made by `connect()`.
  async function connectOnWorker(prefs) {
    const before = server.log.length;
    const c = await connected(prefs);
    let w = null;
    await until('the upgrade log line', () => {
      const m = [...server.log.slice(before).matchAll(/\b(w\d+) debug conn: upgraded/g)];
      if (m.length) w = m[m.length - 1][1];
      return w !== null;
    });
    return { c, w };
  }

  before(async () => {
    if (skip) return;
    await server.start();
    await until('two workers', () => (server.log.match(/worker \d+ started pid=\d+/g) || []).length >= 2);
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  test('ask: echo, unknown topic, timeout', { skip }, async () => {
    const c = await connected();
    assert.equal(c.getStatus(), statusCodes.client.READY);
    assert.deepEqual(await c.ask('echo', { a: [1, 'two'] }), { a: [1, 'two'] });
    await assert.rejects(c.ask('nope', 1), { name: 'Super Scaled Sockets Error', message: 'Unknown request topic sent from client' });
    await assert.rejects(c.ask('never', 1), { name: 'Timeout' });
    const r = await new Promise((res) => c.ask('echo', 5, (err, msg) => res([err, msg])));
    assert.deepEqual(r, [null, 5]);
  });

  test('tell both ways and broadcast', { skip }, async () => {
    const a = await connected();
    const b = await connected();
    const told = [];
    const bc = [];
    a.onTell('told', (m) => told.push(m));
    a.onBroadcast('bcast', (m) => bc.push(['a', m]));
    b.onBroadcast('bcast', (m) => bc.push(['b', m]));
    await a.tell('tellme', { hi: 1 });
    await until('told', () => told.length === 1);
    assert.deepEqual(told, [{ hi: 1 }]);
    await b.tell('bcast', 'all');
    await until('broadcasts', () => bc.length === 2);
    assert.deepEqual(bc.sort(), [['a', 'all'], ['b', 'all']]);
  });

  test('subscribe/FEED via another client\'s publish; UPDATESUB tracking', { skip }, async () => {
    const a = await connected();
    const b = await connected();
    const sa = await a.subscribe('news', null);
    const sb = await b.subscribe('news', { any: 'query' });
    const got = [];
    sa.on('say', (m) => got.push(['a', m]));
    sb.on('say', (m) => got.push(['b', m]));
    const { uid } = await b.publish('news', 'say', 'hello');
    assert.match(uid, /^\d+-\d+$/);
    await until('feeds', () => got.length === 2);
    assert.deepEqual(got.sort(), [['a', 'hello'], ['b', 'hello']]);
    assert.equal(a.lastUid('news'), uid);
    // socket publish: the sender gets UPDATESUB, the others the FEED
    const spub = [];
    sb.on('spub', (m) => spub.push(m));
    sa.on('spub', () => spub.push('a must not get its own'));
    await a.tell('spub', 'x');
    await until('the spub FEED', () => spub.length === 1);
    assert.deepEqual(spub, ['x']);
    await until('UPDATESUB', () => a.lastUid('news') === b.lastUid('news'));
    assert.notEqual(a.lastUid('news'), uid);
  });

  test('boot: onBoot, status BOOTED, no reconnect', { skip }, async () => {
    const c = await connected();
    const seen = [];
    c.onBoot((r) => seen.push(r));
    c.onReconnect(() => seen.push('reconnect'));
    await c.tell('bootme', null);
    await until('boot', () => seen.length > 0);
    await sleep(300);
    assert.deepEqual(seen, ['bye']);
    assert.equal(c.getStatus(), statusCodes.client.BOOTED);
  });

  test('reconnect after the worker is killed: SYNC delivers every message once', { skip }, async () => {
    const { c: a, w: wa } = await connectOnWorker();
    let b = null;
    for (let i = 0; i < 20 && !b; i++) {
      const { c, w } = await connectOnWorker();
      if (w !== wa) b = c;
      else c.close();
    }
    assert.ok(b, 'a second client on the other worker');
    const pid = Number(server.log.match(new RegExp(`worker ${wa.slice(1)} started pid=(\\d+)`))[1]);
    const sa = await a.subscribe('news', null);
    const got = [];
    sa.on('n', (m) => got.push(m));
    const events = [];
    a.onDrop(() => events.push('drop'));
    a.onReconnect(() => events.push('reconnect'));
    await b.publish('news', 'n', 0);
    await until('message 0', () => got.length === 1);
    process.kill(pid, 'SIGKILL');
    await until('the drop', () => events.includes('drop'));
    const N = 20;
    for (let i = 1; i <= N; i++) await b.publish('news', 'n', i);
    await until('reconnect', () => events.includes('reconnect'));
    await until('every message', () => got.length >= N + 1);
    await sleep(200);
    assert.deepEqual(got, Array.from({ length: N + 1 }, (_, i) => i), 'each message once, in order');
    assert.deepEqual(events, ['drop', 'reconnect']);
    assert.equal(sa.getStatus(), statusCodes.subscription.ACTIVE);
    assert.deepEqual(await a.ask('echo', 'after'), 'after');
    // the master respawns the worker; let it start before the server is stopped
    await until('the respawned worker', () => (server.log.match(/worker \d+ started pid=\d+/g) || []).length >= 3).catch(() => {});
  });

  // Once, in the msgpack round: the two encodings on one channel, both ways.
  if (encoding === 'msgpack') {
    test('a JSON and a MessagePack client on one channel get the same values', { skip }, async () => {
      const j = await connected({ encoding: 'json' });
      const m = await connected({ encoding: 'msgpack' });
      const sj = await j.subscribe('mixed', null);
      const sm = await m.subscribe('mixed', null);
      const got = { j: [], m: [] };
      sj.on('v', (msg, uid) => got.j.push([msg, uid]));
      sm.on('v', (msg, uid) => got.m.push([msg, uid]));
      const values = [
        { a: 1, f: 1.5, s: 'é😀 "q"\n', n: null, t: [true, false, []], o: {}, big: 2 ** 40, neg: -5, small: -1e-7 },
        'text', 0, -2147483649, 2 ** 53, 0.1, [1, [2, [3]]],
      ];
      const sent = [];
      for (const [i, v] of values.entries()) {
        const { uid } = await (i % 2 ? j : m).publish('mixed', 'v', v);
        sent.push([v, uid]);
      }
      await until('every FEED on both', () => got.j.length === values.length && got.m.length === values.length);
      assert.deepEqual(got.j, sent, 'the JSON client');
      assert.deepEqual(got.m, sent, 'the MessagePack client');
      // bytes from a MessagePack client: a base64 string for every receiver
      got.j.length = 0;
      got.m.length = 0;
      await m.publish('mixed', 'v', { bin: new Uint8Array([1, 2, 3, 250]), empty: new ArrayBuffer(0) });
      await until('the bytes on both', () => got.j.length === 1 && got.m.length === 1);
      assert.deepEqual(got.j[0][0], { bin: 'AQID+g==', empty: '' });
      assert.deepEqual(got.m[0][0], { bin: 'AQID+g==', empty: '' });
      assert.equal(await m.ask('echo', new Uint8Array([104, 105])), 'aGk=');
      // a BigInt within 64 bits is an integer: exact on the wire, the nearest Number on arrival
      assert.equal(await m.ask('echo', 2n ** 62n + 1n), 2 ** 62);
      assert.equal(await m.ask('echo', -(2n ** 63n)), -(2 ** 63));
    });
  }
}

for (const encoding of ['json', 'msgpack']) describe(encoding, () => suite(encoding));
