/*
 * x12_846.c - the 846 (inventory inquiry/advice) set: every mapped QTY of a
 * LIN line is a bucket value at the line's location (docs/IMPORT.md).
 */
#include <stdio.h>
#include <string.h>

#include "x12.h"

/* N1 qualifiers that name a stock location: warehouse, ship to, store. */
static bool x12_846_location_n1(const x12_doc *d, const x12_seg *s)
{
    return x12_el_eq(d, s, 1, "WH") || x12_el_eq(d, s, 1, "ST") ||
           x12_el_eq(d, s, 1, "SN");
}

/* x12_846_map: the bucket QTY01 sets, or -1 when --qty does not read it. */
static int x12_846_map(const x12_doc *d, const x12_seg *qty, const x12_opts *o)
{
    for (size_t i = 0; i < o->n_qty_map; i++)
        if (x12_el_eq(d, qty, 1, o->qty_map[i].qual))
            return o->qty_map[i].bucket;
    return -1;
}

typedef struct x12_846_line {
    const x12_seg *lin; /* NULL: before the first LIN */
    const char *sku;    /* NULL: no usable product id */
    const x12_seg *n1;  /* the line's location, NULL: the header's */
    bool has_qty;
} x12_846_line;

static void x12_846_end_line(const x12_846_line *l, import_batch *b)
{
    if (l->lin != NULL && !l->has_qty)
        import_diag_add(b, x12_pos(l->lin, 0), "LIN",
                        "no QTY that --qty reads for this LIN");
}

static void x12_846_qty(const x12_doc *d, const x12_seg *s,
                        const x12_846_line *l, const x12_seg *hdr_n1,
                        int bucket, import_batch *b)
{
    size_t n;
    const char *v = x12_el(d, s, 2, &n);
    int64_t q;
    if (!import_parse_qty(v, n, &q)) {
        import_diag_add(b, x12_pos(s, 2), "QTY",
                        "quantity '%.*s' is not a whole number within "
                        "+-10^15",
                        (int)(n > 24 ? 24 : n), v);
        return;
    }
    if (l->sku == NULL)
        return; /* the LIN's problem is already recorded */
    const x12_seg *n1 = l->n1 != NULL ? l->n1 : hdr_n1;
    import_rec *r = import_add(b);
    if (r == NULL)
        return;
    r->kind = IMPORT_SET;
    r->bucket = (uint8_t)bucket;
    r->sku = l->sku;
    r->loc = n1 != NULL ? x12_copy(d, n1, 4, b) : NULL;
    r->qty = q;
    r->pos = x12_pos(s, 2);
    snprintf(r->seg_id, sizeof r->seg_id, "QTY");
    if (n1 != NULL)
        r->loc_pos = x12_pos(n1, 4);
}

void x12_read_846(const x12_doc *d, size_t first, size_t end, const x12_opts *o,
                  import_batch *b)
{
    if (end - first < 3 || !x12_is(d, &d->segs[first + 1], "BIA")) {
        import_diag_add(b, x12_pos(&d->segs[first], 0), "ST",
                        "an 846 starts with BIA after ST");
        return;
    }
    const x12_seg *hdr_n1 = NULL;
    x12_846_line l = {0};
    for (size_t i = first + 2; i + 1 < end; i++) {
        const x12_seg *s = &d->segs[i];
        if (x12_is(d, s, "LIN")) {
            x12_846_end_line(&l, b);
            uint32_t el = x12_sku(d, s, o, b);
            l = (x12_846_line){s, el ? x12_copy(d, s, el, b) : NULL, NULL,
                               false};
        } else if (x12_is(d, s, "N1") && x12_846_location_n1(d, s)) {
            size_t n;
            (void)x12_el(d, s, 4, &n);
            if (n == 0)
                import_diag_add(b, x12_pos(s, 4), "N1",
                                "a location N1 without its id (N104)");
            else if (l.lin != NULL)
                l.n1 = s;
            else
                hdr_n1 = s;
        } else if (x12_is(d, s, "QTY")) {
            int bucket = x12_846_map(d, s, o);
            if (l.lin == NULL)
                import_diag_add(b, x12_pos(s, 0), "QTY",
                                "QTY before the first LIN");
            else if (bucket < 0)
                b->ignored++;
            else {
                l.has_qty = true;
                x12_846_qty(d, s, &l, hdr_n1, bucket, b);
            }
        }
    }
    x12_846_end_line(&l, b);
}
