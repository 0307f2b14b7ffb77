/*
 * bundles.c - the bundle set: definitions in an array in the order added,
 * found by SKU index through an open-addressing table, and the reverse
 * index from a component to its bundles in a second table. Built on one
 * thread, then read-only (bundles.h). Pure code.
 */
#include "formula/bundles.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* An entry of either table: key SKU index + 1 (0: empty) -> value. */
typedef struct bundles_slot {
    uint32_t key1;
    uint32_t val; /* by_sku: index in defs; by_part: index in users */
} bundles_slot;

/* The bundles one component is in (grown by doubling: a component shared
 * by every bundle, a gift wrap, must not cost n^2). */
typedef struct bundles_users {
    uint32_t *skus;
    uint32_t n, cap;
} bundles_users;

struct bundles {
    bundle_def *defs;
    size_t n, cap;
    bundles_slot *by_sku, *by_part; /* capacity slots_cap each */
    size_t slots_cap, parts_used;
    bundles_users *users; /* parts_used of them, room for users_cap */
    size_t users_cap;
};

static size_t bundles_hash(uint32_t k)
{
    uint64_t x = k * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 32);
}

static bundles_slot *bundles_slot_of(bundles_slot *t, size_t cap, uint32_t k)
{
    if (cap == 0)
        return NULL;
    for (size_t i = bundles_hash(k) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (t[i].key1 == 0 || t[i].key1 == k + 1)
            return &t[i];
}

atp_err bundles_alloc(bundles **out)
{
    *out = calloc(1, sizeof **out);
    return *out != NULL ? ATP_OK : ATP_E_NOMEM;
}

void bundles_free(bundles *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        free((void *)b->defs[i].parts);
    for (size_t i = 0; i < b->parts_used; i++)
        free(b->users[i].skus);
    free(b->users);
    free(b->defs);
    free(b->by_sku);
    free(b->by_part);
    free(b);
}

size_t bundles_count(const bundles *b)
{
    return b->n;
}

const bundle_def *bundles_find(const bundles *b, uint32_t sku)
{
    if (b->n == 0)
        return NULL;
    const bundles_slot *s = bundles_slot_of(b->by_sku, b->slots_cap, sku);
    return s->key1 != 0 ? &b->defs[s->val] : NULL;
}

const bundle_def *bundles_at(const bundles *b, size_t i)
{
    return i < b->n ? &b->defs[i] : NULL;
}

const uint32_t *bundles_using(const bundles *b, uint32_t sku, uint32_t *n)
{
    *n = 0;
    if (b->parts_used == 0)
        return NULL;
    const bundles_slot *s = bundles_slot_of(b->by_part, b->slots_cap, sku);
    if (s->key1 == 0)
        return NULL;
    *n = b->users[s->val].n;
    return b->users[s->val].skus;
}

int64_t bundles_kits(int64_t have, int64_t qty)
{
    return have > 0 && qty > 0 ? have / qty : 0;
}

/* Both tables at a load of at most 1/2 of definitions + parts. */
static atp_err bundles_grow(bundles *b, size_t want)
{
    if (want * 2 <= b->slots_cap)
        return ATP_OK;
    size_t cap = b->slots_cap ? b->slots_cap : 64;
    while (want * 2 > cap)
        cap *= 2;
    bundles_slot *s = calloc(cap, sizeof *s), *p = calloc(cap, sizeof *p);
    if (s == NULL || p == NULL) {
        free(s);
        free(p);
        return ATP_E_NOMEM;
    }
    for (size_t i = 0; i < b->slots_cap; i++) {
        if (b->by_sku[i].key1 != 0)
            *bundles_slot_of(s, cap, b->by_sku[i].key1 - 1) = b->by_sku[i];
        if (b->by_part[i].key1 != 0)
            *bundles_slot_of(p, cap, b->by_part[i].key1 - 1) = b->by_part[i];
    }
    free(b->by_sku);
    free(b->by_part);
    b->by_sku = s;
    b->by_part = p;
    b->slots_cap = cap;
    return ATP_OK;
}

static bool bundles_is_part(const bundles *b, uint32_t sku)
{
    uint32_t n;
    bundles_using(b, sku, &n);
    return n > 0;
}

/* The checks of bundles_add, before anything changes. */
static atp_err bundles_check(const bundles *b, uint32_t sku,
                             const bundle_part *parts, uint32_t n_parts)
{
    if (n_parts == 0 || n_parts > BUNDLES_MAX_COMPONENTS)
        return ATP_E_BAD_QTY;
    if (b->n >= BUNDLES_MAX)
        return ATP_E_TOO_LARGE;
    if (bundles_find(b, sku) != NULL || bundles_is_part(b, sku))
        return ATP_E_CONFLICT;
    for (uint32_t i = 0; i < n_parts; i++) {
        if (parts[i].qty < 1 || parts[i].qty > BUNDLES_MAX_QTY)
            return ATP_E_BAD_QTY;
        if (parts[i].sku == sku || bundles_find(b, parts[i].sku) != NULL)
            return ATP_E_CONFLICT;
        for (uint32_t j = 0; j < i; j++)
            if (parts[j].sku == parts[i].sku)
                return ATP_E_CONFLICT;
    }
    return ATP_OK;
}

/* bundles_users_room: the users entry of component sku, created when
 * new, with room for one more. NULL: out of memory (an entry created then
 * stays, empty: harmless). */
static bundles_users *bundles_users_room(bundles *b, uint32_t sku)
{
    bundles_slot *s = bundles_slot_of(b->by_part, b->slots_cap, sku);
    if (s->key1 == 0) {
        *s = (bundles_slot){sku + 1, (uint32_t)b->parts_used};
        b->users[b->parts_used++] = (bundles_users){0};
    }
    bundles_users *u = &b->users[s->val];
    if (u->n == u->cap) {
        uint32_t cap = u->cap ? u->cap * 2 : 4;
        uint32_t *v = realloc(u->skus, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        u->skus = v;
        u->cap = cap;
    }
    return u;
}

atp_err bundles_add(bundles *b, uint32_t sku, const bundle_part *parts,
                    uint32_t n_parts)
{
    atp_err err = bundles_check(b, sku, parts, n_parts);
    if (err != ATP_OK)
        return err;
    if ((err = bundles_grow(b, b->n + 1 + b->parts_used + n_parts)) != ATP_OK)
        return err;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        bundle_def *d = realloc(b->defs, cap * sizeof *d);
        if (d == NULL)
            return ATP_E_NOMEM;
        b->defs = d;
        b->cap = cap;
    }
    if (b->parts_used + n_parts > b->users_cap) {
        size_t cap = b->users_cap ? b->users_cap : 16;
        while (cap < b->parts_used + n_parts)
            cap *= 2;
        bundles_users *u = realloc(b->users, cap * sizeof *u);
        if (u == NULL)
            return ATP_E_NOMEM;
        b->users = u;
        b->users_cap = cap;
    }
    bundle_part *copy = malloc(n_parts * sizeof *copy);
    if (copy == NULL)
        return ATP_E_NOMEM;
    /* Every component's user list gets room first: nothing is added
     * unless all of them could be. */
    bundles_users *room[BUNDLES_MAX_COMPONENTS];
    for (uint32_t i = 0; i < n_parts; i++)
        if ((room[i] = bundles_users_room(b, parts[i].sku)) == NULL) {
            free(copy);
            return ATP_E_NOMEM;
        }
    for (uint32_t i = 0; i < n_parts; i++)
        room[i]->skus[room[i]->n++] = sku;
    memcpy(copy, parts, n_parts * sizeof *copy);
    *bundles_slot_of(b->by_sku, b->slots_cap, sku) =
        (bundles_slot){sku + 1, (uint32_t)b->n};
    b->defs[b->n++] = (bundle_def){sku, n_parts, copy};
    return ATP_OK;
}
