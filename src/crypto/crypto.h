/*
 * crypto.h - the few primitives atpd's security needs, behind one module:
 * the only code that calls mbedTLS's crypto library (libmbedcrypto, which
 * Debian's libnng is built against already, so it adds no new library to
 * the process).
 *
 * Used for: salted token hashes (SHA-256), per-message source keys
 * (HMAC-SHA-256), comparing secrets without leaking where they differ,
 * and random salts/session ids. Every function is thread-safe and
 * allocates nothing.
 */
#ifndef ATP_CRYPTO_H
#define ATP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

/* crypto_sha256 writes SHA-256(data[0..len)) to out. */
void crypto_sha256(const void *data, size_t len,
                   uint8_t out[CRYPTO_SHA256_LEN]);

/* crypto_sha256_salted writes SHA-256(salt || data) to out: the form in
 * which tokens are configured (never the token itself). */
void crypto_sha256_salted(const void *salt, size_t salt_len, const void *data,
                          size_t len, uint8_t out[CRYPTO_SHA256_LEN]);

/* crypto_hmac_sha256 writes HMAC-SHA-256(key, data) (RFC 2104) to out. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t len, uint8_t out[CRYPTO_SHA256_LEN]);

/* crypto_equal: a[0..n) == b[0..n), in time that depends on n only (never
 * on where the first difference is), for secrets and MACs. */
bool crypto_equal(const void *a, const void *b, size_t n);

/* crypto_random fills buf with n bytes from the kernel's CSPRNG
 * (getrandom). false if the kernel refused (buf is then unusable). */
bool crypto_random(void *buf, size_t n);

/* crypto_hex writes the 2n lower-case hex digits of in[0..n) and a NUL to
 * out (2n + 1 bytes). crypto_unhex reads exactly 2n hex digits (either
 * case) from s into out; false on any other character or length. */
void crypto_hex(const uint8_t *in, size_t n, char *out);
bool crypto_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
