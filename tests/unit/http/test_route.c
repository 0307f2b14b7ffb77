/*
 * test_route.c - unit tests of src/http/route.c: the route table of
 * docs/HTTP.md (every route, its op and flags, the fields it supplies),
 * percent-decoding of path segments and query values, 404 / 405 (with
 * Allow) / 400, the error-code -> HTTP-status table (total, and the
 * documented values), and the status of a reply (201 for a new
 * reservation). No sockets, no HTTP library. Labels: unit, http.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "atp/error.h"
#include "codec/codec.h"
#include "http/http_int.h"

static codec_arena *test_arena;

static const codec_json_field *test_field(const http_call *c, const char *key)
{
    return http_field_find(c, key);
}

static void test_expect_str(const http_call *c, const char *key,
                            const char *want, size_t want_len)
{
    const codec_json_field *f = test_field(c, key);
    assert_non_null(f);
    assert_false(f->is_int);
    assert_int_equal(f->str.len, want_len);
    assert_memory_equal(f->str.ptr, want, want_len);
}

static void test_expect_op(const char *method, const char *path, const char *op)
{
    http_call c;
    assert_true(http_route(&c, method, path, NULL, 0, test_arena));
    if (op == NULL) {
        assert_null(c.op);
        assert_true(c.sse);
    } else {
        assert_string_equal(c.op, op);
        test_expect_str(&c, "op", op, strlen(op));
    }
}

static void test_every_route(void **state)
{
    (void)state;
    test_expect_op("GET", "/v1/availability/A/east", "atp");
    test_expect_op("GET", "/v1/availability/A", "regions");
    test_expect_op("POST", "/v1/availability/cart", "cart");
    test_expect_op("GET", "/v1/regions/east/availability", "scan");
    test_expect_op("GET", "/v1/sources", "sources");
    test_expect_op("GET", "/v1/status", "status");
    test_expect_op("POST", "/v1/snapshots", "snapshot");
    test_expect_op("POST", "/v1/reservations", "reserve");
    test_expect_op("GET", "/v1/reservations/r1", "reservation");
    test_expect_op("POST", "/v1/reservations/r1/commit", "commit");
    test_expect_op("POST", "/v1/reservations/r1/release", "release");
    test_expect_op("DELETE", "/v1/reservations/r1", "release");
    test_expect_op("POST", "/v1/reservations/r1/extend", "extend");
    test_expect_op("GET", "/v1/changes", NULL);
    /* GET of "cart" is the regions of SKU "cart". */
    test_expect_op("GET", "/v1/availability/cart", "regions");
}

static void test_flags_and_fields(void **state)
{
    (void)state;
    http_call c;
    assert_true(
        http_route(&c, "POST", "/v1/reservations", NULL, 0, test_arena));
    assert_true(c.body && c.async && c.created && c.line_qty);
    assert_true(http_route(&c, "POST", "/v1/reservations/r%2F1%20x/release",
                           NULL, 0, test_arena));
    assert_true(c.body && c.async && !c.created && !c.line_qty);
    test_expect_str(&c, "id", "r/1 x", 5);
    assert_true(http_route(&c, "GET", "/v1/availability/A%2FB%00/e%41st", NULL,
                           0, test_arena));
    assert_false(c.body || c.async);
    test_expect_str(&c, "sku", "A/B\0", 4);
    test_expect_str(&c, "region", "eAst", 4);
    assert_true(
        http_route(&c, "POST", "/v1/availability/cart", NULL, 0, test_arena));
    assert_true(c.body && !c.async && c.line_qty);
    assert_true(http_route(&c, "POST", "/v1/snapshots", NULL, 0, test_arena));
    assert_true(c.async && !c.body);
}

static void test_query(void **state)
{
    (void)state;
    http_call c;
    http_param p[] = {{"limit", "abc"}, {"cursor", "12"},
                      {"cursor", "99"}, {"channel", "a+b%21"},
                      {"unknown", "x"}, {"sku", "ignored"}};
    assert_true(http_route(&c, "GET", "/v1/regions/east/availability", p, 6,
                           test_arena));
    const codec_json_field *f = test_field(&c, "cursor");
    assert_non_null(f);
    assert_true(f->is_int);
    assert_int_equal(f->i, 12);             /* the first occurrence wins */
    test_expect_str(&c, "limit", "abc", 3); /* not digits: a string */
    test_expect_str(&c, "channel", "a b!", 4);
    assert_null(test_field(&c, "unknown"));
    assert_null(test_field(&c, "sku")); /* scan reads no sku */

    http_param big[] = {{"cursor", "99999999999999999999999"}, {"limit", ""}};
    assert_true(http_route(&c, "GET", "/v1/regions/east/availability", big, 2,
                           test_arena));
    f = test_field(&c, "cursor");
    assert_true(f->is_int);
    assert_int_equal(f->i, INT64_MAX); /* beyond 2^53-1: out of every range */
    assert_null(test_field(&c, "limit")); /* empty: absent */

    http_param filt[] = {{"region", "east"}, {"sku", "A%31"}};
    assert_true(http_route(&c, "GET", "/v1/changes", filt, 2, test_arena));
    test_expect_str(&c, "region", "east", 4);
    test_expect_str(&c, "sku", "A1", 2);
    assert_null(test_field(&c, "op"));

    http_param bad[] = {{"channel", "%G1"}};
    assert_false(
        http_route(&c, "GET", "/v1/availability/A/east", bad, 1, test_arena));
    assert_int_equal(c.status, 400);
    assert_int_equal(c.err, ATP_E_BAD_REQUEST);
}

static void test_errors(void **state)
{
    (void)state;
    http_call c;
    assert_false(http_route(&c, "GET", "/v1/nothing", NULL, 0, test_arena));
    assert_int_equal(c.status, 404);
    assert_int_equal(c.err, ATP_E_UNKNOWN_OP);
    assert_false(http_route(&c, "GET", "/v1/availability/A/east/x", NULL, 0,
                            test_arena));
    assert_int_equal(c.status, 404);
    assert_false(http_route(&c, "GET", "/v1/status/", NULL, 0, test_arena));
    assert_int_equal(c.status, 404);
    assert_false(http_route(&c, "GET", "/", NULL, 0, test_arena));
    assert_int_equal(c.status, 404);
    assert_false(http_route(&c, "POST", "/v1/status", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "GET, HEAD");
    assert_false(
        http_route(&c, "PUT", "/v1/reservations/r1", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "GET, HEAD, DELETE");
    assert_false(
        http_route(&c, "GET", "/v1/reservations", NULL, 0, test_arena));
    assert_string_equal(c.allow, "POST");
    assert_false(
        http_route(&c, "DELETE", "/v1/availability/cart", NULL, 0, test_arena));
    assert_string_equal(c.allow, "GET, HEAD, POST");
    /* HEAD is GET without the body, but not on the event stream. */
    assert_true(http_route(&c, "HEAD", "/v1/status", NULL, 0, test_arena));
    assert_string_equal(c.op, "status");
    assert_true(
        http_route(&c, "HEAD", "/v1/availability/A/east", NULL, 0, test_arena));
    assert_string_equal(c.op, "atp");
    assert_false(http_route(&c, "HEAD", "/v1/changes", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "GET");
    assert_false(
        http_route(&c, "HEAD", "/v1/reservations", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "POST");
    /* The dashboard's files are served for GET and HEAD only (before
     * routing): another method on them is 405, not 404. */
    assert_false(http_route(&c, "POST", "/ui", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "GET, HEAD");
    assert_false(http_route(&c, "DELETE", "/ui/ui.js", NULL, 0, test_arena));
    assert_int_equal(c.status, 405);
    assert_false(http_route(&c, "POST", "/ui/nothing.js", NULL, 0, test_arena));
    assert_int_equal(c.status, 404);
    /* A bad escape; a '%' at the very end of a segment. */
    assert_false(http_route(&c, "GET", "/v1/availability/A%4/east", NULL, 0,
                            test_arena));
    assert_int_equal(c.status, 400);
    assert_false(
        http_route(&c, "GET", "/v1/availability/A%", NULL, 0, test_arena));
    assert_int_equal(c.status, 400);
    /* The message echoes the path as printable UTF-8. */
    assert_false(http_route(&c, "GET", "/v1/\x01\xff", NULL, 0, test_arena));
    assert_non_null(strstr(c.message, "\\x01\\xff"));
}

static void test_status_table(void **state)
{
    (void)state;
    static const struct {
        int code, status;
    } want[] = {
        {ATP_E_OK, 200},
        {ATP_E_BAD_REQUEST, 400},
        {ATP_E_UNKNOWN_OP, 404},
        {ATP_E_UNKNOWN_REGION, 422},
        {ATP_E_UNKNOWN_CHANNEL, 422},
        {ATP_E_UNKNOWN_LOCATION, 422},
        {ATP_E_BAD_SKU, 422},
        {ATP_E_BAD_QTY, 422},
        {ATP_E_TOO_MANY_LINES, 422},
        {ATP_E_TOO_LARGE, 413},
        {ATP_E_INTERNAL, 500},
        {ATP_E_BUSY, 503},
        {ATP_E_UNAUTHORIZED, 403},
        {ATP_E_UNKNOWN_SOURCE, 422},
        {ATP_E_DUPLICATE, 409},
        {ATP_E_CONFIG, 422}, /* an admin change the file refuses */
        {ATP_E_NOMEM, 503},
        {ATP_E_IO, 500},
        {ATP_E_CONFLICT, 409},
        {ATP_E_NOT_FOUND, 404},
        {ATP_E_STORE_FULL, 507},
        {ATP_E_TIMEOUT, 504},
        {ATP_E_BAD_BUCKET, 422},
        {ATP_E_BAD_EVENT, 422},
        {ATP_E_TRANSPORT, 502},
        {ATP_E_BAD_STATE, 409},
        {ATP_E_BAD_TTL, 422},
        {ATP_E_BAD_ID, 422},
        {ATP_E_NOT_READY, 503},
        {ATP_E_UNAUTHENTICATED, 401},
        {ATP_E_FORBIDDEN, 403},
        {ATP_E_QUOTA, 429},
        {ATP_E_NOT_OWNER, 503},
        {ATP_E_CROSS_PARTITION, 409},
    };
    /* Total: every code of error.h is in this table (docs/HTTP.md's). */
#define TEST_COUNT(name, code, wire, msg) +1
    size_t n_codes = 0 ATP_ERROR_MAP(TEST_COUNT);
#undef TEST_COUNT
    assert_int_equal(sizeof want / sizeof want[0], n_codes);
    for (size_t i = 0; i < n_codes; i++) {
        assert_int_equal(want[i].code, (int)i);
        assert_int_equal(http_status_of(want[i].code), want[i].status);
    }
    assert_int_equal(http_status_of(999), 500);
}

static void test_reply_status(void **state)
{
    (void)state;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    http_call reserve, other;
    assert_true(
        http_route(&reserve, "POST", "/v1/reservations", NULL, 0, test_arena));
    assert_true(http_route(&other, "POST", "/v1/reservations/r/commit", NULL, 0,
                           test_arena));
    static const struct {
        bool granted, replayed;
        int reserve_status, other_status;
    } cases[] = {{true, false, 201, 200},
                 {true, true, 200, 200},
                 {false, false, 200, 200}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        codec_writer_reset(w);
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_bool(w, "granted", cases[i].granted);
        codec_w_kv_bool(w, "replayed", cases[i].replayed);
        size_t len;
        const void *rep = codec_writer_data(w, &len);
        http_reply_info info;
        assert_true(http_reply_read(rep, len, &info));
        assert_int_equal(info.code, 0);
        assert_int_equal(http_reply_status(&reserve, &info),
                         cases[i].reserve_status);
        assert_int_equal(http_reply_status(&other, &info),
                         cases[i].other_status);
    }
    codec_writer_reset(w);
    codec_w_map(w, 2);
    codec_w_kv_bool(w, "ok", false);
    codec_w_cstr(w, "error");
    codec_w_map(w, 1);
    codec_w_kv_int(w, "code", ATP_E_CONFLICT);
    size_t len;
    const void *rep = codec_writer_data(w, &len);
    http_reply_info info;
    assert_true(http_reply_read(rep, len, &info));
    assert_int_equal(info.code, ATP_E_CONFLICT);
    assert_int_equal(http_reply_status(&reserve, &info), 409);
    /* Not a reply map: refused (the glue answers 503 nomem/500). */
    codec_writer_reset(w);
    codec_w_array(w, 0);
    rep = codec_writer_data(w, &len);
    assert_false(http_reply_read(rep, len, &info));
    codec_writer_free(w);
}

static int test_setup(void **state)
{
    (void)state;
    test_arena = codec_arena_alloc();
    return test_arena == NULL;
}

static int test_teardown(void **state)
{
    (void)state;
    codec_arena_free(test_arena);
    return 0;
}

/* The bearer token of an Authorization header (RFC 6750): the scheme in
 * any case, blanks around the token dropped; anything else is no token. */
static void test_bearer(void **state)
{
    (void)state;
    static const struct {
        const char *header, *want;
    } cases[] = {
        {"Bearer abc123", "abc123"},
        {"bearer abc123", "abc123"},
        {"BEARER   abc.def-_~+/=  ", "abc.def-_~+/="},
        {"Bearer ", ""},
        {"Bearer", ""},
        {"Basic dXNlcjpwYXNz", ""},
        {"Bearerabc", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        codec_str t = http_bearer(cases[i].header);
        assert_int_equal(t.len, strlen(cases[i].want));
        assert_memory_equal(t.ptr, cases[i].want, t.len);
    }
    assert_int_equal(http_bearer(NULL).len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route),
        cmocka_unit_test(test_flags_and_fields),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_reply_status),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
