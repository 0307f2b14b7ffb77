/*
 * x509.h - checks of PEM certificates and keys before they are used
 * (atpd --check-config and every start): the config module reads the
 * files and asks here. mbedTLS parses them, the same library that nng's
 * tls+tcp:// transport loads them with, so what passes here is what the
 * transport accepts. HTTPS (libmicrohttpd, GnuTLS) reads the same PEM.
 *
 * Thread-safe; no I/O; allocates only inside mbedTLS and frees it before
 * returning.
 */
#ifndef ATP_CRYPTO_X509_H
#define ATP_CRYPTO_X509_H

#include <stdbool.h>
#include <stddef.h>

/* crypto_x509_check_certs: pem (a NUL-terminated file's contents) is PEM
 * and every certificate in it parses and is valid now (not expired, not
 * yet to come). Returns true, or false with why (a phrase: "is not a PEM
 * certificate (no -----BEGIN CERTIFICATE----- line)", "certificate 1
 * expired on 2025-01-01 00:00:00 UTC", ...) written to why[0..n). */
bool crypto_x509_check_certs(const char *pem, char *why, size_t n);

/* crypto_x509_check_key: key_pem is an unencrypted PEM private key and,
 * when cert_pem is not NULL, the pair of the first certificate in cert_pem
 * (which is assumed to pass crypto_x509_check_certs; cert_name names it
 * in why). Returns true, or false with why ("does not match the
 * certificate in server.pem", "is encrypted: ...", ...). */
bool crypto_x509_check_key(const char *key_pem, const char *cert_pem,
                           const char *cert_name, char *why, size_t n);

#endif
