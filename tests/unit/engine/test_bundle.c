/*
 * test_bundle.c - bundles in the engine (src/engine/bundle.c;
 * docs/PROTOCOL.md, "Bundles"): a bundle's answer from its components, a
 * bundle line reserved as its components all or nothing with the
 * request's other lines, the refused combinations, a replay told by what
 * was asked across a definition change (engine_rules_replace), and the
 * change feed marking a bundle when a component changes. Memory-only
 * engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

#define TEST_YAML_HEAD                                                         \
    "regions:\n  - id: us\n"                                                   \
    "locations:\n  - {id: dc, region: us}\n"
static const char test_yaml[] =
    TEST_YAML_HEAD "bundles:\n"
                   "  - {sku: KIT, components: [{sku: A, qty: 2}, {sku: B, "
                   "qty: 1}]}\n";
/* The same bundle, now 3 of A. */
static const char test_yaml_next[] =
    TEST_YAML_HEAD "bundles:\n"
                   "  - {sku: KIT, components: [{sku: A, qty: 3}, {sku: B, "
                   "qty: 1}]}\n";
/* No bundle at all any more. */
static const char test_yaml_none[] = TEST_YAML_HEAD;

typedef struct test_answer {
    atp_err err;
    bool granted, replayed, has_line;
    uint32_t n, line;
    int64_t qty[4];
} test_answer;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_answer *a = arg;
    memset(a, 0, sizeof *a);
    a->err = res->err;
    a->granted = res->granted;
    a->replayed = res->replayed;
    a->has_line = res->has_line;
    a->line = res->line;
    a->n = res->has_record ? res->n_lines : 0;
    for (uint32_t i = 0; i < a->n && i < 4; i++)
        a->qty[i] = res->lines[i].qty;
}

static test_answer test_reserve(engine *e, const char *id,
                                const engine_resv_line *lines, uint32_t n,
                                bool partial)
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

static engine_resv_line test_line(const char *sku, int64_t qty)
{
    return (engine_resv_line){
        .sku = sku, .sku_len = (uint32_t)strlen(sku), .qty = qty};
}

static engine_answer test_atp(engine *e, const char *sku)
{
    engine_answer a;
    engine_query(e, sku, strlen(sku), 0, 0, &a);
    return a;
}

static void test_stock(engine *e, const char *sku, int64_t qty)
{
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .sku_len = (uint32_t)strlen(sku),
                       .sku = sku,
                       .value = qty};
    engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static void test_bundle_answer_and_reserve(void **state)
{
    (void)state;
    config cfg, next;
    test_load(&cfg, test_yaml);
    test_load(&next, test_yaml_next);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(&cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e, "A", 7);
    test_stock(e, "B", 5);
    engine_answer k = test_atp(e, "KIT");
    assert_int_equal(k.atp, 3); /* A: 7 / 2 */
    assert_int_equal(k.supply, 3);
    assert_int_equal(k.reserved, 0);
    assert_non_null(k.limiting);
    assert_memory_equal(k.limiting, "A", 1);

    /* KIT x2 + B x1: A 4, B 3, all or nothing */
    engine_resv_line cart[] = {test_line("KIT", 2), test_line("B", 1)};
    test_answer a = test_reserve(e, "r1", cart, 2, false);
    assert_true(a.granted);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.qty[0], 4);
    assert_int_equal(a.qty[1], 3);
    assert_int_equal(test_atp(e, "KIT").atp, 1); /* A 3, B 2 */
    /* KIT x2 needs A 4 of 3: refused whole, B untouched */
    engine_resv_line two[] = {test_line("KIT", 2)};
    a = test_reserve(e, "r2", two, 1, false);
    assert_false(a.granted);
    assert_int_equal(test_atp(e, "B").atp, 2);
    /* partial with a bundle line: refused */
    a = test_reserve(e, "r3", two, 1, true);
    assert_int_equal(a.err, ATP_E_BAD_REQUEST);
    engine_resv_line huge[] = {test_line("KIT", ATP_QTY_MAX)};
    assert_int_equal(test_reserve(e, "r4", huge, 1, false).err, ATP_E_BAD_QTY);

    /* the definition changes to 3 of A: r1's replay is still r1 */
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &cfg, &next, &rep), ATP_OK);
    assert_int_equal(test_atp(e, "KIT").atp, 1); /* A 3 / 3 */
    a = test_reserve(e, "r1", cart, 2, false);
    assert_true(a.granted);
    assert_true(a.replayed);
    assert_int_equal(a.qty[0], 4);
    engine_resv_line other[] = {test_line("KIT", 1), test_line("B", 1)};
    assert_int_equal(test_reserve(e, "r1", other, 2, false).err,
                     ATP_E_CONFLICT);

    /* an error about a line names the client's line, not an expanded
     * one: KIT is lines 0 and 1 inside, the bad line is the request's 1 */
    uint32_t many[ENGINE_SPLIT_MAX] = {0};
    engine_resv_line bad[] = {test_line("KIT", 1), test_line("C", 1)};
    bad[1].split = many;
    bad[1].n_split = ENGINE_SPLIT_MAX;
    a = test_reserve(e, "r5", bad, 2, false);
    assert_int_equal(a.err, ATP_E_BAD_REQUEST);
    assert_true(a.has_line);
    assert_int_equal(a.line, 1);

    /* a plain reserve of a SKU that becomes a bundle afterwards: its
     * retry is still the original, not an expansion under the new
     * definition (nor a conflict) */
    engine_resv_line plain[] = {test_line("A", 1)};
    assert_true(test_reserve(e, "p1", plain, 1, false).granted);
    assert_true(test_reserve(e, "p2", plain, 1, true).granted); /* partial */

    /* the bundle removed: r1's replay still answers r1 */
    config none;
    test_load(&none, test_yaml_none);
    assert_int_equal(engine_rules_replace(e, &next, &none, &rep), ATP_OK);
    assert_null(test_atp(e, "KIT").limiting);
    a = test_reserve(e, "r1", cart, 2, false);
    assert_true(a.granted);
    assert_true(a.replayed);
    /* A becomes a bundle: p1's and p2's retries are replays */
    static const char yaml_a[] = TEST_YAML_HEAD
        "bundles:\n  - {sku: A, components: [{sku: B, qty: 1}]}\n";
    config as_bundle;
    test_load(&as_bundle, yaml_a);
    assert_int_equal(engine_rules_replace(e, &none, &as_bundle, &rep), ATP_OK);
    assert_non_null(test_atp(e, "A").limiting);
    a = test_reserve(e, "p1", plain, 1, false);
    assert_int_equal(a.err, ATP_OK);
    assert_true(a.replayed);
    a = test_reserve(e, "p2", plain, 1, true);
    assert_int_equal(a.err, ATP_OK);
    assert_true(a.replayed);
    config_fini(&as_bundle);
    engine_stop(e);
    engine_free(e);
    config_fini(&none);
    config_fini(&next);
    config_fini(&cfg);
}

/* The change feed learns a component's bundles from engine_bundles_using
 * (it publishes them with the component), and a definition change marks
 * the bundle's rows itself. */
static void test_bundle_feed_mark(void **state)
{
    (void)state;
    config cfg, next;
    test_load(&cfg, test_yaml);
    test_load(&next, test_yaml_next);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(&cfg, &persist, &e), ATP_OK);
    engine_changes_enable(e);
    assert_int_equal(engine_start(e), ATP_OK);
    uint64_t *taken = NULL;
    size_t cap = 0;
    engine_changes_take(e, &taken, &cap); /* whatever start-up marked */
    test_stock(e, "B", 4);
    size_t n = engine_changes_take(e, &taken, &cap);
    assert_int_equal(n, 1);
    size_t len;
    const char *s = engine_sku_name(e, (uint32_t)(taken[0] >> 16), &len);
    assert_true(len == 1 && s[0] == 'B');
    const uint32_t *users;
    assert_int_equal(
        engine_bundles_using(e, (uint32_t)(taken[0] >> 16), &users), 1);
    s = engine_sku_name(e, users[0], &len);
    assert_true(len == 3 && memcmp(s, "KIT", 3) == 0);
    /* KIT is now 3 of A: its row is marked */
    assert_int_equal(engine_rules_replace(e, &cfg, &next, NULL), ATP_OK);
    n = engine_changes_take(e, &taken, &cap);
    bool kit = false;
    for (size_t i = 0; i < n; i++) {
        s = engine_sku_name(e, (uint32_t)(taken[i] >> 16), &len);
        kit |= len == 3 && memcmp(s, "KIT", 3) == 0;
    }
    assert_true(kit);
    free(taken);
    engine_stop(e);
    engine_free(e);
    config_fini(&next);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_answer_and_reserve),
        cmocka_unit_test(test_bundle_feed_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
