/*
 * codec_int.h - internals shared by the codec's own files. Never included
 * outside src/codec/: it pulls in <msgpack.h>, which only the codec may see.
 */
#ifndef ATP_CODEC_INT_H
#define ATP_CODEC_INT_H

#include <msgpack.h>

#include "codec/codec.h"

/* An arena is a msgpack zone: decoded trees and codec_arena_malloc() share
 * it, so one clear frees a whole request. Owned by one thread at a time. */
struct codec_arena {
    msgpack_zone zone;
};

/* codec_val is msgpack_object under another name so that callers outside
 * the codec never see msgpack types. The struct is only ever used through
 * pointers converted from msgpack_object pointers (a pointer to a struct
 * and to its first member convert both ways), so arrays of msgpack_object
 * are arrays of codec_val too. */
struct codec_val {
    msgpack_object obj;
};

static inline const msgpack_object *codec__obj(const codec_val *v)
{
    return (const msgpack_object *)v;
}

static inline const codec_val *codec__val(const msgpack_object *o)
{
    return (const codec_val *)o;
}

/* codec__unpack prechecks buf (nesting at most max_depth) and unpacks it
 * into arena a as *out. Strings in *out point into buf. Returns ATP_OK,
 * the precheck's error, or ATP_E_NOMEM. */
atp_err codec__unpack(codec_arena *a, const void *buf, size_t len,
                      unsigned max_depth, msgpack_object *out);

/* codec__w_raw appends n bytes as they are, not as a msgpack object: the
 * topic in front of a message's msgpack body (feed_msg.c, resync_msg.c). */
void codec__w_raw(codec_writer *w, const void *data, size_t n);

/* codec__utf8_seq_len returns the length (1..4) of the well-formed UTF-8
 * sequence at p[0..n), or 0 if the bytes there are not one (overlong
 * forms, surrogates, code points above U+10FFFF, truncated sequences).
 * n must be >= 1. */
unsigned codec__utf8_seq_len(const uint8_t *p, size_t n);

#endif
