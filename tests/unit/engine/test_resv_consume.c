/*
 * test_resv_consume.c - unit tests of consumption keys (src/engine/resv.c,
 * resv->marks) and their stored form (resv_record.c): a source event
 * resent after a restart never consumes twice, nor consumes a reservation
 * committed after it was first applied; version-1 records still load and
 * keep their guard; malformed marks are refused; a ref that is one
 * record's id and another's order_ref; marks carried over an undone
 * commit; snapshots stored only after the consumptions before their cut;
 * seq_floor until the source's applied seq reaches it; an allocation
 * naming a held reservation stores its key as the record's mark, so its
 * resend after a restart never consumes it once committed; the "applied"
 * file's seq (kept across a kill -9) closes the two windows the stored
 * marks leave (an allocation that named nothing yet, a mark lost in
 * flight), is never lowered, and applies to commits only.
 *
 * The engine runs on a fake store that completes every write at once (or
 * holds one reservation write until the test completes it) and keeps every
 * reservation record it stored, for a restart. Threads: the test thread
 * submits and waits with engine_sync; the engine thread applies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"

/* Region east: wms allocates at L1 and L2, shop at S1; erp owns on_hand. */
static const char test_yaml[] =
    "regions:\n"
    "  - id: east\n"
    "locations:\n"
    "  - {id: L1, region: east}\n"
    "  - {id: L2, region: east}\n"
    "  - {id: S1, region: east}\n"
    "channels: [web]\n"
    "sources:\n"
    "  - id: erp\n"
    "    authority:\n"
    "      - {locations: [L1, L2, S1], buckets: [on_hand]}\n"
    "  - id: wms\n"
    "    authority:\n"
    "      - {locations: [L1, L2], buckets: [allocated]}\n"
    "  - id: shop\n"
    "    authority:\n"
    "      - {locations: [S1], buckets: [allocated]}\n";

enum { SRC_ERP, SRC_WMS, SRC_SHOP };
enum { LOC_L1, LOC_L2, LOC_S1 };

/* ---- the fake store: every write durable at once ------------------------- */

/* Every reservation record written, by id (the store a restart reloads),
 * and the wms offset of the last snapshot stored. `hold` defers the
 * completion of the next reservation write (an fdatasync that takes a
 * while) until test_unhold. */
static pthread_mutex_t test_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char test_last[4096]; /* the last reservation record written */
static size_t test_last_len;
static struct {
    char id[32];
    unsigned char v[4096];
    size_t n;
    int writes;
} test_recs[16];
static int test_n_recs;
static bool test_hold;
static engine_record_op test_held_ops[4]; /* records of the held write */
static unsigned char test_held_bytes[4][4096 + 32];
static size_t test_n_held;
static void (*test_held_done)(void *, atp_err);
static void *test_held_arg;
static uint64_t test_snap_wms; /* wms offset in the last snapshot stored */
/* The "applied" file's slots, per source: kept across test_restart as the
 * page cache keeps them across a kill -9; zeroed with the store. */
static uint64_t test_applied[3];
static bool test_no_applied_file; /* attach none (a file that cannot be made) */
static bool test_dropping;        /* writes "complete" but are not stored */
static int test_snap_before_r = -1; /* writes of "R" when that snapshot came */

static void test_keep_record(const engine_record_op *op)
{
    int k = 0;
    while (k < test_n_recs &&
           !(strlen(test_recs[k].id) == op->key_len &&
             memcmp(test_recs[k].id, op->key, op->key_len) == 0))
        k++;
    if (k == test_n_recs) {
        assert_true(k < 16 && op->key_len < sizeof test_recs[k].id);
        memcpy(test_recs[k].id, op->key, op->key_len);
        test_recs[k].id[op->key_len] = 0;
        test_recs[k].writes = 0;
        test_n_recs++;
    }
    memcpy(test_recs[k].v, op->val, op->val_len);
    test_recs[k].n = op->val_len;
    test_recs[k].writes++;
}

static int test_writes_of(const char *id)
{
    for (int k = 0; k < test_n_recs; k++)
        if (strcmp(test_recs[k].id, id) == 0)
            return test_recs[k].writes;
    return 0;
}

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&test_mu);
    bool is_resv = false;
    for (size_t i = 0; i < n; i++)
        is_resv |= ops[i].db == ENGINE_DB_RESERVATIONS;
    bool held = is_resv && test_hold && test_held_done == NULL;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].db == ENGINE_DB_RESERVATIONS && ops[i].val != NULL &&
            ops[i].val_len <= sizeof test_last) {
            memcpy(test_last, ops[i].val, ops[i].val_len);
            test_last_len = ops[i].val_len;
            if (test_dropping) {
                /* the process dies before this write is durable */
            } else if (!held) {
                test_keep_record(&ops[i]);
            } else if (test_n_held < 4 && ops[i].key_len <= 32) {
                unsigned char *b = test_held_bytes[test_n_held];
                memcpy(b, ops[i].key, ops[i].key_len);
                memcpy(b + 32, ops[i].val, ops[i].val_len);
                test_held_ops[test_n_held++] = (engine_record_op){
                    ops[i].db, b, ops[i].key_len, b + 32, ops[i].val_len};
            }
        }
        if (ops[i].db == ENGINE_DB_OFFSETS && ops[i].key_len == 3 &&
            memcmp(ops[i].key, "wms", 3) == 0 && ops[i].val_len == 16) {
            uint64_t v = 0;
            for (int b = 7; b >= 0; b--)
                v = v << 8 | ((const unsigned char *)ops[i].val)[b];
            test_snap_wms = v;
            test_snap_before_r = test_writes_of("R");
        }
    }
    if (held) {
        test_held_done = done;
        test_held_arg = arg;
        pthread_mutex_unlock(&test_mu);
        return ATP_OK;
    }
    pthread_mutex_unlock(&test_mu);
    done(arg, ATP_OK);
    return ATP_OK;
}

static void test_set_hold(void)
{
    pthread_mutex_lock(&test_mu);
    test_hold = true;
    pthread_mutex_unlock(&test_mu);
}

/* The held write completes with err. */
static void test_unhold(atp_err err)
{
    pthread_mutex_lock(&test_mu);
    test_hold = false;
    void (*done)(void *, atp_err) = test_held_done;
    void *arg = test_held_arg;
    test_held_done = NULL;
    for (size_t i = 0; i < test_n_held && err == ATP_OK && !test_dropping; i++)
        test_keep_record(&test_held_ops[i]);
    test_n_held = 0;
    pthread_mutex_unlock(&test_mu);
    assert_non_null(done);
    done(arg, err);
}

static void test_store_reset(void)
{
    pthread_mutex_lock(&test_mu);
    test_n_recs = 0;
    test_snap_wms = 0;
    memset(test_applied, 0, sizeof test_applied);
    test_snap_before_r = -1;
    pthread_mutex_unlock(&test_mu);
}

static engine *test_engine(config *cfg)
{
    config_diags diags = {0};
    assert_int_equal(
        config_load_string(test_yaml, sizeof test_yaml - 1, cfg, &diags),
        ATP_OK);
    config_diags_fini(&diags);
    engine_persist persist = {.write = test_write};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    return e;
}

/* As main.c: the applied file's slots, after the records are loaded. */
static void test_attach(engine *e)
{
    uint64_t *slots[3] = {&test_applied[0], &test_applied[1], &test_applied[2]};
    uint64_t *none[3] = {NULL, NULL, NULL};
    engine_applied_attach(e, test_no_applied_file ? none : slots);
}

static void test_release_batch(void *owner, bool applied)
{
    (void)owner;
    assert_true(applied);
}

/* Apply message seq of src: allocations of P naming ref, qty[i] at loc[i]
 * (n of them); as the ingest thread hands it over. */

static void test_allocate(engine *e, uint32_t src, uint64_t seq,
                          const char *ref, const uint16_t *loc,
                          const int64_t *qty, uint32_t n)
{
    engine_event ev[4];
    assert_true(n <= 4);
    for (uint32_t i = 0; i < n; i++)
        ev[i] = (engine_event){.kind = ATP_EV_DELTA,
                               .bucket = ATP_BUCKET_ALLOCATED,
                               .location = loc[i],
                               .sku_len = 1,
                               .sku = "P",
                               .value = qty[i],
                               .ref = ref,
                               .ref_len = (uint32_t)strlen(ref)};
    engine_batch b = {.events = ev,
                      .n = n,
                      .from_source = true,
                      .source = src,
                      .seq = seq,
                      .release = test_release_batch};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static void test_allocate1(engine *e, uint32_t src, uint64_t seq,
                           const char *ref, uint16_t loc, int64_t qty)
{
    test_allocate(e, src, seq, ref, &loc, &qty, 1);
}

/* 100 units of P on hand at every location (erp, seq 1). */
static void test_stock(engine *e)
{
    engine_event ev[3];
    for (uint16_t l = 0; l < 3; l++)
        ev[l] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = l,
                               .sku_len = 1,
                               .sku = "P",
                               .value = 100};
    engine_batch b = {.events = ev,
                      .n = 3,
                      .from_source = true,
                      .source = SRC_ERP,
                      .seq = 1,
                      .release = test_release_batch};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

/* ---- reservation operations ------------------------------------------------
 */

typedef struct test_res {
    atp_err err;
    bool granted;
    engine_resv_state state;
    int64_t consumed;
} test_res;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_res *t = arg;
    t->err = res->err;
    t->granted = res->granted;
    t->state = res->state;
    t->consumed =
        res->has_record && res->n_lines > 0 ? res->lines[0].consumed : -1;
}

static test_res test_op(engine *e, engine_resv_op op, const char *id,
                        int64_t qty, const char *order_ref)
{
    test_res t = {.err = ATP_E_INTERNAL};
    engine_resv_line line = {.sku = "P", .sku_len = 1, .region = 0, .qty = qty};
    engine_resv_req req = {.op = op,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = &line,
                           .n_lines = op == ENGINE_RESV_RESERVE,
                           .order_ref = order_ref,
                           .order_ref_len =
                               order_ref ? (uint32_t)strlen(order_ref) : 0,
                           .done = test_done,
                           .arg = &t};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e),
                     ATP_OK); /* answered: the store is instant */
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(t.err, ATP_OK);
    return t;
}

static int64_t test_consumed(engine *e, const char *id)
{
    return test_op(e, ENGINE_RESV_GET, id, 0, NULL).consumed;
}

static void test_reserve_commit(engine *e, const char *id, int64_t qty,
                                const char *ref)
{
    assert_true(test_op(e, ENGINE_RESV_RESERVE, id, qty, NULL).granted);
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, id, 0, ref).state,
                     ENGINE_RESV_COMMITTED);
}

/* ---- stored records written by hand ----------------------------------------
 */

/* One stored mark as written, malformed ones included: arity elements of
 * [src, seq, event]; event -1: nil. */
typedef struct test_mark {
    const char *src;
    int64_t seq, event;
    uint32_t arity;
} test_mark;

/* n marks; n < 0: nil instead of the array. */
static void test_write_marks(codec_writer *w, const test_mark *m, int n)
{
    if (n < 0) {
        codec_w_nil(w);
        return;
    }
    codec_w_array(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        codec_w_array(w, m[i].arity);
        codec_w_cstr(w, m[i].src);
        if (m[i].seq == INT64_MIN) /* 2^63: one past a source's seqs */
            codec_w_uint(w, (uint64_t)INT64_MAX + 1);
        else
            codec_w_int(w, m[i].seq);
        if (m[i].arity < 3)
            continue;
        if (m[i].event < 0)
            codec_w_nil(w);
        else
            codec_w_int(w, m[i].event);
    }
}

/* A committed record of id with one line P/east qty 10 consumed `consumed`.
 * version 1: the line ends with [consume_source | NULL, consume_seq];
 * version 2: n_marks marks follow (test_write_marks). */
static size_t test_record(unsigned char *out, size_t cap, int version,
                          const char *id, int64_t consumed, const char *v1_src,
                          uint64_t v1_seq, const test_mark *marks, int n_marks)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(w);
    codec_w_array(w, version == 1 ? 10 : 11);
    codec_w_uint(w, (uint64_t)version);
    codec_w_cstr(w, id);
    codec_w_cstr(w, "default");
    codec_w_uint(w, ENGINE_RESV_COMMITTED);
    codec_w_int(w, 1000);
    codec_w_int(w, 4102444800000); /* 2100: never expires in a test */
    codec_w_int(w, 1000);
    codec_w_int(w, 4102444800000);
    codec_w_nil(w);
    codec_w_array(w, 1);
    codec_w_array(w, version == 1 ? 7 : 5);
    codec_w_cstr(w, "P");
    codec_w_cstr(w, "east");
    codec_w_int(w, 10);
    codec_w_int(w, consumed);
    codec_w_int(w, 0);
    if (version == 1) {
        if (v1_src != NULL)
            codec_w_cstr(w, v1_src);
        else
            codec_w_nil(w);
        codec_w_uint(w, v1_seq);
    } else {
        test_write_marks(w, marks, n_marks);
    }
    size_t n;
    const void *data = codec_writer_data(w, &n);
    assert_false(codec_writer_failed(w));
    assert_true(n <= cap);
    memcpy(out, data, n);
    codec_writer_free(w);
    return n;
}

static atp_err test_load(engine *e, const char *id, const unsigned char *val,
                         size_t n)
{
    return engine_resv_load(e, id, strlen(id), val, n);
}

/* kill -9 and restart: a new engine loads every record the store holds;
 * its offsets are unknown (no snapshot), so every source resends. */
static void test_restart(engine **e, config *cfg)
{
    engine_stop(*e);
    engine_free(*e);
    config_fini(cfg);
    *e = test_engine(cfg);
    pthread_mutex_lock(&test_mu);
    for (int k = 0; k < test_n_recs; k++)
        assert_int_equal(
            test_load(*e, test_recs[k].id, test_recs[k].v, test_recs[k].n),
            ATP_OK);
    pthread_mutex_unlock(&test_mu);
    test_attach(*e);
    assert_int_equal(engine_start(*e), ATP_OK);
    test_stock(*e);
}

/* kill -9 while a reservation write is in flight (held): that write and
 * whatever the engine still writes while stopping are lost. */
static void test_crash(engine **e, config *cfg)
{
    pthread_mutex_lock(&test_mu);
    test_dropping = true;
    pthread_mutex_unlock(&test_mu);
    test_unhold(ATP_OK);
    engine_stop(*e); /* flushes the open group: dropped too */
    pthread_mutex_lock(&test_mu);
    test_dropping = false;
    pthread_mutex_unlock(&test_mu);
    test_restart(e, cfg);
}

static void test_ignore(void *arg, const engine_resv_result *res)
{
    (void)arg;
    (void)res;
}

/* Reserve Z with its write held (in flight until test_unhold): what
 * follows collects in the open group. */
static void test_hold_reserve(engine *e)
{
    test_set_hold();
    engine_resv_line line = {.sku = "P", .sku_len = 1, .region = 0, .qty = 1};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = "Z",
                           .id_len = 1,
                           .lines = &line,
                           .n_lines = 1,
                           .done = test_ignore};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

/* A started engine on an empty store, with stock; test_end stops it. */
static engine *test_begin(config *cfg)
{
    test_store_reset();
    engine *e = test_engine(cfg);
    test_attach(e);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    return e;
}

static void test_end(engine *e, config *cfg)
{
    engine_stop(e);
    engine_free(e);
    config_fini(cfg);
}

/* A deadline in seconds, longer under the sanitizers. */
static double test_deadline(double s)
{
    const char *scale = getenv("ATP_TEST_SCALE");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9 +
           (scale != NULL && strcmp(scale, "sanitizer") == 0 ? 10 * s : s);
}

static bool test_before(double deadline)
{
    struct timespec ts, nap = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    nanosleep(&nap, NULL);
    return ts.tv_sec + ts.tv_nsec / 1e9 < deadline;
}

/* ---- tests
 * ---------------------------------------------------------------------- */

/* Issue 12, B1 and C, then a restart: the record written after two sources
 * consumed (wms twice in one message, shop once) is loaded into a new
 * engine whose sources resend those messages: nothing more is consumed;
 * their next messages consume. */
static void test_consume_keys_survive_restart(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    test_reserve_commit(e, "o1", 10, "SO-1");
    const uint16_t locs[2] = {LOC_L1, LOC_L2};
    const int64_t qtys[2] = {2, 3};
    test_allocate(e, SRC_WMS, 5, "o1", locs, qtys,
                  2); /* two events, one line */
    assert_int_equal(test_consumed(e, "o1"), 5);
    test_allocate1(e, SRC_SHOP, 9, "SO-1", LOC_S1, 1);
    assert_int_equal(test_consumed(e, "o1"), 6);
    unsigned char rec[4096];
    pthread_mutex_lock(&test_mu);
    size_t n = test_last_len;
    memcpy(rec, test_last, n);
    pthread_mutex_unlock(&test_mu);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);

    e = test_engine(&cfg);
    assert_int_equal(test_load(e, "o1", rec, n), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    test_allocate(e, SRC_WMS, 5, "o1", locs, qtys, 2); /* resent */
    test_allocate1(e, SRC_SHOP, 9, "SO-1", LOC_S1, 1);
    assert_int_equal(test_consumed(e, "o1"), 6);
    test_allocate1(e, SRC_SHOP, 10, "SO-1", LOC_S1, 1);
    assert_int_equal(test_consumed(e, "o1"), 7);
    test_allocate1(e, SRC_WMS, 6, "o1", LOC_L1, 5);
    assert_int_equal(test_consumed(e, "o1"), 10);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Issue 12, B2: allocations naming a reservation while it is held (or
 * before it exists) consume nothing, and still nothing when resent after
 * the commit; a later one consumes. */
static void test_consume_not_before_commit(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "h1", 4, NULL).granted);
    test_allocate1(e, SRC_WMS, 1, "h1", LOC_L1, 4);    /* held */
    test_allocate1(e, SRC_SHOP, 1, "SO-2", LOC_S1, 2); /* SO-2 unknown yet */
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, "h1", 0, NULL).state,
                     ENGINE_RESV_COMMITTED);
    test_reserve_commit(e, "h2", 2, "SO-2");
    test_allocate1(e, SRC_WMS, 1, "h1", LOC_L1, 4); /* resent after a restart */
    test_allocate1(e, SRC_SHOP, 1, "SO-2", LOC_S1, 2);
    assert_int_equal(test_consumed(e, "h1"), 0);
    assert_int_equal(test_consumed(e, "h2"), 0);
    test_allocate1(e, SRC_WMS, 2, "h1", LOC_L2, 1);
    test_allocate1(e, SRC_SHOP, 2, "SO-2", LOC_S1, 2);
    assert_int_equal(test_consumed(e, "h1"), 1);
    assert_int_equal(test_consumed(e, "h2"), 2);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* After a restart the offsets are the last snapshot's: a reservation
 * committed before its source has resent what it applied before the crash
 * must not be consumed by those resends. What the loaded records show was
 * applied (wms up to seq 7) bounds the commit's mark from below. */
static void test_consume_commit_after_restart(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    unsigned char rec[512];
    /* a source no longer configured ("gone"): its mark is dropped */
    const test_mark marks[2] = {{"wms", 7, 0, 3}, {"gone", 99, -1, 3}};
    size_t n = test_record(rec, sizeof rec, 2, "old", 1, NULL, 0, marks, 2);
    assert_int_equal(test_load(e, "old", rec, n), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    test_reserve_commit(e, "new", 5, NULL);
    test_allocate1(e, SRC_WMS, 7, "new", LOC_L1,
                   2); /* applied before the crash */
    test_allocate1(e, SRC_WMS, 7, "old", LOC_L1, 2); /* event 0 <= old's mark */
    assert_int_equal(test_consumed(e, "new"), 0);
    assert_int_equal(test_consumed(e, "old"), 1);
    test_allocate1(e, SRC_WMS, 8, "new", LOC_L1, 2);
    test_allocate1(e, SRC_WMS, 8, "old", LOC_L2, 2);
    assert_int_equal(test_consumed(e, "new"), 2);
    assert_int_equal(test_consumed(e, "old"), 3);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* A record of version 1 (one (source, seq) per line) loads, and its guard
 * holds: the message that consumed it, resent, consumes nothing. */
static void test_consume_v1_record(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    unsigned char rec[512];
    size_t n = test_record(rec, sizeof rec, 1, "v1", 3, "wms", 5, NULL, 0);
    assert_int_equal(test_load(e, "v1", rec, n), ATP_OK);
    n = test_record(rec, sizeof rec, 1, "v1b", 0, NULL, 0, NULL, 0);
    assert_int_equal(test_load(e, "v1b", rec, n), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    test_allocate1(e, SRC_WMS, 5, "v1", LOC_L1, 3);
    assert_int_equal(test_consumed(e, "v1"), 3);
    test_allocate1(e, SRC_WMS, 6, "v1", LOC_L1, 3);
    test_allocate1(e, SRC_WMS, 6, "v1b", LOC_L1, 1);
    assert_int_equal(test_consumed(e, "v1"), 6);
    assert_int_equal(test_consumed(e, "v1b"), 1);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Stored marks are input: every malformed form is refused and counted. */
static void test_consume_marks_malformed(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    static const struct {
        test_mark m[2];
        int n;
    } bad[] = {
        {{{"wms", 7, -1, 3}, {"wms", 8, -1, 3}}, 2}, /* a source twice */
        {{{"wms", 7, UINT32_MAX, 3}}, 1}, /* nil says "whole message" */
        {{{"wms", 7, 0, 2}}, 1},          /* [source, seq] */
        {{{"wms", -1, -1, 3}}, 1},        /* negative seq */
        {{{"wms", INT64_MIN, -1, 3}}, 1}, /* seq 2^63 */
        {{{"wms", 7, 0, 3}}, -1},         /* nil, not an array */
    };
    unsigned char rec[512];
    size_t nbad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < nbad; i++) {
        size_t n = test_record(rec, sizeof rec, 2, "bad", 0, NULL, 0, bad[i].m,
                               bad[i].n);
        assert_int_equal(test_load(e, "bad", rec, n), ATP_E_BAD_REQUEST);
    }
    /* version 2 with version 1's line, and version 1 with version 2's */
    size_t n = test_record(rec, sizeof rec, 1, "bad", 0, NULL, 0, NULL, 0);
    rec[1] = 2;
    assert_int_equal(test_load(e, "bad", rec, n), ATP_E_BAD_REQUEST);
    n = test_record(rec, sizeof rec, 2, "bad", 0, NULL, 0, NULL, 0);
    rec[1] = 1;
    assert_int_equal(test_load(e, "bad", rec, n), ATP_E_BAD_REQUEST);
    n = test_record(rec, sizeof rec, 1, "bad", 0, "wms",
                    (uint64_t)INT64_MAX + 1, NULL, 0);
    assert_int_equal(test_load(e, "bad", rec, n), ATP_E_BAD_REQUEST);
    n = test_record(rec, sizeof rec, 2, "good", 0, NULL, 0, NULL, 0);
    assert_int_equal(test_load(e, "good", rec, n), ATP_OK);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_load_skipped, nbad + 3);
    assert_int_equal(st.resv_committed, 1);
    engine_free(e);
    config_fini(&cfg);
}

/* Review of issue 12, 1: an order_ref equal to another reservation's id.
 * wms seq 5 names "X" and consumes X whole (X is committed, so the id
 * wins over Y's order_ref "X"). After a kill -9 the resend finds X
 * consumed: it must not fall through to Y by order_ref. */
static void test_consume_id_ref_collision(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    test_reserve_commit(e, "Y", 5, "X");
    test_reserve_commit(e, "X", 5, NULL);
    test_allocate1(e, SRC_WMS, 5, "X", LOC_L1, 5);
    assert_int_equal(test_consumed(e, "X"), 5);
    assert_int_equal(test_consumed(e, "Y"), 0);
    test_restart(&e, &cfg);
    test_allocate1(e, SRC_WMS, 5, "X", LOC_L1, 5); /* resent */
    assert_int_equal(test_consumed(e, "X"), 5);
    assert_int_equal(test_consumed(e, "Y"), 0);
    test_allocate1(e, SRC_WMS, 6, "X", LOC_L1,
                   2); /* new: X is done, Y's turn */
    assert_int_equal(test_consumed(e, "Y"), 2);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Review of issue 12, 3: the commit of R is in flight when wms seq 5
 * consumes 3 of it; the commit's write fails, R is held again with what
 * was consumed and the consumption's mark (resv_carry_consumed), and is
 * written again. kill -9; after the restart R is committed again before
 * wms resends seq 5: the resend consumes nothing. */
static void test_consume_carry_marks_on_undo(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "R", 10, NULL).granted);
    test_set_hold();
    engine_resv_req req = {
        .op = ENGINE_RESV_COMMIT, .id = "R", .id_len = 1, .done = test_ignore};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK); /* the commit is in flight */
    test_allocate1(e, SRC_WMS, 5, "R", LOC_L1, 3);
    pthread_mutex_lock(&test_mu);
    int writes = test_writes_of("R");
    pthread_mutex_unlock(&test_mu);
    test_unhold(ATP_E_STORE_FULL);
    double deadline = test_deadline(10);
    bool rewritten = false;
    while (!rewritten && test_before(deadline)) { /* after the retry delay */
        pthread_mutex_lock(&test_mu);
        rewritten = test_writes_of("R") > writes;
        pthread_mutex_unlock(&test_mu);
    }
    assert_true(rewritten);
    assert_int_equal(test_consumed(e, "R"), 3);
    test_restart(&e, &cfg);
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, "R", 0, NULL).state,
                     ENGINE_RESV_COMMITTED);
    test_allocate1(e, SRC_WMS, 5, "R", LOC_L1, 3); /* resent */
    assert_int_equal(test_consumed(e, "R"), 3);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Review of issue 12, 4: the marks of the records loaded at start say
 * what each source had applied before the restart (seq_floor). Until the
 * source's applied seq reaches that, a commit's mark covers it, so a
 * resend of an allocation applied before the crash never consumes a
 * reservation committed after the restart; once it is reached the floor
 * is dropped and new messages consume new commits. */
static void test_consume_floor_until_caught_up(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    unsigned char rec[512];
    const test_mark marks[1] = {{"wms", 8, -1, 3}};
    size_t n = test_record(rec, sizeof rec, 2, "old", 0, NULL, 0, marks, 1);
    assert_int_equal(test_load(e, "old", rec, n), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    test_stock(e);
    test_reserve_commit(e, "early", 5, NULL);
    test_allocate1(e, SRC_WMS, 7, "early", LOC_L1, 2); /* a resend */
    assert_int_equal(test_consumed(e, "early"), 0);
    test_reserve_commit(e, "mid", 5, NULL); /* applied offset 7, floor 8 */
    test_allocate1(e, SRC_WMS, 8, "mid", LOC_L1, 2); /* a resend too */
    assert_int_equal(test_consumed(e, "mid"), 0);
    test_reserve_commit(e, "new", 5, NULL); /* seq 8 applied: floor gone */
    test_allocate1(e, SRC_WMS, 9, "new", LOC_L1, 2);
    assert_int_equal(test_consumed(e, "new"), 2);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void *test_snapshot_thread(void *arg)
{
    return (void *)(intptr_t)engine_snapshot_now(arg);
}

/* Review of issue 12, 2: a snapshot cut while a consumption waits in the
 * open group (another group in flight) must not be stored before that
 * consumption: the snapshot carries wms's offset past the allocation, so
 * a kill -9 between the two would lose the consumption for good. */
static void test_consume_snapshot_barrier(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    test_reserve_commit(e, "R", 10, NULL);
    assert_int_equal(engine_snapshot_now(e), ATP_OK);
    test_hold_reserve(e);                          /* Z is in flight */
    test_allocate1(e, SRC_WMS, 5, "R", LOC_L1, 4); /* R's consumption waits */
    engine_stats st;
    engine_stats_get(e, &st);
    const engine_stats st0 = st; /* any cut from now on must wait */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, test_snapshot_thread, e), 0);
    double deadline = test_deadline(10);
    do /* cut now, while the consumption waits: stored, or waiting */
        engine_stats_get(e, &st);
    while (st.snapshots == st0.snapshots &&
           st.snapshot_waited == st0.snapshot_waited && test_before(deadline));
    assert_true(st.snapshots > st0.snapshots ||
                st.snapshot_waited > st0.snapshot_waited);
    test_unhold(ATP_OK);
    void *ret;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_int_equal((intptr_t)ret, ATP_OK);
    pthread_mutex_lock(&test_mu);
    uint64_t wms = test_snap_wms;
    int r_writes = test_snap_before_r;
    int r_now = test_writes_of("R");
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(wms, 5);
    assert_int_equal(r_writes, r_now); /* R's consumption was stored first */
    engine_stats_get(e, &st);
    assert_int_equal(st.snapshot_waited, st0.snapshot_waited + 1);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* Issue 12, B(2), the remaining gap: wms seq 3 names H while H is held
 * (consumes nothing); kill -9 before any snapshot covers seq 3; after the
 * restart H is committed before wms resends seq 3. The allocation's key
 * was stored as H's mark when it was applied, so the resend consumes
 * nothing: the state of the run without the crash (there, H was committed
 * after seq 3 and seq 3 never consumed it). Only a write when the mark
 * changes: the resend while H is still held writes nothing. */
static void test_consume_held_mark_restart(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "H", 6, NULL).granted);
    pthread_mutex_lock(&test_mu);
    int writes = test_writes_of("H");
    pthread_mutex_unlock(&test_mu);
    test_allocate1(e, SRC_WMS, 3, "H", LOC_L1, 6); /* H is held */
    test_allocate1(e, SRC_WMS, 3, "H", LOC_L1, 6); /* same key: no write */
    assert_int_equal(test_consumed(e, "H"), 0);
    pthread_mutex_lock(&test_mu);
    int mark_writes = test_writes_of("H") - writes;
    pthread_mutex_unlock(&test_mu);
    test_restart(&e, &cfg);
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, "H", 0, NULL).state,
                     ENGINE_RESV_COMMITTED);
    test_allocate1(e, SRC_WMS, 3, "H", LOC_L1, 6); /* resent after the commit */
    test_res r = test_op(e, ENGINE_RESV_GET, "H", 0, NULL);
    assert_int_equal(r.state, ENGINE_RESV_COMMITTED);
    assert_int_equal(r.consumed, 0);
    test_allocate1(e, SRC_WMS, 4, "H", LOC_L2, 2); /* new: consumes */
    assert_int_equal(test_consumed(e, "H"), 2);
    assert_int_equal(mark_writes, 1);
    test_end(e, &cfg);
}

/* The held case with the id-first rule: wms seq 5 names "X" while X is
 * held, so it consumes Y, committed with order_ref "X", and marks X.
 * After a kill -9, X is committed before the resend: the resend consumes
 * neither X (it never did) nor Y again. (Y's stored mark alone already
 * gives X's commit a mark at seq 5, through seq_floor; this guards the
 * routing around the held record's write.) */
static void test_consume_held_mark_routed_by_ref(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    test_reserve_commit(e, "Y", 5, "X");
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "X", 5, NULL).granted);
    test_allocate1(e, SRC_WMS, 5, "X", LOC_L1, 3);
    assert_int_equal(test_consumed(e, "X"), 0);
    assert_int_equal(test_consumed(e, "Y"), 3);
    test_restart(&e, &cfg);
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, "X", 0, NULL).state,
                     ENGINE_RESV_COMMITTED);
    test_allocate1(e, SRC_WMS, 5, "X", LOC_L1, 3); /* resent */
    assert_int_equal(test_consumed(e, "X"), 0);
    assert_int_equal(test_consumed(e, "Y"), 3);
    test_allocate1(e, SRC_WMS, 6, "X", LOC_L1, 1); /* new: X is committed now */
    assert_int_equal(test_consumed(e, "X"), 1);
    test_end(e, &cfg);
}

/* A held record's mark waiting in the open group (another group in
 * flight) does not hold a snapshot back (resv_consumptions_gen says why),
 * unlike a consumption (test_consume_snapshot_barrier). */
static void test_consume_held_mark_no_barrier(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "H", 4, NULL).granted);
    test_hold_reserve(e);                          /* Z is in flight */
    test_allocate1(e, SRC_WMS, 5, "H", LOC_L1, 4); /* H's mark waits */
    engine_stats st0, st;
    engine_stats_get(e, &st0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, test_snapshot_thread, e), 0);
    double deadline = test_deadline(10);
    do
        engine_stats_get(e, &st);
    while (st.snapshots == st0.snapshots && test_before(deadline));
    assert_int_equal(st.snapshots, st0.snapshots + 1); /* stored while held */
    assert_int_equal(st.snapshot_waited, st0.snapshot_waited);
    test_unhold(ATP_OK);
    void *ret;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_int_equal((intptr_t)ret, ATP_OK);
    pthread_mutex_lock(&test_mu);
    assert_int_equal(test_snap_wms, 5);
    pthread_mutex_unlock(&test_mu);
    test_end(e, &cfg);
}

/* Window 1 (issue 12 B2): wms seq 5 allocates 2 naming "SO-9" when no
 * reservation has that ref: nothing stored. kill -9 (the snapshot never
 * saw seq 5, no record holds a mark). After the restart, r is reserved
 * and committed with order_ref SO-9 before wms resends 5: the resend was
 * applied before the crash, so it must not consume r; a new allocation
 * (seq 6) does. */
/* The window-1 steps; returns what the resend consumed of r. */
static int64_t test_window1_resend(void)
{
    config cfg;
    engine *e = test_begin(&cfg);
    test_allocate1(e, SRC_WMS, 5, "SO-9", LOC_L1, 2);
    test_restart(&e, &cfg);
    test_reserve_commit(e, "r", 5, "SO-9");
    test_allocate1(e, SRC_WMS, 5, "SO-9", LOC_L1, 2); /* the resend */
    int64_t consumed = test_consumed(e, "r");
    test_allocate1(e, SRC_WMS, 6, "SO-9", LOC_L1, 2);
    assert_int_equal(test_consumed(e, "r"), consumed + 2); /* new: consumes */
    test_end(e, &cfg);
    return consumed;
}

static void test_consume_window1_unknown_ref(void **state)
{
    (void)state;
    assert_int_equal(test_window1_resend(), 0);
}

/* Window 2: H is held and stored; wms seq 5 names H while another
 * reservation write is in flight, so H's mark waits in the open group;
 * kill -9 before it is stored. After the restart H is committed before
 * wms resends 5: the resend must not consume H; seq 6 does. */
static void test_consume_window2_held_mark_lost(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    assert_true(test_op(e, ENGINE_RESV_RESERVE, "H", 6, NULL).granted);
    pthread_mutex_lock(&test_mu);
    int writes = test_writes_of("H");
    pthread_mutex_unlock(&test_mu);
    test_hold_reserve(e);                          /* Z is in flight */
    test_allocate1(e, SRC_WMS, 5, "H", LOC_L1, 6); /* H's mark waits */
    test_crash(&e, &cfg);
    pthread_mutex_lock(&test_mu);
    assert_int_equal(test_writes_of("H"), writes); /* the mark was lost */
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(test_op(e, ENGINE_RESV_COMMIT, "H", 0, NULL).state,
                     ENGINE_RESV_COMMITTED);
    test_allocate1(e, SRC_WMS, 5, "H", LOC_L1, 6); /* the resend */
    assert_int_equal(test_consumed(e, "H"), 0);
    test_allocate1(e, SRC_WMS, 6, "H", LOC_L1, 2);
    assert_int_equal(test_consumed(e, "H"), 2);
    test_end(e, &cfg);
}

/* The file's seq is never lowered: a resend of 3..6 after a restart at
 * 10 leaves it at 10, so after a second kill -9 (the resend not finished)
 * a reservation committed with a ref first named at seq 8 is still not
 * consumed by the resend of 7..10. */
static void test_consume_applied_monotone(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    for (uint64_t q = 2; q <= 10; q++)
        test_allocate1(e, SRC_WMS, q, q == 8 ? "SO-8" : "other", LOC_L1, 1);
    test_restart(&e, &cfg);
    for (uint64_t q = 3; q <= 6; q++)
        test_allocate1(e, SRC_WMS, q, "other", LOC_L1, 1);
    assert_int_equal(test_applied[SRC_WMS], 10);
    test_restart(&e, &cfg);
    test_reserve_commit(e, "r", 5, "SO-8");
    for (uint64_t q = 7; q <= 10; q++)
        test_allocate1(e, SRC_WMS, q, q == 8 ? "SO-8" : "other", LOC_L1, 1);
    assert_int_equal(test_consumed(e, "r"), 0);
    test_allocate1(e, SRC_WMS, 11, "SO-8", LOC_L1, 1);
    assert_int_equal(test_consumed(e, "r"), 1);
    test_end(e, &cfg);
}

/* The floor is for commits only: r was committed before the crash; wms
 * seq 7 consumed 2 of it but that write was lost (in flight at the kill).
 * After the restart (file at 7) the resend of 7 consumes r again: its
 * own marks say it never saw 7, and nothing else did. */
static void test_consume_floor_not_for_committed(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    test_reserve_commit(e, "r", 5, NULL);
    test_set_hold();
    test_allocate1(e, SRC_WMS, 7, "r", LOC_L1, 2); /* its write is held */
    test_crash(&e, &cfg);
    assert_int_equal(test_applied[SRC_WMS], 7);
    assert_int_equal(test_consumed(e, "r"), 0);
    test_allocate1(e, SRC_WMS, 7, "r", LOC_L1, 2); /* the resend */
    assert_int_equal(test_consumed(e, "r"), 2);
    test_end(e, &cfg);
}

/* Without the file (it could not be made), window 1 stays open as
 * docs/PROTOCOL.md says: the resend consumes. This is the behaviour the
 * file changes (and what test_consume_window1_unknown_ref sees without
 * it). */
static void test_consume_no_applied_file(void **state)
{
    (void)state;
    test_no_applied_file = true;
    assert_int_equal(test_window1_resend(), 2);
    test_no_applied_file = false;
}

/* A source_reset restarts the source's numbering below the old one: its
 * first snapshot (restarts_sequence) brings the applied file's seq and
 * the commit floor down to it, so after a restart at 10 and a reset to 2
 * a reservation committed then is consumed by the new seq 3; without the
 * restart of the sequence the old floor (10) kept it from consuming. */
static void test_consume_reset_lowers_applied(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_begin(&cfg);
    for (uint64_t q = 2; q <= 10; q++)
        test_allocate1(e, SRC_WMS, q, "other", LOC_L1, 1);
    test_restart(&e, &cfg);
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ALLOCATED,
                       .location = LOC_L1,
                       .sku_len = 1,
                       .sku = "P",
                       .value = 9};
    engine_batch b = {.events = &ev,
                      .n = 1,
                      .from_source = true,
                      .source = SRC_WMS,
                      .seq = 2,
                      .replace_authority = true,
                      .restarts_sequence = true,
                      .release = test_release_batch};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_applied[SRC_WMS], 2);
    test_reserve_commit(e, "r", 5, "SO-3");
    test_allocate1(e, SRC_WMS, 3, "SO-3", LOC_L1, 2);
    assert_int_equal(test_consumed(e, "r"), 2);
    test_end(e, &cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consume_keys_survive_restart),
        cmocka_unit_test(test_consume_not_before_commit),
        cmocka_unit_test(test_consume_commit_after_restart),
        cmocka_unit_test(test_consume_v1_record),
        cmocka_unit_test(test_consume_marks_malformed),
        cmocka_unit_test(test_consume_id_ref_collision),
        cmocka_unit_test(test_consume_carry_marks_on_undo),
        cmocka_unit_test(test_consume_snapshot_barrier),
        cmocka_unit_test(test_consume_floor_until_caught_up),
        cmocka_unit_test(test_consume_held_mark_restart),
        cmocka_unit_test(test_consume_held_mark_routed_by_ref),
        cmocka_unit_test(test_consume_held_mark_no_barrier),
        cmocka_unit_test(test_consume_window1_unknown_ref),
        cmocka_unit_test(test_consume_window2_held_mark_lost),
        cmocka_unit_test(test_consume_applied_monotone),
        cmocka_unit_test(test_consume_floor_not_for_committed),
        cmocka_unit_test(test_consume_no_applied_file),
        cmocka_unit_test(test_consume_reset_lowers_applied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
