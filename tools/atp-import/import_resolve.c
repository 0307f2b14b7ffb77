/*
 * import_resolve.c - a file's records against atpd's configuration (see
 * import_resolve.h).
 */
#include "import_resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- location map -------------------------------------------------------- */

void import_locmap_fini(import_locmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->code[i]);
        free(m->loc[i]);
    }
    free(m->code);
    free(m->loc);
    memset(m, 0, sizeof *m);
}

static bool import_locmap_sep(char c)
{
    return c == ' ' || c == '\t' || c == '=' || c == ',';
}

static const char *import_locmap_find(const import_locmap *m, const char *code)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->code[i], code) == 0)
            return m->loc[i];
    return NULL;
}

static bool import_locmap_add(import_locmap *m, const char *c, size_t cn,
                              const char *l, size_t ln)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        char **a = realloc(m->code, cap * sizeof *a);
        if (a == NULL)
            return false;
        m->code = a;
        char **b = realloc(m->loc, cap * sizeof *b);
        if (b == NULL)
            return false;
        m->loc = b;
        m->cap = cap;
    }
    m->code[m->n] = strndup(c, cn);
    m->loc[m->n] = strndup(l, ln);
    if (m->code[m->n] == NULL || m->loc[m->n] == NULL) {
        free(m->code[m->n]);
        free(m->loc[m->n]);
        return false;
    }
    m->n++;
    return true;
}

bool import_locmap_parse(const char *text, size_t len, import_locmap *m,
                         char *why, size_t why_len)
{
    size_t p = 0;
    for (int line = 1; p < len; line++) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *hash = memchr(text + p, '#', end - p);
        size_t stop = hash ? (size_t)(hash - text) : end;
        while (stop > p && (text[stop - 1] == '\r' || text[stop - 1] == ' ' ||
                            text[stop - 1] == '\t'))
            stop--;
        size_t a = p;
        while (a < stop && (text[a] == ' ' || text[a] == '\t'))
            a++;
        size_t ae = a;
        while (ae < stop && !import_locmap_sep(text[ae]))
            ae++;
        size_t bs = ae;
        while (bs < stop && import_locmap_sep(text[bs]))
            bs++;
        p = end + 1;
        if (a == stop)
            continue;
        char code[ATP_ID_MAX_LEN * 4 + 1];
        snprintf(code, sizeof code, "%.*s", (int)(ae - a), text + a);
        if (bs == stop || ae - a >= sizeof code ||
            memchr(text + bs, ' ', stop - bs) != NULL ||
            memchr(text + bs, '\t', stop - bs) != NULL) {
            snprintf(why, why_len,
                     "line %d: not CODE LOCATION (one code, one location id)",
                     line);
            return false;
        }
        if (import_locmap_find(m, code) != NULL) {
            snprintf(why, why_len, "line %d: code '%s' given twice", line,
                     code);
            return false;
        }
        if (!import_locmap_add(m, text + a, ae - a, text + bs, stop - bs)) {
            snprintf(why, why_len, "out of memory");
            return false;
        }
    }
    return true;
}

/* ---- checks -------------------------------------------------------------- */

static codec_str import_s(const char *s)
{
    return (codec_str){s, (uint32_t)strlen(s)};
}

static bool import_has_authority(const config_source *src, uint32_t loc,
                                 uint8_t bucket)
{
    for (size_t i = 0; i < src->n_authority; i++)
        if (src->authority[i].location == loc &&
            src->authority[i].bucket == bucket)
            return true;
    return false;
}

/* import_check_rec resolves r's location; false with a problem recorded. */
static bool import_check_rec(import_batch *b, const import_target *t,
                             import_rec *r)
{
    const config *c = t->cfg;
    const config_source *src = &c->sources[t->source];
    const char *seg = r->seg_id[0] ? r->seg_id : NULL;
    if (!codec_str_is_id(import_s(r->sku), ATP_SKU_MAX_LEN)) {
        import_diag_add(b, r->pos, seg,
                        "SKU '%.64s' is not 1..%d printable bytes", r->sku,
                        ATP_SKU_MAX_LEN);
        return false;
    }
    if (r->kind == IMPORT_LOT_ADD &&
        (r->eta_ms < 0 || r->eta_ms > ATP_WIRE_INT_MAX)) {
        import_diag_add(b, r->pos, seg,
                        "arrival %lld ms is not 1970-01-01 .. 2^53-1 ms "
                        "(atpd's lot eta_ms)",
                        (long long)r->eta_ms);
        return false;
    }
    if (r->lot != NULL &&
        !codec_str_is_id(import_s(r->lot), CODEC_REF_MAX_LEN)) {
        import_diag_add(b, r->pos, seg,
                        "lot id '%.64s' is not 1..%d printable bytes", r->lot,
                        CODEC_REF_MAX_LEN);
        return false;
    }
    /* Location problems point at the segment or column that named it. */
    import_pos lpos = r->loc_pos.line > 0 ? r->loc_pos : r->pos;
    const char *lseg = r->loc_pos.segment > 0 ? "N1" : seg;
    const char *code = r->loc;
    const char *loc = code != NULL ? code : t->default_loc;
    if (loc == NULL) {
        import_diag_add(b, lpos, lseg,
                        "no location: the file names none here and there is "
                        "no --location");
        return false;
    }
    const char *mapped =
        t->map && code ? import_locmap_find(t->map, code) : NULL;
    if (mapped != NULL)
        loc = mapped;
    int li = config_location_find(c, loc, strlen(loc));
    if (li < 0) {
        import_diag_add(b, lpos, lseg,
                        "location '%.64s'%s%.64s%s is not a location of the "
                        "config%s",
                        loc, mapped ? " (mapped from '" : "",
                        mapped ? code : "", mapped ? "')" : "",
                        mapped || code == NULL ? ""
                                               : " (map the file's codes "
                                                 "with --location-map)");
        return false;
    }
    uint8_t bucket = r->kind == IMPORT_SET ? r->bucket : ATP_AUTH_INBOUND;
    if (!import_has_authority(src, (uint32_t)li, bucket)) {
        import_diag_add(b, lpos, lseg,
                        "source %s has no %s authority at location %s", src->id,
                        r->kind == IMPORT_SET ? import_bucket_name(bucket)
                                              : "inbound",
                        c->locations[li].id);
        return false;
    }
    r->loc = c->locations[li].id; /* from here on: the location id */
    return true;
}

/* Duplicates: records sorted by (sku, location, bucket or lot). */
static const import_rec *import_sort_base;

static int import_key_cmp(const void *pa, const void *pb)
{
    const import_rec *a = &import_sort_base[*(const size_t *)pa];
    const import_rec *b = &import_sort_base[*(const size_t *)pb];
    int c = strcmp(a->sku, b->sku);
    if (c == 0)
        c = strcmp(a->loc, b->loc);
    if (c == 0)
        c = (a->kind == IMPORT_SET) - (b->kind == IMPORT_SET);
    if (c == 0)
        c = a->kind == IMPORT_SET ? (int)a->bucket - (int)b->bucket
                                  : strcmp(a->lot, b->lot);
    if (c == 0)
        c = (*(const size_t *)pa > *(const size_t *)pb) -
            (*(const size_t *)pa < *(const size_t *)pb);
    return c;
}

static bool import_same_key(const import_rec *a, const import_rec *b)
{
    bool a_set = a->kind == IMPORT_SET, b_set = b->kind == IMPORT_SET;
    return a_set == b_set && strcmp(a->sku, b->sku) == 0 &&
           strcmp(a->loc, b->loc) == 0 &&
           (a_set ? a->bucket == b->bucket : strcmp(a->lot, b->lot) == 0);
}

/* import_same_shipment: r repeats first harmlessly (dropped): the same
 * bucket value again, or an 856's item of one SKU to one location twice in
 * one shipment (added into first; another delivery date is a problem). */
static bool import_same_shipment(import_batch *b, import_rec *first,
                                 const import_rec *r, bool *drop, size_t ri)
{
    bool same_set =
        r->set > 0 && r->set == first->set && r->kind == first->kind;
    if (r->kind == IMPORT_SET ? r->qty != first->qty : !same_set)
        return false;
    if (r->kind == IMPORT_LOT_ADD && r->eta_ms != first->eta_ms)
        import_diag_add(b, r->pos, r->seg_id[0] ? r->seg_id : NULL,
                        "%s to %s again in shipment %s with another delivery "
                        "date",
                        r->sku, r->loc, r->lot);
    else if (r->kind == IMPORT_LOT_ADD && first->qty + r->qty > ATP_QTY_MAX)
        import_diag_add(b, r->pos, r->seg_id[0] ? r->seg_id : NULL,
                        "the units of %s to %s in shipment %s pass 10^15",
                        r->sku, r->loc, r->lot);
    else if (r->kind == IMPORT_LOT_ADD)
        first->qty += r->qty;
    drop[ri] = true;
    return true;
}

/* import_dups looks at the records not dropped yet (those that passed
 * their checks), marks drop[i] for a harmless repeat
 * (import_same_shipment) and records a problem for any other. */
static bool import_dups(import_batch *b, bool *drop)
{
    size_t *order = malloc((b->n ? b->n : 1) * sizeof *order);
    if (order == NULL) {
        b->nomem = true;
        return false;
    }
    size_t n = 0; /* the records checked good (drop[i] false so far) */
    for (size_t i = 0; i < b->n; i++)
        if (!drop[i])
            order[n++] = i;
    import_sort_base = b->recs;
    qsort(order, n, sizeof *order, import_key_cmp);
    for (size_t i = 1; i < n; i++) {
        import_rec *first = &b->recs[order[i - 1]];
        const import_rec *r = &b->recs[order[i]];
        if (!import_same_key(first, r))
            continue;
        if (import_same_shipment(b, first, r, drop, order[i])) {
            order[i] = order[i - 1]; /* compare the next with the first */
            continue;
        }
        if (r->kind == IMPORT_SET)
            import_diag_add(b, r->pos, r->seg_id[0] ? r->seg_id : NULL,
                            "%s of %s at %s set again to another value (%lld, "
                            "first %lld at line %u)",
                            import_bucket_name(r->bucket), r->sku, r->loc,
                            (long long)r->qty, (long long)first->qty,
                            first->pos.line);
        else
            import_diag_add(b, r->pos, r->seg_id[0] ? r->seg_id : NULL,
                            "lot %s of %s at %s given again (first at line "
                            "%u)",
                            r->lot, r->sku, r->loc, first->pos.line);
        order[i] = order[i - 1];
    }
    free(order);
    return b->n_diags == 0;
}

static void import_event_of(const import_rec *r, codec_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->sku = import_s(r->sku);
    ev->location = import_s(r->loc);
    ev->value = r->qty;
    if (r->kind == IMPORT_SET) {
        ev->kind = ATP_EV_SET;
        ev->bucket = r->bucket;
        return;
    }
    ev->kind = r->kind == IMPORT_LOT_ADD       ? ATP_EV_LOT_ADD
               : r->kind == IMPORT_LOT_RECEIVE ? ATP_EV_LOT_RECEIVE
                                               : ATP_EV_LOT_CANCEL;
    ev->ref = import_s(r->lot);
    ev->eta_ms = r->eta_ms;
}

/* import_count_locations: distinct location ids among the events. */
static size_t import_count_locations(const codec_event *evs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = evs[j].location.ptr == evs[i].location.ptr;
        k += !seen;
    }
    return k;
}

bool import_resolve(import_batch *b, const import_target *t, codec_event **evs,
                    size_t *n, import_counts *counts)
{
    memset(counts, 0, sizeof *counts);
    *evs = NULL;
    *n = 0;
    if (b->nomem)
        return false;
    /* Every record is checked even when the reading found problems, so
     * that one run lists them all (docs/IMPORT.md). */
    bool read_ok = b->n_diags == 0;
    bool *drop = calloc(b->n ? b->n : 1, sizeof *drop);
    if (drop == NULL) {
        b->nomem = true;
        return false;
    }
    for (size_t i = 0; i < b->n; i++)
        drop[i] = !import_check_rec(b, t, &b->recs[i]);
    if (!import_dups(b, drop) || !read_ok || b->n_diags > 0) {
        free(drop);
        return false;
    }
    codec_event *out = malloc((b->n ? b->n : 1) * sizeof *out);
    if (out == NULL) {
        free(drop);
        b->nomem = true;
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (drop[i])
            continue;
        const import_rec *r = &b->recs[i];
        import_event_of(r, &out[k++]);
        counts->sets += r->kind == IMPORT_SET;
        counts->lots += r->kind == IMPORT_LOT_ADD;
        counts->lot_cancels += r->kind == IMPORT_LOT_CANCEL;
        counts->lot_receives += r->kind == IMPORT_LOT_RECEIVE;
    }
    free(drop);
    counts->locations = import_count_locations(out, k);
    *evs = out;
    *n = k;
    return true;
}
