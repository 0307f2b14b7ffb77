/*
 * test_request_cart.c - request_cart_totals: duplicate cart lines are
 * summed per (sku, region), compared with an obvious O(n^2) model, both on
 * ordinary carts (hash table) and on SKUs crafted to collide in the hash
 * table (which must switch to the sort and still sum right). The cart
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

static void expect_model_totals(const request_line *lines, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int64_t sum = 0;
        for (uint32_t j = 0; j < n; j++)
            if (lines[j].region == lines[i].region &&
                lines[j].sku.len == lines[i].sku.len &&
                memcmp(lines[j].sku.ptr, lines[i].sku.ptr, lines[i].sku.len) == 0)
                sum += lines[j].qty;
        assert_true(lines[i].total == sum);
    }
}

static void set_line(request_line *l, const char *sku, uint32_t region, int64_t qty)
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
        codec_arena_clear(a);
        assert_true(request_cart_totals(lines, n, a, &sorted));
        assert_false(sorted);
        expect_model_totals(lines, n);
    }
    codec_arena_free(a);
}

/* 64 distinct SKUs that all land in the same slot of a 256-slot table,
 * each asked twice: the probe budget runs out, the sort takes over. */
static void test_cart_totals_collisions(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    static request_line lines[128];
    uint32_t found = 0;
    for (uint32_t k = 0; found < 64; k++) {
        char s[16];
        snprintf(s, sizeof s, "C%u", k);
        codec_str cs = {s, (uint32_t)strlen(s)};
        if ((request_line_hash(cs, 0) & 255) == 0)
            memcpy(sku_text[found++], s, sizeof s);
    }
    for (uint32_t i = 0; i < 128; i++)
        set_line(&lines[i], sku_text[i % 64], 0, 1 + i);
    bool sorted = false;
    assert_true(request_cart_totals(lines, 128, a, &sorted));
    assert_true(sorted);
    expect_model_totals(lines, 128);
    assert_true(lines[0].total == 1 + 65);
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cart_totals_model),
        cmocka_unit_test(test_cart_totals_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
