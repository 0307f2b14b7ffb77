/*
 * test_lifecycle.c - unit tests of the engine's life cycle through its
 * public API, with a fake store (engine_persist) that completes each write
 * at once with a settable error:
 * - a reservation or snapshot request never blocks its caller (an nng
 *   callback in atpd) when the engine's queue is full: ATP_E_BUSY at once
 *   (issue 12 item 8);
 * - a snapshot request that arrives after the stop command is answered
 *   (busy), never left waiting forever (issue 12 item 7);
 * - engine_stop gives up on a final snapshot the store refuses, once,
 *   instead of retrying it in a loop (issue 12 item 12);
 * - a reserve refused with store_full leaves status untouched, counters
 *   included (issue 12 item 4);
 * - a batch, explain, pickup, sync and rules change queued behind the stop
 *   command each hear back: not applied, busy (issue 21).
 *
 * The engine thread is held still by a batch whose release callback waits
 * on a gate (tests/unit/engine_gate.h), so the queue's content is known
 * exactly. Every wait has a deadline: a regression fails, it
 * does not hang.
 * Labels: unit, correctness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine_gate.h"
#include "atp/error.h"
#include "atp/wire.h"
#include "common/clock.h"
#include "config/config.h"
#include "engine/engine.h"

static const char test_yaml[] = "regions: [{id: r}]\n"
                                "locations:\n"
                                "  - {id: dc, region: r}\n";

/* ---- the fake store: every write completes at once with test_fail ---- */

static _Atomic int test_fail;   /* atp_err of every write; ATP_OK: stored */
static _Atomic int test_writes; /* writes seen */

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx, (void)ops, (void)n;
    atomic_fetch_add(&test_writes, 1);
    done(arg, (atp_err)atomic_load(&test_fail));
    return ATP_OK;
}

/* ---- fixture ----------------------------------------------------------------
 */

typedef struct test_fx {
    config cfg;
    engine *eng;
} test_fx;

static int test_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    config_diags d = {0};
    assert_int_equal(
        config_load_string(test_yaml, strlen(test_yaml), &fx->cfg, &d), ATP_OK);
    config_diags_fini(&d);
    engine_persist p = {.write = test_write};
    assert_int_equal(engine_alloc(&fx->cfg, &p, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    atomic_store(&test_fail, ATP_OK);
    atomic_store(&test_writes, 0);
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

/* Wait until cond(arg) or ms pass; returns cond's last value. */
static bool test_wait_for(bool (*cond)(void *), void *arg, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    while (!cond(arg) && clock_mono_ms() < end)
        usleep(1000);
    return cond(arg);
}

/* ---- a reservation op and a snapshot request from another thread ----------
 */

typedef struct test_call {
    engine *e;
    engine_resv_req req;
    engine_resv_line line;
    _Atomic bool returned; /* the submitting call returned */
    atp_err submit_err;
    _Atomic bool answered; /* done was called */
    _Atomic int answer_err;
    bool granted;
} test_call;

static void test_resv_done(void *arg, const engine_resv_result *res)
{
    test_call *c = arg;
    c->granted = res->granted;
    atomic_store(&c->answer_err, res->err);
    atomic_store(&c->answered, true);
}

static void test_resv_init(test_call *c, engine *e, const char *id, int64_t qty)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->line =
        (engine_resv_line){.sku = "A", .sku_len = 1, .region = 0, .qty = qty};
    c->req = (engine_resv_req){.op = ENGINE_RESV_RESERVE,
                               .id = id,
                               .id_len = (uint32_t)strlen(id),
                               .lines = &c->line,
                               .n_lines = 1,
                               .done = test_resv_done,
                               .arg = c};
}

static void *test_resv_main(void *arg)
{
    test_call *c = arg;
    c->submit_err = engine_resv_submit(c->e, &c->req);
    atomic_store(&c->returned, true);
    return NULL;
}

static void *test_snapshot_main(void *arg)
{
    test_call *c = arg;
    c->submit_err = engine_snapshot_now(c->e); /* returns the answer */
    atomic_store(&c->answer_err, c->submit_err);
    atomic_store(&c->answered, true);
    atomic_store(&c->returned, true);
    return NULL;
}

static bool test_returned(void *arg)
{
    return atomic_load(&((test_call *)arg)->returned);
}
static bool test_answered(void *arg)
{
    return atomic_load(&((test_call *)arg)->answered);
}

/* ---- tests
 * -------------------------------------------------------------------- */

/* Item 8: with the queue full (an ingest backlog), a reservation and a
 * snapshot request return busy at once instead of blocking the caller. */
static void test_full_queue_busy(void **state)
{
    test_fx *fx = *state;
    test_gate_close(fx->eng);
    test_queue_fill(fx->eng, 4096); /* ENGINE_QUEUE_CAP */
    test_call r, s;
    test_resv_init(&r, fx->eng, "r1", 1);
    memset(&s, 0, sizeof s);
    s.e = fx->eng;
    pthread_t tr, ts;
    assert_int_equal(pthread_create(&tr, NULL, test_resv_main, &r), 0);
    assert_int_equal(pthread_create(&ts, NULL, test_snapshot_main, &s), 0);
    bool r_ret = test_wait_for(test_returned, &r, 3000);
    bool s_ret = test_wait_for(test_returned, &s, 3000);
    test_gate_open(); /* whatever happened, let the engine and threads go */
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    assert_true(r_ret);
    assert_true(s_ret);
    assert_int_equal(r.submit_err, ATP_E_BUSY);
    assert_int_equal(s.submit_err, ATP_E_BUSY);
    assert_false(atomic_load(&r.answered)); /* refused at submit: no done */
    /* Once drained, the same requests go through. */
    assert_int_equal(engine_sync(fx->eng), ATP_OK);
    test_resv_init(&r, fx->eng, "r1", 1);
    assert_int_equal(engine_resv_submit(fx->eng, &r.req), ATP_OK);
    assert_true(test_wait_for(test_answered, &r, 5000));
    assert_int_equal(atomic_load(&r.answer_err), ATP_OK);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_OK);
}

static bool test_stopped(void *arg)
{
    return atomic_load(&((test_stopper *)arg)->returned);
}

static bool test_queue_is_1(void *arg)
{
    return test_queue_len(arg) == 1;
}
static bool test_queue_is_3(void *arg)
{
    return test_queue_len(arg) == 3;
}

/* Item 7: requests queued behind the stop command (the engine thread has
 * nothing left to do when it reads STOP, so it leaves at once) are still
 * answered: busy, atpd is shutting down. */
static void test_requests_after_stop(void **state)
{
    test_fx *fx = *state;
    test_gate_close(fx->eng);
    test_stopper st = {.e = fx->eng};
    pthread_t tstop, ts, tr;
    assert_int_equal(pthread_create(&tstop, NULL, test_stop_main, &st), 0);
    assert_true(
        test_wait_for(test_queue_is_1, fx->eng, 5000)); /* STOP queued */
    test_call s, r;
    memset(&s, 0, sizeof s);
    s.e = fx->eng;
    test_resv_init(&r, fx->eng, "r-late", 1);
    assert_int_equal(pthread_create(&ts, NULL, test_snapshot_main, &s), 0);
    assert_int_equal(pthread_create(&tr, NULL, test_resv_main, &r), 0);
    bool queued = test_wait_for(test_queue_is_3, fx->eng, 5000);
    test_gate_open();
    bool stopped = test_wait_for(test_stopped, &st, 5000);
    bool s_ans = test_wait_for(test_answered, &s, 5000);
    bool r_ans = test_wait_for(test_answered, &r, 5000);
    assert_true(queued);
    assert_true(stopped);
    assert_true(s_ans); /* before: the snapshot request waited forever */
    assert_true(r_ans);
    pthread_join(tstop, NULL);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(atomic_load(&s.answer_err), ATP_E_BUSY);
    assert_int_equal(r.submit_err, ATP_OK);
    assert_int_equal(atomic_load(&r.answer_err), ATP_E_BUSY);
    /* After the stop, nothing is queued any more. */
    test_resv_init(&r, fx->eng, "r-after", 1);
    assert_int_equal(engine_resv_submit(fx->eng, &r.req), ATP_E_BAD_STATE);
    assert_int_equal(engine_snapshot_now(fx->eng), ATP_E_BAD_STATE);
}

static void test_set_stock(engine *e, int64_t qty)
{
    static engine_event ev;
    ev = (engine_event){.kind = ATP_EV_SET,
                        .bucket = ATP_BUCKET_ON_HAND,
                        .location = 0,
                        .sku_len = 1,
                        .sku = "A",
                        .value = qty};
    engine_batch b = {.events = &ev, .n = 1, .release = test_empty_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

/* Item 12: the store refuses every write (disk or map full); the stop
 * tries the final snapshot once and returns. */
static void test_stop_store_full(void **state)
{
    test_fx *fx = *state;
    atomic_store(&test_fail, ATP_E_STORE_FULL);
    test_set_stock(fx->eng, 5); /* a change: the final snapshot has work */
    int before = atomic_load(&test_writes);
    test_stopper st = {.e = fx->eng};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_stop_main, &st), 0);
    bool stopped = test_wait_for(test_stopped, &st, 5000);
    int tries = atomic_load(&test_writes) - before;
    atomic_store(&test_fail, ATP_OK); /* lets an old engine finish, too */
    pthread_join(t, NULL);
    assert_true(stopped);
    assert_in_range(tries, 1,
                    2); /* the final snapshot, perhaps a periodic one */
}

/* Item 4: a reserve the store refuses changes nothing, counters
 * included; the same reserve once the store takes it counts once. */
static void test_refused_not_counted(void **state)
{
    test_fx *fx = *state;
    test_set_stock(fx->eng, 5);
    atomic_store(&test_fail, ATP_E_STORE_FULL);
    test_call r;
    test_resv_init(&r, fx->eng, "full-1", 2);
    assert_int_equal(engine_resv_submit(fx->eng, &r.req), ATP_OK);
    assert_true(test_wait_for(test_answered, &r, 5000));
    assert_int_equal(atomic_load(&r.answer_err), ATP_E_STORE_FULL);
    engine_stats st;
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.resv_granted, 0);
    assert_int_equal(st.resv_open, 0);
    assert_int_equal(st.resv_total, 0);
    assert_int_equal(st.resv_store_failures, 1);
    engine_answer a;
    engine_query(fx->eng, "A", 1, 0, 0, &a);
    assert_int_equal(a.reserved, 0);
    atomic_store(&test_fail, ATP_OK);
    test_resv_init(&r, fx->eng, "full-1", 2);
    assert_int_equal(engine_resv_submit(fx->eng, &r.req), ATP_OK);
    assert_true(test_wait_for(test_answered, &r, 5000));
    assert_int_equal(atomic_load(&r.answer_err), ATP_OK);
    assert_true(r.granted);
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.resv_granted, 1);
    /* A replay of it is the original answer, not a second grant. */
    test_resv_init(&r, fx->eng, "full-1", 2);
    assert_int_equal(engine_resv_submit(fx->eng, &r.req), ATP_OK);
    assert_true(test_wait_for(test_answered, &r, 5000));
    engine_stats_get(fx->eng, &st);
    assert_int_equal(st.resv_granted, 1);
}

/* ---- issue 21: every kind of command queued behind the stop hears back - */

typedef struct test_late {
    engine *e;
    const config *cfg;
    _Atomic bool batch_released, batch_applied;
    _Atomic int explain_err, pickup_err; /* -1: no answer yet */
    _Atomic int sync_err, rules_err;     /* -1: not returned yet */
} test_late;

static void test_late_release(void *owner, bool applied)
{
    test_late *l = owner;
    atomic_store(&l->batch_applied, applied);
    atomic_store(&l->batch_released, true);
}

static void test_late_explain(void *arg, const engine_explain *x)
{
    atomic_store(&((test_late *)arg)->explain_err, x->err);
}

static void test_late_pickup(void *arg, const engine_pickup *x)
{
    atomic_store(&((test_late *)arg)->pickup_err, x->err);
}

static void *test_late_sync(void *arg)
{
    test_late *l = arg;
    atomic_store(&l->sync_err, engine_sync(l->e));
    return NULL;
}

static void *test_late_rules(void *arg)
{
    test_late *l = arg;
    engine_rules_report rep = {0};
    atomic_store(&l->rules_err,
                 engine_rules_replace(l->e, l->cfg, l->cfg, &rep));
    return NULL;
}

static bool test_queue_is_6(void *arg)
{
    return test_queue_len(arg) == 6;
}

static bool test_late_all(void *arg)
{
    test_late *l = arg;
    return atomic_load(&l->batch_released) &&
           atomic_load(&l->explain_err) >= 0 &&
           atomic_load(&l->pickup_err) >= 0 && atomic_load(&l->sync_err) >= 0 &&
           atomic_load(&l->rules_err) >= 0;
}

/* A batch, an explain, a pickup, a sync and a reload's rules queued behind
 * the stop command: none runs, each caller hears back (the batch released
 * as not applied, sync returns, the rules and the readers answer busy:
 * atpd is shutting down), none waits forever. */
static void test_every_command_after_stop(void **state)
{
    test_fx *fx = *state;
    test_late l = {.e = fx->eng, .cfg = &fx->cfg};
    atomic_store(&l.explain_err, -1);
    atomic_store(&l.pickup_err, -1);
    atomic_store(&l.sync_err, -1);
    atomic_store(&l.rules_err, -1);
    test_gate_close(fx->eng);
    test_stopper st = {.e = fx->eng};
    pthread_t tstop, tsync, trules;
    assert_int_equal(pthread_create(&tstop, NULL, test_stop_main, &st), 0);
    assert_true(test_wait_for(test_queue_is_1, fx->eng, 5000));
    engine_batch b = {.n = 0, .release = test_late_release, .owner = &l};
    assert_int_equal(engine_submit(fx->eng, &b), ATP_OK);
    assert_int_equal(
        engine_explain_submit(fx->eng, "A", 1, test_late_explain, &l), ATP_OK);
    static const engine_pickup_line line = {.sku = "A", .sku_len = 1};
    assert_int_equal(
        engine_pickup_submit(fx->eng, 0, 0, &line, 1, test_late_pickup, &l),
        ATP_OK);
    assert_int_equal(pthread_create(&tsync, NULL, test_late_sync, &l), 0);
    assert_int_equal(pthread_create(&trules, NULL, test_late_rules, &l), 0);
    bool queued = test_wait_for(test_queue_is_6, fx->eng, 5000);
    test_gate_open();
    bool stopped = test_wait_for(test_stopped, &st, 5000);
    bool answered = test_wait_for(test_late_all, &l, 5000);
    assert_true(queued);
    assert_true(stopped);
    assert_true(answered);
    pthread_join(tstop, NULL);
    pthread_join(tsync, NULL);
    pthread_join(trules, NULL);
    assert_false(atomic_load(&l.batch_applied));
    assert_int_equal(atomic_load(&l.explain_err), ATP_E_BUSY);
    assert_int_equal(atomic_load(&l.pickup_err), ATP_E_BUSY);
    assert_int_equal(atomic_load(&l.sync_err), ATP_OK);
    assert_int_equal(atomic_load(&l.rules_err), ATP_E_BUSY);
}

int main(void)
{
    if (getenv("TEST_FILTER") != NULL) /* e.g. TEST_FILTER=test_stop_* */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_queue_busy, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_requests_after_stop, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_stop_store_full, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_refused_not_counted, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_every_command_after_stop,
                                        test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
