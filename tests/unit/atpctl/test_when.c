/*
 * test_when.c - unit tests of tools/atpctl/ctl_when.c: the WHEN of
 * `promise --date` and `reserve --promise` (ms since the epoch, a UTC date
 * or time, +DURATION from a fixed now), and everything else refused.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "ctl_when.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define DAY 86400000LL

static void test_expect(const char *s, int64_t want)
{
    int64_t got = -7;
    if (!ctl_when_parse(s, NOW, &got))
        fail_msg("'%s' refused, want %lld", s, (long long)want);
    if (got != want)
        fail_msg("'%s': %lld, want %lld", s, (long long)got, (long long)want);
}

static void test_expect_bad(const char *s)
{
    int64_t got = -7;
    if (ctl_when_parse(s, NOW, &got))
        fail_msg("'%s' accepted as %lld", s, (long long)got);
    assert_int_equal(got, -7); /* untouched */
}

static void test_epoch_ms(void **state)
{
    (void)state;
    test_expect("0", 0);
    test_expect("1796000000000", 1796000000000LL);
    test_expect("0001796000000000", 1796000000000LL); /* 16 digits */
    test_expect("9007199254740991", ATP_WIRE_INT_MAX);
    test_expect_bad("9007199254740992"); /* beyond 2^53-1 */
    test_expect_bad("10000000000000000");
    test_expect_bad("-1");
    test_expect_bad("1e12");
    test_expect_bad("1796000000000.5");
    test_expect_bad("0x10");
    test_expect_bad(" 17");
    test_expect_bad("17 ");
    test_expect_bad("");
}

static void test_dates(void **state)
{
    (void)state;
    test_expect("1970-01-01", 0);
    test_expect("2023-11-14", NOW - (22 * 3600 + 13 * 60 + 20) * 1000LL);
    test_expect("2026-12-07", 1796601600000LL);
    test_expect("2000-02-29", 951782400000LL);  /* 2000 is a leap year */
    test_expect("2024-02-29", 1709164800000LL); /* so is 2024 */
    test_expect("2024-03-01", 1709164800000LL + DAY);
    test_expect("2024-12-31", 1735603200000LL);
    test_expect("9999-12-31", 253402214400000LL);
    test_expect_bad("2023-02-29"); /* not a leap year: refused, not moved */
    test_expect_bad("1900-02-29");
    test_expect_bad("2026-04-31");
    test_expect_bad("2026-13-01");
    test_expect_bad("2026-00-10");
    test_expect_bad("2026-01-00");
    test_expect_bad("2026-01-32");
    test_expect_bad("1969-12-31"); /* before the epoch */
    test_expect_bad("2026-1-07");
    test_expect_bad("2026/12/07");
    test_expect_bad("26-12-07");
    /* Digits only are ms since the epoch, whatever they look like: a
     * compact date is 20 s after 1970 (the output shows the UTC time). */
    test_expect("20261207", 20261207);
    test_expect_bad("2026-12-07 ");
    test_expect_bad("2026-12-07x");
    test_expect_bad("+2026-12-07");
}

static void test_times(void **state)
{
    (void)state;
    test_expect("2023-11-14T22:13:20Z", NOW);
    test_expect("2023-11-14T22:13Z", NOW - 20000);
    test_expect("2023-11-14T00:00:00Z",
                NOW - (22 * 3600 + 13 * 60 + 20) * 1000LL);
    test_expect("2024-02-29T23:59:59Z", 1709164800000LL + DAY - 1000);
    test_expect_bad("2023-11-14T24:00Z");
    test_expect_bad("2023-11-14T23:60Z");
    test_expect_bad("2023-11-14T23:59:60Z"); /* no leap seconds */
    test_expect_bad("2023-11-14T22:13:20");  /* no 'Z': whose time? */
    test_expect_bad("2023-11-14T22:13");
    test_expect_bad("2023-11-14T22Z");
    test_expect_bad("2023-11-14T22:13:20.5Z");
    test_expect_bad("2023-11-14T22:13:20+01:00");
    test_expect_bad("2023-11-14t22:13:20z");
    test_expect_bad("2023-11-14 22:13:20Z");
    test_expect_bad("2023-11-14T2:13Z");
    test_expect_bad("2023-11-14TZ");
    test_expect_bad("2023-11-14T");
}

static void test_from_now(void **state)
{
    (void)state;
    test_expect("+10d", NOW + 10 * DAY);
    test_expect("+36h", NOW + 36 * 3600000LL);
    test_expect("+15m", NOW + 15 * 60000LL);
    test_expect("+30s", NOW + 30000);
    test_expect("+900ms", NOW + 900);
    test_expect_bad("+10");  /* a bare number: as --ttl, a unit is needed */
    test_expect_bad("+0s");  /* positive, as --ttl */
    test_expect_bad("+-1d"); /* forward only */
    test_expect_bad("+");
    test_expect_bad("++1d");
    test_expect_bad("+1.5d");
    test_expect_bad("+1w");
    test_expect_bad("+ 1d");
    test_expect_bad("10d");         /* a duration without '+' is not a time */
    test_expect_bad("+104249991d"); /* beyond 2^53-1 from now */
    int64_t got = 0;
    assert_true(ctl_when_parse("+1d", ATP_WIRE_INT_MAX - DAY, &got));
    assert_int_equal(got, ATP_WIRE_INT_MAX);
    assert_false(ctl_when_parse("+1d", ATP_WIRE_INT_MAX - DAY + 1, &got));
}

static void test_words(void **state)
{
    (void)state;
    test_expect_bad("now");
    test_expect_bad("tomorrow");
    test_expect_bad("today");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_ms), cmocka_unit_test(test_dates),
        cmocka_unit_test(test_times),    cmocka_unit_test(test_from_now),
        cmocka_unit_test(test_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
