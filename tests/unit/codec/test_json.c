/*
 * test_json.c - codec_val_write_json produces exact, valid JSON for every
 * msgpack type, including hostile strings and non-string map keys.
 * Single-threaded.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

/* json_of returns the JSON text of msgpack bytes buf[0..len) (malloc'ed). */
static char *json_of(const void *buf, size_t len)
{
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, buf, len, &v), ATP_OK);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    assert_non_null(f);
    codec_val_write_json(v, f);
    assert_int_equal(fclose(f), 0);
    codec_arena_free(a);
    return out;
}

static void expect_json_w(codec_writer *w, const char *want)
{
    size_t len;
    const void *buf = codec_writer_data(w, &len);
    assert_false(codec_writer_failed(w));
    char *got = json_of(buf, len);
    assert_string_equal(got, want);
    free(got);
    codec_writer_reset(w);
}

#define expect_json_b(lit, want) expect_json_b_(lit, sizeof(lit) - 1, want)
static void expect_json_b_(const char *buf, size_t len, const char *want)
{
    char *got = json_of(buf, len);
    assert_string_equal(got, want);
    free(got);
}

static void test_json_types(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_map(w, 8);
    codec_w_kv_cstr(w, "s", "plain");
    codec_w_kv_int(w, "n", -5);
    codec_w_kv_uint(w, "u", UINT64_MAX);
    codec_w_kv_int(w, "min", INT64_MIN);
    codec_w_cstr(w, "f");
    codec_w_double(w, 0.1);
    codec_w_kv_bool(w, "t", true);
    codec_w_cstr(w, "z");
    codec_w_nil(w);
    codec_w_cstr(w, "arr");
    codec_w_array(w, 3);
    codec_w_int(w, 1);
    codec_w_array(w, 0);
    codec_w_map(w, 0);
    expect_json_w(w, "{\"s\":\"plain\",\"n\":-5,\"u\":18446744073709551615,"
                     "\"min\":-9223372036854775808,"
                     "\"f\":0.10000000000000001,\"t\":true,\"z\":null,"
                     "\"arr\":[1,[],{}]}");
    codec_writer_free(w);
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_str(w, "q\"b\\s/\n\t\x01\x1f\x7f", 11);
    expect_json_w(w, "\"q\\\"b\\\\s/\\u000a\\u0009\\u0001\\u001f\\u007f\"");
    /* C1 controls (U+0080..U+009F) are escaped too; U+00A0 is not */
    codec_w_cstr(w, "\xc2\x80\xc2\x9f\xc2\xa0");
    expect_json_w(w, "\"\\u0080\\u009f\xc2\xa0\"");
    codec_w_str(w, "a\0b", 3);
    expect_json_w(w, "\"a\\u0000b\"");
    codec_w_str(w, "", 0);
    expect_json_w(w, "\"\"");
    /* valid UTF-8 passes through unchanged */
    codec_w_cstr(w, "Grüße 倉庫 \xf0\x9f\x93\xa6");
    expect_json_w(w, "\"Grüße 倉庫 \xf0\x9f\x93\xa6\"");
    /* every byte outside a valid sequence becomes U+FFFD */
    codec_w_cstr(w, "a\xff"
                    "b");
    expect_json_w(w, "\"a\\ufffdb\"");
    codec_w_cstr(w, "\xc0\xaf");
    expect_json_w(w, "\"\\ufffd\\ufffd\"");
    codec_w_cstr(w, "\xed\xa0\x80!");
    expect_json_w(w, "\"\\ufffd\\ufffd\\ufffd!\"");
    codec_w_cstr(w, "end\xe2\x82");
    expect_json_w(w, "\"end\\ufffd\\ufffd\"");
    codec_w_cstr(w, "\xe2\x82\xac\xe2\x82");
    expect_json_w(w, "\"\xe2\x82\xac\\ufffd\\ufffd\"");
    codec_writer_free(w);
}

/* Issue 13: a counter is written as at most 2^53 - 1, exact in a JSON
 * double (codec_w_kv_count). */
/* codec_json_str is the one escaper (issue 13): a sink that stops it
 * stops the output, and an empty string may be NULL. */
static int test_json_sink_limit(void *ctx, const void *buf, size_t len)
{
    size_t *left = ctx;
    (void)buf;
    if (len > *left)
        return 7;
    *left -= len;
    return 0;
}

static void test_json_str_sink(void **state)
{
    (void)state;
    size_t left = 100;
    assert_int_equal(codec_json_str(test_json_sink_limit, &left, NULL, 0), 0);
    assert_int_equal(left, 98); /* "" */
    left = 3;
    assert_int_equal(codec_json_str(test_json_sink_limit, &left, "abc\x01", 4),
                     7);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(codec_json_str_file(f, "id\xff\x7f\"", 5), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "\"id\\ufffd\\u007f\\\"\"");
    free(buf);
}

/* codec_json_to_msgpack (atpctl over HTTP): a JSON reply read back as
 * the same map, members in order, "lines" objects kept as objects, and
 * written out again as the same JSON text. */
static void json_round(const char *in, const char *want, atp_err want_err)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    char msg[200] = "";
    assert_int_equal(codec_json_to_msgpack(w, in, strlen(in), msg, sizeof msg),
                     want_err);
    if (want_err == ATP_OK)
        expect_json_w(w, want);
    else
        assert_true(msg[0] != '\0');
    codec_writer_free(w);
}

static void test_json_to_msgpack(void **state)
{
    (void)state;
    const char *reply = "{\"ok\":true,\"granted\":false,\"id\":\"c\u00e9\","
                        "\"lines\":[{\"sku\":\"A\",\"region\":\"r1\",\"qty\":2,"
                        "\"available\":1,\"ok\":false}],\"z\":null,"
                        "\"seq\":9007199254740991,\"n\":-3}";
    json_round(reply,
               "{\"ok\":true,\"granted\":false,\"id\":\"c\xc3\xa9\","
               "\"lines\":[{\"sku\":\"A\",\"region\":\"r1\",\"qty\":2,"
               "\"available\":1,\"ok\":false}],\"z\":null,"
               "\"seq\":9007199254740991,\"n\":-3}",
               ATP_OK);
    json_round("[1,\"a\",[true]]", "[1,\"a\",[true]]", ATP_OK);
    json_round("{\"a\":1,", NULL, ATP_E_BAD_REQUEST);
    json_round("{\"a\":1,\"a\":2}", NULL, ATP_E_BAD_REQUEST);
    json_round("[[[[[[[[1]]]]]]]]", "[[[[[[[[1]]]]]]]]", ATP_OK); /* 8 deep */
    json_round("[[[[[[[[[1]]]]]]]]]", NULL, ATP_E_TOO_LARGE);
}

static void test_json_count_saturates(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_map(w, 4);
    codec_w_kv_count(w, "a", 0);
    codec_w_kv_count(w, "b", (uint64_t)ATP_WIRE_INT_MAX);
    codec_w_kv_count(w, "c", (uint64_t)ATP_WIRE_INT_MAX + 1);
    codec_w_kv_count(w, "d", UINT64_MAX);
    expect_json_w(w, "{\"a\":0,\"b\":9007199254740991,\"c\":9007199254740991,"
                     "\"d\":9007199254740991}");
    codec_writer_free(w);
}

static void test_json_floats(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_array(w, 6);
    codec_w_double(w, NAN);
    codec_w_double(w, INFINITY);
    codec_w_double(w, -INFINITY);
    codec_w_double(w, 1.0);
    codec_w_double(w, -2.5e-300);
    codec_w_double(w, 1e300);
    expect_json_w(w, "[null,null,null,1,-2.5e-300,"
                     "1.0000000000000001e+300]");
    /* float32 is widened exactly */
    expect_json_b("\xca\x3f\xc0\x00\x00", "1.5");
    codec_writer_free(w);
}

static void test_json_base64(void **state)
{
    (void)state;
    expect_json_b("\xc4\x00", "\"\"");
    expect_json_b("\xc4\x01"
                  "f",
                  "\"Zg==\"");
    expect_json_b("\xc4\x02"
                  "fo",
                  "\"Zm8=\"");
    expect_json_b("\xc4\x03"
                  "foo",
                  "\"Zm9v\"");
    expect_json_b("\xc4\x04"
                  "foob",
                  "\"Zm9vYg==\"");
    expect_json_b("\xc4\x03\x00\xff\xfe", "\"AP/+\"");
    /* ext: the data bytes, type dropped */
    expect_json_b("\xd5\x07"
                  "fo",
                  "\"Zm8=\"");
    expect_json_b("\xc7\x03\x01"
                  "foo",
                  "\"Zm9v\"");
}

/* Non-string keys become their JSON text in quotes: still valid JSON. */
static void test_json_map_keys(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_map(w, 6);
    codec_w_int(w, 1);
    codec_w_cstr(w, "x");
    codec_w_nil(w);
    codec_w_int(w, 1);
    codec_w_array(w, 2);
    codec_w_int(w, -1);
    codec_w_cstr(w, "a\"b");
    codec_w_int(w, 2);
    codec_w_bool(w, true);
    codec_w_int(w, 3);
    codec_w_double(w, 0.5);
    codec_w_int(w, 4);
    codec_w_cstr(w, "k\n");
    codec_w_int(w, 5);
    expect_json_w(w, "{\"1\":\"x\",\"null\":1,\"[-1,\\\"a\\\\\\\"b\\\"]\":2,"
                     "\"true\":3,\"0.5\":4,\"k\\u000a\":5}");
    /* a bin key is already a JSON string */
    expect_json_b("\x81\xc4\x01"
                  "f\x01",
                  "{\"Zg==\":1}");
    codec_writer_free(w);
}

/* Issue 12, defect 10: msgpack-c decodes an empty string (or bin) that
 * comes before any other string of the message with a NULL pointer; the
 * writer must not do arithmetic on it (clang's UBSan: "applying zero
 * offset to null pointer"; GCC's UBSan does not check this). */
static void test_json_empty_strings(void **state)
{
    (void)state;
    expect_json_b("\xa0", "\"\"");
    expect_json_b("\xc4\x00", "\"\"");
    expect_json_b("\x92\xa0\xa1x", "[\"\",\"x\"]");
    expect_json_b("\x81\xa0\xa0", "{\"\":\"\"}");
    expect_json_b("\x81\x01\xa0", "{\"1\":\"\"}");
}

static void test_json_null_value(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    codec_val_write_json(NULL, f);
    fclose(f);
    assert_string_equal(out, "null");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_str_sink),
        cmocka_unit_test(test_json_to_msgpack),
        cmocka_unit_test(test_json_count_saturates),
        cmocka_unit_test(test_json_floats),
        cmocka_unit_test(test_json_base64),
        cmocka_unit_test(test_json_map_keys),
        cmocka_unit_test(test_json_null_value),
        cmocka_unit_test(test_json_empty_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
