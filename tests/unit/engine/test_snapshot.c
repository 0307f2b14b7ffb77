/*
 * test_snapshot.c - unit tests of src/engine/snapshot.c and
 * snapshot_write.c through engine_persist: a snapshot carries exactly the
 * changed positions (zeroed ones as deletes) and the source offsets, in
 * LMDB key order (memcmp, shorter first), as ONE group; a failed write makes
 * the next snapshot write every position, and every lot with the lots
 * removed since the last stored one (a cancelled lot must not come back
 * after a restart).
 *
 * Threads: the test thread submits and asks for snapshots; the snapshot
 * writer thread calls test_write, which records the group under a mutex and
 * completes it at once.
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
#include "config/config.h"
#include "engine/engine.h"

/* No periodic snapshot (see rv_setup): the tests take their own. */
static const char test_yaml[] = "service: {snapshot_interval: 1h}\n"
                                "regions: [{id: r}]\n"
                                "locations:\n"
                                "  - {id: dc-10, region: r}\n"
                                "  - {id: dc-1, region: r}\n"
                                "  - {id: a, region: r}\n"
                                "sources:\n"
                                "  - id: wms\n"
                                "    authority:\n"
                                "      - locations: [dc-10, dc-1, a]\n";

/* SKUs in an order that is not key order; some share their first 16 key
 * bytes, some are prefixes of others. */
static const char *const test_skus[] = {
    "Z",
    "AB",
    "A",
    "ABC",
    "long-sku-name-0002",
    "long-sku-name-0001",
    "long-sku-name-00010",
    "m",
    "B",
};
#define TEST_N_SKUS (sizeof test_skus / sizeof test_skus[0])
#define TEST_N_LOCS 3

/* The last group written (copied), and how many were. */
typedef struct test_rec {
    engine_db db;
    char key[96];
    size_t key_len;
    bool del;
    int64_t v[3];
} test_rec;

static pthread_mutex_t test_mu = PTHREAD_MUTEX_INITIALIZER;
static test_rec test_recs[256];
static size_t test_n_recs, test_n_groups, test_over;
static atp_err test_fail_with; /* the next write fails with this */

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&test_mu);
    atp_err err = test_fail_with;
    test_fail_with = ATP_OK;
    if (err == ATP_OK) {
        test_n_groups++;
        test_n_recs = 0;
        for (size_t i = 0; i < n; i++) {
            if (test_n_recs == sizeof test_recs / sizeof test_recs[0] ||
                ops[i].key_len > sizeof test_recs[0].key) {
                test_over++;
                continue;
            }
            test_rec *r = &test_recs[test_n_recs++];
            r->db = ops[i].db;
            memcpy(r->key, ops[i].key, ops[i].key_len);
            r->key_len = ops[i].key_len;
            r->del = ops[i].val == NULL;
            if (ops[i].db == ENGINE_DB_POSITIONS && !r->del) {
                assert_int_equal(ops[i].val_len, 24);
                memcpy(r->v, ops[i].val, 24); /* little-endian host */
            } else if (ops[i].db == ENGINE_DB_OFFSETS) {
                assert_int_equal(ops[i].val_len, 16);
                memcpy(r->v, ops[i].val, 16);
            }
        }
    }
    pthread_mutex_unlock(&test_mu);
    if (err == ATP_OK && done != NULL)
        done(arg, ATP_OK); /* durable at once */
    return err;
}

/* write_owned: the records, then release, then done. */
static size_t test_n_released;
static atp_err test_write_owned(void *ctx, const engine_record_op *ops,
                                size_t n, void (*release)(void *owner),
                                void *owner,
                                void (*done)(void *arg, atp_err err), void *arg)
{
    /* ops is only valid during the call: the store keeps its own array. */
    engine_record_op *keep = malloc((n ? n : 1) * sizeof *keep);
    assert_non_null(keep);
    memcpy(keep, ops, n * sizeof *keep);
    atp_err err = test_write(ctx, keep, n, NULL, NULL);
    free(keep);
    if (err != ATP_OK)
        return err; /* not taken: release is not called */
    /* Released before done here (the store does it after): the engine must
     * not care, and the test sees the count once the snapshot is done. */
    release(owner);
    pthread_mutex_lock(&test_mu);
    test_n_released++;
    pthread_mutex_unlock(&test_mu);
    done(arg, ATP_OK);
    return ATP_OK;
}

typedef struct test_fx {
    config cfg;
    engine *eng;
} test_fx;

static bool test_owned;

static int test_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    config_diags d = {0};
    assert_int_equal(
        config_load_string(test_yaml, strlen(test_yaml), &fx->cfg, &d), ATP_OK);
    config_diags_fini(&d);
    engine_persist p = {.write = test_write,
                        .write_owned = test_owned ? test_write_owned : NULL};
    assert_int_equal(engine_alloc(&fx->cfg, &p, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    test_n_groups = test_n_recs = test_over = test_n_released = 0;
    test_fail_with = ATP_OK;
    *state = fx;
    return 0;
}

static int test_teardown(void **state)
{
    test_fx *fx = *state;
    engine_stop(fx->eng);
    engine_free(fx->eng);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

static void test_release(void *owner, bool applied)
{
    (void)applied;
    free(owner);
}

/* One source message: SET on_hand of every (sku, loc) to value(sku, loc),
 * or with only_sku set, of that SKU at only_loc. */
static void test_apply(engine *e, uint64_t seq,
                       int64_t (*value)(size_t s, size_t l), int only_sku,
                       size_t only_loc)
{
    engine_event *ev = calloc(TEST_N_SKUS * TEST_N_LOCS, sizeof *ev);
    assert_non_null(ev);
    size_t n = 0;
    for (size_t s = 0; s < TEST_N_SKUS; s++)
        for (size_t l = 0; l < TEST_N_LOCS; l++)
            if (only_sku < 0 || ((size_t)only_sku == s && only_loc == l))
                ev[n++] =
                    (engine_event){.kind = ATP_EV_SET,
                                   .bucket = ATP_BUCKET_ON_HAND,
                                   .location = (uint16_t)l,
                                   .sku_len = (uint32_t)strlen(test_skus[s]),
                                   .sku = test_skus[s],
                                   .value = value(s, l)};
    engine_batch b = {.events = ev,
                      .n = (uint32_t)n,
                      .from_source = true,
                      .source = 0,
                      .seq = seq,
                      .ts_ms = 1000 + seq,
                      .release = test_release,
                      .owner = ev};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static int64_t test_v1(size_t s, size_t l)
{
    return (int64_t)(100 * s + l + 1);
}
/* Only (sku 3, loc 1) changes, to 0: one delete. */
static int64_t test_v2(size_t s, size_t l)
{
    return s == 3 && l == 1 ? 0 : test_v1(s, l);
}

static int test_key_cmp(const test_rec *a, const test_rec *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    return c != 0 ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Positions records of the last group, checked to be in strictly
 * increasing key order; returns how many. */
static size_t test_check_sorted(void)
{
    size_t n = 0;
    const test_rec *prev = NULL;
    for (size_t i = 0; i < test_n_recs; i++) {
        if (test_recs[i].db != ENGINE_DB_POSITIONS)
            continue;
        if (prev != NULL)
            assert_true(test_key_cmp(prev, &test_recs[i]) < 0);
        prev = &test_recs[i];
        n++;
    }
    return n;
}

static const test_rec *test_find(engine_db db, const char *loc, const char *sku)
{
    char key[96];
    size_t len = strlen(loc) + 1;
    memcpy(key, loc, len);
    if (sku != NULL) {
        memcpy(key + len, sku, strlen(sku));
        len += strlen(sku);
    } else {
        len--; /* an offset: the source id */
    }
    for (size_t i = 0; i < test_n_recs; i++)
        if (test_recs[i].db == db && test_recs[i].key_len == len &&
            memcmp(test_recs[i].key, key, len) == 0)
            return &test_recs[i];
    return NULL;
}

static void test_snapshot_sorted_and_complete(void **state)
{
    test_fx *fx = *state;
    test_apply(fx->eng, 7, test_v1, -1, 0);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_n_groups, 1);
    assert_int_equal(test_over, 0);
    assert_int_equal(test_check_sorted(), TEST_N_SKUS * TEST_N_LOCS);
    for (size_t s = 0; s < TEST_N_SKUS; s++)
        for (size_t l = 0; l < TEST_N_LOCS; l++) {
            const test_rec *r = test_find(
                ENGINE_DB_POSITIONS, fx->cfg.locations[l].id, test_skus[s]);
            assert_non_null(r);
            assert_false(r->del);
            assert_int_equal(r->v[ATP_BUCKET_ON_HAND], test_v1(s, l));
            assert_int_equal(r->v[ATP_BUCKET_ALLOCATED], 0);
        }
    const test_rec *o = test_find(ENGINE_DB_OFFSETS, "wms", NULL);
    assert_non_null(o);
    assert_int_equal(o->v[0], 7);    /* seq */
    assert_int_equal(o->v[1], 1007); /* ts_ms */

    /* Incremental: only what changed, with the offset, in the same group. */
    test_apply(fx->eng, 8, test_v2, 3, 1);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_n_groups, 2);
    assert_int_equal(test_check_sorted(), 1);
    const test_rec *r = test_find(ENGINE_DB_POSITIONS, "dc-1", test_skus[3]);
    assert_non_null(r);
    assert_true(r->del);
    o = test_find(ENGINE_DB_OFFSETS, "wms", NULL);
    assert_non_null(o);
    assert_int_equal(o->v[0], 8);
}

static void test_snapshot_failure_writes_all_next(void **state)
{
    test_fx *fx = *state;
    test_apply(fx->eng, 1, test_v1, -1, 0);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    test_apply(fx->eng, 2, test_v2, 3, 1); /* one position changes */
    pthread_mutex_lock(&test_mu);
    test_fail_with = ATP_E_STORE_FULL;
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_STORE_FULL);
    /* Nothing changed since, yet the next one carries every position. */
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_n_groups, 2);
    assert_int_equal(test_check_sorted(), TEST_N_SKUS * TEST_N_LOCS);
    const test_rec *r = test_find(ENGINE_DB_POSITIONS, "dc-1", test_skus[3]);
    assert_non_null(r);
    assert_true(r->del);
    const test_rec *o = test_find(ENGINE_DB_OFFSETS, "wms", NULL);
    assert_non_null(o);
    assert_int_equal(o->v[0], 2);
}

/* A lot event of SKU A at dc-1: lot PO-1, or id. */
static void test_lot_id(engine *e, uint64_t seq, uint8_t kind, const char *id)
{
    engine_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    *ev = (engine_event){.kind = kind,
                         .location = 1,
                         .sku_len = 1,
                         .sku = "A",
                         .ref = id,
                         .ref_len = (uint32_t)strlen(id),
                         .value = 5,
                         .eta_ms = 1800000000000LL};
    engine_batch b = {.events = ev,
                      .n = 1,
                      .from_source = true,
                      .source = 0,
                      .seq = seq,
                      .ts_ms = 1000 + seq,
                      .release = test_release,
                      .owner = ev};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static void test_lot(engine *e, uint64_t seq, uint8_t kind)
{
    test_lot_id(e, seq, kind, "PO-1");
}

static size_t test_lot_recs(void)
{
    size_t n = 0;
    for (size_t i = 0; i < test_n_recs; i++)
        n += test_recs[i].db == ENGINE_DB_LOTS;
    return n;
}

/* The lot record of the last group: 1 put, -1 delete, 0 none. */
static int test_lot_rec(void)
{
    static const char key[] = "dc-1\0A\0PO-1";
    for (size_t i = 0; i < test_n_recs; i++)
        if (test_recs[i].db == ENGINE_DB_LOTS &&
            test_recs[i].key_len == sizeof key - 1 &&
            memcmp(test_recs[i].key, key, sizeof key - 1) == 0)
            return test_recs[i].del ? -1 : 1;
    return 0;
}

static void test_snapshot_failure_keeps_lot_removals(void **state)
{
    test_fx *fx = *state;
    test_lot(fx->eng, 1, ATP_EV_LOT_ADD);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_rec(), 1);
    test_lot(fx->eng, 2, ATP_EV_LOT_CANCEL);
    pthread_mutex_lock(&test_mu);
    test_fail_with = ATP_E_STORE_FULL;
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_STORE_FULL);
    /* Nothing changed since: the next one still deletes the lot. */
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_rec(), -1);
}

/* A snapshot writes the lots that changed since the last one, not every
 * lot; after a failed one, every lot. */
static void test_snapshot_lots_incremental(void **state)
{
    test_fx *fx = *state;
    test_lot_id(fx->eng, 1, ATP_EV_LOT_ADD, "PO-1");
    test_lot_id(fx->eng, 2, ATP_EV_LOT_ADD, "PO-2");
    test_lot_id(fx->eng, 3, ATP_EV_LOT_ADD, "PO-3");
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_recs(), 3);
    test_lot_id(fx->eng, 4, ATP_EV_LOT_CHANGE, "PO-2");
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_recs(), 1); /* PO-2 only */
    test_lot_id(fx->eng, 5, ATP_EV_LOT_CHANGE, "PO-1");
    test_lot_id(fx->eng, 6, ATP_EV_LOT_CANCEL, "PO-1"); /* changed, then gone */
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_recs(), 1);
    assert_int_equal(test_lot_rec(), -1); /* PO-1's delete, no put */
    test_lot_id(fx->eng, 7, ATP_EV_LOT_CHANGE, "PO-3");
    pthread_mutex_lock(&test_mu);
    test_fail_with = ATP_E_STORE_FULL;
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_STORE_FULL);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_recs(), 2); /* every lot: PO-2, PO-3 */
}

/* ---- the lots against a model store, with held (in-flight) writes ---- */
#define RV_IDS 4
static int64_t rv_store[RV_IDS]; /* qty, -1 absent */
static int64_t rv_live[RV_IDS];  /* the engine's lots (model) */
static int64_t rv_cut[RV_IDS];   /* rv_live when the held write was cut */
static bool rv_hold, rv_held;
static engine_record_op rv_ops[256];
static unsigned char rv_bytes[256][112];
static size_t rv_n;
static void (*rv_done)(void *, atp_err);
static void *rv_arg;
static pthread_cond_t rv_cv = PTHREAD_COND_INITIALIZER;

static int rv_id_of(const engine_record_op *op)
{
    const char *k = op->key;
    const char *n1 = memchr(k, 0, op->key_len);
    const char *n2 = memchr(n1 + 1, 0, op->key_len - (size_t)(n1 + 1 - k));
    assert_true(op->key_len - (size_t)(n2 + 1 - k) == 4);
    return n2[4] - '1';
}

static void rv_apply(const engine_record_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) { /* in order, as store_txn_apply */
        if (ops[i].db != ENGINE_DB_LOTS)
            continue;
        int id = rv_id_of(&ops[i]);
        if (ops[i].val == NULL)
            rv_store[id] = -1;
        else {
            int64_t q;
            memcpy(&q, ops[i].val, 8);
            rv_store[id] = q;
        }
    }
}

static atp_err rv_write(void *ctx, const engine_record_op *ops, size_t n,
                        void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&test_mu);
    atp_err err = test_fail_with;
    test_fail_with = ATP_OK;
    if (rv_hold) {
        assert_true(n <= 256);
        for (size_t i = 0; i < n; i++) {
            rv_ops[i] = ops[i];
            memcpy(rv_bytes[i], ops[i].key, ops[i].key_len);
            rv_ops[i].key = rv_bytes[i];
            if (ops[i].val) {
                memcpy(rv_bytes[i] + 96, ops[i].val, 16);
                rv_ops[i].val = rv_bytes[i] + 96;
            }
        }
        rv_n = n;
        rv_done = done;
        rv_arg = arg;
        rv_held = true;
        rv_hold = false;
        pthread_cond_broadcast(&rv_cv);
        pthread_mutex_unlock(&test_mu);
        return ATP_OK;
    }
    if (err == ATP_OK)
        rv_apply(ops, n);
    pthread_mutex_unlock(&test_mu);
    if (err == ATP_OK)
        done(arg, ATP_OK);
    return err;
}

static int rv_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    config_diags d = {0};
    /* No periodic snapshot (the default is every second): one that fires
     * between the test's own would take the failure or the hold meant for
     * them (seen under the thread sanitizer, where 3,000 rounds take
     * seconds). */
    static const char y[] =
        "service: {snapshot_interval: 1h}\n"
        "regions: [{id: r}]\n"
        "locations:\n"
        "  - {id: dc-10, region: r}\n"
        "  - {id: dc-1, region: r}\n"
        "sources:\n"
        "  - id: wms\n"
        "    authority:\n"
        "      - locations: [dc-10, dc-1]\n"
        "        buckets: [on_hand, allocated, held, inbound]\n";
    assert_int_equal(config_load_string(y, strlen(y), &fx->cfg, &d), ATP_OK);
    config_diags_fini(&d);
    engine_persist p = {.write = rv_write};
    assert_int_equal(engine_alloc(&fx->cfg, &p, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    test_fail_with = ATP_OK;
    for (int i = 0; i < RV_IDS; i++)
        rv_store[i] = rv_live[i] = -1;
    rv_hold = rv_held = false;
    *state = fx;
    return 0;
}

static uint64_t rv_seq;
static void rv_lot(engine *e, uint8_t kind, int id, int64_t qty, bool replace)
{
    engine_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    static const char *ids[RV_IDS] = {"PO-1", "PO-2", "PO-3", "PO-4"};
    *ev = (engine_event){.kind = kind,
                         .location = 1,
                         .sku_len = 1,
                         .sku = "A",
                         .ref = ids[id],
                         .ref_len = 4,
                         .value = qty,
                         .eta_ms = 1800000000000LL};
    ++rv_seq;
    engine_batch b = {.events = ev,
                      .n = 1,
                      .from_source = true,
                      .source = 0,
                      .seq = rv_seq,
                      .ts_ms = 1000 + rv_seq,
                      .replace_authority = replace,
                      .release = test_release,
                      .owner = ev};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    if (replace)
        for (int i = 0; i < RV_IDS; i++)
            rv_live[i] = -1;
    if (kind == ATP_EV_LOT_ADD || kind == ATP_EV_LOT_CHANGE)
        rv_live[id] = qty;
    else
        rv_live[id] = -1;
}

static void rv_check(const int64_t *want)
{
    for (int i = 0; i < RV_IDS; i++)
        if (rv_store[i] != want[i])
            fail_msg("PO-%d: store %lld, engine %lld", i + 1,
                     (long long)rv_store[i], (long long)want[i]);
}

typedef struct rv_thr {
    engine *e;
    atp_err err;
} rv_thr;
static void *rv_snap_main(void *a)
{
    rv_thr *t = a;
    t->err = engine_snapshot_now(t->e);
    return NULL;
}

static uint32_t rv_rand_state;
static uint32_t rv_rand(void)
{
    rv_rand_state = rv_rand_state * 1103515245u + 12345u;
    return rv_rand_state >> 16;
}

static void rv_random_events(engine *e, int n)
{
    for (int k = 0; k < n; k++) {
        int id = (int)(rv_rand() % RV_IDS);
        uint32_t r = rv_rand() % 10;
        int64_t q = 1 + (int64_t)(rv_rand() % 1000);
        if (r < 4)
            rv_lot(e, ATP_EV_LOT_ADD, id, q, false);
        else if (r < 6)
            rv_lot(e, ATP_EV_LOT_CHANGE, id, q, false);
        else if (r < 8)
            rv_lot(e, ATP_EV_LOT_CANCEL, id, 0, false);
        else if (r < 9)
            rv_lot(e, ATP_EV_LOT_RECEIVE, id, 0, false);
        else
            rv_lot(e, ATP_EV_LOT_ADD, id, q, true); /* full source snapshot */
    }
}

/* Random lot events between snapshots that are stored, fail, or are held in
 * flight while more events come and then stored or failed. After every
 * stored snapshot the model store equals the engine's lots at its cut. */
static void test_snapshot_lots_model(void **state)
{
    test_fx *fx = *state;
    rv_rand_state = getenv("RV_SEED") ? (uint32_t)atoi(getenv("RV_SEED")) : 1;
    for (int round = 0; round < 3000; round++) {
        rv_random_events(fx->eng, (int)(rv_rand() % 4));
        uint32_t mode = rv_rand() % 4;
        if (rv_rand() % 50 == 0) { /* restart, final snapshot stored or not */
            bool fail = rv_rand() % 2;
            pthread_mutex_lock(&test_mu);
            test_fail_with = fail ? ATP_E_STORE_FULL : ATP_OK;
            pthread_mutex_unlock(&test_mu);
            engine_stop(fx->eng);
            engine_free(fx->eng);
            bool tried = test_fail_with == ATP_OK;
            test_fail_with = ATP_OK;
            if (!fail || !tried)
                rv_check(rv_live);
            engine_persist p = {.write = rv_write};
            assert_int_equal(engine_alloc(&fx->cfg, &p, &fx->eng), ATP_OK);
            for (int i = 0; i < RV_IDS; i++) {
                rv_live[i] = rv_store[i];
                if (rv_store[i] < 0)
                    continue;
                char key[16] = "dc-1\0A\0PO-";
                key[10] = (char)('1' + i);
                unsigned char val[16] = {0};
                memcpy(val, &rv_store[i], 8);
                int64_t eta = 1800000000000LL;
                memcpy(val + 8, &eta, 8);
                assert_int_equal(engine_lot_load(fx->eng, key, 11, val, 16),
                                 ATP_OK);
            }
            assert_int_equal(engine_start(fx->eng), ATP_OK);
        }
        if (mode == 0) {
            assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
            rv_check(rv_live);
        } else if (mode == 1) {
            pthread_mutex_lock(&test_mu);
            test_fail_with = ATP_E_STORE_FULL;
            pthread_mutex_unlock(&test_mu);
            engine_snapshot_now(fx->eng);
        } else {
            bool ok = mode == 2;
            pthread_mutex_lock(&test_mu);
            rv_hold = true;
            pthread_mutex_unlock(&test_mu);
            rv_thr t = {fx->eng, ATP_OK};
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, rv_snap_main, &t), 0);
            pthread_mutex_lock(&test_mu);
            while (!rv_held)
                pthread_cond_wait(&rv_cv, &test_mu);
            pthread_mutex_unlock(&test_mu);
            memcpy(rv_cut, rv_live, sizeof rv_cut);
            rv_random_events(fx->eng, (int)(rv_rand() % 4)); /* in flight */
            pthread_mutex_lock(&test_mu);
            rv_held = false;
            if (ok)
                rv_apply(rv_ops, rv_n);
            void (*done)(void *, atp_err) = rv_done;
            void *arg = rv_arg;
            pthread_mutex_unlock(&test_mu);
            done(arg, ok ? ATP_OK : ATP_E_STORE_FULL);
            pthread_join(th, NULL);
            assert_int_equal(t.err, ok ? ATP_OK : ATP_E_STORE_FULL);
            if (ok)
                rv_check(rv_cut);
        }
    }
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    rv_check(rv_live);
}

static void test_snapshot_lots_replace(void **state)
{
    test_fx *fx = *state;
    rv_lot(fx->eng, ATP_EV_LOT_ADD, 3, 5, false);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    rv_check(rv_live);
    rv_lot(fx->eng, ATP_EV_LOT_ADD, 2, 6, true);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    rv_check(rv_live);
}

/* Deterministic: changed, removed, re-added with the same key between two
 * snapshots: delete first, then the put (the store applies in order). */
static void test_snapshot_lots_readd(void **state)
{
    test_fx *fx = *state;
    rv_lot(fx->eng, ATP_EV_LOT_ADD, 0, 5, false);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    rv_lot(fx->eng, ATP_EV_LOT_CHANGE, 0, 6, false);
    rv_lot(fx->eng, ATP_EV_LOT_CANCEL, 0, 0, false);
    rv_lot(fx->eng, ATP_EV_LOT_ADD, 0, 7, false);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    rv_check(rv_live);
    assert_int_equal(rv_store[0], 7);
}

/* A failed snapshot that carried no lot makes the next rewrite every lot. */
static void test_snapshot_fail_without_lots(void **state)
{
    test_fx *fx = *state;
    test_lot_id(fx->eng, 1, ATP_EV_LOT_ADD, "PO-1");
    test_lot_id(fx->eng, 2, ATP_EV_LOT_ADD, "PO-2");
    test_lot_id(fx->eng, 3, ATP_EV_LOT_ADD, "PO-3");
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    test_apply(fx->eng, 4, test_v1, 3, 1); /* a position, no lot */
    pthread_mutex_lock(&test_mu);
    test_fail_with = ATP_E_STORE_FULL;
    pthread_mutex_unlock(&test_mu);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_STORE_FULL);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
    assert_int_equal(test_lot_recs(), 0); /* none changed, none cut */
}

/* The same through write_owned: the store keeps the records' bytes (no
 * copy) and releases them once. */
static int test_setup_owned(void **state)
{
    test_owned = true;
    return test_setup(state);
}

static void test_snapshot_owned(void **state)
{
    test_snapshot_sorted_and_complete(state);
    assert_int_equal(test_n_released, 2);
    test_fx *fx = *state;
    pthread_mutex_lock(&test_mu);
    test_fail_with = ATP_E_STORE_FULL;
    pthread_mutex_unlock(&test_mu);
    test_apply(fx->eng, 9, test_v1, 3, 1);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_STORE_FULL);
    assert_int_equal(test_n_released, 2); /* refused: not the store's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_sorted_and_complete,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_failure_writes_all_next,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_owned, test_setup_owned,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(
            test_snapshot_failure_keeps_lot_removals, test_setup,
            test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_lots_incremental,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_fail_without_lots,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_lots_replace, rv_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_lots_readd, rv_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_lots_model, rv_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
