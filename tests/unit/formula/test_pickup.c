/*
 * test_pickup.c - unit tests of src/formula/pickup.c, the store pickup
 * formula (docs/PROTOCOL.md, "The pickup formula"): the shelf net without
 * inbound, the location's buffer, the cap by the region's ATP, a location
 * that takes no pickup orders, and the extremes. Single-threaded; pure
 * arithmetic, no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "formula/pickup.h"

#define SUM_MAX ATP_QTY_SUM_MAX

static formula_pickup pinned(int64_t on_hand, int64_t allocated, int64_t held,
                             int64_t inbound, int64_t reserved, int64_t buffer,
                             bool enabled, int64_t region_atp)
{
    formula_position p = {on_hand, allocated, held, inbound};
    formula_pickup out;
    formula_pickup_of(&p, reserved, buffer, enabled, region_atp, &out);
    return out;
}

/* Nothing pinned at the location. */
static formula_pickup pickup(int64_t on_hand, int64_t allocated, int64_t held,
                             int64_t inbound, int64_t buffer, bool enabled,
                             int64_t region_atp)
{
    return pinned(on_hand, allocated, held, inbound, 0, buffer, enabled,
                  region_atp);
}

static void test_pickup_plain(void **state)
{
    (void)state;
    formula_pickup x = pickup(10, 2, 1, 0, 3, true, 100);
    assert_int_equal(x.net, 7);
    assert_int_equal(x.buffer, 3);
    assert_int_equal(x.available, 4);
    assert_int_equal(x.atp, 4);
}

/* Inbound lots inside the region's horizon count in the region's supply,
 * never in what a customer can collect today. */
static void test_pickup_inbound_not_counted(void **state)
{
    (void)state;
    formula_pickup x = pickup(5, 0, 0, 50, 0, true, 1000);
    assert_int_equal(x.net, 5);
    assert_int_equal(x.atp, 5);
    x = pickup(0, 0, 0, 50, 0, true, 1000);
    assert_int_equal(x.net, 0);
    assert_int_equal(x.atp, 0);
}

/* The region's ATP caps the location: region reservations are not pinned
 * to a location, any store's stock may be what they hold. */
static void test_pickup_capped_by_region(void **state)
{
    (void)state;
    formula_pickup x = pickup(10, 0, 0, 0, 0, true, 3);
    assert_int_equal(x.available, 10);
    assert_int_equal(x.atp, 3);
    x = pickup(10, 0, 0, 0, 0, true, 0);
    assert_int_equal(x.atp, 0);
    x = pickup(10, 0, 0, 0, 0, true, -5); /* never given, but floored */
    assert_int_equal(x.atp, 0);
}

static void test_pickup_disabled(void **state)
{
    (void)state;
    formula_pickup x = pickup(10, 1, 1, 0, 2, false, 100);
    assert_int_equal(x.net, 8); /* still shown: the stock is there */
    assert_int_equal(x.available, 6);
    assert_int_equal(x.atp, 0); /* but promised to nobody for pickup */
}

/* A position below zero (allocated or held beyond on_hand, a negative
 * cycle count) never takes anything away: net 0, like the region's. */
static void test_pickup_floors(void **state)
{
    (void)state;
    formula_pickup x = pickup(3, 5, 0, 0, 0, true, 100);
    assert_int_equal(x.net, 0);
    assert_int_equal(x.atp, 0);
    x = pickup(-7, 0, 0, 0, 0, true, 100);
    assert_int_equal(x.net, 0);
    x = pickup(4, 0, 0, 0, 9, true, 100); /* buffer above the shelf */
    assert_int_equal(x.available, 0);
    assert_int_equal(x.atp, 0);
    x = pickup(4, 0, 0, 0, -9, true, 100); /* never given, floored */
    assert_int_equal(x.buffer, 0);
    assert_int_equal(x.atp, 4);
}

static void test_pickup_extremes(void **state)
{
    (void)state;
    formula_pickup x =
        pickup(ATP_QTY_MAX, -ATP_QTY_MAX, -ATP_QTY_MAX, 0, 0, true, SUM_MAX);
    assert_int_equal(x.net, 3 * ATP_QTY_MAX);
    assert_int_equal(x.atp, 3 * ATP_QTY_MAX);
    x = pickup(INT64_MAX, INT64_MIN, INT64_MIN, INT64_MAX, INT64_MAX, true,
               INT64_MAX);
    assert_true(x.net >= 0 && x.net <= SUM_MAX);
    assert_true(x.available >= 0 && x.available <= x.net);
    assert_true(x.atp >= 0 && x.atp <= x.available);
}

/* Lines pinned to the location hold its shelf: a second customer cannot
 * be promised the unit a first one is to collect, whatever the region
 * has elsewhere. */
static void test_pickup_pinned(void **state)
{
    (void)state;
    formula_pickup x = pinned(5, 0, 0, 0, 3, 1, true, 100);
    assert_int_equal(x.net, 5);
    assert_int_equal(x.reserved, 3);
    assert_int_equal(x.available, 1);
    assert_int_equal(x.atp, 1);
    x = pinned(1, 0, 0, 0, 1, 0, true, 100); /* the last unit, pinned */
    assert_int_equal(x.atp, 0);
    x = pinned(2, 0, 0, 0, 5, 0, true, 100); /* stock left after the pin */
    assert_int_equal(x.available, 0);
    assert_int_equal(x.atp, 0);
    x = pinned(5, 0, 0, 0, -4, 0, true, 100); /* never given, floored */
    assert_int_equal(x.reserved, 0);
    assert_int_equal(x.atp, 5);
    x = pinned(ATP_QTY_MAX, 0, 0, 0, SUM_MAX, 0, true, SUM_MAX);
    assert_int_equal(x.atp, 0);
}

/* Every small input against the formula as PROTOCOL.md writes it. */
static void test_pickup_table(void **state)
{
    (void)state;
    for (int64_t oh = -3; oh <= 8; oh++)
        for (int64_t al = -2; al <= 4; al++)
            for (int64_t rs = 0; rs <= 3; rs++)
                for (int64_t buf = 0; buf <= 4; buf++)
                    for (int64_t ratp = 0; ratp <= 9; ratp += 3)
                        for (int en = 0; en <= 1; en++) {
                            formula_pickup x =
                                pinned(oh, al, 1, 5, rs, buf, en, ratp);
                            int64_t net = oh - al - 1 > 0 ? oh - al - 1 : 0;
                            int64_t av =
                                net - rs - buf > 0 ? net - rs - buf : 0;
                            int64_t atp = !en ? 0 : av < ratp ? av : ratp;
                            assert_int_equal(x.net, net);
                            assert_int_equal(x.reserved, rs);
                            assert_int_equal(x.buffer, buf);
                            assert_int_equal(x.available, av);
                            assert_int_equal(x.atp, atp);
                        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pickup_plain),
        cmocka_unit_test(test_pickup_inbound_not_counted),
        cmocka_unit_test(test_pickup_capped_by_region),
        cmocka_unit_test(test_pickup_disabled),
        cmocka_unit_test(test_pickup_floors),
        cmocka_unit_test(test_pickup_extremes),
        cmocka_unit_test(test_pickup_pinned),
        cmocka_unit_test(test_pickup_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
