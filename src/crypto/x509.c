/* x509.c - see x509.h. mbedTLS 2.28: libmbedx509 parses the certificates,
 * libmbedcrypto's pk layer the key and the pair check. */
#include "crypto/x509.h"

#include <errno.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A certificate or key file bigger than this is not one (a chain of ten
 * 4096-bit certificates is about 20 KiB). */
#define X509_FILE_MAX (1024 * 1024)

/* x509_read: the whole file, NUL-terminated (mbedTLS wants PEM with its
 * NUL counted in the length). NULL with why on failure; caller frees. */
static unsigned char *x509_read(const char *path, size_t *len, char *why,
                                size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, n, "cannot be read: %s", strerror(errno));
        return NULL;
    }
    unsigned char *buf = malloc(X509_FILE_MAX + 1);
    size_t got = buf != NULL ? fread(buf, 1, X509_FILE_MAX + 1, f) : 0;
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (buf == NULL) {
        snprintf(why, n, "cannot be read: out of memory");
        return NULL;
    }
    if (err != 0 || got > X509_FILE_MAX) {
        snprintf(why, n,
                 err != 0 ? "cannot be read: %s" : "is larger than 1 MiB%s",
                 err != 0 ? strerror(err) : "");
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got + 1;
    return buf;
}

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

bool crypto_x509_check_certs(const char *path, char *why, size_t n)
{
    size_t len;
    unsigned char *pem = x509_read(path, &len, why, n);
    if (pem == NULL)
        return false;
    bool ok = false;
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    if (strstr((const char *)pem, "-----BEGIN CERTIFICATE-----") == NULL) {
        snprintf(
            why, n,
            "is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)");
        goto out;
    }
    /* A positive return counts certificates that did not parse. */
    int rv = mbedtls_x509_crt_parse(&chain, pem, len);
    if (rv != 0) {
        if (rv > 0)
            snprintf(why, n, "has %d certificate(s) that do not parse", rv);
        else
            x509_why_mbed(why, n, "is not a valid PEM certificate", rv);
        goto out;
    }
    int i = 1;
    for (const mbedtls_x509_crt *c = &chain; c != NULL && c->raw.p != NULL;
         c = c->next, i++) {
        char when[40];
        if (mbedtls_x509_time_is_past(&c->valid_to)) {
            x509_time_fmt(&c->valid_to, when, sizeof when);
            snprintf(why, n, "certificate %d expired on %s", i, when);
            goto out;
        }
        if (mbedtls_x509_time_is_future(&c->valid_from)) {
            x509_time_fmt(&c->valid_from, when, sizeof when);
            snprintf(why, n, "certificate %d is not valid before %s", i, when);
            goto out;
        }
    }
    ok = true;
out:
    mbedtls_x509_crt_free(&chain);
    free(pem);
    return ok;
}

bool crypto_x509_check_key(const char *key_path, const char *cert_path,
                           char *why, size_t n)
{
    size_t len, clen;
    unsigned char *pem = x509_read(key_path, &len, why, n);
    if (pem == NULL)
        return false;
    bool ok = false;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    unsigned char *cpem = NULL;
    if (strstr((const char *)pem, "-----BEGIN") == NULL ||
        strstr((const char *)pem, "PRIVATE KEY-----") == NULL) {
        snprintf(why, n,
                 "is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- "
                 "line)");
        goto out;
    }
    int rv = mbedtls_pk_parse_key(&key, pem, len, NULL, 0);
    if (rv == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
        snprintf(why, n,
                 "is encrypted: atpd needs an unencrypted key (protect it by "
                 "file mode)");
        goto out;
    }
    if (rv != 0) {
        x509_why_mbed(why, n, "is not a valid PEM private key", rv);
        goto out;
    }
    if (cert_path == NULL) {
        ok = true;
        goto out;
    }
    if ((cpem = x509_read(cert_path, &clen, why, n)) == NULL ||
        mbedtls_x509_crt_parse(&crt, cpem, clen) < 0) {
        snprintf(why, n, "cannot be checked: the certificate %s does not parse",
                 cert_path);
        goto out;
    }
    if (mbedtls_pk_check_pair(&crt.pk, &key) != 0) {
        snprintf(why, n, "does not match the certificate in %s", cert_path);
        goto out;
    }
    ok = true;
out:
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    free(cpem);
    free(pem);
    return ok;
}
