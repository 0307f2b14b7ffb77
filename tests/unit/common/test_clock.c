/*
 * test_clock.c - unit tests of src/common/clock.c's timed-wait helpers:
 * clock_deadline_ms is a CLOCK_MONOTONIC time ms from now (normalised
 * nanoseconds, negative ms meaning now), and a condition variable made
 * with clock_cond_init times out on that clock: a wait for 50 ms ends
 * after 50 ms of monotonic time, not at once and not never (a realtime
 * condition variable given a monotonic deadline would end at once, since
 * the monotonic clock's epoch is the boot).
 * Labels: unit, correctness (issue 12 item 9).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"

static int64_t test_ts_ms(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_deadline(void **state)
{
    (void)state;
    for (int64_t ms = 0; ms < 3000; ms += 333) {
        int64_t before = clock_mono_ms();
        struct timespec d = clock_deadline_ms(ms);
        int64_t after = clock_mono_ms();
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
        assert_true(test_ts_ms(d) >= before + ms);
        assert_true(test_ts_ms(d) <= after + ms + 1);
    }
    struct timespec now = clock_deadline_ms(-5);
    assert_true(test_ts_ms(now) <= clock_mono_ms() + 1);
}

static void test_cond_wait(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    assert_int_equal(clock_cond_init(&cv), 0);
    pthread_mutex_lock(&mu);
    int64_t t0 = clock_mono_ms();
    struct timespec d = clock_deadline_ms(50);
    int rc = 0;
    while (rc == 0) /* spurious wake-ups: wait again */
        rc = pthread_cond_timedwait(&cv, &mu, &d);
    int64_t waited = clock_mono_ms() - t0;
    pthread_mutex_unlock(&mu);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(waited >= 49);
    assert_true(waited < 10000);
    pthread_cond_destroy(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_cond_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
