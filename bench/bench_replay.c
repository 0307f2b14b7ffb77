/*
 * bench_replay.c - CSV order history to replay plan (bench_replay.h).
 */
#include "bench_replay.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/codec.h"

void bench_replay_cols_default(bench_replay_cols *c)
{
    *c = (bench_replay_cols){
        .invoice = "InvoiceNo",
        .sku = "StockCode",
        .qty = "Quantity",
        .date = "InvoiceDate",
        .country = "Country",
        .customer = "CustomerID",
        .sep = ',',
        .cancel_prefix = "C",
    };
}

int bench_csv_split(char *line, char sep, char **fields, int max)
{
    int n = 0;
    char *p = line;
    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        char *start = p, *out = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    break;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            while (*p != '\0' && *p != sep)
                p++;
        } else {
            while (*p != '\0' && *p != sep)
                p++;
            out = p;
        }
        char end = *p;
        *out = '\0';
        fields[n++] = start;
        if (end == '\0')
            break;
        p++;
    }
    return n;
}

bool bench_parse_time_ms(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &sec) >= 3 &&
        y > 1900) {
    } else if (sscanf(s, "%d/%d/%d %d:%d:%d", &mo, &d, &y, &h, &mi, &sec) >=
               3) {
        if (y < 100)
            y += 2000;
    } else {
        return false;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t * 1000;
    return true;
}

/* ---- a small string -> index hash map ----------------------------------- */

typedef struct bench_smap {
    char **keys;
    int64_t *vals;
    size_t cap, n;
} bench_smap;

static uint64_t bench_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int64_t *bench_smap_slot(bench_smap *m, const char *key, bool create)
{
    if (create && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        char **keys = calloc(cap, sizeof *keys);
        int64_t *vals = calloc(cap, sizeof *vals);
        if (keys == NULL || vals == NULL) {
            free(keys);
            free(vals);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] == NULL)
                continue;
            size_t j = bench_hash(m->keys[i]) & (cap - 1);
            while (keys[j] != NULL)
                j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    if (m->cap == 0)
        return NULL;
    size_t j = bench_hash(key) & (m->cap - 1);
    while (m->keys[j] != NULL) {
        if (strcmp(m->keys[j], key) == 0)
            return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!create)
        return NULL;
    if ((m->keys[j] = strdup(key)) == NULL)
        return NULL;
    m->vals[j] = -1;
    m->n++;
    return &m->vals[j];
}

static void bench_smap_free(bench_smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- loading ------------------------------------------------------------ */

typedef struct bench_rl {
    bench_replay *r;
    bench_smap skus, last_order; /* "customer\x1fsku" -> order */
    size_t cap_orders, cap_lines, cap_skus;
    uint32_t n_regions;
    char cur_invoice[128];
    char cur_file[8];
} bench_rl;

static int bench_col_find(char **hdr, int n, const char *name)
{
    if (name == NULL || *name == '\0')
        return -1;
    char *end;
    long k = strtol(name, &end, 10);
    if (*end == '\0' && k >= 1)
        return (int)k - 1;
    for (int i = 0; i < n; i++)
        if (strcmp(hdr[i], name) == 0)
            return i;
    return -2; /* named but not found */
}

static bool bench_rl_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (q == NULL)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static int64_t bench_rl_sku(bench_rl *l, const char *sku)
{
    int64_t *v = bench_smap_slot(&l->skus, sku, true);
    if (v == NULL)
        return -1;
    if (*v < 0) {
        bench_replay *r = l->r;
        if (!bench_rl_grow((void **)&r->skus, &l->cap_skus, r->n_skus + 1,
                           sizeof *r->skus) ||
            (r->skus[r->n_skus] = strdup(sku)) == NULL)
            return -1;
        *v = r->n_skus++;
    }
    return *v;
}

static int bench_order_cmp(const void *a, const void *b)
{
    const bench_replay_order *x = a, *y = b;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    /* stable: first_line grows with the reading order */
    return (x->first_line > y->first_line) - (x->first_line < y->first_line);
}

int bench_replay_load(char *const *files, int n_files,
                      const bench_replay_cols *cols, uint32_t n_regions,
                      uint64_t max_rows, bench_replay *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    bench_rl l = {.r = out, .n_regions = n_regions ? n_regions : 1};
    char *line = NULL;
    size_t line_cap = 0;
    int rc = -1;
    for (int fi = 0; fi < n_files; fi++) {
        FILE *f = fopen(files[fi], "r");
        if (f == NULL) {
            snprintf(err, errlen, "cannot open %s: %s", files[fi],
                     strerror(errno));
            goto out;
        }
        char *hdr[64];
        int nh = 0, ci[6] = {-2, -2, -2, -2, -2, -2};
        if (getline(&line, &line_cap, f) > 0) {
            char *copy = strdup(line);
            nh = bench_csv_split(copy, cols->sep, hdr, 64);
            const char *names[6] = {cols->invoice, cols->sku,
                                    cols->qty,     cols->date,
                                    cols->country, cols->customer};
            for (int k = 0; k < 6; k++)
                ci[k] = bench_col_find(hdr, nh, names[k]);
            free(copy);
            /* country and customer are optional */
            for (int k = 4; k < 6; k++)
                if (ci[k] == -2)
                    ci[k] = -1;
        }
        bool bad = ci[0] < 0 || ci[1] < 0 || ci[2] < 0 || ci[3] < 0;
        if (bad) {
            snprintf(err, errlen,
                     "%s: header lacks a column (need invoice '%s', sku '%s', "
                     "qty '%s', "
                     "date '%s'; country and customer are optional)",
                     files[fi], cols->invoice, cols->sku, cols->qty,
                     cols->date);
            fclose(f);
            goto out;
        }
        l.cur_invoice[0] = '\0';
        while (getline(&line, &line_cap, f) > 0) {
            if (max_rows && out->rows >= max_rows)
                break;
            out->rows++;
            char *fld[64];
            int nf = bench_csv_split(line, cols->sep, fld, 64);
            int maxc = 0;
            for (int k = 0; k < 6; k++)
                if (ci[k] > maxc)
                    maxc = ci[k];
            if (nf <= maxc) {
                out->skipped_rows++;
                continue;
            }
            const char *inv = fld[ci[0]], *sku = fld[ci[1]];
            long long qty = strtoll(fld[ci[2]], NULL, 10);
            int64_t t;
            codec_str ss = {sku, (uint32_t)strlen(sku)};
            bool cancel = cols->cancel_prefix && *cols->cancel_prefix &&
                          strncmp(inv, cols->cancel_prefix,
                                  strlen(cols->cancel_prefix)) == 0;
            if (!bench_parse_time_ms(fld[ci[3]], &t) || qty == 0 ||
                !codec_str_is_id(ss, 64) || (!cancel && qty < 0)) {
                out->skipped_rows++;
                continue;
            }
            if (qty < 0)
                qty = -qty;
            if (qty > 1000000)
                qty = 1000000;
            int64_t s = bench_rl_sku(&l, sku);
            if (s < 0)
                goto oom;
            const char *country = ci[4] >= 0 ? fld[ci[4]] : "";
            const char *cust = ci[5] >= 0 ? fld[ci[5]] : "";
            if (strcmp(inv, l.cur_invoice) != 0 || out->n_orders == 0) {
                if (!bench_rl_grow((void **)&out->orders, &l.cap_orders,
                                   out->n_orders + 1, sizeof *out->orders))
                    goto oom;
                out->orders[out->n_orders++] =
                    (bench_replay_order){.t_ms = t,
                                         .cancel = cancel,
                                         .first_line = (uint32_t)out->n_lines,
                                         .target = -1};
                snprintf(l.cur_invoice, sizeof l.cur_invoice, "%s", inv);
            }
            bench_replay_order *o = &out->orders[out->n_orders - 1];
            char key[256];
            snprintf(key, sizeof key, "%s\x1f%s", cust, sku);
            if (cancel) {
                int64_t *v = bench_smap_slot(&l.last_order, key, false);
                if (v == NULL || *v < 0 ||
                    (o->target >= 0 && o->target != *v)) {
                    out->cancel_lines_unmatched++;
                    continue;
                }
                o->target = *v;
                out->cancel_lines_matched++;
            }
            if (!bench_rl_grow((void **)&out->lines, &l.cap_lines,
                               out->n_lines + 1, sizeof *out->lines))
                goto oom;
            out->lines[out->n_lines++] = (bench_line){
                .sku = (uint32_t)s,
                .region = (uint32_t)(bench_hash(country) % l.n_regions),
                .qty = qty,
            };
            o->n_lines++;
            if (!cancel) {
                int64_t *v = bench_smap_slot(&l.last_order, key, true);
                if (v == NULL)
                    goto oom;
                *v = (int64_t)(out->n_orders - 1);
            }
        }
        fclose(f);
    }
    /* Drop empty orders (every line skipped or unmatched), keep indexes of
     * targets right, then sort by time. Targets are order indexes in
     * reading order; remember them as first_line (unique per order). */
    size_t k = 0;
    int64_t *remap = calloc(out->n_orders ? out->n_orders : 1, sizeof *remap);
    if (remap == NULL)
        goto oom;
    for (size_t i = 0; i < out->n_orders; i++) {
        remap[i] = -1;
        if (out->orders[i].n_lines == 0)
            continue;
        remap[i] = (int64_t)k;
        out->orders[k++] = out->orders[i];
    }
    out->n_orders = k;
    for (size_t i = 0; i < k; i++) {
        bench_replay_order *o = &out->orders[i];
        if (o->target >= 0) {
            int64_t t = remap[o->target];
            o->target = t >= 0 ? (int64_t)out->orders[t].first_line : -1;
        }
    }
    free(remap);
    qsort(out->orders, out->n_orders, sizeof *out->orders, bench_order_cmp);
    /* first_line -> position after the sort */
    bench_smap pos = {0};
    for (size_t i = 0; i < out->n_orders; i++) {
        char key[32];
        snprintf(key, sizeof key, "%u", out->orders[i].first_line);
        int64_t *v = bench_smap_slot(&pos, key, true);
        if (v == NULL) {
            bench_smap_free(&pos);
            goto oom;
        }
        *v = (int64_t)i;
    }
    for (size_t i = 0; i < out->n_orders; i++) {
        bench_replay_order *o = &out->orders[i];
        if (o->target < 0)
            continue;
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)o->target);
        int64_t *v = bench_smap_slot(&pos, key, false);
        o->target = v != NULL && *v < (int64_t)i ? *v : -1;
    }
    bench_smap_free(&pos);
    if (out->n_orders == 0) {
        snprintf(err, errlen, "no usable orders in the replay files");
        goto out;
    }
    out->t_first = out->orders[0].t_ms;
    out->t_last = out->orders[out->n_orders - 1].t_ms;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory reading the replay files");
out:
    free(line);
    bench_smap_free(&l.skus);
    bench_smap_free(&l.last_order);
    if (rc != 0)
        bench_replay_fini(out);
    return rc;
}

void bench_replay_fini(bench_replay *r)
{
    for (uint32_t i = 0; i < r->n_skus; i++)
        free(r->skus[i]);
    free(r->skus);
    free(r->orders);
    free(r->lines);
    memset(r, 0, sizeof *r);
}

bool bench_replay_basket(const bench_replay *r, bench_basket *b)
{
    uint32_t *sizes = malloc((r->n_orders ? r->n_orders : 1) * sizeof *sizes);
    if (sizes == NULL)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < r->n_orders; i++)
        if (!r->orders[i].cancel)
            sizes[n++] = r->orders[i].n_lines;
    bool ok = bench_basket_from_sizes(b, sizes, n);
    free(sizes);
    return ok;
}
