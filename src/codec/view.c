/*
 * view.c - codec_view: reading a prechecked msgpack message in place, with
 * no allocation and no tree. Any thread; a view belongs to whoever owns the
 * buffer.
 *
 * The query server decodes every request this way: building msgpack-c's
 * object tree in a zone and then searching it linearly cost more than the
 * request's own work. Reading in place is safe only because
 * codec_view_root() runs codec_precheck() first: after it, every header,
 * declared length and container count is known to lie inside the buffer,
 * so the walks below need no bounds checks. The accessors give exactly the
 * answers of the codec_val accessors for the same bytes (msgpack-c's typing
 * rules: a non-negative int8..int64 is a plain integer, a uint64 above
 * INT64_MAX is CODEC_UINT_BIG); the corpus test compares the two.
 */
#include <string.h>

#include "codec/codec_int.h"

static uint64_t codec_view_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* codec_view_head parses the header at p: *skip is the number of bytes of
 * header and payload (strings, bin, ext, scalars), *children the number of
 * objects the container holds (map keys and values count separately). */
static void codec_view_head(const uint8_t *p, uint64_t *skip,
                            uint64_t *children)
{
    uint8_t t = p[0];
    *children = 0;
    if (t <= 0x7f || t >= 0xe0) {
        *skip = 1;
    } else if (t <= 0x8f) {
        *skip = 1;
        *children = 2u * (t & 0x0fu);
    } else if (t <= 0x9f) {
        *skip = 1;
        *children = t & 0x0fu;
    } else if (t <= 0xbf) {
        *skip = 1u + (t & 0x1fu);
    } else {
        switch (t) {
        case 0xc4:
        case 0xd9:
            *skip = 2 + codec_view_be(p + 1, 1);
            break;
        case 0xc5:
        case 0xda:
            *skip = 3 + codec_view_be(p + 1, 2);
            break;
        case 0xc6:
        case 0xdb:
            *skip = 5 + codec_view_be(p + 1, 4);
            break;
        case 0xc7:
            *skip = 3 + codec_view_be(p + 1, 1);
            break;
        case 0xc8:
            *skip = 4 + codec_view_be(p + 1, 2);
            break;
        case 0xc9:
            *skip = 6 + codec_view_be(p + 1, 4);
            break;
        case 0xca:
        case 0xce:
        case 0xd2:
            *skip = 5;
            break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
            *skip = 9;
            break;
        case 0xcc:
        case 0xd0:
            *skip = 2;
            break;
        case 0xcd:
        case 0xd1:
            *skip = 3;
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            *skip = 2u + (1u << (t - 0xd4));
            break;
        case 0xdc:
            *skip = 3;
            *children = codec_view_be(p + 1, 2);
            break;
        case 0xdd:
            *skip = 5;
            *children = codec_view_be(p + 1, 4);
            break;
        case 0xde:
            *skip = 3;
            *children = 2 * codec_view_be(p + 1, 2);
            break;
        case 0xdf:
            *skip = 5;
            *children = 2 * codec_view_be(p + 1, 4);
            break;
        default:
            *skip = 1;
            break; /* nil, false, true (0xc1: precheck) */
        }
    }
}

atp_err codec_view_root(const void *buf, size_t len, codec_view *out)
{
    atp_err err = codec_precheck(buf, len, ATP_MSG_MAX_DEPTH);
    if (err != ATP_OK)
        return err;
    out->p = buf;
    return ATP_OK;
}

codec_type codec_view_type(codec_view v)
{
    if (v.p == NULL)
        return CODEC_NIL;
    uint8_t t = v.p[0];
    if (t <= 0x7f || t >= 0xe0)
        return CODEC_INT;
    if (t <= 0x8f)
        return CODEC_MAP;
    if (t <= 0x9f)
        return CODEC_ARRAY;
    if (t <= 0xbf)
        return CODEC_STR;
    switch (t) {
    case 0xc2:
    case 0xc3:
        return CODEC_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return CODEC_BIN;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return CODEC_EXT;
    case 0xca:
    case 0xcb:
        return CODEC_FLOAT;
    case 0xcf:
        return v.p[1] & 0x80 ? CODEC_UINT_BIG : CODEC_INT;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return CODEC_INT;
    case 0xd9:
    case 0xda:
    case 0xdb:
        return CODEC_STR;
    case 0xdc:
    case 0xdd:
        return CODEC_ARRAY;
    case 0xde:
    case 0xdf:
        return CODEC_MAP;
    default:
        return CODEC_NIL;
    }
}

bool codec_view_int(codec_view v, int64_t *out)
{
    if (v.p == NULL)
        return false;
    const uint8_t *p = v.p;
    uint8_t t = p[0];
    if (t <= 0x7f) {
        *out = t;
    } else if (t >= 0xe0) {
        *out = (int8_t)t;
    } else {
        switch (t) {
        case 0xcc:
            *out = p[1];
            break;
        case 0xcd:
            *out = (int64_t)codec_view_be(p + 1, 2);
            break;
        case 0xce:
            *out = (int64_t)codec_view_be(p + 1, 4);
            break;
        case 0xcf:
            if (p[1] & 0x80)
                return false; /* above INT64_MAX */
            *out = (int64_t)codec_view_be(p + 1, 8);
            break;
        case 0xd0:
            *out = (int8_t)p[1];
            break;
        case 0xd1:
            *out = (int16_t)codec_view_be(p + 1, 2);
            break;
        case 0xd2:
            *out = (int32_t)codec_view_be(p + 1, 4);
            break;
        case 0xd3:
            *out = (int64_t)codec_view_be(p + 1, 8);
            break;
        default:
            return false;
        }
    }
    return true;
}

bool codec_view_uint(codec_view v, uint64_t *out)
{
    if (v.p != NULL && v.p[0] == 0xcf) {
        *out = codec_view_be(v.p + 1, 8);
        return true;
    }
    int64_t i;
    if (!codec_view_int(v, &i) || i < 0)
        return false;
    *out = (uint64_t)i;
    return true;
}

bool codec_view_str(codec_view v, codec_str *out)
{
    if (v.p == NULL)
        return false;
    const uint8_t *p = v.p;
    uint8_t t = p[0];
    unsigned hdr;
    if (t >= 0xa0 && t <= 0xbf) {
        out->len = t & 0x1fu;
        hdr = 1;
    } else if (t >= 0xd9 && t <= 0xdb) {
        unsigned n = 1u << (t - 0xd9); /* 1, 2 or 4 length bytes */
        out->len = (uint32_t)codec_view_be(p + 1, n);
        hdr = 1 + n;
    } else {
        return false;
    }
    out->ptr = (const char *)p + hdr;
    return true;
}

bool codec_view_bool(codec_view v, bool *out)
{
    if (v.p == NULL || (v.p[0] != 0xc2 && v.p[0] != 0xc3))
        return false;
    *out = v.p[0] == 0xc3;
    return true;
}

uint32_t codec_view_len(codec_view v)
{
    uint8_t t = v.p ? v.p[0] : 0xc0;
    if ((t >= 0x80 && t <= 0x9f) || (t >= 0xdc && t <= 0xdf)) {
        uint64_t skip, children;
        codec_view_head(v.p, &skip, &children);
        return (uint32_t)(t <= 0x8f || t >= 0xde ? children / 2 : children);
    }
    return 0;
}

codec_view codec_view_first(codec_view v)
{
    codec_view c = {NULL};
    if (codec_view_len(v) > 0) {
        uint64_t skip, children;
        codec_view_head(v.p, &skip, &children);
        c.p = v.p + skip;
    }
    return c;
}

codec_view codec_view_next(codec_view v)
{
    /* Iterative: objects still to pass over, no recursion, no stack. */
    const uint8_t *p = v.p;
    uint64_t left = 1;
    while (left > 0) {
        uint64_t skip, children;
        codec_view_head(p, &skip, &children);
        p += skip;
        left += children - 1;
    }
    return (codec_view){p};
}

codec_view codec_view_get(codec_view v, const char *key)
{
    codec_view absent = {NULL};
    if (codec_view_type(v) != CODEC_MAP)
        return absent;
    size_t kn = strlen(key);
    uint32_t n = codec_view_len(v);
    codec_view k = codec_view_first(v);
    for (uint32_t i = 0; i < n; i++) {
        codec_view val = codec_view_next(k);
        codec_str s;
        if (codec_view_str(k, &s) && s.len == kn && memcmp(s.ptr, key, kn) == 0)
            return val;
        if (i + 1 < n)
            k = codec_view_next(val);
    }
    return absent;
}
