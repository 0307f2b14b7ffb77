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
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "codec/codec.h"
#include "common/log.h"
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

static const char *const sim_skus[SIM_SKUS] = {"S0", "S1", "S2", "S3"};
static const char *const sim_locs[SIM_LOCS] = {"L0", "L1", "L2", "L3"};
static const char *const sim_source_ids[SIM_SOURCES] = {"erp", "wms"};
static const uint8_t sim_source_bucket[SIM_SOURCES] = {ATP_BUCKET_ON_HAND,
                                                       ATP_BUCKET_ALLOCATED};
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
static void sim_fail(sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SIM_CHECK(s, cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            sim_fail((s), __VA_ARGS__);                                        \
            return;                                                            \
        }                                                                      \
    } while (0)

static void sim_fail(sim *s, const char *fmt, ...)
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

/* ---- the network -------------------------------------------------------- */

/* sim_grow: arr (n used of *cap elements of size) with room for one more. */
static void *sim_grow(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : 256;
    arr = realloc(arr, *cap * size);
    if (arr == NULL)
        abort();
    return arr;
}

static void sim_net_push(sim *s, const sim_packet *p, int64_t delay)
{
    sim_net *n = &s->net;
    n->q = sim_grow(n->q, n->n, &n->cap, sizeof *n->q);
    sim_packet *np = &n->q[n->n++];
    *np = *p;
    np->due = s->now + delay;
    np->order = n->order++;
}

/* A packet's delay in the network's mode: reordering comes from unequal
 * delays (a healed network delivers in order, at once). */
static int64_t sim_net_delay(sim *s)
{
    switch (s->net.mode) {
    case SIM_NET_HEALED:
        return 0;
    case SIM_NET_SLOW:
        return sim_range(s, 0, 80);
    default:
        return sim_range(s, 0, 150);
    }
}

/* sim_net_send: p (its buf owned from now on) is lost, delivered once, or
 * delivered twice, as the network's mode has it. */
static void sim_net_send(sim *s, sim_packet p)
{
    static const uint32_t loss[] = {0, 0, 10, 90}, dup[] = {0, 5, 5, 5};
    s->sent++;
    if (sim_chance(s, loss[s->net.mode])) {
        s->dropped++;
        free(p.buf);
        return;
    }
    if (sim_chance(s, dup[s->net.mode])) {
        sim_packet d = p;
        if (p.buf != NULL) {
            d.buf = malloc(p.len);
            if (d.buf == NULL)
                abort();
            memcpy(d.buf, p.buf, p.len);
        }
        sim_net_push(s, &d, sim_net_delay(s));
        s->duplicated++;
    }
    sim_net_push(s, &p, sim_net_delay(s));
}

/* sim_net_take removes the next packet due by now: the earliest, then the
 * first sent. */
static bool sim_net_take(sim *s, sim_packet *out)
{
    sim_net *n = &s->net;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n->n; i++) {
        const sim_packet *p = &n->q[i];
        if (p->due > s->now)
            continue;
        if (best == SIZE_MAX || p->due < n->q[best].due ||
            (p->due == n->q[best].due && p->order < n->q[best].order))
            best = i;
    }
    if (best == SIZE_MAX)
        return false;
    *out = n->q[best];
    n->q[best] = n->q[--n->n];
    return true;
}

/* What was in flight to or from a process that ends is lost. */
static void sim_net_clear(sim *s)
{
    for (size_t i = 0; i < s->net.n; i++)
        free(s->net.q[i].buf);
    s->net.n = 0;
}

/* ---- publishers --------------------------------------------------------- */

/* sim_pub_encode: m as src's publisher with session sends it, in a buffer
 * of its own. */
static sim_packet sim_pub_encode(sim *s, uint32_t src, codec_src_msg m,
                                 uint64_t session)
{
    m.source = (codec_str){sim_source_ids[src], 3};
    m.session = session;
    codec_writer_reset(s->w);
    codec_src_encode(s->w, &m);
    size_t len;
    const void *data = codec_writer_data(s->w, &len);
    unsigned char *buf = malloc(len);
    if (codec_writer_failed(s->w) || buf == NULL)
        abort();
    memcpy(buf, data, len);
    return (sim_packet){.src = src, .session = session, .buf = buf, .len = len};
}

static codec_event sim_codec_event(uint32_t src, uint32_t sku, uint32_t loc,
                                   bool set, int64_t value)
{
    return (codec_event){.kind = set ? ATP_EV_SET : ATP_EV_DELTA,
                         .bucket = sim_source_bucket[src],
                         .sku = {sim_skus[sku], 2},
                         .location = {sim_locs[loc], 2},
                         .value = value};
}

/* sim_pub_send sends message seq of src's history, with the publisher's
 * session now (a replay after a restart carries the new one). */
static void sim_pub_send(sim *s, uint32_t src, uint64_t seq)
{
    sim_pub *p = &s->pub[src];
    const sim_pub_msg *h = &p->hist[seq - 1];
    codec_event evs[SIM_BATCH_EVENTS];
    uint32_t n = h->n;
    for (uint32_t i = 0; i < h->n; i++)
        evs[i] = sim_codec_event(src, h->ev[i].sku, h->ev[i].loc, h->ev[i].set,
                                 h->ev[i].value);
    if (n == 0)
        evs[n++] = (codec_event){.kind = ATP_EV_HEARTBEAT};
    codec_src_msg m = {.kind = ATP_MSG_SOURCE_BATCH,
                       .seq = seq,
                       .ts_ms = (uint64_t)s->now,
                       .n_events = n,
                       .events = evs};
    sim_net_send(s, sim_pub_encode(s, src, m, p->session));
    p->last_sent = s->now;
}

/* sim_pub_emit: the publisher's next message, a batch of 1-4 random events
 * (SET or DELTA on its bucket) or a heartbeat, kept in its history with
 * the state after it, then sent. */
static void sim_pub_emit(sim *s, uint32_t src, bool heartbeat)
{
    sim_pub *p = &s->pub[src];
    p->hist = sim_grow(p->hist, p->seq, &p->cap, sizeof *p->hist);
    sim_pub_msg *h = &p->hist[p->seq++];
    memset(h, 0, sizeof *h);
    h->n = heartbeat ? 0 : 1 + sim_below(s, SIM_BATCH_EVENTS);
    for (uint32_t i = 0; i < h->n; i++) {
        uint32_t sku = sim_below(s, SIM_SKUS), loc = sim_below(s, SIM_LOCS);
        bool set = sim_chance(s, 40);
        int64_t v = src == 0
                        ? (set ? sim_range(s, 0, 60) : sim_range(s, -10, 20))
                        : (set ? sim_range(s, 0, 15) : sim_range(s, -6, 8));
        int64_t *cell = &p->state[sku][loc];
        *cell = set ? v : *cell + v;
        h->ev[i].sku = (uint8_t)sku;
        h->ev[i].loc = (uint8_t)loc;
        h->ev[i].set = set;
        h->ev[i].value = v;
    }
    memcpy(h->state, p->state, sizeof h->state);
    sim_pub_send(s, src, p->seq);
}

/* sim_pub_snapshot sends the publisher's whole state (a SET for every
 * position of its authority), consistent with its last seq, in parts. */
static void sim_pub_snapshot(sim *s, uint32_t src)
{
    sim_pub *p = &s->pub[src];
    codec_event evs[SIM_SKUS * SIM_LOCS];
    uint32_t n = 0;
    for (uint32_t k = 0; k < SIM_SKUS; k++)
        for (uint32_t l = 0; l < SIM_LOCS; l++)
            evs[n++] = sim_codec_event(src, k, l, true, p->state[k][l]);
    uint64_t id = ++p->snapshot_id;
    uint32_t parts = (n + SIM_SNAPSHOT_PART - 1) / SIM_SNAPSHOT_PART;
    for (uint32_t part = 0; part < parts; part++) {
        uint32_t off = part * SIM_SNAPSHOT_PART;
        codec_src_msg m = {
            .kind = ATP_MSG_SNAPSHOT,
            .seq = p->seq,
            .ts_ms = (uint64_t)s->now,
            .n_events =
                n - off < SIM_SNAPSHOT_PART ? n - off : SIM_SNAPSHOT_PART,
            .events = evs + off,
            .snapshot_id = id,
            .part = part,
            .last = part + 1 == parts,
        };
        sim_net_send(s, sim_pub_encode(s, src, m, p->session));
    }
    p->last_sent = p->last_snapshot = s->now;
    s->snapshots++;
}

/* sim_pub_request answers a resync request that reached the publisher:
 * its snapshot, or every message from the seq asked for (none when it
 * sent nothing from there). A restarting publisher answers nothing. */
static void sim_pub_request(sim *s, const sim_packet *q)
{
    sim_pub *p = &s->pub[q->src];
    if (p->down)
        return;
    if (q->snapshot) {
        sim_pub_snapshot(s, q->src);
        return;
    }
    s->replays++;
    for (uint64_t seq = q->from ? q->from : 1; seq <= p->seq; seq++)
        sim_pub_send(s, q->src, seq);
}

/* ---- ingest between them and the engine --------------------------------- */

/* A resync request goes to the publisher through the network. */
static void sim_ingest_request(void *ctx, uint32_t src,
                               sources_resync_mode mode, uint64_t from_seq)
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
static atp_err sim_ingest_submit(void *ctx, const engine_batch *b)
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
static void sim_net_run(sim *s)
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

/* ---- the engine's life -------------------------------------------------- */

/* A new atpd on what the store holds: engine, sources, ingest core. No
 * positions or offsets are stored (no snapshots in stepped mode), so the
 * sources start from nothing, as the daemon does without a snapshot: when
 * a publisher speaks, they ask it for a replay from seq 1. */
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
    ingest_hooks hooks = {.submit = sim_ingest_submit,
                          .request = sim_ingest_request,
                          .msg_free = free,
                          .ctx = s};
    if (sources_alloc(&s->cfg, &s->srcs) != ATP_OK ||
        ingest_core_alloc(&s->cfg, s->srcs, &hooks, &s->core) != ATP_OK)
        abort();
    memset(s->bucket, 0, sizeof s->bucket);
    memset(s->model, 0, sizeof s->model);
    ingest_core_tick(s->core, s->now);
    engine_step(s->e, s->now);
}

/* A crash: atpd goes away with whatever it had not stored, the store loses
 * the writes it had not acknowledged, the network what was in flight. */
static void sim_crash(sim *s)
{
    engine_free(s->e); /* first: a batch it drops is released to ingest */
    s->e = NULL;
    ingest_core_free(s->core);
    s->core = NULL;
    sources_free(s->srcs);
    s->srcs = NULL;
    sim_net_clear(s);
    for (size_t i = 0; i < s->store.n_pending; i++)
        sim_write_free(&s->store.pending[i]);
    s->store.n_pending = 0;
}

/* Completes the store's writes (each OK, or an error while failing) until
 * none is left, stepping the engine after each; with crash, atpd crashes
 * instead while one is in flight (true: the caller restarts it). */
static bool sim_store_settle(sim *s, bool crash)
{
    if (crash && s->store.n_pending > 0) {
        sim_crash(s);
        return true;
    }
    while (s->store.n_pending > 0) {
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
    return false;
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

/* The buffer of sim_yaml_fmt's two rules: max(units, ceil(percent * supply)).
 */
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

/* ---- time and feeds ----------------------------------------------------- */

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
static void sim_tick(sim *s)
{
    sim_pubs_tick(s);
    sim_net_run(s);
    ingest_core_tick(s->core, s->now);
    sim_settle_now(s);
    for (uint32_t r = 0; r < SIM_REGIONS; r++)
        engine_region_stale_set(s->e, r, sources_region_stale(s->srcs, r));
}

static void sim_advance(sim *s, int64_t ms)
{
    int64_t end = s->now + ms;
    while (s->now < end && !s->failed) {
        s->now = s->now + SIM_TICK_MS < end ? s->now + SIM_TICK_MS : end;
        sim_tick(s);
    }
}

static void sim_feed(sim *s)
{
    uint32_t src = sim_below(s, SIM_SOURCES);
    if (s->pub[src].down)
        return; /* restarting */
    sim_pub_emit(s, src, false);
    sim_settle_now(s);
}

/* A publisher restart: silent for longer than heartbeat_timeout, then back
 * with a new session (sim_pubs_tick), which must take over. */
static void sim_pub_stop(sim *s, uint32_t src)
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
static void sim_source_reset(sim *s, uint32_t src)
{
    sources_reset_request(s->srcs, src);
    s->model[src].reset_pending = true;
    s->resets++;
    ingest_core_tick(s->core, s->now);
    sim_settle_now(s);
}

static void sim_net_mode(sim *s)
{
    uint32_t r = sim_below(s, 100);
    s->net.mode = r < 25   ? SIM_NET_HEALED
                  : r < 60 ? SIM_NET_SLOW
                  : r < 90 ? SIM_NET_LOSSY
                           : SIM_NET_DOWN;
}

/* ---- invariants --------------------------------------------------------- */

static void sim_check(sim *s)
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
static void sim_heal(sim *s)
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
