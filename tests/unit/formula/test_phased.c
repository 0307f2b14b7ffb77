/*
 * test_phased.c - unit tests of src/formula/phased.c (docs/PROTOCOL.md,
 * "The time-phased formula"): the documentation's example, and random
 * rows checked against the definition computed the slow way (atp_on(D) as
 * the minimum of available_on over every instant from D on, the hold as
 * the largest need of the dated steps beyond the lots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "formula/phased.h"

/* The PROTOCOL.md example: 5 on the shelf, a lot of 100 arriving at
 * 1795864000000; 40 are promisable from then. */
static void test_phased_doc_example(void **state)
{
    (void)state;
    const int64_t now = 1795000000000, eta = 1795864000000;
    phased_step s[2] = {{eta, 100}};
    size_t n = phased_prepare(s, 1, now);
    assert_int_equal(n, 2);
    int64_t hold;
    phased_profile(s, n, 5, &hold);
    assert_int_equal(hold, 0);
    assert_int_equal(phased_atp_on(s, n, now), 5);
    assert_int_equal(phased_atp_on(s, n, 1796000000000), 105);
    assert_int_equal(phased_earliest(s, n, 40), eta);
    assert_int_equal(phased_earliest(s, n, 5), now);
    assert_int_equal(phased_earliest(s, n, 106), -1);
}

/* A preorder of 40 at a date after the lot takes nothing of today; one
 * of 40 before the lot needs today's stock (hold 40: refused at 5). */
static void test_phased_hold(void **state)
{
    (void)state;
    phased_step s[3] = {{100, 100}, {200, -40}};
    size_t n = phased_prepare(s, 2, 10);
    int64_t hold;
    phased_profile(s, n, 5, &hold);
    assert_int_equal(hold, 0);
    assert_int_equal(phased_atp_on(s, n, 10), 5);
    assert_int_equal(phased_atp_on(s, n, 150), 65);
    phased_step t[3] = {{100, 100}, {50, -40}};
    n = phased_prepare(t, 2, 10);
    phased_profile(t, n, 5, &hold);
    assert_int_equal(hold, 40);
    assert_int_equal(phased_atp_on(t, n, 10), 0); /* 5 - 40 < 0 */
    assert_int_equal(phased_earliest(t, n, 1), 100);
    assert_int_equal(phased_atp_on(t, n, 100), 65);
    /* A date already passed takes effect now. */
    phased_step u[2] = {{3, -7}};
    n = phased_prepare(u, 1, 10);
    assert_int_equal(n, 1);
    assert_int_equal(u[0].at_ms, 10);
    assert_int_equal(u[0].delta, -7);
}

/* Random rows against the definition. */
static void test_phased_random(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 3000; round++) {
        enum { MAXN = 12 };
        phased_step s[MAXN + 1], orig[MAXN];
        size_t n = (size_t)(rand() % MAXN);
        const int64_t now = 1000;
        for (size_t i = 0; i < n; i++) {
            bool lot = rand() % 2;
            /* lots arrive after now (the engine's rule), dates anywhere */
            int64_t at = lot ? now + 1 + rand() % 50 : now - 5 + rand() % 60;
            s[i] = orig[i] =
                (phased_step){at, lot ? rand() % 20 : -(rand() % 20)};
        }
        int64_t base = rand() % 40 - 10, hold;
        size_t m = phased_prepare(s, n, now);
        phased_profile(s, m, base, &hold);
        /* the hold: max(0, max over t of (dated_by(t) - future_by(t))) */
        int64_t want_hold = 0;
        for (int64_t t = now; t <= now + 60; t++) {
            int64_t need = 0;
            for (size_t i = 0; i < n; i++)
                if ((orig[i].at_ms < now ? now : orig[i].at_ms) <= t)
                    need -= orig[i].delta;
            if (need > want_hold)
                want_hold = need;
        }
        assert_int_equal(hold, want_hold);
        for (int64_t d = now - 3; d <= now + 62; d++) {
            int64_t low = INT64_MAX;
            for (int64_t t = d < now ? now : d; t <= now + 62; t++) {
                int64_t a = base;
                for (size_t i = 0; i < n; i++)
                    if ((orig[i].at_ms < now ? now : orig[i].at_ms) <= t)
                        a += orig[i].delta;
                if (a < low)
                    low = a;
            }
            int64_t want = low > 0 ? low : 0;
            assert_int_equal(phased_atp_on(s, m, d), want);
        }
        /* today's ATP is base - hold (the hold counted in reserved) */
        int64_t today = base - hold;
        assert_int_equal(phased_atp_on(s, m, now), today > 0 ? today : 0);
        for (int64_t q = 1; q < 30; q++) {
            int64_t e = phased_earliest(s, m, q);
            if (e < 0) {
                assert_true(phased_atp_on(s, m, INT64_MAX) < q);
                continue;
            }
            assert_true(phased_atp_on(s, m, e) >= q);
            assert_true(e == now || phased_atp_on(s, m, e - 1) < q);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phased_doc_example),
        cmocka_unit_test(test_phased_hold),
        cmocka_unit_test(test_phased_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
