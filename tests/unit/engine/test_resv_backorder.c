/*
 * test_resv_backorder.c - backorder budgets in src/engine/resv.c against a
 * model written from docs/PROTOCOL.md, "Backorder budgets": a seeded
 * sequence of reserves (plain, backorder, partial backorder, split
 * backorder), releases and stock changes on two SKUs in two regions, each
 * answer compared with what the model predicts: granted or not, each
 * line's qty and backordered, and each row's ATP, backorder_used and
 * backorder_left after every step; supply - reserved - buffer never goes
 * below -budget through a grant. Memory-only engine (no store).
 *
 * Threads: the test thread submits and reads the answers after
 * engine_sync; the engine thread decides and calls the done callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

/* Budgets: A has 6 in every region (a rule without region) and a buffer of
 * 1 with a budget of 2 in eu; B has none (plain reserves only, backorder
 * never helps it). */
static const char test_yaml[] =
    "regions:\n  - id: us\n  - id: eu\n"
    "locations:\n"
    "  - {id: dc-us, region: us}\n"
    "  - {id: dc-eu, region: eu}\n"
    "buffers:\n"
    "  - {sku: A, backorder: 6}\n"
    "  - {sku: A, region: eu, units: 1, backorder: 2}\n";

enum { N_SKU = 2, N_REG = 2, N_STEPS = 3000, MAX_OPEN = 64 };
static const char *const test_skus[N_SKU] = {"A", "B"};
static const int64_t test_budget[N_SKU][N_REG] = {{6, 2}, {0, 0}};
static const int64_t test_buffer[N_SKU][N_REG] = {{0, 1}, {0, 0}};

typedef struct test_answer {
    atp_err err;
    bool granted;
    uint32_t n;
    struct {
        uint32_t region;
        int64_t qty, backordered;
    } lines[4];
} test_answer;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_answer *a = arg;
    memset(a, 0, sizeof *a);
    a->err = res->err;
    a->granted = res->granted;
    a->n = res->has_record ? res->n_lines : 0;
    for (uint32_t i = 0; i < a->n && i < 4; i++) {
        a->lines[i].region = res->lines[i].region;
        a->lines[i].qty = res->lines[i].qty;
        a->lines[i].backordered = res->lines[i].backordered;
    }
}

/* The model: per (sku, region) supply and reserved; open reservations
 * with what each holds per region. */
typedef struct test_model {
    int64_t supply[N_SKU][N_REG], reserved[N_SKU][N_REG];
    struct {
        char id[16];
        int sku;
        int64_t held[N_REG];
    } open[MAX_OPEN];
    int n_open;
} test_model;

static int64_t test_model_atp(const test_model *m, int s, int r)
{
    int64_t x = m->supply[s][r] - m->reserved[s][r] - test_buffer[s][r];
    return x > 0 ? x : 0;
}

static int64_t test_model_used(const test_model *m, int s, int r)
{
    int64_t sellable = m->supply[s][r] - test_buffer[s][r];
    int64_t x = m->reserved[s][r] - (sellable > 0 ? sellable : 0);
    return x > 0 ? x : 0;
}

static int64_t test_model_left(const test_model *m, int s, int r)
{
    int64_t x = test_budget[s][r] - test_model_used(m, s, r);
    return x > 0 ? x : 0;
}

static void test_set_stock(engine *e, int s, int r, int64_t qty)
{
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .location = (uint16_t)r,
                       .sku_len = 1,
                       .sku = test_skus[s],
                       .value = qty};
    engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
}

static test_answer test_submit(engine *e, engine_resv_req *req)
{
    test_answer a;
    req->done = test_done;
    req->arg = &a;
    assert_int_equal(engine_resv_submit(e, req), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return a;
}

/* Every row as atpd answers it against the model. */
static void test_compare(engine *e, const test_model *m, int step)
{
    for (int s = 0; s < N_SKU; s++)
        for (int r = 0; r < N_REG; r++) {
            engine_answer a;
            engine_query(e, test_skus[s], 1, (uint32_t)r, 0, &a);
            if (a.atp != test_model_atp(m, s, r) ||
                a.reserved != m->reserved[s][r] ||
                a.backorder_budget != test_budget[s][r] ||
                (test_budget[s][r] > 0 &&
                 (a.backorder_used != test_model_used(m, s, r) ||
                  a.backorder_left != test_model_left(m, s, r))))
                fail_msg("step %d, %s@%d: atp %lld reserved %lld used %lld "
                         "left %lld; model %lld %lld %lld %lld",
                         step, test_skus[s], r, (long long)a.atp,
                         (long long)a.reserved, (long long)a.backorder_used,
                         (long long)a.backorder_left,
                         (long long)test_model_atp(m, s, r),
                         (long long)m->reserved[s][r],
                         (long long)test_model_used(m, s, r),
                         (long long)test_model_left(m, s, r));
        }
}

/* One reserve of qty of SKU s: in region r0, or split over r0 then the
 * other region; backorder, partial as given. The model's prediction is
 * computed first, from the docs' rule. */
static void test_step_reserve(engine *e, test_model *m, int step,
                              unsigned *seed)
{
    int s = rand_r(seed) % N_SKU, r0 = rand_r(seed) % N_REG;
    bool split = rand_r(seed) % 4 == 0, bo = rand_r(seed) % 3 != 0,
         partial = rand_r(seed) % 4 == 0;
    int64_t qty = 1 + rand_r(seed) % 6;
    int regions[2] = {r0, 1 - r0}, n_reg = split ? 2 : 1;
    /* prediction: ATP in order, then budgets left in order */
    int64_t take[2] = {0, 0}, beyond[2] = {0, 0}, want = qty;
    for (int k = 0; k < n_reg; k++) {
        int64_t atp = test_model_atp(m, s, regions[k]);
        take[k] = want < atp ? want : atp;
        want -= take[k];
    }
    for (int k = 0; bo && k < n_reg; k++) {
        int64_t left = test_model_left(m, s, regions[k]);
        beyond[k] = want < left ? want : left;
        take[k] += beyond[k];
        want -= beyond[k];
    }
    bool granted = partial ? want < qty : want == 0;
    if (granted && m->n_open == MAX_OPEN)
        return; /* the model's table is full: no reserve this step */
    char id[16];
    snprintf(id, sizeof id, "r%d", step);
    uint32_t other = (uint32_t)regions[1];
    engine_resv_line line = {.sku = test_skus[s],
                             .sku_len = 1,
                             .region = (uint32_t)r0,
                             .qty = qty,
                             .split = split ? &other : NULL,
                             .n_split = split ? 1 : 0};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = &line,
                           .n_lines = 1,
                           .partial = partial,
                           .backorder = bo};
    test_answer a = test_submit(e, &req);
    assert_int_equal(a.err, ATP_OK);
    if (a.granted != granted)
        fail_msg("step %d: reserve %s %lld @%d%s%s%s: granted %d, model %d",
                 step, test_skus[s], (long long)qty, r0, split ? " split" : "",
                 bo ? " backorder" : "", partial ? " partial" : "", a.granted,
                 granted);
    if (!granted)
        return;
    /* the reservation's lines: one per region that gave something */
    uint32_t k_line = 0;
    m->open[m->n_open].sku = s;
    memcpy(m->open[m->n_open].id, id, sizeof id);
    memset(m->open[m->n_open].held, 0, sizeof m->open[m->n_open].held);
    for (int k = 0; k < n_reg; k++) {
        if (take[k] == 0)
            continue;
        assert_true(k_line < a.n);
        assert_int_equal(a.lines[k_line].region, (uint32_t)regions[k]);
        assert_int_equal(a.lines[k_line].qty, take[k]);
        assert_int_equal(a.lines[k_line].backordered, beyond[k]);
        k_line++;
        m->reserved[s][regions[k]] += take[k];
        m->open[m->n_open].held[regions[k]] += take[k];
        /* a grant beyond ATP ends within the budget */
        if (beyond[k] > 0)
            assert_true(test_model_used(m, s, regions[k]) <=
                        test_budget[s][regions[k]]);
    }
    assert_int_equal(a.n, k_line);
    m->n_open++;
}

static void test_step_release(engine *e, test_model *m, unsigned *seed)
{
    if (m->n_open == 0)
        return;
    int i = rand_r(seed) % m->n_open;
    engine_resv_req req = {.op = ENGINE_RESV_RELEASE,
                           .id = m->open[i].id,
                           .id_len = (uint32_t)strlen(m->open[i].id)};
    test_answer a = test_submit(e, &req);
    assert_int_equal(a.err, ATP_OK);
    for (int r = 0; r < N_REG; r++)
        m->reserved[m->open[i].sku][r] -= m->open[i].held[r];
    m->open[i] = m->open[--m->n_open];
}

/* A memory-only engine running on test_yaml. */
static engine *test_engine(config *cfg)
{
    test_load(cfg, test_yaml);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    return e;
}

static void test_backorder_model(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    test_model m = {0};
    unsigned seed = 19;
    int beyond_grants = 0, over_budget = 0;
    for (int step = 1; step <= N_STEPS; step++) {
        int op = rand_r(&seed) % 10;
        if (op < 6) {
            int64_t before = 0;
            for (int s = 0; s < N_SKU; s++)
                for (int r = 0; r < N_REG; r++)
                    before += test_model_used(&m, s, r);
            test_step_reserve(e, &m, step, &seed);
            int64_t after = 0;
            for (int s = 0; s < N_SKU; s++)
                for (int r = 0; r < N_REG; r++)
                    after += test_model_used(&m, s, r);
            beyond_grants += after > before;
        } else if (op < 9) {
            test_step_release(e, &m, &seed);
        } else { /* stock arrives or is lost */
            int s = rand_r(&seed) % N_SKU, r = rand_r(&seed) % N_REG;
            m.supply[s][r] = rand_r(&seed) % 8;
            test_set_stock(e, s, r, m.supply[s][r]);
        }
        test_compare(e, &m, step);
        for (int s = 0; s < N_SKU; s++)
            for (int r = 0; r < N_REG; r++)
                over_budget += test_model_used(&m, s, r) > test_budget[s][r];
    }
    /* the sequence means something: grants beyond ATP happened, and stock
     * loss took some row beyond its budget (no grant can) */
    assert_true(beyond_grants > 50);
    assert_true(over_budget > 0);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_true(st.backorder_reserves > 0);
    assert_true(st.backorder_units >= st.backorder_reserves);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* A replay is told by the backorder flag too: the same lines without it
 * (or a plain reserve's id with it) are a conflict; with it, the original
 * answer, backordered included. */
static void test_backorder_replay(void **state)
{
    (void)state;
    config cfg;
    engine *e = test_engine(&cfg);
    test_set_stock(e, 0, 0, 2);
    engine_resv_line line = {.sku = "A", .sku_len = 1, .region = 0, .qty = 5};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = "x",
                           .id_len = 1,
                           .lines = &line,
                           .n_lines = 1,
                           .backorder = true};
    test_answer a = test_submit(e, &req);
    assert_true(a.granted);
    assert_int_equal(a.lines[0].backordered, 3);
    a = test_submit(e, &req);
    assert_true(a.granted);
    assert_int_equal(a.lines[0].backordered, 3);
    req.backorder = false;
    assert_int_equal(test_submit(e, &req).err, ATP_E_CONFLICT);
    req.id = "y"; /* plain, then the same id with backorder */
    line.qty = 1;
    test_set_stock(e, 0, 0, 9);
    assert_true(test_submit(e, &req).granted);
    req.backorder = true;
    assert_int_equal(test_submit(e, &req).err, ATP_E_CONFLICT);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* A SKU never seen takes a budget only from a rule naming it (a preorder):
 * a global budget does not turn a mistyped SKU into a promise. */
static void test_backorder_unknown_sku(void **state)
{
    (void)state;
    static const char yaml[] = "regions:\n  - id: us\n"
                               "locations:\n  - {id: dc-us, region: us}\n"
                               "buffers:\n"
                               "  - {backorder: 5}\n"
                               "  - {sku: P, backorder: 4}\n";
    config cfg;
    test_load(&cfg, yaml);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(&cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    engine_resv_line line = {.sku = "TYPO", .sku_len = 4, .qty = 1};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = "t",
                           .id_len = 1,
                           .lines = &line,
                           .n_lines = 1,
                           .backorder = true};
    test_answer a = test_submit(e, &req);
    assert_false(a.granted);
    engine_answer unknown; /* nor does its answer show the budget */
    engine_query(e, "TYPO", 4, 0, 0, &unknown);
    assert_int_equal(unknown.backorder_budget, 0);
    assert_int_equal(unknown.backorder_left, 0);
    engine_stats st;
    engine_stats_get(e, &st);
    assert_int_equal(st.skus, 0); /* nothing interned */
    line = (engine_resv_line){.sku = "P", .sku_len = 1, .qty = 4};
    req.id = "p";
    a = test_submit(e, &req);
    assert_true(a.granted);
    assert_int_equal(a.lines[0].backordered, 4);
    engine_answer ans;
    engine_query(e, "P", 1, 0, 0, &ans);
    assert_int_equal(ans.reserved, 4);
    assert_int_equal(ans.backorder_left, 0);
    /* a known SKU (stock reported, now 0) takes the global budget */
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .sku_len = 1,
                       .sku = "K",
                       .value = 0};
    engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    line = (engine_resv_line){.sku = "K", .sku_len = 1, .qty = 5};
    req.id = "k";
    a = test_submit(e, &req);
    assert_true(a.granted);
    assert_int_equal(a.lines[0].backordered, 5);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backorder_model),
        cmocka_unit_test(test_backorder_replay),
        cmocka_unit_test(test_backorder_unknown_sku),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
