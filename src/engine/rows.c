/*
 * rows.c - the aggregate rows: per (SKU, region) {seq, supply, reserved},
 * what every ATP answer reads. The engine thread writes them, any thread
 * reads them, without locks.
 *
 * For each SKU, n_regions rows, in chunks of ENGINE_ROW_CHUNK SKUs reached
 * through a fixed directory, so a row never moves once published. Each row
 * is a seqlock: the engine thread makes seq odd, writes, makes it even; a
 * reader retries until it saw the same even seq before and after reading.
 * Every field is a C11 atomic accessed relaxed, with fences doing the
 * ordering (Boehm's seqlock recipe), so the pattern is data-race free (and
 * ThreadSanitizer agrees).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "common/assert.h"
#include "common/log.h"
#include "engine/dict.h"
#include "engine/engine_int.h"
#include "formula/formula.h"

engine_row *engine__row_at(const engine *e, uint32_t sku, uint32_t region)
{
    engine_row *chunk = atomic_load_explicit(
        &e->row_dir[sku >> ENGINE_ROW_CHUNK_BITS], memory_order_acquire);
    ATP_DASSERT(chunk != NULL && region < e->n_regions); /* published */
    return &chunk[(size_t)(sku & (ENGINE_ROW_CHUNK - 1)) * e->n_regions +
                  region];
}

void engine__row_read(const engine_row *r, int64_t *supply, int64_t *reserved)
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

/* engine__row_add: engine thread only (main before start: restore). */
void engine__row_add(engine *e, uint32_t sku, uint32_t region,
                     __int128 d_supply, int64_t d_reserved)
{
    ATP_ASSERT_OWNER(&e->owner);
    engine_row *r = engine__row_at(e, sku, region);
    int64_t a = atomic_load_explicit(&r->supply, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&r->reserved, memory_order_relaxed);
    int64_t supply =
        d_supply == 0 ? a : engine_supply_sum(e, sku, region, a, d_supply);
    int64_t reserved = formula_sat_add(b, d_reserved);
    /* The reserved total is the sum of open reservation lines, each at
     * least 0: below 0, a record was taken out twice or never put in. */
    ATP_ASSERT(reserved >= 0);
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);
    /* Even between writes: the only writer is never inside another write
     * of the same row (an odd seq here would spin its readers forever). */
    ATP_ASSERT((s & 1) == 0);
    atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&r->supply, supply, memory_order_relaxed);
    atomic_store_explicit(&r->reserved, reserved, memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 2, memory_order_release);
    engine__dirty_mark(e, r, sku, region);
}

bool engine__row_sums(const engine *e, uint32_t sku, uint32_t region)
{
    __int128 sum = 0;
    for (size_t loc = 0; loc < e->cfg->n_locations; loc++) {
        if (e->loc_region[loc] != region)
            continue;
        const position *p = positions_get(&e->pos, sku, (uint16_t)loc);
        if (p != NULL)
            sum += engine__position_net(e, p);
    }
    return sum == engine__supply_exact(e, sku, region);
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

/* Reserve every allocation a batch could need before touching anything, so
 * an out-of-memory never leaves a batch half applied. */
atp_err engine__skus_reserve(engine *e, uint32_t n, size_t bytes)
{
    ATP_ASSERT_OWNER(&e->owner);
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

__int128 engine__supply_exact(const engine *e, uint32_t sku, uint32_t region)
{
    int64_t shown, reserved;
    engine__row_read(engine__row_at(e, sku, region), &shown, &reserved);
    uint64_t key = (uint64_t)sku << 16 | region;
    for (size_t i = 0; i < e->over.n; i++)
        if (e->over.keys[i] == key)
            return (__int128)shown + e->over.rest[i];
    return shown;
}
