/* positions.c - (SKU, location) -> buckets hash table. Engine thread only.
 * The table is mmap'd (common/bigmem.h): an outgrown table goes back to the
 * kernel at once, and a big one uses huge pages (one TLB entry per 2 MiB of
 * randomly accessed rows). */
#include "engine/positions.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"
#include "formula/formula.h"

static uint64_t positions_key(uint32_t sku, uint16_t loc)
{
    return ((uint64_t)sku + 1) << 16 | loc;
}

static size_t positions_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

void positions_prefetch(const positions *p, uint32_t sku, uint16_t loc)
{
    size_t i = positions_hash(positions_key(sku, loc)) & (p->cap - 1);
    __builtin_prefetch(&p->slots[i], 1);
}

atp_err positions_init(positions *p, size_t initial)
{
    memset(p, 0, sizeof *p);
    size_t cap = 1024;
    while (cap < initial)
        cap *= 2;
    p->slots = bigmem_alloc(cap * sizeof *p->slots, true);
    if (p->slots == NULL)
        return ATP_E_NOMEM;
    p->cap = cap;
    p->used = 0;
    return ATP_OK;
}

void positions_fini(positions *p)
{
    bigmem_free(p->slots, p->cap * sizeof *p->slots);
    position_sums_fini(&p->inbound);
    memset(p, 0, sizeof *p);
}

position *positions_get(const positions *p, uint32_t sku, uint16_t loc)
{
    uint64_t k = positions_key(sku, loc);
    for (size_t i = positions_hash(k) & (p->cap - 1);;
         i = (i + 1) & (p->cap - 1)) {
        if ((p->slots[i].key & POSITION_KEY_MASK) == k)
            return &p->slots[i];
        if (p->slots[i].key == 0)
            return NULL;
    }
}

static int positions_grow(positions *p)
{
    size_t cap = p->cap * 2;
    position *s = bigmem_alloc(cap * sizeof *s, true);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < p->cap; i++) {
        if (p->slots[i].key == 0)
            continue;
        size_t j =
            positions_hash(p->slots[i].key & POSITION_KEY_MASK) & (cap - 1);
        while (s[j].key != 0)
            j = (j + 1) & (cap - 1);
        s[j] = p->slots[i];
    }
    bigmem_free(p->slots, p->cap * sizeof *p->slots);
    p->slots = s;
    p->cap = cap;
    return 0;
}

atp_err positions_reserve(positions *p, size_t n)
{
    while ((p->used + n) * 4 > p->cap * 3)
        if (positions_grow(p) != 0)
            return ATP_E_NOMEM;
    return ATP_OK;
}

position *positions_upsert(positions *p, uint32_t sku, uint16_t loc)
{
    position *e = positions_get(p, sku, loc);
    if (e != NULL)
        return e;
    if ((p->used + 1) * 4 > p->cap * 3 && positions_grow(p) != 0)
        return NULL;
    uint64_t k = positions_key(sku, loc);
    size_t i = positions_hash(k) & (p->cap - 1);
    while (p->slots[i].key != 0)
        i = (i + 1) & (p->cap - 1);
    p->slots[i] = (position){.key = k};
    p->used++;
    return &p->slots[i];
}

/* ---- sums beside the table ---------------------------------------------- */

static size_t position_sums_find(const position_sums *s, uint64_t k)
{
    size_t mask = s->cap - 1;
    size_t i = positions_hash(k) & mask;
    while (s->keys[i] != k && s->keys[i] != 0)
        i = (i + 1) & mask;
    return i;
}

static int position_sums_grow(position_sums *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    __int128 *qty = calloc(cap, sizeof *qty);
    if (keys == NULL || qty == NULL) {
        free(keys);
        free(qty);
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->keys[i] == 0)
            continue;
        size_t j = positions_hash(s->keys[i]) & (cap - 1);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = s->keys[i];
        qty[j] = s->qty[i];
    }
    free(s->keys);
    free(s->qty);
    s->keys = keys;
    s->qty = qty;
    s->cap = cap;
    return 0;
}

atp_err position_sums_reserve(position_sums *s, size_t n)
{
    while ((s->used + n) * 2 > s->cap)
        if (position_sums_grow(s) != 0)
            return ATP_E_NOMEM;
    return ATP_OK;
}

/* The slot of key k, made (zero) if it has none; SIZE_MAX: no memory. */
static size_t position_sums_slot(position_sums *s, uint64_t k)
{
    if (s->cap > 0) {
        size_t i = position_sums_find(s, k);
        if (s->keys[i] == k)
            return i;
    }
    if (position_sums_reserve(s, 1) != ATP_OK)
        return SIZE_MAX;
    size_t i = position_sums_find(s, k);
    s->keys[i] = k;
    s->qty[i] = 0;
    s->used++;
    return i;
}

__int128 position_sums_get(const position_sums *s, uint32_t sku, uint16_t loc)
{
    if (s->cap == 0)
        return 0;
    uint64_t k = positions_key(sku, loc);
    size_t i = position_sums_find(s, k);
    return s->keys[i] == k ? s->qty[i] : 0;
}

atp_err position_sums_add(position_sums *s, uint32_t sku, uint16_t loc,
                          __int128 d)
{
    size_t i = position_sums_slot(s, positions_key(sku, loc));
    if (i == SIZE_MAX)
        return ATP_E_NOMEM;
    s->qty[i] += d; /* < 2^64 quantities of |d| <= 2^63: exact */
    return ATP_OK;
}

uint64_t position_sums_nonzero_at(const position_sums *s, uint16_t loc)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->cap; i++)
        n += s->keys[i] != 0 && (s->keys[i] & 0xffff) == loc && s->qty[i] != 0;
    return n;
}

void position_sums_fini(position_sums *s)
{
    free(s->keys);
    free(s->qty);
    memset(s, 0, sizeof *s);
}

size_t position_sums_memory(const position_sums *s)
{
    return s->cap * (sizeof *s->keys + sizeof *s->qty);
}

/* ---- inbound: one of those sums, flagged in the position's key ---------- */

int64_t positions_inbound(const positions *p, const position *e)
{
    if (!(e->key & POSITION_INBOUND))
        return 0;
    __int128 q =
        position_sums_get(&p->inbound, position_sku(e), position_loc(e));
    return q > ATP_QTY_SUM_MAX ? ATP_QTY_SUM_MAX : (int64_t)q;
}

atp_err positions_inbound_add(positions *p, position *e, int64_t d)
{
    atp_err err =
        position_sums_add(&p->inbound, position_sku(e), position_loc(e), d);
    if (err == ATP_OK)
        e->key |= POSITION_INBOUND;
    return err;
}

size_t positions_memory(const positions *p)
{
    return p->cap * sizeof *p->slots + position_sums_memory(&p->inbound);
}
