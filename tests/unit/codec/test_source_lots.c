/*
 * test_source_lots.c - codec_src_decode of inbound lot events (kinds 6-9,
 * docs/PROTOCOL.md) and of snapshot envelopes: every way a field can be
 * wrong gives its documented error at the event's index, and the limits
 * are exact (quantity 0..10^15, an ETA may exceed 10^15 ms, negative
 * values of a delta down to -10^15). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

#define ENVELOPE UINT32_MAX

static codec_arena *arena;
static codec_writer *wr;
static codec_src_msg msg;

/* One batch [1, "erp", 3, ts, [ok-event, the event w wrote]]: the event
 * under test is number 1, after a valid heartbeat. */
static atp_err decode_event(void (*write)(codec_writer *w, const void *arg),
                            const void *arg, uint32_t *bad)
{
    codec_writer_reset(wr);
    codec_w_array(wr, 5);
    codec_w_uint(wr, ATP_MSG_SOURCE_BATCH);
    codec_w_cstr(wr, "erp");
    codec_w_uint(wr, 3);
    codec_w_uint(wr, 1700000000000ULL);
    codec_w_array(wr, 2);
    codec_w_array(wr, 1);
    codec_w_uint(wr, ATP_EV_HEARTBEAT);
    write(wr, arg);
    size_t len;
    const void *buf = codec_writer_data(wr, &len);
    assert_false(codec_writer_failed(wr));
    *bad = 12345;
    return codec_src_decode(arena, buf, len, 1000, &msg, bad);
}

/* A lot event: each field a string, an int, or left out (arity). */
typedef struct lot_case {
    uint64_t kind;
    int n;                       /* fields written, kind included */
    const char *sku, *loc, *lot; /* NULL: an integer 7 instead */
    bool qty_neg, eta_neg;
    uint64_t qty, eta;
    bool qty_str; /* qty written as a string */
    atp_err want;
} lot_case;

static void write_lot(codec_writer *w, const void *arg)
{
    const lot_case *c = arg;
    codec_w_array(w, (uint32_t)c->n);
    codec_w_uint(w, c->kind);
    const char *s[3] = {c->sku, c->loc, c->lot};
    for (int i = 0; i < 3 && i + 1 < c->n; i++) {
        if (s[i] != NULL)
            codec_w_cstr(w, s[i]);
        else
            codec_w_uint(w, 7);
    }
    if (c->n > 4) {
        if (c->qty_str)
            codec_w_cstr(w, "12");
        else if (c->qty_neg)
            codec_w_int(w, -(int64_t)c->qty);
        else
            codec_w_uint(w, c->qty);
    }
    if (c->n > 5) {
        if (c->eta_neg)
            codec_w_int(w, -(int64_t)c->eta);
        else
            codec_w_uint(w, c->eta);
    }
}

#define QMAX 1000000000000000ULL /* ATP_QTY_MAX */

static void test_lot_events(void **state)
{
    (void)state;
    char long_lot[ATP_RESV_ID_MAX_LEN + 2];
    memset(long_lot, 'L', sizeof long_lot - 1);
    long_lot[sizeof long_lot - 1] = '\0';
    const lot_case cases[] = {
        /* valid: add, change, receive, cancel; limits */
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, 5,
         1800000000000ULL, false, ATP_OK},
        {ATP_EV_LOT_CHANGE, 6, "A1", "DC", "PO-1", false, false, 0, 0, false,
         ATP_OK},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, QMAX, 1, false,
         ATP_OK},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, 1, QMAX + 1,
         false, ATP_OK},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, 1,
         (uint64_t)ATP_WIRE_INT_MAX, false, ATP_OK},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, 1,
         (uint64_t)ATP_WIRE_INT_MAX + 1, false, ATP_E_BAD_QTY},
        {ATP_EV_LOT_RECEIVE, 4, "A1", "DC", "PO-1", false, false, 0, 0, false,
         ATP_OK},
        {ATP_EV_LOT_CANCEL, 4, "A1", "DC", "PO-1", false, false, 0, 0, false,
         ATP_OK},
        /* arity */
        {ATP_EV_LOT_ADD, 5, "A1", "DC", "PO-1", false, false, 5, 0, false,
         ATP_E_BAD_EVENT},
        {ATP_EV_LOT_RECEIVE, 6, "A1", "DC", "PO-1", false, false, 5, 5, false,
         ATP_E_BAD_EVENT},
        /* fields */
        {ATP_EV_LOT_ADD, 6, NULL, "DC", "PO-1", false, false, 5, 5, false,
         ATP_E_BAD_REQUEST},
        {ATP_EV_LOT_ADD, 6, "", "DC", "PO-1", false, false, 5, 5, false,
         ATP_E_BAD_SKU},
        {ATP_EV_LOT_ADD, 6, "A1", NULL, "PO-1", false, false, 5, 5, false,
         ATP_E_BAD_REQUEST},
        {ATP_EV_LOT_ADD, 6, "A1", "", "PO-1", false, false, 5, 5, false,
         ATP_E_BAD_REQUEST},
        {ATP_EV_LOT_CANCEL, 4, "A1", "DC", NULL, false, false, 0, 0, false,
         ATP_E_BAD_REQUEST},
        {ATP_EV_LOT_CANCEL, 4, "A1", "DC", "", false, false, 0, 0, false,
         ATP_E_BAD_ID},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", long_lot, false, false, 5, 5, false,
         ATP_E_BAD_ID},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO\x01", false, false, 5, 5, false,
         ATP_E_BAD_ID},
        /* quantities and ETAs */
        /* (A quantity above 10^15 is issue 12's defect 1, fixed and tested
         * with it.) */
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", true, false, 1, 5, false,
         ATP_E_BAD_QTY},
        {ATP_EV_LOT_CHANGE, 6, "A1", "DC", "PO-1", false, true, 1, 5, false,
         ATP_E_BAD_QTY},
        {ATP_EV_LOT_ADD, 6, "A1", "DC", "PO-1", false, false, 0, 5, true,
         ATP_E_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t bad;
        atp_err err = decode_event(write_lot, &cases[i], &bad);
        if (err != cases[i].want || (err != ATP_OK && bad != 1))
            fail_msg("case %zu: got %s at event %u, want %s at event 1", i,
                     atp_err_name(err), bad, atp_err_name(cases[i].want));
        if (err == ATP_OK && cases[i].n == 6) {
            assert_int_equal(msg.events[1].value, (int64_t)cases[i].qty);
            assert_int_equal(msg.events[1].eta_ms, (int64_t)cases[i].eta);
        }
    }
}

/* A delta down to -10^15 is valid, below is bad_qty. */
typedef struct delta_case {
    int64_t v;
    atp_err want;
} delta_case;

static void write_delta(codec_writer *w, const void *arg)
{
    const delta_case *c = arg;
    codec_w_array(w, 5);
    codec_w_uint(w, ATP_EV_DELTA);
    codec_w_cstr(w, "A1");
    codec_w_cstr(w, "DC");
    codec_w_uint(w, ATP_BUCKET_ON_HAND);
    codec_w_int(w, c->v);
}

static void test_negative_delta(void **state)
{
    (void)state;
    const delta_case cases[] = {{-(int64_t)QMAX, ATP_OK},
                                {-(int64_t)QMAX - 1, ATP_E_BAD_QTY},
                                {INT64_MIN, ATP_E_BAD_QTY},
                                {-1, ATP_OK}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t bad;
        atp_err err = decode_event(write_delta, &cases[i], &bad);
        if (err != cases[i].want)
            fail_msg("delta %lld: got %s, want %s", (long long)cases[i].v,
                     atp_err_name(err), atp_err_name(cases[i].want));
        if (err == ATP_OK)
            assert_int_equal(msg.events[1].value, cases[i].v);
    }
}

/* Snapshot envelopes: [2, source, snapshot_id, part, ts, seq, last, events]. */
static atp_err decode_snapshot(int bad_field)
{
    codec_writer_reset(wr);
    codec_w_array(wr, 8);
    codec_w_uint(wr, ATP_MSG_SNAPSHOT);
    codec_w_cstr(wr, "erp");
    for (int i = 2; i <= 5; i++) {
        if (i == bad_field)
            codec_w_int(wr, -1);
        else if (i == 3 && bad_field == 33)
            codec_w_uint(wr, (uint64_t)UINT32_MAX + 1); /* part too large */
        else
            codec_w_uint(wr, 1);
    }
    if (bad_field == 6)
        codec_w_uint(wr, 1);
    else
        codec_w_bool(wr, true);
    codec_w_array(wr, 0);
    size_t len;
    const void *buf = codec_writer_data(wr, &len);
    uint32_t bad;
    return codec_src_decode(arena, buf, len, 1000, &msg, &bad);
}

static void test_snapshot_envelope(void **state)
{
    (void)state;
    assert_int_equal(decode_snapshot(0), ATP_OK);
    assert_int_equal(msg.kind, ATP_MSG_SNAPSHOT);
    assert_true(msg.last);
    static const int bad[] = {2, 3, 4, 5, 6, 33};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (decode_snapshot(bad[i]) != ATP_E_BAD_REQUEST)
            fail_msg("snapshot field %d wrong: not bad_request", bad[i]);
}

static int setup(void **state)
{
    (void)state;
    arena = codec_arena_alloc();
    wr = codec_writer_alloc(NULL, NULL);
    return arena != NULL && wr != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    codec_arena_free(arena);
    codec_writer_free(wr);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lot_events),
        cmocka_unit_test(test_negative_delta),
        cmocka_unit_test(test_snapshot_envelope),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
