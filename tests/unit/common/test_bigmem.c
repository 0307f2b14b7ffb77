/*
 * test_bigmem.c - src/common/bigmem.c: tables from mmap are zeroed, a size
 * of 0 is a usable allocation, realloc keeps the contents and zeroes what
 * it adds, realloc of NULL allocates, free of NULL does nothing; a huge
 * table (the MADV_HUGEPAGE hint) is ordinary memory. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/bigmem.h"

static void test_bigmem_alloc_realloc(void **state)
{
    (void)state;
    unsigned char *z = bigmem_alloc(0, false);
    assert_non_null(z);
    z[0] = 1;
    bigmem_free(z, 0);
    bigmem_free(NULL, 123);

    size_t small = 4096 * 3, big = 4096 * 40;
    unsigned char *p = bigmem_alloc(small, false);
    assert_non_null(p);
    for (size_t i = 0; i < small; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0xab, small);
    unsigned char *q = bigmem_realloc(p, small, big);
    assert_non_null(q);
    for (size_t i = 0; i < small; i++)
        assert_int_equal(q[i], 0xab);
    for (size_t i = small; i < big; i++)
        assert_int_equal(q[i], 0);
    q = bigmem_realloc(q, big, small); /* shrinking keeps the start */
    assert_non_null(q);
    assert_int_equal(q[small - 1], 0xab);
    bigmem_free(q, small);

    unsigned char *r = bigmem_realloc(NULL, 0, small);
    assert_non_null(r);
    assert_int_equal(r[small - 1], 0);
    bigmem_free(r, small);

    size_t huge = (size_t)16 << 20;
    unsigned char *h = bigmem_alloc(huge, true);
    assert_non_null(h);
    h[0] = h[huge - 1] = 7;
    assert_int_equal(h[huge / 2], 0);
    bigmem_free(h, huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bigmem_alloc_realloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
