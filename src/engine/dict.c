/*
 * dict.c - single-writer, lock-free-reader string dictionary (see dict.h).
 *
 * Layout:
 *   table:   open addressing, slot = (hash32 << 32) | (index + 1); 0 = empty.
 *            The 32 hash bits in the slot skip almost every key compare.
 *   keys:    directory of fixed-size chunks of 32-byte entries {len, bytes}:
 *            a key of up to DICT_INLINE bytes (nearly every SKU) lives in
 *            its entry, so a lookup costs two dependent cache misses (slot,
 *            entry) instead of three (slot, entry, key bytes). A longer key
 *            keeps a pointer there instead. A chunk, once allocated, never
 *            moves.
 *   strings: bump arena of 64 KiB blocks for long keys only, never freed
 *            before dict_free.
 *   tables:  mmap'd (common/bigmem.h) so that big ones use huge pages.
 */
#include "engine/dict.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"

#define DICT_CHUNK_BITS 14
#define DICT_CHUNK (1u << DICT_CHUNK_BITS)
#define DICT_ARENA_BLOCK (64 * 1024)

/* One key: 32 bytes, so an entry never straddles a cache line. */
typedef struct dict_key_ent {
    uint32_t len;
    /* The key when len <= DICT_INLINE; else its address (memcpy'd in). */
    char bytes[DICT_INLINE];
} dict_key_ent;

_Static_assert(sizeof(dict_key_ent) == 32, "dict_key_ent is half a line");

typedef struct dict_table {
    uint32_t mask;
    size_t bytes;             /* what bigmem_alloc gave */
    struct dict_table *older; /* retired tables, freed in dict_free */
    _Atomic uint64_t slots[];
} dict_table;

typedef struct dict_block {
    struct dict_block *next;
    size_t used;
    size_t cap;
    char data[];
} dict_block;

struct dict {
    _Atomic(dict_table *) table;
    _Atomic(dict_key_ent *) *chunks; /* n_chunks entries */
    uint32_t n_chunks;
    uint32_t max_keys;
    _Atomic uint32_t count;
    dict_block *blocks; /* writer only */
    size_t memory;      /* writer only (read racily for status: approximate) */
};

/* dict_hash: 8 bytes at a time (SKUs are short: one or two words), then a
 * final mix; the top bit keeps a slot from being all-zero (empty). Probing
 * starts from the low bits, which stay fully mixed. */
uint32_t dict_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h | 0x80000000u;
}

static dict_table *dict_table_new(uint32_t cap)
{
    size_t bytes = sizeof(dict_table) + (size_t)cap * sizeof(uint64_t);
    dict_table *t = bigmem_alloc(bytes, true);
    if (t != NULL) {
        t->mask = cap - 1;
        t->bytes = bytes;
    }
    return t;
}

static void dict_table_free(dict_table *t)
{
    if (t != NULL)
        bigmem_free(t, t->bytes);
}

atp_err dict_alloc(uint32_t max_keys, dict **out)
{
    dict *d = calloc(1, sizeof *d);
    if (d == NULL)
        return ATP_E_NOMEM;
    d->max_keys = max_keys;
    d->n_chunks =
        (uint32_t)(((uint64_t)max_keys + DICT_CHUNK - 1) / DICT_CHUNK);
    d->chunks = calloc(d->n_chunks ? d->n_chunks : 1, sizeof *d->chunks);
    dict_table *t = dict_table_new(1024);
    if (d->chunks == NULL || t == NULL) {
        free(d->chunks);
        dict_table_free(t);
        free(d);
        return ATP_E_NOMEM;
    }
    atomic_init(&d->table, t);
    d->memory =
        sizeof *d + d->n_chunks * sizeof *d->chunks + 1024 * sizeof(uint64_t);
    *out = d;
    return ATP_OK;
}

void dict_free(dict *d)
{
    if (d == NULL)
        return;
    dict_table *t = atomic_load(&d->table);
    while (t != NULL) {
        dict_table *older = t->older;
        dict_table_free(t);
        t = older;
    }
    for (uint32_t i = 0; i < d->n_chunks; i++)
        free(atomic_load(&d->chunks[i]));
    free(d->chunks);
    dict_block *b = d->blocks;
    while (b != NULL) {
        dict_block *next = b->next;
        free(b);
        b = next;
    }
    free(d);
}

static const dict_key_ent *dict_ent(const dict *d, uint32_t idx)
{
    dict_key_ent *chunk = atomic_load_explicit(
        &d->chunks[idx >> DICT_CHUNK_BITS], memory_order_acquire);
    return &chunk[idx & (DICT_CHUNK - 1)];
}

static bool dict_ent_is(const dict_key_ent *e, const char *key, size_t len)
{
    if (e->len != len)
        return false;
    if (len <= DICT_INLINE)
        return memcmp(e->bytes, key, len) == 0;
    const char *p;
    memcpy(&p, e->bytes, sizeof p);
    return memcmp(p, key, len) == 0;
}

static uint32_t dict_probe(const dict *d, const dict_table *t, uint32_t h,
                           const char *key, size_t len, uint32_t *free_slot)
{
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (s == 0) {
            if (free_slot != NULL)
                *free_slot = i;
            return DICT_NONE;
        }
        if ((uint32_t)(s >> 32) != h)
            continue;
        uint32_t idx = (uint32_t)s - 1;
        if (dict_ent_is(dict_ent(d, idx), key, len))
            return idx;
    }
}

void dict_prefetch(const dict *d, uint32_t h)
{
    const dict_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    __builtin_prefetch(&t->slots[h & t->mask]);
}

void dict_prefetch_key(const dict *d, uint32_t h)
{
    const dict_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    uint64_t s =
        atomic_load_explicit(&t->slots[h & t->mask], memory_order_acquire);
    /* Only the first slot: a probe is short (0.3 extra slots on average). */
    if (s != 0 && (uint32_t)(s >> 32) == h)
        __builtin_prefetch(dict_ent(d, (uint32_t)s - 1));
}

uint32_t dict_find_hashed(const dict *d, uint32_t h, const char *key,
                          size_t len)
{
    const dict_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    return dict_probe(d, t, h, key, len, NULL);
}

uint32_t dict_find(const dict *d, const char *key, size_t len)
{
    return dict_find_hashed(d, dict_hash(key, len), key, len);
}

const char *dict_key(const dict *d, uint32_t idx, size_t *len)
{
    const dict_key_ent *e = dict_ent(d, idx);
    *len = e->len;
    if (e->len <= DICT_INLINE)
        return e->bytes;
    const char *p;
    memcpy(&p, e->bytes, sizeof p);
    return p;
}

uint32_t dict_count(const dict *d)
{
    return atomic_load_explicit(&d->count, memory_order_acquire);
}

size_t dict_memory(const dict *d)
{
    return d->memory;
}

/* Make the current arena block able to take len more bytes: a fresh block
 * when it cannot (the rest of the old one is wasted: at most 64 KiB). */
static dict_block *dict_block_room(dict *d, size_t len)
{
    dict_block *b = d->blocks;
    if (b != NULL && b->used + len <= b->cap)
        return b;
    size_t cap = len > DICT_ARENA_BLOCK ? len : DICT_ARENA_BLOCK;
    b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = d->blocks;
    d->blocks = b;
    d->memory += sizeof *b + cap;
    return b;
}

static const char *dict_store_bytes(dict *d, const char *key, size_t len)
{
    dict_block *b = dict_block_room(d, len);
    if (b == NULL)
        return NULL;
    char *p = b->data + b->used;
    memcpy(p, key, len);
    b->used += len;
    return p;
}

/* Grow at load 1/2 so probes stay short for readers. */
static atp_err dict_grow(dict *d)
{
    dict_table *old = atomic_load_explicit(&d->table, memory_order_relaxed);
    uint32_t cap = (old->mask + 1) * 2;
    dict_table *t = dict_table_new(cap);
    if (t == NULL)
        return ATP_E_NOMEM;
    for (uint32_t i = 0; i <= old->mask; i++) {
        uint64_t s = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
        if (s == 0)
            continue;
        uint32_t j = (uint32_t)(s >> 32) & t->mask;
        while (atomic_load_explicit(&t->slots[j], memory_order_relaxed) != 0)
            j = (j + 1) & t->mask;
        atomic_store_explicit(&t->slots[j], s, memory_order_relaxed);
    }
    t->older = old;
    d->memory += (size_t)cap * sizeof(uint64_t);
    atomic_store_explicit(&d->table, t, memory_order_release);
    return ATP_OK;
}

atp_err dict_reserve(dict *d, uint32_t n_keys, size_t n_bytes)
{
    uint64_t n = dict_count(d);
    uint64_t want = n + n_keys;
    if (want > d->max_keys)
        want = d->max_keys;
    while (
        want * 2 >
        (uint64_t)atomic_load_explicit(&d->table, memory_order_relaxed)->mask +
            1)
        if (dict_grow(d) != ATP_OK)
            return ATP_E_NOMEM;
    for (uint64_t i = n; i < want; i = (i | (DICT_CHUNK - 1)) + 1) {
        uint32_t ci = (uint32_t)(i >> DICT_CHUNK_BITS);
        if (atomic_load_explicit(&d->chunks[ci], memory_order_relaxed) != NULL)
            continue;
        dict_key_ent *chunk = calloc(DICT_CHUNK, sizeof *chunk);
        if (chunk == NULL)
            return ATP_E_NOMEM;
        d->memory += DICT_CHUNK * sizeof *chunk;
        atomic_store_explicit(&d->chunks[ci], chunk, memory_order_release);
    }
    if (n_bytes > 0 && dict_block_room(d, n_bytes) == NULL)
        return ATP_E_NOMEM;
    return ATP_OK;
}

atp_err dict_intern(dict *d, const char *key, size_t len, uint32_t *idx)
{
    return dict_intern_hashed(d, dict_hash(key, len), key, len, idx);
}

atp_err dict_intern_hashed(dict *d, uint32_t h, const char *key, size_t len,
                           uint32_t *idx)
{
    dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
    uint32_t slot;
    uint32_t found = dict_probe(d, t, h, key, len, &slot);
    if (found != DICT_NONE) {
        *idx = found;
        return ATP_OK;
    }
    uint32_t n = atomic_load_explicit(&d->count, memory_order_relaxed);
    if (n >= d->max_keys)
        return ATP_E_TOO_LARGE;
    if ((uint64_t)(n + 1) * 2 > (uint64_t)t->mask + 1) {
        atp_err e = dict_grow(d);
        if (e != ATP_OK)
            return e;
        t = atomic_load_explicit(&d->table, memory_order_relaxed);
        (void)dict_probe(d, t, h, key, len, &slot);
    }
    uint32_t ci = n >> DICT_CHUNK_BITS;
    dict_key_ent *chunk =
        atomic_load_explicit(&d->chunks[ci], memory_order_relaxed);
    if (chunk == NULL) {
        chunk = calloc(DICT_CHUNK, sizeof *chunk);
        if (chunk == NULL)
            return ATP_E_NOMEM;
        d->memory += DICT_CHUNK * sizeof *chunk;
        atomic_store_explicit(&d->chunks[ci], chunk, memory_order_release);
    }
    dict_key_ent *ent = &chunk[n & (DICT_CHUNK - 1)];
    if (len <= DICT_INLINE) {
        memcpy(ent->bytes, key, len);
    } else {
        const char *bytes = dict_store_bytes(d, key, len);
        if (bytes == NULL)
            return ATP_E_NOMEM;
        memcpy(ent->bytes, &bytes, sizeof bytes);
    }
    ent->len = (uint32_t)len;
    /* Publish: the key entry above happens-before these release stores. */
    atomic_store_explicit(&t->slots[slot], ((uint64_t)h << 32) | (n + 1),
                          memory_order_release);
    atomic_store_explicit(&d->count, n + 1, memory_order_release);
    *idx = n;
    return ATP_OK;
}
