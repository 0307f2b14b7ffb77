/*
 * x509.h - checks of PEM certificate and key files before they are used
 * (atpd --check-config and every start). mbedTLS parses them here, the
 * same library that nng's tls+tcp:// transport loads them with, so what
 * passes here is what the transport accepts. HTTPS (libmicrohttpd, GnuTLS)
 * reads the same PEM files.
 *
 * Thread-safe; reads the files, allocates only inside mbedTLS and frees it
 * before returning.
 */
#ifndef ATP_CRYPTO_X509_H
#define ATP_CRYPTO_X509_H

#include <stdbool.h>
#include <stddef.h>

/* crypto_x509_check_certs: path is readable, PEM, and every certificate in
 * it parses and is valid now (not expired, not yet to come). Returns true,
 * or false with why (a phrase without the path: "is not PEM (no -----BEGIN
 * CERTIFICATE----- line)", "expired on 2025-01-01 00:00:00 UTC", ...)
 * written to why[0..n). */
bool crypto_x509_check_certs(const char *path, char *why, size_t n);

/* crypto_x509_check_key: key_path is a readable, unencrypted PEM private
 * key and it belongs to the first certificate in cert_path (the public key
 * of one is the other's pair). Returns true, or false with why. cert_path
 * is assumed to pass crypto_x509_check_certs; NULL checks the key alone. */
bool crypto_x509_check_key(const char *key_path, const char *cert_path,
                           char *why, size_t n);

#endif
