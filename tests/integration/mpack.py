"""A small MessagePack codec for the tests (the venv has no msgpack package):
enough of the spec to talk sss.v1.msgpack and to build broken frames.

pack(obj): None, bool, int (64-bit), float (float64), str, bytes (bin), list,
dict (any order kept), and Ext(type, data). Smallest headers, as msgpack-c
writes them. unpack(data): the one value in data; bin comes back as bytes.
"""
import struct


class Ext:
    def __init__(self, type_, data):
        self.type, self.data = type_, data


def _hdr(n, fix, fix_max, c16, c32):
    if n <= fix_max:
        return bytes([fix | n])
    if n < 1 << 16:
        return bytes([c16]) + struct.pack(">H", n)
    return bytes([c32]) + struct.pack(">I", n)


def pack(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if -32 <= o < 0:
            return struct.pack(">b", o)
        if o >= 0:
            for code, fmt, lim in ((0xcc, ">B", 1 << 8), (0xcd, ">H", 1 << 16),
                                   (0xce, ">I", 1 << 32), (0xcf, ">Q", 1 << 64)):
                if o < lim:
                    return bytes([code]) + struct.pack(fmt, o)
        for code, fmt, lim in ((0xd0, ">b", 1 << 7), (0xd1, ">h", 1 << 15),
                               (0xd2, ">i", 1 << 31), (0xd3, ">q", 1 << 63)):
            if o >= -lim:
                return bytes([code]) + struct.pack(fmt, o)
        raise ValueError("int beyond 64 bits")
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode("utf-8", "surrogatepass")
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return _hdr(len(b), 0, -1, 0xda, 0xdb) + b
    if isinstance(o, (bytes, bytearray)):
        n = len(o)
        if n < 256:
            return b"\xc4" + bytes([n]) + bytes(o)
        return _hdr(n, 0, -1, 0xc5, 0xc6) + bytes(o)
    if isinstance(o, Ext):
        return b"\xc7" + bytes([len(o.data)]) + struct.pack(">b", o.type) + o.data
    if isinstance(o, (list, tuple)):
        return _hdr(len(o), 0x90, 15, 0xdc, 0xdd) + b"".join(pack(v) for v in o)
    if isinstance(o, dict):
        return _hdr(len(o), 0x80, 15, 0xde, 0xdf) + b"".join(
            pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))


class _R:
    def __init__(self, d):
        self.d, self.i = d, 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def value(self):
        b = self.take(1)[0]
        if b <= 0x7f:
            return b
        if b >= 0xe0:
            return b - 256
        if b <= 0x8f:
            return self.map(b & 15)
        if b <= 0x9f:
            return [self.value() for _ in range(b & 15)]
        if b <= 0xbf:
            return self.take(b & 31).decode("utf-8", "surrogateescape")
        simple = {0xc0: None, 0xc2: False, 0xc3: True}
        if b in simple:
            return simple[b]
        table = {0xca: ">f", 0xcb: ">d", 0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
                 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
        if b in table:
            return self.u(table[b])
        if b in (0xc4, 0xc5, 0xc6):
            return bytes(self.take(self.u({0xc4: ">B", 0xc5: ">H", 0xc6: ">I"}[b])))
        if b in (0xd9, 0xda, 0xdb):
            n = self.u({0xd9: ">B", 0xda: ">H", 0xdb: ">I"}[b])
            return self.take(n).decode("utf-8", "surrogateescape")
        if b in (0xdc, 0xdd):
            return [self.value() for _ in range(self.u(">H" if b == 0xdc else ">I"))]
        if b in (0xde, 0xdf):
            return self.map(self.u(">H" if b == 0xde else ">I"))
        raise ValueError(f"unsupported byte 0x{b:02x}")

    def map(self, n):
        out = {}
        for _ in range(n):
            k = self.value()
            out[k] = self.value()
        return out


def unpack(data):
    r = _R(bytes(data))
    v = r.value()
    if r.i != len(r.d):
        raise ValueError("trailing bytes")
    return v
