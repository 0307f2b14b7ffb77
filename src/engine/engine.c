/*
 * engine.c - the single-writer engine: its thread applies queued batches to
 * positions and keeps the per-(SKU, region) aggregates that lock-free
 * readers use (see engine.h for the thread rules).
 *
 * Aggregate rows: for each SKU, n_regions rows of {seq, supply, reserved},
 * in chunks of ENGINE_ROW_CHUNK SKUs reached through a fixed directory, so a
 * row never moves once published. Each row is a seqlock: the engine thread
 * makes seq odd, writes, makes it even; a reader retries until it saw the
 * same even seq before and after reading. Every field is a C11 atomic
 * accessed relaxed, with fences doing the ordering (Boehm's seqlock recipe),
 * so the pattern is data-race free (and ThreadSanitizer agrees).
 */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"
#include "engine/dict.h"
#include "engine/positions.h"
#include "common/queue.h"
#include "formula/formula.h"
#include "formula/rules.h"


/* ---- rows (seqlock) ---------------------------------------------------- */

engine_row *engine_row_at(const engine *e, uint32_t sku, uint32_t region)
{
    engine_row *chunk = atomic_load_explicit(
        &e->row_dir[sku >> ENGINE_ROW_CHUNK_BITS], memory_order_acquire);
    return &chunk[(size_t)(sku & (ENGINE_ROW_CHUNK - 1)) * e->n_regions + region];
}

void engine_row_read(const engine_row *r, int64_t *supply,
                            int64_t *reserved)
{
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
        if (s1 & 1)
            continue; /* writer inside: a few instructions, spin */
        int64_t a = atomic_load_explicit(&r->supply, memory_order_relaxed);
        int64_t b = atomic_load_explicit(&r->reserved, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&r->seq, memory_order_relaxed) == s1) {
            *supply = a;
            *reserved = b;
            return;
        }
    }
}

/* Queue a changed row for the change feed, once until the feed reads it. */
void engine_dirty_mark(engine *e, engine_row *r, uint32_t sku,
                              uint32_t region)
{
    /* seq_cst pairs with the feed's clear-then-read (engine_dirty_take's
     * caller): either the feed sees this change or the flag is 0 and we
     * queue the row again. */
    if (!e->dirty.enabled || atomic_exchange(&r->dirty, 1) != 0)
        return;
    pthread_mutex_lock(&e->dirty.mu);
    if (e->dirty.n == e->dirty.cap) {
        size_t cap = e->dirty.cap ? e->dirty.cap * 2 : 4096;
        uint64_t *k = realloc(e->dirty.keys, cap * sizeof *k);
        if (k == NULL) {
            pthread_mutex_unlock(&e->dirty.mu);
            atomic_store(&r->dirty, 0);
            atomic_fetch_add(&e->dirty.dropped, 1);
            return;
        }
        e->dirty.keys = k;
        e->dirty.cap = cap;
    }
    e->dirty.keys[e->dirty.n++] = (uint64_t)sku << 16 | region;
    pthread_mutex_unlock(&e->dirty.mu);
}

/* The supply a row shows after adding d to what it shows now: the exact
 * sum clamped to +-ATP_QTY_SUM_MAX, the part beyond kept in e->over, so
 * that the row never drifts from the true sum (engine thread). */
static int64_t engine_supply_sum(engine *e, uint32_t sku, uint32_t region,
                                 int64_t shown, __int128 d)
{
    __int128 exact = (__int128)shown + d;
    if (shown != ATP_QTY_SUM_MAX && shown != -ATP_QTY_SUM_MAX &&
        exact <= ATP_QTY_SUM_MAX && exact >= -ATP_QTY_SUM_MAX)
        return (int64_t)exact; /* the usual case: nothing kept aside */
    uint64_t key = (uint64_t)sku << 16 | region;
    size_t i = 0;
    while (i < e->over.n && e->over.keys[i] != key)
        i++;
    if (i < e->over.n)
        exact += e->over.rest[i];
    int64_t out = exact > ATP_QTY_SUM_MAX    ? ATP_QTY_SUM_MAX
                  : exact < -ATP_QTY_SUM_MAX ? -ATP_QTY_SUM_MAX
                                             : (int64_t)exact;
    __int128 rest = exact - out;
    if (i < e->over.n && rest == 0) {
        e->over.n--; /* back under the bound: exact again */
        e->over.keys[i] = e->over.keys[e->over.n];
        e->over.rest[i] = e->over.rest[e->over.n];
    } else if (i < e->over.n) {
        e->over.rest[i] = rest;
    } else if (rest != 0) {
        if (e->over.n == e->over.cap) {
            size_t cap = e->over.cap ? e->over.cap * 2 : 16;
            uint64_t *k = realloc(e->over.keys, cap * sizeof *k);
            if (k != NULL)
                e->over.keys = k;
            __int128 *r = k ? realloc(e->over.rest, cap * sizeof *r) : NULL;
            if (r == NULL) {
                log_error("engine", "out of memory: supply of a row beyond "
                                    "2^53 - 1 saturates and may read low");
                return out;
            }
            e->over.rest = r;
            e->over.cap = cap;
        }
        e->over.keys[e->over.n] = key;
        e->over.rest[e->over.n++] = rest;
    }
    return out;
}

/* engine_row_add: engine thread only. */
void engine_row_add(engine *e, uint32_t sku, uint32_t region, __int128 d_supply,
                    int64_t d_reserved)
{
    engine_row *r = engine_row_at(e, sku, region);
    int64_t a = atomic_load_explicit(&r->supply, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&r->reserved, memory_order_relaxed);
    int64_t supply = d_supply == 0 ? a : engine_supply_sum(e, sku, region, a, d_supply);
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&r->supply, supply, memory_order_relaxed);
    atomic_store_explicit(&r->reserved, formula_sat_add(b, d_reserved),
                          memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 2, memory_order_release);
    engine_dirty_mark(e, r, sku, region);
}

/* Make sure the row chunk for SKU index sku exists before the SKU is
 * published in the dictionary (readers go dictionary -> row). */
static atp_err engine_rows_ensure(engine *e, uint32_t sku)
{
    size_t ci = sku >> ENGINE_ROW_CHUNK_BITS;
    if (atomic_load_explicit(&e->row_dir[ci], memory_order_relaxed) != NULL)
        return ATP_OK;
    size_t bytes = (size_t)ENGINE_ROW_CHUNK * e->n_regions * sizeof(engine_row);
    engine_row *chunk = calloc(1, bytes);
    if (chunk == NULL)
        return ATP_E_NOMEM;
    atomic_store_explicit(&e->row_dir[ci], chunk, memory_order_release);
    e->row_bytes += bytes;
    return ATP_OK;
}

/* ---- set-up ------------------------------------------------------------ */

atp_err engine_rules_build(const config *cfg, rules **out)
{
    rules *r;
    atp_err err = rules_alloc((uint32_t)cfg->n_regions,
                              (uint32_t)cfg->n_channels, &r);
    if (err != ATP_OK)
        return err;
    for (size_t i = 0; i < cfg->n_buffers; i++) {
        const config_buffer_rule *b = &cfg->buffers[i];
        err = rules_add_low_stock(r, b->sku, b->sku ? strlen(b->sku) : 0,
                                  b->region == UINT32_MAX ? RULES_ANY : b->region,
                                  b->channel == UINT32_MAX ? RULES_ANY : b->channel,
                                  b->units, b->percent_bp, b->low_stock);
        if (err != ATP_OK) {
            log_error("engine", "buffer rule at line %d: %s", b->line,
                      atp_err_message(err));
            rules_free(r);
            return err;
        }
    }
    *out = r;
    return ATP_OK;
}

atp_err engine_alloc(const config *cfg, const engine_persist *persist,
                     engine **out)
{
    atp_err err = ATP_E_NOMEM;
    engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ATP_E_NOMEM;
    e->cfg = cfg;
    if (persist != NULL)
        e->persist = *persist;
    e->n_regions = (uint32_t)cfg->n_regions;
    e->n_channels = (uint32_t)cfg->n_channels;
    if (e->n_regions == 0 || e->n_channels == 0) {
        err = ATP_E_CONFIG;
        goto fail;
    }
    e->loc_region = calloc(cfg->n_locations ? cfg->n_locations : 1,
                           sizeof *e->loc_region);
    e->region_stale = calloc(e->n_regions, sizeof *e->region_stale);
    e->row_dir = calloc(ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK, sizeof *e->row_dir);
    if (e->loc_region == NULL || e->region_stale == NULL || e->row_dir == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->n_locations; i++)
        e->loc_region[i] = (uint16_t)cfg->locations[i].region;
    if ((err = dict_alloc(ENGINE_MAX_SKUS, &e->skus)) != ATP_OK)
        goto fail;
    if ((err = positions_init(&e->pos, 1 << 16)) != ATP_OK)
        goto fail;
    rules *r;
    if ((err = engine_rules_build(cfg, &r)) != ATP_OK)
        goto fail;
    atomic_init(&e->rules, r);
    if ((err = queue_init(&e->q, sizeof(engine_cmd), ENGINE_QUEUE_CAP)) != ATP_OK)
        goto fail;
    if ((err = resv_table_init(&e->resv, cfg)) != ATP_OK)
        goto fail;
    pthread_mutex_init(&e->dirty.mu, NULL);
    if ((err = engine_snapshot_init(e)) != ATP_OK ||
        (err = engine_lots_init(&e->lots)) != ATP_OK)
        goto fail;
    *out = e;
    return ATP_OK;
fail:
    engine_free(e);
    return err;
}

void engine_free(engine *e)
{
    if (e == NULL)
        return;
    if (e->running)
        engine_stop(e);
    resv_table_fini(&e->resv);
    free(e->acc.keys);
    free(e->acc.delta);
    free(e->acc.touched);
    free(e->over.keys);
    free(e->over.rest);
    free(e->dirty.keys);
    pthread_mutex_destroy(&e->dirty.mu);
    engine_snapshot_fini(e);
    engine_lots_fini(&e->lots);
    queue_fini(&e->q);
    rules_free(atomic_load(&e->rules));
    for (size_t i = 0; i < e->retired.n; i++)
        rules_free(e->retired.sets[i]);
    free(e->retired.sets);
    positions_fini(&e->pos);
    dict_free(e->skus);
    if (e->row_dir != NULL)
        for (size_t i = 0; i < ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK; i++)
            free(atomic_load(&e->row_dir[i]));
    free(e->row_dir);
    free(e->region_stale);
    free(e->loc_region);
    free(e);
}

/* ---- the engine thread -------------------------------------------------- */

int64_t engine_clamp(engine *e, int64_t v)
{
    if (v > ATP_QTY_MAX || v < -ATP_QTY_MAX) {
        atomic_fetch_add_explicit(&e->events_clamped, 1, memory_order_relaxed);
        return v > 0 ? ATP_QTY_MAX : -ATP_QTY_MAX;
    }
    return v;
}


/* Reserve every allocation a batch could need before touching anything, so
 * an out-of-memory never leaves a batch half applied. */
atp_err engine_skus_reserve(engine *e, uint32_t n, size_t bytes)
{
    uint32_t n_new = dict_count(e->skus) + n;
    if (n_new > ENGINE_MAX_SKUS)
        n_new = ENGINE_MAX_SKUS;
    for (uint32_t s = dict_count(e->skus); s < n_new;
         s = (s | (ENGINE_ROW_CHUNK - 1)) + 1) {
        atp_err err = engine_rows_ensure(e, s);
        if (err != ATP_OK)
            return err;
    }
    return dict_reserve(e->skus, n, bytes);
}

atp_err engine_reserve_positions(engine *e, size_t n)
{
    /* Every SKU has at most one position per location, so n positions are
     * at least n / n_locations SKUs: size the dictionary and rows for that
     * many now (a lower bound: growth covers SKUs stocked in fewer
     * locations; an upper bound would cost 48 B per unused key). */
    size_t locs = e->cfg->n_locations ? e->cfg->n_locations : 1;
    size_t skus = n / locs;
    if (skus > ENGINE_MAX_SKUS - dict_count(e->skus))
        skus = ENGINE_MAX_SKUS - dict_count(e->skus);
    atp_err err = engine_skus_reserve(e, (uint32_t)skus, 0);
    if (err != ATP_OK)
        return err;
    return positions_reserve(&e->pos, n);
}

atp_err engine_sku_intern_one(engine *e, const char *sku, size_t len,
                              uint32_t *idx)
{
    atp_err err = engine_skus_reserve(e, 1, len > DICT_INLINE ? len : 0);
    if (err == ATP_OK)
        err = positions_reserve(&e->pos, 1);
    if (err == ATP_OK)
        err = dict_intern(e->skus, sku, len, idx);
    return err;
}

static atp_err engine_batch_reserve(engine *e, const engine_batch *b)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->events[i].sku_len > DICT_INLINE)
            bytes += b->events[i].sku_len;
    atp_err err = engine_skus_reserve(e, b->n, bytes);
    if (err != ATP_OK)
        return err;
    return positions_reserve(&e->pos, b->n);
}

/* ---- per-batch row accumulator ------------------------------------------ */

static void engine_acc_flush(engine *e);

bool engine_acc_reserve(engine *e, uint32_t n)
{
    size_t need = 16;
    while (need < (size_t)n * 2)
        need *= 2;
    if (e->acc.cap >= need)
        return true;
    uint64_t *k = calloc(need, sizeof *k);
    __int128 *d = calloc(need, sizeof *d);
    uint32_t *t = calloc(need, sizeof *t);
    if (k == NULL || d == NULL || t == NULL) {
        free(k), free(d), free(t);
        return false;
    }
    free(e->acc.keys), free(e->acc.delta), free(e->acc.touched);
    e->acc.keys = k;
    e->acc.delta = d;
    e->acc.touched = t;
    e->acc.cap = need;
    return true;
}

void engine_acc_add(engine *e, uint32_t sku, uint32_t region, int64_t d)
{
    uint64_t key = (((uint64_t)sku << 16) | region) + 1;
    size_t mask = e->acc.cap - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
    while (e->acc.keys[i] != 0 && e->acc.keys[i] != key)
        i = (i + 1) & mask;
    if (e->acc.keys[i] == 0) {
        e->acc.keys[i] = key;
        e->acc.delta[i] = 0;
        e->acc.touched[e->acc.n_touched++] = (uint32_t)i;
    }
    e->acc.delta[i] += d; /* exact, see engine_supply_sum */
}

void engine_supply_changed(engine *e, uint32_t sku, uint16_t loc, int64_t d)
{
    if (d == 0)
        return;
    uint32_t region = e->loc_region[loc];
    if ((e->acc.n_touched + 1) * 2 <= e->acc.cap)
        engine_acc_add(e, sku, region, d);
    else
        engine_row_add(e, sku, region, d, 0);
}

void engine_supply_flush(engine *e) { engine_acc_flush(e); }

bool engine_acc_each(engine *e, engine_acc_fn fn, void *ctx)
{
    for (size_t t = 0; t < e->acc.n_touched; t++) {
        size_t i = e->acc.touched[t];
        uint64_t key = e->acc.keys[i] - 1;
        if (e->acc.delta[i] != 0 &&
            !fn(ctx, (uint32_t)(key >> 16), (uint32_t)(key & 0xffff),
                e->acc.delta[i]))
            return false;
    }
    return true;
}

void engine_acc_discard(engine *e)
{
    for (size_t t = 0; t < e->acc.n_touched; t++)
        e->acc.keys[e->acc.touched[t]] = 0;
    e->acc.n_touched = 0;
}

__int128 engine_supply_exact(const engine *e, uint32_t sku, uint32_t region)
{
    int64_t shown, reserved;
    engine_row_read(engine_row_at(e, sku, region), &shown, &reserved);
    uint64_t key = (uint64_t)sku << 16 | region;
    for (size_t i = 0; i < e->over.n; i++)
        if (e->over.keys[i] == key)
            return (__int128)shown + e->over.rest[i];
    return shown;
}

static void engine_acc_flush(engine *e)
{
    const size_t ahead = 8; /* rows are random: overlap their misses */
    for (size_t t = 0; t < e->acc.n_touched; t++) {
        if (t + ahead < e->acc.n_touched) {
            uint64_t k = e->acc.keys[e->acc.touched[t + ahead]] - 1;
            __builtin_prefetch(engine_row_at(e, (uint32_t)(k >> 16),
                                             (uint32_t)(k & 0xffff)), 1);
        }
        size_t i = e->acc.touched[t];
        uint64_t key = e->acc.keys[i] - 1;
        if (e->acc.delta[i] != 0)
            engine_row_add(e, (uint32_t)(key >> 16), (uint32_t)(key & 0xffff),
                           e->acc.delta[i], 0);
        e->acc.keys[i] = 0;
    }
    e->acc.n_touched = 0;
}

static void engine_apply_event(engine *e, const engine_batch *b,
                               const engine_event *ev, uint32_t sku)
{
    /* Removed by a reload after the ingest resolved it (the ingest rejects
     * and counts such events from the reload on): dropped. */
    if (e->loc_region[ev->location] == CONFIG_LOCATION_GONE)
        return;
    if (ev->kind >= ATP_EV_LOT_ADD) {
        engine_lot_event(e, sku, ev);
        return;
    }
    size_t before = e->pos.used;
    position *p = positions_upsert(&e->pos, sku, ev->location);
    if (p == NULL)
        return; /* unreachable after engine_batch_reserve */
    if (e->pos.used != before)
        atomic_store_explicit(&e->n_positions, e->pos.used, memory_order_relaxed);
    int64_t old_net = engine_position_net(e, p);
    engine_position_touched(e, p);
    int64_t *bucket = &p->bucket[ev->bucket];
    if (ev->kind == ATP_EV_SET)
        *bucket = engine_clamp(e, ev->value);
    else
        *bucket = engine_clamp(e, formula_sat_add(*bucket, ev->value));
    int64_t new_net = engine_position_net(e, p);
    uint32_t region = e->loc_region[ev->location];
    if (new_net != old_net)
        engine_supply_changed(e, sku, ev->location, new_net - old_net);
    /* An allocation naming a committed reservation: the WMS now holds what
     * the reservation held, so the reservation lets go of it (never
     * subtracted twice). Supply is published first, so a concurrent reader
     * sees ATP dip for an instant rather than rise. */
    if (ev->kind == ATP_EV_DELTA && ev->bucket == ATP_BUCKET_ALLOCATED &&
        ev->value > 0 && ev->ref_len > 0) {
        engine_acc_flush(e);
        resv_consume(e, sku, region, ev->ref, ev->ref_len, ev->value,
                     b->from_source ? b->source : UINT32_MAX, b->seq,
                     (uint32_t)(ev - b->events));
    }
}

/* Apply a batch's events in order as a software pipeline, because a lookup
 * is a chain of cache misses (dictionary slot, key entry, position) and a
 * batch has many independent ones: at step s, event s is hashed and its
 * dictionary slot prefetched, event s - D has its key entry prefetched,
 * event s - 2D is interned and its position prefetched, event s - 3D is
 * applied. Interning a few events ahead of applying them is invisible to
 * readers: a SKU is known with zero rows until the batch publishes. */
#define ENGINE_PIPE_D 4
#define ENGINE_PIPE_RING 16 /* a power of two > 3 * ENGINE_PIPE_D */

static void engine_apply_events(engine *e, const engine_batch *b)
{
    uint32_t hash[ENGINE_PIPE_RING], sku[ENGINE_PIPE_RING];
    const uint32_t m = ENGINE_PIPE_RING - 1, d = ENGINE_PIPE_D, n = b->n;
    for (uint32_t s = 0; s < n + 3 * d; s++) {
        if (s + d < n)
            __builtin_prefetch(b->events[s + d].sku);
        if (s < n) {
            const engine_event *ev = &b->events[s];
            hash[s & m] = dict_hash(ev->sku, ev->sku_len);
            dict_prefetch(e->skus, hash[s & m]);
        }
        if (s >= d && s - d < n)
            dict_prefetch_key(e->skus, hash[(s - d) & m]);
        if (s >= 2 * d && s - 2 * d < n) {
            uint32_t i = s - 2 * d;
            const engine_event *ev = &b->events[i];
            /* cannot fail after engine_batch_reserve; if it did, the event
             * is skipped rather than applied to a wrong SKU */
            if (dict_intern_hashed(e->skus, hash[i & m], ev->sku, ev->sku_len,
                                   &sku[i & m]) != ATP_OK)
                sku[i & m] = DICT_NONE;
            else if (ev->kind < ATP_EV_LOT_ADD)
                positions_prefetch(&e->pos, sku[i & m], ev->location);
        }
        if (s >= 3 * d) {
            uint32_t i = s - 3 * d;
            if (sku[i & m] != DICT_NONE)
                engine_apply_event(e, b, &b->events[i], sku[i & m]);
        }
    }
}

/* A full snapshot replaces everything the source is authoritative for:
 * its position buckets go to 0 and its lots away, before the snapshot's
 * own values apply (all in the same batch, published at once per row). */
static void engine_clear_authority(engine *e, uint32_t src)
{
    if (src >= e->cfg->n_sources)
        return;
    const config_source *cs = &e->cfg->sources[src];
    size_t nl = e->cfg->n_locations;
    uint8_t *mask = calloc(nl ? nl : 1, 1);
    uint8_t *inbound = calloc(nl ? nl : 1, 1);
    if (mask == NULL || inbound == NULL) {
        free(mask);
        free(inbound);
        log_error("engine", "out of memory: snapshot applied without clearing");
        return;
    }
    for (size_t i = 0; i < cs->n_authority; i++) {
        const config_authority *a = &cs->authority[i];
        if (a->bucket == ATP_AUTH_INBOUND)
            inbound[a->location] = 1;
        else
            mask[a->location] |= (uint8_t)(1u << a->bucket);
    }
    for (size_t i = 0; i < e->pos.cap; i++) {
        position *p = &e->pos.slots[i];
        if (p->key == 0 || mask[position_loc(p)] == 0)
            continue;
        int64_t before = engine_position_net(e, p);
        bool changed = false;
        for (int bk = 0; bk < ATP_BUCKET_COUNT; bk++) {
            if ((mask[position_loc(p)] & (1u << bk)) && p->bucket[bk] != 0) {
                p->bucket[bk] = 0;
                changed = true;
            }
        }
        if (changed) {
            engine_position_touched(e, p);
            engine_supply_changed(e, position_sku(p), position_loc(p),
                                  engine_position_net(e, p) - before);
        }
    }
    engine_lots_clear_source(e, inbound);
    free(mask);
    free(inbound);
}

/* Publish what the engine's own structures hold (engine thread): rows,
 * dictionary (with its retired tables), positions, the snapshot queue, the
 * batch accumulator, the change-feed queue and inbound lots. Reservations
 * are resv.c's and not counted here. */
static void engine_memory_update(engine *e)
{
    size_t dirty_cap;
    pthread_mutex_lock(&e->dirty.mu);
    dirty_cap = e->dirty.cap;
    pthread_mutex_unlock(&e->dirty.mu);
    size_t bytes = sizeof *e + e->row_bytes +
                   ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK * sizeof *e->row_dir +
                   dict_memory(e->skus) + positions_memory(&e->pos) +
                   e->snap.cap * sizeof *e->snap.keys +
                   e->acc.cap * (sizeof *e->acc.keys + sizeof *e->acc.delta +
                                 sizeof *e->acc.touched) +
                   dirty_cap * sizeof *e->dirty.keys +
                   e->over.cap * (sizeof *e->over.keys + sizeof *e->over.rest) +
                   engine_lots_memory(&e->lots);
    atomic_store_explicit(&e->memory_bytes, bytes, memory_order_relaxed);
}

static void engine_apply_batch(engine *e, const engine_batch *b)
{
    bool applied = false;
    atp_err err = engine_batch_reserve(e, b);
    if (err == ATP_OK &&
        !engine_acc_reserve(e, b->replace_authority
                                   ? (uint32_t)(b->n + e->pos.used)
                                   : b->n))
        err = ATP_E_NOMEM;
    if (err != ATP_OK) {
        log_error("engine", "batch of %u events not applied: %s", b->n,
                  atp_err_message(err));
    } else {
        if (b->replace_authority)
            engine_clear_authority(e, b->source);
        engine_apply_events(e, b);
        engine_acc_flush(e);
        if (b->from_source && b->restarts_sequence)
            engine_sequence_restarted(e, b->source);
        if (b->from_source)
            engine_offset_applied(e, b->source, b->seq, b->ts_ms);
        /* The offset reached what the stored marks say was applied before
         * the restart: from now on the offset covers it. */
        if (b->from_source && b->seq >= e->resv.seq_floor[b->source])
            e->resv.seq_floor[b->source] = 0;
        atomic_fetch_add_explicit(&e->events_applied, b->n, memory_order_relaxed);
        atomic_fetch_add_explicit(&e->batches_applied, 1, memory_order_relaxed);
        applied = true;
    }
    engine_memory_update(e);
    if (b->release != NULL)
        b->release(b->owner, applied);
}

void engine_sync_signal(engine_sync_waiter *w, atp_err err)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->err = err;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* engine_cmd_run runs one command on the engine thread. */
static void engine_cmd_run(engine *e, engine_cmd *cmd, bool *stopping)
{
    switch (cmd->type) {
    case ENGINE_CMD_BATCH:
        engine_apply_batch(e, &cmd->batch);
        return;
    case ENGINE_CMD_SYNC:
        engine_sync_signal(cmd->sync, ATP_OK);
        return;
    case ENGINE_CMD_RESV:
        resv_execute(e, &cmd->resv);
        return;
    case ENGINE_CMD_GROUP_DONE:
        resv_group_done(e, cmd->err);
        return;
    case ENGINE_CMD_STOP:
        *stopping = true;
        e->resv.stopping = true;
        e->snap.stopping = true;
        return;
    case ENGINE_CMD_SNAPSHOT_DONE:
        engine_snapshot_done(e, cmd->err);
        return;
    case ENGINE_CMD_SNAPSHOT_NOW:
        engine_snapshot_request(e, cmd->snap);
        return;
    case ENGINE_CMD_RULES:
        engine_rules_apply(e, cmd->rules);
        return;
    case ENGINE_CMD_EXPLAIN:
        engine_explain_run(e, cmd->explain);
        return;
    }
}

static void *engine_thread_main(void *arg)
{
    thread_name("atp:engine");
    health_slot *hs = health_thread_add("atp:engine");
    engine *e = arg;
    engine_cmd cmd;
    bool stopping = false;
    for (;;) {
        /* Sleep until the next command, reservation due time or snapshot
         * (none but the final one once stopping). */
        int64_t wait = resv_tick(e, clock_wall_ms());
        int64_t snap_wait = stopping ? -1 : engine_snapshot_tick(e, clock_mono_ms());
        if (wait < 0 || (snap_wait >= 0 && snap_wait < wait))
            wait = snap_wait;
        int64_t lot_wait = engine_lots_tick(e, clock_wall_ms());
        if (lot_wait >= 0 && (wait < 0 || lot_wait < wait))
            wait = lot_wait;
        resv_flush(e);
        /* A clean stop leaves a snapshot of everything applied, if the
         * store takes it: it is tried once (engine_snapshot_final). */
        if (stopping && !e->resv.inflight_busy && e->resv.open.n == 0 &&
            !engine_snapshot_final(e))
            break;
        health_idle(hs);
        atp_err err = queue_pop(&e->q, &cmd, wait);
        health_busy(hs);
        if (err == ATP_E_TIMEOUT)
            continue;
        if (err != ATP_OK)
            break;
        engine_cmd_run(e, &cmd, &stopping);
    }
    health_thread_remove(hs);
    return NULL;
}

atp_err engine_start(engine *e)
{
    engine_load_flush(e);
    /* What start-up loaded counts too (status before the first batch). */
    engine_memory_update(e);
    if (pthread_create(&e->thread, NULL, engine_thread_main, e) != 0)
        return ATP_E_NOMEM;
    e->running = true;
    return ATP_OK;
}

/* engine_cmd_refuse answers a command that the engine thread will never
 * run (engine_stop, after the thread left): every caller hears back. */
static void engine_cmd_refuse(engine_cmd *cmd)
{
    switch (cmd->type) {
    case ENGINE_CMD_BATCH:
        if (cmd->batch.release != NULL)
            cmd->batch.release(cmd->batch.owner, false);
        return;
    case ENGINE_CMD_SYNC: /* everything before it was applied */
        engine_sync_signal(cmd->sync, ATP_OK);
        return;
    case ENGINE_CMD_RESV: {
        engine_resv_result res = {.err = ATP_E_BUSY,
                                  .message = "atpd is shutting down: nothing "
                                             "was done; retry once it is back"};
        cmd->resv.done(cmd->resv.arg, &res);
        return;
    }
    case ENGINE_CMD_SNAPSHOT_NOW:
        cmd->snap.done(cmd->snap.arg, ATP_E_BUSY);
        return;
    case ENGINE_CMD_RULES: /* not applied: the caller keeps its rules */
        engine_sync_signal(cmd->rules->waiter, ATP_E_BUSY);
        return;
    case ENGINE_CMD_EXPLAIN:
        engine_explain_refuse(cmd->explain);
        return;
    case ENGINE_CMD_STOP: /* a second engine_stop's: nothing to do */
        return;
    case ENGINE_CMD_GROUP_DONE:
    case ENGINE_CMD_SNAPSHOT_DONE:
        /* The thread waits for the group and snapshot in flight before it
         * leaves, so these cannot come after it. */
        log_error("engine", "store completion (type %d) after the engine "
                            "stopped: ignored", (int)cmd->type);
        return;
    }
}

void engine_stop(engine *e)
{
    if (!e->running)
        return;
    /* The thread applies what is queued before the stop command, waits for
     * the group in flight, then exits; only then is the queue closed. */
    engine_cmd cmd = {.type = ENGINE_CMD_STOP};
    queue_push(&e->q, &cmd);
    pthread_join(e->thread, NULL);
    /* The snapshot writer pushes into the store's queue: it must be gone
     * before the caller closes the store, or its last push may still be
     * signalling a condition variable that store_close destroys (TSan saw
     * exactly that). */
    engine_snap_writer_stop(e);
    queue_close(&e->q);
    /* Whatever came after the stop is refused, so nothing leaks and every
     * caller hears back. */
    while (queue_pop(&e->q, &cmd, 0) == ATP_OK)
        engine_cmd_refuse(&cmd);
    e->running = false;
}

atp_err engine_submit(engine *e, const engine_batch *b)
{
    engine_cmd cmd = {.type = ENGINE_CMD_BATCH, .batch = *b};
    return queue_push(&e->q, &cmd);
}

void engine_waiter_init(engine_sync_waiter *w)
{
    *w = (engine_sync_waiter){.done = false};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

/* engine_waiter_wait waits for w's signal if its command was queued
 * (queued == ATP_OK), destroys w and returns the outcome. */
atp_err engine_waiter_wait(engine_sync_waiter *w, atp_err queued)
{
    atp_err err = queued;
    if (err == ATP_OK) {
        pthread_mutex_lock(&w->mu);
        while (!w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        err = w->err;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return err;
}

atp_err engine_sync(engine *e)
{
    engine_sync_waiter w;
    engine_waiter_init(&w);
    engine_cmd cmd = {.type = ENGINE_CMD_SYNC, .sync = &w};
    return engine_waiter_wait(&w, queue_push(&e->q, &cmd));
}

atp_err engine_snapshot_submit(engine *e, engine_snapshot_done_fn done, void *arg)
{
    engine_cmd cmd = {.type = ENGINE_CMD_SNAPSHOT_NOW, .snap = {done, arg}};
    return queue_try_push(&e->q, &cmd);
}

static void engine_snapshot_now_done(void *arg, atp_err err)
{
    engine_sync_signal(arg, err);
}

atp_err engine_snapshot_now(engine *e)
{
    engine_sync_waiter w;
    engine_waiter_init(&w);
    return engine_waiter_wait(&w, engine_snapshot_submit(e, engine_snapshot_now_done, &w));
}

atp_err engine_backup_submit(engine *e, const char *dir,
                             void (*done)(void *arg, atp_err err), void *arg,
                             char *why, size_t why_len)
{
    if (e->persist.backup == NULL) {
        snprintf(why, why_len, "no store to back up (memory only)");
        return ATP_E_BAD_STATE;
    }
    return e->persist.backup(e->persist.ctx, dir, done, arg, why, why_len);
}

/* ---- readers (any thread) ---------------------------------------------- */

/* A reader of several rows reads between two location moves: it waits
 * out one in progress (odd) and reads again if one happened meanwhile. */
static uint32_t engine_reloc_begin(const engine *e)
{
    for (unsigned spins = 0;; spins++) {
        uint32_t s = atomic_load_explicit(&e->reloc_seq, memory_order_acquire);
        if (!(s & 1))
            return s;
        if (spins >= 64) /* a move of many positions: let the engine run */
            sched_yield();
    }
}

static bool engine_reloc_retry(const engine *e, uint32_t s)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&e->reloc_seq, memory_order_relaxed) != s;
}

void engine_query_regions(const engine *e, const char *sku, size_t sku_len,
                          uint32_t channel, engine_answer *out)
{
    uint32_t idx = dict_find(e->skus, sku, sku_len);
    uint32_t s;
    do {
        s = engine_reloc_begin(e);
        for (uint32_t r = 0; r < e->n_regions; r++)
            engine_answer_of(e, idx, sku, sku_len, r, channel, &out[r]);
    } while (engine_reloc_retry(e, s));
}

void engine_query(const engine *e, const char *sku, size_t sku_len,
                  uint32_t region, uint32_t channel, engine_answer *out)
{
    engine_answer_of(e, dict_find(e->skus, sku, sku_len), sku, sku_len, region,
                     channel, out);
}

/* The same pipeline as engine_apply_events, read-only: line s is hashed
 * and its slot prefetched, line s - D has its key entry prefetched, line
 * s - 2D is looked up and its row prefetched, line s - 3D is answered. */
static void engine_query_lines_once(const engine *e,
                                    const engine_query_line *lines, size_t n,
                                    engine_answer *out)
{
    uint32_t hash[ENGINE_PIPE_RING], idx[ENGINE_PIPE_RING];
    const size_t m = ENGINE_PIPE_RING - 1, d = ENGINE_PIPE_D;
    for (size_t s = 0; s < n + 3 * d; s++) {
        if (s < n) {
            hash[s & m] = dict_hash(lines[s].sku, lines[s].sku_len);
            dict_prefetch(e->skus, hash[s & m]);
        }
        if (s >= d && s - d < n)
            dict_prefetch_key(e->skus, hash[(s - d) & m]);
        if (s >= 2 * d && s - 2 * d < n) {
            const engine_query_line *l = &lines[s - 2 * d];
            uint32_t x = dict_find_hashed(e->skus, hash[(s - 2 * d) & m],
                                          l->sku, l->sku_len);
            idx[(s - 2 * d) & m] = x;
            if (x != DICT_NONE)
                __builtin_prefetch(engine_row_at(e, x, l->region));
        }
        if (s >= 3 * d) {
            size_t i = s - 3 * d;
            engine_answer_of(e, idx[i & m], lines[i].sku, lines[i].sku_len,
                             lines[i].region, lines[i].channel, &out[i]);
        }
    }
}

void engine_query_lines(const engine *e, const engine_query_line *lines,
                        size_t n, engine_answer *out)
{
    uint32_t s;
    do {
        s = engine_reloc_begin(e);
        engine_query_lines_once(e, lines, n, out);
    } while (engine_reloc_retry(e, s));
}

void engine_answer_of(const engine *e, uint32_t idx, const char *sku,
                      size_t sku_len, uint32_t region, uint32_t channel,
                      engine_answer *out)
{
    int64_t supply = 0, reserved = 0;
    if (idx != DICT_NONE)
        engine_row_read(engine_row_at(e, idx, region), &supply, &reserved);
    rules_hit hit;
    rules_match(atomic_load_explicit(&e->rules, memory_order_acquire), sku,
                sku_len, region, channel, &hit);
    formula_answer fa;
    formula_atp(supply, reserved, formula_buffer(hit.units, hit.percent_bp, supply),
                &fa);
    *out = (engine_answer){
        .atp = fa.atp,
        .supply = fa.supply,
        .reserved = fa.reserved,
        .buffer = fa.buffer,
        .shortfall = fa.shortfall,
        .rule_level = hit.level,
        .stale = atomic_load_explicit(&e->region_stale[region],
                                      memory_order_relaxed),
        .known_sku = idx != DICT_NONE,
        .low_stock = hit.low_stock,
        .buffer_units = hit.units,
        .buffer_percent_bp = hit.percent_bp,
    };
}

void engine_region_stale_set(engine *e, uint32_t region, bool stale)
{
    if (region >= e->n_regions)
        return;
    bool was = atomic_exchange_explicit(&e->region_stale[region], stale,
                                        memory_order_relaxed);
    if (was == stale)
        return;
    /* Every answer of the region changes with the flag: the change feed
     * must say so like any other change (a subscriber to one SKU has no
     * other way to learn it). Rare: a source turning silent, gapped or ok
     * again; a burst of one message per SKU of the region. */
    uint32_t n = dict_count(e->skus);
    for (uint32_t sku = 0; sku < n; sku++)
        engine_dirty_mark(e, engine_row_at(e, sku, region), sku, region);
}

void engine_stats_get(const engine *e, engine_stats *out)
{
    engine *m = (engine *)e; /* queue_len locks; the queue is not logically state */
    *out = (engine_stats){
        .skus = dict_count(e->skus),
        .positions = atomic_load_explicit(&e->n_positions, memory_order_relaxed),
        .batches_applied =
            atomic_load_explicit(&e->batches_applied, memory_order_relaxed),
        .events_applied =
            atomic_load_explicit(&e->events_applied, memory_order_relaxed),
        .events_clamped =
            atomic_load_explicit(&e->events_clamped, memory_order_relaxed),
        .queue_len = queue_len(&m->q),
        .memory_bytes =
            atomic_load_explicit(&e->memory_bytes, memory_order_relaxed),
    };
    resv_stats(&e->resv, out);
    out->snapshot_waited = atomic_load(&m->snap.waited);
    out->snapshots = atomic_load(&m->snap.taken);
    out->snapshot_failures = atomic_load(&m->snap.failed);
    out->snapshot_last_ms = atomic_load(&m->snap.last_ms);
    out->snapshot_last_positions = atomic_load(&m->snap.last_positions);
    if (e->persist.stats != NULL) {
        e->persist.stats(e->persist.ctx, &out->store);
        out->store_known = true;
    }
}

/* ---- change feed hooks --------------------------------------------------- */

void engine_changes_enable(engine *e) { e->dirty.enabled = true; }

size_t engine_changes_take(engine *e, uint64_t **keys, size_t *cap)
{
    pthread_mutex_lock(&e->dirty.mu);
    uint64_t *k = e->dirty.keys;
    size_t n = e->dirty.n, c = e->dirty.cap;
    e->dirty.keys = *keys;
    e->dirty.cap = *cap;
    e->dirty.n = 0;
    pthread_mutex_unlock(&e->dirty.mu);
    *keys = k;
    *cap = c;
    return n;
}

void engine_changes_clear(const engine *e, uint32_t sku, uint32_t region)
{
    if (sku < dict_count(e->skus) && region < e->n_regions)
        atomic_store(&engine_row_at(e, sku, region)->dirty, 0);
}

bool engine_changes_read(const engine *e, uint32_t sku, uint32_t region,
                         engine_change *out)
{
    if (sku >= dict_count(e->skus) || region >= e->n_regions)
        return false;
    engine_row *r = engine_row_at(e, sku, region);
    atomic_store(&r->dirty, 0);
    atomic_thread_fence(memory_order_seq_cst);
    size_t len;
    out->sku = dict_key(e->skus, sku, &len);
    out->sku_len = (uint32_t)len;
    out->region = region;
    for (uint32_t c = 0; c < e->n_channels && c < ENGINE_CHANGE_MAX_CHANNELS; c++)
        engine_answer_of(e, sku, out->sku, len, region, c, &out->channels[c]);
    return true;
}

uint32_t engine_sku_count(const engine *e) { return dict_count(e->skus); }

bool engine_answer_index(const engine *e, uint32_t sku, uint32_t region,
                         uint32_t channel, engine_answer *out,
                         const char **sku_id, size_t *sku_len)
{
    if (sku >= dict_count(e->skus))
        return false;
    *sku_id = dict_key(e->skus, sku, sku_len);
    engine_answer_of(e, sku, *sku_id, *sku_len, region, channel, out);
    return true;
}

atp_err engine_resv_submit(engine *e, const engine_resv_req *req)
{
    engine_cmd cmd = {.type = ENGINE_CMD_RESV, .resv = *req};
    return queue_try_push(&e->q, &cmd);
}

atp_err engine_resv_load(engine *e, const void *key, size_t key_len,
                         const void *val, size_t val_len)
{
    engine_load_flush(e);
    return resv_load(e, key, key_len, val, val_len);
}

const char *engine_resv_state_name(engine_resv_state st)
{
    switch (st) {
    case ENGINE_RESV_HELD:
        return "held";
    case ENGINE_RESV_COMMITTED:
        return "committed";
    case ENGINE_RESV_CONSUMED:
        return "consumed";
    case ENGINE_RESV_RELEASED:
        return "released";
    case ENGINE_RESV_EXPIRED:
        return "expired";
    }
    return "unknown";
}
