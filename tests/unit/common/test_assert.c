/*
 * test_assert.c - src/common/assert.c: a failed ATP_ASSERT stops the
 * process with SIGABRT after one line on stderr naming the expression and
 * its place; a true one does nothing; ATP_DASSERT is checked in the
 * builds that define ATP_DEBUG_ASSERTS and never evaluates its argument
 * otherwise; atp_owner holds for every thread until claimed, then only for
 * the claiming thread, and again for all after release.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/child.h"
#include "common/assert.h"

static int g_two = 2;

static void fails(void)
{
    ATP_ASSERT(g_two + 2 == 5);
}
static void holds(void)
{
    ATP_ASSERT(g_two + 2 == 4);
}

static void test_failed_assert_aborts_with_message(void **state)
{
    (void)state;
    char out[1024];
    int status = test_run_child(fails, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "atpd: assertion failed: g_two + 2 == 5 ("));
    assert_non_null(strstr(out, "test_assert.c:"));
    assert_non_null(strstr(out, " fails)\n"));
}

static void test_true_assert_continues(void **state)
{
    (void)state;
    char out[64];
    int status = test_run_child(holds, out, sizeof out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(out, "");
}

static int g_evaluated;
static int count_eval(void)
{
    return ++g_evaluated;
}

static void dassert_false(void)
{
    ATP_DASSERT(count_eval() == 0);
}

static void test_dassert_only_in_debug_builds(void **state)
{
    (void)state;
    char out[1024];
    int status = test_run_child(dassert_false, out, sizeof out);
#ifdef ATP_DEBUG_ASSERTS
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
#else
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_evaluated = 0;
    ATP_DASSERT(count_eval() == 0);
    assert_int_equal(g_evaluated, 0); /* not evaluated in release */
#endif
}

typedef struct probe {
    atp_owner *o;
    bool held;
} probe;

static void *probe_fn(void *p)
{
    probe *pr = p;
    pr->held = atp_owner_holds(pr->o);
    return NULL;
}

static bool holds_on_other_thread(atp_owner *o)
{
    probe pr = {o, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, probe_fn, &pr), 0);
    pthread_join(t, NULL);
    return pr.held;
}

static void test_owner(void **state)
{
    (void)state;
    static atp_owner o; /* zeroed: unclaimed */
    assert_true(atp_owner_holds(&o));
    assert_true(holds_on_other_thread(&o));
    atp_owner_claim(&o);
    assert_true(atp_owner_holds(&o));
    assert_false(holds_on_other_thread(&o));
    atp_owner_release(&o);
    assert_true(holds_on_other_thread(&o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_assert_aborts_with_message),
        cmocka_unit_test(test_true_assert_continues),
        cmocka_unit_test(test_dassert_only_in_debug_builds),
        cmocka_unit_test(test_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
