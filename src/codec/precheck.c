/*
 * precheck.c - codec_precheck: a bounds-checking walk over raw msgpack bytes
 * before msgpack-c sees them. Any thread; no allocation, no recursion.
 *
 * This is the security boundary of every decoder: msgpack-c 4.0 allocates
 * whatever a container header declares (an array32 header of 5 bytes can ask
 * for 4 billion objects), so nothing reaches msgpack_unpack() unless this
 * walk proved that every declared size fits in the bytes actually received,
 * that nesting is bounded, and that the buffer holds exactly one object.
 * Once this walk succeeds, the unpacked tree holds at most one object per
 * input byte.
 */
#include "codec/codec_int.h"

/* Deepest nesting the walk can track; max_depth above it is clamped. */
#define CODEC_PRECHECK_MAX_STACK 64

static uint32_t codec_precheck_be(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

atp_err codec_precheck(const void *buf, size_t len, unsigned max_depth)
{
    const uint8_t *p = buf;
    const uint8_t *end = p + len;
    /* stack[i]: children still expected by the container open at level i
     * (map keys and values count separately). */
    uint64_t stack[CODEC_PRECHECK_MAX_STACK];
    unsigned depth = 0;

    if (max_depth > CODEC_PRECHECK_MAX_STACK) {
        max_depth = CODEC_PRECHECK_MAX_STACK;
    }
    if (buf == NULL || len == 0) {
        return ATP_E_BAD_REQUEST;
    }
    for (;;) {
        if (p == end) {
            return ATP_E_BAD_REQUEST; /* truncated: an object is missing */
        }
        uint8_t t = *p++;
        size_t rem = (size_t)(end - p);
        /* hdr: fixed bytes after the type byte (length fields, ext type,
         * fixed-size payloads); body: declared payload length that follows
         * them; children: declared container members. */
        unsigned hdr = 0;
        uint64_t body = 0;
        uint64_t children = 0;
        bool container = false;

        if (t <= 0x7f || t >= 0xe0) {
            /* positive / negative fixint */
        } else if (t <= 0x8f) {
            container = true;
            children = 2u * (t & 0x0fu);
        } else if (t <= 0x9f) {
            container = true;
            children = t & 0x0fu;
        } else if (t <= 0xbf) {
            body = t & 0x1fu;
        } else {
            unsigned lenbytes = 0; /* size of a length field */
            unsigned extra = 0;    /* fixed bytes after the length field */
            switch (t) {
            case 0xc0: /* nil */
            case 0xc2: /* false */
            case 0xc3: /* true */
                break;
            case 0xc1: /* "never used" in the msgpack spec */
                return ATP_E_BAD_REQUEST;
            case 0xc4: /* bin8 */
            case 0xd9: /* str8 */
                lenbytes = 1;
                break;
            case 0xc5: /* bin16 */
            case 0xda: /* str16 */
            case 0xdc: /* array16 */
            case 0xde: /* map16 */
                lenbytes = 2;
                break;
            case 0xc6: /* bin32 */
            case 0xdb: /* str32 */
            case 0xdd: /* array32 */
            case 0xdf: /* map32 */
                lenbytes = 4;
                break;
            case 0xc7: /* ext8: len, type */
                lenbytes = 1;
                extra = 1;
                break;
            case 0xc8: /* ext16 */
                lenbytes = 2;
                extra = 1;
                break;
            case 0xc9: /* ext32 */
                lenbytes = 4;
                extra = 1;
                break;
            case 0xca: /* float32 */
                hdr = 4;
                break;
            case 0xcb: /* float64 */
                hdr = 8;
                break;
            case 0xcc: /* uint8 */
            case 0xd0: /* int8 */
                hdr = 1;
                break;
            case 0xcd: /* uint16 */
            case 0xd1: /* int16 */
                hdr = 2;
                break;
            case 0xce: /* uint32 */
            case 0xd2: /* int32 */
                hdr = 4;
                break;
            case 0xcf: /* uint64 */
            case 0xd3: /* int64 */
                hdr = 8;
                break;
            case 0xd4: /* fixext1..16: type byte + 2^k data bytes */
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                hdr = 1u + (1u << (t - 0xd4));
                break;
            default:
                /* 0xc0..0xdf are all listed above */
                return ATP_E_INTERNAL;
            }
            if (lenbytes > 0) {
                hdr = lenbytes + extra;
                if (rem < hdr) {
                    return ATP_E_BAD_REQUEST; /* truncated length field */
                }
                uint64_t n = codec_precheck_be(p, lenbytes);
                if (t == 0xdc || t == 0xdd) {
                    container = true;
                    children = n;
                } else if (t == 0xde || t == 0xdf) {
                    container = true;
                    children = 2 * n;
                } else {
                    body = n;
                }
            }
        }
        if (rem < hdr) {
            return ATP_E_BAD_REQUEST; /* truncated fixed-size value */
        }
        p += hdr;
        rem -= hdr;
        if (body > rem) {
            return ATP_E_TOO_LARGE; /* str/bin/ext longer than the input */
        }
        p += body;
        if (container) {
            if (depth >= max_depth) {
                return ATP_E_TOO_LARGE;
            }
            /* every child is at least one byte */
            if (children > rem) {
                return ATP_E_TOO_LARGE;
            }
            if (children > 0) {
                stack[depth++] = children;
                continue;
            }
        }
        /* One object is complete: close every container it completes. */
        while (depth > 0 && --stack[depth - 1] == 0) {
            depth--;
        }
        if (depth == 0) {
            return p == end ? ATP_OK : ATP_E_BAD_REQUEST; /* trailing */
        }
    }
}
