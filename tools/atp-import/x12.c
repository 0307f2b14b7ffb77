/*
 * x12.c - separators, segments and the envelope of X12 interchanges (see
 * x12.h); the sets' content is read in x12_846.c and x12_856.c.
 */
#include "x12.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void x12_opts_default(x12_opts *o)
{
    memset(o, 0, sizeof *o);
    (void)x12_parse_quals("SK,VP,BP,IN,UP,EN", o);
    (void)x12_parse_qty_map("17=on_hand", o);
}

/* x12_next_item: the next comma-separated item of *s (advanced past it). */
static size_t x12_next_item(const char **s, const char **item)
{
    *item = *s;
    const char *comma = strchr(*s, ',');
    size_t n = comma ? (size_t)(comma - *s) : strlen(*s);
    *s += n + (comma != NULL);
    return n;
}

bool x12_parse_quals(const char *s, x12_opts *o)
{
    o->n_sku_quals = 0;
    while (*s != '\0' || o->n_sku_quals == 0) {
        const char *q;
        size_t n = x12_next_item(&s, &q);
        if (n == 0 || n > 3 || o->n_sku_quals == X12_MAX_SKU_QUALS)
            return false;
        memcpy(o->sku_quals[o->n_sku_quals], q, n);
        o->sku_quals[o->n_sku_quals++][n] = '\0';
    }
    return true;
}

bool x12_parse_qty_map(const char *s, x12_opts *o)
{
    o->n_qty_map = 0;
    while (*s != '\0' || o->n_qty_map == 0) {
        const char *item;
        size_t n = x12_next_item(&s, &item);
        const char *eq = memchr(item, '=', n);
        if (eq == NULL || eq == item || eq - item > 3 ||
            o->n_qty_map == X12_MAX_QTY_MAP ||
            !import_bucket_parse(eq + 1, n - (size_t)(eq + 1 - item),
                                 &o->qty_map[o->n_qty_map].bucket))
            return false;
        memcpy(o->qty_map[o->n_qty_map].qual, item, (size_t)(eq - item));
        o->qty_map[o->n_qty_map++].qual[eq - item] = '\0';
    }
    return true;
}

const char *x12_el(const x12_doc *d, const x12_seg *s, uint32_t i, size_t *len)
{
    if (i >= s->n_el) {
        *len = 0;
        return "";
    }
    *len = d->el_len[s->first_el + i];
    return d->buf + d->el_off[s->first_el + i];
}

bool x12_el_eq(const x12_doc *d, const x12_seg *s, uint32_t i, const char *v)
{
    size_t n;
    const char *e = x12_el(d, s, i, &n);
    return n == strlen(v) && memcmp(e, v, n) == 0;
}

bool x12_is(const x12_doc *d, const x12_seg *s, const char *id)
{
    return x12_el_eq(d, s, 0, id);
}

import_pos x12_pos(const x12_seg *s, uint32_t el)
{
    return (import_pos){s->line, s->index, el};
}

void x12_id(const x12_doc *d, const x12_seg *s, char out[4])
{
    size_t n;
    const char *e = x12_el(d, s, 0, &n);
    memcpy(out, e, n);
    out[n] = '\0';
}

const char *x12_copy(const x12_doc *d, const x12_seg *s, uint32_t i,
                     import_batch *b)
{
    size_t n;
    const char *e = x12_el(d, s, i, &n);
    return import_strdup(b, e, n);
}

uint32_t x12_sku(const x12_doc *d, const x12_seg *lin, const x12_opts *o,
                 import_batch *b)
{
    /* LIN01 is the line number; then (qualifier, id) pairs from LIN02. */
    for (size_t q = 0; q < o->n_sku_quals; q++)
        for (uint32_t i = 2; i + 1 < lin->n_el; i += 2)
            if (x12_el_eq(d, lin, i, o->sku_quals[q])) {
                size_t n;
                (void)x12_el(d, lin, i + 1, &n);
                if (n > 0)
                    return i + 1;
            }
    import_diag_add(b, x12_pos(lin, 0), "LIN",
                    "no product id with a qualifier of --sku-qualifier "
                    "(%s%s)",
                    o->sku_quals[0], o->n_sku_quals > 1 ? ", ..." : "");
    return 0;
}

/* ---- segments ------------------------------------------------------------ */

static bool x12_push_el(x12_doc *d, uint32_t off, uint32_t len)
{
    if (d->n_el == d->cap_el) {
        size_t cap = d->cap_el ? d->cap_el * 2 : 1024;
        uint32_t *o = realloc(d->el_off, cap * sizeof *o);
        if (o == NULL)
            return false;
        d->el_off = o;
        uint32_t *l = realloc(d->el_len, cap * sizeof *l);
        if (l == NULL)
            return false;
        d->el_len = l;
        d->cap_el = cap;
    }
    d->el_off[d->n_el] = off;
    d->el_len[d->n_el++] = len;
    return true;
}

static x12_seg *x12_push_seg(x12_doc *d)
{
    if (d->n_segs == d->cap_segs) {
        size_t cap = d->cap_segs ? d->cap_segs * 2 : 256;
        x12_seg *s = realloc(d->segs, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        d->segs = s;
        d->cap_segs = cap;
    }
    return &d->segs[d->n_segs++];
}

static bool x12_is_sep_char(char c)
{
    return !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') &&
           !(c >= '0' && c <= '9') && c != ' ' && c != '\r' && c != '\n' &&
           c != '\0';
}

/* x12_separators reads the separators from the ISA at buf[p..). */
static bool x12_separators(x12_doc *d, const char *buf, size_t len, size_t p,
                           uint32_t line, import_batch *b)
{
    import_pos at = {line, 1, 0};
    if (len - p < 4 || memcmp(buf + p, "ISA", 3) != 0) {
        import_diag_add(b, at, NULL,
                        "not an X12 interchange: it does not start with ISA");
        return false;
    }
    d->sep = buf[p + 3];
    if (!x12_is_sep_char(d->sep)) {
        import_diag_add(b, at, "ISA", "bad element separator 0x%02x",
                        (unsigned char)d->sep);
        return false;
    }
    /* ISA has 16 elements: ISA16 (one byte) follows the 16th separator,
     * the segment terminator follows it. ISA need not be fixed-width. */
    size_t i = p + 3;
    for (int seps = 0; i < len && seps < 16; i++)
        seps += buf[i] == d->sep;
    if (i + 1 >= len) {
        import_diag_add(b, at, "ISA", "the ISA segment is cut short");
        return false;
    }
    d->comp = buf[i];
    d->term = buf[i + 1];
    /* CRLF as the terminator: the LF ends segments, a CR before it goes. */
    if (d->term == '\r' && i + 2 < len && buf[i + 2] == '\n')
        d->term = '\n';
    if (d->term == '\r' || (!x12_is_sep_char(d->term) && d->term != '\n') ||
        d->term == d->sep || d->term == d->comp) {
        import_diag_add(b, at, "ISA",
                        "bad segment terminator 0x%02x after ISA16",
                        (unsigned char)d->term);
        return false;
    }
    return true;
}

static bool x12_seg_id_ok(const char *s, size_t n)
{
    if (n < 2 || n > 3)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* x12_split cuts buf into segments and elements. */
static bool x12_split(x12_doc *d, const char *buf, size_t len, import_batch *b)
{
    size_t p = 0;
    uint32_t line = 1;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p = 3;
    for (; p < len && (buf[p] == '\r' || buf[p] == '\n' || buf[p] == ' ' ||
                       buf[p] == '\t');
         p++)
        line += buf[p] == '\n';
    if (!x12_separators(d, buf, len, p, line, b))
        return false;
    d->buf = buf;
    uint32_t index = 0;
    while (p < len) {
        const char *t = memchr(buf + p, d->term, len - p);
        size_t end = t ? (size_t)(t - buf) : len;
        size_t seg_end = end;
        if (d->term == '\n' && seg_end > p && buf[seg_end - 1] == '\r')
            seg_end--;
        x12_seg *s = x12_push_seg(d);
        if (s == NULL) {
            b->nomem = true;
            return false;
        }
        *s = (x12_seg){line, ++index, (uint32_t)d->n_el, 0};
        size_t id_end = p;
        while (id_end < seg_end && buf[id_end] != d->sep)
            id_end++;
        char id[4] = "";
        if (id_end - p <= 3)
            memcpy(id, buf + p, id_end - p), id[id_end - p] = '\0';
        if (t == NULL) {
            import_diag_add(b, x12_pos(s, 0), id,
                            "the file ends inside a segment: no segment "
                            "terminator '%c' after it",
                            d->term);
            return false;
        }
        for (size_t q = p; q < seg_end; q++)
            if (buf[q] == '\n' || buf[q] == '\r') {
                import_diag_add(b, x12_pos(s, 0), id,
                                "line break inside segment %s (the segment "
                                "terminator is '%c')",
                                id[0] ? id : "?", d->term);
                return false;
            }
        if (!x12_seg_id_ok(buf + p, id_end - p)) {
            import_diag_add(b, x12_pos(s, 0), NULL,
                            "bad segment id '%.*s' (2-3 upper-case letters "
                            "or digits)",
                            (int)(id_end - p > 16 ? 16 : id_end - p), buf + p);
            return false;
        }
        size_t e = p;
        for (;;) {
            size_t f = e;
            while (f < seg_end && buf[f] != d->sep)
                f++;
            if (!x12_push_el(d, (uint32_t)e, (uint32_t)(f - e))) {
                b->nomem = true;
                return false;
            }
            s->n_el++;
            if (f >= seg_end)
                break;
            e = f + 1;
        }
        p = end + 1;
        while (p < len && (buf[p] == '\r' || buf[p] == '\n'))
            line += buf[p++] == '\n';
        line += d->term == '\n';
    }
    return true;
}

/* ---- the envelope ------------------------------------------------------- */

/* x12_ctrl_eq: two control numbers are the same (numerically when both
 * are digits: "000000091" and "91"). */
static bool x12_ctrl_eq(const char *a, size_t an, const char *b, size_t bn)
{
    bool digits = an > 0 && bn > 0;
    for (size_t i = 0; digits && i < an; i++)
        digits = a[i] >= '0' && a[i] <= '9';
    for (size_t i = 0; digits && i < bn; i++)
        digits = b[i] >= '0' && b[i] <= '9';
    if (digits) {
        while (an > 1 && *a == '0')
            a++, an--;
        while (bn > 1 && *b == '0')
            b++, bn--;
    }
    return an == bn && memcmp(a, b, an) == 0;
}

/* x12_count_is: element i of s is the number n. */
static bool x12_count_is(const x12_doc *d, const x12_seg *s, uint32_t i,
                         uint64_t n)
{
    char want[24];
    size_t len,
        wn = (size_t)snprintf(want, sizeof want, "%llu", (unsigned long long)n);
    const char *e = x12_el(d, s, i, &len);
    for (size_t k = 0; k < len; k++)
        if (e[k] < '0' || e[k] > '9')
            return false;
    return x12_ctrl_eq(e, len, want, wn);
}

/* x12_pair_ok: the closing segment's control number (element ci) is the
 * opening one's (element oi); a problem otherwise. */
static bool x12_pair_ok(const x12_doc *d, const x12_seg *open, uint32_t oi,
                        const x12_seg *close, uint32_t ci, import_batch *b)
{
    size_t on, cn;
    const char *o = x12_el(d, open, oi, &on), *c = x12_el(d, close, ci, &cn);
    if (x12_ctrl_eq(o, on, c, cn))
        return true;
    char oid[4], cid[4];
    x12_id(d, open, oid);
    x12_id(d, close, cid);
    import_diag_add(b, x12_pos(close, ci), cid,
                    "control number '%.*s' is not %s%02u's '%.*s' (segment "
                    "%u)",
                    (int)(cn > 20 ? 20 : cn), c, oid, oi,
                    (int)(on > 20 ? 20 : on), o, open->index);
    return false;
}

enum x12_level { X12_OUT, X12_IN_ISA, X12_IN_GS, X12_IN_ST };

static void x12_unexpected(const x12_doc *d, const x12_seg *s, int level,
                           import_batch *b)
{
    static const char *const want[] = {
        [X12_OUT] = "ISA",
        [X12_IN_ISA] = "GS or IEA",
        [X12_IN_GS] = "ST or GE",
        [X12_IN_ST] = "SE",
    };
    char id[4];
    x12_id(d, s, id);
    import_diag_add(b, x12_pos(s, 0), id, "unexpected segment %s (expected %s)",
                    id, want[level]);
}

/* x12_close_set checks an ST..SE set and reads it. */
static bool x12_close_set(const x12_doc *d, size_t st, size_t se,
                          const x12_opts *o, import_batch *b)
{
    const x12_seg *s = &d->segs[st], *e = &d->segs[se];
    if (!x12_count_is(d, e, 1, se - st + 1)) {
        size_t n;
        const char *v = x12_el(d, e, 1, &n);
        import_diag_add(b, x12_pos(e, 1), "SE",
                        "SE01 says %.*s segments; the set has %zu (ST to SE)",
                        (int)(n > 20 ? 20 : n), v, se - st + 1);
        return false;
    }
    if (!x12_pair_ok(d, s, 2, e, 2, b))
        return false;
    if (x12_el_eq(d, s, 1, "846")) {
        b->sets_846++;
        b->stock_file = true;
        x12_read_846(d, st, se + 1, o, b);
    } else if (x12_el_eq(d, s, 1, "856")) {
        b->sets_856++;
        b->inbound_file = true;
        x12_read_856(d, st, se + 1, o, b);
    } else {
        size_t n;
        const char *v = x12_el(d, s, 1, &n);
        import_diag_add(b, x12_pos(s, 1), "ST",
                        "transaction set %.*s is not one atp-import reads "
                        "(846, 856)",
                        (int)(n > 10 ? 10 : n), v);
    }
    return true;
}

/* x12_envelope walks ISA (GS (ST..SE)* GE)* IEA; false at the first
 * problem with it. */
static bool x12_envelope(const x12_doc *d, const x12_opts *o, import_batch *b)
{
    int level = X12_OUT;
    size_t isa = 0, gs = 0, st = 0;
    uint64_t groups = 0, sets = 0;
    for (size_t i = 0; i < d->n_segs; i++) {
        const x12_seg *s = &d->segs[i];
        if (level == X12_IN_ST) {
            if (x12_is(d, s, "SE")) {
                if (!x12_close_set(d, st, i, o, b))
                    return false;
                level = X12_IN_GS;
            } else if (x12_is(d, s, "ST") || x12_is(d, s, "GE") ||
                       x12_is(d, s, "IEA") || x12_is(d, s, "ISA") ||
                       x12_is(d, s, "GS")) {
                x12_unexpected(d, s, level, b);
                return false;
            }
            continue;
        }
        if (level == X12_OUT && x12_is(d, s, "ISA")) {
            if (s->n_el != 17) {
                import_diag_add(b, x12_pos(s, 0), "ISA",
                                "ISA has %u elements, not 16", s->n_el - 1);
                return false;
            }
            isa = i, groups = 0, level = X12_IN_ISA;
        } else if (level == X12_IN_ISA && x12_is(d, s, "GS")) {
            gs = i, sets = 0, groups++, level = X12_IN_GS;
        } else if (level == X12_IN_ISA && x12_is(d, s, "IEA")) {
            if (!x12_count_is(d, s, 1, groups)) {
                import_diag_add(b, x12_pos(s, 1), "IEA",
                                "IEA01 is not the number of groups (%llu)",
                                (unsigned long long)groups);
                return false;
            }
            if (!x12_pair_ok(d, &d->segs[isa], 13, s, 2, b))
                return false;
            level = X12_OUT;
        } else if (level == X12_IN_GS && x12_is(d, s, "ST")) {
            st = i, sets++, level = X12_IN_ST;
        } else if (level == X12_IN_GS && x12_is(d, s, "GE")) {
            if (!x12_count_is(d, s, 1, sets)) {
                import_diag_add(b, x12_pos(s, 1), "GE",
                                "GE01 is not the number of sets (%llu)",
                                (unsigned long long)sets);
                return false;
            }
            if (!x12_pair_ok(d, &d->segs[gs], 6, s, 2, b))
                return false;
            level = X12_IN_ISA;
        } else {
            x12_unexpected(d, s, level, b);
            return false;
        }
    }
    if (level != X12_OUT) {
        static const char *const open[] = {"", "ISA (no IEA)", "GS (no GE)",
                                           "ST (no SE)"};
        const x12_seg *last = &d->segs[d->n_segs - 1];
        import_diag_add(b, x12_pos(last, 0), NULL, "the file ends inside %s",
                        open[level]);
        return false;
    }
    return true;
}

void import_x12(const char *buf, size_t len, const x12_opts *o, import_batch *b)
{
    x12_doc d = {0};
    if (x12_split(&d, buf, len, b))
        (void)x12_envelope(&d, o, b);
    free(d.segs);
    free(d.el_off);
    free(d.el_len);
}
