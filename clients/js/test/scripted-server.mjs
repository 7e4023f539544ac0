// Shared by the tests against tests/clients/scripted_server.py, the sss server
// that misbehaves on cue (its docstring is the reference). It runs with the
// project's venv: $SSS_VENV/bin/python (ctest sets SSS_VENV), else the
// repository's .venv. `skip` says why the tests cannot run (no such python, or
// `ws` not installed: npm ci in clients/js); node:test's `skip` takes it as is.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCRIPT = path.join(ROOT, 'tests', 'clients', 'scripted_server.py');
const PYTHON = path.join(process.env.SSS_VENV || path.join(ROOT, '.venv'), 'bin', 'python');
export let WS = null;
try {
  WS = (await import('ws')).default;
} catch { /* skipped below */ }
export const skip = !fs.existsSync(PYTHON) ? `no ${PYTHON} (set SSS_VENV)`
  : !fs.existsSync(SCRIPT) ? `no ${SCRIPT}`
    : !WS ? 'the ws package is not installed (npm ci in clients/js)' : false;

let tags = 0;

export class Scripted {
  async start() {
    // stdin stays a pipe: the server exits when it closes (also if this process dies).
    this.proc = spawn(PYTHON, [SCRIPT, '--host', '127.0.0.1', '--port', '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout.setEncoding('utf8');
    let out = '';
    const port = await new Promise((resolve, reject) => {
      this.proc.stdout.on('data', (d) => {
        out += d;
        const m = /^LISTENING (\d+)$/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
      this.proc.once('exit', (code) => reject(new Error(`scripted_server.py exited (${code}) before listening`)));
    });
    this.base = `127.0.0.1:${port}`;
    return this;
  }

  async stop() {
    if (!this.proc) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end();
    await exited;
  }

  // A fresh tag, so that each test reads only its own attempts.
  tag(name) { tags += 1; return `${name}-${process.pid}-${tags}`; }

  url(tag, params = {}) {
    const q = new URLSearchParams(params).toString();
    return `ws://${this.base}/${tag}/ok${q ? `?${q}` : ''}`;
  }

  async log(tag) {
    const r = await fetch(`http://${this.base}/_log/${tag}`);
    return (await r.json()).attempts;
  }

  async post(what, tag, body) {
    const r = await fetch(`http://${this.base}/_${what}/${tag}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    await r.text();
    if (r.status !== 200) throw new Error(`POST /_${what}/${tag}: ${r.status}`);
  }

  send(tag, frame) { return this.post('send', tag, { frame }); }

  close(tag, body) { return this.post('close', tag, body); }
}
