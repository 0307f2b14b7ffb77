/*
 * test_alloc.c - src/alloc/alloc.c: with jemalloc (release builds, as
 * atpd runs) the figures are jemalloc's own and follow what the program
 * holds: 64 MiB more allocated and touched shows in both allocated and
 * resident, and freed leaves allocated; without it (sanitizer builds,
 * libc malloc) the call says so (false) and reports zeros, which
 * /metrics then leaves out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"

#define BIG (64u << 20)

static void test_figures_follow_allocations(void **state)
{
    (void)state;
    alloc_stats before, during, after;
    bool have = alloc_stats_get(&before);
#ifdef ATP_TEST_HAVE_JEMALLOC
    assert_true(have);
    char *p = malloc(BIG);
    assert_non_null(p);
    memset(p, 1, BIG);
    assert_true(alloc_stats_get(&during));
    assert_true(during.allocated >= before.allocated + BIG);
    assert_true(during.resident >= BIG);
    free(p);
    assert_true(alloc_stats_get(&after));
    assert_true(after.allocated + BIG / 2 < during.allocated);
#else
    (void)during;
    (void)after;
    assert_false(have);
    assert_int_equal(before.allocated, 0);
    assert_int_equal(before.resident, 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_figures_follow_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
