// Shared by the tests that run the real sss-server (SSS_SERVER) with the test
// module (SSS_TESTMOD), talking to it through the `ws` package. `skip` says
// why they cannot run (either variable unset, or `ws` not installed: npm ci in
// clients/js); node:test's `skip` option takes it as it is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const SERVER = process.env.SSS_SERVER;
const TESTMOD = process.env.SSS_TESTMOD;
export let WS = null;
try {
  WS = (await import('ws')).default;
} catch { /* skipped below */ }
export const skip = !SERVER ? 'SSS_SERVER is not set'
  : !TESTMOD ? 'SSS_TESTMOD is not set'
    : !WS ? 'the ws package is not installed (npm ci in clients/js)' : false;

const SCALE = Number(process.env.SSS_TEST_TIMEOUT_SCALE || 1) || 1;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function until(what, pred, ms = 10000) {
  const end = Date.now() + ms * SCALE;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

// One sss-server on an ephemeral loopback port with two workers, a 500 ms
// heartbeat, a 1 s ask timeout, the test module and `flags`. `log` is its
// stderr so far; `url` is ws://127.0.0.1:PORT/ once it listens.
export class Server {
  constructor(flags = []) {
    this.flags = flags;
    this.proc = null;
    this.log = '';
    this.url = '';
  }

  async start() {
    this.proc = spawn(SERVER, ['--host', '127.0.0.1', '--port', '0', '--workers', '2',
      '--heartbeat-interval', '500ms', '--ask-timeout', '1s', ...this.flags, '--app', TESTMOD],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => { this.log += d; });
    await until('listening on', () => /listening on 127\.0\.0\.1:\d+/.test(this.log));
    this.url = `ws://127.0.0.1:${this.log.match(/listening on 127\.0\.0\.1:(\d+)/)[1]}/`;
    return this;
  }

  // SIGTERM, and it must exit 0. Nothing to do if it never started.
  async stop() {
    if (!this.proc) return;
    await sleep(100);
    const exited = new Promise((r) => this.proc.once('exit', (code, sig) => r({ code, sig })));
    this.proc.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, sig: null }, 'sss-server exits 0 on SIGTERM');
  }
}
