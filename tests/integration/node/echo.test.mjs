// Echo mode of the real sss-server driven by the Node `ws` client: text and
// binary echo up to --max-message-size, 200 concurrent connections, close
// 1009 and 1007, and the 426/403 refusals seen through 'unexpected-response'.
//
// Environment: SSS_SERVER (the binary; default build/dev/sss-server),
// SSS_TEST_TIMEOUT_SCALE (stretches every timeout; default 1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCALE = Number(process.env.SSS_TEST_TIMEOUT_SCALE || 1) || 1;
const T = (ms) => Math.round(ms * SCALE);
const SERVER = path.resolve(process.env.SSS_SERVER || path.join(HERE, '../../../build/dev/sss-server'));
const MAX = 128 * 1024;
const SIZES = [0, 1, 125, 126, 65535, 65536, MAX];
const ORIGINS = 'http://a.example,http://b.example';

const haveServer = (() => {
  try {
    fs.accessSync(SERVER, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();
const skip = haveServer ? false : `no sss-server binary at ${SERVER} (set SSS_SERVER)`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// One sss-server run on 127.0.0.1, port 0 (parsed from 'listening on'), its
// log in a temp dir.
class Server {
  constructor(name, flags) {
    this.name = name;
    this.flags = flags;
    this.log = '';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-it-node-'));
    this.exit = null;
  }

  async start() {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SSS_')));
    const argv = ['--host', '127.0.0.1', '--port', '0', '--workers', '2', '--echo', ...this.flags];
    this.proc = spawn(SERVER, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    const append = (d) => {
      this.log += d.toString();
    };
    this.proc.stdout.on('data', append);
    this.proc.stderr.on('data', append);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    const deadline = Date.now() + T(30000);
    for (;;) {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(this.log);
      const workers = (this.log.match(/worker \d+ started/g) || []).length;
      if (m && workers >= 2 && (await this.probe(Number(m[1])))) {
        this.port = Number(m[1]);
        this.url = `ws://127.0.0.1:${this.port}/`;
        return this;
      }
      if (this.exit) throw new Error(`${this.name} exited ${JSON.stringify(this.exit)} while starting:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not start in time:\n${this.log}`);
      await sleep(50);
    }
  }

  // A plain GET (not an upgrade): any HTTP answer means a worker serves.
  probe(port) {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      const done = (ok) => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(T(2000), () => done(false));
      s.on('connect', () => s.write('GET /__probe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      s.on('data', (d) => {
        data += d;
        if (data.length >= 9) done(data.startsWith('HTTP/1.1 '));
      });
      s.on('error', () => done(false));
      s.on('close', () => done(data.startsWith('HTTP/1.1 ')));
    });
  }

  // SIGTERM drains; the master must exit 0 and the log hold no sanitizer report.
  async stop() {
    if (!this.proc) return;
    if (!this.exit) this.proc.kill('SIGTERM');
    let exit;
    try {
      exit = await withTimeout(this.exited, T(40000), `${this.name} exit after SIGTERM`);
    } catch (e) {
      this.proc.kill('SIGKILL');
      throw e;
    }
    assert.deepEqual(exit, { code: 0, signal: null }, `${this.name} exit status after SIGTERM\n${this.log}`);
    assert.doesNotMatch(this.log, /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/,
      `${this.name} sanitizer report`);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function open(url, opts = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      reject(new Error(`unexpected response ${res.statusCode}`));
      req.destroy();
    });
  }), T(20000), `open ${url}`);
}

// The next message: { data: Buffer, isBinary }.
function nextMessage(ws) {
  return withTimeout(new Promise((resolve, reject) => {
    const onMsg = (data, isBinary) => {
      ws.off('close', onClose);
      resolve({ data, isBinary });
    };
    const onClose = (code) => {
      ws.off('message', onMsg);
      reject(new Error(`closed with ${code} while waiting for a message`));
    };
    ws.once('message', onMsg);
    ws.once('close', onClose);
  }), T(30000), 'message');
}

async function echo(ws, data, binary) {
  const reply = nextMessage(ws);
  ws.send(data, { binary });
  return reply;
}

// The code of the close frame the server sends.
function closeCode(ws) {
  return withTimeout(new Promise((resolve) => {
    ws.once('close', (code) => resolve(code));
  }), T(30000), 'close');
}

// Status and headers of a refused upgrade.
function refused(url, opts = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => {}); // req.destroy() makes ws report an error after the response
  }), T(20000), `refused upgrade ${url}`);
}

// A client of server that sends one message in these fragments is closed
// with code; the server still serves the next client.
async function closedWith(server, code, fragments, binary = false) {
  const ws = await open(server.url);
  const closed = closeCode(ws);
  fragments.forEach((data, i) => ws.send(data, { binary, fin: i === fragments.length - 1 }));
  assert.equal(await closed, code);
  await goodClient(server);
}

async function goodClient(server) {
  const ws = await open(server.url);
  const { data, isBinary } = await echo(ws, 'still here', false);
  assert.equal(isBinary, false);
  assert.equal(data.toString(), 'still here');
  ws.close(1000);
  await closeCode(ws);
}

let echoServer;
let originServer;

before(async () => {
  if (skip) return;
  echoServer = await new Server('echo server', ['--max-message-size', '128k']).start();
  originServer = await new Server('origins server', ['--allowed-origins', ORIGINS]).start();
});

after(async () => {
  if (echoServer) await echoServer.stop();
  if (originServer) await originServer.stop();
});

test('text echo of every boundary size', { skip, timeout: T(120000) }, async () => {
  const ws = await open(echoServer.url);
  for (const n of SIZES) {
    const text = 'abcdefghij'.repeat(Math.ceil(n / 10) + 1).slice(0, n);
    const { data, isBinary } = await echo(ws, text, false);
    assert.equal(isBinary, false, `text of ${n} bytes comes back as text`);
    assert.equal(data.length, n, `text of ${n} bytes: length`);
    assert.equal(data.toString(), text, `text of ${n} bytes: content`);
  }
  const u = 'héllo wörld ✓ 🎉';
  const { data } = await echo(ws, u, false);
  assert.equal(data.toString('utf8'), u);
  ws.close(1000);
  assert.equal(await closeCode(ws), 1000, 'close 1000 echoed');
});

test('binary echo of every boundary size', { skip, timeout: T(120000) }, async () => {
  const ws = await open(echoServer.url);
  for (const n of SIZES) {
    const buf = randomBytes(n);
    const { data, isBinary } = await echo(ws, buf, true);
    assert.equal(isBinary, true, `binary of ${n} bytes comes back as binary`);
    assert.ok(Buffer.from(data).equals(buf), `binary of ${n} bytes: content`);
  }
  ws.close(1000);
  assert.equal(await closeCode(ws), 1000);
});

test('200 concurrent connections echo', { skip, timeout: T(180000) }, async () => {
  const conns = await Promise.all(Array.from({ length: 200 }, () => open(echoServer.url)));
  assert.equal(conns.length, 200);
  const results = await Promise.all(conns.map(async (ws, i) => {
    for (let j = 0; j < 3; j++) {
      const msg = `client ${i} message ${j} ${'y'.repeat(i)}`;
      const { data, isBinary } = await echo(ws, j === 1 ? Buffer.from(msg) : msg, j === 1);
      if (data.toString() !== msg || isBinary !== (j === 1)) return false;
    }
    return true;
  }));
  assert.equal(results.filter(Boolean).length, 200, 'every connection echoed 3 messages');
  await Promise.all(conns.map((ws) => {
    const p = closeCode(ws);
    ws.close(1000);
    return p;
  }));
});

test('a message over --max-message-size is closed with 1009', { skip, timeout: T(60000) }, async () => {
  const ok = await open(echoServer.url);
  const exact = randomBytes(MAX);
  const { data } = await echo(ok, exact, true);
  assert.ok(Buffer.from(data).equals(exact), `exactly ${MAX} bytes echoed`);
  ok.close(1000);
  await closedWith(echoServer, 1009, [randomBytes(MAX + 1)], true);
});

test('invalid UTF-8 in a text message is closed with 1007', { skip, timeout: T(60000) }, async () => {
  await closedWith(echoServer, 1007, [Buffer.from([0x61, 0xff, 0xfe, 0x62])]);
});

test('invalid UTF-8 across fragments is closed with 1007', { skip, timeout: T(60000) }, async () => {
  await closedWith(echoServer, 1007, [Buffer.from([0x61, 0x62, 0xc3]), Buffer.from([0x28, 0x63])]);
});

test('a valid character split across fragments is echoed', { skip, timeout: T(60000) }, async () => {
  const ws = await open(echoServer.url);
  const reply = nextMessage(ws);
  ws.send(Buffer.from([0x61, 0x62, 0xc3]), { binary: false, fin: false });
  ws.send(Buffer.from([0xa9, 0x63]), { binary: false, fin: true });
  const { data, isBinary } = await reply;
  assert.equal(isBinary, false);
  assert.equal(data.toString('utf8'), 'abéc');
  ws.close(1000);
  await closeCode(ws);
});

test('Sec-WebSocket-Version 8 gets 426 with Sec-WebSocket-Version: 13', { skip, timeout: T(60000) }, async () => {
  const { status, headers } = await refused(echoServer.url, { protocolVersion: 8 });
  assert.equal(status, 426);
  assert.equal(headers['sec-websocket-version'], '13');
  await goodClient(echoServer);
});

test('a disallowed Origin gets 403, an allowed one connects', { skip, timeout: T(60000) }, async () => {
  const { status } = await refused(originServer.url, { origin: 'http://evil.example' });
  assert.equal(status, 403);
  for (const origin of ORIGINS.split(',')) {
    const ws = await open(originServer.url, { origin });
    const { data } = await echo(ws, origin, false);
    assert.equal(data.toString(), origin);
    ws.close(1000);
    assert.equal(await closeCode(ws), 1000);
  }
});
