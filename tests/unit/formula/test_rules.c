/*
 * test_rules.c - unit tests of src/formula/rules.c: buffer rule storage and
 * the precedence of DESIGN.md
 *   (sku,region,channel) > (sku,region) > (sku,channel) > (sku) >
 *   (region,channel) > (region) > (channel) > global default (0),
 * plus a seeded randomized comparison against a brute-force reference.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "formula/rules.h"

#define ANY RULES_ANY

/* The fixture of the precedence tests: 3 regions, 3 channels, the query
 * triple (SKU "A1", region 1, channel 2). */
#define N_REG 3
#define N_CH 3
#define Q_REG 1
#define Q_CH 2
#define OTHER_REG 0
#define OTHER_CH 0

static const char *const test_rules_names[ATP_RULE_LEVELS] = {
    "sku+region+channel", "sku+region", "sku+channel", "sku",
    "region+channel",     "region",     "channel",     "global"};

/* Distinct values per level so a hit shows which rule it came from. */
static int64_t test_rules_units(unsigned level)
{
    return 10 * level + 1;
}
static int64_t test_rules_bp(unsigned level)
{
    return 100 * level + 7;
}

static rules *test_rules_new(uint32_t n_regions, uint32_t n_channels)
{
    rules *r = NULL;
    assert_int_equal(rules_alloc(n_regions, n_channels, &r), ATP_OK);
    assert_non_null(r);
    assert_int_equal(rules_count(r), 0);
    return r;
}

/* test_rules_add_level adds the rule of one precedence level for sku (a C
 * string), region and channel, with that level's distinct values. */
static atp_err test_rules_add_level(rules *r, unsigned level, const char *sku,
                                    uint32_t region, uint32_t channel)
{
    bool with_sku = level < 4;
    bool with_reg = level == 0 || level == 1 || level == 4 || level == 5;
    bool with_ch = level == 0 || level == 2 || level == 4 || level == 6;
    return rules_add(r, with_sku ? sku : NULL, with_sku ? strlen(sku) : 0,
                     with_reg ? region : ANY, with_ch ? channel : ANY,
                     test_rules_units(level), test_rules_bp(level));
}

/* test_rules_build returns a set holding the levels whose bit is set in
 * mask, all scoped to ("A1", Q_REG, Q_CH). */
static rules *test_rules_build(unsigned mask)
{
    rules *r = test_rules_new(N_REG, N_CH);
    size_t n = 0;
    for (unsigned lvl = 0; lvl < ATP_RULE_LEVELS; lvl++)
        if (mask & (1u << lvl)) {
            assert_int_equal(test_rules_add_level(r, lvl, "A1", Q_REG, Q_CH),
                             ATP_OK);
            n++;
        }
    assert_int_equal(rules_count(r), n);
    return r;
}

static rules_hit test_rules_q(const rules *r, const char *sku, uint32_t region,
                              uint32_t channel)
{
    rules_hit h;
    memset(&h, 0xa5, sizeof h); /* catch fields left unset */
    rules_match(r, sku, sku ? strlen(sku) : 0, region, channel, &h);
    return h;
}

static void test_rules_expect_level(rules_hit h, unsigned level)
{
    assert_int_equal(h.level, level);
    assert_int_equal(h.units, test_rules_units(level));
    assert_int_equal(h.percent_bp, test_rules_bp(level));
}

static void test_rules_expect_default(rules_hit h)
{
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    assert_int_equal(h.units, 0);
    assert_int_equal(h.percent_bp, 0);
}

/* Which levels can apply to a query, given rules scoped to ("A1", Q_REG,
 * Q_CH): bit set = the level's scope covers the query. */
static unsigned test_rules_applicable(bool sku_eq, bool reg_eq, bool ch_eq)
{
    unsigned m = 0;
    for (unsigned lvl = 0; lvl < ATP_RULE_LEVELS; lvl++) {
        bool with_sku = lvl < 4;
        bool with_reg = lvl == 0 || lvl == 1 || lvl == 4 || lvl == 5;
        bool with_ch = lvl == 0 || lvl == 2 || lvl == 4 || lvl == 6;
        if ((!with_sku || sku_eq) && (!with_reg || reg_eq) &&
            (!with_ch || ch_eq))
            m |= 1u << lvl;
    }
    return m;
}

/* ------------------------------------------------------------ level names */

static void test_rules_level_names(void **state)
{
    (void)state;
    for (unsigned lvl = 0; lvl < ATP_RULE_LEVELS; lvl++)
        assert_string_equal(rules_level_name(lvl), test_rules_names[lvl]);
    assert_string_equal(rules_level_name(ATP_RULE_SKU_REGION_CHANNEL),
                        "sku+region+channel");
    assert_string_equal(rules_level_name(ATP_RULE_GLOBAL), "global");
    assert_string_equal(rules_level_name(ATP_RULE_LEVELS), "unknown");
    assert_string_equal(rules_level_name(255), "unknown");
    assert_string_equal(rules_level_name(UINT_MAX), "unknown");
}

/* ---------------------------------------------------------------- empty */

static void test_rules_empty_is_global_zero(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    test_rules_expect_default(test_rules_q(r, "A1", Q_REG, Q_CH));
    test_rules_expect_default(test_rules_q(r, NULL, 0, 0));
    test_rules_expect_default(test_rules_q(r, "A1", ANY, ANY));
    test_rules_expect_default(test_rules_q(r, "A1", 999, 999));
    rules_free(r);

    r = test_rules_new(0, 0); /* no regions, no channels at all */
    test_rules_expect_default(test_rules_q(r, "A1", 0, 0));
    assert_int_equal(rules_add(r, NULL, 0, 0, ANY, 1, 0), ATP_E_UNKNOWN_REGION);
    assert_int_equal(rules_add(r, NULL, 0, ANY, 0, 1, 0),
                     ATP_E_UNKNOWN_CHANNEL);
    assert_int_equal(rules_add(r, NULL, 0, ANY, ANY, 4, 50), ATP_OK);
    assert_int_equal(rules_add(r, "A1", 2, ANY, ANY, 5, 60), ATP_OK);
    rules_hit h = test_rules_q(r, "B", 0, 0);
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    assert_int_equal(h.units, 4);
    assert_int_equal(h.percent_bp, 50);
    h = test_rules_q(r, "A1", 0, 0);
    assert_int_equal(h.level, ATP_RULE_SKU);
    assert_int_equal(h.units, 5);
    rules_free(r);

    rules_free(NULL); /* allowed */
}

/* A rule's backorder budget comes with the rest of the most specific
 * rule: a (sku, channel) budget, overridden at (sku, region, channel) by
 * a rule without one; a negative budget is refused. */
static void test_rules_backorder_with_the_rule(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    rules_values web = {.backorder = 40}, east = {.units = 2};
    assert_int_equal(rules_add_values(r, "A1", 2, ANY, 1, &web), ATP_OK);
    assert_int_equal(rules_add_values(r, "A1", 2, 0, 1, &east), ATP_OK);
    rules_values bad = {.backorder = -1};
    assert_int_equal(rules_add_values(r, "A1", 2, 1, 1, &bad), ATP_E_BAD_QTY);
    rules_hit h = test_rules_q(r, "A1", 1, 1);
    assert_int_equal(h.level, ATP_RULE_SKU_CHANNEL);
    assert_int_equal(h.backorder, 40);
    assert_int_equal(h.units, 0);
    h = test_rules_q(r, "A1", 0, 1);
    assert_int_equal(h.level, ATP_RULE_SKU_REGION_CHANNEL);
    assert_int_equal(h.backorder, 0);
    assert_int_equal(h.units, 2);
    h = test_rules_q(r, "A1", 1, 0); /* another channel: no rule */
    assert_int_equal(h.backorder, 0);
    rules_values global = {.units = 1, .backorder = 7};
    assert_int_equal(rules_add_values(r, NULL, 0, ANY, ANY, &global), ATP_OK);
    h = test_rules_q(r, "B", 1, 0);
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    assert_int_equal(h.backorder, 7);
    rules_free(r);
}

/* ----------------------------------------------------------- precedence */

static void test_rules_all_levels_each_query(void **state)
{
    (void)state;
    rules *r = test_rules_build(0xff);
    assert_int_equal(rules_count(r), 8);
    /* Each query triple picks the most specific level that covers it. */
    test_rules_expect_level(test_rules_q(r, "A1", Q_REG, Q_CH),
                            ATP_RULE_SKU_REGION_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "A1", Q_REG, OTHER_CH),
                            ATP_RULE_SKU_REGION);
    test_rules_expect_level(test_rules_q(r, "A1", OTHER_REG, Q_CH),
                            ATP_RULE_SKU_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "A1", OTHER_REG, OTHER_CH),
                            ATP_RULE_SKU);
    test_rules_expect_level(test_rules_q(r, "B7", Q_REG, Q_CH),
                            ATP_RULE_REGION_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "B7", Q_REG, OTHER_CH),
                            ATP_RULE_REGION);
    test_rules_expect_level(test_rules_q(r, "B7", OTHER_REG, Q_CH),
                            ATP_RULE_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "B7", OTHER_REG, OTHER_CH),
                            ATP_RULE_GLOBAL);
    /* No SKU in the query (length 0) behaves like an unknown SKU. */
    test_rules_expect_level(test_rules_q(r, NULL, Q_REG, Q_CH),
                            ATP_RULE_REGION_CHANNEL);
    rules_hit h;
    rules_match(r, "A1", 0, Q_REG, Q_CH, &h);
    test_rules_expect_level(h, ATP_RULE_REGION_CHANNEL);
    rules_match(r, "A1", 0, OTHER_REG, OTHER_CH, &h);
    test_rules_expect_level(h, ATP_RULE_GLOBAL);
    rules_free(r);
}

static void test_rules_fallthrough_one_at_a_time(void **state)
{
    (void)state;
    /* Remove levels from the most specific down: the hit walks the chain
     * (sku,region,channel) > (sku,region) > ... > global > built-in 0. */
    for (unsigned first = 0; first <= ATP_RULE_LEVELS; first++) {
        unsigned mask = 0xffu & ~((1u << first) - 1u);
        rules *r = test_rules_build(mask);
        rules_hit h = test_rules_q(r, "A1", Q_REG, Q_CH);
        if (first < ATP_RULE_LEVELS)
            test_rules_expect_level(h, first);
        else
            test_rules_expect_default(h);
        rules_free(r);
    }
    /* Remove exactly one level: the query falls to the next one. */
    for (unsigned gone = 0; gone < ATP_RULE_LEVELS; gone++) {
        rules *r = test_rules_build(0xffu & ~(1u << gone));
        rules_hit h = test_rules_q(r, "A1", Q_REG, Q_CH);
        test_rules_expect_level(h, gone == 0 ? 1 : 0);
        rules_free(r);
    }
    /* Keep exactly one level: only it (or the default) can answer. */
    for (unsigned only = 0; only < ATP_RULE_LEVELS; only++) {
        rules *r = test_rules_build(1u << only);
        test_rules_expect_level(test_rules_q(r, "A1", Q_REG, Q_CH), only);
        rules_free(r);
    }
}

static void test_rules_all_subsets_all_queries(void **state)
{
    (void)state;
    /* Every one of the 256 subsets of levels, every kind of query. */
    static const struct {
        const char *sku;
        uint32_t region, channel;
        bool sku_eq, reg_eq, ch_eq;
    } qs[] = {
        {"A1", Q_REG, Q_CH, true, true, true},
        {"A1", Q_REG, OTHER_CH, true, true, false},
        {"A1", OTHER_REG, Q_CH, true, false, true},
        {"A1", OTHER_REG, OTHER_CH, true, false, false},
        {"A10", Q_REG, Q_CH, false, true, true},
        {"A", Q_REG, OTHER_CH, false, true, false},
        {"a1", OTHER_REG, Q_CH, false, false, true},
        {"Z", OTHER_REG, OTHER_CH, false, false, false},
        {"A1", 2, 1, true, false, false},
        {"A1", 99, Q_CH, true, false, true},  /* out-of-range region */
        {"A1", Q_REG, 99, true, true, false}, /* out-of-range channel */
        {"A1", ANY, ANY, true, false, false},
        {"B", 99, 99, false, false, false},
    };
    for (unsigned mask = 0; mask < 256; mask++) {
        rules *r = test_rules_build(mask);
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            unsigned m = mask & test_rules_applicable(
                                    qs[i].sku_eq, qs[i].reg_eq, qs[i].ch_eq);
            rules_hit h =
                test_rules_q(r, qs[i].sku, qs[i].region, qs[i].channel);
            if (m == 0) {
                test_rules_expect_default(h);
                continue;
            }
            unsigned want = 0;
            while (!(m & (1u << want)))
                want++;
            if (h.level != want)
                fail_msg("mask 0x%02x query %zu: level %u, want %u", mask, i,
                         (unsigned)h.level, want);
            test_rules_expect_level(h, want);
        }
        rules_free(r);
    }
}

/* ------------------------------------------------------------- no match */

static void test_rules_other_sku_region_channel_never_match(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    /* SKU rules at all four SKU levels, but for SKU "B1". */
    for (unsigned lvl = 0; lvl < 4; lvl++)
        assert_int_equal(test_rules_add_level(r, lvl, "B1", Q_REG, Q_CH),
                         ATP_OK);
    /* SKU "A1" rules only for another region / another channel. */
    assert_int_equal(rules_add(r, "A1", 2, OTHER_REG, OTHER_CH, 901, 1),
                     ATP_OK);
    assert_int_equal(rules_add(r, "A1", 2, OTHER_REG, ANY, 902, 2), ATP_OK);
    assert_int_equal(rules_add(r, "A1", 2, ANY, OTHER_CH, 903, 3), ATP_OK);
    /* Non-SKU rules only for another region / channel. */
    assert_int_equal(rules_add(r, NULL, 0, OTHER_REG, OTHER_CH, 904, 4),
                     ATP_OK);
    assert_int_equal(rules_add(r, NULL, 0, OTHER_REG, ANY, 905, 5), ATP_OK);
    assert_int_equal(rules_add(r, NULL, 0, ANY, OTHER_CH, 906, 6), ATP_OK);
    assert_int_equal(rules_count(r), 10);

    test_rules_expect_default(test_rules_q(r, "A1", Q_REG, Q_CH));
    /* Sanity: the same rules do match their own scope. */
    assert_int_equal(test_rules_q(r, "A1", OTHER_REG, OTHER_CH).units, 901);
    assert_int_equal(test_rules_q(r, "A1", OTHER_REG, Q_CH).units, 902);
    assert_int_equal(test_rules_q(r, "A1", Q_REG, OTHER_CH).units, 903);
    assert_int_equal(test_rules_q(r, "C", OTHER_REG, OTHER_CH).units, 904);
    assert_int_equal(test_rules_q(r, "C", OTHER_REG, Q_CH).units, 905);
    assert_int_equal(test_rules_q(r, "C", Q_REG, OTHER_CH).units, 906);
    test_rules_expect_level(test_rules_q(r, "B1", Q_REG, Q_CH), 0);
    rules_free(r);
}

static void test_rules_sku_prefix_never_matches(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    for (unsigned lvl = 0; lvl < 4; lvl++)
        assert_int_equal(test_rules_add_level(r, lvl, "A1", Q_REG, Q_CH),
                         ATP_OK);
    /* "A1" rules never match "A10", "A", "A1 ", "a1", "A11", "XA1". */
    const char *const others[] = {"A10", "A",   "A1 ",       "a1",
                                  "A11", "XA1", "A1\xc3\xa9"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        for (uint32_t reg = 0; reg < N_REG; reg++)
            for (uint32_t ch = 0; ch < N_CH; ch++)
                test_rules_expect_default(test_rules_q(r, others[i], reg, ch));
    /* The length is what counts, not a terminating NUL. */
    rules_hit h;
    rules_match(r, "A10", 2, Q_REG, Q_CH, &h);
    test_rules_expect_level(h, 0);
    rules_match(r, "A1", 1, Q_REG, Q_CH, &h);
    test_rules_expect_default(h);
    rules_free(r);

    /* And the other way round: "A10" rules never match "A1". */
    r = test_rules_new(N_REG, N_CH);
    assert_int_equal(rules_add(r, "A10", 3, ANY, ANY, 10, 0), ATP_OK);
    test_rules_expect_default(test_rules_q(r, "A1", Q_REG, Q_CH));
    test_rules_expect_default(test_rules_q(r, "A100", Q_REG, Q_CH));
    assert_int_equal(test_rules_q(r, "A10", Q_REG, Q_CH).units, 10);
    /* A rule added from a non-terminated buffer stores only sku_len bytes. */
    assert_int_equal(rules_add(r, "A1XYZ", 2, ANY, ANY, 12, 0), ATP_OK);
    assert_int_equal(test_rules_q(r, "A1", 0, 0).units, 12);
    test_rules_expect_default(test_rules_q(r, "A1XYZ", 0, 0));
    rules_free(r);
}

static void test_rules_out_of_range_query(void **state)
{
    (void)state;
    rules *r = test_rules_build(0xff);
    /* A region or channel the set does not know only matches "any". */
    test_rules_expect_level(test_rules_q(r, "A1", 99, Q_CH),
                            ATP_RULE_SKU_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "A1", Q_REG, 99),
                            ATP_RULE_SKU_REGION);
    test_rules_expect_level(test_rules_q(r, "A1", N_REG, N_CH), ATP_RULE_SKU);
    test_rules_expect_level(test_rules_q(r, "B", 99, Q_CH), ATP_RULE_CHANNEL);
    test_rules_expect_level(test_rules_q(r, "B", Q_REG, 99), ATP_RULE_REGION);
    test_rules_expect_level(test_rules_q(r, "B", N_REG, N_CH), ATP_RULE_GLOBAL);
    test_rules_expect_level(test_rules_q(r, "B", ANY, ANY), ATP_RULE_GLOBAL);
    test_rules_expect_level(test_rules_q(r, "A1", ANY, ANY), ATP_RULE_SKU);
    rules_free(r);
}

/* ------------------------------------------------------- add validation */

static void test_rules_conflict_same_scope(void **state)
{
    (void)state;
    rules *r = test_rules_build(0xff);
    for (unsigned lvl = 0; lvl < ATP_RULE_LEVELS; lvl++)
        assert_int_equal(test_rules_add_level(r, lvl, "A1", Q_REG, Q_CH),
                         ATP_E_CONFLICT);
    /* Different values, same scope: still a conflict. */
    assert_int_equal(rules_add(r, "A1", 2, Q_REG, Q_CH, 0, 0), ATP_E_CONFLICT);
    assert_int_equal(rules_add(r, NULL, 0, ANY, ANY, 999, 9999),
                     ATP_E_CONFLICT);
    /* Global via a non-NULL pointer with length 0 is the same scope. */
    assert_int_equal(rules_add(r, "", 0, ANY, ANY, 1, 1), ATP_E_CONFLICT);
    assert_int_equal(rules_add(r, "A1", 0, ANY, ANY, 1, 1), ATP_E_CONFLICT);
    /* Same SKU from a different buffer. */
    char buf[] = {'A', '1', 'q'};
    assert_int_equal(rules_add(r, buf, 2, ANY, ANY, 1, 1), ATP_E_CONFLICT);
    /* Nothing changed. */
    assert_int_equal(rules_count(r), 8);
    test_rules_expect_level(test_rules_q(r, "A1", Q_REG, Q_CH), 0);
    test_rules_expect_level(test_rules_q(r, "Z", OTHER_REG, OTHER_CH), 7);
    test_rules_expect_level(test_rules_q(r, "A1", OTHER_REG, OTHER_CH), 3);
    /* Neighbouring scopes are not conflicts. */
    assert_int_equal(rules_add(r, "A1", 2, OTHER_REG, Q_CH, 1, 0), ATP_OK);
    assert_int_equal(rules_add(r, "A10", 3, Q_REG, Q_CH, 1, 0), ATP_OK);
    assert_int_equal(rules_add(r, NULL, 0, Q_REG, OTHER_CH, 1, 0), ATP_OK);
    assert_int_equal(rules_count(r), 11);
    rules_free(r);
}

static void test_rules_reject_bad_input(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    const char *skus[] = {NULL, "A1"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = skus[i];
        size_t n = s ? strlen(s) : 0;
        assert_int_equal(rules_add(r, s, n, N_REG, ANY, 1, 0),
                         ATP_E_UNKNOWN_REGION);
        assert_int_equal(rules_add(r, s, n, N_REG + 5, Q_CH, 1, 0),
                         ATP_E_UNKNOWN_REGION);
        assert_int_equal(rules_add(r, s, n, UINT32_MAX - 1, ANY, 1, 0),
                         ATP_E_UNKNOWN_REGION);
        assert_int_equal(rules_add(r, s, n, ANY, N_CH, 1, 0),
                         ATP_E_UNKNOWN_CHANNEL);
        assert_int_equal(rules_add(r, s, n, Q_REG, N_CH + 1, 1, 0),
                         ATP_E_UNKNOWN_CHANNEL);
        assert_int_equal(rules_add(r, s, n, ANY, ANY, -1, 0), ATP_E_BAD_QTY);
        assert_int_equal(rules_add(r, s, n, ANY, ANY, INT64_MIN, 0),
                         ATP_E_BAD_QTY);
        assert_int_equal(rules_add(r, s, n, ANY, ANY, 0, -1), ATP_E_BAD_QTY);
        assert_int_equal(rules_add(r, s, n, ANY, ANY, 0, 10001), ATP_E_BAD_QTY);
        assert_int_equal(rules_add(r, s, n, ANY, ANY, 0, INT64_MAX),
                         ATP_E_BAD_QTY);
        assert_int_equal(rules_add(r, s, n, Q_REG, Q_CH, 5, INT64_MIN),
                         ATP_E_BAD_QTY);
    }
    /* Rejected adds leave nothing behind. */
    assert_int_equal(rules_count(r), 0);
    test_rules_expect_default(test_rules_q(r, "A1", Q_REG, Q_CH));
    test_rules_expect_default(test_rules_q(r, "A1", ANY, ANY));
    /* A rejected add does not block the valid add of the same scope. */
    assert_int_equal(rules_add(r, "A1", 2, ANY, ANY, 0, 10000), ATP_OK);
    assert_int_equal(rules_add(r, NULL, 0, ANY, ANY, 0, 0), ATP_OK);
    assert_int_equal(rules_add(r, NULL, 0, N_REG - 1, N_CH - 1, ATP_QTY_MAX, 1),
                     ATP_OK);
    assert_int_equal(rules_count(r), 3);
    rules_hit h = test_rules_q(r, "A1", 0, 0);
    assert_int_equal(h.level, ATP_RULE_SKU);
    assert_int_equal(h.units, 0);
    assert_int_equal(h.percent_bp, 10000);
    h = test_rules_q(r, "B", N_REG - 1, N_CH - 1);
    assert_int_equal(h.level, ATP_RULE_REGION_CHANNEL);
    assert_int_equal(h.units, ATP_QTY_MAX);
    assert_int_equal(h.percent_bp, 1);
    /* A configured global rule of 0/0 still reports its level. */
    h = test_rules_q(r, "B", 0, 0);
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    assert_int_equal(h.units, 0);
    rules_free(r);
}

/* ------------------------------------------------------------- many SKUs */

#define MANY 10000

static void test_rules_many_skus(void **state)
{
    (void)state;
    rules *r = test_rules_new(N_REG, N_CH);
    char sku[32];
    for (int i = 0; i < MANY; i++) {
        int n = snprintf(sku, sizeof sku, "SKU-%05d", i);
        assert_int_equal(rules_add(r, sku, (size_t)n, ANY, ANY, i, i % 10001),
                         ATP_OK);
        if (i % 3 == 0)
            assert_int_equal(
                rules_add(r, sku, (size_t)n, Q_REG, ANY, 1000000 + i, 0),
                ATP_OK);
        /* Check an early SKU while the table grows under it. */
        if ((i & (i - 1)) == 0) {
            rules_hit h = test_rules_q(r, "SKU-00000", OTHER_REG, 0);
            assert_int_equal(h.level, ATP_RULE_SKU);
            assert_int_equal(h.units, 0);
        }
    }
    assert_int_equal(rules_add(r, NULL, 0, ANY, ANY, 77, 0), ATP_OK);
    assert_int_equal(rules_count(r), MANY + (MANY + 2) / 3 + 1);

    for (int i = 0; i < MANY; i++) {
        int n = snprintf(sku, sizeof sku, "SKU-%05d", i);
        rules_hit h;
        rules_match(r, sku, (size_t)n, OTHER_REG, Q_CH, &h);
        assert_int_equal(h.level, ATP_RULE_SKU);
        assert_int_equal(h.units, i);
        assert_int_equal(h.percent_bp, i % 10001);
        rules_match(r, sku, (size_t)n, Q_REG, Q_CH, &h);
        if (i % 3 == 0) {
            assert_int_equal(h.level, ATP_RULE_SKU_REGION);
            assert_int_equal(h.units, 1000000 + i);
        } else {
            assert_int_equal(h.level, ATP_RULE_SKU);
            assert_int_equal(h.units, i);
        }
        /* Duplicates are still detected after growth. */
        if (i % 97 == 0)
            assert_int_equal(rules_add(r, sku, (size_t)n, ANY, ANY, 1, 1),
                             ATP_E_CONFLICT);
    }
    /* Unknown SKUs and prefixes fall through to the global rule. */
    for (int i = MANY; i < MANY + 1000; i++) {
        int n = snprintf(sku, sizeof sku, "SKU-%05d", i);
        rules_hit h;
        rules_match(r, sku, (size_t)n, Q_REG, Q_CH, &h);
        assert_int_equal(h.level, ATP_RULE_GLOBAL);
        assert_int_equal(h.units, 77);
    }
    rules_hit h = test_rules_q(r, "SKU-0000", 0, 0);
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    h = test_rules_q(r, "SKU-000000", 0, 0);
    assert_int_equal(h.level, ATP_RULE_GLOBAL);
    rules_free(r);
}

/* ------------------------------------------------ randomized vs reference */

/* xorshift64*: same sequence on every libc, so failures replay. */
static uint64_t test_rules_rng_state;

static uint64_t test_rules_rand(void)
{
    uint64_t x = test_rules_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    test_rules_rng_state = x;
    return x * 2685821657736338717ULL;
}

static uint32_t test_rules_below(uint32_t n)
{
    return (uint32_t)(test_rules_rand() % n);
}

typedef struct test_rules_ref_rule {
    const char *sku; /* NULL = any */
    size_t len;
    uint32_t region, channel;
    int64_t units, bp;
} test_rules_ref_rule;

#define REF_MAX_RULES 512

typedef struct test_rules_ref {
    uint32_t n_regions, n_channels;
    test_rules_ref_rule rule[REF_MAX_RULES];
    size_t n;
} test_rules_ref;

static bool test_rules_ref_same_sku(const char *a, size_t alen, const char *b,
                                    size_t blen)
{
    if (alen == 0 || blen == 0)
        return alen == blen;
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The obviously-correct model of rules_add. */
static atp_err test_rules_ref_add(test_rules_ref *m, const char *sku,
                                  size_t len, uint32_t region, uint32_t channel,
                                  int64_t units, int64_t bp)
{
    if (region != ANY && region >= m->n_regions)
        return ATP_E_UNKNOWN_REGION;
    if (channel != ANY && channel >= m->n_channels)
        return ATP_E_UNKNOWN_CHANNEL;
    if (units < 0 || bp < 0 || bp > 10000)
        return ATP_E_BAD_QTY;
    if (sku == NULL)
        len = 0;
    for (size_t i = 0; i < m->n; i++) {
        const test_rules_ref_rule *x = &m->rule[i];
        if (test_rules_ref_same_sku(x->sku, x->len, sku, len) &&
            x->region == region && x->channel == channel)
            return ATP_E_CONFLICT;
    }
    assert_true(m->n < REF_MAX_RULES);
    m->rule[m->n++] = (test_rules_ref_rule){len ? sku : NULL, len,   region,
                                            channel,          units, bp};
    return ATP_OK;
}

/* The obviously-correct model of rules_match: scan every rule, keep the
 * covering one of the most specific level. */
static rules_hit test_rules_ref_match(const test_rules_ref *m, const char *sku,
                                      size_t len, uint32_t region,
                                      uint32_t channel)
{
    rules_hit best = {.level = ATP_RULE_GLOBAL};
    unsigned best_level = ATP_RULE_LEVELS;
    for (size_t i = 0; i < m->n; i++) {
        const test_rules_ref_rule *x = &m->rule[i];
        bool has_sku = x->len > 0;
        if (has_sku && !test_rules_ref_same_sku(x->sku, x->len, sku, len))
            continue;
        if (x->region != ANY && x->region != region)
            continue;
        if (x->channel != ANY && x->channel != channel)
            continue;
        unsigned level = (has_sku ? 0u : 4u) + (x->region == ANY ? 2u : 0u) +
                         (x->channel == ANY ? 1u : 0u);
        assert_true(level != best_level); /* one rule per level at most */
        if (level < best_level) {
            best_level = level;
            best = (rules_hit){.units = x->units,
                               .percent_bp = x->bp,
                               .level = (uint8_t)level};
        }
    }
    return best;
}

#define POOL_FIXED 8
#define POOL_MAX (POOL_FIXED + 400)

static void test_rules_random_round(size_t pool_n, size_t n_adds,
                                    size_t n_queries, char pool[][16])
{
    test_rules_ref m;
    memset(&m, 0, sizeof m);
    m.n_regions = test_rules_below(5); /* 0..4 */
    m.n_channels = test_rules_below(5);
    rules *r = test_rules_new(m.n_regions, m.n_channels);

    for (size_t k = 0; k < n_adds; k++) {
        /* 1 in 4 rules has no SKU; region/channel: any, in range, or one
         * past the end (rejected). */
        const char *sku = NULL;
        size_t len = 0;
        if (test_rules_below(4) != 0) {
            sku = pool[test_rules_below((uint32_t)pool_n)];
            len = strlen(sku);
        }
        uint32_t reg =
            test_rules_below(3) == 0 ? ANY : test_rules_below(m.n_regions + 1);
        uint32_t ch =
            test_rules_below(3) == 0 ? ANY : test_rules_below(m.n_channels + 1);
        int64_t units = (int64_t)test_rules_below(1000);
        int64_t bp = (int64_t)test_rules_below(10001);
        if (test_rules_below(40) == 0)
            units = -1 - (int64_t)test_rules_below(5);
        if (test_rules_below(40) == 0)
            bp = test_rules_below(2) ? -1 : 10001;
        atp_err want = ATP_OK;
        if (m.n < REF_MAX_RULES)
            want = test_rules_ref_add(&m, sku, len, reg, ch, units, bp);
        else
            break;
        atp_err got = rules_add(r, sku, len, reg, ch, units, bp);
        if (got != want)
            fail_msg("rules_add(%s, %u, %u, %lld, %lld) = %d, want %d",
                     sku ? sku : "(any)", reg, ch, (long long)units,
                     (long long)bp, (int)got, (int)want);
        assert_int_equal(rules_count(r), m.n);
    }

    for (size_t k = 0; k < n_queries; k++) {
        const char *sku = NULL;
        size_t len = 0;
        uint32_t pick = test_rules_below((uint32_t)pool_n + 2);
        if (pick < pool_n) {
            sku = pool[pick];
            len = strlen(sku);
        } else if (pick == pool_n) {
            sku = "never-a-rule";
            len = strlen(sku);
        }
        /* Queries also probe ANY and indices past the end. */
        uint32_t reg =
            test_rules_below(8) == 0 ? ANY : test_rules_below(m.n_regions + 2);
        uint32_t ch =
            test_rules_below(8) == 0 ? ANY : test_rules_below(m.n_channels + 2);
        rules_hit want = test_rules_ref_match(&m, sku, len, reg, ch);
        rules_hit got;
        memset(&got, 0xa5, sizeof got);
        rules_match(r, sku, len, reg, ch, &got);
        if (got.level != want.level || got.units != want.units ||
            got.percent_bp != want.percent_bp)
            fail_msg("match(%s, %u, %u) over %zu rules (%u regions, %u "
                     "channels): level %u %lld/%lld, want level %u %lld/%lld",
                     sku ? sku : "(none)", reg, ch, m.n, m.n_regions,
                     m.n_channels, (unsigned)got.level, (long long)got.units,
                     (long long)got.percent_bp, (unsigned)want.level,
                     (long long)want.units, (long long)want.percent_bp);
    }
    rules_free(r);
}

static void test_rules_random_vs_reference(void **state)
{
    (void)state;
    static char pool[POOL_MAX][16] = {"A1", "A10", "A",          "a1",
                                      "B",  "B1",  "A1\xc3\xa9", "AA"};
    for (size_t i = POOL_FIXED; i < POOL_MAX; i++)
        snprintf(pool[i], sizeof pool[i], "S%zu", i);

    test_rules_rng_state = 0x9e3779b97f4a7c15ULL; /* fixed seed */
    /* Small SKU pool: dense overlaps, many conflicts, deep precedence. */
    for (int round = 0; round < 3000; round++)
        test_rules_random_round(POOL_FIXED, 40, 64, pool);
    /* Larger pool: table growth and probing while matching. */
    for (int round = 0; round < 200; round++)
        test_rules_random_round(POOL_MAX, 400, 256, pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_level_names),
        cmocka_unit_test(test_rules_empty_is_global_zero),
        cmocka_unit_test(test_rules_backorder_with_the_rule),
        cmocka_unit_test(test_rules_all_levels_each_query),
        cmocka_unit_test(test_rules_fallthrough_one_at_a_time),
        cmocka_unit_test(test_rules_all_subsets_all_queries),
        cmocka_unit_test(test_rules_other_sku_region_channel_never_match),
        cmocka_unit_test(test_rules_sku_prefix_never_matches),
        cmocka_unit_test(test_rules_out_of_range_query),
        cmocka_unit_test(test_rules_conflict_same_scope),
        cmocka_unit_test(test_rules_reject_bad_input),
        cmocka_unit_test(test_rules_many_skus),
        cmocka_unit_test(test_rules_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
