/*
 * test_store.c - unit tests of src/store/store.c: store_scan overlays the
 * groups replayed from the reservation log that LMDB could not take at
 * start-up (disk or map full) on LMDB's own keys: the last op per key wins,
 * deletes hide LMDB's key, the order is LMDB's key order, and fn can stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define PUT(k, v) {STORE_DB_RESERVATIONS, k, sizeof k - 1, v, sizeof v - 1}
#define DEL(k) {STORE_DB_RESERVATIONS, k, sizeof k - 1, NULL, 0}

typedef struct test_scan {
    char got[16][32];
    size_t n, stop_after;
} test_scan;

static bool test_scan_fn(void *ctx, const void *key, size_t key_len, const void *val,
                         size_t val_len)
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
    store_options o = {.sync = STORE_SYNC, .initial_map_bytes = 1u << 20,
                       .log_bytes = 1u << 20};
    store *s;
    assert_int_equal(store_open(d.path, &o, &s), ATP_OK);
    /* LMDB holds a, bb, c, e, g (and a meta key, another db). */
    const store_op lmdb[] = {PUT("a", "1"), PUT("bb", "1"), PUT("c", "1"),
                             PUT("e", "1"), PUT("g", "1"),
                             {STORE_DB_META, "zz", 2, "m", 1}};
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
    assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t), ATP_OK);
    const char *want[] = {"0=3", "a=1", "b=3", "bb=1", "c=2", "g=1", "h=2"};
    assert_int_equal(t.n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(t.got[i], want[i]);
    /* fn stops the scan, in LMDB's keys or in the overlay's. */
    for (size_t stop = 1; stop <= 7; stop++) {
        t = (test_scan){.stop_after = stop};
        assert_int_equal(store_scan(s, STORE_DB_RESERVATIONS, test_scan_fn, &t), ATP_OK);
        assert_int_equal(t.n, stop);
        assert_string_equal(t.got[stop - 1], want[stop - 1]);
    }
    /* Other databases are LMDB's alone (ops of other dbs are never logged). */
    t = (test_scan){0};
    assert_int_equal(store_scan(s, STORE_DB_META, test_scan_fn, &t), ATP_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.got[0], "zz=m");
    store_close(s); /* never started: frees the replayed groups */
    test_dir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_overlay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
