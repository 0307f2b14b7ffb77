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

/* codec_writer_write_cb is the msgpack_packer callback. */
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

void codec_w_nil(codec_writer *w)
{
    msgpack_pack_nil(&w->pk);
}

void codec_w_bool(codec_writer *w, bool b)
{
    if (b) {
        msgpack_pack_true(&w->pk);
    } else {
        msgpack_pack_false(&w->pk);
    }
}

void codec_w_int(codec_writer *w, int64_t i)
{
    msgpack_pack_int64(&w->pk, i);
}

void codec_w_uint(codec_writer *w, uint64_t u)
{
    msgpack_pack_uint64(&w->pk, u);
}

void codec_w_double(codec_writer *w, double d)
{
    msgpack_pack_double(&w->pk, d);
}

void codec_w_str(codec_writer *w, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = true; /* not representable in msgpack */
        return;
    }
    msgpack_pack_str(&w->pk, len);
    if (len > 0) {
        msgpack_pack_str_body(&w->pk, s, len);
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
    msgpack_pack_array(&w->pk, n);
}

void codec_w_map(codec_writer *w, uint32_t n)
{
    msgpack_pack_map(&w->pk, n);
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
