/*
 * test_formula.c - unit tests of src/formula/formula.c: net, buffer, ATP,
 * shortfall and the saturating add (DESIGN.md "The formula").
 * Single-threaded; pure arithmetic, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "formula/formula.h"

#define SUM_MAX ATP_QTY_SUM_MAX

/* test_formula_supply sums formula_net over n locations the way the engine
 * does: each location floored first, then a saturating sum. */
static int64_t test_formula_supply(const formula_position *locs, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = formula_sat_add(s, formula_net(&locs[i]));
    return s;
}

static int64_t test_formula_net4(int64_t on_hand, int64_t allocated,
                                 int64_t held, int64_t inbound)
{
    formula_position p = {on_hand, allocated, held, inbound};
    return formula_net(&p);
}

/* ---------------------------------------------------------------- sat_add */

static void test_formula_sat_add_plain(void **state)
{
    (void)state;
    assert_int_equal(formula_sat_add(0, 0), 0);
    assert_int_equal(formula_sat_add(2, 3), 5);
    assert_int_equal(formula_sat_add(-2, 3), 1);
    assert_int_equal(formula_sat_add(2, -3), -1);
    assert_int_equal(formula_sat_add(-7, -8), -15);
    assert_int_equal(formula_sat_add(ATP_QTY_MAX, ATP_QTY_MAX),
                     2 * ATP_QTY_MAX);
    assert_int_equal(formula_sat_add(SUM_MAX, 0), SUM_MAX);
    assert_int_equal(formula_sat_add(-SUM_MAX, 0), -SUM_MAX);
    assert_int_equal(formula_sat_add(SUM_MAX, -SUM_MAX), 0);
    assert_int_equal(formula_sat_add(SUM_MAX - 1, 1), SUM_MAX);
    assert_int_equal(formula_sat_add(-SUM_MAX + 1, -1), -SUM_MAX);
}

static void test_formula_sat_add_saturates(void **state)
{
    (void)state;
    assert_int_equal(formula_sat_add(SUM_MAX, 1), SUM_MAX);
    assert_int_equal(formula_sat_add(SUM_MAX, SUM_MAX), SUM_MAX);
    assert_int_equal(formula_sat_add(-SUM_MAX, -1), -SUM_MAX);
    assert_int_equal(formula_sat_add(INT64_MAX, INT64_MAX), SUM_MAX);
    assert_int_equal(formula_sat_add(INT64_MIN, INT64_MIN), -SUM_MAX);
    assert_int_equal(formula_sat_add(INT64_MAX, 0), SUM_MAX);
    assert_int_equal(formula_sat_add(0, INT64_MIN), -SUM_MAX);
    /* Inputs are clamped before adding: MAX + MIN is 0, not -1. */
    assert_int_equal(formula_sat_add(INT64_MAX, INT64_MIN), 0);
    assert_int_equal(formula_sat_add(INT64_MIN, INT64_MAX), 0);
    /* Clamped input then a small correction. */
    assert_int_equal(formula_sat_add(INT64_MAX, -1), SUM_MAX - 1);
    assert_int_equal(formula_sat_add(INT64_MIN, 1), -SUM_MAX + 1);
}

static void test_formula_sat_add_commutes(void **state)
{
    (void)state;
    const int64_t v[] = {
        INT64_MIN, -SUM_MAX - 1, -SUM_MAX, -ATP_QTY_MAX, -5,       -1, 0, 1,
        5,         ATP_QTY_MAX,  SUM_MAX,  SUM_MAX + 1,  INT64_MAX};
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int64_t s = formula_sat_add(v[i], v[j]);
            assert_int_equal(s, formula_sat_add(v[j], v[i]));
            assert_true(s <= SUM_MAX);
            assert_true(s >= -SUM_MAX);
        }
}

/* -------------------------------------------------------------------- net */

static void test_formula_net_plain(void **state)
{
    (void)state;
    assert_int_equal(test_formula_net4(0, 0, 0, 0), 0);
    assert_int_equal(test_formula_net4(10, 0, 0, 0), 10);
    assert_int_equal(test_formula_net4(10, 3, 2, 0), 5);
    assert_int_equal(test_formula_net4(10, 10, 0, 0), 0);
    assert_int_equal(test_formula_net4(10, 4, 6, 0), 0);
    assert_int_equal(test_formula_net4(10, 3, 2, 7), 12);
}

static void test_formula_net_floor_single(void **state)
{
    (void)state;
    /* allocated + held > on_hand: the location contributes 0, not -4. */
    assert_int_equal(test_formula_net4(6, 7, 3, 0), 0);
    assert_int_equal(test_formula_net4(0, 1, 0, 0), 0);
    assert_int_equal(test_formula_net4(0, 0, 1, 0), 0);
    assert_int_equal(test_formula_net4(-5, 0, 0, 0), 0);
    assert_int_equal(test_formula_net4(100, 60, 60, 0), 0);
}

static void test_formula_net_inbound_after_floor(void **state)
{
    (void)state;
    /* free = 6 - 10 = -4 -> 0, then + 5 inbound = 5 (not 1). */
    assert_int_equal(test_formula_net4(6, 7, 3, 5), 5);
    /* free = 0 exactly, inbound 9. */
    assert_int_equal(test_formula_net4(4, 2, 2, 9), 9);
    /* deeply negative free stock does not eat inbound. */
    assert_int_equal(test_formula_net4(0, ATP_QTY_MAX, ATP_QTY_MAX, 3), 3);
    /* negative inbound is treated as 0 (header: floored too). */
    assert_int_equal(test_formula_net4(10, 0, 0, -4), 10);
    assert_int_equal(test_formula_net4(0, 5, 0, -4), 0);
}

static void test_formula_net_floor_before_sum(void **state)
{
    (void)state;
    /* DESIGN.md: a location never contributes a negative amount. */
    formula_position two[] = {{10, 0, 0, 0}, {0, 4, 0, 0}};
    assert_int_equal(test_formula_supply(two, 2), 10); /* not 6 */

    formula_position three[] = {
        {10, 2, 1, 0}, /* 7 */
        {3, 5, 5, 0},  /* -7 -> 0 */
        {0, 0, 0, 4},  /* 4 inbound */
    };
    assert_int_equal(test_formula_supply(three, 3), 11);

    formula_position all_neg[] = {{1, 2, 0, 0}, {0, 0, 9, 0}, {-3, 0, 0, 0}};
    assert_int_equal(test_formula_supply(all_neg, 3), 0);

    /* Order does not matter. */
    formula_position rev[] = {{0, 4, 0, 0}, {10, 0, 0, 0}};
    assert_int_equal(test_formula_supply(rev, 2), 10);
}

static void test_formula_net_never_negative(void **state)
{
    (void)state;
    const int64_t v[] = {INT64_MIN, -SUM_MAX, -ATP_QTY_MAX, -1,      0,
                         1,         7,        ATP_QTY_MAX,  SUM_MAX, INT64_MAX};
    size_t n = sizeof v / sizeof v[0];
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            for (size_t c = 0; c < n; c++)
                for (size_t d = 0; d < n; d++) {
                    int64_t got = test_formula_net4(v[a], v[b], v[c], v[d]);
                    assert_true(got >= 0);
                    assert_true(got <= SUM_MAX);
                }
}

static void test_formula_net_extremes_saturate(void **state)
{
    (void)state;
    assert_int_equal(test_formula_net4(INT64_MAX, 0, 0, 0), SUM_MAX);
    assert_int_equal(test_formula_net4(INT64_MAX, 0, 0, INT64_MAX), SUM_MAX);
    assert_int_equal(test_formula_net4(SUM_MAX, 0, 0, 1), SUM_MAX);
    assert_int_equal(test_formula_net4(0, 0, 0, INT64_MAX), SUM_MAX);
    assert_int_equal(test_formula_net4(INT64_MIN, 0, 0, 0), 0);
    assert_int_equal(test_formula_net4(INT64_MIN, INT64_MAX, INT64_MAX, 0), 0);
    assert_int_equal(test_formula_net4(0, INT64_MAX, INT64_MAX, 5), 5);
    assert_int_equal(test_formula_net4(INT64_MAX, INT64_MAX, INT64_MAX, 0), 0);
    /* Real-world maximum per bucket is exact, no saturation. */
    assert_int_equal(test_formula_net4(ATP_QTY_MAX, 1, 1, ATP_QTY_MAX),
                     2 * ATP_QTY_MAX - 2);

    /* Sum of many saturated locations stays at the bound. */
    formula_position big[4];
    for (size_t i = 0; i < 4; i++)
        big[i] = (formula_position){INT64_MAX, 0, 0, INT64_MAX};
    assert_int_equal(test_formula_supply(big, 4), SUM_MAX);
}

/* ----------------------------------------------------------------- buffer */

static void test_formula_buffer_percent_rounds_up(void **state)
{
    (void)state;
    assert_int_equal(formula_buffer(0, 100, 101), 2);   /* 1 % of 101 */
    assert_int_equal(formula_buffer(0, 100, 100), 1);   /* exact */
    assert_int_equal(formula_buffer(0, 100, 99), 1);    /* 0.99 -> 1 */
    assert_int_equal(formula_buffer(0, 100, 1), 1);     /* 0.01 -> 1 */
    assert_int_equal(formula_buffer(0, 1250, 8), 1);    /* 12.5 % of 8 */
    assert_int_equal(formula_buffer(0, 1250, 9), 2);    /* 1.125 -> 2 */
    assert_int_equal(formula_buffer(0, 1250, 16), 2);   /* exact */
    assert_int_equal(formula_buffer(0, 1, 1), 1);       /* 0.01 % of 1 */
    assert_int_equal(formula_buffer(0, 1, 10000), 1);   /* exact */
    assert_int_equal(formula_buffer(0, 1, 10001), 2);   /* just above */
    assert_int_equal(formula_buffer(0, 10000, 37), 37); /* 100 % */
    assert_int_equal(formula_buffer(0, 5000, 3), 2);    /* 1.5 -> 2 */
    assert_int_equal(formula_buffer(0, 3333, 3), 1);    /* 0.9999 -> 1 */
    assert_int_equal(formula_buffer(0, 3334, 3), 2);    /* 1.0002 -> 2 */
}

static void test_formula_buffer_percent_zero(void **state)
{
    (void)state;
    assert_int_equal(formula_buffer(0, 0, 0), 0);
    assert_int_equal(formula_buffer(0, 0, 1000), 0);
    assert_int_equal(formula_buffer(7, 0, 1000), 7);
    assert_int_equal(formula_buffer(7, 0, 0), 7);
    assert_int_equal(formula_buffer(ATP_QTY_MAX, 0, 5), ATP_QTY_MAX);
}

static void test_formula_buffer_max_of_units_and_percent(void **state)
{
    (void)state;
    /* 10 % of 200 = 20 */
    assert_int_equal(formula_buffer(5, 1000, 200), 20);
    assert_int_equal(formula_buffer(19, 1000, 200), 20);
    assert_int_equal(formula_buffer(20, 1000, 200), 20);
    assert_int_equal(formula_buffer(21, 1000, 200), 21);
    assert_int_equal(formula_buffer(50, 1000, 200), 50);
    /* Rounded-up percent beats equal-looking units. */
    assert_int_equal(formula_buffer(1, 100, 101), 2);
    assert_int_equal(formula_buffer(3, 100, 101), 3);
}

static void test_formula_buffer_supply_zero_or_negative(void **state)
{
    (void)state;
    assert_int_equal(formula_buffer(0, 5000, 0), 0);
    assert_int_equal(formula_buffer(4, 5000, 0), 4);
    assert_int_equal(formula_buffer(0, 10000, 0), 0);
    /* negative supply counts as 0 */
    assert_int_equal(formula_buffer(0, 5000, -100), 0);
    assert_int_equal(formula_buffer(4, 5000, -100), 4);
    assert_int_equal(formula_buffer(4, 5000, INT64_MIN), 4);
}

static void test_formula_buffer_negative_inputs(void **state)
{
    (void)state;
    /* negative units or percent count as 0 */
    assert_int_equal(formula_buffer(-5, 0, 100), 0);
    assert_int_equal(formula_buffer(-5, 1000, 100), 10);
    assert_int_equal(formula_buffer(3, -1000, 100), 3);
    assert_int_equal(formula_buffer(-3, -1000, 100), 0);
    assert_int_equal(formula_buffer(INT64_MIN, INT64_MIN, INT64_MAX), 0);
}

static void test_formula_buffer_no_overflow(void **state)
{
    (void)state;
    /* 10000 bp * 10^15 = 10^19 > 2^63: must be computed exactly. */
    assert_int_equal(formula_buffer(0, 10000, ATP_QTY_MAX), ATP_QTY_MAX);
    assert_int_equal(formula_buffer(0, 9999, ATP_QTY_MAX), 999900000000000LL);
    assert_int_equal(formula_buffer(0, 9999, ATP_QTY_MAX + 1),
                     999900000000001LL); /* 999900000000000.9999 -> up */
    /* Largest supply the sums can produce. */
    assert_int_equal(formula_buffer(0, 10000, SUM_MAX), SUM_MAX);
    assert_int_equal(formula_buffer(0, 5000, SUM_MAX),
                     SUM_MAX / 2 + 1); /* SUM_MAX is odd */
    /* INT64_MAX / 10000 = 922337203685477.5807 -> rounded up. */
    assert_int_equal(formula_buffer(0, 1, INT64_MAX), 922337203685478LL);
    /* Results beyond the sum bound are clamped, never wrap negative. */
    assert_int_equal(formula_buffer(0, 10000, INT64_MAX), SUM_MAX);
    assert_int_equal(formula_buffer(0, INT64_MAX, INT64_MAX), SUM_MAX);
    assert_int_equal(formula_buffer(0, INT64_MAX, 1), 922337203685478LL);
    /* Units above the percent are kept even when huge. */
    assert_int_equal(formula_buffer(2 * ATP_QTY_MAX, 10000, ATP_QTY_MAX),
                     2 * ATP_QTY_MAX);
}

static void test_formula_buffer_monotone(void **state)
{
    (void)state;
    /* More supply never lowers the buffer; result >= units and >= exact %. */
    const int64_t bps[] = {0, 1, 33, 100, 1250, 3333, 5000, 9999, 10000};
    for (size_t k = 0; k < sizeof bps / sizeof bps[0]; k++) {
        int64_t prev = 0;
        for (int64_t s = 0; s <= 20000; s++) {
            int64_t b = formula_buffer(0, bps[k], s);
            assert_true(b >= prev);
            /* ceil: b*10000 >= bp*s and (b-1)*10000 < bp*s */
            assert_true(b * 10000 >= bps[k] * s);
            if (b > 0)
                assert_true((b - 1) * 10000 < bps[k] * s);
            prev = b;
        }
    }
}

/* -------------------------------------------------------------------- ATP */

static void test_formula_atp_plain(void **state)
{
    (void)state;
    formula_answer a;
    formula_atp(100, 30, 10, &a);
    assert_int_equal(a.atp, 60);
    assert_int_equal(a.supply, 100);
    assert_int_equal(a.reserved, 30);
    assert_int_equal(a.buffer, 10);
    assert_int_equal(a.shortfall, 0);

    formula_atp(0, 0, 0, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);

    formula_atp(5, 0, 0, &a);
    assert_int_equal(a.atp, 5);
    assert_int_equal(a.shortfall, 0);
}

static void test_formula_atp_floor_zero(void **state)
{
    (void)state;
    formula_answer a;
    /* exactly used up */
    formula_atp(100, 90, 10, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);
    /* buffer eats the rest: ATP 0 but no shortfall */
    formula_atp(100, 90, 20, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);
    /* buffer alone larger than supply */
    formula_atp(5, 0, 50, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);
    assert_int_equal(a.buffer, 50);
    /* reserved == supply */
    formula_atp(40, 40, 0, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);
}

static void test_formula_atp_shortfall(void **state)
{
    (void)state;
    formula_answer a;
    /* supply dropped below reserved: ATP 0, shortfall reported */
    formula_atp(70, 100, 10, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 30); /* buffer not included */
    assert_int_equal(a.supply, 70);
    assert_int_equal(a.reserved, 100);
    assert_int_equal(a.buffer, 10);

    formula_atp(0, 12, 0, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 12);

    formula_atp(99, 100, 0, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 1);
}

static void test_formula_atp_extremes(void **state)
{
    (void)state;
    formula_answer a;
    formula_atp(SUM_MAX, 0, 0, &a);
    assert_int_equal(a.atp, SUM_MAX);
    assert_int_equal(a.shortfall, 0);

    formula_atp(SUM_MAX, SUM_MAX, SUM_MAX, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);

    formula_atp(0, SUM_MAX, SUM_MAX, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, SUM_MAX);

    formula_atp(INT64_MAX, INT64_MAX, INT64_MAX, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 0);

    formula_atp(0, INT64_MAX, 0, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, SUM_MAX);

    formula_atp(ATP_QTY_MAX * 3, ATP_QTY_MAX, ATP_QTY_MAX, &a);
    assert_int_equal(a.atp, ATP_QTY_MAX);
    assert_int_equal(a.shortfall, 0);
}

static void test_formula_atp_table(void **state)
{
    (void)state;
    /* Reference: atp = max(0, s - r - b), shortfall = max(0, r - s). */
    for (int64_t s = 0; s <= 30; s++)
        for (int64_t r = 0; r <= 30; r++)
            for (int64_t b = 0; b <= 30; b++) {
                formula_answer a;
                formula_atp(s, r, b, &a);
                int64_t atp = s - r - b;
                int64_t sf = r - s;
                assert_int_equal(a.atp, atp > 0 ? atp : 0);
                assert_int_equal(a.shortfall, sf > 0 ? sf : 0);
                assert_int_equal(a.supply, s);
                assert_int_equal(a.reserved, r);
                assert_int_equal(a.buffer, b);
                /* never both available and short */
                assert_false(a.atp > 0 && a.shortfall > 0);
            }
}

/* End to end: positions -> supply -> buffer -> ATP, as a user reads it. */
/* Backorder budgets (docs/PROTOCOL.md, "Backorder budgets"): used is how
 * far reserved + buffer go beyond supply, left what the budget still
 * allows; a reserve taking `left` beyond ATP ends exactly at -budget. */
static void test_formula_backorder(void **state)
{
    (void)state;
    static const struct {
        int64_t supply, reserved, buffer, budget, used, left;
    } t[] = {
        {10, 0, 0, 5, 0, 5},  /* stock covers everything */
        {10, 8, 2, 5, 0, 5},  /* ATP 0, nothing beyond it yet */
        {10, 12, 0, 5, 2, 3}, /* 2 promised beyond stock */
        {10, 12, 2, 5, 4, 1}, /* the buffer counts: beyond ATP, not stock */
        {10, 15, 0, 5, 5, 0}, /* budget used up */
        {4, 15, 0, 5, 11, 0}, /* stock lost: used beyond the budget */
        {0, 3, 0, 0, 3, 0},   /* no budget: nothing left */
        {1, 0, 3, 5, 0, 5},   /* a buffer beyond the stock: not used */
        {1, 2, 3, 5, 2, 3},
        {0, 0, 0, -7, 0, 0}, /* a negative budget counts as 0 */
        {ATP_QTY_SUM_MAX, 0, 0, ATP_QTY_SUM_MAX, 0, ATP_QTY_SUM_MAX},
        {-ATP_QTY_SUM_MAX, ATP_QTY_SUM_MAX, 0, 1, ATP_QTY_SUM_MAX, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t used = -1, left = -1;
        formula_backorder(t[i].supply, t[i].reserved, t[i].buffer, t[i].budget,
                          &used, &left);
        assert_int_equal(used, t[i].used);
        assert_int_equal(left, t[i].left);
    }
    /* Whatever the state, taking ATP + left ends with promises beyond
     * ATP equal to the budget (or where stock loss left them). */
    for (int64_t supply = 0; supply < 12; supply++)
        for (int64_t reserved = 0; reserved < 12; reserved++)
            for (int64_t budget = 0; budget < 6; budget++) {
                int64_t used, left;
                formula_answer a;
                formula_atp(supply, reserved, 1, &a);
                formula_backorder(supply, reserved, 1, budget, &used, &left);
                int64_t after_used, after_left;
                formula_backorder(supply, reserved + a.atp + left, 1, budget,
                                  &after_used, &after_left);
                assert_int_equal(after_left, 0);
                assert_int_equal(after_used, used > budget ? used : budget);
            }
}

static void test_formula_end_to_end(void **state)
{
    (void)state;
    formula_position locs[] = {
        {120, 10, 5, 0}, /* 105 */
        {3, 8, 0, 0},    /* -5 -> 0 */
        {0, 0, 0, 20},   /* inbound 20 */
    };
    int64_t supply = test_formula_supply(locs, 3);
    assert_int_equal(supply, 125);
    int64_t buffer = formula_buffer(2, 250, supply); /* 2.5 % = 3.125 -> 4 */
    assert_int_equal(buffer, 4);
    formula_answer a;
    formula_atp(supply, 100, buffer, &a);
    assert_int_equal(a.atp, 21);
    assert_int_equal(a.shortfall, 0);
    formula_atp(supply, 130, buffer, &a);
    assert_int_equal(a.atp, 0);
    assert_int_equal(a.shortfall, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula_backorder),
        cmocka_unit_test(test_formula_sat_add_plain),
        cmocka_unit_test(test_formula_sat_add_saturates),
        cmocka_unit_test(test_formula_sat_add_commutes),
        cmocka_unit_test(test_formula_net_plain),
        cmocka_unit_test(test_formula_net_floor_single),
        cmocka_unit_test(test_formula_net_inbound_after_floor),
        cmocka_unit_test(test_formula_net_floor_before_sum),
        cmocka_unit_test(test_formula_net_never_negative),
        cmocka_unit_test(test_formula_net_extremes_saturate),
        cmocka_unit_test(test_formula_buffer_percent_rounds_up),
        cmocka_unit_test(test_formula_buffer_percent_zero),
        cmocka_unit_test(test_formula_buffer_max_of_units_and_percent),
        cmocka_unit_test(test_formula_buffer_supply_zero_or_negative),
        cmocka_unit_test(test_formula_buffer_negative_inputs),
        cmocka_unit_test(test_formula_buffer_no_overflow),
        cmocka_unit_test(test_formula_buffer_monotone),
        cmocka_unit_test(test_formula_atp_plain),
        cmocka_unit_test(test_formula_atp_floor_zero),
        cmocka_unit_test(test_formula_atp_shortfall),
        cmocka_unit_test(test_formula_atp_extremes),
        cmocka_unit_test(test_formula_atp_table),
        cmocka_unit_test(test_formula_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
