/*
 * sim_check.c - the simulation's invariants (sim.h): after every step the
 * engine's answers against the model; after a quiet period on a healed
 * network, that everything converged and the engine's positions are the
 * publishers'.
 */
#include <inttypes.h>
#include <stdio.h>

#include "sim.h"

void sim_check(sim *s)
{
    for (uint32_t src = 0; src < SIM_SOURCES; src++) {
        sources_status st;
        sources_status_get(s->srcs, src, s->now, &st);
        SIM_CHECK(s, st.last_seq == s->model[src].applied,
                  "%s: sources says seq %" PRIu64
                  " applied, the model %" PRIu64,
                  sim_source_ids[src], st.last_seq, s->model[src].applied);
    }
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

/* sim_converged: every publisher up, every source ok, everything each sent
 * applied, and the model's fold its state; else false and why. */
static bool sim_converged(sim *s, char *why, size_t n)
{
    for (uint32_t src = 0; src < SIM_SOURCES; src++) {
        const sim_pub *p = &s->pub[src];
        const char *id = sim_source_ids[src];
        sources_status st;
        sources_status_get(s->srcs, src, s->now, &st);
        if (p->down) {
            snprintf(why, n, "%s: its publisher is restarting", id);
            return false;
        }
        if (st.state != SOURCES_OK) {
            snprintf(why, n, "%s: %s", id, sources_state_name(st.state));
            return false;
        }
        if (s->model[src].applied != p->seq) {
            snprintf(why, n, "%s: seq %" PRIu64 " applied of %" PRIu64 " sent",
                     id, s->model[src].applied, p->seq);
            return false;
        }
        for (uint32_t k = 0; k < SIM_SKUS; k++)
            for (uint32_t l = 0; l < SIM_LOCS; l++)
                if (s->bucket[k][l][src] != p->state[k][l]) {
                    snprintf(why, n,
                             "%s: ok with every seq applied, but %s at %s is "
                             "%" PRId64 ", its publisher's %" PRId64,
                             id, sim_skus[k], sim_locs[l], s->bucket[k][l][src],
                             p->state[k][l]);
                    return false;
                }
    }
    return true;
}

typedef struct sim_positions {
    bool done;
    atp_err err;
    int64_t pos[SIM_LOCS][SIM_SOURCES]; /* on_hand, allocated */
} sim_positions;

static void sim_explain_done(void *arg, const engine_explain *x)
{
    sim_positions *p = arg;
    p->done = true;
    p->err = x->err;
    for (uint32_t i = 0; x->err == ATP_OK && i < x->n_locs; i++) {
        if (x->locs[i].location >= SIM_LOCS)
            continue;
        p->pos[x->locs[i].location][0] = x->locs[i].on_hand;
        p->pos[x->locs[i].location][1] = x->locs[i].allocated;
    }
}

/* The engine's position at every location (engine_explain) is the
 * publishers' current state, and no region is stale. */
static void sim_check_positions(sim *s)
{
    for (uint32_t sku = 0; sku < SIM_SKUS; sku++) {
        sim_positions p = {0};
        SIM_CHECK(s,
                  engine_explain_submit(s->e, sim_skus[sku], 2,
                                        sim_explain_done, &p) == ATP_OK,
                  "explain of %s refused", sim_skus[sku]);
        engine_step(s->e, s->now);
        SIM_CHECK(s, p.done && p.err == ATP_OK, "explain of %s: %s",
                  sim_skus[sku], atp_err_name(p.err));
        for (uint32_t l = 0; l < SIM_LOCS; l++)
            for (uint32_t src = 0; src < SIM_SOURCES; src++)
                SIM_CHECK(s, p.pos[l][src] == s->pub[src].state[sku][l],
                          "healed: %s at %s: the engine's %s is %" PRId64
                          ", publisher %s's %" PRId64,
                          sim_skus[sku], sim_locs[l],
                          src == 0 ? "on_hand" : "allocated", p.pos[l][src],
                          sim_source_ids[src], s->pub[src].state[sku][l]);
        for (uint32_t rg = 0; rg < SIM_REGIONS; rg++) {
            engine_answer a;
            engine_query(s->e, sim_skus[sku], 2, rg, 0, &a);
            SIM_CHECK(s, !a.stale, "healed: %s/%u still stale", sim_skus[sku],
                      rg);
        }
    }
    sim_store_settle(s, false);
}

/* A quiet period: the network heals (no loss, no duplicates, in order, at
 * once) and time passes until everything converged, which must happen
 * within SIM_HEAL_MAX_MS (resync retries, a takeover, a conflict that
 * ends, a gapped source's snapshot all fit in it). */
void sim_heal(sim *s)
{
    s->heals++;
    s->net.mode = SIM_NET_HEALED;
    char why[200] = "";
    int64_t start = s->now;
    while (!s->failed) {
        s->now += SIM_TICK_MS;
        sim_tick(s);
        if (s->failed || sim_converged(s, why, sizeof why))
            break;
        SIM_CHECK(s, s->now - start < SIM_HEAL_MAX_MS,
                  "%" PRId64 " ms after the network healed, not converged: %s",
                  s->now - start, why);
    }
    if (!s->failed)
        sim_check_positions(s);
}
