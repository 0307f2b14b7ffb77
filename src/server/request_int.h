/*
 * request_int.h - what the server's request files share (request.c,
 * request_resv.c). Not for other modules.
 */
#ifndef ATP_REQUEST_INT_H
#define ATP_REQUEST_INT_H

#include "server/reply.h"
#include "server/request.h"

/* Field helpers: on failure they fill e and return false. */
int request_clip(codec_str s);
bool request_id(const codec_val *v, const char *what, uint32_t max,
                atp_err bad_code, codec_str *out, reply_error *e);
bool request_sku(const codec_val *v, codec_str *out, reply_error *e);
bool request_region(request_env *env, const codec_val *v, uint32_t *out,
                    reply_error *e);
bool request_channel(request_env *env, const codec_val *req, uint32_t *out,
                     reply_error *e);
void request_count_error(request_env *env);

/* request_resv_start validates a reservation request and hands it to the
 * engine. Returns true when submitted (the reply comes through
 * async->finish), false with e filled when the request is refused now. */
bool request_resv_start(request_env *env, engine_resv_op op,
                        const codec_val *req, codec_arena *a, codec_writer *w,
                        request_async *async, reply_error *e);

#endif
