/*
 * test_feed_replay.c - unit tests of tools/atp-feed/feed_replay.c: the
 * bounded replay log (message and byte bounds, exact bytes, consecutive
 * sequences). Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "feed_replay.h"

/* test_msg: message seq's bytes, len bytes of a seq-dependent pattern. */
static void test_msg(uint64_t seq, unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seq * 31 + i);
}

static void test_add(feed_replay *r, uint64_t seq, size_t len)
{
    unsigned char buf[256];
    assert_true(len <= sizeof buf);
    test_msg(seq, buf, len);
    assert_int_equal(feed_replay_add(r, seq, buf, len), ATP_OK);
}

static void test_check(const feed_replay *r, uint64_t seq, size_t len)
{
    unsigned char want[256];
    const void *buf;
    size_t got;
    test_msg(seq, want, len);
    assert_true(feed_replay_get(r, seq, &buf, &got));
    assert_int_equal(got, len);
    assert_memory_equal(buf, want, len);
}

static void test_message_bound(void **state)
{
    (void)state;
    feed_replay r;
    assert_int_equal(feed_replay_init(&r, 5, 0), ATP_OK);
    uint64_t first, last;
    assert_false(feed_replay_range(&r, &first, &last));
    for (uint64_t s = 1; s <= 12; s++)
        test_add(&r, s, 10 + s);
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(first, 8);
    assert_int_equal(last, 12);
    assert_int_equal(r.evicted, 7);
    const void *buf;
    size_t len;
    assert_false(feed_replay_get(&r, 7, &buf, &len));
    assert_false(feed_replay_get(&r, 13, &buf, &len));
    for (uint64_t s = 8; s <= 12; s++)
        test_check(&r, s, 10 + s); /* the exact bytes, after wrap-around */
    feed_replay_fini(&r);
}

static void test_byte_bound(void **state)
{
    (void)state;
    feed_replay r;
    assert_int_equal(feed_replay_init(&r, 100, 50), ATP_OK);
    for (uint64_t s = 1; s <= 10; s++)
        test_add(&r, s, 10);
    uint64_t first, last;
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(first, 6);
    assert_int_equal(last, 10);
    assert_int_equal(r.bytes, 50);
    test_add(&r, 11, 30); /* 9, 10 and 11: 10 + 10 + 30 */
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(first, 9);
    assert_int_equal(r.bytes, 50);
    test_check(&r, 11, 30);
    test_add(&r, 12, 51); /* larger than the bound: nothing kept */
    assert_false(feed_replay_range(&r, &first, &last));
    test_add(&r, 13, 5); /* 12 is missing: a fresh start at 13 */
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(first, 13);
    assert_int_equal(last, 13);
    feed_replay_fini(&r);
}

static void test_seq_jump_restarts(void **state)
{
    (void)state;
    feed_replay r;
    assert_int_equal(feed_replay_init(&r, 10, 0), ATP_OK);
    for (uint64_t s = 100; s < 105; s++)
        test_add(&r, s, 8);
    test_add(&r, 200, 8); /* not 105 */
    uint64_t first, last;
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(first, 200);
    assert_int_equal(last, 200);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.bytes, 8);
    test_add(&r, 200, 8); /* the same seq again: also a restart */
    assert_int_equal(r.n, 1);
    feed_replay_fini(&r);
}

static void test_zero_capacity(void **state)
{
    (void)state;
    feed_replay r;
    assert_int_equal(feed_replay_init(&r, 0, 0), ATP_OK);
    test_add(&r, 1, 8);
    uint64_t first, last;
    assert_false(feed_replay_range(&r, &first, &last));
    feed_replay_fini(&r);
}

static void test_long_run(void **state)
{
    (void)state;
    feed_replay r;
    assert_int_equal(feed_replay_init(&r, 1000, 64 * 1024), ATP_OK);
    for (uint64_t s = 1; s <= 100000; s++)
        test_add(&r, s, 1 + s % 200);
    uint64_t first, last;
    assert_true(feed_replay_range(&r, &first, &last));
    assert_int_equal(last, 100000);
    assert_true(r.n <= 1000 && r.bytes <= 64 * 1024);
    assert_int_equal(last - first + 1, r.n);
    for (uint64_t s = first; s <= last; s++)
        test_check(&r, s, 1 + s % 200);
    feed_replay_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_bound),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_seq_jump_restarts),
        cmocka_unit_test(test_zero_capacity),
        cmocka_unit_test(test_long_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
