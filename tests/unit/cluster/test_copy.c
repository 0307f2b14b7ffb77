/*
 * test_copy.c - the warm copy of a standby (src/cluster/copy.c, the
 * latest record of each reservation id, as the partition's stream keeps
 * them): 20,000 random puts (new ids and replacements, values of varied
 * sizes) and deletes against a plain array model; after each 500 steps
 * the copy's records (cluster__copy_ops, what a takeover loads) must be
 * exactly the model's, each id once with its latest value. The ids
 * changed since the local store took the copy (the dirty list, local.c)
 * bring a store model equal to the copy, round after round and after a
 * reset. And a group message's payload, written and read (group.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"

#define TEST_IDS 3000

typedef struct test_model {
    bool present[TEST_IDS];
    char val[TEST_IDS][40];
    size_t val_len[TEST_IDS];
} test_model;

static void test_check(const cluster_copy *cp, const test_model *m)
{
    size_t n = 0, want = 0;
    engine_record_op *ops = cluster__copy_ops(cp, &n);
    assert_non_null(ops);
    bool seen[TEST_IDS] = {false};
    for (size_t i = 0; i < TEST_IDS; i++)
        want += m->present[i];
    assert_int_equal(n, want);
    assert_int_equal(cp->n, want);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        assert_true(ops[i].key_len < sizeof key);
        memcpy(key, ops[i].key, ops[i].key_len);
        key[ops[i].key_len] = '\0';
        int id = atoi(key + 3);
        assert_true(id >= 0 && id < TEST_IDS && m->present[id] && !seen[id]);
        seen[id] = true;
        assert_int_equal(ops[i].db, ENGINE_DB_RESERVATIONS);
        assert_int_equal(ops[i].val_len, m->val_len[id]);
        assert_memory_equal(ops[i].val, m->val[id], m->val_len[id]);
    }
    free(ops);
}

static void test_copy_model(void **state)
{
    (void)state;
    static test_model m;
    cluster_copy cp = {0};
    srand(11);
    size_t replaced = 0, deleted = 0;
    for (int step = 1; step <= 20000; step++) {
        int id = rand() % TEST_IDS;
        char key[16];
        size_t key_len = (size_t)snprintf(key, sizeof key, "id-%d", id);
        if (rand() % 4 == 0) {
            cluster__copy_del(&cp, key, key_len);
            deleted += m.present[id];
            m.present[id] = false;
        } else {
            size_t len = 1 + (size_t)(rand() % 39);
            for (size_t k = 0; k < len; k++)
                m.val[id][k] = (char)(rand() & 0xff);
            m.val_len[id] = len;
            replaced += m.present[id];
            m.present[id] = true;
            assert_int_equal(
                cluster__copy_put(&cp, key, key_len, m.val[id], len), ATP_OK);
        }
        if (step % 500 == 0)
            test_check(&cp, &m);
    }
    assert_true(replaced > 1000 && deleted > 1000); /* both paths ran */
    cluster__copy_free(&cp);
    assert_int_equal(cp.n, 0);
    cluster__copy_del(&cp, "x", 1); /* on an empty copy: nothing */
}

/* The local copy (local.c): a "store" (a second model) that is seeded
 * with the copy, then takes only the dirty ops of each round (puts and
 * deletes of the ids changed), ends equal to the copy every round; a
 * reset (records of another stream) makes the next dirty ops delete
 * everything the store had; untracked changes (the seeding) are not
 * dirty. */
static void test_store_apply(test_model *store, const cluster_copy *cp)
{
    size_t n = 0;
    engine_record_op *ops = cluster__copy_dirty_ops(cp, &n);
    assert_int_equal(n, cp->dirty_n);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        memcpy(key, ops[i].key, ops[i].key_len);
        key[ops[i].key_len] = '\0';
        int id = atoi(key + 3);
        store->present[id] = ops[i].val != NULL;
        if (ops[i].val != NULL) {
            memcpy(store->val[id], ops[i].val, ops[i].val_len);
            store->val_len[id] = ops[i].val_len;
        }
    }
    free(ops);
}

static void test_copy_dirty(void **state)
{
    (void)state;
    static test_model m, store;
    cluster_copy cp = {0};
    srand(12);
    for (int id = 0; id < 100; id++) { /* seeded: not dirty */
        char key[16];
        size_t key_len = (size_t)snprintf(key, sizeof key, "id-%d", id);
        m.val[id][0] = store.val[id][0] = (char)id;
        m.val_len[id] = store.val_len[id] = 1;
        m.present[id] = store.present[id] = true;
        assert_int_equal(cluster__copy_put(&cp, key, key_len, m.val[id], 1),
                         ATP_OK);
    }
    assert_int_equal(cp.dirty_n, 0);
    cp.track = true;
    for (int round = 0; round < 40; round++) {
        for (int step = 0; step < 300; step++) {
            int id = rand() % TEST_IDS;
            char key[16];
            size_t key_len = (size_t)snprintf(key, sizeof key, "id-%d", id);
            if (rand() % 4 == 0) {
                cluster__copy_del(&cp, key, key_len);
                m.present[id] = false;
            } else {
                size_t len = 1 + (size_t)(rand() % 39);
                for (size_t k = 0; k < len; k++)
                    m.val[id][k] = (char)(rand() & 0xff);
                m.val_len[id] = len;
                m.present[id] = true;
                assert_int_equal(
                    cluster__copy_put(&cp, key, key_len, m.val[id], len),
                    ATP_OK);
            }
        }
        if (round == 20) { /* not this stream's: all of it deleted */
            cluster__copy_reset(&cp);
            memset(m.present, 0, sizeof m.present);
            assert_int_equal(cp.n, 0);
        }
        test_store_apply(&store, &cp);
        cluster__copy_dirty_clear(&cp);
        for (int id = 0; id < TEST_IDS; id++) {
            assert_int_equal(store.present[id], m.present[id]);
            if (m.present[id]) {
                assert_int_equal(store.val_len[id], m.val_len[id]);
                assert_memory_equal(store.val[id], m.val[id], m.val_len[id]);
            }
        }
        test_check(&cp, &m);
    }
    cluster__copy_free(&cp);
}

/* A group message written by the owner's publisher (cluster__group_put)
 * and read by a standby (cluster__group_apply): puts and a delete land in
 * the copy; every truncation of it, a zero-length key and a zero-length
 * value are refused whole, the copy unchanged. */
static void test_group_round_trip(void **state)
{
    (void)state;
    engine_record_op ops[] = {
        {ENGINE_DB_RESERVATIONS, "cart-1", 6, "record one", 10},
        {ENGINE_DB_RESERVATIONS, "cart-2", 6, "record two", 10},
        {ENGINE_DB_RESERVATIONS, "old", 3, NULL, 0},
        {ENGINE_DB_RESERVATIONS, "cart-1", 6, "record 1b", 9},
    };
    char buf[256];
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t n = cluster__group_put(buf + len, &ops[i]);
        assert_int_equal(n, CLUSTER_GROUP_ENTRY(&ops[i]));
        len += n;
    }
    cluster_copy cp = {0};
    assert_int_equal(cluster__copy_put(&cp, "old", 3, "gone soon", 9), ATP_OK);
    for (size_t cut = 0; cut < len; cut++) {
        if (cut == 0)
            continue; /* an empty message is a valid, empty group */
        bool whole_entries =
            cut == CLUSTER_GROUP_ENTRY(&ops[0]) ||
            cut ==
                CLUSTER_GROUP_ENTRY(&ops[0]) + CLUSTER_GROUP_ENTRY(&ops[1]) ||
            cut == CLUSTER_GROUP_ENTRY(&ops[0]) + CLUSTER_GROUP_ENTRY(&ops[1]) +
                       CLUSTER_GROUP_ENTRY(&ops[2]);
        if (whole_entries)
            continue; /* a shorter but well-formed group */
        cluster_copy probe = {0};
        assert_false(cluster__group_apply(&probe, buf, cut));
        assert_int_equal(probe.n, 0);
    }
    char bad[8] = {0, 0, 1, 0, 0, 0, 'x'}; /* key length 0 */
    assert_false(cluster__group_apply(&cp, bad, 7));
    char empty_val[9] = {1, 0, 0, 0, 0, 0, 'k'}; /* value length 0 */
    assert_false(cluster__group_apply(&cp, empty_val, 7));
    assert_int_equal(cp.n, 1);
    assert_true(cluster__group_apply(&cp, buf, len));
    size_t n = 0;
    engine_record_op *got = cluster__copy_ops(&cp, &n);
    assert_int_equal(n, 2); /* cart-1 (its later record) and cart-2 */
    for (size_t i = 0; i < n; i++) {
        bool one = got[i].key_len == 6 && memcmp(got[i].key, "cart-1", 6) == 0;
        assert_int_equal(got[i].val_len, one ? 9 : 10);
        assert_memory_equal(got[i].val, one ? "record 1b" : "record two",
                            got[i].val_len);
    }
    free(got);
    cluster__copy_free(&cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_model),
        cmocka_unit_test(test_copy_dirty),
        cmocka_unit_test(test_group_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
