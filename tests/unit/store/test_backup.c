/*
 * test_backup.c - unit tests of src/store/backup.c, the online backup:
 * - the directory is refused before anything is queued, with the error code
 *   and the reason a client gets: a parent that does not exist (io, "cannot
 *   create backup directory", the system's reason), a path that is a
 *   regular file (io, "Not a directory"), a non-empty directory (conflict);
 *   nothing is created beside it;
 * - an existing empty directory is accepted: done reports ok, and the copy
 *   opened as a store holds every record committed before the backup;
 * - the copy itself failing (its directory gone when the store thread gets
 *   to it) is io, and the store keeps working.
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

#include "store/store_int.h"

static char test_root[64];

static void test_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_root, name);
}

/* rm -r of the test's tree: two levels at most (store dirs and backups). */
static void test_rm(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", STORE_LOG_NAME,
                                        "plain"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

typedef struct test_done_state {
    _Atomic int calls;
    _Atomic int err;
} test_done_state;

static void test_done(void *arg, atp_err err)
{
    test_done_state *d = arg;
    atomic_store(&d->err, (int)err);
    atomic_fetch_add(&d->calls, 1);
}

static void test_wait(test_done_state *d)
{
    for (int i = 0; i < 30000 && atomic_load(&d->calls) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&d->calls), 1);
}

static bool test_count_fn(void *ctx, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    (void)key;
    (void)val;
    assert_int_equal(key_len, 2);
    assert_int_equal(val_len, 1);
    (*(int *)ctx)++;
    return true;
}

static store *test_open(const char *dir, size_t log_bytes)
{
    store_options o = {.sync = STORE_SYNC,
                       .initial_map_bytes = 1u << 20,
                       .log_bytes = log_bytes};
    store *s;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    return s;
}

static void test_put_three(store *s)
{
    const store_op ops[] = {{STORE_DB_RESERVATIONS, "k1", 2, "a", 1},
                            {STORE_DB_RESERVATIONS, "k2", 2, "b", 1},
                            {STORE_DB_RESERVATIONS, "k3", 2, "c", 1}};
    test_done_state d = {0};
    assert_int_equal(store_submit(s, ops, 3, test_done, &d), ATP_OK);
    test_wait(&d);
    assert_int_equal(atomic_load(&d.err), ATP_OK);
}

static void test_refused_dirs(void **state)
{
    (void)state;
    char data[128], dir[128], why[512];
    test_path(data, sizeof data, "data");
    assert_int_equal(mkdir(data, 0700), 0);
    store *s = test_open(data, 1u << 20);
    assert_int_equal(store_start(s), ATP_OK);
    test_done_state d = {0};

    /* A parent that does not exist: mkdir fails, nothing is created. */
    test_path(dir, sizeof dir, "missing/backup");
    assert_int_equal(store_backup(s, dir, test_done, &d, why, sizeof why),
                     ATP_E_IO);
    assert_non_null(strstr(why, "cannot create backup directory"));
    assert_non_null(strstr(why, dir));
    assert_non_null(strstr(why, "No such file or directory"));
    struct stat st;
    test_path(dir, sizeof dir, "missing");
    assert_int_equal(stat(dir, &st), -1);

    /* A regular file where the directory should be: left as it was. */
    test_path(dir, sizeof dir, "plain");
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    fputs("keep\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(store_backup(s, dir, test_done, &d, why, sizeof why),
                     ATP_E_IO);
    assert_non_null(strstr(why, "Not a directory"));
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size == 5);
    unlink(dir);

    /* A directory with something in it: a backup never overwrites. */
    assert_int_equal(store_backup(s, data, test_done, &d, why, sizeof why),
                     ATP_E_CONFLICT);
    assert_non_null(strstr(why, "is not empty"));

    /* None of them was queued: done never ran. */
    test_put_three(s); /* a barrier: anything queued before has run */
    assert_int_equal(atomic_load(&d.calls), 0);
    store_close(s);
    test_rm(data);
}

static void test_empty_dir_copy(void **state)
{
    (void)state;
    char data[128], dir[128], why[512] = "";
    test_path(data, sizeof data, "data2");
    assert_int_equal(mkdir(data, 0700), 0);
    store *s = test_open(data, 1u << 20);
    assert_int_equal(store_start(s), ATP_OK);
    test_put_three(s);

    /* An existing empty directory (made by the operator) is accepted. */
    test_path(dir, sizeof dir, "empty");
    assert_int_equal(mkdir(dir, 0700), 0);
    test_done_state d = {0};
    assert_int_equal(store_backup(s, dir, test_done, &d, why, sizeof why),
                     ATP_OK);
    test_wait(&d);
    assert_int_equal(atomic_load(&d.err), ATP_OK);
    store_close(s);

    /* The copy is a store of its own with the three records. */
    store *copy = test_open(dir, 0);
    int n = 0;
    assert_int_equal(store_scan(copy, STORE_DB_RESERVATIONS, test_count_fn, &n),
                     ATP_OK);
    assert_int_equal(n, 3);
    store_close(copy);
    test_rm(dir);
    test_rm(data);
}

static void test_copy_fails(void **state)
{
    (void)state;
    char data[128], dir[128];
    test_path(data, sizeof data, "data3");
    assert_int_equal(mkdir(data, 0700), 0);
    store *s = test_open(data, 0);
    /* The directory was accepted, then removed before the store thread
     * copied into it: the copy fails, and says io. */
    test_path(dir, sizeof dir, "gone");
    assert_int_equal(store__backup_copy(s, dir), ATP_E_IO);
    /* The store is unharmed: writes still commit and read back. */
    assert_int_equal(store_start(s), ATP_OK);
    test_put_three(s);
    store_close(s);
    s = test_open(data, 0);
    int n = 0;
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_count_fn, &n),
                     ATP_OK);
    assert_int_equal(n, 3);
    store_close(s);
    test_rm(data);
}

int main(void)
{
    strcpy(test_root, "/tmp/atp-test-backup-XXXXXX");
    if (mkdtemp(test_root) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_dirs),
        cmocka_unit_test(test_empty_dir_copy),
        cmocka_unit_test(test_copy_fails),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(test_root);
    return rc;
}
