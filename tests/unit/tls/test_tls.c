/*
 * test_tls.c - src/tls/tls.c: tls_listen on plain tcp:// binds and reports
 * the port it got; on tls+tcp:// it listens only with a usable tls:
 * section, and refuses (ATP_E_TRANSPORT, nothing listening) without a
 * certificate, with a certificate file that does not exist, with one that
 * is not PEM, and with a CA file that is not PEM; a URL nng cannot parse
 * and a port already taken are refused too. The certificate is made at
 * test time with Debian's openssl (a dependency of the build).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"

static char g_dir[] = "/tmp/atp-test-tls-XXXXXX";
static char g_cert[128], g_key[128], g_junk[128];

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_cert, sizeof g_cert, "%s/cert.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/key.pem", g_dir);
    snprintf(g_junk, sizeof g_junk, "%s/junk.pem", g_dir);
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout %s -out %s -days 1 -subj /CN=localhost >/dev/null 2>&1",
        g_key, g_cert);
    if (system(cmd) != 0)
        return -1;
    FILE *f = fopen(g_junk, "w");
    if (f == NULL)
        return -1;
    fputs("this is not a PEM file\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* listen_on: tls_listen on a fresh REP socket; the socket is closed. */
static atp_err listen_on(const char *url, const config_tls *t, char *bound,
                         size_t n)
{
    nng_socket s;
    assert_int_equal(nng_rep0_open(&s), 0);
    atp_err e = tls_listen(s, url, t, "test", bound, n);
    nng_close(s);
    return e;
}

static void test_plain_tcp_reports_port(void **state)
{
    (void)state;
    config_tls t = {0};
    char bound[128] = "";
    assert_int_equal(listen_on("tcp://127.0.0.1:0", &t, bound, sizeof bound),
                     ATP_OK);
    assert_int_equal(strncmp(bound, "tcp://127.0.0.1:", 16), 0);
    assert_true(atoi(bound + 16) > 0);
}

static void test_tls_with_certificate(void **state)
{
    (void)state;
    config_tls t = {
        .cert_file = g_cert, .key_file = g_key, .verify_clients = 0};
    char bound[128] = "";
    assert_int_equal(
        listen_on("tls+tcp://127.0.0.1:0", &t, bound, sizeof bound), ATP_OK);
    assert_int_equal(strncmp(bound, "tls+tcp://127.0.0.1:", 20), 0);
    assert_true(atoi(bound + 20) > 0);
}

static void test_tls_refusals(void **state)
{
    (void)state;
    char bound[128];
    config_tls none = {0};
    assert_int_equal(
        listen_on("tls+tcp://127.0.0.1:0", &none, bound, sizeof bound),
        ATP_E_TRANSPORT);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/absent.pem", g_dir);
    config_tls absent = {.cert_file = missing, .key_file = g_key};
    assert_int_equal(
        listen_on("tls+tcp://127.0.0.1:0", &absent, bound, sizeof bound),
        ATP_E_TRANSPORT);
    config_tls junk = {.cert_file = g_junk, .key_file = g_key};
    assert_int_equal(
        listen_on("tls+tcp://127.0.0.1:0", &junk, bound, sizeof bound),
        ATP_E_TRANSPORT);
    config_tls bad_ca = {.cert_file = g_cert,
                         .key_file = g_key,
                         .ca_file = g_junk,
                         .verify_clients = 2};
    assert_int_equal(
        listen_on("tls+tcp://127.0.0.1:0", &bad_ca, bound, sizeof bound),
        ATP_E_TRANSPORT);
}

static void test_bad_url_and_taken_port(void **state)
{
    (void)state;
    config_tls t = {0};
    char bound[128];
    assert_int_equal(
        listen_on("nosuchscheme://127.0.0.1:1", &t, bound, sizeof bound),
        ATP_E_TRANSPORT);
    nng_socket s;
    assert_int_equal(nng_rep0_open(&s), 0);
    assert_int_equal(
        tls_listen(s, "tcp://127.0.0.1:0", &t, "test", bound, sizeof bound),
        ATP_OK);
    char again[128];
    assert_int_equal(listen_on(bound, &t, again, sizeof again),
                     ATP_E_TRANSPORT);
    nng_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_tcp_reports_port),
        cmocka_unit_test(test_tls_with_certificate),
        cmocka_unit_test(test_tls_refusals),
        cmocka_unit_test(test_bad_url_and_taken_port),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
