/*
 * test_request_busy.c - unit tests of src/server/request.c and
 * request_resv.c when the engine cannot take a request: with the engine's
 * queue full (an ingest backlog), reserve and snapshot are answered at
 * once with `busy` and the documented retry advice (request_handle never
 * blocks: it runs on nng's callback threads, which also answer queries);
 * with the engine stopped, `busy` saying atpd is shutting down; and a
 * snapshot is answered later, through async->finish, like a reservation;
 * an explain or pickup queued behind the stop command is answered later,
 * `busy` saying atpd is shutting down (issue 21).
 * Labels: unit, correctness (issue 12 items 7, 8), suite (issue 21: busy).
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
#include "codec/codec.h"
#include "common/clock.h"
#include "config/config.h"
#include "engine/engine.h"
#include "server/request.h"
#include "sources/sources.h"

static const char test_yaml[] = "regions: [{id: r}]\n"
                                "locations:\n"
                                "  - {id: dc, region: r}\n";

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx, (void)ops, (void)n;
    done(arg, ATP_OK);
    return ATP_OK;
}

typedef struct test_fx {
    config cfg;
    engine *eng;
    sources *src;
    request_env env;
    codec_arena *arena;
    codec_writer *req, *out;
    request_async async;
    _Atomic bool finished;
} test_fx;

static void test_finish(void *owner)
{
    atomic_store(&((test_fx *)owner)->finished, true);
}

static int test_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    config_diags d = {0};
    assert_int_equal(
        config_load_string(test_yaml, strlen(test_yaml), &fx->cfg, &d), ATP_OK);
    config_diags_fini(&d);
    engine_persist p = {.write = test_write};
    assert_int_equal(engine_alloc(&fx->cfg, &p, &fx->eng), ATP_OK);
    assert_int_equal(engine_start(fx->eng), ATP_OK);
    assert_int_equal(sources_alloc(&fx->cfg, &fx->src), ATP_OK);
    assert_int_equal(
        request_env_init(&fx->env, &fx->cfg, fx->eng, fx->src, NULL, NULL),
        ATP_OK);
    fx->arena = codec_arena_alloc();
    fx->req = codec_writer_alloc(NULL, NULL);
    fx->out = codec_writer_alloc(NULL, NULL);
    fx->async.finish = test_finish;
    fx->async.owner = fx;
    *state = fx;
    return 0;
}

static int test_teardown(void **state)
{
    test_fx *fx = *state;
    request_env_fini(&fx->env);
    engine_stop(fx->eng);
    engine_free(fx->eng);
    sources_free(fx->src);
    codec_arena_free(fx->arena);
    codec_writer_free(fx->req);
    codec_writer_free(fx->out);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

/* Hand the request in fx->req to request_handle; returns its result
 * (true: answered now). */
static bool test_handle(test_fx *fx)
{
    size_t n;
    const void *buf = codec_writer_data(fx->req, &n);
    codec_writer_reset(fx->out);
    codec_arena_clear(fx->arena);
    atomic_store(&fx->finished, false);
    bool now = request_handle(&fx->env, buf, n, fx->arena, fx->out, &fx->async);
    codec_writer_reset(fx->req);
    return now;
}

/* The reply's error code name and message (empty when ok). */
static void test_reply_error(test_fx *fx, codec_str *code, codec_str *msg)
{
    size_t n;
    const void *buf = codec_writer_data(fx->out, &n);
    codec_view root;
    assert_int_equal(codec_view_root(buf, n, &root), ATP_OK);
    codec_view err = codec_view_get(root, "error");
    *code = (codec_str){0};
    *msg = (codec_str){0};
    if (err.p == NULL)
        return;
    assert_true(codec_view_str(codec_view_get(err, "name"), code));
    assert_true(codec_view_str(codec_view_get(err, "message"), msg));
}

static bool test_has(codec_str s, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= s.len; i++)
        if (memcmp(s.ptr + i, needle, k) == 0)
            return true;
    return false;
}

static void test_req_reserve(test_fx *fx)
{
    codec_w_map(fx->req, 3);
    codec_w_kv_cstr(fx->req, "op", "reserve");
    codec_w_kv_cstr(fx->req, "id", "cart-1");
    codec_w_cstr(fx->req, "lines");
    codec_w_array(fx->req, 1);
    codec_w_array(fx->req, 3);
    codec_w_cstr(fx->req, "A");
    codec_w_cstr(fx->req, "r");
    codec_w_int(fx->req, 1);
}

static void test_req_snapshot(test_fx *fx)
{
    codec_w_map(fx->req, 1);
    codec_w_kv_cstr(fx->req, "op", "snapshot");
}

static void test_expect_busy(test_fx *fx, const char *says)
{
    codec_str code, msg;
    test_reply_error(fx, &code, &msg);
    assert_true(codec_str_eq(code, "busy"));
    assert_true(test_has(msg, says));
}

static void test_busy_when_full(void **state)
{
    test_fx *fx = *state;
    test_gate_close(fx->eng);
    test_queue_fill(fx->eng, 4096); /* ENGINE_QUEUE_CAP */
    int64_t t0 = clock_mono_ms();
    test_req_reserve(fx);
    bool r_now = test_handle(fx);
    codec_str code, msg;
    if (r_now)
        test_reply_error(fx, &code, &msg);
    test_req_snapshot(fx);
    bool s_now = test_handle(fx);
    int64_t took = clock_mono_ms() - t0;
    test_gate_open();
    assert_true(r_now);
    assert_true(s_now);
    assert_true(took < 1000); /* answered at once, not after the backlog */
    assert_true(codec_str_eq(code, "busy"));
    assert_true(test_has(msg, "retry in 50 ms"));
    test_expect_busy(fx, "retry in 50 ms");
    assert_true(test_has(msg, "nothing was done"));
}

static bool test_finished(test_fx *fx, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    while (!atomic_load(&fx->finished) && clock_mono_ms() < end)
        usleep(1000);
    return atomic_load(&fx->finished);
}

static void test_snapshot_deferred(void **state)
{
    test_fx *fx = *state;
    test_req_snapshot(fx);
    assert_false(test_handle(fx)); /* answered later, through finish */
    assert_true(test_finished(fx, 5000));
    codec_str code, msg;
    test_reply_error(fx, &code, &msg);
    assert_null(code.ptr);
}

static void test_busy_when_stopped(void **state)
{
    test_fx *fx = *state;
    engine_stop(fx->eng);
    test_req_reserve(fx);
    assert_true(test_handle(fx));
    test_expect_busy(fx, "shutting down");
    test_req_snapshot(fx);
    assert_true(test_handle(fx));
    test_expect_busy(fx, "shutting down");
}

/* ---- issue 21: explain and pickup queued behind the stop ----------------- */

/* test_late_reply hands the request in fx->req over while the engine
 * thread is held behind a queued stop command, lets it go, and leaves the
 * reply (given through finish) in fx->out. */
static void test_late_reply(test_fx *fx)
{
    test_gate_close(fx->eng);
    test_stopper st = {.e = fx->eng};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_stop_main, &st), 0);
    int64_t end = clock_mono_ms() + 5000;
    while (test_queue_len(fx->eng) != 1 && clock_mono_ms() < end)
        usleep(1000); /* until the stop command is queued */
    bool queued = test_queue_len(fx->eng) == 1;
    bool now = test_handle(fx);
    test_gate_open();
    pthread_join(t, NULL);
    assert_true(queued);
    assert_false(now); /* queued: answered through finish */
    assert_true(test_finished(fx, 5000));
}

static void test_explain_when_stopping(void **state)
{
    test_fx *fx = *state;
    codec_w_map(fx->req, 2);
    codec_w_kv_cstr(fx->req, "op", "explain");
    codec_w_kv_cstr(fx->req, "sku", "A");
    test_late_reply(fx);
    test_expect_busy(fx, "shutting down");
}

static void test_pickup_when_stopping(void **state)
{
    test_fx *fx = *state;
    codec_w_map(fx->req, 3);
    codec_w_kv_cstr(fx->req, "op", "pickup");
    codec_w_kv_cstr(fx->req, "sku", "A");
    codec_w_kv_cstr(fx->req, "region", "r");
    test_late_reply(fx);
    test_expect_busy(fx, "shutting down");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_when_full, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_deferred, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_busy_when_stopped, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_explain_when_stopping, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_pickup_when_stopping, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
