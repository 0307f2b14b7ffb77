/*
 * query.c - the engine's readers (any thread, engine.h): one line, every
 * region of a SKU, a cart's lines read between two location moves, the
 * answer of one row, status figures. They take no lock and never wait for
 * the engine thread: rows are read under their seqlocks (rows.c).
 */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "common/assert.h"
#include "engine/dict.h"
#include "engine/positions.h"
#include "formula/formula.h"
#include "formula/rules.h"

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
            engine__answer_of(e, idx, sku, sku_len, r, channel, &out[r]);
    } while (engine_reloc_retry(e, s));
}

void engine_query(const engine *e, const char *sku, size_t sku_len,
                  uint32_t region, uint32_t channel, engine_answer *out)
{
    engine__answer_of(e, dict_find(e->skus, sku, sku_len), sku, sku_len, region,
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
                __builtin_prefetch(engine__row_at(e, x, l->region));
        }
        if (s >= 3 * d) {
            size_t i = s - 3 * d;
            engine__answer_of(e, idx[i & m], lines[i].sku, lines[i].sku_len,
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

void engine__answer_of(const engine *e, uint32_t idx, const char *sku,
                       size_t sku_len, uint32_t region, uint32_t channel,
                       engine_answer *out)
{
    /* A bundle is answered from its components (a SKU atpd has not seen
     * is none: every bundle SKU is interned). */
    const bundles *b = atomic_load_explicit(&e->bundles, memory_order_acquire);
    const bundle_def *d =
        idx != DICT_NONE && bundles_count(b) > 0 ? bundles_find(b, idx) : NULL;
    if (d != NULL) {
        engine__bundle_answer(e, d, region, channel, out);
        return;
    }
    int64_t supply = 0, reserved = 0;
    if (idx != DICT_NONE)
        engine__row_read(engine__row_at(e, idx, region), &supply, &reserved);
    rules_hit hit;
    rules_match(atomic_load_explicit(&e->rules, memory_order_acquire), sku,
                sku_len, region, channel, &hit);
    formula_answer fa;
    formula_atp(supply, reserved,
                formula_buffer(hit.units, hit.percent_bp, supply), &fa);
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
        /* A SKU never seen has a budget only from a rule naming it, as a
         * reserve takes it (resv_decide): the answer says what a reserve
         * would get. */
        .backorder_budget =
            idx != DICT_NONE || hit.level <= ATP_RULE_SKU ? hit.backorder : 0,
    };
    if (out->backorder_budget > 0)
        formula_backorder(supply, reserved, fa.buffer, hit.backorder,
                          &out->backorder_used, &out->backorder_left);
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
        engine__dirty_mark(e, engine__row_at(e, sku, region), sku, region);
}

void engine_stats_get(const engine *e, engine_stats *out)
{
    engine *m =
        (engine *)e; /* queue_len locks; the queue is not logically state */
    *out = (engine_stats){
        .skus = dict_count(e->skus),
        .positions =
            atomic_load_explicit(&e->n_positions, memory_order_relaxed),
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
    out->preorder_reserves =
        atomic_load_explicit(&m->phased.reserves, memory_order_relaxed);
    out->preorder_dated_units =
        atomic_load_explicit(&m->phased.dated_units, memory_order_relaxed);
    out->preorder_hold_units =
        atomic_load_explicit(&m->phased.hold_units, memory_order_relaxed);

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

uint32_t engine_sku_count(const engine *e)
{
    return dict_count(e->skus);
}

bool engine_answer_index(const engine *e, uint32_t sku, uint32_t region,
                         uint32_t channel, engine_answer *out,
                         const char **sku_id, size_t *sku_len)
{
    if (sku >= dict_count(e->skus))
        return false;
    *sku_id = dict_key(e->skus, sku, sku_len);
    engine__answer_of(e, sku, *sku_id, *sku_len, region, channel, out);
    return true;
}
