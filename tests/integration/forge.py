"""forge.py - msgpack that no well-behaved client sends, for the tests of
hostile input (test_bad_input.py, test_bounds.py, test_protocol_answers.py).

Everything else is Debian's python3-msgpack (`import msgpack`). It cannot
write what these tests need: bytes spliced verbatim into an encoding (Raw:
a str header followed by invalid UTF-8, an array32 header claiming 2^32-1
elements with nothing after it, a bin where a str belongs), or a bare
header whose body the test writes itself (duplicate map keys, truncation).
"""

import struct

import msgpack

__all__ = ["Raw", "packb", "map_header", "str_header"]


class Raw(bytes):
    """Bytes inserted verbatim into an encoding (already msgpack)."""


def map_header(n):
    """The header of a map of n pairs (the pairs are up to the caller)."""
    return msgpack.Packer().pack_map_header(n)


def str_header(n):
    """The header of a str of n bytes; the bytes need not be UTF-8."""
    if n < 32:
        return bytes([0xa0 | n])
    if n < 0x100:
        return b"\xd9" + bytes([n])
    if n < 0x10000:
        return b"\xda" + struct.pack(">H", n)
    return b"\xdb" + struct.pack(">I", n)


def packb(v):
    """msgpack.packb(v), except that a Raw anywhere inside v (a map key or
    value, an array element) is copied into the encoding as it is."""
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, dict):
        return map_header(len(v)) + b"".join(packb(k) + packb(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        head = msgpack.Packer().pack_array_header(len(v))
        return head + b"".join(packb(x) for x in v)
    return msgpack.packb(v)
