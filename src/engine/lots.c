/*
 * lots.c - inbound lots (POs, ASNs, transfers in transit) per (SKU,
 * location), and the inbound horizon. Engine thread (loading: main thread
 * before engine_start).
 *
 * A lot counts toward its position's net once its ETA is within the
 * region's inbound horizon (horizon 0: never). Lots not yet inside wait in
 * a min-heap keyed by the time they enter it (eta - horizon), so they start
 * counting on time without waiting for another event. Receiving or
 * cancelling a lot stops it counting; receiving moves its quantity into
 * on_hand when the sending source is authoritative for on_hand there.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "formula/formula.h"

struct engine_lot {
    struct engine_lot *next; /* hash chain */
    /* the SKU's chain (engine_lots.by_sku), both ways: a lot leaves it in
     * O(1) however many lots its SKU has */
    struct engine_lot *sku_next, *sku_prev;
    uint32_t sku;
    uint16_t loc;
    bool counted;
    bool changed; /* in engine_lots.changed, at changed_at */
    uint32_t changed_at;
    int64_t qty, eta_ms;
    heap_node due; /* key: when it enters the horizon (eta - horizon) */
    uint32_t id_len;
    char id[];
};

static uint64_t lots_hash(uint32_t sku, uint16_t loc, const char *id, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)sku << 16 | loc);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

atp_err engine__lots_init(engine_lots *l)
{
    memset(l, 0, sizeof *l);
    l->cap = 1024;
    l->buckets = calloc(l->cap, sizeof *l->buckets);
    l->by_sku.cap = 256;
    l->by_sku.keys = calloc(l->by_sku.cap, sizeof *l->by_sku.keys);
    l->by_sku.heads = calloc(l->by_sku.cap, sizeof *l->by_sku.heads);
    heap_init(&l->waiting, 256);
    return l->buckets && l->by_sku.keys && l->by_sku.heads ? ATP_OK
                                                           : ATP_E_NOMEM;
}

/* ---- each SKU's chain ------------------------------------------------------
 */

static size_t lots_sku_slot(const engine_lots *l, uint32_t sku)
{
    size_t m = l->by_sku.cap - 1;
    size_t i = (size_t)((sku + 1) * 0x9E3779B1u) & m;
    while (l->by_sku.keys[i] != 0 && l->by_sku.keys[i] != sku + 1)
        i = (i + 1) & m;
    return i;
}

/* Double the SKU table (or keep its size, dropping SKUs without lots).
 * False: no memory, nothing changed. */
static bool lots_sku_grow(engine_lots *l)
{
    size_t live = 0;
    for (size_t i = 0; i < l->by_sku.cap; i++)
        live += l->by_sku.heads[i] != NULL;
    size_t cap = live * 2 >= l->by_sku.cap ? l->by_sku.cap * 2 : l->by_sku.cap;
    uint32_t *keys = calloc(cap, sizeof *keys);
    engine_lot **heads = calloc(cap, sizeof *heads);
    if (keys == NULL || heads == NULL) {
        free(keys);
        free(heads);
        return false;
    }
    engine_lots old = *l;
    l->by_sku.keys = keys;
    l->by_sku.heads = heads;
    l->by_sku.cap = cap;
    l->by_sku.used = 0;
    for (size_t i = 0; i < old.by_sku.cap; i++) {
        if (old.by_sku.heads[i] == NULL)
            continue;
        size_t j = lots_sku_slot(l, old.by_sku.keys[i] - 1);
        keys[j] = old.by_sku.keys[i];
        heads[j] = old.by_sku.heads[i];
        l->by_sku.used++;
    }
    free(old.by_sku.keys);
    free(old.by_sku.heads);
    return true;
}

/* Chain x to its SKU. False: no memory for a new SKU (nothing changed). */
static bool lots_sku_link(engine_lots *l, engine_lot *x)
{
    size_t i = lots_sku_slot(l, x->sku);
    if (l->by_sku.keys[i] == 0) {
        if ((l->by_sku.used + 1) * 4 > l->by_sku.cap * 3) {
            if (!lots_sku_grow(l))
                return false;
            i = lots_sku_slot(l, x->sku);
        }
        l->by_sku.keys[i] = x->sku + 1;
        l->by_sku.used++;
    }
    x->sku_prev = NULL;
    x->sku_next = l->by_sku.heads[i];
    if (x->sku_next != NULL)
        x->sku_next->sku_prev = x;
    l->by_sku.heads[i] = x;
    return true;
}

static void lots_sku_unlink(engine_lots *l, const engine_lot *x)
{
    if (x->sku_prev != NULL)
        x->sku_prev->sku_next = x->sku_next;
    else /* the head: x is chained (lots_get linked it) */
        l->by_sku.heads[lots_sku_slot(l, x->sku)] = x->sku_next;
    if (x->sku_next != NULL)
        x->sku_next->sku_prev = x->sku_prev;
}

size_t engine__lots_memory(const engine_lots *l)
{
    /* Lot ids are counted at a typical 16 bytes (they are not summed). */
    return l->cap * sizeof *l->buckets + heap_memory(&l->waiting) +
           l->by_sku.cap * (sizeof *l->by_sku.keys + sizeof *l->by_sku.heads) +
           l->cap_changed * sizeof *l->changed +
           l->cap_removed * sizeof *l->removed +
           l->count * (sizeof(engine_lot) + 16);
}

void engine__lots_fini(engine_lots *l)
{
    for (size_t i = 0; l->buckets != NULL && i < l->cap; i++) {
        engine_lot *x = l->buckets[i];
        while (x != NULL) {
            engine_lot *n = x->next;
            free(x);
            x = n;
        }
    }
    free(l->buckets);
    free(l->changed);
    free(l->by_sku.keys);
    free(l->by_sku.heads);
    heap_fini(&l->waiting);
    for (size_t i = 0; i < l->n_removed; i++)
        free(l->removed[i].key);
    free(l->removed);
    memset(l, 0, sizeof *l);
}

static engine_lot **lots_slot(engine_lots *l, uint32_t sku, uint16_t loc,
                              const char *id, size_t n)
{
    engine_lot **p = &l->buckets[lots_hash(sku, loc, id, n) & (l->cap - 1)];
    while (*p != NULL && !((*p)->sku == sku && (*p)->loc == loc &&
                           (*p)->id_len == n && memcmp((*p)->id, id, n) == 0))
        p = &(*p)->next;
    return p;
}

static void lots_rehash(engine_lots *l)
{
    size_t cap = l->cap * 2;
    engine_lot **b = calloc(cap, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < l->cap; i++) {
        engine_lot *x = l->buckets[i];
        while (x != NULL) {
            engine_lot *n = x->next;
            size_t j = lots_hash(x->sku, x->loc, x->id, x->id_len) & (cap - 1);
            x->next = b[j];
            b[j] = x;
            x = n;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->cap = cap;
}

/* ---- counting toward the position ------------------------------------------
 */

/* Add d to the position's inbound and move the row's supply by the change
 * of net (through the batch accumulator, so a batch publishes once). */
static void lots_inbound_add(engine *e, engine_lot *x, int64_t d)
{
    position *p = positions_upsert(&e->pos, x->sku, x->loc);
    if (p == NULL) {
        log_error("engine", "out of memory: inbound lot not counted");
        return;
    }
    int64_t before = engine__position_net(e, p);
    if (positions_inbound_add(&e->pos, p, d) != ATP_OK) {
        log_error("engine", "out of memory: inbound lot not counted");
        return;
    }
    engine__supply_changed(e, x->sku, x->loc,
                           engine__position_net(e, p) - before);
    atomic_store_explicit(&e->n_positions, e->pos.used, memory_order_relaxed);
}

static void lots_uncount(engine *e, engine_lot *x)
{
    if (x->counted) {
        lots_inbound_add(e, x, -x->qty);
        x->counted = false;
    }
    heap_remove(&e->lots.waiting, &x->due);
}

/* Count the lot now if its ETA is inside the horizon, else schedule it. */
static void lots_count(engine *e, engine_lot *x, int64_t now)
{
    int64_t horizon = e->horizon_ms[e->loc_region[x->loc]];
    if (horizon <= 0 || x->qty <= 0)
        return; /* inbound not counted in this region */
    x->due.key = x->eta_ms - horizon;
    if (x->due.key <= now) {
        x->counted = true;
        lots_inbound_add(e, x, x->qty);
    } else if (!heap_push(&e->lots.waiting, &x->due)) {
        log_error("engine",
                  "out of memory: lot %.*s will not enter the "
                  "horizon on time",
                  (int)x->id_len, x->id);
    }
}

static void lots_note_removed(engine_lots *l, const engine_lot *x,
                              const config *cfg)
{
    if (l->n_removed == l->cap_removed) {
        size_t cap = l->cap_removed ? l->cap_removed * 2 : 64;
        engine_lot_key *r = realloc(l->removed, cap * sizeof *r);
        if (r == NULL) {
            l->rewrite_all = true;
            return;
        }
        l->removed = r;
        l->cap_removed = cap;
    }
    (void)cfg;
    engine_lot_key *k = &l->removed[l->n_removed];
    k->key = NULL;
    k->len = 0;
    k->sku = x->sku;
    k->loc = x->loc;
    k->key = malloc(x->id_len);
    if (k->key == NULL) {
        l->rewrite_all = true;
        return;
    }
    memcpy(k->key, x->id, x->id_len);
    k->len = x->id_len;
    l->n_removed++;
}

/* ---- events
 * ------------------------------------------------------------------ */

static engine_lot *lots_get(engine *e, uint32_t sku, uint16_t loc,
                            const char *id, uint32_t id_len, bool create)
{
    engine_lots *l = &e->lots;
    engine_lot **p = lots_slot(l, sku, loc, id, id_len);
    if (*p != NULL || !create)
        return *p;
    engine_lot *x = calloc(1, sizeof *x + id_len);
    if (x == NULL)
        return NULL;
    x->sku = sku;
    x->loc = loc;
    if (!lots_sku_link(l, x)) {
        free(x);
        return NULL;
    }
    heap_node_init(&x->due);
    x->id_len = id_len;
    memcpy(x->id, id, id_len);
    *p = x;
    if (++l->count > l->cap)
        lots_rehash(l);
    return x;
}

/* x's stored form changed: the next snapshot writes it (all lots when
 * there is no memory to remember it). */
static void lots_mark_changed(engine_lots *l, engine_lot *x)
{
    if (x->changed)
        return;
    if (l->n_changed == l->cap_changed) {
        size_t cap = l->cap_changed ? l->cap_changed * 2 : 256;
        engine_lot **c = realloc(l->changed, cap * sizeof *c);
        if (c == NULL) {
            l->rewrite_all = true;
            return;
        }
        l->changed = c;
        l->cap_changed = cap;
    }
    x->changed = true;
    x->changed_at = (uint32_t)l->n_changed;
    l->changed[l->n_changed++] = x;
}

/* x goes: out of the changed list (its removal is what is written). */
static void lots_unmark_changed(engine_lots *l, const engine_lot *x)
{
    if (x->changed)
        l->changed[x->changed_at] = NULL;
}

/* Forget what changed (a load: the store has it already). */
static void lots_forget_changes(engine_lots *l)
{
    for (size_t i = 0; i < l->n_changed; i++)
        if (l->changed[i] != NULL)
            l->changed[i]->changed = false;
    l->n_changed = 0;
}

static void lots_free_one(engine *e, engine_lot *x)
{
    engine_lot **p = lots_slot(&e->lots, x->sku, x->loc, x->id, x->id_len);
    *p = x->next;
    e->lots.count--;
    lots_sku_unlink(&e->lots, x);
    lots_unmark_changed(&e->lots, x);
    lots_note_removed(&e->lots, x, e->cfg);
    free(x);
}

void engine__lot_event(engine *e, uint32_t sku, const engine_event *ev)
{
    ATP_ASSERT_OWNER(&e->owner);
    int64_t now = e->now_ms;
    engine_lot *x =
        lots_get(e, sku, ev->location, ev->ref, ev->ref_len,
                 ev->kind == ATP_EV_LOT_ADD || ev->kind == ATP_EV_LOT_CHANGE);
    if (x == NULL)
        return; /* receive/cancel of an unknown lot: nothing to do */
    e->lots.dirty = true;
    lots_uncount(e, x);
    switch (ev->kind) {
    case ATP_EV_LOT_ADD:
    case ATP_EV_LOT_CHANGE:
        x->qty = ev->value;
        x->eta_ms = ev->eta_ms;
        lots_mark_changed(&e->lots, x);
        lots_count(e, x, now);
        break;
    case ATP_EV_LOT_RECEIVE:
        if (ev->receive_to_on_hand) {
            position *p = positions_upsert(&e->pos, x->sku, x->loc);
            if (p != NULL) {
                int64_t before = engine__position_net(e, p);
                engine__position_touched(e, p);
                p->bucket[ATP_BUCKET_ON_HAND] = engine__clamp(
                    e, formula_sat_add(p->bucket[ATP_BUCKET_ON_HAND], x->qty));
                engine__supply_changed(e, x->sku, x->loc,
                                       engine__position_net(e, p) - before);
            }
        }
        lots_free_one(e, x);
        break;
    default: /* ATP_EV_LOT_CANCEL */
        lots_free_one(e, x);
        break;
    }
    engine__phased_lots_changed(e, sku, ev->location);
}

/* Every lot at a location where src is authoritative for inbound goes:
 * a snapshot is about to state the source's lots afresh. */
void engine__lots_clear_source(engine *e, const uint8_t *inbound_loc)
{
    engine_lots *l = &e->lots;
    for (size_t i = 0; i < l->cap; i++) {
        engine_lot **p = &l->buckets[i];
        while (*p != NULL) {
            engine_lot *x = *p;
            if (!inbound_loc[x->loc]) {
                p = &x->next;
                continue;
            }
            lots_uncount(e, x);
            *p = x->next;
            l->count--;
            lots_sku_unlink(l, x);
            lots_unmark_changed(l, x);
            lots_note_removed(l, x, e->cfg);
            free(x);
            l->dirty = true;
        }
    }
    engine__phased_refresh_all(e);
}

int64_t engine__lots_tick(engine *e, int64_t now)
{
    ATP_ASSERT_OWNER(&e->owner);
    engine_lots *l = &e->lots;
    bool any = false;
    heap_node *top;
    while ((top = heap_min(&l->waiting)) != NULL && top->key <= now) {
        engine_lot *x = HEAP_ENTRY(top, engine_lot, due);
        heap_remove(&l->waiting, top);
        x->counted = true;
        lots_inbound_add(e, x, x->qty);
        engine__phased_lots_changed(e, x->sku, x->loc); /* no longer future */
        any = true;
    }
    if (any)
        engine__supply_flush(e);
    return top != NULL ? top->key - now : -1;
}

/* ---- snapshot and load
 * ------------------------------------------------------- */

static size_t lots_key(const engine *e, uint32_t sku, uint16_t loc,
                       const char *id, size_t id_len, unsigned char *out)
{
    const char *l = e->cfg->locations[loc].id;
    size_t ll = strlen(l), sl;
    const char *s = dict_key(e->skus, sku, &sl);
    memcpy(out, l, ll + 1);
    memcpy(out + ll + 1, s, sl);
    out[ll + 1 + sl] = '\0';
    memcpy(out + ll + 2 + sl, id, id_len);
    return ll + 2 + sl + id_len;
}

size_t engine__lots_snapshot_size(const engine *e)
{
    const engine_lots *l = &e->lots;
    if (!l->dirty && !l->rewrite_all)
        return 0;
    return (l->rewrite_all ? l->count : l->n_changed) + l->n_removed;
}

static void lots_write(engine *e, const engine_lot *x, engine_lots_writer *w,
                       unsigned char *key)
{
    unsigned char val[16];
    size_t n = lots_key(e, x->sku, x->loc, x->id, x->id_len, key);
    engine__put_le64(val, (uint64_t)x->qty);
    engine__put_le64(val + 8, (uint64_t)x->eta_ms);
    w->add(w->ctx, key, n, val, 16);
}

/* The removals go first, then the puts, and nothing sorts the lots
 * (snapshot_write.c sorts positions only; the store applies a group in
 * order): a lot removed and added again between two snapshots is a
 * delete, then a put, of one key, and the put wins. */
void engine__lots_snapshot(engine *e, engine_lots_writer *w)
{
    engine_lots *l = &e->lots;
    unsigned char key[ENGINE_LOT_KEY_MAX];
    for (size_t i = 0; i < l->n_removed; i++) {
        engine_lot_key *k = &l->removed[i];
        size_t n = lots_key(e, k->sku, k->loc, k->key, k->len, key);
        w->add(w->ctx, key, n, NULL, 0);
    }
    for (size_t i = 0; l->rewrite_all && i < l->cap; i++)
        for (engine_lot *x = l->buckets[i]; x != NULL; x = x->next)
            lots_write(e, x, w, key);
    for (size_t i = 0; !l->rewrite_all && i < l->n_changed; i++)
        if (l->changed[i] != NULL)
            lots_write(e, l->changed[i], w, key);
    lots_forget_changes(l);
    /* The removals stay until the snapshot is stored: if it is not, the
     * next one must delete them again (a cancelled lot would come back
     * after a restart). */
    l->n_removed_cut = l->n_removed;
    l->cut_lots = true;
    l->dirty = false;
    l->rewrite_all = false;
}

void engine__lots_snapshot_settled(engine *e, bool stored)
{
    engine_lots *l = &e->lots;
    if (!l->cut_lots) /* engine__lots_snapshot was not called: nothing forgotten
                       */
        return;
    l->cut_lots = false;
    if (l->n_removed_cut == 0 && stored)
        return;
    if (!stored) { /* everything again, the old removals included */
        l->dirty = true;
        l->rewrite_all = true;
        l->n_removed_cut = 0;
        return;
    }
    for (size_t i = 0; i < l->n_removed_cut; i++)
        free(l->removed[i].key);
    memmove(l->removed, l->removed + l->n_removed_cut,
            (l->n_removed - l->n_removed_cut) * sizeof *l->removed);
    l->n_removed -= l->n_removed_cut;
    l->n_removed_cut = 0;
}

atp_err engine_lot_load(engine *e, const void *key, size_t key_len,
                        const void *val, size_t val_len)
{
    engine__load_flush(e); /* lots add to positions loaded before them */
    const char *k = key, *end = k + key_len;
    const char *n1 = memchr(k, '\0', key_len);
    const char *n2 = n1 ? memchr(n1 + 1, '\0', (size_t)(end - n1 - 1)) : NULL;
    /* The lot's ref, as ingest admits it (printable UTF-8): it is sent. */
    if (n2 == NULL || val_len != 16 ||
        !codec_str_is_id((codec_str){n2 + 1, (uint32_t)(end - n2 - 1)},
                         ATP_RESV_ID_MAX_LEN))
        return ATP_E_BAD_REQUEST;
    int64_t loc = config_location_find(e->cfg, k, (size_t)(n1 - k));
    if (loc < 0)
        return ATP_E_UNKNOWN_LOCATION;
    size_t sku_len = (size_t)(n2 - n1 - 1);
    if (!codec_str_is_id((codec_str){n1 + 1, (uint32_t)sku_len},
                         ATP_SKU_MAX_LEN))
        return ATP_E_BAD_SKU;
    const unsigned char *v = val;
    uint64_t q = engine__get_le64(v), eta = engine__get_le64(v + 8);
    if ((int64_t)q < 0 || (int64_t)q > ATP_QTY_MAX)
        return ATP_E_BAD_QTY;
    uint32_t sku;
    atp_err err = engine__sku_intern_one(e, n1 + 1, sku_len, &sku);
    if (err != ATP_OK)
        return err;
    engine_event ev = {.kind = ATP_EV_LOT_ADD,
                       .location = (uint16_t)loc,
                       .ref = n2 + 1,
                       .ref_len = (uint32_t)(end - n2 - 1),
                       .value = (int64_t)q,
                       .eta_ms = (int64_t)eta};
    engine__lot_event(e, sku, &ev);
    engine__supply_flush(e);
    e->lots.dirty = false; /* loaded, not changed */
    lots_forget_changes(&e->lots);
    return ATP_OK;
}

void engine__lots_visit(const engine *e, uint32_t sku, engine_lot_fn fn,
                        void *ctx)
{
    const engine_lots *l = &e->lots;
    for (const engine_lot *x = l->by_sku.heads[lots_sku_slot(l, sku)];
         x != NULL; x = x->sku_next)
        fn(ctx, x->loc, x->id, x->id_len, x->qty, x->eta_ms, x->counted);
}

size_t engine__lots_at(const engine *e, uint16_t loc)
{
    size_t n = 0;
    for (size_t i = 0; i < e->lots.cap; i++)
        for (const engine_lot *x = e->lots.buckets[i]; x != NULL; x = x->next)
            n += x->loc == loc;
    return n;
}

bool engine__lots_first(const engine *e, const uint16_t *next, uint16_t *loc)
{
    for (size_t i = 0; i < e->lots.cap; i++)
        for (const engine_lot *x = e->lots.buckets[i]; x != NULL; x = x->next)
            if (next[x->loc] == CONFIG_LOCATION_GONE &&
                e->loc_region[x->loc] != CONFIG_LOCATION_GONE) {
                *loc = x->loc;
                return true;
            }
    return false;
}

void engine__lots_relocated(engine *e, const uint16_t *old_region, int64_t now)
{
    const int64_t *h = e->horizon_ms;
    engine_lots *l = &e->lots;
    for (size_t i = 0; i < l->cap; i++)
        for (engine_lot *x = l->buckets[i]; x != NULL; x = x->next) {
            uint16_t was = old_region[x->loc], is = e->loc_region[x->loc];
            if (was == is || was == CONFIG_LOCATION_GONE ||
                is == CONFIG_LOCATION_GONE || /* no lots there: checked */
                h[was] == h[is])
                continue; /* counted or due exactly as before */
            lots_uncount(e, x);
            lots_count(e, x, now);
        }
    engine__phased_refresh_all(e);
}

void engine__lots_rehorizon(engine *e, const int64_t *old_horizon, int64_t now)
{
    engine_lots *l = &e->lots;
    for (size_t i = 0; i < l->cap; i++)
        for (engine_lot *x = l->buckets[i]; x != NULL; x = x->next) {
            uint16_t r = e->loc_region[x->loc];
            if (r == CONFIG_LOCATION_GONE || old_horizon[r] == e->horizon_ms[r])
                continue;
            lots_uncount(e, x);
            lots_count(e, x, now);
        }
    engine__phased_refresh_all(e);
}
