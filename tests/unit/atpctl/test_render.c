/*
 * test_render.c - unit tests of the reservation renderings in
 * tools/atpctl/ctl_render.c: the reserve verdict (granted, refused, replay,
 * dated) and the reservation block, and the time-phased promise and
 * promise-cart answers, from replies shaped as docs/PROTOCOL.md says.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "ctl_render.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

typedef struct test_line {
    const char *sku, *region;
    int64_t qty, consumed, released;
} test_line;

typedef struct test_resv {
    const char *id, *state, *channel, *order_ref;
    int64_t created_ms, expires_ms, updated_ms;
    const test_line *lines;
    uint32_t n;
} test_resv;

static void test_w_resv(codec_writer *w, const test_resv *r)
{
    codec_w_cstr(w, "reservation");
    codec_w_map(w, r->order_ref ? 8 : 7);
    codec_w_kv_cstr(w, "id", r->id);
    codec_w_kv_cstr(w, "state", r->state);
    codec_w_kv_cstr(w, "channel", r->channel);
    codec_w_kv_int(w, "created_ms", r->created_ms);
    codec_w_kv_int(w, "expires_ms", r->expires_ms);
    codec_w_kv_int(w, "updated_ms", r->updated_ms);
    if (r->order_ref)
        codec_w_kv_cstr(w, "order_ref", r->order_ref);
    codec_w_cstr(w, "lines");
    codec_w_array(w, r->n);
    for (uint32_t i = 0; i < r->n; i++) {
        codec_w_map(w, 5);
        codec_w_kv_cstr(w, "sku", r->lines[i].sku);
        codec_w_kv_cstr(w, "region", r->lines[i].region);
        codec_w_kv_int(w, "qty", r->lines[i].qty);
        codec_w_kv_int(w, "consumed", r->lines[i].consumed);
        codec_w_kv_int(w, "released", r->lines[i].released);
    }
}

/* test_reply encodes {"ok": true, ["granted": granted,] "replayed": ...,
 * "reservation": r} and decodes it into a. */
static const codec_val *test_reply(codec_arena *a, int granted, bool replayed,
                                   const test_resv *r)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_map(w, granted >= 0 ? 4 : 3);
    codec_w_kv_bool(w, "ok", true);
    if (granted >= 0)
        codec_w_kv_bool(w, "granted", granted != 0);
    codec_w_kv_bool(w, "replayed", replayed);
    test_w_resv(w, r);
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    void *copy = codec_arena_malloc(a, len);
    memcpy(copy, data, len);
    codec_writer_free(w);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, copy, len, &v), ATP_OK);
    return v;
}

typedef void (*test_render_fn)(const codec_val *, int64_t, FILE *);

static void test_expect(test_render_fn fn, const codec_val *reply,
                        const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(reply, NOW, f);
    fclose(f);
    assert_string_equal(buf, want);
    free(buf);
}

static const test_line two_lines[] = {
    {"SKU-1", "us-east", 2, 0, 0},
    {"NS:SKU-9", "eu", 1, 0, 1},
};

static void test_reserve_granted(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    test_resv r = {"cart-1",     "held",  "web",     NULL, NOW - 1,
                   NOW + 899999, NOW - 1, two_lines, 2};
    test_expect(ctl_render_reserve, test_reply(a, 1, false, &r),
                "reserved cart-1 (held, expires in 14m59s): SKU-1@us-east 2, "
                "NS:SKU-9@eu 1\n");
    r.state = "committed";
    r.order_ref = "SO-1";
    r.expires_ms = NOW + 7LL * 86400000 - 1000;
    test_expect(ctl_render_reserve, test_reply(a, 1, true, &r),
                "reserved cart-1 (committed, order SO-1, expires in 6d23h): "
                "SKU-1@us-east 2, NS:SKU-9@eu 1\n"
                "(replay of an earlier identical request)\n");
    r.state = "released";
    test_expect(ctl_render_reserve, test_reply(a, 1, true, &r),
                "reserved cart-1 (released, order SO-1): SKU-1@us-east 2, "
                "NS:SKU-9@eu 1\n"
                "(replay of an earlier identical request)\n");
    codec_arena_free(a);
}

static void test_reserve_many_lines(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    test_line lines[CTL_RENDER_INLINE_LINES + 1];
    for (size_t i = 0; i < CTL_RENDER_INLINE_LINES + 1; i++)
        lines[i] = (test_line){"S", "eu", 3, 0, 0};
    test_resv r = {"c",  "held", "default",
                   NULL, NOW,    NOW + 2000,
                   NOW,  lines,  CTL_RENDER_INLINE_LINES + 1};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctl_render_reserve(test_reply(a, 1, false, &r), NOW, f);
    fclose(f);
    assert_non_null(
        strstr(buf, "reserved c (held, expires in 2s): 9 lines, 27 units\n"
                    "SKU  REGION  QTY  CONSUMED  RELEASED\n"
                    "S    eu        3         0         0\n"));
    free(buf);
    codec_arena_free(a);
}

static void test_reserve_refused(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_w_map(w, 4);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "granted", false);
    codec_w_kv_cstr(w, "id", "cart-2");
    codec_w_cstr(w, "lines");
    codec_w_array(w, 3);
    codec_w_map(w, 5);
    codec_w_kv_cstr(w, "sku", "SKU-1");
    codec_w_kv_cstr(w, "region", "us-east");
    codec_w_kv_int(w, "qty", 5);
    codec_w_kv_int(w, "available", 3);
    codec_w_kv_bool(w, "ok", false);
    codec_w_map(w, 5);
    codec_w_kv_cstr(w, "sku", "SKU-2");
    codec_w_kv_cstr(w, "region", "eu");
    codec_w_kv_int(w, "qty", 1);
    codec_w_kv_int(w, "available", 40);
    codec_w_kv_bool(w, "ok", true);
    /* Without "ok" the line is judged from qty and available. */
    codec_w_map(w, 4);
    codec_w_kv_cstr(w, "sku", "SKU-3");
    codec_w_kv_cstr(w, "region", "eu");
    codec_w_kv_int(w, "qty", 2);
    codec_w_kv_int(w, "available", 1);
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    const codec_val *v = NULL;
    void *copy = codec_arena_malloc(a, len);
    memcpy(copy, data, len);
    assert_int_equal(codec_decode(a, copy, len, &v), ATP_OK);
    test_expect(ctl_render_reserve, v,
                "refused cart-2: SKU-1@us-east wanted 5, available 3  SHORT\n"
                "refused cart-2: SKU-2@eu wanted 1, available 40\n"
                "refused cart-2: SKU-3@eu wanted 2, available 1  SHORT\n");
    codec_writer_free(w);
    codec_arena_free(a);
}

static void test_reservation_block(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    test_resv r = {"cart-1",   "committed", "web",
                   "SO-2291",  NOW - 2000,  NOW + 7LL * 86400000 - 2000,
                   NOW - 1000, two_lines,   2};
    test_expect(ctl_render_reservation, test_reply(a, -1, true, &r),
                "reservation cart-1: committed (replay of an earlier "
                "identical request)\n"
                "  channel    web\n"
                "  order_ref  SO-2291\n"
                "  expires    in 6d23h (2023-11-21T22:13:18Z)\n"
                "  created    2s ago (2023-11-14T22:13:18Z)\n"
                "SKU       REGION   QTY  CONSUMED  RELEASED\n"
                "SKU-1     us-east    2         0         0\n"
                "NS:SKU-9  eu         1         0         1\n");
    r.state = "released";
    r.order_ref = NULL;
    test_expect(ctl_render_reservation, test_reply(a, -1, false, &r),
                "reservation cart-1: released\n"
                "  channel    web\n"
                "  order_ref  -\n"
                "  ended      1s ago (2023-11-14T22:13:19Z)\n"
                "  created    2s ago (2023-11-14T22:13:18Z)\n"
                "SKU       REGION   QTY  CONSUMED  RELEASED\n"
                "SKU-1     us-east    2         0         0\n"
                "NS:SKU-9  eu         1         0         1\n");
    r.state = "expired";
    r.expires_ms = NOW - 60000;
    r.n = 0;
    test_expect(ctl_render_reservation, test_reply(a, -1, false, &r),
                "reservation cart-1: expired\n"
                "  channel    web\n"
                "  order_ref  -\n"
                "  expired    1m ago (2023-11-14T22:12:20Z)\n"
                "  created    2s ago (2023-11-14T22:13:18Z)\n"
                "SKU  REGION  QTY  CONSUMED  RELEASED\n");
    codec_arena_free(a);
}

/* test_json decodes a reply written as JSON (as atpd sends it over HTTP)
 * into a. */
static const codec_val *test_json(codec_arena *a, const char *json)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    char msg[128];
    assert_int_equal(
        codec_json_to_msgpack(w, json, strlen(json), msg, sizeof msg), ATP_OK);
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    void *copy = codec_arena_malloc(a, len);
    memcpy(copy, data, len);
    codec_writer_free(w);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, copy, len, &v), ATP_OK);
    return v;
}

typedef void (*test_render_plain_fn)(const codec_val *, FILE *);

static void test_expect_plain(test_render_plain_fn fn, const codec_val *reply,
                              const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(reply, f);
    fclose(f);
    assert_string_equal(buf, want);
    free(buf);
}

#define ATP_LINE                                                               \
    "\"sku\": \"SKU-9\", \"region\": \"us-east\", \"channel\": \"web\", "      \
    "\"atp\": 5, \"supply\": 5, \"reserved\": 0, \"buffer\": 0, "              \
    "\"rule\": \"global\", \"shortfall\": 0, \"stale\": false"

/* PROTOCOL.md's example reply, then one with a preorder shortfall and an
 * earliest date of never. */
static void test_promise(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    test_expect_plain(
        ctl_render_promise,
        test_json(a, "{\"ok\": true, " ATP_LINE
                     ", \"now_ms\": 1700000000000, \"dated\": 0, "
                     "\"preorder_hold\": 0, \"preorder_shortfall\": 0, "
                     "\"max_promisable\": 105, \"schedule\": ["
                     "{\"from_ms\": 1700000000000, \"atp\": 5}, "
                     "{\"from_ms\": 1700864000000, \"atp\": 105}], "
                     "\"date_ms\": 1701000000000, \"atp_on_date\": 105, "
                     "\"qty\": 40, \"earliest_ms\": 1700864000000}"),
        "SKU-9 @ us-east (web): ATP 5  supply 5  reserved 0  buffer 0 (rule "
        "global)  shortfall 0\n"
        "dated 0  preorder hold 0  max promisable 105\n"
        "FROM                  ATP\n"
        "2023-11-14T22:13:20Z    5\n"
        "2023-11-24T22:13:20Z  105\n"
        "on 2023-11-26T12:00:00Z: ATP 105\n"
        "earliest for 40: 2023-11-24T22:13:20Z (in 10d)\n");
    test_expect_plain(
        ctl_render_promise,
        test_json(a, "{\"ok\": true, " ATP_LINE
                     ", \"now_ms\": 1700000000000, \"dated\": 52, "
                     "\"preorder_hold\": 52, \"preorder_shortfall\": 40, "
                     "\"max_promisable\": 0, \"schedule\": ["
                     "{\"from_ms\": 1700000000000, \"atp\": 0}], "
                     "\"schedule_truncated\": true, "
                     "\"qty\": 1, \"earliest_ms\": null}"),
        "SKU-9 @ us-east (web): ATP 5  supply 5  reserved 0  buffer 0 (rule "
        "global)  shortfall 0\n"
        "dated 52  preorder hold 52  max promisable 0\n"
        "preorder shortfall 40\n"
        "FROM                  ATP\n"
        "2023-11-14T22:13:20Z    0\n"
        "(schedule truncated: later dates where ATP rises are not listed)\n"
        "earliest for 1: never (no known supply covers it)\n");
    /* Available now: "now", not a time a little in the past. */
    test_expect_plain(
        ctl_render_promise,
        test_json(a, "{\"ok\": true, " ATP_LINE
                     ", \"now_ms\": 1700000000000, \"dated\": 0, "
                     "\"preorder_hold\": 0, \"preorder_shortfall\": 0, "
                     "\"max_promisable\": 5, \"schedule\": ["
                     "{\"from_ms\": 1700000000000, \"atp\": 5}], "
                     "\"qty\": 5, \"earliest_ms\": 1700000000000}"),
        "SKU-9 @ us-east (web): ATP 5  supply 5  reserved 0  buffer 0 (rule "
        "global)  shortfall 0\n"
        "dated 0  preorder hold 0  max promisable 5\n"
        "FROM                  ATP\n"
        "2023-11-14T22:13:20Z    5\n"
        "earliest for 5: now\n");
    codec_arena_free(a);
}

static void test_promise_cart(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    test_expect_plain(
        ctl_render_promise_cart,
        test_json(a, "{\"ok\": true, \"region\": \"us-east\", \"channel\": "
                     "\"web\", \"now_ms\": 1700000000000, \"earliest_ms\": "
                     "1700864000000, \"lines\": ["
                     "{\"sku\": \"SKU-1\", \"qty\": 2, \"atp\": 12, "
                     "\"earliest_ms\": 1700000000000}, "
                     "{\"sku\": \"SKU-9\", \"qty\": 40, \"atp\": 5, "
                     "\"earliest_ms\": 1700864000000}]}"),
        "promise cart in us-east (web): complete from 2023-11-24T22:13:20Z "
        "(in 10d), 2 lines\n"
        "SKU    QTY  ATP  EARLIEST\n"
        "SKU-1    2   12  now\n"
        "SKU-9   40    5  2023-11-24T22:13:20Z\n");
    test_expect_plain(
        ctl_render_promise_cart,
        test_json(a, "{\"ok\": true, \"region\": \"eu\", \"channel\": "
                     "\"default\", \"now_ms\": 1700000000000, \"earliest_ms\": "
                     "null, \"lines\": ["
                     "{\"sku\": \"SKU-1\", \"qty\": 2, \"atp\": 12, "
                     "\"earliest_ms\": 1700000000000}, "
                     "{\"sku\": \"NEW\", \"qty\": 1, \"atp\": 0, "
                     "\"earliest_ms\": null}]}"),
        "promise cart in eu (default): NEVER complete, 1 of 2 lines never "
        "covered\n"
        "SKU    QTY  ATP  EARLIEST\n"
        "SKU-1    2   12  now\n"
        "NEW      1    0  never\n");
    test_expect_plain(
        ctl_render_promise_cart,
        test_json(a, "{\"ok\": true, \"region\": \"eu\", \"channel\": "
                     "\"default\", \"now_ms\": 1700000000000, \"earliest_ms\": "
                     "1700000000000, \"lines\": ["
                     "{\"sku\": \"SKU-1\", \"qty\": 2, \"atp\": 12, "
                     "\"earliest_ms\": 1700000000000}]}"),
        "promise cart in eu (default): complete now, 1 line\n"
        "SKU    QTY  ATP  EARLIEST\n"
        "SKU-1    2   12  now\n");
    codec_arena_free(a);
}

/* A dated reservation (a preorder): its date, "(dated)" before it,
 * "(due)" once it has come. */
static void test_reserve_dated(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    const char *json =
        "{\"ok\": true, \"granted\": true, \"replayed\": false, "
        "\"reservation\": {\"id\": \"pre-77\", \"state\": \"held\", "
        "\"channel\": \"web\", \"created_ms\": 1700000000000, "
        "\"expires_ms\": 1702592000000, \"updated_ms\": 1700000000000, "
        "\"promise_ms\": 1700864000000, \"dated\": %s, \"lines\": "
        "[{\"sku\": \"SKU-9\", \"region\": \"us-east\", \"qty\": 40, "
        "\"consumed\": 0, \"released\": 0}]}}";
    char buf[1024];
    snprintf(buf, sizeof buf, json, "true");
    test_expect(ctl_render_reserve, test_json(a, buf),
                "reserved pre-77 (held, expires in 30d): SKU-9@us-east 40\n"
                "promise 2023-11-24T22:13:20Z (dated)\n");
    snprintf(buf, sizeof buf, json, "false");
    test_expect(ctl_render_reservation, test_json(a, buf),
                "reservation pre-77: held\n"
                "  channel    web\n"
                "  order_ref  -\n"
                "  promise    2023-11-24T22:13:20Z (due)\n"
                "  expires    in 30d (2023-12-14T22:13:20Z)\n"
                "  created    0ms ago (2023-11-14T22:13:20Z)\n"
                "SKU    REGION   QTY  CONSUMED  RELEASED\n"
                "SKU-9  us-east   40         0         0\n");
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_granted),
        cmocka_unit_test(test_reserve_many_lines),
        cmocka_unit_test(test_reserve_refused),
        cmocka_unit_test(test_reservation_block),
        cmocka_unit_test(test_promise),
        cmocka_unit_test(test_promise_cart),
        cmocka_unit_test(test_reserve_dated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
