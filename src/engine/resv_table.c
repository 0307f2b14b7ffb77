/*
 * resv_table.c - the reservation table: records, their id and order_ref
 * indexes, the expiry heap, the per-client counts, and resv__replace, the
 * one way a record changes. Engine thread (loading: main before
 * engine_start); see resv.h.
 *
 * resv__replace(cur, next) moves the reserved totals by the difference in
 * open quantities and keeps the indexes, the heap and the counters right,
 * so that every total always equals the sum over the open records.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "engine/resv_int.h"
#include "formula/formula.h"

/* ---- records ------------------------------------------------------------- */

resv *resv__alloc(uint32_t n_lines)
{
    resv *r = calloc(1, sizeof *r + n_lines * sizeof(resv_line));
    if (r != NULL) {
        r->n_lines = n_lines;
        heap_node_init(&r->due);
    }
    return r;
}

void resv__free(resv *r)
{
    if (r == NULL)
        return;
    free(r->id);
    free(r->order_ref);
    free(r->client);
    free(r->marks);
    free(r);
}

char *resv__strdup(const char *s, uint32_t n)
{
    char *c = malloc((size_t)n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

resv *resv__clone(const resv *r)
{
    resv *c = resv__alloc(r->n_lines);
    if (c == NULL)
        return NULL;
    memcpy(c, r, sizeof *r + r->n_lines * sizeof(resv_line));
    c->next_id = c->next_ref = NULL;
    heap_node_init(&c->due);
    c->id = resv__strdup(r->id, r->id_len);
    c->order_ref =
        r->order_ref ? resv__strdup(r->order_ref, r->order_ref_len) : NULL;
    c->client = r->client ? resv__strdup(r->client, r->client_len) : NULL;
    c->marks = NULL;
    if (r->n_marks > 0 &&
        (c->marks = malloc(r->n_marks * sizeof *c->marks)) != NULL)
        memcpy(c->marks, r->marks, r->n_marks * sizeof *c->marks);
    if (c->id == NULL || (r->order_ref && c->order_ref == NULL) ||
        (r->client && c->client == NULL) ||
        (r->n_marks > 0 && c->marks == NULL)) {
        resv__free(c);
        return NULL;
    }
    return c;
}

/* ---- consumption keys (resv->marks) -------------------------------------- */

static resv_mark *resv_mark_find(const resv *r, uint32_t src)
{
    for (uint32_t i = 0; i < r->n_marks; i++)
        if (r->marks[i].src == src)
            return &r->marks[i];
    return NULL;
}

/* Is (seq, event) of src at or below r's mark for src: already applied
 * while r was as it is? */
bool resv__mark_covers(const resv *r, uint32_t src, uint64_t seq,
                       uint32_t event)
{
    const resv_mark *m = resv_mark_find(r, src);
    return m != NULL && (seq < m->seq || (seq == m->seq && event <= m->event));
}

bool resv_mark_raise(resv *r, uint32_t src, uint64_t seq, uint32_t event)
{
    resv_mark *m = resv_mark_find(r, src);
    if (m == NULL) {
        resv_mark *n = realloc(r->marks, (r->n_marks + 1) * sizeof *n);
        if (n == NULL)
            return false;
        r->marks = n;
        m = &n[r->n_marks++];
        *m = (resv_mark){.seq = seq, .src = src, .event = event};
        return true;
    }
    if (seq > m->seq || (seq == m->seq && event > m->event)) {
        m->seq = seq;
        m->event = event;
    }
    return true;
}

/* ---- hash indexes (chained, power-of-two buckets) ------------------------ */

static uint64_t resv_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 31);
}

resv *resv__find(const resv_table *t, const char *id, size_t len)
{
    resv *r = t->by_id[resv_hash(id, len) & (t->id_cap - 1)];
    while (r != NULL && !(r->id_len == len && memcmp(r->id, id, len) == 0))
        r = r->next_id;
    return r;
}

resv *resv__find_ref(const resv_table *t, const char *ref, size_t len)
{
    resv *r = t->by_ref[resv_hash(ref, len) & (t->ref_cap - 1)];
    while (r != NULL &&
           !(r->order_ref_len == len && memcmp(r->order_ref, ref, len) == 0))
        r = r->next_ref;
    return r;
}

static bool resv_rehash(resv ***tab, size_t *cap, bool by_ref)
{
    size_t ncap = *cap * 2;
    resv **n = calloc(ncap, sizeof *n);
    if (n == NULL)
        return false; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < *cap; i++) {
        resv *r = (*tab)[i];
        while (r != NULL) {
            resv *next = by_ref ? r->next_ref : r->next_id;
            size_t b =
                by_ref ? resv_hash(r->order_ref, r->order_ref_len) & (ncap - 1)
                       : resv_hash(r->id, r->id_len) & (ncap - 1);
            if (by_ref) {
                r->next_ref = n[b];
            } else {
                r->next_id = n[b];
            }
            n[b] = r;
            r = next;
        }
    }
    free(*tab);
    *tab = n;
    *cap = ncap;
    return true;
}

static void resv_index_add(resv_table *t, resv *r)
{
    if (t->count + 1 > t->id_cap) {
        resv_rehash(&t->by_id, &t->id_cap, false);
        resv_rehash(&t->by_ref, &t->ref_cap, true);
    }
    size_t b = resv_hash(r->id, r->id_len) & (t->id_cap - 1);
    r->next_id = t->by_id[b];
    t->by_id[b] = r;
    if (r->order_ref != NULL) {
        b = resv_hash(r->order_ref, r->order_ref_len) & (t->ref_cap - 1);
        r->next_ref = t->by_ref[b];
        t->by_ref[b] = r;
    }
    t->count++;
    atomic_store_explicit(&t->n_total, t->count, memory_order_relaxed);
}

static void resv_index_del(resv_table *t, resv *r)
{
    resv **p = &t->by_id[resv_hash(r->id, r->id_len) & (t->id_cap - 1)];
    while (*p != r)
        p = &(*p)->next_id;
    *p = r->next_id;
    if (r->order_ref != NULL) {
        p = &t->by_ref[resv_hash(r->order_ref, r->order_ref_len) &
                       (t->ref_cap - 1)];
        while (*p != r)
            p = &(*p)->next_ref;
        *p = r->next_ref;
    }
    ATP_ASSERT(t->count > 0);
    t->count--;
    atomic_store_explicit(&t->n_total, t->count, memory_order_relaxed);
}

/* ---- the one way a record changes ---------------------------------------- */

/* resv__client_find returns the counter of client name[0..len), added
 * when create is true (NULL: not there, or no memory to add it). */
resv_client *resv__client_find(resv_table *t, const char *name, uint32_t len,
                               bool create)
{
    for (size_t i = 0; i < t->n_clients; i++)
        if (t->clients[i].len == len &&
            memcmp(t->clients[i].name, name, len) == 0)
            return &t->clients[i];
    if (!create)
        return NULL;
    if (t->n_clients == t->clients_cap) {
        size_t cap = t->clients_cap ? 2 * t->clients_cap : 8;
        resv_client *c = realloc(t->clients, cap * sizeof *c);
        if (c == NULL)
            return NULL;
        t->clients = c;
        t->clients_cap = cap;
    }
    char *copy = resv__strdup(name, len);
    if (copy == NULL)
        return NULL;
    t->clients[t->n_clients] = (resv_client){copy, len, 0};
    return &t->clients[t->n_clients++];
}

static void resv_count_state(resv_table *t, const resv *r, int sign)
{
    if (r == NULL)
        return;
    if (r->client != NULL && resv__is_open(r->state)) {
        resv_client *c = resv__client_find(t, r->client, r->client_len, true);
        if (c != NULL)
            c->open += sign;
        else /* the limit then undercounts this client by one */
            log_error("resv",
                      "out of memory counting client %.*s's reservations",
                      (int)r->client_len, r->client);
    }
    /* A record leaves a state it was counted in when it came: a count
     * never goes below 0. */
    uint64_t was = 1;
    if (r->state == ENGINE_RESV_HELD)
        was = atomic_fetch_add_explicit(&t->n_held, (uint64_t)(int64_t)sign,
                                        memory_order_relaxed);
    else if (r->state == ENGINE_RESV_COMMITTED)
        was = atomic_fetch_add_explicit(
            &t->n_committed, (uint64_t)(int64_t)sign, memory_order_relaxed);
    ATP_ASSERT(sign > 0 || was > 0);
}

/* A pinned line's entry in e->pinned exists before its record is put in
 * (resv__pinned_room), and entries are never removed, so moving a pinned
 * total cannot fail here. */
static void resv_rows_move(engine *e, const resv *r, int sign)
{
    for (uint32_t i = 0; r != NULL && i < r->n_lines; i++) {
        const resv_line *l = &r->lines[i];
        int64_t open = resv__line_open(r, l);
        ATP_ASSERT(open >= 0); /* consumed + released never pass qty */
        if (open == 0)
            continue;
        if (engine__phased_counts(e, r->promise_ms))
            engine__phased_move(e, l->sku, l->region, r->promise_ms,
                                sign * open);
        else
            engine__row_add(e, l->sku, l->region, 0, sign * open);
        if (l->pin != 0) {
            atp_err err =
                position_sums_add(&e->pinned, l->sku, (uint16_t)(l->pin - 1),
                                  (__int128)sign * open);
            ATP_ASSERT(err == ATP_OK);
            position *p =
                positions_get(&e->pos, l->sku, (uint16_t)(l->pin - 1));
            if (p != NULL) /* the pickup feed: the store's reserved moved */
                engine__pickup_touched(e, p);
        }
    }
}

atp_err resv__pinned_room(engine *e, const resv *r)
{
    size_t n = 0;
    for (uint32_t i = 0; i < r->n_lines; i++)
        n += r->lines[i].pin != 0;
    return n == 0 ? ATP_OK : position_sums_reserve(&e->pinned, n);
}

int64_t resv__pinned_at(const engine *e, uint32_t sku, uint32_t location)
{
    __int128 q = position_sums_get(&e->pinned, sku, (uint16_t)location);
    return q > ATP_QTY_SUM_MAX ? ATP_QTY_SUM_MAX : q < 0 ? 0 : (int64_t)q;
}

/* resv__replace makes `next` the record in place of `cur` (either may be
 * NULL), moving reserved totals by the difference. Takes ownership of next
 * and frees cur. */
void resv__replace(engine *e, resv *cur, resv *next)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    /* cur is the table's record of its id; next is no other's. */
    ATP_DASSERT(cur == NULL || resv__find(t, cur->id, cur->id_len) == cur);
    ATP_ASSERT(next == NULL || !heap_node_queued(&next->due));
    resv_rows_move(e, cur, -1);
    resv_rows_move(e, next, +1);
    resv_count_state(t, cur, -1);
    resv_count_state(t, next, +1);
    if (cur != NULL) {
        heap_remove(&t->expiry, &cur->due);
        resv_index_del(t, cur);
        resv__free(cur);
    }
    if (next != NULL) {
        resv_index_add(t, next);
        if (!heap_push(&t->expiry, &next->due))
            log_error("resv", "out of memory: %.*s will not expire on time",
                      (int)next->id_len, next->id);
    }
}

/* ---- set-up -------------------------------------------------------------- */

atp_err resv_table_init(resv_table *t, const config *cfg)
{
    memset(t, 0, sizeof *t);
    t->id_cap = t->ref_cap = 1024;
    t->by_id = calloc(t->id_cap, sizeof *t->by_id);
    t->by_ref = calloc(t->ref_cap, sizeof *t->by_ref);
    heap_init(&t->expiry, 1024);
    t->n_sources = cfg->n_sources;
    t->may_allocate = calloc(cfg->n_regions * cfg->n_sources + 1, 1);
    t->seq_floor = calloc(cfg->n_sources + 1, sizeof *t->seq_floor);
    t->applied_hw = calloc(cfg->n_sources + 1, sizeof *t->applied_hw);
    if (t->by_id == NULL || t->by_ref == NULL || t->may_allocate == NULL ||
        t->seq_floor == NULL || t->applied_hw == NULL) {
        resv_table_fini(t);
        return ATP_E_NOMEM;
    }
    resv_may_allocate_set(t, cfg, NULL);
    return ATP_OK;
}

size_t resv_table_using(const resv_table *t, uint32_t region, uint32_t channel)
{
    size_t n = 0;
    for (size_t i = 0; t->by_id != NULL && i < t->id_cap; i++)
        for (const resv *r = t->by_id[i]; r != NULL; r = r->next_id) {
            bool uses = channel != UINT32_MAX && r->channel == channel;
            for (uint32_t k = 0; !uses && k < r->n_lines; k++)
                uses = r->lines[k].region == region;
            n += uses;
        }
    return n;
}

void resv_may_allocate_set(resv_table *t, const config *cfg,
                           const uint16_t *loc_region)
{
    memset(t->may_allocate, 0, cfg->n_regions * cfg->n_sources + 1);
    for (size_t s = 0; s < cfg->n_sources; s++)
        for (size_t a = 0; a < cfg->sources[s].n_authority; a++) {
            const config_authority *au = &cfg->sources[s].authority[a];
            uint32_t r = loc_region ? loc_region[au->location]
                                    : cfg->locations[au->location].region;
            if (au->bucket == ATP_BUCKET_ALLOCATED && r != CONFIG_LOCATION_GONE)
                t->may_allocate[r * t->n_sources + s] = 1;
        }
}

void resv_table_fini(resv_table *t)
{
    for (size_t i = 0; t->by_id != NULL && i < t->id_cap; i++) {
        resv *r = t->by_id[i];
        while (r != NULL) {
            resv *next = r->next_id;
            resv__free(r);
            r = next;
        }
    }
    resv__group_fini(&t->open);
    resv__group_fini(&t->inflight);
    resv__group_fini(&t->durable);
    for (size_t i = 0; i < t->n_clients; i++)
        free(t->clients[i].name);
    free(t->clients);
    free(t->by_id);
    free(t->by_ref);
    heap_fini(&t->expiry);
    free(t->may_allocate);
    free(t->seq_floor);
    free(t->applied_hw);
    memset(t, 0, sizeof *t);
}

atp_err resv_load(engine *e, const void *key, size_t key_len, const void *val,
                  size_t val_len)
{
    resv *r;
    atp_err err = resv_record_decode(e, val, val_len, &r);
    if (err == ATP_OK &&
        (r->id_len != key_len || memcmp(r->id, key, key_len) != 0)) {
        resv__free(r);
        err = ATP_E_BAD_REQUEST;
    }
    if (err == ATP_OK && resv__find(&e->resv, r->id, r->id_len) != NULL) {
        resv__free(r);
        err = ATP_E_CONFLICT;
    }
    if (err == ATP_OK && (err = resv__pinned_room(e, r)) != ATP_OK)
        resv__free(r);
    if (err != ATP_OK) {
        atomic_fetch_add_explicit(&e->resv.load_skipped, 1,
                                  memory_order_relaxed);
        log_warn("resv", "stored reservation '%.*s' skipped: %s",
                 (int)(key_len > 64 ? 64 : key_len), (const char *)key,
                 atp_err_message(err));
        return err;
    }
    for (uint32_t i = 0; i < r->n_marks; i++)
        if (r->marks[i].seq > e->resv.seq_floor[r->marks[i].src])
            e->resv.seq_floor[r->marks[i].src] = r->marks[i].seq;
    resv__replace(e, NULL, r);
    return ATP_OK;
}

void resv_stats(const resv_table *t, engine_stats *out)
{
    out->resv_held = atomic_load_explicit(&t->n_held, memory_order_relaxed);
    out->resv_committed =
        atomic_load_explicit(&t->n_committed, memory_order_relaxed);
    out->resv_open = out->resv_held + out->resv_committed;
    out->resv_total = atomic_load_explicit(&t->n_total, memory_order_relaxed);
    out->resv_granted = atomic_load_explicit(&t->granted, memory_order_relaxed);
    out->resv_refused = atomic_load_explicit(&t->refused, memory_order_relaxed);
    out->backorder_reserves =
        atomic_load_explicit(&t->backorder_reserves, memory_order_relaxed);
    out->backorder_units =
        atomic_load_explicit(&t->backorder_units, memory_order_relaxed);
    out->resv_expired = atomic_load_explicit(&t->expired, memory_order_relaxed);
    out->resv_consumed =
        atomic_load_explicit(&t->consumed, memory_order_relaxed);
    out->resv_store_failures =
        atomic_load_explicit(&t->store_failures, memory_order_relaxed);
    out->resv_load_skipped =
        atomic_load_explicit(&t->load_skipped, memory_order_relaxed);
}
