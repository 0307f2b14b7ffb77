/*
 * test_feed_msg.c - codec_feed_encode / codec_feed_decode / codec_feed_split:
 * the change-feed message atpd's changes module publishes and atpctl watch
 * reads (docs/PROTOCOL.md, "Change feed"): a round trip with every field
 * and transition, the topic bytes prefix subscriptions match, and what is
 * not a change-feed message. Single-threaded.
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

static const codec_feed_channel test_channels[] = {
    {.channel = {"default", 7},
     .atp = 281,
     .buffer = 52,
     .rule = {"region", 6},
     .marks = 0},
    {.channel = {"web", 3},
     .atp = 0,
     .buffer = 0,
     .rule = {"sku_region", 10},
     .out_of_stock = true,
     .marks = CODEC_FEED_OUT_OF_STOCK},
    {.channel = {"app", 3},
     .atp = 3,
     .buffer = -1,
     .rule = {"global", 6},
     .low_stock = true,
     .marks = CODEC_FEED_BACK_IN_STOCK | CODEC_FEED_LOW_STOCK},
};

static codec_feed_msg test_msg(void)
{
    return (codec_feed_msg){.seq = 1795349398095000ull,
                            .region_seq = 31,
                            .key_seq = 4,
                            .ts_ms = 1795349398095,
                            .sku = str_of("A10"),
                            .region = str_of("us-east"),
                            .supply = 333,
                            .reserved = 2,
                            .shortfall = -5,
                            .stale = true,
                            .n_channels = 3,
                            .channels = test_channels};
}

static void test_round_trip(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    codec_feed_msg in = test_msg(), out;
    size_t off, len;
    codec_feed_encode(w, &in, &off);
    assert_false(codec_writer_failed(w));
    const char *buf = codec_writer_data(w, &len);
    assert_int_equal(off, 16);
    assert_memory_equal(buf, "atp\0us-east\0A10\0", 16);
    assert_int_equal(codec_feed_decode(a, buf, len, &out), ATP_OK);
    assert_int_equal(out.seq, in.seq);
    assert_int_equal(out.region_seq, 31);
    assert_int_equal(out.key_seq, 4);
    assert_int_equal(out.ts_ms, in.ts_ms);
    assert_true(codec_str_eq(out.sku, "A10"));
    assert_true(codec_str_eq(out.region, "us-east"));
    assert_int_equal(out.supply, 333);
    assert_int_equal(out.reserved, 2);
    assert_int_equal(out.shortfall, -5);
    assert_true(out.stale);
    assert_int_equal(out.n_channels, 3);
    for (uint32_t i = 0; i < 3; i++) {
        const codec_feed_channel *x = &test_channels[i], *y = &out.channels[i];
        assert_int_equal(y->channel.len, x->channel.len);
        assert_memory_equal(y->channel.ptr, x->channel.ptr, x->channel.len);
        assert_int_equal(y->rule.len, x->rule.len);
        assert_memory_equal(y->rule.ptr, x->rule.ptr, x->rule.len);
        assert_int_equal(y->atp, x->atp);
        assert_int_equal(y->buffer, x->buffer);
        assert_int_equal(y->out_of_stock, x->out_of_stock);
        assert_int_equal(y->low_stock, x->low_stock);
        assert_int_equal(y->marks, x->marks);
    }
    /* The body alone (what an HTTP event stream carries) is the map, with
     * the transitions by name in their order. */
    const codec_val *v;
    assert_int_equal(codec_decode(a, buf + off, len - off, &v), ATP_OK);
    const codec_val *tr = codec_val_get(
        codec_val_at(codec_val_get(v, "channels"), 2), "transitions");
    codec_str s;
    assert_int_equal(codec_val_len(tr), 2);
    assert_true(codec_val_str(codec_val_at(tr, 0), &s));
    assert_true(codec_str_eq(s, "back_in_stock"));
    assert_true(codec_val_str(codec_val_at(tr, 1), &s));
    assert_true(codec_str_eq(s, "low_stock"));
    codec_arena_free(a);
    codec_writer_free(w);
}

/* Several partitions of a cluster: "partition" names whose sequences a
 * message carries; without one it is not written at all. */
static void test_partition(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    codec_feed_msg in = test_msg(), out;
    size_t off, len;
    codec_feed_encode(w, &in, &off);
    const char *buf = codec_writer_data(w, &len);
    const codec_val *v;
    assert_int_equal(codec_decode(a, buf + off, len - off, &v), ATP_OK);
    assert_null(codec_val_get(v, "partition"));
    assert_int_equal(codec_feed_decode(a, buf, len, &out), ATP_OK);
    assert_int_equal(out.partition.len, 0);
    codec_writer_reset(w);
    in.partition = str_of("eu-1");
    codec_feed_encode(w, &in, &off);
    buf = codec_writer_data(w, &len);
    assert_int_equal(codec_feed_decode(a, buf, len, &out), ATP_OK);
    assert_true(codec_str_eq(out.partition, "eu-1"));
    assert_int_equal(out.seq, in.seq);
    codec_arena_free(a);
    codec_writer_free(w);
}

static void test_split(void **state)
{
    (void)state;
    codec_str region, sku;
    const void *body;
    size_t body_len;
    static const char msg[] = "atp\0us-east\0A10\0\x81\xa1x\x01";
    assert_true(
        codec_feed_split(msg, sizeof msg - 1, &region, &sku, &body, &body_len));
    assert_true(codec_str_eq(region, "us-east"));
    assert_true(codec_str_eq(sku, "A10"));
    assert_ptr_equal(body, msg + 16);
    assert_int_equal(body_len, 4);
    /* Not a change-feed topic. */
    assert_false(codec_feed_split("atp", 3, &region, &sku, &body, &body_len));
    assert_false(
        codec_feed_split("atx\0r\0s\0", 8, &region, &sku, &body, &body_len));
    assert_false(
        codec_feed_split("atp\0\0s\0", 7, &region, &sku, &body, &body_len));
    assert_false(
        codec_feed_split("atp\0r\0\0", 7, &region, &sku, &body, &body_len));
    assert_false(
        codec_feed_split("atp\0r\0sku", 9, &region, &sku, &body, &body_len));
    /* An empty body is still split; decoding it fails later. */
    assert_true(
        codec_feed_split("atp\0r\0s\0", 8, &region, &sku, &body, &body_len));
    assert_int_equal(body_len, 0);
}

/* Messages that are not what atpd sends: each is refused whole. */
static void test_not_a_message(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    codec_feed_msg m = test_msg(), out;
    size_t off, len;
    /* The topic names another SKU than the body. */
    codec_feed_encode(w, &m, &off);
    char buf[1024];
    const char *data = codec_writer_data(w, &len);
    assert_true(len < sizeof buf);
    memcpy(buf, data, len);
    buf[14] = '9'; /* "A10" -> "A19" in the topic only */
    assert_int_equal(codec_feed_decode(a, buf, len, &out), ATP_E_BAD_REQUEST);
    /* No topic; an empty body; a body that is not a map. */
    assert_int_equal(codec_feed_decode(a, buf + off, len - off, &out),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_feed_decode(a, "atp\0r\0s\0", 8, &out),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_feed_decode(a, "atp\0r\0s\0\x01", 9, &out),
                     ATP_E_BAD_REQUEST);
    /* A map without the channels; a negative seq. */
    codec_writer_reset(w);
    codec_feed_topic(w, str_of("r"), str_of("s"));
    codec_w_map(w, 1);
    codec_w_kv_int(w, "seq", -1);
    data = codec_writer_data(w, &len);
    assert_int_equal(codec_feed_decode(a, data, len, &out), ATP_E_BAD_REQUEST);
    codec_arena_free(a);
    codec_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_partition),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_not_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
