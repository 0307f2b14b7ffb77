/*
 * test_faults.c - the store's error paths, through its test-only fault
 * points (src/store/fault.h; this test links atp_store_faults):
 * - store_start fails when the writer's allocation fails, instead of
 *   reporting success with no writer (groups would wait forever);
 * - fdatasync of the reservation log failing with EIO: the group is
 *   refused with ATP_E_IO, nothing of it reaches LMDB, and the next group
 *   (fault removed) is stored;
 * - an LMDB commit failing with ENOSPC: ATP_E_STORE_FULL and stats.full;
 *   with EIO on a disk that has room: ATP_E_IO, stats.full stays false;
 *   with EINVAL (LMDB refusing the call: a bug): ATP_E_INTERNAL;
 * - the log full while LMDB is behind: the group waits log_wait_ms for the
 *   applier, then is refused with ATP_E_BUSY (retry later).
 * Labels: unit, correctness (issue 12 item 9), suite (issue 21: busy, io,
 * internal).
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
#include "store/store_int.h"

typedef struct test_env {
    char dir[64];
    char faults[96];
} test_env;

static void test_faults_set(const test_env *t, const char *lines)
{
    FILE *f = fopen(t->faults, "w");
    assert_non_null(f);
    fputs(lines, f);
    fclose(f);
}

static int test_setup(void **state)
{
    test_env *t = calloc(1, sizeof *t);
    strcpy(t->dir, "/tmp/atp-test-faults-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->faults, sizeof t->faults, "%s.faults", t->dir);
    test_faults_set(t, "");
    setenv("ATP_STORE_FAULTS", t->faults, 1);
    *state = t;
    return 0;
}

static int test_teardown(void **state)
{
    test_env *t = *state;
    static const char *const files[] = {"data.mdb", "lock.mdb", STORE_LOG_NAME};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", t->dir, files[i]);
        unlink(p);
    }
    rmdir(t->dir);
    unlink(t->faults);
    unsetenv("ATP_STORE_FAULTS");
    free(t);
    return 0;
}

/* A completion the test waits for, with a deadline. */
typedef struct test_done {
    _Atomic int calls;
    _Atomic int err;
} test_done;

static void test_done_cb(void *arg, atp_err err)
{
    test_done *d = arg;
    atomic_store(&d->err, err);
    atomic_fetch_add(&d->calls, 1);
}

static bool test_wait(test_done *d, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    while (atomic_load(&d->calls) == 0 && clock_mono_ms() < end)
        usleep(1000);
    return atomic_load(&d->calls) == 1;
}

static atp_err test_put(store *s, store_db db, const char *key)
{
    test_done d = {0};
    store_op op = {db, key, strlen(key), "v", 1};
    assert_int_equal(store_submit(s, &op, 1, test_done_cb, &d), ATP_OK);
    assert_true(test_wait(&d, 20000));
    return (atp_err)atomic_load(&d.err);
}

static bool test_count_fn(void *ctx, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    (void)key, (void)key_len, (void)val, (void)val_len;
    (*(int *)ctx)++;
    return true;
}

static int test_count(const char *dir, store_db db)
{
    store_options o = {.sync = STORE_SYNC, .read_only = true};
    store *s;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    int n = 0;
    assert_int_equal(store_scan(s, db, test_count_fn, &n), ATP_OK);
    store_close(s);
    return n;
}

/* Issue 12 item 9: a writer that cannot allocate must fail store_start,
 * not leave the store accepting groups that nobody writes. */
static void test_writer_alloc(void **state)
{
    test_env *t = *state;
    test_faults_set(t, "alloc ENOMEM\n");
    store_options o = {.sync = STORE_SYNC, .initial_map_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    atp_err err = store_start(s);
    if (err == ATP_OK) { /* then it must work: a group completes */
        test_done d = {0};
        store_op op = {STORE_DB_RESERVATIONS, "k", 1, "v", 1};
        assert_int_equal(store_submit(s, &op, 1, test_done_cb, &d), ATP_OK);
        bool done = test_wait(&d, 3000);
        test_faults_set(t, "");
        if (!done)
            fail_msg(
                "store_start reported success, but a group never completed");
    }
    assert_int_equal(err, ATP_E_NOMEM);
    test_faults_set(t, "");
    store_close(s);
    /* Without the fault the same store starts and writes. */
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "k"), ATP_OK);
    store_close(s);
}

/* Issue 21: fdatasync EIO on the reservation log is `io`, and the refused
 * group never reaches LMDB, not even after a restart's replay. */
static void test_log_sync_eio(void **state)
{
    test_env *t = *state;
    store_options o = {.sync = STORE_SYNC,
                       .initial_map_bytes = 1u << 20,
                       .log_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "before"), ATP_OK);
    test_faults_set(t, "log_sync EIO\n");
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "refused"), ATP_E_IO);
    store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.failures, 1);
    assert_false(st.full);
    test_faults_set(t, "");
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "after"), ATP_OK);
    store_close(s);
    /* Reopen (replays the log): before and after, never the refused one. */
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    store_close(s);
    assert_int_equal(test_count(t->dir, STORE_DB_RESERVATIONS), 2);
}

/* A failing LMDB commit: ENOSPC is store_full, EIO with room on the disk
 * is io. Without the log, so reservation groups commit to LMDB directly. */
static void test_commit_errors(void **state)
{
    test_env *t = *state;
    store_options o = {.sync = STORE_SYNC, .initial_map_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    test_faults_set(t, "commit ENOSPC\n");
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "a"), ATP_E_STORE_FULL);
    store_stats st;
    store_stats_get(s, &st);
    assert_true(st.full);
    test_faults_set(t, "commit EIO\n");
    assert_int_equal(test_put(s, STORE_DB_POSITIONS, "b"), ATP_E_IO);
    store_stats_get(s, &st);
    assert_false(st.full);
    test_faults_set(t, "commit EINVAL\n"); /* LMDB refusing a call: a bug */
    assert_int_equal(test_put(s, STORE_DB_POSITIONS, "b"), ATP_E_INTERNAL);
    test_faults_set(t, "");
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "c"), ATP_OK);
    store_close(s);
    assert_int_equal(test_count(t->dir, STORE_DB_RESERVATIONS), 1);
    assert_int_equal(test_count(t->dir, STORE_DB_POSITIONS), 0);
}

/* Issue 21: the log full while LMDB is behind (not failing): after waiting
 * log_wait_ms for the applier, the group is refused with busy. */
static void test_log_full_busy(void **state)
{
    test_env *t = *state;
    /* Two appends fill the log; the applier sleeps 1.5 s before each batch. */
    store_options o = {.sync = STORE_SYNC,
                       .initial_map_bytes = 1u << 20,
                       .log_bytes = 2 * STORE_LOG_ALIGN,
                       .log_apply_delay_ms = 1500,
                       .log_wait_ms = 100};
    store *s;
    assert_int_equal(store_open(t->dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "a"), ATP_OK);
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "b"), ATP_OK);
    int64_t t0 = clock_mono_ms();
    assert_int_equal(test_put(s, STORE_DB_RESERVATIONS, "c"), ATP_E_BUSY);
    assert_true(clock_mono_ms() - t0 >= 100); /* it did wait for the applier */
    store_stats st;
    store_stats_get(s, &st);
    assert_true(st.log_waits >= 1);
    store_close(s); /* applies a and b */
    assert_int_equal(test_count(t->dir, STORE_DB_RESERVATIONS), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writer_alloc, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_log_sync_eio, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_commit_errors, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_log_full_busy, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
