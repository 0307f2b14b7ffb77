/*
 * test_relocate.c - unit tests of src/engine/relocate.c: a reload that
 * moves a location to another region (engine_rules_replace) takes the
 * location's stock along: the rows of both regions change by its net and
 * are marked for the change feed, later events at the location count in
 * the new region, reservations keep their quantities (a region left below
 * what it reserved shows a shortfall, ATP 0, never negative); a move that
 * would take a supply beyond 2^53-1 is refused with nothing changed (rules
 * included); a location is removed only without stock (refused while it
 * has some), events still coming for it are dropped, and named again it
 * comes back empty; and a reader of several rows never sees the location
 * counted in both regions or in neither while moves run (the overlaps are
 * counted, so the test cannot pass without readers running during moves);
 * a reload that changes a region's inbound horizon counts its lots again
 * and one that changes a location's type and pickup settings shows them
 * in the next pickup answer.
 * Threads: the test thread; the engine thread applies; a reader thread.
 * Labels: unit, ops, correctness (issues 15, 16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

/* dc2 in us (x) or in eu (y); y also changes the default buffer. */
#define TEST_HEAD "regions: [{id: us}, {id: eu}]\nchannels: [web]\n"
static const char test_x[] =
    TEST_HEAD "locations: [{id: dc1, region: us}, {id: dc2, region: us},\n"
              "            {id: dc3, region: eu}]\n";
static const char test_y[] =
    TEST_HEAD "locations: [{id: dc1, region: us}, {id: dc2, region: eu},\n"
              "            {id: dc3, region: eu}]\n"
              "buffers: [{units: 1}]\n";

/* A started engine on configuration x (the change feed enabled), with y
 * loaded for the reload; test_end stops and frees all three. */
typedef struct test_fix {
    config x, y;
    engine *e;
} test_fix;

static engine *test_begin(test_fix *f, const char *x, const char *y)
{
    test_load(&f->x, x);
    test_load(&f->y, y);
    assert_int_equal(engine_alloc(&f->x, NULL, &f->e), ATP_OK);
    engine_changes_enable(f->e);
    assert_int_equal(engine_start(f->e), ATP_OK);
    return f->e;
}

static void test_end(test_fix *f)
{
    engine_stop(f->e);
    engine_free(f->e);
    config_fini(&f->x);
    config_fini(&f->y);
}

static void test_set(engine *e, const char *sku, uint16_t loc, int64_t v)
{
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .location = loc,
                       .sku = sku,
                       .sku_len = (uint32_t)strlen(sku),
                       .value = v};
    engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

/* Lot PO-1 of A at dc2: added (5, due now) or cancelled. */
static void test_lot(engine *e, uint8_t kind)
{
    engine_event ev = {.kind = kind,
                       .location = 1,
                       .sku = "A",
                       .sku_len = 1,
                       .ref = "PO-1",
                       .ref_len = 4,
                       .value = 5,
                       .eta_ms = 1};
    engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static engine_answer test_ask(engine *e, const char *sku, uint32_t region)
{
    engine_answer a;
    engine_query(e, sku, strlen(sku), region, 0, &a);
    return a;
}

typedef struct test_res {
    atp_err err;
    bool granted;
} test_res;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_res *t = arg;
    t->err = res->err;
    t->granted = res->granted;
}

static void test_done_line(void *arg, const engine_resv_result *res)
{
    assert_int_equal(res->err, ATP_OK);
    *(int64_t *)arg =
        res->has_record && res->n_lines > 0 ? res->lines[0].consumed : -1;
}

static bool test_reserve(engine *e, const char *id, const char *sku,
                         uint32_t region, int64_t qty)
{
    test_res t = {.err = ATP_E_INTERNAL};
    engine_resv_line line = {.sku = sku,
                             .sku_len = (uint32_t)strlen(sku),
                             .region = region,
                             .qty = qty};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = &line,
                           .n_lines = 1,
                           .done = test_done,
                           .arg = &t};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(t.err, ATP_OK);
    return t.granted;
}

/* The rows marked for the change feed since the last call, as a bit set
 * of regions of SKU A (the only SKU of the test that uses it). */
static unsigned test_marked(engine *e)
{
    uint64_t *keys = NULL;
    size_t cap = 0, n = engine_changes_take(e, &keys, &cap);
    unsigned set = 0;
    for (size_t i = 0; i < n; i++) {
        engine_change ch; /* reading it lets the row be marked again */
        assert_true(engine_changes_read(e, (uint32_t)(keys[i] >> 16),
                                        (uint32_t)(keys[i] & 0xFFFF), &ch));
        set |= 1u << (keys[i] & 0xFFFF);
    }
    free(keys);
    return set;
}

static void test_move_with_reservations(void **state)
{
    (void)state;
    test_fix f = {0};
    engine *e = test_begin(&f, test_x, test_y);
    config *x = &f.x, *y = &f.y;
    test_set(e, "A", 0, 10);
    test_set(e, "A", 1, 30);
    test_set(e, "A", 2, 5);
    assert_true(test_reserve(e, "r1", "A", 0, 35)); /* us: 40 */
    test_marked(e);

    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, x, y, &rep), ATP_OK);
    assert_int_equal(rep.moved.locations, 1);
    assert_int_equal(rep.moved.positions, 1);
    assert_int_equal(rep.moved.rows, 2);
    engine_answer us = test_ask(e, "A", 0), eu = test_ask(e, "A", 1);
    assert_int_equal(us.supply, 10);
    assert_int_equal(us.reserved, 35); /* kept */
    assert_int_equal(us.atp, 0);
    assert_int_equal(us.shortfall, 25);
    assert_int_equal(eu.supply, 35);
    assert_int_equal(eu.atp, 34); /* y's buffer of 1, in the same step */
    assert_int_equal(test_marked(e), 3u);           /* A/us and A/eu */
    assert_false(test_reserve(e, "r2", "A", 0, 1)); /* us has nothing left */

    /* dc2's events now count in eu. */
    test_set(e, "A", 1, 31);
    assert_int_equal(test_ask(e, "A", 1).supply, 36);
    assert_int_equal(test_ask(e, "A", 0).supply, 10);

    /* And back: the shortfall is gone. */
    assert_int_equal(engine_rules_replace(e, y, x, &rep), ATP_OK);
    us = test_ask(e, "A", 0);
    assert_int_equal(us.supply, 41);
    assert_int_equal(us.shortfall, 0);
    assert_int_equal(us.atp, 6);
    assert_int_equal(test_ask(e, "A", 1).supply, 5);

    test_end(&f);
}

/* Nine locations of 10^15 in eu: one more (moved from us) is beyond
 * 2^53-1 (9.007 x 10^15). */
static const char test_big_x[] = TEST_HEAD
    "locations: [{id: m, region: us}, {id: e0, region: eu},\n"
    "  {id: e1, region: eu}, {id: e2, region: eu}, {id: e3, region: eu},\n"
    "  {id: e4, region: eu}, {id: e5, region: eu}, {id: e6, region: eu},\n"
    "  {id: e7, region: eu}, {id: e8, region: eu}]\n";
static const char test_big_y[] = TEST_HEAD
    "locations: [{id: m, region: eu}, {id: e0, region: eu},\n"
    "  {id: e1, region: eu}, {id: e2, region: eu}, {id: e3, region: eu},\n"
    "  {id: e4, region: eu}, {id: e5, region: eu}, {id: e6, region: eu},\n"
    "  {id: e7, region: eu}, {id: e8, region: eu}]\n"
    "buffers: [{units: 7}]\n";

static void test_bound_refused(void **state)
{
    (void)state;
    test_fix f = {0};
    engine *e = test_begin(&f, test_big_x, test_big_y);
    config *x = &f.x, *y = &f.y;
    for (uint16_t l = 0; l < 10; l++)
        test_set(e, "A", l, ATP_QTY_MAX);
    test_set(e, "B", 0, 5); /* B alone would move fine */

    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, x, y, &rep), ATP_E_BAD_QTY);
    assert_non_null(strstr(rep.refused, "SKU A in region eu beyond"));
    assert_int_equal(test_ask(e, "A", 0).supply, ATP_QTY_MAX);
    assert_int_equal(test_ask(e, "A", 1).supply, 9 * ATP_QTY_MAX);
    assert_int_equal(test_ask(e, "B", 0).supply, 5); /* nothing moved */
    assert_int_equal(test_ask(e, "B", 0).atp, 5);    /* y's rule not in force */
    test_set(e, "B", 0, 6);                          /* m still counts in us */
    assert_int_equal(test_ask(e, "B", 0).supply, 6);
    assert_int_equal(test_ask(e, "B", 1).supply, 0);

    /* With m's stock lower, the same move fits. */
    test_set(e, "A", 0, 1000);
    assert_int_equal(engine_rules_replace(e, x, y, &rep), ATP_OK);
    assert_int_equal(test_ask(e, "A", 1).supply, 9 * ATP_QTY_MAX + 1000);
    assert_int_equal(test_ask(e, "A", 0).supply, 0);
    assert_int_equal(test_ask(e, "B", 1).atp, 0); /* 6 - buffer 7 */

    test_end(&f);
}

/* dc2 removed. */
static const char test_z[] =
    TEST_HEAD "locations: [{id: dc3, region: eu}, {id: dc1, region: us}]\n";

static void test_remove(void **state)
{
    (void)state;
    test_fix f = {0};
    engine *e = test_begin(&f, test_x, test_y);
    test_set(e, "A", 1, 4); /* dc2 */
    test_set(e, "A", 0, 2); /* dc1 */

    /* dc2 to eu (y), then removed (z) with stock: refused, nothing
     * changed. */
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &f.x, &f.y, &rep), ATP_OK);
    config z;
    test_load(&z, test_z);
    assert_int_equal(engine_rules_replace(e, &f.y, &z, &rep), ATP_E_BAD_STATE);
    assert_non_null(strstr(rep.refused, "location dc2 cannot be removed: it "
                                        "still has stock (1 SKUs"));
    assert_int_equal(test_ask(e, "A", 1).supply, 4); /* dc2 still in eu */
    assert_int_equal(test_ask(e, "A", 1).atp, 3);    /* y's rule still */

    /* Emptied by its source but for an inbound lot: still refused. */
    test_set(e, "A", 1, 0);
    test_lot(e, ATP_EV_LOT_ADD);
    assert_int_equal(engine_rules_replace(e, &f.y, &z, &rep), ATP_E_BAD_STATE);
    assert_non_null(strstr(rep.refused, "(0 SKUs with a non-zero on_hand, "
                                        "allocated, held or inbound; 1 inbound "
                                        "lots)"));

    /* The lot cancelled: removed; later events there are dropped. */
    test_lot(e, ATP_EV_LOT_CANCEL);
    assert_int_equal(engine_rules_replace(e, &f.y, &z, &rep), ATP_OK);
    assert_int_equal(rep.moved.removed, 1);
    assert_int_equal(rep.moved.locations, 0);
    test_set(e, "A", 1, 9);
    assert_int_equal(test_ask(e, "A", 0).supply, 2);
    assert_int_equal(test_ask(e, "A", 1).supply, 0);

    /* Named again (in us): empty, then counted in us. */
    assert_int_equal(engine_rules_replace(e, &z, &f.x, &rep), ATP_OK);
    assert_int_equal(rep.moved.restored, 1);
    assert_int_equal(test_ask(e, "A", 0).supply, 2);
    test_set(e, "A", 1, 3);
    assert_int_equal(test_ask(e, "A", 0).supply, 5);

    config_fini(&z);
    test_end(&f);
}

/* ---- atomicity: readers of several rows ------------------------------------
 */

#define TEST_SKUS 256
#define TEST_MOVES 300

typedef struct test_reader {
    engine *e;
    engine_query_line lines[2 * TEST_SKUS];
    char ids[TEST_SKUS][8];
    _Atomic bool stop;
    _Atomic bool moving; /* the test thread is inside engine_rules_replace */
    uint64_t reads, torn, during, seen_x, seen_y;
} test_reader;

/* Per SKU: dc1 3, dc2 7 (moving), dc3 5; us is 10 (x) or 3 (y). */
static void *test_read(void *arg)
{
    test_reader *r = arg;
    engine_answer ans[2 * TEST_SKUS];
    while (!atomic_load(&r->stop)) {
        bool during = atomic_load(&r->moving);
        engine_query_lines(r->e, r->lines, 2 * TEST_SKUS, ans);
        during = during || atomic_load(&r->moving);
        int64_t us_total = 0;
        for (size_t i = 0; i < TEST_SKUS; i++) {
            int64_t us = ans[2 * i].supply, eu = ans[2 * i + 1].supply;
            r->torn += us + eu != 15; /* counted in both, or in neither */
            us_total += us;
        }
        r->torn += us_total != 10 * TEST_SKUS && us_total != 3 * TEST_SKUS;
        r->seen_x += us_total == 10 * TEST_SKUS;
        r->seen_y += us_total == 3 * TEST_SKUS;
        r->during += during;
        r->reads++;
    }
    return NULL;
}

static void test_readers_see_whole_moves(void **state)
{
    (void)state;
    test_fix f = {0};
    engine *e = test_begin(&f, test_x, test_y);
    config *x = &f.x, *y = &f.y;
    static test_reader r;
    memset(&r, 0, sizeof r);
    r.e = e;
    static engine_event ev[3 * TEST_SKUS];
    for (size_t i = 0; i < TEST_SKUS; i++) {
        snprintf(r.ids[i], sizeof r.ids[i], "S%zu", i);
        uint32_t len = (uint32_t)strlen(r.ids[i]);
        for (uint32_t reg = 0; reg < 2; reg++)
            r.lines[2 * i + reg] = (engine_query_line){r.ids[i], len, reg, 0};
        static const int64_t qty[3] = {3, 7, 5};
        for (uint16_t l = 0; l < 3; l++)
            ev[3 * i + l] = (engine_event){.kind = ATP_EV_SET,
                                           .bucket = ATP_BUCKET_ON_HAND,
                                           .location = l,
                                           .sku = r.ids[i],
                                           .sku_len = len,
                                           .value = qty[l]};
    }
    engine_batch b = {
        .events = ev, .n = 3 * TEST_SKUS, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_read, &r), 0);
    for (int i = 0; i < TEST_MOVES; i++) {
        atomic_store(&r.moving, true);
        engine_rules_report rep;
        assert_int_equal(
            engine_rules_replace(e, i % 2 ? y : x, i % 2 ? x : y, &rep),
            ATP_OK);
        assert_int_equal(rep.moved.positions, TEST_SKUS);
        atomic_store(&r.moving, false);
    }
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    fprintf(stderr,
            "reads %llu, during a move %llu, x %llu, y %llu, torn %llu\n",
            (unsigned long long)r.reads, (unsigned long long)r.during,
            (unsigned long long)r.seen_x, (unsigned long long)r.seen_y,
            (unsigned long long)r.torn);
    assert_int_equal(r.torn, 0);
    /* Not vacuous: reads overlapped the moves and saw both sides. */
    assert_true(r.during >= 10);
    assert_true(r.seen_x > 0 && r.seen_y > 0);

    test_end(&f);
}

/* Issue 12 B(2) with a reload: after a restart wms (allocating at dc2,
 * then in us) had applied up to seq 5 (the applied file). R is reserved
 * in eu and committed before wms resends; a reload then moves dc2 to eu;
 * the resend of seq 5 (an allocation at dc2 naming R, applied before the
 * crash) must not consume R; seq 6 does. Without the commit marking wms
 * (it could not allocate in eu then), the resend consumed R. */
#define TEST_SRC                                                               \
    "sources:\n"                                                               \
    "  - {id: erp, authority: [{locations: [dc1, dc2, dc3], buckets: "         \
    "[on_hand]}]}\n"                                                           \
    "  - {id: wms, authority: [{locations: [dc2], buckets: [allocated]}]}\n"
static const char test_src_x[] =
    TEST_HEAD "locations: [{id: dc1, region: us}, {id: dc2, region: us},\n"
              "            {id: dc3, region: eu}]\n" TEST_SRC;
static const char test_src_y[] =
    TEST_HEAD "locations: [{id: dc1, region: us}, {id: dc2, region: eu},\n"
              "            {id: dc3, region: eu}]\n" TEST_SRC;

static void test_allocate(engine *e, uint64_t seq, int64_t qty)
{
    engine_event ev = {.kind = ATP_EV_DELTA,
                       .bucket = ATP_BUCKET_ALLOCATED,
                       .location = 1,
                       .sku = "A",
                       .sku_len = 1,
                       .value = qty,
                       .ref = "R",
                       .ref_len = 1};
    engine_batch b = {.events = &ev,
                      .n = 1,
                      .from_source = true,
                      .source = 1,
                      .seq = seq,
                      .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static int64_t test_consumed(engine *e, engine_resv_op op)
{
    engine_resv_req req = {
        .op = op, .id = "R", .id_len = 1, .done = test_done_line};
    int64_t consumed = -1;
    req.arg = &consumed;
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return consumed;
}

static void test_floor_marks_moved_source(void **state)
{
    (void)state;
    test_fix f;
    test_load(&f.x, test_src_x);
    test_load(&f.y, test_src_y);
    assert_int_equal(engine_alloc(&f.x, NULL, &f.e), ATP_OK);
    uint64_t applied[2] = {0, 5}; /* the file as the crash left it */
    uint64_t *slots[2] = {&applied[0], &applied[1]};
    engine_applied_attach(f.e, slots);
    assert_int_equal(engine_start(f.e), ATP_OK);
    engine *e = f.e;
    test_set(e, "A", 1, 20); /* dc2, us */
    test_set(e, "A", 2, 20); /* dc3, eu */
    assert_true(test_reserve(e, "R", "A", 1, 4));
    assert_int_equal(test_consumed(e, ENGINE_RESV_COMMIT), 0);
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &f.x, &f.y, &rep), ATP_OK);
    test_allocate(e, 5, 4); /* the resend: dc2 is in eu now */
    assert_int_equal(test_consumed(e, ENGINE_RESV_GET), 0);
    test_allocate(e, 6, 3);
    assert_int_equal(test_consumed(e, ENGINE_RESV_GET), 3);
    test_end(&f);
}

/* A reload (or an admin change) that gives us an inbound horizon and dc2
 * another type and pickup settings: dc2's lot (due long ago) counts in
 * us's supply in the same command, the row is marked for the change feed,
 * and the next pickup answer has dc2's new settings; the way back undoes
 * both. */
static const char test_h0[] =
    TEST_HEAD "locations: [{id: dc1, region: us}, {id: dc2, region: us, "
              "type: dc}]\n";
static const char test_h1[] =
    "regions: [{id: us, inbound_horizon: 1d}, {id: eu}]\nchannels: [web]\n"
    "locations: [{id: dc1, region: us}, {id: dc2, region: us, type: kiosk, "
    "pickup: true, pickup_buffer: 2}]\n";

typedef struct test_pick {
    char type[32];
    bool pickup;
    int64_t buffer, atp;
} test_pick;

static void test_pick_done(void *arg, const engine_pickup *x)
{
    test_pick *t = arg;
    assert_int_equal(x->err, ATP_OK);
    assert_int_equal(x->n_locs, 2);
    const engine_location_info *li = &x->info[x->locations[1]];
    snprintf(t->type, sizeof t->type, "%s", li->type);
    t->pickup = li->pickup;
    t->buffer = x->locs[1].buffer;
    t->atp = x->locs[1].atp;
}

static test_pick test_pickup_dc2(engine *e)
{
    test_pick t = {{0}, false, -1, -1};
    engine_pickup_line line = {"A", 1};
    assert_int_equal(
        engine_pickup_submit(e, 0, 0, &line, 1, test_pick_done, &t), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return t;
}

static void test_horizon_and_pickup_settings(void **state)
{
    (void)state;
    test_fix f;
    engine *e = test_begin(&f, test_h0, test_h1);
    test_set(e, "A", 1, 10);
    test_lot(e, ATP_EV_LOT_ADD);
    assert_int_equal(test_ask(e, "A", 0).supply, 10); /* horizon 0 */
    test_pick p = test_pickup_dc2(e);
    assert_string_equal(p.type, "dc");
    assert_false(p.pickup);
    assert_int_equal(p.atp, 0);
    (void)test_marked(e);
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &f.x, &f.y, &rep), ATP_OK);
    assert_int_equal(rep.horizons_changed, 1);
    assert_int_equal(test_ask(e, "A", 0).supply, 15); /* the lot counts */
    assert_true(test_marked(e) & 1u);
    p = test_pickup_dc2(e);
    assert_string_equal(p.type, "kiosk");
    assert_true(p.pickup);
    assert_int_equal(p.buffer, 2);
    assert_int_equal(p.atp, 8); /* net 10 - 2, under the region's 15 */
    assert_int_equal(engine_rules_replace(e, &f.y, &f.x, &rep), ATP_OK);
    assert_int_equal(rep.horizons_changed, 1);
    assert_int_equal(test_ask(e, "A", 0).supply, 10);
    assert_true(test_marked(e) & 1u);
    p = test_pickup_dc2(e);
    assert_string_equal(p.type, "dc");
    assert_false(p.pickup);
    test_end(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_move_with_reservations),
        cmocka_unit_test(test_bound_refused),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_readers_see_whole_moves),
        cmocka_unit_test(test_floor_marks_moved_source),
        cmocka_unit_test(test_horizon_and_pickup_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
