/*
 * writer.c - codec_writer: msgpack encoding into a sink or into an internal
 * growable buffer. A writer belongs to one thread at a time.
 *
 * Errors are sticky instead of returned by every codec_w_* call: encoding a
 * reply is a long run of small writes, and checking once at the end
 * (codec_writer_failed) keeps callers readable. After the first failure the
 * writer drops everything until it is reset or retargeted, so a sink never
 * receives a message with a hole in the middle.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"

#define CODEC_WRITER_INIT_CAP 256

struct codec_writer {
    msgpack_packer pk;
    codec_sink sink; /* NULL: append to buf */
    void *ctx;
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

/* codec_writer_grow makes room for n more bytes in the buffer (amortised
 * doubling); -1 on out of memory. */
static int codec_writer_grow(codec_writer *w, size_t n)
{
    size_t cap = w->cap ? w->cap : CODEC_WRITER_INIT_CAP;
    while (n > cap - w->len) {
        if (cap > SIZE_MAX / 2) {
            return -1;
        }
        cap *= 2;
    }
    char *nb = realloc(w->buf, cap);
    if (nb == NULL) {
        return -1;
    }
    w->buf = nb;
    w->cap = cap;
    return 0;
}

static int codec_writer_buf_append(codec_writer *w, const char *data, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (n > w->cap - w->len && codec_writer_grow(w, n) != 0) {
        return -1;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    return 0;
}

/* codec_writer_write_cb appends to the sink or the buffer: the
 * msgpack_packer callback (codec_w_val) and codec_writer_put's slow path. */
static int codec_writer_write_cb(void *data, const char *buf, size_t len)
{
    codec_writer *w = data;
    if (w->failed) {
        return -1;
    }
    int rc = w->sink ? w->sink(w->ctx, buf, len)
                     : codec_writer_buf_append(w, buf, len);
    if (rc != 0) {
        w->failed = true;
        return -1;
    }
    return 0;
}

codec_writer *codec_writer_alloc(codec_sink sink, void *ctx)
{
    codec_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->sink = sink;
    w->ctx = ctx;
    msgpack_packer_init(&w->pk, w, codec_writer_write_cb);
    return w;
}

void codec_writer_free(codec_writer *w)
{
    if (w == NULL) {
        return;
    }
    free(w->buf);
    free(w);
}

void codec_writer_reset(codec_writer *w)
{
    w->len = 0;
    w->failed = false;
}

void codec_writer_retarget(codec_writer *w, void *ctx)
{
    w->ctx = ctx;
    w->failed = false;
}

const void *codec_writer_data(const codec_writer *w, size_t *len)
{
    if (w->sink != NULL) {
        *len = 0;
        return NULL;
    }
    *len = w->len;
    return w->buf;
}

bool codec_writer_failed(const codec_writer *w)
{
    return w->failed;
}

/* codec_writer_put appends n bytes. Every codec_w_* call below encodes its
 * token into a few bytes on the stack and puts them at once (key/value
 * pairs go straight into the buffer): a reply is a long run of tiny
 * tokens, and going through msgpack_packer's callback for each one cost
 * more than the bytes. The forms are msgpack-c's (smallest integer form, str8
 * for 32..255 bytes), so replies do not change; test_writer pins them. */
static void codec_writer_put(codec_writer *w, const void *data, size_t n)
{
    if (!w->failed && w->sink == NULL && n <= w->cap - w->len) {
        memcpy(w->buf + w->len, data, n);
        w->len += n;
        return;
    }
    (void)codec_writer_write_cb(w, data, n);
}

void codec__w_raw(codec_writer *w, const void *data, size_t n)
{
    codec_writer_put(w, data, n);
}

/* ---- token encoders: into b (room for 9 bytes), return the length ---- */

static size_t codec_enc_be(uint8_t *b, uint8_t t, uint64_t v, unsigned n)
{
    b[0] = t;
    for (unsigned i = 0; i < n; i++)
        b[n - i] = (uint8_t)(v >> (8 * i));
    return 1 + n;
}

static size_t codec_enc_uint(uint8_t *b, uint64_t u)
{
    if (u < 0x80) {
        b[0] = (uint8_t)u;
        return 1;
    }
    if (u <= UINT8_MAX)
        return codec_enc_be(b, 0xcc, u, 1);
    if (u <= UINT16_MAX)
        return codec_enc_be(b, 0xcd, u, 2);
    if (u <= UINT32_MAX)
        return codec_enc_be(b, 0xce, u, 4);
    return codec_enc_be(b, 0xcf, u, 8);
}

static size_t codec_enc_int(uint8_t *b, int64_t i)
{
    if (i >= 0)
        return codec_enc_uint(b, (uint64_t)i);
    if (i >= -32) {
        b[0] = (uint8_t)i;
        return 1;
    }
    if (i >= INT8_MIN)
        return codec_enc_be(b, 0xd0, (uint64_t)i, 1);
    if (i >= INT16_MIN)
        return codec_enc_be(b, 0xd1, (uint64_t)i, 2);
    if (i >= INT32_MIN)
        return codec_enc_be(b, 0xd2, (uint64_t)i, 4);
    return codec_enc_be(b, 0xd3, (uint64_t)i, 8);
}

/* len must be <= UINT32_MAX */
static size_t codec_enc_str_hdr(uint8_t *b, size_t len)
{
    if (len < 32) {
        b[0] = (uint8_t)(0xa0 | len);
        return 1;
    }
    if (len <= UINT8_MAX)
        return codec_enc_be(b, 0xd9, len, 1);
    if (len <= UINT16_MAX)
        return codec_enc_be(b, 0xda, len, 2);
    return codec_enc_be(b, 0xdb, len, 4);
}

static size_t codec_enc_container(uint8_t *b, uint8_t fix, uint8_t t16,
                                  uint32_t n)
{
    if (n < 16) {
        b[0] = (uint8_t)(fix | n);
        return 1;
    }
    if (n <= UINT16_MAX)
        return codec_enc_be(b, t16, n, 2);
    return codec_enc_be(b, (uint8_t)(t16 + 1), n, 4);
}

void codec_w_nil(codec_writer *w)
{
    codec_writer_put(w, "\xc0", 1);
}

void codec_w_bool(codec_writer *w, bool b)
{
    codec_writer_put(w, b ? "\xc3" : "\xc2", 1);
}

void codec_w_uint(codec_writer *w, uint64_t u)
{
    uint8_t b[9];
    codec_writer_put(w, b, codec_enc_uint(b, u));
}

void codec_w_int(codec_writer *w, int64_t i)
{
    uint8_t b[9];
    codec_writer_put(w, b, codec_enc_int(b, i));
}

void codec_w_double(codec_writer *w, double d)
{
    uint64_t bits;
    uint8_t b[9];
    memcpy(&bits, &d, sizeof bits);
    codec_writer_put(w, b, codec_enc_be(b, 0xcb, bits, 8));
}

void codec_w_str(codec_writer *w, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = true; /* not representable in msgpack */
        return;
    }
    uint8_t b[9];
    codec_writer_put(w, b, codec_enc_str_hdr(b, len));
    if (len > 0) {
        codec_writer_put(w, s, len);
    }
}

void codec_w_bin8(codec_writer *w, const void *p, uint8_t n)
{
    uint8_t b[2] = {0xc4, n};
    codec_writer_put(w, b, sizeof b);
    if (n > 0)
        codec_writer_put(w, p, n);
}

void codec_w_cstr(codec_writer *w, const char *s)
{
    if (s == NULL) {
        codec_w_nil(w);
        return;
    }
    codec_w_str(w, s, strlen(s));
}

void codec_w_array(codec_writer *w, uint32_t n)
{
    uint8_t b[9];
    codec_writer_put(w, b, codec_enc_container(b, 0x90, 0xdc, n));
}

void codec_w_map(codec_writer *w, uint32_t n)
{
    uint8_t b[9];
    codec_writer_put(w, b, codec_enc_container(b, 0x80, 0xde, n));
}

/* codec_w_key_room writes the key key[0..kn) straight into the buffer and
 * returns where its value goes, with room for a 9-byte value token; the
 * caller encodes the value there and ends with codec_w_key_done. NULL
 * (sink writers, failed writers, keys of 32 bytes and more, out of
 * memory): write key and value token by token instead, which also reports
 * the failure. Replies are mostly such pairs. */
static uint8_t *codec_w_key_room(codec_writer *w, const char *key, size_t kn)
{
    if (kn >= 32 || w->failed || w->sink != NULL ||
        (1 + kn + 9 > w->cap - w->len &&
         codec_writer_grow(w, 1 + kn + 9) != 0)) {
        return NULL;
    }
    uint8_t *p = (uint8_t *)w->buf + w->len;
    p[0] = (uint8_t)(0xa0 | kn);
    memcpy(p + 1, key, kn);
    return p + 1 + kn;
}

static void codec_w_key_done(codec_writer *w, const uint8_t *end)
{
    w->len = (size_t)((const char *)end - w->buf);
}

void codec_w_kvn_int(codec_writer *w, const char *key, size_t kn, int64_t i)
{
    uint8_t *p = codec_w_key_room(w, key, kn);
    if (p == NULL) {
        codec_w_str(w, key, kn);
        codec_w_int(w, i);
        return;
    }
    codec_w_key_done(w, p + codec_enc_int(p, i));
}

void codec_w_kvn_uint(codec_writer *w, const char *key, size_t kn, uint64_t u)
{
    uint8_t *p = codec_w_key_room(w, key, kn);
    if (p == NULL) {
        codec_w_str(w, key, kn);
        codec_w_uint(w, u);
        return;
    }
    codec_w_key_done(w, p + codec_enc_uint(p, u));
}

void codec_w_kvn_bool(codec_writer *w, const char *key, size_t kn, bool b)
{
    uint8_t *p = codec_w_key_room(w, key, kn);
    if (p == NULL) {
        codec_w_str(w, key, kn);
        codec_w_bool(w, b);
        return;
    }
    *p = b ? 0xc3 : 0xc2;
    codec_w_key_done(w, p + 1);
}

void codec_w_kvn_str(codec_writer *w, const char *key, size_t kn, const char *s,
                     size_t n)
{
    uint8_t *p = n <= UINT32_MAX ? codec_w_key_room(w, key, kn) : NULL;
    if (p == NULL) {
        codec_w_str(w, key, kn);
        codec_w_str(w, s, n);
        return;
    }
    codec_w_key_done(w, p + codec_enc_str_hdr(p, n));
    if (n > 0) {
        codec_writer_put(w, s, n);
    }
}

void codec_w_val(codec_writer *w, const codec_val *v)
{
    if (v == NULL) {
        codec_w_nil(w);
        return;
    }
    msgpack_pack_object(&w->pk, *codec__obj(v));
}
