/*
 * accum.c - the per-batch accumulator of supply changes, and the change
 * marks that tell the change feed which rows changed. Engine thread, but
 * for the change feed's side of the marks (engine_changes_*: the feed
 * thread).
 *
 * Accumulator: a batch moves the supply of a row many times (one event
 * per location, a snapshot's every bucket); its changes add up here, in
 * open addressing on (sku, region) + 1, and each row is written once at
 * the end (engine__supply_flush), so a reader sees a batch's effect on a
 * row all at once and the row's seqlock is taken once.
 *
 * Change marks: a row changed since the feed last read it carries its
 * dirty flag and its key is queued once (e->dirty, under its mutex); the
 * feed swaps the queue out, clears each flag and reads the row.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/assert.h"
#include "engine/dict.h"
#include "engine/engine_int.h"

/* Queue a changed row for the change feed, once until the feed reads it. */
void engine__dirty_mark(engine *e, engine_row *r, uint32_t sku, uint32_t region)
{
    /* seq_cst pairs with the feed's clear-then-read (engine_dirty_take's
     * caller): either the feed sees this change or the flag is 0 and we
     * queue the row again. */
    /* A component's bundles are not marked here: the change feed publishes
     * the bundles of every component row it publishes, in the same pass
     * (changes.c), which costs a walk of the bundles once per interval,
     * not once per write of a component many bundles share. */
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

bool engine__acc_reserve(engine *e, uint32_t n)
{
    ATP_ASSERT_OWNER(&e->owner);
    ATP_ASSERT(e->acc.n_touched == 0); /* it rehashes nothing */
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

void engine__acc_add(engine *e, uint32_t sku, uint32_t region, int64_t d)
{
    uint64_t key = (((uint64_t)sku << 16) | region) + 1;
    size_t mask = e->acc.cap - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
    while (e->acc.keys[i] != 0 && e->acc.keys[i] != key)
        i = (i + 1) & mask;
    if (e->acc.keys[i] == 0) {
        /* Room was reserved: at most half full, so probing ends. */
        ATP_ASSERT((e->acc.n_touched + 1) * 2 <= e->acc.cap);
        e->acc.keys[i] = key;
        e->acc.delta[i] = 0;
        e->acc.touched[e->acc.n_touched++] = (uint32_t)i;
    }
    e->acc.delta[i] += d; /* exact, see engine_supply_sum */
}

void engine__supply_changed(engine *e, uint32_t sku, uint16_t loc, int64_t d)
{
    ATP_ASSERT_OWNER(&e->owner);
    if (d == 0)
        return;
    uint32_t region = e->loc_region[loc];
    ATP_ASSERT(region < e->n_regions); /* a removed location has no stock */
    if ((e->acc.n_touched + 1) * 2 <= e->acc.cap)
        engine__acc_add(e, sku, region, d);
    else
        engine__row_add(e, sku, region, d, 0);
}

bool engine__acc_each(engine *e, engine_acc_fn fn, void *ctx)
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

void engine__acc_discard(engine *e)
{
    for (size_t t = 0; t < e->acc.n_touched; t++)
        e->acc.keys[e->acc.touched[t]] = 0;
    e->acc.n_touched = 0;
}

void engine__supply_flush(engine *e)
{
    ATP_ASSERT_OWNER(&e->owner);
    /* Preorder holds the batch's lots moved: growing ones before the
     * supply, shrinking ones after (phased.c), so ATP dips, never rises,
     * for an instant. */
    engine__phased_holds_rise(e);
    const size_t ahead = 8; /* rows are random: overlap their misses */
    for (size_t t = 0; t < e->acc.n_touched; t++) {
        if (t + ahead < e->acc.n_touched) {
            uint64_t k = e->acc.keys[e->acc.touched[t + ahead]] - 1;
            __builtin_prefetch(
                engine__row_at(e, (uint32_t)(k >> 16), (uint32_t)(k & 0xffff)),
                1);
        }
        size_t i = e->acc.touched[t];
        uint64_t key = e->acc.keys[i] - 1;
        uint32_t sku = (uint32_t)(key >> 16), region = (uint32_t)(key & 0xffff);
        if (e->acc.delta[i] != 0)
            engine__row_add(e, sku, region, e->acc.delta[i], 0);
        e->acc.keys[i] = 0;
        /* Every change of this row's positions is in it now. */
        ATP_DASSERT(engine__row_sums(e, sku, region));
    }
    e->acc.n_touched = 0;
    engine__phased_holds_fall(e);
}

/* ---- change feed hooks --------------------------------------------------- */

void engine_changes_enable(engine *e)
{
    e->dirty.enabled = true;
}

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
        atomic_store(&engine__row_at(e, sku, region)->dirty, 0);
}

bool engine_changes_read(const engine *e, uint32_t sku, uint32_t region,
                         engine_change *out)
{
    if (sku >= dict_count(e->skus) || region >= e->n_regions)
        return false;
    engine_row *r = engine__row_at(e, sku, region);
    atomic_store(&r->dirty, 0);
    atomic_thread_fence(memory_order_seq_cst);
    size_t len;
    out->sku = dict_key(e->skus, sku, &len);
    out->sku_len = (uint32_t)len;
    out->region = region;
    /* The channels in service (config_channels_live): the spare places
     * have no name to publish under. */
    size_t live = config_channels_live(e->cfg);
    out->n_channels = (uint32_t)(live < ENGINE_CHANGE_MAX_CHANNELS
                                     ? live
                                     : ENGINE_CHANGE_MAX_CHANNELS);
    for (uint32_t c = 0; c < out->n_channels; c++)
        engine__answer_of(e, sku, out->sku, len, region, c, &out->channels[c]);
    return true;
}
