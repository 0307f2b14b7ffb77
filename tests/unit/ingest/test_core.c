/*
 * test_core.c - the nng-free message path of ingest (src/ingest/core.h),
 * driven with encoded source messages and hooks that record the batches it
 * hands on: events resolved to location indexes, a message naming an
 * unknown location or a location outside its source's authority rejected
 * whole (counted, handed on empty so that its seq is consumed), a full
 * snapshot assembled from its parts into one batch, a snapshot with a
 * missing part abandoned, an unknown source dropped. Single-threaded: the
 * hooks release each batch at once, as the engine thread would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "config/config.h"
#include "ingest/core.h"
#include "sources/sources.h"

static const char test_config[] =
    "regions: [{id: east}, {id: west}]\n"
    "locations:\n"
    "  - {id: DC-NJ, region: east}\n"
    "  - {id: DC-PA, region: east}\n"
    "  - {id: DC-CA, region: west}\n"
    "sources:\n"
    "  - id: wms-east\n"
    "    authority: [{locations: [DC-NJ, DC-PA]}]\n"
    "  - id: wms-west\n"
    "    authority: [{locations: [DC-CA], buckets: [on_hand]}]\n";

enum { WMS_EAST = 0, WMS_WEST = 1, DC_NJ = 0, DC_PA = 1, DC_CA = 2 };

/* One batch as the core handed it on. */
typedef struct seen_batch {
    uint32_t source, n;
    uint64_t seq;
    bool replace_authority;
    engine_event events[16];
} seen_batch;

typedef struct fixture {
    config cfg;
    sources *src;
    ingest_core *core;
    codec_writer *w;
    seen_batch seen[16];
    size_t n_seen;
    size_t msgs_live; /* transport messages not freed yet */
    int64_t now;      /* the injected clock: no test here waits on time */
} fixture;

static atp_err fx_submit(void *ctx, const engine_batch *b)
{
    fixture *fx = ctx;
    assert_true(fx->n_seen < 16);
    assert_true(b->n <= 16);
    seen_batch *s = &fx->seen[fx->n_seen++];
    *s = (seen_batch){b->source, b->n, b->seq, b->replace_authority, {{0}}};
    /* Copied before the release: the SKUs point into the message, which
     * the release frees; the tests read only the other fields. */
    if (b->n > 0) /* a rejected message comes with no events at all */
        memcpy(s->events, b->events, b->n * sizeof *b->events);
    b->release(b->owner, true);
    return ATP_OK;
}

static void fx_msg_free(void *msg)
{
    fixture **fx = msg;
    (*fx)->msgs_live--;
    free(msg);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    config_diags d;
    assert_int_equal(
        config_load_string(test_config, strlen(test_config), &fx->cfg, &d),
        ATP_OK);
    config_diags_fini(&d);
    assert_int_equal(sources_alloc(&fx->cfg, &fx->src), ATP_OK);
    ingest_hooks hooks = {fx_submit, NULL, fx_msg_free, fx};
    assert_int_equal(ingest_core_alloc(&fx->cfg, fx->src, &hooks, &fx->core),
                     ATP_OK);
    fx->w = codec_writer_alloc(NULL, NULL);
    assert_non_null(fx->w);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    ingest_core_free(fx->core);
    assert_int_equal(fx->msgs_live, 0); /* every message freed, once */
    sources_free(fx->src);
    codec_writer_free(fx->w);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

static codec_str str_of(const char *s)
{
    return (codec_str){s, (uint32_t)strlen(s)};
}

static codec_event ev_set(const char *sku, const char *loc, uint8_t bucket,
                          int64_t v)
{
    return (codec_event){.kind = ATP_EV_SET,
                         .bucket = bucket,
                         .sku = str_of(sku),
                         .location = str_of(loc),
                         .value = v};
}

/* fx_send encodes m and gives it to the core as a transport message: a
 * heap block that starts with the fixture (for fx_msg_free), then the
 * bytes. */
static void fx_send(fixture *fx, const codec_src_msg *m)
{
    codec_writer_reset(fx->w);
    codec_src_encode(fx->w, m);
    assert_false(codec_writer_failed(fx->w));
    size_t len;
    const void *data = codec_writer_data(fx->w, &len);
    char *msg = malloc(sizeof fx + len);
    assert_non_null(msg);
    memcpy(msg, &fx, sizeof fx);
    memcpy(msg + sizeof fx, data, len);
    fx->msgs_live++;
    ingest_core_receive(fx->core, msg, msg + sizeof fx, len, fx->now);
}

static void fx_batch(fixture *fx, const char *source, uint64_t seq,
                     const codec_event *evs, uint32_t n)
{
    codec_src_msg m = {.source = str_of(source),
                       .seq = seq,
                       .ts_ms = 1700000000000,
                       .n_events = n,
                       .events = (codec_event *)evs,
                       .kind = ATP_MSG_SOURCE_BATCH};
    fx_send(fx, &m);
}

static void fx_part(fixture *fx, const char *source, uint64_t snap_id,
                    uint32_t part, bool last, uint64_t seq,
                    const codec_event *evs, uint32_t n)
{
    codec_src_msg m = {.source = str_of(source),
                       .seq = seq,
                       .ts_ms = 1700000000000,
                       .n_events = n,
                       .events = (codec_event *)evs,
                       .kind = ATP_MSG_SNAPSHOT,
                       .snapshot_id = snap_id,
                       .part = part,
                       .last = last};
    fx_send(fx, &m);
}

static sources_status fx_status(fixture *fx, uint32_t src)
{
    sources_status st;
    sources_status_get(fx->src, src, 0, &st);
    return st;
}

/* Events are handed on with their location's index in the configuration. */
static void test_resolved(void **state)
{
    fixture *fx = *state;
    codec_event evs[] = {ev_set("A1", "DC-PA", ATP_BUCKET_ON_HAND, 7),
                         ev_set("A1", "DC-NJ", ATP_BUCKET_HELD, 2)};
    fx_batch(fx, "wms-east", 1, evs, 2);
    assert_int_equal(fx->n_seen, 1);
    assert_int_equal(fx->seen[0].source, WMS_EAST);
    assert_int_equal(fx->seen[0].seq, 1);
    assert_int_equal(fx->seen[0].n, 2);
    assert_false(fx->seen[0].replace_authority);
    assert_int_equal(fx->seen[0].events[0].location, DC_PA);
    assert_int_equal(fx->seen[0].events[0].value, 7);
    assert_int_equal(fx->seen[0].events[1].location, DC_NJ);
    assert_int_equal(fx->seen[0].events[1].bucket, ATP_BUCKET_HELD);
    assert_int_equal(fx_status(fx, WMS_EAST).last_seq, 1);
    assert_int_equal(fx_status(fx, WMS_EAST).events, 2);
}

/* An unknown location rejects the whole message: counted, and handed on
 * with no event so that its seq is consumed in order. */
static void test_unknown_location(void **state)
{
    fixture *fx = *state;
    codec_event evs[] = {ev_set("A1", "DC-PA", ATP_BUCKET_ON_HAND, 7),
                         ev_set("A1", "DC-XX", ATP_BUCKET_ON_HAND, 1)};
    fx_batch(fx, "wms-east", 1, evs, 2);
    assert_int_equal(fx->n_seen, 1);
    assert_int_equal(fx->seen[0].n, 0);
    assert_int_equal(fx->seen[0].seq, 1);
    sources_status st = fx_status(fx, WMS_EAST);
    assert_int_equal(st.unknown_location, 1);
    assert_int_equal(st.unauthorized, 0);
    assert_int_equal(st.rejected_messages, 1);
    assert_int_equal(st.last_seq, 1);
    ingest_stats s;
    ingest_core_stats_get(fx->core, &s);
    assert_int_equal(s.received, 1);
    assert_int_equal(s.rejected, 1);
}

/* A source writing a (location, bucket) it is not authoritative for:
 * wms-west owns only DC-CA's on_hand. */
static void test_authority(void **state)
{
    fixture *fx = *state;
    codec_event not_its_location[] = {
        ev_set("B", "DC-NJ", ATP_BUCKET_ON_HAND, 3)};
    codec_event not_its_bucket[] = {ev_set("B", "DC-CA", ATP_BUCKET_HELD, 3)};
    codec_event its_own[] = {ev_set("B", "DC-CA", ATP_BUCKET_ON_HAND, 3)};
    fx_batch(fx, "wms-west", 1, not_its_location, 1);
    fx_batch(fx, "wms-west", 2, not_its_bucket, 1);
    fx_batch(fx, "wms-west", 3, its_own, 1);
    assert_int_equal(fx->n_seen, 3);
    assert_int_equal(fx->seen[0].n, 0);
    assert_int_equal(fx->seen[1].n, 0);
    assert_int_equal(fx->seen[2].n, 1);
    assert_int_equal(fx->seen[2].events[0].location, DC_CA);
    sources_status st = fx_status(fx, WMS_WEST);
    assert_int_equal(st.unauthorized, 2);
    assert_int_equal(st.rejected_messages, 2);
    assert_int_equal(st.last_seq, 3);
    /* The other source saw none of it. */
    assert_int_equal(fx_status(fx, WMS_EAST).rejected_messages, 0);
}

/* A snapshot's parts are kept until the last one, then handed on as one
 * batch that replaces the source's authority, consistent with its seq. */
static void test_snapshot_parts(void **state)
{
    fixture *fx = *state;
    codec_event p0[] = {ev_set("A1", "DC-NJ", ATP_BUCKET_ON_HAND, 1),
                        ev_set("A2", "DC-NJ", ATP_BUCKET_ON_HAND, 2)};
    codec_event p1[] = {ev_set("A3", "DC-PA", ATP_BUCKET_ON_HAND, 3)};
    codec_event p2[] = {ev_set("A4", "DC-PA", ATP_BUCKET_ALLOCATED, 4)};
    fx_part(fx, "wms-east", 9, 0, false, 40, p0, 2);
    fx_part(fx, "wms-east", 9, 1, false, 40, p1, 1);
    assert_int_equal(fx->n_seen, 0); /* nothing before the last part */
    fx_part(fx, "wms-east", 9, 2, true, 40, p2, 1);
    assert_int_equal(fx->n_seen, 1);
    seen_batch *b = &fx->seen[0];
    assert_true(b->replace_authority);
    assert_int_equal(b->seq, 40);
    assert_int_equal(b->n, 4);
    for (int i = 0; i < 4; i++) /* in part order */
        assert_int_equal(b->events[i].value, i + 1);
    assert_int_equal(b->events[2].location, DC_PA);
    sources_status st = fx_status(fx, WMS_EAST);
    assert_int_equal(st.snapshots_applied, 1);
    assert_int_equal(st.last_seq, 40);
}

/* A part out of order abandons the snapshot: nothing of it applies. */
static void test_snapshot_missing_part(void **state)
{
    fixture *fx = *state;
    codec_event p[] = {ev_set("A1", "DC-NJ", ATP_BUCKET_ON_HAND, 1)};
    fx_part(fx, "wms-east", 5, 0, false, 10, p, 1);
    fx_part(fx, "wms-east", 5, 2, true, 10, p, 1); /* part 1 never came */
    assert_int_equal(fx->n_seen, 0);
    sources_status st = fx_status(fx, WMS_EAST);
    assert_int_equal(st.snapshots_aborted, 1);
    assert_int_equal(st.snapshots_applied, 0);
    /* A snapshot whose part names a location outside the authority is
     * abandoned whole too. */
    codec_event bad[] = {ev_set("A1", "DC-CA", ATP_BUCKET_ON_HAND, 1)};
    fx_part(fx, "wms-east", 6, 0, false, 10, p, 1);
    fx_part(fx, "wms-east", 6, 1, true, 10, bad, 1);
    assert_int_equal(fx->n_seen, 0);
    assert_int_equal(fx_status(fx, WMS_EAST).snapshots_aborted, 2);
}

/* A message naming no configured source, or not decodable at all, is
 * dropped and counted; no source's state moves. */
static void test_unknown_source(void **state)
{
    fixture *fx = *state;
    codec_event evs[] = {ev_set("A1", "DC-NJ", ATP_BUCKET_ON_HAND, 1)};
    fx_batch(fx, "wms-north", 1, evs, 1);
    char *junk = malloc(sizeof fx + 3);
    assert_non_null(junk);
    memcpy(junk, &fx, sizeof fx);
    memcpy(junk + sizeof fx, "\x93\x01\x02", 3);
    fx->msgs_live++;
    ingest_core_receive(fx->core, junk, junk + sizeof fx, 3, fx->now);
    assert_int_equal(fx->n_seen, 0);
    ingest_stats s;
    ingest_core_stats_get(fx->core, &s);
    assert_int_equal(s.received, 2);
    assert_int_equal(s.unknown_source, 1);
    assert_int_equal(s.bad_messages, 1);
    assert_int_equal(fx_status(fx, WMS_EAST).messages, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_missing_part, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_source, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
