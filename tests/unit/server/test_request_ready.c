/*
 * test_request_ready.c - unit test of the op "ready" (src/server/
 * request_health.c) while a source changes state: a thread turns source
 * "flip" ok and silent again and again (as the ingest thread does) while
 * this one asks "ready" with "sources": "fresh" as often as it can for a
 * bounded time. Every reply must be a whole msgpack message (an array
 * declared longer than its entries truncated the reply: HTTP answered
 * 503 nomem), and agree with itself: ready and sources_fresh true exactly
 * when stale_sources is empty, failing naming sources_fresh exactly then
 * not, each stale entry the flipping source.
 * Labels: unit, ops.
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

#include "atp/error.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "config/config.h"
#include "engine/engine.h"
#include "server/request.h"
#include "sources/sources.h"

static const char test_yaml[] =
    "regions: [{id: r}]\n"
    "locations:\n"
    "  - {id: dc, region: r}\n"
    "sources:\n"
    "  - id: steady\n"
    "    heartbeat_timeout: 1h\n"
    "    authority: [{locations: [dc], buckets: [on_hand]}]\n"
    "  - id: flip\n"
    "    heartbeat_timeout: 1s\n"
    "    authority: [{locations: [dc], buckets: [allocated]}]\n";

#define TEST_RUN_MS 1500 /* how long the replies are checked */

static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx, (void)ops, (void)n;
    done(arg, ATP_OK);
    return ATP_OK;
}

static void test_deliver(void *ctx, void *item, uint64_t seq)
{
    (void)ctx, (void)item, (void)seq;
}

static void test_drop(void *ctx, void *item)
{
    (void)ctx, (void)item;
}

static void test_request(void *ctx, uint32_t src, sources_resync_mode mode,
                         uint64_t from_seq)
{
    (void)ctx, (void)src, (void)mode, (void)from_seq;
}

typedef struct test_flipper {
    sources *src;
    _Atomic bool stop;
    int64_t t0;
    uint64_t flips;
} test_flipper;

/* Source 1 ("flip"): a message (ok), then silence past its timeout
 * (silent), on a clock of its own that only moves forward. */
static void *test_flip_main(void *arg)
{
    test_flipper *f = arg;
    sources_io io = {test_deliver, test_drop, test_request, NULL};
    int64_t t = f->t0;
    uint64_t seq = 1;
    while (!atomic_load(&f->stop)) {
        sources_receive(f->src, 0, seq + 1, NULL, t, &io); /* steady stays ok */
        sources_receive(f->src, 1, ++seq, NULL, t, &io);
        t += 2000;
        sources_tick(f->src, t, &io);
        f->flips++;
    }
    return NULL;
}

/* One reply's fields; fails the test when it is not whole or disagrees. */
static void test_check_reply(const void *buf, size_t n)
{
    codec_view root;
    assert_int_equal(codec_view_root(buf, n, &root), ATP_OK);
    bool ok = false, ready = true, fresh = true;
    assert_true(codec_view_bool(codec_view_get(root, "ok"), &ok) && ok);
    assert_true(codec_view_bool(codec_view_get(root, "ready"), &ready));
    assert_true(codec_view_bool(codec_view_get(root, "sources_fresh"), &fresh));
    codec_view failing = codec_view_get(root, "failing");
    codec_view stale = codec_view_get(root, "stale_sources");
    assert_int_equal(codec_view_type(failing), CODEC_ARRAY);
    assert_int_equal(codec_view_type(stale), CODEC_ARRAY);
    uint32_t n_stale = codec_view_len(stale);
    assert_true(n_stale <= 1);
    if (n_stale == 1) {
        codec_str id;
        assert_true(
            codec_view_str(codec_view_get(codec_view_first(stale), "id"), &id));
        assert_true(codec_str_eq(id, "flip"));
    }
    assert_int_equal(fresh, n_stale == 0);
    assert_int_equal(ready, n_stale == 0);
    assert_int_equal(codec_view_len(failing), n_stale);
    if (n_stale == 1) {
        codec_str name;
        assert_true(codec_view_str(codec_view_first(failing), &name));
        assert_true(codec_str_eq(name, "sources_fresh"));
    }
}

static void test_ready_while_flipping(void **state)
{
    (void)state;
    config cfg;
    config_diags d = {0};
    assert_int_equal(config_load_string(test_yaml, strlen(test_yaml), &cfg, &d),
                     ATP_OK);
    config_diags_fini(&d);
    engine *eng;
    sources *src;
    request_env env;
    engine_persist p = {.write = test_write};
    assert_int_equal(engine_alloc(&cfg, &p, &eng), ATP_OK);
    assert_int_equal(sources_alloc(&cfg, &src), ATP_OK);
    assert_int_equal(request_env_init(&env, &cfg, eng, src, NULL, NULL),
                     ATP_OK);
    codec_arena *arena = codec_arena_alloc();
    codec_writer *req = codec_writer_alloc(NULL, NULL);
    codec_writer *out = codec_writer_alloc(NULL, NULL);
    assert_non_null(arena);
    assert_non_null(req);
    assert_non_null(out);
    codec_w_map(req, 2);
    codec_w_kv_cstr(req, "op", "ready");
    codec_w_kv_cstr(req, "sources", "fresh");
    size_t req_len;
    const void *req_buf = codec_writer_data(req, &req_len);

    /* steady is ok before the first reply; so is flip, for now */
    test_flipper f = {.src = src, .t0 = 1000000};
    sources_io io = {test_deliver, test_drop, test_request, NULL};
    sources_receive(src, 0, 1, NULL, f.t0, &io);
    sources_receive(src, 1, 1, NULL, f.t0, &io);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, test_flip_main, &f), 0);
    uint64_t replies = 0, stale_seen = 0;
    int64_t end = clock_mono_ms() + TEST_RUN_MS;
    while (clock_mono_ms() < end) {
        for (int i = 0; i < 64; i++) {
            codec_writer_reset(out);
            codec_arena_clear(arena);
            request_async async = {0};
            assert_true(
                request_handle(&env, req_buf, req_len, arena, out, &async));
            size_t n;
            const void *buf = codec_writer_data(out, &n);
            test_check_reply(buf, n);
            codec_view root;
            codec_view_root(buf, n, &root);
            stale_seen +=
                codec_view_len(codec_view_get(root, "stale_sources")) > 0;
            replies++;
        }
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    print_message("%llu replies checked, %llu naming the flipping source, "
                  "%llu flips\n",
                  (unsigned long long)replies, (unsigned long long)stale_seen,
                  (unsigned long long)f.flips);
    assert_true(f.flips > 0);
    request_env_fini(&env);
    sources_free(src);
    engine_free(eng);
    codec_arena_free(arena);
    codec_writer_free(req);
    codec_writer_free(out);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_while_flipping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
