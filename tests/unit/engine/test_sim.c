/*
 * test_sim.c - the seeded simulation of the engine (issue 17, "Deterministic
 * engine"; TigerBeetle's VOPR is the model).
 *
 * One pseudo-random generator, seeded, decides everything: the source
 * feeds (SET and DELTA on on_hand and allocated over two sources, four
 * locations in two regions, four SKUs), reservation operations (reserve,
 * idempotent retries, commit, release of all or one line, extend, get),
 * bursts of them that share a group commit, clock advances that make
 * reservations expire, a fake store that fails writes (an error at the
 * completion, or store_full at once) and crashes (what it has not
 * acknowledged is lost), and restarts (the stored records load into a new
 * engine through engine_resv_load; the sources resend their feeds, as
 * they do after a restart without a snapshot). The engine runs stepped
 * (engine_step) on this thread with the simulated clock, so a seed always
 * gives the same run.
 *
 * A model kept here, independent of the engine, holds what was
 * acknowledged; after every step the engine must agree with it:
 * - supply is the sum over the region's locations of max(0, on_hand -
 *   allocated), reserved the sum of the open reservations' open lines
 *   (within the due ones the engine has not yet been seen to expire), and
 *   ATP = max(0, supply - reserved - buffer) (../shared/DESIGN.md), never
 *   negative;
 * - a reserve is granted exactly when every line fits the model's ATP at
 *   that moment, and a refusal reports that ATP;
 * - an acknowledged operation survives a crash and restart, an
 *   unacknowledged one leaves no trace (the fake store lost it);
 * - a retry with the same id gets the original answer (granted, the
 *   record as it is now); operations give the state the model predicts.
 *
 * A failed check prints the seed and the step: run
 *   ATP_SIM_SEED=<seed> ./unit_engine_sim
 * to replay exactly that run. ATP_SIM_SEEDS=<n> runs n seeds from
 * ATP_SIM_SEED (default: one from the clock, printed) and ATP_SIM_STEPS
 * the steps of each (docs/ARCHITECTURE.md, "Checked rules").
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "common/log.h"
#include "config/config.h"
#include "engine/engine.h"

#define SIM_SKUS 4
#define SIM_LOCS 4 /* L0, L1 in east; L2, L3 in west */
#define SIM_REGIONS 2
#define SIM_CHANNELS 3   /* default (built in), web, store */
#define SIM_RESV 256     /* reservation ids per run */
#define SIM_LINES 2      /* lines per reservation at most */
#define SIM_BATCHES 4096 /* source messages per run at most */
#define SIM_BATCH_EVENTS 4
#define SIM_BURST 4
#define SIM_STORE_RECORDS 512
#define SIM_STORE_PENDING 4          /* one group is in flight at a time */
#define SIM_WRITE_OPS (2 * SIM_RESV) /* a mass expiry writes many */
#define SIM_COMMITTED_TTL 10000
#define SIM_DEFAULT_STEPS 400

static const char sim_yaml[] =
    "regions:\n"
    "  - id: east\n"
    "  - id: west\n"
    "locations:\n"
    "  - {id: L0, region: east}\n"
    "  - {id: L1, region: east}\n"
    "  - {id: L2, region: west}\n"
    "  - {id: L3, region: west}\n"
    "channels: [web, store]\n"
    "sources:\n"
    "  - id: erp\n"
    "    authority:\n"
    "      - {locations: [L0, L1, L2, L3], buckets: [on_hand]}\n"
    "  - id: wms\n"
    "    authority:\n"
    "      - {locations: [L0, L1, L2, L3], buckets: [allocated]}\n"
    "buffers:\n"
    "  - {sku: S0, units: 2}\n"
    "  - {region: west, channel: store, percent: 10}\n"
    "reservations:\n"
    "  default_ttl: 5s\n"
    "  min_ttl: 1s\n"
    "  max_ttl: 20s\n"
    "  committed_ttl: 10s\n"
    "service:\n"
    "  snapshot_interval: 1h\n";

static const char *const sim_skus[SIM_SKUS] = {"S0", "S1", "S2", "S3"};
static const uint32_t sim_loc_region[SIM_LOCS] = {0, 0, 1, 1};

/* ---- the run's state ---------------------------------------------------- */

typedef struct sim_line {
    uint32_t sku, region;
    int64_t qty;
    bool released;
} sim_line;

/* One reservation id as the model knows it: exists once a reserve of it
 * was acknowledged as granted. */
typedef struct sim_resv {
    char id[16];
    bool exists;
    engine_resv_state state;
    uint32_t channel;
    uint32_t n_lines;
    sim_line lines[SIM_LINES];
    int64_t expires_ms;
    /* what the engine is asked (kept until answered) */
    engine_resv_line req_lines[SIM_LINES];
} sim_resv;

typedef struct sim_batch {
    engine_event ev[SIM_BATCH_EVENTS];
    uint32_t n;
    uint32_t source;
    uint64_t seq;
} sim_batch;

typedef struct sim_record {
    char key[16];
    size_t key_len;
    unsigned char *val;
    size_t val_len;
} sim_record;

typedef struct sim_write {
    sim_record ops[SIM_WRITE_OPS];
    bool del[SIM_WRITE_OPS];
    size_t n;
    void (*done)(void *arg, atp_err err);
    void *arg;
} sim_write;

/* The fake store: the records it acknowledged, the writes it holds. */
typedef struct sim_store {
    sim_record recs[SIM_STORE_RECORDS];
    size_t n_recs;
    sim_write pending[SIM_STORE_PENDING];
    size_t n_pending;
    int mode; /* 0 healthy, 1 failing writes, 2 full */
    uint64_t writes, failed, full;
} sim_store;

/* One operation in flight and its answer. */
typedef struct sim_op {
    engine_resv_req req;
    engine_resv_line release_line;
    int kind; /* SIM_OP_* */
    uint32_t resv;
    bool answered;
    atp_err err;
    bool granted, replayed, has_record;
    engine_resv_state state;
    int64_t expires_ms;
    int64_t line_qty[SIM_LINES], line_released[SIM_LINES], available[SIM_LINES];
    uint32_t n_lines;
} sim_op;

enum {
    SIM_OP_RESERVE,
    SIM_OP_RETRY,
    SIM_OP_COMMIT,
    SIM_OP_RELEASE_ALL,
    SIM_OP_RELEASE_LINE,
    SIM_OP_EXTEND,
    SIM_OP_GET
};

typedef struct sim {
    uint64_t seed, rng;
    uint64_t step;
    int64_t now;
    config cfg;
    engine *e;
    sim_store store;
    int64_t bucket[SIM_SKUS][SIM_LOCS][2]; /* on_hand, allocated */
    sim_batch batches[SIM_BATCHES];
    uint32_t n_batches;
    uint64_t seq[2];
    sim_resv resv[SIM_RESV];
    uint32_t n_resv;
    bool failed;
    uint64_t restarts, grants, refusals, expiries, store_errors;
    uint64_t lost; /* operations in flight at a crash: never acknowledged */
} sim;

#define SIM_CHECK(s, cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "sim: seed %" PRIu64 " step %" PRIu64 ": ",        \
                    (s)->seed, (s)->step);                                     \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr,                                                    \
                    "\nsim: reproduce with ATP_SIM_SEED=%" PRIu64              \
                    " unit_engine_sim\n",                                      \
                    (s)->seed);                                                \
            (s)->failed = true;                                                \
            return;                                                            \
        }                                                                      \
    } while (0)

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t sim_next(sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t sim_below(sim *s, uint32_t n)
{
    return (uint32_t)(sim_next(s) % n);
}
static int64_t sim_range(sim *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_next(s) % (uint64_t)(hi - lo + 1));
}
static bool sim_chance(sim *s, uint32_t percent)
{
    return sim_below(s, 100) < percent;
}

/* ---- the fake store ----------------------------------------------------- */

static sim_record *sim_store_find(sim_store *st, const void *key, size_t len)
{
    for (size_t i = 0; i < st->n_recs; i++)
        if (st->recs[i].key_len == len &&
            memcmp(st->recs[i].key, key, len) == 0)
            return &st->recs[i];
    return NULL;
}

static void sim_store_apply(sim_store *st, sim_write *w)
{
    for (size_t i = 0; i < w->n; i++) {
        sim_record *op = &w->ops[i];
        sim_record *r = sim_store_find(st, op->key, op->key_len);
        if (w->del[i]) {
            if (r != NULL) {
                free(r->val);
                *r = st->recs[--st->n_recs];
            }
            continue;
        }
        if (r == NULL) {
            if (st->n_recs == SIM_STORE_RECORDS)
                abort(); /* the sim's ids are fewer */
            r = &st->recs[st->n_recs++];
            memcpy(r->key, op->key, op->key_len);
            r->key_len = op->key_len;
        } else {
            free(r->val);
        }
        r->val = op->val;
        r->val_len = op->val_len;
        op->val = NULL;
    }
}

static void sim_write_free(sim_write *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->ops[i].val);
    w->n = 0;
}

/* engine_persist.write: copies the records and holds them until the sim
 * completes the write (sim_store_settle) or crashes. */
static atp_err sim_store_write(void *ctx, const engine_record_op *ops, size_t n,
                               void (*done)(void *arg, atp_err err), void *arg)
{
    sim_store *st = ctx;
    if (st->mode == 2) {
        st->full++;
        return ATP_E_STORE_FULL;
    }
    if (st->n_pending == SIM_STORE_PENDING ||
        n > sizeof st->pending[0].ops / sizeof st->pending[0].ops[0])
        abort(); /* one group in flight at a time: never */
    sim_write *w = &st->pending[st->n_pending++];
    w->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].db != ENGINE_DB_RESERVATIONS ||
            ops[i].key_len >= sizeof w->ops[0].key)
            abort(); /* no snapshots in stepped mode, ids are short */
        sim_record *r = &w->ops[w->n];
        memcpy(r->key, ops[i].key, ops[i].key_len);
        r->key_len = ops[i].key_len;
        w->del[w->n] = ops[i].val == NULL;
        r->val = NULL;
        r->val_len = ops[i].val_len;
        if (ops[i].val != NULL) {
            r->val = malloc(ops[i].val_len ? ops[i].val_len : 1);
            if (r->val == NULL)
                abort();
            memcpy(r->val, ops[i].val, ops[i].val_len);
        }
        w->n++;
    }
    w->done = done;
    w->arg = arg;
    st->writes++;
    return ATP_OK;
}

/* ---- the engine's life -------------------------------------------------- */

static void sim_release(void *owner, bool applied)
{
    bool *ok = owner;
    *ok = applied;
}

static bool sim_batch_applied;

static void sim_submit_batch(sim *s, sim_batch *b)
{
    engine_batch eb = {.events = b->ev,
                       .n = b->n,
                       .from_source = true,
                       .source = b->source,
                       .seq = b->seq,
                       .ts_ms = (uint64_t)s->now,
                       .release = sim_release,
                       .owner = &sim_batch_applied};
    sim_batch_applied = false;
    if (engine_submit(s->e, &eb) != ATP_OK)
        abort();
    engine_step(s->e, s->now);
}

/* A new engine on what the store holds, fed again by the sources. */
static void sim_boot(sim *s)
{
    engine_persist p = {.ctx = &s->store, .write = sim_store_write};
    if (engine_alloc(&s->cfg, &p, &s->e) != ATP_OK)
        abort();
    for (size_t i = 0; i < s->store.n_recs; i++) {
        sim_record *r = &s->store.recs[i];
        if (engine_resv_load(s->e, r->key, r->key_len, r->val, r->val_len) !=
            ATP_OK)
            abort();
    }
    if (engine_start_stepped(s->e) != ATP_OK)
        abort();
    for (uint32_t i = 0; i < s->n_batches; i++) {
        sim_submit_batch(s, &s->batches[i]);
        if (!sim_batch_applied)
            abort();
    }
    engine_step(s->e, s->now);
}

/* A crash: the engine goes away with whatever it had not stored, the store
 * loses the writes it had not acknowledged. */
static void sim_crash(sim *s)
{
    engine_free(s->e);
    s->e = NULL;
    for (size_t i = 0; i < s->store.n_pending; i++)
        sim_write_free(&s->store.pending[i]);
    s->store.n_pending = 0;
}

/* Completes the store's writes (each OK, or an error while failing) until
 * none is left, stepping the engine after each; with crash, the first one
 * is lost with a crash and restart instead. */
static bool sim_store_settle(sim *s, bool crash)
{
    bool crashed = false;
    while (s->store.n_pending > 0) {
        if (crash && !crashed) {
            sim_crash(s);
            sim_boot(s);
            s->restarts++;
            crashed = true;
            continue;
        }
        sim_write w = s->store.pending[0];
        memmove(&s->store.pending[0], &s->store.pending[1],
                --s->store.n_pending * sizeof w);
        atp_err err = ATP_OK;
        if (s->store.mode == 1 && sim_chance(s, 70)) {
            err = ATP_E_IO;
            s->store.failed++;
            sim_write_free(&w);
        } else {
            sim_store_apply(&s->store, &w);
            sim_write_free(&w);
        }
        w.done(w.arg, err);
        engine_step(s->e, s->now);
    }
    return crashed;
}

/* ---- the model ---------------------------------------------------------- */

static int64_t sim_supply(const sim *s, uint32_t sku, uint32_t region)
{
    int64_t sum = 0;
    for (uint32_t l = 0; l < SIM_LOCS; l++) {
        if (sim_loc_region[l] != region)
            continue;
        int64_t free_stock = s->bucket[sku][l][0] - s->bucket[sku][l][1];
        sum += free_stock > 0 ? free_stock : 0;
    }
    return sum;
}

static bool sim_open(engine_resv_state st)
{
    return st == ENGINE_RESV_HELD || st == ENGINE_RESV_COMMITTED;
}

/* The model's reserved of (sku, region): *lo counts the open reservations
 * not yet due, *hi also the due ones the engine may not have expired. */
static void sim_reserved(const sim *s, uint32_t sku, uint32_t region,
                         int64_t *lo, int64_t *hi)
{
    *lo = *hi = 0;
    for (uint32_t i = 0; i < s->n_resv; i++) {
        const sim_resv *r = &s->resv[i];
        if (!r->exists || !sim_open(r->state))
            continue;
        for (uint32_t k = 0; k < r->n_lines; k++) {
            const sim_line *l = &r->lines[k];
            if (l->sku != sku || l->region != region || l->released)
                continue;
            *hi += l->qty;
            if (r->expires_ms > s->now)
                *lo += l->qty;
        }
    }
}

/* The buffer of sim_yaml's two rules: max(units, ceil(percent * supply)). */
static int64_t sim_buffer(uint32_t sku, uint32_t region, uint32_t channel,
                          int64_t supply)
{
    if (sku == 0)
        return 2;
    if (region == 1 && channel == 2) /* west, store */
        return supply > 0 ? (supply * 10 + 99) / 100 : 0;
    return 0;
}

static int64_t sim_atp(int64_t supply, int64_t reserved, int64_t buffer)
{
    int64_t atp = supply - reserved - buffer;
    return atp > 0 ? atp : 0;
}

/* ---- operations --------------------------------------------------------- */

static void sim_op_done(void *arg, const engine_resv_result *res)
{
    sim_op *op = arg;
    op->answered = true;
    op->err = res->err;
    op->granted = res->granted;
    op->replayed = res->replayed;
    op->has_record = res->has_record;
    op->state = res->state;
    op->expires_ms = res->expires_ms;
    op->n_lines = res->n_lines < SIM_LINES ? res->n_lines : SIM_LINES;
    for (uint32_t i = 0; i < op->n_lines; i++) {
        op->line_qty[i] = res->lines[i].qty;
        op->line_released[i] = res->lines[i].released;
        op->available[i] = res->lines[i].available;
    }
}

static void sim_op_submit(sim *s, sim_op *op, int kind, uint32_t ri)
{
    sim_resv *r = &s->resv[ri];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->resv = ri;
    engine_resv_req *q = &op->req;
    q->id = r->id;
    q->id_len = (uint32_t)strlen(r->id);
    q->done = sim_op_done;
    q->arg = op;
    switch (kind) {
    case SIM_OP_RESERVE:
    case SIM_OP_RETRY:
        q->op = ENGINE_RESV_RESERVE;
        q->channel = r->channel;
        q->lines = r->req_lines;
        q->n_lines = r->n_lines;
        q->ttl_ms = sim_range(s, 1000, 8000);
        break;
    case SIM_OP_COMMIT:
        q->op = ENGINE_RESV_COMMIT;
        break;
    case SIM_OP_RELEASE_ALL:
        q->op = ENGINE_RESV_RELEASE;
        break;
    case SIM_OP_RELEASE_LINE:
        q->op = ENGINE_RESV_RELEASE;
        op->release_line = r->req_lines[sim_below(s, r->n_lines)];
        q->lines = &op->release_line;
        q->n_lines = 1;
        break;
    case SIM_OP_EXTEND:
        q->op = ENGINE_RESV_EXTEND;
        q->ttl_ms = sim_range(s, 1000, 8000);
        break;
    default:
        q->op = ENGINE_RESV_GET;
        break;
    }
    if (engine_resv_submit(s->e, q) != ATP_OK)
        abort(); /* the queue holds far more than a burst */
}

/* The record in the answer is the model's. */
static void sim_check_record(sim *s, const sim_op *op, const sim_resv *r)
{
    SIM_CHECK(s, op->has_record, "%s: answer without the record", r->id);
    SIM_CHECK(s, op->state == r->state, "%s: state %s, model %s", r->id,
              engine_resv_state_name(op->state),
              engine_resv_state_name(r->state));
    SIM_CHECK(s, op->n_lines == r->n_lines, "%s: %u lines, model %u", r->id,
              op->n_lines, r->n_lines);
    if (sim_open(r->state)) {
        SIM_CHECK(s, op->expires_ms == r->expires_ms,
                  "%s: expires %" PRId64 ", model %" PRId64, r->id,
                  op->expires_ms, r->expires_ms);
        for (uint32_t i = 0; i < r->n_lines; i++)
            SIM_CHECK(s,
                      op->line_released[i] ==
                          (r->lines[i].released ? r->lines[i].qty : 0),
                      "%s line %u: released %" PRId64 ", model %s", r->id, i,
                      op->line_released[i],
                      r->lines[i].released ? "all" : "none");
    }
}

/* A reserve's decision against the model's ATP before it: exact, unless
 * the engine may have expired due reservations unseen (reserved between
 * lo and hi) or an earlier operation of the burst failed in the store
 * (refusal_known false: the refusal may have counted what it held). */
static void sim_check_reserve(sim *s, const sim_op *op, sim_resv *r,
                              bool refusal_known)
{
    bool fits_lo = true, fits_hi = true;
    for (uint32_t i = 0; i < r->n_lines; i++) {
        const sim_line *l = &r->lines[i];
        int64_t supply = sim_supply(s, l->sku, l->region), lo, hi;
        int64_t buffer = sim_buffer(l->sku, l->region, r->channel, supply);
        sim_reserved(s, l->sku, l->region, &lo, &hi);
        fits_lo &= l->qty <= sim_atp(supply, lo, buffer);
        fits_hi &= l->qty <= sim_atp(supply, hi, buffer);
        if (!op->granted && refusal_known && lo == hi)
            SIM_CHECK(s, op->available[i] == sim_atp(supply, hi, buffer),
                      "%s line %u: refusal says available %" PRId64
                      ", model %" PRId64,
                      r->id, i, op->available[i], sim_atp(supply, hi, buffer));
    }
    if (op->granted)
        SIM_CHECK(s, fits_lo, "%s: granted beyond ATP", r->id);
    else if (refusal_known)
        SIM_CHECK(s, !fits_hi, "%s: refused although every line fits", r->id);
}

/* What op's answer means for the model, in submission order. store_err:
 * an earlier operation of the burst failed in the store, so a refusal may
 * have counted what it held then. */
static void sim_apply_answer(sim *s, const sim_op *op, bool *store_err)
{
    sim_resv *r = &s->resv[op->resv];
    SIM_CHECK(s, op->answered, "%s: operation %d never answered", r->id,
              op->kind);
    if (op->err == ATP_E_IO || op->err == ATP_E_STORE_FULL) {
        *store_err = true;
        s->store_errors++;
        return; /* nothing was done */
    }
    bool open = r->exists && sim_open(r->state);
    switch (op->kind) {
    case SIM_OP_RESERVE:
        SIM_CHECK(s, op->err == ATP_OK, "%s: reserve %s", r->id,
                  atp_err_name(op->err));
        sim_check_reserve(s, op, r, !*store_err);
        if (s->failed || !op->granted) {
            s->refusals++;
            return;
        }
        r->exists = true;
        r->state = ENGINE_RESV_HELD;
        r->expires_ms = s->now + op->req.ttl_ms;
        for (uint32_t i = 0; i < r->n_lines; i++)
            r->lines[i].released = false;
        s->grants++;
        sim_check_record(s, op, r);
        return;
    case SIM_OP_RETRY:
        SIM_CHECK(s, op->err == ATP_OK && op->granted && op->replayed,
                  "%s: retry answered %s granted %d replayed %d", r->id,
                  atp_err_name(op->err), op->granted, op->replayed);
        sim_check_record(s, op, r);
        return;
    case SIM_OP_COMMIT:
        if (r->state == ENGINE_RESV_RELEASED ||
            r->state == ENGINE_RESV_EXPIRED) {
            SIM_CHECK(s, op->err == ATP_E_BAD_STATE,
                      "%s: commit of a %s one: %s", r->id,
                      engine_resv_state_name(r->state), atp_err_name(op->err));
            return;
        }
        SIM_CHECK(s, op->err == ATP_OK, "%s: commit %s", r->id,
                  atp_err_name(op->err));
        if (r->state == ENGINE_RESV_HELD) {
            r->state = ENGINE_RESV_COMMITTED;
            r->expires_ms = s->now + SIM_COMMITTED_TTL;
        }
        sim_check_record(s, op, r);
        return;
    case SIM_OP_RELEASE_ALL:
    case SIM_OP_RELEASE_LINE:
        SIM_CHECK(s, op->err == ATP_OK, "%s: release %s", r->id,
                  atp_err_name(op->err));
        if (open) {
            bool any_open = false;
            for (uint32_t i = 0; i < r->n_lines; i++) {
                sim_line *l = &r->lines[i];
                if (op->kind == SIM_OP_RELEASE_ALL ||
                    (l->sku == (uint32_t)(op->release_line.sku[1] - '0') &&
                     l->region == op->release_line.region))
                    l->released = true;
                any_open |= !l->released;
            }
            if (!any_open)
                r->state = ENGINE_RESV_RELEASED;
        }
        sim_check_record(s, op, r);
        return;
    case SIM_OP_EXTEND:
        if (!open) {
            SIM_CHECK(s, op->err == ATP_E_BAD_STATE,
                      "%s: extend of a %s one: %s", r->id,
                      engine_resv_state_name(r->state), atp_err_name(op->err));
            return;
        }
        SIM_CHECK(s, op->err == ATP_OK, "%s: extend %s", r->id,
                  atp_err_name(op->err));
        r->expires_ms = s->now + op->req.ttl_ms;
        sim_check_record(s, op, r);
        return;
    default: /* GET: how the engine sees a due reservation */
        SIM_CHECK(s, op->err == ATP_OK && op->has_record, "%s: get %s", r->id,
                  atp_err_name(op->err));
        if (op->state == ENGINE_RESV_EXPIRED && open) {
            SIM_CHECK(s, r->expires_ms <= s->now,
                      "%s: expired at %" PRId64 ", due %" PRId64, r->id, s->now,
                      r->expires_ms);
            r->state = ENGINE_RESV_EXPIRED;
            s->expiries++;
        }
        sim_check_record(s, op, r);
        return;
    }
}

/* Runs ops[0..n) to their answers (or a crash) and applies the answers. */
static void sim_run_ops(sim *s, sim_op *ops, uint32_t n, bool crash)
{
    engine_step(s->e, s->now);
    if (sim_store_settle(s, crash)) {
        /* an operation not answered before the crash was not acknowledged:
         * the model keeps nothing of it; the answered ones stand */
        for (uint32_t i = 0; i < n; i++)
            if (!ops[i].answered) {
                ops[i].err = ATP_E_IO;
                ops[i].answered = true;
                s->lost++;
            }
    }
    bool store_err = false;
    for (uint32_t i = 0; i < n && !s->failed; i++)
        sim_apply_answer(s, &ops[i], &store_err);
}

/* A new reservation id with 1-2 lines on distinct (SKU, region)s. */
static uint32_t sim_new_resv(sim *s)
{
    uint32_t ri = s->n_resv++;
    sim_resv *r = &s->resv[ri];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "r%u", ri);
    r->channel = sim_below(s, SIM_CHANNELS);
    r->n_lines = 1 + sim_below(s, SIM_LINES);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        sim_line *l = &r->lines[i];
        do {
            l->sku = sim_below(s, SIM_SKUS);
            l->region = sim_below(s, SIM_REGIONS);
        } while (i > 0 && l->sku == r->lines[0].sku &&
                 l->region == r->lines[0].region);
        l->qty = sim_range(s, 1, 12);
        r->req_lines[i] = (engine_resv_line){.sku = sim_skus[l->sku],
                                             .sku_len = 2,
                                             .region = l->region,
                                             .qty = l->qty};
    }
    return ri;
}

/* An operation on a random known reservation (or a new one). */
static void sim_pick_op(sim *s, sim_op *op, uint32_t *used, uint32_t n_used)
{
    uint32_t ri = UINT32_MAX;
    for (int tries = 0; tries < 8 && s->n_resv > 0; tries++) {
        uint32_t c = sim_below(s, s->n_resv);
        bool taken = false;
        for (uint32_t i = 0; i < n_used; i++)
            taken |= used[i] == c;
        /* not a due one the engine may have expired unseen (a failed get) */
        if (!taken && s->resv[c].exists &&
            !(sim_open(s->resv[c].state) && s->resv[c].expires_ms <= s->now)) {
            ri = c;
            break;
        }
    }
    if (ri == UINT32_MAX || sim_chance(s, 45)) {
        if (s->n_resv == SIM_RESV) {
            op->kind = -1;
            return;
        }
        ri = sim_new_resv(s);
        used[n_used] = ri;
        sim_op_submit(s, op, SIM_OP_RESERVE, ri);
        return;
    }
    used[n_used] = ri;
    static const int kinds[] = {SIM_OP_RETRY,       SIM_OP_COMMIT,
                                SIM_OP_RELEASE_ALL, SIM_OP_RELEASE_LINE,
                                SIM_OP_EXTEND,      SIM_OP_GET};
    sim_op_submit(s, op, kinds[sim_below(s, 6)], ri);
}

static void sim_reservations(sim *s, bool crash)
{
    sim_op ops[SIM_BURST];
    uint32_t used[SIM_BURST];
    uint32_t n = sim_chance(s, 30) ? 2 + sim_below(s, SIM_BURST - 1) : 1, k = 0;
    for (uint32_t i = 0; i < n; i++) {
        sim_pick_op(s, &ops[k], used, k);
        if (ops[k].kind >= 0)
            k++;
    }
    sim_run_ops(s, ops, k, crash);
}

/* Asks the engine about every due reservation the model still has open. */
static void sim_resolve_due(sim *s)
{
    for (uint32_t i = 0; i < s->n_resv && !s->failed; i++) {
        sim_resv *r = &s->resv[i];
        if (!r->exists || !sim_open(r->state) || r->expires_ms > s->now)
            continue;
        sim_op op;
        sim_op_submit(s, &op, SIM_OP_GET, i);
        sim_run_ops(s, &op, 1, false);
    }
}

/* ---- feeds -------------------------------------------------------------- */

static void sim_feed(sim *s)
{
    if (s->n_batches == SIM_BATCHES)
        return;
    sim_batch *b = &s->batches[s->n_batches++];
    b->source = sim_below(s, 2);
    b->seq = ++s->seq[b->source];
    b->n = 1 + sim_below(s, SIM_BATCH_EVENTS);
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t sku = sim_below(s, SIM_SKUS), loc = sim_below(s, SIM_LOCS);
        bool set = sim_chance(s, 40);
        int64_t v = b->source == 0
                        ? (set ? sim_range(s, 0, 60) : sim_range(s, -10, 20))
                        : (set ? sim_range(s, 0, 15) : sim_range(s, -6, 8));
        int64_t *bucket = &s->bucket[sku][loc][b->source];
        *bucket = set ? v : *bucket + v;
        b->ev[i] =
            (engine_event){.kind = set ? ATP_EV_SET : ATP_EV_DELTA,
                           .bucket = b->source == 0 ? ATP_BUCKET_ON_HAND
                                                    : ATP_BUCKET_ALLOCATED,
                           .location = (uint16_t)loc,
                           .sku = sim_skus[sku],
                           .sku_len = 2,
                           .value = v};
    }
    sim_submit_batch(s, b);
    SIM_CHECK(s, sim_batch_applied, "batch %u not applied", s->n_batches - 1);
}

/* ---- invariants --------------------------------------------------------- */

static void sim_check(sim *s)
{
    for (uint32_t sku = 0; sku < SIM_SKUS; sku++) {
        for (uint32_t rg = 0; rg < SIM_REGIONS; rg++) {
            int64_t supply = sim_supply(s, sku, rg), lo, hi;
            sim_reserved(s, sku, rg, &lo, &hi);
            for (uint32_t ch = 0; ch < SIM_CHANNELS; ch++) {
                engine_answer a;
                engine_query(s->e, sim_skus[sku], 2, rg, ch, &a);
                int64_t buffer = sim_buffer(sku, rg, ch, supply);
                SIM_CHECK(s, a.supply == supply,
                          "%s/%u: supply %" PRId64 ", model %" PRId64,
                          sim_skus[sku], rg, a.supply, supply);
                SIM_CHECK(s, a.reserved >= lo && a.reserved <= hi,
                          "%s/%u: reserved %" PRId64 ", model %" PRId64
                          "..%" PRId64,
                          sim_skus[sku], rg, a.reserved, lo, hi);
                SIM_CHECK(s, a.buffer == buffer,
                          "%s/%u/%u: buffer %" PRId64 " (level %u, %" PRId64
                          " bp, supply %" PRId64 "), model %" PRId64,
                          sim_skus[sku], rg, ch, a.buffer,
                          (unsigned)a.rule_level, a.buffer_percent_bp, a.supply,
                          buffer);
                SIM_CHECK(
                    s,
                    a.atp == sim_atp(supply, a.reserved, buffer) && a.atp >= 0,
                    "%s/%u/%u: atp %" PRId64 ", model %" PRId64, sim_skus[sku],
                    rg, ch, a.atp, sim_atp(supply, a.reserved, buffer));
            }
        }
    }
}

/* ---- a run -------------------------------------------------------------- */

static void sim_step(sim *s)
{
    uint32_t roll = sim_below(s, 100);
    if (roll < 30) {
        sim_feed(s);
    } else if (roll < 70) {
        sim_reservations(s, false);
    } else if (roll < 84) {
        s->now += sim_range(s, 1, 3000);
        engine_step(s->e, s->now);
        sim_store_settle(s, false);
    } else if (roll < 92) {
        int mode = sim_chance(s, 60) ? 0 : sim_chance(s, 70) ? 1 : 2;
        s->store.mode = mode;
    } else if (roll < 96) {
        sim_reservations(s, true); /* a crash while they are in flight */
    } else {
        sim_crash(s); /* a crash between operations: a plain restart */
        sim_boot(s);
        s->restarts++;
    }
    if (!s->failed)
        sim_resolve_due(s);
    if (!s->failed)
        sim_check(s);
}

static bool sim_run(uint64_t seed, uint64_t steps, bool verbose)
{
    static sim s_; /* large: not on the stack */
    sim *s = &s_;
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->rng = seed;
    s->now =
        1700000000000; /* a fixed wall clock: the run is the seed's alone */
    config_diags diags = {0};
    if (config_load_string(sim_yaml, strlen(sim_yaml), &s->cfg, &diags) !=
        ATP_OK) {
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                    diags.items[i].message);
        abort();
    }
    config_diags_fini(&diags);
    sim_boot(s);
    for (s->step = 1; s->step <= steps && !s->failed; s->step++)
        sim_step(s);
    if (s->failed)
        s->step--;
    if (verbose || s->failed)
        printf("sim: seed %" PRIu64 ": %" PRIu64 " steps %s: %" PRIu64
               " granted, %" PRIu64 " refused, %" PRIu64 " expired, %" PRIu64
               " store errors, %" PRIu64 " restarts (%" PRIu64
               " operations lost in flight)\n",
               seed, s->step > steps ? steps : s->step,
               s->failed ? "FAILED" : "ok", s->grants, s->refusals, s->expiries,
               s->store_errors, s->restarts, s->lost);
    engine_free(s->e);
    for (size_t i = 0; i < s->store.n_recs; i++)
        free(s->store.recs[i].val);
    for (size_t i = 0; i < s->store.n_pending; i++)
        sim_write_free(&s->store.pending[i]);
    config_fini(&s->cfg);
    return !s->failed;
}

static uint64_t sim_env(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtoull(v, NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    /* The store failures the run causes would log every time. */
    log_set_level(LOG_ERROR);
    uint64_t steps = sim_env("ATP_SIM_STEPS", SIM_DEFAULT_STEPS);
    const char *one = argc > 1 ? argv[1] : getenv("ATP_SIM_SEED");
    uint64_t many = sim_env("ATP_SIM_SEEDS", 0);
    if (many > 0) {
        uint64_t base =
            one != NULL ? strtoull(one, NULL, 10) : (uint64_t)time(NULL);
        printf("sim: %" PRIu64 " seeds from %" PRIu64 "\n", many, base);
        for (uint64_t i = 0; i < many; i++)
            if (!sim_run(base + i, steps, false))
                return 1;
        printf("sim: %" PRIu64 " seeds ok\n", many);
        return 0;
    }
    if (one != NULL)
        return sim_run(strtoull(one, NULL, 10), steps, true) ? 0 : 1;
    /* make test: a fixed list, each short */
    static const uint64_t seeds[] = {1, 2, 3, 17, 42, 1234, 99991, 20261206};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        if (!sim_run(seeds[i], steps, true))
            return 1;
    return 0;
}
