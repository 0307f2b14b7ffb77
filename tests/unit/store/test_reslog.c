/*
 * test_reslog.c - unit tests of src/store/reslog.c: the reservation log's
 * record format (encode/decode, CRC32C, torn and corrupt records, and a
 * record whose CRC matches but whose op table does not add up) and the
 * file (replay of the chain from offset 0, skipping what LMDB applied,
 * across the padding of appends, reuse from offset 0 with stale records
 * behind the new tail, a torn or corrupt tail, stale records of refused
 * appends of an earlier run that never continue a new run's chain, replay
 * in bounded chunks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "store/store_int.h"

#define TEST_LOG_SIZE (1u << 20)

/* ---- format ----------------------------------------------------------------
 */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    assert_int_equal(store__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(store__crc32c(0, "", 0), 0);
    /* Continuation over pieces equals one pass, across the 8-byte path. */
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t one = store__crc32c(0, s, strlen(s));
    assert_int_equal(
        store__crc32c(store__crc32c(0, s, 13), s + 13, strlen(s) - 13), one);
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
    assert_int_equal(len,
                     STORE_LOG_HDR + 3 * STORE_LOG_OP_HDR + 3 + 9 + 3 + 28);
    unsigned char *buf = calloc(1, len + 16);
    store__log_encode(buf, 0x1122334455667788u, 42, test_ops, 3);
    uint64_t epoch = 0, lsn = 0;
    size_t rec_len = 0, n = 0;
    store_op ops[3];
    /* Trailing bytes of the file do not matter. */
    assert_int_equal(
        store__log_decode(buf, len + 16, &epoch, &lsn, &rec_len, ops, 3, &n),
        STORE_LOG_OK);
    assert_int_equal(epoch, 0x1122334455667788u);
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
    uint64_t epoch, lsn;
    size_t rec_len, n;
    /* Zeros: no record. */
    assert_int_equal(
        store__log_decode(buf, len, &epoch, &lsn, &rec_len, NULL, 0, &n),
        STORE_LOG_END);
    store__log_encode(buf, 3, 7, test_ops, 3);
    /* Cut anywhere after the magic: torn. */
    for (size_t cut = 4; cut < len; cut += 5)
        assert_int_equal(
            store__log_decode(buf, cut, &epoch, &lsn, &rec_len, NULL, 0, &n),
            STORE_LOG_TORN);
    /* Any flipped bit after the CRC field: corrupt. */
    for (size_t i = 8; i < len; i++) {
        buf[i] ^= 0x10;
        store_log_status st =
            store__log_decode(buf, len, &epoch, &lsn, &rec_len, NULL, 0, &n);
        /* A flip in payload_len may make the record look longer: torn. */
        assert_true(st == STORE_LOG_CORRUPT ||
                    (i >= 24 && i < 28 && st == STORE_LOG_TORN));
        buf[i] ^= 0x10;
    }
    /* A flipped CRC: corrupt. */
    buf[5] ^= 1;
    assert_int_equal(
        store__log_decode(buf, len, &epoch, &lsn, &rec_len, NULL, 0, &n),
        STORE_LOG_CORRUPT);
    free(buf);
}

static void test_put32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* test_recrc: the record's CRC made to match its bytes again (as a writer
 * with a bug in its op table would have written it). */
static void test_recrc(unsigned char *buf, size_t len)
{
    test_put32le(buf + 4, store__crc32c(0, buf + 8, len - 8));
}

/* A CRC that matches does not make a record good: an op count, a database
 * number or a key length that does not fit the payload is corrupt, never
 * ops read past the record. */
static void test_inconsistent_records(void **state)
{
    (void)state;
    size_t len = store__log_record_size(test_ops, 3);
    unsigned char *buf = calloc(1, len);
    uint64_t epoch, lsn;
    size_t rec_len, n;
    store_op ops[8];
    struct {
        size_t at;
        uint32_t value;
        int width; /* 4: a 32-bit field, 1: a byte */
    } cases[] = {
        {28, 4, 4},                         /* one op more than there is */
        {28, 2, 4},                         /* one op fewer: bytes left over */
        {STORE_LOG_HDR, STORE_DB_COUNT, 1}, /* an unknown database */
        {STORE_LOG_HDR + 1, 0, 4},          /* an empty key */
        {STORE_LOG_HDR + 1, 1u << 20, 4},   /* a key past the end */
        {STORE_LOG_HDR + 5, 1u << 20, 4},   /* a value past the end */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        store__log_encode(buf, 3, 7, test_ops, 3);
        assert_int_equal(
            store__log_decode(buf, len, &epoch, &lsn, &rec_len, ops, 8, &n),
            STORE_LOG_OK);
        if (cases[c].width == 1)
            buf[cases[c].at] = (unsigned char)cases[c].value;
        else
            test_put32le(buf + cases[c].at, cases[c].value);
        test_recrc(buf, len);
        n = 99;
        assert_int_equal(
            store__log_decode(buf, len, &epoch, &lsn, &rec_len, ops, 8, &n),
            STORE_LOG_CORRUPT);
        assert_int_equal(n, 99); /* nothing reported */
    }
    free(buf);
}

/* ---- file ------------------------------------------------------------------
 */

typedef struct test_dir {
    char path[64];
} test_dir;

static void test_dir_make(test_dir *d)
{
    strcpy(d->path, "/tmp/atp-test-reslog-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

/* A fresh log of TEST_LOG_SIZE in a new temp dir. */
static void test_log_new(test_dir *d, store_log *l)
{
    test_dir_make(d);
    assert_int_equal(store__log_open(l, d->path, TEST_LOG_SIZE), ATP_OK);
}

static void test_dir_remove(test_dir *d)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", d->path, STORE_LOG_NAME);
    unlink(p);
    rmdir(d->path);
}

/* The size of record lsn with a value of val_len bytes (0: "value of <lsn>").
 */
static size_t test_record_size(uint64_t lsn, size_t val_len)
{
    char key[32];
    int kl = snprintf(key, sizeof key, "k%llu", (unsigned long long)lsn);
    store_op op = {STORE_DB_RESERVATIONS, key, (size_t)kl, "", val_len};
    return store__log_record_size(&op, 1);
}

/* One append (as the writer does: records, then zeros to a page boundary)
 * of records lsn .. lsn + n - 1 of epoch, each one op with key "k<lsn>" and
 * a value of val_len bytes (0: "value of <lsn>"). */
static void test_append_sized(store_log *l, uint64_t epoch, uint64_t lsn,
                              size_t n, size_t val_len)
{
    size_t cap = n * (test_record_size(lsn + n, val_len ? val_len : 40));
    unsigned char *buf = calloc(1, store__log_padded(cap));
    char *big = val_len ? malloc(val_len) : NULL;
    if (big != NULL)
        memset(big, 'v', val_len);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        char key[32], val[64];
        int kl =
            snprintf(key, sizeof key, "k%llu", (unsigned long long)(lsn + i));
        int vl = snprintf(val, sizeof val, "value of %llu",
                          (unsigned long long)(lsn + i));
        store_op op = {STORE_DB_RESERVATIONS, key, (size_t)kl, big ? big : val,
                       big ? val_len : (size_t)vl};
        store__log_encode(buf + off, epoch, lsn + i, &op, 1);
        off += store__log_record_size(&op, 1);
    }
    assert_true(off <= cap);
    size_t len = store__log_padded(off);
    assert_true(l->wpos + len <= l->size);
    size_t at = l->wpos;
    assert_int_equal(store__log_append(l, buf, len), ATP_OK);
    assert_int_equal(l->wpos, at + len);
    assert_int_equal(l->wpos % STORE_LOG_ALIGN, 0);
    free(big);
    free(buf);
}

static void test_append(store_log *l, uint64_t epoch, uint64_t lsn, size_t n)
{
    test_append_sized(l, epoch, lsn, n, 0);
}

typedef struct test_seen {
    uint64_t lsn[4096];
    size_t n;
} test_seen;

static atp_err test_collect(void *ctx, uint64_t lsn, const store_op *ops,
                            size_t n)
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
    assert_int_equal(
        store__log_replay(l, applied, test_collect, s, &last, &got_bad),
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
    store_log l;
    test_log_new(&d, &l);
    assert_int_equal(l.size, TEST_LOG_SIZE);
    test_expect_chain(&l, 0, 0, 0, 0); /* all zeros */
    test_append(&l, 5, 1, 100);
    test_expect_chain(&l, 0, 1, 100, 0);
    test_expect_chain(&l, 60, 61, 40, 0); /* LMDB applied up to 60 */
    test_expect_chain(&l, 100, 0, 0, 0);
    /* Reuse from offset 0: 10 new records, 90 stale ones behind them. */
    store__log_rewind(&l);
    assert_int_equal(l.wpos, 0);
    assert_true(l.epoch != 5);
    test_append(&l, l.epoch, 101, 10);
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
    store_log l;
    test_log_new(&d, &l);
    test_append(&l, 9, 1, 19);
    size_t end19 = l.wpos; /* where record 20 starts: the next page */
    test_append(&l, 9, 20, 1);
    /* Flip a byte inside record 20's payload: 1..19 are applied, not 20. */
    unsigned char b;
    assert_int_equal(pread(l.fd, &b, 1, (off_t)end19 + 38), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(l.fd, &b, 1, (off_t)end19 + 38), 1);
    test_expect_chain(&l, 0, 1, 19, 1);
    /* Torn instead: the record's second half is zeros again. */
    b ^= 0xff;
    assert_int_equal(pwrite(l.fd, &b, 1, (off_t)end19 + 38), 1);
    test_expect_chain(&l, 0, 1, 20, 0);
    static const unsigned char zero[16];
    assert_int_equal(pwrite(l.fd, zero, sizeof zero, (off_t)end19 + 32), 16);
    test_expect_chain(&l, 0, 1, 19, 1);
    store__log_close(&l);
    test_dir_remove(&d);
}

/* Appends of various sizes, each padded to a page: the chain goes on across
 * the padding, also where a record ends exactly on a page boundary. */
static void test_file_padding(void **state)
{
    (void)state;
    test_dir d;
    store_log l;
    test_log_new(&d, &l);
    store__log_rewind(&l);
    test_append(&l, l.epoch, 1, 3);
    test_append(&l, l.epoch, 4, 1);
    /* Record 5 fills its page exactly: no padding after it. */
    size_t exact = STORE_LOG_ALIGN - (test_record_size(5, 1) - 1);
    assert_int_equal(test_record_size(5, exact), STORE_LOG_ALIGN);
    test_append_sized(&l, l.epoch, 5, 1, exact);
    size_t at6 = l.wpos;
    test_append(&l, l.epoch, 6, 150); /* two pages and a bit */
    test_append(&l, l.epoch, 156, 2);
    test_expect_chain(&l, 0, 1, 157, 0);
    test_expect_chain(&l, 4, 5, 153, 0);
    /* An append of another epoch where record 6's starts: the chain ends. */
    l.wpos = at6;
    test_append(&l, l.epoch + 1, 6, 1);
    test_expect_chain(&l, 0, 1, 5, 0);
    store__log_close(&l);
    test_dir_remove(&d);
}

/* B1: run 2 writes [G1, G2] at offset 0, fdatasync fails (both refused;
 * the bytes stay), a clean stop clears the magic at 0; run 3 starts with
 * the same LMDB state, so the same next LSN, writes G3 (as long as G1) at
 * offset 0 and is killed. Run 4 must replay G3 only: G2, refused, has LSN
 * G3 + 1 and sits right after it, but belongs to run 2's epoch. The same
 * with a power loss that tore G1 but kept G2. */
static void test_file_refused_then_new_run(void **state)
{
    (void)state;
    for (int torn = 0; torn < 2; torn++) {
        test_dir d;
        test_dir_make(&d);
        store_log l;
        uint64_t applied = 100, last;
        int bad;
        test_seen *seen = calloc(1, sizeof *seen);
        /* Record 101 fills a page: G2 starts on the next one. */
        size_t g1 = STORE_LOG_ALIGN - (test_record_size(101, 1) - 1);
        /* run 2 */
        assert_int_equal(store__log_open(&l, d.path, TEST_LOG_SIZE), ATP_OK);
        assert_int_equal(
            store__log_replay(&l, applied, test_collect, seen, &last, &bad),
            ATP_OK);
        store__log_rewind(&l);
        l.next_lsn = last + 1;
        uint64_t run2 = l.next_lsn;
        test_append_sized(&l, l.epoch, run2, 2, g1); /* "refused" */
        if (torn) { /* power loss: G1 torn, G2 intact, no clean stop */
            static const unsigned char zero[64];
            assert_int_equal(pwrite(l.fd, zero, sizeof zero, 1000),
                             (ssize_t)sizeof zero);
        } else {
            assert_int_equal(store__log_clear(&l), ATP_OK);
        }
        store__log_close(&l);
        /* run 3 */
        assert_int_equal(store__log_open(&l, d.path, TEST_LOG_SIZE), ATP_OK);
        assert_int_equal(
            store__log_replay(&l, applied, test_collect, seen, &last, &bad),
            ATP_OK);
        assert_int_equal(seen->n, 0);
        assert_int_equal(bad, torn);
        store__log_rewind(&l);
        l.next_lsn = last + 1;
        assert_int_equal(l.next_lsn, run2); /* the same LSNs as run 2 */
        test_append_sized(&l, l.epoch, l.next_lsn, 1,
                          g1); /* G3: acknowledged */
        store__log_close(&l);  /* kill -9 */
        /* run 4 */
        assert_int_equal(store__log_open(&l, d.path, 0), ATP_OK);
        test_expect_chain(&l, applied, run2, 1, 0);
        store__log_close(&l);
        free(seen);
        test_dir_remove(&d);
    }
}

/* Replay reads in bounded chunks: records straddling chunk boundaries, and
 * a record larger than a chunk. */
static void test_file_chunks(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_log l;
    assert_int_equal(store__log_open(&l, d.path, 4u << 20), ATP_OK);
    store__log_rewind(&l);
    uint64_t lsn = 1;
    for (int i = 0; i < 100; i++, lsn += 30)
        test_append_sized(&l, l.epoch, lsn, 30, 300); /* 3 pages each */
    test_append_sized(&l, l.epoch, lsn, 1, (3u << 20) / 2);
    test_append(&l, l.epoch, lsn + 1, 2);
    assert_true(l.wpos > (3u << 20) / 2 + (1u << 20));
    test_expect_chain(&l, 0, 1, 3003, 0);
    test_expect_chain(&l, 2990, 2991, 13, 0);
    store__log_close(&l);
    test_dir_remove(&d);
}

/* R2: a failed append (here: the file size limit lets the first page of a
 * two-page append through, then EFBIG) voids the records that reached the
 * file: replay does not see them; the acknowledged chain before is intact. */
static void test_file_refused_append_voided(void **state)
{
    (void)state;
    test_dir d;
    store_log l;
    test_log_new(&d, &l);
    store__log_rewind(&l);
    test_append(&l, l.epoch, 1, 3); /* acknowledged, page 0 */
    size_t at = l.wpos;
    /* 40 records over two pages: the second page is past the limit. */
    store_op op = {STORE_DB_RESERVATIONS, "k4", 2, NULL, 180};
    char val[180];
    memset(val, 'x', sizeof val);
    op.val = val;
    size_t one = store__log_record_size(&op, 1);
    unsigned char *buf = calloc(1, 2 * STORE_LOG_ALIGN);
    for (size_t i = 0; i < 2 * STORE_LOG_ALIGN / one; i++)
        store__log_encode(buf + i * one, l.epoch, 4 + i, &op, 1);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = at + STORE_LOG_ALIGN;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    atp_err err = store__log_append(&l, buf, 2 * STORE_LOG_ALIGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    assert_int_equal(err, ATP_E_IO);
    assert_int_equal(l.wpos, at);
    /* The first page did reach the file, magic voided. */
    unsigned char b[4];
    assert_int_equal(pread(l.fd, b, 4, (off_t)at + (off_t)one), 4);
    assert_memory_equal(b, "\0\0\0\0", 4);
    assert_int_equal(pread(l.fd, b, 4, (off_t)at + (off_t)one + 4), 4);
    assert_memory_not_equal(b, "\0\0\0\0", 4);
    test_expect_chain(&l, 0, 1, 3, 0);
    free(buf);
    store__log_close(&l);
    test_dir_remove(&d);
}

/* A log of the earlier format (magic "ATPL") may hold unapplied records it
 * cannot read: replay refuses (atpd does not start) instead of dropping them.
 */
static void test_file_old_format(void **state)
{
    (void)state;
    test_dir d;
    store_log l;
    test_log_new(&d, &l);
    static const unsigned char v1[4] = {0x41, 0x54, 0x50, 0x4c};
    assert_int_equal(pwrite(l.fd, v1, 4, 0), 4);
    test_seen *seen = calloc(1, sizeof *seen);
    uint64_t last;
    int bad;
    assert_int_equal(store__log_replay(&l, 0, test_collect, seen, &last, &bad),
                     ATP_E_IO);
    assert_int_equal(seen->n, 0);
    /* Cleared (as a clean stop of the earlier atpd leaves it): fine. */
    assert_int_equal(store__log_clear(&l), ATP_OK);
    assert_int_equal(store__log_replay(&l, 0, test_collect, seen, &last, &bad),
                     ATP_OK);
    free(seen);
    store__log_close(&l);
    test_dir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_inconsistent_records),
        cmocka_unit_test(test_file_replay_and_reuse),
        cmocka_unit_test(test_file_torn_tail),
        cmocka_unit_test(test_file_padding),
        cmocka_unit_test(test_file_refused_then_new_run),
        cmocka_unit_test(test_file_chunks),
        cmocka_unit_test(test_file_refused_append_voided),
        cmocka_unit_test(test_file_old_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
