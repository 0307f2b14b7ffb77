/*
 * test_reslog.c - unit tests of src/store/reslog.c: the reservation log's
 * record format (encode/decode, CRC32C, torn and corrupt records) and the
 * file (replay of the LSN chain from offset 0, skipping what LMDB applied,
 * reuse from offset 0 with stale records behind the new tail, a torn or
 * corrupt tail, the LSN jump after an uncertain tail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

#define TEST_LOG_SIZE (1u << 20)

/* ---- format ---------------------------------------------------------------- */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    assert_int_equal(store__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(store__crc32c(0, "", 0), 0);
    /* Continuation over pieces equals one pass, across the 8-byte path. */
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t one = store__crc32c(0, s, strlen(s));
    assert_int_equal(store__crc32c(store__crc32c(0, s, 13), s + 13, strlen(s) - 13), one);
    assert_int_equal(one, 0x22620404u);
}

static const store_op test_ops[] = {
    {STORE_DB_RESERVATIONS, "r-1", 3, "value-one", 9},
    {STORE_DB_RESERVATIONS, "r-2", 3, NULL, 0}, /* delete */
    {STORE_DB_RESERVATIONS, "a-much-longer-reservation-id", 28, "", 0},
};

static void test_roundtrip(void **state)
{
    (void)state;
    size_t len = store__log_record_size(test_ops, 3);
    assert_int_equal(len, STORE_LOG_HDR + 3 * STORE_LOG_OP_HDR + 3 + 9 + 3 + 28);
    unsigned char *buf = calloc(1, len + 16);
    store__log_encode(buf, 42, test_ops, 3);
    uint64_t lsn = 0;
    size_t rec_len = 0, n = 0;
    store_op ops[3];
    /* Trailing bytes of the file do not matter. */
    assert_int_equal(store__log_decode(buf, len + 16, &lsn, &rec_len, ops, 3, &n),
                     STORE_LOG_OK);
    assert_int_equal(lsn, 42);
    assert_int_equal(rec_len, len);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ops[i].db, test_ops[i].db);
        assert_int_equal(ops[i].key_len, test_ops[i].key_len);
        assert_memory_equal(ops[i].key, test_ops[i].key, test_ops[i].key_len);
        assert_int_equal(ops[i].val == NULL, test_ops[i].val == NULL);
        assert_int_equal(ops[i].val_len, test_ops[i].val_len);
        if (ops[i].val != NULL)
            assert_memory_equal(ops[i].val, test_ops[i].val, ops[i].val_len);
    }
    free(buf);
}

static void test_bad_records(void **state)
{
    (void)state;
    size_t len = store__log_record_size(test_ops, 3);
    unsigned char *buf = calloc(1, len);
    uint64_t lsn;
    size_t rec_len, n;
    /* Zeros: no record. */
    assert_int_equal(store__log_decode(buf, len, &lsn, &rec_len, NULL, 0, &n),
                     STORE_LOG_END);
    store__log_encode(buf, 7, test_ops, 3);
    /* Cut anywhere after the magic: torn. */
    for (size_t cut = 4; cut < len; cut += 5)
        assert_int_equal(store__log_decode(buf, cut, &lsn, &rec_len, NULL, 0, &n),
                         STORE_LOG_TORN);
    /* Any flipped bit after the CRC field: corrupt. */
    for (size_t i = 8; i < len; i++) {
        buf[i] ^= 0x10;
        store_log_status st = store__log_decode(buf, len, &lsn, &rec_len, NULL, 0, &n);
        /* A flip in payload_len may make the record look longer: torn. */
        assert_true(st == STORE_LOG_CORRUPT || (i >= 16 && i < 20 && st == STORE_LOG_TORN));
        buf[i] ^= 0x10;
    }
    /* A flipped CRC: corrupt. */
    buf[5] ^= 1;
    assert_int_equal(store__log_decode(buf, len, &lsn, &rec_len, NULL, 0, &n),
                     STORE_LOG_CORRUPT);
    free(buf);
}

/* ---- file ------------------------------------------------------------------ */

typedef struct test_dir {
    char path[64];
} test_dir;

static void test_dir_make(test_dir *d)
{
    strcpy(d->path, "/tmp/atp-test-reslog-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void test_dir_remove(test_dir *d)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", d->path, STORE_LOG_NAME);
    unlink(p);
    rmdir(d->path);
}

/* Append records lsn .. lsn + n - 1, each one op with key "k<lsn>". */
static void test_append(store_log *l, uint64_t lsn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char key[32], val[64];
        int kl = snprintf(key, sizeof key, "k%llu", (unsigned long long)(lsn + i));
        int vl = snprintf(val, sizeof val, "value of %llu", (unsigned long long)(lsn + i));
        store_op op = {STORE_DB_RESERVATIONS, key, (size_t)kl, val, (size_t)vl};
        size_t len = store__log_record_size(&op, 1);
        unsigned char buf[256];
        store__log_encode(buf, lsn + i, &op, 1);
        assert_true(l->wpos + len <= l->size);
        assert_int_equal(store__log_append(l, buf, len), ATP_OK);
    }
}

typedef struct test_seen {
    uint64_t lsn[4096];
    size_t n;
} test_seen;

static atp_err test_collect(void *ctx, uint64_t lsn, const store_op *ops, size_t n)
{
    test_seen *s = ctx;
    char key[32];
    int kl = snprintf(key, sizeof key, "k%llu", (unsigned long long)lsn);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0].key_len, (size_t)kl);
    assert_memory_equal(ops[0].key, key, (size_t)kl);
    s->lsn[s->n++] = lsn;
    return ATP_OK;
}

static void test_expect_chain(store_log *l, uint64_t applied, uint64_t first,
                              size_t n, int bad)
{
    test_seen *s = calloc(1, sizeof *s);
    uint64_t last;
    int got_bad;
    assert_int_equal(store__log_replay(l, applied, test_collect, s, &last, &got_bad),
                     ATP_OK);
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s->lsn[i], first + i);
    assert_int_equal(last, n ? first + n - 1 : applied);
    assert_int_equal(got_bad, bad);
    free(s);
}

static void test_file_replay_and_reuse(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_log l;
    assert_int_equal(store__log_open(&l, d.path, TEST_LOG_SIZE), ATP_OK);
    assert_int_equal(l.size, TEST_LOG_SIZE);
    test_expect_chain(&l, 0, 0, 0, 0); /* all zeros */
    test_append(&l, 1, 100);
    test_expect_chain(&l, 0, 1, 100, 0);
    test_expect_chain(&l, 60, 61, 40, 0); /* LMDB applied up to 60 */
    test_expect_chain(&l, 100, 0, 0, 0);
    /* Reuse from offset 0: 10 new records, 90 stale ones behind them. */
    l.wpos = 0;
    test_append(&l, 101, 10);
    test_expect_chain(&l, 100, 101, 10, 0);
    /* Reopen: the size stays, the content too. */
    store__log_close(&l);
    assert_int_equal(store__log_open(&l, d.path, 0), ATP_OK);
    assert_int_equal(l.size, TEST_LOG_SIZE);
    test_expect_chain(&l, 100, 101, 10, 0);
    /* Cleared: nothing to replay. */
    assert_int_equal(store__log_clear(&l), ATP_OK);
    test_expect_chain(&l, 0, 0, 0, 0);
    store__log_close(&l);
    test_dir_remove(&d);
}

static void test_file_torn_tail(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_log l;
    assert_int_equal(store__log_open(&l, d.path, TEST_LOG_SIZE), ATP_OK);
    test_append(&l, 1, 19);
    size_t end19 = l.wpos; /* where record 20 starts */
    test_append(&l, 20, 1);
    /* Flip a byte inside record 20's payload: 1..19 are applied, not 20. */
    unsigned char b;
    assert_int_equal(pread(l.fd, &b, 1, (off_t)end19 + 30), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(l.fd, &b, 1, (off_t)end19 + 30), 1);
    test_expect_chain(&l, 0, 1, 19, 1);
    /* Torn instead: the record's second half is zeros again. */
    b ^= 0xff;
    assert_int_equal(pwrite(l.fd, &b, 1, (off_t)end19 + 30), 1);
    test_expect_chain(&l, 0, 1, 20, 0);
    static const unsigned char zero[16];
    assert_int_equal(pwrite(l.fd, zero, sizeof zero, (off_t)end19 + 24), 16);
    test_expect_chain(&l, 0, 1, 19, 1);
    store__log_close(&l);
    test_dir_remove(&d);
}

/* After an uncertain tail (records 11..15 written but never acknowledged),
 * the LSNs jump: a new chain from offset 0 can never be continued by them,
 * even where the new tail ends exactly at a stale record. */
static void test_file_lsn_jump(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_log l;
    assert_int_equal(store__log_open(&l, d.path, TEST_LOG_SIZE), ATP_OK);
    test_append(&l, 1, 15);
    l.wpos = 0;
    uint64_t next = 10 + STORE_LOG_LSN_JUMP(l.size);
    test_append(&l, next, 3);
    /* Without the jump, LSN 10 followed by the stale 11 would chain. */
    test_expect_chain(&l, 9, next, 3, 0);
    assert_true(next > 15 + TEST_LOG_SIZE / STORE_LOG_HDR - 15);
    store__log_close(&l);
    test_dir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_file_replay_and_reuse),
        cmocka_unit_test(test_file_torn_tail),
        cmocka_unit_test(test_file_lsn_jump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
