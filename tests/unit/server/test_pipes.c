/*
 * test_pipes.c - src/server/pipes.c, the query socket's table of when each
 * connection last did something (service.query_idle_timeout): against a
 * plain array model from a fixed seed, with ids in sequence as nng hands
 * them out and thousands of connections opening and closing (the table
 * grows, deletions shift entries back), every pipe is found until it is
 * removed or taken; pipes_take_idle takes exactly the pipes idle for the
 * timeout or longer, no active one, at most max per call; a touch of a pipe
 * not in the table changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "server/pipes.h"

#define MODEL_MAX 4096

typedef struct model {
    uint32_t id[MODEL_MAX];
    int64_t last[MODEL_MAX];
    size_t n;
} model;

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t model_find(const model *m, uint32_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->id[i] == id)
            return i;
    return SIZE_MAX;
}

static void model_drop(model *m, size_t i)
{
    m->id[i] = m->id[m->n - 1];
    m->last[i] = m->last[m->n - 1];
    m->n--;
}

/* Every pipe of the model is in the table (a touch at a time no later
 * than its own finds it and changes nothing), and the counts agree. */
static void check_same(pipes *t, const model *m)
{
    assert_int_equal(t->n, m->n);
    for (size_t i = 0; i < m->n; i++)
        assert_true(pipes_touch(t, m->id[i], m->last[i]));
}

static void test_pipes_model(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15u;
    pipes t = {0};
    static model m;
    m.n = 0;
    uint32_t next_id = 0x40000000u; /* nng starts at a random id */
    int64_t now = 1000;
    size_t taken_total = 0;
    for (int step = 0; step < 20000; step++) {
        now += (int64_t)(rng() % 50);
        uint64_t roll = rng() % 100;
        if (roll < 40 && m.n < MODEL_MAX) { /* a connection */
            uint32_t id = next_id++;
            assert_int_equal(pipes_add(&t, id, now), ATP_OK);
            m.id[m.n] = id;
            m.last[m.n++] = now;
        } else if (roll < 70 && m.n > 0) { /* a request on one */
            size_t i = (size_t)(rng() % m.n);
            assert_true(pipes_touch(&t, m.id[i], now));
            m.last[i] = now;
        } else if (roll < 90 && m.n > 0) { /* one closes */
            size_t i = (size_t)(rng() % m.n);
            assert_true(pipes_remove(&t, m.id[i]));
            assert_false(pipes_remove(&t, m.id[i]));
            assert_false(pipes_touch(&t, m.id[i], now));
            model_drop(&m, i);
        } else { /* the idle check */
            int64_t idle = 200 + (int64_t)(rng() % 2000);
            size_t max = 1 + (size_t)(rng() % 8);
            size_t due = 0;
            for (size_t i = 0; i < m.n; i++)
                due += m.last[i] <= now - idle;
            uint32_t out[8];
            size_t n = pipes_take_idle(&t, now, idle, out, max);
            assert_int_equal(n, due < max ? due : max);
            for (size_t k = 0; k < n; k++) {
                size_t i = model_find(&m, out[k]);
                assert_true(i != SIZE_MAX);           /* a pipe it had */
                assert_true(m.last[i] <= now - idle); /* idle, not active */
                model_drop(&m, i);
            }
            taken_total += n;
        }
        check_same(&t, &m);
    }
    assert_true(taken_total > 100); /* the idle path did run */
    assert_true(t.cap >= 64);
    pipes_fini(&t);
}

static void test_pipes_edges(void **state)
{
    (void)state;
    pipes t = {0};
    /* An empty table: nothing found, nothing taken. */
    assert_false(pipes_touch(&t, 7, 10));
    assert_false(pipes_remove(&t, 7));
    uint32_t out[4];
    assert_int_equal(pipes_take_idle(&t, 100, 1, out, 4), 0);
    /* A touch never moves a pipe's time back; add twice is a touch. */
    assert_int_equal(pipes_add(&t, 7, 50), ATP_OK);
    assert_true(pipes_touch(&t, 7, 40));
    assert_int_equal(pipes_take_idle(&t, 99, 50, out, 4), 0); /* 49 idle */
    assert_int_equal(pipes_add(&t, 7, 60), ATP_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(pipes_take_idle(&t, 109, 50, out, 4), 0);
    assert_int_equal(pipes_take_idle(&t, 110, 50, out, 4), 1); /* exactly */
    assert_int_equal(out[0], 7);
    assert_int_equal(t.n, 0);
    /* Ids that all hash to one run of slots, removed from its middle: the
     * ones after still found. */
    for (uint32_t id = 1; id <= 40; id++)
        assert_int_equal(pipes_add(&t, id * 64, 0), ATP_OK);
    for (uint32_t id = 1; id <= 40; id += 3)
        assert_true(pipes_remove(&t, id * 64));
    for (uint32_t id = 1; id <= 40; id++)
        assert_int_equal(pipes_touch(&t, id * 64, 1), (id - 1) % 3 != 0);
    pipes_fini(&t);
    assert_int_equal(t.cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipes_model),
        cmocka_unit_test(test_pipes_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
