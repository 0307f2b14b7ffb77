/*
 * test_resv_partial.c - unit tests of partial reserves and split lines in
 * src/engine/resv.c (docs/PROTOCOL.md, "Partial reservations", "Split
 * lines"): each line gets what its ATP has at that instant, a line with
 * nothing is left out, nothing at all is a refusal; a split line takes
 * from its regions in order; a replay is told by what was asked (in any
 * order; a split line's regions in theirs), not by what was granted; an
 * all-or-nothing request never replays a partial one. Memory-only engine
 * (no store).
 *
 * Threads: the test thread submits and reads the answers after
 * engine_sync; the engine thread decides and calls the done callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

static const char test_yaml[] = "regions:\n  - id: us-east\n  - id: eu\n"
                                "locations:\n"
                                "  - {id: dc-1, region: us-east}\n"
                                "  - {id: dc-eu, region: eu}\n";

#define TEST_MAX_LINES 8

/* One answer, copied out of the callback. */
typedef struct test_answer {
    atp_err err;
    bool granted, replayed;
    uint32_t n;
    struct {
        char sku[8];
        uint32_t region;
        int64_t qty, available;
    } lines[TEST_MAX_LINES];
} test_answer;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_answer *a = arg;
    memset(a, 0, sizeof *a);
    a->err = res->err;
    a->granted = res->granted;
    a->replayed = res->replayed;
    a->n = res->n_lines;
    for (uint32_t i = 0; i < res->n_lines && i < TEST_MAX_LINES; i++) {
        memcpy(a->lines[i].sku, res->lines[i].sku, res->lines[i].sku_len);
        a->lines[i].region = res->lines[i].region;
        a->lines[i].qty = res->lines[i].qty;
        a->lines[i].available = res->lines[i].available;
    }
}

/* test_reserve: reserve id with lines "SKU region qty" (sku one letter). */
static test_answer test_reserve(engine *e, const char *id, bool partial,
                                const engine_resv_line *lines, uint32_t n)
{
    test_answer a;
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = lines,
                           .n_lines = n,
                           .partial = partial,
                           .done = test_done,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return a;
}

static engine_resv_line test_line(const char *sku, uint32_t region, int64_t qty)
{
    return (engine_resv_line){.sku = sku,
                              .sku_len = (uint32_t)strlen(sku),
                              .region = region,
                              .qty = qty};
}

static int64_t test_atp(engine *e, const char *sku, uint32_t region)
{
    engine_answer a;
    engine_query(e, sku, (uint32_t)strlen(sku), region, 0, &a);
    return a.atp;
}

static engine *test_engine(config *cfg)
{
    test_load(cfg, test_yaml);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    static engine_event ev[] = {
        {.kind = ATP_EV_SET,
         .bucket = ATP_BUCKET_ON_HAND,
         .location = 0,
         .sku_len = 1,
         .sku = "A",
         .value = 5},
        {.kind = ATP_EV_SET,
         .bucket = ATP_BUCKET_ON_HAND,
         .location = 0,
         .sku_len = 1,
         .sku = "B",
         .value = 2},
        {.kind = ATP_EV_SET,
         .bucket = ATP_BUCKET_ON_HAND,
         .location = 1,
         .sku_len = 1,
         .sku = "B",
         .value = 9},
    };
    static engine_batch b = {.events = ev, .n = 3, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return e;
}

static void test_partial_fills_what_is_there(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    /* A 3 of 5, B 4 of 2 in us-east, C unknown (nothing): A 3, B 2. */
    engine_resv_line l[] = {test_line("A", 0, 3), test_line("B", 0, 4),
                            test_line("C", 0, 1)};
    test_answer a = test_reserve(e, "p1", true, l, 3);
    assert_int_equal(a.err, ATP_OK);
    assert_true(a.granted);
    assert_false(a.replayed);
    assert_int_equal(a.n, 2); /* C left out */
    assert_string_equal(a.lines[0].sku, "A");
    assert_int_equal(a.lines[0].qty, 3);
    assert_string_equal(a.lines[1].sku, "B");
    assert_int_equal(a.lines[1].qty, 2);
    assert_int_equal(test_atp(e, "A", 0), 2);
    assert_int_equal(test_atp(e, "B", 0), 0);
    assert_int_equal(test_atp(e, "B", 1), 9); /* another region untouched */

    /* The same request in another order: the original answer. */
    engine_resv_line again[] = {test_line("C", 0, 1), test_line("B", 0, 4),
                                test_line("A", 0, 3)};
    a = test_reserve(e, "p1", true, again, 3);
    assert_true(a.granted);
    assert_true(a.replayed);
    assert_int_equal(test_atp(e, "A", 0), 2); /* nothing held twice */
    /* What was granted, asked for all or nothing, or asked partially
     * with another quantity: conflicts. */
    engine_resv_line granted[] = {test_line("A", 0, 3), test_line("B", 0, 2)};
    assert_int_equal(test_reserve(e, "p1", false, granted, 2).err,
                     ATP_E_CONFLICT);
    assert_int_equal(test_reserve(e, "p1", true, granted, 2).err,
                     ATP_E_CONFLICT);
    assert_int_equal(test_reserve(e, "p1", false, l, 3).err, ATP_E_CONFLICT);

    /* Nothing at all: refused, with what each line had. */
    engine_resv_line none[] = {test_line("B", 0, 1), test_line("C", 0, 2)};
    a = test_reserve(e, "p2", true, none, 2);
    assert_int_equal(a.err, ATP_OK);
    assert_false(a.granted);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.lines[0].available, 0);
    /* A refusal stores nothing: the same id may try again, all or
     * nothing this time. */
    engine_resv_line a2[] = {test_line("A", 0, 2)};
    a = test_reserve(e, "p2", false, a2, 1);
    assert_true(a.granted);
    assert_int_equal(test_atp(e, "A", 0), 0);
    /* An all-or-nothing reserve is never replayed by a partial one. */
    assert_int_equal(test_reserve(e, "p2", true, a2, 1).err, ATP_E_CONFLICT);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Lines of one (sku, region) are summed before the decision, as for an
 * all-or-nothing reserve: 4 + 4 of A's 5 gives one line of 5. */
static void test_partial_merges_lines(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    engine_resv_line l[] = {test_line("A", 0, 4), test_line("B", 1, 3),
                            test_line("A", 0, 4)};
    test_answer a = test_reserve(e, "m1", true, l, 3);
    assert_true(a.granted);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.lines[0].qty, 5);
    assert_int_equal(a.lines[1].qty, 3);
    assert_int_equal(a.lines[1].region, 1);
    engine_resv_line same[] = {test_line("B", 1, 3), test_line("A", 0, 8)};
    assert_true(test_reserve(e, "m1", true, same, 2).replayed);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* B: 2 in us-east, 9 in eu. A split line [B, [us-east, eu], 5] takes 2
 * then 3; all or nothing, 12 is refused with what both had (11); partial,
 * it takes the rest. The regions' order is part of what was asked. */
static void test_split_line(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    static const uint32_t eu[] = {1};
    engine_resv_line l = test_line("B", 0, 5);
    l.split = eu;
    l.n_split = 1;
    test_answer a = test_reserve(e, "s1", false, &l, 1);
    assert_true(a.granted);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.lines[0].region, 0);
    assert_int_equal(a.lines[0].qty, 2);
    assert_int_equal(a.lines[1].region, 1);
    assert_int_equal(a.lines[1].qty, 3);
    assert_int_equal(test_atp(e, "B", 0), 0);
    assert_int_equal(test_atp(e, "B", 1), 6);
    assert_true(test_reserve(e, "s1", false, &l, 1).replayed);
    /* Not the same request: the line without its split, or partial. */
    engine_resv_line plain = test_line("B", 0, 5);
    assert_int_equal(test_reserve(e, "s1", false, &plain, 1).err,
                     ATP_E_CONFLICT);
    assert_int_equal(test_reserve(e, "s1", true, &l, 1).err, ATP_E_CONFLICT);
    /* The other order: eu first. */
    static const uint32_t us[] = {0};
    engine_resv_line rev = test_line("B", 1, 12);
    rev.split = us;
    rev.n_split = 1;
    a = test_reserve(e, "s2", false, &rev, 1);
    assert_false(a.granted);
    assert_int_equal(a.lines[0].available, 6);
    a = test_reserve(e, "s2", true, &rev, 1);
    assert_true(a.granted);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.lines[0].region, 1);
    assert_int_equal(a.lines[0].qty, 6);
    assert_int_equal(test_atp(e, "B", 1), 0);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_fills_what_is_there),
        cmocka_unit_test(test_partial_merges_lines),
        cmocka_unit_test(test_split_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
