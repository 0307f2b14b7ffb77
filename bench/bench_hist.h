/*
 * bench_hist.h - latency histograms for atp-bench.
 *
 * Log-linear buckets (HdrHistogram's layout): values below 2^(sub_bits+1)
 * have their own bucket, above that every power of two is split into
 * 2^sub_bits buckets, so the relative error is below 2^-sub_bits. Values
 * are nanoseconds; anything beyond ~73 minutes lands in the last bucket.
 *
 * Recording is lock-free (relaxed atomic adds) and may run on any number of
 * threads at once; reading (percentiles) is meant for after the run or for a
 * progress line, where a slightly torn view does not matter.
 */
#ifndef ATP_BENCH_HIST_H
#define ATP_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define BENCH_HIST_MAX_BITS 42 /* 2^42 ns ~ 73 min */

/* Precise histogram: 64 buckets per octave (error < 1.6 %). */
#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_BUCKETS                                                     \
    ((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

/* Coarse per-second histogram for the time series: 4 per octave (< 25 %). */
#define BENCH_SEC_SUB_BITS 2
#define BENCH_SEC_BUCKETS                                                      \
    ((BENCH_HIST_MAX_BITS - BENCH_SEC_SUB_BITS + 1) << BENCH_SEC_SUB_BITS)

typedef struct bench_hist {
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t max_ns;
    _Atomic uint64_t b[BENCH_HIST_BUCKETS];
} bench_hist;

/* One second of one operation: how many completed, and their latencies. */
typedef struct bench_sec {
    _Atomic uint32_t count;
    _Atomic uint32_t errors;
    _Atomic uint32_t b[BENCH_SEC_BUCKETS];
} bench_sec;

/* bench_hist_record adds one latency (ns; negative counts as 0). */
void bench_hist_record(bench_hist *h, int64_t ns);
/* bench_hist_merge adds src into dst (not concurrently with recording). */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);
/* bench_hist_pct_us returns the q-quantile (0 < q <= 1) in microseconds, the
 * middle of its bucket (q == 1: the exact maximum); 0 when empty. */
double bench_hist_pct_us(const bench_hist *h, double q);
double bench_hist_max_us(const bench_hist *h);
double bench_hist_mean_us(const bench_hist *h);

void bench_sec_record(bench_sec *s, int64_t ns, int error);
double bench_sec_pct_us(const bench_sec *s, double q);

#endif
