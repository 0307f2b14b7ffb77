/*
 * test_nomem.c - the engine when an allocation fails (SQLite-style: the
 * same scenario once per allocation it makes, failing exactly that one;
 * tests/unit/support/faultalloc.h).
 *
 * Scenario A: an engine with a synchronous fake store applies source
 * batches (positions, inbound lots inside and beyond the horizon, an
 * allocation that consumes a reservation, lot receive and cancel), serves
 * reservations (reserve, commit with an order, partial release, release,
 * extend, get), snapshots and stops. Scenario B: a new engine restores
 * what A stored (positions, lots, offsets, reservations) and answers.
 * Scenario C: a reload (engine_rules_replace: new buffer rules, a location
 * moved to another region) over A's stock: out of memory, it changes
 * nothing; done, it gives the reference answers (issue 21).
 *
 * Each run must end without a crash or a hang, answer every reservation
 * request exactly once, and (sanitizer build) leak nothing; a run whose
 * failed allocation did not matter must give the reference answers.
 *
 * Threads: the test thread submits and waits; the engine thread (and the
 * snapshot writer) allocate too, so which allocation is number n varies a
 * little between runs: every run is still one valid failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../support/faultalloc.h"
#include "atp/error.h"
#include "atp/wire.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "engine/engine.h"

static const char nomem_yaml[] = "regions:\n"
                                 "  - {id: east, inbound_horizon: 1h}\n"
                                 "  - {id: west}\n"
                                 "locations:\n"
                                 "  - {id: dc-1, region: east}\n"
                                 "  - {id: dc-2, region: east}\n"
                                 "  - {id: dc-w, region: west}\n"
                                 "channels: [web]\n"
                                 "sources:\n"
                                 "  - id: wms\n"
                                 "    authority:\n"
                                 "      - {locations: [dc-1, dc-2, dc-w], "
                                 "buckets: [on_hand, allocated, held, "
                                 "inbound]}\n"
                                 "buffers:\n"
                                 "  - {units: 1}\n"
                                 "  - {sku: S00, region: east, percent: 10}\n";

enum { EAST = 0, WEST = 1 };
enum { DC1 = 0, DC2 = 1, DCW = 2 };
#define N_SKUS 24

/* ---- a synchronous fake store that keeps what it is given -----------------
 */

#define STORE_MAX 256
#define STORE_KEY_MAX 160
#define STORE_VAL_MAX 1024

typedef struct nomem_rec {
    engine_db db;
    size_t key_len, val_len;
    unsigned char key[STORE_KEY_MAX], val[STORE_VAL_MAX];
} nomem_rec;

/* Written by the engine thread or the snapshot writer, one at a time (the
 * engine has one reservation group and one snapshot in flight at most, but
 * the two may overlap). Read by the test thread after engine_stop. */
static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static nomem_rec store_recs[STORE_MAX];
static size_t store_n;

static void nomem_store_put(const engine_record_op *op)
{
    assert_true(op->key_len <= STORE_KEY_MAX && op->val_len <= STORE_VAL_MAX);
    size_t i = 0;
    while (i < store_n &&
           !(store_recs[i].db == op->db &&
             store_recs[i].key_len == op->key_len &&
             memcmp(store_recs[i].key, op->key, op->key_len) == 0))
        i++;
    if (op->val == NULL) { /* delete */
        if (i < store_n)
            store_recs[i] = store_recs[--store_n];
        return;
    }
    if (i == store_n) {
        assert_true(store_n < STORE_MAX);
        store_n++;
    }
    nomem_rec *r = &store_recs[i];
    r->db = op->db;
    r->key_len = op->key_len;
    r->val_len = op->val_len;
    memcpy(r->key, op->key, op->key_len);
    memcpy(r->val, op->val, op->val_len);
}

static atp_err nomem_store_write(void *ctx, const engine_record_op *ops,
                                 size_t n, void (*done)(void *arg, atp_err err),
                                 void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&store_mu);
    for (size_t i = 0; i < n; i++)
        nomem_store_put(&ops[i]);
    pthread_mutex_unlock(&store_mu);
    done(arg, ATP_OK);
    return ATP_OK;
}

/* ---- requests ---------------------------------------------------------------
 */

typedef struct nomem_op {
    engine_resv_line lines[2];
    engine_resv_req req;
    atomic_int answers;
    atp_err err;
    bool granted;
} nomem_op;

static void nomem_op_done(void *arg, const engine_resv_result *res)
{
    nomem_op *op = arg;
    op->err = res->err;
    op->granted = res->granted;
    atomic_fetch_add(&op->answers, 1);
}

/* Submit and wait for the answer (bounded). Returns the answer's error,
 * or the submit's. */
static atp_err nomem_resv(engine *e, nomem_op *op, engine_resv_op kind,
                          const char *id)
{
    op->req.op = kind;
    op->req.id = id;
    op->req.id_len = (uint32_t)strlen(id);
    op->req.done = nomem_op_done;
    op->req.arg = op;
    atomic_store(&op->answers, 0);
    atp_err err = engine_resv_submit(e, &op->req);
    if (err != ATP_OK)
        return err;
    int64_t deadline = clock_mono_ms() + 20000;
    while (atomic_load(&op->answers) == 0) {
        assert_true(clock_mono_ms() < deadline);
        sched_yield();
    }
    engine_sync(e); /* a second answer would come before this one returns */
    assert_int_equal(atomic_load(&op->answers), 1);
    return op->err;
}

static void nomem_reserve(engine *e, const char *id, int64_t q1, int64_t q2)
{
    nomem_op op = {0};
    op.lines[0] = (engine_resv_line){
        .sku = "S00", .sku_len = 3, .region = EAST, .qty = q1};
    op.lines[1] = (engine_resv_line){
        .sku = "S01", .sku_len = 3, .region = WEST, .qty = q2};
    op.req.lines = op.lines;
    op.req.n_lines = 2;
    op.req.ttl_ms = 600000;
    nomem_resv(e, &op, ENGINE_RESV_RESERVE, id);
}

static void nomem_simple(engine *e, engine_resv_op kind, const char *id)
{
    nomem_op op = {0};
    if (kind == ENGINE_RESV_EXTEND)
        op.req.ttl_ms = 1200000;
    if (kind == ENGINE_RESV_COMMIT && strcmp(id, "r0") == 0) {
        op.req.order_ref = "ORD-0";
        op.req.order_ref_len = 5;
    }
    nomem_resv(e, &op, kind, id);
}

static void nomem_release_line(engine *e, const char *id)
{
    nomem_op op = {0};
    op.lines[0] =
        (engine_resv_line){.sku = "S01", .sku_len = 3, .region = WEST};
    op.req.lines = op.lines;
    op.req.n_lines = 1;
    nomem_resv(e, &op, ENGINE_RESV_RELEASE, id);
}

/* ---- batches
 * ------------------------------------------------------------------ */

static atomic_int batch_releases;

static void nomem_batch_release(void *owner, bool applied)
{
    (void)owner;
    (void)applied;
    atomic_fetch_add(&batch_releases, 1);
}

static char sku_names[N_SKUS][8];

static engine_event nomem_ev(uint8_t kind, uint8_t bucket, uint16_t loc, int s,
                             int64_t value, const char *ref, int64_t eta)
{
    return (engine_event){.kind = kind,
                          .bucket = bucket,
                          .location = loc,
                          .sku = sku_names[s],
                          .sku_len = (uint32_t)strlen(sku_names[s]),
                          .value = value,
                          .ref = ref,
                          .ref_len = ref ? (uint32_t)strlen(ref) : 0,
                          .eta_ms = eta};
}

static void nomem_submit(engine *e, engine_event *ev, uint32_t n, uint64_t seq)
{
    engine_batch b = {.events = ev,
                      .n = n,
                      .from_source = true,
                      .source = 0,
                      .seq = seq,
                      .ts_ms = (uint64_t)clock_wall_ms(),
                      .release = nomem_batch_release};
    int before = atomic_load(&batch_releases);
    if (engine_submit(e, &b) != ATP_OK)
        return;
    engine_sync(e);
    int64_t deadline = clock_mono_ms() + 20000;
    while (atomic_load(&batch_releases) == before) { /* engine_sync failed */
        assert_true(clock_mono_ms() < deadline);
        sched_yield();
    }
}

static void nomem_stock(engine *e)
{
    int64_t now = clock_wall_ms();
    engine_event ev[3 * N_SKUS + 4];
    uint32_t n = 0;
    for (int s = 0; s < N_SKUS; s++) {
        ev[n++] =
            nomem_ev(ATP_EV_SET, ATP_BUCKET_ON_HAND, DC1, s, 100, NULL, 0);
        ev[n++] = nomem_ev(ATP_EV_SET, ATP_BUCKET_ON_HAND, DCW, s, 50, NULL, 0);
        ev[n++] = nomem_ev(ATP_EV_SET, ATP_BUCKET_HELD, DC2, s, 3, NULL, 0);
    }
    ev[n++] = nomem_ev(ATP_EV_LOT_ADD, 0, DC1, 0, 7, "PO-in", now + 1800000);
    ev[n++] = nomem_ev(ATP_EV_LOT_ADD, 0, DC1, 0, 9, "PO-late", now + 7200000);
    ev[n++] = nomem_ev(ATP_EV_LOT_ADD, 0, DC2, 1, 5, "PO-b", now + 9000000);
    ev[n++] = nomem_ev(ATP_EV_LOT_ADD, 0, DC2, 2, 4, "PO-c", now + 600000);
    nomem_submit(e, ev, n, 1);
}

static void nomem_later(engine *e)
{
    int64_t now = clock_wall_ms();
    engine_event ev[] = {
        nomem_ev(ATP_EV_DELTA, ATP_BUCKET_ALLOCATED, DC1, 0, 1, "ORD-0", 0),
        nomem_ev(ATP_EV_LOT_RECEIVE, 0, DC1, 0, 0, "PO-in", 0),
        nomem_ev(ATP_EV_LOT_CANCEL, 0, DC2, 1, 0, "PO-b", 0),
        nomem_ev(ATP_EV_LOT_CHANGE, 0, DC2, 2, 6, "PO-c", now + 8000000),
        nomem_ev(ATP_EV_SET, ATP_BUCKET_ON_HAND, DC1, 5, 0, NULL, 0),
    };
    nomem_submit(e, ev, sizeof ev / sizeof ev[0], 2);
}

/* ---- the scenarios
 * -------------------------------------------------------------- */

typedef struct nomem_answers {
    engine_answer a[4];
    uint64_t open;
} nomem_answers;

static void nomem_read(engine *e, nomem_answers *out)
{
    engine_query(e, "S00", 3, EAST, 1, &out->a[0]);
    engine_query(e, "S01", 3, WEST, 0, &out->a[1]);
    engine_query(e, "S02", 3, EAST, 0, &out->a[2]);
    engine_query(e, "S05", 3, EAST, 1, &out->a[3]);
    engine_stats st;
    engine_stats_get(e, &st);
    out->open = st.resv_open;
}

static engine *nomem_engine(const config *cfg)
{
    engine_persist persist = {.write = nomem_store_write};
    engine *e;
    if (engine_alloc(cfg, &persist, &e) != ATP_OK)
        return NULL;
    return e;
}

static void nomem_scenario_a(const config *cfg, nomem_answers *out)
{
    pthread_mutex_lock(&store_mu);
    store_n = 0;
    pthread_mutex_unlock(&store_mu);
    engine *e = nomem_engine(cfg);
    if (e == NULL)
        return;
    if (engine_start(e) != ATP_OK) {
        engine_free(e);
        return;
    }
    nomem_stock(e);
    static const char *const ids[] = {"r0", "r1", "r2", "r3", "r4", "r5", "r6"};
    for (int i = 0; i < 7; i++)
        nomem_reserve(e, ids[i], 2 + i, 1);
    nomem_simple(e, ENGINE_RESV_COMMIT, "r0");
    nomem_simple(e, ENGINE_RESV_COMMIT, "r1");
    nomem_simple(e, ENGINE_RESV_RELEASE, "r2");
    nomem_release_line(e, "r3");
    nomem_simple(e, ENGINE_RESV_EXTEND, "r4");
    nomem_simple(e, ENGINE_RESV_GET, "r5");
    nomem_reserve(e, "r0", 2, 1); /* the same again: the original answer */
    nomem_later(e);
    engine_snapshot_now(e);
    nomem_read(e, out);
    engine_stop(e);
    engine_free(e);
}

static void nomem_scenario_b(const config *cfg, const nomem_rec *recs, size_t n,
                             nomem_answers *out)
{
    engine *e = nomem_engine(cfg);
    if (e == NULL)
        return;
    if (engine_reserve_positions(e, n) == ATP_OK) {
        static const engine_db order[] = {ENGINE_DB_POSITIONS, ENGINE_DB_LOTS,
                                          ENGINE_DB_OFFSETS,
                                          ENGINE_DB_RESERVATIONS};
        for (int k = 0; k < 4; k++) {
            for (size_t i = 0; i < n; i++) {
                const nomem_rec *r = &recs[i];
                if (r->db != order[k])
                    continue;
                uint32_t src;
                uint64_t seq;
                switch (r->db) {
                case ENGINE_DB_POSITIONS:
                    engine_position_load(e, r->key, r->key_len, r->val,
                                         r->val_len);
                    break;
                case ENGINE_DB_LOTS:
                    engine_lot_load(e, r->key, r->key_len, r->val, r->val_len);
                    break;
                case ENGINE_DB_OFFSETS:
                    engine_offset_load(e, r->key, r->key_len, r->val,
                                       r->val_len, &src, &seq);
                    break;
                default:
                    engine_resv_load(e, r->key, r->key_len, r->val, r->val_len);
                    break;
                }
            }
        }
    }
    if (engine_start(e) == ATP_OK) {
        engine_sync(e);
        nomem_read(e, out);
        engine_stop(e);
    }
    engine_free(e);
}

/* Scenario C: a reload (engine_rules_replace) to other buffer rules and
 * dc-2 in another region, over the stock of A. *err: its answer (-1: not
 * reached, the engine could not start). */
static void nomem_scenario_c(const config *cfg, const config *next,
                             nomem_answers *before, nomem_answers *out,
                             int *err)
{
    *err = -1;
    engine *e = nomem_engine(cfg);
    if (e == NULL)
        return;
    if (engine_start(e) != ATP_OK) {
        engine_free(e);
        return;
    }
    nomem_stock(e);
    nomem_read(e, before);
    engine_rules_report rep;
    *err = engine_rules_replace(e, cfg, next, &rep);
    engine_sync(e);
    nomem_read(e, out);
    engine_stop(e);
    engine_free(e);
}

static void nomem_load_config(config *cfg)
{
    config_diags d = {0};
    assert_int_equal(
        config_load_string(nomem_yaml, sizeof nomem_yaml - 1, cfg, &d), ATP_OK);
    config_diags_fini(&d);
    for (int s = 0; s < N_SKUS; s++)
        snprintf(sku_names[s], sizeof sku_names[s], "S%02d", s);
}

static bool nomem_same(const nomem_answers *a, const nomem_answers *b)
{
    for (int i = 0; i < 4; i++)
        if (a->a[i].atp != b->a[i].atp || a->a[i].supply != b->a[i].supply ||
            a->a[i].reserved != b->a[i].reserved)
            return false;
    return a->open == b->open;
}

static void nomem_assert_same(const nomem_answers *a, const nomem_answers *b)
{
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a->a[i].atp, b->a[i].atp);
        assert_int_equal(a->a[i].supply, b->a[i].supply);
        assert_int_equal(a->a[i].reserved, b->a[i].reserved);
    }
    assert_int_equal(a->open, b->open);
}

/* Fail allocation 0, 1, 2, ... (persistent: and every one after it) until
 * a run makes no failed allocation. Returns the allocations of that run. */
static long nomem_each_allocation(void (*run)(void *), void *arg,
                                  bool persistent)
{
    long at = 0;
    for (;; at++) {
        faultalloc_arm(at, persistent);
        run(arg);
        if (faultalloc_disarm() == 0)
            return at;
    }
}

typedef struct nomem_ctx {
    config cfg, next;
    nomem_rec recs[STORE_MAX];
    size_t n;
    nomem_answers ref, got;
    nomem_answers c_before, c_after; /* scenario C's reference */
} nomem_ctx;

static void nomem_run_a(void *arg)
{
    nomem_ctx *c = arg;
    memset(&c->got, 0, sizeof c->got);
    nomem_scenario_a(&c->cfg, &c->got);
}

static void nomem_run_b(void *arg)
{
    nomem_ctx *c = arg;
    memset(&c->got, 0, sizeof c->got);
    nomem_scenario_b(&c->cfg, c->recs, c->n, &c->got);
}

/* A reload that runs out of memory changes nothing (engine.h: "first,
 * ATP_E_NOMEM; then nothing changed"); one that succeeds over the whole
 * stock gives the reference answers. */
static void nomem_run_c(void *arg)
{
    nomem_ctx *c = arg;
    nomem_answers before;
    int err;
    memset(&before, 0, sizeof before);
    memset(&c->got, 0, sizeof c->got);
    nomem_scenario_c(&c->cfg, &c->next, &before, &c->got, &err);
    if (err == ATP_E_NOMEM)
        nomem_assert_same(&before, &c->got);
    else if (err == ATP_OK && nomem_same(&before, &c->c_before))
        nomem_assert_same(&c->c_after, &c->got);
    else if (err != ATP_OK)
        assert_int_equal(err, -1); /* no other answer */
}

static void test_nomem_engine(void **state)
{
    (void)state;
    static nomem_ctx c;
    /* Above every level: the runs log thousands of expected out-of-memory
     * lines. */
    log_set_level((log_level)(LOG_ERROR + 1));
    nomem_load_config(&c.cfg);

    /* The reference: no failure. */
    nomem_run_a(&c);
    c.ref = c.got;
    assert_int_equal(c.ref.open,
                     6); /* r0..r6 less r2 released; r0 consumed 1 of 2 */
    assert_true(c.ref.a[0].reserved > 0);
    memcpy(c.recs, store_recs, sizeof c.recs);
    c.n = store_n;
    nomem_answers stored;
    nomem_run_b(&c);
    stored = c.got;
    nomem_assert_same(&c.ref, &stored);

    for (int persistent = 0; persistent < 2; persistent++) {
        const char *how = persistent ? "and every one after it" : "once";
        long runs = nomem_each_allocation(nomem_run_a, &c, persistent);
        print_message("scenario A: %ld allocations, each failed %s\n", runs,
                      how);
        assert_true(runs > 50);
        nomem_assert_same(&c.ref, &c.got); /* the last run failed nothing */

        runs = nomem_each_allocation(nomem_run_b, &c, persistent);
        print_message("scenario B: %ld allocations, each failed %s\n", runs,
                      how);
        assert_true(runs > 20);
        nomem_assert_same(&stored, &c.got);
    }

    /* Scenario C's reference, then each allocation failed. */
    static const char next_yaml[] =
        "regions:\n"
        "  - {id: east, inbound_horizon: 1h}\n"
        "  - {id: west}\n"
        "locations:\n"
        "  - {id: dc-1, region: east}\n"
        "  - {id: dc-2, region: west}\n"
        "  - {id: dc-w, region: west}\n"
        "channels: [web]\n"
        "buffers:\n"
        "  - {units: 5}\n"
        "  - {sku: S01, region: west, percent: 50}\n";
    config_diags d = {0};
    assert_int_equal(
        config_load_string(next_yaml, sizeof next_yaml - 1, &c.next, &d),
        ATP_OK);
    config_diags_fini(&d);
    int err;
    nomem_scenario_c(&c.cfg, &c.next, &c.c_before, &c.c_after, &err);
    assert_int_equal(err, ATP_OK);
    assert_false(nomem_same(&c.c_before, &c.c_after)); /* it did change */
    for (int persistent = 0; persistent < 2; persistent++) {
        long runs = nomem_each_allocation(nomem_run_c, &c, persistent);
        print_message("scenario C: %ld allocations, each failed %s\n", runs,
                      persistent ? "and every one after it" : "once");
        assert_true(runs > 20);
        nomem_assert_same(&c.c_after, &c.got);
    }
    config_fini(&c.next);
    config_fini(&c.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nomem_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
