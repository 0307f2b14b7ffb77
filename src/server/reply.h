/*
 * reply.h - writing reply maps (docs/PROTOCOL.md, "Queries"). Any thread;
 * each caller brings its own writer.
 */
#ifndef ATP_REPLY_H
#define ATP_REPLY_H

#include <stdint.h>

#include "codec/codec.h"
#include "engine/engine.h"

/* A failed request: code, a message naming the culprit, and for carts the
 * index of the offending line (-1: none). */
typedef struct reply_error {
    atp_err code;
    int64_t line;
    char message[1024]; /* room for a list of the valid values */
} reply_error;

/* reply_error_set fills e with code and a printf-style message. */
void reply_error_set(reply_error *e, atp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* reply_error_write writes {"ok": false, "error": {...}}. */
void reply_error_write(codec_writer *w, const reply_error *e);

/* The number of key/value pairs reply_answer_write writes for answer a:
 * 10, and the 3 of a backorder budget when the row has one. */
#define REPLY_ANSWER_FIELDS(a)                                                 \
    (10u + ((a)->backorder_budget > 0 ? 3u : 0u) +                             \
     ((a)->limiting != NULL ? 1u : 0u))

/* reply_answer_write writes the ATP answer's pairs (sku, region, channel,
 * atp, supply, reserved, buffer, rule, shortfall, stale; backorder_budget,
 * backorder_used, backorder_left when the row has a budget; limiting for
 * a bundle) into an open map. */
void reply_answer_write(codec_writer *w, codec_str sku, const char *region,
                        const char *channel, const engine_answer *a);

#endif
