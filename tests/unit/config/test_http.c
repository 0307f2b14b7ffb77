/*
 * test_http.c - the service.http_* keys (issue 13, docs/CONFIG.md):
 * defaults (HTTP off), every key set, bounds, a URL that is not
 * http://NUMERIC:PORT and a timeout that is not whole seconds with their
 * line, the demo's http_listen, and config_http_url_split.
 * Single-threaded. Labels: unit, http.
 */
#include "config_test.h"

static void test_defaults(void **state)
{
    (void)state;
    config c;
    assert_int_equal(config_defaults(&c), ATP_OK);
    assert_null(c.service.http_listen);
    assert_int_equal(c.service.http_threads, 2);
    assert_int_equal(c.service.http_max_connections, 1024);
    assert_int_equal(c.service.http_timeout_ms, 30000);
    assert_int_equal(c.service.http_max_header_bytes, 32768);
    config_fini(&c);
}

static void test_every_key(void **state)
{
    (void)state;
    static const char yaml[] = "service:\n"
                               "  http_listen: http://[::1]:0\n"
                               "  http_threads: 4\n"
                               "  http_max_connections: 10\n"
                               "  http_timeout: 2s\n"
                               "  http_max_header_bytes: 8192\n";
    config c;
    config_diags d = {0};
    atp_err rc = config_test_load_str(yaml, &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_string_equal(c.service.http_listen, "http://[::1]:0");
    assert_int_equal(c.service.http_threads, 4);
    assert_int_equal(c.service.http_max_connections, 10);
    assert_int_equal(c.service.http_timeout_ms, 2000);
    assert_int_equal(c.service.http_max_header_bytes, 8192);
    config_fini(&c);
    config_diags_fini(&d);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char yaml[] = "service:\n"
                               "  http_listen: tcp://127.0.0.1:7080\n"
                               "  http_threads: 0\n"
                               "  http_max_connections: 100001\n"
                               "  http_timeout: 1500ms\n"
                               "  http_max_header_bytes: 100\n";
    config c;
    config_diags d = {0};
    assert_int_not_equal(config_test_load_str(yaml, &c, &d), ATP_OK);
    expect_diag(&d, 2, 16, "service.http_listen", "numeric address");
    expect_diag(&d, 3, 17, "service.http_threads");
    expect_diag(&d, 4, 25, "service.http_max_connections");
    expect_diag(&d, 5, 17, "service.http_timeout", "whole seconds");
    expect_diag(&d, 6, 26, "service.http_max_header_bytes");
    expect_diag_count(&d, 5);
    config_diags_fini(&d);
    static const char *const bad_urls[] = {
        "http://localhost:7080",  "http://127.0.0.1",
        "http://127.0.0.1:70800", "http://:80",
        "http://[::1:80",         "http://127.0.0.1:8x",
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "service: {http_listen: '%s'}\n",
                 bad_urls[i]);
        config_diags d2 = {0};
        if (config_test_load_str(doc, &c, &d2) == ATP_OK)
            fail_msg("accepted http_listen '%s'", bad_urls[i]);
        expect_diag(&d2, 1, 0, "service.http_listen");
        config_diags_fini(&d2);
    }
}

static void test_url_split(void **state)
{
    (void)state;
    char host[64];
    unsigned port;
    assert_true(config_http_url_split("http://127.0.0.1:7080", host,
                                      sizeof host, &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7080);
    assert_true(
        config_http_url_split("http://[::1]:0", host, sizeof host, &port));
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_false(
        config_http_url_split("http://[::1]", host, sizeof host, &port));
    /* https:// is the same URL served with the tls: section. */
    assert_true(
        config_http_url_split("https://127.0.0.1:1", host, sizeof host, &port));
    assert_int_equal(port, 1);
    assert_false(
        config_http_url_split("ftp://127.0.0.1:1", host, sizeof host, &port));
    assert_false(config_http_url_split(NULL, host, sizeof host, &port));
    assert_false(config_http_url_split("http://127.0.0.1:1", host, 4,
                                       &port)); /* no room */
}

static void test_demo(void **state)
{
    (void)state;
    config c;
    config_diags d = {0};
    atp_err rc = config_load_file(config_test_path("config/demo.yaml"), &c, &d);
    if (rc != ATP_OK)
        config_test_print(&d);
    assert_int_equal(rc, ATP_OK);
    assert_string_equal(c.service.http_listen, "http://127.0.0.1:7080");
    config_fini(&c);
    config_diags_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_bad_values), cmocka_unit_test(test_url_split),
        cmocka_unit_test(test_demo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
