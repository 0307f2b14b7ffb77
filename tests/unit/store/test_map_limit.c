/*
 * test_map_limit.c - unit tests of reservations.max_map_bytes in
 * src/store/store.c (issue 12 item 3: a limit below the 64 MiB initial
 * map had no effect): the map opens at the limit when the limit is lower,
 * writes beyond it fail with ATP_E_STORE_FULL (stats.full), and an
 * environment created larger shrinks to a lowered limit at the next open.
 * Labels: unit, correctness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

#define MiB (1u << 20)

static void test_dir_remove(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", STORE_LOG_NAME};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Commit 4 KiB values until the store refuses; returns how many fit. */
static int test_fill(store *s, atp_err *last)
{
    static unsigned char val[4096];
    for (int i = 0; i < 100000; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%06d", i);
        store_op op = {STORE_DB_RESERVATIONS, key, strlen(key), val,
                       sizeof val};
        store_group *g = store__group_new(&op, 1, NULL, NULL);
        assert_non_null(g);
        *last = store__commit(s, &g, 1, 0);
        store__group_free(g);
        if (*last != ATP_OK)
            return i;
    }
    return -1;
}

static void test_limit_below_initial(void **state)
{
    (void)state;
    char dir[] = "/tmp/atp-test-maplimit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* As atpd opens it: the default 64 MiB initial map, a 1 MiB limit. */
    store_options o = {.sync = STORE_NOSYNC,
                       .initial_map_bytes = 64 * MiB,
                       .max_map_bytes = 1 * MiB};
    store *s;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.map_bytes, 1 * MiB);
    atp_err err;
    int n = test_fill(s, &err);
    assert_int_equal(err, ATP_E_STORE_FULL);
    assert_true(n > 10 && n < 256); /* 1 MiB of 4 KiB values, less overhead */
    store_stats_get(s, &st);
    assert_true(st.full);
    assert_int_equal(st.map_bytes, 1 * MiB);
    store_close(s);
    test_dir_remove(dir);
}

static void test_existing_map_shrinks(void **state)
{
    (void)state;
    char dir[] = "/tmp/atp-test-maplimit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    store_options o = {.sync = STORE_NOSYNC, .initial_map_bytes = 64 * MiB};
    store *s;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    store_op op = {STORE_DB_RESERVATIONS, "k", 1, "v", 1};
    store_group *g = store__group_new(&op, 1, NULL, NULL);
    assert_int_equal(store__commit(s, &g, 1, 0), ATP_OK);
    store__group_free(g);
    store_close(s);
    /* The limit lowered to 2 MiB: the 64 MiB map shrinks to it. */
    o.max_map_bytes = 2 * MiB;
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.map_bytes, 2 * MiB);
    atp_err err;
    assert_true(test_fill(s, &err) > 0);
    assert_int_equal(err, ATP_E_STORE_FULL);
    store_close(s);
    test_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_below_initial),
        cmocka_unit_test(test_existing_map_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
