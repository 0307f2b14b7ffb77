/*
 * test_heap.c - src/common/heap.c: nodes come out smallest key first
 * whatever order they went in (ties included); removing any node,
 * the smallest, the last or one in the middle, and giving a node a new key
 * keep the order and every node's index right (a zeroed heap works like
 * an initialized one) (checked after each step
 * against a plain array model, from a fixed seed); a node out of the heap
 * is HEAP_NONE and removing it again is a no-op; pushing a node twice is a
 * programming error that stops the process (ATP_ASSERT).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/heap.h"

typedef struct item {
    int tag;
    heap_node node;
    bool in; /* the model: is it in the heap? */
} item;

#define N_ITEMS 512

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The model's smallest key among the items in the heap. */
static int64_t model_min(const item *it, size_t n, bool *any)
{
    int64_t m = INT64_MAX;
    *any = false;
    for (size_t i = 0; i < n; i++)
        if (it[i].in && it[i].node.key <= m) {
            m = it[i].node.key;
            *any = true;
        }
    return m;
}

static void test_heap_sorts(void **state)
{
    (void)state;
    heap h;
    heap_init(&h, 4); /* small: it grows several times */
    static item it[N_ITEMS];
    rng_state = 42;
    for (int i = 0; i < N_ITEMS; i++) {
        it[i].tag = i;
        heap_node_init(&it[i].node);
        it[i].node.key = (int64_t)(rng() % 100) - 50; /* many ties */
        assert_true(heap_push(&h, &it[i].node));
        assert_true(heap_check(&h));
    }
    assert_int_equal(heap_count(&h), N_ITEMS);
    int64_t last = INT64_MIN;
    for (int i = 0; i < N_ITEMS; i++) {
        heap_node *m = heap_min(&h);
        assert_non_null(m);
        item *x = HEAP_ENTRY(m, item, node);
        assert_ptr_equal(&it[x->tag], x);
        assert_true(m->key >= last);
        last = m->key;
        heap_remove(&h, m);
        assert_false(heap_node_queued(m));
        assert_true(heap_check(&h));
    }
    assert_null(heap_min(&h));
    heap_fini(&h);
}

static void test_heap_random_ops(void **state)
{
    (void)state;
    heap h = {0}; /* a zeroed heap is an empty one */
    static item it[N_ITEMS];
    for (int i = 0; i < N_ITEMS; i++) {
        it[i] = (item){.tag = i};
        heap_node_init(&it[i].node);
    }
    rng_state = 20261206;
    size_t count = 0;
    for (int step = 0; step < 20000; step++) {
        item *x = &it[rng() % N_ITEMS];
        int64_t key = (int64_t)(rng() % 1000000) - 500000;
        switch (rng() % 4) {
        case 0: /* push (or new key if in) */
        case 1:
            if (x->in) {
                heap_update(&h, &x->node, key);
            } else {
                x->node.key = key;
                assert_true(heap_push(&h, &x->node));
                x->in = true;
                count++;
            }
            break;
        case 2: /* remove any, in or not */
            heap_remove(&h, &x->node);
            count -= x->in;
            x->in = false;
            break;
        default: { /* remove the smallest */
            bool any;
            int64_t m = model_min(it, N_ITEMS, &any);
            heap_node *top = heap_min(&h);
            assert_true(any == (top != NULL));
            if (top != NULL) {
                assert_true(top->key == m);
                heap_remove(&h, top);
                HEAP_ENTRY(top, item, node)->in = false;
                count--;
            }
            break;
        }
        }
        assert_int_equal(heap_count(&h), count);
        assert_true(heap_check(&h));
        assert_true(x->in == heap_node_queued(&x->node));
    }
    assert_true(heap_memory(&h) >= count * sizeof(heap_node *));
    heap_fini(&h);
}

static void push_twice(void)
{
    heap h;
    heap_init(&h, 0);
    heap_node x;
    heap_node_init(&x);
    x.key = 1;
    heap_push(&h, &x);
    heap_push(&h, &x);
}

static void test_heap_push_twice_aborts(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        int devnull = dup(STDERR_FILENO);
        close(STDERR_FILENO); /* the assertion's line is expected */
        (void)devnull;
        push_twice();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_sorts),
        cmocka_unit_test(test_heap_random_ops),
        cmocka_unit_test(test_heap_push_twice_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
