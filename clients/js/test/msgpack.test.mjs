// The MessagePack codec (sss-msgpack.mjs): the vectors of tests/vectors/msgpack
// (written by the tests' Python codec, tests/integration/mpack.py) decode to
// their JSON twins and encode back byte for byte; every header at its
// boundaries; what JSON.stringify does, MessagePack does; every malformed
// input is refused with a message, and none can overflow the stack or make
// the decoder allocate more than the input's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, decode } from '../sss-msgpack.mjs';

const VECTORS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'tests', 'vectors');
const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

// The vectors' integers beyond 2^53: decoded as the nearest Number (as
// JSON.parse does), so the exact value is put back as a BigInt to re-encode.
const EXACT = {
  'client/subscribe_query': (m) => { m.query.big = 9007199254740993n; },
};

test('vectors: every .msgpack decodes to its .json and encodes back to the same bytes', () => {
  let n = 0;
  for (const dir of ['client', 'server']) {
    const jsons = fs.readdirSync(path.join(VECTORS, dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    const packs = fs.readdirSync(path.join(VECTORS, 'msgpack', dir)).filter((f) => f.endsWith('.msgpack')).map((f) => f.slice(0, -8));
    // every JSON vector has its MessagePack form but those with raw text and the heartbeat
    assert.deepEqual(jsons.filter((j) => !packs.includes(j)).sort(), ['heartbeat', ...(dir === 'client' ? ['ask_raw'] : ['feed_raw'])].sort());
    for (const name of packs) {
      const raw = fs.readFileSync(path.join(VECTORS, 'msgpack', dir, `${name}.msgpack`));
      const json = fs.readFileSync(path.join(VECTORS, dir, `${name}.json`), 'utf8');
      const m = decode(raw);
      assert.deepEqual(m, JSON.parse(json), `${dir}/${name}: decoded`);
      const fix = EXACT[`${dir}/${name}`];
      if (fix) {
        assert.notEqual(hex(encode(m)), hex(raw), `${dir}/${name}: a Number cannot hold it`);
        fix(m);
      }
      assert.equal(hex(encode(m)), hex(raw), `${dir}/${name}: encoded`);
      n++;
    }
  }
  assert.equal(n, 35);
});

test('encode: integers in the smallest form, at every boundary', () => {
  const cases = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'],
    [65536, 'ce00010000'], [2 ** 32 - 1, 'ceffffffff'], [2 ** 32, 'cf0000000100000000'],
    [2 ** 53 + 2, 'cf0020000000000002'], [2 ** 64 - 2048, 'cffffffffffffff800'],
    [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'], [-128, 'd080'], [-129, 'd1ff7f'], [-32768, 'd18000'],
    [-32769, 'd2ffff7fff'], [-(2 ** 31), 'd280000000'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [-(2 ** 63), 'd38000000000000000'], [-0, '00'],
    // beyond 64 bits, fractions: float64
    [2 ** 64, 'cb43f0000000000000'], [-(2 ** 63) - 4096, 'cbc3e0000000000002'], [1.5, 'cb3ff8000000000000'],
    // as JSON.stringify: null
    [NaN, 'c0'], [Infinity, 'c0'], [-Infinity, 'c0'],
    // BigInt within 64 bits
    [0n, '00'], [-33n, 'd0df'], [2n ** 64n - 1n, 'cfffffffffffffffff'], [2n ** 53n + 1n, 'cf0020000000000001'],
    [-(2n ** 63n), 'd38000000000000000'], [-(2n ** 53n) - 1n, 'd3ffdfffffffffffff'],
  ];
  for (const [v, h] of cases) assert.equal(hex(encode(v)), h, String(v));
  assert.throws(() => encode(2n ** 64n), { name: 'RangeError', message: /does not fit in 64 bits/ });
  assert.throws(() => encode(-(2n ** 63n) - 1n), RangeError);
});

test('encode: str, bin, array and map headers at their boundaries', () => {
  const head = (v, n) => hex(encode(v)).slice(0, n * 2);
  const s = (n) => 'x'.repeat(n);
  assert.equal(head(s(0), 1), 'a0');
  assert.equal(head(s(31), 1), 'bf');
  assert.equal(head(s(32), 2), 'd920');
  assert.equal(head(s(255), 2), 'd9ff');
  assert.equal(head(s(256), 3), 'da0100');
  assert.equal(head(s(65535), 3), 'daffff');
  assert.equal(head(s(65536), 5), 'db00010000');
  // the header counts UTF-8 bytes: 11 two-byte characters are 22 bytes, 16 four-byte ones 64
  assert.equal(head('é'.repeat(11), 1), 'b6');
  assert.equal(head('😀'.repeat(16), 2), 'd940');
  assert.equal(hex(encode('é😀')), 'a6c3a9f09f9880');
  // a lone surrogate is U+FFFD, as TextEncoder writes it
  assert.equal(hex(encode('a\ud800b')), 'a561efbfbd62');
  assert.equal(hex(encode('\udc00')), 'a3efbfbd');
  const bin = (n) => new Uint8Array(n);
  assert.equal(head(bin(0), 2), 'c400');
  assert.equal(head(bin(255), 2), 'c4ff');
  assert.equal(head(bin(256), 3), 'c50100');
  assert.equal(head(bin(65536), 5), 'c600010000');
  const arr = (n) => new Array(n).fill(0);
  assert.equal(head(arr(15), 1), '9f');
  assert.equal(head(arr(16), 3), 'dc0010');
  assert.equal(head(arr(65535), 3), 'dcffff');
  assert.equal(head(arr(65536), 5), 'dd00010000');
  const map = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0]));
  assert.equal(head(map(15), 1), '8f');
  assert.equal(head(map(16), 3), 'de0010');
  assert.equal(head(map(65536), 5), 'df00010000');
  for (const v of [s(70000), bin(70000), arr(70000), map(70000)]) assert.deepEqual(decode(encode(v)), v);
});

test('encode: bytes are a bin (ArrayBuffer, any view, Buffer; only the view\'s bytes)', () => {
  const ab = new Uint8Array([1, 2, 3, 4, 5]).buffer;
  assert.equal(hex(encode(ab)), 'c4050102030405');
  assert.equal(hex(encode(new Uint8Array(ab, 1, 2))), 'c4020203');
  assert.equal(hex(encode(new DataView(ab, 3))), 'c4020405');
  assert.equal(hex(encode(Buffer.from('hi'))), 'c4026869');
  assert.equal(hex(encode(new Uint16Array([0x0102]))), `c402${hex(new Uint8Array(new Uint16Array([0x0102]).buffer))}`);
  assert.deepEqual(decode(encode({ b: new Uint8Array([7]) })), { b: new Uint8Array([7]) });
});

test('encode: what JSON.stringify sends (toJSON, undefined, functions, wrappers); a cycle is a TypeError', () => {
  const d = new Date(0);
  const v = {
    a: undefined, f() {}, s: Symbol('x'), d, arr: [undefined, () => 1, Symbol('y'), 1],
    n: Object(5), str: Object('x'), b: Object(false), nested: { toJSON: (k) => `key ${k}` }, m: new Map([[1, 2]]),
  };
  assert.deepEqual(decode(encode(v)), JSON.parse(JSON.stringify(v)));
  assert.deepEqual(Object.keys(decode(encode(v))), ['d', 'arr', 'n', 'str', 'b', 'nested', 'm']);
  const cyc = { a: [] };
  cyc.a.push(cyc);
  assert.throws(() => encode(cyc), { name: 'TypeError', message: /cyclic/ });
  const shared = { x: 1 };
  assert.deepEqual(decode(encode([shared, shared])), [{ x: 1 }, { x: 1 }], 'shared, not cyclic');
});

test('encode then decode equals JSON.stringify then JSON.parse (random values)', () => {
  let seed = 42;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const strs = ['', 'a', 'é', '😀', 'x'.repeat(40), 'é'.repeat(200), '"\\\n\u0000', '__proto__', 'constructor'];
  const nums = [0, 1, -1, 127, 128, -32, -33, 255, 65536, 2 ** 32, 2 ** 53, -(2 ** 53), 1.5, -0.1, 1e300, 5e-324, 2 ** 70];
  const gen = (depth) => {
    const r = rnd();
    if (depth > 4 || r < 0.4) {
      const k = Math.floor(rnd() * 5);
      if (k === 0) return nums[Math.floor(rnd() * nums.length)];
      if (k === 1) return strs[Math.floor(rnd() * strs.length)];
      if (k === 2) return rnd() < 0.5;
      if (k === 3) return null;
      return Math.floor(rnd() * 2 ** 40) - 2 ** 39;
    }
    const n = Math.floor(rnd() * 20);
    if (r < 0.7) return Array.from({ length: n }, () => gen(depth + 1));
    const o = {};
    for (let i = 0; i < n; i++) o[strs[Math.floor(rnd() * strs.length)] + i] = gen(depth + 1);
    return o;
  };
  for (let i = 0; i < 500; i++) {
    const v = gen(0);
    assert.deepEqual(decode(encode(v)), JSON.parse(JSON.stringify(v)));
  }
});

test('decode: floats, every int form, bin, and "__proto__" as an own key (as JSON.parse)', () => {
  assert.equal(decode(bytes('ca3fc00000')), 1.5);
  assert.equal(decode(bytes('cb3ff8000000000000')), 1.5);
  assert.equal(decode(bytes('d3ffffffffffffffff')), -1);
  assert.equal(decode(bytes('cfffffffffffffffff')), 2 ** 64);
  assert.equal(decode(bytes('cf0020000000000001')), 2 ** 53, 'the nearest Number, as JSON.parse');
  assert.equal(decode(bytes('d1ff7f')), -129);
  assert.equal(decode(bytes('d2ffff7fff')), -32769);
  assert.deepEqual(decode(bytes('c403010203')), new Uint8Array([1, 2, 3]));
  assert.deepEqual(decode(bytes('dc0000')), []);
  assert.deepEqual(decode(bytes('df00000000')), {});
  const m = decode(encode(JSON.parse('{"__proto__":{"polluted":1},"a":1}')));
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.deepEqual(Object.keys(m), ['__proto__', 'a']);
  assert.equal(({}).polluted, undefined);
  assert.deepEqual(m, JSON.parse('{"__proto__":{"polluted":1},"a":1}'));
  // any view: only its bytes
  const buf = new Uint8Array([0xff, 0x92, 0x01, 0x02, 0xff]);
  assert.deepEqual(decode(buf.subarray(1, 4)), [1, 2]);
  assert.deepEqual(decode(buf.buffer.slice(1, 4)), [1, 2]);
});

test('decode: malformed input is refused with what is wrong', () => {
  const bad = [
    ['', /truncated/],
    ['c1', /0xc1/],
    ['d401ff', /ext values are not accepted/], ['c70101ff', /ext/], ['d6ff00000000', /ext/],
    ['8101c0', /map key that is not a str/], ['81c0c0', /map key/], ['8190c0', /map key/],
    ['c0c0', /1 bytes after the value/],
    ['a2c3', /invalid|UTF-8|beyond/], ['a2c328', /not valid UTF-8/], ['d920' + 'ff'.repeat(32), /not valid UTF-8/],
    ['a4eda080', /beyond/], ['a3eda080', /not valid UTF-8/], // a surrogate in UTF-8
    ['ddffffffff', /a count of 4294967295 beyond the 0 bytes left/],
    ['dfffffffff' + '00'.repeat(100), /count of 4294967295 beyond/],
    ['8800000000', /count of 8 beyond the 4 bytes left/],
    ['c6ffffffff00', /length of 4294967295 beyond the 1 bytes left/],
    ['92c0', /count of 2 beyond the 1 bytes left/], ['9291c0', /truncated/], ['cd01', /truncated/],
  ];
  for (const [h, re] of bad) assert.throws(() => decode(bytes(h)), re, h);
  assert.throws(() => decode('a string'), { name: 'TypeError', message: /ArrayBuffer/ });
  // every strict prefix of every vector is truncated
  for (const dir of ['client', 'server']) {
    for (const f of fs.readdirSync(path.join(VECTORS, 'msgpack', dir))) {
      const raw = fs.readFileSync(path.join(VECTORS, 'msgpack', dir, f));
      for (let i = 0; i < raw.length; i++) assert.throws(() => decode(raw.subarray(0, i)), /truncated|beyond/, `${f}[0, ${i})`);
    }
  }
});

test('decode: a million nested arrays do not overflow the stack (not recursive)', () => {
  const depth = 1000000;
  const b = new Uint8Array(depth + 1).fill(0x91);
  b[depth] = 0xc0;
  let v = decode(b);
  let n = 0;
  while (Array.isArray(v)) { v = v[0]; n++; }
  assert.equal(n, depth);
  assert.equal(v, null);
});
