// The declarations (sss-client.d.ts, and sss-client.d.cts generated from it)
// checked by tsc as a consumer sees them, through the package's "exports":
// an ES-module consumer (.mts) and a CommonJS one (.cts), with every API form,
// and lines that must NOT type-check (@ts-expect-error: tsc fails when they
// do). Then the declared Client and Subscription members and Prefs names are
// compared with the implementation's. Skipped without the typescript
// devDependency (npm ci in clients/js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Client, Subscription, client } from '../sss-client.mjs';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let ts = null;
try { ts = require('typescript'); } catch { /* skipped */ }
const skip = ts ? false : 'the typescript package is not installed (npm ci in clients/js)';

const USE = `
const c = client('ws://127.0.0.1:1/', {
  retryAttempts: 3, beginTimeout: 500, syncTimeout: 500, connectTimeout: 500, maxMessageSize: 1 << 20,
  getToken: async () => 'tok', window: null, encoding: 'msgpack',
});
const cj = client('ws://127.0.0.1:1/', { encoding: 'json', protocols: ['sss.v1.msgpack', 'sss.v1.json'] });
const c2 = client('ws://127.0.0.1:1/', { getToken: () => null }, (x: Client) => x.getStatus());
const st: number = c2.getStatus() + statusCodes.client.READY;
async function main(): Promise<void> {
  const user: Subscription | null = await c.connect();
  c.connect((err, sub) => { if (err) console.log(err.message); else if (sub) sub.unsubscribe(); });
  const sub: Subscription = await c.subscribe('news');
  const sub2: Subscription = await c.subscribe('news', { q: 1 });
  c.subscribe('news', (err, ok, s) => { if (ok && s) s.on('t', (m, uid: string) => console.log(m, uid)); });
  c.subscribe('news', null, (err, ok, s) => console.log(err, ok, s));
  const off: () => boolean = sub.on('t', (m) => console.log(m));
  off();
  sub.off('t', () => {});
  sub.onError((e) => console.log(e.code));
  sub.offEvent('error', () => {});
  const a: unknown = await c.ask('echo', 1);
  await c.tell('t', 1);
  const { uid }: { uid: string } = await c.publish('news', 't', 1);
  c.on('drop', (e) => console.log(e.code, e.transient));
  c.on('statusChange', (s, o) => console.log(s, o));
  c.off('error', () => {});
  c.onError((e) => { if (e instanceof SSSError && e.code === 'retries_exhausted') console.log(e.cause); });
  c.onTell('x', () => {}); c.offTell('x', () => {});
  c.onBroadcast('x', () => {}); c.offBroadcast('x', () => {});
  const last: string | null | undefined = c.lastUid('news');
  const code: ErrorCode = 'unauthorized';
  c.close();
  // @ts-expect-error an unknown event
  c.on('nosuch', () => {});
  // @ts-expect-error retryAttempts is a number
  client('ws://x/', { retryAttempts: 'many' });
  // @ts-expect-error getToken returns a token, not a number
  client('ws://x/', { getToken: () => 5 });
  // @ts-expect-error not an encoding
  client('ws://x/', { encoding: 'cbor' });
  // @ts-expect-error not a code
  const bad: ErrorCode = 'nope';
  console.log(user, sub2, a, uid, last, code, st, bad, cj);
}
main();
`;

test('tsc: the ES-module and CommonJS declarations type-check a consumer of every API form', { skip }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sss-client-types-'));
  try {
    const pkg = path.join(tmp, 'node_modules', 'sss-client');
    fs.mkdirSync(pkg, { recursive: true });
    execFileSync(process.execPath, [path.join(dir, 'scripts', 'build-cjs.mjs'), '--out', pkg]);
    for (const f of ['package.json', 'sss-client.mjs', 'sss-client.d.ts']) fs.copyFileSync(path.join(dir, f), path.join(pkg, f));
    fs.writeFileSync(path.join(tmp, 'esm.mts'), `import sss, { client, statusCodes, SSSError, Client, Subscription } from 'sss-client';\nimport type { ErrorCode } from 'sss-client';\nconsole.log(sss.statusText);\n${USE}`);
    fs.writeFileSync(path.join(tmp, 'cjs.cts'), `import sss = require('sss-client');\nconst { client, statusCodes, SSSError } = sss;\ntype Client = sss.Client;\ntype Subscription = sss.Subscription;\ntype ErrorCode = sss.ErrorCode;\n${USE}`);
    fs.writeFileSync(path.join(tmp, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, noEmit: true, types: [], lib: ['es2022', 'dom'] },
      files: ['esm.mts', 'cjs.cts'],
    }));
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tmp], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // the check can fail: a wrong line is reported
    fs.appendFileSync(path.join(tmp, 'cjs.cts'), "\nclient('ws://x/').subscribe(1);\n");
    const bad = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tmp], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /cjs\.cts.*TS2345/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the declared members of Client, Subscription and Prefs are the implementation\'s', { skip }, () => {
  const file = path.join(dir, 'sss-client.d.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const members = (kind, name) => {
    const node = sf.statements.find((s) => s.kind === kind && s.name && s.name.text === name);
    return [...new Set(node.members.filter((m) => m.name).map((m) => m.name.text))].sort();
  };
  const methods = (cls) => Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor' && !n.startsWith('_')).sort();
  assert.deepEqual(members(ts.SyntaxKind.ClassDeclaration, 'Client'), methods(Client));
  assert.deepEqual(members(ts.SyntaxKind.ClassDeclaration, 'Subscription'), methods(Subscription));
  // every declared pref is known to the client (an unknown name is warned about)
  const warned = [];
  const { warn } = console;
  console.warn = (...a) => warned.push(a.join(' '));
  try {
    client('ws://x/', Object.fromEntries(members(ts.SyntaxKind.InterfaceDeclaration, 'Prefs').map((k) => [k, undefined])));
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(warned, []);
  // and every pref the client knows is declared
  assert.deepEqual(members(ts.SyntaxKind.InterfaceDeclaration, 'Prefs'), Object.keys(client('ws://x/')._prefs).sort());
});
