/*
 * test_phased_bounds.c - a row's open units (ordinary and dated) stay
 * within 2^53 - 1 on every path that adds them (docs/PROTOCOL.md, "Dated
 * reservations", "A bound"): plain and dated lines, a backorder budget's
 * units and a pinned line are all capped, or the row's reserved total
 * saturates and a later release aborts; a date is dated exactly when it
 * counts as dated (the clock stepped back); and a split line cannot meet a
 * bundle's component line of its SKU (two merged lines of one row would
 * each be decided from the same totals). Found by a review; stepped
 * engine, memory only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define E15 1000000000000000LL
#define NOW 1800000000000LL

typedef struct ans {
    atp_err err;
    bool granted;
    int64_t avail0;
} ans;

static void done(void *arg, const engine_resv_result *res)
{
    ans *a = arg;
    a->err = res->err;
    a->granted = res->granted;
    a->avail0 = res->n_lines > 0 && res->lines ? res->lines[0].available : -1;
}

static engine *stepped(config *cfg, const char *yaml)
{
    test_load(cfg, yaml);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start_stepped(e), ATP_OK);
    engine_step(e, NOW);
    return e;
}

static void events(engine *e, int64_t now, engine_event *ev, int n)
{
    engine_batch b = {.events = ev, .n = (uint32_t)n, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    engine_step(e, now);
}

static ans reserve(engine *e, int64_t now, const char *id,
                   engine_resv_line *lines, uint32_t n, int64_t promise,
                   bool backorder)
{
    ans a = {.err = ATP_E_IO};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = lines,
                           .n_lines = n,
                           .ttl_ms = 300 * DAY,
                           .promise_ms = promise,
                           .backorder = backorder,
                           .done = done,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    engine_step(e, now);
    return a;
}

static void release(engine *e, int64_t now, const char *id)
{
    ans a = {.err = ATP_E_IO};
    engine_resv_req req = {.op = ENGINE_RESV_RELEASE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .done = done,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    engine_step(e, now);
    assert_int_equal(a.err, ATP_OK);
}

/* 9 future lots of 10^15 (horizon 0), 9 dated reserves of 10^15 covered
 * by them (hold 0), then ordinary units beyond ATP from a backorder
 * budget of 10^15: open units 10^16 > 2^53-1. */
static const char yaml_bo[] =
    "regions:\n  - {id: r, inbound_horizon: 0}\n"
    "locations:\n  - {id: l0, region: r, pickup: true}\n"
    "reservations: {max_ttl: 366d}\n"
    "buffers:\n  - {sku: A, units: 0, backorder: 1000000000000000}\n";

static void lots9(engine *e)
{
    static char ids[9][4];
    engine_event ev[9];
    for (int i = 0; i < 9; i++) {
        snprintf(ids[i], sizeof ids[i], "L%d", i);
        ev[i] = (engine_event){.kind = ATP_EV_LOT_ADD,
                               .location = 0,
                               .sku = "A",
                               .sku_len = 1,
                               .ref = ids[i],
                               .ref_len = (uint32_t)strlen(ids[i]),
                               .value = E15,
                               .eta_ms = NOW + DAY};
    }
    events(e, NOW, ev, 9);
}

static void dated9(engine *e)
{
    char id[8];
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "d%d", i);
        engine_resv_line l = {
            .sku = "A", .sku_len = 1, .region = 0, .qty = E15};
        assert_true(reserve(e, NOW, id, &l, 1, NOW + 2 * DAY, false).granted);
    }
}

static void test_backorder_passes_bound(void **state)
{
    (void)state;
    config cfg;
    engine *e = stepped(&cfg, yaml_bo);
    lots9(e);
    dated9(e);
    engine_resv_line l = {.sku = "A", .sku_len = 1, .region = 0, .qty = E15};
    ans a = reserve(e, NOW, "bo", &l, 1, 0, true);
    int64_t now = NOW + 2 * DAY + 1;
    engine_step(e, now); /* the dates convert */
    engine_answer x;
    engine_query(e, "A", 1, 0, 0, &x);
    assert_false(a.granted);               /* the docs' bound */
    assert_int_equal(x.reserved, 9 * E15); /* exact, not saturated */
    char id[8];
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "d%d", i);
        release(e, now, id);
    }
    engine_query(e, "A", 1, 0, 0, &x);
    assert_int_equal(x.reserved, 0);
    engine_free(e);
    config_fini(&cfg);
}

/* The same with a line pinned to a pickup location (on hand 10^15). */
static void test_pinned_passes_bound(void **state)
{
    (void)state;
    config cfg;
    engine *e = stepped(&cfg, yaml_bo);
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .location = 0,
                       .sku = "A",
                       .sku_len = 1,
                       .value = E15};
    events(e, NOW, &ev, 1);
    lots9(e);
    dated9(e);
    engine_resv_line l = {
        .sku = "A", .sku_len = 1, .region = 0, .qty = E15, .pin = 1};
    ans a = reserve(e, NOW, "pin", &l, 1, 0, false);
    engine_resv_line u = {.sku = "A", .sku_len = 1, .region = 0, .qty = E15};
    ans b = reserve(e, NOW, "plain", &u, 1, 0, false);
    assert_false(b.granted);
    engine_step(e, NOW + 2 * DAY + 1);
    engine_answer x;
    engine_query(e, "A", 1, 0, 0, &x);
    assert_false(a.granted);
    assert_int_equal(x.reserved, 9 * E15);
    engine_free(e);
    config_fini(&cfg);
}

/* A split line of X over [a, b] and a bundle line (KIT = 1 X) in b: two
 * merged lines of the row (X, b), each decided on the same pre-grant
 * totals. */
static const char yaml_split[] =
    "regions:\n  - {id: a}\n  - {id: b}\n"
    "locations:\n  - {id: la, region: a}\n  - {id: lb, region: b}\n"
    "reservations: {max_ttl: 366d}\n"
    "bundles:\n  - {sku: KIT, components: [{sku: X, qty: 1}]}\n";

static void test_split_and_bundle(void **state)
{
    (void)state;
    config cfg;
    engine *e = stepped(&cfg, yaml_split);
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .location = 1,
                       .sku = "X",
                       .sku_len = 1,
                       .value = 10};
    events(e, NOW, &ev, 1);
    uint32_t b = 1;
    engine_resv_line l[2] = {
        {.sku = "X",
         .sku_len = 1,
         .region = 0,
         .qty = 10,
         .split = &b,
         .n_split = 1},
        {.sku = "KIT", .sku_len = 3, .region = 1, .qty = 10}};
    ans a = reserve(e, NOW, "s", l, 2, 0, false);
    engine_answer x;
    engine_query(e, "X", 1, 1, 0, &x);
    assert_int_equal(a.err, ATP_E_BAD_REQUEST);
    assert_int_equal(x.reserved, 0);
    engine_free(e);
    config_fini(&cfg);
}

/* Nine locations of 10^15 and lots of 10^15: 9 x 10^15 ordinary leave
 * 2^53 - 1 - 9 x 10^15 (about 7.2 x 10^12) for dates; the lots cancelled
 * and back, the date passed, everything released: reserved exact all
 * along, back to 0, never below (a release used to abort). */
static const char yaml_big[] =
    "regions:\n  - {id: r, inbound_horizon: 0}\n"
    "locations:\n"
    "  - {id: l0, region: r}\n  - {id: l1, region: r}\n"
    "  - {id: l2, region: r}\n  - {id: l3, region: r}\n"
    "  - {id: l4, region: r}\n  - {id: l5, region: r}\n"
    "  - {id: l6, region: r}\n  - {id: l7, region: r}\n"
    "  - {id: l8, region: r}\n"
    "reservations: {max_ttl: 366d}\n";

static void test_ordinary_and_dated_bound(void **state)
{
    (void)state;
    config cfg;
    engine *e = stepped(&cfg, yaml_big);
    engine_event ev[18];
    char ids[9][8];
    for (int i = 0; i < 9; i++) {
        snprintf(ids[i], sizeof ids[i], "L%d", i);
        ev[i] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = (uint16_t)i,
                               .sku = "A",
                               .sku_len = 1,
                               .value = E15};
        ev[9 + i] = (engine_event){.kind = ATP_EV_LOT_ADD,
                                   .location = 0,
                                   .sku = "A",
                                   .sku_len = 1,
                                   .ref = ids[i],
                                   .ref_len = (uint32_t)strlen(ids[i]),
                                   .value = E15,
                                   .eta_ms = NOW + DAY};
    }
    events(e, NOW, ev, 18);
    char id[16];
    engine_resv_line l = {.sku = "A", .sku_len = 1, .region = 0, .qty = E15};
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "o%d", i);
        assert_true(reserve(e, NOW, id, &l, 1, 0, false).granted);
    }
    int dated = 0;
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "d%d", i);
        dated += reserve(e, NOW, id, &l, 1, NOW + 2 * DAY, false).granted;
    }
    assert_int_equal(dated, 0);
    engine_resv_line small = l;
    small.qty = 7000000000000LL;
    assert_true(
        reserve(e, NOW, "d-small", &small, 1, NOW + 2 * DAY, false).granted);
    for (int i = 0; i < 9; i++)
        ev[9 + i].kind = ATP_EV_LOT_CANCEL;
    events(e, NOW, ev + 9, 9);
    for (int i = 0; i < 9; i++)
        ev[9 + i].kind = ATP_EV_LOT_ADD;
    events(e, NOW, ev + 9, 9);
    engine_answer a;
    engine_query(e, "A", 1, 0, 0, &a);
    assert_int_equal(a.reserved, 9 * E15); /* the lots cover the date */
    engine_resv_line one = l;
    one.qty = 1;
    assert_false(reserve(e, NOW, "x", &one, 1, 0, false).granted);
    int64_t now = NOW + 2 * DAY + 1;
    engine_step(e, now);
    engine_query(e, "A", 1, 0, 0, &a);
    assert_int_equal(a.reserved, 9 * E15 + 7000000000000LL);
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "o%d", i);
        release(e, now, id);
    }
    release(e, now, "d-small");
    engine_query(e, "A", 1, 0, 0, &a);
    assert_int_equal(a.reserved, 0);
    engine_free(e);
    config_fini(&cfg);
}

/* The wall clock stepped back an hour: a date between now and the
 * engine's conversion clock counts as ordinary, so it is checked as
 * ordinary too (it was checked against the lots and then held against
 * present stock: 50 granted on a shelf of 10). */
static void test_clock_back(void **state)
{
    (void)state;
    config cfg;
    engine *e = stepped(&cfg, yaml_big);
    engine_step(e, NOW + HOUR); /* the conversion clock at NOW + 1h */
    engine_event ev[2] = {{.kind = ATP_EV_SET,
                           .bucket = ATP_BUCKET_ON_HAND,
                           .location = 0,
                           .sku = "A",
                           .sku_len = 1,
                           .value = 10},
                          {.kind = ATP_EV_LOT_ADD,
                           .location = 0,
                           .sku = "A",
                           .sku_len = 1,
                           .ref = "L",
                           .ref_len = 1,
                           .value = 100,
                           .eta_ms = NOW + 10 * 60000}};
    events(e, NOW, ev, 2);
    engine_resv_line l = {.sku = "A", .sku_len = 1, .region = 0, .qty = 50};
    ans a = reserve(e, NOW, "p", &l, 1, NOW + 30 * 60000, false);
    assert_int_equal(a.err, ATP_OK);
    assert_false(a.granted);
    assert_int_equal(a.avail0, 10);
    engine_answer x;
    engine_query(e, "A", 1, 0, 0, &x);
    assert_int_equal(x.shortfall, 0);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backorder_passes_bound),
        cmocka_unit_test(test_pinned_passes_bound),
        cmocka_unit_test(test_split_and_bundle),
        cmocka_unit_test(test_ordinary_and_dated_bound),
        cmocka_unit_test(test_clock_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
