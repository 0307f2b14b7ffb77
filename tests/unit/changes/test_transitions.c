/*
 * test_transitions.c - unit tests of src/changes/transitions.c: the
 * out_of_stock / back_in_stock / low_stock marks the change feed puts on
 * successive ATP values of one (SKU, region, channel), with the low-stock
 * hysteresis of docs/PROTOCOL.md ("Change feed", "Transitions").
 * Single-threaded; pure logic, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "changes/transitions.h"

enum {
    OUT = TRANSITION_OUT_OF_STOCK,
    BACK = TRANSITION_BACK_IN_STOCK,
    LOW = TRANSITION_LOW_STOCK,
};

/* One step: the new ATP, the threshold, and what must come out. */
typedef struct test_step {
    int64_t atp;
    int64_t low_stock;
    unsigned marks;
    int out; /* expected state flags after the step */
    int low;
} test_step;

static void test_run(const char *name, const test_step *steps, size_t n)
{
    transitions_state st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < n; i++) {
        unsigned m = transitions_update(&st, steps[i].atp, steps[i].low_stock);
        if (m != steps[i].marks || st.out != (steps[i].out != 0) ||
            st.low != (steps[i].low != 0) || !st.known)
            fail_msg("%s, step %zu (atp %lld, low_stock %lld): marks %#x "
                     "out %d low %d, want marks %#x out %d low %d",
                     name, i, (long long)steps[i].atp,
                     (long long)steps[i].low_stock, m, st.out, st.low,
                     steps[i].marks, steps[i].out, steps[i].low);
    }
}
#define TEST_RUN(steps) test_run(#steps, steps, sizeof steps / sizeof steps[0])

static void test_first_value_reports_nothing(void **state)
{
    (void)state;
    /* Whatever the first value, there is no "before": flags only. */
    static const test_step zero[] = {{0, 10, 0, 1, 1}};
    static const test_step low[] = {{3, 10, 0, 0, 1}};
    static const test_step plenty[] = {{50, 10, 0, 0, 0}};
    static const test_step no_threshold[] = {{0, 0, 0, 1, 0}};
    /* In the band above the threshold, the first value is not low: the
     * band only delays clearing a low state that existed. */
    static const test_step in_band[] = {{10, 10, 0, 0, 0}, {9, 10, LOW, 0, 1}};
    TEST_RUN(zero);
    TEST_RUN(low);
    TEST_RUN(plenty);
    TEST_RUN(no_threshold);
    TEST_RUN(in_band);
}

static void test_out_and_back(void **state)
{
    (void)state;
    static const test_step steps[] = {
        {5, 0, 0, 0, 0},    {0, 0, OUT, 1, 0}, /* reaches 0 from above */
        {0, 0, 0, 1, 0},                       /* stays at 0: nothing new */
        {1, 0, BACK, 0, 0},                    /* rises above 0 again */
        {7, 0, 0, 0, 0},    {0, 0, OUT, 1, 0}, {100, 0, BACK, 0, 0},
    };
    TEST_RUN(steps);
}

static void test_low_stock(void **state)
{
    (void)state;
    static const test_step steps[] = {
        {50, 10, 0, 0, 0},
        {11, 10, 0, 0, 0}, /* at or above the threshold: not low */
        {10, 10, 0, 0, 0},
        {9, 10, LOW, 0, 1}, /* below it, above 0 */
        {8, 10, 0, 0, 1},   /* still low: reported once */
        {1, 10, 0, 0, 1},
        {0, 10, OUT, 1, 1},  /* low, then out: out_of_stock only */
        {4, 10, BACK, 0, 1}, /* back, but still low: no new low mark */
        {30, 10, 0, 0, 0},   /* cleared silently */
        {2, 10, LOW, 0, 1},
    };
    TEST_RUN(steps);
}

static void test_hysteresis_small(void **state)
{
    (void)state;
    /* Threshold 10: band max(1, 10 % of 10) = 1, so the low state clears
     * at 11, not at 10. */
    static const test_step steps[] = {
        {20, 10, 0, 0, 0}, {9, 10, LOW, 0, 1}, {10, 10, 0, 0, 1},
        {9, 10, 0, 0, 1},  {10, 10, 0, 0, 1},  {9, 10, 0, 0, 1},
        {10, 10, 0, 0, 1}, {11, 10, 0, 0, 0},  /* threshold + band */
        {10, 10, 0, 0, 0}, {9, 10, LOW, 0, 1}, /* a real new drop */
    };
    TEST_RUN(steps);
}

static void test_hysteresis_large(void **state)
{
    (void)state;
    /* Threshold 200: band 20; flapping anywhere in 199..219 reports once. */
    static const test_step steps[] = {
        {500, 200, 0, 0, 0}, {199, 200, LOW, 0, 1}, {200, 200, 0, 0, 1},
        {219, 200, 0, 0, 1}, {150, 200, 0, 0, 1},   {205, 200, 0, 0, 1},
        {199, 200, 0, 0, 1}, {220, 200, 0, 0, 0},   {199, 200, LOW, 0, 1},
    };
    TEST_RUN(steps);
    /* Thresholds under 10 still have a band of 1. */
    static const test_step tiny[] = {
        {9, 3, 0, 0, 0}, {2, 3, LOW, 0, 1}, {3, 3, 0, 0, 1},
        {2, 3, 0, 0, 1}, {4, 3, 0, 0, 0},   {1, 3, LOW, 0, 1},
    };
    TEST_RUN(tiny);
}

static void test_threshold_zero_disables(void **state)
{
    (void)state;
    static const test_step steps[] = {
        {50, 0, 0, 0, 0},   {1, 0, 0, 0, 0}, {0, 0, OUT, 1, 0},
        {1, 0, BACK, 0, 0}, {2, 0, 0, 0, 0},
    };
    TEST_RUN(steps);
    /* A rule change that removes the threshold clears the low state
     * without a mark; one that adds it marks the next drop only. */
    static const test_step change[] = {
        {5, 10, 0, 0, 1},
        {5, 0, 0, 0, 0},
        {4, 0, 0, 0, 0},
        {4, 10, LOW, 0, 1},
    };
    TEST_RUN(change);
}

static void test_straight_to_zero(void **state)
{
    (void)state;
    /* From above the threshold straight to 0: out_of_stock, never
     * low_stock (it was not "still above 0"). */
    static const test_step steps[] = {
        {50, 10, 0, 0, 0},    {0, 10, OUT, 1, 1},   {0, 10, 0, 1, 1},
        {60, 10, BACK, 0, 0}, /* straight back above the band */
        {0, 10, OUT, 1, 1},   {10, 10, BACK, 0, 1}, /* back inside the band:
                                                       still low */
        {9, 10, 0, 0, 1}, /* so no low_stock for this wobble */
        {11, 10, 0, 0, 0},
    };
    TEST_RUN(steps);
}

static void test_big_values(void **state)
{
    (void)state;
    /* The protocol's largest quantities: no overflow in the band. */
    const int64_t q = 1000000000000000LL;
    const test_step steps[] = {
        {q, q, 0, 0, 0},
        {q - 1, q, LOW, 0, 1},
        {q + q / 10 - 1, q, 0, 0, 1},
        {q + q / 10, q, 0, 0, 0},
        {0, q, OUT, 1, 1},
    };
    test_run("big", steps, sizeof steps / sizeof steps[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_value_reports_nothing),
        cmocka_unit_test(test_out_and_back),
        cmocka_unit_test(test_low_stock),
        cmocka_unit_test(test_hysteresis_small),
        cmocka_unit_test(test_hysteresis_large),
        cmocka_unit_test(test_threshold_zero_disables),
        cmocka_unit_test(test_straight_to_zero),
        cmocka_unit_test(test_big_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
