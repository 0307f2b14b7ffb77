/*
 * bench_hist.c - log-linear latency histograms (see bench_hist.h).
 * Any thread: recording uses relaxed atomics only.
 */
#include "bench_hist.h"

#include <stddef.h>

static unsigned bench_hist_index(uint64_t v, unsigned sub_bits)
{
    uint64_t lim = (uint64_t)1 << BENCH_HIST_MAX_BITS;
    if (v >= lim)
        v = lim - 1;
    if (v < ((uint64_t)1 << (sub_bits + 1)))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
    unsigned shift = e - sub_bits;
    return ((shift) << sub_bits) + (unsigned)(v >> shift);
}

/* The middle of bucket idx, in ns. */
static double bench_hist_mid(unsigned idx, unsigned sub_bits)
{
    unsigned per = 1u << sub_bits;
    if (idx < 2 * per)
        return (double)idx;
    unsigned k = idx >> sub_bits; /* >= 2 */
    unsigned shift = k - 1;
    uint64_t m = (idx & (per - 1)) | per;
    uint64_t low = m << shift;
    return (double)low + (double)((uint64_t)1 << shift) / 2.0;
}

void bench_hist_record(bench_hist *h, int64_t ns)
{
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
    atomic_fetch_add_explicit(&h->b[bench_hist_index(v, BENCH_HIST_SUB_BITS)],
                              1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, v, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    while (v > m &&
           !atomic_compare_exchange_weak_explicit(
               &h->max_ns, &m, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

static double bench_pct(const _Atomic uint64_t *b32,
                        const _Atomic uint32_t *b16, unsigned n,
                        unsigned sub_bits, uint64_t count, double q)
{
    if (count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < n; i++) {
        seen += b32 ? atomic_load_explicit(&b32[i], memory_order_relaxed)
                    : atomic_load_explicit(&b16[i], memory_order_relaxed);
        if (seen >= rank)
            return bench_hist_mid(i, sub_bits) / 1000.0;
    }
    return bench_hist_mid(n - 1, sub_bits) / 1000.0;
}

double bench_hist_pct_us(const bench_hist *h, double q)
{
    uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
    if (q >= 1.0)
        return bench_hist_max_us(h);
    double v = bench_pct(h->b, NULL, BENCH_HIST_BUCKETS, BENCH_HIST_SUB_BITS,
                         count, q);
    double mx = bench_hist_max_us(h);
    return v > mx ? mx : v;
}

double bench_hist_max_us(const bench_hist *h)
{
    return (double)atomic_load_explicit(&h->max_ns, memory_order_relaxed) /
           1000.0;
}

double bench_hist_mean_us(const bench_hist *h)
{
    uint64_t c = atomic_load_explicit(&h->count, memory_order_relaxed);
    return c ? (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) /
                   (double)c / 1000.0
             : 0;
}

void bench_sec_record(bench_sec *s, int64_t ns, int error)
{
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
    atomic_fetch_add_explicit(&s->b[bench_hist_index(v, BENCH_SEC_SUB_BITS)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    if (error)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
}

double bench_sec_pct_us(const bench_sec *s, double q)
{
    return bench_pct(NULL, s->b, BENCH_SEC_BUCKETS, BENCH_SEC_SUB_BITS,
                     atomic_load_explicit(&s->count, memory_order_relaxed), q);
}
