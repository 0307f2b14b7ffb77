/*
 * test_applied.c - src/store/applied.c, the "applied" file: a seq stored
 * by a process that is then killed with SIGKILL (no msync, no close) is
 * there when the file is opened again; slots follow source ids, not their
 * order (sources reordered, added, removed); a long id gets a slot of its
 * own; a file of another store id, a truncated or garbage file starts
 * again at 0; the store's id is stable across opens of one environment and
 * differs between two. It is refused (atpd then runs without it) for
 * more than 256 sources, a store without an id, a directory that does not
 * exist, and while another open holds its lock; when every slot is taken
 * by sources no longer configured, a new source reuses one, at 0.
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
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

static char test_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/atp-applied-XXXXXX");
    return mkdtemp(test_dir) != NULL ? 0 : -1;
}

static void test_rm(const char *dir)
{
    static const char *const files[] = {"applied", "data.mdb", "lock.mdb",
                                        "reservations.log"};
    char p[128];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
}

static int teardown(void **state)
{
    (void)state;
    test_rm(test_dir);
    rmdir(test_dir);
    return 0;
}

static store_applied *test_open(uint64_t id, const char *const *ids, size_t n)
{
    store_applied *a = NULL;
    assert_int_equal(store_applied_open(test_dir, id, ids, n, &a), ATP_OK);
    assert_non_null(a);
    return a;
}

static uint64_t test_get(store_applied *a, size_t i)
{
    return __atomic_load_n(store_applied_slot(a, i), __ATOMIC_RELAXED);
}

static void test_set(store_applied *a, size_t i, uint64_t v)
{
    __atomic_store_n(store_applied_slot(a, i), v, __ATOMIC_RELAXED);
}

static void test_survives_sigkill(void **state)
{
    (void)state;
    const char *ids[] = {"erp", "wms"};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_applied *a = NULL;
        if (store_applied_open(test_dir, 42, ids, 2, &a) != ATP_OK)
            _exit(3);
        __atomic_store_n(store_applied_slot(a, 0), 7, __ATOMIC_RELAXED);
        __atomic_store_n(store_applied_slot(a, 1), 123456789012345ull,
                         __ATOMIC_RELAXED);
        raise(SIGKILL);
        _exit(4);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    store_applied *a = test_open(42, ids, 2);
    assert_int_equal(test_get(a, 0), 7);
    assert_int_equal(test_get(a, 1), 123456789012345ull);
    assert_null(store_applied_slot(a, 2));
    store_applied_close(a);
}

static void test_slots_follow_ids(void **state)
{
    (void)state;
    const char *first[] = {"erp", "wms", "shop"};
    store_applied *a = test_open(9, first, 3);
    test_set(a, 0, 10);
    test_set(a, 1, 20);
    test_set(a, 2, 30);
    store_applied_close(a);
    /* shop removed, order changed, 3pl added */
    const char *second[] = {"wms", "3pl", "erp"};
    a = test_open(9, second, 3);
    assert_int_equal(test_get(a, 0), 20);
    assert_int_equal(test_get(a, 1), 0);
    assert_int_equal(test_get(a, 2), 10);
    test_set(a, 1, 5);
    store_applied_close(a);
    /* shop back: its slot was kept */
    const char *third[] = {"shop", "3pl"};
    a = test_open(9, third, 2);
    assert_int_equal(test_get(a, 0), 30);
    assert_int_equal(test_get(a, 1), 5);
    store_applied_close(a);
}

static void test_long_ids(void **state)
{
    (void)state;
    const char *ids[] = {"warehouse-management-system-east",
                         "warehouse-management-system-west",
                         "warehouse-management-sys"};
    store_applied *a = test_open(1, ids, 3);
    test_set(a, 0, 1);
    test_set(a, 1, 2);
    test_set(a, 2, 3);
    store_applied_close(a);
    const char *again[] = {"warehouse-management-system-west",
                           "warehouse-management-sys",
                           "warehouse-management-system-east"};
    a = test_open(1, again, 3);
    assert_int_equal(test_get(a, 0), 2);
    assert_int_equal(test_get(a, 1), 3);
    assert_int_equal(test_get(a, 2), 1);
    store_applied_close(a);
}

static void test_write_file(const void *bytes, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/applied", test_dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, n), (ssize_t)n);
    close(fd);
}

static void test_foreign_or_broken_starts_again(void **state)
{
    (void)state;
    const char *ids[] = {"wms"};
    store_applied *a = test_open(77, ids, 1);
    test_set(a, 0, 99);
    store_applied_close(a);
    a = test_open(78, ids, 1); /* another store's file */
    assert_int_equal(test_get(a, 0), 0);
    test_set(a, 0, 5);
    store_applied_close(a);
    a = test_open(77, ids, 1); /* the first store's is gone for good */
    assert_int_equal(test_get(a, 0), 0);
    store_applied_close(a);
    test_write_file("ATPA", 4); /* truncated */
    a = test_open(77, ids, 1);
    assert_int_equal(test_get(a, 0), 0);
    test_set(a, 0, 6);
    store_applied_close(a);
    a = test_open(77, ids, 1);
    assert_int_equal(test_get(a, 0), 6);
    store_applied_close(a);
    static unsigned char junk[16448];
    memset(junk, 0x5a, sizeof junk); /* right size, garbage */
    test_write_file(junk, sizeof junk);
    a = test_open(77, ids, 1);
    assert_int_equal(test_get(a, 0), 0);
    store_applied_close(a);
}

static void test_store_id_stable(void **state)
{
    (void)state;
    char other[80];
    snprintf(other, sizeof other, "%s/s2", test_dir);
    store_options o = {0};
    store *s;
    assert_int_equal(store_open(test_dir, &o, &s), ATP_OK);
    uint64_t id1 = store_id(s);
    store_close(s);
    assert_int_equal(store_open(test_dir, &o, &s), ATP_OK);
    assert_int_equal(store_id(s), id1);
    store_close(s);
    assert_int_equal(store_open(other, &o, &s), ATP_OK);
    uint64_t id2 = store_id(s);
    store_close(s);
    assert_true(id1 != 0 && id2 != 0 && id1 != id2);
    test_rm(other);
    rmdir(other);
}

static void test_refusals(void **state)
{
    (void)state;
    static const char *const ids[] = {"wms"};
    store_applied *a = NULL;
    const char *many[257];
    for (size_t i = 0; i < 257; i++)
        many[i] = "x";
    assert_int_equal(store_applied_open(test_dir, 7, many, 257, &a),
                     ATP_E_CONFIG);
    assert_int_equal(store_applied_open(test_dir, 0, ids, 1, &a), ATP_E_IO);
    char absent[96];
    snprintf(absent, sizeof absent, "%s/absent", test_dir);
    assert_int_equal(store_applied_open(absent, 7, ids, 1, &a), ATP_E_IO);
    store_applied *held = test_open(7, ids, 1);
    test_set(held, 0, 99);
    assert_int_equal(store_applied_open(test_dir, 7, ids, 1, &a), ATP_E_IO);
    assert_int_equal(test_get(held, 0),
                     99); /* the refused open changed nothing */
    store_applied_close(held);
}

static void test_full_file_reuses_a_slot(void **state)
{
    (void)state;
    /* 512 slots: fill them with sources of two configurations. */
    static char names[512][8];
    const char *ids[256];
    for (size_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < 256; i++) {
            snprintf(names[round * 256 + i], sizeof names[0], "s%zu",
                     round * 256 + i);
            ids[i] = names[round * 256 + i];
        }
        store_applied *a = test_open(7, ids, 256);
        for (size_t i = 0; i < 256; i++)
            test_set(a, i, 1000 + round * 256 + i);
        store_applied_close(a);
    }
    static const char *const fresh[] = {"new", "s3"};
    store_applied *a = test_open(7, fresh, 2);
    assert_int_equal(test_get(a, 0), 0);    /* a reused slot starts at 0 */
    assert_int_equal(test_get(a, 1), 1003); /* a kept source keeps its seq */
    assert_true(store_applied_slot(a, 0) != store_applied_slot(a, 1));
    store_applied_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_follow_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_or_broken_starts_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_id_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_file_reuses_a_slot, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
