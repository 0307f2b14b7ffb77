/*
 * request.c - decoding a request: the tables of names the decoders look
 * ids up in (request_env), the field helpers that validate one field each,
 * and the scan of a request map into its fields. The dispatch is in
 * request_dispatch.c, the ops in request_query.c, request_status.c,
 * request_admin.c, request_cart.c, request_resv.c, request_explain.c,
 * request_pickup.c, request_health.c. Any thread (nng callback threads,
 * libmicrohttpd's).
 *
 * Every handler validates its whole request before writing a byte of the
 * reply, so a failing request gets exactly one error reply and no partial
 * result.
 */
#include "server/request.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "server/reply.h"
#include "server/request_int.h"

/* The longest list of valid ids an error message carries. */
#define REQUEST_LIST_MAX 768

atp_err request_env_init(request_env *env, const config *cfg, engine *eng,
                         sources *src, ingest *in, changes *chg)
{
    memset(env, 0, sizeof *env);
    env->cfg = cfg;
    env->eng = eng;
    env->src = src;
    env->in = in;
    env->chg = chg;
    env->started_ms = clock_mono_ms();
    if (auth_alloc(&cfg->auth, &env->auth) != ATP_OK)
        return ATP_E_NOMEM;
    /* Rounded up to whole cache lines, as aligned_alloc wants. */
    size_t msize = (sizeof *env->metrics + 63) / 64 * 64;
    env->metrics = aligned_alloc(64, msize);
    if (env->metrics == NULL)
        return ATP_E_NOMEM;
    memset(env->metrics, 0, msize);
    return ATP_OK;
}

void request_env_fini(request_env *env)
{
    free(env->metrics);
    env->metrics = NULL;
    auth_free(env->auth);
    env->auth = NULL;
}

/* ---- field helpers ------------------------------------------------------ */

int request_clip(codec_str s)
{
    return s.len > 64 ? 64 : (int)s.len;
}

/* A string field that must be an id (1..max printable bytes). */
bool request_id(codec_view v, const char *what, uint32_t max, atp_err bad_code,
                codec_str *out, reply_error *e)
{
    if (v.p == NULL) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "missing field '%s'", what);
        return false;
    }
    if (!codec_view_str(v, out)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "field '%s' must be a string",
                        what);
        return false;
    }
    if (!codec_str_is_id(*out, max)) {
        reply_error_set(e, bad_code,
                        "%s must be 1..%u bytes of printable UTF-8", what, max);
        return false;
    }
    return true;
}

bool request_sku(codec_view v, codec_str *out, reply_error *e)
{
    return request_id(v, "sku", ATP_SKU_MAX_LEN, ATP_E_BAD_SKU, out, e);
}

bool request_region(request_env *env, codec_view v, uint32_t *out,
                    reply_error *e)
{
    codec_str s;
    if (!request_id(v, "region", ATP_ID_MAX_LEN, ATP_E_UNKNOWN_REGION, &s, e))
        return false;
    int64_t r = config_region_find(env->cfg, s.ptr, s.len);
    if (r < 0) {
        /* built here: regions are added at run time (an error path) */
        char list[REQUEST_LIST_MAX];
        config_region_list(env->cfg, list, sizeof list);
        reply_error_set(e, ATP_E_UNKNOWN_REGION,
                        "unknown region '%.*s'; regions: %s", request_clip(s),
                        s.ptr, list);
        return false;
    }
    *out = (uint32_t)r;
    return true;
}

bool request_qty(codec_view v, int64_t *out, reply_error *e)
{
    codec_type t = codec_view_type(v);
    if (t != CODEC_INT && t != CODEC_UINT_BIG) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "qty must be an integer");
        return false;
    }
    if (t == CODEC_UINT_BIG || !codec_view_int(v, out) || *out < 1 ||
        *out > ATP_QTY_MAX) {
        reply_error_set(e, ATP_E_BAD_QTY, "qty must be 1..%lld",
                        (long long)ATP_QTY_MAX);
        return false;
    }
    return true;
}

/* The channel is optional: absent means the default channel. */
bool request_channel(request_env *env, const request_fields *f, uint32_t *out,
                     reply_error *e)
{
    codec_view v = f->channel;
    if (codec_view_type(v) == CODEC_NIL) {
        *out = 0;
        return true;
    }
    codec_str s;
    if (!request_id(v, "channel", ATP_ID_MAX_LEN, ATP_E_UNKNOWN_CHANNEL, &s, e))
        return false;
    int64_t c = config_channel_find(env->cfg, s.ptr, s.len);
    if (c < 0) {
        /* built here: channels are added at run time (an error path) */
        char list[REQUEST_LIST_MAX];
        config_channel_list(env->cfg, list, sizeof list);
        reply_error_set(e, ATP_E_UNKNOWN_CHANNEL,
                        "unknown channel '%.*s'; channels: %s", request_clip(s),
                        s.ptr, list);
        return false;
    }
    *out = (uint32_t)c;
    return true;
}

/* request_fields_scan walks the request map once and keeps the first
 * value of every key a handler reads (string keys only, as codec_val_get
 * matches them). Returns whether the field 'op' is a string, in *op. */
bool request_fields_scan(codec_view map, request_fields *f, codec_str *op)
{
#define REQUEST_KEY(name)                                                      \
    {                                                                          \
#name, sizeof #name - 1, offsetof(request_fields, name)                \
    }
    static const struct {
        const char *name;
        uint32_t len;
        size_t off;
    } keys[] = {
        REQUEST_KEY(op),      REQUEST_KEY(sku),       REQUEST_KEY(region),
        REQUEST_KEY(channel), REQUEST_KEY(lines),     REQUEST_KEY(id),
        REQUEST_KEY(ttl_ms),  REQUEST_KEY(order_ref), REQUEST_KEY(cursor),
        REQUEST_KEY(limit),   REQUEST_KEY(dir),       REQUEST_KEY(sources),
        REQUEST_KEY(source),  REQUEST_KEY(token),     REQUEST_KEY(pickup_only),
        REQUEST_KEY(partial), REQUEST_KEY(backorder), REQUEST_KEY(promise_ms),
    };
#undef REQUEST_KEY
    memset(f, 0, sizeof *f);
    f->root = map;
    uint32_t n = codec_view_len(map);
    codec_view k = codec_view_first(map);
    for (uint32_t i = 0; i < n; i++) {
        codec_view v = codec_view_next(k);
        codec_str s;
        if (codec_view_str(k, &s)) {
            for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
                codec_view *slot = (codec_view *)((char *)f + keys[j].off);
                if (s.len == keys[j].len &&
                    memcmp(s.ptr, keys[j].name, s.len) == 0) {
                    if (slot->p == NULL)
                        *slot = v;
                    break;
                }
            }
        }
        if (i + 1 < n)
            k = codec_view_next(v);
    }
    return codec_view_str(f->op, op);
}
