/*
 * sim_ops.c - the simulation's model of ATP and its reservation operations
 * (sim.h): supply, reserved, buffer and ATP from what was applied and
 * acknowledged; reserve, retry, commit, release of all or one line,
 * extend and get, alone or in bursts that share a group commit, each
 * answer checked against the model and applied to it, in submission order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- the model ---------------------------------------------------------- */

int64_t sim_supply(const sim *s, uint32_t sku, uint32_t region)
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
void sim_reserved(const sim *s, uint32_t sku, uint32_t region, int64_t *lo,
                  int64_t *hi)
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

/* The buffer of sim_yaml_fmt's two rules: max(units, ceil(percent * supply)).
 */
int64_t sim_buffer(uint32_t sku, uint32_t region, uint32_t channel,
                   int64_t supply)
{
    if (sku == 0)
        return 2;
    if (region == 1 && channel == 2) /* west, store */
        return supply > 0 ? (supply * 10 + 99) / 100 : 0;
    return 0;
}

int64_t sim_atp(int64_t supply, int64_t reserved, int64_t buffer)
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
    bool crashed = sim_store_settle(s, crash);
    if (crashed) {
        /* an operation not answered before the crash was not acknowledged:
         * the model keeps nothing of it; the answered ones stand */
        for (uint32_t i = 0; i < n; i++)
            if (!ops[i].answered) {
                ops[i].err = ATP_E_IO;
                ops[i].answered = true;
                s->lost++;
            }
    }
    /* the answers are judged against what was applied when they were
     * given, before a restart empties the positions */
    bool store_err = false;
    for (uint32_t i = 0; i < n && !s->failed; i++)
        sim_apply_answer(s, &ops[i], &store_err);
    if (crashed) {
        sim_boot(s);
        s->restarts++;
    }
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

void sim_reservations(sim *s, bool crash)
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
void sim_resolve_due(sim *s)
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
