/*
 * metrics.c - latency histograms and the Prometheus text writer
 * (metrics.h). Any thread; histograms are lock-free, a metrics_text
 * belongs to its caller.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint64_t metrics_bounds_ns[METRICS_BOUNDS] = {
    25000,    50000,     100000,    250000,    500000,
    1000000,  2500000,   5000000,   10000000,  25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000,
};
const char *const metrics_bounds_le[METRICS_BOUNDS] = {
    "2.5e-05", "5e-05",  "0.0001", "0.00025", "0.0005",
    "0.001",   "0.0025", "0.005",  "0.01",    "0.025",
    "0.05",    "0.1",    "0.25",   "0.5",     "1",
};

static _Atomic unsigned metrics_stripe_next;
static _Thread_local unsigned metrics_stripe_mine; /* 0: none yet, else 1+i */

unsigned metrics_stripe_self(void)
{
    if (metrics_stripe_mine == 0)
        metrics_stripe_mine =
            1 + atomic_fetch_add_explicit(&metrics_stripe_next, 1,
                                          memory_order_relaxed) %
                    METRICS_STRIPES;
    return metrics_stripe_mine - 1;
}

void metrics_hist_observe(metrics_hist *h, uint64_t ns)
{
    unsigned b = 0;
    while (b < METRICS_BOUNDS && ns > metrics_bounds_ns[b])
        b++;
    metrics_stripe *s = &h->s[metrics_stripe_self()];
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, ns, memory_order_relaxed);
}

void metrics_hist_read(const metrics_hist *h, metrics_hist_sum *out)
{
    for (unsigned i = 0; i < METRICS_STRIPES; i++) {
        const metrics_stripe *s = &h->s[i];
        for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
            uint64_t n =
                atomic_load_explicit(&s->bucket[b], memory_order_relaxed);
            out->bucket[b] += n;
            out->count += n;
        }
        out->sum_ns += atomic_load_explicit(&s->sum_ns, memory_order_relaxed);
    }
}

uint64_t metrics_hist_quantile_us(const metrics_hist_sum *s, double q)
{
    if (s->count == 0)
        return 0;
    double rank = q * (double)s->count, below = 0;
    for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
        double n = (double)s->bucket[b];
        if (n > 0 && below + n >= rank) {
            if (b == METRICS_BOUNDS) /* +Inf: the largest bound we know */
                return metrics_bounds_ns[METRICS_BOUNDS - 1] / 1000;
            double lo = b == 0 ? 0 : (double)metrics_bounds_ns[b - 1];
            double hi = (double)metrics_bounds_ns[b];
            double ns = lo + (hi - lo) * ((rank - below) / n);
            return (uint64_t)(ns / 1000.0 + 0.5);
        }
        below += n;
    }
    return metrics_bounds_ns[METRICS_BOUNDS - 1] / 1000; /* not reached */
}

/* ---- text ---------------------------------------------------------------- */

void metrics_text_init(metrics_text *t)
{
    memset(t, 0, sizeof *t);
}

void metrics_text_fini(metrics_text *t)
{
    free(t->buf);
    metrics_text_init(t);
}

/* metrics_text_room makes room for n more bytes plus a NUL. */
static bool metrics_text_room(metrics_text *t, size_t n)
{
    if (t->failed)
        return false;
    if (t->len + n + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL) {
        t->failed = true;
        return false;
    }
    t->buf = b;
    t->cap = cap;
    return true;
}

static void metrics_text_put(metrics_text *t, const char *s, size_t n)
{
    if (!metrics_text_room(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void metrics_text_cstr(metrics_text *t, const char *s)
{
    metrics_text_put(t, s, strlen(s));
}

static void metrics_text_printf(metrics_text *t, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        metrics_text_put(t, tmp,
                         (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* metrics_text_escaped writes s with backslash and newline escaped, and
 * the double quote too in a label value (the format's two rules). */
static void metrics_text_escaped(metrics_text *t, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            metrics_text_put(t, "\\\\", 2);
        else if (*s == '\n')
            metrics_text_put(t, "\\n", 2);
        else if (*s == '"' && quote)
            metrics_text_put(t, "\\\"", 2);
        else
            metrics_text_put(t, s, 1);
    }
}

void metrics_text_family(metrics_text *t, const char *name, const char *type,
                         const char *help)
{
    metrics_text_cstr(t, "# HELP ");
    metrics_text_cstr(t, name);
    metrics_text_put(t, " ", 1);
    metrics_text_escaped(t, help, false);
    metrics_text_cstr(t, "\n# TYPE ");
    metrics_text_cstr(t, name);
    metrics_text_put(t, " ", 1);
    metrics_text_cstr(t, type);
    metrics_text_put(t, "\n", 1);
}

/* metrics_text_head writes "name{a="x",b="y"} " (no braces without
 * labels). */
static void metrics_text_head(metrics_text *t, const char *name,
                              const char *suffix, const metrics_label *l,
                              size_t n)
{
    metrics_text_cstr(t, name);
    metrics_text_cstr(t, suffix);
    for (size_t i = 0; i < n; i++) {
        metrics_text_put(t, i == 0 ? "{" : ",", 1);
        metrics_text_cstr(t, l[i].name);
        metrics_text_put(t, "=\"", 2);
        metrics_text_escaped(t, l[i].value, true);
        metrics_text_put(t, "\"", 1);
    }
    metrics_text_cstr(t, n > 0 ? "} " : " ");
}

void metrics_text_uint(metrics_text *t, const char *name,
                       const metrics_label *l, size_t n, uint64_t v)
{
    metrics_text_head(t, name, "", l, n);
    metrics_text_printf(t, "%llu\n", (unsigned long long)v);
}

void metrics_text_double(metrics_text *t, const char *name,
                         const metrics_label *l, size_t n, double v)
{
    metrics_text_head(t, name, "", l, n);
    if (isnan(v))
        metrics_text_cstr(t, "NaN\n");
    else if (isinf(v))
        metrics_text_cstr(t, v > 0 ? "+Inf\n" : "-Inf\n");
    else
        metrics_text_printf(t, "%.17g\n", v);
}

void metrics_text_hist(metrics_text *t, const char *name,
                       const metrics_label *l, size_t n,
                       const metrics_hist_sum *s)
{
    metrics_label ls[8];
    if (n >= 8) { /* a programming error: write what fits */
        n = 7;
    }
    if (n > 0) /* l may be NULL when there are no labels */
        memcpy(ls, l, n * sizeof *l);
    uint64_t cum = 0;
    for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
        cum += s->bucket[b];
        ls[n] = (metrics_label){"le", b < METRICS_BOUNDS ? metrics_bounds_le[b]
                                                         : "+Inf"};
        metrics_text_head(t, name, "_bucket", ls, n + 1);
        metrics_text_printf(t, "%llu\n", (unsigned long long)cum);
    }
    metrics_text_head(t, name, "_sum", l, n);
    metrics_text_printf(t, "%.9f\n", (double)s->sum_ns / 1e9);
    metrics_text_head(t, name, "_count", l, n);
    metrics_text_printf(t, "%llu\n", (unsigned long long)cum);
}
