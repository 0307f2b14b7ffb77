/*
 * test_nomem.c - out of memory in the event streams (src/http/sse.c) and
 * the JSON written for them (codec_json_from_msgpack): a scenario (hub,
 * a stream with Last-Event-ID, events, reads, a tick, close, free) run
 * once for every allocation it makes, failing exactly that one
 * (tests/unit/support/faultalloc.h). Each run must end cleanly: the hub
 * or the stream refused with nomem, or an event lost (never half of one),
 * no crash, no leak (the sanitizer build's LeakSanitizer). Labels: unit,
 * http.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/faultalloc.h"
#include "codec/codec.h"
#include "config/config.h"
#include "http/sse.h"

static void test_noop(void *ctx)
{
    (void)ctx;
}

static void test_feed(http_sse *hub, codec_writer *w, uint64_t seq)
{
    codec_writer_reset(w);
    codec_w_map(w, 2);
    codec_w_kv_uint(w, "seq", seq);
    codec_w_kv_cstr(w, "sku", "A");
    size_t len;
    const void *body = codec_writer_data(w, &len);
    changes_event ev = {0, "A", 1, seq, body, len};
    http_sse_feed(hub, &ev);
}

static void test_scenario(void **state)
{
    (void)state;
    config cfg;
    config_diags d = {0};
    static const char yaml[] = "regions: [{id: east}]\n";
    assert_int_equal(config_load_string(yaml, strlen(yaml), &cfg, &d), ATP_OK);
    config_diags_fini(&d);
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(a);
    assert_non_null(w);
    http_call c;
    http_param p[] = {{"region", "east"}};
    assert_true(http_route(&c, "GET", "/v1/changes", p, 1, a));
    long runs = 0;
    for (long at = 0;; at++) {
        faultalloc_arm(at, false);
        http_sse *hub = NULL;
        atp_err err = http_sse_alloc(&cfg, NULL, &hub);
        if (err == ATP_OK) {
            char msg[100];
            http_sse_stream *st = http_sse_open(
                hub, &c, "5", (http_sse_io){test_noop, test_noop, NULL}, &err,
                msg, sizeof msg);
            if (st == NULL) {
                assert_int_equal(err, ATP_E_NOMEM);
            } else {
                test_feed(hub, w, 6);
                test_feed(hub, w, 7);
                char buf[4096];
                ssize_t n = http_sse_read(st, buf, sizeof buf - 1);
                assert_true(n >= 0);
                buf[n] = '\0';
                /* Whatever was lost, what arrived is whole events. */
                size_t len = strlen(buf);
                assert_true(len == 0 ||
                            (len >= 2 && strcmp(buf + len - 2, "\n\n") == 0));
                http_sse_close(st);
            }
            http_sse_feed(hub, NULL);
            http_sse_free(hub);
        } else {
            assert_int_equal(err, ATP_E_NOMEM);
        }
        runs++;
        if (faultalloc_disarm() == 0)
            break; /* the scenario made fewer than at + 1 allocations */
    }
    assert_true(runs > 3);
    codec_writer_free(w);
    codec_arena_free(a);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
