/*
 * test_health.c - common/health: readiness is the conjunction of its
 * conditions; a thread is stuck only when busy past the stall timeout,
 * never while idle, nor while in a known long operation (health_long: a
 * backup's copy), which ends with the thread's next report; slots are
 * reused after removal; stopping makes nothing of the conditions false.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/health.h"

static void test_ready(void **state)
{
    (void)state;
    assert_false(health_ready());
    for (int c = 0; c < HEALTH_COND_COUNT; c++) {
        assert_false(health_ready());
        health_cond_set((health_cond)c, true);
        assert_true(health_cond_met((health_cond)c));
    }
    assert_true(health_ready());
    health_cond_set(HEALTH_LISTENERS, false);
    assert_false(health_ready());
    assert_string_equal(health_cond_name(HEALTH_SNAPSHOT), "snapshot");
}

/* The thread named name as seen at now. */
static health_thread_info find(int64_t now, const char *name, size_t *stuck)
{
    health_thread_info t[HEALTH_THREADS_MAX];
    size_t n = health_threads_get(now, t, HEALTH_THREADS_MAX, stuck);
    for (size_t i = 0; i < n; i++)
        if (t[i].name == name)
            return t[i];
    fail_msg("thread %s not listed", name);
    return t[0];
}

static void test_stuck_only_when_busy(void **state)
{
    (void)state;
    health_set_stall_ms(1000);
    assert_int_equal(health_stall_ms(), 1000);
    static const char name[] = "t:worker";
    health_slot *s = health_thread_add(name);
    assert_non_null(s);
    int64_t now = clock_mono_ms();
    size_t stuck;
    /* Idle: never stuck, however long ago it began to wait. */
    health_idle(s);
    health_thread_info t = find(now + 60000, name, &stuck);
    assert_false(t.busy);
    assert_false(t.stuck);
    assert_int_equal(stuck, 0);
    /* Busy: stuck only past the timeout since its last progress. */
    health_busy(s);
    now = clock_mono_ms();
    t = find(now + 500, name, &stuck);
    assert_true(t.busy);
    assert_false(t.stuck);
    t = find(now + 5000, name, &stuck);
    assert_true(t.stuck);
    assert_int_equal(stuck, 1);
    assert_true(t.since_ms >= 5000);
    /* Progress resets it. */
    health_busy(s);
    t = find(clock_mono_ms() + 10, name, &stuck);
    assert_false(t.stuck);
    health_thread_remove(s);
    health_threads_get(clock_mono_ms(), (health_thread_info[1]){0}, 1, &stuck);
    assert_int_equal(stuck, 0);
}

static void test_long_operation(void **state)
{
    (void)state;
    health_set_stall_ms(1000);
    static const char name[] = "t:backup";
    health_slot *s = health_thread_add(name);
    assert_non_null(s);
    size_t stuck;
    health_long(s);
    health_thread_info t = find(clock_mono_ms() + 60000, name, &stuck);
    assert_true(t.busy);
    assert_true(t.long_op);
    assert_false(t.stuck);
    assert_int_equal(stuck, 0);
    /* Its next report ends it: a hang after it is detected again. */
    health_busy(s);
    t = find(clock_mono_ms() + 5000, name, &stuck);
    assert_false(t.long_op);
    assert_true(t.stuck);
    health_long(s);
    health_idle(s);
    t = find(clock_mono_ms() + 5000, name, &stuck);
    assert_false(t.long_op);
    assert_false(t.stuck);
    health_busy(s);
    t = find(clock_mono_ms() + 5000, name, &stuck);
    assert_true(t.stuck);
    health_long(NULL); /* a thread without a slot: ignored */
    health_thread_remove(s);
}

static void test_stopping(void **state)
{
    (void)state;
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        health_cond_set((health_cond)c, true);
    assert_false(health_stopping());
    health_set_stopping();
    assert_true(health_stopping());
    /* The request gate stays open while atpd drains. */
    assert_true(health_ready());
}

static void test_slots_reused(void **state)
{
    (void)state;
    health_slot *s[HEALTH_THREADS_MAX];
    for (size_t i = 0; i < HEALTH_THREADS_MAX; i++)
        assert_non_null(s[i] = health_thread_add("t:many"));
    assert_null(health_thread_add("t:one-too-many"));
    health_busy(NULL); /* a thread without a slot: ignored */
    health_idle(NULL);
    health_thread_remove(s[3]);
    health_slot *again = health_thread_add("t:again");
    assert_ptr_equal(again, s[3]);
    for (size_t i = 0; i < HEALTH_THREADS_MAX; i++)
        health_thread_remove(i == 3 ? again : s[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_stuck_only_when_busy),
        cmocka_unit_test(test_long_operation),
        cmocka_unit_test(test_slots_reused),
        cmocka_unit_test(test_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
