/*
 * test_crypto.c - src/crypto: SHA-256 and HMAC-SHA-256 give the published
 * test vectors (FIPS 180-2 "abc", RFC 4231 case 2), the salted hash is the
 * hash of salt || data, equality sees a difference at any position, hex
 * round-trips and refuses what is not exactly 2n hex digits, and random
 * bytes differ between calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "crypto/crypto.h"

static void hex_of(const uint8_t *d, char out[65])
{
    crypto_hex(d, CRYPTO_SHA256_LEN, out);
}

static void test_sha256_vector(void **state)
{
    (void)state;
    uint8_t d[CRYPTO_SHA256_LEN];
    char h[65];
    crypto_sha256("abc", 3, d);
    hex_of(d, h);
    assert_string_equal(
        h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_salted_is_hash_of_concatenation(void **state)
{
    (void)state;
    uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
    crypto_sha256_salted("ab", 2, "c", 1, a);
    crypto_sha256("abc", 3, b);
    assert_memory_equal(a, b, sizeof a);
    crypto_sha256_salted("ac", 2, "c", 1, a);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_hmac_rfc4231_case2(void **state)
{
    (void)state;
    uint8_t d[CRYPTO_SHA256_LEN];
    char h[65];
    const char *data = "what do ya want for nothing?";
    crypto_hmac_sha256("Jefe", 4, data, strlen(data), d);
    hex_of(d, h);
    assert_string_equal(
        h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_equal_sees_every_position(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 7, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(crypto_equal(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        assert_false(crypto_equal(a, b, sizeof a));
        b[i] ^= 0x80;
    }
    assert_true(crypto_equal(a, b, 0));
}

static void test_hex_round_trip_and_refusals(void **state)
{
    (void)state;
    const uint8_t in[3] = {0x00, 0xab, 0xff};
    char h[7];
    uint8_t out[3];
    crypto_hex(in, 3, h);
    assert_string_equal(h, "00abff");
    assert_true(crypto_unhex("00ABff", 6, out, 3));
    assert_memory_equal(in, out, 3);
    assert_false(crypto_unhex("00abf", 5, out, 3));
    assert_false(crypto_unhex("00abfg", 6, out, 3));
    assert_false(crypto_unhex("00abff00", 8, out, 3));
}

static void test_random_differs(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    assert_true(crypto_random(a, sizeof a));
    assert_true(crypto_random(b, sizeof b));
    assert_memory_not_equal(a, b, sizeof a); /* 2^-128 to fail by chance */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vector),
        cmocka_unit_test(test_salted_is_hash_of_concatenation),
        cmocka_unit_test(test_hmac_rfc4231_case2),
        cmocka_unit_test(test_equal_sees_every_position),
        cmocka_unit_test(test_hex_round_trip_and_refusals),
        cmocka_unit_test(test_random_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
