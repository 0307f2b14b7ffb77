/*
 * test_resv.c - unit tests of the group commit in src/engine/resv.c, with a
 * fake store the test completes by hand: nothing is answered before its
 * group is durable; when a group is durable the next one is handed to the
 * store before the replies are written (its fsync overlaps them); a failed
 * group is undone and refused without touching the durable one before it.
 *
 * Threads: the test thread submits, completes the fake writes and reads
 * the results after engine_sync (which queues behind everything it waits
 * for); the engine thread decides and calls the done callbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

static const char test_resv_yaml[] = "regions:\n"
                                     "  - id: us-east\n"
                                     "  - id: eu\n"
                                     "locations:\n"
                                     "  - {id: dc-1, region: us-east, "
                                     "pickup: true}\n"
                                     "channels: [web]\n";
/* The same with dc-1 moved to eu (test_resv_pinned_move). */
static const char test_resv_moved_yaml[] = "regions:\n"
                                           "  - id: us-east\n"
                                           "  - id: eu\n"
                                           "locations:\n"
                                           "  - {id: dc-1, region: eu, "
                                           "pickup: true}\n"
                                           "channels: [web]\n";

/* ---- the fake store ------------------------------------------------------ */

#define TEST_MAX_WRITES 16

typedef struct test_store {
    pthread_mutex_t mu;
    int n_writes; /* groups handed over so far */
    size_t n_ops[TEST_MAX_WRITES];
    void (*done[TEST_MAX_WRITES])(void *arg, atp_err err);
    void *arg[TEST_MAX_WRITES];
} test_store;

static test_store test_st = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atp_err test_store_write(void *ctx, const engine_record_op *ops,
                                size_t n, void (*done)(void *arg, atp_err err),
                                void *arg)
{
    test_store *s = ctx;
    if (n == 0 || ops[0].db != ENGINE_DB_RESERVATIONS) {
        done(arg, ATP_OK); /* a snapshot (engine_stop takes one): stored */
        return ATP_OK;
    }
    pthread_mutex_lock(&s->mu);
    assert_true(s->n_writes < TEST_MAX_WRITES);
    s->n_ops[s->n_writes] = n;
    s->done[s->n_writes] = done;
    s->arg[s->n_writes] = arg;
    s->n_writes++;
    pthread_mutex_unlock(&s->mu);
    return ATP_OK;
}

static int test_store_writes(void)
{
    pthread_mutex_lock(&test_st.mu);
    int n = test_st.n_writes;
    pthread_mutex_unlock(&test_st.mu);
    return n;
}

/* Finish write i with err, as the store's writer thread would. */
static void test_store_complete(int i, atp_err err)
{
    pthread_mutex_lock(&test_st.mu);
    void (*done)(void *, atp_err) = test_st.done[i];
    void *arg = test_st.arg[i];
    pthread_mutex_unlock(&test_st.mu);
    done(arg, err);
}

/* ---- reservations and their answers ------------------------------------- */

typedef struct test_op {
    engine_resv_line line;
    engine_resv_req req;
    atomic_bool answered;
    atp_err err;
    bool granted;
    int writes_seen; /* fake store writes when the answer was written */
} test_op;

static void test_op_done(void *arg, const engine_resv_result *res)
{
    test_op *op = arg;
    op->err = res->err;
    op->granted = res->granted;
    op->writes_seen = test_store_writes();
    atomic_store(&op->answered, true);
}

/* A reserve of qty units of A, pinned to location pin - 1 (0: none). */
static void test_reserve_at(engine *e, test_op *op, const char *id, int64_t qty,
                            uint32_t pin)
{
    memset(op, 0, sizeof *op);
    op->line = (engine_resv_line){
        .sku = "A", .sku_len = 1, .region = 0, .pin = pin, .qty = qty};
    op->req = (engine_resv_req){.op = ENGINE_RESV_RESERVE,
                                .id = id,
                                .id_len = (uint32_t)strlen(id),
                                .channel = 0,
                                .lines = &op->line,
                                .n_lines = 1,
                                .done = test_op_done,
                                .arg = op};
    assert_int_equal(engine_resv_submit(e, &op->req), ATP_OK);
}

static void test_reserve(engine *e, test_op *op, const char *id, int64_t qty)
{
    test_reserve_at(e, op, id, qty, 0);
}

static int64_t test_atp(engine *e)
{
    engine_answer a;
    engine_query(e, "A", 1, 0, 0, &a);
    return a.atp;
}

/* A started engine on the fake store (reset: no writes yet) with 10 units
 * of A on hand. */
static engine *test_engine_with_stock(config *cfg)
{
    test_st.n_writes = 0;
    config_diags diags = {0};
    assert_int_equal(config_load_string(test_resv_yaml,
                                        sizeof test_resv_yaml - 1, cfg, &diags),
                     ATP_OK);
    config_diags_fini(&diags);
    engine_persist persist = {.ctx = &test_st, .write = test_store_write};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    static engine_event ev = {.kind = ATP_EV_SET,
                              .bucket = ATP_BUCKET_ON_HAND,
                              .location = 0,
                              .sku_len = 1,
                              .sku = "A",
                              .value = 10};
    static engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_atp(e), 10);
    return e;
}

/* The engine's own checks of what the request module checks first (the
 * engine is called directly too): a TTL outside
 * reservations.min_ttl..max_ttl, two lines of one SKU whose sum is past
 * 10^15, no lines at all. Each is refused at once with its code; nothing
 * is written, ATP and the open count stay as they were. */
static void test_resv_refused_by_engine(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine_with_stock(&cfg);
    static const struct {
        const char *id;
        int64_t ttl_ms;
        uint32_t n_lines;
        int64_t qty;
        atp_err want;
    } cases[] = {
        {"ttl-long", 400LL * 86400 * 1000, 1, 1, ATP_E_BAD_TTL},
        {"ttl-short", 1, 1, 1, ATP_E_BAD_TTL},
        {"qty-sum", 0, 2, ATP_QTY_MAX, ATP_E_BAD_QTY},
        {"no-lines", 0, 0, 1, ATP_E_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_op op;
        memset(&op, 0, sizeof op);
        engine_resv_line lines[2];
        for (int k = 0; k < 2; k++)
            lines[k] = (engine_resv_line){
                .sku = "A", .sku_len = 1, .region = 0, .qty = cases[i].qty};
        op.req = (engine_resv_req){.op = ENGINE_RESV_RESERVE,
                                   .id = cases[i].id,
                                   .id_len = (uint32_t)strlen(cases[i].id),
                                   .ttl_ms = cases[i].ttl_ms,
                                   .lines = lines,
                                   .n_lines = cases[i].n_lines,
                                   .done = test_op_done,
                                   .arg = &op};
        assert_int_equal(engine_resv_submit(e, &op.req), ATP_OK);
        assert_int_equal(engine_sync(e), ATP_OK);
        assert_true(atomic_load(&op.answered));
        if (op.err != cases[i].want)
            fail_msg("case %s: got %d, want %d", cases[i].id, op.err,
                     cases[i].want);
        assert_false(op.granted);
        assert_int_equal(test_atp(e), 10);
    }
    assert_int_equal(test_store_writes(), 0);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_open, 0);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void test_resv_group_commit(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine_with_stock(&cfg);

    /* r1 goes to the store at once; r2 collects behind it. Both are
     * decided (ATP counts them) but neither is answered. */
    test_op r1, r2;
    test_reserve(e, &r1, "r1", 3);
    assert_int_equal(engine_sync(e), ATP_OK);
    test_reserve(e, &r2, "r2", 4);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_store_writes(), 1);
    assert_int_equal(test_st.n_ops[0], 1);
    assert_false(atomic_load(&r1.answered));
    assert_false(atomic_load(&r2.answered));
    assert_int_equal(test_atp(e), 3);

    /* r1 durable: r2's group is handed over before r1 is answered. */
    test_store_complete(0, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&r1.answered));
    assert_int_equal(r1.err, ATP_OK);
    assert_true(r1.granted);
    assert_int_equal(r1.writes_seen, 2);
    assert_false(atomic_load(&r2.answered));

    /* r2's write fails: r2 is undone and refused, r1 stays. */
    test_store_complete(1, ATP_E_IO);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&r2.answered));
    assert_int_equal(r2.err, ATP_E_IO);
    assert_int_equal(test_atp(e), 7);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_open, 1);
    assert_int_equal(test_store_writes(), 2);

    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void test_commit(engine *e, test_op *op, const char *id)
{
    memset(op, 0, sizeof *op);
    op->req = (engine_resv_req){.op = ENGINE_RESV_COMMIT,
                                .id = id,
                                .id_len = (uint32_t)strlen(id),
                                .done = test_op_done,
                                .arg = op};
    assert_int_equal(engine_resv_submit(e, &op->req), ATP_OK);
}

/* o1 (3 units) reserved and stored, then its commit handed to the store
 * (write 1, still in flight). */
static void test_reserve_then_commit(engine *e, test_op *r, test_op *c)
{
    test_reserve(e, r, "o1", 3);
    assert_int_equal(engine_sync(e), ATP_OK);
    test_store_complete(0, ATP_OK);
    test_commit(e, c, "o1");
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_store_writes(), 2);
}

/* The WMS allocation of o1's 3 units at DC-1 (location 0), applied. */
static void test_allocate_o1(engine *e)
{
    engine_event alloc = {.kind = ATP_EV_DELTA,
                          .bucket = ATP_BUCKET_ALLOCATED,
                          .location = 0,
                          .sku_len = 1,
                          .sku = "A",
                          .value = 3,
                          .ref = "o1",
                          .ref_len = 2};
    engine_batch b = {.events = &alloc, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

/* An engine with stock 10 of A, reservation o1 (3 units) reserved and
 * committed (both stored), and the WMS allocation of its 3 units applied:
 * the consumption's write (the store's write 2) failed, store full. */
static engine *test_consumption_failed(config *cfg)
{
    engine *e = test_engine_with_stock(cfg);
    static test_op r, c;
    test_reserve_then_commit(e, &r, &c);
    test_store_complete(1, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(c.err, ATP_OK);
    assert_int_equal(test_atp(e), 7);

    /* The WMS allocates the order's 3 units, naming it: a consumption. */
    test_allocate_o1(e);
    assert_int_equal(test_store_writes(), 3);
    assert_int_equal(test_atp(e), 7); /* 10 - 3 allocated, nothing reserved */
    test_store_complete(2, ATP_E_STORE_FULL);
    assert_int_equal(engine_sync(e), ATP_OK);
    return e;
}

/* Wait (at most 5 s) until the fake store has been handed n writes. */
static void test_wait_writes(int n)
{
    for (int i = 0; i < 500 && test_store_writes() < n; i++) {
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
    }
    assert_int_equal(test_store_writes(), n);
}

/* A consumption whose write fails is not undone: the WMS allocation it
 * answers is applied, so undoing it would count the units twice (reserved
 * and allocated). Its record is written again in the next group. */
static void test_resv_consumption_kept(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_consumption_failed(&cfg);

    /* Still 7 (not 4), and the record is written again, not at once (the
     * disk may still be full) but after the retry time (1 s). */
    assert_int_equal(test_atp(e), 7);
    assert_int_equal(test_store_writes(), 3);
    test_wait_writes(4);
    assert_int_equal(test_st.n_ops[3], 1);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_open, 0); /* consumed, not back to committed */
    assert_int_equal(st.resv_consumed, 1);
    assert_int_equal(st.resv_store_failures, 0); /* kept, not refused */
    test_store_complete(3, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_atp(e), 7);
    assert_int_equal(test_store_writes(), 4);

    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* The commit of o1 is still being written when the WMS allocation naming
 * it arrives; then the commit's write fails. The commit is undone (o1 is
 * held again, and its client told so), but what the allocation consumed
 * stays consumed: ATP 7, not 4. */
static void test_resv_consumption_over_failed_commit(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine_with_stock(&cfg);
    test_op r, c;
    test_reserve_then_commit(e, &r, &c); /* the commit, in flight */

    test_allocate_o1(e);
    assert_int_equal(test_atp(e), 7);

    test_store_complete(1, ATP_E_STORE_FULL);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&c.answered));
    assert_int_equal(c.err, ATP_E_STORE_FULL);
    assert_int_equal(test_atp(e), 7);
    test_wait_writes(3); /* o1 as it is now, written again */
    test_store_complete(2, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_atp(e), 7);

    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void *test_stop_main(void *arg)
{
    engine_stop(arg);
    return NULL;
}

/* Stopping while the store keeps failing: the kept consumption gets one
 * last write at once, and when that fails too the stop goes on (it used to
 * wait for a store that might never come back). */
static void test_resv_stop_while_failing(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_consumption_failed(&cfg);
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, test_stop_main, e), 0);
    test_wait_writes(4); /* the last try */
    test_store_complete(3, ATP_E_STORE_FULL);
    pthread_join(stopper, NULL); /* returns: nothing is retried any more */
    assert_int_equal(test_store_writes(), 4);
    engine_free(e);
    config_fini(&cfg);
}

/* ---- lines pinned to a pickup location ---------------------------------- */

static void test_pickup_done(void *arg, const engine_pickup *x)
{
    int64_t *out = arg; /* [reserved, pickup_atp] at dc-1 */
    assert_int_equal(x->err, ATP_OK);
    assert_int_equal(x->n_locs, 1);
    out[0] = x->locs[0].reserved;
    out[1] = x->locs[0].atp;
}

/* What the engine says dc-1 holds for pins of A and can still promise. */
static void test_pickup_at_dc1(engine *e, int64_t reserved, int64_t atp)
{
    static const engine_pickup_line line = {"A", 1};
    int64_t got[2] = {-1, -1};
    assert_int_equal(
        engine_pickup_submit(e, 0, 0, &line, 1, test_pickup_done, got), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(got[0], reserved);
    assert_int_equal(got[1], atp);
}

/* A pinned grant counts at the location at once (a pin after it is
 * decided against it, while its write is still in flight); a failed write
 * undoes it there too, and a release gives it back. A pin to a location
 * the engine does not have is refused with the line's index. */
static void test_resv_pinned(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine_with_stock(&cfg);
    test_op p1, p2, p3, bad;
    test_reserve_at(e, &p1, "p1", 4, 1); /* pinned to dc-1 */
    assert_int_equal(engine_sync(e), ATP_OK);
    test_store_complete(0, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(p1.granted);
    test_pickup_at_dc1(e, 4, 6);

    test_reserve_at(e, &p2, "p2", 5, 1);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_store_writes(), 2);
    test_pickup_at_dc1(e, 9, 1); /* decided: counted before it is durable */
    test_reserve_at(e, &p3, "p3", 2, 1);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&p3.answered));
    assert_false(p3.granted); /* 10 - 4 - 5 = 1 left at dc-1 */

    test_store_complete(1, ATP_E_IO); /* p2 undone: its pin too */
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(p2.err, ATP_E_IO);
    test_pickup_at_dc1(e, 4, 6);
    assert_int_equal(test_atp(e), 6);

    test_reserve_at(e, &bad, "bad", 1, 9); /* no such location */
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(bad.err, ATP_E_UNKNOWN_LOCATION);
    assert_int_equal(test_store_writes(), 2);

    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void test_release_id(engine *e, test_op *op, const char *id)
{
    memset(op, 0, sizeof *op);
    op->req = (engine_resv_req){.op = ENGINE_RESV_RELEASE,
                                .id = id,
                                .id_len = (uint32_t)strlen(id),
                                .done = test_op_done,
                                .arg = op};
    assert_int_equal(engine_resv_submit(e, &op->req), ATP_OK);
}

/* A location with an open pinned line is not moved; nor while the release
 * of its last pin is not stored yet (the pinned sums count it released
 * already, and a failed write puts it back); once the release is stored,
 * it moves. */
/* A failed commit write undone under a consumption of every unit leaves
 * o1 held with nothing open (test_resv_consumption_over_failed_commit). A
 * release then finishes it as released and writes it: nothing to release
 * is no reason to leave it open until it expires. */
static void test_resv_release_nothing_open(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine_with_stock(&cfg);
    test_op r, c, rel;
    test_reserve_then_commit(e, &r, &c);
    test_allocate_o1(e);
    test_store_complete(1, ATP_E_STORE_FULL);
    assert_int_equal(engine_sync(e), ATP_OK);
    test_wait_writes(3); /* o1 as it is now, written again */
    test_store_complete(2, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_open, 1); /* held, every unit consumed */

    test_release_id(e, &rel, "o1");
    assert_int_equal(engine_sync(e), ATP_OK);
    test_wait_writes(4); /* finished: written */
    test_store_complete(3, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&rel.answered));
    assert_int_equal(rel.err, ATP_OK);
    engine_stats_get(e, &st);
    assert_int_equal(st.resv_open, 0);
    assert_int_equal(test_atp(e), 7);

    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

static void test_resv_pinned_move(void **state)
{
    (void)state;
    config cfg, moved;
    engine *e = test_engine_with_stock(&cfg);
    test_load(&moved, test_resv_moved_yaml);
    test_op p1, rel;
    test_reserve_at(e, &p1, "p1", 2, 1);
    assert_int_equal(engine_sync(e), ATP_OK);
    test_store_complete(0, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(p1.granted);
    engine_rules_report rep;
    assert_int_equal(engine_rules_replace(e, &cfg, &moved, &rep),
                     ATP_E_BAD_STATE);

    test_release_id(e, &rel, "p1"); /* write 1, in flight */
    assert_int_equal(engine_sync(e), ATP_OK);
    test_pickup_at_dc1(e, 0, 10);
    assert_int_equal(engine_rules_replace(e, &cfg, &moved, &rep),
                     ATP_E_BAD_STATE); /* the release may still be undone */
    test_store_complete(1, ATP_E_IO);  /* and it is */
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(rel.err, ATP_E_IO);
    test_pickup_at_dc1(e, 2, 8);
    assert_int_equal(engine_rules_replace(e, &cfg, &moved, &rep),
                     ATP_E_BAD_STATE);

    test_release_id(e, &rel, "p1");
    assert_int_equal(engine_sync(e), ATP_OK);
    test_store_complete(2, ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(rel.err, ATP_OK);
    assert_int_equal(engine_rules_replace(e, &cfg, &moved, &rep), ATP_OK);
    assert_int_equal(rep.moved.locations, 1);

    engine_stop(e);
    engine_free(e);
    config_fini(&moved);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resv_group_commit),
        cmocka_unit_test(test_resv_refused_by_engine),
        cmocka_unit_test(test_resv_pinned),
        cmocka_unit_test(test_resv_pinned_move),
        cmocka_unit_test(test_resv_consumption_kept),
        cmocka_unit_test(test_resv_stop_while_failing),
        cmocka_unit_test(test_resv_consumption_over_failed_commit),
        cmocka_unit_test(test_resv_release_nothing_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
