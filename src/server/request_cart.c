/*
 * request_cart.c - the cart query: validate every line, sum duplicate
 * lines, ask the engine for each line, write one reply. Any thread (nng
 * callback threads); reads only lock-free engine state.
 *
 * The lines are collected into an array before the engine is asked, then
 * read in one engine_query_lines call, which overlaps the cache misses of
 * several lines (a cart of 200 lines touches 400 cold cache lines).
 */
#include <stdlib.h>
#include <string.h>

#include "server/request_int.h"

uint64_t request_line_hash(codec_str sku, uint32_t region)
{
    uint64_t h = 1469598103934665603ULL ^ region; /* FNV-1a */
    for (uint32_t i = 0; i < sku.len; i++)
        h = (h ^ (unsigned char)sku.ptr[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static bool request_line_same(const request_line *x, const request_line *y)
{
    return x->region == y->region && x->sku.len == y->sku.len &&
           memcmp(x->sku.ptr, y->sku.ptr, x->sku.len) == 0;
}

/* Lines of one key end up together, in request order (lines are one
 * array, so their addresses are their order). */
static int request_line_cmp(const void *pa, const void *pb)
{
    const request_line *x = *(request_line *const *)pa;
    const request_line *y = *(request_line *const *)pb;
    if (x->region != y->region)
        return x->region < y->region ? -1 : 1;
    if (x->sku.len != y->sku.len)
        return x->sku.len < y->sku.len ? -1 : 1;
    int c = memcmp(x->sku.ptr, y->sku.ptr, x->sku.len);
    if (c != 0)
        return c;
    return x < y ? -1 : x > y;
}

/* A merged quantity: qty added to a running total, capped at
 * ATP_QTY_MAX + 1 ("over"). 10,000 lines of 10^15 would pass 2^63. */
static int64_t request_qty_add(int64_t total, int64_t qty)
{
    return total + qty > ATP_QTY_MAX ? ATP_QTY_MAX + 1 : total + qty;
}

/* request_line_totals_sorted: the same sums through a sort, O(n log n)
 * whatever the SKUs are. */
static bool request_line_totals_sorted(request_line *lines, uint32_t n,
                                       codec_arena *a, uint32_t *over)
{
    request_line **order = codec_arena_malloc(a, n * sizeof *order);
    if (order == NULL)
        return false;
    for (uint32_t i = 0; i < n; i++)
        order[i] = &lines[i];
    qsort(order, n, sizeof *order, request_line_cmp);
    *over = UINT32_MAX;
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        int64_t sum = 0;
        for (; j < n && request_line_same(order[i], order[j]); j++) {
            int64_t before = sum;
            uint32_t idx = (uint32_t)(order[j] - lines);
            sum = request_qty_add(sum, order[j]->qty);
            if (before <= ATP_QTY_MAX && sum > ATP_QTY_MAX && idx < *over)
                *over = idx; /* where this key first went over */
        }
        uint32_t first = UINT32_MAX; /* the key's first line, request order */
        for (uint32_t k = i; k < j; k++)
            if ((uint32_t)(order[k] - lines) < first)
                first = (uint32_t)(order[k] - lines);
        for (uint32_t k = i; k < j; k++) {
            order[k]->total = sum;
            order[k]->first = first;
        }
        i = j;
    }
    return true;
}

/* The hash table's probes may not exceed this many per line on average:
 * SKUs crafted to collide (the hash is not keyed) then take the sort
 * instead of a quadratic walk. Real carts probe about once per line. */
#define REQUEST_CART_PROBES_PER_LINE 4

bool request_line_totals(request_line *lines, uint32_t n, codec_arena *a,
                         bool *sorted, uint32_t *over)
{
    *sorted = false;
    *over = UINT32_MAX;
    if (n == 0)
        return true;
    uint32_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    /* slot: 0 empty, else 1 + the index of the first line of its key,
     * whose total is the running sum */
    uint32_t *slot = codec_arena_malloc(a, cap * sizeof *slot);
    if (slot == NULL)
        return false;
    memset(slot, 0, cap * sizeof *slot);
    uint64_t budget = (uint64_t)REQUEST_CART_PROBES_PER_LINE * n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j =
            (uint32_t)request_line_hash(lines[i].sku, lines[i].region) &
            (cap - 1);
        while (slot[j] != 0 &&
               !request_line_same(&lines[slot[j] - 1], &lines[i])) {
            if (budget-- == 0) {
                *sorted = true;
                return request_line_totals_sorted(lines, n, a, over);
            }
            j = (j + 1) & (cap - 1);
        }
        if (slot[j] == 0) {
            slot[j] = i + 1;
            lines[i].first = i;
            lines[i].total = lines[i].qty;
        } else {
            request_line *f = &lines[slot[j] - 1];
            lines[i].first = slot[j] - 1;
            if (f->total + lines[i].qty > ATP_QTY_MAX &&
                f->total <= ATP_QTY_MAX && i < *over)
                *over = i; /* lines come in order: the first to go over */
            f->total = request_qty_add(f->total, lines[i].qty);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        lines[i].total = lines[lines[i].first].total;
    return true;
}

/* A pinned line's location: a configured location's id. */
static bool request_line_location(request_env *env, codec_view v, uint32_t *pin,
                                  reply_error *e)
{
    codec_str s;
    if (!request_id(v, "location", ATP_ID_MAX_LEN, ATP_E_UNKNOWN_LOCATION, &s,
                    e))
        return false;
    int l = config_location_find(env->cfg, s.ptr, s.len);
    if (l < 0) {
        reply_error_set(e, ATP_E_UNKNOWN_LOCATION, "unknown location '%.*s'",
                        request_clip(s), s.ptr);
        return false;
    }
    *pin = (uint32_t)l + 1;
    return true;
}

bool request_line_read(request_env *env, codec_view v, bool with_qty,
                       bool may_pin, request_line *out, reply_error *e)
{
    memset(out, 0, sizeof *out);
    uint32_t len = codec_view_len(v);
    if (codec_view_type(v) != CODEC_ARRAY ||
        (len != 2u + with_qty && !(may_pin && len == 4))) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        may_pin    ? "a line is [sku, region, qty] or [sku, "
                                     "region, qty, location]"
                        : with_qty ? "a line is [sku, region, qty]"
                                   : "a line is [sku, region]");
        return false;
    }
    codec_view sku = codec_view_first(v);
    codec_view region = codec_view_next(sku);
    if (!request_sku(sku, &out->sku, e) ||
        !request_region(env, region, &out->region, e))
        return false;
    if (!with_qty)
        return true;
    codec_view qty = codec_view_next(region);
    if (!request_qty(qty, &out->qty, e))
        return false;
    return len < 4 ||
           request_line_location(env, codec_view_next(qty), &out->pin, e);
}

bool request_lines_merge(request_env *env, request_line *lines, uint32_t n,
                         codec_arena *a, reply_error *e)
{
    bool sorted;
    uint32_t over;
    if (!request_line_totals(lines, n, a, &sorted, &over)) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    if (over != UINT32_MAX) {
        const request_line *l = &lines[over];
        reply_error_set(e, ATP_E_BAD_QTY,
                        "the lines for sku '%.*s' in region '%s' add up to "
                        "more than %lld",
                        (int)l->sku.len, l->sku.ptr,
                        env->cfg->regions[l->region].id,
                        (long long)ATP_QTY_MAX);
        e->line = over;
        return false;
    }
    return true;
}

bool request_cart_lines_count(request_env *env, const request_fields *f,
                              uint32_t *out, reply_error *e)
{
    if (codec_view_type(f->lines) != CODEC_ARRAY) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "field 'lines' must be an array");
        return false;
    }
    uint32_t n = codec_view_len(f->lines);
    if (n == 0) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "a cart needs at least one line");
        return false;
    }
    if (n > env->cfg->service.max_cart_lines) {
        reply_error_set(e, ATP_E_TOO_MANY_LINES, "%u lines, at most %u", n,
                        env->cfg->service.max_cart_lines);
        return false;
    }
    *out = n;
    return true;
}

/* A region cart's line: [sku, qty] (the region is the request's). */
static bool request_region_line(codec_view v, uint32_t region, const char *what,
                                request_line *out, reply_error *e)
{
    memset(out, 0, sizeof *out);
    out->region = region;
    if (codec_view_type(v) != CODEC_ARRAY || codec_view_len(v) != 2) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "a %s line is [sku, qty]", what);
        return false;
    }
    codec_view sku = codec_view_first(v);
    return request_sku(sku, &out->sku, e) &&
           request_qty(codec_view_next(sku), &out->qty, e);
}

bool request_region_lines(request_env *env, const request_fields *f,
                          uint32_t region, const char *what, codec_arena *a,
                          request_line **out, uint32_t *n_out, reply_error *e)
{
    uint32_t n;
    if (!request_cart_lines_count(env, f, &n, e))
        return false;
    request_line *lines = codec_arena_malloc(a, n * sizeof *lines);
    if (lines == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    codec_view lv = codec_view_first(f->lines);
    for (uint32_t i = 0; i < n; i++, lv = codec_view_next(lv)) {
        if (!request_region_line(lv, region, what, &lines[i], e)) {
            e->line = i;
            return false;
        }
    }
    *out = lines;
    *n_out = n;
    return request_lines_merge(env, lines, n, a, e);
}

bool request_cart(request_env *env, const request_fields *f, codec_arena *a,
                  codec_writer *w, reply_error *e)
{
    uint32_t channel;
    if (!request_channel(env, f, &channel, e))
        return false;
    uint32_t n;
    if (!request_cart_lines_count(env, f, &n, e))
        return false;
    request_line *lines = codec_arena_malloc(a, n * sizeof *lines);
    engine_answer *ans = codec_arena_malloc(a, n * sizeof *ans);
    engine_query_line *ql = codec_arena_malloc(a, n * sizeof *ql);
    if (lines == NULL || ans == NULL || ql == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    codec_view lv = codec_view_first(f->lines);
    for (uint32_t i = 0; i < n; i++, lv = codec_view_next(lv)) {
        if (!request_line_read(env, lv, true, false, &lines[i], e)) {
            e->line = i;
            return false;
        }
    }
    if (!request_lines_merge(env, lines, n, a, e))
        return false;
    for (uint32_t i = 0; i < n; i++)
        ql[i] = (engine_query_line){lines[i].sku.ptr, lines[i].sku.len,
                                    lines[i].region, channel};
    engine_query_lines(env->eng, ql, n, ans);
    bool all = true;
    for (uint32_t i = 0; i < n; i++)
        all &= lines[i].total <= ans[i].atp;
    const char *ch = env->cfg->channels[channel];
    codec_w_map(w, 3);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "available", all);
    codec_w_cstr(w, "lines");
    codec_w_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        codec_w_map(w, REPLY_ANSWER_FIELDS(&ans[i]) + 2);
        reply_answer_write(w, lines[i].sku,
                           env->cfg->regions[lines[i].region].id, ch, &ans[i]);
        codec_w_kv_int(w, "qty", lines[i].qty);
        codec_w_kv_bool(w, "available", lines[i].total <= ans[i].atp);
    }
    return true;
}
