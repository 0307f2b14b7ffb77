/*
 * test_resync_msg.c - codec_resync_encode / codec_resync_decode: the resync
 * request atpd's ingest sends and atp-feed reads (docs/PROTOCOL.md,
 * "Resync"): round trips of both modes, the exact topic bytes a source
 * subscribes to, and the messages that are not a request. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

static codec_str str_of(const char *s)
{
    return (codec_str){s, (uint32_t)strlen(s)};
}

static void test_round_trip(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    assert_non_null(w);
    assert_non_null(a);
    for (int snap = 0; snap < 2; snap++) {
        codec_resync_req in = {.source = str_of("wms-east"),
                               .snapshot = snap,
                               .from_seq = 1042,
                               .request_id = 7,
                               .ts_ms = 1795349398095};
        codec_writer_reset(w);
        codec_resync_encode(w, &in);
        assert_false(codec_writer_failed(w));
        size_t len;
        const char *buf = codec_writer_data(w, &len);
        /* The topic: "resync" NUL source NUL, what a source subscribes to. */
        assert_memory_equal(buf, "resync\0wms-east\0", 16);
        codec_resync_req out;
        codec_arena_clear(a);
        assert_int_equal(codec_resync_decode(a, buf, len, &out), ATP_OK);
        assert_true(codec_str_eq(out.source, "wms-east"));
        assert_int_equal(out.snapshot, snap);
        assert_int_equal(out.from_seq, 1042);
        assert_int_equal(out.request_id, 7);
        assert_int_equal(out.ts_ms, 1795349398095);
        /* The body is the documented map. */
        const codec_val *v;
        assert_int_equal(codec_decode(a, buf + 16, len - 16, &v), ATP_OK);
        codec_str mode, source;
        assert_true(codec_val_str(codec_val_get(v, "mode"), &mode));
        assert_true(codec_str_eq(mode, snap ? "snapshot" : "replay"));
        assert_true(codec_val_str(codec_val_get(v, "source"), &source));
        assert_true(codec_str_eq(source, "wms-east"));
    }
    /* A request id past 2^53-1 is written as 2^53-1 (JSON readers). */
    codec_resync_req big = {.source = str_of("s"), .request_id = UINT64_MAX};
    codec_writer_reset(w);
    codec_resync_encode(w, &big);
    size_t len;
    const char *buf = codec_writer_data(w, &len);
    codec_resync_req out;
    assert_int_equal(codec_resync_decode(a, buf, len, &out), ATP_OK);
    assert_int_equal(out.request_id, (uint64_t)ATP_WIRE_INT_MAX);
    codec_arena_free(a);
    codec_writer_free(w);
}

/* msg_with: the topic "resync" NUL id NUL, then a body map of one mode. */
static size_t msg_with(codec_writer *w, const char *topic, size_t tlen,
                       const char *mode, const void **out)
{
    codec_writer_reset(w);
    codec_writer *b = codec_writer_alloc(NULL, NULL);
    assert_non_null(b);
    codec_w_map(b, mode ? 1 : 0);
    if (mode)
        codec_w_kv_cstr(b, "mode", mode);
    size_t blen;
    const void *body = codec_writer_data(b, &blen);
    static char buf[256];
    memcpy(buf, topic, tlen);
    memcpy(buf + tlen, body, blen);
    codec_writer_free(b);
    *out = buf;
    return tlen + blen;
}

static void test_not_a_request(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    codec_resync_req out;
    const void *m;
    size_t n;
    /* The smallest valid one: absent numbers read as 0. */
    n = msg_with(w, "resync\0s\0", 9, "replay", &m);
    assert_int_equal(codec_resync_decode(a, m, n, &out), ATP_OK);
    assert_int_equal(out.from_seq, 0);
    assert_false(out.snapshot);
    /* Unknown mode, no mode, no source id, another topic, no body. */
    n = msg_with(w, "resync\0s\0", 9, "rewind", &m);
    assert_int_equal(codec_resync_decode(a, m, n, &out), ATP_E_BAD_REQUEST);
    n = msg_with(w, "resync\0s\0", 9, NULL, &m);
    assert_int_equal(codec_resync_decode(a, m, n, &out), ATP_E_BAD_REQUEST);
    n = msg_with(w, "resync\0\0", 8, "replay", &m);
    assert_int_equal(codec_resync_decode(a, m, n, &out), ATP_E_BAD_REQUEST);
    n = msg_with(w, "resynx\0s\0", 9, "replay", &m);
    assert_int_equal(codec_resync_decode(a, m, n, &out), ATP_E_BAD_REQUEST);
    assert_int_equal(codec_resync_decode(a, "resync\0s\0", 9, &out),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_resync_decode(a, "resync\0s", 8, &out),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_resync_decode(a, "resync", 6, &out),
                     ATP_E_BAD_REQUEST);
    /* A body that is not a map. */
    assert_int_equal(codec_resync_decode(a, "resync\0s\0\x01", 10, &out),
                     ATP_E_BAD_REQUEST);
    codec_arena_free(a);
    codec_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_not_a_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
