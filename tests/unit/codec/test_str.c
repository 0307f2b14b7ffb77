/*
 * test_str.c - codec_str_is_id (the id rule of PROTOCOL.md: 1..max bytes of
 * printable UTF-8) and codec_str_eq. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

static bool is_id(const char *s, uint32_t max)
{
    codec_str cs = {s, (uint32_t)strlen(s)};
    return codec_str_is_id(cs, max);
}

static void test_str_id_length(void **state)
{
    (void)state;
    char buf[ATP_SKU_MAX_LEN + 2];
    memset(buf, 'A', sizeof(buf));
    buf[ATP_SKU_MAX_LEN] = '\0';
    assert_true(is_id(buf, ATP_SKU_MAX_LEN));
    buf[ATP_SKU_MAX_LEN] = 'A';
    buf[ATP_SKU_MAX_LEN + 1] = '\0';
    assert_false(is_id(buf, ATP_SKU_MAX_LEN));
    assert_false(is_id("", ATP_SKU_MAX_LEN));
    assert_true(is_id("x", 1));
    codec_str null_ptr = {NULL, 3};
    assert_false(codec_str_is_id(null_ptr, 64));
}

static void test_str_id_printable(void **state)
{
    (void)state;
    assert_true(is_id("SKU-1 blue/XL #3", 64));
    assert_true(is_id("~!@{}\"\\", 64));
    assert_false(is_id("SKU\t1", 64));
    assert_false(is_id("SKU\n", 64));
    assert_false(is_id("\x1f", 64));
    assert_false(is_id("a\x7f", 64));
    codec_str nul = {"a\0b", 3};
    assert_false(codec_str_is_id(nul, 64));
    /* C1 controls U+0080..U+009F are control characters too */
    assert_false(is_id("a\xc2\x80", 64));
    assert_false(is_id("a\xc2\x9f", 64));
    assert_true(is_id("a\xc2\xa0", 64)); /* U+00A0 */
}

static void test_str_id_utf8(void **state)
{
    (void)state;
    assert_true(is_id("Grüße-Größe", 64));
    assert_true(is_id("倉庫-東京", 64));
    assert_true(is_id("\xf0\x9f\x93\xa6", 64)); /* U+1F4E6 */
    assert_true(is_id("\xf4\x8f\xbf\xbf", 64)); /* U+10FFFF */
    assert_true(is_id("\xef\xbf\xbd", 64));     /* U+FFFD */
    /* not UTF-8 */
    assert_false(is_id("\xff", 64));
    assert_false(is_id("\x80"
                       "abc",
                       64));                     /* lone continuation */
    assert_false(is_id("abc\xc3", 64));          /* truncated at end */
    assert_false(is_id("\xc3(", 64));            /* bad continuation */
    assert_false(is_id("\xc0\xaf", 64));         /* overlong '/' */
    assert_false(is_id("\xe0\x80\xaf", 64));     /* overlong 3-byte */
    assert_false(is_id("\xf0\x80\x80\xaf", 64)); /* overlong 4-byte */
    assert_false(is_id("\xed\xa0\x80", 64));     /* surrogate D800 */
    assert_false(is_id("\xf4\x90\x80\x80", 64)); /* above U+10FFFF */
    assert_false(is_id("\xe2\x82", 64));         /* truncated 3-byte */
    assert_false(is_id("\xe2\x82\x41", 64));     /* bad third byte */
    assert_false(is_id("\xf0\x9f\x93", 64));     /* truncated 4-byte */
    /* the length limit counts bytes, not characters */
    assert_true(is_id("üü", 4));
    assert_false(is_id("üüü", 4));
}

static void test_str_eq(void **state)
{
    (void)state;
    codec_str s = {"abc", 3};
    assert_true(codec_str_eq(s, "abc"));
    assert_false(codec_str_eq(s, "ab"));
    assert_false(codec_str_eq(s, "abcd"));
    assert_false(codec_str_eq(s, "abd"));
    codec_str e = {NULL, 0};
    assert_true(codec_str_eq(e, ""));
    assert_false(codec_str_eq(e, "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_id_length),
        cmocka_unit_test(test_str_id_printable),
        cmocka_unit_test(test_str_id_utf8),
        cmocka_unit_test(test_str_eq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
