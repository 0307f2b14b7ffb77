/*
 * test_positions.c - unit tests of src/engine/positions.c: the (SKU,
 * location) -> buckets table: upsert/get, growth, reserve, key packing.
 * Single-threaded (the table is engine-thread only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "engine/positions.h"

static void test_positions_upsert_get(void **state)
{
    (void)state;
    positions p;
    assert_int_equal(positions_init(&p, 0), ATP_OK);
    assert_null(positions_get(&p, 0, 0));

    position *e = positions_upsert(&p, 0, 0);
    assert_non_null(e);
    assert_int_equal(e->bucket[ATP_BUCKET_ON_HAND], 0); /* created zeroed */
    assert_int_equal(e->bucket[ATP_BUCKET_ALLOCATED], 0);
    assert_int_equal(e->bucket[ATP_BUCKET_HELD], 0);
    assert_int_equal(position_sku(e), 0);
    assert_int_equal(position_loc(e), 0);
    e->bucket[ATP_BUCKET_ON_HAND] = 7;
    assert_int_equal(p.used, 1);

    /* upsert of an existing key returns it, values kept */
    e = positions_upsert(&p, 0, 0);
    assert_int_equal(e->bucket[ATP_BUCKET_ON_HAND], 7);
    assert_int_equal(p.used, 1);
    assert_ptr_equal(positions_get(&p, 0, 0), e);

    /* (sku, loc) pairs that differ in one component are distinct */
    position *a = positions_upsert(&p, 1, 0);
    a->bucket[ATP_BUCKET_HELD] = 3;
    position *b = positions_upsert(&p, 0, 1);
    b->bucket[ATP_BUCKET_ALLOCATED] = 4;
    position *c = positions_upsert(&p, 65535, 65535); /* extremes of loc */
    c->bucket[ATP_BUCKET_ON_HAND] = -5;
    position *d = positions_upsert(&p, (1u << 26) - 1, 1);
    d->bucket[ATP_BUCKET_ON_HAND] = 9;
    assert_int_equal(p.used, 5);

    assert_int_equal(positions_get(&p, 0, 0)->bucket[ATP_BUCKET_ON_HAND], 7);
    assert_int_equal(positions_get(&p, 1, 0)->bucket[ATP_BUCKET_HELD], 3);
    assert_int_equal(positions_get(&p, 1, 0)->bucket[ATP_BUCKET_ON_HAND], 0);
    assert_int_equal(positions_get(&p, 0, 1)->bucket[ATP_BUCKET_ALLOCATED], 4);
    position *g = positions_get(&p, 65535, 65535);
    assert_non_null(g);
    assert_int_equal(g->bucket[ATP_BUCKET_ON_HAND], -5);
    assert_int_equal(position_sku(g), 65535);
    assert_int_equal(position_loc(g), 65535);
    g = positions_get(&p, (1u << 26) - 1, 1);
    assert_non_null(g);
    assert_int_equal(position_sku(g), (1u << 26) - 1);
    assert_int_equal(position_loc(g), 1);
    assert_null(positions_get(&p, 1, 1));
    assert_null(positions_get(&p, 65535, 0));
    positions_fini(&p);
}

/* 200k positions from a table of 1024 slots: many growths, every value kept. */
static void test_positions_growth(void **state)
{
    (void)state;
    positions p;
    assert_int_equal(positions_init(&p, 16), ATP_OK);
    size_t cap0 = p.cap;
    const uint32_t n_sku = 20000;
    const uint16_t n_loc = 10;
    for (uint32_t s = 0; s < n_sku; s++) {
        for (uint16_t l = 0; l < n_loc; l++) {
            position *e = positions_upsert(&p, s, (uint16_t)(l * 7));
            assert_non_null(e);
            e->bucket[ATP_BUCKET_ON_HAND] = (int64_t)s * 100 + l;
            e->bucket[ATP_BUCKET_HELD] = -(int64_t)l;
        }
    }
    assert_int_equal(p.used, (size_t)n_sku * n_loc);
    assert_true(p.cap > cap0);
    assert_true(p.used * 4 <= p.cap * 3); /* load factor kept */
    for (uint32_t s = 0; s < n_sku; s++) {
        for (uint16_t l = 0; l < n_loc; l++) {
            position *e = positions_get(&p, s, (uint16_t)(l * 7));
            assert_non_null(e);
            assert_int_equal(e->bucket[ATP_BUCKET_ON_HAND],
                             (int64_t)s * 100 + l);
            assert_int_equal(e->bucket[ATP_BUCKET_HELD], -(int64_t)l);
            assert_int_equal(position_sku(e), s);
            assert_int_equal(position_loc(e), l * 7);
        }
        assert_null(positions_get(&p, s, 1));
    }
    assert_null(positions_get(&p, n_sku, 0));
    positions_fini(&p);
    assert_null(p.slots);
}

/* After positions_reserve(n), n upserts of new keys never move the table
 * (pointers stay valid, nothing can fail). */
static void test_positions_reserve(void **state)
{
    (void)state;
    positions p;
    assert_int_equal(positions_init(&p, 0), ATP_OK);
    for (uint32_t s = 0; s < 500; s++)
        positions_upsert(&p, s, 0)->bucket[0] = s;
    assert_int_equal(positions_reserve(&p, 5000), ATP_OK);
    position *slots = p.slots;
    size_t cap = p.cap;
    assert_true((p.used + 5000) * 4 <= p.cap * 3);
    position *first = positions_get(&p, 3, 0);
    for (uint32_t s = 0; s < 5000; s++) {
        position *e = positions_upsert(&p, s, 1);
        assert_non_null(e);
        e->bucket[ATP_BUCKET_ALLOCATED] = s + 1;
    }
    assert_ptr_equal(p.slots, slots);
    assert_int_equal(p.cap, cap);
    assert_ptr_equal(positions_get(&p, 3, 0), first);
    assert_int_equal(first->bucket[0], 3);
    for (uint32_t s = 0; s < 5000; s++)
        assert_int_equal(positions_get(&p, s, 1)->bucket[ATP_BUCKET_ALLOCATED],
                         s + 1);
    assert_int_equal(p.used, 5500);
    /* reserving 0 on a table with room changes nothing */
    assert_int_equal(positions_reserve(&p, 0), ATP_OK);
    assert_ptr_equal(p.slots, slots);
    positions_fini(&p);
}

/* positions_init(initial) sizes the table up front: no growth before then. */
static void test_positions_initial(void **state)
{
    (void)state;
    positions p;
    assert_int_equal(positions_init(&p, 5000), ATP_OK);
    assert_true(p.cap >= 5000);
    assert_int_equal(p.cap & (p.cap - 1), 0); /* power of two */
    positions_fini(&p);
}

/* Inbound quantities live beside the table: 0 until added, kept through
 * table growth, flag changes (dirty set and cleared) and many positions. */
static void test_positions_inbound(void **state)
{
    (void)state;
    positions p;
    assert_int_equal(positions_init(&p, 0), ATP_OK);
    position *e = positions_upsert(&p, 7, 2);
    assert_non_null(e);
    assert_int_equal(positions_inbound(&p, e), 0);
    assert_int_equal(positions_inbound_add(&p, e, 30), ATP_OK);
    assert_int_equal(positions_inbound_add(&p, e, -5), ATP_OK);
    assert_int_equal(positions_inbound(&p, e), 25);
    e->key |= POSITION_DIRTY;
    assert_int_equal(positions_inbound(&p, e), 25);
    e->key &= ~POSITION_DIRTY;
    assert_int_equal(position_sku(e), 7);
    assert_int_equal(position_loc(e), 2);
    /* every third of many positions gets inbound; the table grows */
    for (uint32_t s = 100; s < 20100; s++) {
        position *x = positions_upsert(&p, s, (uint16_t)(s % 5));
        assert_non_null(x);
        if (s % 3 == 0)
            assert_int_equal(positions_inbound_add(&p, x, s), ATP_OK);
    }
    for (uint32_t s = 100; s < 20100; s++) {
        position *x = positions_get(&p, s, (uint16_t)(s % 5));
        assert_non_null(x);
        assert_int_equal(positions_inbound(&p, x), s % 3 == 0 ? (int64_t)s : 0);
    }
    e = positions_get(&p, 7, 2);
    assert_non_null(e);
    assert_int_equal(positions_inbound(&p, e), 25);
    assert_true(positions_memory(&p) >= p.cap * sizeof(position));
    positions_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_upsert_get),
        cmocka_unit_test(test_positions_growth),
        cmocka_unit_test(test_positions_reserve),
        cmocka_unit_test(test_positions_initial),
        cmocka_unit_test(test_positions_inbound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
