/*
 * json_int.h - what the codec's two JSON writers share: json.c (a decoded
 * tree, codec_val_write_json) and json_msgpack.c (msgpack bytes read in
 * place, codec_json_from_msgpack). One set of rules for every value type,
 * written once here, so the two give the same bytes for the same value.
 * Never included outside src/codec/.
 */
#ifndef ATP_CODEC_JSON_INT_H
#define ATP_CODEC_JSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/codec.h"

/* A growable output buffer. failed: out of memory, the output is dropped
 * (every later write is a no-op). */
typedef struct codec_jbuf {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
} codec_jbuf;

/* codec__jbuf_grow makes room for n more bytes (amortised doubling), or
 * sets failed and returns false. */
bool codec__jbuf_grow(codec_jbuf *b, size_t n);

/* codec__jbuf_room returns where n more bytes may be written (the caller
 * then adds what it wrote to b->len), or NULL once b failed. */
static inline char *codec__jbuf_room(codec_jbuf *b, size_t n)
{
    if (b->failed || (n > b->cap - b->len && !codec__jbuf_grow(b, n)))
        return NULL;
    return b->p + b->len;
}

static inline void codec__jbuf_put(codec_jbuf *b, const char *s, size_t n)
{
    if (n == 0)
        return; /* s may be NULL (msgpack-c's empty strings) */
    char *d = codec__jbuf_room(b, n);
    if (d != NULL) {
        memcpy(d, s, n);
        b->len += n;
    }
}

/* codec__jbuf_sink is a codec_sink appending to the codec_jbuf ctx. */
int codec__jbuf_sink(void *ctx, const void *buf, size_t len);

/* codec__json_plain: whether byte c stands for itself inside a JSON string
 * (printable ASCII other than '"' and '\'); every other byte goes through
 * codec_json_str's rules. */
static inline bool codec__json_plain(uint8_t c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* The value writers: an integer in decimal (u: the magnitude, neg: a
 * leading minus, so INT64_MIN needs no special case), a string as
 * codec_json_str writes it, bin and ext payloads as base64 strings, a
 * double as %.17g (NaN and infinities as null). */
void codec__json_u64(codec_jbuf *b, uint64_t u, bool neg);
static inline void codec__json_i64(codec_jbuf *b, int64_t i)
{
    codec__json_u64(b, i < 0 ? 0 - (uint64_t)i : (uint64_t)i, i < 0);
}
void codec__json_string(codec_jbuf *b, const char *s, size_t n);
void codec__json_base64(codec_jbuf *b, const char *s, size_t n);
void codec__json_double(codec_jbuf *b, double d);

/* codec__json_key_text writes a map key that is not a string, bin or ext,
 * whose JSON text the caller wrote into key: that text as a JSON string
 * ({1: x} becomes {"1": x}). Frees key->p. */
void codec__json_key_text(codec_jbuf *b, codec_jbuf *key);

#endif
