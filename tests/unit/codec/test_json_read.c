/*
 * test_json_read.c - unit tests of src/codec/json_read.c
 * (codec_json_request): a JSON body and the route's fields become the
 * msgpack request map the request module reads. Lines as objects become
 * arrays; numbers become integers (within +-(2^53-1)), INT64_MAX/MIN
 * beyond, floats when fractional; the route's fields win over the body's;
 * malformed JSON, a non-object, duplicate keys, invalid UTF-8 and NUL are
 * bad_request; nesting past ATP_MSG_MAX_DEPTH too_large; and what passes
 * always passes codec_precheck. Labels: unit, http.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "codec/codec.h"

typedef struct test_out {
    codec_writer *w;
    codec_arena *a;
    const codec_val *v;
    char msg[200];
} test_out;

/* test_conv converts body with fields f[0..nf) and decodes the result. */
static atp_err test_conv(test_out *o, const char *body,
                         const codec_json_field *f, size_t nf, bool line_qty)
{
    codec_writer_reset(o->w);
    codec_arena_clear(o->a);
    codec_json_opts opts = {.fields = f, .n_fields = nf, .line_qty = line_qty};
    o->msg[0] = '\0';
    atp_err err = codec_json_request(o->w, &opts, body, strlen(body), o->msg,
                                     sizeof o->msg);
    if (err != ATP_OK)
        return err;
    size_t len;
    const void *buf = codec_writer_data(o->w, &len);
    assert_int_equal(codec_precheck(buf, len, ATP_MSG_MAX_DEPTH), ATP_OK);
    assert_int_equal(codec_decode(o->a, buf, len, &o->v), ATP_OK);
    return ATP_OK;
}

static int64_t test_int(const codec_val *v)
{
    int64_t i;
    assert_true(codec_val_int(v, &i));
    return i;
}

static void test_str_eq(const codec_val *v, const char *want)
{
    codec_str s;
    assert_true(codec_val_str(v, &s));
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void test_lines(void **state)
{
    test_out *o = *state;
    assert_int_equal(
        test_conv(o,
                  "{\"channel\": \"web\", \"lines\": [{\"qty\": 2, \"region\": "
                  "\"e\", \"sku\": \"A\", \"x\": 1}, [\"B\", \"w\", 3], "
                  "{\"sku\": \"C\"}]}",
                  NULL, 0, true),
        ATP_OK);
    assert_int_equal(codec_val_len(o->v), 2);
    test_str_eq(codec_val_get(o->v, "channel"), "web");
    const codec_val *lines = codec_val_get(o->v, "lines");
    assert_int_equal(codec_val_len(lines), 3);
    const codec_val *l0 = codec_val_at(lines, 0);
    assert_int_equal(codec_val_len(l0), 3);
    test_str_eq(codec_val_at(l0, 0), "A");
    test_str_eq(codec_val_at(l0, 1), "e");
    assert_int_equal(test_int(codec_val_at(l0, 2)), 2);
    test_str_eq(codec_val_at(codec_val_at(lines, 1), 0), "B");
    const codec_val *l2 = codec_val_at(lines, 2); /* absent members: nil */
    assert_int_equal(codec_val_len(l2), 3);
    assert_int_equal(codec_val_type(codec_val_at(l2, 1)), CODEC_NIL);
    assert_int_equal(codec_val_type(codec_val_at(l2, 2)), CODEC_NIL);
    /* Release lines: [sku, region], a qty member ignored. */
    assert_int_equal(
        test_conv(
            o, "{\"lines\": [{\"sku\": \"A\", \"region\": \"e\", \"qty\": 1}]}",
            NULL, 0, false),
        ATP_OK);
    assert_int_equal(
        codec_val_len(codec_val_at(codec_val_get(o->v, "lines"), 0)), 2);
    /* "lines" only at the top: elsewhere objects stay maps. */
    assert_int_equal(
        test_conv(o, "{\"x\": {\"lines\": [{\"sku\": \"A\"}]}}", NULL, 0, true),
        ATP_OK);
    const codec_val *inner = codec_val_get(codec_val_get(o->v, "x"), "lines");
    assert_int_equal(codec_val_type(codec_val_at(inner, 0)), CODEC_MAP);
}

static void test_numbers(void **state)
{
    test_out *o = *state;
    assert_int_equal(
        test_conv(o,
                  "{\"a\": 9007199254740991, \"b\": -9007199254740991, \"c\": "
                  "9007199254740993, \"d\": -1e300, \"e\": 1.5, \"f\": 2.0, "
                  "\"g\": 1e20, \"h\": -0}",
                  NULL, 0, false),
        ATP_OK);
    assert_int_equal(test_int(codec_val_get(o->v, "a")), 9007199254740991LL);
    assert_int_equal(test_int(codec_val_get(o->v, "b")), -9007199254740991LL);
    assert_int_equal(test_int(codec_val_get(o->v, "c")), INT64_MAX);
    assert_int_equal(test_int(codec_val_get(o->v, "d")), INT64_MIN);
    assert_int_equal(codec_val_type(codec_val_get(o->v, "e")), CODEC_FLOAT);
    assert_int_equal(test_int(codec_val_get(o->v, "f")), 2);
    assert_int_equal(test_int(codec_val_get(o->v, "g")), INT64_MAX);
    assert_int_equal(test_int(codec_val_get(o->v, "h")), 0);
    bool b;
    assert_int_equal(test_conv(o, "{\"t\": true, \"n\": null}", NULL, 0, false),
                     ATP_OK);
    assert_true(codec_val_bool(codec_val_get(o->v, "t"), &b) && b);
    assert_int_equal(codec_val_type(codec_val_get(o->v, "n")), CODEC_NIL);
    /* Beyond a double: a parse error, not a silent infinity. */
    assert_int_equal(test_conv(o, "{\"x\": 1e999}", NULL, 0, false),
                     ATP_E_BAD_REQUEST);
}

/* pickup_cart's lines (line_sku_qty): objects become [sku, qty]; a
 * boolean field (a query's pickup_only=true) is a msgpack boolean. */
static void test_lines_sku_qty(void **state)
{
    test_out *o = *state;
    codec_writer_reset(o->w);
    codec_arena_clear(o->a);
    codec_json_field f[] = {{.key = "pickup_only", .is_bool = true, .b = true}};
    codec_json_opts opts = {.fields = f, .n_fields = 1, .line_sku_qty = true};
    const char *body = "{\"lines\": [{\"qty\": 2, \"sku\": \"A\", "
                       "\"region\": \"e\"}, [\"B\", 3]]}";
    assert_int_equal(codec_json_request(o->w, &opts, body, strlen(body), o->msg,
                                        sizeof o->msg),
                     ATP_OK);
    size_t len;
    const void *buf = codec_writer_data(o->w, &len);
    assert_int_equal(codec_decode(o->a, buf, len, &o->v), ATP_OK);
    bool b = false;
    assert_true(codec_val_bool(codec_val_get(o->v, "pickup_only"), &b) && b);
    const codec_val *l0 = codec_val_at(codec_val_get(o->v, "lines"), 0);
    assert_int_equal(codec_val_len(l0), 2);
    test_str_eq(codec_val_at(l0, 0), "A");
    assert_int_equal(test_int(codec_val_at(l0, 1)), 2);
}

static void test_fields(void **state)
{
    test_out *o = *state;
    codec_json_field f[] = {
        {.key = "op", .str = {"commit", 6}},
        {.key = "id", .str = {"r/1", 3}},
        {.key = "cursor", .is_int = true, .i = 7},
    };
    assert_int_equal(
        test_conv(
            o, "{\"id\": \"other\", \"op\": \"reserve\", \"order_ref\": \"S\"}",
            f, 3, false),
        ATP_OK);
    assert_int_equal(codec_val_len(o->v), 4); /* op, id, cursor, order_ref */
    test_str_eq(codec_val_get(o->v, "op"), "commit");
    test_str_eq(codec_val_get(o->v, "id"), "r/1");
    assert_int_equal(test_int(codec_val_get(o->v, "cursor")), 7);
    test_str_eq(codec_val_get(o->v, "order_ref"), "S");
    /* No body: the fields alone. */
    assert_int_equal(test_conv(o, "", f, 2, false), ATP_OK);
    assert_int_equal(codec_val_len(o->v), 2);
}

static void test_refused(void **state)
{
    test_out *o = *state;
    static const struct {
        const char *body;
        atp_err want;
        const char *msg; /* a part of the message */
    } cases[] = {
        {"{", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"{\"a\": 1} x", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"[1]", ATP_E_BAD_REQUEST, "JSON object"},
        {"\"s\"", ATP_E_BAD_REQUEST, "JSON object"},
        {"null", ATP_E_BAD_REQUEST, "JSON object"},
        {"{\"a\": 1, \"a\": 2}", ATP_E_BAD_REQUEST, "duplicate"},
        {"{\"a\": \"\xc3\x28\"}", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"{\"a\": \"\xed\xa0\x80\"}", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"{\"a\": \"x\\u0000y\"}", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"{\"a\\u0000\": 1}", ATP_E_BAD_REQUEST, "malformed JSON"},
        {"{\"a\": [[[[[[[[]]]]]]]]}", ATP_E_TOO_LARGE, "deeper than 8"},
        {"{\"lines\": [[[[[[[[]]]]]]]]}", ATP_E_TOO_LARGE, "deeper than 8"},
        {"{\"lines\": [{\"sku\": [[[[[[]]]]]]}]}", ATP_E_TOO_LARGE,
         "deeper than 8"},
        {"{\"a\": [[[[[[[{}]]]]]]]}", ATP_E_TOO_LARGE, "deeper than 8"},
        {"{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": {\"f\": {\"g\": {\"h\": "
         "{}}}}}}}}}",
         ATP_E_TOO_LARGE, "deeper than 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        atp_err err = test_conv(o, cases[i].body, NULL, 0, true);
        if (err != cases[i].want || strstr(o->msg, cases[i].msg) == NULL)
            fail_msg("case %zu (%s): got %d '%s', want %d '%s'", i,
                     cases[i].body, err, o->msg, cases[i].want, cases[i].msg);
    }
    /* Deeper than jansson's own limit (2048) is too deep like 9 is, not
     * malformed. */
    {
        enum { DEEP = 3000 };
        static char deep[6 + 2 * DEEP + 2];
        size_t n = 0;
        memcpy(deep, "{\"a\": ", 6);
        n = 6;
        for (int i = 0; i < DEEP; i++)
            deep[n++] = '[';
        for (int i = 0; i < DEEP; i++)
            deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        assert_int_equal(test_conv(o, deep, NULL, 0, true), ATP_E_TOO_LARGE);
        assert_non_null(strstr(o->msg, "deeper than 8"));
    }
    /* Depth 8 exactly is accepted (the map and 7 arrays, as over nng). */
    assert_int_equal(test_conv(o, "{\"a\": [[[[[[[]]]]]]]}", NULL, 0, true),
                     ATP_OK);
    assert_int_equal(
        test_conv(o, "{\"lines\": [{\"sku\": [[[[[]]]]]}]}", NULL, 0, true),
        ATP_OK);
}

static void test_json_out(void **state)
{
    test_out *o = *state;
    codec_writer_reset(o->w);
    codec_w_map(o->w, 2);
    codec_w_kv_str(o->w, "s", "a\"\xff", 3);
    codec_w_kv_int(o->w, "n", -5);
    size_t len, jlen;
    const void *buf = codec_writer_data(o->w, &len);
    char *json;
    assert_int_equal(codec_json_from_msgpack(buf, len, &json, &jlen), ATP_OK);
    const char want[] = "{\"s\":\"a\\\"\\ufffd\",\"n\":-5}";
    assert_int_equal(jlen, sizeof want - 1);
    assert_memory_equal(json, want, jlen);
    free(json);
    assert_int_equal(codec_json_from_msgpack("\xc1", 1, &json, &jlen),
                     ATP_E_BAD_REQUEST);
}

static int test_setup(void **state)
{
    static test_out o;
    o.w = codec_writer_alloc(NULL, NULL);
    o.a = codec_arena_alloc();
    *state = &o;
    return o.w == NULL || o.a == NULL;
}

static int test_teardown(void **state)
{
    test_out *o = *state;
    codec_writer_free(o->w);
    codec_arena_free(o->a);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),         cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_fields),        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_lines_sku_qty), cmocka_unit_test(test_json_out),
    };
    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
