/*
 * sim_ingest.c - the real ingest core between the simulation's network and
 * the engine (sim.h): its hooks, and the check of every batch it hands on
 * against what the publisher sent (exactly once, in order, a seq skipped
 * only when sources reports it, a snapshot never older than what was
 * applied), folded into the model before the engine applies it; a second
 * publisher whose conflict must change nothing.
 */
#include <inttypes.h>
#include <string.h>

#include "atp/wire.h"
#include "sim.h"

/* A resync request goes to the publisher through the network. */
void sim_ingest_request(void *ctx, uint32_t src, sources_resync_mode mode,
                        uint64_t from_seq)
{
    sim *s = ctx;
    sim_net_send(s, (sim_packet){.src = src,
                                 .request = true,
                                 .snapshot = mode == SOURCES_RESYNC_SNAPSHOT,
                                 .from = from_seq});
}

/* b's events are those of the publisher's message h, in its order. */
static bool sim_events_match(uint32_t src, const engine_batch *b,
                             const sim_pub_msg *h)
{
    if (b->n != h->n)
        return false;
    for (uint32_t i = 0; i < b->n; i++) {
        const engine_event *ev = &b->events[i];
        if (ev->kind != (h->ev[i].set ? ATP_EV_SET : ATP_EV_DELTA) ||
            ev->bucket != sim_source_bucket[src] ||
            ev->location != h->ev[i].loc || ev->sku_len != 2 ||
            memcmp(ev->sku, sim_skus[h->ev[i].sku], 2) != 0 ||
            ev->value != h->ev[i].value)
            return false;
    }
    return true;
}

/* b's events set every position of src's authority to state, once each. */
static bool sim_snapshot_match(uint32_t src, const engine_batch *b,
                               const int64_t state[SIM_SKUS][SIM_LOCS])
{
    bool seen[SIM_SKUS][SIM_LOCS] = {{false}};
    if (b->n != SIM_SKUS * SIM_LOCS)
        return false;
    for (uint32_t i = 0; i < b->n; i++) {
        const engine_event *ev = &b->events[i];
        uint32_t sku = ev->sku_len == 2 && ev->sku[0] == 'S'
                           ? (uint32_t)(ev->sku[1] - '0')
                           : SIM_SKUS;
        if (ev->kind != ATP_EV_SET || ev->bucket != sim_source_bucket[src] ||
            sku >= SIM_SKUS || ev->location >= SIM_LOCS ||
            seen[sku][ev->location] || ev->value != state[sku][ev->location])
            return false;
        seen[sku][ev->location] = true;
    }
    return true;
}

static void sim_observe_snapshot(sim *s, const engine_batch *b)
{
    static const int64_t none[SIM_SKUS][SIM_LOCS];
    uint32_t src = b->source;
    sim_src_model *m = &s->model[src];
    const char *id = sim_source_ids[src];
    if (m->reset_pending)
        SIM_CHECK(s, b->restarts_sequence,
                  "%s: its first snapshot after source_reset (seq %" PRIu64
                  ") does not restart the sequence",
                  id, b->seq);
    else
        SIM_CHECK(s, !b->restarts_sequence && b->seq >= m->applied,
                  "%s: a snapshot at seq %" PRIu64 " applied after seq %" PRIu64
                  " (restarts_sequence %d)",
                  id, b->seq, m->applied, b->restarts_sequence);
    const int64_t(*state)[SIM_LOCS] =
        b->seq == 0 ? none : s->pub[src].hist[b->seq - 1].state;
    SIM_CHECK(s, sim_snapshot_match(src, b, state),
              "%s: the snapshot at seq %" PRIu64 " handed on (%u events) is "
              "not its publisher's state then",
              id, b->seq, b->n);
    for (uint32_t k = 0; k < SIM_SKUS; k++)
        for (uint32_t l = 0; l < SIM_LOCS; l++)
            s->bucket[k][l][src] = state[k][l];
    m->applied = b->seq;
    m->heard = true;
    m->reset_pending = false;
    m->takeover_pending = false;
}

static void sim_observe_batch(sim *s, const engine_batch *b)
{
    uint32_t src = b->source;
    sim_src_model *m = &s->model[src];
    const char *id = sim_source_ids[src];
    SIM_CHECK(s, !m->reset_pending && !b->restarts_sequence,
              "%s: seq %" PRIu64 " applied after source_reset, before its "
              "snapshot",
              id, b->seq);
    SIM_CHECK(s, !m->takeover_pending,
              "%s: seq %" PRIu64 " applied after a new session took over, "
              "before its snapshot",
              id, b->seq);
    SIM_CHECK(s, b->seq > m->applied,
              "%s: seq %" PRIu64 " applied after seq %" PRIu64
              ": twice, or out of order",
              id, b->seq, m->applied);
    uint64_t skipped = b->seq - m->applied - 1;
    if (skipped > 0 && !m->heard && !s->cfg.sources[src].resync) {
        /* A source that cannot resend, first heard since atpd started:
         * sources starts where it is (sources_receive). */
        s->started_late += skipped;
    } else if (skipped > 0) {
        sources_status st;
        sources_status_get(s->srcs, src, s->now, &st);
        SIM_CHECK(
            s,
            st.missed - m->missed_seen >= skipped &&
                (st.state == SOURCES_GAPPED || st.state == SOURCES_CONFLICT),
            "%s: seq %" PRIu64 " applied after seq %" PRIu64 ", %" PRIu64
            " skipped without a gap reported (missed %" PRIu64 ", %" PRIu64
            " accounted; state %s)",
            id, b->seq, m->applied, skipped, st.missed, m->missed_seen,
            sources_state_name(st.state));
        m->missed_seen += skipped;
        s->skipped += skipped;
    }
    const sim_pub_msg *h = &s->pub[src].hist[b->seq - 1];
    SIM_CHECK(s, sim_events_match(src, b, h),
              "%s: seq %" PRIu64 " handed on with %u events, not the %u its "
              "publisher sent",
              id, b->seq, b->n, h->n);
    for (uint32_t i = 0; i < h->n; i++) {
        int64_t *cell = &s->bucket[h->ev[i].sku][h->ev[i].loc][src];
        *cell = h->ev[i].set ? h->ev[i].value : *cell + h->ev[i].value;
    }
    m->applied = b->seq;
    m->heard = true;
}

/* Every batch ingest hands on, checked against what the publisher sent
 * and folded into the model before the engine applies it. */
static void sim_observe(sim *s, const engine_batch *b)
{
    SIM_CHECK(s, b->from_source && b->source < SIM_SOURCES,
              "a batch not from a source handed on (from_source %d, source "
              "%u)",
              b->from_source, b->source);
    SIM_CHECK(s, b->seq <= s->pub[b->source].seq,
              "%s: seq %" PRIu64
              " handed on; its publisher sent up to %" PRIu64,
              sim_source_ids[b->source], b->seq, s->pub[b->source].seq);
    if (b->replace_authority)
        sim_observe_snapshot(s, b);
    else
        sim_observe_batch(s, b);
}

/* hooks.submit: what the daemon's engine_submit does, then the engine
 * thread's turn (engine_step), which applies and releases it. */
atp_err sim_ingest_submit(void *ctx, const engine_batch *b)
{
    sim *s = ctx;
    sim_observe(s, b);
    atp_err err = engine_submit(s->e, b);
    if (err == ATP_OK)
        engine_step(s->e, s->now);
    return err;
}

/* A second publisher of src, with a session of its own, sends wrong
 * numbers (a batch with the seq the real one sends next, or a whole
 * snapshot) just after the real one was heard: ingest must count a
 * conflict and keep the current session, and nothing of it may reach the
 * engine (sim_observe would see a seq or numbers its publisher never
 * sent). */
static void sim_intrude(sim *s, uint32_t src)
{
    sources_status before, after;
    sources_status_get(s->srcs, src, s->now, &before);
    if (before.session != s->pub[src].session)
        return; /* the real one is not the current session (yet) */
    codec_event evs[SIM_SKUS];
    for (uint32_t k = 0; k < SIM_SKUS; k++)
        evs[k] = sim_codec_event(src, k, sim_below(s, SIM_LOCS), true, 900 + k);
    bool snapshot = sim_chance(s, 50);
    codec_src_msg m = {.kind =
                           snapshot ? ATP_MSG_SNAPSHOT : ATP_MSG_SOURCE_BATCH,
                       .seq = s->pub[src].seq + 1,
                       .ts_ms = (uint64_t)s->now,
                       .n_events = SIM_SKUS,
                       .events = evs,
                       .snapshot_id = 1,
                       .part = 0,
                       .last = true};
    sim_packet p = sim_pub_encode(s, src, m, 1000000 + s->conflicts);
    ingest_core_receive(s->core, p.buf, p.buf, p.len, s->now);
    s->conflicts++;
    sources_status_get(s->srcs, src, s->now, &after);
    SIM_CHECK(s,
              after.conflicts == before.conflicts + 1 &&
                  after.session == before.session,
              "%s: a second publisher's %s while session %" PRIu64
              " was live: conflicts %" PRIu64 " -> %" PRIu64
              ", current session %" PRIu64,
              sim_source_ids[src], snapshot ? "snapshot" : "batch",
              before.session, before.conflicts, after.conflicts, after.session);
}

/* A message of a new session after the current one's silence took over
 * (sources counts it): nothing of the source may apply before a full
 * snapshot does (the message itself was dropped, or began one). */
static void sim_note_takeover(sim *s, uint32_t src)
{
    sources_status st;
    sources_status_get(s->srcs, src, s->now, &st);
    if (st.sessions > s->model[src].sessions_seen) {
        s->model[src].takeover_pending = true;
        s->takeovers++;
    }
    s->model[src].sessions_seen = st.sessions;
}

/* sim_net_run delivers every packet due by now, and what they cause. */
void sim_net_run(sim *s)
{
    sim_packet p;
    while (!s->failed && sim_net_take(s, &p)) {
        if (p.request) {
            sim_pub_request(s, &p);
            continue;
        }
        ingest_core_receive(s->core, p.buf, p.buf, p.len, s->now);
        sim_note_takeover(s, p.src);
        sim_pub *pub = &s->pub[p.src];
        if (pub->intrude && p.session == pub->session) {
            pub->intrude = false;
            sim_intrude(s, p.src);
        }
    }
}
