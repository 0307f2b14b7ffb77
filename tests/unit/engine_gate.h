/*
 * engine_gate.h - a test helper (header only): hold the engine thread
 * still inside a batch's release callback (release runs on the engine
 * thread), so that a test knows exactly what the engine's queue holds, and
 * fill that queue; stop the engine from another thread. Used by
 * unit.engine.lifecycle and unit.server.request_busy.
 */
#ifndef ATP_TEST_ENGINE_GATE_H
#define ATP_TEST_ENGINE_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/engine.h"

typedef struct test_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open, entered;
} test_gate;

static test_gate test_the_gate = {PTHREAD_MUTEX_INITIALIZER,
                                  PTHREAD_COND_INITIALIZER, false, false};

static void test_gate_release(void *owner, bool applied)
{
    (void)applied;
    test_gate *g = owner;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void test_empty_release(void *owner, bool applied)
{
    (void)owner, (void)applied;
}

/* test_gate_close returns once the engine thread is inside the gate
 * batch's release, with an empty queue behind it. */
static void test_gate_close(engine *e)
{
    test_gate *g = &test_the_gate;
    pthread_mutex_lock(&g->mu);
    g->open = g->entered = false;
    pthread_mutex_unlock(&g->mu);
    engine_batch b = {.n = 0, .release = test_gate_release, .owner = g};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void test_gate_open(void)
{
    test_gate *g = &test_the_gate;
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static uint64_t test_queue_len(engine *e)
{
    engine_stats st;
    engine_stats_get(e, &st);
    return st.queue_len;
}

/* test_queue_fill queues cap empty batches behind a closed gate: the
 * engine's queue (capacity cap) is then full. */
static void test_queue_fill(engine *e, size_t cap)
{
    engine_batch b = {.n = 0, .release = test_empty_release};
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(test_queue_len(e), cap);
}

/* test_stop_main runs engine_stop(st->e) on a thread of the test's and
 * says when it returned: a stop command queued behind a closed gate. */
typedef struct test_stopper {
    engine *e;
    _Atomic bool returned;
} test_stopper;

static void *test_stop_main(void *arg)
{
    test_stopper *st = arg;
    engine_stop(st->e);
    atomic_store(&st->returned, true);
    return NULL;
}

#endif
