/*
 * x12_856.c - the 856 (ship notice) set: every item level of the HL tree is
 * an inbound lot (SKU, ship-to location, shipment id) arriving at the
 * estimated delivery date (docs/IMPORT.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x12.h"

/* One HL level (index 0: the set's header, before the first HL). */
typedef struct x12_hl {
    const x12_seg *hl;        /* NULL for the header */
    size_t parent;            /* SIZE_MAX: none */
    const x12_seg *ship_to;   /* N1*ST of this level */
    const x12_seg *lin, *sn1; /* item levels */
    int64_t eta_ms, shipped_ms;
    bool has_eta, has_shipped, item;
} x12_hl;

typedef struct x12_856 {
    const x12_doc *d;
    const x12_opts *o;
    import_batch *b;
    x12_hl *hl;
    size_t n, cap;
    /* HL01 -> index into hl: open addressing, a power of two at least
     * twice n (0: empty). A linear search made an 80,000-item file take
     * 39 s. */
    uint32_t *slot;
    size_t n_slots;
} x12_856;

static uint64_t x12_856_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* x12_856_slot: the slot of id, or the empty slot where it would go. */
static size_t x12_856_slot(const x12_856 *t, const char *id, size_t n)
{
    size_t mask = t->n_slots - 1;
    for (size_t i = x12_856_hash(id, n) & mask;; i = (i + 1) & mask) {
        uint32_t k = t->slot[i];
        if (k == 0)
            return i;
        size_t len;
        const char *v = x12_el(t->d, t->hl[k].hl, 1, &len);
        if (len == n && memcmp(v, id, n) == 0)
            return i;
    }
}

/* x12_856_index adds level k (its HL01) to the table, growing it. */
static bool x12_856_index(x12_856 *t, uint32_t k)
{
    if (2 * (size_t)k >= t->n_slots) {
        size_t cap = t->n_slots ? t->n_slots * 2 : 256;
        uint32_t *old = t->slot;
        size_t old_n = t->n_slots;
        t->slot = calloc(cap, sizeof *t->slot);
        if (t->slot == NULL) {
            t->slot = old;
            t->b->nomem = true;
            return false;
        }
        t->n_slots = cap;
        for (size_t i = 0; i < old_n; i++)
            if (old[i] != 0) {
                size_t len;
                const char *v = x12_el(t->d, t->hl[old[i]].hl, 1, &len);
                t->slot[x12_856_slot(t, v, len)] = old[i];
            }
        free(old);
    }
    size_t len;
    const char *v = x12_el(t->d, t->hl[k].hl, 1, &len);
    t->slot[x12_856_slot(t, v, len)] = k;
    return true;
}

static x12_hl *x12_856_push(x12_856 *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        x12_hl *h = realloc(t->hl, cap * sizeof *h);
        if (h == NULL) {
            t->b->nomem = true;
            return NULL;
        }
        t->hl = h;
        t->cap = cap;
    }
    x12_hl *h = &t->hl[t->n++];
    memset(h, 0, sizeof *h);
    h->parent = SIZE_MAX;
    return h;
}

/* x12_856_find: the level whose HL01 is id, or SIZE_MAX. */
static size_t x12_856_find(const x12_856 *t, const char *id, size_t n)
{
    if (t->n_slots == 0)
        return SIZE_MAX;
    uint32_t k = t->slot[x12_856_slot(t, id, n)];
    return k != 0 ? k : SIZE_MAX;
}

static bool x12_856_hl(x12_856 *t, const x12_seg *s)
{
    size_t idn, pn, lvn;
    const char *id = x12_el(t->d, s, 1, &idn);
    const char *pid = x12_el(t->d, s, 2, &pn);
    const char *lv = x12_el(t->d, s, 3, &lvn);
    if (idn == 0) {
        import_diag_add(t->b, x12_pos(s, 1), "HL", "HL without its id (HL01)");
        return false;
    }
    if (x12_856_find(t, id, idn) != SIZE_MAX) {
        import_diag_add(t->b, x12_pos(s, 1), "HL", "HL id '%.*s' used twice",
                        (int)(idn > 12 ? 12 : idn), id);
        return false;
    }
    size_t parent = 0;
    if (pn > 0 && (parent = x12_856_find(t, pid, pn)) == SIZE_MAX) {
        import_diag_add(t->b, x12_pos(s, 2), "HL",
                        "parent HL '%.*s' is not an earlier level",
                        (int)(pn > 12 ? 12 : pn), pid);
        return false;
    }
    x12_hl *h = x12_856_push(t);
    if (h == NULL)
        return false;
    h->hl = s;
    h->parent = parent;
    h->item = lvn == 1 && lv[0] == 'I';
    return t->n - 1 <= UINT32_MAX && x12_856_index(t, (uint32_t)(t->n - 1));
}

static void x12_856_dtm(x12_856 *t, const x12_seg *s, x12_hl *h)
{
    bool eta = x12_el_eq(t->d, s, 1, "017");
    if (!eta && !x12_el_eq(t->d, s, 1, "011"))
        return;
    size_t dn, tn;
    const char *dv = x12_el(t->d, s, 2, &dn);
    const char *tv = x12_el(t->d, s, 3, &tn);
    int64_t ms;
    if (!import_parse_x12_date(dv, dn, tv, tn, &ms) || ms < 0 ||
        ms > ATP_WIRE_INT_MAX - 366LL * 86400000) { /* room for --transit */
        import_diag_add(t->b, x12_pos(s, 2), "DTM",
                        "date '%.*s' time '%.*s' is not CCYYMMDD or YYMMDD "
                        "with HHMM[SS], from 1970 on",
                        (int)(dn > 12 ? 12 : dn), dv, (int)(tn > 8 ? 8 : tn),
                        tv);
        return;
    }
    if (eta)
        h->eta_ms = ms, h->has_eta = true;
    else
        h->shipped_ms = ms, h->has_shipped = true;
}

/* x12_856_item turns one item level into a lot record (the same SKU twice
 * to one location adds up once the locations are resolved:
 * import_resolve). */
static void x12_856_item(x12_856 *t, const x12_hl *h, const char *lot,
                         uint8_t kind)
{
    const x12_doc *d = t->d;
    import_batch *b = t->b;
    if (h->lin == NULL || h->sn1 == NULL) {
        import_diag_add(b, x12_pos(h->hl, 0), "HL", "item level without %s",
                        h->lin == NULL ? "its LIN" : "its SN1");
        return;
    }
    uint32_t el = x12_sku(d, h->lin, t->o, b);
    size_t qn;
    const char *qv = x12_el(d, h->sn1, 2, &qn);
    int64_t qty;
    if (!import_parse_qty(qv, qn, &qty) || qty < 0) {
        import_diag_add(b, x12_pos(h->sn1, 2), "SN1",
                        "units shipped '%.*s' is not a whole number 0..10^15",
                        (int)(qn > 24 ? 24 : qn), qv);
        return;
    }
    const x12_seg *st = NULL;
    const x12_hl *eta = NULL, *shipped = NULL;
    for (size_t i = (size_t)(h - t->hl); i != SIZE_MAX; i = t->hl[i].parent) {
        const x12_hl *up = &t->hl[i];
        if (st == NULL)
            st = up->ship_to;
        if (eta == NULL && up->has_eta)
            eta = up;
        if (shipped == NULL && up->has_shipped)
            shipped = up;
    }
    int64_t eta_ms = 0; /* a cancellation or a receipt needs no date */
    if (kind != IMPORT_LOT_ADD)
        ;
    else if (eta != NULL)
        eta_ms = eta->eta_ms;
    else if (shipped != NULL && t->o->transit_set)
        eta_ms = shipped->shipped_ms + t->o->transit_ms;
    else {
        import_diag_add(b, x12_pos(h->hl, 0), "HL",
                        "no estimated delivery date (DTM*017) for this item%s",
                        shipped != NULL ? ", and no --transit to add to its "
                                          "ship date (DTM*011)"
                                        : " and no ship date (DTM*011)");
        return;
    }
    if (el == 0)
        return;
    size_t sn;
    const char *sku = x12_el(d, h->lin, el, &sn);
    import_rec *r = import_add(b);
    if (r == NULL)
        return;
    r->kind = kind;
    r->sku = import_strdup(b, sku, sn);
    r->loc = st != NULL ? x12_copy(d, st, 4, b) : NULL;
    r->set = b->sets_846 + b->sets_856;
    r->lot = lot;
    r->qty = qty;
    r->eta_ms = eta_ms;
    r->pos = x12_pos(h->lin, el);
    snprintf(r->seg_id, sizeof r->seg_id, "LIN");
    if (st != NULL)
        r->loc_pos = x12_pos(st, 4);
}

/* x12_856_segment files one segment of the set under the current level. */
static void x12_856_segment(x12_856 *t, const x12_seg *s, const x12_seg **bsn)
{
    const x12_doc *d = t->d;
    x12_hl *h = &t->hl[t->n - 1];
    if (x12_is(d, s, "BSN")) {
        if (*bsn != NULL)
            import_diag_add(t->b, x12_pos(s, 0), "BSN", "a second BSN");
        *bsn = s;
    } else if (x12_is(d, s, "N1") && x12_el_eq(d, s, 1, "ST")) {
        size_t n;
        (void)x12_el(d, s, 4, &n);
        if (n == 0)
            import_diag_add(t->b, x12_pos(s, 4), "N1",
                            "a ship-to N1 without its id (N104)");
        else
            h->ship_to = s;
    } else if (x12_is(d, s, "DTM")) {
        x12_856_dtm(t, s, h);
    } else if (h->item && x12_is(d, s, "LIN")) {
        if (h->lin != NULL)
            import_diag_add(t->b, x12_pos(s, 0), "LIN",
                            "a second LIN in one item level");
        h->lin = s;
    } else if (h->item && x12_is(d, s, "SN1")) {
        if (h->sn1 != NULL)
            import_diag_add(t->b, x12_pos(s, 0), "SN1",
                            "a second SN1 in one item level");
        h->sn1 = s;
    }
}

void x12_read_856(const x12_doc *d, size_t first, size_t end, const x12_opts *o,
                  import_batch *b)
{
    x12_856 t = {d, o, b, NULL, 0, 0, NULL, 0};
    const x12_seg *bsn = NULL;
    if (x12_856_push(&t) == NULL)
        return;
    for (size_t i = first + 1; i + 1 < end; i++) {
        const x12_seg *s = &d->segs[i];
        if (x12_is(d, s, "HL")) {
            if (!x12_856_hl(&t, s))
                goto out;
        } else {
            x12_856_segment(&t, s, &bsn);
        }
    }
    size_t ln;
    if (bsn == NULL || (x12_el(d, bsn, 2, &ln), ln == 0)) {
        import_diag_add(b, x12_pos(bsn ? bsn : &d->segs[first], bsn ? 2 : 0),
                        bsn ? "BSN" : "ST",
                        "an 856 needs its shipment id (BSN02): it is the "
                        "lot id");
        goto out;
    }
    const char *lot = x12_copy(d, bsn, 2, b);
    /* BSN01 01 cancellation, 03 delete: the shipment will not come;
     * --received: it came. */
    uint8_t kind = x12_el_eq(d, bsn, 1, "01") || x12_el_eq(d, bsn, 1, "03")
                       ? IMPORT_LOT_CANCEL
                   : o->received ? IMPORT_LOT_RECEIVE
                                 : IMPORT_LOT_ADD;
    for (size_t i = 1; i < t.n && lot != NULL; i++)
        if (t.hl[i].item)
            x12_856_item(&t, &t.hl[i], lot, kind);
out:
    free(t.hl);
    free(t.slot);
}
