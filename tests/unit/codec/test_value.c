/*
 * test_value.c - codec_decode and the value accessors: every msgpack type
 * comes back with its value, integer edges land in the right type, maps
 * are searchable, and bad input never yields a tree. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

typedef struct fixture {
    codec_arena *a;
    codec_writer *w;
} fixture;

static int setup(void **state)
{
    static fixture fx;
    fx.a = codec_arena_alloc();
    fx.w = codec_writer_alloc(NULL, NULL);
    if (fx.a == NULL || fx.w == NULL) {
        return -1;
    }
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    codec_arena_free(fx->a);
    codec_writer_free(fx->w);
    return 0;
}

/* decode_written decodes what the writer holds; the writer must not be
 * written to again while the result is used (strings point into it). */
static const codec_val *decode_written(fixture *fx)
{
    size_t len;
    const void *buf = codec_writer_data(fx->w, &len);
    const codec_val *v = NULL;
    assert_false(codec_writer_failed(fx->w));
    assert_int_equal(codec_decode(fx->a, buf, len, &v), ATP_OK);
    assert_non_null(v);
    return v;
}

static void test_value_scalars(void **state)
{
    fixture *fx = *state;
    codec_w_array(fx->w, 7);
    codec_w_nil(fx->w);
    codec_w_bool(fx->w, true);
    codec_w_bool(fx->w, false);
    codec_w_double(fx->w, -2.5);
    codec_w_cstr(fx->w, "héllo");
    codec_w_str(fx->w, "a\0b", 3);
    codec_w_int(fx->w, -7);
    const codec_val *v = decode_written(fx);

    assert_int_equal(codec_val_type(v), CODEC_ARRAY);
    assert_int_equal(codec_val_len(v), 7);
    assert_int_equal(codec_val_type(codec_val_at(v, 0)), CODEC_NIL);
    bool b = false;
    assert_true(codec_val_bool(codec_val_at(v, 1), &b));
    assert_true(b);
    assert_true(codec_val_bool(codec_val_at(v, 2), &b));
    assert_false(b);
    double d = 0;
    assert_int_equal(codec_val_type(codec_val_at(v, 3)), CODEC_FLOAT);
    assert_true(codec_val_float(codec_val_at(v, 3), &d));
    assert_true(d == -2.5);
    codec_str s;
    assert_true(codec_val_str(codec_val_at(v, 4), &s));
    assert_true(codec_str_eq(s, "héllo"));
    assert_true(codec_val_str(codec_val_at(v, 5), &s));
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);
    int64_t i = 0;
    assert_true(codec_val_int(codec_val_at(v, 6), &i));
    assert_int_equal(i, -7);

    /* strings are not copied: they point into the input buffer */
    size_t len;
    const char *buf = codec_writer_data(fx->w, &len);
    assert_true(s.ptr > buf && s.ptr + s.len <= buf + len);

    /* wrong-type accessors say no and leave the output alone */
    i = 42;
    assert_false(codec_val_int(codec_val_at(v, 4), &i));
    assert_int_equal(i, 42);
    assert_false(codec_val_str(codec_val_at(v, 6), &s));
    assert_false(codec_val_bool(codec_val_at(v, 0), &b));
    assert_false(codec_val_float(codec_val_at(v, 4), &d));
    assert_int_equal(codec_val_len(codec_val_at(v, 4)), 0);
    assert_null(codec_val_at(v, 7));
    assert_null(codec_val_at(codec_val_at(v, 4), 0));
}

static void test_value_integer_edges(void **state)
{
    fixture *fx = *state;
    codec_w_array(fx->w, 6);
    codec_w_int(fx->w, INT64_MAX);
    codec_w_uint(fx->w, (uint64_t)INT64_MAX + 1);
    codec_w_uint(fx->w, UINT64_MAX);
    codec_w_int(fx->w, INT64_MIN);
    codec_w_int(fx->w, 0);
    codec_w_int(fx->w, -1);
    const codec_val *v = decode_written(fx);
    int64_t i;
    uint64_t u;

    assert_int_equal(codec_val_type(codec_val_at(v, 0)), CODEC_INT);
    assert_true(codec_val_int(codec_val_at(v, 0), &i));
    assert_true(i == INT64_MAX);
    assert_true(codec_val_uint(codec_val_at(v, 0), &u));
    assert_true(u == (uint64_t)INT64_MAX);

    assert_int_equal(codec_val_type(codec_val_at(v, 1)), CODEC_UINT_BIG);
    assert_false(codec_val_int(codec_val_at(v, 1), &i));
    assert_true(codec_val_uint(codec_val_at(v, 1), &u));
    assert_true(u == (uint64_t)INT64_MAX + 1);
    assert_true(codec_val_uint(codec_val_at(v, 2), &u));
    assert_true(u == UINT64_MAX);

    assert_int_equal(codec_val_type(codec_val_at(v, 3)), CODEC_INT);
    assert_true(codec_val_int(codec_val_at(v, 3), &i));
    assert_true(i == INT64_MIN);
    assert_false(codec_val_uint(codec_val_at(v, 3), &u));

    assert_true(codec_val_uint(codec_val_at(v, 4), &u));
    assert_true(u == 0);
    assert_false(codec_val_uint(codec_val_at(v, 5), &u));

    /* ints are accepted as floats (encoders write 2.0 as 2) */
    double d;
    assert_true(codec_val_float(codec_val_at(v, 5), &d));
    assert_true(d == -1.0);
}

/* Encodings this writer never produces but other clients do. */
static void test_value_foreign_encodings(void **state)
{
    fixture *fx = *state;
    const codec_val *v;
    int64_t i;
    uint64_t u;
    double d;

    /* int8 holding a non-negative number is still an unsigned-compatible int */
    assert_int_equal(codec_decode(fx->a, "\xd0\x05", 2, &v), ATP_OK);
    assert_true(codec_val_uint(v, &u));
    assert_true(u == 5);
    /* int64 -2^63 */
    assert_int_equal(
        codec_decode(fx->a, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, &v),
        ATP_OK);
    assert_true(codec_val_int(v, &i));
    assert_true(i == INT64_MIN);
    /* uint64 holding a small number */
    assert_int_equal(
        codec_decode(fx->a, "\xcf\x00\x00\x00\x00\x00\x00\x00\x07", 9, &v),
        ATP_OK);
    assert_true(codec_val_int(v, &i));
    assert_true(i == 7);
    /* float32 1.5 */
    assert_int_equal(codec_decode(fx->a, "\xca\x3f\xc0\x00\x00", 5, &v),
                     ATP_OK);
    assert_int_equal(codec_val_type(v), CODEC_FLOAT);
    assert_true(codec_val_float(v, &d));
    assert_true(d == 1.5);
    /* bin and ext are their own types, not strings */
    assert_int_equal(codec_decode(fx->a, "\xc4\x01x", 3, &v), ATP_OK);
    assert_int_equal(codec_val_type(v), CODEC_BIN);
    codec_str s;
    assert_false(codec_val_str(v, &s));
    assert_int_equal(codec_decode(fx->a, "\xd4\x01x", 3, &v), ATP_OK);
    assert_int_equal(codec_val_type(v), CODEC_EXT);
}

static void test_value_map_access(void **state)
{
    fixture *fx = *state;
    codec_w_map(fx->w, 5);
    codec_w_kv_cstr(fx->w, "op", "atp");
    codec_w_int(fx->w, 7); /* non-string key */
    codec_w_cstr(fx->w, "seven");
    codec_w_kv_int(fx->w, "qty", 2);
    codec_w_kv_bool(fx->w, "", true);
    codec_w_kv_int(fx->w, "qty", 3); /* duplicate: the first one wins */
    const codec_val *m = decode_written(fx);
    codec_str s;
    int64_t i;
    bool b;

    assert_int_equal(codec_val_type(m), CODEC_MAP);
    assert_int_equal(codec_val_len(m), 5);
    assert_true(codec_val_str(codec_val_get(m, "op"), &s));
    assert_true(codec_str_eq(s, "atp"));
    assert_true(codec_val_int(codec_val_get(m, "qty"), &i));
    assert_int_equal(i, 2);
    assert_true(codec_val_bool(codec_val_get(m, ""), &b));
    assert_true(b);
    assert_null(codec_val_get(m, "o"));
    assert_null(codec_val_get(m, "opx"));
    assert_null(codec_val_get(m, "7"));

    assert_true(codec_val_int(codec_val_map_key(m, 1), &i));
    assert_int_equal(i, 7);
    assert_true(codec_val_str(codec_val_map_value(m, 1), &s));
    assert_true(codec_str_eq(s, "seven"));
    assert_null(codec_val_map_key(m, 5));
    assert_null(codec_val_map_value(m, 5));
    /* an array is not a map */
    assert_null(codec_val_map_key(codec_val_get(m, "op"), 0));
    assert_null(codec_val_get(codec_val_get(m, "op"), "x"));

    /* NULL chains safely */
    assert_null(codec_val_get(NULL, "op"));
    assert_null(codec_val_get(codec_val_get(m, "missing"), "x"));
    assert_int_equal(codec_val_type(NULL), CODEC_NIL);
    assert_int_equal(codec_val_len(NULL), 0);
    assert_false(codec_val_int(NULL, &i));
    assert_null(codec_val_at(NULL, 0));
}

static void test_value_decode_errors(void **state)
{
    fixture *fx = *state;
    const codec_val *v = NULL;
    char deep[ATP_MSG_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = (char)0xc0;

    assert_int_equal(codec_decode(fx->a, deep, sizeof(deep), &v),
                     ATP_E_TOO_LARGE);
    assert_int_equal(codec_decode(fx->a, deep + 1, sizeof(deep) - 1, &v),
                     ATP_OK);
    assert_int_equal(codec_decode(fx->a, "\x01\x02", 2, &v), ATP_E_BAD_REQUEST);
    assert_int_equal(codec_decode(fx->a, "\xc1", 1, &v), ATP_E_BAD_REQUEST);
    assert_int_equal(codec_decode(fx->a, "", 0, &v), ATP_E_BAD_REQUEST);
}

/* codec_w_val writes back what was decoded, byte for byte when the input
 * used the smallest encodings. */
static void test_value_reencode(void **state)
{
    fixture *fx = *state;
    codec_w_map(fx->w, 2);
    codec_w_kv_cstr(fx->w, "k", "v");
    codec_w_cstr(fx->w, "list");
    codec_w_array(fx->w, 4);
    codec_w_uint(fx->w, UINT64_MAX);
    codec_w_int(fx->w, -100000);
    codec_w_double(fx->w, 0.1);
    codec_w_nil(fx->w);
    size_t len;
    const void *buf = codec_writer_data(fx->w, &len);
    const codec_val *v = decode_written(fx);

    codec_writer *w2 = codec_writer_alloc(NULL, NULL);
    assert_non_null(w2);
    codec_w_val(w2, v);
    size_t len2;
    const void *buf2 = codec_writer_data(w2, &len2);
    assert_false(codec_writer_failed(w2));
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    codec_writer_free(w2);
}

static void test_value_arena_reuse(void **state)
{
    fixture *fx = *state;
    const codec_val *v;
    for (int round = 0; round < 1000; round++) {
        codec_arena_clear(fx->a);
        codec_writer_reset(fx->w);
        codec_w_array(fx->w, 300);
        for (int i = 0; i < 300; i++) {
            codec_w_int(fx->w, round * 1000 + i);
        }
        v = decode_written(fx);
        int64_t x;
        assert_true(codec_val_int(codec_val_at(v, 299), &x));
        assert_int_equal(x, round * 1000 + 299);
    }
    /* arena memory is usable, aligned and distinct */
    uint64_t *p = codec_arena_malloc(fx->a, 100 * sizeof(uint64_t));
    uint64_t *q = codec_arena_malloc(fx->a, 100000);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)p % sizeof(void *), 0);
    memset(p, 0xab, 100 * sizeof(uint64_t));
    memset(q, 0xcd, 100000);
    assert_true(p[99] == 0xababababababababULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_value_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_integer_edges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_value_foreign_encodings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_value_map_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_decode_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_value_reencode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_arena_reuse, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
