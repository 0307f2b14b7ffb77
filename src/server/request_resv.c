/*
 * request_resv.c - reservation operations over REQ/REP: validate the whole
 * request on the receiving thread, hand it to the engine, and write the
 * reply when the engine calls back (engine or store writer thread, once the
 * outcome is durable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "server/request_int.h"

/* request_resv_span writes ms as the largest whole unit ("15m", "1d",
 * "1500ms"), as the config writes durations. */
static void request_resv_span(int64_t ms, char *buf, size_t n)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms > 0 && ms % units[i].ms == 0) {
            snprintf(buf, n, "%lld%s", (long long)(ms / units[i].ms),
                     units[i].unit);
            return;
        }
    }
    snprintf(buf, n, "%lldms", (long long)ms);
}

/* request_resv_round_up writes ms rounded up to the minute as days, hours
 * and minutes ("12d12h1m"): a TTL at least that long reaches it. */
static void request_resv_round_up(int64_t ms, char *buf, size_t n)
{
    int64_t min = (ms + 59999) / 60000;
    int64_t d = min / 1440, h = min % 1440 / 60, m = min % 60;
    int k = 0;
    buf[0] = '\0';
    if (d > 0)
        k += snprintf(buf + k, n - (size_t)k, "%lldd", (long long)d);
    if (h > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "%lldh", (long long)h);
    if ((m > 0 || k == 0) && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "%lldm", (long long)m);
}

/* ttl_ms of a reserve (optional: the configured default) or an extend
 * (required), checked against reservations.min_ttl..max_ttl here so that
 * the error can give the range. */
static bool request_resv_ttl(request_env *env, const request_fields *f,
                             bool required, int64_t *out, reply_error *e)
{
    const config_reservations *c = &env->cfg->reservations;
    char lo[24], hi[24];
    request_resv_span(c->min_ttl_ms, lo, sizeof lo);
    request_resv_span(c->max_ttl_ms, hi, sizeof hi);
    codec_view v = f->ttl_ms;
    codec_type t = codec_view_type(v);
    if (v.p == NULL) {
        if (required)
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "missing field 'ttl_ms' (milliseconds, %lld..%lld: "
                            "%s..%s)",
                            (long long)c->min_ttl_ms, (long long)c->max_ttl_ms,
                            lo, hi);
        *out = 0;
        return !required;
    }
    /* One rule for every field: the wrong type is bad_request, an integer
     * out of range the field's own code. */
    if (t != CODEC_INT && t != CODEC_UINT_BIG) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "ttl_ms must be an integer (milliseconds, %lld..%lld: "
                        "%s..%s)",
                        (long long)c->min_ttl_ms, (long long)c->max_ttl_ms, lo,
                        hi);
        return false;
    }
    if (t == CODEC_UINT_BIG || !codec_view_int(v, out) ||
        *out < c->min_ttl_ms || *out > c->max_ttl_ms) {
        char got[32] = "a number above 2^63-1";
        if (t == CODEC_INT && codec_view_int(v, out))
            snprintf(got, sizeof got, "%lld", (long long)*out);
        reply_error_set(e, ATP_E_BAD_TTL,
                        "ttl_ms must be milliseconds in %lld..%lld (%s..%s, "
                        "reservations.min_ttl..max_ttl), got %s",
                        (long long)c->min_ttl_ms, (long long)c->max_ttl_ms, lo,
                        hi, got);
        return false;
    }
    return true;
}

/* request_resv_split_line reads a split line [sku, [region, ...], qty]
 * (docs/PROTOCOL.md, "Split lines"): 1..ENGINE_SPLIT_MAX distinct
 * regions, the first in out->region, the rest in *split. */
static bool request_resv_split_line(request_env *env, codec_view v,
                                    codec_arena *a, request_line *out,
                                    uint32_t **split, uint32_t *n_split,
                                    reply_error *e)
{
    memset(out, 0, sizeof *out);
    codec_view sku = codec_view_first(v);
    codec_view regions = codec_view_next(sku);
    uint32_t n = codec_view_len(regions);
    if (codec_view_len(v) != 3) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "a split line is [sku, [region, ...], qty] (it "
                        "cannot be pinned to a location)");
        return false;
    }
    if (n < 1 || n > ENGINE_SPLIT_MAX) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "a split line names 1 to %d regions", ENGINE_SPLIT_MAX);
        return false;
    }
    uint32_t r[ENGINE_SPLIT_MAX];
    codec_view rv = codec_view_first(regions);
    if (!request_sku(sku, &out->sku, e))
        return false;
    for (uint32_t i = 0; i < n; i++, rv = codec_view_next(rv)) {
        if (!request_region(env, rv, &r[i], e))
            return false;
        for (uint32_t k = 0; k < i; k++)
            if (r[k] == r[i]) {
                reply_error_set(e, ATP_E_BAD_REQUEST,
                                "a split line names region '%s' twice",
                                env->cfg->regions[r[i]].id);
                return false;
            }
    }
    if (!request_qty(codec_view_next(regions), &out->qty, e))
        return false;
    out->region = r[0];
    *n_split = n - 1;
    *split = codec_arena_malloc(a, n * sizeof **split);
    if (*split == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    memcpy(*split, r + 1, (n - 1) * sizeof **split);
    return true;
}

/* request_resv_split_alone: a split line's SKU is in no other line (its
 * regions are filled in order; another line of the SKU would overlap
 * them). The index of the later of two lines that break it, or
 * UINT32_MAX; *nomem on out of memory. A hash of the SKUs (in a): linear
 * in the lines. */
static uint32_t request_resv_split_alone(const engine_resv_line *lines,
                                         uint32_t n, bool any_split,
                                         codec_arena *a, bool *nomem)
{
    *nomem = false;
    if (!any_split)
        return UINT32_MAX;
    uint32_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = codec_arena_malloc(a, cap * sizeof *slot);
    if (slot == NULL) {
        *nomem = true;
        return UINT32_MAX;
    }
    memset(slot, 0, cap * sizeof *slot);
    for (uint32_t j = 0; j < n; j++) {
        const engine_resv_line *l = &lines[j];
        uint64_t h = 0xcbf29ce484222325ULL;
        for (uint32_t b = 0; b < l->sku_len; b++)
            h = (h ^ (unsigned char)l->sku[b]) * 0x100000001b3ULL;
        for (uint32_t i = (uint32_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
            if (slot[i] == 0) {
                slot[i] = j + 1;
                break;
            }
            const engine_resv_line *o = &lines[slot[i] - 1];
            if (o->sku_len == l->sku_len &&
                memcmp(o->sku, l->sku, l->sku_len) == 0) {
                if (o->split != NULL || l->split != NULL)
                    return j;
                break; /* two plain lines of one SKU: the merge's */
            }
        }
    }
    return UINT32_MAX;
}

/* Lines of a reserve ([sku, region, qty]) or a release ([sku, region]). */
static bool request_resv_lines(request_env *env, const request_fields *f,
                               bool with_qty, codec_arena *a,
                               engine_resv_req *out, reply_error *e)
{
    out->lines = NULL;
    out->n_lines = 0;
    if (f->lines.p == NULL && !with_qty)
        return true; /* release everything */
    if (codec_view_type(f->lines) != CODEC_ARRAY) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "field 'lines' must be an array");
        return false;
    }
    uint32_t n = codec_view_len(f->lines);
    if (n == 0 && with_qty) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "a reservation needs at least one line");
        return false;
    }
    /* The engine reads "no lines" as "every line": an empty list (a client
     * that computed nothing to release) must not release everything. */
    if (n == 0) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "'lines' is empty: name at least one line, or leave "
                        "'lines' out to release every line");
        return false;
    }
    if (n > env->cfg->reservations.max_lines) {
        reply_error_set(e, ATP_E_TOO_MANY_LINES, "%u lines, at most %u", n,
                        env->cfg->reservations.max_lines);
        return false;
    }
    engine_resv_line *lines =
        codec_arena_malloc(a, (n ? n : 1) * sizeof *lines);
    request_line *read = codec_arena_malloc(a, (n ? n : 1) * sizeof *read);
    if (lines == NULL || read == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    codec_view l = codec_view_first(f->lines);
    bool any_split = false;
    for (uint32_t i = 0; i < n; i++, l = codec_view_next(l)) {
        uint32_t *split = NULL, n_split = 0;
        /* [sku, [region, ...], qty]: only a line with a second element
         * may be one ([] and [sku] are the ordinary reader's errors). */
        bool is_split = with_qty && codec_view_type(l) == CODEC_ARRAY &&
                        codec_view_len(l) >= 2 &&
                        codec_view_type(codec_view_next(codec_view_first(l))) ==
                            CODEC_ARRAY;
        if (is_split
                ? !request_resv_split_line(env, l, a, &read[i], &split,
                                           &n_split, e)
                : !request_line_read(env, l, with_qty, with_qty, &read[i], e)) {
            e->line = i;
            return false;
        }
        any_split |= is_split;
        lines[i] = (engine_resv_line){.sku = read[i].sku.ptr,
                                      .sku_len = read[i].sku.len,
                                      .region = read[i].region,
                                      .pin = read[i].pin,
                                      .qty = read[i].qty,
                                      .split = split,
                                      .n_split = n_split};
    }
    /* A split line is stored as a line per region it takes from: the
     * stored lines (at most reservations.max_lines, which the store's
     * reader holds them to) count each split line's regions. */
    uint64_t stored = 0;
    for (uint32_t i = 0; i < n; i++)
        stored += 1 + lines[i].n_split;
    if (stored > env->cfg->reservations.max_lines) {
        reply_error_set(e, ATP_E_TOO_MANY_LINES,
                        "%u lines, %llu with each split line's regions, at "
                        "most %u",
                        n, (unsigned long long)stored,
                        env->cfg->reservations.max_lines);
        return false;
    }
    bool nomem;
    uint32_t overlap = request_resv_split_alone(lines, n, any_split, a, &nomem);
    if (nomem) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    if (overlap != UINT32_MAX) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "sku '%.*s' is in a split line and in another line: "
                        "a split line's SKU is in no other line",
                        request_clip(read[overlap].sku), read[overlap].sku.ptr);
        e->line = overlap;
        return false;
    }
    /* Lines naming the same (sku, region) are one line of their summed
     * quantity, which must be a quantity too (the engine merges them),
     * held at one place: the same location, or none. */
    if (with_qty && !request_lines_merge(env, read, n, a, e))
        return false;
    for (uint32_t i = 0; with_qty && i < n; i++) {
        if (read[i].pin != read[read[i].first].pin) {
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "sku '%.*s' in region '%s' is named at two "
                            "places (two locations, or a location and none): "
                            "a reservation holds a SKU of a region at one",
                            request_clip(read[i].sku), read[i].sku.ptr,
                            env->cfg->regions[read[i].region].id);
            e->line = i;
            return false;
        }
    }
    out->lines = lines;
    out->n_lines = n;
    return true;
}

/* A pinned line's "location" (none written for a line that is not). */
static void request_resv_write_pin(request_env *env, codec_writer *w,
                                   const engine_resv_line *l)
{
    if (l->pin != 0)
        codec_w_kv_cstr(w, "location", env->cfg->locations[l->pin - 1].id);
}

static void request_resv_write_record(request_env *env, codec_writer *w,
                                      const engine_resv_result *r)
{
    codec_w_cstr(w, "reservation");
    codec_w_map(w, (r->order_ref ? 8 : 7) + 2 * (r->promise_ms != 0));
    codec_w_kv_str(w, "id", r->id, r->id_len);
    codec_w_kv_cstr(w, "state", engine_resv_state_name(r->state));
    codec_w_kv_cstr(w, "channel", env->cfg->channels[r->channel]);
    codec_w_kv_int(w, "created_ms", r->created_ms);
    codec_w_kv_int(w, "expires_ms", r->expires_ms);
    codec_w_kv_int(w, "updated_ms", r->updated_ms);
    if (r->order_ref)
        codec_w_kv_cstr(w, "order_ref", r->order_ref);
    if (r->promise_ms != 0) {
        codec_w_kv_int(w, "promise_ms", r->promise_ms);
        codec_w_kv_bool(w, "dated", r->dated);
    }
    codec_w_cstr(w, "lines");
    codec_w_array(w, r->n_lines);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        const engine_resv_line *l = &r->lines[i];
        codec_w_map(w, 5 + (l->pin != 0) + (l->backordered > 0));
        codec_w_kv_str(w, "sku", l->sku, l->sku_len);
        codec_w_kv_cstr(w, "region", env->cfg->regions[l->region].id);
        request_resv_write_pin(env, w, l);
        codec_w_kv_int(w, "qty", l->qty);
        codec_w_kv_int(w, "consumed", l->consumed);
        codec_w_kv_int(w, "released", l->released);
        if (l->backordered > 0)
            codec_w_kv_int(w, "backordered", l->backordered);
    }
}

/* A refused reserve: per line, what was asked and what was available. */
static void request_resv_write_refusal(request_env *env, codec_writer *w,
                                       const engine_resv_result *r)
{
    codec_w_map(w, 4);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "granted", false);
    codec_w_kv_str(w, "id", r->id, r->id_len);
    codec_w_cstr(w, "lines");
    codec_w_array(w, r->n_lines);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        const engine_resv_line *l = &r->lines[i];
        codec_w_map(w, 5 + (l->pin != 0) + (l->split != NULL));
        codec_w_kv_str(w, "sku", l->sku, l->sku_len);
        codec_w_kv_cstr(w, "region", env->cfg->regions[l->region].id);
        request_resv_write_pin(env, w, l);
        if (l->split != NULL) { /* a split line: available is their sum */
            codec_w_cstr(w, "regions");
            codec_w_array(w, 1 + l->n_split);
            for (uint32_t k = 0; k <= l->n_split; k++)
                codec_w_cstr(
                    w, env->cfg->regions[k ? l->split[k - 1] : l->region].id);
        }
        codec_w_kv_int(w, "qty", l->qty);
        codec_w_kv_int(w, "available", l->available);
        codec_w_kv_bool(w, "ok", l->qty <= l->available);
    }
}

/* partial, backorder: optional, a boolean (default false; nil too). */
static bool request_resv_flag(codec_view v, const char *name, bool *out,
                              reply_error *e)
{
    *out = false;
    if (v.p == NULL || codec_view_type(v) == CODEC_NIL ||
        codec_view_bool(v, out))
        return true;
    reply_error_set(e, ATP_E_BAD_REQUEST, "%s must be true or false", name);
    return false;
}

/* request_resv_dated checks a dated reserve (docs/PROTOCOL.md, "Dated
 * reservations"): not with backorder or a pinned line (a budget and a
 * store's shelf are today's), and a TTL that reaches its date. */
static bool request_resv_dated(request_env *env, const engine_resv_req *r,
                               reply_error *e)
{
    if (r->promise_ms == 0)
        return true;
    if (r->backorder) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "promise_ms and backorder: true do not go together "
                        "(a backorder budget is today's)");
        return false;
    }
    for (uint32_t i = 0; i < r->n_lines; i++)
        if (r->lines[i].pin != 0) {
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "a dated reserve (promise_ms) has no pinned "
                            "lines (a store's shelf is today's)");
            e->line = i;
            return false;
        }
    int64_t now = clock_wall_ms();
    const config_reservations *c = &env->cfg->reservations;
    int64_t ttl = r->ttl_ms != 0 ? r->ttl_ms : c->default_ttl_ms;
    if (r->promise_ms > now && now + ttl < r->promise_ms) {
        /* Say it in the units a person reads, and whether any TTL would
         * do (reservations.max_ttl bounds how far ahead one can be). */
        char held[24], need[40], most[24];
        request_resv_span(ttl, held, sizeof held);
        request_resv_round_up(r->promise_ms - now, need, sizeof need);
        request_resv_span(c->max_ttl_ms, most, sizeof most);
        if (r->promise_ms - now > c->max_ttl_ms)
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "promise_ms is %s from now, beyond "
                            "reservations.max_ttl (%s): a preorder must hold "
                            "until its date, so no ttl_ms reaches it",
                            need, most);
        else
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "the hold (ttl_ms %s%s) ends before promise_ms, "
                            "%s from now: a preorder must hold until its "
                            "date; ask a ttl_ms of at least that",
                            held, r->ttl_ms != 0 ? "" : ", the default", need);
        return false;
    }
    return true;
}

/* request_resv_fills: the answer has "fill": a partial reserve, or one
 * with a split line. */
static bool request_resv_fills(const engine_resv_req *q)
{
    for (uint32_t i = 0; !q->partial && i < q->n_lines; i++)
        if (q->lines[i].split != NULL)
            return true;
    return q->partial;
}

/* A partial reserve's "fill" (or one with a split line): per (sku,
 * region) of the request (per SKU for a split line), in the order of its
 * first line, what was asked (lines of one pair summed) and what the
 * record was granted of it. Computed from the request and the record, so
 * a replay says the same. A hash table keyed like that: linear in the
 * lines: with a scan of every line for every line, partial carts cost
 * 1.3-1.5x the CPU per request of plain ones (atp-bench reserve-cart),
 * 1.15-1.2x with this (docs/PERFORMANCE.md, "Partial and split"). */
typedef struct request_fill {
    struct {
        uint32_t line; /* its first request line */
        int64_t wanted, granted;
        int64_t by[ENGINE_SPLIT_MAX]; /* a split line: per region, in order */
    } * e;
    uint32_t n;
    uint32_t *slot; /* entry + 1; 0: empty */
    uint32_t mask;
} request_fill;

/* request_fill_region: a request line's key region; a split line is keyed
 * by its SKU alone (it is in no other line). */
static uint32_t request_fill_region(const engine_resv_line *l)
{
    return l->split != NULL ? UINT32_MAX : l->region;
}

static uint32_t *request_fill_slot(request_fill *t, const engine_resv_req *q,
                                   const char *sku, uint32_t len,
                                   uint32_t region)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ region;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)sku[i]) * 0x100000001b3ULL;
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        if (t->slot[i] == 0)
            return &t->slot[i];
        const engine_resv_line *l = &q->lines[t->e[t->slot[i] - 1].line];
        if (request_fill_region(l) == region && l->sku_len == len &&
            memcmp(l->sku, sku, len) == 0)
            return &t->slot[i];
    }
}

/* request_fill_build fills t from the request and the record; false when
 * out of memory (the answer then has no fill). */
static bool request_fill_build(request_fill *t, const engine_resv_req *q,
                               const engine_resv_result *r)
{
    uint32_t cap = 16;
    while (cap < 2 * q->n_lines)
        cap *= 2;
    t->n = 0;
    t->mask = cap - 1;
    t->slot = calloc(cap, sizeof *t->slot);
    t->e = malloc((q->n_lines ? q->n_lines : 1) * sizeof *t->e);
    if (t->slot == NULL || t->e == NULL)
        return false;
    for (uint32_t i = 0; i < q->n_lines; i++) {
        const engine_resv_line *l = &q->lines[i];
        uint32_t *s =
            request_fill_slot(t, q, l->sku, l->sku_len, request_fill_region(l));
        if (*s == 0) {
            memset(&t->e[t->n], 0, sizeof t->e[t->n]);
            t->e[t->n].line = i;
            *s = ++t->n;
        }
        t->e[*s - 1].wanted += l->qty;
    }
    for (uint32_t j = 0; j < r->n_lines; j++) {
        const engine_resv_line *l = &r->lines[j];
        uint32_t *s = request_fill_slot(t, q, l->sku, l->sku_len, l->region);
        if (*s == 0) /* a split line's region */
            s = request_fill_slot(t, q, l->sku, l->sku_len, UINT32_MAX);
        if (*s == 0)
            continue;
        t->e[*s - 1].granted += l->qty;
        const engine_resv_line *asked = &q->lines[t->e[*s - 1].line];
        for (uint32_t k = 0; asked->split != NULL && k <= asked->n_split; k++)
            if ((k ? asked->split[k - 1] : asked->region) == l->region)
                t->e[*s - 1].by[k] += l->qty;
    }
    return true;
}

/* request_resv_write_split: a split line's fill entry's own keys: every
 * region it named, in order, and what each gave (t's entry k). */
static void request_resv_write_split(request_env *env, codec_writer *w,
                                     const engine_resv_line *l,
                                     const request_fill *t, uint32_t k)
{
    codec_w_cstr(w, "regions");
    codec_w_array(w, 1 + l->n_split);
    for (uint32_t i = 0; i <= l->n_split; i++)
        codec_w_cstr(w, env->cfg->regions[i ? l->split[i - 1] : l->region].id);
    codec_w_cstr(w, "by_region");
    codec_w_array(w, 1 + l->n_split);
    for (uint32_t i = 0; i <= l->n_split; i++) {
        codec_w_map(w, 2);
        codec_w_kv_cstr(w, "region",
                        env->cfg->regions[i ? l->split[i - 1] : l->region].id);
        codec_w_kv_int(w, "qty", t->e[k].by[i]);
    }
}

static void request_resv_write_fill(request_env *env, codec_writer *w,
                                    const engine_resv_req *q,
                                    const request_fill *t)
{
    codec_w_cstr(w, "fill");
    codec_w_array(w, t->n);
    for (uint32_t k = 0; k < t->n; k++) {
        const engine_resv_line *l = &q->lines[t->e[k].line];
        bool split = l->split != NULL;
        codec_w_map(w, 4 + 2 * split);
        codec_w_kv_str(w, "sku", l->sku, l->sku_len);
        codec_w_kv_cstr(w, "region", env->cfg->regions[l->region].id);
        codec_w_kv_int(w, "qty", t->e[k].wanted);
        codec_w_kv_int(w, "granted", t->e[k].granted);
        if (split)
            request_resv_write_split(env, w, l, t, k);
    }
}

/* request_resv_done: engine callback (engine or store writer thread). */
static void request_resv_done(void *arg, const engine_resv_result *r)
{
    request_async *as = arg;
    request_env *env = as->env;
    codec_writer *w = as->w;
    if (r->err != ATP_OK) {
        reply_error e = {.line = -1};
        if (r->message != NULL)
            reply_error_set(&e, r->err, "%s", r->message);
        else if (r->err == ATP_E_BAD_STATE && r->has_record)
            reply_error_set(&e, r->err, "reservation '%.*s' is %s",
                            (int)(r->id_len > 64 ? 64 : r->id_len), r->id,
                            engine_resv_state_name(r->state));
        else if (r->err == ATP_E_QUOTA)
            reply_error_set(&e, r->err,
                            "client '%s' holds %u open reservations "
                            "(auth.limits.max_open_reservations): nothing was "
                            "done; commit, release or let one expire first",
                            as->req.client,
                            env->cfg->auth.max_open_reservations);
        else if (r->err == ATP_E_NOT_FOUND)
            reply_error_set(&e, r->err, "no reservation with id '%.*s'",
                            (int)(as->req.id_len > 64 ? 64 : as->req.id_len),
                            as->req.id);
        else if (r->err == ATP_E_CONFLICT)
            reply_error_set(
                &e, r->err,
                as->req.op == ENGINE_RESV_COMMIT
                    ? "reservation '%.*s' cannot take that order_ref: it "
                      "was committed with another one, or another "
                      "reservation holds it"
                : as->req.client != NULL
                    ? "reservation '%.*s' exists with different "
                      "content or under another client"
                    : "reservation '%.*s' exists with different content",
                (int)(as->req.id_len > 64 ? 64 : as->req.id_len), as->req.id);
        else
            reply_error_set(&e, r->err, "%s", atp_err_message(r->err));
        if (r->has_line)
            e.line = r->line;
        request_count_error(env, as, e.code);
        reply_error_write(w, &e);
    } else if (as->req.op == ENGINE_RESV_RESERVE && !r->granted) {
        request_resv_write_refusal(env, w, r);
    } else {
        bool reserve = as->req.op == ENGINE_RESV_RESERVE;
        request_fill t = {0};
        bool fill = reserve && request_resv_fills(&as->req) &&
                    request_fill_build(&t, &as->req, r);
        codec_w_map(w, (reserve ? 4 : 3) + fill);
        codec_w_kv_bool(w, "ok", true);
        if (reserve)
            codec_w_kv_bool(w, "granted", true);
        codec_w_kv_bool(w, "replayed", r->replayed);
        request_resv_write_record(env, w, r);
        if (fill)
            request_resv_write_fill(env, w, &as->req, &t);
        free(t.slot);
        free(t.e);
    }
    as->finish(as->owner);
}

bool request_resv_start(request_env *env, engine_resv_op op,
                        const request_fields *f, codec_arena *a,
                        codec_writer *w, request_async *async, reply_error *e)
{
    engine_resv_req *r = &async->req;
    memset(r, 0, sizeof *r);
    r->op = op;
    codec_str id, ref;
    if (!request_id(f->id, "id", ATP_RESV_ID_MAX_LEN, ATP_E_BAD_ID, &id, e))
        return false;
    r->id = id.ptr;
    r->id_len = id.len;
    switch (op) {
    case ENGINE_RESV_RESERVE:
        if (!request_channel(env, f, &r->channel, e) ||
            !request_resv_lines(env, f, true, a, r, e) ||
            !request_resv_ttl(env, f, false, &r->ttl_ms, e) ||
            !request_resv_flag(f->partial, "partial", &r->partial, e) ||
            !request_resv_flag(f->backorder, "backorder", &r->backorder, e) ||
            !request_promise_ms(f->promise_ms, &r->promise_ms, e) ||
            !request_resv_dated(env, r, e))
            return false;
        break;
    case ENGINE_RESV_COMMIT:
        if (f->order_ref.p != NULL) {
            if (!request_id(f->order_ref, "order_ref", ATP_RESV_ID_MAX_LEN,
                            ATP_E_BAD_ID, &ref, e))
                return false;
            r->order_ref = ref.ptr;
            r->order_ref_len = ref.len;
        }
        break;
    case ENGINE_RESV_RELEASE:
        if (!request_resv_lines(env, f, false, a, r, e))
            return false;
        break;
    case ENGINE_RESV_EXTEND:
        if (!request_resv_ttl(env, f, true, &r->ttl_ms, e))
            return false;
        break;
    case ENGINE_RESV_GET:
        break;
    }
    const char *client = auth_client(async->who);
    if (client != NULL) {
        r->client = client;
        r->client_len = (uint32_t)strlen(client);
    }
    async->env = env;
    async->w = w;
    r->done = request_resv_done;
    r->arg = async;
    atp_err err = engine_resv_submit(env->eng, r);
    if (err != ATP_OK) {
        request_busy(e, err);
        return false;
    }
    return true;
}
