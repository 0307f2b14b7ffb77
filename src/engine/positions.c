/* positions.c - (SKU, location) -> buckets hash table. Engine thread only.
 * The table is mmap'd (common/bigmem.h): an outgrown table goes back to the
 * kernel at once, and a big one uses huge pages (one TLB entry per 2 MiB of
 * randomly accessed rows). */
#include "engine/positions.h"

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
    free(p->inbound.keys);
    free(p->inbound.qty);
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

/* ---- inbound side table ------------------------------------------------- */

static size_t positions_inbound_find(const positions *p, uint64_t k)
{
    size_t mask = p->inbound.cap - 1;
    size_t i = positions_hash(k) & mask;
    while (p->inbound.keys[i] != k && p->inbound.keys[i] != 0)
        i = (i + 1) & mask;
    return i;
}

int64_t positions_inbound(const positions *p, const position *e)
{
    if (!(e->key & POSITION_INBOUND))
        return 0;
    __int128 q =
        p->inbound.qty[positions_inbound_find(p, e->key & POSITION_KEY_MASK)];
    return q > ATP_QTY_SUM_MAX ? ATP_QTY_SUM_MAX : (int64_t)q;
}

static int positions_inbound_grow(positions *p)
{
    size_t cap = p->inbound.cap ? p->inbound.cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    __int128 *qty = calloc(cap, sizeof *qty);
    if (keys == NULL || qty == NULL) {
        free(keys);
        free(qty);
        return -1;
    }
    for (size_t i = 0; i < p->inbound.cap; i++) {
        if (p->inbound.keys[i] == 0)
            continue;
        size_t j = positions_hash(p->inbound.keys[i]) & (cap - 1);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = p->inbound.keys[i];
        qty[j] = p->inbound.qty[i];
    }
    free(p->inbound.keys);
    free(p->inbound.qty);
    p->inbound.keys = keys;
    p->inbound.qty = qty;
    p->inbound.cap = cap;
    return 0;
}

atp_err positions_inbound_add(positions *p, position *e, int64_t d)
{
    uint64_t k = e->key & POSITION_KEY_MASK;
    if (!(e->key & POSITION_INBOUND)) {
        if ((p->inbound.used + 1) * 2 > p->inbound.cap &&
            positions_inbound_grow(p) != 0)
            return ATP_E_NOMEM;
        size_t i = positions_inbound_find(p, k);
        p->inbound.keys[i] = k;
        p->inbound.qty[i] = 0;
        p->inbound.used++;
        e->key |= POSITION_INBOUND;
    }
    size_t i = positions_inbound_find(p, k);
    p->inbound.qty[i] += d; /* < 2^64 lots of |d| <= 2^63: exact */
    return ATP_OK;
}

size_t positions_memory(const positions *p)
{
    return p->cap * sizeof *p->slots +
           p->inbound.cap * (sizeof *p->inbound.keys + sizeof *p->inbound.qty);
}
