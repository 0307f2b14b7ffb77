/*
 * test_metrics.c - src/metrics/metrics.c: a histogram puts an observation
 * in the first bucket whose bound it does not exceed (bounds inclusive, as
 * Prometheus' "le"), loses none when threads observe at once, and
 * estimates quantiles within the bucket; the text writer writes the
 * exposition format exactly, escaping label values and help texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

static metrics_hist *hist_new(void)
{
    metrics_hist *h = aligned_alloc(64, sizeof *h);
    assert_non_null(h);
    memset(h, 0, sizeof *h);
    return h;
}

static metrics_hist_sum hist_sum(const metrics_hist *h)
{
    metrics_hist_sum s;
    memset(&s, 0, sizeof s);
    metrics_hist_read(h, &s);
    return s;
}

static void test_metrics_buckets(void **state)
{
    (void)state;
    for (unsigned b = 1; b < METRICS_BOUNDS; b++)
        assert_true(metrics_bounds_ns[b - 1] < metrics_bounds_ns[b]);
    for (unsigned b = 0; b < METRICS_BOUNDS; b++) {
        metrics_hist *h = hist_new();
        metrics_hist_observe(h, metrics_bounds_ns[b]); /* on the bound: in */
        metrics_hist_observe(h, metrics_bounds_ns[b] + 1); /* past it: next */
        metrics_hist_sum s = hist_sum(h);
        assert_int_equal(s.bucket[b], 1);
        assert_int_equal(s.bucket[b + 1], 1);
        assert_int_equal(s.count, 2);
        assert_int_equal(s.sum_ns, 2 * metrics_bounds_ns[b] + 1);
        free(h);
    }
    metrics_hist *h = hist_new();
    metrics_hist_observe(h, 0);
    metrics_hist_observe(h, UINT64_C(5000000000)); /* 5 s: +Inf */
    metrics_hist_sum s = hist_sum(h);
    assert_int_equal(s.bucket[0], 1);
    assert_int_equal(s.bucket[METRICS_BOUNDS], 1);
    /* Reading twice into one sum merges. */
    metrics_hist_read(h, &s);
    assert_int_equal(s.count, 4);
    free(h);
}

#define THREADS 6
#define PER_THREAD 20000

static void *observer(void *arg)
{
    metrics_hist *h = arg;
    for (unsigned i = 0; i < PER_THREAD; i++)
        metrics_hist_observe(h, (i % 7) * 40000); /* 0 .. 240 us */
    return NULL;
}

static void test_metrics_threads(void **state)
{
    (void)state;
    metrics_hist *h = hist_new();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, observer, h), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    metrics_hist_sum s = hist_sum(h);
    assert_int_equal(s.count, THREADS * PER_THREAD);
    uint64_t want = 0;
    for (unsigned i = 0; i < PER_THREAD; i++)
        want += (i % 7) * 40000;
    assert_int_equal(s.sum_ns, THREADS * want);
    /* More than one stripe was used: threads do not all share one. */
    unsigned used = 0;
    for (unsigned k = 0; k < METRICS_STRIPES; k++)
        used += atomic_load(&h->s[k].sum_ns) > 0;
    assert_true(used > 1);
    free(h);
}

static void test_metrics_quantile(void **state)
{
    (void)state;
    metrics_hist_sum s;
    memset(&s, 0, sizeof s);
    assert_int_equal(metrics_hist_quantile_us(&s, 0.5), 0); /* empty */
    metrics_hist *h = hist_new();
    for (int i = 0; i < 100; i++)
        metrics_hist_observe(h, 30000); /* bucket 25..50 us */
    s = hist_sum(h);
    /* Linear within the bucket: 25 + 25 * q. */
    assert_int_equal(metrics_hist_quantile_us(&s, 0.5), 38);
    assert_int_equal(metrics_hist_quantile_us(&s, 0.99), 50);
    metrics_hist_observe(h, UINT64_C(3000000000)); /* one in +Inf */
    s = hist_sum(h);
    assert_int_equal(metrics_hist_quantile_us(&s, 0.5), 38);
    assert_int_equal(metrics_hist_quantile_us(&s, 1.0), 1000000);
    /* p99 of 100 at 30 us and 1 at 3 s: rank 99.99 is still in 25..50. */
    assert_true(metrics_hist_quantile_us(&s, 0.99) <= 50);
    free(h);
    /* Monotone in q. */
    h = hist_new();
    for (unsigned i = 0; i < 1000; i++)
        metrics_hist_observe(h, (uint64_t)i * 1000 * 1000); /* 0 .. 999 ms */
    s = hist_sum(h);
    uint64_t p50 = metrics_hist_quantile_us(&s, 0.5);
    uint64_t p99 = metrics_hist_quantile_us(&s, 0.99);
    uint64_t p999 = metrics_hist_quantile_us(&s, 0.999);
    assert_true(p50 <= p99 && p99 <= p999);
    assert_true(p50 >= 250000 && p50 <= 500000); /* true 500 ms */
    assert_true(p999 <= 1000000);
    free(h);
}

static void test_metrics_text(void **state)
{
    (void)state;
    metrics_text t;
    metrics_text_init(&t);
    metrics_text_family(&t, "atpd_x_total", "counter",
                        "a \"quoted\" back\\slash\nand newline");
    metrics_label l[2] = {{"source", "w\"m\\s\nx"}, {"region", "eu"}};
    metrics_text_uint(&t, "atpd_x_total", l, 2, 18446744073709551615u);
    metrics_text_uint(&t, "atpd_x_total", NULL, 0, 0);
    metrics_text_double(&t, "atpd_y", NULL, 0, 0.25);
    metrics_text_double(&t, "atpd_y", NULL, 0, 1.0 / 0.0);
    assert_false(t.failed);
    assert_string_equal(
        t.buf, "# HELP atpd_x_total a \"quoted\" back\\\\slash\\nand newline\n"
               "# TYPE atpd_x_total counter\n"
               "atpd_x_total{source=\"w\\\"m\\\\s\\nx\",region=\"eu\"} "
               "18446744073709551615\n"
               "atpd_x_total 0\n"
               "atpd_y 0.25\n"
               "atpd_y +Inf\n");
    assert_int_equal(t.len, strlen(t.buf));
    metrics_text_fini(&t);

    metrics_hist *h = hist_new();
    metrics_hist_observe(h, 30000);
    metrics_hist_observe(h, 30000);
    metrics_hist_observe(h, UINT64_C(2000000000));
    metrics_hist_sum s = hist_sum(h);
    metrics_text_init(&t);
    metrics_label op = {"op", "atp"};
    metrics_text_hist(&t, "atpd_d_seconds", &op, 1, &s);
    assert_false(t.failed);
    /* Cumulative buckets, +Inf equal to the count, sum in seconds. */
    assert_non_null(
        strstr(t.buf, "atpd_d_seconds_bucket{op=\"atp\",le=\"2.5e-05\"} 0\n"
                      "atpd_d_seconds_bucket{op=\"atp\",le=\"5e-05\"} 2\n"));
    assert_non_null(strstr(t.buf,
                           "atpd_d_seconds_bucket{op=\"atp\",le=\"1\"} 2\n"
                           "atpd_d_seconds_bucket{op=\"atp\",le=\"+Inf\"} 3\n"
                           "atpd_d_seconds_sum{op=\"atp\"} 2.000060000\n"
                           "atpd_d_seconds_count{op=\"atp\"} 3\n"));
    size_t lines = 0;
    for (const char *p = t.buf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, METRICS_BUCKETS + 2);
    metrics_text_fini(&t);
    /* No labels at all (the store's histograms): labels NULL, 0 (UBSan
     * aborted atpd's /metrics on a memcpy from NULL here). */
    metrics_text_init(&t);
    metrics_text_hist(&t, "atpd_s_seconds", NULL, 0, &s);
    assert_false(t.failed);
    assert_non_null(strstr(t.buf, "atpd_s_seconds_bucket{le=\"+Inf\"} 3\n"
                                  "atpd_s_seconds_sum 2.000060000\n"
                                  "atpd_s_seconds_count 3\n"));
    metrics_text_fini(&t);
    free(h);
}

/* A large exposition grows the buffer and stays whole. */
static void test_metrics_text_grows(void **state)
{
    (void)state;
    metrics_text t;
    metrics_text_init(&t);
    char v[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(v, sizeof v, "s%d", i);
        metrics_label l = {"source", v};
        metrics_text_uint(&t, "atpd_z", &l, 1, (uint64_t)i);
    }
    assert_false(t.failed);
    assert_non_null(strstr(t.buf, "atpd_z{source=\"s0\"} 0\n"));
    assert_non_null(strstr(t.buf, "atpd_z{source=\"s4999\"} 4999\n"));
    metrics_text_fini(&t);
    assert_null(t.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_buckets),
        cmocka_unit_test(test_metrics_threads),
        cmocka_unit_test(test_metrics_quantile),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_text_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
