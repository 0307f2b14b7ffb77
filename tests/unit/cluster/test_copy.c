/*
 * test_copy.c - the warm copy of a standby (src/cluster/copy.c, the
 * latest record of each reservation id, as the partition's stream keeps
 * them): 20,000 random puts (new ids and replacements, values of varied
 * sizes) and deletes against a plain array model; after each 500 steps
 * the copy's records (cluster__copy_ops, what a takeover loads) must be
 * exactly the model's, each id once with its latest value.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
