/*
 * test_reload.c - unit tests of src/engine/reload.c: engine_rules_replace
 * puts new buffer rules in force through the engine thread (answers change
 * at once after it returns), marks for the change feed exactly the rows
 * under a rule added, removed or changed (none when the rules are the
 * same), and after engine_stop refuses with the old rules still in force.
 * Several rules of one SKU (by region, by channel) compare by their whole
 * scope and value: the same set in another order changes nothing, and a
 * rule whose percent or low_stock alone changed is a changed rule.
 * A new location or another set of regions is refused with the reason in
 * the report, and the running rules and answers stay.
 * Threads: the test thread; the engine thread applies.
 * Labels: unit, ops (issue 15).
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
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

#define TEST_PLACES                                                            \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"          \
    "channels: [web]\n"

static const char test_rules_a[] =
    TEST_PLACES "buffers:\n"
                "  - {units: 1}\n"
                "  - {sku: B, region: eu, units: 3}\n"
                "  - {sku: C, units: 2}\n";
/* B in eu: 3 -> 5; C's rule gone; a new one for D (no row yet). */
static const char test_rules_b[] =
    TEST_PLACES "buffers:\n"
                "  - {units: 1}\n"
                "  - {sku: B, region: eu, units: 5}\n"
                "  - {sku: D, units: 4}\n";
/* The global default changes: every row. */
static const char test_rules_c[] =
    TEST_PLACES "buffers:\n"
                "  - {units: 2}\n"
                "  - {sku: B, region: eu, units: 5}\n"
                "  - {sku: D, units: 4}\n";

/* Four rules for A, told apart by region and channel only. */
static const char test_rules_d[] =
    TEST_PLACES "buffers:\n"
                "  - {sku: A, region: us, units: 1}\n"
                "  - {sku: A, region: eu, units: 1}\n"
                "  - {sku: A, channel: web, units: 1}\n"
                "  - {sku: A, units: 1}\n";
/* A/us gains percent 50, A/eu low_stock 3; units the same. */
static const char test_rules_e[] =
    TEST_PLACES "buffers:\n"
                "  - {sku: A, units: 1}\n"
                "  - {sku: A, channel: web, units: 1}\n"
                "  - {sku: A, region: eu, units: 1, low_stock: 3}\n"
                "  - {sku: A, region: us, units: 1, percent: 50}\n";
/* e in another order. */
static const char test_rules_e2[] =
    TEST_PLACES "buffers:\n"
                "  - {sku: A, region: us, units: 1, percent: 50}\n"
                "  - {sku: A, channel: web, units: 1}\n"
                "  - {sku: A, units: 1}\n"
                "  - {sku: A, region: eu, units: 1, low_stock: 3}\n";

/* Supply 10 for A, B, C in both regions. */
static void test_stock(engine *e)
{
    static const char *const skus[] = {"A", "B", "C"};
    engine_event ev[6];
    for (int i = 0; i < 6; i++)
        ev[i] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = (uint16_t)(i % 2),
                               .sku = skus[i / 2],
                               .sku_len = 1,
                               .value = 10};
    engine_batch b = {.events = ev, .n = 6, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static int64_t test_atp(engine *e, const char *sku, uint32_t region)
{
    engine_answer a;
    engine_query(e, sku, strlen(sku), region, 0, &a);
    return a.atp;
}

/* test_marked takes the rows marked since the last call, as "SKU/region"
 * words sorted into buf. */
static const char *test_marked(engine *e, char *buf, size_t cap)
{
    uint64_t *keys = NULL;
    size_t kcap = 0;
    size_t n = engine_changes_take(e, &keys, &kcap);
    char words[16][8];
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t sku = (uint32_t)(keys[i] >> 16),
                 region = (uint32_t)(keys[i] & 0xFFFF);
        engine_change ch;
        assert_true(engine_changes_read(e, sku, region, &ch));
        assert_true(nw < 16);
        snprintf(words[nw++], sizeof words[0], "%.*s/%u", (int)ch.sku_len,
                 ch.sku, region);
    }
    free(keys);
    qsort(words, nw, sizeof words[0],
          (int (*)(const void *, const void *))strcmp);
    buf[0] = '\0';
    for (size_t i = 0; i < nw; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? " " : "",
                 words[i]);
    return buf;
}

static void test_replace(void **state)
{
    (void)state;
    config a, b, c;
    test_load(&a, test_rules_a);
    test_load(&b, test_rules_b);
    test_load(&c, test_rules_c);
    engine *e;
    assert_int_equal(engine_alloc(&a, NULL, &e), ATP_OK);
    engine_changes_enable(e);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    char buf[256];
    test_marked(e, buf, sizeof buf);
    assert_int_equal(test_atp(e, "B", 1), 7);
    assert_int_equal(test_atp(e, "C", 0), 8);

    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &a, &b, &rep), ATP_OK);
    assert_int_equal(rep.rules, 3);
    assert_int_equal(rep.scopes_changed, 4); /* B/eu twice, C, D */
    assert_int_equal(test_atp(e, "B", 1), 5);
    assert_int_equal(test_atp(e, "B", 0), 9);
    assert_int_equal(test_atp(e, "C", 0), 9);
    assert_string_equal(test_marked(e, buf, sizeof buf), "B/1 C/0 C/1");

    /* The same rules again: nothing marked. */
    assert_int_equal(engine_rules_replace(e, &b, &b, &rep), ATP_OK);
    assert_int_equal(rep.scopes_changed, 0);
    assert_string_equal(test_marked(e, buf, sizeof buf), "");

    assert_int_equal(engine_rules_replace(e, &b, &c, &rep), ATP_OK);
    assert_int_equal(test_atp(e, "A", 0), 8);
    assert_string_equal(test_marked(e, buf, sizeof buf),
                        "A/0 A/1 B/0 B/1 C/0 C/1");

    engine_stop(e);
    assert_int_not_equal(engine_rules_replace(e, &c, &a, &rep), ATP_OK);
    assert_int_equal(test_atp(e, "A", 0), 8); /* c's rules still */
    engine_free(e);
    config_fini(&a);
    config_fini(&b);
    config_fini(&c);
}

/* What only a restart applies: refused, nothing changed. */
static void test_refused_places(void **state)
{
    (void)state;
    config a, more_locs, more_regions;
    test_load(&a, test_rules_a);
    test_load(&more_locs,
              "regions: [{id: us}, {id: eu}]\n"
              "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu},"
              " {id: store-1, region: us}]\n"
              "channels: [web]\nbuffers: [{units: 4}]\n");
    test_load(&more_regions,
              "regions: [{id: us}, {id: eu}, {id: ap}]\n"
              "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"
              "channels: [web]\nbuffers: [{units: 4}]\n");
    engine *e;
    assert_int_equal(engine_alloc(&a, NULL, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    assert_int_equal(test_atp(e, "A", 0), 9);
    engine_rules_report rep;
    const config *refused[] = {&more_locs, &more_regions};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(engine_rules_replace(e, &a, refused[i], &rep),
                         ATP_E_CONFIG);
        assert_string_equal(rep.refused,
                            "a region, location or channel atpd has no place "
                            "for: only a restart applies that");
        assert_int_equal(test_atp(e, "A", 0), 9); /* a's rules still */
    }
    engine_stop(e);
    engine_free(e);
    config_fini(&a);
    config_fini(&more_locs);
    config_fini(&more_regions);
}

static void test_same_sku_rules(void **state)
{
    (void)state;
    config d, e, e2;
    test_load(&d, test_rules_d);
    test_load(&e, test_rules_e);
    test_load(&e2, test_rules_e2);
    engine *eng;
    assert_int_equal(engine_alloc(&d, NULL, &eng), ATP_OK);
    engine_changes_enable(eng);
    assert_int_equal(engine_start(eng), ATP_OK);
    test_stock(eng);
    char buf[256];
    test_marked(eng, buf, sizeof buf);
    assert_int_equal(test_atp(eng, "A", 0), 9);
    assert_int_equal(test_atp(eng, "A", 1), 9);

    /* Only the percent of A/us and the low_stock of A/eu differ. */
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(eng, &d, &e, &rep), ATP_OK);
    assert_int_equal(rep.rules, 4);
    assert_int_equal(rep.scopes_changed, 4); /* A/us and A/eu, old and new */
    assert_string_equal(test_marked(eng, buf, sizeof buf), "A/0 A/1");
    assert_int_equal(test_atp(eng, "A", 0), 5); /* 50 % of 10 kept back */
    assert_int_equal(test_atp(eng, "A", 1), 9); /* low_stock: ATP unchanged */

    /* The same rules in another order: nothing changed, nothing marked. */
    assert_int_equal(engine_rules_replace(eng, &e, &e2, &rep), ATP_OK);
    assert_int_equal(rep.scopes_changed, 0);
    assert_string_equal(test_marked(eng, buf, sizeof buf), "");
    assert_int_equal(test_atp(eng, "A", 0), 5);

    engine_stop(eng);
    engine_free(eng);
    config_fini(&d);
    config_fini(&e);
    config_fini(&e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_refused_places),
        cmocka_unit_test(test_same_sku_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
