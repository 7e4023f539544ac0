// sss-client against the real sss-server (SSS_SERVER) with the test module
// (SSS_TESTMOD), the `ws` package injected as the WebSocket. Skipped when
// either variable is unset or `ws` is not installed (npm ci in clients/js).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { client, statusCodes } from '../sss-client.mjs';

const SERVER = process.env.SSS_SERVER;
const TESTMOD = process.env.SSS_TESTMOD;
let WS = null;
try {
  WS = (await import('ws')).default;
} catch { /* skipped below */ }
const skip = !SERVER ? 'SSS_SERVER is not set'
  : !TESTMOD ? 'SSS_TESTMOD is not set'
    : !WS ? 'the ws package is not installed (npm ci in clients/js)' : false;

const SCALE = Number(process.env.SSS_TEST_TIMEOUT_SCALE || 1) || 1;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, pred, ms = 10000) {
  const end = Date.now() + ms * SCALE;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

let server = null;
let log = '';
let url = '';
const clients = [];

function mk(prefs = {}) {
  const c = client(url, { WebSocket: WS, retryInterval: 100, maxRetryInterval: 1000, ...prefs });
  clients.push(c);
  return c;
}
async function connected(prefs) {
  const c = mk(prefs);
  await c.connect();
  return c;
}
// The worker index (from the debug log) of the connection made by `connect()`.
async function connectOnWorker(prefs) {
  const before = log.length;
  const c = await connected(prefs);
  let w = null;
  await until('the upgrade log line', () => {
    const m = [...log.slice(before).matchAll(/\b(w\d+) debug conn: upgraded/g)];
    if (m.length) w = m[m.length - 1][1];
    return w !== null;
  });
  return { c, w };
}

before(async () => {
  if (skip) return;
  server = spawn(SERVER, ['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--allow-client-publish', '*',
    '--heartbeat-interval', '500ms', '--ask-timeout', '1s', '--log-level', 'debug', '--app', TESTMOD],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr.setEncoding('utf8');
  server.stderr.on('data', (d) => { log += d; });
  await until('listening on', () => /listening on 127\.0\.0\.1:\d+/.test(log));
  await until('two workers', () => (log.match(/worker \d+ started pid=\d+/g) || []).length >= 2);
  url = `ws://127.0.0.1:${log.match(/listening on 127\.0\.0\.1:(\d+)/)[1]}/`;
});

after(async () => {
  for (const c of clients) c.close();
  if (!server) return;
  await sleep(100);
  const exited = new Promise((r) => server.once('exit', (code, sig) => r({ code, sig })));
  server.kill('SIGTERM');
  const res = await exited;
  assert.deepEqual(res, { code: 0, sig: null }, 'sss-server exits 0 on SIGTERM');
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
  const pid = Number(log.match(new RegExp(`worker ${wa.slice(1)} started pid=(\\d+)`))[1]);
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
  await until('the respawned worker', () => (log.match(/worker \d+ started pid=\d+/g) || []).length >= 3).catch(() => {});
});
