/*
 * test_thread.c - src/common/thread.c: a thread name longer than Linux's
 * 15 characters is cut, not refused; thread_sched_name names the calling
 * thread's policy (normal, batch, idle). Each policy is set in a thread of
 * its own, so the test process keeps its policy.
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
    sched_case cases[] = {{-1, "normal"}, {SCHED_BATCH, "batch"}, {SCHED_IDLE, "idle"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, test_thread_main, &cases[i]), 0);
        pthread_join(t, NULL);
        assert_string_equal(cases[i].name, "atp:a-name-long");
        assert_string_equal(cases[i].got, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_name_and_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
