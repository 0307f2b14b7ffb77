/*
 * test_resv.c - unit tests of tools/atpctl/ctl_resv.c: reservation line
 * arguments split from the right, ids, durations with the config's syntax,
 * and the time formats. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "ctl_resv.h"

static void test_expect_line(const char *arg, bool with_qty, const char *sku,
                             const char *region, int64_t qty)
{
    ctl_resv_line l;
    char err[256] = "";
    assert_true(ctl_resv_line_parse(arg, with_qty, &l, err, sizeof err));
    assert_int_equal(l.sku_len, strlen(sku));
    assert_memory_equal(l.sku, sku, l.sku_len);
    assert_int_equal(l.region_len, strlen(region));
    assert_memory_equal(l.region, region, l.region_len);
    assert_int_equal(l.qty, qty);
}

static void test_expect_bad(const char *arg, bool with_qty, const char *why)
{
    ctl_resv_line l;
    char err[256] = "";
    assert_false(ctl_resv_line_parse(arg, with_qty, &l, err, sizeof err));
    if (strstr(err, why) == NULL)
        fail_msg("'%s': error '%s' lacks '%s'", arg, err, why);
}

static void test_line_plain(void **state)
{
    (void)state;
    test_expect_line("SKU-1:us-east:2", true, "SKU-1", "us-east", 2);
    test_expect_line("SKU-1:us-east:+7", true, "SKU-1", "us-east", 7);
    test_expect_line("SKU-1:us-east:1000000000000000", true, "SKU-1", "us-east",
                     ATP_QTY_MAX);
    test_expect_line("SKU-1:us-east", false, "SKU-1", "us-east", 0);
}

static void test_line_colon_in_sku(void **state)
{
    (void)state;
    /* From the right: qty, region, and the SKU keeps every other ':'. */
    test_expect_line("NS:SKU-1:us-east:3", true, "NS:SKU-1", "us-east", 3);
    test_expect_line("a::b:eu:1", true, "a::b", "eu", 1);
    test_expect_line("::eu:1", true, ":", "eu", 1);
    test_expect_line("NS:SKU-1:eu", false, "NS:SKU-1", "eu", 0);
    /* Without a quantity, "SKU:REGION:2" is SKU "SKU:REGION", region "2":
     * the service will answer unknown_region, naming the argument. */
    test_expect_line("SKU-1:eu:2", false, "SKU-1:eu", "2", 0);
}

static void test_line_bad(void **state)
{
    (void)state;
    test_expect_bad("SKU-1", true, "expected SKU:REGION:QTY");
    test_expect_bad("us-east:2", true, "expected SKU:REGION:QTY");
    test_expect_bad("SKU-1:us-east", true, "quantity 'us-east'");
    test_expect_bad("SKU-1:us-east:", true, "quantity ''");
    test_expect_bad("SKU-1:us-east:0", true, "not an integer in 1..");
    test_expect_bad("SKU-1:us-east:-1", true, "not an integer");
    test_expect_bad("SKU-1:us-east:1.5", true, "not an integer");
    test_expect_bad("SKU-1:us-east:1e3", true, "not an integer");
    test_expect_bad("SKU-1:us-east:1000000000000001", true, "not an integer");
    test_expect_bad(":us-east:1", true, "the SKU must be");
    test_expect_bad("SKU-1::1", true, "the region must be");
    test_expect_bad("SKU-1", false, "expected SKU:REGION");
    test_expect_bad("SKU-1:", false, "the region must be");
    test_expect_bad(":eu", false, "the SKU must be");
    test_expect_bad("SK\tU:eu:1", true, "the SKU must be");
    test_expect_bad("SKU:e\x7fu:1", true, "the region must be");
}

/* SKU:REGION:QTY@LOCATION: the location after the quantity's first '@'. */
static void test_line_pinned(void **state)
{
    (void)state;
    ctl_resv_line l;
    char err[256] = "";
    assert_true(
        ctl_resv_line_parse("SKU-1:us-east:2@ST-1", true, &l, err, sizeof err));
    assert_int_equal(l.qty, 2);
    assert_int_equal(l.region_len, 7);
    assert_int_equal(l.location_len, 4);
    assert_memory_equal(l.location, "ST-1", 4);
    assert_true(ctl_resv_line_parse("NS:S@1:eu:3@store@mall", true, &l, err,
                                    sizeof err));
    assert_int_equal(l.sku_len, 6); /* an '@' in the SKU stays there */
    assert_int_equal(l.location_len, 10);
    assert_memory_equal(l.location, "store@mall", 10);
    assert_true(ctl_resv_line_parse("SKU-1:eu:3", true, &l, err, sizeof err));
    assert_null(l.location);
    test_expect_bad("SKU-1:eu:1@", true, "the location must be");
    test_expect_bad("SKU-1:eu:@ST-1", true, "quantity ''");
    test_expect_bad("SKU-1:eu:0@ST-1", true, "not an integer in 1..");
    test_expect_bad("SKU-1:eu:12345678901234567890123456789012345@ST-1", true,
                    "not an integer");
    char arg[ATP_ID_MAX_LEN + 32];
    snprintf(arg, sizeof arg, "S:eu:1@%0*d", ATP_ID_MAX_LEN + 1, 0);
    test_expect_bad(arg, true, "the location must be");
}

static void test_line_lengths(void **state)
{
    (void)state;
    char arg[ATP_SKU_MAX_LEN + ATP_ID_MAX_LEN + 16];
    char sku[ATP_SKU_MAX_LEN + 2], region[ATP_ID_MAX_LEN + 2];
    memset(sku, 's', ATP_SKU_MAX_LEN);
    sku[ATP_SKU_MAX_LEN] = '\0';
    memset(region, 'r', ATP_ID_MAX_LEN);
    region[ATP_ID_MAX_LEN] = '\0';
    snprintf(arg, sizeof arg, "%s:%s:1", sku, region);
    test_expect_line(arg, true, sku, region, 1);
    snprintf(arg, sizeof arg, "%ss:%s:1", sku, region);
    test_expect_bad(arg, true, "the SKU must be 1..64 bytes");
    snprintf(arg, sizeof arg, "%s:%sr:1", sku, region);
    test_expect_bad(arg, true, "the region must be 1..64 bytes");
    /* UTF-8 is printable; a broken sequence is not. */
    test_expect_line("\xc3\xa9t\xc3\xa9:eu:1", true, "\xc3\xa9t\xc3\xa9", "eu",
                     1);
    test_expect_bad("\xc3:eu:1", true, "the SKU must be");
}

static void test_id(void **state)
{
    (void)state;
    char id[CTL_RESV_ID_MAX + 2];
    memset(id, 'i', CTL_RESV_ID_MAX);
    id[CTL_RESV_ID_MAX] = '\0';
    assert_true(ctl_resv_id_ok(id));
    assert_true(ctl_resv_id_ok("cart-81723"));
    assert_true(ctl_resv_id_ok("a b:c"));
    id[CTL_RESV_ID_MAX] = 'i';
    id[CTL_RESV_ID_MAX + 1] = '\0';
    assert_false(ctl_resv_id_ok(id));
    assert_false(ctl_resv_id_ok(""));
    assert_false(ctl_resv_id_ok("cart\n1"));
}

static void test_ttl(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_true(ctl_resv_ttl_parse("900ms", &ms));
    assert_int_equal(ms, 900);
    assert_true(ctl_resv_ttl_parse("30s", &ms));
    assert_int_equal(ms, 30000);
    assert_true(ctl_resv_ttl_parse("15m", &ms));
    assert_int_equal(ms, 900000);
    assert_true(ctl_resv_ttl_parse("2h", &ms));
    assert_int_equal(ms, 7200000);
    assert_true(ctl_resv_ttl_parse("1d", &ms));
    assert_int_equal(ms, 86400000);
    /* A bare number is refused: "5" could be 5 s or 5 ms (the config
     * reads it as ms; a command line must say). */
    ms = 42;
    assert_false(ctl_resv_ttl_parse("1500", &ms));
    assert_false(ctl_resv_ttl_parse("5", &ms));
    assert_int_equal(ms, 42);
    assert_false(ctl_resv_ttl_parse("0", &ms));
    assert_false(ctl_resv_ttl_parse("0s", &ms));
    assert_false(ctl_resv_ttl_parse("", &ms));
    assert_false(ctl_resv_ttl_parse("-5s", &ms));
    assert_false(ctl_resv_ttl_parse("15x", &ms));
    assert_false(ctl_resv_ttl_parse("1.5h", &ms));
    assert_false(ctl_resv_ttl_parse(" 5s", &ms));
    assert_false(ctl_resv_ttl_parse("99999999999999999999", &ms));
    assert_false(ctl_resv_ttl_parse("9223372036854775807d", &ms));
    assert_int_equal(ms, 42); /* untouched on failure */
}

static void test_expect_span(int64_t ms, const char *want)
{
    char buf[64];
    ctl_resv_fmt_span(ms, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_span(void **state)
{
    (void)state;
    test_expect_span(0, "0ms");
    test_expect_span(450, "450ms");
    test_expect_span(999, "999ms");
    test_expect_span(1000, "1s");
    test_expect_span(59999, "59s");
    test_expect_span(899999, "14m59s");
    test_expect_span(900000, "15m");
    test_expect_span(3600000 + 5 * 60000 + 7000, "1h5m"); /* truncated */
    test_expect_span(7200000, "2h");
    test_expect_span(604799000, "6d23h");
    test_expect_span(86400000, "1d");
    test_expect_span(-1500, "1s");
    test_expect_span(INT64_MIN, "106751991167d7h");
}

static void test_utc_and_when(void **state)
{
    (void)state;
    char buf[96];
    ctl_resv_fmt_utc(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    ctl_resv_fmt_utc(1700000000999, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:13:20Z");
    ctl_resv_fmt_utc(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    int64_t now = 1700000000000;
    ctl_resv_fmt_when(now + 899999, now, buf, sizeof buf);
    assert_string_equal(buf, "in 14m59s (2023-11-14T22:28:19Z)");
    ctl_resv_fmt_when(now - 3000, now, buf, sizeof buf);
    assert_string_equal(buf, "3s ago (2023-11-14T22:13:17Z)");
    ctl_resv_fmt_when(now, now, buf, sizeof buf);
    assert_string_equal(buf, "0ms ago (2023-11-14T22:13:20Z)");
    /* A hostile reply must not overflow the subtraction. */
    ctl_resv_fmt_when(INT64_MIN, now, buf, sizeof buf);
    assert_non_null(strstr(buf, " ago ("));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_plain),
        cmocka_unit_test(test_line_colon_in_sku),
        cmocka_unit_test(test_line_bad),
        cmocka_unit_test(test_line_pinned),
        cmocka_unit_test(test_line_lengths),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_utc_and_when),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
