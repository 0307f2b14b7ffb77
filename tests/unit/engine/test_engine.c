/*
 * test_engine.c - unit tests of src/engine/engine.c: batches of DELTA and
 * SET events applied by the engine thread, and the answers engine_query
 * gives (DESIGN.md formula: a location's net is floored at 0 before the
 * region sums it; buffers by the most specific rule; unknown SKU -> ATP 0).
 * Also: release callbacks (once per batch, in order), engine_stop draining
 * the queue, clamping beyond +-10^15, a seeded model comparison, and two
 * concurrency tests (readers against the engine thread).
 *
 * Threads: the test thread submits and queries; the engine thread applies
 * and calls the release callbacks; the concurrency tests add 2 readers.
 * Configs are built from YAML strings (never from the current directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

/* ---- fixtures ------------------------------------------------------------ */

/* Regions: us-east (0), eu (1). Locations: dc-1, dc-2, store-3 in us-east
 * (0, 1, 2), dc-eu (3) in eu. Channels: default (0), web (1), app (2).
 * Buffer rules, one per level the tests look at:
 *   global          units 1
 *   channel app     units 3
 *   region eu       units 5
 *   us-east + web   12.5 %
 *   sku B           units 2, 10 %
 *   sku B + us-east units 4
 *   sku B + app     units 6
 *   B + eu + web    units 50 */
static const char test_engine_yaml[] =
    "regions:\n"
    "  - id: us-east\n"
    "  - id: eu\n"
    "locations:\n"
    "  - {id: dc-1, region: us-east}\n"
    "  - {id: dc-2, region: us-east}\n"
    "  - {id: store-3, region: us-east, type: store}\n"
    "  - {id: dc-eu, region: eu}\n"
    "channels: [web, app]\n"
    "buffers:\n"
    "  - {units: 1}\n"
    "  - {channel: app, units: 3}\n"
    "  - {region: eu, units: 5}\n"
    "  - {region: us-east, channel: web, percent: 12.5}\n"
    "  - {sku: B, units: 2, percent: 10}\n"
    "  - {sku: B, region: us-east, units: 4}\n"
    "  - {sku: B, channel: app, units: 6}\n"
    "  - {sku: B, region: eu, channel: web, units: 50}\n";

enum { US = 0, EU = 1 };
enum { DC1 = 0, DC2 = 1, STORE3 = 2, DCEU = 3 };
enum { CH_DEFAULT = 0, CH_WEB = 1, CH_APP = 2 };
#define OH ATP_BUCKET_ON_HAND
#define AL ATP_BUCKET_ALLOCATED
#define HE ATP_BUCKET_HELD

typedef struct test_fx {
    config cfg;
    engine *eng;
} test_fx;

static int test_fx_setup_yaml(void **state, const char *yaml)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    test_load(&fx->cfg, yaml);
    assert_int_equal(engine_alloc(&fx->cfg, NULL, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    *state = fx;
    return 0;
}

static int test_fx_setup(void **state)
{
    return test_fx_setup_yaml(state, test_engine_yaml);
}

static int test_fx_teardown(void **state)
{
    test_fx *fx = *state;
    engine_stop(fx->eng);
    engine_free(fx->eng);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

/* ---- batches ------------------------------------------------------------- */

/* What the release callbacks saw (written by the engine thread, read by the
 * test thread after engine_sync or engine_stop). */
#define TEST_MAX_RELEASES 100000
static uint32_t test_released[TEST_MAX_RELEASES];
static bool test_released_applied[TEST_MAX_RELEASES];
static uint32_t test_n_released;

typedef struct test_owner {
    uint32_t id;
    engine_event *events; /* freed on release: the batch owns them */
} test_owner;

static void test_engine_release(void *owner, bool applied)
{
    test_owner *o = owner;
    if (test_n_released < TEST_MAX_RELEASES) {
        test_released[test_n_released] = o->id;
        test_released_applied[test_n_released] = applied;
    }
    test_n_released++;
    free(o->events);
    free(o);
}

static uint32_t test_next_batch_id;

/* A batch being built: events reference SKU strings with static lifetime. */
typedef struct test_batch {
    engine_event *ev;
    uint32_t n, cap;
} test_batch;

static void test_batch_add(test_batch *b, uint8_t kind, const char *sku,
                           uint16_t loc, uint8_t bucket, int64_t value)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ev = realloc(b->ev, b->cap * sizeof *b->ev);
        assert_non_null(b->ev);
    }
    b->ev[b->n++] = (engine_event){.kind = kind,
                                   .bucket = bucket,
                                   .location = loc,
                                   .sku_len = (uint32_t)strlen(sku),
                                   .sku = sku,
                                   .value = value};
}

#define DELTA(b, sku, loc, bucket, v)                                          \
    test_batch_add(b, ATP_EV_DELTA, sku, loc, bucket, v)
#define SET(b, sku, loc, bucket, v)                                            \
    test_batch_add(b, ATP_EV_SET, sku, loc, bucket, v)

/* test_batch_submit hands b to the engine (ownership moves) and returns its id.
 */
static uint32_t test_batch_submit(engine *e, test_batch *b)
{
    test_owner *o = malloc(sizeof *o);
    assert_non_null(o);
    uint32_t id = test_next_batch_id++;
    o->id = id;
    o->events = b->ev;
    engine_batch eb = {
        .events = b->ev, .n = b->n, .release = test_engine_release, .owner = o};
    assert_int_equal(engine_submit(e, &eb), ATP_OK);
    /* o may already be released (freed) by the engine thread here */
    *b = (test_batch){0};
    return id;
}

static void test_batch_apply(engine *e, test_batch *b)
{
    test_batch_submit(e, b);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static engine_answer test_q(engine *e, const char *sku, uint32_t region,
                            uint32_t channel)
{
    engine_answer a;
    memset(&a, 0xa5, sizeof a); /* every field must be written */
    engine_query(e, sku, strlen(sku), region, channel, &a);
    return a;
}

/* ---- formula through the engine ---------------------------------------- */

/* A location with more allocated than on hand contributes 0, not a negative
 * amount that would eat another location's stock. */
static void test_engine_net_floor(void **state)
{
    test_fx *fx = *state;
    test_batch b = {0};
    SET(&b, "A", DC1, OH, 10);
    SET(&b, "A", DC1, AL, 15); /* net(dc-1) = max(0, -5) = 0 */
    SET(&b, "A", DC2, OH, 7);  /* net(dc-2) = 7 */
    SET(&b, "A", DCEU, OH, 100);
    test_batch_apply(fx->eng, &b);

    engine_answer a = test_q(fx->eng, "A", US, CH_DEFAULT);
    assert_true(a.known_sku);
    assert_int_equal(a.supply, 7); /* not 2 */
    assert_int_equal(a.reserved, 0);
    assert_int_equal(a.buffer, 1); /* global rule */
    assert_int_equal(a.rule_level, ATP_RULE_GLOBAL);
    assert_int_equal(a.atp, 6);
    assert_int_equal(a.shortfall, 0);
    assert_false(a.stale);
    /* the other region is separate */
    a = test_q(fx->eng, "A", EU, CH_DEFAULT);
    assert_int_equal(a.supply, 100);

    /* held also subtracts; everything held -> 0, not negative */
    DELTA(&b, "A", DC2, HE, 9); /* 7 - 9 < 0 -> 0 */
    SET(&b, "A", STORE3, OH, 4);
    test_batch_apply(fx->eng, &b);
    a = test_q(fx->eng, "A", US, CH_DEFAULT);
    assert_int_equal(a.supply, 4);
    assert_int_equal(a.atp, 3);

    /* releasing the allocation brings dc-1 back */
    DELTA(&b, "A", DC1, AL, -15);
    test_batch_apply(fx->eng, &b);
    a = test_q(fx->eng, "A", US, CH_DEFAULT);
    assert_int_equal(a.supply, 14);
}

static void test_engine_set_and_delta(void **state)
{
    test_fx *fx = *state;
    test_batch b = {0};
    DELTA(&b, "S", DC1, OH, 5);
    DELTA(&b, "S", DC1, OH, 3);
    DELTA(&b, "S", DC1, OH, -2);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 6);

    /* deltas accumulate across batches */
    DELTA(&b, "S", DC1, OH, 10);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 16);

    /* a set replaces (it does not add) */
    SET(&b, "S", DC1, OH, 4);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 4);
    /* the same set again changes nothing */
    SET(&b, "S", DC1, OH, 4);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 4);

    /* order inside a batch matters: set then delta vs delta then set */
    SET(&b, "S", DC2, OH, 100);
    DELTA(&b, "S", DC2, OH, -1);
    SET(&b, "S", STORE3, OH, 7);
    DELTA(&b, "S", STORE3, OH, 1000);
    SET(&b, "S", STORE3, OH, 8);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 4 + 99 + 8);

    /* negative on_hand is stored (a later delta builds on it) but contributes 0
     */
    SET(&b, "S", DC1, OH, -10);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 107);
    DELTA(&b, "S", DC1, OH, 12);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "S", US, CH_DEFAULT).supply, 109);

    /* a set to 0 of a bucket that was never touched creates the SKU */
    SET(&b, "Z0", DC1, OH, 0);
    test_batch_apply(fx->eng, &b);
    engine_answer a = test_q(fx->eng, "Z0", US, CH_DEFAULT);
    assert_true(a.known_sku);
    assert_int_equal(a.supply, 0);
    assert_int_equal(a.atp, 0);

    engine_stats st;
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.skus, 2);
    assert_int_equal(st.positions, 4); /* S x 3 locations, Z0 x 1 */
    assert_int_equal(st.batches_applied, 8);
    assert_int_equal(st.events_applied, 3 + 1 + 1 + 1 + 5 + 1 + 1 + 1);
    assert_int_equal(st.events_clamped, 0);
    assert_int_equal(st.queue_len, 0);
    assert_true(st.memory_bytes > 0);
}

static void test_engine_buffers(void **state)
{
    test_fx *fx = *state;
    test_batch b = {0};
    SET(&b, "A", DC1, OH, 100);
    SET(&b, "A", DCEU, OH, 100);
    SET(&b, "B", DC1, OH, 100);
    SET(&b, "B", DCEU, OH, 100);
    SET(&b, "C", DC1, OH, 9); /* small supply: the percent rounds up */
    test_batch_apply(fx->eng, &b);

    struct {
        const char *sku;
        uint32_t region, channel;
        int64_t buffer;
        uint8_t level;
    } cases[] = {
        {"A", US, CH_DEFAULT, 1, ATP_RULE_GLOBAL},
        {"A", US, CH_APP, 3, ATP_RULE_CHANNEL},
        {"A", EU, CH_DEFAULT, 5, ATP_RULE_REGION},
        {"A", EU, CH_APP, 5, ATP_RULE_REGION}, /* region beats channel */
        {"A", US, CH_WEB, 13, ATP_RULE_REGION_CHANNEL}, /* ceil(12.5) */
        {"C", US, CH_WEB, 2, ATP_RULE_REGION_CHANNEL},  /* ceil(1.125) */
        {"B", EU, CH_DEFAULT, 10, ATP_RULE_SKU},        /* max(2, 10 %) */
        {"B", US, CH_DEFAULT, 4, ATP_RULE_SKU_REGION},
        {"B", US, CH_WEB, 4, ATP_RULE_SKU_REGION}, /* beats region+channel */
        {"B", EU, CH_APP, 6, ATP_RULE_SKU_CHANNEL},
        {"B", US, CH_APP, 4,
         ATP_RULE_SKU_REGION}, /* sku+region > sku+channel */
        {"B", EU, CH_WEB, 50, ATP_RULE_SKU_REGION_CHANNEL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        engine_answer a =
            test_q(fx->eng, cases[i].sku, cases[i].region, cases[i].channel);
        int64_t supply = cases[i].sku[0] == 'C' ? 9 : 100;
        if (a.buffer != cases[i].buffer || a.rule_level != cases[i].level)
            fail_msg("case %zu (%s, region %u, channel %u): buffer %lld level "
                     "%u, expected %lld level %u",
                     i, cases[i].sku, cases[i].region, cases[i].channel,
                     (long long)a.buffer, a.rule_level,
                     (long long)cases[i].buffer, cases[i].level);
        assert_int_equal(a.supply, supply);
        assert_int_equal(a.atp, supply - cases[i].buffer);
    }

    /* a buffer bigger than supply: ATP 0, no shortfall (nothing reserved) */
    SET(&b, "B", DCEU, OH, 30);
    test_batch_apply(fx->eng, &b);
    engine_answer a = test_q(fx->eng, "B", EU, CH_WEB);
    assert_int_equal(a.supply, 30);
    assert_int_equal(a.buffer, 50);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);
    /* the percent follows the supply */
    a = test_q(fx->eng, "B", EU, CH_DEFAULT);
    assert_int_equal(a.buffer, 3); /* max(2, ceil(3.0)) */
    assert_int_equal(a.atp, 27);
}

static void test_engine_unknown_sku(void **state)
{
    test_fx *fx = *state;
    engine_answer a = test_q(fx->eng, "NOPE", US, CH_DEFAULT);
    assert_false(a.known_sku);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.supply, 0);
    assert_int_equal(a.reserved, 0);
    assert_int_equal(a.shortfall, 0);
    assert_false(a.stale);
    /* a SKU known in one region is known (with 0) in the other */
    test_batch b = {0};
    SET(&b, "K", DC1, OH, 3);
    test_batch_apply(fx->eng, &b);
    a = test_q(fx->eng, "K", EU, CH_DEFAULT);
    assert_true(a.known_sku);
    assert_int_equal(a.supply, 0);
    assert_int_equal(a.atp, 0);
    /* prefixes of a known SKU are not known */
    assert_false(test_q(fx->eng, "KK", US, CH_DEFAULT).known_sku);
    engine_query(fx->eng, "K", 1, US, CH_DEFAULT, &a);
    assert_int_equal(a.supply, 3);
}

static void test_engine_stale(void **state)
{
    test_fx *fx = *state;
    test_batch b = {0};
    SET(&b, "A", DC1, OH, 10);
    SET(&b, "A", DCEU, OH, 10);
    test_batch_apply(fx->eng, &b);
    assert_false(test_q(fx->eng, "A", US, CH_DEFAULT).stale);
    engine_region_stale_set(fx->eng, EU, true);
    assert_true(test_q(fx->eng, "A", EU, CH_DEFAULT).stale);
    assert_true(test_q(fx->eng, "A", EU, CH_WEB).stale);
    assert_true(test_q(fx->eng, "UNKNOWN", EU, CH_DEFAULT).stale);
    assert_false(test_q(fx->eng, "A", US, CH_DEFAULT).stale);
    /* stale does not hide the numbers */
    assert_int_equal(test_q(fx->eng, "A", EU, CH_DEFAULT).supply, 10);
    engine_region_stale_set(fx->eng, EU, false);
    assert_false(test_q(fx->eng, "A", EU, CH_DEFAULT).stale);
    engine_region_stale_set(fx->eng, 99, true); /* out of range: ignored */
    assert_false(test_q(fx->eng, "A", US, CH_DEFAULT).stale);
    assert_false(test_q(fx->eng, "A", EU, CH_DEFAULT).stale);
}

/* Buckets beyond +-10^15 are clamped to +-10^15 and counted; region sums of
 * clamped buckets are not clamped to 10^15 (they are sums). */
static void test_engine_clamp(void **state)
{
    test_fx *fx = *state;
    const int64_t M = ATP_QTY_MAX;
    test_batch b = {0};
    SET(&b, "BIG", DC1, OH, M);
    DELTA(&b, "BIG", DC1, OH, M); /* 2*10^15 -> 10^15, clamped #1 */
    test_batch_apply(fx->eng, &b);
    engine_stats st;
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.events_clamped, 1);
    engine_answer a = test_q(fx->eng, "BIG", US, CH_DEFAULT);
    assert_int_equal(a.supply, M);
    assert_int_equal(a.atp, M - 1);

    /* clamped means stored at the bound: one -1 goes below it */
    DELTA(&b, "BIG", DC1, OH, -1);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "BIG", US, CH_DEFAULT).supply, M - 1);

    /* negative side: allocated far above on_hand */
    SET(&b, "BIG", DC2, AL, -M);
    DELTA(&b, "BIG", DC2, AL, -M); /* clamped #2, allocated = -10^15 */
    SET(&b, "BIG", DC2, OH, -M);   /* net = -10^15 + 10^15 = 0 */
    test_batch_apply(fx->eng, &b);
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.events_clamped, 2);
    assert_int_equal(test_q(fx->eng, "BIG", US, CH_DEFAULT).supply, M - 1);

    /* a set beyond the bound (the wire forbids it; the engine clamps) */
    SET(&b, "BIG", STORE3, OH, INT64_MAX);
    SET(&b, "BIG", DCEU, OH, INT64_MIN);
    test_batch_apply(fx->eng, &b);
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.events_clamped, 4);
    a = test_q(fx->eng, "BIG", US, CH_DEFAULT);
    assert_int_equal(a.supply, 2 * M - 1); /* M - 1 from dc-1, M from store-3 */
    assert_int_equal(test_q(fx->eng, "BIG", EU, CH_DEFAULT).supply, 0);
    /* and the stored bucket is exactly the bound */
    DELTA(&b, "BIG", STORE3, OH, -M);
    test_batch_apply(fx->eng, &b);
    assert_int_equal(test_q(fx->eng, "BIG", US, CH_DEFAULT).supply, M - 1);
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.events_clamped, 4);
}

/* Every batch is released exactly once, in submission order, applied. */
static void test_engine_release_order(void **state)
{
    test_fx *fx = *state;
    test_n_released = 0;
    uint32_t first = test_next_batch_id;
    const uint32_t n_batches = 5000; /* more than the queue holds (4096) */
    test_batch b = {0};
    for (uint32_t i = 0; i < n_batches; i++) {
        if (i % 3 != 0) /* every third batch is empty (heartbeat-like) */
            DELTA(&b, "R", (uint16_t)(i % 3), OH, 1);
        test_batch_submit(fx->eng, &b);
    }
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
    assert_int_equal(test_n_released, n_batches);
    for (uint32_t i = 0; i < n_batches; i++) {
        assert_int_equal(test_released[i], first + i);
        assert_true(test_released_applied[i]);
    }
    uint32_t with_events = n_batches - (n_batches + 2) / 3;
    assert_int_equal(test_q(fx->eng, "R", US, CH_DEFAULT).supply, with_events);
    engine_stats st;
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.batches_applied, n_batches);
    assert_int_equal(st.events_applied, with_events);
    /* a batch without release callback is applied too */
    engine_event ev = {.kind = ATP_EV_DELTA,
                       .bucket = OH,
                       .location = DC1,
                       .sku_len = 1,
                       .sku = "R",
                       .value = 1};
    engine_batch nb = {.events = &ev, .n = 1, .release = NULL, .owner = NULL};
    assert_int_equal(engine_submit(fx->eng, &nb), ATP_OK);
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
    assert_int_equal(test_q(fx->eng, "R", US, CH_DEFAULT).supply,
                     with_events + 1);
    assert_int_equal(test_n_released, n_batches);
}

/* engine_stop applies everything that was queued before it returns, then
 * submit and sync say BAD_STATE; queries still answer. */
static void test_engine_stop_drains(void **state)
{
    test_fx *fx = *state;
    test_n_released = 0;
    uint32_t first = test_next_batch_id;
    test_batch b = {0};
    for (uint32_t i = 0; i < 3000; i++) {
        DELTA(&b, "D", DC2, OH, 2);
        DELTA(&b, "D", DC1, OH, 1);
        test_batch_submit(fx->eng, &b);
    }
    engine_stop(fx->eng); /* no sync before */
    assert_int_equal(test_n_released, 3000);
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(test_released[i], first + i);
        assert_true(test_released_applied[i]);
    }
    assert_int_equal(test_q(fx->eng, "D", US, CH_DEFAULT).supply, 9000);
    engine_event ev = {.kind = ATP_EV_DELTA,
                       .bucket = OH,
                       .location = DC1,
                       .sku_len = 1,
                       .sku = "D",
                       .value = 1};
    engine_batch nb = {.events = &ev, .n = 1, .release = NULL, .owner = NULL};
    assert_int_equal(engine_submit(fx->eng, &nb), ATP_E_BAD_STATE);
    assert_int_equal(engine_sync(fx->eng), ATP_E_BAD_STATE);
    engine_stop(fx->eng); /* twice is fine; teardown stops a third time */
    assert_int_equal(test_q(fx->eng, "D", US, CH_DEFAULT).supply, 9000);
}

/* engine_free on a running engine stops it (applying what was queued). */
static void test_engine_free_running(void **state)
{
    (void)state;
    config cfg;
    test_load(&cfg, test_engine_yaml);
    engine *e;
    assert_int_equal(engine_alloc(&cfg, NULL, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_n_released = 0;
    test_batch b = {0};
    for (int i = 0; i < 100; i++) {
        DELTA(&b, "F", DC1, OH, 1);
        test_batch_submit(e, &b);
    }
    engine_free(e);
    assert_int_equal(test_n_released, 100); /* and ASan sees no leak */
    config_fini(&cfg);
}

/* 10000 distinct SKUs in 4 batches: SKU rows span three row chunks (4096). */
static void test_engine_many_skus(void **state)
{
    test_fx *fx = *state;
    enum { N = 10000 };
    static char names[N][16];
    test_batch b = {0};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "M%d", i);
        SET(&b, names[i], (uint16_t)(i % 4), OH, i + 1);
        if (i % 2500 == 2499) /* 4 batches */
            test_batch_submit(fx->eng, &b);
    }
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
    for (int i = 0; i < N; i++) {
        uint32_t region = (i % 4) == DCEU ? EU : US;
        engine_answer a = test_q(fx->eng, names[i], region, CH_DEFAULT);
        assert_true(a.known_sku);
        assert_int_equal(a.supply, i + 1);
        assert_int_equal(
            test_q(fx->eng, names[i], 1 - region, CH_DEFAULT).supply, 0);
    }
    engine_stats st;
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.skus, N);
    assert_int_equal(st.positions, N);
}

/* ---- randomized comparison with a tiny model ------------------------------
 */

/* Small config: the model's buffer is "eu: 10 %, else global 3 units". */
static const char test_engine_model_yaml[] = "regions: [{id: r0}, {id: r1}]\n"
                                             "locations:\n"
                                             "  - {id: l0, region: r0}\n"
                                             "  - {id: l1, region: r0}\n"
                                             "  - {id: l2, region: r1}\n"
                                             "  - {id: l3, region: r0}\n"
                                             "buffers:\n"
                                             "  - {units: 3}\n"
                                             "  - {region: r1, percent: 10}\n";

#define MODEL_SKUS 5
#define MODEL_LOCS 4

static const char *const model_sku_names[MODEL_SKUS] = {"m0", "m1", "m10",
                                                        "m100", "m2"};
static const uint32_t model_loc_region[MODEL_LOCS] = {0, 0, 1, 0};

typedef struct model {
    int64_t b[MODEL_SKUS][MODEL_LOCS][ATP_BUCKET_COUNT];
    bool known[MODEL_SKUS];
    uint64_t clamped;
} model;

static uint64_t test_rng_state;
static uint64_t test_rng(void) /* xorshift64*: fixed seed, reproducible */
{
    test_rng_state ^= test_rng_state >> 12;
    test_rng_state ^= test_rng_state << 25;
    test_rng_state ^= test_rng_state >> 27;
    return test_rng_state * 2685821657736338717ULL;
}

static int64_t model_clamp(model *m, int64_t v)
{
    if (v > ATP_QTY_MAX) {
        m->clamped++;
        return ATP_QTY_MAX;
    }
    if (v < -ATP_QTY_MAX) {
        m->clamped++;
        return -ATP_QTY_MAX;
    }
    return v;
}

static int64_t model_supply(const model *m, int s, uint32_t region)
{
    int64_t sum = 0;
    for (int l = 0; l < MODEL_LOCS; l++) {
        if (model_loc_region[l] != region)
            continue;
        int64_t net = m->b[s][l][OH] - m->b[s][l][AL] - m->b[s][l][HE];
        sum += net > 0 ? net : 0;
    }
    return sum;
}

static int64_t test_random_value(void)
{
    uint64_t r = test_rng() % 100;
    if (r < 3) /* rare extremes exercise clamping */
        return (test_rng() & 1) ? ATP_QTY_MAX : -ATP_QTY_MAX;
    return (int64_t)(test_rng() % 201) - 100;
}

static void test_engine_model(void **state)
{
    (void)state;
    test_fx *fx;
    test_fx_setup_yaml((void **)&fx, test_engine_model_yaml);
    model m;
    memset(&m, 0, sizeof m);
    test_rng_state = 0x5eed0fa7b0a710ULL;
    for (int step = 0; step < 400; step++) {
        test_batch b = {0};
        uint32_t n = (uint32_t)(test_rng() % 12); /* 0..11 events */
        for (uint32_t i = 0; i < n; i++) {
            int s = (int)(test_rng() % MODEL_SKUS);
            int l = (int)(test_rng() % MODEL_LOCS);
            uint8_t bucket = (uint8_t)(test_rng() % ATP_BUCKET_COUNT);
            int64_t v = test_random_value();
            bool set = test_rng() % 4 == 0;
            test_batch_add(&b, set ? ATP_EV_SET : ATP_EV_DELTA,
                           model_sku_names[s], (uint16_t)l, bucket, v);
            int64_t *cell = &m.b[s][l][bucket];
            *cell = model_clamp(&m, set ? v : *cell + v); /* |sum| < 2^62 */
            m.known[s] = true;
        }
        test_batch_apply(fx->eng, &b);
        for (int s = 0; s < MODEL_SKUS; s++) {
            for (uint32_t r = 0; r < 2; r++) {
                engine_answer a = test_q(fx->eng, model_sku_names[s], r, 0);
                int64_t supply = model_supply(&m, s, r);
                int64_t buffer = r == 1 ? (supply * 10 + 99) / 100 : 3;
                int64_t atp = supply - buffer > 0 ? supply - buffer : 0;
                if (a.known_sku != m.known[s] || a.supply != supply ||
                    a.buffer != buffer || a.atp != atp || a.reserved != 0 ||
                    a.shortfall != 0)
                    fail_msg("step %d sku %s region %u: engine known %d supply "
                             "%lld buffer %lld atp %lld; model known %d supply "
                             "%lld buffer %lld atp %lld",
                             step, model_sku_names[s], r, a.known_sku,
                             (long long)a.supply, (long long)a.buffer,
                             (long long)a.atp, m.known[s], (long long)supply,
                             (long long)buffer, (long long)atp);
            }
        }
        engine_stats st;
        engine_stats_get(fx->eng, &st);
        assert_int_equal(st.events_clamped, m.clamped);
    }
    assert_true(m.clamped > 0); /* the extremes were exercised */
    test_fx_teardown((void **)&fx);
}

/* ---- concurrency -----------------------------------------------------------
 */

/* One SKU "C" at dc-1 and dc-2 (both us-east) starts with TEST_C_START each.
 * The writer submits batches of pairs (-n at one location, +n at the other,
 * the minus first), never letting a net go below 0, so the region's supply
 * is TEST_C_TOTAL at every batch boundary. Between the two events of a pair
 * the engine's row holds TEST_C_TOTAL - n. */
#define TEST_C_START 1000000
#define TEST_C_TOTAL (2 * TEST_C_START)
#define TEST_C_MAX_N 1000
#define TEST_C_EVENTS 200000
#define TEST_C_PAIRS_PER_BATCH 50
/* Reads during which the engine finished a batch (engine_stats'
 * batches_applied moved between just before and just after the read): the
 * read overlapped that batch's application. The writer goes on past
 * TEST_C_EVENTS until the readers saw this many, so that a test that
 * passes has shown reads racing batches (a busy machine can keep the
 * readers off the CPU while the engine runs), and gives up (failing)
 * after TEST_C_MAX_EVENTS. */
#define TEST_C_MIN_OVERLAPS 200
#define TEST_C_MAX_EVENTS (50 * TEST_C_EVENTS)

typedef struct test_reader {
    engine *eng;
    atomic_bool *stop;
    uint64_t reads;
    uint64_t mid_batch;        /* reads that saw supply != TEST_C_TOTAL */
    _Atomic uint64_t overlaps; /* reads during which a batch was finished */
    uint64_t bad;              /* reads outside what the engine promises */
    int64_t first_bad_supply, first_bad_reserved, first_bad_atp;
    int64_t min_supply;
} test_reader;

/* engine_query_lines answers like one engine_query per line: known and
 * unknown SKUs, long keys (stored outside the dictionary entry), buffer
 * rules by SKU, every region and channel, repeated lines, carts shorter and
 * longer than the pipeline, and an empty one. */
static void test_assert_answer_eq(const engine_answer *a,
                                  const engine_answer *b)
{
    assert_int_equal(a->atp, b->atp);
    assert_int_equal(a->supply, b->supply);
    assert_int_equal(a->reserved, b->reserved);
    assert_int_equal(a->buffer, b->buffer);
    assert_int_equal(a->shortfall, b->shortfall);
    assert_int_equal(a->rule_level, b->rule_level);
    assert_int_equal(a->stale, b->stale);
    assert_int_equal(a->known_sku, b->known_sku);
    assert_int_equal(a->low_stock, b->low_stock);
}

static void test_engine_query_lines(void **state)
{
    test_fx *fx = *state;
    enum { N = 600, LINES = 257 };
    static char names[N][48];
    test_batch b = {0};
    for (int i = 0; i < N; i++) {
        /* every 7th name is longer than the dictionary keeps inline */
        snprintf(names[i], sizeof names[i],
                 i % 7 ? "Q%d" : "long-sku-name-%d-beyond-the-inline-bytes", i);
        if (i % 3 != 0) /* a third stays unknown */
            SET(&b, names[i], (uint16_t)(i % 4), OH, 10 * i + 3);
        if (i % 5 == 0)
            SET(&b, names[i], DC2, HE, 4);
    }
    SET(&b, "B", DC1, OH, 40);
    SET(&b, "B", DCEU, OH, 70);
    test_batch_apply(fx->eng, &b);
    engine_region_stale_set(fx->eng, EU, true);

    engine_query_line lines[LINES];
    engine_answer got[LINES], want;
    test_rng_state = 99;
    for (size_t n = 0; n <= LINES; n += (n < 20 ? 1 : 59)) {
        for (size_t i = 0; i < n; i++) {
            uint64_t r = test_rng();
            const char *sku = r % 11 == 0 ? "B" : names[(r >> 8) % N];
            if (i > 0 && r % 13 == 0) /* the same line twice */
                sku = lines[i - 1].sku;
            lines[i] = (engine_query_line){sku, (uint32_t)strlen(sku),
                                           (uint32_t)((r >> 24) % 2),
                                           (uint32_t)((r >> 32) % 3)};
        }
        memset(got, 0xa5, sizeof got); /* every field must be written */
        engine_query_lines(fx->eng, lines, n, got);
        for (size_t i = 0; i < n; i++) {
            engine_query(fx->eng, lines[i].sku, lines[i].sku_len,
                         lines[i].region, lines[i].channel, &want);
            test_assert_answer_eq(&got[i], &want);
        }
        /* the answers are not trivially equal: some lines have stock */
        if (n == LINES) {
            size_t known = 0, stocked = 0;
            for (size_t i = 0; i < n; i++) {
                known += got[i].known_sku;
                stocked += got[i].supply > 0;
            }
            assert_true(known > n / 2 && known < n);
            assert_true(stocked > 0);
        }
    }
    /* the first line of the model config test, by hand: B in us-east */
    lines[0] = (engine_query_line){"B", 1, US, CH_DEFAULT};
    engine_query_lines(fx->eng, lines, 1, got);
    assert_int_equal(got[0].supply, 40);
    assert_int_equal(got[0].buffer, 4);
    assert_int_equal(got[0].atp, 36);
}

static void *test_reader_main(void *arg)
{
    test_reader *r = arg;
    r->min_supply = INT64_MAX;
    while (!atomic_load_explicit(r->stop, memory_order_acquire)) {
        engine_answer a;
        engine_stats before, after;
        engine_stats_get(r->eng, &before);
        engine_query(r->eng, "C", 1, US, CH_WEB, &a);
        engine_stats_get(r->eng, &after);
        if (after.batches_applied != before.batches_applied)
            atomic_fetch_add_explicit(&r->overlaps, 1, memory_order_relaxed);
        r->reads++;
        /* promised: the row's (supply, reserved) pair is one that the engine
         * wrote after some whole event, and the answer is computed from that
         * one pair (12.5 % buffer, reserved 0). */
        int64_t buffer = (a.supply * 125 + 999) / 1000;
        int64_t atp = a.supply - a.reserved - buffer;
        bool ok = a.known_sku && a.reserved == 0 &&
                  a.supply >= TEST_C_TOTAL - TEST_C_MAX_N &&
                  a.supply <= TEST_C_TOTAL && a.buffer == buffer &&
                  a.atp == (atp > 0 ? atp : 0) && a.shortfall == 0 &&
                  a.rule_level == ATP_RULE_REGION_CHANNEL;
        if (!ok && r->bad++ == 0) {
            r->first_bad_supply = a.supply;
            r->first_bad_reserved = a.reserved;
            r->first_bad_atp = a.atp;
        }
        if (a.supply != TEST_C_TOTAL)
            r->mid_batch++;
        if (a.supply < r->min_supply)
            r->min_supply = a.supply;
    }
    return NULL;
}

/* test_engine_concurrent_run runs the writer against 2 readers and fills
 * rd[2] with what they saw. */
static void test_engine_concurrent_run(test_fx *fx, test_reader rd[2])
{
    test_batch b = {0};
    SET(&b, "C", DC1, OH, TEST_C_START);
    SET(&b, "C", DC2, OH, TEST_C_START);
    test_batch_apply(fx->eng, &b);

    atomic_bool stop = false;
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        rd[i] = (test_reader){.eng = fx->eng, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, test_reader_main, &rd[i]),
                         0);
    }
    test_rng_state = 0xc0ffee1234ULL;
    int64_t at[2] = {TEST_C_START, TEST_C_START}; /* on_hand model */
    test_n_released = 0;
    uint32_t batches = 0;
    for (uint32_t ev = 0;
         ev < TEST_C_EVENTS ||
         (ev < TEST_C_MAX_EVENTS &&
          atomic_load(&rd[0].overlaps) + atomic_load(&rd[1].overlaps) <
              TEST_C_MIN_OVERLAPS);
         ev += 2) {
        int from = (int)(test_rng() & 1);
        int64_t n = 1 + (int64_t)(test_rng() % TEST_C_MAX_N);
        if (at[from] < n)
            from = 1 - from; /* keep every net >= 0 */
        at[from] -= n;
        at[1 - from] += n;
        DELTA(&b, "C", (uint16_t)(from ? DC2 : DC1), OH, -n);
        DELTA(&b, "C", (uint16_t)(from ? DC1 : DC2), OH, n);
        if (b.n == 2 * TEST_C_PAIRS_PER_BATCH) {
            test_batch_submit(fx->eng, &b);
            batches++;
        }
    }
    if (b.n > 0) {
        test_batch_submit(fx->eng, &b);
        batches++;
    }
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
    atomic_store_explicit(&stop, true, memory_order_release);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(test_n_released, batches);
    assert_int_equal(test_q(fx->eng, "C", US, CH_WEB).supply, TEST_C_TOTAL);
    fprintf(
        stderr,
        "concurrency: %u batches of %u events; reader reads %llu + %llu, "
        "overlapping a batch %llu + %llu, "
        "mid-batch observations %llu + %llu (min supply %lld of %d)\n",
        batches, 2 * TEST_C_PAIRS_PER_BATCH, (unsigned long long)rd[0].reads,
        (unsigned long long)rd[1].reads, (unsigned long long)rd[0].overlaps,
        (unsigned long long)rd[1].overlaps, (unsigned long long)rd[0].mid_batch,
        (unsigned long long)rd[1].mid_batch,
        (long long)(rd[0].min_supply < rd[1].min_supply ? rd[0].min_supply
                                                        : rd[1].min_supply),
        TEST_C_TOTAL);
}

/* What the engine promises readers: per-row consistent reads. */
static void test_engine_concurrent_row_consistency(void **state)
{
    test_fx *fx = *state;
    test_reader rd[2];
    test_engine_concurrent_run(fx, rd);
    for (int i = 0; i < 2; i++) {
        assert_true(rd[i].reads > 0);
        if (rd[i].bad != 0)
            fail_msg("reader %d: %llu inconsistent answers, first: supply %lld "
                     "reserved %lld atp %lld",
                     i, (unsigned long long)rd[i].bad,
                     (long long)rd[i].first_bad_supply,
                     (long long)rd[i].first_bad_reserved,
                     (long long)rd[i].first_bad_atp);
    }
}

/* engine.h promises that a batch's effect on one (SKU, region) row is
 * published at once: with balanced batches (stock moved between two
 * locations of one region), every read must see TEST_C_TOTAL. */
static void test_engine_concurrent_batch_atomicity(void **state)
{
    test_fx *fx = *state;
    test_reader rd[2];
    test_engine_concurrent_run(fx, rd);
    uint64_t overlaps = rd[0].overlaps + rd[1].overlaps;
    if (overlaps < TEST_C_MIN_OVERLAPS)
        fail_msg("the readers overlapped only %llu batches (want %d): the test "
                 "proves nothing about atomicity",
                 (unsigned long long)overlaps, TEST_C_MIN_OVERLAPS);
    uint64_t mid = rd[0].mid_batch + rd[1].mid_batch;
    if (mid != 0)
        fail_msg("%llu of %llu reads saw a supply between two events of one "
                 "batch",
                 (unsigned long long)mid,
                 (unsigned long long)(rd[0].reads + rd[1].reads));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_net_floor, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_set_and_delta,
                                        test_fx_setup, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_buffers, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_unknown_sku, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_stale, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_clamp, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_release_order,
                                        test_fx_setup, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_stop_drains, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test(test_engine_free_running),
        cmocka_unit_test_setup_teardown(test_engine_many_skus, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test(test_engine_model),
        cmocka_unit_test_setup_teardown(test_engine_query_lines, test_fx_setup,
                                        test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_concurrent_row_consistency,
                                        test_fx_setup, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_concurrent_batch_atomicity,
                                        test_fx_setup, test_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
