/*
 * resv.c - reservations: table, state machine, expiry heap, consumption,
 * and group commit. Engine thread only (see resv.h).
 *
 * Every change to a record goes through resv_replace(current, next), which
 * moves the reserved totals by the difference in open quantities, fixes the
 * indexes and the expiry heap. Each operation keeps a copy of the record as
 * it was before (the before-image); if the store cannot write the group,
 * the group's operations are undone newest first by replacing the record
 * with its before-image again, and their callers get an error. Nothing is
 * answered before the store has written it.
 *
 * Pipeline: operations collect in the open group; when no group is in
 * flight, the open one is handed to the store (one transaction, one fsync
 * for all of it) and a new one starts collecting. Under load a group holds
 * everything that arrived during the previous fsync: group commit.
 */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "formula/formula.h"

struct resv_pending {
    void (*done)(void *arg, const engine_resv_result *res); /* NULL: none */
    void *arg;
    atp_err err;
    bool granted, replayed;
    bool grant;   /* a new reservation: counted as granted once stored */
    resv *snap;   /* the record after the operation (reply), or NULL */
    char *key;    /* record id (owned) */
    uint32_t key_len;
    resv *before; /* before-image, NULL: the record did not exist */
    bool wrote;   /* this operation changed the record */
    bool keep;    /* a consumption: never undone, written again on failure */
    bool mark_only;     /* a held record's mark (kept too); no snapshot waits
                         * for it (resv_consumptions_gen says why) */
    unsigned char *val; /* encoded record to write, NULL: delete */
    size_t val_len;
};

#define RESV_NOT_IN_HEAP SIZE_MAX
#define RESV_RETRY_MS 1000

static bool resv_is_open(uint8_t st)
{
    return st == ENGINE_RESV_HELD || st == ENGINE_RESV_COMMITTED;
}

static int64_t resv_line_open(const resv *r, const resv_line *l)
{
    return resv_is_open(r->state) ? l->qty - l->consumed - l->released : 0;
}

/* ---- records ------------------------------------------------------------- */

static resv *resv_alloc(uint32_t n_lines)
{
    resv *r = calloc(1, sizeof *r + n_lines * sizeof(resv_line));
    if (r != NULL) {
        r->n_lines = n_lines;
        r->heap_idx = RESV_NOT_IN_HEAP;
    }
    return r;
}

static void resv_free(resv *r)
{
    if (r == NULL)
        return;
    free(r->id);
    free(r->order_ref);
    free(r->client);
    free(r->marks);
    free(r);
}

static char *resv_strdup(const char *s, uint32_t n)
{
    char *c = malloc((size_t)n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static resv *resv_clone(const resv *r)
{
    resv *c = resv_alloc(r->n_lines);
    if (c == NULL)
        return NULL;
    memcpy(c, r, sizeof *r + r->n_lines * sizeof(resv_line));
    c->next_id = c->next_ref = NULL;
    c->heap_idx = RESV_NOT_IN_HEAP;
    c->id = resv_strdup(r->id, r->id_len);
    c->order_ref = r->order_ref ? resv_strdup(r->order_ref, r->order_ref_len) : NULL;
    c->client = r->client ? resv_strdup(r->client, r->client_len) : NULL;
    c->marks = NULL;
    if (r->n_marks > 0 && (c->marks = malloc(r->n_marks * sizeof *c->marks)) != NULL)
        memcpy(c->marks, r->marks, r->n_marks * sizeof *c->marks);
    if (c->id == NULL || (r->order_ref && c->order_ref == NULL) ||
        (r->client && c->client == NULL) ||
        (r->n_marks > 0 && c->marks == NULL)) {
        resv_free(c);
        return NULL;
    }
    return c;
}

/* resv_visible: tenancy (engine.h, engine_resv_req.client): a request
 * bound to a client sees only the records created under that client. */
static bool resv_visible(const resv *r, const engine_resv_req *req)
{
    if (req->client == NULL)
        return true;
    return r->client != NULL && r->client_len == req->client_len &&
           memcmp(r->client, req->client, req->client_len) == 0;
}

/* ---- consumption keys (resv->marks) ---------------------------------------- */

static resv_mark *resv_mark_find(const resv *r, uint32_t src)
{
    for (uint32_t i = 0; i < r->n_marks; i++)
        if (r->marks[i].src == src)
            return &r->marks[i];
    return NULL;
}

/* Is (seq, event) of src at or below r's mark for src: already applied
 * while r was as it is? */
static bool resv_mark_covers(const resv *r, uint32_t src, uint64_t seq,
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

/* At commit: every source that may allocate in one of r's regions gets a
 * mark at its applied offset, because what it sent so far was applied
 * while r could not be consumed (held, or not yet there) and must not
 * consume it when resent after a restart. Soon after a restart the offset
 * is the last snapshot's, behind what was applied before the crash (the
 * source is still resending it); seq_floor is what we know of that (the
 * "applied" file's seq, the stored marks), until the offset reaches it
 * (engine_thread_main clears it then).
 * Returns false when out of memory. */
static bool resv_marks_commit(const engine *e, resv *r)
{
    const resv_table *t = &e->resv;
    for (size_t src = 0; src < t->n_sources; src++) {
        const engine_offset *o = &e->snap.offsets[src];
        uint64_t seq = o->known && o->seq > t->seq_floor[src] ? o->seq : t->seq_floor[src];
        /* A source with a floor is marked whatever its regions: a reload
         * may move one of its locations into r's region before it has
         * resent what it applied before the restart. */
        bool may = t->seq_floor[src] > 0;
        for (uint32_t i = 0; i < r->n_lines && !may; i++)
            may = t->may_allocate[r->lines[i].region * t->n_sources + src];
        if (may && (o->known || seq > 0) &&
            !resv_mark_raise(r, (uint32_t)src, seq, RESV_MARK_MESSAGE))
            return false;
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

static resv *resv_find(const resv_table *t, const char *id, size_t len)
{
    resv *r = t->by_id[resv_hash(id, len) & (t->id_cap - 1)];
    while (r != NULL && !(r->id_len == len && memcmp(r->id, id, len) == 0))
        r = r->next_id;
    return r;
}

static resv *resv_find_ref(const resv_table *t, const char *ref, size_t len)
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
            size_t b = by_ref ? resv_hash(r->order_ref, r->order_ref_len) & (ncap - 1)
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
        p = &t->by_ref[resv_hash(r->order_ref, r->order_ref_len) & (t->ref_cap - 1)];
        while (*p != r)
            p = &(*p)->next_ref;
        *p = r->next_ref;
    }
    t->count--;
    atomic_store_explicit(&t->n_total, t->count, memory_order_relaxed);
}

/* ---- expiry heap (min-heap on due_ms) ------------------------------------ */

static void resv_heap_swap(resv_table *t, size_t a, size_t b)
{
    resv *x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
    t->heap[a]->heap_idx = a;
    t->heap[b]->heap_idx = b;
}

static void resv_heap_up(resv_table *t, size_t i)
{
    while (i > 0 && t->heap[(i - 1) / 2]->due_ms > t->heap[i]->due_ms) {
        resv_heap_swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void resv_heap_down(resv_table *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->heap_n && t->heap[l]->due_ms < t->heap[m]->due_ms)
            m = l;
        if (r < t->heap_n && t->heap[r]->due_ms < t->heap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        resv_heap_swap(t, i, m);
        i = m;
    }
}

static bool resv_heap_push(resv_table *t, resv *r)
{
    if (t->heap_n == t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 1024;
        resv **h = realloc(t->heap, cap * sizeof *h);
        if (h == NULL)
            return false;
        t->heap = h;
        t->heap_cap = cap;
    }
    r->heap_idx = t->heap_n;
    t->heap[t->heap_n++] = r;
    resv_heap_up(t, r->heap_idx);
    return true;
}

static void resv_heap_del(resv_table *t, resv *r)
{
    size_t i = r->heap_idx;
    if (i == RESV_NOT_IN_HEAP)
        return;
    t->heap_n--;
    if (i != t->heap_n) {
        t->heap[i] = t->heap[t->heap_n];
        t->heap[i]->heap_idx = i;
        resv_heap_down(t, i);
        resv_heap_up(t, i);
    }
    r->heap_idx = RESV_NOT_IN_HEAP;
}

/* ---- the one way a record changes ------------------------------------------ */

/* resv_client_find returns the counter of client name[0..len), added
 * when create is true (NULL: not there, or no memory to add it). */
static resv_client *resv_client_find(resv_table *t, const char *name, uint32_t len,
                                     bool create)
{
    for (size_t i = 0; i < t->n_clients; i++)
        if (t->clients[i].len == len && memcmp(t->clients[i].name, name, len) == 0)
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
    char *copy = resv_strdup(name, len);
    if (copy == NULL)
        return NULL;
    t->clients[t->n_clients] = (resv_client){copy, len, 0};
    return &t->clients[t->n_clients++];
}

static void resv_count_state(resv_table *t, const resv *r, int sign)
{
    if (r == NULL)
        return;
    if (r->client != NULL && resv_is_open(r->state)) {
        resv_client *c = resv_client_find(t, r->client, r->client_len, true);
        if (c != NULL)
            c->open += sign;
        else /* the limit then undercounts this client by one */
            log_error("resv", "out of memory counting client %.*s's reservations",
                      (int)r->client_len, r->client);
    }
    if (r->state == ENGINE_RESV_HELD)
        atomic_fetch_add_explicit(&t->n_held, (uint64_t)(int64_t)sign,
                                  memory_order_relaxed);
    else if (r->state == ENGINE_RESV_COMMITTED)
        atomic_fetch_add_explicit(&t->n_committed, (uint64_t)(int64_t)sign,
                                  memory_order_relaxed);
}

static void resv_rows_move(engine *e, const resv *r, int sign)
{
    for (uint32_t i = 0; r != NULL && i < r->n_lines; i++) {
        int64_t open = resv_line_open(r, &r->lines[i]);
        if (open != 0)
            engine_row_add(e, r->lines[i].sku, r->lines[i].region, 0,
                           sign * open);
    }
}

/* resv_replace makes `next` the record in place of `cur` (either may be
 * NULL), moving reserved totals by the difference. Takes ownership of next
 * and frees cur. */
static void resv_replace(engine *e, resv *cur, resv *next)
{
    resv_table *t = &e->resv;
    resv_rows_move(e, cur, -1);
    resv_rows_move(e, next, +1);
    resv_count_state(t, cur, -1);
    resv_count_state(t, next, +1);
    if (cur != NULL) {
        resv_heap_del(t, cur);
        resv_index_del(t, cur);
        resv_free(cur);
    }
    if (next != NULL) {
        resv_index_add(t, next);
        if (!resv_heap_push(t, next))
            log_error("resv", "out of memory: %.*s will not expire on time",
                      (int)next->id_len, next->id);
    }
}

/* ---- results ---------------------------------------------------------------- */

static void resv_deliver(engine *e, resv_pending *p)
{
    /* A grant counts once it is stored: a refused write changes nothing,
     * counters included; a replay is the original grant, not a new one. */
    if (p->err == ATP_OK && p->grant)
        atomic_fetch_add_explicit(&e->resv.granted, 1, memory_order_relaxed);
    if (p->done == NULL)
        return;
    engine_resv_result res = {.err = p->err, .granted = p->granted,
                              .replayed = p->replayed};
    engine_resv_line *lines = NULL;
    if (p->snap != NULL) {
        const resv *r = p->snap;
        lines = calloc(r->n_lines ? r->n_lines : 1, sizeof *lines);
        if (lines == NULL) {
            res.err = ATP_E_NOMEM;
        } else {
            for (uint32_t i = 0; i < r->n_lines; i++) {
                size_t len;
                lines[i].sku = dict_key(e->skus, r->lines[i].sku, &len);
                lines[i].sku_len = (uint32_t)len;
                lines[i].region = r->lines[i].region;
                lines[i].qty = r->lines[i].qty;
                lines[i].consumed = r->lines[i].consumed;
                lines[i].released = r->lines[i].released;
            }
            res.has_record = true;
            res.id = r->id;
            res.id_len = r->id_len;
            res.channel = r->channel;
            res.state = r->state;
            res.created_ms = r->created_ms;
            res.expires_ms = r->expires_ms;
            res.updated_ms = r->updated_ms;
            res.order_ref = r->order_ref;
            res.lines = lines;
            res.n_lines = r->n_lines;
        }
    }
    if (res.err == ATP_E_STORE_FULL)
        res.message = "storage full: the change was not stored and not applied";
    else if (res.err == ATP_E_IO)
        res.message = "storage error: the change was not stored and not applied";
    p->done(p->arg, &res);
    free(lines);
}

static void resv_pending_fini(resv_pending *p)
{
    resv_free(p->snap);
    resv_free(p->before);
    free(p->key);
    free(p->val);
}

static void resv_group_clear(resv_group *g)
{
    for (size_t i = 0; i < g->n; i++)
        resv_pending_fini(&g->items[i]);
    g->n = 0;
    g->n_writes = 0;
}

/* Answer an operation that changed nothing and depends on nothing in
 * flight: at once. */
static void resv_reply_now(engine *e, const engine_resv_req *req, atp_err err,
                           const resv *snap, bool granted, bool replayed)
{
    resv_pending p = {.done = req->done, .arg = req->arg, .err = err,
                      .granted = granted, .replayed = replayed,
                      .snap = (resv *)snap};
    resv_deliver(e, &p);
}

static resv_pending *resv_group_push(resv_group *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        resv_pending *n = realloc(g->items, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        g->items = n;
        g->cap = cap;
    }
    resv_pending *p = &g->items[g->n++];
    memset(p, 0, sizeof *p);
    return p;
}

/* Queue the reply of an operation that read a record: it must not be
 * answered before the write it reads from (if any) is durable. */
static void resv_reply_after_writes(engine *e, const engine_resv_req *req,
                                    atp_err err, const resv *r, bool granted,
                                    bool replayed)
{
    resv_table *t = &e->resv;
    if (t->open.n == 0 && !t->inflight_busy) {
        resv_reply_now(e, req, err, r, granted, replayed);
        return;
    }
    resv_pending *p = resv_group_push(&t->open);
    resv *snap = r ? resv_clone(r) : NULL;
    if (p == NULL || (r != NULL && snap == NULL)) {
        if (p != NULL)
            t->open.n--;
        resv_free(snap);
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    *p = (resv_pending){.done = req->done, .arg = req->arg, .err = err,
                        .granted = granted, .replayed = replayed, .snap = snap};
}

/* Apply a change (cur -> next) now and queue its write and its reply.
 * next may be NULL (purge). done may be NULL (expiry, consumption).
 * Returns the queued write, NULL when it was refused for memory. */
static resv_pending *resv_change(engine *e, const engine_resv_req *req,
                                 resv *cur, resv *next, bool granted)
{
    resv_table *t = &e->resv;
    const resv *r = next ? next : cur;
    resv_pending *p = resv_group_push(&t->open);
    resv *before = cur ? resv_clone(cur) : NULL;
    resv *snap = next && req && req->done ? resv_clone(next) : NULL;
    char *key = resv_strdup(r->id, r->id_len);
    size_t val_len = 0;
    unsigned char *val = next ? resv_record_encode(e, next, &val_len) : NULL;
    if (p == NULL || (cur && !before) || (next && req && req->done && !snap) ||
        key == NULL || (next && val == NULL)) {
        if (p != NULL)
            t->open.n--;
        log_error("resv", "out of memory: operation on %.*s refused",
                  (int)r->id_len, r->id); /* before r (next) is freed */
        resv_free(before);
        resv_free(snap);
        resv_free(next);
        free(key);
        free(val);
        if (req != NULL && req->done != NULL)
            resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return NULL;
    }
    *p = (resv_pending){
        .done = req ? req->done : NULL,
        .arg = req ? req->arg : NULL,
        .err = ATP_OK,
        .granted = granted,
        .grant = granted && cur == NULL,
        .snap = snap,
        .key = key,
        .key_len = next ? next->id_len : cur->id_len,
        .before = before,
        .wrote = true,
        .val = val,
        .val_len = val_len,
    };
    t->open.n_writes++;
    resv_replace(e, cur, next);
    return p;
}

/* ---- operations -------------------------------------------------------------- */

/* The lines of a request with equal (sku, region) merged, in order of first
 * appearance, with each SKU's dictionary index in ids (DICT_NONE: unknown).
 * Every SKU is looked up once, here: known ones merge on integers, unknown
 * ones (no stock: the request is refused) on their text. The lookups are
 * done in passes (hash and prefetch every slot, then every key, then find
 * and prefetch the row), so a cart's cache misses overlap instead of
 * queueing one behind the other. hash has room for req->n_lines. Returns
 * the count. */
static uint32_t resv_merge_lines(const engine *e, const engine_resv_req *req,
                                 engine_resv_line *out, uint32_t *ids,
                                 uint32_t *hash)
{
    for (uint32_t i = 0; i < req->n_lines; i++) {
        hash[i] = dict_hash(req->lines[i].sku, req->lines[i].sku_len);
        dict_prefetch(e->skus, hash[i]);
    }
    for (uint32_t i = 0; i < req->n_lines; i++)
        dict_prefetch_key(e->skus, hash[i]);
    uint32_t n = 0;
    for (uint32_t i = 0; i < req->n_lines; i++) {
        const engine_resv_line *l = &req->lines[i];
        uint32_t id = dict_find_hashed(e->skus, hash[i], l->sku, l->sku_len);
        uint32_t k = 0;
        if (id != DICT_NONE) {
            __builtin_prefetch(engine_row_at(e, id, l->region));
            while (k < n && !(ids[k] == id && out[k].region == l->region))
                k++;
        } else {
            while (k < n && !(ids[k] == DICT_NONE && out[k].region == l->region &&
                              out[k].sku_len == l->sku_len &&
                              memcmp(out[k].sku, l->sku, l->sku_len) == 0))
                k++;
        }
        if (k == n) {
            out[n] = (engine_resv_line){.sku = l->sku, .sku_len = l->sku_len,
                                        .region = l->region};
            ids[n++] = id;
        }
        /* 10,000 lines of 10^15 would pass 2^63: stop just above the
         * bound, which resv_reserve refuses (the server already did). */
        out[k].qty = out[k].qty + l->qty > ATP_QTY_MAX ? ATP_QTY_MAX + 1
                                                       : out[k].qty + l->qty;
    }
    return n;
}

/* A merged line as a sortable pair: (SKU index, region) and quantity. */
typedef struct resv_line_key {
    uint64_t key;
    int64_t qty;
} resv_line_key;

static int resv_line_key_cmp(const void *pa, const void *pb)
{
    const resv_line_key *x = pa, *y = pb;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->qty > y->qty) - (x->qty < y->qty);
}

/* Same content: the same channel and the same merged lines, in any order
 * (a client that rebuilds its cart from a hash map retries in another
 * order). Both sides are merged, so each (sku, region) appears once on
 * each side and comparing the sorted pairs compares the sets. The SKUs of
 * a stored record are all known (ids[i] == DICT_NONE: not the same). */
static bool resv_same_content(const resv *r, uint32_t channel,
                              const engine_resv_line *m, const uint32_t *ids,
                              uint32_t n)
{
    if (r->channel != channel || r->n_lines != n)
        return false;
    uint32_t i = 0;
    while (i < n && ids[i] == r->lines[i].sku && m[i].region == r->lines[i].region &&
           m[i].qty == r->lines[i].qty)
        i++;
    if (i == n)
        return true; /* the same order: the usual retry */
    for (i = 0; i < n; i++)
        if (ids[i] == DICT_NONE)
            return false;
    resv_line_key *x = malloc(2 * (size_t)n * sizeof *x);
    if (x == NULL) {
        log_error("resv", "out of memory: a retry in another order is a conflict");
        return false;
    }
    resv_line_key *y = x + n;
    for (i = 0; i < n; i++) {
        x[i] = (resv_line_key){(uint64_t)ids[i] << 32 | m[i].region, m[i].qty};
        y[i] = (resv_line_key){(uint64_t)r->lines[i].sku << 32 | r->lines[i].region,
                               r->lines[i].qty};
    }
    qsort(x, n, sizeof *x, resv_line_key_cmp);
    qsort(y, n, sizeof *y, resv_line_key_cmp);
    bool same = memcmp(x, y, n * sizeof *x) == 0;
    free(x);
    return same;
}

static int64_t resv_ttl(const engine *e, int64_t ttl_ms, atp_err *err)
{
    const config_reservations *c = &e->cfg->reservations;
    if (ttl_ms == 0)
        ttl_ms = c->default_ttl_ms;
    if (ttl_ms < c->min_ttl_ms || ttl_ms > c->max_ttl_ms)
        *err = ATP_E_BAD_TTL;
    return ttl_ms;
}

static void resv_reserve(engine *e, const engine_resv_req *req)
{
    resv_table *t = &e->resv;
    atp_err err = ATP_OK;
    int64_t ttl = resv_ttl(e, req->ttl_ms, &err);
    size_t cap = req->n_lines ? req->n_lines : 1;
    engine_resv_line *m = calloc(cap, sizeof *m + 2 * sizeof(uint32_t));
    if (m == NULL) {
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    uint32_t *ids = (uint32_t *)(m + cap); /* SKU index of each merged line */
    uint32_t n = resv_merge_lines(e, req, m, ids, ids + cap);
    for (uint32_t i = 0; i < n; i++) {
        if (m[i].qty > ATP_QTY_MAX) {
            resv_reply_now(e, req, ATP_E_BAD_QTY, NULL, false, false);
            free(m);
            return;
        }
    }
    resv *cur = resv_find(t, req->id, req->id_len);
    if (cur != NULL) {
        /* The id is the idempotency key: same content, the original answer
         * (granted, with the record as it is now); else a conflict. Another
         * client's id is a conflict whatever its content: its lines are
         * not this client's to see. */
        if (resv_visible(cur, req) && resv_same_content(cur, req->channel, m, ids, n))
            resv_reply_after_writes(e, req, ATP_OK, cur, true, true);
        else
            resv_reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
        free(m);
        return;
    }
    if (err != ATP_OK || n == 0) {
        resv_reply_now(e, req, err != ATP_OK ? err : ATP_E_BAD_REQUEST, NULL,
                       false, false);
        free(m);
        return;
    }
    /* auth.limits.max_open_reservations: a client at its limit holds no
     * more until one of its reservations is finished (a replay above is
     * no new hold). */
    uint32_t limit = e->cfg->auth.max_open_reservations;
    resv_client *owner = req->client != NULL && limit > 0
                             ? resv_client_find(t, req->client, req->client_len, false)
                             : NULL;
    if (owner != NULL && owner->open >= (int64_t)limit) {
        resv_reply_now(e, req, ATP_E_QUOTA, NULL, false, false);
        free(m);
        return;
    }
    /* Decide on every line with the totals as they are right now. */
    bool all = true;
    for (uint32_t i = 0; i < n; i++) {
        engine_answer a;
        engine_answer_of(e, ids[i], m[i].sku, m[i].sku_len, m[i].region, req->channel, &a);
        m[i].available = a.atp;
        all &= m[i].qty <= a.atp;
    }
    if (!all) {
        atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
        engine_resv_result res = {.err = ATP_OK, .granted = false,
                                  .id = req->id, .id_len = req->id_len,
                                  .channel = req->channel, .lines = m,
                                  .n_lines = n};
        req->done(req->arg, &res);
        free(m);
        return;
    }
    /* Granted lines all have ATP > 0, so their SKUs are known. */
    resv *r = resv_alloc(n);
    if (r == NULL || (r->id = resv_strdup(req->id, req->id_len)) == NULL) {
        resv_free(r);
        free(m);
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = clock_wall_ms();
    r->id_len = req->id_len;
    if (req->client != NULL) {
        if ((r->client = resv_strdup(req->client, req->client_len)) == NULL) {
            resv_free(r);
            free(m);
            resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
            return;
        }
        r->client_len = req->client_len;
    }
    r->channel = req->channel;
    r->state = ENGINE_RESV_HELD;
    r->created_ms = r->updated_ms = now;
    r->expires_ms = r->due_ms = now + ttl;
    for (uint32_t i = 0; i < n; i++)
        r->lines[i] = (resv_line){ids[i], m[i].region, m[i].qty, 0, 0};
    free(m);
    resv_change(e, req, NULL, r, true); /* counted granted once stored */
}

static void resv_finish(engine *e, resv *r, uint8_t state, int64_t now)
{
    r->state = state;
    r->updated_ms = now;
    r->due_ms = now + e->cfg->reservations.retention_ms;
}

static void resv_commit(engine *e, const engine_resv_req *req, resv *cur)
{
    resv_table *t = &e->resv;
    bool ref_given = req->order_ref_len > 0;
    bool same_ref = !ref_given ||
                    (cur->order_ref && cur->order_ref_len == req->order_ref_len &&
                     memcmp(cur->order_ref, req->order_ref, req->order_ref_len) == 0);
    if (cur->state == ENGINE_RESV_COMMITTED || cur->state == ENGINE_RESV_CONSUMED) {
        if (same_ref)
            resv_reply_after_writes(e, req, ATP_OK, cur, true, true);
        else
            resv_reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
        return;
    }
    if (cur->state != ENGINE_RESV_HELD) {
        resv_reply_after_writes(e, req, ATP_E_BAD_STATE, cur, false, false);
        return;
    }
    if (ref_given) {
        resv *other = resv_find_ref(t, req->order_ref, req->order_ref_len);
        if (other != NULL && other != cur) {
            resv_reply_now(e, req, ATP_E_CONFLICT, NULL, false, false);
            return;
        }
    }
    resv *next = resv_clone(cur);
    char *ref = ref_given ? resv_strdup(req->order_ref, req->order_ref_len) : NULL;
    if (next == NULL || (ref_given && ref == NULL) || !resv_marks_commit(e, next)) {
        resv_free(next);
        free(ref);
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = clock_wall_ms();
    if (ref_given) {
        free(next->order_ref);
        next->order_ref = ref;
        next->order_ref_len = req->order_ref_len;
    }
    next->state = ENGINE_RESV_COMMITTED;
    next->updated_ms = now;
    next->expires_ms = next->due_ms = now + e->cfg->reservations.committed_ttl_ms;
    resv_change(e, req, cur, next, true);
}

static bool resv_line_named(const engine *e, const engine_resv_req *req,
                            const resv_line *l)
{
    size_t len;
    const char *sku = dict_key(e->skus, l->sku, &len);
    for (uint32_t i = 0; i < req->n_lines; i++)
        if (req->lines[i].region == l->region && req->lines[i].sku_len == len &&
            memcmp(req->lines[i].sku, sku, len) == 0)
            return true;
    return false;
}

static void resv_release(engine *e, const engine_resv_req *req, resv *cur)
{
    if (!resv_is_open(cur->state)) {
        /* Released or expired already: done, idempotently. Consumed: the
         * stock has shipped, nothing to release. */
        atp_err err = cur->state == ENGINE_RESV_CONSUMED ? ATP_E_BAD_STATE : ATP_OK;
        resv_reply_after_writes(e, req, err, cur, false, err == ATP_OK);
        return;
    }
    resv *next = resv_clone(cur);
    if (next == NULL) {
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    bool any_open = false;
    for (uint32_t i = 0; i < next->n_lines; i++) {
        resv_line *l = &next->lines[i];
        if (req->n_lines == 0 || resv_line_named(e, req, l))
            l->released = l->qty - l->consumed; /* nothing left open here */
        any_open |= l->qty > l->consumed + l->released;
    }
    int64_t now = clock_wall_ms();
    next->updated_ms = now;
    if (!any_open)
        resv_finish(e, next, ENGINE_RESV_RELEASED, now);
    resv_change(e, req, cur, next, true);
}

static void resv_extend(engine *e, const engine_resv_req *req, resv *cur)
{
    atp_err err = ATP_OK;
    int64_t ttl = resv_ttl(e, req->ttl_ms, &err);
    if (err != ATP_OK || !resv_is_open(cur->state)) {
        resv_reply_after_writes(e, req, err != ATP_OK ? err : ATP_E_BAD_STATE,
                                cur, false, false);
        return;
    }
    resv *next = resv_clone(cur);
    if (next == NULL) {
        resv_reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    int64_t now = clock_wall_ms();
    next->updated_ms = now;
    next->expires_ms = next->due_ms = now + ttl;
    resv_change(e, req, cur, next, true);
}

void resv_execute(engine *e, const engine_resv_req *req)
{
    if (req->op == ENGINE_RESV_RESERVE) {
        resv_reserve(e, req);
        return;
    }
    resv *cur = resv_find(&e->resv, req->id, req->id_len);
    /* Another client's reservation is not found: its id does not leak. */
    if (cur == NULL || !resv_visible(cur, req)) {
        resv_reply_now(e, req, ATP_E_NOT_FOUND, NULL, false, false);
        return;
    }
    switch (req->op) {
    case ENGINE_RESV_COMMIT:
        resv_commit(e, req, cur);
        break;
    case ENGINE_RESV_RELEASE:
        resv_release(e, req, cur);
        break;
    case ENGINE_RESV_EXTEND:
        resv_extend(e, req, cur);
        break;
    default: /* ENGINE_RESV_GET */
        resv_reply_after_writes(e, req, ATP_OK, cur, false, false);
        break;
    }
}

/* ---- expiry, purge, consumption ---------------------------------------------- */

int64_t resv_tick(engine *e, int64_t now)
{
    resv_table *t = &e->resv;
    if (now < t->retry_after_ms)
        return t->retry_after_ms - now;
    /* Bounded per tick so that a mass expiry cannot starve ingest. */
    for (int budget = 10000; t->heap_n > 0 && t->heap[0]->due_ms <= now && budget > 0;
         budget--) {
        resv *cur = t->heap[0];
        if (!resv_is_open(cur->state)) {
            resv_change(e, NULL, cur, NULL, false); /* retention over: forget */
            continue;
        }
        resv *next = resv_clone(cur);
        if (next == NULL) {
            cur->due_ms = now + RESV_RETRY_MS; /* try again later */
            resv_heap_down(t, 0);
            continue;
        }
        resv_finish(e, next, ENGINE_RESV_EXPIRED, now);
        atomic_fetch_add_explicit(&t->expired, 1, memory_order_relaxed);
        resv_change(e, NULL, cur, next, false);
    }
    if (t->heap_n == 0)
        return -1;
    return t->heap[0]->due_ms > now ? t->heap[0]->due_ms - now : 0;
}

/* The index of r's line for (sku, region) if some of it is still open to
 * consumption (neither consumed nor released); r->n_lines: none. */
static uint32_t resv_consumable_line(const resv *r, uint32_t sku,
                                     uint32_t region)
{
    uint32_t i = 0;
    while (i < r->n_lines &&
           !(r->lines[i].sku == sku && r->lines[i].region == region))
        i++;
    if (i < r->n_lines &&
        r->lines[i].consumed + r->lines[i].released >= r->lines[i].qty)
        return r->n_lines;
    return i;
}

/* An allocation (src, seq, event) naming cur while it is held consumes
 * nothing, and must not when its source resends it after a restart and
 * cur has been committed by then (issue 12, B(2)): its key becomes cur's
 * mark for src, stored with the record like a consumption's (kept over a
 * failed write and written again), and the commit raises that mark, never
 * lowers it. Only when cur has a line the event could consume once
 * committed: any other allocation could never consume it, and writes
 * nothing. The record's content is not changed (updated_ms neither): a
 * mark is not visible to clients. Frees cur (replaced). */
static void resv_mark_held(engine *e, resv *cur, uint32_t sku, uint32_t region,
                           uint32_t src, uint64_t seq, uint32_t event)
{
    if (resv_consumable_line(cur, sku, region) == cur->n_lines)
        return;
    resv *next = resv_clone(cur);
    if (next == NULL || !resv_mark_raise(next, src, seq, event)) {
        log_error("resv",
                  "out of memory: %.*s, held, may be consumed by an "
                  "allocation named before its commit if that is resent after "
                  "a restart",
                  (int)cur->id_len, cur->id);
        resv_free(next);
        return;
    }
    resv_pending *p = resv_change(e, NULL, cur, next, false);
    if (p != NULL) {
        p->keep = true;
        p->mark_only = true;
    }
}

/* A consumption is keyed by the event that makes it, (src, seq, event), and
 * the record keeps, per source, the highest key it reflects (resv->marks),
 * written with the record in the same store operation. After a kill -9 the
 * positions come back from the last snapshot and the sources resend what
 * followed it, so an event may be applied a second time; its key is then
 * at or below the mark of every record it acted on the first time (a
 * consumption raised the mark; a commit after it set the mark above it),
 * and it changes nothing. An event above the mark was not applied to this
 * record yet (or its consumption was never stored, and is made now): the
 * state after the replay is the state without the crash. */
void resv_consume(engine *e, uint32_t sku, uint32_t region, const char *ref,
                  uint32_t ref_len, int64_t qty, uint32_t src, uint64_t seq,
                  uint32_t event)
{
    resv_table *t = &e->resv;
    resv *cur = resv_find(t, ref, ref_len);
    /* The record of that id decides first, whatever its state: a mark of
     * it covering the event means the event was applied while this record
     * existed (it consumed this one, was routed by order_ref while this
     * one could not be consumed, or named it while it was held), and a
     * resend must not reach another record by order_ref now that this one
     * is consumed or finished. */
    if (cur != NULL && src != UINT32_MAX &&
        resv_mark_covers(cur, src, seq, event))
        return;
    if (cur == NULL || cur->state != ENGINE_RESV_COMMITTED) {
        /* resv_mark_held replaces (frees) cur: found again below by ref */
        if (cur != NULL && cur->state == ENGINE_RESV_HELD && src != UINT32_MAX)
            resv_mark_held(e, cur, sku, region, src, seq, event);
        cur = resv_find_ref(t, ref, ref_len);
    }
    if (cur == NULL || cur->state != ENGINE_RESV_COMMITTED)
        return; /* not ours: an ordinary allocation */
    if (src != UINT32_MAX && resv_mark_covers(cur, src, seq, event))
        return; /* resent: applied to this record before, or before its commit */
    uint32_t i = resv_consumable_line(cur, sku, region);
    if (i == cur->n_lines)
        return;
    resv *next = resv_clone(cur);
    if (next == NULL || (src != UINT32_MAX && !resv_mark_raise(next, src, seq, event))) {
        resv_free(next);
        log_error("resv", "out of memory: consumption of %.*s lost", (int)ref_len, ref);
        return;
    }
    resv_line *l = &next->lines[i];
    int64_t open = l->qty - l->consumed - l->released;
    l->consumed += open < qty ? open : qty;
    bool all = true;
    for (uint32_t k = 0; k < next->n_lines; k++)
        all &= next->lines[k].consumed + next->lines[k].released >= next->lines[k].qty;
    int64_t now = clock_wall_ms();
    next->updated_ms = now;
    if (all) {
        resv_finish(e, next, ENGINE_RESV_CONSUMED, now);
        atomic_fetch_add_explicit(&t->consumed, 1, memory_order_relaxed);
    }
    resv_pending *p = resv_change(e, NULL, cur, next, false);
    if (p != NULL)
        p->keep = true;
}

/* ---- group commit --------------------------------------------------------------- */

static void resv_store_done(void *arg, atp_err err)
{
    engine *e = arg;
    engine_cmd cmd = {.type = ENGINE_CMD_GROUP_DONE, .err = err};
    /* The engine queue is never closed while a group is in flight (engine
     * stop waits for it), so this push cannot fail. */
    queue_push(&e->q, &cmd);
}

static void resv_group_answer(engine *e, resv_group *g, atp_err err)
{
    for (size_t i = 0; i < g->n; i++) {
        if (err != ATP_OK)
            g->items[i].err = err;
        resv_deliver(e, &g->items[i]);
    }
    resv_group_clear(g);
}

/* Only consumptions change a line's consumed quantity, and they are kept:
 * an older operation's before-image takes over what was consumed since
 * (released only grows, so consumed + released stays within qty), with the
 * keys of those consumptions (marks only grow). */
static void resv_carry_consumed(resv *before, const resv *cur)
{
    for (uint32_t i = 0; i < before->n_lines && i < cur->n_lines; i++) {
        resv_line *b = &before->lines[i];
        const resv_line *c = &cur->lines[i];
        if (b->sku == c->sku && b->region == c->region && c->consumed > b->consumed)
            b->consumed = c->consumed;
    }
    for (uint32_t i = 0; i < cur->n_marks; i++) {
        const resv_mark *m = &cur->marks[i];
        if (!resv_mark_raise(before, m->src, m->seq, m->event))
            log_error("resv", "out of memory: %.*s may consume a resent allocation "
                      "again after a restart", (int)cur->id_len, cur->id);
    }
}

/* Undo a group's changes, newest first. A consumption is not undone: the
 * source's allocation it answers is applied and stays applied, so undoing
 * it would subtract the same units twice (reserved and allocated) until the
 * reservation expired; an older operation undone on the same record keeps
 * what was consumed. resv_group_rewrite writes such records again. */
static void resv_group_undo(engine *e, resv_group *g)
{
    for (size_t i = g->n; i-- > 0;) {
        resv_pending *p = &g->items[i];
        if (!p->wrote || p->keep)
            continue;
        resv *cur = resv_find(&e->resv, p->key, p->key_len);
        if (cur != NULL && p->before != NULL)
            resv_carry_consumed(p->before, cur);
        resv_replace(e, cur, p->before);
        p->before = NULL;
    }
}

/* The ids of g's consumptions (NULL-ended, owned), to write again once g
 * is answered; NULL when there are none or memory is short (then they are
 * logged as not stored). */
static char **resv_group_kept(const resv_group *g1, const resv_group *g2)
{
    const resv_group *gs[2] = {g1, g2};
    size_t n = 0;
    for (int g = 0; g < 2; g++)
        for (size_t i = 0; gs[g] != NULL && i < gs[g]->n; i++)
            n += gs[g]->items[i].keep;
    if (n == 0)
        return NULL;
    char **ids = calloc(n + 1, sizeof *ids);
    size_t k = 0;
    for (int g = 0; g < 2 && ids != NULL; g++)
        for (size_t i = 0; gs[g] != NULL && i < gs[g]->n; i++) {
            const resv_pending *p = &gs[g]->items[i];
            if (!p->keep)
                continue;
            size_t j = 0; /* once per record: it is written as it is now */
            while (j < k && !(strlen(ids[j]) == p->key_len &&
                              memcmp(ids[j], p->key, p->key_len) == 0))
                j++;
            if (j == k && (ids[k] = resv_strdup(p->key, p->key_len)) != NULL)
                k++;
        }
    if (ids == NULL)
        log_error("resv", "out of memory: %zu consumptions not written again", n);
    return ids;
}

/* Queue the current state of each kept record for the next group. Not
 * while stopping: a store that keeps failing would hold the stop forever;
 * the record stays as it was stored, and the log says so. */
static void resv_group_rewrite(engine *e, char **ids)
{
    for (size_t i = 0; ids != NULL && ids[i] != NULL; i++) {
        if (e->resv.stopping) {
            log_error("resv", "stopping: consumption of %s not stored; until "
                      "it expires, its reservation also holds what the source "
                      "allocated", ids[i]);
            free(ids[i]);
            continue;
        }
        resv *cur = resv_find(&e->resv, ids[i], strlen(ids[i]));
        resv *same = cur != NULL ? resv_clone(cur) : NULL;
        if (same != NULL) {
            /* An equal copy; never mark_only, even for a held record's
             * mark: a snapshot may wait for it, which is never wrong. */
            resv_pending *p = resv_change(e, NULL, cur, same, false);
            if (p != NULL)
                p->keep = true;
        } else if (cur != NULL) {
            log_error("resv", "out of memory: consumption of %s not written again",
                      ids[i]);
        }
        free(ids[i]);
    }
    free(ids);
}

/* Only consumptions written again, and the store failed less than
 * RESV_RETRY_MS ago: they wait for the retry time (resv_tick wakes the
 * engine then) instead of failing in a loop while the disk is full. */
static bool resv_group_wait_retry(const resv_table *t)
{
    if (t->stopping || t->retry_after_ms == 0 || clock_wall_ms() >= t->retry_after_ms)
        return false;
    for (size_t i = 0; i < t->open.n; i++)
        if (!t->open.items[i].keep)
            return false;
    return true;
}

void resv_flush(engine *e)
{
    resv_table *t = &e->resv;
    if (t->inflight_busy || t->open.n == 0 || resv_group_wait_retry(t))
        return;
    if (t->open.n_writes == 0 || e->persist.write == NULL) {
        t->gen_durable = ++t->gen_flushed;
        resv_group_answer(e, &t->open, ATP_OK); /* nothing to wait for */
        engine_snapshot_barrier(e, false);
        return;
    }
    engine_record_op *ops = calloc(t->open.n_writes, sizeof *ops);
    if (ops == NULL) {
        char **kept = resv_group_kept(&t->open, NULL);
        resv_group_undo(e, &t->open);
        resv_group_answer(e, &t->open, ATP_E_NOMEM);
        resv_group_rewrite(e, kept);
        t->retry_after_ms = clock_wall_ms() + RESV_RETRY_MS;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->open.n; i++) {
        resv_pending *p = &t->open.items[i];
        if (p->wrote)
            ops[k++] = (engine_record_op){ENGINE_DB_RESERVATIONS, p->key, p->key_len,
                                          p->val, p->val_len};
    }
    /* Swap: the open group goes in flight, the (empty) old one collects. */
    resv_group tmp = t->inflight;
    t->inflight = t->open;
    t->open = tmp;
    t->inflight_busy = true;
    t->gen_flushed++;
    atp_err err = e->persist.write(e->persist.ctx, ops, k, resv_store_done, e);
    free(ops);
    if (err != ATP_OK)
        resv_group_done(e, err);
}

void resv_group_done(engine *e, atp_err err)
{
    resv_table *t = &e->resv;
    t->inflight_busy = false;
    if (err == ATP_OK) {
        /* Hand the next group to the store before answering this one, so
         * its fsync runs while we write the replies, not after them. What
         * is answered here is durable and no longer in flight: a failure
         * of the next group cannot touch it. */
        resv_group tmp = t->durable;
        t->durable = t->inflight;
        t->inflight = tmp;
        t->gen_durable = t->gen_flushed;
        resv_flush(e);
        resv_group_answer(e, &t->durable, ATP_OK);
        engine_snapshot_barrier(e, false);
        return;
    }
    /* The open group was decided on top of the failed one: undo both,
     * newest first, and refuse them all (consumptions are kept and written
     * again: they are not counted as refused). */
    size_t refused = 0;
    for (size_t i = 0; i < t->open.n; i++)
        refused += !t->open.items[i].keep;
    for (size_t i = 0; i < t->inflight.n; i++)
        refused += !t->inflight.items[i].keep;
    atomic_fetch_add_explicit(&t->store_failures, refused, memory_order_relaxed);
    log_error("resv", "store write failed (%s): %zu operations refused%s",
              atp_err_message(err), refused,
              refused < t->open.n + t->inflight.n ? ", consumptions kept" : "");
    char **kept = resv_group_kept(&t->inflight, &t->open);
    resv_group_undo(e, &t->open);
    resv_group_undo(e, &t->inflight);
    resv_group_answer(e, &t->inflight, err);
    resv_group_answer(e, &t->open, err);
    resv_group_rewrite(e, kept); /* consumptions stay applied: store them */
    t->retry_after_ms = clock_wall_ms() + RESV_RETRY_MS;
    engine_snapshot_barrier(e, true);
}

/* A held record's mark (mark_only) is not waited for: a snapshot whose
 * cut is past the event carries the source's offset past it, so after a
 * kill -9 the event is never resent (the ingest drops it as a duplicate),
 * and a commit after the restart marks the record at that offset, which
 * covers the event. The mark matters only while the stored offset is below
 * the event, that is without such a snapshot: a barrier would add nothing
 * and make the snapshot wait for a write. */
uint64_t resv_consumptions_gen(const resv_table *t)
{
    for (size_t i = 0; i < t->open.n; i++)
        if (t->open.items[i].keep && !t->open.items[i].mark_only)
            return t->gen_flushed + 1;
    for (size_t i = 0; t->inflight_busy && i < t->inflight.n; i++)
        if (t->inflight.items[i].keep && !t->inflight.items[i].mark_only)
            return t->gen_flushed;
    return 0;
}

void resv_fail_all(engine *e, atp_err err)
{
    resv_table *t = &e->resv;
    resv_group_undo(e, &t->open);
    resv_group_answer(e, &t->open, err);
}

/* ---- set-up ---------------------------------------------------------------------- */

atp_err resv_table_init(resv_table *t, const config *cfg)
{
    memset(t, 0, sizeof *t);
    t->id_cap = t->ref_cap = 1024;
    t->by_id = calloc(t->id_cap, sizeof *t->by_id);
    t->by_ref = calloc(t->ref_cap, sizeof *t->by_ref);
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
            resv_free(r);
            r = next;
        }
    }
    resv_group_clear(&t->open);
    resv_group_clear(&t->inflight);
    resv_group_clear(&t->durable);
    free(t->open.items);
    free(t->inflight.items);
    free(t->durable.items);
    for (size_t i = 0; i < t->n_clients; i++)
        free(t->clients[i].name);
    free(t->clients);
    free(t->by_id);
    free(t->by_ref);
    free(t->heap);
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
    if (err == ATP_OK && (r->id_len != key_len || memcmp(r->id, key, key_len) != 0)) {
        resv_free(r);
        err = ATP_E_BAD_REQUEST;
    }
    if (err == ATP_OK && resv_find(&e->resv, r->id, r->id_len) != NULL) {
        resv_free(r);
        err = ATP_E_CONFLICT;
    }
    if (err != ATP_OK) {
        atomic_fetch_add_explicit(&e->resv.load_skipped, 1, memory_order_relaxed);
        log_warn("resv", "stored reservation '%.*s' skipped: %s",
                 (int)(key_len > 64 ? 64 : key_len), (const char *)key,
                 atp_err_message(err));
        return err;
    }
    for (uint32_t i = 0; i < r->n_marks; i++)
        if (r->marks[i].seq > e->resv.seq_floor[r->marks[i].src])
            e->resv.seq_floor[r->marks[i].src] = r->marks[i].seq;
    resv_replace(e, NULL, r);
    return ATP_OK;
}

void resv_stats(const resv_table *t, engine_stats *out)
{
    out->resv_held = atomic_load_explicit(&t->n_held, memory_order_relaxed);
    out->resv_committed = atomic_load_explicit(&t->n_committed, memory_order_relaxed);
    out->resv_open = out->resv_held + out->resv_committed;
    out->resv_total = atomic_load_explicit(&t->n_total, memory_order_relaxed);
    out->resv_granted = atomic_load_explicit(&t->granted, memory_order_relaxed);
    out->resv_refused = atomic_load_explicit(&t->refused, memory_order_relaxed);
    out->resv_expired = atomic_load_explicit(&t->expired, memory_order_relaxed);
    out->resv_consumed = atomic_load_explicit(&t->consumed, memory_order_relaxed);
    out->resv_store_failures =
        atomic_load_explicit(&t->store_failures, memory_order_relaxed);
    out->resv_load_skipped =
        atomic_load_explicit(&t->load_skipped, memory_order_relaxed);
}
