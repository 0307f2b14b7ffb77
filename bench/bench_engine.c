/*
 * bench_engine.c - engine micro-benchmark, no transport:
 *  1. apply rate: events/s through engine_submit -> engine thread;
 *  2. query rate and latency with the engine idle;
 *  3. the same while a producer keeps the engine busy applying events,
 *     to show that queries do not wait on ingest (lock-free readers);
 *  4. carts of --cart lines, engine idle: one engine_query per line, then
 *     engine_query_lines (the prefetching batch read), interleaved.
 * usage: bench_engine [--events N] [--queries N] [--skus N] [--batch N] [--cart
 * N] Runs bounded by its counts; prints one summary line per phase.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/clock.h"
#include "config/config.h"
#include "engine/engine.h"

static const char bench_yaml[] =
    "regions: [{id: r0}, {id: r1}, {id: r2}]\n"
    "locations:\n"
    "  - {id: L0, region: r0}\n  - {id: L1, region: r0}\n  - {id: L2, region: "
    "r0}\n"
    "  - {id: L3, region: r0}\n  - {id: L4, region: r1}\n  - {id: L5, region: "
    "r1}\n"
    "  - {id: L6, region: r1}\n  - {id: L7, region: r1}\n  - {id: L8, region: "
    "r2}\n"
    "  - {id: L9, region: r2}\n  - {id: L10, region: r2}\n  - {id: L11, "
    "region: r2}\n"
    "channels: [web, app]\n"
    "buffers:\n  - {region: r0, percent: 5}\n  - {units: 2}\n";

typedef struct bench {
    engine *eng;
    char (*skus)[16];
    uint32_t *sku_len;
    uint32_t n_skus;
    uint32_t batch;
    _Atomic bool stop;
} bench;

static uint64_t bench_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct bench_owner {
    engine_event *events;
} bench_owner;

static void bench_release(void *owner, bool applied)
{
    (void)applied;
    bench_owner *o = owner;
    free(o->events);
    free(o);
}

/* Submit n events in batches; returns how many were submitted. */
static uint64_t bench_feed(bench *b, uint64_t n, uint64_t *seed)
{
    uint64_t done = 0;
    while (done < n && !atomic_load(&b->stop)) {
        uint32_t k = b->batch;
        bench_owner *o = malloc(sizeof *o);
        o->events = malloc(k * sizeof *o->events);
        for (uint32_t i = 0; i < k; i++) {
            uint64_t r = bench_rand(seed);
            uint32_t sku = (uint32_t)(r % b->n_skus);
            o->events[i] = (engine_event){
                .kind = (r >> 40) % 20 == 0 ? ATP_EV_SET : ATP_EV_DELTA,
                .bucket = (uint8_t)((r >> 32) % 3),
                .location = (uint16_t)((r >> 48) % 12),
                .sku_len = b->sku_len[sku],
                .sku = b->skus[sku],
                .value = (int64_t)((r >> 20) % 25) - 5,
            };
        }
        engine_batch batch = {
            .events = o->events, .n = k, .release = bench_release, .owner = o};
        if (engine_submit(b->eng, &batch) != ATP_OK) {
            bench_release(o, false);
            break;
        }
        done += k;
    }
    return done;
}

/* CPU time in ns: of the whole process, and of the calling thread. Wall
 * clock on a shared 2-core machine mostly measures the neighbours; the
 * engine thread's CPU per event (process minus the producer, which is the
 * main thread, while nothing else runs) is the steadier figure. */
static int64_t bench_cpu_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *bench_producer(void *arg)
{
    bench *b = arg;
    uint64_t seed = 42;
    bench_feed(b, UINT64_MAX, &seed);
    return NULL;
}

static int bench_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return (a > c) - (a < c);
}

static void bench_queries(bench *b, uint64_t n, const char *label)
{
    int64_t *lat = malloc(n * sizeof *lat);
    uint64_t seed = 7, sink = 0;
    int64_t t0 = clock_mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = bench_rand(&seed);
        uint32_t sku = (uint32_t)(r % b->n_skus);
        int64_t s = clock_mono_ns();
        engine_answer a;
        engine_query(b->eng, b->skus[sku], b->sku_len[sku],
                     (uint32_t)((r >> 32) % 3), (uint32_t)((r >> 40) % 3), &a);
        lat[i] = clock_mono_ns() - s;
        sink += (uint64_t)a.atp;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    qsort(lat, n, sizeof *lat, bench_cmp);
    printf("%-28s %10.0f queries/s  p50 %5lld ns  p99 %6lld ns  p99.9 %7lld ns "
           " max %8lld ns (checksum %llu)\n",
           label, (double)n / secs, (long long)lat[n / 2],
           (long long)lat[n * 99 / 100], (long long)lat[n * 999 / 1000],
           (long long)lat[n - 1], (unsigned long long)sink % 1000);
    free(lat);
}

/* Carts of n random lines, each answered line by line or as one batch;
 * the two alternate per cart so both see the same machine. Lines/s. */
static void bench_carts(bench *b, uint64_t n_lines, uint32_t cart)
{
    engine_query_line *lines = malloc(cart * sizeof *lines);
    engine_answer *ans = malloc(cart * sizeof *ans);
    uint64_t seed = 11, sink = 0;
    int64_t ns[2] = {0, 0};
    uint64_t carts = n_lines / cart / 2 + 1;
    for (uint64_t c = 0; c < 2 * carts; c++) {
        for (uint32_t i = 0; i < cart; i++) {
            uint64_t r = bench_rand(&seed);
            uint32_t sku = (uint32_t)(r % b->n_skus);
            lines[i] = (engine_query_line){b->skus[sku], b->sku_len[sku],
                                           (uint32_t)((r >> 32) % 3),
                                           (uint32_t)((r >> 40) % 3)};
        }
        int batched = (int)(c & 1);
        int64_t t = clock_mono_ns();
        if (batched)
            engine_query_lines(b->eng, lines, cart, ans);
        else
            for (uint32_t i = 0; i < cart; i++)
                engine_query(b->eng, lines[i].sku, lines[i].sku_len,
                             lines[i].region, lines[i].channel, &ans[i]);
        ns[batched] += clock_mono_ns() - t;
        for (uint32_t i = 0; i < cart; i++)
            sink += (uint64_t)ans[i].atp;
    }
    double per[2];
    for (int k = 0; k < 2; k++)
        per[k] = (double)(carts * cart) * 1e9 / (double)(ns[k] ? ns[k] : 1);
    printf("%-28s %10.0f lines/s one by one   %10.0f lines/s "
           "engine_query_lines   (%.2fx; %u-line carts, checksum %llu)\n",
           "cart, engine idle", per[0], per[1], per[1] / per[0], cart,
           (unsigned long long)sink % 1000);
    free(lines);
    free(ans);
}

int main(int argc, char **argv)
{
    uint64_t n_events = 5000000, n_queries = 2000000;
    bench b = {.n_skus = 100000, .batch = 1000};
    uint32_t cart = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0)
            n_events = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--queries") == 0)
            n_queries = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--skus") == 0)
            b.n_skus = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0)
            b.batch = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--cart") == 0)
            cart = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_engine [--events N] [--queries N] "
                            "[--skus N] [--batch N] [--cart N]\n");
            return 2;
        }
    }
    if (b.n_skus == 0 || b.batch == 0 || n_queries == 0 || cart == 0) {
        fprintf(stderr, "bench_engine: counts must be positive\n");
        return 2;
    }
    config cfg;
    config_diags d = {0};
    if (config_load_string(bench_yaml, sizeof bench_yaml - 1, &cfg, &d) !=
        ATP_OK) {
        fprintf(stderr, "bench_engine: bad built-in config\n");
        return 1;
    }
    config_diags_fini(&d);
    b.skus = malloc((size_t)b.n_skus * sizeof *b.skus);
    b.sku_len = malloc((size_t)b.n_skus * sizeof *b.sku_len);
    for (uint32_t i = 0; i < b.n_skus; i++)
        b.sku_len[i] =
            (uint32_t)snprintf(b.skus[i], sizeof b.skus[i], "SKU-%u", i);
    if (engine_alloc(&cfg, NULL, &b.eng) != ATP_OK ||
        engine_start(b.eng) != ATP_OK) {
        fprintf(stderr, "bench_engine: engine start failed\n");
        return 1;
    }
    uint64_t seed = 1;
    int64_t t0 = clock_mono_ns();
    int64_t cpu0 = bench_cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t prod0 = bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t done = bench_feed(&b, n_events, &seed);
    engine_sync(b.eng);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    int64_t prod_ns = bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - prod0;
    int64_t eng_ns = bench_cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0 - prod_ns;
    engine_stats st;
    engine_stats_get(b.eng, &st);
    printf("%-28s %10.0f events/s   (%llu events, batch %u, %llu SKUs, %llu "
           "positions, %.1f MB engine memory)\n",
           "apply (submit+engine)", (double)done / secs,
           (unsigned long long)done, b.batch, (unsigned long long)st.skus,
           (unsigned long long)st.positions, (double)st.memory_bytes / 1e6);
    printf("%-28s %10.1f ns/event engine thread   %6.1f ns/event producer   "
           "(%.0f events/s per engine-thread CPU second)\n",
           "  (CPU time)", (double)eng_ns / (double)done,
           (double)prod_ns / (double)done,
           eng_ns > 0 ? (double)done * 1e9 / (double)eng_ns : 0.0);

    bench_queries(&b, n_queries, "query, engine idle");
    bench_carts(&b, n_queries, cart);
    pthread_t prod;
    pthread_create(&prod, NULL, bench_producer, &b);
    engine_stats before;
    engine_stats_get(b.eng, &before);
    int64_t q0 = clock_mono_ns();
    bench_queries(&b, n_queries, "query, engine applying");
    double qsecs = (double)(clock_mono_ns() - q0) / 1e9;
    engine_stats after;
    engine_stats_get(b.eng, &after);
    atomic_store(&b.stop, true);
    pthread_join(prod, NULL);
    printf("%-28s %10.0f events/s applied meanwhile\n", "  (concurrent ingest)",
           (double)(after.events_applied - before.events_applied) / qsecs);
    engine_stop(b.eng);
    engine_free(b.eng);
    free(b.skus);
    free(b.sku_len);
    config_fini(&cfg);
    return 0;
}
