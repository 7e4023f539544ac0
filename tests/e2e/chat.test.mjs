// End-to-end: the chat demo (examples/chat/www + the chat module) in headless
// Chromium (Debian's chromium, driven by playwright-core). Two pages on
// different workers talk to each other; then the worker holding page B's
// connection is killed while page A speaks, and B, reconnected by the JS
// client (SYNC with its lastUid), shows every message it missed exactly once.
// A screenshot of the demo goes to $SSS_E2E_OUT (or the build dir)/chat-demo.png.
//
// SSS_E2E_BACKEND=proxy-node runs the same test with the chat in the Node
// backend (examples/proxy-node/server.mjs, started here on a free port) in place
// of the C module: sss-server with --proxy-url, --api-listen and --api-key; its
// screenshot is chat-demo-proxy-node.png.
//
// Needs SSS_SERVER (sss-server; its www/ dir beside it holds the page),
// SSS_CHAT (libsss-chat.so; not for proxy-node) and /usr/bin/chromium (or
// SSS_CHROMIUM). Without them the test is skipped, or fails when
// SSS_E2E_REQUIRED=1 (ctest sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, WAIT, launchChromium, ready, say, waitText, screenshot } from './chat-page.mjs';

const SERVER = process.env.SSS_SERVER;
const CHAT = process.env.SSS_CHAT;
const BACKEND = process.env.SSS_E2E_BACKEND || 'module'; // module (--app) or proxy-node
const NODE_BACKEND = fileURLToPath(new URL('../../examples/proxy-node/server.mjs', import.meta.url));
const API_KEY = 'e2e-demo-key';

function missing() {
  const why = [];
  if (!SERVER || !fs.existsSync(SERVER)) why.push('SSS_SERVER (sss-server) is not set or missing');
  if (BACKEND === 'module' && (!CHAT || !fs.existsSync(CHAT))) why.push('SSS_CHAT (libsss-chat.so) is not set or missing');
  if (BACKEND !== 'module' && BACKEND !== 'proxy-node') why.push(`SSS_E2E_BACKEND=${BACKEND} is neither module nor proxy-node`);
  if (SERVER && !fs.existsSync(path.join(path.dirname(SERVER), 'www', 'index.html'))) {
    why.push(`${path.join(path.dirname(SERVER), 'www')} has no index.html (build the chat-www target)`);
  }
  if (!fs.existsSync(CHROMIUM)) why.push(`${CHROMIUM} is missing (apt-get install chromium)`);
  return why;
}

// Whether 127.0.0.1:port can be listened on now.
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.on('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port nobody holds now, outside the kernel's ephemeral range (as
// tests/integration/svc_redis.py's free_port): a port there can be handed to
// another socket of the tests running at once before the server binds it.
async function freePort() {
  let [lo, hi] = [32768, 60999];
  try {
    [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim()
      .split(/\s+/).map(Number);
  } catch { /* the usual range */ }
  const ports = [];
  for (const [a, b] of [[10000, lo - 1], [hi + 1, 65535]]) for (let p = a; p <= b; p++) ports.push(p);
  for (let i = 0; i < 500 && ports.length > 0; i++) {
    const port = ports[Math.floor(Math.random() * ports.length)];
    if (await bindable(port)) return port;
  }
  throw new Error('no free port outside the ephemeral range');
}

// A process whose output we can wait on, line by line.
function startLogged(file, args, env = process.env) {
  const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const lines = [];
  const waiters = new Set();
  let partial = '';
  const onData = (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const l of parts) {
      lines.push(l);
      for (const w of [...waiters]) w.check();
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  // The first log line (from index `from` on) that matches re.
  const waitLine = (re, from = 0, ms = WAIT) => new Promise((resolve, reject) => {
    const w = {
      check() {
        for (let i = from; i < lines.length; i++) {
          const m = lines[i].match(re);
          if (m) { waiters.delete(w); clearTimeout(w.timer); resolve(m); return; }
        }
      },
    };
    w.timer = setTimeout(() => { waiters.delete(w); reject(new Error(`no log line ${re} within ${ms} ms:\n${lines.slice(-30).join('\n')}`)); }, ms);
    waiters.add(w);
    w.check();
  });
  return { proc, lines, waitLine, exited };
}

// sss-server with the chat: the C module, or flags for the backend of startBackend.
function startServer(backendFlags) {
  const www = path.join(path.dirname(SERVER), 'www');
  const app = backendFlags || ['--app', CHAT];
  return startLogged(SERVER, [...app, '--static', www, '--host', '127.0.0.1', '--port', '0',
    '--workers', '2', '--log-level', 'debug']);
}

// SSS_E2E_BACKEND=proxy-node: the Node backend on a free port, and the flags
// that point sss-server at it (and it at sss-server's API, on another).
async function startBackend() {
  const [port, api] = [await freePort(), await freePort()];
  const env = { ...process.env, PORT: String(port), LISTEN_HOST: '127.0.0.1',
    SSS_API_URL: `http://127.0.0.1:${api}`, SSS_API_KEY: API_KEY };
  const backend = startLogged(process.execPath, [NODE_BACKEND], env);
  await backend.waitLine(new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\b`));
  backend.flags = ['--proxy-url', `http://127.0.0.1:${port}`, '--api-listen', `127.0.0.1:${api}`,
    '--api-key', API_KEY];
  return backend;
}

async function openChat(context, base, srv) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  // The page must work under the server's Content-Security-Policy (--static-csp):
  // every violation is recorded and must stay none.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const resp = await page.goto(`${base}/#room-lobby`);
  assert.match(resp.headers()['content-security-policy'] || '', /default-src 'self'/);
  await page.waitForFunction(() => window.chat && window.chat.tabId, null, { timeout: WAIT });
  const tab = await page.evaluate(() => window.chat.tabId);
  const [, role] = await srv.waitLine(new RegExp(`^\\S+ (w\\d+) debug conn: upgraded .*target=/\\?tab=${tab}\\b`));
  await page.waitForSelector('#status[data-status="READY"]', { timeout: WAIT });
  assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'no CSP violation');
  return { page, tab, role };
}

// The texts of the messages shown (notes excluded).
const texts = (page) => page.$$eval('#messages li[data-uid] .text', (els) => els.map((e) => e.textContent));

test(`chat demo (${BACKEND}) in headless Chromium: two workers, a killed worker, recovery`, { timeout: 300000 }, async (t) => {
  if (!ready(t, missing())) return;
  const backend = BACKEND === 'proxy-node' ? await startBackend() : null;
  const srv = startServer(backend?.flags);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-e2e-chromium-'));
  let context;
  try {
    const [, port] = await srv.waitLine(/listening on \S+:(\d+)/);
    const base = `http://127.0.0.1:${port}`;
    const pids = () => { // worker index -> its current pid
      const m = new Map();
      for (const l of srv.lines) {
        const r = l.match(/master: worker (\d+) started pid=(\d+)/);
        if (r) m.set(Number(r[1]), Number(r[2]));
      }
      return m;
    };

    context = await launchChromium(profile);

    const a = await openChat(context, base, srv);
    let b = await openChat(context, base, srv);
    for (let i = 0; b.role === a.role; i++) { // until B's connection lands on another worker
      assert.ok(i < 60, `every connection of page B went to ${a.role}`);
      await b.page.close();
      b = await openChat(context, base, srv);
    }
    t.diagnostic(`page A on ${a.role}, page B on ${b.role}`);
    await a.page.fill('#name', 'ann');
    await a.page.dispatchEvent('#name', 'change');
    await b.page.fill('#name', 'bob');

    // Presence: both pages count two connections in the lobby (one per worker).
    for (const p of [a.page, b.page]) {
      await p.waitForSelector('#presence[data-count="2"]', { timeout: WAIT });
    }

    // A and B talk, through two workers.
    await say(a.page, 'hello from ann');
    await waitText(b.page, 'hello from ann');
    await say(b.page, 'hi ann, bob here');
    await waitText(a.page, 'hi ann, bob here');

    // Cut B: kill -9 the worker holding its connection, while A speaks.
    const bWorker = Number(b.role.slice(1));
    const pid = pids().get(bWorker);
    assert.ok(pid, `no pid for worker ${bWorker}`);
    const mark = srv.lines.length;
    process.kill(pid, 'SIGKILL');
    const missed = ['missed one', 'missed two', 'missed three'];
    for (const m of missed) await say(a.page, m);

    // B reconnects (auto reconnect + SYNC) and shows every missed message once.
    await b.page.waitForFunction(() => window.chat.stats.drops >= 1 && window.chat.stats.reconnects >= 1,
      null, { timeout: WAIT });
    for (const m of missed) await waitText(b.page, m);
    await b.page.waitForSelector('#status[data-status="READY"]', { timeout: WAIT });
    await srv.waitLine(new RegExp(`master: worker ${bWorker} started pid=(?!${pid}\\b)\\d+`), mark);

    const shownB = await texts(b.page);
    const shownA = await texts(a.page);
    for (const m of ['hello from ann', 'hi ann, bob here', ...missed]) {
      assert.equal(shownB.filter((x) => x === m).length, 1, `B shows "${m}" once: ${JSON.stringify(shownB)}`);
      assert.equal(shownA.filter((x) => x === m).length, 1, `A shows "${m}" once: ${JSON.stringify(shownA)}`);
    }
    assert.deepEqual(shownB.slice(-3), missed, 'B shows the missed messages in order');
    const uids = await b.page.$$eval('#messages li[data-uid]', (els) => els.map((e) => e.dataset.uid));
    assert.equal(new Set(uids).size, uids.length, 'no uid twice on B');

    // A screenshot of the demo (page A, after the conversation).
    await screenshot(t, a.page, path.dirname(SERVER),
                     BACKEND === 'module' ? 'chat-demo.png' : `chat-demo-${BACKEND}.png`);

    await context.close();
    context = null;
    srv.proc.kill('SIGTERM');
    const { code, signal } = await srv.exited;
    assert.equal(signal, null, `sss-server ended by ${signal}`);
    assert.equal(code, 0, `sss-server exit code ${code}:\n${srv.lines.slice(-20).join('\n')}`);
    const crashes = srv.lines.filter((l) => /killed by signal (?!9\b)/.test(l));
    assert.deepEqual(crashes, [], 'no worker crashed (other than the one killed)');
    if (backend) {
      const lost = backend.lines.filter((l) => /not published|not delivered/.test(l));
      assert.deepEqual(lost, [], 'the backend published everything');
    }
  } finally {
    if (context) await context.close().catch(() => {});
    // The server's own process group (detached): the master and any worker left behind.
    try { process.kill(-srv.proc.pid, 'SIGKILL'); } catch { /* all gone */ }
    if (backend) try { process.kill(-backend.proc.pid, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(profile, { recursive: true, force: true });
  }
});
