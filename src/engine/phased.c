/*
 * phased.c - time-phased promises (docs/PROTOCOL.md, "Time-phased
 * promises"): dated reservations per (sku, region) row, the row's
 * preorder hold, the conversion of a date that arrived, and the promise
 * answers. Engine thread (loading: main thread before engine_start).
 *
 * Why the hold lives in the row's reserved total: every answer, every
 * reserve check, the change feed and the backorder arithmetic read
 * (supply, reserved) and nothing else. With reserved = ordinary + hold,
 * today's ATP is atp_on(now) of the time-phased formula without any
 * reader knowing about dates; only rows with dated reservations (rare)
 * cost anything, and only when their dates, their SKU's lots or the
 * horizons change.
 *
 * The arithmetic is formula/phased.c's; this file gathers a row's steps:
 * its future lots (lots the row's supply does not count, at their ETA, a
 * late one at now + 1 ms) and its dates (negative).
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "engine/dict.h"
#include "engine/engine_int.h"
#include "formula/bundles.h"
#include "formula/formula.h"
#include "formula/phased.h"

atp_err engine__phased_init(engine_phased *p)
{
    memset(p, 0, sizeof *p);
    p->cap = 64;
    p->rows = calloc(p->cap, sizeof *p->rows);
    p->next_ms = INT64_MAX;
    p->loading = true;
    return p->rows != NULL ? ATP_OK : ATP_E_NOMEM;
}

void engine__phased_fini(engine_phased *p)
{
    for (size_t i = 0; p->rows != NULL && i < p->cap; i++)
        free(p->rows[i].dates);
    free(p->rows);
    free(p->scratch);
    free(p->stale);
    memset(p, 0, sizeof *p);
}

/* ---- the rows ----------------------------------------------------------- */

static uint64_t phased_key(uint32_t sku, uint32_t region)
{
    return ((uint64_t)sku << 16 | region) + 1;
}

static size_t phased_slot(const engine_phased *p, uint64_t key)
{
    size_t m = p->cap - 1, i = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & m;
    while (p->rows[i].key != 0 && p->rows[i].key != key)
        i = (i + 1) & m;
    return i;
}

static engine_phased_row *phased_find(const engine_phased *p, uint32_t sku,
                                      uint32_t region)
{
    if (p->used == 0)
        return NULL;
    engine_phased_row *r = &p->rows[phased_slot(p, phased_key(sku, region))];
    return r->key != 0 ? r : NULL;
}

/* The row of (sku, region), made when missing; NULL: no memory. */
static engine_phased_row *phased_get(engine_phased *p, uint32_t sku,
                                     uint32_t region)
{
    uint64_t key = phased_key(sku, region);
    size_t i = phased_slot(p, key);
    if (p->rows[i].key == key)
        return &p->rows[i];
    if ((p->used + 1) * 4 > p->cap * 3) {
        size_t cap = p->cap * 2;
        engine_phased_row *rows = calloc(cap, sizeof *rows);
        if (rows == NULL)
            return NULL;
        engine_phased old = *p;
        p->rows = rows;
        p->cap = cap;
        for (size_t k = 0; k < old.cap; k++)
            if (old.rows[k].key != 0)
                rows[phased_slot(p, old.rows[k].key)] = old.rows[k];
        free(old.rows);
        i = phased_slot(p, key);
    }
    p->rows[i] = (engine_phased_row){.key = key};
    p->used++;
    return &p->rows[i];
}

static uint32_t phased_row_sku(const engine_phased_row *r)
{
    return (uint32_t)((r->key - 1) >> 16);
}

static uint32_t phased_row_region(const engine_phased_row *r)
{
    return (uint32_t)((r->key - 1) & 0xffff);
}

/* The index of date_ms in r (or where it goes). */
static uint32_t phased_date_at(const engine_phased_row *r, int64_t date_ms)
{
    uint32_t lo = 0, hi = r->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (r->dates[mid].date_ms < date_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool phased_date_room(engine_phased_row *r, uint32_t more)
{
    if (r->n + more <= r->cap)
        return true;
    uint32_t cap = r->cap ? r->cap * 2 : 4;
    while (cap < r->n + more)
        cap *= 2;
    engine_phased_date *d = realloc(r->dates, cap * sizeof *d);
    if (d == NULL)
        return false;
    r->dates = d;
    r->cap = cap;
    return true;
}

/* ---- a row's steps ------------------------------------------------------ */

typedef struct phased_gather {
    const engine *e;
    uint32_t region;
    int64_t now;
    phased_step *s;
    size_t n, cap;
    bool short_of_room;
} phased_gather;

static void phased_push(phased_gather *g, int64_t at, int64_t delta)
{
    if (g->n + 1 >= g->cap) { /* one more for phased_prepare's today */
        size_t cap = g->cap * 2;
        phased_step *s = realloc(g->s, cap * sizeof *s);
        if (s == NULL) {
            g->short_of_room = true;
            return;
        }
        g->s = s;
        g->cap = cap;
    }
    g->s[g->n++] = (phased_step){at, delta};
}

/* A future lot: in the row's region, not counted in its supply. */
static void phased_lot(void *ctx, uint16_t loc, const char *id, uint32_t len,
                       int64_t qty, int64_t eta_ms, bool counted)
{
    (void)id;
    (void)len;
    phased_gather *g = ctx;
    if (counted || qty <= 0 || g->e->loc_region[loc] != g->region)
        return;
    phased_push(g, eta_ms > g->now ? eta_ms : g->now + 1, qty);
}

/* The prepared steps of (sku, region) at now into g (g->s owned by the
 * caller, g->cap >= 1); sku DICT_NONE: none but today. */
static size_t phased_steps(const engine *e, uint32_t sku, uint32_t region,
                           phased_gather *g)
{
    g->e = e;
    g->region = region;
    g->now = e->now_ms;
    g->n = 0;
    if (sku != DICT_NONE) {
        engine__lots_visit(e, sku, phased_lot, g);
        const engine_phased_row *r = phased_find(&e->phased, sku, region);
        for (uint32_t k = 0; r != NULL && k < r->n; k++)
            phased_push(g, r->dates[k].date_ms, -r->dates[k].qty);
    }
    if (g->n + 1 > g->cap) /* out of memory growing: today at least */
        g->n = g->cap - 1;
    return phased_prepare(g->s, g->n, g->now);
}

static int64_t phased_row_dated(const engine_phased_row *r)
{
    int64_t x = 0;
    for (uint32_t k = 0; k < r->n; k++)
        x += r->dates[k].qty;
    return x;
}

/* The row's hold as its lots and dates say now. Out of memory (some
 * steps left out): every dated unit, which never promises too much. */
static int64_t phased_hold_of(engine *e, const engine_phased_row *r)
{
    engine_phased *p = &e->phased;
    phased_gather g = {.s = p->scratch, .cap = p->scratch_cap};
    if (g.s == NULL) {
        g.cap = 64;
        g.s = malloc(g.cap * sizeof *g.s);
    }
    if (g.s == NULL) {
        log_error("engine", "out of memory: a preorder hold counts every "
                            "dated unit");
        return phased_row_dated(r);
    }
    size_t n = phased_steps(e, phased_row_sku(r), phased_row_region(r), &g);
    p->scratch = g.s;
    p->scratch_cap = g.cap;
    if (g.short_of_room) {
        log_error("engine", "out of memory: a preorder hold counts every "
                            "dated unit");
        return phased_row_dated(r);
    }
    return phased_hold(g.s, n);
}

/* Publish hold as the row's, in its reserved total. */
static void phased_publish(engine *e, engine_phased_row *r, int64_t hold)
{
    if (hold == r->hold)
        return;
    engine__row_add(e, phased_row_sku(r), phased_row_region(r), 0,
                    hold - r->hold);
    atomic_fetch_add_explicit(&e->phased.hold_units, hold - r->hold,
                              memory_order_relaxed);
    r->hold = hold;
}

/* The row's hold again, published now (its dates changed). */
static void phased_refresh(engine *e, engine_phased_row *r)
{
    phased_publish(e, r, phased_hold_of(e, r));
}

/* The row's lots changed: its hold again at the next flush (at once when
 * there is no memory to remember it). */
static void phased_mark(engine *e, engine_phased_row *r)
{
    engine_phased *p = &e->phased;
    if (r->stale)
        return;
    if (p->n_stale == p->cap_stale) {
        size_t cap = p->cap_stale ? p->cap_stale * 2 : 64;
        uint64_t *k = realloc(p->stale, cap * sizeof *k);
        if (k == NULL) {
            phased_refresh(e, r);
            return;
        }
        p->stale = k;
        p->cap_stale = cap;
    }
    r->stale = true;
    p->stale[p->n_stale++] = r->key;
}

/* ---- dated reservations ------------------------------------------------- */

atp_err engine__phased_room(engine *e, uint32_t sku, uint32_t region,
                            int64_t date_ms)
{
    engine_phased_row *r = phased_get(&e->phased, sku, region);
    if (r == NULL)
        return ATP_E_NOMEM;
    uint32_t i = phased_date_at(r, date_ms);
    bool there = i < r->n && r->dates[i].date_ms == date_ms;
    return there || phased_date_room(r, 1) ? ATP_OK : ATP_E_NOMEM;
}

void engine__phased_move(engine *e, uint32_t sku, uint32_t region,
                         int64_t date_ms, int64_t d)
{
    engine_phased *p = &e->phased;
    engine_phased_row *r =
        d > 0 ? phased_get(p, sku, region) : phased_find(p, sku, region);
    uint32_t i = r != NULL ? phased_date_at(r, date_ms) : 0;
    bool there = r != NULL && i < r->n && r->dates[i].date_ms == date_ms;
    if (!there && (d < 0 || r == NULL || !phased_date_room(r, 1))) {
        /* No room for the date (or, removing, none there: it was counted
         * that way): the row's reserved holds it, which never oversells. */
        if (d > 0)
            log_error("engine", "out of memory: a dated reservation counts "
                                "as an ordinary one");
        engine__row_add(e, sku, region, 0, d);
        return;
    }
    if (there && d < -r->dates[i].qty) {
        /* More than the date holds: the rest was counted as ordinary (an
         * earlier move without room), and goes from there. */
        engine__row_add(e, sku, region, 0, d + r->dates[i].qty);
        d = -r->dates[i].qty;
    }
    if (!there) {
        memmove(&r->dates[i + 1], &r->dates[i], (r->n - i) * sizeof *r->dates);
        r->dates[i] = (engine_phased_date){date_ms, 0};
        r->n++;
    }
    r->dates[i].qty += d;
    if (r->dates[i].qty == 0) {
        r->n--;
        memmove(&r->dates[i], &r->dates[i + 1], (r->n - i) * sizeof *r->dates);
    }
    atomic_fetch_add_explicit(&p->dated_units, d, memory_order_relaxed);
    if (d > 0 && date_ms < p->next_ms)
        p->next_ms = date_ms;
    /* Start-up puts every stored record in one by one: its rows' holds
     * once at the end (engine__phased_settle from engine_start_stepped),
     * not per record (a row of 32,000 preorders would cost minutes). */
    if (p->loading)
        phased_mark(e, r);
    else
        phased_refresh(e, r);
}

void engine__phased_lots_changed(engine *e, uint32_t sku, uint16_t loc)
{
    uint16_t region = e->loc_region[loc];
    if (e->phased.used == 0 || region == CONFIG_LOCATION_GONE)
        return;
    engine_phased_row *r = phased_find(&e->phased, sku, region);
    if (r != NULL && r->n > 0)
        phased_mark(e, r);
}

void engine__phased_refresh_all(engine *e)
{
    engine_phased *p = &e->phased;
    for (size_t i = 0; p->used > 0 && i < p->cap; i++)
        if (p->rows[i].key != 0 && (p->rows[i].n > 0 || p->rows[i].hold != 0))
            phased_mark(e, &p->rows[i]);
}

/* The stale rows' row, or NULL (a row stays once made: never). */
static engine_phased_row *phased_stale_row(engine *e, size_t i)
{
    uint64_t key = e->phased.stale[i] - 1;
    return phased_find(&e->phased, (uint32_t)(key >> 16),
                       (uint32_t)(key & 0xffff));
}

void engine__phased_holds_rise(engine *e)
{
    for (size_t i = 0; i < e->phased.n_stale; i++) {
        engine_phased_row *r = phased_stale_row(e, i);
        if (r == NULL)
            continue;
        r->next_hold = phased_hold_of(e, r);
        if (r->next_hold > r->hold)
            phased_publish(e, r, r->next_hold);
    }
}

void engine__phased_holds_fall(engine *e)
{
    for (size_t i = 0; i < e->phased.n_stale; i++) {
        engine_phased_row *r = phased_stale_row(e, i);
        if (r == NULL)
            continue;
        if (r->next_hold < r->hold)
            phased_publish(e, r, r->next_hold);
        r->stale = false;
    }
    e->phased.n_stale = 0;
}

void engine__phased_settle(engine *e)
{
    if (e->phased.n_stale == 0)
        return;
    engine__phased_holds_rise(e);
    engine__phased_holds_fall(e);
}

int64_t engine__phased_headroom(const engine *e, uint32_t sku, uint32_t region,
                                int64_t reserved)
{
    const engine_phased_row *r =
        sku != DICT_NONE ? phased_find(&e->phased, sku, region) : NULL;
    int64_t open =
        r == NULL ? reserved : reserved - r->hold + phased_row_dated(r);
    return open < ATP_QTY_SUM_MAX ? ATP_QTY_SUM_MAX - open : 0;
}

int64_t engine__phased_tick(engine *e, int64_t now)
{
    engine_phased *p = &e->phased;
    if (now > p->conv_ms)
        p->conv_ms = now;
    if (p->next_ms > now)
        return p->next_ms == INT64_MAX ? -1 : p->next_ms - now;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < p->cap; i++) {
        engine_phased_row *r = &p->rows[i];
        if (r->key == 0 || r->n == 0)
            continue;
        uint32_t k = 0;
        int64_t due = 0;
        while (k < r->n && r->dates[k].date_ms <= now)
            due += r->dates[k++].qty;
        if (k > 0) {
            /* The date came: ordinary now, in the row's reserved. */
            r->n -= k;
            memmove(r->dates, r->dates + k, r->n * sizeof *r->dates);
            atomic_fetch_add_explicit(&p->dated_units, -due,
                                      memory_order_relaxed);
            engine__row_add(e, phased_row_sku(r), phased_row_region(r), 0, due);
            phased_refresh(e, r);
        }
        if (r->n > 0 && r->dates[0].date_ms < next)
            next = r->dates[0].date_ms;
    }
    p->next_ms = next;
    return next == INT64_MAX ? -1 : next - now;
}

/* ---- answers ------------------------------------------------------------ */

/* The profile of (sku, region) for answer a into g (prepared, then
 * phased_profile'd); returns its length. The base is today's supply -
 * buffer - ordinary, ordinary being reserved less the row's hold. */
static size_t phased_profile_of(const engine *e, uint32_t sku, uint32_t region,
                                const engine_answer *a, phased_gather *g,
                                int64_t *hold)
{
    size_t n = phased_steps(e, sku, region, g);
    const engine_phased_row *r =
        sku != DICT_NONE ? phased_find(&e->phased, sku, region) : NULL;
    int64_t row_hold = r != NULL ? r->hold : 0;
    int64_t ordinary = a->reserved - row_hold;
    int64_t base =
        formula_sat_add(a->supply, -formula_sat_add(a->buffer, ordinary));
    phased_profile(g->s, n, base, hold);
    return n;
}

int64_t engine__phased_atp_on(const engine *e, uint32_t sku, uint32_t region,
                              const engine_answer *a, int64_t date_ms)
{
    phased_gather g = {.cap = 64};
    if ((g.s = malloc(g.cap * sizeof *g.s)) == NULL)
        return 0; /* out of memory: nothing promised */
    size_t n = phased_profile_of(e, sku, region, a, &g, NULL);
    /* Out of memory growing the steps: some dates may be left out, so
     * nothing is promised. */
    int64_t atp = g.short_of_room ? 0 : phased_atp_on(g.s, n, date_ms);
    free(g.s);
    return atp;
}

/* Line l's answer into out; with point_ms (line 0 of a promise) its
 * schedule too. False: out of memory (some steps left out). */
static bool phased_answer(engine *e, const engine_promise_req *req,
                          const engine_promise_line *l,
                          engine_promise_result *out, phased_gather *g,
                          int64_t *point_ms, int64_t *point_atp)
{
    uint32_t sku = dict_find(e->skus, l->sku, l->sku_len);
    const bundles *b = atomic_load_explicit(&e->bundles, memory_order_acquire);
    if (sku != DICT_NONE && bundles_count(b) > 0 &&
        bundles_find(b, sku) != NULL) {
        out->bundle = true;
        return true;
    }
    engine__answer_of(e, sku, l->sku, l->sku_len, req->region, req->channel,
                      &out->answer);
    const engine_phased_row *r =
        sku != DICT_NONE ? phased_find(&e->phased, sku, req->region) : NULL;
    for (uint32_t k = 0; r != NULL && k < r->n; k++)
        out->dated += r->dates[k].qty;
    out->hold = r != NULL ? r->hold : 0;
    int64_t ordinary = out->answer.reserved - out->hold;
    int64_t free_now = out->answer.supply - ordinary;
    out->shortfall = out->hold - (free_now > 0 ? free_now : 0);
    if (out->shortfall < 0)
        out->shortfall = 0;
    size_t n = phased_profile_of(e, sku, req->region, &out->answer, g, NULL);
    out->max_promisable = g->s[n - 1].delta;
    out->atp_on_date = phased_atp_on(g->s, n, req->date_ms);
    out->earliest_ms = l->qty > 0 ? phased_earliest(g->s, n, l->qty) : -1;
    for (size_t k = 0; point_ms != NULL && k < n; k++) {
        if (k > 0 && g->s[k].delta == g->s[k - 1].delta)
            continue; /* the schedule lists where atp_on rises */
        if (out->n_points == ENGINE_PROMISE_POINTS) {
            out->truncated = true;
            break;
        }
        point_ms[out->n_points] = g->s[k].at_ms;
        point_atp[out->n_points++] = g->s[k].delta;
    }
    return !g->short_of_room;
}

void engine__promise_run(engine *e, engine_promise_req *req)
{
    ATP_ASSERT_OWNER(&e->owner);
    engine_promise x = {.err = ATP_E_NOMEM, .now_ms = e->now_ms};
    engine_promise_result *res = calloc(req->n, sizeof *res);
    int64_t point_ms[ENGINE_PROMISE_POINTS], point_atp[ENGINE_PROMISE_POINTS];
    phased_gather g = {.cap = 64};
    g.s = malloc(g.cap * sizeof *g.s);
    if (res != NULL && g.s != NULL) {
        bool ok = true;
        for (uint32_t i = 0; ok && i < req->n; i++)
            ok = phased_answer(e, req, &req->lines[i], &res[i], &g,
                               req->points && i == 0 ? point_ms : NULL,
                               point_atp);
        if (ok) {
            x.err = ATP_OK;
            x.lines = res;
            x.point_ms = point_ms;
            x.point_atp = point_atp;
        }
    }
    req->done(req->arg, &x);
    free(g.s);
    free(res);
    free(req);
}

void engine__promise_refuse(engine_promise_req *req)
{
    engine_promise x = {.err = ATP_E_BUSY};
    req->done(req->arg, &x);
    free(req);
}

atp_err engine_promise_submit(engine *e, uint32_t region, uint32_t channel,
                              const engine_promise_line *lines, uint32_t n,
                              int64_t date_ms, bool points,
                              engine_promise_done_fn done, void *arg)
{
    ATP_ASSERT(region < e->n_regions && channel < e->n_channels && n > 0);
    engine_promise_req *req = malloc(sizeof *req);
    if (req == NULL)
        return ATP_E_NOMEM;
    *req = (engine_promise_req){.done = done,
                                .arg = arg,
                                .region = region,
                                .channel = channel,
                                .lines = lines,
                                .n = n,
                                .date_ms = date_ms,
                                .points = points};
    engine_cmd cmd = {.type = ENGINE_CMD_PROMISE, .promise = req};
    atp_err err = queue_try_push(&e->q, &cmd);
    if (err != ATP_OK)
        free(req);
    return err;
}
