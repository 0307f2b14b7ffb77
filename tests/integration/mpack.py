"""mpack.py - a minimal msgpack encoder/decoder for the integration tests.

Standard library only. Covers what atpd's wire protocol uses: nil, bool,
integers (all widths), float64, str, bin, array, map; the decoder also
skips ext types. Low-level header writers let tests forge hostile input
(an array32 header claiming 4e9 elements, deep nesting, truncation).
"""

import struct

__all__ = ["packb", "unpackb", "array_header", "map_header", "str_header",
           "DecodeError", "Raw"]


class DecodeError(ValueError):
    pass


class Raw(bytes):
    """Bytes inserted verbatim into an encoding (already msgpack)."""


def array_header(n):
    if n < 16:
        return bytes([0x90 | n])
    if n < 0x10000:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def map_header(n):
    if n < 16:
        return bytes([0x80 | n])
    if n < 0x10000:
        return b"\xde" + struct.pack(">H", n)
    return b"\xdf" + struct.pack(">I", n)


def str_header(n):
    if n < 32:
        return bytes([0xa0 | n])
    if n < 0x100:
        return b"\xd9" + bytes([n])
    if n < 0x10000:
        return b"\xda" + struct.pack(">H", n)
    return b"\xdb" + struct.pack(">I", n)


def _pack_int(v, out):
    if 0 <= v < 0x80:
        out.append(struct.pack("B", v))
    elif -32 <= v < 0:
        out.append(struct.pack("b", v))
    elif 0 <= v < 0x100:
        out.append(b"\xcc" + struct.pack(">B", v))
    elif 0 <= v < 0x10000:
        out.append(b"\xcd" + struct.pack(">H", v))
    elif 0 <= v < 0x100000000:
        out.append(b"\xce" + struct.pack(">I", v))
    elif 0 <= v < 0x10000000000000000:
        out.append(b"\xcf" + struct.pack(">Q", v))
    elif -0x80 <= v < 0:
        out.append(b"\xd0" + struct.pack(">b", v))
    elif -0x8000 <= v < 0:
        out.append(b"\xd1" + struct.pack(">h", v))
    elif -0x80000000 <= v < 0:
        out.append(b"\xd2" + struct.pack(">i", v))
    elif -0x8000000000000000 <= v < 0:
        out.append(b"\xd3" + struct.pack(">q", v))
    else:
        raise OverflowError("integer out of msgpack range: %d" % v)


def _pack(v, out):
    if isinstance(v, Raw):
        out.append(bytes(v))
    elif v is None:
        out.append(b"\xc0")
    elif v is True:
        out.append(b"\xc3")
    elif v is False:
        out.append(b"\xc2")
    elif isinstance(v, int):
        _pack_int(v, out)
    elif isinstance(v, float):
        out.append(b"\xcb" + struct.pack(">d", v))
    elif isinstance(v, str):
        b = v.encode("utf-8")
        out.append(str_header(len(b)))
        out.append(b)
    elif isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n < 0x100:
            out.append(b"\xc4" + bytes([n]))
        elif n < 0x10000:
            out.append(b"\xc5" + struct.pack(">H", n))
        else:
            out.append(b"\xc6" + struct.pack(">I", n))
        out.append(bytes(v))
    elif isinstance(v, (list, tuple)):
        out.append(array_header(len(v)))
        for x in v:
            _pack(x, out)
    elif isinstance(v, dict):
        out.append(map_header(len(v)))
        for k, x in v.items():
            _pack(k, out)
            _pack(x, out)
    else:
        raise TypeError("cannot msgpack %r" % type(v))


def packb(v):
    out = []
    _pack(v, out)
    return b"".join(out)


class _Reader:
    __slots__ = ("b", "i", "depth_max")

    def __init__(self, b, depth_max):
        self.b = b
        self.i = 0
        self.depth_max = depth_max

    def take(self, n):
        if n < 0 or self.i + n > len(self.b):
            raise DecodeError("truncated at offset %d (need %d bytes)" % (self.i, n))
        s = self.b[self.i:self.i + n]
        self.i += n
        return s

    def u(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def value(self, depth):
        if depth > self.depth_max:
            raise DecodeError("nesting deeper than %d" % self.depth_max)
        t = self.take(1)[0]
        if t <= 0x7f:
            return t
        if t >= 0xe0:
            return t - 0x100
        if 0x80 <= t <= 0x8f:
            return self.map(t & 0x0f, depth)
        if 0x90 <= t <= 0x9f:
            return self.array(t & 0x0f, depth)
        if 0xa0 <= t <= 0xbf:
            return self.str(t & 0x1f)
        if t == 0xc0:
            return None
        if t == 0xc2:
            return False
        if t == 0xc3:
            return True
        if t == 0xc4:
            return bytes(self.take(self.u(">B", 1)))
        if t == 0xc5:
            return bytes(self.take(self.u(">H", 2)))
        if t == 0xc6:
            return bytes(self.take(self.u(">I", 4)))
        if t in (0xc7, 0xc8, 0xc9):
            fmt, size = {0xc7: (">B", 1), 0xc8: (">H", 2), 0xc9: (">I", 4)}[t]
            n = self.u(fmt, size)
            self.take(1)
            return ("ext", bytes(self.take(n)))
        if t == 0xca:
            return self.u(">f", 4)
        if t == 0xcb:
            return self.u(">d", 8)
        if t == 0xcc:
            return self.u(">B", 1)
        if t == 0xcd:
            return self.u(">H", 2)
        if t == 0xce:
            return self.u(">I", 4)
        if t == 0xcf:
            return self.u(">Q", 8)
        if t == 0xd0:
            return self.u(">b", 1)
        if t == 0xd1:
            return self.u(">h", 2)
        if t == 0xd2:
            return self.u(">i", 4)
        if t == 0xd3:
            return self.u(">q", 8)
        if t in (0xd4, 0xd5, 0xd6, 0xd7, 0xd8):
            self.take(1)
            return ("ext", bytes(self.take({0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}[t])))
        if t == 0xd9:
            return self.str(self.u(">B", 1))
        if t == 0xda:
            return self.str(self.u(">H", 2))
        if t == 0xdb:
            return self.str(self.u(">I", 4))
        if t == 0xdc:
            return self.array(self.u(">H", 2), depth)
        if t == 0xdd:
            return self.array(self.u(">I", 4), depth)
        if t == 0xde:
            return self.map(self.u(">H", 2), depth)
        if t == 0xdf:
            return self.map(self.u(">I", 4), depth)
        raise DecodeError("reserved byte 0x%02x at offset %d" % (t, self.i - 1))

    def str(self, n):
        raw = self.take(n)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(raw)

    def array(self, n, depth):
        if n > len(self.b) - self.i:  # every element takes >= 1 byte
            raise DecodeError("array of %d elements cannot fit" % n)
        return [self.value(depth + 1) for _ in range(n)]

    def map(self, n, depth):
        if 2 * n > len(self.b) - self.i:
            raise DecodeError("map of %d pairs cannot fit" % n)
        d = {}
        for _ in range(n):
            k = self.value(depth + 1)
            if isinstance(k, list):
                k = tuple(k)
            d[k] = self.value(depth + 1)
        return d


def unpackb(b, depth_max=64):
    """Decode exactly one msgpack object from b; trailing bytes are an error."""
    r = _Reader(memoryview(bytes(b)), depth_max)
    v = r.value(1)
    if r.i != len(r.b):
        raise DecodeError("%d trailing bytes" % (len(r.b) - r.i))
    return v


if __name__ == "__main__":  # self-check: python3 mpack.py
    cases = [None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1,
             2**32, 2**64 - 1, -1, -32, -33, -128, -129, -32768, -32769, -2**31,
             -2**31 - 1, -2**63, 1.5, "", "a" * 31, "b" * 32, "c" * 255, "d" * 256,
             "e" * 70000, b"\x00\x01", list(range(20)), list(range(70000)),
             {"op": "atp", "n": [1, {"x": None}]}, {str(i): i for i in range(20)}]
    for c in cases:
        assert unpackb(packb(c)) == c, c
    for bad in (b"", b"\xc1", b"\x92\x01", b"\xdd\xee\x6b\x28\x00", b"\x01\x02"):
        try:
            unpackb(bad)
        except DecodeError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)
    print("mpack self-check ok")
