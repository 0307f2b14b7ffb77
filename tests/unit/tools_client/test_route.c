/*
 * test_route.c - client_route_build: every query map atpctl sends becomes
 * the HTTP request of docs/HTTP.md's route table (method, percent-encoded
 * path and query, the other fields as the JSON body). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client_route.h"
#include "codec/codec.h"

typedef struct fixture {
    codec_writer *w;
    codec_arena *a;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    fx->w = codec_writer_alloc(NULL, NULL);
    fx->a = codec_arena_alloc();
    *state = fx;
    return fx == NULL || fx->w == NULL || fx->a == NULL;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    codec_writer_free(fx->w);
    codec_arena_free(fx->a);
    free(fx);
    return 0;
}

/* route builds the request of what fx->w holds against base. */
static atp_err route(fixture *fx, const char *base, client_route *r)
{
    size_t len;
    const void *buf = codec_writer_data(fx->w, &len);
    const codec_val *req;
    assert_int_equal(codec_decode(fx->a, buf, len, &req), ATP_OK);
    char err[256];
    atp_err e = client_route_build(req, base, r, err, sizeof err);
    codec_writer_reset(fx->w);
    return e;
}

static void expect(fixture *fx, const char *method, const char *url,
                   const char *body)
{
    client_route r;
    assert_int_equal(route(fx, "http://127.0.0.1:7080/", &r), ATP_OK);
    assert_string_equal(r.method, method);
    assert_string_equal(r.url, url);
    if (body == NULL) {
        assert_null(r.body);
    } else {
        assert_non_null(r.body);
        assert_int_equal(r.body_len, strlen(body));
        assert_memory_equal(r.body, body, r.body_len);
    }
    client_route_fini(&r);
}

static void test_route_queries(void **state)
{
    fixture *fx = *state;
    codec_w_map(fx->w, 4);
    codec_w_kv_cstr(fx->w, "op", "atp");
    codec_w_kv_cstr(fx->w, "sku", "A 1/é");
    codec_w_kv_cstr(fx->w, "region", "us-east");
    codec_w_kv_cstr(fx->w, "channel", "w&b");
    expect(fx, "GET",
           "http://127.0.0.1:7080/v1/availability/A%201%2F%C3%A9/"
           "us-east?channel=w%26b",
           NULL);
    codec_w_map(fx->w, 2);
    codec_w_kv_cstr(fx->w, "op", "regions");
    codec_w_kv_cstr(fx->w, "sku", "X:Y");
    expect(fx, "GET", "http://127.0.0.1:7080/v1/availability/X%3AY", NULL);
    codec_w_map(fx->w, 4);
    codec_w_kv_cstr(fx->w, "op", "scan");
    codec_w_kv_cstr(fx->w, "region", "eu");
    codec_w_kv_uint(fx->w, "cursor", 1000);
    codec_w_kv_uint(fx->w, "limit", 7);
    expect(
        fx, "GET",
        "http://127.0.0.1:7080/v1/regions/eu/availability?cursor=1000&limit=7",
        NULL);
    const char *plain[][2] = {{"sources", "/v1/sources"},
                              {"status", "/v1/status"}};
    for (int i = 0; i < 2; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:7080%s", plain[i][1]);
        codec_w_map(fx->w, 1);
        codec_w_kv_cstr(fx->w, "op", plain[i][0]);
        expect(fx, "GET", url, NULL);
    }
    codec_w_map(fx->w, 2);
    codec_w_kv_cstr(fx->w, "op", "reservation");
    codec_w_kv_cstr(fx->w, "id", "c?1");
    expect(fx, "GET", "http://127.0.0.1:7080/v1/reservations/c%3F1", NULL);
}

static void test_route_bodies(void **state)
{
    fixture *fx = *state;
    codec_w_map(fx->w, 3);
    codec_w_kv_cstr(fx->w, "op", "cart");
    codec_w_kv_cstr(fx->w, "channel", "web");
    codec_w_cstr(fx->w, "lines");
    codec_w_array(fx->w, 1);
    codec_w_array(fx->w, 3);
    codec_w_cstr(fx->w, "A");
    codec_w_cstr(fx->w, "r1");
    codec_w_int(fx->w, 2);
    expect(fx, "POST", "http://127.0.0.1:7080/v1/availability/cart",
           "{\"channel\":\"web\",\"lines\":[[\"A\",\"r1\",2]]}");
    codec_w_map(fx->w, 1);
    codec_w_kv_cstr(fx->w, "op", "snapshot");
    expect(fx, "POST", "http://127.0.0.1:7080/v1/snapshots", "{}");
    codec_w_map(fx->w, 4);
    codec_w_kv_cstr(fx->w, "op", "reserve");
    codec_w_kv_cstr(fx->w, "id", "c1");
    codec_w_kv_int(fx->w, "ttl_ms", 900000);
    codec_w_cstr(fx->w, "lines");
    codec_w_array(fx->w, 0);
    expect(fx, "POST", "http://127.0.0.1:7080/v1/reservations",
           "{\"id\":\"c1\",\"ttl_ms\":900000,\"lines\":[]}");
    /* the id is in the path, not the body */
    const char *ops[] = {"commit", "release", "extend"};
    for (int i = 0; i < 3; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:7080/v1/reservations/c1/%s",
                 ops[i]);
        codec_w_map(fx->w, 3);
        codec_w_kv_cstr(fx->w, "op", ops[i]);
        codec_w_kv_cstr(fx->w, "id", "c1");
        codec_w_kv_cstr(fx->w, "order_ref", "SO-1");
        expect(fx, "POST", url, "{\"order_ref\":\"SO-1\"}");
    }
}

/* Time-phased promises (docs/HTTP.md): promise's qty and date_ms in the
 * query string only when the map has them; promise_cart's region in the
 * path, the rest in the body. */
static void test_route_promise(void **state)
{
    fixture *fx = *state;
    codec_w_map(fx->w, 6);
    codec_w_kv_cstr(fx->w, "op", "promise");
    codec_w_kv_cstr(fx->w, "sku", "SKU 9");
    codec_w_kv_cstr(fx->w, "region", "us-east");
    codec_w_kv_cstr(fx->w, "channel", "web");
    codec_w_kv_int(fx->w, "qty", 40);
    codec_w_kv_int(fx->w, "date_ms", 1796000000000LL);
    expect(fx, "GET",
           "http://127.0.0.1:7080/v1/promise/us-east/SKU%209?channel=web&"
           "qty=40&date_ms=1796000000000",
           NULL);
    codec_w_map(fx->w, 4);
    codec_w_kv_cstr(fx->w, "op", "promise");
    codec_w_kv_cstr(fx->w, "sku", "cart");
    codec_w_kv_cstr(fx->w, "region", "eu");
    codec_w_kv_cstr(fx->w, "channel", "default");
    expect(fx, "GET",
           "http://127.0.0.1:7080/v1/promise/eu/cart?channel=default", NULL);
    codec_w_map(fx->w, 4);
    codec_w_kv_cstr(fx->w, "op", "promise_cart");
    codec_w_kv_cstr(fx->w, "region", "us-east");
    codec_w_kv_cstr(fx->w, "channel", "web");
    codec_w_cstr(fx->w, "lines");
    codec_w_array(fx->w, 1);
    codec_w_array(fx->w, 2);
    codec_w_cstr(fx->w, "A:1");
    codec_w_int(fx->w, 2);
    expect(fx, "POST", "http://127.0.0.1:7080/v1/promise/us-east/cart",
           "{\"channel\":\"web\",\"lines\":[[\"A:1\",2]]}");
    codec_w_map(fx->w, 4); /* a preorder: promise_ms rides in the body */
    codec_w_kv_cstr(fx->w, "op", "reserve");
    codec_w_kv_cstr(fx->w, "id", "pre-1");
    codec_w_kv_int(fx->w, "promise_ms", 1796000000000LL);
    codec_w_cstr(fx->w, "lines");
    codec_w_array(fx->w, 0);
    expect(fx, "POST", "http://127.0.0.1:7080/v1/reservations",
           "{\"id\":\"pre-1\",\"promise_ms\":1796000000000,\"lines\":[]}");
}

static void test_route_errors(void **state)
{
    fixture *fx = *state;
    client_route r;
    codec_w_map(fx->w, 1);
    codec_w_kv_cstr(fx->w, "op", "launch");
    assert_int_equal(route(fx, "http://h", &r), ATP_E_UNKNOWN_OP);
    client_route_fini(&r);
    codec_w_map(fx->w, 1);
    codec_w_kv_int(fx->w, "no_op", 1);
    assert_int_equal(route(fx, "http://h", &r), ATP_E_UNKNOWN_OP);
    client_route_fini(&r);
    codec_w_map(fx->w, 2); /* a path field that is not a string */
    codec_w_kv_cstr(fx->w, "op", "reservation");
    codec_w_kv_int(fx->w, "id", 5);
    assert_int_equal(route(fx, "http://h", &r), ATP_E_BAD_REQUEST);
    client_route_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_queries),
        cmocka_unit_test(test_route_bodies),
        cmocka_unit_test(test_route_promise),
        cmocka_unit_test(test_route_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
