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

static void expect_text(const char *in, size_t len, size_t cap,
                        const char *want)
{
    char out[256];
    assert_true(cap <= sizeof out);
    size_t n = codec_str_to_text(out, cap, in, len);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
    codec_str t = {out, (uint32_t)n};
    assert_true(n == 0 || codec_str_is_id(t, UINT32_MAX)); /* printable UTF-8 */
}

/* Issue 12, defect 2: what atpd echoes is printable UTF-8 whatever came in. */
static void test_str_to_text(void **state)
{
    (void)state;
    expect_text("atp", 3, 64, "atp");
    expect_text("atp\xff", 4, 64, "atp\\xff");
    expect_text("Gr\xc3\xbc\xc3\x9f"
                "e \xe5\x80\x89",
                11, 64,
                "Gr\xc3\xbc\xc3\x9f"
                "e \xe5\x80\x89");
    /* C0, DEL, C1 (U+0085), a surrogate, an overlong '/', a cut character */
    expect_text("a\n\x7f\xc2\x85", 5, 64, "a\\x0a\\x7f\\xc2\\x85");
    expect_text("\xed\xa0\x80", 3, 64, "\\xed\\xa0\\x80");
    expect_text("\xc0\xaf", 2, 64, "\\xc0\\xaf");
    expect_text("x\xe2\x82", 3, 64, "x\\xe2\\x82");
    expect_text("a\0b", 3, 64, "a\\x00b");
    /* full: never half a character or half an escape */
    expect_text("abc\xc3\xa9", 5, 5, "abc");
    expect_text("abc\xc3\xa9", 5, 6, "abc\xc3\xa9");
    expect_text("ab\xff", 3, 6, "ab");
    expect_text("ab\xff", 3, 7, "ab\\xff");
    expect_text("abc", 3, 1, "");
    expect_text("", 0, 8, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_id_length),
        cmocka_unit_test(test_str_id_printable),
        cmocka_unit_test(test_str_id_utf8),
        cmocka_unit_test(test_str_eq),
        cmocka_unit_test(test_str_to_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
