/*
 * request_int.h - what the server's request files share (request.c,
 * request_resv.c). Not for other modules.
 */
#ifndef ATP_REQUEST_INT_H
#define ATP_REQUEST_INT_H

#include "server/reply.h"
#include "server/request.h"

/* The top-level fields of a request, found in one pass over its map by
 * request_fields_scan: the first occurrence of each key wins, other keys
 * are ignored, an absent field is an absent view (p == NULL). */
typedef struct request_fields {
    codec_view op, sku, region, channel, lines, id, ttl_ms, order_ref,
        cursor, limit;
} request_fields;

/* Field helpers: on failure they fill e and return false. */
int request_clip(codec_str s);
bool request_id(codec_view v, const char *what, uint32_t max, atp_err bad_code,
                codec_str *out, reply_error *e);
bool request_sku(codec_view v, codec_str *out, reply_error *e);
bool request_region(request_env *env, codec_view v, uint32_t *out,
                    reply_error *e);
bool request_channel(request_env *env, const request_fields *f, uint32_t *out,
                     reply_error *e);
void request_count_error(request_env *env);

/* request_resv_start validates a reservation request and hands it to the
 * engine. Returns true when submitted (the reply comes through
 * async->finish), false with e filled when the request is refused now. */
bool request_resv_start(request_env *env, engine_resv_op op,
                        const request_fields *f, codec_arena *a, codec_writer *w,
                        request_async *async, reply_error *e);

#endif
