/*
 * test_generator.c - unit tests of tools/atp-feed/generator.c: determinism,
 * events inside the authority, fault rates and rules, and the schedule.
 * Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "generator.h"

static const feed_pair test_pairs_a[] = {
    {"DC-NJ", ATP_BUCKET_ON_HAND},
    {"DC-NJ", ATP_BUCKET_HELD},
    {"ST-NYC", ATP_BUCKET_ALLOCATED},
};
static const feed_pair test_pairs_b[] = {{"3PL-ATL", ATP_BUCKET_ON_HAND}};
static const feed_source_spec test_srcs[] = {
    {"wms-east", test_pairs_a, 3, NULL, 0},
    {"3pl-acme", test_pairs_b, 1, NULL, 0},
};

/* Lots: wms-east also has inbound at DC-NJ and ST-NYC; "asn" only inbound. */
static const char *const test_inbound_a[] = {"DC-NJ", "ST-NYC"};
static const char *const test_inbound_c[] = {"DC-PA"};
static const feed_source_spec test_lot_srcs[] = {
    {"wms-east", test_pairs_a, 3, test_inbound_a, 2},
    {"3pl-acme", test_pairs_b, 1, NULL, 0},
    {"asn", NULL, 0, test_inbound_c, 1},
};

static feed_gen_opts test_opts(void)
{
    feed_gen_opts o = {
        .seed = 7,
        .batch = 4,
        .skus = 100,
        .sku_prefix = "SKU-",
        .set_ratio = 0.05,
        .start_seq = 1,
    };
    return o;
}

static feed_gen *test_gen(const feed_gen_opts *o)
{
    feed_gen *g = NULL;
    assert_int_equal(feed_gen_alloc(o, test_srcs, 2, &g), ATP_OK);
    return g;
}

/* test_str_of renders a message as text, to compare runs. */
static void test_str_of(const feed_msg *m, char *buf, size_t n)
{
    int pos = snprintf(buf, n, "%s/%llu/%d%u%d:", m->source_id,
                       (unsigned long long)m->seq, m->dropped, m->copies,
                       m->reordered);
    for (uint32_t i = 0; i < m->n_events && pos < (int)n; i++) {
        const codec_event *e = &m->events[i];
        pos +=
            snprintf(buf + pos, n - (size_t)pos, " %u,%.*s,%.*s,%u,%lld",
                     e->kind, (int)e->sku.len, e->sku.ptr, (int)e->location.len,
                     e->location.ptr, e->bucket, (long long)e->value);
    }
}

static void test_rng_basics(void **state)
{
    (void)state;
    feed_rng a, b;
    feed_rng_seed(&a, 1);
    feed_rng_seed(&b, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(feed_rng_next(&a), feed_rng_next(&b));
    feed_rng_seed(&b, 2);
    assert_int_not_equal(feed_rng_next(&a), feed_rng_next(&b));
    for (int i = 0; i < 10000; i++) {
        assert_true(feed_rng_below(&a, 7) < 7);
        assert_int_equal(feed_rng_below(&a, 1), 0);
        double u = feed_rng_unit(&a);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    o.drop = o.dup = o.reorder = 0.1;
    feed_gen *g1 = test_gen(&o), *g2 = test_gen(&o);
    char s1[512], s2[512];
    feed_msg m1, m2;
    for (int i = 0; i < 2000; i++) {
        if (i % 50 == 49) {
            feed_gen_heartbeat(g1, (size_t)i % 2, false, &m1);
            feed_gen_heartbeat(g2, (size_t)i % 2, false, &m2);
        } else {
            feed_gen_data(g1, &m1);
            feed_gen_data(g2, &m2);
        }
        test_str_of(&m1, s1, sizeof s1);
        test_str_of(&m2, s2, sizeof s2);
        assert_string_equal(s1, s2);
    }
    feed_gen_free(g1);
    feed_gen_free(g2);
    /* Another seed gives another stream. */
    o.seed = 8;
    g1 = test_gen(&o);
    o.seed = 7;
    g2 = test_gen(&o);
    feed_gen_data(g1, &m1);
    test_str_of(&m1, s1, sizeof s1);
    feed_gen_data(g2, &m2);
    test_str_of(&m2, s2, sizeof s2);
    assert_string_not_equal(s1, s2);
    feed_gen_free(g1);
    feed_gen_free(g2);
}

static void test_faults_do_not_change_events(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    feed_gen *clean = test_gen(&o);
    o.drop = 0.3;
    o.dup = 0.3;
    o.reorder = 0.3;
    feed_gen *faulty = test_gen(&o);
    feed_msg a, b;
    for (int i = 0; i < 500; i++) {
        feed_gen_data(clean, &a);
        feed_gen_data(faulty, &b);
        assert_int_equal(a.seq, b.seq);
        assert_int_equal(a.n_events, b.n_events);
        for (uint32_t k = 0; k < a.n_events; k++) {
            assert_int_equal(a.events[k].kind, b.events[k].kind);
            assert_int_equal(a.events[k].value, b.events[k].value);
            assert_int_equal(a.events[k].sku.len, b.events[k].sku.len);
            assert_memory_equal(a.events[k].sku.ptr, b.events[k].sku.ptr,
                                a.events[k].sku.len);
        }
    }
    feed_gen_free(clean);
    feed_gen_free(faulty);
}

static void test_events_inside_authority(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    o.set_ratio = 0.2;
    feed_gen *g = test_gen(&o);
    uint64_t next_seq[2] = {1, 1};
    unsigned hot = 0, total = 0, sets = 0;
    feed_msg m;
    for (int i = 0; i < 4000; i++) {
        feed_gen_data(g, &m);
        /* Round robin over the two sources, each with its own seq. */
        assert_int_equal(m.source, (size_t)i % 2);
        assert_int_equal(m.seq, next_seq[m.source]++);
        assert_int_equal(m.n_events, o.batch);
        const feed_source_spec *spec = &test_srcs[m.source];
        for (uint32_t k = 0; k < m.n_events; k++) {
            const codec_event *e = &m.events[k];
            bool found = false;
            for (size_t p = 0; p < spec->n_pairs; p++)
                found = found ||
                        (e->bucket == spec->pairs[p].bucket &&
                         e->location.len == strlen(spec->pairs[p].location) &&
                         memcmp(e->location.ptr, spec->pairs[p].location,
                                e->location.len) == 0);
            assert_true(found);
            assert_true(e->sku.len > 4 && e->sku.len <= ATP_SKU_MAX_LEN);
            assert_memory_equal(e->sku.ptr, "SKU-", 4);
            char num[32];
            snprintf(num, sizeof num, "%.*s", (int)e->sku.len - 4,
                     e->sku.ptr + 4);
            long n = strtol(num, NULL, 10);
            assert_true(n >= 0 && n < 100);
            hot += n < 20;
            total++;
            if (e->kind == ATP_EV_SET) {
                sets++;
                assert_true(e->value >= 0 && e->value <= 500);
            } else {
                assert_int_equal(e->kind, ATP_EV_DELTA);
                assert_true(e->value != 0);
                if (e->bucket == ATP_BUCKET_ON_HAND)
                    assert_true(e->value >= -5 && e->value <= 20);
                else
                    assert_true(e->value >= -5 && e->value <= 5);
            }
        }
    }
    /* 80% of picks go to the hot fifth (statistical, wide margins). */
    assert_true(hot > total * 75 / 100 && hot < total * 85 / 100);
    assert_true(sets > total * 15 / 100 && sets < total * 25 / 100);
    feed_gen_free(g);
}

static void test_fault_rates_and_rules(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    o.drop = 0.1;
    o.dup = 0.1;
    o.reorder = 0.1;
    feed_gen *g = test_gen(&o);
    unsigned dropped = 0, dups = 0, reordered = 0, n = 20000;
    bool prev_reordered[2] = {false, false};
    feed_msg m;
    for (unsigned i = 0; i < n; i++) {
        feed_gen_data(g, &m);
        if (m.dropped) {
            dropped++;
            assert_int_equal(m.copies, 0);
            assert_false(m.reordered);
        } else {
            assert_true(m.copies == 1 || m.copies == 2);
            dups += m.copies == 2;
        }
        /* The message after a held one releases it: never held itself. */
        if (prev_reordered[m.source])
            assert_false(m.reordered);
        reordered += m.reordered;
        prev_reordered[m.source] = m.reordered;
    }
    assert_true(dropped > n * 8 / 100 && dropped < n * 12 / 100);
    assert_true(dups > n * 7 / 100 && dups < n * 11 / 100);
    assert_true(reordered > n * 6 / 100 && reordered < n * 10 / 100);
    /* The final heartbeat is clean even with every fault at 1. */
    feed_gen_free(g);
    o.drop = 1.0;
    o.dup = 1.0;
    o.reorder = 1.0;
    g = test_gen(&o);
    /* The first message of a source is never lost nor late. */
    feed_gen_data(g, &m);
    assert_int_equal(m.seq, 1);
    assert_false(m.dropped);
    assert_false(m.reordered);
    assert_int_equal(m.copies, 2);
    feed_gen_heartbeat(g, 0, false, &m);
    assert_int_equal(m.seq, 2);
    assert_true(m.dropped);
    feed_gen_heartbeat(g, 0, true, &m);
    assert_true(m.heartbeat && m.final);
    assert_false(m.dropped);
    assert_false(m.reordered);
    assert_int_equal(m.copies, 1);
    assert_int_equal(m.seq, 3);
    assert_int_equal(m.n_events, 1);
    assert_int_equal(m.events[0].kind, ATP_EV_HEARTBEAT);
    /* A finished source gets no more data. */
    for (int i = 0; i < 5; i++) {
        feed_gen_data(g, &m);
        assert_int_equal(m.source, 1);
    }
    feed_gen_free(g);
}

static void test_alloc_rejects_bad_options(void **state)
{
    (void)state;
    feed_gen *g = NULL;
    feed_gen_opts o = test_opts();
    o.batch = 0;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &g), ATP_E_BAD_REQUEST);
    o = test_opts();
    o.drop = 1.5;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &g), ATP_E_BAD_REQUEST);
    o = test_opts();
    /* 62 bytes of prefix + "99" fits 64; + "100" would not. */
    char prefix[63];
    memset(prefix, 'P', 62);
    prefix[62] = '\0';
    o.sku_prefix = prefix;
    o.skus = 100;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &g), ATP_OK);
    feed_gen_free(g);
    o.skus = 101;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &g), ATP_E_BAD_REQUEST);
    o = test_opts();
    feed_source_spec empty = {"nothing", NULL, 0, NULL, 0};
    assert_int_equal(feed_gen_alloc(&o, &empty, 1, &g), ATP_E_BAD_REQUEST);
    o.lot_ratio = 1.01;
    assert_int_equal(feed_gen_alloc(&o, test_lot_srcs, 3, &g),
                     ATP_E_BAD_REQUEST);
    o = test_opts();
    o.lot_eta_max_ms = -1;
    assert_int_equal(feed_gen_alloc(&o, test_lot_srcs, 3, &g),
                     ATP_E_BAD_REQUEST);
    o = test_opts();
    assert_int_equal(feed_gen_alloc(&o, &empty, 1, &g), ATP_E_BAD_REQUEST);
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 0, &g), ATP_E_BAD_REQUEST);
}

static void test_start_seq(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    o.start_seq = 1000;
    feed_gen *g = test_gen(&o);
    feed_msg m;
    feed_gen_data(g, &m);
    assert_int_equal(m.seq, 1000);
    feed_gen_heartbeat(g, 0, false, &m);
    assert_int_equal(m.seq, 1001);
    assert_int_equal(feed_gen_next_seq(g, 0), 1002);
    assert_int_equal(feed_gen_next_seq(g, 1), 1000);
    feed_gen_free(g);
    /* issue 13: every seq stays within atpd's 2^53-1, so a start above
     * half of it is refused */
    feed_gen *big = NULL;
    o.start_seq = (uint64_t)ATP_WIRE_INT_MAX / 2;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &big), ATP_OK);
    feed_gen_free(big);
    o.start_seq = (uint64_t)ATP_WIRE_INT_MAX / 2 + 1;
    assert_int_equal(feed_gen_alloc(&o, test_srcs, 2, &big), ATP_E_BAD_REQUEST);
}

/* ---- schedule ----------------------------------------------------------- */

static void test_sched_rate(void **state)
{
    (void)state;
    feed_sched s;
    feed_sched_opts o = {
        .rate = 10, .heartbeat_ms = 1000, .messages = 25, .n_sources = 2};
    assert_int_equal(feed_sched_init(&s, &o), ATP_OK);
    feed_item it;
    unsigned data = 0, hb = 0;
    int64_t last = 0;
    for (int i = 0; i < 100; i++) {
        feed_sched_next(&s, 0, &it);
        if (it.kind == FEED_ITEM_END)
            break;
        assert_true(it.t_ns >= last); /* never goes back in time */
        last = it.t_ns;
        if (it.kind == FEED_ITEM_DATA) {
            assert_int_equal(it.t_ns, (int64_t)data * 100000000LL);
            data++;
        } else {
            /* Ticks at 1 s and 2 s, one per source, after the data due at
             * the same instant (a tie goes to data). */
            assert_int_equal(it.t_ns, (int64_t)(hb / 2 + 1) * 1000000000LL);
            assert_int_equal(it.source, hb % 2);
            assert_int_equal(data, (hb / 2 + 1) * 10 + 1);
            hb++;
        }
    }
    assert_int_equal(it.kind, FEED_ITEM_END);
    assert_int_equal(data, 25);
    assert_int_equal(hb, 4);
    feed_sched_next(&s, 0, &it);
    assert_int_equal(it.kind, FEED_ITEM_END); /* sticky */
}

static void test_sched_duration(void **state)
{
    (void)state;
    feed_sched s;
    /* 2 messages per second for 3.5 s: data at 0, 0.5 .. 3.0 s (7), ticks at
     * 1, 2 and 3 s. */
    feed_sched_opts o = {
        .rate = 2, .heartbeat_ms = 1000, .duration_ms = 3500, .n_sources = 1};
    assert_int_equal(feed_sched_init(&s, &o), ATP_OK);
    feed_item it;
    unsigned data = 0, hb = 0;
    for (int i = 0; i < 100; i++) {
        feed_sched_next(&s, 0, &it);
        if (it.kind == FEED_ITEM_END)
            break;
        data += it.kind == FEED_ITEM_DATA;
        hb += it.kind == FEED_ITEM_HEARTBEAT;
        assert_true(it.t_ns < 3500000000LL);
    }
    assert_int_equal(data, 7);
    assert_int_equal(hb, 3);
    /* A slow rate with a duration: heartbeats fill the time after the data. */
    o.rate = 0.1;
    o.duration_ms = 5000;
    assert_int_equal(feed_sched_init(&s, &o), ATP_OK);
    data = hb = 0;
    for (int i = 0; i < 100; i++) {
        feed_sched_next(&s, 0, &it);
        if (it.kind == FEED_ITEM_END)
            break;
        data += it.kind == FEED_ITEM_DATA;
        hb += it.kind == FEED_ITEM_HEARTBEAT;
    }
    assert_int_equal(data, 1);
    assert_int_equal(hb, 4);
}

static void test_sched_fast(void **state)
{
    (void)state;
    feed_sched s;
    feed_sched_opts o = {
        .rate = 0, .heartbeat_ms = 1000, .messages = 10, .n_sources = 2};
    assert_int_equal(feed_sched_init(&s, &o), ATP_OK);
    feed_item it;
    feed_sched_next(&s, 0, &it);
    assert_int_equal(it.kind, FEED_ITEM_DATA);
    /* 3.5 s later (a stall): one tick for each source, not three. */
    feed_sched_next(&s, 3500000000LL, &it);
    assert_int_equal(it.kind, FEED_ITEM_HEARTBEAT);
    assert_int_equal(it.source, 0);
    assert_int_equal(it.t_ns, 3000000000LL);
    feed_sched_next(&s, 3500000000LL, &it);
    assert_int_equal(it.kind, FEED_ITEM_HEARTBEAT);
    assert_int_equal(it.source, 1);
    unsigned data = 1;
    for (int i = 0; i < 100; i++) {
        feed_sched_next(&s, 3600000000LL, &it);
        if (it.kind == FEED_ITEM_END)
            break;
        assert_int_equal(it.kind, FEED_ITEM_DATA);
        data++;
    }
    assert_int_equal(data, 10);
    /* Duration on the real clock. */
    o.messages = 0;
    o.duration_ms = 100;
    assert_int_equal(feed_sched_init(&s, &o), ATP_OK);
    feed_sched_next(&s, 99000000LL, &it);
    assert_int_equal(it.kind, FEED_ITEM_DATA);
    feed_sched_next(&s, 100000000LL, &it);
    assert_int_equal(it.kind, FEED_ITEM_END);
}

static void test_sched_rejects_unbounded(void **state)
{
    (void)state;
    feed_sched s;
    feed_sched_opts o = {.rate = 10, .heartbeat_ms = 1000, .n_sources = 1};
    assert_int_equal(feed_sched_init(&s, &o), ATP_E_BAD_REQUEST);
    o.messages = 1;
    o.rate = -1;
    assert_int_equal(feed_sched_init(&s, &o), ATP_E_BAD_REQUEST);
}

/* With lot_ratio 0 a source with inbound authority generates exactly the
 * stream it would without (no extra draws); a source with only inbound
 * authority sends lot events only. */
static void test_lots_off_same_stream(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    feed_gen *a = test_gen(&o);
    feed_gen *b = NULL;
    assert_int_equal(feed_gen_alloc(&o, test_lot_srcs, 2, &b), ATP_OK);
    char sa[4096], sb[4096];
    for (int i = 0; i < 500; i++) {
        feed_msg ma, mb;
        feed_gen_data(a, &ma);
        test_str_of(&ma, sa, sizeof sa);
        feed_gen_data(b, &mb);
        test_str_of(&mb, sb, sizeof sb);
        assert_string_equal(sa, sb);
    }
    feed_gen_free(a);
    feed_gen_free(b);
}

/* Every lot event is valid for PROTOCOL.md and meaningful: adds use new ids
 * at inbound locations with qty 1..FEED_LOT_QTY_MAX and eta in
 * [now, now + max]; change / receive / cancel name an open lot (same SKU
 * and location); the generator's open-lot count matches. */
static void test_lot_events_valid(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    o.lot_ratio = 0.5;
    o.lot_eta_max_ms = 10000;
    feed_gen *g = NULL;
    assert_int_equal(feed_gen_alloc(&o, test_lot_srcs, 3, &g), ATP_OK);
    enum { MAX_OPEN = 4096 };
    struct {
        char src[16], sku[70], loc[16], lot[FEED_LOT_ID_MAX];
    } *open = calloc(3 * MAX_OPEN, sizeof *open);
    assert_non_null(open);
    size_t n_open = 0;
    size_t kinds[10] = {0};
    int64_t now = 1700000000000LL;
    for (int i = 0; i < 3000; i++) {
        now += 7;
        feed_gen_set_now(g, now);
        feed_msg m;
        feed_gen_data(g, &m);
        const feed_source_spec *sp = &test_lot_srcs[m.source];
        for (uint32_t k = 0; k < m.n_events; k++) {
            const codec_event *e = &m.events[k];
            kinds[e->kind]++;
            if (e->kind < ATP_EV_LOT_ADD) {
                assert_true(sp->n_pairs > 0);
                continue;
            }
            bool inbound = false;
            for (size_t j = 0; j < sp->n_inbound; j++)
                inbound |= codec_str_eq(e->location, sp->inbound[j]);
            assert_true(inbound);
            assert_true(e->ref.len > 0 && e->ref.len < FEED_LOT_ID_MAX);
            size_t f = n_open;
            for (size_t j = 0; j < n_open; j++)
                if (strcmp(open[j].src, m.source_id) == 0 &&
                    codec_str_eq(e->ref, open[j].lot))
                    f = j;
            if (e->kind == ATP_EV_LOT_ADD) {
                assert_int_equal(f, n_open); /* a new id */
                assert_true(n_open < 3 * MAX_OPEN);
                snprintf(open[n_open].src, sizeof open[0].src, "%s",
                         m.source_id);
                snprintf(open[n_open].sku, sizeof open[0].sku, "%.*s",
                         (int)e->sku.len, e->sku.ptr);
                snprintf(open[n_open].loc, sizeof open[0].loc, "%.*s",
                         (int)e->location.len, e->location.ptr);
                snprintf(open[n_open].lot, sizeof open[0].lot, "%.*s",
                         (int)e->ref.len, e->ref.ptr);
                n_open++;
            } else {
                assert_true(f < n_open); /* an open lot, same SKU / location */
                assert_true(codec_str_eq(e->sku, open[f].sku));
                assert_true(codec_str_eq(e->location, open[f].loc));
                if (e->kind == ATP_EV_LOT_RECEIVE ||
                    e->kind == ATP_EV_LOT_CANCEL)
                    open[f] = open[--n_open];
            }
            if (e->kind == ATP_EV_LOT_ADD || e->kind == ATP_EV_LOT_CHANGE) {
                assert_true(e->value >= 1 && e->value <= FEED_LOT_QTY_MAX);
                assert_true(e->eta_ms >= now && e->eta_ms <= now + 10000);
            }
        }
    }
    size_t gen_open = 0;
    for (size_t s = 0; s < 3; s++)
        gen_open += feed_gen_open_lots(g, s);
    assert_int_equal(gen_open, n_open);
    /* Every kind shows up; about half of wms-east's events are lots. */
    for (int k = ATP_EV_LOT_ADD; k <= ATP_EV_LOT_CANCEL; k++)
        assert_true(kinds[k] > 50);
    assert_true(kinds[ATP_EV_DELTA] > 1000);
    feed_gen_free(g);
    free(open);
}

static void test_inbound_only_source(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts(); /* lot_ratio 0: still lots for "asn" */
    feed_gen *g = NULL;
    assert_int_equal(feed_gen_alloc(&o, &test_lot_srcs[2], 1, &g), ATP_OK);
    for (int i = 0; i < 200; i++) {
        feed_msg m;
        feed_gen_data(g, &m);
        for (uint32_t k = 0; k < m.n_events; k++) {
            assert_true(m.events[k].kind >= ATP_EV_LOT_ADD);
            assert_true(codec_str_eq(m.events[k].location, "DC-PA"));
        }
    }
    feed_gen_free(g);
}

static void test_peek_source(void **state)
{
    (void)state;
    feed_gen_opts o = test_opts();
    feed_gen *g = test_gen(&o);
    feed_msg m;
    feed_gen_heartbeat(g, 0, true, &m); /* wms-east finished: skipped */
    for (int i = 0; i < 10; i++) {
        size_t want = feed_gen_peek_source(g);
        feed_gen_data(g, &m);
        assert_int_equal(m.source, want);
        assert_int_equal(m.source, 1);
    }
    feed_gen_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_basics),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_faults_do_not_change_events),
        cmocka_unit_test(test_events_inside_authority),
        cmocka_unit_test(test_fault_rates_and_rules),
        cmocka_unit_test(test_alloc_rejects_bad_options),
        cmocka_unit_test(test_start_seq),
        cmocka_unit_test(test_sched_rate),
        cmocka_unit_test(test_sched_duration),
        cmocka_unit_test(test_sched_fast),
        cmocka_unit_test(test_sched_rejects_unbounded),
        cmocka_unit_test(test_lots_off_same_stream),
        cmocka_unit_test(test_lot_events_valid),
        cmocka_unit_test(test_inbound_only_source),
        cmocka_unit_test(test_peek_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
