/*
 * feed_sign.h - a source message as a publisher sends it: encoded and, for
 * a source with a key, signed (docs/PROTOCOL.md, "Source keys": the MAC
 * covers every byte before it). Shared by atp-feed and atp-import. Any
 * thread (the writer is the caller's).
 */
#ifndef ATP_FEED_SIGN_H
#define ATP_FEED_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

/* feed_sign_encode resets w and writes m (its session as given), followed
 * by the MAC of key[0..key_len) when key_len > 0. Returns the bytes (valid
 * until w changes) and *len, or NULL when w failed. */
const void *feed_sign_encode(codec_writer *w, const codec_src_msg *m,
                             const uint8_t *key, size_t key_len, size_t *len);

#endif
