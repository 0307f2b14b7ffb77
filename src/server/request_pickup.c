/*
 * request_pickup.c - ops "pickup" (one SKU) and "pickup_cart" (a cart in
 * one region): per location of the region, its stock on the shelf, its
 * pickup buffer and its pickup ATP (docs/PROTOCOL.md, "pickup"). The
 * engine reads every location at one instant on its own thread
 * (engine_pickup_submit); this file validates the request before that and
 * writes the reply after it, adding what the configuration knows (ids,
 * types, the pickup flag). Any thread (nng callback threads,
 * libmicrohttpd's), the reply on the engine thread.
 */
#include <string.h>

#include "common/clock.h"
#include "server/reply.h"
#include "server/request_int.h"

/* A validated pickup request, in the request's arena until the reply. */
typedef struct request_pickup {
    bool cart, only;
    uint32_t region, channel;
    request_line *lines; /* pickup_cart: the lines, merged totals set */
    engine_pickup_line *el;
    uint32_t n;
} request_pickup;

/* pickup_only: optional, a boolean (default false). */
static bool request_pickup_only(const request_fields *f, bool *out,
                                reply_error *e)
{
    *out = false;
    if (codec_view_type(f->pickup_only) == CODEC_NIL)
        return true;
    if (codec_view_bool(f->pickup_only, out))
        return true;
    reply_error_set(e, ATP_E_BAD_REQUEST,
                    "field 'pickup_only' must be true or false");
    return false;
}

static bool request_pickup_lines(request_env *env, const request_fields *f,
                                 codec_arena *a, request_pickup *p,
                                 reply_error *e)
{
    if (!request_region_lines(env, f, p->region, "pickup", a, &p->lines, &p->n,
                              e))
        return false;
    p->el = codec_arena_malloc(a, p->n * sizeof *p->el);
    if (p->el == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < p->n; i++)
        p->el[i] =
            (engine_pickup_line){p->lines[i].sku.ptr, p->lines[i].sku.len};
    return true;
}

/* The location's id, and its type and pickup flag in force (the engine's:
 * an admin change or a reload may have changed them since the start). */
static void request_pickup_loc_head(const config *cfg, const engine_pickup *x,
                                    uint32_t loc, codec_writer *w)
{
    codec_w_kv_cstr(w, "location", cfg->locations[loc].id);
    codec_w_kv_cstr(w, "type", x->info[loc].type);
    codec_w_kv_bool(w, "pickup", x->info[loc].pickup);
}

/* op pickup: the region's answer, then each location (pickup-enabled ones
 * only with pickup_only). */
static void request_pickup_write_sku(const request_env *env,
                                     const request_pickup *p,
                                     const engine_pickup *x, codec_writer *w)
{
    const config *cfg = env->cfg;
    uint32_t listed = 0;
    for (uint32_t k = 0; k < x->n_locs; k++)
        listed += !p->only || x->info[x->locations[k]].pickup;
    codec_w_map(w, REPLY_ANSWER_FIELDS(&x->answers[0]) + 2);
    codec_w_kv_bool(w, "ok", true);
    reply_answer_write(w, (codec_str){p->el[0].sku, p->el[0].sku_len},
                       cfg->regions[p->region].id, cfg->channels[p->channel],
                       &x->answers[0]);
    codec_w_cstr(w, "locations");
    codec_w_array(w, listed);
    for (uint32_t k = 0; k < x->n_locs; k++) {
        if (p->only && !x->info[x->locations[k]].pickup)
            continue;
        const engine_pickup_loc *l = &x->locs[k];
        codec_w_map(w, 11);
        request_pickup_loc_head(cfg, x, x->locations[k], w);
        codec_w_kv_int(w, "on_hand", l->on_hand);
        codec_w_kv_int(w, "allocated", l->allocated);
        codec_w_kv_int(w, "held", l->held);
        codec_w_kv_int(w, "inbound", l->inbound);
        codec_w_kv_int(w, "net", l->net);
        codec_w_kv_int(w, "reserved", l->reserved);
        codec_w_kv_int(w, "buffer", l->buffer);
        codec_w_kv_int(w, "pickup_atp", l->atp);
    }
}

/* Whether location k fills every line of the cart (merged totals). */
static bool request_pickup_fills(const request_pickup *p,
                                 const engine_pickup *x, uint32_t k)
{
    for (uint32_t i = 0; i < p->n; i++)
        if (p->lines[i].total > x->locs[(size_t)i * x->n_locs + k].atp)
            return false;
    return true;
}

/* One location of a pickup_cart: whether it fills the cart, then each
 * line there. */
static void request_pickup_write_cart_loc(const config *cfg,
                                          const request_pickup *p,
                                          const engine_pickup *x, uint32_t k,
                                          bool fills, codec_writer *w)
{
    codec_w_map(w, 5);
    request_pickup_loc_head(cfg, x, x->locations[k], w);
    codec_w_kv_bool(w, "fills", fills);
    codec_w_cstr(w, "lines");
    codec_w_array(w, p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        const engine_pickup_loc *l = &x->locs[(size_t)i * x->n_locs + k];
        codec_w_map(w, 7);
        codec_w_kv_str(w, "sku", p->lines[i].sku.ptr, p->lines[i].sku.len);
        codec_w_kv_int(w, "qty", p->lines[i].qty);
        codec_w_kv_int(w, "net", l->net);
        codec_w_kv_int(w, "reserved", l->reserved);
        codec_w_kv_int(w, "buffer", l->buffer);
        codec_w_kv_int(w, "pickup_atp", l->atp);
        codec_w_kv_bool(w, "available", p->lines[i].total <= l->atp);
    }
}

/* op pickup_cart: the region's answer per line (as cart), then each
 * location (with pickup_only: the pickup-enabled ones that fill it). */
static void request_pickup_write_cart(const request_env *env,
                                      const request_pickup *p,
                                      const engine_pickup *x, codec_writer *w)
{
    const config *cfg = env->cfg;
    const char *region = cfg->regions[p->region].id;
    const char *ch = cfg->channels[p->channel];
    uint32_t listed = 0;
    bool any = false;
    for (uint32_t k = 0; k < x->n_locs; k++) {
        bool fills = request_pickup_fills(p, x, k);
        any |= fills;
        listed += !p->only || fills; /* fills implies pickup-enabled */
    }
    codec_w_map(w, 6);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "region", region);
    codec_w_kv_cstr(w, "channel", ch);
    codec_w_kv_bool(w, "available", any);
    codec_w_cstr(w, "lines");
    codec_w_array(w, p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        codec_w_map(w, REPLY_ANSWER_FIELDS(&x->answers[i]) + 2);
        reply_answer_write(w, p->lines[i].sku, region, ch, &x->answers[i]);
        codec_w_kv_int(w, "qty", p->lines[i].qty);
        codec_w_kv_bool(w, "available", p->lines[i].total <= x->answers[i].atp);
    }
    codec_w_cstr(w, "locations");
    codec_w_array(w, listed);
    for (uint32_t k = 0; k < x->n_locs; k++) {
        bool fills = request_pickup_fills(p, x, k);
        if (!p->only || fills)
            request_pickup_write_cart_loc(cfg, p, x, k, fills, w);
    }
}

/* The engine's answer (engine thread, or engine_stop's drain). */
static void request_pickup_done(void *arg, const engine_pickup *x)
{
    request_async *as = arg;
    const request_pickup *p = as->pickup;
    const config *cfg = as->env->cfg;
    if (x->err != ATP_OK) {
        reply_error e = {.line = -1};
        if (x->err == ATP_E_BUSY)
            request_busy(&e, ATP_E_BAD_STATE);
        else if (x->err == ATP_E_TOO_MANY_LINES)
            reply_error_set(&e, x->err,
                            "%u lines x %u locations of region '%s': at most "
                            "%d (line, location) pairs; split the cart",
                            p->n, x->n_locs, cfg->regions[p->region].id,
                            ENGINE_PICKUP_CELLS_MAX);
        else
            reply_error_set(&e, x->err, "pickup: %s", atp_err_message(x->err));
        request_count_error(as->env, as, e.code);
        reply_error_write(as->w, &e);
    } else if (p->cart) {
        request_pickup_write_cart(as->env, p, x, as->w);
    } else {
        request_pickup_write_sku(as->env, p, x, as->w);
    }
    as->finish(as->owner);
}

bool request_pickup_start(request_env *env, const request_fields *f, bool cart,
                          codec_arena *a, codec_writer *w, request_async *async,
                          reply_error *e)
{
    request_pickup *p = codec_arena_malloc(a, sizeof *p);
    if (p == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    memset(p, 0, sizeof *p);
    p->cart = cart;
    if (!request_region(env, f->region, &p->region, e) ||
        !request_channel(env, f, &p->channel, e) ||
        !request_pickup_only(f, &p->only, e))
        return false;
    if (cart) {
        if (!request_pickup_lines(env, f, a, p, e))
            return false;
    } else {
        p->el = codec_arena_malloc(a, sizeof *p->el);
        if (p->el == NULL) {
            reply_error_set(e, ATP_E_NOMEM, "out of memory");
            return false;
        }
        codec_str sku;
        if (!request_sku(f->sku, &sku, e))
            return false;
        p->el[0] = (engine_pickup_line){sku.ptr, sku.len};
        p->n = 1;
    }
    async->env = env;
    async->w = w;
    async->pickup = p;
    async->started_ms = clock_mono_ms();
    atp_err err = engine_pickup_submit(env->eng, p->region, p->channel, p->el,
                                       p->n, request_pickup_done, async);
    return request_submitted(err, "pickup", e);
}
