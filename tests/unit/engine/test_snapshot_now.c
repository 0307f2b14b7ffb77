/*
 * test_snapshot_now.c - snapshot requests (atpctl snapshot,
 * engine_snapshot_submit) against a fake store that holds each write until
 * the test completes it:
 * - requests that arrive while a snapshot is being stored wait for the next
 *   one (the one in flight was cut before them), and one next snapshot
 *   answers all of them: two writes in all, not one per request; beyond
 *   the 16 that can wait, a request is answered busy at once;
 * - a store refusing the snapshot answers its requests with its code;
 * - without a store (memory only) a request is answered at once and a
 *   backup is refused with bad_state.
 * Every wait has a deadline. Labels: unit, suite (issue 21).
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

#include "atp/error.h"
#include "atp/wire.h"
#include "common/clock.h"
#include "config/config.h"
#include "engine/engine.h"

static const char test_yaml[] = "service: {snapshot_interval: 1h}\n"
                                "regions: [{id: r}]\n"
                                "locations:\n"
                                "  - {id: dc, region: r}\n";

/* ---- the store: writes wait for test_complete ---------------------------- */

#define TEST_WRITES 8

static struct {
    pthread_mutex_t mu;
    int n; /* writes seen */
    void (*done[TEST_WRITES])(void *arg, atp_err err);
    void *arg[TEST_WRITES];
} test_held = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx, (void)ops, (void)n;
    pthread_mutex_lock(&test_held.mu);
    assert_true(test_held.n < TEST_WRITES);
    test_held.done[test_held.n] = done;
    test_held.arg[test_held.n] = arg;
    test_held.n++;
    pthread_mutex_unlock(&test_held.mu);
    return ATP_OK;
}

static int test_writes(void)
{
    pthread_mutex_lock(&test_held.mu);
    int n = test_held.n;
    pthread_mutex_unlock(&test_held.mu);
    return n;
}

static bool test_wait_writes(int n)
{
    int64_t end = clock_mono_ms() + 5000;
    while (test_writes() < n && clock_mono_ms() < end)
        usleep(1000);
    return test_writes() == n;
}

static void test_complete(int i, atp_err err)
{
    test_held.done[i](test_held.arg[i], err);
}

/* ---- requests ------------------------------------------------------------ */

typedef struct test_req {
    _Atomic bool answered;
    _Atomic int err;
} test_req;

static void test_req_done(void *arg, atp_err err)
{
    test_req *r = arg;
    atomic_store(&r->err, err);
    atomic_store(&r->answered, true);
}

static bool test_wait_answered(test_req *r)
{
    int64_t end = clock_mono_ms() + 5000;
    while (!atomic_load(&r->answered) && clock_mono_ms() < end)
        usleep(1000);
    return atomic_load(&r->answered);
}

static void test_engine(config *cfg, const engine_persist *p, engine **e)
{
    config_diags d = {0};
    assert_int_equal(config_load_string(test_yaml, strlen(test_yaml), cfg, &d),
                     ATP_OK);
    config_diags_fini(&d);
    assert_int_equal(engine_alloc(cfg, p, e), ATP_OK);
    assert_int_equal(engine_start(*e), ATP_OK);
}

static void *test_stop_main(void *e)
{
    engine_stop(e);
    return NULL;
}

static void test_queued_requests(void **state)
{
    (void)state;
    test_held.n = 0;
    config cfg;
    engine *e;
    engine_persist p = {.write = test_write};
    test_engine(&cfg, &p, &e);

    test_req first = {0};
    assert_int_equal(engine_snapshot_submit(e, test_req_done, &first), ATP_OK);
    assert_true(test_wait_writes(1));
    test_req later[16], over = {0};
    memset(later, 0, sizeof later);
    for (int i = 0; i < 16; i++)
        assert_int_equal(engine_snapshot_submit(e, test_req_done, &later[i]),
                         ATP_OK);
    assert_int_equal(engine_snapshot_submit(e, test_req_done, &over), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK); /* all of them taken */
    assert_true(atomic_load(&over.answered));
    assert_int_equal(atomic_load(&over.err), ATP_E_BUSY);
    assert_false(atomic_load(&first.answered));
    assert_false(atomic_load(&later[0].answered));
    assert_int_equal(test_writes(), 1);

    test_complete(0, ATP_OK);
    assert_true(test_wait_answered(&first));
    assert_int_equal(atomic_load(&first.err), ATP_OK);
    assert_true(test_wait_writes(2)); /* the next one, cut after them */
    assert_int_equal(engine_sync(e), ATP_OK);
    for (int i = 0; i < 16; i++)
        assert_false(atomic_load(&later[i].answered));

    test_complete(1, ATP_E_STORE_FULL);
    for (int i = 0; i < 16; i++) {
        assert_true(test_wait_answered(&later[i]));
        assert_int_equal(atomic_load(&later[i].err), ATP_E_STORE_FULL);
    }
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(test_writes(), 2); /* one snapshot answered all 16 */

    /* the stop's final snapshot: stored */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_stop_main, e), 0);
    bool final = test_wait_writes(3); /* all positions: the last one failed */
    if (final)
        test_complete(2, ATP_OK);
    pthread_join(t, NULL);
    assert_true(final);
    engine_free(e);
    config_fini(&cfg);
}

static void test_memory_only(void **state)
{
    (void)state;
    config cfg;
    engine *e;
    test_engine(&cfg, NULL, &e);
    assert_int_equal(engine_snapshot_now(e), ATP_OK);
    char why[128] = "";
    test_req r = {0};
    assert_int_equal(
        engine_backup_submit(e, "/tmp/x", test_req_done, &r, why, sizeof why),
        ATP_E_BAD_STATE);
    assert_non_null(strstr(why, "memory only"));
    assert_false(atomic_load(&r.answered));
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_requests),
        cmocka_unit_test(test_memory_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
