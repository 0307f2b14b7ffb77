/*
 * feed_state.c - absolute state of one simulated source (see feed_state.h).
 * Main thread of atp-feed.
 *
 * Two open-addressing tables (linear probing, backward-shift deletion) with
 * byte-string keys: positions keyed "sku NUL location NUL bucket", lots
 * keyed "sku NUL location NUL lot". Values are never removed from the
 * position table (a zero simply is not emitted); lots are.
 */
#include "feed_state.h"

#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"

typedef struct feed_entry {
    char *key; /* NULL: empty slot */
    uint32_t len;
    uint32_t sku_len, loc_len; /* the key's first two parts */
    int64_t a;                 /* position: value; lot: qty */
    int64_t b;                 /* lot: eta_ms */
} feed_entry;

typedef struct feed_table {
    feed_entry *slots;
    size_t cap; /* power of two */
    size_t used;
} feed_table;

struct feed_state {
    const char *const *on_hand_locs;
    size_t n_on_hand;
    feed_table pos, lots;
    codec_event *out; /* feed_state_events' result */
    size_t out_cap;
    size_t out_n;
    bool out_ok; /* out holds the events of the state as it is */
    char *key;   /* scratch key */
    size_t key_cap;
};

static uint64_t feed_state_hash(const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 31);
}

static atp_err feed_table_init(feed_table *t)
{
    t->cap = 256;
    t->used = 0;
    t->slots = calloc(t->cap, sizeof *t->slots);
    return t->slots != NULL ? ATP_OK : ATP_E_NOMEM;
}

static void feed_table_fini(feed_table *t)
{
    for (size_t i = 0; t->slots != NULL && i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    t->slots = NULL;
}

/* feed_table_find returns the slot holding key, or the empty slot where it
 * would go. */
static size_t feed_table_find(const feed_table *t, const char *k, size_t n)
{
    size_t i = feed_state_hash(k, n) & (t->cap - 1);
    while (t->slots[i].key != NULL &&
           !(t->slots[i].len == n && memcmp(t->slots[i].key, k, n) == 0))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static atp_err feed_table_grow(feed_table *t)
{
    feed_table g = {.cap = t->cap * 2, .used = t->used};
    g.slots = calloc(g.cap, sizeof *g.slots);
    if (g.slots == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].key == NULL)
            continue;
        size_t j = feed_table_find(&g, t->slots[i].key, t->slots[i].len);
        g.slots[j] = t->slots[i];
    }
    free(t->slots);
    *t = g;
    return ATP_OK;
}

/* feed_table_upsert returns the entry for key, creating it (zeroed) when
 * absent; NULL on out of memory. */
static feed_entry *feed_table_upsert(feed_table *t, const char *k, size_t n,
                                     uint32_t sku_len, uint32_t loc_len)
{
    if ((t->used + 1) * 4 > t->cap * 3 && feed_table_grow(t) != ATP_OK)
        return NULL;
    size_t i = feed_table_find(t, k, n);
    feed_entry *e = &t->slots[i];
    if (e->key == NULL) {
        e->key = malloc(n);
        if (e->key == NULL)
            return NULL;
        memcpy(e->key, k, n);
        e->len = (uint32_t)n;
        e->sku_len = sku_len;
        e->loc_len = loc_len;
        e->a = e->b = 0;
        t->used++;
    }
    return e;
}

static feed_entry *feed_table_get(const feed_table *t, const char *k, size_t n)
{
    size_t i = feed_table_find(t, k, n);
    return t->slots[i].key != NULL ? &t->slots[i] : NULL;
}

/* Backward-shift deletion keeps every probe chain intact without
 * tombstones. */
static void feed_table_del(feed_table *t, feed_entry *e)
{
    size_t i = (size_t)(e - t->slots);
    free(e->key);
    t->slots[i].key = NULL;
    t->used--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (t->cap - 1);
        if (t->slots[j].key == NULL)
            return;
        size_t home =
            feed_state_hash(t->slots[j].key, t->slots[j].len) & (t->cap - 1);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j].key = NULL;
        i = j;
    }
}

atp_err feed_state_alloc(const char *const *on_hand_locs, size_t n_on_hand,
                         feed_state **out)
{
    feed_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return ATP_E_NOMEM;
    st->on_hand_locs = on_hand_locs;
    st->n_on_hand = n_on_hand;
    if (feed_table_init(&st->pos) != ATP_OK ||
        feed_table_init(&st->lots) != ATP_OK) {
        feed_state_free(st);
        return ATP_E_NOMEM;
    }
    *out = st;
    return ATP_OK;
}

void feed_state_free(feed_state *st)
{
    if (st == NULL)
        return;
    feed_table_fini(&st->pos);
    feed_table_fini(&st->lots);
    free(st->out);
    free(st->key);
    free(st);
}

/* feed_state_key builds "sku NUL loc NUL tail" in the scratch buffer. */
static const char *feed_state_key(feed_state *st, codec_str sku, codec_str loc,
                                  const char *tail, size_t tail_len,
                                  size_t *len)
{
    size_t n = (size_t)sku.len + 1 + loc.len + 1 + tail_len;
    if (n > st->key_cap) {
        char *k = realloc(st->key, n);
        if (k == NULL)
            return NULL;
        st->key = k;
        st->key_cap = n;
    }
    memcpy(st->key, sku.ptr, sku.len);
    st->key[sku.len] = '\0';
    memcpy(st->key + sku.len + 1, loc.ptr, loc.len);
    st->key[sku.len + 1 + loc.len] = '\0';
    memcpy(st->key + sku.len + 2 + loc.len, tail, tail_len);
    *len = n;
    return st->key;
}

static int64_t feed_state_clamp(int64_t v)
{
    return v > ATP_QTY_MAX ? ATP_QTY_MAX : v < -ATP_QTY_MAX ? -ATP_QTY_MAX : v;
}

static int64_t feed_state_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static bool feed_state_on_hand_auth(const feed_state *st, codec_str loc)
{
    for (size_t i = 0; i < st->n_on_hand; i++)
        if (codec_str_eq(loc, st->on_hand_locs[i]))
            return true;
    return false;
}

static atp_err feed_state_bucket_apply(feed_state *st, codec_str sku,
                                       codec_str loc, uint8_t bucket, bool set,
                                       int64_t v)
{
    char b = (char)bucket;
    size_t n;
    const char *k = feed_state_key(st, sku, loc, &b, 1, &n);
    feed_entry *e =
        k == NULL ? NULL : feed_table_upsert(&st->pos, k, n, sku.len, loc.len);
    if (e == NULL)
        return ATP_E_NOMEM;
    e->a = feed_state_clamp(set ? v : feed_state_sat_add(e->a, v));
    return ATP_OK;
}

atp_err feed_state_apply(feed_state *st, const codec_event *evs, uint32_t n)
{
    st->out_ok = false;
    for (uint32_t i = 0; i < n; i++) {
        const codec_event *ev = &evs[i];
        atp_err err = ATP_OK;
        size_t kn;
        const char *k;
        feed_entry *e;
        switch (ev->kind) {
        case ATP_EV_DELTA:
        case ATP_EV_SET:
            err = feed_state_bucket_apply(st, ev->sku, ev->location, ev->bucket,
                                          ev->kind == ATP_EV_SET, ev->value);
            break;
        case ATP_EV_LOT_ADD:
        case ATP_EV_LOT_CHANGE:
            k = feed_state_key(st, ev->sku, ev->location, ev->ref.ptr,
                               ev->ref.len, &kn);
            e = k == NULL ? NULL
                          : feed_table_upsert(&st->lots, k, kn, ev->sku.len,
                                              ev->location.len);
            if (e == NULL) {
                err = ATP_E_NOMEM;
                break;
            }
            e->a = ev->value;
            e->b = ev->eta_ms;
            break;
        case ATP_EV_LOT_RECEIVE:
        case ATP_EV_LOT_CANCEL:
            k = feed_state_key(st, ev->sku, ev->location, ev->ref.ptr,
                               ev->ref.len, &kn);
            if (k == NULL) {
                err = ATP_E_NOMEM;
                break;
            }
            e = feed_table_get(&st->lots, k, kn);
            if (e == NULL)
                break; /* unknown lot: atpd ignores it too */
            int64_t qty = e->a;
            feed_table_del(&st->lots, e);
            if (ev->kind == ATP_EV_LOT_RECEIVE &&
                feed_state_on_hand_auth(st, ev->location))
                err = feed_state_bucket_apply(st, ev->sku, ev->location,
                                              ATP_BUCKET_ON_HAND, false, qty);
            break;
        default: /* heartbeat */
            break;
        }
        if (err != ATP_OK)
            return err;
    }
    return ATP_OK;
}

int64_t feed_state_value(const feed_state *st, const char *sku,
                         const char *location, uint8_t bucket)
{
    feed_state *mst = (feed_state *)st; /* the scratch key only */
    char b = (char)bucket;
    size_t n;
    codec_str s = {sku, (uint32_t)strlen(sku)};
    codec_str l = {location, (uint32_t)strlen(location)};
    const char *k = feed_state_key(mst, s, l, &b, 1, &n);
    const feed_entry *e = k == NULL ? NULL : feed_table_get(&st->pos, k, n);
    return e != NULL ? e->a : 0;
}

bool feed_state_lot(const feed_state *st, const char *sku, const char *location,
                    const char *lot, int64_t *qty, int64_t *eta_ms)
{
    feed_state *mst = (feed_state *)st;
    size_t n;
    codec_str s = {sku, (uint32_t)strlen(sku)};
    codec_str l = {location, (uint32_t)strlen(location)};
    const char *k = feed_state_key(mst, s, l, lot, strlen(lot), &n);
    const feed_entry *e = k == NULL ? NULL : feed_table_get(&st->lots, k, n);
    if (e == NULL)
        return false;
    *qty = e->a;
    *eta_ms = e->b;
    return true;
}

void feed_state_clear(feed_state *st, bool values, bool lots)
{
    st->out_ok = false;
    for (size_t i = 0; values && i < st->pos.cap; i++)
        st->pos.slots[i].a = 0;
    for (size_t i = 0; lots && i < st->lots.cap; i++) {
        free(st->lots.slots[i].key);
        st->lots.slots[i].key = NULL;
    }
    if (lots)
        st->lots.used = 0;
}

size_t feed_state_positions(const feed_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->pos.cap; i++)
        n += st->pos.slots[i].key != NULL && st->pos.slots[i].a != 0;
    return n;
}

size_t feed_state_lots(const feed_state *st)
{
    return st->lots.used;
}

static int feed_entry_cmp(const void *pa, const void *pb)
{
    const feed_entry *a = *(const feed_entry *const *)pa;
    const feed_entry *b = *(const feed_entry *const *)pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->key, b->key, n);
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static void feed_state_event_of(const feed_entry *e, bool lot, codec_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->sku = (codec_str){e->key, e->sku_len};
    ev->location = (codec_str){e->key + e->sku_len + 1, e->loc_len};
    const char *tail = e->key + e->sku_len + 1 + e->loc_len + 1;
    uint32_t tail_len = e->len - (e->sku_len + 1 + e->loc_len + 1);
    if (lot) {
        ev->kind = ATP_EV_LOT_ADD;
        ev->ref = (codec_str){tail, tail_len};
        ev->value = e->a;
        ev->eta_ms = e->b;
    } else {
        ev->kind = ATP_EV_SET;
        ev->bucket = (uint8_t)tail[0];
        ev->value = e->a;
    }
}

atp_err feed_state_events(feed_state *st, codec_event **out, size_t *n)
{
    if (st->out_ok) { /* nothing changed since: atp-import saves and sends
                         the same state; sorting it once, with its copy of
                         the state gone, took its CPU per line of a
                         1M-line file from 5.4 to 2.5 us */
        *out = st->out;
        *n = st->out_n;
        return ATP_OK;
    }
    size_t want = st->pos.used + st->lots.used;
    const feed_entry **order = malloc((want ? want : 1) * sizeof *order);
    if (order == NULL)
        return ATP_E_NOMEM;
    if (want > st->out_cap) {
        codec_event *o = realloc(st->out, want * sizeof *o);
        if (o == NULL) {
            free(order);
            return ATP_E_NOMEM;
        }
        st->out = o;
        st->out_cap = want;
    }
    size_t k = 0;
    for (size_t i = 0; i < st->pos.cap; i++)
        if (st->pos.slots[i].key != NULL && st->pos.slots[i].a != 0)
            order[k++] = &st->pos.slots[i];
    size_t n_pos = k;
    qsort(order, n_pos, sizeof *order, feed_entry_cmp);
    for (size_t i = 0; i < st->lots.cap; i++)
        if (st->lots.slots[i].key != NULL)
            order[k++] = &st->lots.slots[i];
    qsort(order + n_pos, k - n_pos, sizeof *order, feed_entry_cmp);
    for (size_t i = 0; i < k; i++)
        feed_state_event_of(order[i], i >= n_pos, &st->out[i]);
    free(order);
    *out = st->out;
    *n = k;
    st->out_n = k;
    st->out_ok = true;
    return ATP_OK;
}
