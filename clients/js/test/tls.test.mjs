// sss-client over wss:// against the real sss-server with --tls-cert and
// --tls-key: a certificate authority and a server certificate are made with
// the `openssl` command at run time, and the `ws` package is injected as the
// WebSocket with that CA (in a browser the page's origin decides, and nothing
// is injected). A WebSocket that does not trust the CA never gets a session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client, statusCodes } from '../sss-client.mjs';
import { Server, WS, skip as skipServer } from './sss-server.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-js-tls-'));
const file = (n) => path.join(dir, n);
let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}
const skip = skipServer || (!haveOpenssl && 'the openssl command is missing');

function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const run = (args) => execFileSync('openssl', args, { stdio: 'ignore' });
  run(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2',
    '-subj', '/CN=sss js test CA']);
  run(['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost']);
  fs.writeFileSync(file('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-set_serial', '7', '-days', '2', '-out', file('server.pem'), '-extfile', file('ext')]);
}

let server = null;
const clients = [];

before(async () => {
  if (skip) return;
  makeCerts();
  server = new Server(['--tls-cert', file('server.pem'), '--tls-key', file('server.key')]);
  await server.start();
  server.url = server.url.replace(/^ws:/, 'wss:');
});

after(async () => {
  for (const c of clients) c.close();
  if (server) await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// `ws` with the test CA: what a browser does with its own trust store.
function trustingWS() {
  const ca = fs.readFileSync(file('ca.pem'));
  return class extends WS {
    constructor(url, protocols) {
      super(url, protocols, { ca });
    }
  };
}

test('wss://: connect and ask (a 100 kB answer) through TLS', { skip }, async () => {
  const c = client(server.url, { WebSocket: trustingWS(), retryInterval: 100, maxRetryInterval: 1000 });
  clients.push(c);
  await c.connect();
  assert.equal(c.getStatus(), statusCodes.client.READY);
  assert.deepEqual(await c.ask('echo', { big: 'x'.repeat(100000) }), { big: 'x'.repeat(100000) });
});

test('wss:// with a WebSocket that does not trust the CA gets no session', { skip }, async () => {
  const errors = [];
  const plain = class extends WS {
    constructor(url, protocols) {
      super(url, protocols);
      this.on('error', (e) => errors.push(e.code || e.message));
    }
  };
  const c = client(server.url, { WebSocket: plain, retryInterval: 50, maxRetryInterval: 100 });
  clients.push(c);
  c.connect().catch(() => {});
  const end = Date.now() + 5000;
  while (!errors.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(errors.length > 0, 'the TLS handshake failed');
  assert.match(String(errors[0]), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  assert.notEqual(c.getStatus(), statusCodes.client.READY);
  c.close();
});
