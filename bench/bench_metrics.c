/*
 * bench_metrics.c - what timing one request costs (docs/PERFORMANCE.md,
 * "Metrics overhead"): the two monotonic clock reads a transport makes
 * per request plus one histogram observation, then the observation
 * alone, single-threaded, then with two threads observing into the same
 * histogram at once (their own stripes).
 * usage: bench_metrics [--n N]   (default 10,000,000 per phase; bounded)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "metrics/metrics.h"

static uint64_t bench_n = 10000000;

static void *bench_metrics_observe_loop(void *arg)
{
    metrics_hist *h = arg;
    for (uint64_t i = 0; i < bench_n; i++)
        metrics_hist_observe(h, (i & 1023) * 1000);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            bench_n = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_metrics [--n N]\n");
            return 2;
        }
    }
    if (bench_n == 0 || bench_n > UINT64_C(1000000000))
        bench_n = 10000000;
    metrics_hist *h = aligned_alloc(64, sizeof *h);
    if (h == NULL)
        return 1;
    memset(h, 0, sizeof *h);

    int64_t t0 = clock_mono_ns();
    for (uint64_t i = 0; i < bench_n; i++) {
        int64_t a = clock_mono_ns();
        metrics_hist_observe(h, (uint64_t)(clock_mono_ns() - a));
    }
    int64_t t1 = clock_mono_ns();
    printf("clock pair + observe: %.1f ns per request\n",
           (double)(t1 - t0) / (double)bench_n);

    t0 = clock_mono_ns();
    bench_metrics_observe_loop(h);
    t1 = clock_mono_ns();
    printf("observe only, 1 thread: %.1f ns\n",
           (double)(t1 - t0) / (double)bench_n);

    pthread_t th[2];
    t0 = clock_mono_ns();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, bench_metrics_observe_loop, h) != 0)
            return 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    t1 = clock_mono_ns();
    printf(
        "observe only, 2 threads at once: %.1f ns per observation (wall / n)\n",
        (double)(t1 - t0) / (double)bench_n);
    metrics_hist_sum s = {0};
    metrics_hist_read(h, &s);
    printf("observations: %llu (expected %llu)\n", (unsigned long long)s.count,
           (unsigned long long)(4 * bench_n));
    free(h);
    return s.count == 4 * bench_n ? 0 : 1;
}
