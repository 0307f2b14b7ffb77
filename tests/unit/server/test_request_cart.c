/*
 * test_request_cart.c - request_line_totals: duplicate cart lines are
 * summed per (sku, region), compared with an obvious O(n^2) model, both on
 * ordinary carts (hash table) and on SKUs crafted to collide in the hash
 * table (which must switch to the sort and still sum right), also in two
 * regions; an empty cart sums to nothing. The cart
 * replies themselves are tested in test_request.c. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/request_int.h"

#define MAX_LINES 512

static char sku_text[MAX_LINES][16];

/* Every line's total is the sum over its (sku, region), and its first the
 * index of that key's first line in request order (a reserve checks that
 * lines of one key name one location against it), on either path. */
static void expect_model_totals(const request_line *lines, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int64_t sum = 0;
        uint32_t first = UINT32_MAX;
        for (uint32_t j = 0; j < n; j++)
            if (lines[j].region == lines[i].region &&
                lines[j].sku.len == lines[i].sku.len &&
                memcmp(lines[j].sku.ptr, lines[i].sku.ptr, lines[i].sku.len) ==
                    0) {
                sum += lines[j].qty;
                if (first == UINT32_MAX)
                    first = j;
            }
        assert_true(lines[i].total == sum);
        assert_int_equal(lines[i].first, first);
    }
}

static void set_line(request_line *l, const char *sku, uint32_t region,
                     int64_t qty)
{
    memset(l, 0, sizeof *l);
    l->sku.ptr = sku;
    l->sku.len = (uint32_t)strlen(sku);
    l->region = region;
    l->qty = qty;
}

/* Carts of every size up to MAX_LINES from a small pool of SKUs, so
 * duplicates are common; the same SKU in another region is another line. */
static void test_cart_totals_model(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    static request_line lines[MAX_LINES];
    uint64_t rng = 42;
    for (uint32_t i = 0; i < MAX_LINES; i++)
        snprintf(sku_text[i], sizeof sku_text[i], "SKU-%u", i);
    for (uint32_t n = 1; n <= MAX_LINES; n += (n < 20 ? 1 : 37)) {
        for (uint32_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint32_t pool = n / 2 + 1;
            set_line(&lines[i], sku_text[(rng >> 33) % pool], (rng >> 20) % 3,
                     1 + (int64_t)((rng >> 40) % 1000));
        }
        bool sorted = true;
        uint32_t over = 0;
        codec_arena_clear(a);
        assert_true(request_line_totals(lines, n, a, &sorted, &over));
        assert_false(sorted);
        assert_int_equal(over, UINT32_MAX);
        expect_model_totals(lines, n);
    }
    codec_arena_free(a);
}

/* Fills sku_text[0..64) with distinct SKUs that all land in the same slot
 * of a 256-slot table. */
static void colliding_skus(void)
{
    uint32_t found = 0;
    for (uint32_t k = 0; found < 64; k++) {
        char s[16];
        snprintf(s, sizeof s, "C%u", k);
        codec_str cs = {s, (uint32_t)strlen(s)};
        if ((request_line_hash(cs, 0) & 255) == 0)
            memcpy(sku_text[found++], s, sizeof s);
    }
}

/* 64 colliding SKUs each asked twice: the probe budget runs out, the sort
 * takes over. */
static void test_cart_totals_collisions(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    static request_line lines[128];
    colliding_skus();
    for (uint32_t i = 0; i < 128; i++)
        set_line(&lines[i], sku_text[i % 64], 0, 1 + i);
    bool sorted = false;
    uint32_t over = 0;
    assert_true(request_line_totals(lines, 128, a, &sorted, &over));
    assert_true(sorted);
    assert_int_equal(over, UINT32_MAX);
    expect_model_totals(lines, 128);
    assert_true(lines[0].total == 1 + 65);
    /* The same SKUs in a second region too: another key each, on the sort
     * path as well. */
    static request_line two[256];
    for (uint32_t i = 0; i < 256; i++)
        set_line(&two[i], sku_text[i % 64], i / 128, 1 + i);
    codec_arena_clear(a);
    assert_true(request_line_totals(two, 256, a, &sorted, &over));
    assert_true(sorted);
    expect_model_totals(two, 256);
    assert_true(two[0].total == 1 + 65 && two[128].total == 129 + 193);
    /* No lines: nothing to sum, nothing over. */
    sorted = true;
    assert_true(request_line_totals(two, 0, a, &sorted, &over));
    assert_false(sorted);
    assert_int_equal(over, UINT32_MAX);
    codec_arena_free(a);
}

/* Issue 12, oversell A: 10,000 lines of 10^15 sum to 10^19 > 2^63. A
 * merged quantity stops just above 10^15 and the first line (in request
 * order) at which a key went over is reported, on both paths. */
static void test_line_totals_over(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    static request_line lines[10000];
    for (uint32_t i = 0; i < 10000; i++)
        set_line(&lines[i], "A", 0, ATP_QTY_MAX);
    bool sorted;
    uint32_t over;
    assert_true(request_line_totals(lines, 10000, a, &sorted, &over));
    assert_false(sorted);
    assert_int_equal(over, 1);
    for (uint32_t i = 0; i < 10000; i++)
        assert_true(lines[i].total == ATP_QTY_MAX + 1);
    /* exactly 10^15 in three lines: not over */
    set_line(&lines[0], "A", 0, ATP_QTY_MAX - 2);
    set_line(&lines[1], "B", 0, 7);
    set_line(&lines[2], "A", 0, 1);
    set_line(&lines[3], "A", 0, 1);
    assert_true(request_line_totals(lines, 4, a, &sorted, &over));
    assert_int_equal(over, UINT32_MAX);
    assert_true(lines[3].total == ATP_QTY_MAX);
    set_line(&lines[4], "B", 0, ATP_QTY_MAX); /* B goes over here */
    set_line(&lines[5], "A", 0, 1);           /* A only here */
    assert_true(request_line_totals(lines, 6, a, &sorted, &over));
    assert_int_equal(over, 4);
    /* the sort path: colliding SKUs, the key going over first in request
     * order is reported even though it sorts last */
    colliding_skus();
    for (uint32_t i = 0; i < 128; i++)
        set_line(&lines[i], sku_text[i % 64], 0,
                 i == 70 || i == 127 ? ATP_QTY_MAX : 1);
    codec_arena_clear(a);
    assert_true(request_line_totals(lines, 128, a, &sorted, &over));
    assert_true(sorted);
    assert_int_equal(over, 70); /* 6 + 70: 1 + 10^15; 63 + 127 later */
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cart_totals_model),
        cmocka_unit_test(test_cart_totals_collisions),
        cmocka_unit_test(test_line_totals_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
