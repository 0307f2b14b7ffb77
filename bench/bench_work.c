/*
 * bench_work.c - workload model and atpd request encoding (bench_work.h).
 * Pure code; the codec is the only thing that touches msgpack.
 */
#include "bench_work.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "common/clock.h"

static const char *const bench_op_names[BENCH_OP_COUNT] = {
    "atp", "cart", "reserve", "commit", "release",
};

const char *bench_op_name(unsigned op)
{
    return op < BENCH_OP_COUNT ? bench_op_names[op] : "?";
}

static char **bench_strv_copy(char *const *v, uint32_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (out == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        if ((out[i] = strdup(v[i])) == NULL) {
            for (uint32_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* bench_lens returns the lengths of v[0..n), NULL on out of memory. */
static uint32_t *bench_lens(char *const *v, uint32_t n)
{
    uint32_t *len = calloc(n ? n : 1, sizeof *len);
    for (uint32_t i = 0; len != NULL && i < n; i++)
        len[i] = (uint32_t)strlen(v[i]);
    return len;
}

static void bench_strv_free(char **v, uint32_t n)
{
    if (v == NULL)
        return;
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

bool bench_work_init(bench_work *w, const char *sku_prefix, uint32_t n_skus,
                     char *const *regions, uint32_t n_regions,
                     const char *channel)
{
    memset(w, 0, sizeof *w);
    w->committed_ttl_ms = 7LL * 24 * 3600 * 1000;
    w->skus = calloc(n_skus ? n_skus : 1, sizeof *w->skus);
    w->regions = bench_strv_copy(regions, n_regions);
    if (w->regions != NULL)
        w->n_regions = n_regions; /* from here on, fini frees them */
    w->channel = strdup(channel);
    if (w->skus == NULL || w->regions == NULL || w->channel == NULL)
        goto fail;
    for (uint32_t i = 0; i < n_skus; i++) {
        char buf[80];
        snprintf(buf, sizeof buf, "%s%u", sku_prefix, i);
        if ((w->skus[i] = strdup(buf)) == NULL)
            goto fail;
        w->n_skus = i + 1;
    }
    if ((w->sku_len = bench_lens(w->skus, w->n_skus)) == NULL ||
        (w->region_len = bench_lens(w->regions, w->n_regions)) == NULL)
        goto fail;
    return true;
fail:
    bench_work_fini(w);
    return false;
}

bool bench_work_set_skus(bench_work *w, char *const *names, uint32_t n)
{
    char **copy = bench_strv_copy(names, n);
    uint32_t *len = copy ? bench_lens(copy, n) : NULL;
    if (len == NULL) {
        bench_strv_free(copy, n);
        return false;
    }
    bench_strv_free(w->skus, w->n_skus);
    free(w->sku_len);
    w->skus = copy;
    w->sku_len = len;
    w->n_skus = n;
    return true;
}

void bench_work_fini(bench_work *w)
{
    bench_strv_free(w->skus, w->n_skus);
    bench_strv_free(w->regions, w->n_regions);
    free(w->sku_len);
    free(w->region_len);
    free(w->channel);
    memset(w, 0, sizeof *w);
}

bench_req *bench_req_alloc(uint8_t op, uint32_t n_lines)
{
    bench_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->op = op;
    r->n_lines = n_lines;
    if (n_lines > 0 && (r->lines = calloc(n_lines, sizeof *r->lines)) == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void bench_req_free(bench_req *r)
{
    if (r == NULL)
        return;
    if (!r->lines_shared)
        free(r->lines);
    free(r);
}

int bench_resv_id(const bench_work *w, uint64_t n, char *buf, size_t len)
{
    return snprintf(buf, len, "%s%llu", w->resv_prefix, (unsigned long long)n);
}

/* bench_w_split: a split reserve line's regions (--reserve-fill split):
 * its own, then the next; false when the SKU is in another line too (a
 * split line's SKU is in no other line), there is one region, or the
 * cart's lines split would pass max_lines (each split line counts once
 * per region: too_many_lines). */
static bool bench_w_split(const bench_work *w, const bench_req *r, uint32_t i)
{
    if (w->fill != BENCH_FILL_SPLIT || w->n_regions < 2 ||
        (w->max_lines > 0 && 2 * r->n_lines > w->max_lines))
        return false;
    for (uint32_t j = 0; j < r->n_lines; j++)
        if (j != i && r->lines[j].sku == r->lines[i].sku)
            return false;
    return true;
}

static void bench_w_lines(const bench_work *w, const bench_req *r,
                          codec_writer *cw, bool with_qty)
{
    codec_w_array(cw, r->n_lines);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        const bench_line *l = &r->lines[i];
        codec_w_array(cw, with_qty ? 3 : 2);
        codec_w_str(cw, w->skus[l->sku], w->sku_len[l->sku]);
        if (with_qty && bench_w_split(w, r, i)) {
            uint32_t next = (l->region + 1) % w->n_regions;
            codec_w_array(cw, 2);
            codec_w_str(cw, w->regions[l->region], w->region_len[l->region]);
            codec_w_str(cw, w->regions[next], w->region_len[next]);
        } else {
            codec_w_str(cw, w->regions[l->region], w->region_len[l->region]);
        }
        if (with_qty)
            codec_w_int(cw, l->qty);
    }
}

/* bench_w_map opens a request map of n entries, with the token first when
 * the workload has one. */
static void bench_w_map(const bench_work *w, codec_writer *cw, uint32_t n)
{
    codec_w_map(cw, n + (w->token != NULL));
    if (w->token != NULL)
        codec_w_kv_cstr(cw, "token", w->token);
}

void bench_encode_atpd(const bench_work *w, const bench_req *r,
                       codec_writer *cw)
{
    char id[96];
    switch (r->op) {
    case BENCH_OP_ATP: {
        const bench_line *l = &r->lines[0];
        bench_w_map(w, cw, w->promise ? 6 : 4);
        codec_w_kv_cstr(cw, "op", w->promise ? "promise" : "atp");
        if (w->promise) { /* the earliest date of 1, and atp_on a week on */
            codec_w_kv_int(cw, "qty", 1);
            codec_w_kv_int(cw, "date_ms", clock_wall_ms() + 7 * 86400000LL);
        }
        char kit[96];
        if (w->kits)
            snprintf(kit, sizeof kit, "KIT-%s", w->skus[l->sku]);
        codec_w_kv_cstr(cw, "sku", w->kits ? kit : w->skus[l->sku]);
        codec_w_kv_cstr(cw, "region", w->regions[l->region]);
        codec_w_kv_cstr(cw, "channel", w->channel);
        break;
    }
    case BENCH_OP_CART:
        bench_w_map(w, cw, 3);
        codec_w_kv_cstr(cw, "op", "cart");
        codec_w_kv_cstr(cw, "channel", w->channel);
        codec_w_cstr(cw, "lines");
        bench_w_lines(w, r, cw, true);
        break;
    case BENCH_OP_RESERVE:
        bench_resv_id(w, r->resv, id, sizeof id);
        bench_w_map(w, cw,
                    (r->ttl_ms > 0 ? 5 : 4) +
                        (w->fill == BENCH_FILL_PARTIAL ||
                         w->fill == BENCH_FILL_BACKORDER));
        codec_w_kv_cstr(cw, "op", "reserve");
        if (w->fill == BENCH_FILL_PARTIAL)
            codec_w_kv_bool(cw, "partial", true);
        if (w->fill == BENCH_FILL_BACKORDER)
            codec_w_kv_bool(cw, "backorder", true);
        codec_w_kv_cstr(cw, "id", id);
        codec_w_kv_cstr(cw, "channel", w->channel);
        if (r->ttl_ms > 0)
            codec_w_kv_int(cw, "ttl_ms", r->ttl_ms);
        codec_w_cstr(cw, "lines");
        bench_w_lines(w, r, cw, true);
        break;
    case BENCH_OP_COMMIT:
        bench_resv_id(w, r->resv, id, sizeof id);
        bench_w_map(w, cw, 2);
        codec_w_kv_cstr(cw, "op", "commit");
        codec_w_kv_cstr(cw, "id", id);
        break;
    case BENCH_OP_RELEASE:
        bench_resv_id(w, r->resv, id, sizeof id);
        bench_w_map(w, cw, r->release_lines ? 3 : 2);
        codec_w_kv_cstr(cw, "op", "release");
        codec_w_kv_cstr(cw, "id", id);
        if (r->release_lines) {
            codec_w_cstr(cw, "lines");
            bench_w_lines(w, r, cw, false);
        }
        break;
    default:
        codec_w_nil(cw);
    }
}

void bench_classify_atpd(const void *buf, size_t len, uint8_t op,
                         uint8_t *status, int *err_code)
{
    /* Read in place, like atpd reads requests: decoding a tree per reply
     * cost the client more CPU than encoding the request, and on two cores
     * the client's CPU is taken from the server under test. */
    codec_view v;
    *status = BENCH_ST_ERROR;
    *err_code = ATP_E_BAD_REQUEST;
    if (codec_view_root(buf, len, &v) != ATP_OK ||
        codec_view_type(v) != CODEC_MAP)
        return;
    bool ok = false;
    if (!codec_view_bool(codec_view_get(v, "ok"), &ok))
        return;
    if (!ok) {
        int64_t code = ATP_E_INTERNAL;
        codec_view_int(codec_view_get(codec_view_get(v, "error"), "code"),
                       &code);
        *err_code = (int)code;
        return;
    }
    *err_code = ATP_OK;
    bool yes = true;
    if (op == BENCH_OP_RESERVE)
        codec_view_bool(codec_view_get(v, "granted"), &yes);
    else if (op == BENCH_OP_CART)
        codec_view_bool(codec_view_get(v, "available"), &yes);
    *status = yes ? BENCH_ST_OK : BENCH_ST_REFUSED;
}

/* ---- random numbers --------------------------------------------------- */

uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

double bench_rng_unit(bench_rng *r)
{
    return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53;
}

void bench_basket_default(bench_basket *b)
{
    /* UCI Online Retail (2010-12 .. 2011-12), lines per invoice. */
    static const double q[] = {0, 0.5, 0.9, 0.99, 0.999, 1.0};
    static const double v[] = {1, 15, 53, 217, 600, 1114};
    b->n = 6;
    memcpy(b->q, q, sizeof q);
    memcpy(b->v, v, sizeof v);
}

static int bench_u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return (a > c) - (a < c);
}

bool bench_basket_from_sizes(bench_basket *b, uint32_t *sizes, size_t n)
{
    if (n == 0)
        return false;
    qsort(sizes, n, sizeof *sizes, bench_u32_cmp);
    static const double q[] = {0,    0.1,  0.25,  0.5,   0.75, 0.9,
                               0.95, 0.99, 0.995, 0.999, 1.0};
    b->n = sizeof q / sizeof q[0];
    for (unsigned i = 0; i < b->n; i++) {
        size_t k = (size_t)(q[i] * (double)(n - 1) + 0.5);
        b->q[i] = q[i];
        b->v[i] = sizes[k] < 1 ? 1 : sizes[k];
    }
    return true;
}

double bench_basket_quantile(const bench_basket *b, double u)
{
    for (unsigned i = 1; i < b->n; i++) {
        if (u <= b->q[i]) {
            double f = (u - b->q[i - 1]) / (b->q[i] - b->q[i - 1]);
            return exp(log(b->v[i - 1]) +
                       f * (log(b->v[i]) - log(b->v[i - 1])));
        }
    }
    return b->v[b->n - 1];
}

uint32_t bench_basket_draw(const bench_basket *b, bench_rng *r, uint32_t cap)
{
    double x = bench_basket_quantile(b, bench_rng_unit(r));
    uint32_t n = (uint32_t)(x + 0.5);
    if (n < 1)
        n = 1;
    if (cap > 0 && n > cap)
        n = cap;
    return n;
}

uint32_t bench_sku_pick(bench_rng *r, uint32_t lo, uint32_t hi)
{
    uint32_t span = hi > lo ? hi - lo : 1;
    uint32_t hot = span / 5 ? span / 5 : 1;
    uint64_t x = bench_rng_next(r);
    if ((x & 1023) < 819) /* 80 % */
        return lo + (uint32_t)bench_rng_below(r, hot);
    return lo + (uint32_t)bench_rng_below(r, span);
}
