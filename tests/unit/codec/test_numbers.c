/*
 * test_numbers.c - codec_val_int, codec_val_uint and codec_val_float on
 * every kind of msgpack number and on what is not one: a float accepts
 * integers (encoders write 2.0 as 2), an unsigned read refuses negatives,
 * NULL is never a number. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec/codec.h"

static const codec_val *one(codec_arena *a, codec_writer *w, int kind)
{
    codec_writer_reset(w);
    switch (kind) {
    case 0:
        codec_w_uint(w, 42);
        break;
    case 1:
        codec_w_int(w, -42);
        break;
    case 2:
        codec_w_double(w, 2.5);
        break;
    default:
        codec_w_cstr(w, "42");
        break;
    }
    size_t len;
    const void *buf = codec_writer_data(w, &len);
    const codec_val *v;
    assert_int_equal(codec_decode(a, buf, len, &v), ATP_OK);
    return v;
}

static void test_numbers(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(a);
    assert_non_null(w);
    int64_t i;
    uint64_t u;
    double d;

    const codec_val *pos = one(a, w, 0);
    assert_true(codec_val_uint(pos, &u) && u == 42);
    assert_true(codec_val_float(pos, &d) && d == 42.0);

    const codec_val *neg = one(a, w, 1);
    assert_true(codec_val_int(neg, &i) && i == -42);
    assert_false(codec_val_uint(neg, &u));
    assert_true(codec_val_float(neg, &d) && d == -42.0);

    const codec_val *flt = one(a, w, 2);
    assert_true(codec_val_float(flt, &d) && d == 2.5);
    assert_false(codec_val_uint(flt, &u));

    const codec_val *str = one(a, w, 3);
    assert_false(codec_val_float(str, &d));
    assert_false(codec_val_uint(str, &u));

    assert_false(codec_val_uint(NULL, &u));
    assert_false(codec_val_float(NULL, &d));
    codec_writer_free(w);
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
