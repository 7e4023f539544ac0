// sss-msgpack: the MessagePack codec of sss-client's sss.v1.msgpack (ext):
// enough of the spec for the messages of docs/protocol.md, no dependencies.
//
// encode(value) -> Uint8Array sends what JSON.stringify would send, so an
// application sees the same values whatever the encoding: toJSON is called,
// undefined, functions and symbols are left out of objects and are nil in
// arrays, NaN and +-Infinity are nil, a cycle throws a TypeError. Beyond
// JSON: bytes (ArrayBuffer, typed arrays, DataView, Buffer) are a `bin`,
// which the server turns into a base64 string for every receiver; a BigInt
// within 64 bits is an integer (elsewhere a RangeError). Headers are the
// smallest, integers the smallest int or uint that holds them, other numbers
// float64: the canonical form of tests/vectors/msgpack.
//
// decode(bytes) -> value takes the one value of an ArrayBuffer or a view and
// throws an Error whose message says what is wrong with anything else:
// truncated, a length beyond the bytes, bytes after the value, invalid UTF-8
// in a str, a map key that is not a str, an ext, the byte 0xc1. It is not
// recursive (a deep nesting cannot overflow the stack), allocates at most one
// slot per byte of input, gives integers beyond 2^53 as the nearest Number
// (as JSON.parse does), a `bin` as a Uint8Array (a copy), and keeps the key
// "__proto__" as an own property, as JSON.parse does.
//
// sss-client.mjs imports it; scripts/build-cjs.mjs inlines it into the
// CommonJS build, so it keeps all its exports in its last line.

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });
const U32 = 4294967296;

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  u8(v) { this.need(1); this.buf[this.pos++] = v; }
  u8u8(t, v) { this.need(2); this.buf[this.pos++] = t; this.buf[this.pos++] = v; }
  u8u16(t, v) { this.need(3); this.buf[this.pos] = t; this.view.setUint16(this.pos + 1, v); this.pos += 3; }
  u8u32(t, v) { this.need(5); this.buf[this.pos] = t; this.view.setUint32(this.pos + 1, v); this.pos += 5; }
  u8i32(t, v) { this.need(5); this.buf[this.pos] = t; this.view.setInt32(this.pos + 1, v); this.pos += 5; }
  // A 64-bit integer from its high word (signed or not, by `t`) and low word.
  u8hilo(t, hi, lo) {
    this.need(9);
    this.buf[this.pos] = t;
    if (t === 0xd3) this.view.setInt32(this.pos + 1, hi);
    else this.view.setUint32(this.pos + 1, hi);
    this.view.setUint32(this.pos + 5, lo);
    this.pos += 9;
  }

  // A header of a str, bin, array or map: the fix form when there is one.
  head(n, fix, fixMax, c8, c16, c32) {
    if (n <= fixMax) this.u8(fix | n);
    else if (c8 && n < 0x100) this.u8u8(c8, n);
    else if (n < 0x10000) this.u8u16(c16, n);
    else this.u8u32(c32, n);
  }

  bytes(b) { this.need(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
}

// The UTF-8 length of s, as TextEncoder writes it (a lone surrogate: U+FFFD).
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // four bytes for two code units
      i++;
    } else n += 2;
  }
  return n;
}

function writeStr(w, s) {
  const n = utf8Length(s);
  w.head(n, 0xa0, 31, 0xd9, 0xda, 0xdb);
  w.need(n);
  if (n === s.length) {
    for (let i = 0; i < n; i++) w.buf[w.pos + i] = s.charCodeAt(i);
  } else {
    te.encodeInto(s, w.buf.subarray(w.pos, w.pos + n));
  }
  w.pos += n;
}

function writeInt(w, v) {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) w.u8u8(0xcc, v);
    else if (v < 0x10000) w.u8u16(0xcd, v);
    else if (v < U32) w.u8u32(0xce, v);
    else w.u8hilo(0xcf, Math.floor(v / U32), v % U32);
  } else if (v >= -32) w.u8(v & 0xff);
  else if (v >= -0x80) w.u8u8(0xd0, v & 0xff);
  else if (v >= -0x8000) w.u8u16(0xd1, v & 0xffff);
  else if (v >= -0x80000000) w.u8i32(0xd2, v);
  else {
    const hi = Math.floor(v / U32);
    w.u8hilo(0xd3, hi, v - hi * U32);
  }
}

function writeNumber(w, v) {
  if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 64) writeInt(w, v === 0 ? 0 : v);
  else if (Number.isFinite(v)) {
    w.need(9);
    w.buf[w.pos] = 0xcb;
    w.view.setFloat64(w.pos + 1, v);
    w.pos += 9;
  } else w.u8(0xc0); // NaN, +-Infinity: null, as JSON.stringify
}

function writeBigInt(w, v) {
  if (v < -(2n ** 63n) || v >= 2n ** 64n) throw new RangeError(`sss-msgpack: the BigInt ${v} does not fit in 64 bits`);
  if (v >= -(2n ** 53n) && v <= 2n ** 53n) return writeInt(w, Number(v));
  const neg = v < 0n;
  const hi = Number((neg ? v + 2n ** 64n : v) >> 32n);
  const lo = Number(v & 0xffffffffn);
  return w.u8hilo(neg ? 0xd3 : 0xcf, neg ? hi | 0 : hi, lo);
}

function binBytes(v) {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

// What JSON.stringify leaves out of an object (and writes as null in an array).
const skipped = (v) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

function write(w, v, key, stack) {
  if (v !== null && typeof v === 'object') {
    const b = binBytes(v);
    if (b) {
      w.head(b.length, 0, -1, 0xc4, 0xc5, 0xc6);
      w.bytes(b);
      return;
    }
    if (typeof v.toJSON === 'function') v = v.toJSON(key);
    else if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
  }
  switch (typeof v) {
    case 'string': writeStr(w, v); return;
    case 'number': writeNumber(w, v); return;
    case 'boolean': w.u8(v ? 0xc3 : 0xc2); return;
    case 'bigint': writeBigInt(w, v); return;
    case 'object': break;
    default: w.u8(0xc0); return; // undefined, functions, symbols
  }
  if (v === null) {
    w.u8(0xc0);
    return;
  }
  if (stack.has(v)) throw new TypeError('sss-msgpack: a cyclic value cannot be encoded');
  stack.add(v);
  if (Array.isArray(v)) {
    w.head(v.length, 0x90, 15, 0, 0xdc, 0xdd);
    for (let i = 0; i < v.length; i++) write(w, v[i], String(i), stack);
  } else {
    const keys = Object.keys(v).filter((k) => !skipped(v[k]));
    w.head(keys.length, 0x80, 15, 0, 0xde, 0xdf);
    for (const k of keys) {
      writeStr(w, k);
      write(w, v[k], k, stack);
    }
  }
  stack.delete(v);
}

/** The MessagePack bytes of `value` (see the head of this file). */
function encode(value) {
  const w = new Writer();
  write(w, value, '', new Set());
  return w.buf.slice(0, w.pos);
}

const fail = (what, at) => { throw new Error(`sss-msgpack: ${what} (at byte ${at})`); };
const need = (end, p, n, start) => { if (end - p < n) fail('truncated', start); };

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('sss-msgpack: decode takes an ArrayBuffer or an ArrayBuffer view');
}

function readStr(b, at, n) {
  if (n < 32) {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = b[at + i];
      if (c >= 0x80) return td.decode(b.subarray(at, at + n));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return td.decode(b.subarray(at, at + n));
}

// Containers being filled: { a: array | object, n: items left, map, key }.
/** The one value of `data` (see the head of this file). */
function decode(data) {
  const b = bytesOf(data);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.length;
  const stack = [];
  let p = 0;
  for (;;) {
    if (p >= end) fail('truncated', p);
    const start = p;
    const t = b[p++];
    let len = -1; // a str, bin or ext: its length
    let count = -1; // an array or map: its item count
    let isMap = false;
    let isBin = false;
    let val;
    if (t < 0x80) val = t;
    else if (t < 0x90) { count = t & 15; isMap = true; }
    else if (t < 0xa0) count = t & 15;
    else if (t < 0xc0) len = t & 31;
    else if (t >= 0xe0) val = t - 0x100;
    else {
      switch (t) {
        case 0xc0: val = null; break;
        case 0xc2: val = false; break;
        case 0xc3: val = true; break;
        case 0xc4: need(end, p, 1, start); len = b[p]; p += 1; isBin = true; break;
        case 0xc5: need(end, p, 2, start); len = v.getUint16(p); p += 2; isBin = true; break;
        case 0xc6: need(end, p, 4, start); len = v.getUint32(p); p += 4; isBin = true; break;
        case 0xca: need(end, p, 4, start); val = v.getFloat32(p); p += 4; break;
        case 0xcb: need(end, p, 8, start); val = v.getFloat64(p); p += 8; break;
        case 0xcc: need(end, p, 1, start); val = b[p]; p += 1; break;
        case 0xcd: need(end, p, 2, start); val = v.getUint16(p); p += 2; break;
        case 0xce: need(end, p, 4, start); val = v.getUint32(p); p += 4; break;
        case 0xcf: need(end, p, 8, start); val = v.getUint32(p) * U32 + v.getUint32(p + 4); p += 8; break;
        case 0xd0: need(end, p, 1, start); val = v.getInt8(p); p += 1; break;
        case 0xd1: need(end, p, 2, start); val = v.getInt16(p); p += 2; break;
        case 0xd2: need(end, p, 4, start); val = v.getInt32(p); p += 4; break;
        case 0xd3: need(end, p, 8, start); val = v.getInt32(p) * U32 + v.getUint32(p + 4); p += 8; break;
        case 0xd9: need(end, p, 1, start); len = b[p]; p += 1; break;
        case 0xda: need(end, p, 2, start); len = v.getUint16(p); p += 2; break;
        case 0xdb: need(end, p, 4, start); len = v.getUint32(p); p += 4; break;
        case 0xdc: need(end, p, 2, start); count = v.getUint16(p); p += 2; break;
        case 0xdd: need(end, p, 4, start); count = v.getUint32(p); p += 4; break;
        case 0xde: need(end, p, 2, start); count = v.getUint16(p); p += 2; isMap = true; break;
        case 0xdf: need(end, p, 4, start); count = v.getUint32(p); p += 4; isMap = true; break;
        case 0xc1: fail('the byte 0xc1 is never used', start); break;
        default: fail(`ext values are not accepted (type byte 0x${t.toString(16)})`, start);
      }
    }
    if (len >= 0) {
      if (len > end - p) fail(`a length of ${len} beyond the ${end - p} bytes left`, start);
      if (isBin) val = b.slice(p, p + len);
      else {
        try {
          val = readStr(b, p, len);
        } catch {
          fail('a str that is not valid UTF-8', start);
        }
      }
      p += len;
    } else if (count >= 0) {
      // Each item takes a byte at least (a map's two): a count cannot make it allocate more.
      if (count * (isMap ? 2 : 1) > end - p) fail(`a count of ${count} beyond the ${end - p} bytes left`, start);
      if (count > 0) {
        stack.push({ a: isMap ? {} : new Array(count), n: count, i: 0, map: isMap, key: null });
        continue;
      }
      val = isMap ? {} : [];
    }
    // Put val into the containers it completes, up to one that wants more.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        if (p !== end) fail(`${end - p} bytes after the value`, p);
        return val;
      }
      if (!top.map) {
        top.a[top.i++] = val;
      } else if (top.key === null) {
        if (typeof val !== 'string') fail('a map key that is not a str', start);
        top.key = val;
        break;
      } else {
        if (top.key === '__proto__') Object.defineProperty(top.a, top.key, { value: val, writable: true, enumerable: true, configurable: true });
        else top.a[top.key] = val;
        top.key = null;
        top.i++;
      }
      if (top.i < top.n) break;
      stack.pop();
      val = top.a;
    }
  }
}

export { encode, decode };
