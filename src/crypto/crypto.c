/* crypto.c - see crypto.h. mbedTLS 2.28 (Debian 12): the *_ret forms are
 * the ones that report errors; with SHA-256 and in-memory input they
 * cannot fail, so a failure is a broken library and aborts. */
#include "crypto/crypto.h"

#include <errno.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/hex.h"

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    if (mbedtls_sha256_ret(data, len, out, 0) != 0)
        abort();
}

void crypto_sha256_salted(const void *salt, size_t salt_len, const void *data,
                          size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    if (mbedtls_sha256_starts_ret(&c, 0) != 0 ||
        mbedtls_sha256_update_ret(&c, salt, salt_len) != 0 ||
        mbedtls_sha256_update_ret(&c, data, len) != 0 ||
        mbedtls_sha256_finish_ret(&c, out) != 0)
        abort();
    mbedtls_sha256_free(&c);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (md == NULL || mbedtls_md_hmac(md, key, key_len, data, len, out) != 0)
        abort();
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}

bool crypto_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += got;
        n -= (size_t)got;
    }
    return true;
}

void crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool crypto_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}
