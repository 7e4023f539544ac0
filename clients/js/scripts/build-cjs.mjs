// Writes the CommonJS build, sss-client.cjs, from sss-client.mjs (the only
// source; the build is git-ignored). The module keeps all its exports in its
// last two lines, so the build is the same text with those lines replaced.
// npm runs it on `npm ci` and before `npm pack` and `npm test` (scripts
// "prepare" and "pretest"); `--out FILE` writes elsewhere (the tests build into
// a temporary directory, so they need no build step before them).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = fs.readFileSync(path.join(dir, 'sss-client.mjs'), 'utf8');
const esm = 'export { client, statusCodes, statusText, SSSError, Client, Subscription };\nexport default sssClient;\n';
if (!src.endsWith(esm)) throw new Error('sss-client.mjs must end with its two export lines');
const out = `// GENERATED from sss-client.mjs by scripts/build-cjs.mjs: do not edit.\n'use strict';\n${src.slice(0, -esm.length)}module.exports = sssClient;\n`;
const at = process.argv.indexOf('--out');
fs.writeFileSync(at > 0 ? process.argv[at + 1] : path.join(dir, 'sss-client.cjs'), out);
