/*
 * test_thread.c - src/common/thread.c: a thread name longer than Linux's
 * 15 characters is cut, not refused; thread_sched_name names the calling
 * thread's policy (normal, batch, idle). Each policy is set in a thread of
 * its own, so the test process keeps its policy. thread_run_bounded makes
 * the call in any case: in time on its thread (true), and with an argument
 * larger than the 64 bytes it can copy, on the calling thread (true).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "common/thread.h"

typedef struct bounded_arg {
    pthread_t caller;
    int *calls;
    int *same_thread;
    char
        pad[80]; /* with it, more than the 64 bytes thread_run_bounded copies */
} bounded_arg;

static void test_bounded_fn(void *p)
{
    const bounded_arg *a = p;
    (*a->calls)++;
    *a->same_thread = pthread_equal(a->caller, pthread_self()) != 0;
}

static void test_run_bounded(void **state)
{
    (void)state;
    int calls = 0, same = -1;
    bounded_arg a = {pthread_self(), &calls, &same, {0}};
    /* Small enough to copy: runs on a thread of its own, returns in time. */
    assert_true(thread_run_bounded(test_bounded_fn, &a,
                                   offsetof(bounded_arg, pad), 10000,
                                   "a small call"));
    assert_int_equal(calls, 1);
    assert_int_equal(same, 0);
    /* Too large to copy: still called, once, on the calling thread. */
    assert_true(sizeof a > 64);
    assert_true(thread_run_bounded(test_bounded_fn, &a, sizeof a, 10000,
                                   "a large call"));
    assert_int_equal(calls, 2);
    assert_int_equal(same, 1);
}

typedef struct sched_case {
    int policy;
    const char *want, *got;
    char name[16];
} sched_case;

static void *test_thread_main(void *arg)
{
    sched_case *c = arg;
    thread_name("atp:a-name-longer-than-fifteen");
    pthread_getname_np(pthread_self(), c->name, sizeof c->name);
    struct sched_param p0 = {.sched_priority = 0};
    if (c->policy >= 0 && sched_setscheduler(0, c->policy, &p0) != 0)
        c->got = "(not allowed)";
    else
        c->got = thread_sched_name();
    return NULL;
}

static void test_thread_name_and_policy(void **state)
{
    (void)state;
    sched_case cases[] = {{.policy = -1, .want = "normal"},
                          {.policy = SCHED_BATCH, .want = "batch"},
                          {.policy = SCHED_IDLE, .want = "idle"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, test_thread_main, &cases[i]),
                         0);
        pthread_join(t, NULL);
        assert_string_equal(cases[i].name, "atp:a-name-long");
        assert_string_equal(cases[i].got, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_name_and_policy),
        cmocka_unit_test(test_run_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
