/*
 * request_promise.c - ops "promise" (one SKU) and "promise_cart" (a cart's
 * earliest complete date) of docs/PROTOCOL.md, "Time-phased promises".
 * The engine reads each SKU's lots and dated reservations on its own
 * thread (engine_promise_submit); this file validates the request before
 * that and writes the reply after it. Any thread (nng callback threads,
 * libmicrohttpd's), the reply on the engine thread.
 */
#include <string.h>

#include "atp/wire.h"
#include "common/clock.h"
#include "server/reply.h"
#include "server/request_int.h"

/* A validated promise request, in the request's arena until the reply. */
typedef struct request_promise {
    bool cart;
    uint32_t region, channel;
    int64_t date_ms; /* the date asked (0 when none: now) */
    bool date_given;
    request_line *lines; /* promise_cart: the lines, merged totals set */
    engine_promise_line *el;
    uint32_t n;
} request_promise;

/* An optional integer field: 0..ATP_WIRE_INT_MAX, nil or absent: *out 0,
 * *given false. */
static bool request_promise_int(codec_view v, const char *name, int64_t *out,
                                bool *given, reply_error *e)
{
    *out = 0;
    *given = v.p != NULL && codec_view_type(v) != CODEC_NIL;
    if (!*given)
        return true;
    uint64_t u;
    if (codec_view_uint(v, &u) && u <= (uint64_t)ATP_WIRE_INT_MAX) {
        *out = (int64_t)u;
        return true;
    }
    reply_error_set(e, ATP_E_BAD_REQUEST,
                    "field '%s' must be an integer 0..2^53-1 (ms since the "
                    "epoch)",
                    name);
    return false;
}

bool request_promise_ms(codec_view v, int64_t *out, reply_error *e)
{
    bool given;
    return request_promise_int(v, "promise_ms", out, &given, e);
}

static bool request_promise_lines(request_env *env, const request_fields *f,
                                  codec_arena *a, request_promise *p,
                                  reply_error *e)
{
    if (!request_region_lines(env, f, p->region, "promise", a, &p->lines, &p->n,
                              e))
        return false;
    p->el = codec_arena_malloc(a, p->n * sizeof *p->el);
    if (p->el == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    /* The earliest date of a SKU is that of its summed quantity. */
    for (uint32_t i = 0; i < p->n; i++)
        p->el[i] = (engine_promise_line){
            p->lines[i].sku.ptr, p->lines[i].sku.len, p->lines[i].total};
    return true;
}

static void request_promise_write_earliest(codec_writer *w, int64_t ms)
{
    codec_w_cstr(w, "earliest_ms");
    if (ms >= 0)
        codec_w_int(w, ms);
    else
        codec_w_nil(w);
}

/* op promise: the ATP answer and the time-phased keys. */
static void request_promise_write_sku(const request_env *env,
                                      const request_promise *p,
                                      const engine_promise *x, codec_writer *w)
{
    const engine_promise_result *r = &x->lines[0];
    bool date = p->date_given, qty = p->el[0].qty > 0;
    codec_w_map(w, REPLY_ANSWER_FIELDS(&r->answer) + 7 + r->truncated +
                       2 * date + 2 * qty);
    codec_w_kv_bool(w, "ok", true);
    reply_answer_write(w, (codec_str){p->el[0].sku, p->el[0].sku_len},
                       env->cfg->regions[p->region].id,
                       env->cfg->channels[p->channel], &r->answer);
    codec_w_kv_int(w, "now_ms", x->now_ms);
    codec_w_kv_int(w, "dated", r->dated);
    codec_w_kv_int(w, "preorder_hold", r->hold);
    codec_w_kv_int(w, "preorder_shortfall", r->shortfall);
    codec_w_kv_int(w, "max_promisable", r->max_promisable);
    codec_w_cstr(w, "schedule");
    codec_w_array(w, r->n_points);
    for (uint32_t k = 0; k < r->n_points; k++) {
        codec_w_map(w, 2);
        codec_w_kv_int(w, "from_ms", x->point_ms[k]);
        codec_w_kv_int(w, "atp", x->point_atp[k]);
    }
    if (r->truncated)
        codec_w_kv_bool(w, "schedule_truncated", true);
    if (date) {
        codec_w_kv_int(w, "date_ms",
                       p->date_ms > x->now_ms ? p->date_ms : x->now_ms);
        codec_w_kv_int(w, "atp_on_date", r->atp_on_date);
    }
    if (qty) {
        codec_w_kv_int(w, "qty", p->el[0].qty);
        request_promise_write_earliest(w, r->earliest_ms);
    }
}

/* op promise_cart: per line its earliest date, and the cart's. */
static void request_promise_write_cart(const request_env *env,
                                       const request_promise *p,
                                       const engine_promise *x, codec_writer *w)
{
    int64_t cart = 0;
    for (uint32_t i = 0; i < p->n && cart >= 0; i++) {
        int64_t at = x->lines[i].earliest_ms;
        cart = at < 0 ? -1 : at > cart ? at : cart;
    }
    codec_w_map(w, 6);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "region", env->cfg->regions[p->region].id);
    codec_w_kv_cstr(w, "channel", env->cfg->channels[p->channel]);
    codec_w_kv_int(w, "now_ms", x->now_ms);
    request_promise_write_earliest(w, cart);
    codec_w_cstr(w, "lines");
    codec_w_array(w, p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        codec_w_map(w, 4);
        codec_w_kv_str(w, "sku", p->lines[i].sku.ptr, p->lines[i].sku.len);
        codec_w_kv_int(w, "qty", p->lines[i].qty);
        codec_w_kv_int(w, "atp", x->lines[i].answer.atp);
        request_promise_write_earliest(w, x->lines[i].earliest_ms);
    }
}

/* The engine's answer (engine thread, or engine_stop's drain). */
static void request_promise_done(void *arg, const engine_promise *x)
{
    request_async *as = arg;
    const request_promise *p = as->promise;
    uint32_t bundle = UINT32_MAX;
    for (uint32_t i = 0; x->err == ATP_OK && i < p->n; i++)
        if (x->lines[i].bundle) {
            bundle = i;
            break;
        }
    if (x->err != ATP_OK || bundle != UINT32_MAX) {
        reply_error e = {.line = -1};
        if (x->err == ATP_E_BUSY) {
            request_busy(&e, ATP_E_BAD_STATE);
        } else if (x->err != ATP_OK) {
            reply_error_set(&e, x->err, "promise: %s", atp_err_message(x->err));
        } else {
            reply_error_set(&e, ATP_E_BAD_REQUEST,
                            "time-phased answers of a bundle: ask for its "
                            "components");
            if (p->cart)
                e.line = bundle;
        }
        request_count_error(as->env, as, e.code);
        reply_error_write(as->w, &e);
    } else if (p->cart) {
        request_promise_write_cart(as->env, p, x, as->w);
    } else {
        request_promise_write_sku(as->env, p, x, as->w);
    }
    as->finish(as->owner);
}

bool request_promise_start(request_env *env, const request_fields *f, bool cart,
                           codec_arena *a, codec_writer *w,
                           request_async *async, reply_error *e)
{
    request_promise *p = codec_arena_malloc(a, sizeof *p);
    if (p == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    memset(p, 0, sizeof *p);
    p->cart = cart;
    if (!request_region(env, f->region, &p->region, e) ||
        !request_channel(env, f, &p->channel, e))
        return false;
    if (cart) {
        if (!request_promise_lines(env, f, a, p, e))
            return false;
    } else {
        codec_str sku;
        int64_t qty = 0;
        codec_view vq = codec_view_get(f->root, "qty");
        if (!request_sku(f->sku, &sku, e) ||
            !request_promise_int(codec_view_get(f->root, "date_ms"), "date_ms",
                                 &p->date_ms, &p->date_given, e) ||
            (vq.p != NULL && codec_view_type(vq) != CODEC_NIL &&
             !request_qty(vq, &qty, e)))
            return false;
        p->el = codec_arena_malloc(a, sizeof *p->el);
        if (p->el == NULL) {
            reply_error_set(e, ATP_E_NOMEM, "out of memory");
            return false;
        }
        p->el[0] = (engine_promise_line){sku.ptr, sku.len, qty};
        p->n = 1;
    }
    async->env = env;
    async->w = w;
    async->promise = p;
    async->started_ms = clock_mono_ms();
    atp_err err =
        engine_promise_submit(env->eng, p->region, p->channel, p->el, p->n,
                              p->date_ms, !cart, request_promise_done, async);
    return request_submitted(err, "promise", e);
}
