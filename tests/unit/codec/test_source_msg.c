/*
 * test_source_msg.c - codec_src_decode / codec_src_encode: round trips, and
 * every way a source message can be invalid, with the error code and the
 * index of the offending event PROTOCOL.md promises. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

#define ENVELOPE UINT32_MAX
#define MAX_EVENTS 100000

typedef struct fixture {
    codec_arena *a;
    codec_writer *w;
    codec_src_msg m;
    uint32_t bad;
} fixture;

static int setup(void **state)
{
    static fixture fx;
    memset(&fx, 0, sizeof(fx));
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

/* decode decodes the writer's bytes, then resets the writer (the decoded
 * strings stay valid until the next write). */
static atp_err decode(fixture *fx, uint32_t max_events)
{
    size_t len;
    const void *buf = codec_writer_data(fx->w, &len);
    assert_false(codec_writer_failed(fx->w));
    fx->bad = 12345;
    atp_err err =
        codec_src_decode(fx->a, buf, len, max_events, &fx->m, &fx->bad);
    codec_writer_reset(fx->w);
    return err;
}

static void expect_err(fixture *fx, atp_err want, uint32_t bad_event)
{
    atp_err err = decode(fx, MAX_EVENTS);
    if (err != want || fx->bad != bad_event) {
        fail_msg("got %s at event %u, want %s at event %u", atp_err_name(err),
                 fx->bad, atp_err_name(want), bad_event);
    }
}

/* env writes the envelope of a valid message with n events to follow. */
static void env(codec_writer *w, uint32_t n)
{
    codec_w_array(w, 5);
    codec_w_uint(w, ATP_MSG_SOURCE_BATCH);
    codec_w_cstr(w, "wms-east");
    codec_w_uint(w, 7);
    codec_w_uint(w, 1700000000000ULL);
    codec_w_array(w, n);
}

/* env_head writes [1, "wms-east", 7, 7, [] and leaves size - 5 elements
 * of the envelope to write. */
static void env_head(codec_writer *w, uint32_t size)
{
    codec_w_array(w, size);
    codec_w_uint(w, ATP_MSG_SOURCE_BATCH);
    codec_w_cstr(w, "wms-east");
    codec_w_uint(w, 7);
    codec_w_uint(w, 7);
    codec_w_array(w, 0);
}

static void delta(codec_writer *w, const char *sku, int64_t v)
{
    codec_w_array(w, 5);
    codec_w_uint(w, ATP_EV_DELTA);
    codec_w_cstr(w, sku);
    codec_w_cstr(w, "DC1");
    codec_w_uint(w, ATP_BUCKET_ON_HAND);
    codec_w_int(w, v);
}

static void heartbeat(codec_writer *w)
{
    codec_w_array(w, 1);
    codec_w_uint(w, ATP_EV_HEARTBEAT);
}

static void expect_same(const codec_src_msg *x, const codec_src_msg *y)
{
    assert_int_equal(x->source.len, y->source.len);
    assert_memory_equal(x->source.ptr, y->source.ptr, x->source.len);
    assert_true(x->seq == y->seq);
    assert_true(x->ts_ms == y->ts_ms);
    assert_int_equal(x->n_events, y->n_events);
    for (uint32_t i = 0; i < x->n_events; i++) {
        const codec_event *a = &x->events[i], *b = &y->events[i];
        assert_int_equal(a->kind, b->kind);
        if (a->kind == ATP_EV_HEARTBEAT) {
            continue;
        }
        assert_int_equal(a->bucket, b->bucket);
        assert_true(a->value == b->value);
        assert_int_equal(a->sku.len, b->sku.len);
        assert_memory_equal(a->sku.ptr, b->sku.ptr, a->sku.len);
        assert_int_equal(a->location.len, b->location.len);
        assert_memory_equal(a->location.ptr, b->location.ptr, a->location.len);
        assert_int_equal(a->ref.len, b->ref.len);
        if (a->ref.len > 0) {
            assert_memory_equal(a->ref.ptr, b->ref.ptr, a->ref.len);
        }
    }
}

static codec_str cs(const char *s)
{
    codec_str r = {s, (uint32_t)strlen(s)};
    return r;
}

static void test_src_round_trip(void **state)
{
    fixture *fx = *state;
    char ref128[129];
    memset(ref128, 'r', 128);
    ref128[128] = '\0';
    codec_event ev[] = {
        {ATP_EV_DELTA, ATP_BUCKET_ON_HAND, cs("SKU-1"), cs("DC1"), -3, cs(""),
         0},
        {ATP_EV_DELTA, ATP_BUCKET_ALLOCATED, cs("SKU-2"), cs("DC-東京"), 12,
         cs("order-998877"), 0},
        {ATP_EV_SET, ATP_BUCKET_HELD, cs("Größe-XL"), cs("store 12"),
         ATP_QTY_MAX, cs(""), 0},
        {ATP_EV_SET, ATP_BUCKET_ON_HAND, cs("S"), cs("L"), -ATP_QTY_MAX, cs(""),
         0},
        {ATP_EV_HEARTBEAT, 0, cs(""), cs(""), 0, cs(""), 0},
        {ATP_EV_DELTA, ATP_BUCKET_HELD, cs("SKU-3"), cs("DC1"), 0, cs(ref128),
         0},
    };
    codec_src_msg in = {.source = cs("3pl-acme"),
                        .seq = ATP_WIRE_INT_MAX,
                        .ts_ms = 1700000000123ULL,
                        .n_events = sizeof(ev) / sizeof(ev[0]),
                        .events = ev};
    codec_src_encode(fx->w, &in);
    size_t len;
    const void *buf = codec_writer_data(fx->w, &len);
    assert_false(codec_writer_failed(fx->w));
    codec_src_msg out;
    uint32_t bad = 0;
    assert_int_equal(codec_src_decode(fx->a, buf, len, 6, &out, &bad), ATP_OK);
    expect_same(&in, &out);

    /* encode(decode(x)) == x, byte for byte */
    codec_writer *w2 = codec_writer_alloc(NULL, NULL);
    assert_non_null(w2);
    codec_src_encode(w2, &out);
    size_t len2;
    const void *buf2 = codec_writer_data(w2, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    codec_writer_free(w2);

    /* the events array lives in the arena, strings in the input */
    assert_true(out.events[1].sku.ptr > (const char *)buf &&
                out.events[1].sku.ptr < (const char *)buf + len);
}

static void test_src_empty_and_heartbeats(void **state)
{
    fixture *fx = *state;
    env(fx->w, 0);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.n_events, 0);
    assert_true(fx->m.seq == 7);
    assert_true(fx->m.ts_ms == 1700000000000ULL);
    assert_true(codec_str_eq(fx->m.source, "wms-east"));

    env(fx->w, 2);
    heartbeat(fx->w);
    heartbeat(fx->w);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.n_events, 2);
    assert_int_equal(fx->m.events[1].kind, ATP_EV_HEARTBEAT);
}

static void test_src_envelope_errors(void **state)
{
    fixture *fx = *state;
    /* wrong message kind */
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, 2);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, 7);
    codec_w_uint(fx->w, 1);
    codec_w_array(fx->w, 0);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    /* not an array */
    codec_w_map(fx->w, 0);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    codec_w_uint(fx->w, 1);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    /* 4 and 6 elements */
    codec_w_array(fx->w, 4);
    codec_w_uint(fx->w, 1);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, 7);
    codec_w_uint(fx->w, 1);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    codec_w_array(fx->w, 6);
    codec_w_uint(fx->w, 1);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, 7);
    codec_w_uint(fx->w, 1);
    codec_w_array(fx->w, 0);
    codec_w_nil(fx->w);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    /* negative seq, negative ts, string seq */
    const int64_t bad_num[] = {-1, INT64_MIN};
    for (int i = 0; i < 2; i++) {
        for (int field = 2; field <= 3; field++) {
            codec_w_array(fx->w, 5);
            codec_w_uint(fx->w, 1);
            codec_w_cstr(fx->w, "wms-east");
            codec_w_int(fx->w, field == 2 ? bad_num[i] : 7);
            codec_w_int(fx->w, field == 3 ? bad_num[i] : 7);
            codec_w_array(fx->w, 0);
            expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
        }
    }
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, 1);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_cstr(fx->w, "7");
    codec_w_uint(fx->w, 7);
    codec_w_array(fx->w, 0);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    /* events not an array */
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, 1);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, 7);
    codec_w_uint(fx->w, 7);
    codec_w_map(fx->w, 0);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
}

static void test_src_source_id(void **state)
{
    fixture *fx = *state;
    char id65[66];
    memset(id65, 's', 65);
    id65[65] = '\0';
    const char *bad[] = {"", id65, "wms\neast", "wms\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        codec_w_array(fx->w, 5);
        codec_w_uint(fx->w, 1);
        codec_w_cstr(fx->w, bad[i]);
        codec_w_uint(fx->w, 7);
        codec_w_uint(fx->w, 7);
        codec_w_array(fx->w, 0);
        expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    }
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, 1);
    codec_w_str(fx->w, id65, 64);
    codec_w_uint(fx->w, 7);
    codec_w_uint(fx->w, 7);
    codec_w_array(fx->w, 0);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.source.len, 64);
}

static void test_src_too_many_events(void **state)
{
    fixture *fx = *state;
    env(fx->w, 3);
    heartbeat(fx->w);
    heartbeat(fx->w);
    heartbeat(fx->w);
    fx->bad = 0;
    assert_int_equal(decode(fx, 2), ATP_E_TOO_MANY_LINES);
    assert_int_equal(fx->bad, ENVELOPE);
    env(fx->w, 3);
    heartbeat(fx->w);
    heartbeat(fx->w);
    heartbeat(fx->w);
    assert_int_equal(decode(fx, 3), ATP_OK);
    env(fx->w, 1);
    heartbeat(fx->w);
    assert_int_equal(decode(fx, 0), ATP_E_TOO_MANY_LINES);
}

static void test_src_bad_kind(void **state)
{
    fixture *fx = *state;
    const int64_t kinds[] = {0, 4, 5, 6, 7, 8, 9, 10, 255, 65536, -1};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        env(fx->w, 2);
        heartbeat(fx->w);
        codec_w_array(fx->w, 5);
        codec_w_int(fx->w, kinds[i]);
        codec_w_cstr(fx->w, "SKU-1");
        codec_w_cstr(fx->w, "DC1");
        codec_w_uint(fx->w, 0);
        codec_w_int(fx->w, 1);
        expect_err(fx, ATP_E_BAD_EVENT, 1);
    }
    /* kind of the wrong type, event not an array, empty event */
    env(fx->w, 1);
    codec_w_array(fx->w, 1);
    codec_w_cstr(fx->w, "1");
    expect_err(fx, ATP_E_BAD_EVENT, 0);
    env(fx->w, 1);
    codec_w_uint(fx->w, 3);
    expect_err(fx, ATP_E_BAD_EVENT, 0);
    env(fx->w, 1);
    codec_w_map(fx->w, 0);
    expect_err(fx, ATP_E_BAD_EVENT, 0);
    env(fx->w, 1);
    codec_w_array(fx->w, 0);
    expect_err(fx, ATP_E_BAD_EVENT, 0);
}

static void test_src_bad_arity(void **state)
{
    fixture *fx = *state;
    /* kind, number of fields */
    const uint32_t cases[][2] = {
        {ATP_EV_DELTA, 4}, {ATP_EV_DELTA, 7},     {ATP_EV_SET, 4},
        {ATP_EV_SET, 6},   {ATP_EV_HEARTBEAT, 2},
    };
    const char *ref = "order-1";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env(fx->w, 3);
        delta(fx->w, "SKU-1", 1);
        delta(fx->w, "SKU-2", 1);
        uint32_t n = cases[i][1];
        codec_w_array(fx->w, n);
        codec_w_uint(fx->w, cases[i][0]);
        const char *fields[] = {"SKU-3", "DC1"};
        for (uint32_t f = 1; f < n; f++) {
            if (f <= 2) {
                codec_w_cstr(fx->w, fields[f - 1]);
            } else if (f == 3) {
                codec_w_uint(fx->w, 0);
            } else if (f == 4) {
                codec_w_int(fx->w, 5);
            } else {
                codec_w_cstr(fx->w, ref);
            }
        }
        expect_err(fx, ATP_E_BAD_EVENT, 2);
    }
}

static void test_src_bad_sku(void **state)
{
    fixture *fx = *state;
    char sku[ATP_SKU_MAX_LEN + 2];
    memset(sku, 'S', sizeof(sku));
    sku[ATP_SKU_MAX_LEN + 1] = '\0'; /* 65 bytes */
    const char *bad[] = {sku,       "",        "SKU\x01",     "SKU\t1",
                         "SKU\x7f", "SKU\xc3", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env(fx->w, 2);
        delta(fx->w, "ok", 1);
        delta(fx->w, bad[i], 1);
        expect_err(fx, ATP_E_BAD_SKU, 1);
    }
    sku[ATP_SKU_MAX_LEN] = '\0'; /* 64 bytes: fine */
    env(fx->w, 1);
    delta(fx->w, sku, 1);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.events[0].sku.len, ATP_SKU_MAX_LEN);
    /* a SKU that is not a string is a field of the wrong type */
    env(fx->w, 1);
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, ATP_EV_SET);
    codec_w_uint(fx->w, 12345);
    codec_w_cstr(fx->w, "DC1");
    codec_w_uint(fx->w, 0);
    codec_w_int(fx->w, 1);
    expect_err(fx, ATP_E_BAD_REQUEST, 0);
}

/* ev5 writes [kind, sku, loc, <bucket>, <value>] with the given writers. */
static void ev_with(codec_writer *w, const char *loc,
                    void (*bucket)(codec_writer *),
                    void (*value)(codec_writer *))
{
    codec_w_array(w, 5);
    codec_w_uint(w, ATP_EV_SET);
    codec_w_cstr(w, "SKU-1");
    codec_w_cstr(w, loc);
    bucket(w);
    value(w);
}

static void w_b0(codec_writer *w)
{
    codec_w_uint(w, 0);
}
static void w_b2(codec_writer *w)
{
    codec_w_uint(w, 2);
}
static void w_b3(codec_writer *w)
{
    codec_w_uint(w, 3);
}
static void w_bneg(codec_writer *w)
{
    codec_w_int(w, -1);
}
static void w_bhuge(codec_writer *w)
{
    codec_w_uint(w, UINT64_MAX);
}
static void w_bstr(codec_writer *w)
{
    codec_w_cstr(w, "0");
}
static void w_v1(codec_writer *w)
{
    codec_w_int(w, 1);
}
static void w_vmax(codec_writer *w)
{
    codec_w_int(w, ATP_QTY_MAX);
}
static void w_vmin(codec_writer *w)
{
    codec_w_int(w, -ATP_QTY_MAX);
}
static void w_vover(codec_writer *w)
{
    codec_w_int(w, ATP_QTY_MAX + 1);
}
static void w_vunder(codec_writer *w)
{
    codec_w_int(w, -ATP_QTY_MAX - 1);
}
static void w_vu64(codec_writer *w)
{
    codec_w_uint(w, UINT64_MAX);
}
static void w_vi64(codec_writer *w)
{
    codec_w_int(w, INT64_MIN);
}
static void w_vfloat(codec_writer *w)
{
    codec_w_double(w, 1.0);
}
static void w_vnil(codec_writer *w)
{
    codec_w_nil(w);
}

static void test_src_bucket_and_value(void **state)
{
    fixture *fx = *state;
    struct {
        void (*bucket)(codec_writer *);
        void (*value)(codec_writer *);
        atp_err want;
    } cases[] = {
        {w_b3, w_v1, ATP_E_BAD_BUCKET},
        {w_bneg, w_v1, ATP_E_BAD_BUCKET},
        {w_bhuge, w_v1, ATP_E_BAD_BUCKET},
        {w_bstr, w_v1, ATP_E_BAD_REQUEST},
        {w_b0, w_vover, ATP_E_BAD_QTY},
        {w_b0, w_vunder, ATP_E_BAD_QTY},
        {w_b0, w_vu64, ATP_E_BAD_QTY},
        {w_b0, w_vi64, ATP_E_BAD_QTY},
        {w_b0, w_vfloat, ATP_E_BAD_REQUEST},
        {w_b0, w_vnil, ATP_E_BAD_REQUEST},
        {w_b2, w_vmax, ATP_OK},
        {w_b0, w_vmin, ATP_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env(fx->w, 2);
        heartbeat(fx->w);
        ev_with(fx->w, "DC1", cases[i].bucket, cases[i].value);
        if (cases[i].want == ATP_OK) {
            assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
        } else {
            expect_err(fx, cases[i].want, 1);
        }
    }
    env(fx->w, 1);
    ev_with(fx->w, "DC1", w_b2, w_vmax);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.events[0].bucket, ATP_BUCKET_HELD);
    assert_true(fx->m.events[0].value == ATP_QTY_MAX);
}

static void test_src_location(void **state)
{
    fixture *fx = *state;
    char loc[ATP_ID_MAX_LEN + 2];
    memset(loc, 'L', sizeof(loc));
    loc[ATP_ID_MAX_LEN + 1] = '\0';
    const char *bad[] = {loc, "", "DC\n1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env(fx->w, 1);
        ev_with(fx->w, bad[i], w_b0, w_v1);
        expect_err(fx, ATP_E_BAD_REQUEST, 0);
    }
    loc[ATP_ID_MAX_LEN] = '\0';
    env(fx->w, 1);
    ev_with(fx->w, loc, w_b0, w_v1);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
}

static void test_src_ref(void **state)
{
    fixture *fx = *state;
    char ref[CODEC_REF_MAX_LEN + 2];
    memset(ref, 'r', sizeof(ref));
    ref[CODEC_REF_MAX_LEN + 1] = '\0';
    const char *bad[] = {ref, "", "ord\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env(fx->w, 1);
        codec_w_array(fx->w, 6);
        codec_w_uint(fx->w, ATP_EV_DELTA);
        codec_w_cstr(fx->w, "SKU-1");
        codec_w_cstr(fx->w, "DC1");
        codec_w_uint(fx->w, 1);
        codec_w_int(fx->w, -2);
        codec_w_cstr(fx->w, bad[i]);
        expect_err(fx, ATP_E_BAD_ID, 0);
    }
    env(fx->w, 1);
    codec_w_array(fx->w, 6);
    codec_w_uint(fx->w, ATP_EV_DELTA);
    codec_w_cstr(fx->w, "SKU-1");
    codec_w_cstr(fx->w, "DC1");
    codec_w_uint(fx->w, 1);
    codec_w_int(fx->w, -2);
    codec_w_uint(fx->w, 42);
    expect_err(fx, ATP_E_BAD_REQUEST, 0);

    ref[CODEC_REF_MAX_LEN] = '\0';
    env(fx->w, 1);
    codec_w_array(fx->w, 6);
    codec_w_uint(fx->w, ATP_EV_DELTA);
    codec_w_cstr(fx->w, "SKU-1");
    codec_w_cstr(fx->w, "DC1");
    codec_w_uint(fx->w, 1);
    codec_w_int(fx->w, -2);
    codec_w_cstr(fx->w, ref);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_int_equal(fx->m.events[0].ref.len, CODEC_REF_MAX_LEN);
    assert_int_equal(fx->m.events[0].bucket, ATP_BUCKET_ALLOCATED);
    assert_true(fx->m.events[0].value == -2);
}

/* Precheck failures surface unchanged and blame the envelope. */
static void test_src_precheck_errors(void **state)
{
    fixture *fx = *state;
    uint32_t bad = 0;
    codec_src_msg m;
    const char huge[] = "\x95\x01\xa1s\x01\x01\xdd\xff\xff\xff\xff";
    assert_int_equal(
        codec_src_decode(fx->a, huge, sizeof(huge) - 1, MAX_EVENTS, &m, &bad),
        ATP_E_TOO_LARGE);
    assert_int_equal(bad, ENVELOPE);
    assert_int_equal(
        codec_src_decode(fx->a, "\x95\x01", 2, MAX_EVENTS, &m, NULL),
        ATP_E_TOO_LARGE);
    /* an event nested 7 levels deeper than the envelope: 9 in all */
    env(fx->w, 1);
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, ATP_EV_SET);
    for (int i = 0; i < 6; i++) {
        codec_w_array(fx->w, 1);
    }
    codec_w_nil(fx->w);
    codec_w_cstr(fx->w, "DC1");
    codec_w_uint(fx->w, 0);
    codec_w_int(fx->w, 1);
    expect_err(fx, ATP_E_TOO_LARGE, ENVELOPE);
    /* trailing byte after a valid message */
    env(fx->w, 0);
    codec_w_nil(fx->w);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
}

/* The first bad event decides; the events before it were fine. */
static void test_src_first_error_wins(void **state)
{
    fixture *fx = *state;
    env(fx->w, 4);
    delta(fx->w, "A", 1);
    delta(fx->w, "B", 2);
    delta(fx->w, "", 3);
    codec_w_array(fx->w, 0);
    expect_err(fx, ATP_E_BAD_SKU, 2);
}

/* lot_head writes [kind, "A", "DC1", "PO-1", and leaves qty, eta_ms. */
static void lot_head(codec_writer *w, uint64_t kind)
{
    codec_w_array(w, 6);
    codec_w_uint(w, kind);
    codec_w_cstr(w, "A");
    codec_w_cstr(w, "DC1");
    codec_w_cstr(w, "PO-1");
}

static void lot(codec_writer *w, uint64_t kind, bool qty_signed, int64_t qty,
                uint64_t eta)
{
    lot_head(w, kind);
    if (qty_signed)
        codec_w_int(w, qty);
    else
        codec_w_uint(w, (uint64_t)qty);
    codec_w_uint(w, eta);
}

/* Issue 12, defect 1: every bound PROTOCOL.md states is enforced on every
 * field it names, and an error in one field is never masked by another
 * (a lot quantity above 10^15 used to be accepted as 0). */
static void test_src_bounds(void **state)
{
    fixture *fx = *state;
    const uint64_t kinds[] = {ATP_EV_LOT_ADD, ATP_EV_LOT_CHANGE};
    for (int k = 0; k < 2; k++) {
        const int64_t bad_qty[] = {ATP_QTY_MAX + 1, INT64_MAX, -1, INT64_MIN};
        for (int i = 0; i < 4; i++) {
            env(fx->w, 2);
            heartbeat(fx->w);
            lot(fx->w, kinds[k], true, bad_qty[i], 1700000000000ULL);
            expect_err(fx, ATP_E_BAD_QTY, 1);
        }
        env(fx->w, 1);
        lot(fx->w, kinds[k], false, (int64_t)UINT64_MAX, 1);
        expect_err(fx, ATP_E_BAD_QTY, 0);
        env(fx->w, 1);
        lot(fx->w, kinds[k], true, ATP_QTY_MAX,
            ATP_WIRE_INT_MAX); /* both at the bound */
        assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
        assert_true(fx->m.events[0].value == ATP_QTY_MAX);
        assert_true(fx->m.events[0].eta_ms == ATP_WIRE_INT_MAX);
        env(fx->w, 1);
        lot(fx->w, kinds[k], true, 0, 0);
        assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
        env(fx->w, 1);
        lot(fx->w, kinds[k], true, 5, (uint64_t)ATP_WIRE_INT_MAX + 1);
        expect_err(fx, ATP_E_BAD_QTY, 0);
        env(fx->w, 1);
        lot(fx->w, kinds[k], true, 5, (uint64_t)INT64_MAX + 1);
        expect_err(fx, ATP_E_BAD_QTY, 0);
        /* a quantity or ETA of the wrong type is bad_request */
        env(fx->w, 1);
        lot_head(fx->w, kinds[k]);
        codec_w_cstr(fx->w, "5");
        codec_w_uint(fx->w, 1);
        expect_err(fx, ATP_E_BAD_REQUEST, 0);
        env(fx->w, 1);
        lot_head(fx->w, kinds[k]);
        codec_w_uint(fx->w, 5);
        codec_w_double(fx->w, 1.5);
        expect_err(fx, ATP_E_BAD_REQUEST, 0);
    }
    /* set: -10^15..10^15, negative allowed (a signed bucket) */
    const int64_t set_value[] = {
        -ATP_QTY_MAX,    -1,       0, ATP_QTY_MAX, -ATP_QTY_MAX - 1,
        ATP_QTY_MAX + 1, INT64_MIN};
    for (int i = 0; i < 7; i++) {
        env(fx->w, 1);
        codec_w_array(fx->w, 5);
        codec_w_uint(fx->w, ATP_EV_SET);
        codec_w_cstr(fx->w, "A");
        codec_w_cstr(fx->w, "DC1");
        codec_w_uint(fx->w, ATP_BUCKET_ON_HAND);
        codec_w_int(fx->w, set_value[i]);
        if (i >= 4) {
            expect_err(fx, ATP_E_BAD_QTY, 0);
            continue;
        }
        assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
        assert_true(fx->m.events[0].value == set_value[i]);
    }
    /* envelope: seq and ts_ms 0..2^53-1 (exact in a JSON double) */
    const uint64_t big = (uint64_t)ATP_WIRE_INT_MAX + 1;
    for (int field = 2; field <= 3; field++) {
        codec_w_array(fx->w, 5);
        codec_w_uint(fx->w, 1);
        codec_w_cstr(fx->w, "wms-east");
        codec_w_uint(fx->w, field == 2 ? big : 7);
        codec_w_uint(fx->w, field == 3 ? UINT64_MAX : 7);
        codec_w_array(fx->w, 0);
        expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    }
    codec_w_array(fx->w, 5);
    codec_w_uint(fx->w, 1);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, ATP_WIRE_INT_MAX);
    codec_w_uint(fx->w, ATP_WIRE_INT_MAX);
    codec_w_array(fx->w, 0);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_true(fx->m.seq == (uint64_t)ATP_WIRE_INT_MAX);
    /* snapshot: snapshot_id, ts_ms, seq 0..2^53-1, part 0..2^32-1 */
    for (int field = 2; field <= 5; field++) {
        codec_w_array(fx->w, 8);
        codec_w_uint(fx->w, ATP_MSG_SNAPSHOT);
        codec_w_cstr(fx->w, "wms-east");
        for (int i = 2; i <= 5; i++)
            codec_w_uint(fx->w, i != field   ? 1
                                : field == 3 ? (uint64_t)UINT32_MAX + 1
                                             : big);
        codec_w_bool(fx->w, true);
        codec_w_array(fx->w, 0);
        expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    }
    codec_w_array(fx->w, 8);
    codec_w_uint(fx->w, ATP_MSG_SNAPSHOT);
    codec_w_cstr(fx->w, "wms-east");
    codec_w_uint(fx->w, ATP_WIRE_INT_MAX);
    codec_w_uint(fx->w, UINT32_MAX);
    codec_w_uint(fx->w, ATP_WIRE_INT_MAX);
    codec_w_uint(fx->w, 0);
    codec_w_bool(fx->w, false);
    codec_w_array(fx->w, 0);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_true(fx->m.part == UINT32_MAX &&
                fx->m.snapshot_id == (uint64_t)ATP_WIRE_INT_MAX);
}

/* Publisher session and MAC (docs/PROTOCOL.md, "Publisher sessions",
 * "Source keys"): optional trailing elements; the MAC must be bin 32
 * written as bin 8 and the last bytes of the message. */
static void test_src_session_and_mac(void **state)
{
    fixture *fx = *state;
    static const uint8_t mac[ATP_SRC_MAC_LEN] = {1, 2, 3};
    codec_event ev = {.kind = ATP_EV_DELTA,
                      .sku = cs("A"),
                      .location = cs("DC1"),
                      .value = 4};
    codec_src_msg m = {.source = cs("wms-east"),
                       .seq = 9,
                       .ts_ms = 5,
                       .n_events = 1,
                       .events = &ev,
                       .session = (uint64_t)ATP_WIRE_INT_MAX};
    /* a session, no MAC */
    codec_src_encode(fx->w, &m);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_true(fx->m.session == (uint64_t)ATP_WIRE_INT_MAX);
    assert_null(fx->m.mac);
    assert_int_equal(fx->m.n_events, 1);
    /* a session and a MAC: the MAC points at the message's last 32 bytes */
    m.mac = mac;
    codec_src_encode(fx->w, &m);
    codec_w_bin8(fx->w, mac, sizeof mac);
    size_t len;
    const uint8_t *buf = codec_writer_data(fx->w, &len);
    assert_int_equal(buf[len - ATP_SRC_MAC_TAIL], 0xc4);
    assert_int_equal(buf[len - ATP_SRC_MAC_TAIL + 1], ATP_SRC_MAC_LEN);
    const uint8_t *end = buf + len;
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_ptr_equal(fx->m.mac, end - ATP_SRC_MAC_LEN);
    assert_memory_equal(fx->m.mac, mac, sizeof mac);
    /* a snapshot part with both (10 elements) */
    codec_src_msg snap = m;
    snap.kind = ATP_MSG_SNAPSHOT;
    snap.events = NULL;
    snap.n_events = 0;
    snap.last = true;
    codec_src_encode(fx->w, &snap);
    codec_w_bin8(fx->w, mac, sizeof mac);
    assert_int_equal(decode(fx, MAX_EVENTS), ATP_OK);
    assert_true(fx->m.kind == ATP_MSG_SNAPSHOT && fx->m.session == m.session &&
                fx->m.mac != NULL);
    /* session 0, negative, a string, above 2^53-1: a malformed envelope */
    for (int k = 0; k < 4; k++) {
        env_head(fx->w, 6);
        if (k == 0)
            codec_w_uint(fx->w, 0);
        else if (k == 1)
            codec_w_int(fx->w, -1);
        else if (k == 2)
            codec_w_cstr(fx->w, "1");
        else
            codec_w_uint(fx->w, (uint64_t)ATP_WIRE_INT_MAX + 1);
        expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    }
    /* a MAC of 31 bytes, or a string of 32 */
    for (int k = 0; k < 2; k++) {
        codec_src_encode(fx->w, &m);
        if (k == 0)
            codec_w_bin8(fx->w, mac, 31);
        else
            codec_w_str(fx->w, (const char *)mac, 32);
        expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
    }
    /* the same 32 bytes as bin 16 (0xc5 0x00 0x20): what the MAC covers
     * would be ambiguous, so only bin 8 is a MAC */
    codec_src_encode(fx->w, &m);
    size_t blen;
    const uint8_t *body = codec_writer_data(fx->w, &blen);
    uint8_t whole[512];
    assert_true(blen + 3 + sizeof mac <= sizeof whole);
    memcpy(whole, body, blen);
    memcpy(whole + blen, "\xc5\x00\x20", 3);
    memcpy(whole + blen + 3, mac, sizeof mac);
    codec_writer_reset(fx->w);
    assert_int_equal(codec_src_decode(fx->a, whole, blen + 3 + sizeof mac,
                                      MAX_EVENTS, &fx->m, NULL),
                     ATP_E_BAD_REQUEST);
    /* a MAC without a session in front of it is no MAC: 7 elements need
     * a session at index 5 */
    env_head(fx->w, 7);
    codec_w_bin8(fx->w, mac, sizeof mac);
    codec_w_bin8(fx->w, mac, sizeof mac);
    expect_err(fx, ATP_E_BAD_REQUEST, ENVELOPE);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_src_round_trip),
        T(test_src_empty_and_heartbeats),
        T(test_src_envelope_errors),
        T(test_src_source_id),
        T(test_src_too_many_events),
        T(test_src_bad_kind),
        T(test_src_bad_arity),
        T(test_src_bad_sku),
        T(test_src_bucket_and_value),
        T(test_src_location),
        T(test_src_ref),
        T(test_src_precheck_errors),
        T(test_src_first_error_wins),
        T(test_src_bounds),
        T(test_src_session_and_mac),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
