/*
 * test_x509.c - src/crypto/x509.c, the checks --check-config and every
 * start make of the tls: files: a valid certificate and its key pass; a
 * file with a BEGIN line and a broken body, a chain with one broken
 * certificate after a good one, a key whose body is broken, an encrypted
 * key, a key that belongs to another certificate, and a certificate that
 * does not parse when the key is checked against it are each refused with
 * the phrase a user sees. Keys and certificates are made at test time
 * with Debian's openssl (a build dependency).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x509.h"

static char g_dir[] = "/tmp/atp-test-x509-XXXXXX";
static char *g_cert, *g_key, *g_cert2, *g_enc_key;

static char *slurp(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (n == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int sh(const char *fmt)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && { %s; } >/dev/null 2>&1", g_dir, fmt);
    return system(cmd);
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(g_dir) == NULL)
        return -1;
    const char *req =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-days 1 -subj /CN=localhost";
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "%s -keyout k1.pem -out c1.pem && %s -keyout k2.pem -out c2.pem && "
        "openssl pkey -in k1.pem -aes256 -passout pass:secret -out enc.pem",
        req, req);
    if (sh(cmd) != 0)
        return -1;
    g_cert = slurp("c1.pem");
    g_key = slurp("k1.pem");
    g_cert2 = slurp("c2.pem");
    g_enc_key = slurp("enc.pem");
    return g_cert && g_key && g_cert2 && g_enc_key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(g_cert);
    free(g_key);
    free(g_cert2);
    free(g_enc_key);
    return sh("rm -rf \"$PWD\"");
}

static void test_valid_pair_passes(void **state)
{
    (void)state;
    char why[256] = "";
    assert_true(crypto_x509_check_certs(g_cert, why, sizeof why));
    assert_true(
        crypto_x509_check_key(g_key, g_cert, "c1.pem", why, sizeof why));
    assert_true(crypto_x509_check_key(g_key, NULL, NULL, why, sizeof why));
}

static const char broken_cert[] = "-----BEGIN CERTIFICATE-----\n"
                                  "bm90IGEgY2VydGlmaWNhdGU=\n"
                                  "-----END CERTIFICATE-----\n";

static void test_broken_certificates(void **state)
{
    (void)state;
    char why[256] = "";
    assert_false(crypto_x509_check_certs(broken_cert, why, sizeof why));
    assert_non_null(strstr(why, "is not a valid PEM certificate (mbedTLS: "));
    char chain[8192];
    snprintf(chain, sizeof chain, "%s%s", g_cert, broken_cert);
    assert_false(crypto_x509_check_certs(chain, why, sizeof why));
    assert_string_equal(why, "has 1 certificate(s) that do not parse");
}

static void test_broken_keys(void **state)
{
    (void)state;
    char why[256] = "";
    const char broken_key[] = "-----BEGIN PRIVATE KEY-----\n"
                              "bm90IGEga2V5\n"
                              "-----END PRIVATE KEY-----\n";
    assert_false(
        crypto_x509_check_key(broken_key, NULL, NULL, why, sizeof why));
    assert_non_null(strstr(why, "is not a valid PEM private key (mbedTLS: "));
    assert_false(crypto_x509_check_key(g_enc_key, NULL, NULL, why, sizeof why));
    assert_non_null(strstr(why, "is encrypted: atpd needs an unencrypted key"));
    assert_false(
        crypto_x509_check_key(g_key, g_cert2, "c2.pem", why, sizeof why));
    assert_string_equal(why, "does not match the certificate in c2.pem");
    assert_false(
        crypto_x509_check_key(g_key, broken_cert, "bad.pem", why, sizeof why));
    assert_string_equal(
        why, "cannot be checked: the certificate in bad.pem does not parse");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_pair_passes),
        cmocka_unit_test(test_broken_certificates),
        cmocka_unit_test(test_broken_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
