/*
 * bench_cpu.h - what the single-threaded micro-benchmarks (bench_json,
 * bench_source_mac) share: thread CPU time, the median of rounds of at
 * least 0.2 s each, and their two options (a list of sizes, --rounds).
 * Header only: each is one program of one .c file.
 */
#ifndef ATP_BENCH_CPU_H
#define ATP_BENCH_CPU_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* bench_cpu_ns: the calling thread's CPU time in ns. */
static inline double bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cpu_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* bench_cpu_median_ns: the median over rounds (1..64) rounds of the CPU
 * ns per call of fn(ctx), each round at least 0.2 s (or 10M calls). A call
 * returning false stops the program (exit 1, naming prog): a broken
 * benchmark must not print numbers. */
static inline double bench_cpu_median_ns(const char *prog, bool (*fn)(void *),
                                         void *ctx, int rounds)
{
    double per[64];
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++) {
        unsigned long calls = 0;
        double t0 = bench_cpu_ns(), t;
        do {
            if (!fn(ctx)) {
                fprintf(stderr, "%s: a call failed\n", prog);
                exit(1);
            }
            calls++;
        } while ((t = bench_cpu_ns()) - t0 < 2e8 && calls < 10000000);
        per[r] = (t - t0) / (double)calls;
    }
    qsort(per, (size_t)rounds, sizeof per[0], bench_cpu_cmp);
    return per[rounds / 2];
}

/* bench_cpu_args reads "[LIST_OPT N,N,...] [--rounds N]" into *list and
 * *rounds (at least 1). Returns 0, or 2 after printing the usage. */
static inline int bench_cpu_args(int argc, char **argv, const char *prog,
                                 const char *list_opt, const char **list,
                                 int *rounds)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], list_opt) == 0 && i + 1 < argc) {
            *list = argv[++i];
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            *rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [%s N,N,...] [--rounds N]\n", prog,
                    list_opt);
            return 2;
        }
    }
    if (*rounds < 1)
        *rounds = 1;
    return 0;
}

#endif
