/*
 * test_precheck.c - codec_precheck, the byte walk that stands between the
 * network and msgpack-c's allocator. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

/* PC checks a string literal of msgpack bytes (without its NUL). */
#define PC(lit, depth) codec_precheck(lit, sizeof(lit) - 1, depth)

typedef struct enc {
    const char *name;
    const char *bytes;
    size_t len;
} enc;

#define ENC(name, lit)                                                         \
    {                                                                          \
        name, lit, sizeof(lit) - 1                                             \
    }

/* One well-formed encoding of every msgpack type byte family. */
static const enc valid[] = {
    ENC("pos fixint", "\x05"),
    ENC("neg fixint", "\xe0"),
    ENC("nil", "\xc0"),
    ENC("false", "\xc2"),
    ENC("true", "\xc3"),
    ENC("bin8", "\xc4\x02"
                "ab"),
    ENC("bin16", "\xc5\x00\x02"
                 "ab"),
    ENC("bin32", "\xc6\x00\x00\x00\x02"
                 "ab"),
    ENC("ext8", "\xc7\x02\x05"
                "ab"),
    ENC("ext16", "\xc8\x00\x02\x05"
                 "ab"),
    ENC("ext32", "\xc9\x00\x00\x00\x02\x05"
                 "ab"),
    ENC("float32", "\xca\x3f\x80\x00\x00"),
    ENC("float64", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    ENC("uint8", "\xcc\xff"),
    ENC("uint16", "\xcd\xff\xff"),
    ENC("uint32", "\xce\xff\xff\xff\xff"),
    ENC("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    ENC("int8", "\xd0\x80"),
    ENC("int16", "\xd1\x80\x00"),
    ENC("int32", "\xd2\x80\x00\x00\x00"),
    ENC("int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    ENC("fixext1", "\xd4\x01"
                   "a"),
    ENC("fixext2", "\xd5\x01"
                   "ab"),
    ENC("fixext4", "\xd6\x01"
                   "abcd"),
    ENC("fixext8", "\xd7\x01"
                   "abcdefgh"),
    ENC("fixext16", "\xd8\x01"
                    "abcdefghijklmnop"),
    ENC("fixstr", "\xa3"
                  "abc"),
    ENC("str8", "\xd9\x03"
                "abc"),
    ENC("str16", "\xda\x00\x03"
                 "abc"),
    ENC("str32", "\xdb\x00\x00\x00\x03"
                 "abc"),
    ENC("fixarray", "\x93\x01\x02\x03"),
    ENC("array16", "\xdc\x00\x02\x01\xa1x"),
    ENC("array32", "\xdd\x00\x00\x00\x02\x01\xa1x"),
    ENC("fixmap", "\x82\xa1"
                  "a\x01\xa1"
                  "b\xc0"),
    ENC("map16", "\xde\x00\x01\x01\x02"),
    ENC("map32", "\xdf\x00\x00\x00\x01\x01\x02"),
    ENC("empty fixstr", "\xa0"),
    ENC("empty array32", "\xdd\x00\x00\x00\x00"),
    ENC("empty map16", "\xde\x00\x00"),
    ENC("empty bin8", "\xc4\x00"),
    ENC("nested", "\x92\x91\x90\x81\x90\x80"),
};

static void test_precheck_accepts_every_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        atp_err err = codec_precheck(valid[i].bytes, valid[i].len, 8);
        if (err != ATP_OK) {
            fail_msg("%s rejected with %d", valid[i].name, err);
        }
    }
}

/* Every strict prefix of a valid encoding is an incomplete message. */
static void test_precheck_rejects_every_truncation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        for (size_t cut = 0; cut < valid[i].len; cut++) {
            atp_err err = codec_precheck(valid[i].bytes, cut, 8);
            if (err != ATP_E_BAD_REQUEST && err != ATP_E_TOO_LARGE) {
                fail_msg("%s cut at %zu accepted (%d)", valid[i].name, cut,
                         err);
            }
        }
    }
}

/* One byte after the object is a second object: not one message. */
static void test_precheck_rejects_trailing_byte(void **state)
{
    (void)state;
    char buf[64];
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        memcpy(buf, valid[i].bytes, valid[i].len);
        buf[valid[i].len] = 0x00;
        if (codec_precheck(buf, valid[i].len + 1, 8) != ATP_E_BAD_REQUEST) {
            fail_msg("%s with a trailing byte accepted", valid[i].name);
        }
    }
    assert_int_equal(PC("\xc0\xc0", 8), ATP_E_BAD_REQUEST);
}

static void test_precheck_rejects_c1(void **state)
{
    (void)state;
    assert_int_equal(PC("\xc1", 8), ATP_E_BAD_REQUEST);
    assert_int_equal(PC("\x92\x01\xc1", 8), ATP_E_BAD_REQUEST);
    assert_int_equal(PC("\x81\xc1\x01", 8), ATP_E_BAD_REQUEST);
}

static void test_precheck_rejects_empty(void **state)
{
    (void)state;
    assert_int_equal(codec_precheck("", 0, 8), ATP_E_BAD_REQUEST);
    assert_int_equal(codec_precheck(NULL, 0, 8), ATP_E_BAD_REQUEST);
}

/* A 5-byte array32 header declaring 4 billion elements: precheck and
 * codec_decode refuse it before msgpack-c would allocate ~96 GB for it
 * (an attempt would abort this test, under ASan or not). */
static void test_precheck_rejects_huge_declared_counts(void **state)
{
    (void)state;
    assert_int_equal(PC("\xdd\xff\xff\xff\xff", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xdf\xff\xff\xff\xff", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xdc\xff\xff", 8), ATP_E_TOO_LARGE);
    /* nested one level down, after valid elements */
    assert_int_equal(PC("\x92\x01\xdd\xff\xff\xff\xff", 8), ATP_E_TOO_LARGE);

    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, "\xdd\xff\xff\xff\xff", 5, &v),
                     ATP_E_TOO_LARGE);
    assert_int_equal(codec_decode(a, "\xdf\xff\xff\xff\xff", 5, &v),
                     ATP_E_TOO_LARGE);
    codec_arena_free(a);
}

/* Array n needs n more bytes, map n needs 2n: exactly at the limit is
 * fine, one element more is too large. */
static void test_precheck_counts_against_remaining_bytes(void **state)
{
    (void)state;
    assert_int_equal(PC("\x93\x01\x02", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\x93\x01\x02\x03", 8), ATP_OK);
    assert_int_equal(PC("\x82\x01\x02\x03", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\x82\x01\x02\x03\x04", 8), ATP_OK);
    assert_int_equal(PC("\xdc\x00\x03\x01\x02", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xdf\x00\x00\x00\x02\x01\x02\x03", 8),
                     ATP_E_TOO_LARGE);
    /* counts fit, but the inner array eats the outer array's last byte */
    assert_int_equal(PC("\x92\x91\x01", 8), ATP_E_BAD_REQUEST);
}

static void test_precheck_lengths_against_remaining_bytes(void **state)
{
    (void)state;
    /* truncated str32: the length field itself is cut */
    assert_int_equal(PC("\xdb\x00\x00", 8), ATP_E_BAD_REQUEST);
    /* str32 declaring 10 bytes, 5 present */
    assert_int_equal(PC("\xdb\x00\x00\x00\x0a"
                        "abcde",
                        8),
                     ATP_E_TOO_LARGE);
    /* str32 declaring 4 GiB with nothing after */
    assert_int_equal(PC("\xdb\xff\xff\xff\xff", 8), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xa5"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xd9\x05"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xda\x00\x05"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc4\x05"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc5\x00\x05"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc6\x00\x00\x00\x05"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc7\x05\x01"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc8\x00\x05\x01"
                        "abcd",
                        8),
                     ATP_E_TOO_LARGE);
    assert_int_equal(PC("\xc9\xff\xff\xff\xff\x01", 8), ATP_E_TOO_LARGE);
    /* ext8 without its type byte, fixed-size values cut short */
    assert_int_equal(PC("\xc7\x00", 8), ATP_E_BAD_REQUEST);
    assert_int_equal(PC("\xcf\x00\x00\x00", 8), ATP_E_BAD_REQUEST);
    assert_int_equal(PC("\xcb\x00", 8), ATP_E_BAD_REQUEST);
    assert_int_equal(PC("\xd8\x01"
                        "abc",
                        8),
                     ATP_E_BAD_REQUEST);
}

/* nested builds n nested containers (arrays, or maps {0: ...}) around nil
 * into buf and returns the length. */
static size_t nested(char *buf, unsigned n, bool maps)
{
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        if (maps) {
            buf[len++] = (char)0x81;
            buf[len++] = 0x00;
        } else {
            buf[len++] = (char)0x91;
        }
    }
    buf[len++] = (char)0xc0;
    return len;
}

static void test_precheck_depth(void **state)
{
    (void)state;
    char buf[2 * 10000 + 1];
    size_t len;

    len = nested(buf, ATP_MSG_MAX_DEPTH, false);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH), ATP_OK);
    len = nested(buf, ATP_MSG_MAX_DEPTH + 1, false);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH),
                     ATP_E_TOO_LARGE);
    len = nested(buf, ATP_MSG_MAX_DEPTH, true);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH), ATP_OK);
    len = nested(buf, ATP_MSG_MAX_DEPTH + 1, true);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH),
                     ATP_E_TOO_LARGE);

    /* a container closes its level: siblings do not add up */
    assert_int_equal(PC("\x93\x91\x90\x91\x90\x91\x90", 3), ATP_OK);
    assert_int_equal(PC("\x93\x91\x90\x91\x91\x90\x91\x90", 3),
                     ATP_E_TOO_LARGE);
    /* an empty container still counts as a level; scalars do not */
    assert_int_equal(PC("\x90", 0), ATP_E_TOO_LARGE);
    assert_int_equal(PC("\x01", 0), ATP_OK);
    /* keys are nested too */
    assert_int_equal(PC("\x81\x91\x90\x01", 3), ATP_OK);
    assert_int_equal(PC("\x81\x91\x90\x01", 2), ATP_E_TOO_LARGE);

    /* 10000 levels: refused at level 9 without deep recursion */
    len = nested(buf, 10000, false);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH),
                     ATP_E_TOO_LARGE);
    /* max_depth above the walk's own stack is clamped to 64 */
    len = nested(buf, 64, false);
    assert_int_equal(codec_precheck(buf, len, 100000), ATP_OK);
    len = nested(buf, 65, false);
    assert_int_equal(codec_precheck(buf, len, 100000), ATP_E_TOO_LARGE);
}

/* A large but honest message passes: limits are about lies, not size. */
static void test_precheck_accepts_large_flat_array(void **state)
{
    (void)state;
    size_t n = 100000;
    char *buf = malloc(5 + n);
    assert_non_null(buf);
    buf[0] = (char)0xdd;
    buf[1] = 0x00;
    buf[2] = 0x01;
    buf[3] = (char)0x86;
    buf[4] = (char)0xa0;
    memset(buf + 5, 0x7f, n);
    assert_int_equal(codec_precheck(buf, 5 + n, 8), ATP_OK);
    assert_int_equal(codec_precheck(buf, 5 + n - 1, 8), ATP_E_TOO_LARGE);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precheck_accepts_every_type),
        cmocka_unit_test(test_precheck_rejects_every_truncation),
        cmocka_unit_test(test_precheck_rejects_trailing_byte),
        cmocka_unit_test(test_precheck_rejects_c1),
        cmocka_unit_test(test_precheck_rejects_empty),
        cmocka_unit_test(test_precheck_rejects_huge_declared_counts),
        cmocka_unit_test(test_precheck_counts_against_remaining_bytes),
        cmocka_unit_test(test_precheck_lengths_against_remaining_bytes),
        cmocka_unit_test(test_precheck_depth),
        cmocka_unit_test(test_precheck_accepts_large_flat_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
