/*
 * test_feed.c - unit tests of tools/atpctl/ctl_feed.c (`atpctl watch`):
 * subscription prefixes byte for byte, topic splitting, gap detection on
 * the subscription's sequence, the human and JSON renderings of messages
 * and gaps, and the scan table of ctl_render.c. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

#include "codec/codec.h"
#include "ctl_feed.h"
#include "ctl_render.h"

/* ---- helpers --------------------------------------------------------------
 */

/* test_capture runs into a memory stream; the caller frees *out. */
static const codec_val *test_decode(codec_arena *a, codec_writer *w)
{
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    void *copy = codec_arena_malloc(a, len);
    memcpy(copy, data, len);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, copy, len, &v), ATP_OK);
    return v;
}

typedef struct test_ch {
    const char *name;
    int64_t atp;
    bool out, low;
    const char *transitions[3];
} test_ch;

/* test_body encodes a change-feed body as changes.c writes it. */
static void test_w_body(codec_writer *w, uint64_t seq, uint64_t rseq,
                        uint64_t kseq, const char *region, const char *sku,
                        int64_t supply, int64_t reserved, int64_t shortfall,
                        bool stale, const test_ch *chs, uint32_t nch)
{
    codec_w_map(w, 11);
    codec_w_kv_uint(w, "seq", seq);
    codec_w_kv_uint(w, "region_seq", rseq);
    codec_w_kv_uint(w, "key_seq", kseq);
    codec_w_kv_int(w, "ts_ms", 1700000000000LL);
    codec_w_kv_cstr(w, "sku", sku);
    codec_w_kv_cstr(w, "region", region);
    codec_w_kv_int(w, "supply", supply);
    codec_w_kv_int(w, "reserved", reserved);
    codec_w_kv_int(w, "shortfall", shortfall);
    codec_w_kv_bool(w, "stale", stale);
    codec_w_cstr(w, "channels");
    codec_w_array(w, nch);
    for (uint32_t i = 0; i < nch; i++) {
        codec_w_map(w, 7);
        codec_w_kv_cstr(w, "channel", chs[i].name);
        codec_w_kv_int(w, "atp", chs[i].atp);
        codec_w_kv_int(w, "buffer", 2);
        codec_w_kv_cstr(w, "rule", "sku");
        codec_w_kv_bool(w, "out_of_stock", chs[i].out);
        codec_w_kv_bool(w, "low_stock", chs[i].low);
        codec_w_cstr(w, "transitions");
        uint32_t n = 0;
        while (n < 3 && chs[i].transitions[n] != NULL)
            n++;
        codec_w_array(w, n);
        for (uint32_t k = 0; k < n; k++)
            codec_w_cstr(w, chs[i].transitions[k]);
    }
}

/* ---- prefixes ---------------------------------------------------------------
 */

static void test_prefix_bytes(void **state)
{
    (void)state;
    char buf[CTL_FEED_PREFIX_MAX], err[256];
    size_t len = 0;
    ctl_feed_scope scope;
    assert_true(
        ctl_feed_prefix(NULL, NULL, buf, &len, &scope, err, sizeof err));
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "atp\0", 4);
    assert_int_equal(scope, CTL_FEED_ALL);
    assert_string_equal(ctl_feed_seq_name(scope), "seq");

    assert_true(
        ctl_feed_prefix("us-east", NULL, buf, &len, &scope, err, sizeof err));
    assert_int_equal(len, 12);
    assert_memory_equal(buf, "atp\0us-east\0", 12);
    assert_int_equal(scope, CTL_FEED_REGION);
    assert_string_equal(ctl_feed_seq_name(scope), "region_seq");

    assert_true(
        ctl_feed_prefix("us-east", "A1", buf, &len, &scope, err, sizeof err));
    assert_int_equal(len, 15);
    /* The trailing NUL keeps A10 out. */
    assert_memory_equal(buf, "atp\0us-east\0A1\0", 15);
    assert_int_equal(scope, CTL_FEED_KEY);
    assert_string_equal(ctl_feed_seq_name(scope), "key_seq");

    /* The longest ids fit the buffer. */
    char region[ATP_ID_MAX_LEN + 1], sku[ATP_SKU_MAX_LEN + 1];
    memset(region, 'r', ATP_ID_MAX_LEN);
    region[ATP_ID_MAX_LEN] = '\0';
    memset(sku, 's', ATP_SKU_MAX_LEN);
    sku[ATP_SKU_MAX_LEN] = '\0';
    assert_true(
        ctl_feed_prefix(region, sku, buf, &len, &scope, err, sizeof err));
    assert_int_equal(len, CTL_FEED_PREFIX_MAX);
    assert_int_equal(buf[len - 1], '\0');
}

static void test_prefix_bad(void **state)
{
    (void)state;
    char buf[CTL_FEED_PREFIX_MAX], err[256];
    size_t len = 0;
    ctl_feed_scope scope;
    assert_false(
        ctl_feed_prefix(NULL, "A1", buf, &len, &scope, err, sizeof err));
    assert_non_null(strstr(err, "needs a region"));
    assert_false(ctl_feed_prefix("", NULL, buf, &len, &scope, err, sizeof err));
    assert_non_null(strstr(err, "region"));
    assert_false(
        ctl_feed_prefix("us\teast", NULL, buf, &len, &scope, err, sizeof err));
    assert_false(ctl_feed_prefix("eu", "", buf, &len, &scope, err, sizeof err));
    assert_non_null(strstr(err, "SKU"));
    char sku[ATP_SKU_MAX_LEN + 2];
    memset(sku, 's', ATP_SKU_MAX_LEN + 1);
    sku[ATP_SKU_MAX_LEN + 1] = '\0';
    assert_false(
        ctl_feed_prefix("eu", sku, buf, &len, &scope, err, sizeof err));
}

/* ---- gaps -----------------------------------------------------------------
 */

static void test_gaps(void **state)
{
    (void)state;
    ctl_feed_gaps g;
    memset(&g, 0, sizeof g);
    ctl_feed_gap r;
    /* The first message sets the baseline, wherever the feed is. */
    assert_int_equal(ctl_feed_gaps_check(&g, 41, &r), CTL_FEED_IN_ORDER);
    assert_int_equal(ctl_feed_gaps_check(&g, 42, &r), CTL_FEED_IN_ORDER);
    assert_int_equal(ctl_feed_gaps_check(&g, 43, &r), CTL_FEED_IN_ORDER);
    assert_int_equal(ctl_feed_gaps_check(&g, 47, &r), CTL_FEED_GAP);
    assert_int_equal(r.expected, 44);
    assert_int_equal(r.got, 47);
    assert_int_equal(r.missed, 3);
    assert_int_equal(ctl_feed_gaps_check(&g, 48, &r), CTL_FEED_IN_ORDER);
    assert_int_equal(ctl_feed_gaps_check(&g, 50, &r), CTL_FEED_GAP);
    assert_int_equal(r.missed, 1);
    assert_int_equal(g.gaps, 2);
    assert_int_equal(g.missed, 4);
    /* Back to 1: atpd restarted. */
    assert_int_equal(ctl_feed_gaps_check(&g, 1, &r), CTL_FEED_RESET);
    assert_int_equal(r.expected, 51);
    assert_int_equal(r.got, 1);
    assert_int_equal(ctl_feed_gaps_check(&g, 2, &r), CTL_FEED_IN_ORDER);
    /* The same sequence twice is not "in order" either. */
    assert_int_equal(ctl_feed_gaps_check(&g, 2, &r), CTL_FEED_RESET);
    assert_int_equal(g.resets, 2);
    assert_int_equal(g.gaps, 2);
    /* No overflow at the top. */
    assert_int_equal(ctl_feed_gaps_check(&g, UINT64_MAX, &r), CTL_FEED_GAP);
    assert_int_equal(r.missed, UINT64_MAX - 3);
}

static void test_msg_seq(void **state)
{
    (void)state;
    codec_feed_msg m = {.seq = 812, .region_seq = 31, .key_seq = 4};
    assert_int_equal(ctl_feed_msg_seq(&m, CTL_FEED_ALL), 812);
    assert_int_equal(ctl_feed_msg_seq(&m, CTL_FEED_REGION), 31);
    assert_int_equal(ctl_feed_msg_seq(&m, CTL_FEED_KEY), 4);
}

/* ---- renderings -----------------------------------------------------------
 */

static void test_render_human(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    const test_ch chs[] = {
        {"default", 281, false, false, {NULL}},
        {"web", 0, true, true, {"out_of_stock", NULL}},
        {"app", 3, false, true, {NULL}},
        {"b2b", 0, true, false, {NULL}},
        {"mkt", 4, false, true, {"back_in_stock", "low_stock", NULL}},
    };
    test_w_body(w, 812, 31, 4, "us-east", "SKU-1", 333, 2, 0, false, chs, 5);
    const codec_val *b = test_decode(a, w);
    ctl_feed_topic t = {{"us-east", 7}, {"SKU-1", 5}};
    test_out o;
    test_out_open(&o);
    ctl_render_feed(&t, b, false, o.f);
    const char *s = test_out_close(&o);
    assert_string_equal(s, "#812 us-east SKU-1  supply 333  reserved 2 | "
                           "default 281 | web 0 OUT_OF_STOCK! | app 3 low | "
                           "b2b 0 out | mkt 4 BACK_IN_STOCK! LOW_STOCK!\n");
    free(o.buf);

    /* Shortfall and stale show only when they apply; color wraps marks. */
    codec_writer_reset(w);
    const test_ch one = {"web", 0, true, false, {"out_of_stock", NULL}};
    test_w_body(w, 9, 1, 1, "eu", "A\x1b[2J", 1, 5, 4, true, &one, 1);
    b = test_decode(a, w);
    ctl_feed_topic t2 = {{"eu", 2}, {"A\x1b[2J", 5}};
    test_out_open(&o);
    ctl_render_feed(&t2, b, true, o.f);
    s = test_out_close(&o);
    assert_string_equal(s, "#9 eu A?[2J  supply 1  reserved 5  shortfall 4 | "
                           "web 0 \033[1;31mOUT_OF_STOCK!\033[0m  STALE\n");
    free(o.buf);

    /* A body missing fields still renders. */
    codec_writer_reset(w);
    codec_w_map(w, 0);
    b = test_decode(a, w);
    test_out_open(&o);
    ctl_render_feed(&t2, b, false, o.f);
    s = test_out_close(&o);
    assert_string_equal(s, "#- eu A?[2J  supply -  reserved -\n");
    free(o.buf);
    codec_writer_free(w);
    codec_arena_free(a);
}

static void test_render_json(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    const test_ch ch = {"web", 0, true, false, {"out_of_stock", NULL}};
    test_w_body(w, 5, 3, 2, "eu", "A1", 1, 1, 0, false, &ch, 1);
    const codec_val *b = test_decode(a, w);
    ctl_feed_topic t = {{"eu", 2}, {"A1", 2}};
    test_out o;
    test_out_open(&o);
    assert_true(ctl_feed_write_json(&t, b, o.f));
    const char *s = test_out_close(&o);
    assert_string_equal(
        s, "{\"topic\":{\"region\":\"eu\",\"sku\":\"A1\"},\"seq\":5,"
           "\"region_seq\":3,\"key_seq\":2,\"ts_ms\":1700000000000,"
           "\"sku\":\"A1\",\"region\":\"eu\",\"supply\":1,\"reserved\":1,"
           "\"shortfall\":0,\"stale\":false,\"channels\":[{\"channel\":"
           "\"web\",\"atp\":0,\"buffer\":2,\"rule\":\"sku\",\"out_of_stock\":"
           "true,\"low_stock\":false,\"transitions\":[\"out_of_stock\"]}]}\n");
    free(o.buf);
    /* Not a map: nothing written. */
    codec_writer_reset(w);
    codec_w_array(w, 0);
    b = test_decode(a, w);
    test_out_open(&o);
    assert_false(ctl_feed_write_json(&t, b, o.f));
    s = test_out_close(&o);
    assert_int_equal(o.len, 0);
    free(o.buf);
    codec_writer_free(w);
    codec_arena_free(a);
}

static void test_render_gap(void **state)
{
    (void)state;
    ctl_feed_topic t = {{"us-east", 7}, {"SKU-1", 5}};
    ctl_feed_gap g = {CTL_FEED_GAP, 12, 15, 3};
    test_out o;
    test_out_open(&o);
    ctl_render_gap(&g, CTL_FEED_REGION, &t, false, o.f);
    ctl_render_gap(&g, CTL_FEED_REGION, &t, true, o.f);
    g = (ctl_feed_gap){CTL_FEED_GAP, 7, 8, 1};
    ctl_render_gap(&g, CTL_FEED_KEY, &t, false, o.f);
    g = (ctl_feed_gap){CTL_FEED_RESET, 99, 1, 0};
    ctl_render_gap(&g, CTL_FEED_ALL, &t, false, o.f);
    ctl_render_gap(&g, CTL_FEED_ALL, &t, true, o.f);
    const char *s = test_out_close(&o);
    assert_string_equal(
        s, "warning: gap in region_seq: expected 12, got 15 (3 messages lost) "
           "at us-east SKU-1; rebuild with a scan\n"
           "{\"gap\":{\"sequence\":\"region_seq\",\"expected\":12,\"got\":15,"
           "\"missed\":3,\"reset\":false,\"region\":\"us-east\",\"sku\":"
           "\"SKU-1\"}}\n"
           "warning: gap in key_seq: expected 7, got 8 (1 message lost) at "
           "us-east SKU-1; rebuild with a scan\n"
           "warning: seq went back: expected 99, got 1 at us-east SKU-1 (atpd "
           "restarted?); rebuild with a scan\n"
           "{\"gap\":{\"sequence\":\"seq\",\"expected\":99,\"got\":1,"
           "\"missed\":0,\"reset\":true,\"region\":\"us-east\",\"sku\":"
           "\"SKU-1\"}}\n");
    free(o.buf);
}

static void test_parse_uint(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_true(ctl_feed_parse_uint("10", 1, 10000, &v));
    assert_int_equal(v, 10);
    assert_true(ctl_feed_parse_uint("+7", 1, 10, &v));
    assert_int_equal(v, 7);
    assert_true(ctl_feed_parse_uint("0", 0, 10, &v));
    assert_int_equal(v, 0);
    assert_true(ctl_feed_parse_uint("18446744073709551615", 1, UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    assert_false(
        ctl_feed_parse_uint("18446744073709551616", 1, UINT64_MAX, &v));
    assert_false(ctl_feed_parse_uint("0", 1, 10, &v));
    assert_false(ctl_feed_parse_uint("10001", 1, 10000, &v));
    assert_false(ctl_feed_parse_uint("", 1, 10, &v));
    assert_false(ctl_feed_parse_uint("+", 1, 10, &v));
    assert_false(ctl_feed_parse_uint("-1", 0, 10, &v));
    assert_false(ctl_feed_parse_uint("1e3", 1, 10000, &v));
    assert_false(ctl_feed_parse_uint(" 5", 1, 10, &v));
}

/* ---- scan table -------------------------------------------------------------
 */

static const codec_val *test_scan_page(codec_arena *a, codec_writer *w,
                                       const char *const *skus, uint32_t n,
                                       bool last)
{
    codec_writer_reset(w);
    codec_w_map(w, 6);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "region", "eu");
    codec_w_kv_uint(w, "seq", 8);
    codec_w_kv_uint(w, "region_seq", 3);
    codec_w_cstr(w, "next_cursor");
    if (last)
        codec_w_nil(w);
    else
        codec_w_uint(w, n);
    codec_w_cstr(w, "items");
    codec_w_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        codec_w_map(w, 6);
        codec_w_kv_cstr(w, "sku", skus[i]);
        codec_w_kv_int(w, "supply", 100 + i);
        codec_w_kv_int(w, "reserved", i);
        codec_w_kv_int(w, "shortfall", 0);
        codec_w_kv_bool(w, "stale", i == 1);
        codec_w_cstr(w, "channels");
        codec_w_array(w, 2);
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "channel", "default");
        codec_w_kv_int(w, "atp", 98 + i);
        codec_w_kv_int(w, "buffer", 2);
        codec_w_kv_cstr(w, "rule", "global");
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "channel", "web");
        codec_w_kv_int(w, "atp", 1000 + i);
        codec_w_kv_int(w, "buffer", 0);
        codec_w_kv_cstr(w, "rule", "channel");
    }
    return test_decode(a, w);
}

static void test_render_scan(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    static const char *const page1[] = {"A1", "A10"};
    static const char *const page2[] = {"LONGER-SKU-NAME"};
    ctl_scan_view v;
    memset(&v, 0, sizeof v);
    test_out o;
    test_out_open(&o);
    assert_true(
        ctl_render_scan_page(test_scan_page(a, w, page1, 2, false), &v, o.f));
    assert_true(
        ctl_render_scan_page(test_scan_page(a, w, page2, 1, true), &v, o.f));
    const char *s = test_out_close(&o);
    /* One header; the second page widens the SKU column for its rows. */
    assert_string_equal(
        s, "SKU  ATP:default  ATP:web  SUPPLY  RESERVED  SHORTFALL  STALE\n"
           "A1            98     1000     100         0          0\n"
           "A10           99     1001     101         1          0  STALE\n"
           "LONGER-SKU-NAME           98     1000     100         0          "
           "0\n");
    assert_int_equal(v.rows, 3);
    free(o.buf);
    ctl_scan_view_fini(&v);

    /* An empty region: just the header. */
    memset(&v, 0, sizeof v);
    test_out_open(&o);
    assert_true(
        ctl_render_scan_page(test_scan_page(a, w, NULL, 0, true), &v, o.f));
    s = test_out_close(&o);
    assert_string_equal(s, "SKU  SUPPLY  RESERVED  SHORTFALL  STALE\n");
    free(o.buf);
    ctl_scan_view_fini(&v);
    codec_writer_free(w);
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_bytes), cmocka_unit_test(test_prefix_bad),
        cmocka_unit_test(test_gaps),         cmocka_unit_test(test_msg_seq),
        cmocka_unit_test(test_render_human), cmocka_unit_test(test_render_json),
        cmocka_unit_test(test_render_gap),   cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_render_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
