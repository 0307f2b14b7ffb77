/*
 * test_sim.c - the seeded simulation of atpd's core (issue 17,
 * "Deterministic engine"; TigerBeetle's VOPR is the model): the real
 * ingest core and sources (src/ingest/core.h, src/sources) between fake
 * publishers and the real engine, stepped, over a fake store.
 *
 * One pseudo-random generator, seeded, decides everything:
 * - two publishers (the config's erp and wms sources) encode real source
 *   messages (codec_src_encode): batches of SET and DELTA on on_hand or
 *   allocated over four locations in two regions and four SKUs, and
 *   heartbeats when they have been quiet. They answer resync requests from
 *   their history: a replay from a seq, or a full snapshot in parts. In
 *   one seed of three wms has resync: false, and its publisher sends its
 *   snapshot by itself every SIM_SELF_SNAPSHOT_MS;
 * - a simulated network between them and ingest that loses, duplicates,
 *   reorders and delays messages and requests, by mode (healed, slow,
 *   lossy, nearly down);
 * - publisher restarts: silence beyond heartbeat_timeout, then a new
 *   session that must take over from its full snapshot; a second publisher
 *   with another session that sends wrong numbers while the real one is
 *   live (a conflict: it must change nothing); source_reset;
 * - reservation operations (reserve, idempotent retries, commit, release
 *   of all or one line, extend, get), bursts of them that share a group
 *   commit, clock advances that make reservations expire;
 * - a fake store that fails writes (an error at the completion, or
 *   store_full at once) and crashes (what it has not acknowledged is
 *   lost), and atpd restarts: a new engine on the stored reservations
 *   (engine_resv_load), new sources and a new ingest core; as in the
 *   daemon without a stored snapshot, the sources know no offset and ask
 *   for a replay from seq 1 when a publisher speaks (messages in flight
 *   to the old process are lost);
 * - quiet periods where the network heals.
 * Time is the simulation's (ingest_core_receive and _tick take now_ms,
 * engine_step its clock), nothing runs on another thread, so a seed always
 * gives the same run.
 *
 * A model kept here, independent of the code under test, is checked after
 * every step (and every batch ingest hands on is checked as it goes):
 * - each source's messages reach the engine exactly once and in order: a
 *   batch is the next seq after the last applied, with the events its
 *   publisher sent for that seq; a seq is skipped only when sources
 *   reports it (missed counted, the source gapped), or, for a source
 *   without resync, before the first message heard since atpd started
 *   (sources starts where such a source is); a full snapshot is
 *   not older than what was applied (unless it restarts the sequence after
 *   a source_reset, and then nothing of the source applies before it)
 *   and holds the publisher's state at its seq; after a new session took
 *   over, nothing of the source applies before a snapshot; the sources'
 *   last_seq is the model's;
 * - supply is the fold of what was applied: the sum over the region's
 *   locations of max(0, on_hand - allocated); reserved the sum of the open
 *   reservations' open lines (within the due ones the engine has not yet
 *   been seen to expire), and ATP = max(0, supply - reserved - buffer)
 *   (../shared/DESIGN.md), never negative;
 * - a conflicting publisher's message is counted as a conflict and changes
 *   nothing (the current session stays, nothing of it is handed on);
 * - after a quiet period with a healed network (at most SIM_HEAL_MAX_MS,
 *   and at the end of every run) every source is ok, everything each
 *   publisher sent is applied, and the engine's positions at every
 *   location are the publishers' current state, no region stale;
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
 *
 * The parts, in sim/ (sim.h, their contract, says what each offers): the
 * fake store and atpd's boot, crash and restart on it (sim_store.c); the
 * network and the publishers (sim_net.c); the ingest core between them
 * and the engine, with the check of every batch it hands on
 * (sim_ingest.c); the model and the reservation operations (sim_ops.c);
 * time and feeds (sim_time.c); the invariants and the heal (sim_check.c).
 * Here: the world (the configuration, and the tables sim.h names), the
 * generator, a step, a run, main.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/wire.h"
#include "common/log.h"
#include "config/config.h"
#include "sim/sim.h"

/* ---- the world ---------------------------------------------------------- */

/* sim_yaml_fmt: %s is wms's resync (true, or false in one seed of three). */
static const char sim_yaml_fmt[] =
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
    "    heartbeat_timeout: 1s\n"
    "    authority:\n"
    "      - {locations: [L0, L1, L2, L3], buckets: [on_hand]}\n"
    "  - id: wms\n"
    "    heartbeat_timeout: 1s\n"
    "    resync: %s\n"
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
    "  snapshot_interval: 1h\n"
    "  reorder_window: 50ms\n"
    "  reorder_max_messages: 8\n"
    "  resync_retry: 100ms\n"
    "  resync_timeout: 1s\n"
    "  resync_hold_messages: 64\n"
    "  snapshot_timeout: 500ms\n";

const char *const sim_skus[SIM_SKUS] = {"S0", "S1", "S2", "S3"};
const char *const sim_locs[SIM_LOCS] = {"L0", "L1", "L2", "L3"};
const char *const sim_source_ids[SIM_SOURCES] = {"erp", "wms"};
const uint8_t sim_source_bucket[SIM_SOURCES] = {ATP_BUCKET_ON_HAND,
                                                ATP_BUCKET_ALLOCATED};
const uint32_t sim_loc_region[SIM_LOCS] = {0, 0, 1, 1};

/* ---- failures and the generator ----------------------------------------- */

void sim_fail(sim *s, const char *fmt, ...)
{
    if (s->failed)
        return; /* the first one is the one to read */
    fprintf(stderr, "sim: seed %" PRIu64 " step %" PRIu64 ": ", s->seed,
            s->step);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nsim: reproduce with ATP_SIM_SEED=%" PRIu64 " unit_engine_sim\n",
            s->seed);
    s->failed = true;
    s->fail_step = s->step;
}

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t sim_next(sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t sim_below(sim *s, uint32_t n)
{
    return (uint32_t)(sim_next(s) % n);
}
int64_t sim_range(sim *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_next(s) % (uint64_t)(hi - lo + 1));
}
bool sim_chance(sim *s, uint32_t percent)
{
    return sim_below(s, 100) < percent;
}

/* ---- a run -------------------------------------------------------------- */

static void sim_step(sim *s)
{
    uint32_t roll = sim_below(s, 100);
    if (roll < 26) {
        sim_feed(s);
    } else if (roll < 62) {
        sim_reservations(s, false);
    } else if (roll < 74) {
        sim_advance(s, sim_range(s, 1, 3000));
    } else if (roll < 80) {
        sim_advance(s, sim_range(s, 1, 200));
    } else if (roll < 86) {
        int mode = sim_chance(s, 60) ? 0 : sim_chance(s, 70) ? 1 : 2;
        s->store.mode = mode;
    } else if (roll < 89) {
        sim_net_mode(s);
    } else if (roll < 91) {
        s->pub[sim_below(s, SIM_SOURCES)].intrude = true;
    } else if (roll < 92) {
        sim_pub_stop(s, sim_below(s, SIM_SOURCES));
    } else if (roll < 93) {
        sim_source_reset(s, sim_below(s, SIM_SOURCES));
    } else if (roll < 94) {
        sim_heal(s);
    } else if (roll < 97) {
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

static void sim_fini(sim *s)
{
    if (s->e != NULL)
        sim_crash(s);
    free(s->net.q);
    for (uint32_t src = 0; src < SIM_SOURCES; src++)
        free(s->pub[src].hist);
    codec_writer_free(s->w);
    for (size_t i = 0; i < s->store.n_recs; i++)
        free(s->store.recs[i].val);
    config_fini(&s->cfg);
}

static void sim_report(const sim *s, uint64_t steps)
{
    printf("sim: seed %" PRIu64 ": %" PRIu64 " steps: %s %" PRIu64 ": %" PRIu64
           " granted, %" PRIu64 " refused, %" PRIu64 " expired, %" PRIu64
           " store errors, %" PRIu64 " restarts (%" PRIu64
           " operations lost in flight)\n",
           s->seed, steps, s->failed ? "FAILED at step" : "ok, healed at step",
           s->failed ? s->fail_step : steps + 1, s->grants, s->refusals,
           s->expiries, s->store_errors, s->restarts, s->lost);
    printf("sim:   feeds: %" PRIu64 "+%" PRIu64 " messages, %" PRIu64
           " packets (%" PRIu64 " lost, %" PRIu64 " duplicated), %" PRIu64
           " replays, %" PRIu64 " snapshots, %" PRIu64 " seqs skipped (%" PRIu64
           " before a first message), %" PRIu64 " conflicts, %" PRIu64
           " publisher restarts (%" PRIu64 " takeovers), %" PRIu64
           " resets, %" PRIu64 " heals\n",
           s->pub[0].seq, s->pub[1].seq, s->sent, s->dropped, s->duplicated,
           s->replays, s->snapshots, s->skipped, s->started_late, s->conflicts,
           s->pub_restarts, s->takeovers, s->resets, s->heals);
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
    static char yaml[sizeof sim_yaml_fmt + 8];
    int len = snprintf(yaml, sizeof yaml, sim_yaml_fmt,
                       seed % 3 == 0 ? "false" : "true");
    if (config_load_string(yaml, (size_t)len, &s->cfg, &diags) != ATP_OK) {
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                    diags.items[i].message);
        abort();
    }
    config_diags_fini(&diags);
    if ((s->w = codec_writer_alloc(NULL, NULL)) == NULL)
        abort();
    s->net.mode = SIM_NET_SLOW;
    for (uint32_t src = 0; src < SIM_SOURCES; src++) {
        s->pub[src].session = ++s->next_session;
        s->pub[src].last_sent = s->now;
    }
    sim_boot(s);
    for (s->step = 1; s->step <= steps && !s->failed; s->step++)
        sim_step(s);
    if (!s->failed)
        sim_heal(s); /* step steps + 1: every run ends healed */
    if (verbose || s->failed)
        sim_report(s, steps);
    bool ok = !s->failed;
    sim_fini(s);
    return ok;
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
