/* names.c - string -> index map (see names.h): built once, then ids only
 * added (names_insert, one writer), looked up by any thread. */
#include "common/names.h"

#include <stdlib.h>
#include <string.h>

static uint64_t names_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

atp_err names_init(names *m, const char *const *ids, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    if (m->slots == NULL)
        return ATP_E_NOMEM;
    m->cap = cap;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == NULL)
            continue; /* an unnamed entry: found by no id */
        size_t len = strlen(ids[i]);
        if (names_find(m, ids[i], len) >= 0)
            continue;
        size_t j = names_hash(ids[i], len) & (cap - 1);
        while (m->slots[j].id != NULL)
            j = (j + 1) & (cap - 1);
        m->slots[j] = (names_slot){ids[i], (uint32_t)len, (uint32_t)i};
    }
    return ATP_OK;
}

void names_fini(names *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}

int64_t names_find(const names *m, const char *ptr, size_t len)
{
    for (size_t j = names_hash(ptr, len) & (m->cap - 1);;
         j = (j + 1) & (m->cap - 1)) {
        const names_slot *e = &m->slots[j];
        /* acquire: a slot names_insert filled is whole once its id shows */
        const char *id = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);
        if (id == NULL)
            return -1;
        if (e->len == len && memcmp(id, ptr, len) == 0)
            return e->index;
    }
}

atp_err names_insert(names *m, const char *id, uint32_t index)
{
    size_t len = strlen(id), used = 0;
    for (size_t j = 0; j < m->cap; j++)
        used += m->slots[j].id != NULL; /* the writer's own stores */
    if ((used + 1) * 2 > m->cap)
        return ATP_E_BAD_STATE; /* the load the lookups are sized for */
    if (names_find(m, id, len) >= 0)
        return ATP_E_CONFLICT;
    size_t j = names_hash(id, len) & (m->cap - 1);
    while (m->slots[j].id != NULL)
        j = (j + 1) & (m->cap - 1);
    names_slot *e = &m->slots[j];
    e->len = (uint32_t)len;
    e->index = index;
    __atomic_store_n(&e->id, id, __ATOMIC_RELEASE); /* publishes the slot */
    return ATP_OK;
}
