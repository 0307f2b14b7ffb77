/*
 * sources.c - per-source sequencing, reorder window, authority and health.
 * Thread rules in sources.h: one ingest thread mutates, the engine thread
 * records applied offsets, anyone reads the atomics.
 */
#include "sources/sources.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

typedef struct sources_held {
    uint64_t seq;
    void *item;
} sources_held;

typedef struct source {
    const config_source *cfg;
    /* [region]: this source has authority at a location of it (a reload
     * moving locations changes it; any thread reads it) */
    _Atomic bool *feeds;

    /* ingest thread only */
    bool seen;
    uint64_t next_seq;
    sources_held *held; /* sorted by seq */
    size_t n_held;
    int64_t hold_deadline_ms; /* the reorder window of the oldest hole */
    bool resyncing;           /* a hole: waiting for a replay or snapshot */
    bool restored;            /* offset loaded at start, not yet resynced */
    sources_resync_mode mode;
    int64_t resync_since_ms, resync_sent_ms;
    /* Publisher sessions (PROTOCOL.md): the current one, when it was last
     * heard, and whether its batches wait for its full snapshot. */
    bool has_session;
    uint64_t session;
    int64_t session_heard_ms;
    bool need_snapshot; /* batches dropped until a full snapshot applies */
    bool reset;         /* ... and that snapshot restarts the sequence */

    /* written by one thread, read by any */
    _Atomic bool ever_seen;
    _Atomic bool gapped;
    _Atomic bool silent;
    _Atomic int64_t last_recv_ms;
    _Atomic uint64_t last_seq, last_ts_ms;
    _Atomic int64_t lag_ms;
    _Atomic uint64_t messages, events, duplicates, gaps, missed;
    _Atomic uint64_t rejected_messages, unauthorized, unknown_location,
        heartbeats;
    _Atomic bool resync_flag;
    _Atomic uint64_t resync_requests, snapshots_applied, snapshots_aborted,
        held_now, resync_from;
    _Atomic int64_t last_heartbeat_ms;
    _Atomic uint64_t cur_session, conflicts, sessions, unsynced, seq_rejected,
        bad_mac, resets;
    _Atomic int64_t last_conflict_ms; /* -1: none */
    _Atomic bool conflict;            /* a conflict within heartbeat_timeout */
    _Atomic uint64_t reset_req;       /* source_reset ops not done yet */
    /* cfg->heartbeat_timeout_ms, or what a reload set (sources_reload) */
    _Atomic int64_t heartbeat_timeout_ms;
} source;

struct sources {
    source *src;
    size_t n;
    /* [location * ATP_AUTH_BUCKET_COUNT + bucket] = src + 1 (0: none);
     * rewritten by sources_relocate when the admin state changes it, read
     * by the ingest thread at once: each entry stored on its own. */
    _Atomic uint16_t *authority;
    _Atomic bool *gone; /* [location]: removed, or a spare place not named */
    size_t n_locations;
    uint32_t n_regions;
    int64_t window_ms;
    size_t max_reorder; /* holes shorter than this wait for reordering */
    size_t max_held;    /* resyncing: at most this many held */
    int64_t retry_ms, timeout_ms;
    int64_t start_ms; /* the first sources_tick (-1 before): a source never
                         heard from is silent heartbeat_timeout after it */
};

#define INC(field, by)                                                         \
    atomic_fetch_add_explicit(&(field), (by), memory_order_relaxed)

/* The regions so has authority in, with the locations where cfg puts
 * them. Each flag is stored on its own: during a reload, a staleness check
 * may see one region's new flag and another's old one, for one check. */
static void sources_feeds_set(source *so, const config *cfg,
                              const uint16_t *loc_region)
{
    for (size_t r = 0; r < cfg->n_regions; r++) {
        bool feeds = false;
        for (size_t a = 0; a < so->cfg->n_authority && !feeds; a++) {
            uint32_t loc = so->cfg->authority[a].location;
            feeds = (loc_region ? loc_region[loc]
                                : cfg->locations[loc].region) == r;
        }
        atomic_store_explicit(&so->feeds[r], feeds, memory_order_relaxed);
    }
}

atp_err sources_alloc(const config *cfg, sources **out)
{
    ATP_ASSERT(cfg != NULL && out != NULL);
    sources *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->n = cfg->n_sources;
    s->n_locations = cfg->n_locations;
    s->n_regions = (uint32_t)cfg->n_regions;
    s->window_ms = cfg->service.reorder_window_ms;
    s->max_reorder = cfg->service.reorder_max_messages
                         ? cfg->service.reorder_max_messages
                         : 1;
    s->max_held = cfg->service.resync_hold_messages > s->max_reorder
                      ? cfg->service.resync_hold_messages
                      : s->max_reorder;
    s->retry_ms = cfg->service.resync_retry_ms;
    s->timeout_ms = cfg->service.resync_timeout_ms;
    s->start_ms = -1;
    s->src = calloc(s->n ? s->n : 1, sizeof *s->src);
    s->authority =
        calloc((s->n_locations ? s->n_locations : 1) * ATP_AUTH_BUCKET_COUNT,
               sizeof *s->authority);
    s->gone = calloc(s->n_locations ? s->n_locations : 1, sizeof *s->gone);
    if (s->src == NULL || s->authority == NULL || s->gone == NULL)
        goto fail;
    for (size_t i = 0; i < s->n; i++) {
        source *so = &s->src[i];
        so->cfg = &cfg->sources[i];
        so->held = calloc(s->max_held + 1, sizeof *so->held);
        so->feeds = calloc(cfg->n_regions, sizeof *so->feeds);
        if (so->held == NULL || so->feeds == NULL)
            goto fail;
        atomic_store(&so->last_recv_ms, -1);
        atomic_store(&so->last_heartbeat_ms, -1);
        atomic_store(&so->last_conflict_ms, -1);
        so->resync_sent_ms =
            INT64_MIN / 4; /* never: the first request is due */
        atomic_store(&so->heartbeat_timeout_ms, so->cfg->heartbeat_timeout_ms);
        for (size_t a = 0; a < so->cfg->n_authority; a++) {
            const config_authority *au = &so->cfg->authority[a];
            atomic_init(&s->authority[au->location * ATP_AUTH_BUCKET_COUNT +
                                      au->bucket],
                        (uint16_t)(i + 1));
        }
        sources_feeds_set(so, cfg, NULL);
    }
    for (size_t l = 0; l < s->n_locations; l++)
        atomic_init(&s->gone[l], cfg->locations[l].id == NULL);
    *out = s;
    return ATP_OK;
fail:
    sources_free(s);
    return ATP_E_NOMEM;
}

void sources_release_held(sources *s, sources_drop_fn drop, void *ctx)
{
    for (size_t i = 0; i < s->n; i++) {
        source *so = &s->src[i];
        for (size_t k = 0; k < so->n_held; k++)
            drop(ctx, so->held[k].item);
        so->n_held = 0;
    }
}

void sources_free(sources *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->src != NULL && i < s->n; i++) {
        source *so = &s->src[i];
        free(so->held);
        free(so->feeds);
    }
    free(s->src);
    free(s->authority);
    free(s->gone);
    free(s);
}

size_t sources_count(const sources *s)
{
    return s->n;
}

int sources_find(const sources *s, const char *id, size_t len)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *sid = s->src[i].cfg->id;
        if (strlen(sid) == len && memcmp(sid, id, len) == 0)
            return (int)i;
    }
    return -1;
}

bool sources_authorized(const sources *s, uint32_t src, uint32_t location,
                        uint8_t bucket)
{
    if (location >= s->n_locations || bucket >= ATP_AUTH_BUCKET_COUNT)
        return false;
    return atomic_load_explicit(
               &s->authority[location * ATP_AUTH_BUCKET_COUNT + bucket],
               memory_order_relaxed) == src + 1;
}

/* Deliver held messages that are now next in order; a resync whose hole
 * is filled is over. */
static void sources_drain(source *so, const sources_io *io)
{
    size_t k = 0;
    while (k < so->n_held && so->held[k].seq == so->next_seq) {
        io->deliver(io->ctx, so->held[k].item, so->held[k].seq);
        so->next_seq++;
        k++;
    }
    if (k > 0) {
        memmove(so->held, so->held + k, (so->n_held - k) * sizeof *so->held);
        so->n_held -= k;
    }
    if (so->resyncing && so->n_held == 0) {
        so->resyncing = false; /* the replay filled every hole */
        atomic_store_explicit(&so->resync_flag, false, memory_order_relaxed);
    }
    atomic_store_explicit(&so->held_now, so->n_held, memory_order_relaxed);
}

static void sources_request(sources *s, uint32_t src, int64_t now_ms,
                            const sources_io *io)
{
    source *so = &s->src[src];
    so->resync_sent_ms = now_ms;
    INC(so->resync_requests, 1);
    atomic_store_explicit(&so->resync_from, so->next_seq, memory_order_relaxed);
    io->request(io->ctx, src, so->mode, so->next_seq);
}

/* A hole outlived the reorder window (or the reorder buffer is full). */
static void sources_hole(sources *s, uint32_t src, int64_t now_ms,
                         const sources_io *io)
{
    source *so = &s->src[src];
    if (!so->cfg->resync) {
        /* No one to ask: skip the hole, say so, keep going. */
        uint64_t first = so->held[0].seq;
        INC(so->gaps, 1);
        INC(so->missed, first - so->next_seq);
        atomic_store_explicit(&so->gapped, true, memory_order_relaxed);
        so->next_seq = first;
        sources_drain(so, io);
        so->hold_deadline_ms = now_ms + s->window_ms;
        return;
    }
    INC(so->gaps, 1);
    so->resyncing = true;
    so->mode = SOURCES_RESYNC_REPLAY;
    so->resync_since_ms = now_ms;
    atomic_store_explicit(&so->resync_flag, true, memory_order_relaxed);
    sources_request(s, src, now_ms, io);
}

/* A resync that got no answer in time: apply what is held without the
 * missing messages (a gap, until a snapshot repairs it). */
static void sources_give_up(sources *s, uint32_t src, int64_t now_ms,
                            const sources_io *io)
{
    source *so = &s->src[src];
    so->resyncing = false;
    atomic_store_explicit(&so->resync_flag, false, memory_order_relaxed);
    atomic_store_explicit(&so->gapped, true, memory_order_relaxed);
    while (so->n_held > 0) {
        INC(so->missed, so->held[0].seq - so->next_seq);
        so->next_seq = so->held[0].seq;
        sources_drain(so, io);
    }
    so->mode = SOURCES_RESYNC_SNAPSHOT; /* keep asking for a snapshot */
    so->resync_sent_ms = now_ms;
}

void sources_receive(sources *s, uint32_t src, uint64_t seq, void *item,
                     int64_t now_ms, const sources_io *io)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    atomic_store_explicit(&so->last_recv_ms, now_ms, memory_order_relaxed);
    atomic_store_explicit(&so->silent, false, memory_order_relaxed);
    atomic_store_explicit(&so->ever_seen, true, memory_order_relaxed);
    so->restored = false; /* it speaks: holes are handled as they come */
    if (!so->seen) {
        /* Sequences start at 1. A first message with a later seq means the
         * stream began before we listened (or seq 1 is late): with resync,
         * wait for the rest from 1 (reorder window, then a replay or
         * snapshot request); without, start where the source is. */
        so->seen = true;
        so->next_seq = seq > 1 && so->cfg->resync ? 1 : seq;
    }
    if (seq < so->next_seq) {
        INC(so->duplicates, 1);
        io->drop(io->ctx, item);
        return;
    }
    if (seq - so->next_seq >= so->cfg->max_seq_jump) {
        /* Beyond last applied + max_seq_jump: a forged or broken seq must
         * not move the sequence (every later real message would be a
         * duplicate). Dropped; if the source really is that far ahead, its
         * full snapshot brings atpd there. */
        INC(so->seq_rejected, 1);
        io->drop(io->ctx, item);
        if (so->cfg->resync && now_ms - so->resync_sent_ms >= s->retry_ms) {
            so->mode = SOURCES_RESYNC_SNAPSHOT;
            sources_request(s, src, now_ms, io);
        }
        return;
    }
    if (seq == so->next_seq) {
        io->deliver(io->ctx, item, seq);
        so->next_seq++;
        sources_drain(so, io);
        if (so->n_held > 0 && !so->resyncing)
            so->hold_deadline_ms = now_ms + s->window_ms;
        return;
    }
    /* Ahead of the next expected: hold it, sorted, unless already held. */
    size_t pos = 0;
    while (pos < so->n_held && so->held[pos].seq < seq)
        pos++;
    if (pos < so->n_held && so->held[pos].seq == seq) {
        INC(so->duplicates, 1);
        io->drop(io->ctx, item);
        return;
    }
    if (so->n_held >= s->max_held) {
        /* Cannot hold more: this one is lost for now; only a snapshot can
         * cover it. */
        INC(so->missed, 1);
        io->drop(io->ctx, item);
        if (so->mode != SOURCES_RESYNC_SNAPSHOT) {
            so->mode = SOURCES_RESYNC_SNAPSHOT;
            sources_request(s, src, now_ms, io);
        }
        return;
    }
    memmove(so->held + pos + 1, so->held + pos,
            (so->n_held - pos) * sizeof *so->held);
    so->held[pos] = (sources_held){seq, item};
    if (so->n_held++ == 0)
        so->hold_deadline_ms = now_ms + s->window_ms;
    atomic_store_explicit(&so->held_now, so->n_held, memory_order_relaxed);
    if (!so->resyncing && so->n_held > s->max_reorder)
        sources_hole(s, src, now_ms, io);
}

/* Drop everything held (a session ends, or a reset): the full snapshot
 * that must come next covers it. */
static void sources_drop_held(source *so, const sources_io *io)
{
    for (size_t k = 0; k < so->n_held; k++)
        io->drop(io->ctx, so->held[k].item);
    so->n_held = 0;
    atomic_store_explicit(&so->held_now, 0, memory_order_relaxed);
}

/* Nothing of the source applies until a full snapshot does: ask for one
 * (sources_tick repeats it every resync_retry). */
static void sources_await_snapshot(sources *s, uint32_t src, int64_t now_ms,
                                   const sources_io *io)
{
    source *so = &s->src[src];
    sources_drop_held(so, io);
    so->need_snapshot = true;
    so->resyncing = false;
    so->restored = false;
    so->resync_since_ms = now_ms;
    atomic_store_explicit(&so->resync_flag, true, memory_order_relaxed);
    if (so->cfg->resync) {
        so->mode = SOURCES_RESYNC_SNAPSHOT;
        sources_request(s, src, now_ms, io);
    }
}

static void sources_conflict(sources *s, uint32_t src, int64_t now_ms)
{
    source *so = &s->src[src];
    INC(so->conflicts, 1);
    atomic_store_explicit(&so->last_conflict_ms, now_ms, memory_order_relaxed);
    atomic_store_explicit(&so->conflict, true, memory_order_relaxed);
}

sources_verdict sources_session(sources *s, uint32_t src, uint64_t session,
                                bool snapshot, int64_t now_ms,
                                const sources_io *io, uint64_t *ended)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    *ended = UINT64_MAX;
    if (!so->has_session || session == so->session) {
        so->has_session = true;
        so->session = session;
        so->session_heard_ms = now_ms;
        atomic_store_explicit(&so->cur_session, session, memory_order_relaxed);
    } else if (now_ms - so->session_heard_ms <=
               atomic_load_explicit(&so->heartbeat_timeout_ms,
                                    memory_order_relaxed)) {
        sources_conflict(s, src, now_ms);
        return SOURCES_CONFLICT_DROP;
    } else {
        /* The current session has been silent for heartbeat_timeout: an
         * adapter restart. What it lost of its state is unknown, so it
         * starts from its full snapshot (numbered at or above the last
         * applied seq: sources_snapshot_stale). */
        *ended = so->session;
        so->session = session;
        so->session_heard_ms = now_ms;
        atomic_store_explicit(&so->cur_session, session, memory_order_relaxed);
        INC(so->sessions, 1);
        sources_await_snapshot(s, src, now_ms, io);
    }
    if (so->need_snapshot && !snapshot) {
        INC(so->unsynced, 1);
        /* It is hearing from the source all the same. */
        atomic_store_explicit(&so->last_recv_ms, now_ms, memory_order_relaxed);
        atomic_store_explicit(&so->silent, false, memory_order_relaxed);
        return SOURCES_UNSYNCED;
    }
    return SOURCES_ACCEPT;
}

bool sources_session_current(const sources *s, uint32_t src, uint64_t session)
{
    ATP_ASSERT(src < s->n);
    const source *so = &s->src[src];
    return !so->has_session || so->session == session;
}

void sources_reset_request(sources *s, uint32_t src)
{
    ATP_ASSERT(src < s->n);
    atomic_fetch_add(&s->src[src].reset_req, 1);
}

uint64_t sources_reset_take(sources *s, uint32_t src)
{
    ATP_ASSERT(src < s->n);
    return atomic_exchange(&s->src[src].reset_req, 0);
}

void sources_reset(sources *s, uint32_t src, uint64_t ops, int64_t now_ms,
                   const sources_io *io)
{
    ATP_ASSERT(src < s->n && ops > 0);
    source *so = &s->src[src];
    INC(so->resets, ops);
    so->has_session = false;
    atomic_store_explicit(&so->cur_session, 0, memory_order_relaxed);
    atomic_store_explicit(&so->gapped, false, memory_order_relaxed);
    atomic_store_explicit(&so->conflict, false, memory_order_relaxed);
    so->reset = true;
    so->seen = true;
    sources_await_snapshot(s, src, now_ms, io);
}

void sources_count_bad_mac(sources *s, uint32_t src)
{
    ATP_ASSERT(src < s->n);
    INC(s->src[src].bad_mac, 1);
}

void sources_tick(sources *s, int64_t now_ms, const sources_io *io)
{
    if (s->start_ms < 0)
        s->start_ms = now_ms;
    for (size_t i = 0; i < s->n; i++) {
        source *so = &s->src[i];
        uint32_t src = (uint32_t)i;
        if (!so->resyncing && so->n_held > 0 && now_ms >= so->hold_deadline_ms)
            sources_hole(s, src, now_ms, io);
        if (so->resyncing && now_ms - so->resync_since_ms >= s->timeout_ms)
            sources_give_up(s, src, now_ms, io);
        else if (so->resyncing && now_ms - so->resync_sent_ms >= s->retry_ms)
            sources_request(s, src, now_ms, io);
        else if (so->need_snapshot && so->cfg->resync &&
                 now_ms - so->resync_sent_ms >= s->retry_ms)
            sources_request(s, src, now_ms, io); /* a new session or a reset */
        else if (so->restored && so->cfg->resync &&
                 now_ms - so->resync_sent_ms >= s->retry_ms)
            sources_request(s, src, now_ms, io); /* restart: not heard yet */
        else if (!so->resyncing && so->cfg->resync &&
                 atomic_load_explicit(&so->gapped, memory_order_relaxed) &&
                 now_ms - so->resync_sent_ms >= 5 * s->retry_ms) {
            so->mode = SOURCES_RESYNC_SNAPSHOT; /* a gap stays until repaired */
            sources_request(s, src, now_ms, io);
        }
        /* Silence counts from the last message, or from the start for a
         * source never heard from (or not since a restart): "not started
         * yet" turns into "silent since start" after the same timeout. */
        int64_t last =
            atomic_load_explicit(&so->last_recv_ms, memory_order_relaxed);
        if (last < 0)
            last = s->start_ms;
        if (now_ms - last > atomic_load_explicit(&so->heartbeat_timeout_ms,
                                                 memory_order_relaxed))
            atomic_store_explicit(&so->silent, true, memory_order_relaxed);
        int64_t conflict =
            atomic_load_explicit(&so->last_conflict_ms, memory_order_relaxed);
        if (conflict >= 0 &&
            now_ms - conflict > atomic_load_explicit(&so->heartbeat_timeout_ms,
                                                     memory_order_relaxed))
            atomic_store_explicit(&so->conflict, false, memory_order_relaxed);
    }
}

void sources_reload(sources *s, const config *next, const uint16_t *loc_region)
{
    ATP_ASSERT(next != NULL && loc_region != NULL);
    for (size_t i = 0; i < s->n && i < next->n_sources; i++)
        atomic_store_explicit(&s->src[i].heartbeat_timeout_ms,
                              next->sources[i].heartbeat_timeout_ms,
                              memory_order_relaxed);
    if (next->n_regions <= s->n_regions) /* spare regions: places kept */
        sources_relocate(s, loc_region);
}

/* sources_authority_set makes the table say what the sources'
 * configurations (so->cfg->authority, which the admin state rewrites)
 * say: each entry that changes stored once, so a message checked during
 * the change sees each pair's old owner or its new one. */
static void sources_authority_set(sources *s)
{
    size_t n = s->n_locations * ATP_AUTH_BUCKET_COUNT;
    uint16_t *next = calloc(n ? n : 1, sizeof *next);
    if (next == NULL) {
        log_error("sources", "out of memory: the authority table keeps its "
                             "owners until the next change");
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        for (size_t a = 0; a < s->src[i].cfg->n_authority; a++) {
            const config_authority *au = &s->src[i].cfg->authority[a];
            if (au->location < s->n_locations)
                next[au->location * ATP_AUTH_BUCKET_COUNT + au->bucket] =
                    (uint16_t)(i + 1);
        }
    for (size_t k = 0; k < n; k++)
        if (atomic_load_explicit(&s->authority[k], memory_order_relaxed) !=
            next[k])
            atomic_store_explicit(&s->authority[k], next[k],
                                  memory_order_relaxed);
    free(next);
}

void sources_relocate(sources *s, const uint16_t *loc_region)
{
    ATP_ASSERT(loc_region != NULL);
    sources_authority_set(s);
    for (size_t l = 0; l < s->n_locations; l++)
        atomic_store_explicit(&s->gone[l],
                              loc_region[l] == CONFIG_LOCATION_GONE,
                              memory_order_relaxed);
    for (size_t r = 0; r < s->n_regions; r++)
        for (size_t i = 0; i < s->n; i++) {
            source *so = &s->src[i];
            bool feeds = false;
            for (size_t a = 0; a < so->cfg->n_authority && !feeds; a++)
                feeds = loc_region[so->cfg->authority[a].location] == r;
            atomic_store_explicit(&so->feeds[r], feeds, memory_order_relaxed);
        }
}

size_t sources_locations_live(const sources *s)
{
    size_t n = 0;
    for (size_t l = 0; l < s->n_locations; l++)
        n += !atomic_load_explicit(&s->gone[l], memory_order_relaxed);
    return n;
}

bool sources_location_gone(const sources *s, uint32_t location)
{
    return location < s->n_locations &&
           atomic_load_explicit(&s->gone[location], memory_order_relaxed);
}

void sources_heartbeat(sources *s, uint32_t src, int64_t now_ms)
{
    ATP_ASSERT(src < s->n);
    atomic_store_explicit(&s->src[src].last_heartbeat_ms, now_ms,
                          memory_order_relaxed);
}

void sources_snapshot_applied(sources *s, uint32_t src, uint64_t seq,
                              int64_t now_ms, const sources_io *io)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    INC(so->snapshots_applied, 1);
    /* A snapshot is hearing from the source as much as a message is. */
    atomic_store_explicit(&so->last_recv_ms, now_ms, memory_order_relaxed);
    atomic_store_explicit(&so->silent, false, memory_order_relaxed);
    atomic_store_explicit(&so->ever_seen, true, memory_order_relaxed);
    so->seen = true;
    size_t k = 0;
    while (k < so->n_held && so->held[k].seq <= seq)
        io->drop(io->ctx, so->held[k++].item); /* the snapshot covers them */
    memmove(so->held, so->held + k, (so->n_held - k) * sizeof *so->held);
    so->n_held -= k;
    if (seq + 1 > so->next_seq || so->reset)
        so->next_seq = seq + 1; /* after a reset, the sequence restarts here */
    so->need_snapshot = false;
    so->reset = false;
    so->resyncing = so->n_held > 0 && so->held[0].seq != so->next_seq;
    sources_drain(so, io);
    atomic_store_explicit(&so->gapped, false, memory_order_relaxed);
    atomic_store_explicit(&so->resync_flag, so->resyncing,
                          memory_order_relaxed);
    so->mode = SOURCES_RESYNC_REPLAY;
    so->restored = false;
}

bool sources_restarting(const sources *s, uint32_t src)
{
    ATP_ASSERT(src < s->n);
    return s->src[src].reset;
}

bool sources_snapshot_stale(const sources *s, uint32_t src, uint64_t seq)
{
    ATP_ASSERT(src < s->n);
    const source *so = &s->src[src];
    return so->seen && !so->reset && seq + 1 < so->next_seq;
}

void sources_snapshot_aborted(sources *s, uint32_t src)
{
    ATP_ASSERT(src < s->n);
    INC(s->src[src].snapshots_aborted, 1);
}

void sources_restore(sources *s, uint32_t src, uint64_t seq)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    so->seen = true;
    so->next_seq = seq + 1;
    so->restored = true;
    atomic_store_explicit(&so->last_seq, seq, memory_order_relaxed);
}

void sources_resync_restored(sources *s, int64_t now_ms, const sources_io *io)
{
    for (size_t i = 0; i < s->n; i++) {
        source *so = &s->src[i];
        if (!so->restored || !so->cfg->resync)
            continue;
        /* Whatever the source sent while we were down: resend it. If it
         * sent nothing, the request costs it nothing. Repeated every
         * resync_retry until the source speaks (sources_tick). */
        so->mode = SOURCES_RESYNC_REPLAY;
        sources_request(s, (uint32_t)i, now_ms, io);
    }
}

static sources_state sources_state_of(const source *so)
{
    if (atomic_load_explicit(&so->conflict, memory_order_relaxed))
        return SOURCES_CONFLICT;
    if (!atomic_load_explicit(&so->ever_seen, memory_order_relaxed))
        return atomic_load_explicit(&so->silent, memory_order_relaxed)
                   ? SOURCES_SILENT /* silent since start */
                   : SOURCES_WAITING;
    if (atomic_load_explicit(&so->resync_flag, memory_order_relaxed))
        return SOURCES_RESYNCING;
    if (atomic_load_explicit(&so->gapped, memory_order_relaxed))
        return SOURCES_GAPPED;
    if (atomic_load_explicit(&so->silent, memory_order_relaxed))
        return SOURCES_SILENT;
    return SOURCES_OK;
}

bool sources_feeds(const sources *s, uint32_t src, uint32_t region)
{
    return src < s->n && region < s->n_regions &&
           atomic_load_explicit(&s->src[src].feeds[region],
                                memory_order_relaxed);
}

bool sources_region_stale(const sources *s, uint32_t region)
{
    for (size_t i = 0; i < s->n; i++) {
        const source *so = &s->src[i];
        if (region < s->n_regions &&
            atomic_load_explicit(&so->feeds[region], memory_order_relaxed) &&
            sources_state_of(so) != SOURCES_OK)
            return true;
    }
    return false;
}

void sources_count_applied(sources *s, uint32_t src, uint32_t events,
                           uint32_t heartbeats)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    INC(so->messages, 1);
    INC(so->events, events);
    INC(so->heartbeats, heartbeats);
}

void sources_count_rejected(sources *s, uint32_t src, uint32_t unauthorized,
                            uint32_t unknown_location)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    INC(so->rejected_messages, 1);
    INC(so->unauthorized, unauthorized);
    INC(so->unknown_location, unknown_location);
}

void sources_applied(sources *s, uint32_t src, uint64_t seq, uint64_t ts_ms,
                     int64_t wall_ms)
{
    ATP_ASSERT(src < s->n);
    source *so = &s->src[src];
    atomic_store_explicit(&so->last_ts_ms, ts_ms, memory_order_relaxed);
    atomic_store_explicit(&so->lag_ms, wall_ms - (int64_t)ts_ms,
                          memory_order_relaxed);
    /* last: a reader that sees the seq also sees its timestamp */
    atomic_store_explicit(&so->last_seq, seq, memory_order_release);
}

const char *sources_state_name(sources_state st)
{
    switch (st) {
    case SOURCES_WAITING:
        return "waiting";
    case SOURCES_OK:
        return "ok";
    case SOURCES_GAPPED:
        return "gapped";
    case SOURCES_SILENT:
        return "silent";
    case SOURCES_RESYNCING:
        return "resyncing";
    case SOURCES_CONFLICT:
        return "conflict";
    }
    return "unknown";
}

#define LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

void sources_status_get(const sources *s, uint32_t src, int64_t now_ms,
                        sources_status *out)
{
    ATP_ASSERT(src < s->n);
    const source *so = &s->src[src];
    int64_t last = LOAD(so->last_recv_ms);
    *out = (sources_status){
        .id = so->cfg->id,
        .state = sources_state_of(so),
        .last_seq = atomic_load_explicit(&so->last_seq, memory_order_acquire),
        .last_ts_ms = LOAD(so->last_ts_ms),
        .lag_ms = LOAD(so->lag_ms),
        .age_ms = last < 0 ? -1 : now_ms - last,
        .messages = LOAD(so->messages),
        .events = LOAD(so->events),
        .duplicates = LOAD(so->duplicates),
        .gaps = LOAD(so->gaps),
        .missed = LOAD(so->missed),
        .rejected_messages = LOAD(so->rejected_messages),
        .unauthorized = LOAD(so->unauthorized),
        .unknown_location = LOAD(so->unknown_location),
        .heartbeats = LOAD(so->heartbeats),
        .resync_requests = LOAD(so->resync_requests),
        .snapshots_applied = LOAD(so->snapshots_applied),
        .snapshots_aborted = LOAD(so->snapshots_aborted),
        .held = LOAD(so->held_now),
        .resync_from = LOAD(so->resync_from),
        .last_heartbeat_ms = LOAD(so->last_heartbeat_ms) < 0
                                 ? -1
                                 : now_ms - LOAD(so->last_heartbeat_ms),
        .session = LOAD(so->cur_session),
        .conflicts = LOAD(so->conflicts),
        .sessions = LOAD(so->sessions),
        .unsynced = LOAD(so->unsynced),
        .seq_rejected = LOAD(so->seq_rejected),
        .bad_mac = LOAD(so->bad_mac),
        .resets = LOAD(so->resets),
    };
}
