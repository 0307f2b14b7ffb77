/*
 * test_writer.c - codec_writer: exact msgpack bytes, growth of the internal
 * buffer, sinks, sticky failures and retargeting. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

/* expect_bytes checks that w's buffer holds exactly lit, then resets w. */
#define expect_bytes(w, lit) expect_bytes_(w, lit, sizeof(lit) - 1)
static void expect_bytes_(codec_writer *w, const char *lit, size_t n)
{
    size_t len;
    const void *p = codec_writer_data(w, &len);
    assert_false(codec_writer_failed(w));
    assert_int_equal(len, n);
    assert_memory_equal(p, lit, n);
    codec_writer_reset(w);
}

/* Integers take the smallest msgpack form, as other clients expect. */
static void test_writer_integer_forms(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);

    codec_w_int(w, 0);
    expect_bytes(w, "\x00");
    codec_w_int(w, 127);
    expect_bytes(w, "\x7f");
    codec_w_int(w, 128);
    expect_bytes(w, "\xcc\x80");
    codec_w_int(w, -1);
    expect_bytes(w, "\xff");
    codec_w_int(w, -32);
    expect_bytes(w, "\xe0");
    codec_w_int(w, -33);
    expect_bytes(w, "\xd0\xdf");
    codec_w_int(w, 65536);
    expect_bytes(w, "\xce\x00\x01\x00\x00");
    codec_w_int(w, INT64_MIN);
    expect_bytes(w, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00");
    codec_w_uint(w, UINT64_MAX);
    expect_bytes(w, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
    codec_w_uint(w, 5);
    expect_bytes(w, "\x05");
    codec_writer_free(w);
}

static void test_writer_other_forms(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    char s32[32];
    memset(s32, 'x', sizeof(s32));

    codec_w_nil(w);
    codec_w_bool(w, true);
    codec_w_bool(w, false);
    expect_bytes(w, "\xc0\xc3\xc2");
    codec_w_double(w, 1.0);
    expect_bytes(w, "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00");
    codec_w_cstr(w, "abc");
    expect_bytes(w, "\xa3"
                    "abc");
    codec_w_str(w, "", 0);
    expect_bytes(w, "\xa0");
    codec_w_cstr(w, NULL);
    expect_bytes(w, "\xc0");
    codec_w_str(w, s32, 31);
    codec_w_str(w, s32, 32);
    size_t len;
    const unsigned char *p = codec_writer_data(w, &len);
    assert_int_equal(len, 1 + 31 + 2 + 32);
    assert_int_equal(p[0], 0xbf);
    assert_int_equal(p[32], 0xd9);
    assert_int_equal(p[33], 32);
    codec_writer_reset(w);
    codec_w_array(w, 15);
    codec_w_array(w, 16);
    codec_w_array(w, 70000);
    expect_bytes(w, "\x9f\xdc\x00\x10\xdd\x00\x01\x11\x70");
    codec_w_map(w, 1);
    codec_w_kv_uint(w, "n", 1);
    expect_bytes(w, "\x81\xa1n\x01");
    codec_w_kv_str(w, "k", "vv", 1);
    expect_bytes(w, "\xa1k\xa1v");
    codec_writer_free(w);
}

/* same_as_msgpack_c: what w holds re-encodes byte for byte through
 * codec_w_val (msgpack-c's packer): our encoder picks msgpack-c's forms. */
static void same_as_msgpack_c(codec_writer *w, codec_arena *a,
                              codec_writer *ref)
{
    size_t len, rlen;
    const void *p = codec_writer_data(w, &len);
    const codec_val *v = NULL;
    assert_false(codec_writer_failed(w));
    codec_arena_clear(a);
    assert_int_equal(codec_decode(a, p, len, &v), ATP_OK);
    codec_writer_reset(ref);
    codec_w_val(ref, v);
    const void *r = codec_writer_data(ref, &rlen);
    assert_int_equal(rlen, len);
    assert_memory_equal(r, p, len);
    codec_writer_reset(w);
}

/* Every integer, string, array and map size at and around a form's edge. */
static void test_writer_forms_match_msgpack_c(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_writer *ref = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    assert_true(w != NULL && ref != NULL && a != NULL);
    static const int64_t edges[] = {0,  1 << 7, 1 << 8,  1 << 16,   1LL << 32,
                                    32, 33,     1 << 15, 1LL << 31, 1LL << 62};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (int64_t d = -1; d <= 1; d++) {
            codec_w_int(w, edges[i] + d);
            same_as_msgpack_c(w, a, ref);
            codec_w_int(w, -edges[i] + d);
            same_as_msgpack_c(w, a, ref);
            codec_w_uint(w, (uint64_t)(edges[i] + d) * 2);
            same_as_msgpack_c(w, a, ref);
        }
    }
    codec_w_int(w, INT64_MIN);
    same_as_msgpack_c(w, a, ref);
    codec_w_uint(w, UINT64_MAX);
    same_as_msgpack_c(w, a, ref);
    codec_w_double(w, -0.1);
    same_as_msgpack_c(w, a, ref);
    static char big[70000];
    memset(big, 'y', sizeof big);
    static const uint32_t sizes[] = {0, 15, 16, 31, 32, 255, 256, 65535, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        codec_w_str(w, big, sizes[i]);
        same_as_msgpack_c(w, a, ref);
        codec_w_array(w, sizes[i]);
        for (uint32_t k = 0; k < sizes[i]; k++)
            codec_w_nil(w);
        same_as_msgpack_c(w, a, ref);
        codec_w_map(w, sizes[i]);
        for (uint32_t k = 0; k < sizes[i]; k++)
            codec_w_kv_bool(w, "k", true);
        same_as_msgpack_c(w, a, ref);
    }
    codec_arena_free(a);
    codec_writer_free(ref);
    codec_writer_free(w);
}

/* The internal buffer grows and resets; earlier bytes survive growth. */
static void test_writer_buffer_growth(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    size_t n = 1 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) {
        big[i] = (char)('a' + i % 26);
    }
    codec_w_array(w, 2);
    codec_w_str(w, big, n);
    codec_w_int(w, -1);
    size_t len;
    const unsigned char *p = codec_writer_data(w, &len);
    assert_int_equal(len, 1 + 5 + n + 1);
    assert_int_equal(p[0], 0x92);
    assert_int_equal(p[1], 0xdb);
    assert_memory_equal(p + 6, big, n);
    assert_int_equal(p[len - 1], 0xff);

    codec_writer_reset(w);
    codec_writer_data(w, &len);
    assert_int_equal(len, 0);
    codec_w_int(w, 1);
    expect_bytes(w, "\x01");
    free(big);
    codec_writer_free(w);
}

typedef struct sink_buf {
    char data[4096];
    size_t len;
    int calls;
    int fail_at; /* call number that fails; 0: never */
} sink_buf;

static int test_sink(void *ctx, const void *buf, size_t len)
{
    sink_buf *s = ctx;
    s->calls++;
    if (s->fail_at != 0 && s->calls >= s->fail_at) {
        return -1;
    }
    if (len > sizeof(s->data) - s->len) {
        return -1;
    }
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    return 0;
}

static void test_writer_sink(void **state)
{
    (void)state;
    sink_buf a = {0}, b = {0};
    codec_writer *w = codec_writer_alloc(test_sink, &a);
    assert_non_null(w);

    codec_w_array(w, 2);
    codec_w_cstr(w, "hi");
    codec_w_int(w, 300);
    assert_false(codec_writer_failed(w));
    assert_int_equal(a.len, 7);
    assert_memory_equal(a.data, "\x92\xa2hi\xcd\x01\x2c", 7);
    size_t len = 99;
    assert_null(codec_writer_data(w, &len));
    assert_int_equal(len, 0);

    codec_writer_retarget(w, &b);
    codec_w_nil(w);
    assert_int_equal(b.len, 1);
    assert_int_equal(a.len, 7);
    codec_writer_free(w);
}

/* After a sink error the writer is failed and writes nothing more, so no
 * message with a hole reaches the sink; retarget starts afresh. */
/* A key/value pair is exactly its key token followed by its value token,
 * whichever path writes it: into the buffer (growing it), through a sink,
 * or with a key of 32 bytes or more. */
static void test_writer_kv_pairs(void **state)
{
    (void)state;
    static const char *const keys[] = {"", "k",
                                       "thirty-one-bytes-long-key-xxxxx",
                                       "thirty-two-bytes-long-key-xxxxxx"};
    codec_writer *kv = codec_writer_alloc(NULL, NULL);
    codec_writer *tok = codec_writer_alloc(NULL, NULL);
    sink_buf sb = {0};
    codec_writer *sink = codec_writer_alloc(test_sink, &sb);
    assert_true(kv != NULL && tok != NULL && sink != NULL);
    size_t first_round = 0;
    for (int round = 0; round < 40; round++) { /* grows the buffer */
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const char *k = keys[i];
            codec_writer *ws[] = {kv, sink};
            for (size_t j = 0; j < (round == 0 ? 2u : 1u); j++) {
                codec_w_kv_int(ws[j], k, -40000 - round);
                codec_w_kv_uint(ws[j], k, (uint64_t)1 << 40);
                codec_w_kv_bool(ws[j], k, round & 1);
                codec_w_kv_cstr(ws[j], k, "value");
                codec_w_kv_cstr(ws[j], k, NULL);
                codec_w_kv_str(ws[j], k, keys[3], 32);
            }
            codec_w_cstr(tok, k);
            codec_w_int(tok, -40000 - round);
            codec_w_cstr(tok, k);
            codec_w_uint(tok, (uint64_t)1 << 40);
            codec_w_cstr(tok, k);
            codec_w_bool(tok, round & 1);
            codec_w_cstr(tok, k);
            codec_w_cstr(tok, "value");
            codec_w_cstr(tok, k);
            codec_w_nil(tok);
            codec_w_cstr(tok, k);
            codec_w_str(tok, keys[3], 32);
        }
        if (round == 0)
            codec_writer_data(tok, &first_round);
    }
    size_t l1, l2;
    const void *p1 = codec_writer_data(kv, &l1);
    const void *p2 = codec_writer_data(tok, &l2);
    assert_false(codec_writer_failed(kv) || codec_writer_failed(sink));
    assert_int_equal(l1, l2);
    assert_memory_equal(p1, p2, l1);
    assert_int_equal(sb.len, first_round); /* the sink got round 0 */
    assert_memory_equal(sb.data, p2, first_round);
    codec_writer_free(sink);
    codec_writer_free(tok);
    codec_writer_free(kv);
}

static void test_writer_sticky_failure(void **state)
{
    (void)state;
    sink_buf a = {.fail_at = 3};
    sink_buf b = {0};
    codec_writer *w = codec_writer_alloc(test_sink, &a);
    assert_non_null(w);

    codec_w_array(w, 3);    /* call 1 */
    codec_w_int(w, 1);      /* call 2 */
    codec_w_cstr(w, "xyz"); /* call 3 fails */
    assert_true(codec_writer_failed(w));
    int calls = a.calls;
    codec_w_int(w, 2);
    codec_w_cstr(w, "more");
    assert_int_equal(a.calls, calls);
    assert_int_equal(a.len, 2);
    assert_true(codec_writer_failed(w));

    codec_writer_retarget(w, &b);
    assert_false(codec_writer_failed(w));
    codec_w_int(w, 2);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 2);

    /* a buffer writer's failure clears on reset */
    codec_writer *bw = codec_writer_alloc(NULL, NULL);
    assert_non_null(bw);
    codec_w_str(bw, "x", (size_t)UINT32_MAX + 1); /* not representable */
    assert_true(codec_writer_failed(bw));
    codec_writer_reset(bw);
    assert_false(codec_writer_failed(bw));
    codec_w_int(bw, 3);
    expect_bytes(bw, "\x03");
    codec_writer_free(bw);
    codec_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_integer_forms),
        cmocka_unit_test(test_writer_other_forms),
        cmocka_unit_test(test_writer_forms_match_msgpack_c),
        cmocka_unit_test(test_writer_buffer_growth),
        cmocka_unit_test(test_writer_sink),
        cmocka_unit_test(test_writer_kv_pairs),
        cmocka_unit_test(test_writer_sticky_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
