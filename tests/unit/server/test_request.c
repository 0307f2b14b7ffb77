/*
 * test_request.c - unit tests of src/server/request.c without sockets:
 * requests are built with codec_writer, handed to request_handle, and the
 * reply decoded with codec_decode and checked against docs/PROTOCOL.md
 * ("Queries"): answer fields and types, cart sums, error codes (with `line`
 * for carts), exactly one reply per request, regions/sources/status shapes.
 * Threads: the test thread, plus the engine thread that applies the stock
 * the tests set up. ingest is NULL (allowed for tests by request.h).
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
#include "atp/wire.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"
#include "server/request.h"
#include "sources/sources.h"

/* Regions in configuration order us-east, eu, apac (deliberately not
 * sorted). Carts are limited to 5 lines so too_many_lines is cheap. */
static const char test_request_yaml[] =
    "service:\n"
    "  max_cart_lines: 5\n"
    "regions: [{id: us-east}, {id: eu}, {id: apac}]\n"
    "locations:\n"
    "  - {id: dc-1, region: us-east}\n"
    "  - {id: dc-2, region: us-east}\n"
    "  - {id: dc-eu, region: eu}\n"
    "  - {id: dc-ap, region: apac}\n"
    "channels: [web, app]\n"
    "sources:\n"
    "  - id: wms\n"
    "    authority: [{locations: [dc-1, dc-2]}]\n"
    "  - id: erp\n"
    "    authority: [{locations: [dc-eu, dc-ap]}]\n"
    "buffers:\n"
    "  - {channel: web, units: 2}\n"
    "  - {sku: SKU-P, region: eu, percent: 10}\n";

enum { US = 0, EU = 1, AP = 2 };
enum { DC1 = 0, DC2 = 1, DCEU = 2, DCAP = 3 };

typedef struct test_fx {
    config cfg;
    engine *eng;
    sources *src;
    request_env env;
    codec_arena *req_arena;   /* request_handle's arena */
    codec_arena *reply_arena; /* decoded replies */
    codec_writer *req;        /* the request being built */
    codec_writer *out;        /* request_handle's reply */
    void *reply_bytes;        /* copy of the last reply (decoded strings
                                 point into it) */
} test_fx;

static void test_fx_stock(test_fx *fx);

static int test_fx_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    config_diags diags = {0};
    atp_err err = config_load_string(
        test_request_yaml, strlen(test_request_yaml), &fx->cfg, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                diags.items[i].message);
    config_diags_fini(&diags);
    assert_int_equal(err, ATP_OK);
    assert_int_equal(engine_alloc(&fx->cfg, NULL, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    assert_int_equal(sources_alloc(&fx->cfg, &fx->src), ATP_OK);
    assert_int_equal(
        request_env_init(&fx->env, &fx->cfg, fx->eng, fx->src, NULL, NULL),
        ATP_OK);
    fx->req_arena = codec_arena_alloc();
    fx->reply_arena = codec_arena_alloc();
    fx->req = codec_writer_alloc(NULL, NULL);
    fx->out = codec_writer_alloc(NULL, NULL);
    assert_non_null(fx->req_arena);
    assert_non_null(fx->reply_arena);
    assert_non_null(fx->req);
    assert_non_null(fx->out);
    test_fx_stock(fx);
    *state = fx;
    return 0;
}

static int test_fx_teardown(void **state)
{
    test_fx *fx = *state;
    request_env_fini(&fx->env);
    engine_stop(fx->eng);
    engine_free(fx->eng);
    sources_free(fx->src);
    codec_arena_free(fx->req_arena);
    codec_arena_free(fx->reply_arena);
    codec_writer_free(fx->req);
    codec_writer_free(fx->out);
    free(fx->reply_bytes);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

/* Stock: SKU-1 us-east 5 + 3 (one location over-allocated: 0), eu 10;
 * SKU-P eu 100 (10 % buffer there). */
static void test_fx_stock(test_fx *fx)
{
#define EV(b_, loc_, sku_, v_)                                                 \
    {                                                                          \
        .kind = ATP_EV_SET, .bucket = b_, .location = loc_,                    \
        .sku_len = sizeof sku_ - 1, .sku = sku_, .value = v_                   \
    }
    static const engine_event ev[] = {
        EV(ATP_BUCKET_ON_HAND, DC1, "SKU-1", 5),
        EV(ATP_BUCKET_ON_HAND, DC2, "SKU-1", 3),
        EV(ATP_BUCKET_ON_HAND, DCEU, "SKU-1", 10),
        EV(ATP_BUCKET_ON_HAND, DCAP, "SKU-1", 2),
        EV(ATP_BUCKET_ALLOCATED, DCAP, "SKU-1", 9),
        EV(ATP_BUCKET_ON_HAND, DCEU, "SKU-P", 100),
    };
#undef EV
    engine_batch b = {.events = ev, .n = sizeof ev / sizeof ev[0]};
    assert_int_equal(engine_submit(fx->eng, &b), ATP_OK);
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
}

/* ---- running requests -----------------------------------------------------
 */

/* test_run hands buf to request_handle and decodes the reply, which must be
 * exactly one msgpack map (codec_decode refuses trailing bytes). */
static const codec_val *test_run_bytes(test_fx *fx, const void *buf, size_t len)
{
    codec_arena_clear(fx->req_arena);
    codec_arena_clear(fx->reply_arena);
    codec_writer_reset(fx->out);
    request_async async = {0};
    /* every operation tested here answers at once */
    assert_true(
        request_handle(&fx->env, buf, len, fx->req_arena, fx->out, &async));
    size_t n;
    const void *data = codec_writer_data(fx->out, &n);
    assert_false(codec_writer_failed(fx->out));
    assert_true(n > 0);
    free(fx->reply_bytes);
    fx->reply_bytes = malloc(n);
    assert_non_null(fx->reply_bytes);
    memcpy(fx->reply_bytes, data, n);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(fx->reply_arena, fx->reply_bytes, n, &v),
                     ATP_OK);
    assert_int_equal(codec_val_type(v), CODEC_MAP);
    return v;
}

/* test_run runs the request built in fx->req, then empties fx->req. */
static const codec_val *test_run(test_fx *fx)
{
    size_t n;
    const void *data = codec_writer_data(fx->req, &n);
    /* the request arena may keep pointers into the request: copy it to a
     * buffer that lives as long as the call */
    void *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, data, n);
    codec_writer_reset(fx->req);
    const codec_val *v = test_run_bytes(fx, copy, n);
    free(copy);
    return v;
}

static bool test_str_is(const codec_val *v, const char *want)
{
    codec_str s;
    return codec_val_str(v, &s) && codec_str_eq(s, want);
}

static void test_assert_str(const codec_val *map, const char *key,
                            const char *want)
{
    const codec_val *v = codec_val_get(map, key);
    if (!test_str_is(v, want))
        fail_msg("key '%s': not the string '%s'", key, want);
}

static int64_t test_int(const codec_val *map, const char *key)
{
    int64_t i;
    if (!codec_val_int(codec_val_get(map, key), &i))
        fail_msg("key '%s' missing or not an integer", key);
    return i;
}

static bool test_bool(const codec_val *map, const char *key)
{
    bool b;
    if (!codec_val_bool(codec_val_get(map, key), &b))
        fail_msg("key '%s' missing or not a bool", key);
    return b;
}

/* test_assert_error checks {"ok": false, "error": {code, name, message
 * [, line]}}; line -1 means no line key. */
static void test_assert_error(const codec_val *r, atp_err code, int64_t line)
{
    assert_int_equal(codec_val_len(r), 2);
    assert_false(test_bool(r, "ok"));
    const codec_val *e = codec_val_get(r, "error");
    assert_int_equal(codec_val_type(e), CODEC_MAP);
    int64_t got = test_int(e, "code");
    if (got != (int64_t)code) {
        codec_str m = {"", 0};
        codec_val_str(codec_val_get(e, "message"), &m);
        fail_msg("error code %lld (%.*s), expected %d (%s)", (long long)got,
                 (int)m.len, m.ptr, code, atp_err_name(code));
    }
    test_assert_str(e, "name", atp_err_name(code));
    codec_str msg;
    assert_true(codec_val_str(codec_val_get(e, "message"), &msg));
    assert_true(msg.len > 0);
    if (!codec_str_is_id(msg, UINT32_MAX)) /* printable, valid UTF-8 */
        fail_msg("message not printable UTF-8: %.*s", (int)msg.len, msg.ptr);
    if (line < 0) {
        assert_null(codec_val_get(e, "line"));
        assert_int_equal(codec_val_len(e), 3);
    } else {
        assert_int_equal(test_int(e, "line"), line);
        assert_int_equal(codec_val_len(e), 4);
    }
}

/* test_assert_message checks that the error message of r contains want. */
static void test_assert_message(const codec_val *r, const char *want)
{
    codec_str m = {"", 0};
    codec_val_str(codec_val_get(codec_val_get(r, "error"), "message"), &m);
    char buf[1100];
    snprintf(buf, sizeof buf, "%.*s", (int)m.len, m.ptr);
    if (strstr(buf, want) == NULL)
        fail_msg("error message '%s' does not say '%s'", buf, want);
}

/* The ATP answer of PROTOCOL.md: keys and types; values given. */
typedef struct want_answer {
    const char *sku, *region, *channel;
    int64_t atp, supply, reserved, buffer, shortfall;
    const char *rule;
    bool stale;
} want_answer;

static void test_assert_answer(const codec_val *m, const want_answer *w)
{
    test_assert_str(m, "sku", w->sku);
    test_assert_str(m, "region", w->region);
    test_assert_str(m, "channel", w->channel);
    assert_int_equal(test_int(m, "atp"), w->atp);
    assert_int_equal(test_int(m, "supply"), w->supply);
    assert_int_equal(test_int(m, "reserved"), w->reserved);
    assert_int_equal(test_int(m, "buffer"), w->buffer);
    test_assert_str(m, "rule", w->rule);
    assert_int_equal(test_int(m, "shortfall"), w->shortfall);
    assert_int_equal(test_bool(m, "stale"), w->stale);
}

/* Writers for the common requests. */
static void w_atp(test_fx *fx, const char *sku, const char *region,
                  const char *channel)
{
    codec_w_map(fx->req, channel ? 4 : 3);
    codec_w_kv_cstr(fx->req, "op", "atp");
    codec_w_kv_cstr(fx->req, "sku", sku);
    codec_w_kv_cstr(fx->req, "region", region);
    if (channel)
        codec_w_kv_cstr(fx->req, "channel", channel);
}

typedef struct line {
    const char *sku, *region;
    int64_t qty;
} line;

/* w_cart_first opens a cart of n lines and writes its first, valid line
 * ["SKU-1", "us-east", 1]; the caller writes the n - 1 others. */
static void w_cart_first(test_fx *fx, uint32_t n)
{
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "cart");
    codec_w_cstr(fx->req, "lines");
    codec_w_array(fx->req, n);
    codec_w_array(fx->req, 3);
    codec_w_cstr(fx->req, "SKU-1");
    codec_w_cstr(fx->req, "us-east");
    codec_w_int(fx->req, 1);
}

static void w_cart(test_fx *fx, const char *channel, const line *lines,
                   uint32_t n)
{
    codec_w_map(fx->req, channel ? 3 : 2);
    codec_w_kv_cstr(fx->req, "op", "cart");
    if (channel)
        codec_w_kv_cstr(fx->req, "channel", channel);
    codec_w_cstr(fx->req, "lines");
    codec_w_array(fx->req, n);
    for (uint32_t i = 0; i < n; i++) {
        codec_w_array(fx->req, 3);
        codec_w_cstr(fx->req, lines[i].sku);
        codec_w_cstr(fx->req, lines[i].region);
        codec_w_int(fx->req, lines[i].qty);
    }
}

/* ---- atp -------------------------------------------------------------------
 */

static void test_request_atp(void **state)
{
    test_fx *fx = *state;
    w_atp(fx, "SKU-1", "us-east", "web");
    const codec_val *r = test_run(fx);
    assert_int_equal(codec_val_len(r), 11); /* ok + the 10 answer fields */
    assert_true(test_bool(r, "ok"));
    test_assert_answer(r, &(want_answer){"SKU-1", "us-east", "web", 6, 8, 0, 2,
                                         0, "channel", false});

    /* no channel: the default one, global rule */
    w_atp(fx, "SKU-1", "apac", NULL);
    r = test_run(fx);
    assert_true(test_bool(r, "ok"));
    test_assert_answer(r, &(want_answer){"SKU-1", "apac", "default", 0, 0, 0, 0,
                                         0, "global", false});
    /* channel nil counts as absent; unknown keys are ignored */
    codec_w_map(fx->req, 5);
    codec_w_kv_cstr(fx->req, "op", "atp");
    codec_w_kv_cstr(fx->req, "future_key", "x");
    codec_w_kv_cstr(fx->req, "sku", "SKU-P");
    codec_w_kv_cstr(fx->req, "region", "eu");
    codec_w_cstr(fx->req, "channel");
    codec_w_nil(fx->req);
    r = test_run(fx);
    test_assert_answer(r, &(want_answer){"SKU-P", "eu", "default", 90, 100, 0,
                                         10, 0, "sku+region", false});

    /* an unknown SKU is not an error */
    w_atp(fx, "NOPE", "eu", "app");
    r = test_run(fx);
    assert_true(test_bool(r, "ok"));
    test_assert_answer(
        r, &(want_answer){"NOPE", "eu", "app", 0, 0, 0, 0, 0, "global", false});

    /* stale comes through */
    engine_region_stale_set(fx->eng, EU, true);
    w_atp(fx, "SKU-1", "eu", NULL);
    r = test_run(fx);
    test_assert_answer(r, &(want_answer){"SKU-1", "eu", "default", 10, 10, 0, 0,
                                         0, "global", true});
    /* the explicit default channel */
    w_atp(fx, "SKU-1", "us-east", "default");
    r = test_run(fx);
    test_assert_answer(r, &(want_answer){"SKU-1", "us-east", "default", 8, 8, 0,
                                         0, 0, "global", false});
}

static void test_request_atp_errors(void **state)
{
    test_fx *fx = *state;
    w_atp(fx, "SKU-1", "mars", NULL);
    const codec_val *r = test_run(fx);
    test_assert_error(r, ATP_E_UNKNOWN_REGION, -1);
    /* a wrong value is answered with the valid ones, in config order */
    test_assert_message(r, "unknown region 'mars'; regions: us-east, eu, apac");
    w_atp(fx, "SKU-1", "US-EAST", NULL); /* ids are case-sensitive */
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_REGION, -1);
    w_atp(fx, "SKU-1", "us-east", "fax");
    r = test_run(fx);
    test_assert_error(r, ATP_E_UNKNOWN_CHANNEL, -1);
    test_assert_message(r,
                        "unknown channel 'fax'; channels: default, web, app");
    /* a TTL out of range is answered with the range (defaults 1s..1d),
     * before the engine sees it */
    codec_w_map(fx->req, 4);
    codec_w_kv_cstr(fx->req, "op", "reserve");
    codec_w_kv_cstr(fx->req, "id", "r1");
    codec_w_kv_int(fx->req, "ttl_ms", 5);
    codec_w_cstr(fx->req, "lines");
    codec_w_array(fx->req, 1);
    codec_w_array(fx->req, 3);
    codec_w_cstr(fx->req, "SKU-1");
    codec_w_cstr(fx->req, "eu");
    codec_w_int(fx->req, 1);
    r = test_run(fx);
    test_assert_error(r, ATP_E_BAD_TTL, -1);
    test_assert_message(r, "ttl_ms must be milliseconds in 1000..86400000 "
                           "(1s..1d, reservations.min_ttl..max_ttl), got 5");
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "extend");
    codec_w_kv_cstr(fx->req, "id", "r1");
    r = test_run(fx);
    /* missing is a field missing (bad_request), with the range all the same */
    test_assert_error(r, ATP_E_BAD_REQUEST, -1);
    test_assert_message(r,
                        "missing field 'ttl_ms' (milliseconds, 1000..86400000");
    w_atp(fx, "", "us-east", NULL);
    test_assert_error(test_run(fx), ATP_E_BAD_SKU, -1);
    char long_sku[66];
    memset(long_sku, 'S', 65);
    long_sku[65] = '\0';
    w_atp(fx, long_sku, "us-east", NULL);
    test_assert_error(test_run(fx), ATP_E_BAD_SKU, -1);
    long_sku[64] = '\0'; /* 64 bytes is fine */
    w_atp(fx, long_sku, "us-east", NULL);
    assert_true(test_bool(test_run(fx), "ok"));
    w_atp(fx, "SKU\n1", "us-east", NULL);
    test_assert_error(test_run(fx), ATP_E_BAD_SKU, -1);

    /* missing sku, missing region */
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "atp");
    codec_w_kv_cstr(fx->req, "region", "eu");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "atp");
    codec_w_kv_cstr(fx->req, "sku", "SKU-1");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    /* sku of the wrong type */
    codec_w_map(fx->req, 3);
    codec_w_kv_cstr(fx->req, "op", "atp");
    codec_w_kv_int(fx->req, "sku", 1);
    codec_w_kv_cstr(fx->req, "region", "eu");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
}

/* ---- cart ------------------------------------------------------------------
 */

static void test_request_cart(void **state)
{
    test_fx *fx = *state;
    /* SKU-1 us-east: ATP 8 (default channel). Two lines of 5 for the same
     * (sku, region) need 10: neither is available. */
    line l1[] = {
        {"SKU-1", "us-east", 5}, {"SKU-1", "eu", 4}, {"SKU-1", "us-east", 5}};
    w_cart(fx, NULL, l1, 3);
    const codec_val *r = test_run(fx);
    assert_int_equal(codec_val_len(r), 3);
    assert_true(test_bool(r, "ok"));
    assert_false(test_bool(r, "available"));
    const codec_val *lines = codec_val_get(r, "lines");
    assert_int_equal(codec_val_type(lines), CODEC_ARRAY);
    assert_int_equal(codec_val_len(lines), 3);
    const char *regions[] = {"us-east", "eu", "us-east"};
    int64_t supply[] = {8, 10, 8};
    bool avail[] = {false, true, false};
    for (uint32_t i = 0; i < 3; i++) {
        const codec_val *m = codec_val_at(lines, i);
        assert_int_equal(codec_val_type(m), CODEC_MAP);
        assert_int_equal(codec_val_len(m), 12); /* answer + qty + available */
        test_assert_answer(m, &(want_answer){"SKU-1", regions[i], "default",
                                             supply[i], supply[i], 0, 0, 0,
                                             "global", false});
        assert_int_equal(test_int(m, "qty"), l1[i].qty); /* each line's own */
        assert_int_equal(test_bool(m, "available"), avail[i]);
    }

    /* within ATP when summed: available; the channel's buffer counts */
    line l2[] = {
        {"SKU-1", "us-east", 3}, {"SKU-1", "us-east", 3}, {"NEW", "eu", 1}};
    w_cart(fx, "web", l2, 2);
    r = test_run(fx);
    assert_true(test_bool(r, "available")); /* 6 <= 8 - 2 */
    lines = codec_val_get(r, "lines");
    test_assert_str(codec_val_at(lines, 0), "channel", "web");
    assert_int_equal(test_int(codec_val_at(lines, 0), "atp"), 6);
    assert_true(test_bool(codec_val_at(lines, 1), "available"));

    /* an unknown SKU is a line with ATP 0, not an error */
    w_cart(fx, "web", l2, 3);
    r = test_run(fx);
    assert_true(test_bool(r, "ok"));
    assert_false(test_bool(r, "available"));
    lines = codec_val_get(r, "lines");
    assert_true(test_bool(codec_val_at(lines, 0), "available"));
    assert_false(test_bool(codec_val_at(lines, 2), "available"));
    test_assert_str(codec_val_at(lines, 2), "sku", "NEW");

    /* a SKU and its prefix are different lines (no summing) */
    line l3[] = {{"SKU-1", "us-east", 8}, {"SKU-10", "us-east", 8}};
    w_cart(fx, NULL, l3, 2);
    r = test_run(fx);
    lines = codec_val_get(r, "lines");
    assert_true(test_bool(codec_val_at(lines, 0), "available"));
    assert_false(test_bool(codec_val_at(lines, 1), "available"));

    /* exactly max_cart_lines (5), all the same line: 5 x 2 = 10 > 8 */
    line l4[] = {{"SKU-1", "us-east", 2},
                 {"SKU-1", "us-east", 2},
                 {"SKU-1", "us-east", 2},
                 {"SKU-1", "us-east", 1},
                 {"SKU-1", "us-east", 1}};
    w_cart(fx, NULL, l4, 5);
    r = test_run(fx);
    assert_true(test_bool(r, "available")); /* 8 <= 8 */
    l4[4].qty = 2;
    w_cart(fx, NULL, l4, 5);
    r = test_run(fx);
    assert_false(test_bool(r, "available"));
    for (uint32_t i = 0; i < 5; i++)
        assert_false(
            test_bool(codec_val_at(codec_val_get(r, "lines"), i), "available"));
}

static void test_request_cart_errors(void **state)
{
    test_fx *fx = *state;
    line ok = {"SKU-1", "us-east", 1};
    line l[5] = {ok, ok, ok, ok, ok};

    l[2].region = "mars";
    w_cart(fx, NULL, l, 3);
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_REGION, 2);
    l[2] = ok;

    l[1].qty = 0;
    w_cart(fx, NULL, l, 3);
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 1);
    l[1].qty = -3;
    w_cart(fx, NULL, l, 3);
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 1);
    l[1].qty = ATP_QTY_MAX + 1;
    w_cart(fx, NULL, l, 3);
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 1);
    l[1].qty = ATP_QTY_MAX; /* the largest allowed: not available, no error */
    l[1].sku = "SKU-2";
    w_cart(fx, NULL, l, 3);
    const codec_val *r = test_run(fx);
    assert_true(test_bool(r, "ok"));
    assert_false(test_bool(r, "available"));
    /* issue 12, oversell A: lines naming the same (sku, region) merge, and
     * the merged quantity is a quantity too: over 10^15 is bad_qty at the
     * line where it went over (it used to overflow and be available) */
    l[1].sku = "SKU-1";
    w_cart(fx, NULL, l, 3);
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 1);
    l[1] = ok;
    l[3].qty = ATP_QTY_MAX - 3;
    w_cart(fx, NULL, l, 5); /* 1 + 1 + 1 + (10^15 - 3) + 1: over at 4 */
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 4);
    w_cart(fx, NULL, l, 4); /* exactly 10^15: fine */
    assert_true(test_bool(test_run(fx), "ok"));
    l[3] = ok;

    /* issue 12, defect 5: a qty of the wrong type is bad_request (a field
     * of the wrong type), an integer out of range bad_qty */
    for (int kind = 0; kind < 6; kind++) {
        w_cart_first(fx, 2);
        codec_w_array(fx->req, 3);
        codec_w_cstr(fx->req, "SKU-1");
        codec_w_cstr(fx->req, "eu");
        switch (kind) {
        case 0:
            codec_w_cstr(fx->req, "2");
            break;
        case 1:
            codec_w_bool(fx->req, true);
            break;
        case 2:
            codec_w_double(fx->req, 2.0);
            break;
        case 3:
            codec_w_nil(fx->req);
            break;
        case 4:
            codec_w_uint(fx->req, UINT64_MAX);
            break;
        default:
            codec_w_int(fx->req, INT64_MIN);
            break;
        }
        test_assert_error(test_run(fx),
                          kind < 4 ? ATP_E_BAD_REQUEST : ATP_E_BAD_QTY, 1);
    }

    l[0].sku = "";
    w_cart(fx, NULL, l, 2);
    test_assert_error(test_run(fx), ATP_E_BAD_SKU, 0);
    l[0] = ok;

    /* the first bad line is the one reported */
    l[3].qty = 0;
    l[4].region = "mars";
    w_cart(fx, NULL, l, 5);
    test_assert_error(test_run(fx), ATP_E_BAD_QTY, 3);
    l[3] = ok;
    l[4] = ok;

    /* too many lines: no line index */
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "cart");
    codec_w_cstr(fx->req, "lines");
    codec_w_array(fx->req, 6);
    for (int i = 0; i < 6; i++) {
        codec_w_array(fx->req, 3);
        codec_w_cstr(fx->req, "SKU-1");
        codec_w_cstr(fx->req, "us-east");
        codec_w_int(fx->req, 1);
    }
    test_assert_error(test_run(fx), ATP_E_TOO_MANY_LINES, -1);

    /* unknown channel: request level */
    w_cart(fx, "fax", l, 1);
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_CHANNEL, -1);

    /* a line that is not [sku, region, qty] */
    w_cart_first(fx, 2);
    codec_w_array(fx->req, 2);
    codec_w_cstr(fx->req, "SKU-1");
    codec_w_cstr(fx->req, "us-east");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, 1);

    /* lines missing, not an array, empty */
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "cart");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "cart");
    codec_w_kv_cstr(fx->req, "lines", "SKU-1");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    w_cart(fx, NULL, l, 0);
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
}

/* ---- envelope errors: one error reply, documented code ------------------ */

static void test_request_bad_envelopes(void **state)
{
    test_fx *fx = *state;
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "teleport");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "ATP");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "sku", "SKU-1"); /* no op */
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_map(fx->req, 1);
    codec_w_kv_int(fx->req, "op", 1); /* op not a string */
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_map(fx->req, 0);
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    /* not a map */
    codec_w_array(fx->req, 2);
    codec_w_cstr(fx->req, "op");
    codec_w_cstr(fx->req, "atp");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_cstr(fx->req, "atp");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);

    /* issue 12, defect 2: what is echoed stays valid UTF-8 (the check is
     * in test_assert_error): invalid bytes, a control character, and a
     * character cut in two at the 64-byte clip */
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "atp\xff");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);
    codec_str m;
    assert_true(codec_val_str(
        codec_val_get(codec_val_get(test_run_bytes(fx,
                                                   "\x81\xa2op\xa4"
                                                   "atp\xff",
                                                   9),
                                    "error"),
                      "message"),
        &m));
    assert_true(m.len > 20 &&
                memcmp(m.ptr, "unknown op 'atp\\xff' (", 21) == 0);
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "a\x01\x7f\xc2\x85\xed\xa0\x80");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);
    char cut[70];
    memset(cut, 'a', 63);
    memcpy(cut + 63, "\xc3\xa9\xc3\xa9",
           5); /* the clip at 64 splits an e-acute */
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", cut);
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);

    /* garbage bytes */
    static const unsigned char c1[] = {0xc1};
    test_assert_error(test_run_bytes(fx, c1, sizeof c1), ATP_E_BAD_REQUEST, -1);
    static const unsigned char text[] = "GET / HTTP/1.1\r\n\r\n";
    test_assert_error(test_run_bytes(fx, text, sizeof text - 1),
                      ATP_E_BAD_REQUEST, -1);
    test_assert_error(test_run_bytes(fx, "", 0), ATP_E_BAD_REQUEST, -1);
    /* truncated (ends inside a uint16), trailing bytes after a request */
    static const unsigned char trunc[] = {0x81, 0xa2, 'o', 'p', 0xcd, 0x01};
    test_assert_error(test_run_bytes(fx, trunc, sizeof trunc),
                      ATP_E_BAD_REQUEST, -1);
    /* a map declaring more entries than bytes remain: "sizes", too_large */
    static const unsigned char short_map[] = {0x82, 0xa2, 'o', 'p'};
    test_assert_error(test_run_bytes(fx, short_map, sizeof short_map),
                      ATP_E_TOO_LARGE, -1);
    static const unsigned char trailing[] = {0x81, 0xa2, 'o', 'p', 0xa6, 's',
                                             't',  'a',  't', 'u', 's',  0xc0};
    test_assert_error(test_run_bytes(fx, trailing, sizeof trailing),
                      ATP_E_BAD_REQUEST, -1);
    assert_true(
        test_bool(test_run_bytes(fx, trailing, sizeof trailing - 1), "ok"));
    /* declared sizes beyond the message, nesting deeper than 8 */
    static const unsigned char huge[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    test_assert_error(test_run_bytes(fx, huge, sizeof huge), ATP_E_TOO_LARGE,
                      -1);
    unsigned char deep[20];
    for (int i = 0; i < 19; i++)
        deep[i] = 0x91; /* [[[[...]]]] */
    deep[19] = 0x90;
    test_assert_error(test_run_bytes(fx, deep, sizeof deep), ATP_E_TOO_LARGE,
                      -1);

    /* the service still answers normally afterwards */
    w_atp(fx, "SKU-1", "us-east", NULL);
    assert_true(test_bool(test_run(fx), "ok"));
}

/* ---- regions ------------------------------------------------------------- */

/* 60 regions with long ids: the list an unknown region's message carries
 * (config_region_list into request.c's REQUEST_LIST_MAX bytes) is cut
 * with the count, so a large configuration does not make every such
 * reply kilobytes long. */
static void test_request_region_list_cut(void **state)
{
    (void)state;
    static char yaml[8192];
    strcpy(yaml, "regions:\n");
    for (int i = 0; i < 60; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml),
                 "  - {id: a-region-with-a-long-id-%02d}\n", i);
    config cfg;
    config_diags diags = {0};
    assert_int_equal(config_load_string(yaml, strlen(yaml), &cfg, &diags),
                     ATP_OK);
    config_diags_fini(&diags);
    char l[768]; /* REQUEST_LIST_MAX: what request.c gives it */
    config_region_list(&cfg, l, sizeof l);
    assert_true(
        strncmp(l, "a-region-with-a-long-id-00, a-region-with-a-long-id-01, ",
                56) == 0);
    size_t n = strlen(l);
    assert_true(n < 768);
    static const char tail[] = ", ... (60 in all)";
    assert_true(n > strlen(tail) && strcmp(l + n - strlen(tail), tail) == 0);
    assert_null(strstr(l, "a-region-with-a-long-id-59"));
    config_fini(&cfg);
}

static void test_request_regions(void **state)
{
    test_fx *fx = *state;
    engine_region_stale_set(fx->eng, AP, true);
    codec_w_map(fx->req, 3);
    codec_w_kv_cstr(fx->req, "op", "regions");
    codec_w_kv_cstr(fx->req, "sku", "SKU-1");
    codec_w_kv_cstr(fx->req, "channel", "web");
    const codec_val *r = test_run(fx);
    assert_int_equal(codec_val_len(r), 4);
    assert_true(test_bool(r, "ok"));
    test_assert_str(r, "sku", "SKU-1");
    test_assert_str(r, "channel", "web");
    const codec_val *regs = codec_val_get(r, "regions");
    assert_int_equal(codec_val_type(regs), CODEC_ARRAY);
    assert_int_equal(codec_val_len(regs), 3); /* every configured region */
    want_answer want[] = {
        {"SKU-1", "us-east", "web", 6, 8, 0, 2, 0, "channel", false},
        {"SKU-1", "eu", "web", 8, 10, 0, 2, 0, "channel", false},
        {"SKU-1", "apac", "web", 0, 0, 0, 2, 0, "channel", true},
    };
    for (uint32_t i = 0; i < 3; i++) { /* in configuration order */
        assert_int_equal(codec_val_len(codec_val_at(regs, i)), 10);
        test_assert_answer(codec_val_at(regs, i), &want[i]);
    }
    /* default channel; errors */
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "regions");
    codec_w_kv_cstr(fx->req, "sku", "SKU-P");
    r = test_run(fx);
    test_assert_str(r, "channel", "default");
    regs = codec_val_get(r, "regions");
    assert_int_equal(codec_val_len(regs), 3);
    test_assert_answer(codec_val_at(regs, 1),
                       &(want_answer){"SKU-P", "eu", "default", 90, 100, 0, 10,
                                      0, "sku+region", false});
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "regions");
    test_assert_error(test_run(fx), ATP_E_BAD_REQUEST, -1);
    codec_w_map(fx->req, 3);
    codec_w_kv_cstr(fx->req, "op", "regions");
    codec_w_kv_cstr(fx->req, "sku", "SKU-1");
    codec_w_kv_cstr(fx->req, "channel", "fax");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_CHANNEL, -1);
}

/* ---- sources, status --------------------------------------------------------
 */

static const char *const test_source_uint_keys[] = {
    "last_seq",         "last_ts_ms",        "messages",
    "events",           "duplicates",        "gaps",
    "missed",           "rejected_messages", "unauthorized",
    "unknown_location", "heartbeats",        "session",
    "conflicts",        "sessions",          "unsynced",
    "seq_rejected",     "bad_mac",           "resets"};

static void test_deliver_nop(void *ctx, void *item, uint64_t seq)
{
    (void)ctx, (void)item, (void)seq;
}
static void test_drop_nop(void *ctx, void *item)
{
    (void)ctx, (void)item;
}
static void test_request_nop(void *ctx, uint32_t src, sources_resync_mode mode,
                             uint64_t from_seq)
{
    (void)ctx, (void)src, (void)mode, (void)from_seq;
}

static void test_request_sources_op(void **state)
{
    test_fx *fx = *state;
    /* erp received message 1, 3 events, applied */
    sources_io io = {test_deliver_nop, test_drop_nop, test_request_nop, NULL};
    sources_receive(fx->src, 1, 1, NULL, 0, &io);
    sources_count_applied(fx->src, 1, 3, 0);
    sources_applied(fx->src, 1, 1, 1000, 1040);
    sources_count_rejected(fx->src, 1, 2, 0);

    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "sources");
    const codec_val *r = test_run(fx);
    assert_int_equal(codec_val_len(r), 2);
    assert_true(test_bool(r, "ok"));
    const codec_val *list = codec_val_get(r, "sources");
    assert_int_equal(codec_val_type(list), CODEC_ARRAY);
    assert_int_equal(codec_val_len(list), 2);
    const char *ids[] = {"wms", "erp"}; /* configuration order */
    for (uint32_t i = 0; i < 2; i++) {
        const codec_val *s = codec_val_at(list, i);
        assert_int_equal(codec_val_len(s), 28);
        test_assert_str(s, "id", ids[i]);
        for (size_t k = 0; k < sizeof test_source_uint_keys / sizeof(char *);
             k++) {
            uint64_t u;
            if (!codec_val_uint(codec_val_get(s, test_source_uint_keys[k]), &u))
                fail_msg("source %s: '%s' missing or not a uint", ids[i],
                         test_source_uint_keys[k]);
        }
        (void)test_int(s, "lag_ms");
        (void)test_int(s, "age_ms");
    }
    const codec_val *wms = codec_val_at(list, 0), *erp = codec_val_at(list, 1);
    test_assert_str(wms, "state", "waiting");
    assert_int_equal(test_int(wms, "age_ms"), -1);
    assert_int_equal(test_int(wms, "messages"), 0);
    test_assert_str(erp, "state", "ok");
    assert_int_equal(test_int(erp, "last_seq"), 1);
    assert_int_equal(test_int(erp, "last_ts_ms"), 1000);
    assert_int_equal(test_int(erp, "lag_ms"), 40);
    assert_int_equal(test_int(erp, "messages"), 1);
    assert_int_equal(test_int(erp, "events"), 3);
    assert_int_equal(test_int(erp, "rejected_messages"), 1);
    assert_int_equal(test_int(erp, "unauthorized"), 2);
    assert_true(test_int(erp, "age_ms") >= 0);
}

static void test_request_status(void **state)
{
    test_fx *fx = *state;
    uint64_t before = atomic_load(&fx->env.requests);
    uint64_t errors_before = atomic_load(&fx->env.errors);
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "nope");
    test_assert_error(test_run(fx), ATP_E_UNKNOWN_OP, -1);

    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "status");
    const codec_val *r = test_run(fx);
    assert_true(test_bool(r, "ok"));
    test_assert_str(r, "version", "0.1.0");
    assert_true(test_bool(r, "ready"));
    assert_true(test_int(r, "uptime_ms") >= 0);
    assert_int_equal(test_int(r, "skus"), 2);      /* SKU-1, SKU-P */
    assert_int_equal(test_int(r, "positions"), 5); /* 4 + 1 */
    assert_int_equal(test_int(r, "regions"), 3);
    assert_int_equal(test_int(r, "locations"), 4);
    /* the engine's tables, the process's RSS (larger: it includes them),
     * and the deprecated old name of the first */
    int64_t eng_mem = test_int(r, "engine_memory_bytes");
    assert_true(eng_mem > 0);
    assert_true(test_int(r, "rss_bytes") > eng_mem);
    assert_int_equal(test_int(r, "memory_bytes"), eng_mem);
    const codec_val *in = codec_val_get(r, "ingest");
    assert_int_equal(codec_val_type(in), CODEC_MAP);
    const char *ingest_keys[] = {"received", "bad_messages", "unknown_source",
                                 "rejected"};
    for (size_t k = 0; k < 4; k++) {
        uint64_t u;
        if (!codec_val_uint(codec_val_get(in, ingest_keys[k]), &u))
            fail_msg("status.ingest.%s missing or not a uint (PROTOCOL.md)",
                     ingest_keys[k]);
        assert_int_equal(u, 0); /* no ingest in this test */
    }
    const codec_val *en = codec_val_get(r, "engine");
    assert_int_equal(codec_val_type(en), CODEC_MAP);
    assert_int_equal(test_int(en, "queued"), 0);
    const codec_val *rv = codec_val_get(r, "reservations");
    assert_int_equal(codec_val_type(rv), CODEC_MAP);
    assert_int_equal(test_int(rv, "open"), 0);
    const codec_val *q = codec_val_get(r, "queries");
    assert_int_equal(codec_val_type(q), CODEC_MAP);
    /* this status request counts itself; the unknown op was an error */
    assert_int_equal(test_int(q, "requests"), before + 2);
    assert_int_equal(test_int(q, "errors"), errors_before + 1);
}

int main(void)
{
#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, test_fx_setup, test_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_request_atp),
        T(test_request_atp_errors),
        T(test_request_cart),
        T(test_request_cart_errors),
        T(test_request_bad_envelopes),
        T(test_request_regions),
        T(test_request_sources_op),
        T(test_request_status),
        cmocka_unit_test(test_request_region_list_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
