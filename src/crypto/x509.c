/* x509.c - see x509.h. mbedTLS 2.28: libmbedx509 parses the certificates,
 * libmbedcrypto's pk layer the key and the pair check. mbedTLS takes PEM
 * with its terminating NUL counted in the length. */
#include "crypto/x509.h"

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <string.h>

/* x509_why_mbed: mbedTLS's text for code rv after prefix. */
static void x509_why_mbed(char *why, size_t n, const char *prefix, int rv)
{
    char err[160];
    mbedtls_strerror(rv, err, sizeof err);
    snprintf(why, n, "%s (mbedTLS: %s)", prefix, err);
}

static void x509_time_fmt(const mbedtls_x509_time *t, char *buf, size_t n)
{
    snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon,
             t->day, t->hour, t->min, t->sec);
}

/* x509_check_dates: every certificate of chain is valid now. */
static bool x509_check_dates(const mbedtls_x509_crt *chain, char *why, size_t n)
{
    int i = 1;
    for (const mbedtls_x509_crt *c = chain; c != NULL && c->raw.p != NULL;
         c = c->next, i++) {
        char when[40];
        if (mbedtls_x509_time_is_past(&c->valid_to)) {
            x509_time_fmt(&c->valid_to, when, sizeof when);
            snprintf(why, n, "certificate %d expired on %s", i, when);
            return false;
        }
        if (mbedtls_x509_time_is_future(&c->valid_from)) {
            x509_time_fmt(&c->valid_from, when, sizeof when);
            snprintf(why, n, "certificate %d is not valid before %s", i, when);
            return false;
        }
    }
    return true;
}

bool crypto_x509_check_certs(const char *pem, char *why, size_t n)
{
    if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
        snprintf(
            why, n,
            "is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)");
        return false;
    }
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    /* A positive return counts certificates that did not parse. */
    int rv = mbedtls_x509_crt_parse(&chain, (const unsigned char *)pem,
                                    strlen(pem) + 1);
    bool ok = false;
    if (rv > 0)
        snprintf(why, n, "has %d certificate(s) that do not parse", rv);
    else if (rv < 0)
        x509_why_mbed(why, n, "is not a valid PEM certificate", rv);
    else
        ok = x509_check_dates(&chain, why, n);
    mbedtls_x509_crt_free(&chain);
    return ok;
}

bool crypto_x509_check_key(const char *key_pem, const char *cert_pem,
                           const char *cert_name, char *why, size_t n)
{
    if (strstr(key_pem, "-----BEGIN") == NULL ||
        strstr(key_pem, "PRIVATE KEY-----") == NULL) {
        snprintf(why, n,
                 "is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- "
                 "line)");
        return false;
    }
    bool ok = false;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rv = mbedtls_pk_parse_key(&key, (const unsigned char *)key_pem,
                                  strlen(key_pem) + 1, NULL, 0);
    if (rv == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
        snprintf(
            why, n,
            "is encrypted: atpd needs an unencrypted key (protect it by its "
            "file mode)");
    else if (rv != 0)
        x509_why_mbed(why, n, "is not a valid PEM private key", rv);
    else if (cert_pem == NULL)
        ok = true;
    else if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem,
                                    strlen(cert_pem) + 1) < 0)
        snprintf(why, n,
                 "cannot be checked: the certificate in %s does not parse",
                 cert_name);
    else if (mbedtls_pk_check_pair(&crt.pk, &key) != 0)
        snprintf(why, n, "does not match the certificate in %s", cert_name);
    else
        ok = true;
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    return ok;
}
