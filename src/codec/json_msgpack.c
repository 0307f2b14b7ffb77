/*
 * json_msgpack.c - codec_json_from_msgpack: msgpack bytes (atpd's replies
 * and change-feed events, on their way to an HTTP client) written as JSON
 * by reading them in place: no msgpack-c unpack, no tree. Any thread; it
 * allocates only the output.
 *
 * Unpacking a reply into a tree in a zone and then walking the tree cost an
 * HTTP cart more than its own work (docs/PERFORMANCE.md, issue 13). The
 * bytes are atpd's own, but the walk trusts none of them: every read is
 * bounds-checked, and nesting is bounded by ATP_MSG_MAX_DEPTH (so is the
 * recursion). It fails where codec_precheck fails, with the same code, in
 * the same order (a truncated header, 0xc1 or trailing bytes:
 * BAD_REQUEST; a declared length or count beyond the input, or nesting
 * too deep: TOO_LARGE), and writes what codec_val_write_json writes for
 * the decoded tree: the value writers are json.c's (json_int.h). The unit
 * test test_json_msgpack.c and the fuzz target source_msg compare the two.
 */
#include <stdlib.h>

#include "codec/json_int.h"
#include "common/assert.h"

/* The unread bytes. */
typedef struct codec_jw {
    const uint8_t *p;
    const uint8_t *end;
} codec_jw;

static uint64_t codec_jw_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* codec_jw_head takes the n header bytes that follow a type byte (length
 * fields, ext types, scalars): their start, or NULL when the input ends
 * first (codec_precheck: BAD_REQUEST). */
static const uint8_t *codec_jw_head(codec_jw *r, size_t n)
{
    if (n > (size_t)(r->end - r->p))
        return NULL;
    const uint8_t *h = r->p;
    r->p += n;
    return h;
}

/* codec_jw_body takes a payload of n declared bytes (codec_precheck:
 * TOO_LARGE when the input is shorter). */
static atp_err codec_jw_body(codec_jw *r, uint64_t n, const char **out)
{
    if (n > (uint64_t)(r->end - r->p))
        return ATP_E_TOO_LARGE;
    *out = (const char *)r->p;
    r->p += n;
    return ATP_OK;
}

static atp_err codec_jw_str(codec_jw *r, codec_jbuf *b, uint64_t n, bool str)
{
    const char *s;
    atp_err err = codec_jw_body(r, n, &s);
    if (err != ATP_OK)
        return err;
    if (str)
        codec__json_string(b, s, (size_t)n);
    else
        codec__json_base64(b, s, (size_t)n); /* bin, ext */
    return ATP_OK;
}

static atp_err codec_jw_value(codec_jw *r, codec_jbuf *b, unsigned depth);

/* codec_jw_stringish: whether type byte t starts a str, bin or ext, whose
 * JSON is a string already, so it is a map key as it is. */
static bool codec_jw_stringish(uint8_t t)
{
    return (t >= 0xa0 && t <= 0xbf) || (t >= 0xc4 && t <= 0xc9) ||
           (t >= 0xd4 && t <= 0xdb);
}

/* codec_jw_key writes a map key; any other type than codec_jw_stringish
 * as its JSON text in a string ({1: x} becomes {"1": x}). */
static atp_err codec_jw_key(codec_jw *r, codec_jbuf *b, unsigned depth)
{
    if (r->p < r->end && codec_jw_stringish(*r->p))
        return codec_jw_value(r, b, depth);
    codec_jbuf key = {0};
    atp_err err = codec_jw_value(r, &key, depth);
    if (err != ATP_OK) {
        free(key.p);
        return err;
    }
    codec__json_key_text(b, &key);
    return ATP_OK;
}

/* codec_jw_container writes an array (or a map) of n members, whose header
 * was read; depth counts the containers around it. */
static atp_err codec_jw_container(codec_jw *r, codec_jbuf *b, uint64_t n,
                                  bool map, unsigned depth)
{
    if (depth >= ATP_MSG_MAX_DEPTH)
        return ATP_E_TOO_LARGE;
    /* every member is at least one byte: a count beyond the input fails
     * before the walk starts on it, as in codec_precheck */
    if ((map ? 2 * n : n) > (uint64_t)(r->end - r->p))
        return ATP_E_TOO_LARGE;
    codec__jbuf_put(b, map ? "{" : "[", 1);
    for (uint64_t i = 0; i < n; i++) {
        if (i > 0)
            codec__jbuf_put(b, ",", 1);
        atp_err err;
        if (map) {
            err = codec_jw_key(r, b, depth + 1);
            if (err != ATP_OK)
                return err;
            codec__jbuf_put(b, ":", 1);
        }
        err = codec_jw_value(r, b, depth + 1);
        if (err != ATP_OK)
            return err;
    }
    codec__jbuf_put(b, map ? "}" : "]", 1);
    return ATP_OK;
}

/* codec_jw_scalar writes the number of type t (0xca..0xd3) whose n bytes
 * are at h, as msgpack-c reads it: float32 widened to a double, every
 * integer by its value (a non-negative intN prints as a uint). */
static void codec_jw_scalar(codec_jbuf *b, uint8_t t, const uint8_t *h,
                            unsigned n)
{
    uint64_t v = codec_jw_be(h, n);
    if (t == 0xca) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof f);
        codec__json_double(b, f);
    } else if (t == 0xcb) {
        double d;
        memcpy(&d, &v, sizeof d);
        codec__json_double(b, d);
    } else if (t <= 0xcf) {
        codec__json_u64(b, v, false);
    } else { /* 0xd0..0xd3: sign-extended from n bytes */
        unsigned shift = 64 - 8 * n;
        codec__json_i64(b, (int64_t)(v << shift) >> shift);
    }
}

/* codec_jw_sized handles the types 0xc4..0xdf, which have bytes after the
 * type byte before any payload or member; lb: how many (a length field, a
 * scalar, or a fixext's type and data; an ext's type comes on top). */
static atp_err codec_jw_sized(codec_jw *r, codec_jbuf *b, uint8_t t,
                              unsigned depth)
{
    static const uint8_t lb[32] = {
        [0x04] = 1,  [0x05] = 2, [0x06] = 4,             /* bin */
        [0x07] = 1,  [0x08] = 2, [0x09] = 4,             /* ext */
        [0x0a] = 4,  [0x0b] = 8,                         /* float */
        [0x0c] = 1,  [0x0d] = 2, [0x0e] = 4, [0x0f] = 8, /* uint */
        [0x10] = 1,  [0x11] = 2, [0x12] = 4, [0x13] = 8, /* int */
        [0x14] = 2,  [0x15] = 3, [0x16] = 5, [0x17] = 9,
        [0x18] = 17,                                     /* fixext */
        [0x19] = 1,  [0x1a] = 2, [0x1b] = 4,             /* str */
        [0x1c] = 2,  [0x1d] = 4, [0x1e] = 2, [0x1f] = 4, /* array, map */
    };
    ATP_ASSERT(t >= 0xc4 && t <= 0xdf); /* codec_jw_value took the rest */
    unsigned n = lb[t - 0xc0];
    bool ext = t >= 0xc7 && t <= 0xc9;
    const uint8_t *h = codec_jw_head(r, n + ext); /* ext: + its type */
    if (h == NULL)
        return ATP_E_BAD_REQUEST;
    if (t >= 0xca && t <= 0xd3) {
        codec_jw_scalar(b, t, h, n);
        return ATP_OK;
    }
    if (t >= 0xd4 && t <= 0xd8) { /* fixext: its type, then n - 1 bytes */
        codec__json_base64(b, (const char *)h + 1, n - 1u);
        return ATP_OK;
    }
    uint64_t len = codec_jw_be(h, n);
    if (t >= 0xdc)
        return codec_jw_container(r, b, len, t >= 0xde, depth);
    return codec_jw_str(r, b, len, t >= 0xd9);
}

/* codec_jw_value writes the object at r->p; depth counts the containers
 * around it (the root is at 0). */
static atp_err codec_jw_value(codec_jw *r, codec_jbuf *b, unsigned depth)
{
    if (r->p == r->end)
        return ATP_E_BAD_REQUEST; /* truncated: an object is missing */
    uint8_t t = *r->p++;
    if (t <= 0x7f) {
        codec__json_u64(b, t, false);
    } else if (t >= 0xe0) {
        codec__json_i64(b, (int8_t)t);
    } else if (t <= 0x9f) {
        return codec_jw_container(r, b, t & 0x0fu, t <= 0x8f, depth);
    } else if (t <= 0xbf) {
        return codec_jw_str(r, b, t & 0x1fu, true);
    } else if (t == 0xc0) {
        codec__jbuf_put(b, "null", 4);
    } else if (t == 0xc2 || t == 0xc3) {
        codec__jbuf_put(b, t == 0xc3 ? "true" : "false", t == 0xc3 ? 4 : 5);
    } else if (t == 0xc1) {
        return ATP_E_BAD_REQUEST; /* "never used" in the msgpack spec */
    } else {
        return codec_jw_sized(r, b, t, depth);
    }
    return ATP_OK;
}

atp_err codec_json_from_msgpack(const void *buf, size_t len, char **out,
                                size_t *out_len)
{
    if (buf == NULL || len == 0)
        return ATP_E_BAD_REQUEST;
    /* JSON of a reply is about twice its msgpack: one allocation, mostly. */
    codec_jbuf b = {.cap = len < SIZE_MAX / 4 ? len * 2 + 64 : len};
    b.p = malloc(b.cap);
    b.failed = b.p == NULL;
    codec_jw r = {buf, (const uint8_t *)buf + len};
    atp_err err = codec_jw_value(&r, &b, 0);
    if (err == ATP_OK && r.p != r.end)
        err = ATP_E_BAD_REQUEST; /* trailing bytes: not one object */
    if (err == ATP_OK && b.failed)
        err = ATP_E_NOMEM;
    if (err != ATP_OK) {
        free(b.p);
        return err;
    }
    *out = b.p;
    *out_len = b.len;
    return ATP_OK;
}
