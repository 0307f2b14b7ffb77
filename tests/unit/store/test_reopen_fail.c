/*
 * test_reopen_fail.c - the LMDB environment cannot be opened again after a
 * large transaction (src/store/store.c, store_env_reopen): here its data
 * directory is renamed away while the store runs, as when its volume goes.
 * The commit that triggered the reopen is stored (it was committed before);
 * then, until the directory is back, store_info_get and a backup answer
 * ATP_E_IO, a group is refused with ATP_E_IO, each counted in
 * stats.failures, and nothing of it is written (nor a backup); once the
 * directory is back, the next group reopens the environment and is stored,
 * and the refused group is not in LMDB.
 * Labels: unit, suite (issue 21: the io error).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/store.h"

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

static atp_err test_wait(test_done *d)
{
    int64_t end = clock_mono_ms() + 20000;
    while (atomic_load(&d->calls) == 0 && clock_mono_ms() < end)
        usleep(1000);
    assert_int_equal(atomic_load(&d->calls), 1);
    return (atp_err)atomic_load(&d->err);
}

/* test_put2 stores keys "<p>1" and "<p>2" as one group (two ops: enough
 * for a reopen with reopen_ops 2). */
static atp_err test_put2(store *s, const char *p)
{
    char k1[16], k2[16];
    snprintf(k1, sizeof k1, "%s1", p);
    snprintf(k2, sizeof k2, "%s2", p);
    store_op ops[2] = {{STORE_DB_RESERVATIONS, k1, strlen(k1), "v", 1},
                       {STORE_DB_RESERVATIONS, k2, strlen(k2), "v", 1}};
    test_done d = {0};
    assert_int_equal(store_submit(s, ops, 2, test_done_cb, &d), ATP_OK);
    return test_wait(&d);
}

static bool test_key(void *ctx, const void *key, size_t key_len,
                     const void *val, size_t val_len)
{
    (void)val, (void)val_len;
    char *keys = ctx;
    strncat(keys, key, key_len);
    strcat(keys, " ");
    return true;
}

static void test_reopen_fails(void **state)
{
    (void)state;
    char base[64] = "/tmp/atp-test-reopen-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[96], away[96], backup[96];
    snprintf(dir, sizeof dir, "%s/data", base);
    snprintf(away, sizeof away, "%s/away", base);
    snprintf(backup, sizeof backup, "%s/backup", base);
    assert_int_equal(mkdir(dir, 0750), 0);

    store_options o = {
        .sync = STORE_SYNC, .initial_map_bytes = 1u << 20, .reopen_ops = 2};
    store *s;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    assert_int_equal(test_put2(s, "a"), ATP_OK);
    store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.env_reopens, 1);

    assert_int_equal(rename(dir, away), 0);
    assert_int_equal(test_put2(s, "b"), ATP_OK); /* committed, no reopen */
    store_stats_get(s, &st);
    assert_int_equal(st.env_reopens, 1);
    assert_int_equal(st.failures, 0);
    store_info info;
    assert_int_equal(store_info_get(s, &info), ATP_E_IO);
    test_done d = {0};
    char why[128];
    assert_int_equal(store_backup(s, backup, test_done_cb, &d, why, sizeof why),
                     ATP_OK);
    assert_int_equal(test_wait(&d), ATP_E_IO);
    store_stats_get(s, &st);
    assert_int_equal(st.failures, 1); /* its commit of what came before */
    assert_int_equal(test_put2(s, "c"), ATP_E_IO);
    store_stats_get(s, &st);
    assert_int_equal(st.failures, 2);

    assert_int_equal(rename(away, dir), 0);
    assert_int_equal(test_put2(s, "d"), ATP_OK);
    store_stats_get(s, &st);
    assert_true(st.env_reopens >= 2);
    assert_int_equal(st.failures, 2);
    assert_int_equal(store_info_get(s, &info), ATP_OK);
    assert_int_equal(info.entries[STORE_DB_RESERVATIONS], 6);
    store_close(s);

    o = (store_options){.sync = STORE_SYNC, .read_only = true};
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    char keys[64] = "";
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_key, keys),
                     ATP_OK);
    store_close(s);
    assert_string_equal(keys, "a1 a2 b1 b2 d1 d2 ");

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
