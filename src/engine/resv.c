/*
 * resv.c - the reservation operations: reserve, commit, release, extend
 * and get, expiry and purge (resv_tick), and consumption by allocation
 * events (resv_consume). Engine thread only (see resv.h).
 *
 * Each operation decides on the records and totals as they are now,
 * changes the record through resv__change (resv_group.c), which applies it
 * at once and queues its write, and is answered once that write is
 * durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "engine/resv_int.h"
#include "formula/formula.h"

/* resv_visible: tenancy (engine.h, engine_resv_req.client): a request
 * bound to a client sees only the records created under that client. */
static bool resv_visible(const resv *r, const engine_resv_req *req)
{
    if (req->client == NULL)
        return true;
    return r->client != NULL && r->client_len == req->client_len &&
           memcmp(r->client, req->client, req->client_len) == 0;
}

/* At commit: every source that may allocate in one of r's regions gets a
 * mark at its applied offset, because what it sent so far was applied
 * while r could not be consumed (held, or not yet there) and must not
 * consume it when resent after a restart. Soon after a restart the offset
 * is the last snapshot's, behind what was applied before the crash (the
 * source is still resending it); seq_floor is what we know of that (the
 * "applied" file's seq, the stored marks), until the offset reaches it
 * (engine_thread_main clears it then).
 * Returns false when out of memory. */
static bool resv_marks_commit(const engine *e, resv *r)
{
    const resv_table *t = &e->resv;
    for (size_t src = 0; src < t->n_sources; src++) {
        const engine_offset *o = &e->snap.offsets[src];
        uint64_t seq =
            o->known && o->seq > t->seq_floor[src] ? o->seq : t->seq_floor[src];
        /* A source with a floor is marked whatever its regions: a reload
         * may move one of its locations into r's region before it has
         * resent what it applied before the restart. */
        bool may = t->seq_floor[src] > 0;
        for (uint32_t i = 0; i < r->n_lines && !may; i++)
            may = t->may_allocate[r->lines[i].region * t->n_sources + src];
        if (may && (o->known || seq > 0) &&
            !resv_mark_raise(r, (uint32_t)src, seq, RESV_MARK_MESSAGE))
            return false;
    }
    return true;
}

/* ---- operations
 * -------------------------------------------------------------- */

/* The lines of a request with equal (sku, region) merged, in order of first
 * appearance, with each SKU's dictionary index in ids (DICT_NONE: unknown).
 * Every SKU is looked up once, here: known ones merge on integers, unknown
 * ones (no stock: the request is refused) on their text. The lookups are
 * done in passes (hash and prefetch every slot, then every key, then find
 * and prefetch the row), so a cart's cache misses overlap instead of
 * queueing one behind the other. hash has room for req->n_lines. Returns
 * the count. A line naming another location than the first line of its
 * (sku, region) sets *mixed to its index (the server refuses that first,
 * engine.h); UINT32_MAX: none did. */
static uint32_t resv_merge_lines(const engine *e, const engine_resv_req *req,
                                 engine_resv_line *out, uint32_t *ids,
                                 uint32_t *hash, uint32_t *mixed)
{
    *mixed = UINT32_MAX;
    for (uint32_t i = 0; i < req->n_lines; i++) {
        hash[i] = dict_hash(req->lines[i].sku, req->lines[i].sku_len);
        dict_prefetch(e->skus, hash[i]);
    }
    for (uint32_t i = 0; i < req->n_lines; i++)
        dict_prefetch_key(e->skus, hash[i]);
    uint32_t n = 0;
    for (uint32_t i = 0; i < req->n_lines; i++) {
        const engine_resv_line *l = &req->lines[i];
        uint32_t id = dict_find_hashed(e->skus, hash[i], l->sku, l->sku_len);
        uint32_t k = 0;
        if (id != DICT_NONE) {
            __builtin_prefetch(engine__row_at(e, id, l->region));
            while (k < n && !(ids[k] == id && out[k].region == l->region))
                k++;
        } else {
            while (k < n &&
                   !(ids[k] == DICT_NONE && out[k].region == l->region &&
                     out[k].sku_len == l->sku_len &&
                     memcmp(out[k].sku, l->sku, l->sku_len) == 0))
                k++;
        }
        if (k == n) {
            out[n] = (engine_resv_line){.sku = l->sku,
                                        .sku_len = l->sku_len,
                                        .region = l->region,
                                        .pin = l->pin,
                                        .split = l->split,
                                        .n_split = l->n_split};
            ids[n++] = id;
        } else if (out[k].pin != l->pin && *mixed == UINT32_MAX) {
            *mixed = i; /* one (sku, region) at two places */
        }
        /* 10,000 lines of 10^15 would pass 2^63: stop just above the
         * bound, which resv_reserve refuses (the server already did). */
        out[k].qty = out[k].qty + l->qty > ATP_QTY_MAX ? ATP_QTY_MAX + 1
                                                       : out[k].qty + l->qty;
    }
    return n;
}

/* A merged line as a sortable triple: (SKU index, region), quantity and
 * location. */
typedef struct resv_line_key {
    uint64_t key;
    int64_t qty;
    uint64_t pin;
} resv_line_key;

static int resv_line_key_cmp(const void *pa, const void *pb)
{
    const resv_line_key *x = pa, *y = pb;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->qty != y->qty)
        return x->qty < y->qty ? -1 : 1;
    return (x->pin > y->pin) - (x->pin < y->pin);
}

/* Same content: the same channel and the same merged lines (a line's
 * location included), in any order
 * (a client that rebuilds its cart from a hash map retries in another
 * order). Both sides are merged, so each (sku, region) appears once on
 * each side and comparing the sorted pairs compares the sets. The SKUs of
 * a stored record are all known (ids[i] == DICT_NONE: not the same). */
static bool resv_same_content(const resv *r, uint32_t channel,
                              const engine_resv_line *m, const uint32_t *ids,
                              uint32_t n)
{
    if (r->channel != channel || r->n_lines != n)
        return false;
    uint32_t i = 0;
    while (i < n && ids[i] == r->lines[i].sku &&
           m[i].region == r->lines[i].region && m[i].qty == r->lines[i].qty &&
           m[i].pin == r->lines[i].pin)
        i++;
    if (i == n)
        return true; /* the same order: the usual retry */
    for (i = 0; i < n; i++)
        if (ids[i] == DICT_NONE)
            return false;
    resv_line_key *x = malloc(2 * (size_t)n * sizeof *x);
    if (x == NULL) {
        log_error("resv",
                  "out of memory: a retry in another order is a conflict");
        return false;
    }
    resv_line_key *y = x + n;
    for (i = 0; i < n; i++) {
        x[i] = (resv_line_key){(uint64_t)ids[i] << 32 | m[i].region, m[i].qty,
                               m[i].pin};
        y[i] = (resv_line_key){(uint64_t)r->lines[i].sku << 32 |
                                   r->lines[i].region,
                               r->lines[i].qty, r->lines[i].pin};
    }
    qsort(x, n, sizeof *x, resv_line_key_cmp);
    qsort(y, n, sizeof *y, resv_line_key_cmp);
    bool same = memcmp(x, y, n * sizeof *x) == 0;
    free(x);
    return same;
}

/* A merged line in the canonical order of a digest: by SKU bytes, then
 * region id (not index: the configuration may list regions in another
 * order after a restart). Engine thread only: a static sort base. */
static const engine_resv_line *resv_digest_lines;
static const config *resv_digest_cfg;

static int resv_digest_cmp(const void *pa, const void *pb)
{
    const engine_resv_line *a = &resv_digest_lines[*(const uint32_t *)pa];
    const engine_resv_line *b = &resv_digest_lines[*(const uint32_t *)pb];
    uint32_t n = a->sku_len < b->sku_len ? a->sku_len : b->sku_len;
    int c = memcmp(a->sku, b->sku, n);
    if (c == 0)
        c = (a->sku_len > b->sku_len) - (a->sku_len < b->sku_len);
    return c != 0 ? c
                  : strcmp(resv_digest_cfg->regions[a->region].id,
                           resv_digest_cfg->regions[b->region].id);
}

static uint64_t resv_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* resv_fnv_u64 hashes v's 8 bytes little-endian: a stored digest means
 * the same on any machine a backup is restored on. */
static uint64_t resv_fnv_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return resv_fnv(h, b, sizeof b);
}

static uint64_t resv_fnv_str(uint64_t h, const char *s, size_t n)
{
    /* length first: "ab" + "c" is not "a" + "bc" */
    return resv_fnv(resv_fnv_u64(h, n), s, n);
}

/* resv_request_digest: a 64-bit FNV-1a of what a partial reserve, a
 * backorder one (the flag only when set) or one
 * with split lines, asked as a replay compares it (partial or not, the
 * channel and the merged lines in any order, a split line's regions in
 * theirs; resv_same_content for the others), by ids, not indexes, so that
 * it survives a restart with regions, locations or channels in another
 * order. Never 0 (0 in a record means "none"): 0 here is out of memory.
 * Engine thread (a static sort base). */
static uint64_t resv_request_digest(const engine *e, const engine_resv_req *req,
                                    const engine_resv_line *m, uint32_t n)
{
    bool partial = req->partial;
    uint32_t channel = req->channel;
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL) /* the order would then be the request's: refuse */
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *ch = e->cfg->channels[channel];
    h = resv_fnv_str(h, partial ? "partial" : "whole", partial ? 7 : 5);
    h = resv_fnv_str(h, ch, strlen(ch));
    /* Only when set: the digests stored before backorders stay valid. */
    if (req->backorder)
        h = resv_fnv_str(h, "backorder", 9);
    if (req->promise_ms != 0) /* likewise: only a dated reserve's */
        h = resv_fnv_u64(resv_fnv_str(h, "promise", 7),
                         (uint64_t)req->promise_ms);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    resv_digest_lines = m;
    resv_digest_cfg = e->cfg;
    qsort(order, n, sizeof *order, resv_digest_cmp);
    for (uint32_t k = 0; k < n; k++) {
        const engine_resv_line *l = &m[order[k]];
        const char *region = e->cfg->regions[l->region].id;
        const char *loc = l->pin ? e->cfg->locations[l->pin - 1].id : "";
        h = resv_fnv_str(h, l->sku, l->sku_len);
        h = resv_fnv_str(h, region, strlen(region));
        h = resv_fnv_u64(h, l->split != NULL ? 1 + l->n_split : 0);
        for (uint32_t s = 0; s < l->n_split; s++) {
            const char *more = e->cfg->regions[l->split[s]].id;
            h = resv_fnv_str(h, more, strlen(more));
        }
        h = resv_fnv_str(h, loc, strlen(loc));
        h = resv_fnv_u64(h, (uint64_t)l->qty);
    }
    free(order);
    return h != 0 ? h : 1;
}

/* resv_by_digest: the request's record will not hold what it asked (a
 * partial one, or one with a split line): replays compare digests. */
static bool resv_by_digest(const engine_resv_req *req,
                           const engine_resv_line *m, uint32_t n)
{
    for (uint32_t i = 0; !req->partial && i < n; i++)
        if (m[i].split != NULL)
            return true;
    return req->partial || req->backorder || req->promise_ms != 0;
}

/* resv_line_atp: what a line of req may take in region from answer a:
 * its ATP, or for a dated reserve atp_on(promise_ms) (docs/PROTOCOL.md,
 * "Dated reservations"). */
static int64_t resv_line_atp(const engine *e, const engine_resv_req *req,
                             uint32_t id, uint32_t region,
                             const engine_answer *a)
{
    /* Dated exactly when it will count as dated (engine__phased_counts),
     * also after the wall clock stepped back: a date checked against the
     * lots must be held against them. */
    int64_t atp = engine__phased_counts(e, req->promise_ms)
                      ? engine__phased_atp_on(e, id, region, a, req->promise_ms)
                      : a->atp;
    int64_t room = engine__phased_headroom(e, id, region, a->reserved);
    return atp < room ? atp : room;
}

/* resv_split_region: region k of line l (0: l->region, then l->split). */
static uint32_t resv_split_region(const engine_resv_line *l, uint32_t k)
{
    return k == 0 ? l->region : l->split[k - 1];
}

/* resv_decide decides on merged line l with the totals as they are now:
 * the ATP of each of its regions in order (one, unless split), and a
 * pinned line's location's pickup ATP too (which the region's caps).
 * take[k] gets what region k gives: min(what is still wanted, its ATP).
 * A split line's later regions are not looked at once it is filled (a
 * row lookup each, in a region the line takes nothing from; no change
 * the reserve benchmark could tell from noise, docs/PERFORMANCE.md);
 * l->available gets the sum of the regions read
 * (resv_split_available completes it for a refusal's answer). *all is
 * cleared when the line is not filled whole, *some set when any unit is
 * there. With req->backorder (and not pinned), what the regions' ATP
 * leaves wanted comes from each region's backorder budget left, in
 * order: beyond[k] gets that part of take[k], and l->available counts
 * the budgets too. Returns the number of regions that give something. */
static uint32_t resv_decide(const engine *e, const engine_resv_req *req,
                            engine_resv_line *l, uint32_t id, int64_t *take,
                            int64_t *beyond, bool *all, bool *some)
{
    int64_t want = l->qty;
    int64_t left[ENGINE_SPLIT_MAX] = {0}, room[ENGINE_SPLIT_MAX] = {0};
    bool budgets = req->backorder && l->pin == 0;
    l->available = 0;
    for (uint32_t k = 0; k <= l->n_split && want > 0; k++) {
        engine_answer a;
        engine__answer_of(e, id, l->sku, l->sku_len, resv_split_region(l, k),
                          req->channel, &a);
        int64_t atp = resv_line_atp(e, req, id, resv_split_region(l, k), &a);
        if (l->pin != 0)
            atp = id == DICT_NONE ? 0
                                  : engine__pickup_atp(e, id, l->pin - 1, atp);
        /* A SKU atpd has never seen takes a budget only from a rule
         * naming it (a preorder the merchandiser set up): a budget of a
         * broader rule would promise any string, a typo too, and intern
         * it for good. */
        if (budgets && (id != DICT_NONE || a.rule_level <= ATP_RULE_SKU)) {
            /* A budget stays within the row's bound too
             * (engine__phased_headroom): units beyond ATP are open units
             * like any. */
            room[k] = engine__phased_headroom(e, id, resv_split_region(l, k),
                                              a.reserved);
            left[k] = a.backorder_left;
            l->available += left[k];
        }
        if (atp <= 0)
            continue;
        l->available += atp;
        take[k] = want < atp ? want : atp;
        want -= take[k];
    }
    /* Every region was read when anything is still wanted. */
    for (uint32_t k = 0; budgets && k <= l->n_split && want > 0; k++) {
        int64_t can = room[k] - take[k] < left[k] ? room[k] - take[k] : left[k];
        beyond[k] = want < can ? want : can > 0 ? can : 0;
        take[k] += beyond[k];
        want -= beyond[k];
    }
    uint32_t n = 0;
    for (uint32_t k = 0; k <= l->n_split; k++)
        n += take[k] > 0;
    *all &= want == 0;
    *some |= l->available > 0;
    return n;
}

/* resv_split_available: a refused split line's available, the sum of
 * every region's ATP (resv_decide stopped once the line was filled). */
static void resv_split_available(const engine *e, const engine_resv_req *req,
                                 engine_resv_line *l, uint32_t id)
{
    l->available = 0;
    for (uint32_t k = 0; l->split != NULL && k <= l->n_split; k++) {
        engine_answer a;
        engine__answer_of(e, id, l->sku, l->sku_len, resv_split_region(l, k),
                          req->channel, &a);
        int64_t atp = resv_line_atp(e, req, id, resv_split_region(l, k), &a);
        l->available += atp > 0 ? atp : 0;
        if (req->backorder && /* a split line is never pinned */
            (id != DICT_NONE || a.rule_level <= ATP_RULE_SKU))
            l->available += a.backorder_left;
    }
}

static int64_t resv_ttl(const engine *e, int64_t ttl_ms, atp_err *err)
{
    const config_reservations *c = &e->cfg->reservations;
    if (ttl_ms == 0)
        ttl_ms = c->default_ttl_ms;
    if (ttl_ms < c->min_ttl_ms || ttl_ms > c->max_ttl_ms)
        *err = ATP_E_BAD_TTL;
    return ttl_ms;
}

/* An error about one line of a reserve (its index in the request), with
 * the message the reply carries. Nothing changed. */
static void resv_refuse_line(const engine_resv_req *req, atp_err err,
                             uint32_t line, const char *message)
{
    engine_resv_result res = {.err = err,
                              .message = message,
                              .has_line = true,
                              .line = line,
                              .id = req->id,
                              .id_len = req->id_len};
    req->done(req->arg, &res);
}

/* The first line of req pinned to a location that is not in the line's
 * region (or no longer configured); UINT32_MAX: none. */
static uint32_t resv_misplaced_line(const engine *e, const engine_resv_req *req)
{
    for (uint32_t i = 0; i < req->n_lines; i++) {
        const engine_resv_line *l = &req->lines[i];
        if (l->pin != 0 && (l->pin > e->cfg->n_locations ||
                            e->loc_region[l->pin - 1] != l->region))
            return i;
    }
    return UINT32_MAX;
}

/* Why line l's location does not take it: where the location is now. */
static void resv_misplaced_why(const engine *e, const engine_resv_line *l,
                               char *buf, size_t n)
{
    const config *c = e->cfg;
    if (l->pin > c->n_locations) {
        snprintf(buf, n, "unknown location");
        return;
    }
    uint16_t now = e->loc_region[l->pin - 1];
    const char *id = c->locations[l->pin - 1].id;
    if (now == CONFIG_LOCATION_GONE)
        snprintf(buf, n, "location '%s' was removed", id);
    else
        snprintf(buf, n,
                 "location '%s' is in region '%s', not in the line's region "
                 "'%s'",
                 id, c->regions[now].id, c->regions[l->region].id);
}

/* resv_first_line: the first request line merged into l. */
static uint32_t resv_first_line(const engine_resv_req *req,
                                const engine_resv_line *l)
{
    for (uint32_t j = 0; j < req->n_lines; j++) {
        const engine_resv_line *x = &req->lines[j];
        if (x->region == l->region && x->sku_len == l->sku_len &&
            memcmp(x->sku, l->sku, l->sku_len) == 0)
            return j;
    }
    return 0;
}

/* resv_sum_over_at: the request line at which the summed quantity of
 * merged line l's (sku, region) passes ATP_QTY_MAX; UINT32_MAX: none. */
static uint32_t resv_sum_over_at(const engine_resv_req *req,
                                 const engine_resv_line *l)
{
    int64_t sum = 0;
    for (uint32_t j = 0; j < req->n_lines; j++) {
        const engine_resv_line *x = &req->lines[j];
        if (x->region != l->region || x->sku_len != l->sku_len ||
            memcmp(x->sku, l->sku, l->sku_len) != 0)
            continue;
        sum = sum + x->qty > ATP_QTY_MAX ? ATP_QTY_MAX + 1 : sum + x->qty;
        if (sum > ATP_QTY_MAX)
            return j;
    }
    return UINT32_MAX;
}

/* A line's index in the client's request: origin[i] for a request whose
 * bundle lines were expanded (NULL: the same). */
#define RESV_ORIGIN(origin, i) ((origin) != NULL ? (origin)[i] : (i))

/* resv_reserve_lines runs a reserve. asked: the digest of what a request
 * with bundle lines asked (resv_reserve; its lines here are the
 * components, origin[i] the request line each came from), which its
 * replays are told by; 0 and NULL: none. */
static void resv_reserve_lines(engine *e, const engine_resv_req *req,
                               uint64_t asked_digest, const uint32_t *origin)
{
    resv_table *t = &e->resv;
    atp_err err = ATP_OK;
    int64_t ttl = resv_ttl(e, req->ttl_ms, &err);
    size_t cap = req->n_lines ? req->n_lines : 1;
    engine_resv_line *m = calloc(cap, sizeof *m + 2 * sizeof(uint32_t));
    if (m == NULL) {
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    uint32_t *ids = (uint32_t *)(m + cap); /* SKU index of each merged line */
    uint32_t mixed;
    uint32_t n = resv_merge_lines(e, req, m, ids, ids + cap, &mixed);
    for (uint32_t i = 0; i < n; i++) {
        if (m[i].qty > ATP_QTY_MAX) {
            /* The server refused such sums of a client's own lines; a
             * bundle's component lines can still add up past the bound:
             * name the request line where the sum went over. */
            uint32_t at = resv_sum_over_at(req, &m[i]);
            if (at != UINT32_MAX)
                resv_refuse_line(req, ATP_E_BAD_QTY, RESV_ORIGIN(origin, at),
                                 "the lines of one (sku, region) sum to more "
                                 "than 10^15");
            else
                resv__reply_now(e, req, ATP_E_BAD_QTY, NULL, false, false);
            free(m);
            return;
        }
    }
    /* A split line's SKU is in no other line (the server's rule, for the
     * lines a client wrote): a bundle's component lines can still name
     * it, and two merged lines of one row would each be decided from the
     * same totals. */
    for (uint32_t i = 0; origin != NULL && i < n; i++)
        for (uint32_t j = 0; m[i].split != NULL && j < n; j++)
            if (j != i && ids[j] == ids[i] && ids[i] != DICT_NONE) {
                resv_refuse_line(
                    req, ATP_E_BAD_REQUEST,
                    RESV_ORIGIN(origin, resv_first_line(req, &m[j])),
                    "a split line's SKU is in no other line, a "
                    "bundle's components included: reserve them "
                    "separately");
                free(m);
                return;
            }
    if (mixed != UINT32_MAX) {
        resv_refuse_line(req, ATP_E_BAD_REQUEST, RESV_ORIGIN(origin, mixed),
                         "a reservation holds a SKU of a region at one "
                         "place: its lines name two locations (or a location "
                         "and none)");
        free(m);
        return;
    }
    resv *cur = resv__find(t, req->id, req->id_len);
    if (cur != NULL) {
        /* The id is the idempotency key: same content, the original answer
         * (granted, with the record as it is now); else a conflict. Another
         * client's id is a conflict whatever its content: its lines are
         * not this client's to see. */
        bool asked = asked_digest != 0 || resv_by_digest(req, m, n);
        uint64_t d = asked_digest != 0 ? asked_digest
                     : asked           ? resv_request_digest(e, req, m, n)
                                       : 0;
        if (asked && d == 0) {
            resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
            free(m);
            return;
        }
        bool same = asked || cur->digest != 0
                        ? asked && cur->digest == d
                        : resv_same_content(cur, req->channel, m, ids, n);
        if (resv_visible(cur, req) && same)
            resv__reply_after_writes(e, req, ATP_OK, cur, true, true);
        else
            resv__reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
        free(m);
        return;
    }
    if (err != ATP_OK || n == 0) {
        resv__reply_now(e, req, err != ATP_OK ? err : ATP_E_BAD_REQUEST, NULL,
                        false, false);
        free(m);
        return;
    }
    /* auth.limits.max_open_reservations: a client at its limit holds no
     * more until one of its reservations is finished (a replay above is
     * no new hold). */
    uint32_t limit = e->cfg->auth.max_open_reservations;
    resv_client *owner =
        req->client != NULL && limit > 0
            ? resv__client_find(t, req->client, req->client_len, false)
            : NULL;
    if (owner != NULL && owner->open >= (int64_t)limit) {
        resv__reply_now(e, req, ATP_E_QUOTA, NULL, false, false);
        free(m);
        return;
    }
    /* A region or channel removed at run time after the request named it
     * (the rules command took it out of service; engine thread): nothing
     * is held where no record could name it. */
    if (!config_channel_in_service(e->cfg, req->channel)) {
        resv__reply_now(e, req, ATP_E_UNKNOWN_CHANNEL, NULL, false, false);
        free(m);
        return;
    }
    for (uint32_t i = 0; i < req->n_lines; i++)
        if (req->lines[i].n_split >= ENGINE_SPLIT_MAX) { /* the server's */
            resv_refuse_line(req, ATP_E_BAD_REQUEST, RESV_ORIGIN(origin, i),
                             "a split line names 1 to 8 regions");
            free(m);
            return;
        }
    for (uint32_t i = 0; i < req->n_lines; i++)
        for (uint32_t k = 0; k <= req->lines[i].n_split; k++)
            if (!config_region_in_service(
                    e->cfg, resv_split_region(&req->lines[i], k))) {
                resv_refuse_line(req, ATP_E_UNKNOWN_REGION,
                                 RESV_ORIGIN(origin, i),
                                 "the line's region was removed");
                free(m);
                return;
            }
    /* A pinned line's location must be in the line's region now (admin
     * moves and removes locations while atpd runs). */
    for (uint32_t i = 0; e->loc_settling != NULL && i < req->n_lines; i++)
        if (req->lines[i].pin != 0 && e->loc_settling[req->lines[i].pin - 1]) {
            resv_refuse_line(req, ATP_E_BUSY, RESV_ORIGIN(origin, i),
                             "the line's location is being moved to another "
                             "region (an admin change not stored yet): nothing "
                             "was done; retry in a moment");
            free(m);
            return;
        }
    uint32_t misplaced = resv_misplaced_line(e, req);
    if (misplaced != UINT32_MAX) {
        char why[256];
        resv_misplaced_why(e, &req->lines[misplaced], why, sizeof why);
        resv_refuse_line(req, ATP_E_UNKNOWN_LOCATION,
                         RESV_ORIGIN(origin, misplaced), why);
        free(m);
        return;
    }
    /* Decide on every line with the totals as they are right now. */
    size_t cells = (size_t)(n ? n : 1) * ENGINE_SPLIT_MAX;
    int64_t *take = calloc(2 * cells, sizeof *take);
    if (take == NULL) {
        free(m);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t *beyond = take + cells; /* the part of take beyond ATP */
    bool all = true, some = false;
    uint32_t n_granted = 0;
    for (uint32_t i = 0; i < n; i++)
        n_granted += resv_decide(
            e, req, &m[i], ids[i], take + (size_t)i * ENGINE_SPLIT_MAX,
            beyond + (size_t)i * ENGINE_SPLIT_MAX, &all, &some);
    if (req->partial ? !some : !all) {
        for (uint32_t i = 0; i < n; i++)
            if (m[i].split != NULL && m[i].qty <= m[i].available)
                resv_split_available(e, req, &m[i], ids[i]);
        atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
        engine_resv_result res = {.err = ATP_OK,
                                  .granted = false,
                                  .id = req->id,
                                  .id_len = req->id_len,
                                  .channel = req->channel,
                                  .lines = m,
                                  .n_lines = n};
        req->done(req->arg, &res);
        free(take);
        free(m);
        return;
    }
    /* A line granted from ATP > 0 has a known SKU; one granted from a
     * backorder budget alone may not (a preorder of a SKU never stocked,
     * from a rule naming it: resv_decide): it is interned now, so that its
     * row can count what it holds. */
    for (uint32_t i = 0; req->backorder && i < n; i++) {
        int64_t got = 0;
        for (uint32_t k = 0; k <= m[i].n_split; k++)
            got += take[(size_t)i * ENGINE_SPLIT_MAX + k];
        atp_err ierr =
            ids[i] == DICT_NONE && got > 0
                ? engine__sku_intern_one(e, m[i].sku, m[i].sku_len, &ids[i])
                : ATP_OK;
        if (ierr != ATP_OK) { /* out of memory, or ATP_E_TOO_LARGE: full */
            free(take);
            free(m);
            resv__reply_now(e, req, ierr, NULL, false, false);
            return;
        }
    }
    /* A partial reserve holds what is there of each line and leaves out a
     * line with nothing; a split line holds a line in each region it took
     * from: the reservation has n_granted lines. */
    bool by_digest = asked_digest != 0 || resv_by_digest(req, m, n);
    uint64_t digest = asked_digest != 0 ? asked_digest
                      : by_digest       ? resv_request_digest(e, req, m, n)
                                        : 0;
    resv *r = by_digest && digest == 0 ? NULL : resv__alloc(n_granted);
    if (r == NULL || (r->id = resv__strdup(req->id, req->id_len)) == NULL) {
        resv__free(r);
        free(take);
        free(m);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = e->now_ms;
    r->id_len = req->id_len;
    if (req->client != NULL) {
        if ((r->client = resv__strdup(req->client, req->client_len)) == NULL) {
            resv__free(r);
            free(take);
            free(m);
            resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
            return;
        }
        r->client_len = req->client_len;
    }
    r->channel = req->channel;
    r->digest = digest;
    r->promise_ms = req->promise_ms;
    r->state = ENGINE_RESV_HELD;
    r->created_ms = r->updated_ms = now;
    r->expires_ms = r->due.key = now + ttl;
    int64_t backordered = 0;
    for (uint32_t i = 0, k = 0; i < n; i++)
        for (uint32_t j = 0; j <= m[i].n_split; j++) {
            size_t c = (size_t)i * ENGINE_SPLIT_MAX + j;
            if (take[c] > 0)
                r->lines[k++] =
                    (resv_line){.sku = ids[i],
                                .region = resv_split_region(&m[i], j),
                                .pin = m[i].pin,
                                .qty = take[c],
                                .backordered = beyond[c]};
            backordered += beyond[c];
        }
    free(take);
    free(m);
    bool dated = engine__phased_counts(e, r->promise_ms);
    atp_err room = resv__pinned_room(e, r);
    for (uint32_t i = 0; dated && room == ATP_OK && i < r->n_lines; i++)
        room = engine__phased_room(e, r->lines[i].sku, r->lines[i].region,
                                   r->promise_ms);
    if (room != ATP_OK) {
        resv__free(r);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    resv_pending *p = resv__change(e, req, NULL, r, true); /* counted
                                                   granted once stored */
    if (p != NULL) {
        p->backordered = backordered;
        p->dated = dated;
    }
}

/* resv_bundle_digest: the digest of what a request with bundle lines
 * asked (its lines as named, merged), marked as such; 0: out of memory. */
static uint64_t resv_bundle_digest(const engine *e, const engine_resv_req *req)
{
    size_t cap = req->n_lines ? req->n_lines : 1;
    engine_resv_line *m = calloc(cap, sizeof *m + 2 * sizeof(uint32_t));
    if (m == NULL)
        return 0;
    uint32_t *ids = (uint32_t *)(m + cap), mixed;
    uint32_t n = resv_merge_lines(e, req, m, ids, ids + cap, &mixed);
    uint64_t d = resv_request_digest(e, req, m, n);
    free(m);
    if (d == 0)
        return 0;
    d = resv_fnv_str(d, "bundles", 7);
    return d != 0 ? d : 1;
}

/* A reserve: bundle lines become their components' lines (bundle.c) under
 * the definitions in force now, then the request is decided like any. */
static void resv_reserve(engine *e, const engine_resv_req *req)
{
    /* An id atpd has is a replay or a conflict, decided on the request as
     * the client sent it, before any expansion: a bundle reserve's replay
     * answers the original even when the bundle has changed or gone, and
     * a plain reserve's even when its SKU has become a bundle since (the
     * definitions of now would expand it into something else). */
    resv *cur = resv__find(&e->resv, req->id, req->id_len);
    if (cur != NULL) {
        uint64_t d = cur->digest != 0 && resv_visible(cur, req)
                         ? resv_bundle_digest(e, req)
                         : 0;
        if (d != 0 && d == cur->digest)
            resv__reply_after_writes(e, req, ATP_OK, cur, true, true);
        else /* its replay branch: the same content, or a conflict */
            resv_reserve_lines(e, req, 0, NULL);
        return;
    }
    engine_resv_line *lines;
    uint32_t n, line, *origin;
    const char *why;
    atp_err err =
        engine__bundle_expand(e, req, &lines, &origin, &n, &line, &why);
    if (err != ATP_OK) {
        engine_resv_result res = {.err = err,
                                  .message = why,
                                  .has_line = line != UINT32_MAX,
                                  .line = line,
                                  .id = req->id,
                                  .id_len = req->id_len};
        req->done(req->arg, &res);
        return;
    }
    if (lines == NULL) {
        resv_reserve_lines(e, req, 0, NULL);
        return;
    }
    uint64_t asked = resv_bundle_digest(e, req);
    if (asked == 0) {
        free(lines);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    engine_resv_req x = *req;
    x.lines = lines;
    x.n_lines = n;
    resv_reserve_lines(e, &x, asked, origin);
    free(lines); /* origin is in the same allocation */
}

static void resv_finish(engine *e, resv *r, uint8_t state, int64_t now)
{
    r->state = state;
    r->updated_ms = now;
    r->due.key = now + e->cfg->reservations.retention_ms;
}

static void resv_commit(engine *e, const engine_resv_req *req, resv *cur)
{
    resv_table *t = &e->resv;
    bool ref_given = req->order_ref_len > 0;
    bool same_ref =
        !ref_given ||
        (cur->order_ref && cur->order_ref_len == req->order_ref_len &&
         memcmp(cur->order_ref, req->order_ref, req->order_ref_len) == 0);
    if (cur->state == ENGINE_RESV_COMMITTED ||
        cur->state == ENGINE_RESV_CONSUMED) {
        if (same_ref)
            resv__reply_after_writes(e, req, ATP_OK, cur, true, true);
        else
            resv__reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
        return;
    }
    if (cur->state != ENGINE_RESV_HELD) {
        resv__reply_after_writes(e, req, ATP_E_BAD_STATE, cur, false, false);
        return;
    }
    if (ref_given) {
        resv *other = resv__find_ref(t, req->order_ref, req->order_ref_len);
        if (other != NULL && other != cur) {
            resv__reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
            return;
        }
    }
    resv *next = resv__clone(cur);
    char *ref =
        ref_given ? resv__strdup(req->order_ref, req->order_ref_len) : NULL;
    if (next == NULL || (ref_given && ref == NULL) ||
        !resv_marks_commit(e, next)) {
        resv__free(next);
        free(ref);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = e->now_ms;
    if (ref_given) {
        free(next->order_ref);
        next->order_ref = ref;
        next->order_ref_len = req->order_ref_len;
    }
    next->state = ENGINE_RESV_COMMITTED;
    next->updated_ms = now;
    next->expires_ms = next->due.key =
        now + e->cfg->reservations.committed_ttl_ms;
    resv__change(e, req, cur, next, true);
}

static bool resv_line_named(const engine *e, const engine_resv_req *req,
                            const resv_line *l)
{
    size_t len;
    const char *sku = dict_key(e->skus, l->sku, &len);
    for (uint32_t i = 0; i < req->n_lines; i++)
        if (req->lines[i].region == l->region && req->lines[i].sku_len == len &&
            memcmp(req->lines[i].sku, sku, len) == 0)
            return true;
    return false;
}

static void resv_release(engine *e, const engine_resv_req *req, resv *cur)
{
    if (!resv__is_open(cur->state)) {
        /* Released or expired already: done, idempotently. Consumed: the
         * stock has shipped, nothing to release. */
        atp_err err =
            cur->state == ENGINE_RESV_CONSUMED ? ATP_E_BAD_STATE : ATP_OK;
        resv__reply_after_writes(e, req, err, cur, false, err == ATP_OK);
        return;
    }
    resv *next = resv__clone(cur);
    if (next == NULL) {
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    bool any_open = false, changed = false;
    for (uint32_t i = 0; i < next->n_lines; i++) {
        resv_line *l = &next->lines[i];
        if ((req->n_lines == 0 || resv_line_named(e, req, l)) &&
            l->released != l->qty - l->consumed) {
            l->released = l->qty - l->consumed; /* nothing left open here */
            changed = true;
        }
        any_open |= l->qty > l->consumed + l->released;
    }
    if (!changed && any_open) {
        /* A partial release repeated, or naming no line it has: nothing
         * to release, so nothing is written (answered as the replay it
         * is). Nothing open at all (a store failure can leave a committed
         * record so): it is finished as released below, and written. */
        resv__free(next);
        resv__reply_after_writes(e, req, ATP_OK, cur, false, true);
        return;
    }
    int64_t now = e->now_ms;
    next->updated_ms = now;
    if (!any_open)
        resv_finish(e, next, ENGINE_RESV_RELEASED, now);
    resv__change(e, req, cur, next, true);
}

static void resv_extend(engine *e, const engine_resv_req *req, resv *cur)
{
    atp_err err = ATP_OK;
    int64_t ttl = resv_ttl(e, req->ttl_ms, &err);
    if (err != ATP_OK || !resv__is_open(cur->state)) {
        resv__reply_after_writes(e, req, err != ATP_OK ? err : ATP_E_BAD_STATE,
                                 cur, false, false);
        return;
    }
    resv *next = resv__clone(cur);
    if (next == NULL) {
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = e->now_ms;
    next->updated_ms = now;
    next->expires_ms = next->due.key = now + ttl;
    resv__change(e, req, cur, next, true);
}

void resv_execute(engine *e, const engine_resv_req *req)
{
    ATP_ASSERT_OWNER(&e->owner);
    if (req->op == ENGINE_RESV_RESERVE) {
        resv_reserve(e, req);
        return;
    }
    resv *cur = resv__find(&e->resv, req->id, req->id_len);
    /* Another client's reservation is not found: its id does not leak. */
    if (cur == NULL || !resv_visible(cur, req)) {
        resv__reply_now(e, req, ATP_E_NOT_FOUND, NULL, false, false);
        return;
    }
    switch (req->op) {
    case ENGINE_RESV_COMMIT:
        resv_commit(e, req, cur);
        break;
    case ENGINE_RESV_RELEASE:
        resv_release(e, req, cur);
        break;
    case ENGINE_RESV_EXTEND:
        resv_extend(e, req, cur);
        break;
    default: /* ENGINE_RESV_GET */
        resv__reply_after_writes(e, req, ATP_OK, cur, false, false);
        break;
    }
}

/* ---- expiry, purge, consumption
 * ---------------------------------------------- */

int64_t resv_tick(engine *e, int64_t now)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    if (now < t->retry_after_ms)
        return t->retry_after_ms - now;
    /* Bounded per tick so that a mass expiry cannot starve ingest. */
    heap_node *top;
    for (int budget = 10000;
         (top = heap_min(&t->expiry)) != NULL && top->key <= now && budget > 0;
         budget--) {
        resv *cur = HEAP_ENTRY(top, resv, due);
        if (!resv__is_open(cur->state)) {
            resv__change(e, NULL, cur, NULL,
                         false); /* retention over: forget */
            continue;
        }
        resv *next = resv__clone(cur);
        if (next == NULL) {
            /* try again later */
            heap_update(&t->expiry, &cur->due, now + RESV_RETRY_MS);
            continue;
        }
        resv_finish(e, next, ENGINE_RESV_EXPIRED, now);
        atomic_fetch_add_explicit(&t->expired, 1, memory_order_relaxed);
        resv__change(e, NULL, cur, next, false);
    }
    if ((top = heap_min(&t->expiry)) == NULL)
        return -1;
    return top->key > now ? top->key - now : 0;
}

/* The index of r's line for (sku, region) if some of it is still open to
 * consumption (neither consumed nor released); r->n_lines: none. */
static uint32_t resv_consumable_line(const resv *r, uint32_t sku,
                                     uint32_t region)
{
    uint32_t i = 0;
    while (i < r->n_lines &&
           !(r->lines[i].sku == sku && r->lines[i].region == region))
        i++;
    if (i < r->n_lines &&
        r->lines[i].consumed + r->lines[i].released >= r->lines[i].qty)
        return r->n_lines;
    return i;
}

/* An allocation (src, seq, event) naming cur while it is held consumes
 * nothing, and must not when its source resends it after a restart and
 * cur has been committed by then (issue 12, B(2)): its key becomes cur's
 * mark for src, stored with the record like a consumption's (kept over a
 * failed write and written again), and the commit raises that mark, never
 * lowers it. Only when cur has a line the event could consume once
 * committed: any other allocation could never consume it, and writes
 * nothing. The record's content is not changed (updated_ms neither): a
 * mark is not visible to clients. Frees cur (replaced). */
static void resv_mark_held(engine *e, resv *cur, uint32_t sku, uint32_t region,
                           uint32_t src, uint64_t seq, uint32_t event)
{
    if (resv_consumable_line(cur, sku, region) == cur->n_lines)
        return;
    resv *next = resv__clone(cur);
    if (next == NULL || !resv_mark_raise(next, src, seq, event)) {
        log_error("resv",
                  "out of memory: %.*s, held, may be consumed by an "
                  "allocation named before its commit if that is resent after "
                  "a restart",
                  (int)cur->id_len, cur->id);
        resv__free(next);
        return;
    }
    resv_pending *p = resv__change(e, NULL, cur, next, false);
    if (p != NULL) {
        p->keep = true;
        p->mark_only = true;
    }
}

/* A consumption is keyed by the event that makes it, (src, seq, event), and
 * the record keeps, per source, the highest key it reflects (resv->marks),
 * written with the record in the same store operation. After a kill -9 the
 * positions come back from the last snapshot and the sources resend what
 * followed it, so an event may be applied a second time; its key is then
 * at or below the mark of every record it acted on the first time (a
 * consumption raised the mark; a commit after it set the mark above it),
 * and it changes nothing. An event above the mark was not applied to this
 * record yet (or its consumption was never stored, and is made now): the
 * state after the replay is the state without the crash. */
void resv_consume(engine *e, uint32_t sku, uint32_t region, const char *ref,
                  uint32_t ref_len, int64_t qty, uint32_t src, uint64_t seq,
                  uint32_t event)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    resv *cur = resv__find(t, ref, ref_len);
    /* The record of that id decides first, whatever its state: a mark of
     * it covering the event means the event was applied while this record
     * existed (it consumed this one, was routed by order_ref while this
     * one could not be consumed, or named it while it was held), and a
     * resend must not reach another record by order_ref now that this one
     * is consumed or finished. */
    if (cur != NULL && src != UINT32_MAX &&
        resv__mark_covers(cur, src, seq, event))
        return;
    if (cur == NULL || cur->state != ENGINE_RESV_COMMITTED) {
        /* resv_mark_held replaces (frees) cur: found again below by ref */
        if (cur != NULL && cur->state == ENGINE_RESV_HELD && src != UINT32_MAX)
            resv_mark_held(e, cur, sku, region, src, seq, event);
        cur = resv__find_ref(t, ref, ref_len);
    }
    if (cur == NULL || cur->state != ENGINE_RESV_COMMITTED)
        return; /* not ours: an ordinary allocation */
    if (src != UINT32_MAX && resv__mark_covers(cur, src, seq, event))
        return; /* resent: applied to this record before, or before its commit
                 */
    uint32_t i = resv_consumable_line(cur, sku, region);
    if (i == cur->n_lines)
        return;
    resv *next = resv__clone(cur);
    if (next == NULL ||
        (src != UINT32_MAX && !resv_mark_raise(next, src, seq, event))) {
        resv__free(next);
        log_error("resv", "out of memory: consumption of %.*s lost",
                  (int)ref_len, ref);
        return;
    }
    resv_line *l = &next->lines[i];
    int64_t open = l->qty - l->consumed - l->released;
    l->consumed += open < qty ? open : qty;
    bool all = true;
    for (uint32_t k = 0; k < next->n_lines; k++)
        all &= next->lines[k].consumed + next->lines[k].released >=
               next->lines[k].qty;
    int64_t now = e->now_ms;
    next->updated_ms = now;
    if (all) {
        resv_finish(e, next, ENGINE_RESV_CONSUMED, now);
        atomic_fetch_add_explicit(&t->consumed, 1, memory_order_relaxed);
    }
    resv_pending *p = resv__change(e, NULL, cur, next, false);
    if (p != NULL)
        p->keep = true;
}
