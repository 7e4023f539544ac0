// Generates sss-client.cjs from sss-client.mjs (the only source). The module
// keeps all its exports in its last two lines, so the CommonJS build is the
// same text with those lines replaced. `--check` exits 1 when the committed
// sss-client.cjs is out of date.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = fs.readFileSync(path.join(dir, 'sss-client.mjs'), 'utf8');
const esm = 'export { client, statusCodes, statusText, SSSError, Client, Subscription };\nexport default sssClient;\n';
if (!src.endsWith(esm)) throw new Error('sss-client.mjs must end with its two export lines');
const out = `// GENERATED from sss-client.mjs by scripts/build-cjs.mjs: do not edit.\n'use strict';\n${src.slice(0, -esm.length)}module.exports = sssClient;\n`;
const target = path.join(dir, 'sss-client.cjs');
if (process.argv.includes('--check')) {
  const cur = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (cur !== out) {
    console.error('sss-client.cjs is out of date: run `npm run build`');
    process.exit(1);
  }
} else {
  fs.writeFileSync(target, out);
}
