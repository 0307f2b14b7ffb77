/*
 * metrics.h - the pure parts of atpd's metrics: a latency histogram cheap
 * enough for every request, and a writer of the Prometheus text exposition
 * format (version 0.0.4). No I/O, no other module: the gathering of
 * atpd's counters lives with their owners (server/request_metrics.c).
 */
#ifndef ATP_METRICS_H
#define ATP_METRICS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- histogram -----------------------------------------------------------
 * Fixed buckets (Prometheus style, upper bounds in seconds, 25 us .. 1 s,
 * then +Inf). Observations go to one of METRICS_STRIPES stripes chosen by
 * the calling thread (each thread keeps the stripe it was given first), so
 * threads seldom share a cache line; each stripe is relaxed atomic adds,
 * no lock. A read sums the stripes: a read concurrent with observations
 * may see an observation's bucket and not yet its sum, never a torn
 * count (the count is the sum of the buckets). */
#define METRICS_BOUNDS 15
#define METRICS_BUCKETS (METRICS_BOUNDS + 1) /* the last one: +Inf */
#define METRICS_STRIPES 8

/* The upper bounds in nanoseconds, increasing, and as Prometheus "le"
 * label values ("2.5e-05" ...). */
extern const uint64_t metrics_bounds_ns[METRICS_BOUNDS];
extern const char *const metrics_bounds_le[METRICS_BOUNDS];

typedef struct metrics_stripe {
    alignas(64) _Atomic uint64_t bucket[METRICS_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum_ns;
} metrics_stripe;

/* Zeroed memory is an empty histogram. Storage of at least 64-byte
 * alignment keeps stripes apart (aligned_alloc; calloc works, slower). */
typedef struct metrics_hist {
    metrics_stripe s[METRICS_STRIPES];
} metrics_hist;

/* What a read gives: per-bucket counts (not cumulative), their total, and
 * the sum of the observations. */
typedef struct metrics_hist_sum {
    uint64_t bucket[METRICS_BUCKETS];
    uint64_t count;
    uint64_t sum_ns;
} metrics_hist_sum;

/* metrics_stripe_self: the calling thread's stripe, 0..METRICS_STRIPES-1,
 * given on its first call round-robin. Any thread. */
unsigned metrics_stripe_self(void);

/* metrics_hist_observe adds one observation of ns nanoseconds. Any
 * thread, lock-free. */
void metrics_hist_observe(metrics_hist *h, uint64_t ns);

/* metrics_hist_read adds h's stripes into *out (zero it first to read one
 * histogram; read several into one to merge them). Any thread. */
void metrics_hist_read(const metrics_hist *h, metrics_hist_sum *out);

/* metrics_hist_quantile_us estimates the q-quantile (0 < q <= 1) in
 * microseconds, rounded: linear within the bucket that holds it (from 0
 * for the first), and the largest finite bound for +Inf. 0 when empty. */
uint64_t metrics_hist_quantile_us(const metrics_hist_sum *s, double q);

/* ---- text exposition writer ----------------------------------------------
 * A growing buffer of exposition text. Names must be valid metric and
 * label names (the caller's constants); label values and help texts are
 * escaped here (backslash, double quote in values, newline). Out of
 * memory sets failed and stops writing: check it once at the end. */
typedef struct metrics_text {
    char *buf;
    size_t len, cap;
    bool failed;
} metrics_text;

typedef struct metrics_label {
    const char *name;
    const char *value; /* any bytes up to NUL; escaped */
} metrics_label;

/* metrics_text_init / _fini: caller's storage; fini frees the buffer. */
void metrics_text_init(metrics_text *t);
void metrics_text_fini(metrics_text *t);

/* metrics_text_family writes the "# HELP" and "# TYPE" lines of a family
 * (type "counter", "gauge" or "histogram"); its samples follow. */
void metrics_text_family(metrics_text *t, const char *name, const char *type,
                         const char *help);
/* metrics_text_uint / _double write one sample "name{labels} value". */
void metrics_text_uint(metrics_text *t, const char *name,
                       const metrics_label *l, size_t n, uint64_t v);
void metrics_text_double(metrics_text *t, const char *name,
                         const metrics_label *l, size_t n, double v);
/* metrics_text_hist writes the samples of one histogram (name_bucket with
 * le, cumulative; name_sum in seconds; name_count); labels l[0..n) come
 * before le (n < 8). */
void metrics_text_hist(metrics_text *t, const char *name,
                       const metrics_label *l, size_t n,
                       const metrics_hist_sum *s);

#endif
