/*
 * sim.h - what the parts of the seeded simulation share (the simulation
 * itself, what it draws and what it checks: ../test_sim.c): the world's
 * sizes and pace, the run's state (one sim holds the model, the
 * publishers, the network, the fake store and the code under test), and
 * what each part offers the others.
 *
 * One thread, one clock: every function here runs on the test's thread at
 * the simulated time s->now, and every random choice is drawn from s's
 * generator (sim_below, sim_range, sim_chance) in program order. A seed is
 * one run only while that order is fixed: a change that draws once more,
 * once less or elsewhere gives every seed another run (and a failing seed
 * found before it no longer replays its failure).
 *
 * The parts:
 * - ../test_sim.c: the world (its configuration, and the tables below
 *   that mirror it), the generator, sim_fail, a step, a run, main;
 * - sim_store.c: the fake store (engine_persist) and atpd's life on it:
 *   boot, crash, restart, the store's completions;
 * - sim_net.c: the network and the publishers;
 * - sim_ingest.c: the real ingest core between them and the engine, and
 *   the check of every batch it hands on;
 * - sim_ops.c: the model (supply, reserved, buffer, ATP) and the
 *   reservation operations checked against it;
 * - sim_time.c: time and feeds, the step's other actions;
 * - sim_check.c: the invariants after every step, and a quiet period
 *   that must converge (sim_heal).
 * A check that fails calls sim_fail (SIM_CHECK) and the run stops at the
 * end of the step: callers look at s->failed where they go on.
 */
#ifndef ATP_TEST_ENGINE_SIM_H
#define ATP_TEST_ENGINE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/core.h"
#include "sources/sources.h"

#define SIM_SKUS 4
#define SIM_LOCS 4 /* L0, L1 in east; L2, L3 in west */
#define SIM_REGIONS 2
#define SIM_SOURCES 2  /* erp: on_hand, wms: allocated */
#define SIM_CHANNELS 3 /* default (built in), web, store */
#define SIM_RESV 256   /* reservation ids per run */
#define SIM_LINES 2    /* lines per reservation at most */
#define SIM_BATCH_EVENTS 4
#define SIM_BURST 4
#define SIM_STORE_RECORDS 512
#define SIM_STORE_PENDING 4          /* one group is in flight at a time */
#define SIM_WRITE_OPS (2 * SIM_RESV) /* a mass expiry writes many */
#define SIM_COMMITTED_TTL 10000
#define SIM_DEFAULT_STEPS 400
#define SIM_TICK_MS 25 /* the daemon's ingest tick */
#define SIM_HEARTBEAT_TIMEOUT_MS 1000
#define SIM_HEARTBEAT_MS 400      /* a quiet publisher sends a heartbeat */
#define SIM_SNAPSHOT_PART 6       /* events per snapshot part: 3 parts */
#define SIM_SELF_SNAPSHOT_MS 2000 /* a publisher atpd cannot ask */
#define SIM_HEAL_MAX_MS 15000

/* The world of test_sim.c's configuration, by index: SKUs S0-S3,
 * locations L0-L3 and their region (0 east, 1 west), the sources (0 erp,
 * 1 wms) and the bucket each is the authority of. */
extern const char *const sim_skus[SIM_SKUS];
extern const char *const sim_locs[SIM_LOCS];
extern const char *const sim_source_ids[SIM_SOURCES];
extern const uint8_t sim_source_bucket[SIM_SOURCES];
extern const uint32_t sim_loc_region[SIM_LOCS];

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

/* One message a publisher sent, by seq: its events (none: a heartbeat)
 * and the publisher's state after it (what a snapshot at that seq holds). */
typedef struct sim_pub_msg {
    uint32_t n;
    struct {
        uint8_t sku, loc;
        bool set;
        int64_t value;
    } ev[SIM_BATCH_EVENTS];
    int64_t state[SIM_SKUS][SIM_LOCS];
} sim_pub_msg;

/* A publisher of one source. Its history survives its restarts (a log). */
typedef struct sim_pub {
    sim_pub_msg *hist; /* [seq - 1] */
    uint64_t seq;      /* the last seq sent */
    size_t cap;        /* room in hist */
    int64_t state[SIM_SKUS][SIM_LOCS];
    uint64_t session;
    bool down;         /* restarting: sends and answers nothing */
    int64_t up_at;     /* ... until then, with a new session */
    int64_t last_sent; /* for heartbeats */
    uint64_t snapshot_id;
    int64_t last_snapshot; /* a source without resync sends its own */
    bool intrude; /* a second publisher speaks after its next delivery */
} sim_pub;

/* What the model knows of a source at atpd (this process's). */
typedef struct sim_src_model {
    uint64_t applied;       /* the last seq handed to the engine */
    uint64_t missed_seen;   /* sources' missed counter already accounted */
    bool reset_pending;     /* source_reset done: its snapshot comes first */
    bool heard;             /* anything applied since this atpd started */
    uint64_t sessions_seen; /* sources' takeovers counter, as last seen */
    bool takeover_pending;  /* a new session took over: its snapshot first */
} sim_src_model;

/* A packet in the simulated network: a source message to ingest, or a
 * resync request to a publisher. */
typedef struct sim_packet {
    int64_t due;
    uint64_t order;
    uint32_t src;
    bool request;
    bool snapshot; /* request: mode */
    uint64_t from; /* request: replay from */
    uint64_t session;
    unsigned char *buf; /* message */
    size_t len;
} sim_packet;

enum { SIM_NET_HEALED, SIM_NET_SLOW, SIM_NET_LOSSY, SIM_NET_DOWN };

typedef struct sim_net {
    sim_packet *q;
    size_t n, cap;
    uint64_t order;
    int mode;
} sim_net;

typedef struct sim {
    uint64_t seed, rng;
    uint64_t step;
    int64_t now;
    config cfg;
    engine *e;
    sources *srcs;
    ingest_core *core;
    codec_writer *w;
    sim_store store;
    /* the fold of what the engine was handed: [sku][loc][source], the
     * source's bucket (erp: on_hand, wms: allocated) */
    int64_t bucket[SIM_SKUS][SIM_LOCS][SIM_SOURCES];
    sim_src_model model[SIM_SOURCES];
    sim_pub pub[SIM_SOURCES];
    sim_net net;
    uint64_t next_session;
    sim_resv resv[SIM_RESV];
    uint32_t n_resv;
    bool failed;
    uint64_t fail_step;
    uint64_t restarts, grants, refusals, expiries, store_errors;
    uint64_t lost; /* operations in flight at a crash: never acknowledged */
    uint64_t sent, dropped, duplicated, replays, snapshots, skipped;
    uint64_t started_late; /* seqs before a no-resync source's first */
    uint64_t conflicts, pub_restarts, takeovers, resets, heals;
} sim;

/* sim_fail reports a broken invariant with the seed and step; the run
 * stops at the end of the step. */
void sim_fail(sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SIM_CHECK(s, cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            sim_fail((s), __VA_ARGS__);                                        \
            return;                                                            \
        }                                                                      \
    } while (0)

/* ---- the generator (test_sim.c) ----------------------------------------- */

/* sim_below: uniform in [0, n); sim_range: in [lo, hi]; sim_chance: true
 * percent times in 100. Each draws once from s's generator. */
uint32_t sim_below(sim *s, uint32_t n);
int64_t sim_range(sim *s, int64_t lo, int64_t hi);
bool sim_chance(sim *s, uint32_t percent);

/* ---- the fake store and atpd's life (sim_store.c) ----------------------- */

/* sim_boot: a new atpd on what the store holds (engine_resv_load), with
 * new sources and ingest core that know no offset: they ask each publisher
 * for a replay from seq 1 when it speaks. The model's fold starts empty. */
void sim_boot(sim *s);
/* sim_crash: atpd goes away; the store loses the writes it had not
 * acknowledged, the network what was in flight. sim_boot follows. */
void sim_crash(sim *s);
/* sim_store_settle completes the store's writes (OK, or an error while it
 * fails) until none is left, stepping the engine after each; with crash,
 * atpd crashes instead while one is in flight (true: call sim_boot). */
bool sim_store_settle(sim *s, bool crash);

/* ---- the network and the publishers (sim_net.c) ------------------------- */

/* sim_net_send: p (its buf owned from now on) is lost, delivered once, or
 * delivered twice, after a delay, as the network's mode has it. */
void sim_net_send(sim *s, sim_packet p);
/* sim_net_take removes the next packet due by now (the earliest, then the
 * first sent) into *out; false: none is due. */
bool sim_net_take(sim *s, sim_packet *out);
/* sim_net_clear drops everything in flight. */
void sim_net_clear(sim *s);
/* sim_pub_encode: m as src's publisher with session sends it (a real
 * source message, codec_src_encode), in a buffer of its own. */
sim_packet sim_pub_encode(sim *s, uint32_t src, codec_src_msg m,
                          uint64_t session);
/* sim_codec_event: a SET (set) or DELTA of value on src's bucket. */
codec_event sim_codec_event(uint32_t src, uint32_t sku, uint32_t loc, bool set,
                            int64_t value);
/* sim_pub_emit: src's publisher's next message (random events, or a
 * heartbeat), kept in its history with its state after it, then sent. */
void sim_pub_emit(sim *s, uint32_t src, bool heartbeat);
/* sim_pub_snapshot sends src's publisher's whole state at its last seq,
 * in parts. */
void sim_pub_snapshot(sim *s, uint32_t src);
/* sim_pub_request answers resync request q that reached its publisher: a
 * snapshot, or a replay from q->from; nothing while it restarts. */
void sim_pub_request(sim *s, const sim_packet *q);

/* ---- ingest between them and the engine (sim_ingest.c) ------------------ */

/* ingest_hooks.request and .submit (ctx: the sim): a resync request goes
 * through the network to the publisher; a batch is checked against what
 * its publisher sent and folded into the model, then submitted to the
 * engine, which applies it at once (engine_step). */
void sim_ingest_request(void *ctx, uint32_t src, sources_resync_mode mode,
                        uint64_t from_seq);
atp_err sim_ingest_submit(void *ctx, const engine_batch *b);
/* sim_net_run delivers every packet due by now (messages to ingest,
 * requests to the publishers), and what they cause: a takeover noted, a
 * second publisher's conflict when one was due (sim_pub.intrude). */
void sim_net_run(sim *s);

/* ---- the model and the operations (sim_ops.c) --------------------------- */

/* The model, from what was applied and acknowledged: supply of (sku,
 * region), reserved (*lo: the open reservations not yet due; *hi: also
 * the due ones the engine may not have expired), the configuration's
 * buffer, and ATP = max(0, supply - reserved - buffer). */
int64_t sim_supply(const sim *s, uint32_t sku, uint32_t region);
void sim_reserved(const sim *s, uint32_t sku, uint32_t region, int64_t *lo,
                  int64_t *hi);
int64_t sim_buffer(uint32_t sku, uint32_t region, uint32_t channel,
                   int64_t supply);
int64_t sim_atp(int64_t supply, int64_t reserved, int64_t buffer);
/* sim_reservations: an operation, or a burst that shares a group commit,
 * run to its answers (with crash: atpd crashes while they are in flight,
 * and restarts), each answer checked and applied to the model. */
void sim_reservations(sim *s, bool crash);
/* sim_resolve_due asks the engine about every due reservation the model
 * still has open (a get each), so that the model learns what expired. */
void sim_resolve_due(sim *s);

/* ---- time and feeds (sim_time.c) ---------------------------------------- */

/* sim_tick: one turn of the ingest thread at s->now (the publishers'
 * pace, the packets due, ingest's timers, the engine's turn, the store's
 * completions, the regions' stale flags). */
void sim_tick(sim *s);
/* sim_advance: ms of time, a tick every SIM_TICK_MS. */
void sim_advance(sim *s, int64_t ms);
/* sim_feed: a random publisher's next message, and what follows it. */
void sim_feed(sim *s);
/* sim_pub_stop: src's publisher restarts (silent beyond
 * heartbeat_timeout, then a new session). */
void sim_pub_stop(sim *s, uint32_t src);
/* sim_source_reset: source_reset of src, taken at once. */
void sim_source_reset(sim *s, uint32_t src);
/* sim_net_mode: the network's next mode, at random. */
void sim_net_mode(sim *s);

/* ---- invariants (sim_check.c) ------------------------------------------- */

/* sim_check: after a step, the sources' last seqs and the engine's
 * answers (supply, reserved, buffer, ATP) against the model. */
void sim_check(sim *s);
/* sim_heal: a quiet period on a healed network, until everything
 * converged (within SIM_HEAL_MAX_MS) and the engine's positions are the
 * publishers'. */
void sim_heal(sim *s);

#endif
