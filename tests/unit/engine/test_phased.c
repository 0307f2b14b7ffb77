/*
 * test_phased.c - dated reservations and the preorder hold (src/engine/
 * phased.c, resv.c) against a model written from docs/PROTOCOL.md, "The
 * time-phased formula" and "Dated reservations": a seeded sequence of
 * dated and ordinary reserves, releases, inbound lots added, moved later
 * (late), shrunk, cancelled and received, stock changes and clock advances
 * (dates that arrive, lots that enter the horizon), on two SKUs in a
 * region with a 2-day horizon and one with none. After every step each
 * row's today answer (atp, reserved) and its promise answer (atp_on at
 * several dates, the earliest date of several quantities, the hold, dated
 * units, the preorder shortfall) are compared with the model, which finds
 * minima by trying every instant where something changes; a reserve is
 * granted exactly when the model's atp_on(promise_ms) covers it.
 *
 * A stepped engine (engine_start_stepped): the test is its thread, and its
 * clock is the test's, so a date or a lot's horizon arrives exactly when
 * the test moves the clock past it. Memory-only (no store).
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

#define HOUR 3600000LL
#define DAY (24 * HOUR)

static const char test_yaml[] =
    "regions:\n  - {id: near, inbound_horizon: 2d}\n"
    "  - {id: far, inbound_horizon: 0}\n"
    "locations:\n"
    "  - {id: dc-near, region: near}\n"
    "  - {id: dc-far, region: far}\n"
    "reservations: {max_ttl: 366d}\n"
    "buffers:\n  - {sku: B, region: far, units: 2}\n";

enum { N_SKU = 2, N_REG = 2, N_STEPS = 1500, MAX_OPEN = 48, MAX_LOTS = 24 };
static const char *const test_skus[N_SKU] = {"A", "B"};
static const int64_t test_horizon[N_REG] = {2 * DAY, 0};
static const int64_t test_buffer[N_SKU][N_REG] = {{0, 0}, {0, 2}};

typedef struct test_lot {
    char id[8];
    int sku, region;
    int64_t qty, eta;
} test_lot;

typedef struct test_open {
    char id[16];
    int sku, region;
    int64_t qty, promise; /* promise 0: ordinary */
} test_open;

typedef struct test_model {
    int64_t now;
    int64_t on_hand[N_SKU][N_REG];
    test_lot lots[MAX_LOTS];
    int n_lots;
    test_open open[MAX_OPEN];
    int n_open;
} test_model;

/* ---- the model ----------------------------------------------------------- */

static bool test_lot_counted(const test_model *m, const test_lot *l)
{
    int64_t h = test_horizon[l->region];
    return h > 0 && l->eta - h <= m->now;
}

static int64_t test_supply(const test_model *m, int s, int r)
{
    int64_t x = m->on_hand[s][r] > 0 ? m->on_hand[s][r] : 0;
    for (int i = 0; i < m->n_lots; i++) {
        const test_lot *l = &m->lots[i];
        if (l->sku == s && l->region == r && test_lot_counted(m, l))
            x += l->qty;
    }
    return x;
}

static bool test_dated(const test_model *m, const test_open *o)
{
    return o->promise > m->now;
}

static int64_t test_ordinary(const test_model *m, int s, int r)
{
    int64_t x = 0;
    for (int i = 0; i < m->n_open; i++)
        if (m->open[i].sku == s && m->open[i].region == r &&
            !test_dated(m, &m->open[i]))
            x += m->open[i].qty;
    return x;
}

static int64_t test_future_by(const test_model *m, int s, int r, int64_t t)
{
    int64_t x = 0;
    for (int i = 0; i < m->n_lots; i++) {
        const test_lot *l = &m->lots[i];
        int64_t at = l->eta > m->now ? l->eta : m->now + 1;
        if (l->sku == s && l->region == r && !test_lot_counted(m, l) && at <= t)
            x += l->qty;
    }
    return x;
}

static int64_t test_dated_by(const test_model *m, int s, int r, int64_t t)
{
    int64_t x = 0;
    for (int i = 0; i < m->n_open; i++) {
        const test_open *o = &m->open[i];
        if (o->sku == s && o->region == r && test_dated(m, o) &&
            o->promise <= t)
            x += o->qty;
    }
    return x;
}

/* Every instant from now on where something of the row changes. */
static int test_instants(const test_model *m, int s, int r, int64_t *t)
{
    int n = 0;
    t[n++] = m->now;
    for (int i = 0; i < m->n_lots; i++)
        if (m->lots[i].sku == s && m->lots[i].region == r)
            t[n++] = m->lots[i].eta > m->now ? m->lots[i].eta : m->now + 1;
    for (int i = 0; i < m->n_open; i++)
        if (m->open[i].sku == s && m->open[i].region == r &&
            test_dated(m, &m->open[i]))
            t[n++] = m->open[i].promise;
    return n;
}

static int64_t test_available_on(const test_model *m, int s, int r, int64_t t)
{
    return test_supply(m, s, r) + test_future_by(m, s, r, t) -
           test_buffer[s][r] - test_ordinary(m, s, r) -
           test_dated_by(m, s, r, t);
}

static int64_t test_atp_on(const test_model *m, int s, int r, int64_t d)
{
    int64_t t[1 + MAX_LOTS + MAX_OPEN], low = INT64_MAX;
    int n = test_instants(m, s, r, t);
    if (d < m->now)
        d = m->now;
    for (int i = 0; i < n; i++) {
        int64_t at = t[i] < d ? d : t[i]; /* the value at d, or later */
        int64_t a = test_available_on(m, s, r, at);
        if (a < low)
            low = a;
    }
    return low > 0 ? low : 0;
}

static int64_t test_hold(const test_model *m, int s, int r)
{
    int64_t t[1 + MAX_LOTS + MAX_OPEN], hold = 0;
    int n = test_instants(m, s, r, t);
    for (int i = 0; i < n; i++) {
        int64_t need =
            test_dated_by(m, s, r, t[i]) - test_future_by(m, s, r, t[i]);
        if (need > hold)
            hold = need;
    }
    return hold;
}

static int64_t test_earliest(const test_model *m, int s, int r, int64_t q)
{
    int64_t t[1 + MAX_LOTS + MAX_OPEN], best = -1;
    int n = test_instants(m, s, r, t);
    for (int i = 0; i < n; i++)
        if (test_atp_on(m, s, r, t[i]) >= q && (best < 0 || t[i] < best))
            best = t[i];
    return best;
}

/* ---- the engine ---------------------------------------------------------- */

typedef struct test_answer {
    atp_err err;
    bool granted, dated;
    int64_t available;
} test_answer;

static void test_resv_done(void *arg, const engine_resv_result *res)
{
    test_answer *a = arg;
    a->err = res->err;
    a->granted = res->granted;
    a->dated = res->dated;
    a->available = !res->granted && res->n_lines > 0 && res->lines != NULL
                       ? res->lines[0].available
                       : -1;
}

typedef struct test_promise {
    bool answered;
    atp_err err;
    engine_promise_result r;
    int64_t point_ms[ENGINE_PROMISE_POINTS], point_atp[ENGINE_PROMISE_POINTS];
} test_promise;

static void test_promise_done(void *arg, const engine_promise *x)
{
    test_promise *p = arg;
    p->answered = true;
    p->err = x->err;
    if (x->err == ATP_OK) {
        p->r = x->lines[0];
        for (uint32_t i = 0; i < p->r.n_points; i++) {
            p->point_ms[i] = x->point_ms[i];
            p->point_atp[i] = x->point_atp[i];
        }
    }
}

static void test_events(engine *e, test_model *m, engine_event *ev, int n)
{
    engine_batch b = {.events = ev, .n = (uint32_t)n, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    engine_step(e, m->now);
}

static test_answer test_reserve(engine *e, test_model *m, const char *id, int s,
                                int r, int64_t qty, int64_t promise)
{
    test_answer a = {.err = ATP_E_IO};
    engine_resv_line line = {
        .sku = test_skus[s], .sku_len = 1, .region = (uint32_t)r, .qty = qty};
    engine_resv_req req = {.op = ENGINE_RESV_RESERVE,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = &line,
                           .n_lines = 1,
                           .ttl_ms = 300 * DAY,
                           .promise_ms = promise,
                           .done = test_resv_done,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    engine_step(e, m->now);
    return a;
}

/* What the run went through: a model test that never saw a hold, a
 * shortfall or a date arrive would prove little. */
static struct {
    int dated_grants, holds, shortfalls, refusals, conversions;
} test_seen;

static void test_compare(engine *e, const test_model *m, int step)
{
    for (int s = 0; s < N_SKU; s++)
        for (int r = 0; r < N_REG; r++) {
            engine_answer a;
            engine_query(e, test_skus[s], 1, (uint32_t)r, 0, &a);
            int64_t hold = test_hold(m, s, r);
            int64_t reserved = test_ordinary(m, s, r) + hold;
            test_seen.holds += hold > 0;
            test_seen.shortfalls += reserved > test_supply(m, s, r) && hold > 0;
            int64_t atp = test_atp_on(m, s, r, m->now);
            if (a.atp != atp || a.reserved != reserved) {
                for (int i = 0; i < m->n_lots; i++)
                    fprintf(stderr, "lot %s %s@%d qty %lld eta now%+lld\n",
                            m->lots[i].id, test_skus[m->lots[i].sku],
                            m->lots[i].region, (long long)m->lots[i].qty,
                            (long long)(m->lots[i].eta - m->now));
                fprintf(stderr, "on_hand %lld supply %lld engine supply %lld\n",
                        (long long)m->on_hand[s][r],
                        (long long)test_supply(m, s, r), (long long)a.supply);
                fail_msg("step %d %s@%d: atp %lld reserved %lld; model %lld "
                         "%lld (hold %lld)",
                         step, test_skus[s], r, (long long)a.atp,
                         (long long)a.reserved, (long long)atp,
                         (long long)reserved, (long long)hold);
            }
            const int64_t dates[] = {m->now + 5 * HOUR, m->now + 3 * DAY,
                                     m->now + 8 * DAY, m->now + 40 * DAY};
            for (int k = 0; k < 4; k++) {
                int64_t q = 1 + k * 7;
                engine_promise_line pl = {test_skus[s], 1, q};
                test_promise p = {0};
                assert_int_equal(engine_promise_submit(e, (uint32_t)r, 0, &pl,
                                                       1, dates[k], true,
                                                       test_promise_done, &p),
                                 ATP_OK);
                engine_step(e, m->now);
                assert_true(p.answered);
                assert_int_equal(p.err, ATP_OK);
                int64_t on = test_atp_on(m, s, r, dates[k]);
                int64_t early = test_earliest(m, s, r, q);
                int64_t dated = test_dated_by(m, s, r, INT64_MAX);
                int64_t free_now =
                    test_supply(m, s, r) - test_ordinary(m, s, r);
                int64_t shortfall = hold - (free_now > 0 ? free_now : 0);
                if (p.r.atp_on_date != on || p.r.earliest_ms != early ||
                    p.r.hold != hold || p.r.dated != dated ||
                    p.r.shortfall != (shortfall > 0 ? shortfall : 0) ||
                    p.r.max_promisable != test_atp_on(m, s, r, INT64_MAX))
                    fail_msg("step %d %s@%d date +%lld qty %lld: atp_on %lld "
                             "earliest %lld hold %lld dated %lld short %lld "
                             "max %lld; model %lld %lld %lld %lld %lld %lld",
                             step, test_skus[s], r,
                             (long long)(dates[k] - m->now), (long long)q,
                             (long long)p.r.atp_on_date,
                             (long long)p.r.earliest_ms, (long long)p.r.hold,
                             (long long)p.r.dated, (long long)p.r.shortfall,
                             (long long)p.r.max_promisable, (long long)on,
                             (long long)early, (long long)hold,
                             (long long)dated, (long long)shortfall,
                             (long long)test_atp_on(m, s, r, INT64_MAX));
                /* the schedule rises, from now, and ends at the maximum */
                assert_true(p.r.n_points >= 1);
                assert_int_equal(p.point_ms[0], m->now);
                for (uint32_t i = 1; i < p.r.n_points; i++)
                    assert_true(p.point_atp[i] > p.point_atp[i - 1]);
                assert_int_equal(p.point_atp[p.r.n_points - 1],
                                 p.r.max_promisable);
            }
        }
}

/* ---- the steps ----------------------------------------------------------- */

static void test_step_reserve(engine *e, test_model *m, int step,
                              unsigned *seed)
{
    if (m->n_open == MAX_OPEN)
        return;
    int s = rand_r(seed) % N_SKU, r = rand_r(seed) % N_REG;
    int64_t qty = 1 + rand_r(seed) % 8;
    int64_t promise =
        rand_r(seed) % 3 == 0
            ? 0
            : m->now - HOUR + rand_r(seed) % (int)(10 * DAY / 1000) * 1000LL;
    int64_t can = test_atp_on(m, s, r, promise > m->now ? promise : m->now);
    char id[16];
    snprintf(id, sizeof id, "r%d", step);
    test_answer a = test_reserve(e, m, id, s, r, qty, promise);
    assert_int_equal(a.err, ATP_OK);
    if (a.granted != (qty <= can))
        fail_msg("step %d: reserve %lld of %s@%d for +%lld ms: granted %d, "
                 "model atp_on %lld",
                 step, (long long)qty, test_skus[s], r,
                 (long long)(promise - m->now), a.granted, (long long)can);
    test_seen.dated_grants += a.granted && promise > m->now;
    if (!a.granted) {
        test_seen.refusals++;
        assert_int_equal(a.available, can);
        return;
    }
    assert_int_equal(a.dated, promise > m->now);
    test_open *o = &m->open[m->n_open++];
    snprintf(o->id, sizeof o->id, "%s", id);
    o->sku = s;
    o->region = r;
    o->qty = qty;
    o->promise = promise;
    /* A replay with another date is a conflict; with the same, the grant. */
    test_answer x = test_reserve(e, m, id, s, r, qty, promise + 1);
    assert_int_equal(x.err, ATP_E_CONFLICT);
    x = test_reserve(e, m, id, s, r, qty, promise);
    assert_int_equal(x.err, ATP_OK);
    assert_true(x.granted);
}

static void test_step_release(engine *e, test_model *m, unsigned *seed)
{
    if (m->n_open == 0)
        return;
    int i = rand_r(seed) % m->n_open;
    test_answer a = {.err = ATP_E_IO};
    engine_resv_req req = {.op = ENGINE_RESV_RELEASE,
                           .id = m->open[i].id,
                           .id_len = (uint32_t)strlen(m->open[i].id),
                           .done = test_resv_done,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    engine_step(e, m->now);
    assert_int_equal(a.err, ATP_OK);
    m->open[i] = m->open[--m->n_open];
}

static void test_step_lot(engine *e, test_model *m, int step, unsigned *seed)
{
    int what = rand_r(seed) % 5;
    if (m->n_lots == 0 || (what == 0 && m->n_lots < MAX_LOTS)) {
        if (m->n_lots == MAX_LOTS)
            return;
        test_lot *l = &m->lots[m->n_lots++];
        snprintf(l->id, sizeof l->id, "L%d", step);
        l->sku = rand_r(seed) % N_SKU;
        l->region = rand_r(seed) % N_REG;
        l->qty = rand_r(seed) % 30;
        l->eta = m->now - DAY + rand_r(seed) % (int)(12 * DAY / 1000) * 1000LL;
        engine_event ev = {.kind = ATP_EV_LOT_ADD,
                           .location = (uint16_t)l->region,
                           .sku = test_skus[l->sku],
                           .sku_len = 1,
                           .ref = l->id,
                           .ref_len = (uint32_t)strlen(l->id),
                           .value = l->qty,
                           .eta_ms = l->eta};
        test_events(e, m, &ev, 1);
        return;
    }
    int i = rand_r(seed) % m->n_lots;
    test_lot *l = &m->lots[i];
    engine_event ev = {.location = (uint16_t)l->region,
                       .sku = test_skus[l->sku],
                       .sku_len = 1,
                       .ref = l->id,
                       .ref_len = (uint32_t)strlen(l->id)};
    if (what == 1 || what == 2) { /* late (moved later) or shrunk */
        ev.kind = ATP_EV_LOT_CHANGE;
        if (what == 1)
            l->eta += rand_r(seed) % (int)(4 * DAY / 1000) * 1000LL;
        else
            l->qty = l->qty / 2;
        ev.value = l->qty;
        ev.eta_ms = l->eta;
        test_events(e, m, &ev, 1);
        return;
    }
    ev.kind = what == 3 ? ATP_EV_LOT_CANCEL : ATP_EV_LOT_RECEIVE;
    ev.receive_to_on_hand = what == 4;
    if (what == 4)
        m->on_hand[l->sku][l->region] += l->qty;
    test_events(e, m, &ev, 1); /* before l's slot (ev.ref) is reused */
    *l = m->lots[--m->n_lots];
}

static void test_step_stock(engine *e, test_model *m, unsigned *seed)
{
    int s = rand_r(seed) % N_SKU, r = rand_r(seed) % N_REG;
    m->on_hand[s][r] = rand_r(seed) % 12;
    engine_event ev = {.kind = ATP_EV_SET,
                       .bucket = ATP_BUCKET_ON_HAND,
                       .location = (uint16_t)r,
                       .sku = test_skus[s],
                       .sku_len = 1,
                       .value = m->on_hand[s][r]};
    test_events(e, m, &ev, 1);
}

static void test_phased_model(void **state)
{
    (void)state;
    config cfg;
    test_load(&cfg, test_yaml);
    engine_persist persist = {0};
    engine *e;
    assert_int_equal(engine_alloc(&cfg, &persist, &e), ATP_OK);
    assert_int_equal(engine_start_stepped(e), ATP_OK);
    test_model m = {.now = 1800000000000LL};
    unsigned seed = 23;
    const char *env = getenv("ATP_TEST_SEED");
    if (env != NULL)
        seed = (unsigned)strtoul(env, NULL, 10);
    const unsigned seed0 = seed;
    engine_step(e, m.now);
    for (int step = 0; step < N_STEPS; step++) {
        int what = rand_r(&seed) % 10;
        if (what < 4)
            test_step_reserve(e, &m, step, &seed);
        else if (what < 5)
            test_step_release(e, &m, &seed);
        else if (what < 7)
            test_step_lot(e, &m, step, &seed);
        else if (what < 8)
            test_step_stock(e, &m, &seed);
        else { /* time passes: dates arrive, lots enter the horizon */
            int64_t was = m.now;
            m.now += rand_r(&seed) % (int)(7 * HOUR / 1000) * 1000LL;
            for (int i = 0; i < m.n_open; i++)
                test_seen.conversions +=
                    m.open[i].promise > was && m.open[i].promise <= m.now;
            engine_step(e, m.now);
        }
        test_compare(e, &m, step);
    }
    fprintf(stderr,
            "seed %u: %d dated grants, %d refusals, %d dates arrived; rows "
            "with a hold %d times, with a preorder shortfall %d times\n",
            seed0, test_seen.dated_grants, test_seen.refusals,
            test_seen.conversions, test_seen.holds, test_seen.shortfalls);
    assert_true(test_seen.dated_grants > 50 && test_seen.refusals > 50);
    assert_true(test_seen.conversions > 10 && test_seen.holds > 50 &&
                test_seen.shortfalls > 10);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phased_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
