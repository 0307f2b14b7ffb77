/*
 * test_bundles.c - unit tests of src/formula/bundles.c (docs/PROTOCOL.md,
 * "Bundles"): definitions found by SKU, the reverse index from a component
 * to its bundles, every refusal of bundles_add changing nothing, and the
 * kit arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "formula/bundles.h"

static void test_bundles_find_and_using(void **state)
{
    (void)state;
    bundles *b;
    assert_int_equal(bundles_alloc(&b), ATP_OK);
    assert_null(bundles_find(b, 1));
    const bundle_part kit[] = {{10, 2}, {11, 1}};
    const bundle_part box[] = {{11, 3}, {12, 1}};
    assert_int_equal(bundles_add(b, 1, kit, 2), ATP_OK);
    assert_int_equal(bundles_add(b, 2, box, 2), ATP_OK);
    assert_int_equal(bundles_count(b), 2);
    const bundle_def *d = bundles_find(b, 2);
    assert_non_null(d);
    assert_int_equal(d->n_parts, 2);
    assert_int_equal(d->parts[0].sku, 11);
    assert_int_equal(d->parts[0].qty, 3);
    assert_ptr_equal(bundles_at(b, 0), bundles_find(b, 1));
    uint32_t n;
    const uint32_t *u = bundles_using(b, 11, &n);
    assert_int_equal(n, 2); /* 11 is in both, in the order added */
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], 2);
    u = bundles_using(b, 10, &n);
    assert_int_equal(n, 1);
    assert_int_equal(u[0], 1);
    assert_null(bundles_using(b, 1, &n)); /* a bundle is no component */
    assert_int_equal(n, 0);
    bundles_free(b);
    bundles_free(NULL);
}

/* Every refusal leaves the set as it was. */
static void test_bundles_refusals(void **state)
{
    (void)state;
    bundles *b;
    assert_int_equal(bundles_alloc(&b), ATP_OK);
    const bundle_part kit[] = {{10, 2}, {11, 1}};
    assert_int_equal(bundles_add(b, 1, kit, 2), ATP_OK);
    const bundle_part self[] = {{5, 1}};
    const bundle_part nested[] = {{1, 1}};
    const bundle_part twice[] = {{20, 1}, {20, 2}};
    const bundle_part zero[] = {{20, 0}};
    const bundle_part big[] = {{20, BUNDLES_MAX_QTY + 1}};
    bundle_part many[BUNDLES_MAX_COMPONENTS + 1];
    for (uint32_t i = 0; i <= BUNDLES_MAX_COMPONENTS; i++)
        many[i] = (bundle_part){100 + i, 1};
    assert_int_equal(bundles_add(b, 1, self, 1), ATP_E_CONFLICT); /* again */
    assert_int_equal(bundles_add(b, 5, self, 1), ATP_E_CONFLICT); /* itself */
    assert_int_equal(bundles_add(b, 6, nested, 1), ATP_E_CONFLICT);
    assert_int_equal(bundles_add(b, 10, self, 1), ATP_E_CONFLICT); /* part */
    assert_int_equal(bundles_add(b, 7, twice, 2), ATP_E_CONFLICT);
    assert_int_equal(bundles_add(b, 7, zero, 1), ATP_E_BAD_QTY);
    assert_int_equal(bundles_add(b, 7, big, 1), ATP_E_BAD_QTY);
    assert_int_equal(bundles_add(b, 7, many, 0), ATP_E_BAD_QTY);
    assert_int_equal(bundles_add(b, 7, many, BUNDLES_MAX_COMPONENTS + 1),
                     ATP_E_BAD_QTY);
    assert_int_equal(bundles_count(b), 1);
    uint32_t n;
    assert_null(bundles_using(b, 20, &n));
    assert_null(bundles_find(b, 7));
    assert_int_equal(bundles_add(b, 7, many, BUNDLES_MAX_COMPONENTS), ATP_OK);
    bundles_free(b);
}

/* Many definitions: the tables grow and every one is still found. */
static void test_bundles_grow(void **state)
{
    (void)state;
    bundles *b;
    assert_int_equal(bundles_alloc(&b), ATP_OK);
    for (uint32_t i = 0; i < 5000; i++) {
        const bundle_part p[] = {{1000000 + i, 1 + i % 7}, {7, 1}};
        assert_int_equal(bundles_add(b, 100000 + i, p, 2), ATP_OK);
    }
    for (uint32_t i = 0; i < 5000; i++) {
        const bundle_def *d = bundles_find(b, 100000 + i);
        assert_non_null(d);
        assert_int_equal(d->parts[0].sku, 1000000 + i);
        assert_int_equal(d->parts[0].qty, 1 + i % 7);
    }
    uint32_t n;
    const uint32_t *u = bundles_using(b, 7, &n);
    assert_int_equal(n, 5000);
    assert_int_equal(u[4999], 104999);
    bundles_free(b);
}

static void test_bundles_kits(void **state)
{
    (void)state;
    assert_int_equal(bundles_kits(7, 2), 3);
    assert_int_equal(bundles_kits(6, 2), 3);
    assert_int_equal(bundles_kits(1, 2), 0);
    assert_int_equal(bundles_kits(0, 1), 0);
    assert_int_equal(bundles_kits(-5, 1), 0);
    assert_int_equal(bundles_kits(9007199254740991LL, 1000000), 9007199254LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundles_find_and_using),
        cmocka_unit_test(test_bundles_refusals),
        cmocka_unit_test(test_bundles_grow),
        cmocka_unit_test(test_bundles_kits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
