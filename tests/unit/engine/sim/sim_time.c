/*
 * sim_time.c - time and feeds in the simulation (sim.h): the ingest
 * thread's tick, the publishers' own pace, and the step's actions on the
 * feeds (a message, a publisher restart, source_reset, the network's mode).
 */
#include "sim.h"

/* The publishers' own pace: a restart that is over (a new session), a
 * heartbeat when one has been quiet. */
static void sim_pubs_tick(sim *s)
{
    for (uint32_t src = 0; src < SIM_SOURCES; src++) {
        sim_pub *p = &s->pub[src];
        if (p->down && s->now >= p->up_at) {
            p->down = false;
            p->session = ++s->next_session;
        }
        if (!p->down && s->now - p->last_sent >= SIM_HEARTBEAT_MS)
            sim_pub_emit(s, src, true);
        /* atpd cannot ask a source without resync: it sends its snapshot
         * by itself now and then, which repairs a gap */
        if (!p->down && !s->cfg.sources[src].resync &&
            s->now - p->last_snapshot >= SIM_SELF_SNAPSHOT_MS)
            sim_pub_snapshot(s, src);
    }
}

/* What follows anything done at now: the packets due, the engine's turn,
 * the store's completions. */
static void sim_settle_now(sim *s)
{
    sim_net_run(s);
    engine_step(s->e, s->now);
    sim_store_settle(s, false);
}

/* One turn of the ingest thread at now: the publishers' pace, the packets
 * due, ingest's timers, then the regions' stale flags (ingest.c). */
void sim_tick(sim *s)
{
    sim_pubs_tick(s);
    sim_net_run(s);
    ingest_core_tick(s->core, s->now);
    sim_settle_now(s);
    for (uint32_t r = 0; r < SIM_REGIONS; r++)
        engine_region_stale_set(s->e, r, sources_region_stale(s->srcs, r));
}

void sim_advance(sim *s, int64_t ms)
{
    int64_t end = s->now + ms;
    while (s->now < end && !s->failed) {
        s->now = s->now + SIM_TICK_MS < end ? s->now + SIM_TICK_MS : end;
        sim_tick(s);
    }
}

void sim_feed(sim *s)
{
    uint32_t src = sim_below(s, SIM_SOURCES);
    if (s->pub[src].down)
        return; /* restarting */
    sim_pub_emit(s, src, false);
    sim_settle_now(s);
}

/* A publisher restart: silent for longer than heartbeat_timeout, then back
 * with a new session (sim_pubs_tick), which must take over. */
void sim_pub_stop(sim *s, uint32_t src)
{
    sim_pub *p = &s->pub[src];
    if (p->down)
        return;
    p->down = true;
    p->up_at = s->now + SIM_HEARTBEAT_TIMEOUT_MS + sim_range(s, 100, 800);
    s->pub_restarts++;
}

/* source_reset: the ingest thread takes it at its next tick, here at once
 * (nothing may be delivered in between for the model to hold). */
void sim_source_reset(sim *s, uint32_t src)
{
    sources_reset_request(s->srcs, src);
    s->model[src].reset_pending = true;
    s->resets++;
    ingest_core_tick(s->core, s->now);
    sim_settle_now(s);
}

void sim_net_mode(sim *s)
{
    uint32_t r = sim_below(s, 100);
    s->net.mode = r < 25   ? SIM_NET_HEALED
                  : r < 60 ? SIM_NET_SLOW
                  : r < 90 ? SIM_NET_LOSSY
                           : SIM_NET_DOWN;
}
