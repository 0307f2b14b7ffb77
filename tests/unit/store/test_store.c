/*
 * test_store.c - unit tests of src/store/store.c: store_scan overlays the
 * groups replayed from the reservation log that LMDB could not take at
 * start-up (disk or map full) on LMDB's own keys: the last op per key wins,
 * deletes hide LMDB's key, the order is LMDB's key order, and fn can stop.
 * And the reopen of the environment after a large transaction (the store
 * option reopen_ops lowered to 3): every record stays readable, the grown
 * map keeps its size, later writes work, with and without the log, while
 * another thread calls store_info_get.
 * And the applier folding logged groups into one transaction: the last op
 * per key is what LMDB keeps (puts over puts, a delete after a put, a put
 * after a delete).
 * And the read-only view (atpctl inspect) of a store an older atpd wrote,
 * without one of today's databases: that database reads as empty, the
 * others as they are. A map larger than max_map_bytes shrinks at open.
 * And the store's threads leave the health table when it closes: more
 * open/close cycles than the table has slots leave no thread listed (none
 * to turn stuck) and a slot free. And store_stats says whether the
 * reservation log is there, its size and the bytes written to it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/health.h"
#include "store/store_int.h"

typedef struct test_dir {
    char path[64];
} test_dir;

static void test_dir_make(test_dir *d)
{
    strcpy(d->path, "/tmp/atp-test-store-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void test_dir_remove(test_dir *d)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", STORE_LOG_NAME};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", d->path, files[i]);
        unlink(p);
    }
    rmdir(d->path);
}

#define PUT(k, v)                                                              \
    {                                                                          \
        STORE_DB_RESERVATIONS, k, sizeof k - 1, v, sizeof v - 1                \
    }
#define DEL(k)                                                                 \
    {                                                                          \
        STORE_DB_RESERVATIONS, k, sizeof k - 1, NULL, 0                        \
    }

typedef struct test_scan {
    char got[16][32];
    size_t n, stop_after;
} test_scan;

static bool test_scan_fn(void *ctx, const void *key, size_t key_len,
                         const void *val, size_t val_len)
{
    test_scan *t = ctx;
    assert_true(t->n < 16);
    snprintf(t->got[t->n++], sizeof t->got[0], "%.*s=%.*s", (int)key_len,
             (const char *)key, (int)val_len, (const char *)val);
    return t->stop_after == 0 || t->n < t->stop_after;
}

static void test_scan_overlay(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_options o = {.sync = STORE_SYNC,
                       .initial_map_bytes = 1u << 20,
                       .log_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    /* LMDB holds a, bb, c, e, g (and a meta key, another db). */
    const store_op lmdb[] = {PUT("a", "1"), PUT("bb", "1"),
                             PUT("c", "1"), PUT("e", "1"),
                             PUT("g", "1"), {STORE_DB_META, "zz", 2, "m", 1}};
    store_group *g = store__group_new(lmdb, 6, NULL, NULL);
    assert_non_null(g);
    assert_int_equal(store__commit(s, &g, 1, 0), ATP_OK);
    free(g);
    /* Replayed, not in LMDB: in LSN order. */
    const store_op r1[] = {PUT("b", "2"), PUT("c", "2"), DEL("e")};
    const store_op r2[] = {PUT("h", "2"), DEL("zz"), PUT("b", "3"), DEL("q")};
    const store_op r3[] = {PUT("e", "3"), DEL("e"), PUT("0", "3")};
    s->replayed = malloc(3 * sizeof *s->replayed);
    s->replayed[0] = store__group_new(r1, 3, NULL, NULL);
    s->replayed[1] = store__group_new(r2, 4, NULL, NULL);
    s->replayed[2] = store__group_new(r3, 3, NULL, NULL);
    s->n_replayed = 3;
    test_scan t = {0};
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t),
                     ATP_OK);
    const char *want[] = {"0=3", "a=1", "b=3", "bb=1", "c=2", "g=1", "h=2"};
    assert_int_equal(t.n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(t.got[i], want[i]);
    /* fn stops the scan, in LMDB's keys or in the overlay's. */
    for (size_t stop = 1; stop <= 7; stop++) {
        t = (test_scan){.stop_after = stop};
        assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t),
                         ATP_OK);
        assert_int_equal(t.n, stop);
        assert_string_equal(t.got[stop - 1], want[stop - 1]);
    }
    /* Other databases are LMDB's alone (ops of other dbs are never logged). */
    t = (test_scan){0};
    assert_int_equal(store_scan(s, STORE_DB_META, test_scan_fn, &t), ATP_OK);
    assert_int_equal(t.n, 2); /* and the store's id, written at open */
    assert_memory_equal(t.got[0], "store_id=", 9);
    assert_string_equal(t.got[1], "zz=m");
    store_close(s); /* never started: frees the replayed groups */
    test_dir_remove(&d);
}

/* ---- reopen of the environment
 * ------------------------------------------------ */

#define TEST_N_GROUPS 300
#define TEST_OPS 5 /* per group: >= reopen_ops, so each commit reopens */
#define TEST_VAL 512

static void test_key(char *k, size_t cap, int g, int i)
{
    snprintf(k, cap, "k%04d-%d", g, i);
}

static void test_done(void *arg, atp_err err)
{
    assert_int_equal(err, ATP_OK);
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/* Submit group g: TEST_OPS puts to db (reservations: logged when the log is
 * on; positions: an LMDB group). */
static void test_submit(store *s, store_db db, int g, _Atomic int *done)
{
    static char keys[TEST_OPS][32];
    static unsigned char val[TEST_VAL];
    store_op ops[TEST_OPS];
    for (int i = 0; i < TEST_OPS; i++) {
        test_key(keys[i], sizeof keys[i], g, i);
        memset(val, 'a' + g % 26, sizeof val);
        ops[i] = (store_op){db, keys[i], strlen(keys[i]), val, sizeof val};
    }
    assert_int_equal(store_submit(s, ops, TEST_OPS, test_done, done), ATP_OK);
}

static void test_wait(_Atomic int *done, int want)
{
    for (int i = 0; i < 10000 && atomic_load(done) < want; i++)
        usleep(1000);
    assert_int_equal(atomic_load(done), want);
}

typedef struct test_check {
    int n, bad;
} test_check;

static bool test_check_fn(void *ctx, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    test_check *c = ctx;
    int g = 0;
    if (key_len < 6 || sscanf((const char *)key, "k%4d", &g) != 1 ||
        val_len != TEST_VAL ||
        ((const unsigned char *)val)[0] != 'a' + g % 26 ||
        ((const unsigned char *)val)[TEST_VAL - 1] != 'a' + g % 26)
        c->bad++;
    c->n++;
    return true;
}

typedef struct test_prober {
    store *s;
    _Atomic bool stop;
    _Atomic int calls;
} test_prober;

/* Another thread reading the store while the applier reopens it. */
static void *test_prober_main(void *arg)
{
    test_prober *p = arg;
    while (!atomic_load(&p->stop)) {
        store_info info;
        assert_int_equal(store_info_get(p->s, &info), ATP_OK);
        atomic_fetch_add(&p->calls, 1);
    }
    return NULL;
}

static void test_reopen_mode(store_sync sync, size_t log_bytes)
{
    test_dir d;
    test_dir_make(&d);
    /* A 256 KiB map: the writes below grow it, and a reopen must keep it. */
    store_options o = {.sync = sync,
                       .initial_map_bytes = 256u << 10,
                       .log_bytes = log_bytes,
                       .reopen_ops = 3};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    test_prober p = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_prober_main, &p), 0);
    /* The prober reads before the first write, so that it runs while the
     * writes reopen the store (a loaded machine may not schedule it before
     * a nosync run's writes are all done: seen once in ~10 runs). */
    for (int i = 0; i < 10000 && atomic_load(&p.calls) == 0; i++)
        usleep(1000);
    assert_true(atomic_load(&p.calls) > 0);
    _Atomic int done = 0;
    for (int g = 0; g < TEST_N_GROUPS; g++) {
        test_submit(s, g % 2 ? STORE_DB_POSITIONS : STORE_DB_RESERVATIONS, g,
                    &done);
        if (g % 50 == 0) /* some transactions alone, others grouped */
            test_wait(&done, g + 1);
    }
    test_wait(&done, TEST_N_GROUPS);
    store_stats st;
    store_stats_get(s, &st);
    assert_true(st.env_reopens > 0);
    assert_int_equal(st.failures, 0);
    assert_true(st.map_bytes > (256u << 10)); /* grown, and kept */
    store_info info;
    assert_int_equal(store_info_get(s, &info), ATP_OK);
    assert_int_equal(info.map_bytes, st.map_bytes);
    assert_int_equal(info.entries[STORE_DB_RESERVATIONS],
                     info.entries[STORE_DB_POSITIONS]);
    atomic_store(&p.stop, true);
    pthread_join(t, NULL);
    assert_true(atomic_load(&p.calls) > 0);
    /* Later writes still work: overwrite group 0's keys in both dbs. */
    uint64_t reopens = st.env_reopens;
    test_submit(s, STORE_DB_RESERVATIONS, 0, &done);
    test_submit(s, STORE_DB_POSITIONS, 0, &done);
    test_wait(&done, TEST_N_GROUPS + 2);
    store_stats_get(s, &st);
    assert_true(st.env_reopens > reopens);
    store_close(s);
    /* Every record is there, read from a fresh open. */
    o.reopen_ops = 0;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_info_get(s, &info), ATP_OK);
    assert_true(info.map_bytes > (256u << 10));
    test_check c = {0};
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_check_fn, &c),
                     ATP_OK);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.n, TEST_N_GROUPS / 2 * TEST_OPS); /* group 0 rewritten */
    c = (test_check){0};
    assert_int_equal(store_scan(s, STORE_DB_POSITIONS, test_check_fn, &c),
                     ATP_OK);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.n,
                     TEST_N_GROUPS / 2 * TEST_OPS + TEST_OPS); /* + group 0 */
    store_close(s);
    test_dir_remove(&d);
}

/* The applier owns LMDB writes (sync, with the reservation log). */
static void test_reopen_log(void **state)
{
    (void)state;
    test_reopen_mode(STORE_SYNC, 1u << 20);
}

/* The writer owns LMDB writes (nosync, no log). */
static void test_reopen_nosync(void **state)
{
    (void)state;
    test_reopen_mode(STORE_NOSYNC, 0);
}

/* Logged groups applied together (the applier held back by
 * log_apply_delay, so they reach it as one batch): the final op per key
 * lands, across groups and databases. */
static void test_apply_last_op_wins(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_options o = {
        .sync = STORE_SYNC, .log_bytes = 1u << 20, .log_apply_delay_ms = 300};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    _Atomic int done = 0;
    const store_op g1[] = {PUT("r2", "held"), PUT("r1", "held"),
                           PUT("r3", "held")};
    const store_op g2[] = {PUT("r1", "committed"), DEL("r2")};
    const store_op g3[] = {DEL("r3"), PUT("r3", "again"), PUT("r0", "new"),
                           PUT("r1", "consumed")};
    assert_int_equal(store_submit(s, g1, 3, test_done, &done), ATP_OK);
    assert_int_equal(store_submit(s, g2, 2, test_done, &done), ATP_OK);
    assert_int_equal(store_submit(s, g3, 4, test_done, &done), ATP_OK);
    test_wait(&done, 3);
    store_close(s); /* applies everything to LMDB and clears the log */
    o.log_apply_delay_ms = 0;
    o.log_bytes = 0; /* read LMDB alone */
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    test_scan t = {0};
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t),
                     ATP_OK);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.got[0], "r0=new");
    assert_string_equal(t.got[1], "r1=consumed");
    assert_string_equal(t.got[2], "r3=again");
    store_close(s);
    test_dir_remove(&d);
}

static void test_older_store_read_only(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_options o = {.sync = STORE_SYNC, .initial_map_bytes = 4u << 20};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    const store_op ops[] = {PUT("r1", "x"), {STORE_DB_LOTS, "l1", 2, "q", 1}};
    store_group *g = store__group_new(ops, 2, NULL, NULL);
    assert_non_null(g);
    assert_int_equal(store__commit(s, &g, 1, 0), ATP_OK);
    free(g);
    /* As an atpd from before lots: no lots database at all. */
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_drop(txn, s->dbi[STORE_DB_LOTS], 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    store_close(s);

    store_options ro = {.read_only = true};
    assert_int_equal(store_open(d.path, &ro, &s), ATP_OK);
    store_info info;
    assert_int_equal(store_info_get(s, &info), ATP_OK);
    assert_int_equal(info.entries[STORE_DB_RESERVATIONS], 1);
    assert_int_equal(info.entries[STORE_DB_LOTS], 0);
    test_scan t = {0};
    assert_int_equal(store_scan(s, STORE_DB_LOTS, test_scan_fn, &t), ATP_OK);
    assert_int_equal(t.n, 0);
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t),
                     ATP_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.got[0], "r1=x");
    store_close(s);

    /* A 4 MiB map opened with a 2 MiB limit shrinks to it (the data fits). */
    o = (store_options){.sync = STORE_SYNC, .max_map_bytes = 2u << 20};
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_info_get(s, &info), ATP_OK);
    assert_int_equal(info.map_bytes, 2u << 20);
    assert_int_equal(info.entries[STORE_DB_RESERVATIONS], 1);
    store_close(s);
    test_dir_remove(&d);
}

static void test_health_slots_freed(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    for (int i = 0; i < HEALTH_THREADS_MAX + 8; i++) {
        store_options o = {.sync = STORE_SYNC, .log_bytes = 1u << 20};
        store *s;
        assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
        assert_true(s->log_on); /* the applier runs too */
        assert_int_equal(store_start(s), ATP_OK);
        store_close(s);
    }
    health_thread_info t[HEALTH_THREADS_MAX];
    size_t stuck;
    size_t n = health_threads_get(clock_mono_ms() + 3600000, t,
                                  HEALTH_THREADS_MAX, &stuck);
    for (size_t i = 0; i < n; i++)
        fail_msg("thread %s still listed after store_close", t[i].name);
    assert_int_equal(stuck, 0);
    health_slot *hs = health_thread_add("t:after");
    assert_non_null(hs);
    health_thread_remove(hs);
    test_dir_remove(&d);
}

static void test_stats_log(void **state)
{
    (void)state;
    test_dir d;
    test_dir_make(&d);
    store_options o = {.sync = STORE_SYNC, .log_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    store_stats st;
    store_stats_get(s, &st);
    assert_true(st.log_present);
    assert_int_equal(st.log_size, 1u << 20);
    assert_int_equal(st.log_used, 0);
    assert_int_equal(st.log_sync.count, 0);
    _Atomic int done = 0;
    test_submit(s, STORE_DB_RESERVATIONS, 0, &done);
    test_wait(&done, 1);
    store_stats_get(s, &st);
    assert_true(st.log_used > 0);
    assert_true(st.log_used <= st.log_size);
    /* Each append's fdatasync timed, once. */
    assert_int_equal(st.log_sync.count, 1);
    assert_int_equal(st.log_sync.count, st.log_appends);
    assert_true(st.log_sync.sum_ns > 0);
    assert_true(st.commit.count >= st.commits); /* the applier's, if yet */
    store_close(s);
    /* nosync: no log (the one there is removed at open). */
    o = (store_options){.sync = STORE_NOSYNC, .log_bytes = 1u << 20};
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    store_stats_get(s, &st);
    assert_false(st.log_present);
    assert_int_equal(st.log_size, 0);
    assert_int_equal(st.log_used, 0);
    /* Without the log: no sync, and each LMDB commit timed. */
    store_stats st0 = st;
    done = 0;
    test_submit(s, STORE_DB_RESERVATIONS, 1, &done);
    test_wait(&done, 1);
    store_stats_get(s, &st);
    assert_int_equal(st.log_sync.count, 0);
    assert_int_equal(st.commits, st0.commits + 1);
    assert_int_equal(st.commit.count, st0.commit.count + 1);
    assert_true(st.commit.sum_ns > st0.commit.sum_ns);
    uint64_t buckets = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++)
        buckets += st.commit.bucket[i];
    assert_int_equal(buckets, st.commit.count);
    store_close(s);
    test_dir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_overlay),
        cmocka_unit_test(test_reopen_log),
        cmocka_unit_test(test_reopen_nosync),
        cmocka_unit_test(test_apply_last_op_wins),
        cmocka_unit_test(test_older_store_read_only),
        cmocka_unit_test(test_health_slots_freed),
        cmocka_unit_test(test_stats_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
