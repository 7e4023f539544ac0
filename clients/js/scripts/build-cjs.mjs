// Writes the CommonJS build, sss-client.cjs, from sss-client.mjs and the
// MessagePack codec it imports, sss-msgpack.mjs (the only sources), and its
// declarations, sss-client.d.cts, from sss-client.d.ts; both are git-ignored.
// The module keeps all its exports in its last two lines, so the build is the
// same text with those lines replaced, and its one import line replaced by the
// codec's text (without its export line) in a function scope: the .cjs is one
// file that requires nothing. The declarations are those of sss-client.d.ts
// in a namespace given to `export =` (the build's module.exports is the
// object of the default export). npm runs this on
// `npm ci` and before `npm pack` and `npm test` (scripts "prepare" and
// "pretest"); `--out DIR` writes into DIR instead (the tests build into a
// temporary directory, so they need no build step before them).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = fs.readFileSync(path.join(dir, 'sss-client.mjs'), 'utf8');
const esm = 'export { client, statusCodes, statusText, SSSError, Client, Subscription };\nexport default sssClient;\n';
if (!src.endsWith(esm)) throw new Error('sss-client.mjs must end with its two export lines');
const imp = "import { encode as mpEncode, decode as mpDecode } from './sss-msgpack.mjs';\n";
if (src.split(imp).length !== 2) throw new Error(`sss-client.mjs must hold the line ${imp.trim()} once`);
const mp = fs.readFileSync(path.join(dir, 'sss-msgpack.mjs'), 'utf8');
const mpExport = 'export { encode, decode };\n';
if (!mp.endsWith(mpExport) || /^(import|export)\b/m.test(mp.slice(0, -mpExport.length))) {
  throw new Error('sss-msgpack.mjs must import nothing and keep its exports in its last line');
}
const codec = `// sss-msgpack.mjs, inlined:\nconst { mpEncode, mpDecode } = (() => {\n${mp.slice(0, -mpExport.length)}return { mpEncode: encode, mpDecode: decode };\n})();\n`;
const body = src.slice(0, -esm.length).replace(imp, () => codec);
const cjs = `// GENERATED from sss-client.mjs and sss-msgpack.mjs by scripts/build-cjs.mjs: do not edit.\n'use strict';\n${body}module.exports = sssClient;\n`;

const dts = fs.readFileSync(path.join(dir, 'sss-client.d.ts'), 'utf8');
const tail = dts.indexOf('\ndeclare const sssClient: {');
if (tail < 0 || !dts.endsWith('export default sssClient;\n')) throw new Error('sss-client.d.ts must end with its sssClient default export');
const dbody = dts.slice(0, tail).split('\n').filter((l) => !l.startsWith('//'))
  .map((l) => (l ? `  ${l.replace(/^export declare /, 'export ')}` : l)).join('\n');
const dcts = `// GENERATED from sss-client.d.ts by scripts/build-cjs.mjs: do not edit.\n// The declarations of sss-client.cjs, whose module.exports is { client, statusCodes, statusText, SSSError, Client, Subscription }.\ndeclare namespace sssClient {\n${dbody.replace(/^\n+/, '')}\n}\nexport = sssClient;\n`;

const at = process.argv.indexOf('--out');
const out = at > 0 ? process.argv[at + 1] : dir;
fs.writeFileSync(path.join(out, 'sss-client.cjs'), cjs);
fs.writeFileSync(path.join(out, 'sss-client.d.cts'), dcts);
