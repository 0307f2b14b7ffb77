/*
 * test_sources.c - unit tests of src/sources/sources.c: sequencing (in
 * order, duplicates, reorder window, gaps by time and by overflow, late
 * messages), authority lookups, health (waiting, ok, gapped, silent),
 * stale regions and the counters of sources_status_get
 * (docs/PROTOCOL.md, "What atpd does with a source message").
 * Single-threaded: the test plays the ingest and the engine thread; time is
 * the now_ms the test passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "config/config.h"
#include "sources/sources.h"

/* Regions ra (0), rb (1), rc (2, fed by nobody). Locations la1, la2 in ra
 * (0, 1), lb1 in rb (2), lc1 in rc (3).
 * wms (0): la1 on_hand+allocated, la2 all buckets; heartbeat 1 s; seq
 * jumps up to 1000.
 * erp (1): la1 held, lb1 on_hand; heartbeat 2 s.
 * Reorder window 100 ms, at most 4 held messages. */
/* The base sources have resync off: these tests check skipping holes.
 * RESYNC_YAML (below) turns it on for the resync tests. */
static const char test_sources_yaml[] =
    "service:\n"
    "  reorder_window: 100ms\n"
    "  reorder_max_messages: 4\n"
    "  resync_retry: 1s\n"
    "  resync_timeout: 5s\n"
    "  resync_hold_messages: 8\n"
    "regions: [{id: ra}, {id: rb}, {id: rc}]\n"
    "locations:\n"
    "  - {id: la1, region: ra}\n"
    "  - {id: la2, region: ra}\n"
    "  - {id: lb1, region: rb}\n"
    "  - {id: lc1, region: rc}\n"
    "sources:\n"
    "  - id: wms\n"
    "    heartbeat_timeout: 1s\n"
    "    max_seq_jump: 1000\n"
    "    resync: RESYNC\n"
    "    authority:\n"
    "      - {locations: [la1], buckets: [on_hand, allocated]}\n"
    "      - {locations: [la2]}\n"
    "  - id: erp\n"
    "    heartbeat_timeout: 2s\n"
    "    resync: false\n"
    "    authority:\n"
    "      - {locations: [la1], buckets: [held]}\n"
    "      - {locations: [lb1], buckets: [on_hand]}\n";

enum { WMS = 0, ERP = 1 };
enum { RA = 0, RB = 1, RC = 2 };
enum { LA1 = 0, LA2 = 1, LB1 = 2, LC1 = 3 };

/* What the callbacks saw. Items are message ids cast to pointers. */
#define LOG_MAX 256
typedef struct test_log {
    uint64_t requests[LOG_MAX]; /* from_seq, + 1e12 for a snapshot request */
    size_t n_requests;
    uintptr_t delivered[LOG_MAX];
    uint64_t delivered_seq[LOG_MAX];
    size_t n_delivered;
    uintptr_t dropped[LOG_MAX];
    size_t n_dropped;
} test_log;

typedef struct test_fx {
    config cfg;
    sources *s;
    test_log log;
} test_fx;

static void test_deliver(void *ctx, void *item, uint64_t seq)
{
    test_log *l = ctx;
    assert_true(l->n_delivered < LOG_MAX);
    l->delivered[l->n_delivered] = (uintptr_t)item;
    l->delivered_seq[l->n_delivered] = seq;
    l->n_delivered++;
}

static void test_drop(void *ctx, void *item)
{
    test_log *l = ctx;
    assert_true(l->n_dropped < LOG_MAX);
    l->dropped[l->n_dropped++] = (uintptr_t)item;
}

#define TEST_SNAPSHOT_REQ 1000000000000ULL

static void test_request(void *ctx, uint32_t src, sources_resync_mode mode,
                         uint64_t from_seq)
{
    test_log *l = ctx;
    (void)src;
    assert_true(l->n_requests < LOG_MAX);
    l->requests[l->n_requests++] =
        from_seq + (mode == SOURCES_RESYNC_SNAPSHOT ? TEST_SNAPSHOT_REQ : 0);
}

static int test_fx_setup_with(void **state, bool resync)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    char yaml[sizeof test_sources_yaml + 8];
    const char *mark = strstr(test_sources_yaml, "RESYNC");
    int head = (int)(mark - test_sources_yaml);
    snprintf(yaml, sizeof yaml, "%.*s%s%s", head, test_sources_yaml,
             resync ? "true" : "false", mark + strlen("RESYNC"));
    config_diags diags = {0};
    atp_err err = config_load_string(yaml, strlen(yaml), &fx->cfg, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                diags.items[i].message);
    config_diags_fini(&diags);
    assert_int_equal(err, ATP_OK);
    assert_int_equal(fx->cfg.service.reorder_window_ms, 100);
    assert_int_equal(fx->cfg.service.reorder_max_messages, 4);
    assert_int_equal(sources_alloc(&fx->cfg, &fx->s), ATP_OK);
    *state = fx;
    return 0;
}

static int test_fx_setup(void **state)
{
    return test_fx_setup_with(state, false);
}
static int test_fx_setup_resync(void **state)
{
    return test_fx_setup_with(state, true);
}

static int test_fx_teardown(void **state)
{
    test_fx *fx = *state;
    test_log rest = {0};
    sources_release_held(fx->s, test_drop, &rest);
    sources_free(fx->s);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

/* rx: message id == seq * 10 + src, so each delivery can be traced. */
static sources_io test_io(test_fx *fx)
{
    return (sources_io){test_deliver, test_drop, test_request, &fx->log};
}

static void rx(test_fx *fx, uint32_t src, uint64_t seq, int64_t now)
{
    sources_io io = test_io(fx);
    sources_receive(fx->s, src, seq, (void *)(uintptr_t)(seq * 10 + src), now,
                    &io);
}

static void tick(test_fx *fx, int64_t now)
{
    sources_io io = test_io(fx);
    sources_tick(fx->s, now, &io);
}

/* test_expect_delivered checks that exactly seqs[0..n) of src were delivered
 * (in that order) since the log was last cleared, then clears it. */
static void test_expect_delivered(test_fx *fx, uint32_t src,
                                  const uint64_t *seqs, size_t n)
{
    if (fx->log.n_delivered != n) {
        fprintf(stderr, "delivered:");
        for (size_t i = 0; i < fx->log.n_delivered; i++)
            fprintf(stderr, " %llu",
                    (unsigned long long)fx->log.delivered_seq[i]);
        fprintf(stderr, "\n");
        fail_msg("%zu messages delivered, expected %zu", fx->log.n_delivered,
                 n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fx->log.delivered_seq[i], seqs[i]);
        assert_int_equal(fx->log.delivered[i], seqs[i] * 10 + src);
    }
    fx->log.n_delivered = 0;
}

#define EXPECT(fx, src, ...)                                                   \
    do {                                                                       \
        const uint64_t seqs_[] = {__VA_ARGS__};                                \
        test_expect_delivered(fx, src, seqs_, sizeof seqs_ / sizeof seqs_[0]); \
    } while (0)
#define EXPECT_NONE(fx) test_expect_delivered(fx, 0, NULL, 0)

static sources_status st_of(test_fx *fx, uint32_t src, int64_t now)
{
    sources_status st;
    memset(&st, 0xa5, sizeof st);
    sources_status_get(fx->s, src, now, &st);
    return st;
}

/* ---- sequencing ------------------------------------------------------------
 */

static void test_sources_in_order(void **state)
{
    test_fx *fx = *state;
    for (uint64_t seq = 1; seq <= 5; seq++) {
        rx(fx, WMS, seq, (int64_t)seq);
        EXPECT(fx, WMS, seq); /* delivered at once, one each */
    }
    tick(fx, 500);
    EXPECT_NONE(fx);
    sources_status st = st_of(fx, WMS, 500);
    assert_string_equal(st.id, "wms");
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.missed, 0);
    assert_int_equal(st.age_ms, 495);
    assert_int_equal(fx->log.n_dropped, 0);
}

static void test_sources_first_any_seq(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1000, 0); /* first message ever: accepted whatever its seq */
    EXPECT(fx, WMS, 1000);
    rx(fx, WMS, 1001, 1);
    EXPECT(fx, WMS, 1001);
    rx(fx, WMS, 999, 2); /* before the stream start: a duplicate */
    EXPECT_NONE(fx);
    assert_int_equal(fx->log.n_dropped, 1);
    assert_int_equal(fx->log.dropped[0], 999 * 10 + WMS);
    sources_status st = st_of(fx, WMS, 2);
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.missed, 0); /* 1..999 were never "missed" */
    assert_int_equal(st.duplicates, 1);
    /* the other source's stream is independent */
    rx(fx, ERP, 7, 3);
    EXPECT(fx, ERP, 7);
    assert_int_equal(st_of(fx, ERP, 3).duplicates, 0);
}

static void test_sources_duplicates(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    rx(fx, WMS, 2, 0);
    EXPECT(fx, WMS, 1, 2);
    rx(fx, WMS, 2, 1);
    rx(fx, WMS, 1, 1);
    EXPECT_NONE(fx);
    assert_int_equal(fx->log.n_dropped, 2);
    assert_int_equal(fx->log.dropped[0], 2 * 10 + WMS);
    assert_int_equal(fx->log.dropped[1], 1 * 10 + WMS);
    /* a duplicate of a message that is held (not yet delivered) */
    rx(fx, WMS, 4, 2);
    rx(fx, WMS, 4, 3);
    EXPECT_NONE(fx);
    assert_int_equal(fx->log.n_dropped, 3);
    assert_int_equal(fx->log.dropped[2], 4 * 10 + WMS);
    rx(fx, WMS, 3, 4);
    EXPECT(fx, WMS, 3, 4); /* 4 delivered exactly once */
    sources_status st = st_of(fx, WMS, 4);
    assert_int_equal(st.duplicates, 3);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.state, SOURCES_OK);
}

static void test_sources_reorder_in_window(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 4, 10);
    rx(fx, WMS, 3, 20);
    EXPECT_NONE(fx); /* held, waiting for 2 */
    tick(fx, 50);    /* inside the window: still waiting */
    EXPECT_NONE(fx);
    rx(fx, WMS, 2, 60);
    EXPECT(fx, WMS, 2, 3, 4);
    tick(fx, 1000); /* nothing held: no gap later either */
    EXPECT_NONE(fx);
    sources_status st = st_of(fx, WMS, 60);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.missed, 0);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(fx->log.n_dropped, 0);
}

static void test_sources_gap_after_window(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 4, 10); /* 2 and 3 missing; the wait ends at 110 */
    rx(fx, WMS, 5, 30);
    tick(fx, 109);
    EXPECT_NONE(fx);
    assert_int_equal(st_of(fx, WMS, 109).state, SOURCES_OK);
    tick(fx, 110);
    EXPECT(fx, WMS, 4, 5); /* held ones delivered, in order */
    sources_status st = st_of(fx, WMS, 110);
    assert_int_equal(st.state, SOURCES_GAPPED);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.missed, 2);
    /* the next in order flows on */
    rx(fx, WMS, 6, 120);
    EXPECT(fx, WMS, 6);
    /* a message that arrives after its gap was declared: a duplicate */
    rx(fx, WMS, 3, 130);
    rx(fx, WMS, 2, 130);
    EXPECT_NONE(fx);
    st = st_of(fx, WMS, 130);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.missed, 2);
    assert_int_equal(st.state, SOURCES_GAPPED);
    assert_int_equal(fx->log.n_dropped, 2);
}

/* Two holes: the second one gets its own window after the first is declared. */
static void test_sources_two_holes(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    rx(fx, WMS, 3, 0);
    rx(fx, WMS, 6, 0);
    EXPECT(fx, WMS, 1);
    tick(fx, 100);
    EXPECT(fx, WMS, 3); /* gap {2}; 6 still waits for 4 and 5 */
    assert_int_equal(st_of(fx, WMS, 100).missed, 1);
    rx(fx, WMS, 4, 150);
    EXPECT(fx, WMS, 4);
    tick(fx, 199);
    EXPECT_NONE(fx);
    tick(fx, 250); /* 150 + 100: the wait for 5 ends */
    EXPECT(fx, WMS, 6);
    sources_status st = st_of(fx, WMS, 250);
    assert_int_equal(st.gaps, 2);
    assert_int_equal(st.missed, 2);
}

static void test_sources_overflow(void **state)
{
    test_fx *fx = *state;
    rx(fx, ERP, 1, 0);
    EXPECT(fx, ERP, 1);
    for (uint64_t seq = 3; seq <= 6; seq++) /* 4 held: the maximum */
        rx(fx, ERP, seq, 1);
    EXPECT_NONE(fx);
    assert_int_equal(st_of(fx, ERP, 1).gaps, 0);
    rx(fx, ERP, 7, 2); /* one more than reorder_max_messages: gap at once */
    EXPECT(fx, ERP, 3, 4, 5, 6, 7);
    sources_status st = st_of(fx, ERP, 2);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.missed, 1);
    assert_int_equal(st.state, SOURCES_GAPPED);
    rx(fx, ERP, 2, 3); /* late */
    EXPECT_NONE(fx);
    assert_int_equal(st_of(fx, ERP, 3).duplicates, 1);
    /* and nothing is left to deliver by a later tick */
    tick(fx, 1000);
    EXPECT_NONE(fx);
    assert_int_equal(st_of(fx, ERP, 1000).gaps, 1);
    /* the other source is untouched */
    assert_int_equal(st_of(fx, WMS, 3).state, SOURCES_WAITING);
}

/* Held messages are handed to drop on shutdown, exactly once. */
static void test_sources_release_held(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    rx(fx, WMS, 5, 0);
    rx(fx, WMS, 3, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, ERP, 10, 0);
    rx(fx, ERP, 12, 0);
    EXPECT(fx, ERP, 10);
    sources_release_held(fx->s, test_drop, &fx->log);
    assert_int_equal(fx->log.n_dropped, 3);
    uintptr_t want[] = {3 * 10 + WMS, 5 * 10 + WMS, 12 * 10 + ERP};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fx->log.dropped[i], want[i]);
    tick(fx, 10000); /* nothing held any more: no delivery */
    EXPECT_NONE(fx);
}

/* ---- authority, lookup -----------------------------------------------------
 */

static void test_sources_authority(void **state)
{
    test_fx *fx = *state;
    assert_int_equal(sources_count(fx->s), 2);
    assert_int_equal(sources_find(fx->s, "wms", 3), WMS);
    assert_int_equal(sources_find(fx->s, "erp", 3), ERP);
    assert_int_equal(sources_find(fx->s, "wm", 2), -1);
    assert_int_equal(sources_find(fx->s, "wmsx", 4), -1);
    assert_int_equal(sources_find(fx->s, "nope", 4), -1);

    assert_true(sources_authorized(fx->s, WMS, LA1, ATP_BUCKET_ON_HAND));
    assert_true(sources_authorized(fx->s, WMS, LA1, ATP_BUCKET_ALLOCATED));
    assert_false(
        sources_authorized(fx->s, WMS, LA1, ATP_BUCKET_HELD)); /* erp's */
    assert_true(sources_authorized(fx->s, ERP, LA1, ATP_BUCKET_HELD));
    assert_false(sources_authorized(fx->s, ERP, LA1, ATP_BUCKET_ON_HAND));
    for (uint8_t b = 0; b < ATP_BUCKET_COUNT; b++) {
        assert_true(
            sources_authorized(fx->s, WMS, LA2, b)); /* no buckets: all */
        assert_false(sources_authorized(fx->s, ERP, LA2, b));
        assert_false(sources_authorized(fx->s, WMS, LC1, b)); /* nobody's */
        assert_false(sources_authorized(fx->s, ERP, LC1, b));
    }
    assert_true(sources_authorized(fx->s, ERP, LB1, ATP_BUCKET_ON_HAND));
    assert_false(sources_authorized(fx->s, ERP, LB1, ATP_BUCKET_ALLOCATED));
    assert_false(sources_authorized(fx->s, WMS, LB1, ATP_BUCKET_ON_HAND));
    /* unknown location, bad bucket */
    assert_false(sources_authorized(fx->s, WMS, 4, ATP_BUCKET_ON_HAND));
    assert_false(sources_authorized(fx->s, WMS, 65535, ATP_BUCKET_ON_HAND));
    assert_false(sources_authorized(fx->s, WMS, LA2, ATP_BUCKET_COUNT));
    assert_false(sources_authorized(fx->s, WMS, LA2, 255));
}

/* ---- health and stale regions ----------------------------------------------
 */

static void test_sources_silence(void **state)
{
    test_fx *fx = *state;
    /* never heard: waiting for heartbeat_timeout after the start (the
     * first tick), then silent since start (age -1 tells it apart) */
    tick(fx, 100000);
    tick(fx, 101000); /* exactly the timeout: not yet */
    sources_status st = st_of(fx, WMS, 101000);
    assert_int_equal(st.state, SOURCES_WAITING);
    assert_int_equal(st.age_ms, -1);
    assert_int_equal(st.last_seq, 0);
    tick(fx, 101001);
    st = st_of(fx, WMS, 101001);
    assert_int_equal(st.state, SOURCES_SILENT);
    assert_int_equal(st.age_ms, -1);
    assert_int_equal(st_of(fx, ERP, 101001).state, SOURCES_WAITING); /* 2 s */
    assert_true(sources_region_stale(fx->s, RA));
    tick(fx, 102001);
    assert_int_equal(st_of(fx, ERP, 102001).state, SOURCES_SILENT);

    rx(fx, WMS, 1, 200000);
    EXPECT(fx, WMS, 1);
    tick(fx, 201000); /* exactly the timeout: not yet */
    assert_int_equal(st_of(fx, WMS, 201000).state, SOURCES_OK);
    tick(fx, 201001);
    st = st_of(fx, WMS, 201001);
    assert_int_equal(st.state, SOURCES_SILENT);
    assert_int_equal(st.age_ms, 1001);
    /* anything arriving ends the silence, even a duplicate */
    rx(fx, WMS, 1, 201500);
    assert_int_equal(st_of(fx, WMS, 201500).state, SOURCES_OK);
    assert_int_equal(st_of(fx, WMS, 201500).age_ms, 0);
    /* erp's timeout is 2 s */
    rx(fx, ERP, 1, 300000);
    tick(fx, 301500);
    assert_int_equal(st_of(fx, ERP, 301500).state, SOURCES_OK);
    assert_int_equal(st_of(fx, WMS, 301500).state, SOURCES_SILENT);
    tick(fx, 302001);
    assert_int_equal(st_of(fx, ERP, 302001).state, SOURCES_SILENT);
}

/* A full snapshot is hearing from the source: a source that starts with
 * one is ok, not waiting, and its silence counts from it. A restored
 * source not heard from since the restart turns silent like a new one. */
static void test_sources_silence_snapshot_restore(void **state)
{
    test_fx *fx = *state;
    sources_restore(fx->s, ERP, 41);
    tick(fx, 0);
    sources_io io = test_io(fx);
    sources_snapshot_applied(fx->s, WMS, 5, 500, &io);
    sources_status st = st_of(fx, WMS, 600);
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.age_ms, 100);
    tick(fx, 1500); /* 1 s after the snapshot: not yet */
    assert_int_equal(st_of(fx, WMS, 1500).state, SOURCES_OK);
    tick(fx, 1501);
    assert_int_equal(st_of(fx, WMS, 1501).state, SOURCES_SILENT);
    assert_int_equal(st_of(fx, ERP, 1501).state, SOURCES_WAITING);
    tick(fx, 2001);
    st = st_of(fx, ERP, 2001);
    assert_int_equal(st.state, SOURCES_SILENT);
    assert_int_equal(st.age_ms, -1);
    assert_int_equal(st.last_seq, 41);
    rx(fx, ERP, 42, 2100);
    EXPECT(fx, ERP, 42);
    assert_int_equal(st_of(fx, ERP, 2100).state, SOURCES_OK);
    /* A snapshot older than what was delivered would undo it: stale. At
     * the delivered seq or later it is not; nor before the first message. */
    assert_true(sources_snapshot_stale(fx->s, ERP, 41));
    assert_false(sources_snapshot_stale(fx->s, ERP, 42));
    assert_false(sources_snapshot_stale(fx->s, ERP, 1000));
    sources *fresh = NULL;
    assert_int_equal(sources_alloc(&fx->cfg, &fresh), ATP_OK);
    assert_false(sources_snapshot_stale(fresh, ERP, 0));
    sources_free(fresh);
}

static void test_sources_stale_regions(void **state)
{
    test_fx *fx = *state;
    /* both waiting: the regions they feed are stale, rc (fed by no source) not
     */
    assert_true(sources_region_stale(fx->s, RA));
    assert_true(sources_region_stale(fx->s, RB));
    assert_false(sources_region_stale(fx->s, RC));
    rx(fx, WMS, 1, 0);
    assert_true(
        sources_region_stale(fx->s, RA)); /* erp (la1 held) still waiting */
    assert_true(sources_region_stale(fx->s, RB));
    rx(fx, ERP, 1, 0);
    assert_false(sources_region_stale(fx->s, RA));
    assert_false(sources_region_stale(fx->s, RB));
    assert_false(sources_region_stale(fx->s, RC));
    /* erp silent (2 s), wms alive: both of erp's regions stale */
    rx(fx, WMS, 2, 1900);
    tick(fx, 2001);
    assert_int_equal(st_of(fx, ERP, 2001).state, SOURCES_SILENT);
    assert_int_equal(st_of(fx, WMS, 2001).state, SOURCES_OK);
    assert_true(sources_region_stale(fx->s, RA));
    assert_true(sources_region_stale(fx->s, RB));
    assert_false(sources_region_stale(fx->s, RC));
    rx(fx, ERP, 2, 2002);
    assert_false(sources_region_stale(fx->s, RA));
    assert_false(sources_region_stale(fx->s, RB));
    /* wms gapped: ra stale, rb (erp only) not */
    rx(fx, WMS, 4, 2010);
    tick(fx, 2110);
    assert_int_equal(st_of(fx, WMS, 2110).state, SOURCES_GAPPED);
    assert_true(sources_region_stale(fx->s, RA));
    assert_false(sources_region_stale(fx->s, RB));
    assert_false(sources_region_stale(fx->s, RC));
}

static void test_sources_counters(void **state)
{
    test_fx *fx = *state;
    rx(fx, ERP, 5, 1000);
    EXPECT(fx, ERP, 5);
    /* the ingest validated message 5: 10 events, 1 heartbeat */
    sources_count_applied(fx->s, ERP, 10, 1);
    rx(fx, ERP, 6, 1010);
    sources_count_rejected(fx->s, ERP, 2, 1); /* message 6 rejected whole */
    rx(fx, ERP, 7, 1020);
    sources_count_applied(fx->s, ERP, 0, 1);
    /* the engine applied 5 (ts 1005) at wall clock 1250 */
    sources_applied(fx->s, ERP, 5, 1005, 1250);
    sources_status st = st_of(fx, ERP, 1100);
    assert_string_equal(st.id, "erp");
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.events, 10);
    assert_int_equal(st.heartbeats, 2);
    assert_int_equal(st.rejected_messages, 1);
    assert_int_equal(st.unauthorized, 2);
    assert_int_equal(st.unknown_location, 1);
    assert_int_equal(st.last_seq, 5);
    assert_int_equal(st.last_ts_ms, 1005);
    assert_int_equal(st.lag_ms, 245);
    assert_int_equal(st.age_ms, 80);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.missed, 0);
    /* lag may be negative (source clock ahead) */
    sources_applied(fx->s, ERP, 7, 5000, 4990);
    st = st_of(fx, ERP, 1100);
    assert_int_equal(st.last_seq, 7);
    assert_int_equal(st.lag_ms, -10);
    /* the other source's counters are untouched */
    st = st_of(fx, WMS, 1100);
    assert_string_equal(st.id, "wms");
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.rejected_messages, 0);
    assert_int_equal(st.heartbeats, 0);
    assert_int_equal(st.last_seq, 0);
}

static void test_sources_state_names(void **state)
{
    (void)state;
    assert_string_equal(sources_state_name(SOURCES_WAITING), "waiting");
    assert_string_equal(sources_state_name(SOURCES_OK), "ok");
    assert_string_equal(sources_state_name(SOURCES_GAPPED), "gapped");
    assert_string_equal(sources_state_name(SOURCES_SILENT), "silent");
    assert_string_equal(sources_state_name(SOURCES_RESYNCING), "resyncing");
    assert_string_equal(sources_state_name(SOURCES_CONFLICT), "conflict");
}

/* ---- resync on (the wms source) ---------------------------------------- */

/* A hole that outlives the window asks for a replay and holds later
 * messages; the replay fills it and everything applies in order. */
static void test_resync_replay_fills_hole(void **state)
{
    test_fx *fx = *state;
    rx(fx, ERP, 1, 0); /* region ra is fed by erp too: let it be ok */
    EXPECT(fx, ERP, 1);
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 4, 10);
    rx(fx, WMS, 5, 20);
    EXPECT_NONE(fx);
    tick(fx, 50);
    assert_int_equal(fx->log.n_requests, 0); /* still inside the window */
    tick(fx, 111);
    assert_int_equal(fx->log.n_requests, 1);
    assert_int_equal(fx->log.requests[0],
                     2); /* replay from the first missing */
    sources_status st = st_of(fx, WMS, 111);
    assert_int_equal(st.state, SOURCES_RESYNCING);
    assert_int_equal(st.held, 2);
    assert_true(sources_region_stale(fx->s, RA));
    tick(fx, 600); /* past the window, before the retry: held, no apply */
    EXPECT_NONE(fx);
    assert_int_equal(fx->log.n_requests, 1);
    tick(fx, 1200); /* unanswered: asked again */
    assert_int_equal(fx->log.n_requests, 2);
    rx(fx, WMS, 2, 1300); /* the replay */
    EXPECT(fx, WMS, 2);
    rx(fx, WMS, 3, 1301);
    EXPECT(fx, WMS, 3, 4, 5);
    st = st_of(fx, WMS, 1301);
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.missed, 0);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.held, 0);
    assert_false(sources_region_stale(fx->s, RA));
    rx(fx, WMS, 4, 1302); /* replayed again: a duplicate */
    EXPECT_NONE(fx);
}

/* Nobody answers: after resync_timeout what is held applies without the
 * hole, the source is gapped and a snapshot is asked for until one comes. */
static void test_resync_timeout_then_snapshot(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 3, 10);
    tick(fx, 200);
    assert_int_equal(fx->log.n_requests, 1);
    tick(fx, 5300); /* resync_timeout 5 s */
    EXPECT(fx, WMS, 3);
    sources_status st = st_of(fx, WMS, 5300);
    assert_int_equal(st.state, SOURCES_GAPPED);
    assert_int_equal(st.missed, 1);
    assert_true(sources_region_stale(fx->s, RA));
    size_t before = fx->log.n_requests;
    tick(fx, 5300 + 5 * 1000 + 1);
    assert_int_equal(fx->log.n_requests, before + 1);
    assert_true(fx->log.requests[before] >= TEST_SNAPSHOT_REQ);
    /* later messages still flow while gapped */
    rx(fx, WMS, 4, 11000);
    EXPECT(fx, WMS, 4);
    /* a snapshot consistent with seq 6 repairs it; 5 and 6 are covered */
    rx(fx, WMS, 6, 11001);
    rx(fx, WMS, 8, 11002);
    sources_io io = test_io(fx);
    sources_snapshot_applied(fx->s, WMS, 6, 11003, &io);
    assert_int_equal(fx->log.n_dropped, 1); /* 6: part of the snapshot */
    EXPECT_NONE(fx);                        /* 8 waits for 7 */
    rx(fx, WMS, 7, 11004);
    EXPECT(fx, WMS, 7, 8);
    rx(fx, ERP, 1, 11004); /* region ra is fed by erp too: let it be ok */
    EXPECT(fx, ERP, 1);
    st = st_of(fx, WMS, 11004);
    assert_int_equal(st.state, SOURCES_OK);
    assert_int_equal(st.snapshots_applied, 1);
    assert_false(sources_region_stale(fx->s, RA));
}

/* More held than resync_hold_messages: the excess is lost until a snapshot
 * covers it, and a snapshot is requested at once. */
static void test_resync_hold_overflow(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    for (uint64_t seq = 3; seq < 3 + 8; seq++)
        rx(fx, WMS, seq, 1);
    tick(fx, 200); /* replay requested */
    assert_int_equal(fx->log.n_requests, 1);
    rx(fx, WMS, 20, 201); /* the 9th: beyond the limit of 8 */
    assert_int_equal(fx->log.n_dropped, 1);
    assert_int_equal(fx->log.n_requests, 2);
    assert_true(fx->log.requests[1] >= TEST_SNAPSHOT_REQ);
    assert_int_equal(st_of(fx, WMS, 201).held, 8);
}

/* Sequences start at 1: a first message with seq 3 waits for 1 and 2. */
static void test_resync_first_message_late_start(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 3, 0);
    EXPECT_NONE(fx);
    rx(fx, WMS, 1, 5);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 2, 6);
    EXPECT(fx, WMS, 2, 3);
    assert_int_equal(st_of(fx, WMS, 6).state, SOURCES_OK);
}

/* After a restart: the next expected is the stored offset + 1, and the
 * source is asked to replay from there once. */
static void test_resync_restore(void **state)
{
    test_fx *fx = *state;
    sources_restore(fx->s, WMS, 41);
    sources_io io = test_io(fx);
    sources_resync_restored(fx->s, 0, &io);
    assert_int_equal(fx->log.n_requests, 1);
    assert_int_equal(fx->log.requests[0], 42);
    assert_int_equal(st_of(fx, WMS, 0).state, SOURCES_WAITING);
    rx(fx, WMS, 41, 1); /* already applied before the restart */
    EXPECT_NONE(fx);
    rx(fx, WMS, 42, 2);
    EXPECT(fx, WMS, 42);
    sources_resync_restored(fx->s, 3, &io); /* only once */
    tick(fx, 5000);                         /* it spoke: no repeats */
    assert_int_equal(fx->log.n_requests, 1);
}

/* A restored source that stays quiet is asked again every resync_retry
 * (its control connection may not have been up for the first request). */
static void test_resync_restore_repeats(void **state)
{
    test_fx *fx = *state;
    sources_restore(fx->s, WMS, 9);
    sources_io io = test_io(fx);
    sources_resync_restored(fx->s, 0, &io);
    tick(fx, 500);
    assert_int_equal(fx->log.n_requests, 1);
    tick(fx, 1000);
    assert_int_equal(fx->log.n_requests, 2);
    assert_int_equal(fx->log.requests[1], 10);
    rx(fx, WMS, 10, 1100);
    EXPECT(fx, WMS, 10);
    tick(fx, 3000);
    assert_int_equal(fx->log.n_requests, 2);
}

/* A configuration without sources: nothing is ever stale. */
static void test_sources_none(void **state)
{
    (void)state;
    config cfg;
    assert_int_equal(config_defaults(&cfg), ATP_OK);
    sources *s;
    assert_int_equal(sources_alloc(&cfg, &s), ATP_OK);
    assert_int_equal(sources_count(s), 0);
    assert_int_equal(sources_find(s, "wms", 3), -1);
    assert_false(sources_region_stale(s, 0));
    sources_io io = {test_deliver, test_drop, test_request, NULL};
    sources_tick(s, 1000, &io);
    sources_release_held(s, test_drop, NULL);
    sources_free(s);
    config_fini(&cfg);
}

/* ---- publisher sessions, seq jumps, reset (issue 14) ------------------------
 */

/* srx: rx of a message of publisher session `session` (snapshot: a part of
 * a full snapshot, which is not sequenced here). Returns the verdict. */
static sources_verdict srx(test_fx *fx, uint32_t src, uint64_t session,
                           uint64_t seq, bool snapshot, int64_t now)
{
    sources_io io = test_io(fx);
    uint64_t ended;
    sources_verdict v =
        sources_session(fx->s, src, session, snapshot, now, &io, &ended);
    if (v == SOURCES_ACCEPT && !snapshot)
        rx(fx, src, seq, now);
    return v;
}

/* A second publisher (another session) while the first is live: counted,
 * dropped, the first's stream goes on untouched and nothing is counted as
 * a duplicate. */
static void test_session_conflict(void **state)
{
    test_fx *fx = *state;
    for (uint64_t seq = 1; seq <= 5; seq++) {
        assert_int_equal(srx(fx, WMS, 7, seq, false, (int64_t)seq * 100),
                         SOURCES_ACCEPT);
        assert_int_equal(srx(fx, WMS, 9, seq, false, (int64_t)seq * 100 + 1),
                         SOURCES_CONFLICT_DROP);
    }
    EXPECT(fx, WMS, 1, 2, 3, 4, 5);
    sources_status st = st_of(fx, WMS, 600);
    assert_int_equal(st.conflicts, 5);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.session, 7);
    assert_int_equal(st.state, SOURCES_CONFLICT);
    assert_true(sources_region_stale(fx->s, RA));
    /* A snapshot part of the other session is a conflict too. */
    assert_int_equal(srx(fx, WMS, 9, 5, true, 700), SOURCES_CONFLICT_DROP);
    /* The flag goes once no conflict came for heartbeat_timeout (1 s). */
    srx(fx, WMS, 7, 6, false, 1600);
    EXPECT(fx, WMS, 6);
    tick(fx, 1600);
    assert_int_equal(st_of(fx, WMS, 1600).state, SOURCES_CONFLICT);
    srx(fx, WMS, 7, 7, false, 1750);
    tick(fx, 1750);
    assert_int_equal(st_of(fx, WMS, 1750).state, SOURCES_OK);
}

/* The current session silent for heartbeat_timeout: the next one takes
 * over, its batches dropped (unsynced) until its full snapshot, which must
 * not be older than what was applied. */
static void test_session_takeover(void **state)
{
    test_fx *fx = *state;
    sources_io io = test_io(fx);
    for (uint64_t seq = 1; seq <= 3; seq++)
        srx(fx, WMS, 7, seq, false, 0);
    EXPECT(fx, WMS, 1, 2, 3);
    rx(fx, WMS, 5, 10); /* held behind a hole */
    assert_int_equal(srx(fx, WMS, 9, 1, false, 1000), SOURCES_CONFLICT_DROP);
    assert_int_equal(srx(fx, WMS, 9, 1, false, 1011), SOURCES_UNSYNCED);
    EXPECT_NONE(fx);
    sources_status st = st_of(fx, WMS, 1011);
    assert_int_equal(st.session, 9);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.unsynced, 1);
    assert_int_equal(st.held, 0); /* the old session's held one dropped */
    /* waiting for the snapshot (resyncing), but the conflict 11 ms ago
     * shows first */
    assert_int_equal(st.state, SOURCES_CONFLICT);
    assert_int_equal(fx->log.requests[fx->log.n_requests - 1],
                     TEST_SNAPSHOT_REQ + 4);
    /* the old session is the intruder now */
    assert_int_equal(srx(fx, WMS, 7, 4, false, 1012), SOURCES_CONFLICT_DROP);
    /* its snapshot may come; one older than the applied seq is stale */
    assert_int_equal(srx(fx, WMS, 9, 0, true, 1013), SOURCES_ACCEPT);
    assert_true(sources_snapshot_stale(fx->s, WMS, 1));
    assert_false(sources_snapshot_stale(fx->s, WMS, 3));
    sources_snapshot_applied(fx->s, WMS, 40, 1014, &io);
    assert_int_equal(srx(fx, WMS, 9, 41, false, 1015), SOURCES_ACCEPT);
    EXPECT(fx, WMS, 41);
    assert_int_equal(st_of(fx, WMS, 1015).unsynced, 1);
}

/* A seq beyond last applied + max_seq_jump changes nothing: counted,
 * dropped, a snapshot asked for; the real next one applies. */
static void test_seq_jump_rejected(void **state)
{
    test_fx *fx = *state;
    rx(fx, WMS, 1, 0);
    EXPECT(fx, WMS, 1);
    rx(fx, WMS, 9007199254740991ULL, 1);
    rx(fx, WMS, 1002, 2); /* last applied 1 + 1000 + 1 */
    EXPECT_NONE(fx);
    assert_int_equal(fx->log.n_dropped, 2);
    sources_status st = st_of(fx, WMS, 2);
    assert_int_equal(st.seq_rejected, 2);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(fx->log.n_requests, 1); /* once per resync_retry */
    assert_int_equal(fx->log.requests[0], TEST_SNAPSHOT_REQ + 2);
    rx(fx, WMS, 2, 3);
    EXPECT(fx, WMS, 2);
    rx(fx, WMS, 1002, 4); /* 2 + 1000: within the bound, held */
    assert_int_equal(st_of(fx, WMS, 4).held, 1);
    assert_int_equal(st_of(fx, WMS, 4).seq_rejected, 2);
}

/* source_reset: held dropped, the session forgotten, nothing applies
 * before a full snapshot, and that snapshot restarts the sequence even
 * below the old one. */
static void test_reset(void **state)
{
    test_fx *fx = *state;
    sources_io io = test_io(fx);
    for (uint64_t seq = 1; seq <= 50; seq++)
        srx(fx, WMS, 7, seq, false, 0);
    fx->log.n_delivered = 0;
    rx(fx, WMS, 53, 1);
    sources_reset_request(fx->s, WMS);
    sources_reset_request(fx->s, WMS); /* two ops before the ingest's tick */
    uint64_t ops = sources_reset_take(fx->s, WMS);
    assert_int_equal(ops, 2);
    assert_int_equal(sources_reset_take(fx->s, WMS), 0); /* taken once */
    sources_reset(fx->s, WMS, ops, 2, &io);
    sources_status st = st_of(fx, WMS, 2);
    assert_int_equal(st.resets, 2); /* each op counts; one reset done */
    assert_int_equal(st.held, 0);
    assert_int_equal(st.session, 0);
    assert_int_equal(st.state, SOURCES_RESYNCING);
    assert_int_equal(fx->log.requests[fx->log.n_requests - 1],
                     TEST_SNAPSHOT_REQ + 51);
    /* any session is taken now, but batches wait for the snapshot */
    assert_int_equal(srx(fx, WMS, 8, 51, false, 3), SOURCES_UNSYNCED);
    assert_false(sources_snapshot_stale(fx->s, WMS, 3)); /* lower: fine now */
    sources_snapshot_applied(fx->s, WMS, 3, 4, &io);
    assert_int_equal(srx(fx, WMS, 8, 4, false, 5), SOURCES_ACCEPT);
    EXPECT(fx, WMS, 4);
    assert_true(sources_snapshot_stale(fx->s, WMS, 2)); /* stale again */
    tick(fx, 5 + 1000); /* no more snapshot requests once synced */
    size_t n = fx->log.n_requests;
    tick(fx, 5 + 3000);
    assert_int_equal(fx->log.n_requests, n);
}

#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, test_fx_setup, test_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sources_in_order),
        T(test_sources_first_any_seq),
        T(test_sources_duplicates),
        T(test_sources_reorder_in_window),
        T(test_sources_gap_after_window),
        T(test_sources_two_holes),
        T(test_sources_overflow),
        T(test_sources_release_held),
        T(test_sources_authority),
        T(test_sources_silence),
        T(test_sources_silence_snapshot_restore),
        T(test_sources_stale_regions),
        T(test_sources_counters),
        cmocka_unit_test_setup_teardown(test_resync_replay_fills_hole,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_resync_timeout_then_snapshot,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_resync_hold_overflow,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_resync_first_message_late_start,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_resync_restore,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_resync_restore_repeats,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_session_conflict,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_session_takeover,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_seq_jump_rejected,
                                        test_fx_setup_resync, test_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reset, test_fx_setup_resync,
                                        test_fx_teardown),
        cmocka_unit_test(test_sources_state_names),
        cmocka_unit_test(test_sources_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
