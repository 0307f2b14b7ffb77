/*
 * test_nomem.c - the store when an allocation fails (SQLite-style, see
 * tests/unit/support/faultalloc.h): open a fresh store (with the
 * reservation log, and without), submit reservation groups (copied) and a
 * snapshot group (owned), scan, read its info, close, open again and scan;
 * once per allocation of that run, failing exactly that one. Every group
 * is completed exactly once (an owned one released once), and what a run
 * reports durable is what the next open finds; no crash, no hang, no leak.
 * Only once per run, not "from there on": the applier retries a failed
 * allocation until it succeeds (it holds logged groups LMDB must get).
 *
 * Found: a writer thread that could not allocate its batch exited, and
 * every group queued after it waited for ever; store_start now allocates
 * it and fails instead.
 *
 * Threads: the test thread submits and waits; the store's writer and
 * applier threads allocate too.
 */
#include <sched.h>
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

#include "../support/faultalloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "store/store.h"

#define N_GROUPS 6

typedef struct nomem_done {
    atomic_int calls, released;
    atp_err err;
} nomem_done;

static void nomem_done_fn(void *arg, atp_err err)
{
    nomem_done *d = arg;
    d->err = err;
    atomic_fetch_add(&d->calls, 1);
}

static void nomem_release_fn(void *owner)
{
    nomem_done *d = owner;
    atomic_fetch_add(&d->released, 1);
}

static void nomem_wait(atomic_int *v)
{
    int64_t deadline = clock_mono_ms() + 20000;
    while (atomic_load(v) == 0) {
        assert_true(clock_mono_ms() < deadline);
        sched_yield();
    }
}

static bool nomem_count_fn(void *ctx, const void *key, size_t key_len,
                           const void *val, size_t val_len)
{
    (void)key, (void)key_len, (void)val, (void)val_len;
    (*(size_t *)ctx)++;
    return true;
}

static void nomem_clean(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb",
                                        "reservations.log"};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
}

typedef struct nomem_run {
    char dir[64];
    size_t log_bytes;
    size_t durable; /* groups whose done said ATP_OK */
    bool snap_ok;
    size_t found, found_pos; /* what the second open scanned */
    bool second_open;
} nomem_run;

static void nomem_scenario(nomem_run *r)
{
    nomem_clean(r->dir);
    r->durable = 0;
    r->snap_ok = false;
    r->found = r->found_pos = 0;
    r->second_open = false;
    store_options o = {.sync = STORE_SYNC,
                       .initial_map_bytes = 1u << 20,
                       .log_bytes = r->log_bytes};
    store *s;
    if (store_open(r->dir, &o, &s) != ATP_OK)
        return;
    if (store_start(s) != ATP_OK) {
        store_close(s);
        return;
    }
    for (int i = 0; i < N_GROUPS; i++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "r%d", i);
        snprintf(val, sizeof val, "reservation %d", i);
        store_op ops[2] = {
            {STORE_DB_RESERVATIONS, key, strlen(key), val, strlen(val)},
            {STORE_DB_RESERVATIONS, "gone", 4, NULL, 0}};
        nomem_done d = {0};
        if (store_submit(s, ops, 2, nomem_done_fn, &d) != ATP_OK)
            continue;
        nomem_wait(&d.calls);
        r->durable += d.err == ATP_OK;
    }
    static const char *const pkeys[] = {"dc-1\0A", "dc-1\0B", "dc-2\0A"};
    store_op snap[3];
    for (int i = 0; i < 3; i++)
        snap[i] = (store_op){STORE_DB_POSITIONS, pkeys[i], 6,
                             "000000000000000000000000", 24};
    nomem_done sd = {0};
    if (store_submit_owned(s, snap, 3, nomem_release_fn, &sd, nomem_done_fn,
                           &sd) == ATP_OK) {
        nomem_wait(&sd.released);
        assert_int_equal(atomic_load(&sd.calls), 1);
        r->snap_ok = sd.err == ATP_OK;
    }
    store_info info;
    store_info_get(s, &info);
    store_close(s);
    assert_int_equal(atomic_load(&sd.released), atomic_load(&sd.calls));

    if (store_open(r->dir, &o, &s) != ATP_OK)
        return;
    r->second_open = true;
    if (store_scan(s, STORE_DB_RESERVATIONS, nomem_count_fn, &r->found) !=
            ATP_OK ||
        store_scan(s, STORE_DB_POSITIONS, nomem_count_fn, &r->found_pos) !=
            ATP_OK)
        r->second_open = false;
    store_close(s);
}

static void nomem_each_allocation(size_t log_bytes)
{
    nomem_run r = {.log_bytes = log_bytes};
    strcpy(r.dir, "/tmp/atp-test-nomem-XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    nomem_scenario(&r);
    assert_int_equal(r.durable, N_GROUPS);
    assert_true(r.second_open && r.snap_ok);
    assert_int_equal(r.found, N_GROUPS);
    assert_int_equal(r.found_pos, 3);
    long at = 0;
    for (;; at++) {
        faultalloc_arm(at, false);
        nomem_scenario(&r);
        if (faultalloc_disarm() == 0)
            break;
        /* What was acknowledged is there (more may be: a group whose
         * completion failed after it was written). */
        if (r.second_open) {
            assert_true(r.found >= r.durable);
            assert_true(r.found_pos == (r.snap_ok ? 3u : r.found_pos));
        }
    }
    assert_int_equal(r.found, N_GROUPS);
    print_message("log_bytes %zu: %ld allocations, each failed once\n",
                  log_bytes, at);
    nomem_clean(r.dir);
    rmdir(r.dir);
}

static void test_nomem_with_log(void **state)
{
    (void)state;
    nomem_each_allocation(1u << 20);
}

static void test_nomem_without_log(void **state)
{
    (void)state;
    nomem_each_allocation(0);
}

int main(void)
{
    log_set_level(
        (log_level)(LOG_ERROR + 1)); /* expected out-of-memory lines */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nomem_with_log),
        cmocka_unit_test(test_nomem_without_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
