/*
 * copy.c - the warm copy (cluster_int.h): a chained hash table of the
 * latest record of each reservation id, as the partition's stream holds
 * them. A standby keeps it current so that a takeover loads it at once
 * instead of reading the whole stream.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"

static uint64_t cluster_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static cluster_rec **cluster_slot(const cluster_copy *cp, const char *key,
                                  size_t key_len)
{
    cluster_rec **p = &cp->slots[cluster_hash(key, key_len) & (cp->cap - 1)];
    while (*p != NULL &&
           ((*p)->key_len != key_len || memcmp((*p)->data, key, key_len) != 0))
        p = &(*p)->next;
    return p;
}

static atp_err cluster_grow(cluster_copy *cp)
{
    size_t cap = cp->cap ? cp->cap * 2 : 1024;
    cluster_rec **slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < cp->cap; i++) {
        for (cluster_rec *r = cp->slots[i], *next; r != NULL; r = next) {
            next = r->next;
            size_t k = cluster_hash(r->data, r->key_len) & (cap - 1);
            r->next = slots[k];
            slots[k] = r;
        }
    }
    free(cp->slots);
    cp->slots = slots;
    cp->cap = cap;
    return ATP_OK;
}

/* cluster_mark adds id key to the dirty list (see cluster_copy). */
static void cluster_mark(cluster_copy *cp, const char *key, size_t key_len)
{
    if (!cp->track)
        return;
    if (cp->dirty_len + 2 + key_len > cp->dirty_cap) {
        size_t cap = cp->dirty_cap ? cp->dirty_cap * 2 : 65536;
        while (cap < cp->dirty_len + 2 + key_len)
            cap *= 2;
        char *d = realloc(cp->dirty, cap);
        if (d == NULL) { /* the store can no longer follow the copy */
            cp->dirty_lost = true;
            return;
        }
        cp->dirty = d;
        cp->dirty_cap = cap;
    }
    cp->dirty[cp->dirty_len] = (char)(key_len & 0xff);
    cp->dirty[cp->dirty_len + 1] = (char)(key_len >> 8);
    memcpy(cp->dirty + cp->dirty_len + 2, key, key_len);
    cp->dirty_len += 2 + key_len;
    cp->dirty_n++;
}

atp_err cluster__copy_put(cluster_copy *cp, const char *key, size_t key_len,
                          const void *val, size_t val_len)
{
    cluster_mark(cp, key, key_len);
    if (cp->n >= cp->cap && cluster_grow(cp) != ATP_OK) {
        cp->dirty_lost = true;
        return ATP_E_NOMEM;
    }
    cluster_rec *r = malloc(sizeof *r + key_len + val_len);
    if (r == NULL) {
        cp->dirty_lost = true;
        return ATP_E_NOMEM;
    }
    r->key_len = (uint32_t)key_len;
    r->val_len = (uint32_t)val_len;
    memcpy(r->data, key, key_len);
    memcpy(r->data + key_len, val, val_len);
    cluster_rec **p = cluster_slot(cp, key, key_len);
    if (*p != NULL) {
        r->next = (*p)->next;
        free(*p);
    } else {
        r->next = NULL;
        cp->n++;
    }
    *p = r;
    return ATP_OK;
}

void cluster__copy_del(cluster_copy *cp, const char *key, size_t key_len)
{
    cluster_mark(cp, key, key_len);
    if (cp->cap == 0)
        return;
    cluster_rec **p = cluster_slot(cp, key, key_len);
    if (*p == NULL)
        return;
    cluster_rec *gone = *p;
    *p = gone->next;
    free(gone);
    cp->n--;
}

engine_record_op *cluster__copy_ops(const cluster_copy *cp, size_t *n)
{
    engine_record_op *ops = malloc((cp->n ? cp->n : 1) * sizeof *ops);
    if (ops == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < cp->cap; i++)
        for (const cluster_rec *r = cp->slots[i]; r != NULL; r = r->next)
            ops[k++] =
                (engine_record_op){ENGINE_DB_RESERVATIONS, r->data, r->key_len,
                                   r->data + r->key_len, r->val_len};
    *n = k;
    return ops;
}

/* cluster_drop frees every record, keeping the table. */
static void cluster_drop(cluster_copy *cp)
{
    for (size_t i = 0; i < cp->cap; i++) {
        for (cluster_rec *r = cp->slots[i], *next; r != NULL; r = next) {
            next = r->next;
            free(r);
        }
        cp->slots[i] = NULL;
    }
    cp->n = 0;
}

void cluster__copy_free(cluster_copy *cp)
{
    cluster_drop(cp);
    free(cp->slots);
    free(cp->dirty);
    *cp = (cluster_copy){0};
}

void cluster__copy_reset(cluster_copy *cp)
{
    bool track = cp->track;
    cp->track = true;
    for (size_t i = 0; i < cp->cap; i++)
        for (const cluster_rec *r = cp->slots[i]; r != NULL; r = r->next)
            cluster_mark(cp, r->data, r->key_len);
    cp->track = track;
    cluster_drop(cp);
}

engine_record_op *cluster__copy_dirty_ops(const cluster_copy *cp, size_t *n)
{
    *n = 0;
    if (cp->dirty_n == 0)
        return NULL;
    engine_record_op *ops = malloc(cp->dirty_n * sizeof *ops);
    if (ops == NULL)
        return NULL;
    size_t k = 0;
    for (size_t at = 0; at < cp->dirty_len;) {
        size_t klen = (size_t)(unsigned char)cp->dirty[at] |
                      (size_t)(unsigned char)cp->dirty[at + 1] << 8;
        const char *key = cp->dirty + at + 2;
        at += 2 + klen;
        const cluster_rec *r =
            cp->cap > 0 ? *cluster_slot(cp, key, klen) : NULL;
        ops[k++] = (engine_record_op){ENGINE_DB_RESERVATIONS, key, klen,
                                      r != NULL ? r->data + r->key_len : NULL,
                                      r != NULL ? r->val_len : 0};
    }
    *n = k;
    return ops;
}

void cluster__copy_dirty_clear(cluster_copy *cp)
{
    cp->dirty_len = cp->dirty_n = 0;
}
