/*
 * test_feed_state.c - unit tests of tools/atp-feed/feed_state.c: the state
 * a source has produced, and the snapshot made of it (docs/PROTOCOL.md,
 * "Full snapshots"). The central property: a snapshot's events equal the
 * sum of every generated event, as computed by a naive model here.
 * Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "feed_state.h"
#include "generator.h"

static codec_str test_s(const char *s)
{
    return (codec_str){s, (uint32_t)strlen(s)};
}

static codec_event test_ev(uint8_t kind, const char *sku, const char *loc,
                           uint8_t bucket, int64_t value)
{
    codec_event e = {0};
    e.kind = kind;
    e.sku = test_s(sku);
    e.location = test_s(loc);
    e.bucket = bucket;
    e.value = value;
    return e;
}

static codec_event test_lot(uint8_t kind, const char *sku, const char *loc,
                            const char *lot, int64_t qty, int64_t eta)
{
    codec_event e = test_ev(kind, sku, loc, 0, qty);
    e.ref = test_s(lot);
    e.eta_ms = eta;
    return e;
}

static const char *const test_on_hand[] = {"DC-1"};

static feed_state *test_state(void)
{
    feed_state *st = NULL;
    assert_int_equal(feed_state_alloc(test_on_hand, 1, &st), ATP_OK);
    return st;
}

static void test_buckets(void **state)
{
    (void)state;
    feed_state *st = test_state();
    codec_event ev[] = {
        test_ev(ATP_EV_DELTA, "A", "DC-1", ATP_BUCKET_ON_HAND, 5),
        test_ev(ATP_EV_DELTA, "A", "DC-1", ATP_BUCKET_ON_HAND, -2),
        test_ev(ATP_EV_SET, "A", "DC-1", ATP_BUCKET_HELD, 9),
        test_ev(ATP_EV_DELTA, "A", "DC-2", ATP_BUCKET_ON_HAND, 4),
        test_ev(ATP_EV_SET, "B", "DC-1", ATP_BUCKET_ON_HAND, 7),
        test_ev(ATP_EV_SET, "B", "DC-1", ATP_BUCKET_ON_HAND, 0),
        test_ev(ATP_EV_HEARTBEAT, "", "", 0, 0),
    };
    assert_int_equal(feed_state_apply(st, ev, 7), ATP_OK);
    assert_int_equal(feed_state_value(st, "A", "DC-1", ATP_BUCKET_ON_HAND), 3);
    assert_int_equal(feed_state_value(st, "A", "DC-1", ATP_BUCKET_HELD), 9);
    assert_int_equal(feed_state_value(st, "A", "DC-2", ATP_BUCKET_ON_HAND), 4);
    assert_int_equal(feed_state_value(st, "B", "DC-1", ATP_BUCKET_ON_HAND), 0);
    assert_int_equal(feed_state_value(st, "C", "DC-1", ATP_BUCKET_ON_HAND), 0);
    assert_int_equal(feed_state_positions(st), 3); /* zeros are not kept */
    /* Snapshot events: SETs of the non-zero values, sorted. */
    codec_event *out;
    size_t n;
    assert_int_equal(feed_state_events(st, &out, &n), ATP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].kind, ATP_EV_SET);
    assert_true(codec_str_eq(out[0].sku, "A") &&
                codec_str_eq(out[0].location, "DC-1"));
    assert_int_equal(out[0].bucket, ATP_BUCKET_ON_HAND);
    assert_int_equal(out[0].value, 3);
    assert_int_equal(out[1].bucket, ATP_BUCKET_HELD);
    assert_true(codec_str_eq(out[2].location, "DC-2"));
    /* Clamped like atpd. */
    codec_event big[] = {
        test_ev(ATP_EV_SET, "Z", "DC-1", ATP_BUCKET_ON_HAND, ATP_QTY_MAX),
        test_ev(ATP_EV_DELTA, "Z", "DC-1", ATP_BUCKET_ON_HAND, 5),
        test_ev(ATP_EV_SET, "Z", "DC-1", ATP_BUCKET_HELD, -ATP_QTY_MAX),
        test_ev(ATP_EV_DELTA, "Z", "DC-1", ATP_BUCKET_HELD, -ATP_QTY_MAX),
    };
    assert_int_equal(feed_state_apply(st, big, 4), ATP_OK);
    assert_int_equal(feed_state_value(st, "Z", "DC-1", ATP_BUCKET_ON_HAND),
                     ATP_QTY_MAX);
    assert_int_equal(feed_state_value(st, "Z", "DC-1", ATP_BUCKET_HELD),
                     -ATP_QTY_MAX);
    feed_state_free(st);
}

static void test_lots(void **state)
{
    (void)state;
    feed_state *st = test_state();
    int64_t q, eta;
    codec_event ev[] = {
        test_lot(ATP_EV_LOT_ADD, "A", "DC-1", "L1", 10, 1000),
        test_lot(ATP_EV_LOT_ADD, "A", "DC-2", "L1", 4,
                 2000), /* another location */
        test_lot(ATP_EV_LOT_CHANGE, "A", "DC-1", "L1", 12, 1500),
        test_lot(ATP_EV_LOT_CHANGE, "B", "DC-1", "L9", 3, 3000), /* creates */
    };
    assert_int_equal(feed_state_apply(st, ev, 4), ATP_OK);
    assert_int_equal(feed_state_lots(st), 3);
    assert_true(feed_state_lot(st, "A", "DC-1", "L1", &q, &eta));
    assert_int_equal(q, 12);
    assert_int_equal(eta, 1500);
    assert_true(feed_state_lot(st, "B", "DC-1", "L9", &q, &eta));
    /* receive at DC-1 (on_hand authority): qty into on_hand; at DC-2 not */
    codec_event rcv[] = {
        test_lot(ATP_EV_LOT_RECEIVE, "A", "DC-1", "L1", 0, 0),
        test_lot(ATP_EV_LOT_RECEIVE, "A", "DC-2", "L1", 0, 0),
        test_lot(ATP_EV_LOT_CANCEL, "B", "DC-1", "L9", 0, 0),
        test_lot(ATP_EV_LOT_RECEIVE, "A", "DC-1", "nope", 0, 0), /* unknown */
        test_lot(ATP_EV_LOT_CANCEL, "A", "DC-1", "L1", 0, 0),    /* gone */
    };
    assert_int_equal(feed_state_apply(st, rcv, 5), ATP_OK);
    assert_int_equal(feed_state_lots(st), 0);
    assert_int_equal(feed_state_value(st, "A", "DC-1", ATP_BUCKET_ON_HAND), 12);
    assert_int_equal(feed_state_value(st, "A", "DC-2", ATP_BUCKET_ON_HAND), 0);
    assert_false(feed_state_lot(st, "A", "DC-1", "L1", &q, &eta));
    /* Lots in a snapshot: LOT_ADD events after the SETs. */
    codec_event again[] = {
        test_lot(ATP_EV_LOT_ADD, "C", "DC-1", "L2", 5, 7000)};
    assert_int_equal(feed_state_apply(st, again, 1), ATP_OK);
    codec_event *out;
    size_t n;
    assert_int_equal(feed_state_events(st, &out, &n), ATP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].kind, ATP_EV_SET);
    assert_int_equal(out[1].kind, ATP_EV_LOT_ADD);
    assert_true(codec_str_eq(out[1].ref, "L2") &&
                codec_str_eq(out[1].sku, "C"));
    assert_int_equal(out[1].value, 5);
    assert_int_equal(out[1].eta_ms, 7000);
    feed_state_free(st);
}

/* ---- the snapshot equals the sum of the generated events ---------------- */

typedef struct test_kv {
    char key[160];
    int64_t a, b;
    bool live;
} test_kv;

typedef struct test_naive {
    test_kv *pos, *lots;
    size_t n_pos, n_lots, cap;
} test_naive;

static test_kv *test_naive_find(test_kv *t, size_t *n, size_t cap,
                                const char *key, bool create)
{
    for (size_t i = 0; i < *n; i++)
        if (t[i].live && strcmp(t[i].key, key) == 0)
            return &t[i];
    if (!create)
        return NULL;
    assert_true(*n < cap);
    test_kv *e = &t[(*n)++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->a = e->b = 0;
    e->live = true;
    return e;
}

static void test_naive_apply(test_naive *m, const codec_event *e,
                             const char *const *on_hand, size_t n_on_hand)
{
    char key[160];
    if (e->kind == ATP_EV_DELTA || e->kind == ATP_EV_SET) {
        snprintf(key, sizeof key, "%.*s|%.*s|%u", (int)e->sku.len, e->sku.ptr,
                 (int)e->location.len, e->location.ptr, e->bucket);
        test_kv *kv = test_naive_find(m->pos, &m->n_pos, m->cap, key, true);
        kv->a = e->kind == ATP_EV_SET ? e->value : kv->a + e->value;
        return;
    }
    if (e->kind < ATP_EV_LOT_ADD)
        return;
    snprintf(key, sizeof key, "%.*s|%.*s|%.*s", (int)e->sku.len, e->sku.ptr,
             (int)e->location.len, e->location.ptr, (int)e->ref.len,
             e->ref.ptr);
    bool upsert = e->kind == ATP_EV_LOT_ADD || e->kind == ATP_EV_LOT_CHANGE;
    test_kv *lot = test_naive_find(m->lots, &m->n_lots, m->cap, key, upsert);
    if (upsert) {
        lot->a = e->value;
        lot->b = e->eta_ms;
        return;
    }
    if (lot == NULL)
        return;
    lot->live = false;
    bool auth = false;
    for (size_t i = 0; i < n_on_hand; i++)
        auth |= codec_str_eq(e->location, on_hand[i]);
    if (e->kind == ATP_EV_LOT_RECEIVE && auth) {
        snprintf(key, sizeof key, "%.*s|%.*s|%u", (int)e->sku.len, e->sku.ptr,
                 (int)e->location.len, e->location.ptr, ATP_BUCKET_ON_HAND);
        test_naive_find(m->pos, &m->n_pos, m->cap, key, true)->a += lot->a;
    }
}

static const feed_pair test_pairs[] = {
    {"DC-1", ATP_BUCKET_ON_HAND},
    {"DC-1", ATP_BUCKET_ALLOCATED},
    {"DC-1", ATP_BUCKET_HELD},
    {"DC-2", ATP_BUCKET_ALLOCATED},
};
static const char *const test_inbound[] = {"DC-1", "DC-2"};

static void test_snapshot_is_sum(void **state)
{
    (void)state;
    feed_source_spec spec = {"wms", test_pairs, 4, test_inbound, 2};
    feed_gen_opts o = {.seed = 11,
                       .batch = 5,
                       .skus = 40,
                       .sku_prefix = "S",
                       .set_ratio = 0.05,
                       .drop = 0.1, /* faults change nothing: all are applied */
                       .start_seq = 1,
                       .lot_ratio = 0.3,
                       .lot_eta_max_ms = 10000};
    feed_gen *g = NULL;
    assert_int_equal(feed_gen_alloc(&o, &spec, 1, &g), ATP_OK);
    feed_state *st = test_state();
    test_naive m = {.cap = 20000};
    m.pos = calloc(m.cap, sizeof *m.pos);
    m.lots = calloc(m.cap, sizeof *m.lots);
    assert_non_null(m.pos);
    assert_non_null(m.lots);
    for (int i = 0; i < 2000; i++) {
        feed_gen_set_now(g, 1700000000000LL + i);
        feed_msg msg;
        if (i % 50 == 49)
            feed_gen_heartbeat(g, 0, false, &msg);
        else
            feed_gen_data(g, &msg);
        assert_int_equal(feed_state_apply(st, msg.events, msg.n_events),
                         ATP_OK);
        for (uint32_t k = 0; k < msg.n_events; k++)
            test_naive_apply(&m, &msg.events[k], test_on_hand, 1);
    }
    codec_event *out;
    size_t n;
    assert_int_equal(feed_state_events(st, &out, &n), ATP_OK);
    size_t want_pos = 0, want_lots = 0;
    for (size_t i = 0; i < m.n_pos; i++)
        want_pos += m.pos[i].a != 0;
    for (size_t i = 0; i < m.n_lots; i++)
        want_lots += m.lots[i].live;
    assert_true(want_pos > 50 && want_lots > 5);
    assert_int_equal(n, want_pos + want_lots);
    assert_int_equal(feed_state_lots(st), want_lots);
    assert_int_equal(feed_gen_open_lots(g, 0), want_lots);
    for (size_t i = 0; i < n; i++) {
        const codec_event *e = &out[i];
        char key[160];
        if (e->kind == ATP_EV_SET) {
            assert_true(i < want_pos); /* SETs first */
            snprintf(key, sizeof key, "%.*s|%.*s|%u", (int)e->sku.len,
                     e->sku.ptr, (int)e->location.len, e->location.ptr,
                     e->bucket);
            test_kv *kv = test_naive_find(m.pos, &m.n_pos, m.cap, key, false);
            assert_non_null(kv);
            assert_int_equal(e->value, kv->a);
        } else {
            assert_int_equal(e->kind, ATP_EV_LOT_ADD);
            snprintf(key, sizeof key, "%.*s|%.*s|%.*s", (int)e->sku.len,
                     e->sku.ptr, (int)e->location.len, e->location.ptr,
                     (int)e->ref.len, e->ref.ptr);
            test_kv *kv = test_naive_find(m.lots, &m.n_lots, m.cap, key, false);
            assert_non_null(kv);
            assert_int_equal(e->value, kv->a);
            assert_int_equal(e->eta_ms, kv->b);
        }
    }
    /* The same stream gives the same snapshot, event for event. */
    feed_gen *g2 = NULL;
    assert_int_equal(feed_gen_alloc(&o, &spec, 1, &g2), ATP_OK);
    feed_state *st2 = test_state();
    for (int i = 0; i < 2000; i++) {
        feed_gen_set_now(g2, 1700000000000LL + i);
        feed_msg msg;
        if (i % 50 == 49)
            feed_gen_heartbeat(g2, 0, false, &msg);
        else
            feed_gen_data(g2, &msg);
        assert_int_equal(feed_state_apply(st2, msg.events, msg.n_events),
                         ATP_OK);
    }
    codec_event *out2;
    size_t n2;
    assert_int_equal(feed_state_events(st2, &out2, &n2), ATP_OK);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out2[i].kind, out[i].kind);
        assert_int_equal(out2[i].value, out[i].value);
        assert_true(out2[i].sku.len == out[i].sku.len &&
                    memcmp(out2[i].sku.ptr, out[i].sku.ptr, out[i].sku.len) ==
                        0);
    }
    feed_state_free(st2);
    feed_gen_free(g2);
    free(m.pos);
    free(m.lots);
    feed_state_free(st);
    feed_gen_free(g);
}

/* Many keys and many removals: the table grows and deletes correctly. */
static void test_table_churn(void **state)
{
    (void)state;
    feed_state *st = test_state();
    char sku[32], lot[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(sku, sizeof sku, "K%d", i % 3000);
        snprintf(lot, sizeof lot, "L%d", i);
        codec_event e[2] = {
            test_ev(ATP_EV_DELTA, sku, "DC-1", (uint8_t)(i / 3000 % 3), 1),
            test_lot(ATP_EV_LOT_ADD, sku, "DC-2", lot, 1 + i % 7, i),
        };
        assert_int_equal(feed_state_apply(st, e, 2), ATP_OK);
        if (i % 3 != 0) { /* remove two of every three lots again */
            codec_event c = test_lot(ATP_EV_LOT_CANCEL, sku, "DC-2", lot, 0, 0);
            assert_int_equal(feed_state_apply(st, &c, 1), ATP_OK);
        }
    }
    assert_int_equal(feed_state_lots(st), 6667);
    int64_t q, eta;
    for (int i = 0; i < 20000; i++) {
        snprintf(sku, sizeof sku, "K%d", i % 3000);
        snprintf(lot, sizeof lot, "L%d", i);
        assert_int_equal(feed_state_lot(st, sku, "DC-2", lot, &q, &eta),
                         i % 3 == 0);
        if (i % 3 == 0) {
            assert_int_equal(q, 1 + i % 7);
            assert_int_equal(eta, i);
        }
    }
    /* 20000 deltas over 3000 SKUs x 3 buckets: 9000 distinct non-zero. */
    assert_int_equal(feed_state_positions(st), 9000);
    feed_state_free(st);
}

/* feed_state_clear: what atp-import --snapshot starts from. */
static void test_clear(void **state)
{
    (void)state;
    feed_state *st = test_state();
    codec_event ev[] = {
        test_ev(ATP_EV_SET, "A", "DC-1", ATP_BUCKET_ON_HAND, 5),
        test_lot(ATP_EV_LOT_ADD, "A", "DC-1", "L1", 10, 1000),
        test_lot(ATP_EV_LOT_ADD, "B", "DC-2", "L2", 3, 1000),
    };
    assert_int_equal(feed_state_apply(st, ev, 3), ATP_OK);
    feed_state_clear(st, true, false); /* values only */
    assert_int_equal(feed_state_value(st, "A", "DC-1", ATP_BUCKET_ON_HAND), 0);
    assert_int_equal(feed_state_positions(st), 0);
    assert_int_equal(feed_state_lots(st), 2);
    assert_int_equal(feed_state_apply(st, ev, 1), ATP_OK);
    feed_state_clear(st, false, true); /* lots only */
    assert_int_equal(feed_state_lots(st), 0);
    int64_t q, eta;
    assert_false(feed_state_lot(st, "B", "DC-2", "L2", &q, &eta));
    assert_int_equal(feed_state_value(st, "A", "DC-1", ATP_BUCKET_ON_HAND), 5);
    /* The lot table works after a clear. */
    assert_int_equal(feed_state_apply(st, ev + 1, 2), ATP_OK);
    assert_int_equal(feed_state_lots(st), 2);
    assert_true(feed_state_lot(st, "B", "DC-2", "L2", &q, &eta));
    feed_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_lots),
        cmocka_unit_test(test_snapshot_is_sum),
        cmocka_unit_test(test_table_churn),
        cmocka_unit_test(test_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
