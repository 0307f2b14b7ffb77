/*
 * test_queue.c - unit tests of src/common/queue.c: FIFO order across the
 * ring's wrap-around, timed pop, close semantics, blocking push
 * (backpressure), and 4 producers against one consumer with no loss.
 * Uses threads (pthreads); run under -fsanitize=thread too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/error.h"
#include "common/queue.h"

typedef struct test_item {
    uint32_t producer;
    uint32_t n;
    uint64_t check; /* a function of (producer, n): detects torn copies */
} test_item;

static uint64_t test_queue_check(uint32_t producer, uint32_t n)
{
    return ((uint64_t)producer << 40) ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
}

static int64_t test_queue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_queue_fifo(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(test_item), 8), ATP_OK);
    assert_int_equal(queue_len(&q), 0);
    /* several rounds of 5 in, 5 out over a ring of 8: wraps around */
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 5; i++, next_in++) {
            test_item it = {0, next_in, test_queue_check(0, next_in)};
            assert_int_equal(queue_push(&q, &it), ATP_OK);
        }
        assert_int_equal(queue_len(&q), 5);
        for (int i = 0; i < 5; i++, next_out++) {
            test_item it;
            assert_int_equal(queue_pop(&q, &it, 0), ATP_OK);
            assert_int_equal(it.n, next_out);
            assert_true(it.check == test_queue_check(0, next_out));
        }
        assert_int_equal(queue_len(&q), 0);
    }
    /* fill to capacity exactly: no blocking, order kept */
    for (uint32_t i = 0; i < 8; i++) {
        test_item it = {0, 100 + i, 0};
        assert_int_equal(queue_push(&q, &it), ATP_OK);
    }
    assert_int_equal(queue_len(&q), 8);
    for (uint32_t i = 0; i < 8; i++) {
        test_item it;
        assert_int_equal(queue_pop(&q, &it, -1), ATP_OK);
        assert_int_equal(it.n, 100 + i);
    }
    queue_fini(&q);
    queue_fini(&q); /* idempotent */
}

static void test_queue_timed_pop(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(int), 4), ATP_OK);
    int v = -1;
    /* timeout 0 on an empty queue: immediate timeout */
    assert_int_equal(queue_pop(&q, &v, 0), ATP_E_TIMEOUT);
    /* 120 ms: returns after about that long, not before */
    int64_t t0 = test_queue_now_ms();
    assert_int_equal(queue_pop(&q, &v, 120), ATP_E_TIMEOUT);
    int64_t took = test_queue_now_ms() - t0;
    assert_true(took >= 115);
    assert_true(took < 5000);
    assert_int_equal(v, -1); /* untouched */
    /* a timeout of more than a second (tv_sec and tv_nsec both move) still
     * returns an item present at once */
    int x = 42;
    assert_int_equal(queue_push(&q, &x), ATP_OK);
    assert_int_equal(queue_pop(&q, &v, 1500), ATP_OK);
    assert_int_equal(v, 42);
    queue_fini(&q);
}

typedef struct test_delayed {
    queue *q;
    int value;
    int delay_ms;
    bool close;
    atp_err err; /* of the push (cmocka asserts only on the test thread) */
} test_delayed;

static void *test_queue_delayed_main(void *arg)
{
    test_delayed *d = arg;
    struct timespec ts = {0, (long)d->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    if (d->close)
        queue_close(d->q);
    else
        d->err = queue_push(d->q, &d->value);
    return NULL;
}

/* A waiting pop wakes up for an item pushed later, well before its timeout. */
static void test_queue_pop_wakes(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(int), 4), ATP_OK);
    test_delayed d = {&q, 7, 50, false, ATP_E_INTERNAL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, test_queue_delayed_main, &d), 0);
    int v = 0;
    int64_t t0 = test_queue_now_ms();
    assert_int_equal(queue_pop(&q, &v, 10000), ATP_OK);
    assert_int_equal(v, 7);
    assert_true(test_queue_now_ms() - t0 < 5000);
    pthread_join(t, NULL);
    assert_int_equal(d.err, ATP_OK);

    /* a pop waiting forever returns BAD_STATE when the queue is closed */
    d = (test_delayed){&q, 0, 50, true, ATP_OK};
    assert_int_equal(pthread_create(&t, NULL, test_queue_delayed_main, &d), 0);
    assert_int_equal(queue_pop(&q, &v, -1), ATP_E_BAD_STATE);
    pthread_join(t, NULL);
    queue_fini(&q);
}

static void test_queue_close_drains(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(int), 8), ATP_OK);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(queue_push(&q, &i), ATP_OK);
    queue_close(&q);
    int x = 99;
    assert_int_equal(queue_push(&q, &x), ATP_E_BAD_STATE); /* pushes fail */
    assert_int_equal(queue_len(&q), 3);
    for (int i = 1; i <= 3; i++) {
        int v = 0;
        assert_int_equal(queue_pop(&q, &v, i == 2 ? -1 : 0), ATP_OK);
        assert_int_equal(v, i); /* what was queued before close, in order */
    }
    int v = 0;
    assert_int_equal(queue_pop(&q, &v, -1), ATP_E_BAD_STATE); /* no block */
    assert_int_equal(queue_pop(&q, &v, 0), ATP_E_BAD_STATE);
    assert_int_equal(queue_pop(&q, &v, 100), ATP_E_BAD_STATE);
    queue_close(&q); /* twice is fine */
    queue_fini(&q);
}

typedef struct test_producer {
    queue *q;
    uint32_t id;
    uint32_t count;
    atomic_uint *pushed;
} test_producer;

static void *test_queue_producer_main(void *arg)
{
    test_producer *p = arg;
    for (uint32_t n = 0; n < p->count; n++) {
        test_item it = {p->id, n, test_queue_check(p->id, n)};
        if (queue_push(p->q, &it) != ATP_OK)
            break;
        atomic_fetch_add(p->pushed, 1);
    }
    return NULL;
}

/* 4 producers push 50k items each into a queue of 64 (so they block often);
 * one consumer gets every item exactly once, each producer's items in its
 * push order. */
#define TEST_PRODUCERS 4
#define TEST_PER_PRODUCER 50000u

static void test_queue_multi_producer(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(test_item), 64), ATP_OK);
    atomic_uint pushed = 0;
    pthread_t th[TEST_PRODUCERS];
    test_producer prod[TEST_PRODUCERS];
    for (uint32_t i = 0; i < TEST_PRODUCERS; i++) {
        prod[i] = (test_producer){&q, i, TEST_PER_PRODUCER, &pushed};
        assert_int_equal(
            pthread_create(&th[i], NULL, test_queue_producer_main, &prod[i]),
            0);
    }
    uint32_t next[TEST_PRODUCERS] = {0};
    uint64_t total = 0;
    while (total < (uint64_t)TEST_PRODUCERS * TEST_PER_PRODUCER) {
        test_item it;
        atp_err err = queue_pop(&q, &it, 10000);
        assert_int_equal(err, ATP_OK); /* a 10 s stall would be a lost wakeup */
        assert_true(it.producer < TEST_PRODUCERS);
        assert_int_equal(it.n, next[it.producer]); /* per-producer FIFO */
        assert_true(it.check == test_queue_check(it.producer, it.n));
        next[it.producer]++;
        total++;
    }
    for (uint32_t i = 0; i < TEST_PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(next[i], TEST_PER_PRODUCER);
    }
    assert_int_equal(atomic_load(&pushed), TEST_PRODUCERS * TEST_PER_PRODUCER);
    assert_int_equal(queue_len(&q), 0);
    test_item it;
    assert_int_equal(queue_pop(&q, &it, 0), ATP_E_TIMEOUT); /* nothing extra */
    queue_fini(&q);
}

/* Producers blocked on a full queue are released by close with BAD_STATE. */
static void test_queue_close_unblocks_producers(void **state)
{
    (void)state;
    queue q;
    assert_int_equal(queue_init(&q, sizeof(test_item), 2), ATP_OK);
    atomic_uint pushed = 0;
    pthread_t th[2];
    test_producer prod[2];
    for (uint32_t i = 0; i < 2; i++) {
        prod[i] = (test_producer){&q, i, 1000, &pushed};
        assert_int_equal(
            pthread_create(&th[i], NULL, test_queue_producer_main, &prod[i]),
            0);
    }
    /* wait until the queue is full and both producers are stuck */
    int64_t t0 = test_queue_now_ms();
    while (queue_len(&q) < 2 && test_queue_now_ms() - t0 < 5000) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(queue_len(&q), 2);
    queue_close(&q);
    for (uint32_t i = 0; i < 2; i++)
        pthread_join(th[i], NULL); /* a hang here is the bug */
    assert_int_equal(atomic_load(&pushed), 2);
    assert_int_equal(queue_len(&q), 2);
    queue_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_fifo),
        cmocka_unit_test(test_queue_timed_pop),
        cmocka_unit_test(test_queue_pop_wakes),
        cmocka_unit_test(test_queue_close_drains),
        cmocka_unit_test(test_queue_multi_producer),
        cmocka_unit_test(test_queue_close_unblocks_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
