// End-to-end: `make cluster` (tools/cluster.py: Redis, FerretDB, three sss
// hosts with the chat module, nginx in front) and the chat page in headless
// Chromium. Two pages, whose WebSocket connections nginx sent to two
// different hosts, talk to each other through Redis; then Ctrl-C (SIGINT)
// stops the whole cluster cleanly. A screenshot goes to $SSS_E2E_OUT (or the
// build dir)/chat-demo-cluster.png.
//
// Needs SSS_SERVER (its build dir holds the chat module and www/),
// /usr/bin/chromium (or SSS_CHROMIUM), and what tools/cluster.py needs
// (redis-server, nginx, FerretDB). Without them the test is skipped, or fails
// when SSS_E2E_REQUIRED=1 (ctest sets it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, WAIT, launchChromium, ready, say, waitText, screenshot } from './chat-page.mjs';

const SERVER = process.env.SSS_SERVER;
const CLUSTER = fileURLToPath(new URL('../../tools/cluster.py', import.meta.url));

function missing() {
  const why = [];
  if (!SERVER || !fs.existsSync(SERVER)) why.push('SSS_SERVER (sss-server) is not set or missing');
  if (!fs.existsSync(CHROMIUM)) why.push(`${CHROMIUM} is missing (apt-get install chromium)`);
  return why;
}

// tools/cluster.py, its output collected line by line.
function startCluster(build) {
  const proc = spawn('python3', [CLUSTER, '--build', build, '--port', '0', '--log-level', 'debug'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines = [];
  let partial = '';
  const onData = (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    lines.push(...parts);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, lines, exited };
}

// Poll fn() until it returns a true value (or fail after ms, with why()).
async function until(fn, why, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('make cluster: two pages on two hosts behind nginx talk; Ctrl-C stops it all', { timeout: 300000 }, async (t) => {
  if (!ready(t, missing())) return;
  const cluster = startCluster(path.dirname(SERVER));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-e2e-cluster-'));
  let context;
  try {
    const open = await until(() => cluster.lines.map((l) => l.match(/^cluster: open (http:\/\/\S+)\//)).find(Boolean),
      () => `tools/cluster.py printed no address:\n${cluster.lines.join('\n')}`, 120000);
    const base = open[1];
    const logs = new Map(); // host id -> its log file
    for (const l of cluster.lines) {
      const m = l.match(/^cluster: (h\d) on \S+, API \S+, log (\S+)$/);
      if (m) logs.set(m[1], m[2]);
    }
    assert.equal(logs.size, 3, `three hosts announced:\n${cluster.lines.join('\n')}`);
    // The host whose log shows the upgrade of this tab's connection.
    const hostOf = (tab) => [...logs].find(([, f]) => new RegExp(`conn: upgraded .*target=/\\?tab=${tab}\\b`)
      .test(fs.readFileSync(f, 'utf8')))?.[0];

    context = await launchChromium(profile);
    const openChat = async () => {
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error('page error:', e));
      await page.goto(`${base}/#room-lobby`);
      await page.waitForFunction(() => window.chat && window.chat.tabId, null, { timeout: WAIT });
      const tab = await page.evaluate(() => window.chat.tabId);
      const host = await until(() => hostOf(tab), () => `no host logged the upgrade of tab ${tab}`);
      await page.waitForSelector('#status[data-status="READY"]', { timeout: WAIT });
      return { page, host };
    };
    const a = await openChat();
    let b = await openChat();
    for (let i = 0; b.host === a.host; i++) { // until nginx sends B to another host
      assert.ok(i < 30, `every connection of page B went to ${a.host}`);
      await b.page.close();
      b = await openChat();
    }
    t.diagnostic(`page A on ${a.host}, page B on ${b.host}`);
    await a.page.fill('#name', 'ann');
    await a.page.dispatchEvent('#name', 'change');
    await b.page.fill('#name', 'bob');
    await b.page.dispatchEvent('#name', 'change');

    await say(a.page, `hello from ann on ${a.host}`);
    await waitText(b.page, `hello from ann on ${a.host}`);
    await say(b.page, `hi ann, bob on ${b.host}`);
    await waitText(a.page, `hi ann, bob on ${b.host}`);

    await screenshot(t, a.page, path.dirname(SERVER), 'chat-demo-cluster.png');
    await context.close();
    context = null;

    // Ctrl-C: everything stops, and cluster.py says so and exits 0.
    cluster.proc.kill('SIGINT');
    const { code, signal } = await cluster.exited;
    assert.equal(signal, null, `cluster.py ended by ${signal}`);
    assert.equal(code, 0, `cluster.py exit code ${code}:\n${cluster.lines.slice(-20).join('\n')}`);
    assert.ok(cluster.lines.includes('cluster: stopping'), 'cluster.py announced the stop');
    for (const f of logs.values()) assert.ok(!fs.existsSync(f), `${f} was removed`);
  } finally {
    if (context) await context.close().catch(() => {});
    try { process.kill(-cluster.proc.pid, 'SIGINT'); } catch { /* gone */ }
    let timer;
    await Promise.race([cluster.exited, new Promise((r) => { timer = setTimeout(r, 60000); })]);
    clearTimeout(timer);
    fs.rmSync(profile, { recursive: true, force: true });
  }
});
