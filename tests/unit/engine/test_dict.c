/*
 * test_dict.c - unit tests of src/engine/dict.c: interning, lookup, dense
 * indices, growth past many thousands of keys (several table growths and
 * key-directory chunks), keys that share prefixes, dict_reserve, max_keys.
 * Single-threaded (the lock-free reader side is exercised by test_engine's
 * concurrency tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "engine/dict.h"

static uint32_t test_dict_intern(dict *d, const char *key)
{
    uint32_t idx = DICT_NONE;
    assert_int_equal(dict_intern(d, key, strlen(key), &idx), ATP_OK);
    assert_int_not_equal(idx, DICT_NONE);
    return idx;
}

static void test_dict_assert_key(const dict *d, uint32_t idx, const char *key)
{
    size_t len = 0;
    const char *k = dict_key(d, idx, &len);
    assert_non_null(k);
    assert_int_equal(len, strlen(key));
    assert_memory_equal(k, key, len);
}

static void test_dict_basic(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(1000, &d), ATP_OK);
    assert_int_equal(dict_count(d), 0);
    assert_int_equal(dict_find(d, "SKU-1", 5), DICT_NONE);

    assert_int_equal(test_dict_intern(d, "SKU-1"), 0);
    assert_int_equal(test_dict_intern(d, "SKU-2"), 1);
    assert_int_equal(test_dict_intern(d, "SKU-3"), 2);
    assert_int_equal(dict_count(d), 3);
    /* interning again returns the same index and adds nothing */
    assert_int_equal(test_dict_intern(d, "SKU-2"), 1);
    assert_int_equal(dict_count(d), 3);

    assert_int_equal(dict_find(d, "SKU-1", 5), 0);
    assert_int_equal(dict_find(d, "SKU-3", 5), 2);
    assert_int_equal(dict_find(d, "SKU-4", 5), DICT_NONE);
    test_dict_assert_key(d, 0, "SKU-1");
    test_dict_assert_key(d, 2, "SKU-3");
    /* the length counts: a prefix of a key is not the key */
    assert_int_equal(dict_find(d, "SKU-1", 4), DICT_NONE);
    assert_true(dict_memory(d) > 0);
    dict_free(d);
}

/* The dictionary copies key bytes: the caller's buffer may change after. */
static void test_dict_copies_keys(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(10, &d), ATP_OK);
    char buf[16];
    strcpy(buf, "ABC");
    assert_int_equal(test_dict_intern(d, buf), 0);
    strcpy(buf, "XYZ");
    test_dict_assert_key(d, 0, "ABC");
    assert_int_equal(dict_find(d, "ABC", 3), 0);
    assert_int_equal(dict_find(d, "XYZ", 3), DICT_NONE);
    /* binary-safe: embedded NUL bytes are part of the key */
    uint32_t idx;
    assert_int_equal(dict_intern(d, "A\0B", 3, &idx), ATP_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(dict_find(d, "A\0C", 3), DICT_NONE);
    assert_int_equal(dict_find(d, "A", 1), DICT_NONE);
    dict_free(d);
}

static void test_dict_shared_prefixes(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(1000, &d), ATP_OK);
    const char *keys[] = {"A1", "A10", "A100", "A", "A1 ", "a1", "A01"};
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(test_dict_intern(d, keys[i]), i);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dict_find(d, keys[i], strlen(keys[i])), i);
        test_dict_assert_key(d, (uint32_t)i, keys[i]);
    }
    assert_int_equal(dict_find(d, "A1000", 5), DICT_NONE);
    assert_int_equal(dict_count(d), n);
    dict_free(d);
}

/* 100k keys: crosses the initial 1024-slot table many times and the 16k-key
 * directory chunk boundary several times; every index stays dense and every
 * key findable, including with a long key beyond a 64 KiB arena block. */
#define TEST_DICT_MANY 100000u

static void test_dict_growth(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(TEST_DICT_MANY + 10, &d), ATP_OK);
    char key[32];
    for (uint32_t i = 0; i < TEST_DICT_MANY; i++) {
        int len = snprintf(key, sizeof key, "SKU-%u", i);
        uint32_t idx;
        assert_int_equal(dict_intern(d, key, (size_t)len, &idx), ATP_OK);
        assert_int_equal(idx, i);
        assert_int_equal(dict_count(d), i + 1);
    }
    size_t mem = dict_memory(d);
    for (uint32_t i = 0; i < TEST_DICT_MANY; i++) {
        int len = snprintf(key, sizeof key, "SKU-%u", i);
        assert_int_equal(dict_find(d, key, (size_t)len), i);
        size_t klen;
        const char *k = dict_key(d, i, &klen);
        assert_int_equal(klen, (size_t)len);
        assert_memory_equal(k, key, klen);
    }
    /* re-interning does not add */
    assert_int_equal(test_dict_intern(d, "SKU-77777"), 77777);
    assert_int_equal(dict_count(d), TEST_DICT_MANY);
    /* misses */
    assert_int_equal(dict_find(d, "SKU-100000", 10), DICT_NONE);
    assert_int_equal(dict_find(d, "SKU-", 4), DICT_NONE);
    /* a key bigger than an arena block */
    size_t big_len = 70 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'x', big_len);
    uint32_t idx;
    assert_int_equal(dict_intern(d, big, big_len, &idx), ATP_OK);
    assert_int_equal(idx, TEST_DICT_MANY);
    assert_int_equal(dict_find(d, big, big_len), TEST_DICT_MANY);
    assert_int_equal(dict_find(d, "SKU-5", 5), 5); /* older keys intact */
    assert_true(dict_memory(d) > mem);
    free(big);
    dict_free(d);
}

static void test_dict_reserve(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(200000, &d), ATP_OK);
    assert_int_equal(test_dict_intern(d, "first"), 0);
    char key[32];
    /* reserve for 50k keys of known total size, then intern them */
    size_t bytes = 0;
    for (uint32_t i = 0; i < 50000; i++)
        bytes += (size_t)snprintf(key, sizeof key, "R-%u", i);
    assert_int_equal(dict_reserve(d, 50000, bytes), ATP_OK);
    size_t mem_after_reserve = dict_memory(d);
    for (uint32_t i = 0; i < 50000; i++) {
        int len = snprintf(key, sizeof key, "R-%u", i);
        uint32_t idx;
        assert_int_equal(dict_intern(d, key, (size_t)len, &idx), ATP_OK);
        assert_int_equal(idx, i + 1);
    }
    /* the promise of dict_reserve: nothing was allocated by those interns */
    assert_int_equal(dict_memory(d), mem_after_reserve);
    for (uint32_t i = 0; i < 50000; i += 997) {
        int len = snprintf(key, sizeof key, "R-%u", i);
        assert_int_equal(dict_find(d, key, (size_t)len), i + 1);
    }
    assert_int_equal(dict_find(d, "first", 5), 0);
    /* reserve of nothing, and a reserve beyond max_keys, are harmless */
    assert_int_equal(dict_reserve(d, 0, 0), ATP_OK);
    assert_int_equal(dict_reserve(d, 1000000, 10), ATP_OK);
    assert_int_equal(test_dict_intern(d, "after"), 50001);
    assert_int_equal(dict_find(d, "after", 5), 50001);
    dict_free(d);
}

/* Reserving on an empty dictionary, then interning exactly that many keys. */
static void test_dict_reserve_empty(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(100000, &d), ATP_OK);
    assert_int_equal(dict_reserve(d, 20000, 20000 * 8), ATP_OK);
    size_t mem = dict_memory(d);
    char key[32];
    for (uint32_t i = 0; i < 20000; i++) {
        int len = snprintf(key, sizeof key, "K%07u", i);
        assert_int_equal(len, 8);
        uint32_t idx;
        assert_int_equal(dict_intern(d, key, 8, &idx), ATP_OK);
        assert_int_equal(idx, i);
    }
    assert_int_equal(dict_memory(d), mem);
    assert_int_equal(dict_count(d), 20000);
    dict_free(d);
}

static void test_dict_max_keys(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(3, &d), ATP_OK);
    test_dict_intern(d, "a");
    test_dict_intern(d, "b");
    test_dict_intern(d, "c");
    uint32_t idx = 12345;
    assert_int_equal(dict_intern(d, "d", 1, &idx), ATP_E_TOO_LARGE);
    assert_int_equal(dict_count(d), 3);
    assert_int_equal(dict_find(d, "d", 1), DICT_NONE);
    /* existing keys still intern fine when full */
    assert_int_equal(dict_intern(d, "b", 1, &idx), ATP_OK);
    assert_int_equal(idx, 1);
    dict_free(d);
    dict_free(NULL);
}

/* Keys of every length 1..64 that share a prefix: the ones that fit in
 * the entry (<= DICT_INLINE) and the ones stored beside it, either side of
 * the boundary; the hashed variants agree with the plain ones. */
static void test_dict_key_lengths(void **state)
{
    (void)state;
    dict *d = NULL;
    assert_int_equal(dict_alloc(1000, &d), ATP_OK);
    char keys[65][65];
    for (int len = 1; len <= 64; len++) {
        memset(keys[len], 'k', (size_t)len);
        keys[len][len - 1] = (char)('A' + len % 26);
        keys[len][len] = '\0';
        assert_int_equal(test_dict_intern(d, keys[len]), (uint32_t)(len - 1));
    }
    for (int len = 1; len <= 64; len++) {
        uint32_t h = dict_hash(keys[len], (size_t)len);
        assert_int_equal(dict_find(d, keys[len], (size_t)len),
                         (uint32_t)(len - 1));
        assert_int_equal(dict_find_hashed(d, h, keys[len], (size_t)len),
                         (uint32_t)(len - 1));
        dict_prefetch(d, h);
        dict_prefetch_key(d, h);
        uint32_t idx = DICT_NONE;
        assert_int_equal(dict_intern_hashed(d, h, keys[len], (size_t)len, &idx),
                         ATP_OK);
        assert_int_equal(idx, (uint32_t)(len - 1));
        test_dict_assert_key(d, idx, keys[len]);
        /* one byte shorter or different is another key */
        assert_int_not_equal(dict_find(d, keys[len], (size_t)len - 1),
                             (uint32_t)(len - 1));
    }
    assert_int_equal(dict_find(d, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkZ", 29),
                     DICT_NONE);
    assert_int_equal(dict_count(d), 64);
    dict_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_basic),
        cmocka_unit_test(test_dict_copies_keys),
        cmocka_unit_test(test_dict_shared_prefixes),
        cmocka_unit_test(test_dict_growth),
        cmocka_unit_test(test_dict_reserve),
        cmocka_unit_test(test_dict_reserve_empty),
        cmocka_unit_test(test_dict_max_keys),
        cmocka_unit_test(test_dict_key_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
