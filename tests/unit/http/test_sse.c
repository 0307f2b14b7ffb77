/*
 * test_sse.c - unit tests of src/http/sse.c, the event streams, without
 * sockets or a change feed: events handed to http_sse_feed reach the
 * streams whose filter matches (region, exact SKU) as "id: seq / event:
 * change / data: JSON"; a stream with nothing to send sleeps once and is
 * woken once by the next event; Last-Event-ID gives a gap event unless it
 * is the feed's sequence; a reader too slow past 1 MiB gets one gap event
 * after the event it is in the middle of (never half an event); keep-alive
 * comments; http_sse_end_all ends every stream; closed streams are freed
 * by the next tick. Labels: unit, http.
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

#include <time.h>

#include "codec/codec.h"
#include "common/clock.h"
#include "config/config.h"
#include "http/sse.h"

typedef struct test_io {
    int sleeps, wakes;
} test_io;

static void test_sleep(void *ctx)
{
    ((test_io *)ctx)->sleeps++;
}
static void test_wake(void *ctx)
{
    ((test_io *)ctx)->wakes++;
}

typedef struct test_fx {
    config cfg;
    http_sse *hub;
    codec_arena *arena;
    codec_writer *w;
} test_fx;

static int test_setup(void **state)
{
    test_fx *fx = calloc(1, sizeof *fx);
    static const char yaml[] = "regions: [{id: east}, {id: west}]\n";
    config_diags d = {0};
    if (config_load_string(yaml, strlen(yaml), &fx->cfg, &d) != ATP_OK)
        return 1;
    config_diags_fini(&d);
    fx->arena = codec_arena_alloc();
    fx->w = codec_writer_alloc(NULL, NULL);
    if (http_sse_alloc(&fx->cfg, NULL, &fx->hub) != ATP_OK)
        return 1;
    *state = fx;
    return 0;
}

static int test_teardown(void **state)
{
    test_fx *fx = *state;
    http_sse_free(fx->hub);
    codec_arena_free(fx->arena);
    codec_writer_free(fx->w);
    config_fini(&fx->cfg);
    free(fx);
    return 0;
}

/* test_open opens a stream with query parameters params ("region", ...). */
static http_sse_stream *test_open(test_fx *fx, const http_param *p, size_t n,
                                  const char *last, test_io *io)
{
    http_call c;
    assert_true(http_route(&c, "GET", "/v1/changes", p, n, fx->arena));
    atp_err err;
    char msg[200];
    http_sse_stream *st = http_sse_open(
        fx->hub, &c, last, (http_sse_io){test_sleep, test_wake, io}, &err, msg,
        sizeof msg);
    assert_non_null(st);
    return st;
}

/* test_event feeds one change of (sku, region) with seq and a padding
 * string of pad bytes (to fill buffers). */
static void test_event(test_fx *fx, const char *sku, uint32_t region,
                       uint64_t seq, size_t pad)
{
    codec_writer_reset(fx->w);
    codec_w_map(fx->w, 3);
    codec_w_kv_uint(fx->w, "seq", seq);
    codec_w_kv_cstr(fx->w, "sku", sku);
    char *p = malloc(pad + 1);
    memset(p, 'p', pad);
    codec_w_kv_str(fx->w, "pad", p, pad);
    free(p);
    size_t len;
    const void *body = codec_writer_data(fx->w, &len);
    changes_event ev = {region, sku, strlen(sku), seq, body, len};
    http_sse_feed(fx->hub, &ev);
}

/* test_read_all reads everything pending into a new string. */
static char *test_read_all(http_sse_stream *st, size_t *n_out)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = http_sse_read(st, buf + n, 4096);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (n_out != NULL)
        *n_out = n;
    return buf;
}

static void test_filters(void **state)
{
    test_fx *fx = *state;
    test_io a = {0}, b = {0}, c = {0};
    http_param east[] = {{"region", "east"}};
    http_param east_a[] = {{"region", "east"}, {"sku", "A"}};
    http_sse_stream *s_all = test_open(fx, NULL, 0, NULL, &a);
    http_sse_stream *s_east = test_open(fx, east, 1, NULL, &b);
    http_sse_stream *s_a = test_open(fx, east_a, 2, NULL, &c);
    assert_int_equal(http_sse_count(fx->hub), 3);
    char *t = test_read_all(s_all, NULL);
    assert_string_equal(t, "retry: 2000\n\n"); /* then nothing: asleep */
    free(t);
    assert_int_equal(a.sleeps, 1);
    test_event(fx, "A", 0, 11, 0);
    test_event(fx, "A1", 0, 12, 0);
    test_event(fx, "A", 1, 13, 0);
    assert_int_equal(a.wakes, 1); /* woken once, by the first event */
    t = test_read_all(s_all, NULL);
    assert_non_null(
        strstr(t, "id: 11\nevent: change\ndata: {\"seq\":11,\"sku\":\"A\","));
    assert_non_null(strstr(t, "id: 12\n"));
    assert_non_null(strstr(t, "id: 13\n"));
    free(t);
    t = test_read_all(s_east, NULL);
    assert_non_null(strstr(t, "id: 11\n"));
    assert_non_null(strstr(t, "id: 12\n"));
    assert_null(strstr(t, "id: 13\n"));
    free(t);
    t = test_read_all(s_a, NULL);
    assert_non_null(strstr(t, "id: 11\n"));
    assert_null(strstr(t, "id: 12\n")); /* "A1" is not "A" */
    assert_null(strstr(t, "id: 13\n"));
    free(t);
    http_sse_close(s_all);
    http_sse_close(s_east);
    http_sse_close(s_a);
    assert_int_equal(http_sse_count(fx->hub), 0);
    http_sse_feed(fx->hub, NULL); /* a tick frees them */
}

static void test_bad_filter(void **state)
{
    test_fx *fx = *state;
    http_call c;
    http_param mars[] = {{"region", "mars"}};
    assert_true(http_route(&c, "GET", "/v1/changes", mars, 1, fx->arena));
    atp_err err = ATP_OK;
    char msg[200];
    test_io io = {0};
    assert_null(http_sse_open(fx->hub, &c, NULL,
                              (http_sse_io){test_sleep, test_wake, &io}, &err,
                              msg, sizeof msg));
    assert_int_equal(err, ATP_E_UNKNOWN_REGION);
    http_param sku[] = {{"sku", "%01"}};
    assert_true(http_route(&c, "GET", "/v1/changes", sku, 1, fx->arena));
    assert_null(http_sse_open(fx->hub, &c, NULL,
                              (http_sse_io){test_sleep, test_wake, &io}, &err,
                              msg, sizeof msg));
    assert_int_equal(err, ATP_E_BAD_SKU);
    assert_int_equal(http_sse_count(fx->hub), 0);
}

static void test_last_event_id(void **state)
{
    test_fx *fx = *state;
    test_io io = {0};
    /* The feed's sequence is 0 here (no change feed): "0" missed nothing. */
    http_sse_stream *same = test_open(fx, NULL, 0, "0", &io);
    http_sse_stream *old = test_open(fx, NULL, 0, "7", &io);
    http_sse_stream *junk = test_open(fx, NULL, 0, "x", &io);
    char *t = test_read_all(same, NULL);
    assert_null(strstr(t, "event: gap"));
    free(t);
    t = test_read_all(old, NULL);
    assert_non_null(strstr(t, "event: gap\ndata: {\"reason\":\"reconnect\""));
    free(t);
    t = test_read_all(junk, NULL);
    assert_non_null(strstr(t, "event: gap"));
    free(t);
    http_sse_close(same);
    http_sse_close(old);
    http_sse_close(junk);
    http_sse_feed(fx->hub, NULL);
}

static void test_slow_reader(void **state)
{
    test_fx *fx = *state;
    test_io io = {0};
    http_sse_stream *st = test_open(fx, NULL, 0, NULL, &io);
    free(test_read_all(st, NULL));
    test_event(fx, "A", 0, 1, 3000);
    char part[100];
    assert_int_equal(http_sse_read(st, part, sizeof part),
                     (ssize_t)sizeof part);
    for (uint64_t seq = 2; seq < 600; seq++) /* 600 x 3 KB: past 1 MiB */
        test_event(fx, "A", 0, seq, 3000);
    size_t n;
    char *rest = test_read_all(st, &n);
    assert_true(n < 1100 * 1024);
    /* The first event is whole (its rest), then one gap, then the events
     * that came after the gap. */
    char *end1 = strstr(rest, "\n\n");
    assert_non_null(end1);
    assert_true(strncmp(end1 + 2,
                        "event: gap\ndata: {\"reason\":\"slow_client\"",
                        40) == 0);
    /* Every block after it is a whole event. */
    for (char *p = strstr(end1 + 2, "\n\n") + 2; *p != '\0';) {
        assert_true(strncmp(p, "id: ", 4) == 0 ||
                    strncmp(p, "event: gap", 10) == 0);
        char *e = strstr(p, "\n\n");
        assert_non_null(e);
        p = e + 2;
    }
    free(rest);
    http_sse_close(st);
    http_sse_feed(fx->hub, NULL);
}

static void test_keepalive(void **state)
{
    test_fx *fx = *state;
    test_io io = {0};
    http_sse_keepalive_set(fx->hub, 20);
    http_sse_stream *st = test_open(fx, NULL, 0, NULL, &io);
    free(test_read_all(st, NULL)); /* asleep */
    http_sse_feed(fx->hub, NULL);  /* a tick right away: not silent long */
    assert_int_equal(io.wakes, 0);
    /* Ticks until the silence passed 20 ms (bounded: 5 s). */
    int64_t deadline = clock_mono_ms() + 5000;
    while (io.wakes == 0 && clock_mono_ms() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        http_sse_feed(fx->hub, NULL);
    }
    assert_int_equal(io.wakes, 1);
    char *t = test_read_all(st, NULL);
    assert_string_equal(t, ": keep-alive\n\n");
    free(t);
    http_sse_close(st);
    http_sse_feed(fx->hub, NULL);
}

static void test_end_all(void **state)
{
    test_fx *fx = *state;
    test_io io = {0};
    http_sse_stream *st = test_open(fx, NULL, 0, NULL, &io);
    free(test_read_all(st, NULL)); /* asleep */
    assert_int_equal(io.sleeps, 1);
    http_sse_end_all(fx->hub);
    assert_int_equal(io.wakes, 1);
    char buf[16];
    assert_int_equal(http_sse_read(st, buf, sizeof buf), -1);
    test_event(fx, "A", 0, 1, 0); /* nothing more is queued */
    assert_int_equal(http_sse_read(st, buf, sizeof buf), -1);
    atp_err err;
    char msg[100];
    http_call c;
    assert_true(http_route(&c, "GET", "/v1/changes", NULL, 0, fx->arena));
    assert_null(http_sse_open(fx->hub, &c, NULL,
                              (http_sse_io){test_sleep, test_wake, &io}, &err,
                              msg, sizeof msg));
    assert_int_equal(err, ATP_E_BUSY);
    http_sse_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filters, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_filter, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_last_event_id, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_end_all, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
