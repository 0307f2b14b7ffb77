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

static int codec_writer_buf_append(codec_writer *w, const char *data, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (n > w->cap - w->len) {
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
 * token itself and puts it at once: a reply is a long run of tiny tokens,
 * and going through msgpack_packer's callback for each one cost more than
 * the bytes. The forms are msgpack-c's (smallest integer form, str8 for
 * 32..255 bytes), so replies do not change; test_writer pins them. */
static void codec_writer_put(codec_writer *w, const void *data, size_t n)
{
    if (!w->failed && w->sink == NULL && n <= w->cap - w->len) {
        memcpy(w->buf + w->len, data, n);
        w->len += n;
        return;
    }
    (void)codec_writer_write_cb(w, data, n);
}

/* codec_writer_put_be puts type byte t followed by the n low bytes of v,
 * big endian. */
static void codec_writer_put_be(codec_writer *w, uint8_t t, uint64_t v,
                                unsigned n)
{
    uint8_t b[9];
    b[0] = t;
    for (unsigned i = 0; i < n; i++)
        b[n - i] = (uint8_t)(v >> (8 * i));
    codec_writer_put(w, b, 1 + n);
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
    if (u < 0x80) {
        uint8_t b = (uint8_t)u;
        codec_writer_put(w, &b, 1);
    } else if (u <= UINT8_MAX) {
        codec_writer_put_be(w, 0xcc, u, 1);
    } else if (u <= UINT16_MAX) {
        codec_writer_put_be(w, 0xcd, u, 2);
    } else if (u <= UINT32_MAX) {
        codec_writer_put_be(w, 0xce, u, 4);
    } else {
        codec_writer_put_be(w, 0xcf, u, 8);
    }
}

void codec_w_int(codec_writer *w, int64_t i)
{
    if (i >= 0) {
        codec_w_uint(w, (uint64_t)i);
    } else if (i >= -32) {
        uint8_t b = (uint8_t)i;
        codec_writer_put(w, &b, 1);
    } else if (i >= INT8_MIN) {
        codec_writer_put_be(w, 0xd0, (uint64_t)i, 1);
    } else if (i >= INT16_MIN) {
        codec_writer_put_be(w, 0xd1, (uint64_t)i, 2);
    } else if (i >= INT32_MIN) {
        codec_writer_put_be(w, 0xd2, (uint64_t)i, 4);
    } else {
        codec_writer_put_be(w, 0xd3, (uint64_t)i, 8);
    }
}

void codec_w_double(codec_writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    codec_writer_put_be(w, 0xcb, bits, 8);
}

void codec_w_str(codec_writer *w, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = true; /* not representable in msgpack */
        return;
    }
    if (len < 32) {
        uint8_t b = (uint8_t)(0xa0 | len);
        codec_writer_put(w, &b, 1);
    } else if (len <= UINT8_MAX) {
        codec_writer_put_be(w, 0xd9, len, 1);
    } else if (len <= UINT16_MAX) {
        codec_writer_put_be(w, 0xda, len, 2);
    } else {
        codec_writer_put_be(w, 0xdb, len, 4);
    }
    if (len > 0) {
        codec_writer_put(w, s, len);
    }
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
    if (n < 16) {
        uint8_t b = (uint8_t)(0x90 | n);
        codec_writer_put(w, &b, 1);
    } else if (n <= UINT16_MAX) {
        codec_writer_put_be(w, 0xdc, n, 2);
    } else {
        codec_writer_put_be(w, 0xdd, n, 4);
    }
}

void codec_w_map(codec_writer *w, uint32_t n)
{
    if (n < 16) {
        uint8_t b = (uint8_t)(0x80 | n);
        codec_writer_put(w, &b, 1);
    } else if (n <= UINT16_MAX) {
        codec_writer_put_be(w, 0xde, n, 2);
    } else {
        codec_writer_put_be(w, 0xdf, n, 4);
    }
}

void codec_w_kv_int(codec_writer *w, const char *key, int64_t i)
{
    codec_w_cstr(w, key);
    codec_w_int(w, i);
}

void codec_w_kv_uint(codec_writer *w, const char *key, uint64_t u)
{
    codec_w_cstr(w, key);
    codec_w_uint(w, u);
}

void codec_w_kv_bool(codec_writer *w, const char *key, bool b)
{
    codec_w_cstr(w, key);
    codec_w_bool(w, b);
}

void codec_w_kv_cstr(codec_writer *w, const char *key, const char *s)
{
    codec_w_cstr(w, key);
    codec_w_cstr(w, s);
}

void codec_w_kv_str(codec_writer *w, const char *key, const char *s, size_t n)
{
    codec_w_cstr(w, key);
    codec_w_str(w, s, n);
}

void codec_w_val(codec_writer *w, const codec_val *v)
{
    if (v == NULL) {
        codec_w_nil(w);
        return;
    }
    msgpack_pack_object(&w->pk, *codec__obj(v));
}
