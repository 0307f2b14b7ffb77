/*
 * ingest.c - nng SUB transport for source feeds. Runs on the ingest thread;
 * ingest_release runs on the engine thread (see ingest.h).
 *
 * A message's life: nng_recvmsg -> decode + validate (codec) -> sequencing
 * (sources: duplicate / hold / deliver) -> authority check -> engine queue
 * -> applied by the engine thread -> ingest_release frees it and records
 * the applied offset. The nng message and its decode arena travel together
 * as one ingest_item, because decoded strings point into the message.
 */
#include "ingest/ingest.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/names.h"
#include "crypto/crypto.h"
#include "tls/tls.h"

/* How often the ingest thread ticks (reorder deadlines, silence, resync
 * retries): well inside the 100 ms reorder window.
 *
 * The thread waits for messages on the socket's readiness fd with poll(),
 * not with a receive timeout: nng 1.5's expiry thread spins on the clock
 * for up to a millisecond whenever an aio times out within the current
 * millisecond, so a 25 ms receive timeout alone kept an idle atpd at
 * ~3.5 % of a CPU. Receives are non-blocking and complete at once. */
#define INGEST_TICK_MS 25
#define INGEST_NNG_MAX_RECVBUF 8192 /* nng 1.5 refuses larger queues */

typedef struct ingest_item {
    struct ingest *in;
    nng_msg *msg;
    codec_arena *arena;
    codec_src_msg m;    /* valid when decode_err == ATP_OK */
    atp_err decode_err; /* set: rejected whole, still consumes its seq */
    uint32_t src;
    uint64_t seq;
    uint64_t ts_ms;
    engine_event *events;
} ingest_item;

/* A full snapshot being received from one source: its parts (items) until
 * the last one arrives; nothing is applied before that. */
typedef struct ingest_snapshot {
    bool active;
    uint64_t id;
    uint64_t session; /* of its part 0: every part comes from it */
    uint32_t next_part;
    uint64_t seq; /* consistent with */
    ingest_item **items;
    size_t n, cap;
    uint64_t events;
    int64_t started_ms;
} ingest_snapshot;

/* What the engine releases after applying a snapshot. */
typedef struct ingest_snapshot_batch {
    struct ingest *in;
    uint32_t src;
    uint64_t seq, ts_ms;
    ingest_item **items;
    size_t n;
    engine_event *events;
} ingest_snapshot_batch;

struct ingest {
    const config *cfg;
    engine *eng;
    sources *src;
    nng_socket sock;
    bool sock_open;
    int recv_fd;        /* readable while sock has messages queued */
    nng_socket control; /* PUB: resync requests to sources */
    bool control_open;
    char url[2][256]; /* bound source and control URLs: port 0 resolved */
    uint64_t request_id;
    _Atomic bool stopping; /* the thread leaves by its next tick */
    sources_io io;
    ingest_snapshot *snaps; /* per source */
    bool restored_asked;
    pthread_t thread;
    bool running;
    names locs;          /* location id -> index */
    const char **loc_ids; /* the ids names borrows */
    uint64_t log_budget; /* rejections logged so far (ingest thread) */
    int64_t *conflict_log_ms; /* per source: conflicts logged once a second */
    uint64_t *conflicts_unlogged; /* per source: since the last line */
    uint64_t *conflict_session;   /* [2 src]: the last intruder, [2 src + 1]:
                                     the session live then */

    _Atomic uint64_t received, bytes, bad_messages, unknown_source, rejected;
};

/* ---- location lookup (immutable after alloc) --------------------------- */

static atp_err ingest_locs_build(ingest *in)
{
    size_t n = in->cfg->n_locations;
    in->loc_ids = calloc(n ? n : 1, sizeof *in->loc_ids);
    if (in->loc_ids == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        in->loc_ids[i] = in->cfg->locations[i].id;
    return names_init(&in->locs, in->loc_ids, n);
}

/* ---- items ------------------------------------------------------------- */

static void ingest_item_free(ingest_item *it)
{
    if (it == NULL)
        return;
    if (it->msg != NULL)
        nng_msg_free(it->msg);
    codec_arena_free(it->arena);
    free(it);
}

static void ingest_drop(void *ctx, void *item)
{
    (void)ctx;
    ingest_item_free(item);
}

/* ingest_release: engine thread, once the batch is applied (or dropped). */
static void ingest_release(void *owner, bool applied)
{
    ingest_item *it = owner;
    if (!applied)
        log_error("ingest", "source %s seq %llu was not applied",
                  it->in->cfg->sources[it->src].id, (unsigned long long)it->seq);
    sources_applied(it->in->src, it->src, it->seq, it->ts_ms, clock_wall_ms());
    ingest_item_free(it);
}

static bool ingest_should_log(ingest *in)
{
    in->log_budget++;
    return in->log_budget <= 20 || in->log_budget % 1000 == 0;
}

/* Resolve and authorize events; on any failure nothing of the message is
 * applied. Returns the number of engine events written to out, or -1 if
 * the message must be rejected (counted and logged here). */
static int64_t ingest_resolve(ingest *in, uint32_t src, uint64_t seq,
                              const codec_event *evs, uint32_t n_evs,
                              engine_event *out, uint32_t *heartbeats)
{
    uint32_t unauthorized = 0, unknown_loc = 0, n = 0;
    *heartbeats = 0;
    for (uint32_t i = 0; i < n_evs; i++) {
        const codec_event *ev = &evs[i];
        if (ev->kind == ATP_EV_HEARTBEAT) {
            (*heartbeats)++;
            continue;
        }
        int64_t loc = names_find(&in->locs, ev->location.ptr, ev->location.len);
        if (loc < 0 || sources_location_gone(in->src, (uint32_t)loc)) {
            unknown_loc++;
            continue;
        }
        bool lot = ev->kind >= ATP_EV_LOT_ADD;
        uint8_t auth = lot ? ATP_AUTH_INBOUND : ev->bucket;
        if (!sources_authorized(in->src, src, (uint32_t)loc, auth)) {
            unauthorized++;
            continue;
        }
        out[n++] = (engine_event){
            .kind = ev->kind,
            .bucket = ev->bucket,
            .receive_to_on_hand =
                ev->kind == ATP_EV_LOT_RECEIVE &&
                sources_authorized(in->src, src, (uint32_t)loc, ATP_BUCKET_ON_HAND),
            .location = (uint16_t)loc,
            .sku_len = ev->sku.len,
            .sku = ev->sku.ptr,
            .value = ev->value,
            .ref = ev->ref.ptr,
            .ref_len = ev->ref.len,
            .eta_ms = ev->eta_ms,
        };
    }
    if (unauthorized || unknown_loc) {
        sources_count_rejected(in->src, src, unauthorized, unknown_loc);
        atomic_fetch_add_explicit(&in->rejected, 1, memory_order_relaxed);
        if (ingest_should_log(in))
            log_warn("ingest",
                     "source %s seq %llu rejected whole: %u events outside its "
                     "authority, %u naming unknown locations",
                     in->cfg->sources[src].id, (unsigned long long)seq,
                     unauthorized, unknown_loc);
        return -1;
    }
    return n;
}

/* ingest_deliver: the message is next in its source's order. */
static void ingest_deliver(void *ctx, void *item, uint64_t seq)
{
    ingest *in = ctx;
    ingest_item *it = item;
    engine_batch b = {.events = NULL,
                      .n = 0,
                      .from_source = true,
                      .source = it->src,
                      .seq = seq,
                      .ts_ms = it->ts_ms,
                      .release = ingest_release,
                      .owner = it};
    if (it->decode_err != ATP_OK) {
        sources_count_rejected(in->src, it->src, 0, 0);
        atomic_fetch_add_explicit(&in->rejected, 1, memory_order_relaxed);
        if (ingest_should_log(in))
            log_warn("ingest", "source %s seq %llu rejected whole: %s",
                     in->cfg->sources[it->src].id, (unsigned long long)seq,
                     atp_err_message(it->decode_err));
    } else {
        uint32_t heartbeats = 0;
        it->events = codec_arena_malloc(
            it->arena, (it->m.n_events ? it->m.n_events : 1) * sizeof *it->events);
        int64_t n = it->events == NULL
                        ? -1
                        : ingest_resolve(in, it->src, seq, it->m.events,
                                         it->m.n_events, it->events, &heartbeats);
        if (heartbeats > 0)
            sources_heartbeat(in->src, it->src, clock_mono_ms());
        if (n >= 0) {
            b.events = it->events;
            b.n = (uint32_t)n;
            sources_count_applied(in->src, it->src, (uint32_t)n, heartbeats);
        }
    }
    /* Rejected messages travel through the queue too (with no events) so
     * that the applied offset advances in sequence order. */
    if (engine_submit(in->eng, &b) != ATP_OK)
        ingest_item_free(it);
}

/* ---- resync requests and full snapshots --------------------------------- */

static void ingest_request(void *ctx, uint32_t src, sources_resync_mode mode,
                           uint64_t from_seq)
{
    ingest *in = ctx;
    const char *id = in->cfg->sources[src].id;
    nng_msg *msg;
    if (!in->control_open || nng_msg_alloc(&msg, 0) != 0)
        return;
    nng_msg_append(msg, ATP_RESYNC_TOPIC, sizeof ATP_RESYNC_TOPIC);
    nng_msg_append(msg, id, strlen(id) + 1);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL) {
        nng_msg_free(msg);
        return;
    }
    const char *mode_name = mode == SOURCES_RESYNC_SNAPSHOT ? "snapshot" : "replay";
    codec_w_map(w, 5);
    codec_w_kv_cstr(w, "source", id);
    codec_w_kv_cstr(w, "mode", mode_name);
    codec_w_kv_uint(w, "from_seq", from_seq);
    codec_w_kv_count(w, "request_id", ++in->request_id);
    codec_w_kv_int(w, "ts_ms", clock_wall_ms());
    size_t len;
    const void *body = codec_writer_data(w, &len);
    int rv = codec_writer_failed(w) ? NNG_ENOMEM : nng_msg_append(msg, body, len);
    codec_writer_free(w);
    if (rv == 0)
        rv = nng_sendmsg(in->control, msg, 0);
    if (rv != 0) {
        nng_msg_free(msg);
        log_warn("ingest", "resync request to %s not sent: %s", id, nng_strerror(rv));
        return;
    }
    log_info("ingest", "asked source %s for a %s from seq %llu", id, mode_name,
             (unsigned long long)from_seq);
}

static void ingest_snapshot_reset(ingest_snapshot *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        ingest_item_free(sn->items[i]);
    sn->n = 0;
    sn->events = 0;
    sn->active = false;
}

static void ingest_snapshot_abort(ingest *in, uint32_t src, const char *why)
{
    ingest_snapshot *sn = &in->snaps[src];
    log_warn("ingest", "snapshot %llu of source %s abandoned (%s): nothing of "
                       "it applied",
             (unsigned long long)sn->id, in->cfg->sources[src].id, why);
    ingest_snapshot_reset(sn);
    sources_snapshot_aborted(in->src, src);
}

/* ingest_snapshot_release: engine thread, after the snapshot is applied. */
static void ingest_snapshot_release(void *owner, bool applied)
{
    ingest_snapshot_batch *sb = owner;
    if (!applied)
        log_error("ingest", "snapshot of source %s could not be applied",
                  sb->in->cfg->sources[sb->src].id);
    /* The source's applied offset is now the snapshot's seq. */
    sources_applied(sb->in->src, sb->src, sb->seq, sb->ts_ms, clock_wall_ms());
    for (size_t i = 0; i < sb->n; i++)
        ingest_item_free(sb->items[i]);
    free(sb->items);
    free(sb->events);
    free(sb);
}

/* All parts are here: resolve everything, then hand it to the engine as one
 * batch that replaces the source's authority. */
static void ingest_snapshot_apply(ingest *in, uint32_t src)
{
    ingest_snapshot *sn = &in->snaps[src];
    /* A snapshot older than what was applied (a late or repeated one)
     * would roll the positions back, and the messages after it would not
     * come again: they are duplicates now. */
    if (sources_snapshot_stale(in->src, src, sn->seq)) {
        ingest_snapshot_abort(in, src,
                              "older than the messages already applied; a new "
                              "session numbers at or above the last applied "
                              "seq, docs/PROTOCOL.md \"Publisher sessions\"");
        return;
    }
    if (!sources_session_current(in->src, src, sn->session)) {
        ingest_snapshot_abort(in, src, "its session is no longer the current one");
        return;
    }
    ingest_snapshot_batch *sb = calloc(1, sizeof *sb);
    engine_event *events = malloc((sn->events ? sn->events : 1) * sizeof *events);
    if (sb == NULL || events == NULL) {
        free(sb);
        free(events);
        ingest_snapshot_abort(in, src, "out of memory");
        return;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < sn->n; i++) {
        ingest_item *part = sn->items[i];
        uint32_t hb;
        int64_t k = ingest_resolve(in, src, sn->seq, part->m.events,
                                   part->m.n_events, events + n, &hb);
        if (k < 0) {
            free(sb);
            free(events);
            ingest_snapshot_abort(in, src, "events outside the source's authority");
            return;
        }
        n += (uint64_t)k;
    }
    *sb = (ingest_snapshot_batch){in, src, sn->seq, sn->items[0]->ts_ms,
                                  sn->items, sn->n, events};
    engine_batch b = {.events = events,
                      .n = (uint32_t)n,
                      .from_source = true,
                      .source = src,
                      .seq = sn->seq,
                      .ts_ms = sn->items[0]->ts_ms,
                      .replace_authority = true,
                      .restarts_sequence = sources_restarting(in->src, src),
                      .release = ingest_snapshot_release,
                      .owner = sb};
    uint64_t seq = sn->seq;
    sn->items = NULL; /* the batch owns them now */
    sn->n = sn->cap = 0;
    sn->events = 0;
    sn->active = false;
    if (engine_submit(in->eng, &b) != ATP_OK) {
        ingest_snapshot_release(sb, false);
        return;
    }
    log_info("ingest", "snapshot of source %s applied: %llu events, consistent "
                       "with seq %llu",
             in->cfg->sources[src].id, (unsigned long long)n,
             (unsigned long long)seq);
    sources_snapshot_applied(in->src, src, seq, clock_mono_ms(), &in->io);
}

static void ingest_snapshot_part(ingest *in, ingest_item *it)
{
    ingest_snapshot *sn = &in->snaps[it->src];
    const codec_src_msg *m = &it->m;
    if (m->part == 0) {
        if (sn->active)
            ingest_snapshot_abort(in, it->src, "a new snapshot began");
        *sn = (ingest_snapshot){.active = true, .id = m->snapshot_id,
                                .session = m->session,
                                .seq = m->seq, .items = sn->items,
                                .cap = sn->cap, .started_ms = clock_mono_ms()};
    } else if (!sn->active || m->snapshot_id != sn->id ||
               m->part != sn->next_part || m->seq != sn->seq ||
               m->session != sn->session) {
        if (sn->active)
            ingest_snapshot_abort(in, it->src, "a part is missing");
        ingest_item_free(it);
        return;
    }
    if (sn->n == sn->cap) {
        size_t cap = sn->cap ? sn->cap * 2 : 64;
        ingest_item **items = realloc(sn->items, cap * sizeof *items);
        if (items == NULL) {
            uint32_t src = it->src;
            ingest_item_free(it);
            ingest_snapshot_abort(in, src, "out of memory");
            return;
        }
        sn->items = items;
        sn->cap = cap;
    }
    sn->items[sn->n++] = it;
    sn->events += m->n_events;
    sn->next_part++;
    if (sn->events > in->cfg->service.snapshot_max_events)
        ingest_snapshot_abort(in, it->src, "too many events");
    else if (m->last)
        ingest_snapshot_apply(in, it->src);
}

/* When the full decode fails, try to read just the envelope so that the
 * rejection is charged to its source and the message consumes its seq. */
static bool ingest_peek_envelope(codec_arena *a, const void *buf, size_t len,
                                 codec_str *source, uint64_t *seq, uint64_t *ts,
                                 uint64_t *session)
{
    const codec_val *v;
    if (codec_decode(a, buf, len, &v) != ATP_OK || codec_val_type(v) != CODEC_ARRAY ||
        codec_val_len(v) < 4)
        return false;
    uint64_t kind;
    *session = 0; /* the 6th element: a session not 1..2^53-1 is a malformed
                     header (no seq consumed), like a bad seq */
    if (codec_val_len(v) >= 6 &&
        (!codec_val_uint(codec_val_at(v, 5), session) || *session == 0 ||
         *session > (uint64_t)ATP_WIRE_INT_MAX))
        return false;
    return codec_val_uint(codec_val_at(v, 0), &kind) && kind == ATP_MSG_SOURCE_BATCH &&
           codec_val_str(codec_val_at(v, 1), source) &&
           codec_val_uint(codec_val_at(v, 2), seq) &&
           codec_val_uint(codec_val_at(v, 3), ts) && *seq <= (uint64_t)ATP_WIRE_INT_MAX &&
           *ts <= (uint64_t)ATP_WIRE_INT_MAX; /* else a malformed header: no seq */
}

/* ingest_mac_ok: the message ends with a MAC (0xc4 0x20 and 32 bytes) that
 * is HMAC-SHA-256(key, every byte before it) (docs/PROTOCOL.md, "Source
 * keys"). Checked on the raw bytes, so that a message whose events do not
 * decode is authenticated the same way before it may consume a seq. */
static bool ingest_mac_ok(const config_source *cs, const uint8_t *buf, size_t len)
{
    if (len < ATP_SRC_MAC_TAIL || buf[len - ATP_SRC_MAC_TAIL] != 0xc4 ||
        buf[len - ATP_SRC_MAC_TAIL + 1] != ATP_SRC_MAC_LEN)
        return false;
    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(cs->key, cs->key_len, buf, len - ATP_SRC_MAC_TAIL, mac);
    return crypto_equal(mac, buf + len - ATP_SRC_MAC_LEN, ATP_SRC_MAC_LEN);
}

/* Conflicts are logged at most once a second per source, with the count
 * since the last line and the last intruding session: when one comes
 * (ingest_conflict_note) and from the tick for what a second left
 * unlogged (ingest_conflict_flush). Ingest thread. */
static void ingest_conflict_flush(ingest *in, uint32_t src, int64_t now)
{
    if (in->conflicts_unlogged[src] == 0 ||
        (in->conflict_log_ms[src] != 0 && now - in->conflict_log_ms[src] < 1000))
        return;
    log_warn("ingest",
             "source %s: %llu message(s) of session %llu dropped (since the last "
             "such line) while session %llu was live: a second publisher uses "
             "this source id (docs/PROTOCOL.md, \"Publisher sessions\")",
             in->cfg->sources[src].id, (unsigned long long)in->conflicts_unlogged[src],
             (unsigned long long)in->conflict_session[2 * src],
             (unsigned long long)in->conflict_session[2 * src + 1]);
    in->conflicts_unlogged[src] = 0;
    in->conflict_log_ms[src] = now;
}

static void ingest_conflict_note(ingest *in, uint32_t src, uint64_t session,
                                 int64_t now)
{
    sources_status st;
    sources_status_get(in->src, src, now, &st);
    in->conflicts_unlogged[src]++;
    in->conflict_session[2 * src] = session;
    in->conflict_session[2 * src + 1] = st.session;
    ingest_conflict_flush(in, src, now);
}

/* ingest_session: the publisher-session check (sources_session); true
 * when the message goes on, else it was counted and is freed here. */
static bool ingest_session(ingest *in, ingest_item *it, uint64_t session,
                           bool snapshot)
{
    int64_t now = clock_mono_ms();
    uint64_t ended;
    sources_verdict v =
        sources_session(in->src, it->src, session, snapshot, now, &in->io, &ended);
    if (ended != UINT64_MAX) {
        if (in->snaps[it->src].active)
            ingest_snapshot_abort(in, it->src, "its session ended");
        log_info("ingest",
                 "source %s: new session %llu after session %llu was silent "
                 "for heartbeat_timeout: nothing of it applies before its "
                 "full snapshot (asked for)",
                 in->cfg->sources[it->src].id, (unsigned long long)session,
                 (unsigned long long)ended);
    }
    if (v == SOURCES_CONFLICT_DROP)
        ingest_conflict_note(in, it->src, session, now);
    if (v == SOURCES_ACCEPT)
        return true;
    ingest_item_free(it);
    return false;
}

static void ingest_handle(ingest *in, nng_msg *msg)
{
    size_t len = nng_msg_len(msg);
    atomic_fetch_add_explicit(&in->received, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&in->bytes, len, memory_order_relaxed);
    ingest_item *it = calloc(1, sizeof *it);
    if (it == NULL || (it->arena = codec_arena_alloc()) == NULL) {
        free(it);
        nng_msg_free(msg);
        log_error("ingest", "out of memory: message dropped");
        return;
    }
    it->in = in;
    it->msg = msg;
    const void *body = nng_msg_body(msg);
    codec_str source_id;
    uint32_t bad_event;
    uint64_t session = 0;
    it->decode_err = codec_src_decode(it->arena, body, len,
                                      in->cfg->service.max_events_per_message,
                                      &it->m, &bad_event);
    if (it->decode_err == ATP_OK) {
        source_id = it->m.source;
        it->seq = it->m.seq;
        it->ts_ms = it->m.ts_ms;
        session = it->m.session;
    } else if (!ingest_peek_envelope(it->arena, body, len, &source_id, &it->seq,
                                     &it->ts_ms, &session)) {
        atomic_fetch_add_explicit(&in->bad_messages, 1, memory_order_relaxed);
        if (ingest_should_log(in))
            log_warn("ingest", "undecodable message of %zu bytes dropped: %s",
                     len, atp_err_message(it->decode_err));
        ingest_item_free(it);
        return;
    }
    int src = sources_find(in->src, source_id.ptr, source_id.len);
    if (src < 0) {
        atomic_fetch_add_explicit(&in->unknown_source, 1, memory_order_relaxed);
        if (ingest_should_log(in))
            log_warn("ingest", "message from unknown source '%.*s' dropped",
                     (int)(source_id.len > 64 ? 64 : source_id.len), source_id.ptr);
        ingest_item_free(it);
        return;
    }
    it->src = (uint32_t)src;
    const config_source *cs = &in->cfg->sources[src];
    if (cs->key_len > 0 && !ingest_mac_ok(cs, body, len)) {
        /* Not from the holder of the key: as if never sent (no seq
         * consumed, no session heard). */
        sources_count_bad_mac(in->src, it->src);
        atomic_fetch_add_explicit(&in->rejected, 1, memory_order_relaxed);
        if (ingest_should_log(in))
            log_warn("ingest",
                     "message naming source %s dropped: no valid MAC for its "
                     "key (docs/PROTOCOL.md, \"Source keys\")",
                     cs->id);
        ingest_item_free(it);
        return;
    }
    bool snapshot = it->decode_err == ATP_OK && it->m.kind == ATP_MSG_SNAPSHOT;
    if (!ingest_session(in, it, session, snapshot))
        return;
    if (snapshot) {
        ingest_snapshot_part(in, it);
        return;
    }
    sources_receive(in->src, it->src, it->seq, it, clock_mono_ms(), &in->io);
}

static void ingest_tick(ingest *in)
{
    int64_t now = clock_mono_ms();
    if (!in->restored_asked) {
        in->restored_asked = true;
        sources_resync_restored(in->src, now, &in->io);
    }
    for (uint32_t s = 0; s < in->cfg->n_sources; s++) {
        if (in->snaps[s].active &&
            now - in->snaps[s].started_ms > in->cfg->service.snapshot_timeout_ms)
            ingest_snapshot_abort(in, s, "timed out");
        ingest_conflict_flush(in, s, now);
        if (sources_reset_take(in->src, s)) {
            if (in->snaps[s].active)
                ingest_snapshot_abort(in, s, "the source was reset");
            sources_reset(in->src, s, now, &in->io);
            log_warn("ingest",
                     "source %s reset (source_reset): nothing of it applies "
                     "until its next full snapshot, whatever that snapshot's "
                     "seq",
                     in->cfg->sources[s].id);
        }
    }
    sources_tick(in->src, now, &in->io);
    for (uint32_t r = 0; r < in->cfg->n_regions; r++)
        engine_region_stale_set(in->eng, r, sources_region_stale(in->src, r));
}

static void *ingest_thread_main(void *arg)
{
    thread_name("atp:ingest");
    health_slot *hs = health_thread_add("atp:ingest");
    ingest *in = arg;
    int64_t next_tick = clock_mono_ms();
    while (!atomic_load(&in->stopping)) {
        health_busy(hs);
        nng_msg *msg;
        int rv = nng_recvmsg(in->sock, &msg, NNG_FLAG_NONBLOCK);
        if (rv == 0)
            ingest_handle(in, msg);
        else if (rv == NNG_ECLOSED)
            break;
        else if (rv != NNG_EAGAIN)
            log_warn("ingest", "receive failed: %s", nng_strerror(rv));
        int64_t now = clock_mono_ms();
        if (now >= next_tick) {
            ingest_tick(in);
            next_tick = now + INGEST_TICK_MS;
        }
        if (rv == NNG_EAGAIN) { /* nothing queued: a message or the tick */
            struct pollfd p = {.fd = in->recv_fd, .events = POLLIN};
            int64_t wait = next_tick - clock_mono_ms();
            health_idle(hs);
            poll(&p, 1, wait > 0 ? (int)wait : 0);
        }
    }
    health_thread_remove(hs);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static atp_err ingest_fail(const char *what, int rv)
{
    log_error("ingest", "%s: %s", what, nng_strerror(rv));
    return ATP_E_TRANSPORT;
}

const char *ingest_listen_url(const ingest *in, bool control)
{
    return in->url[control ? 1 : 0];
}

atp_err ingest_alloc(const config *cfg, engine *eng, sources *src, ingest **out)
{
    ingest *in = calloc(1, sizeof *in);
    if (in == NULL)
        return ATP_E_NOMEM;
    in->cfg = cfg;
    in->eng = eng;
    in->src = src;
    in->io = (sources_io){ingest_deliver, ingest_drop, ingest_request, in};
    atp_err err = ingest_locs_build(in);
    if (err != ATP_OK)
        goto fail;
    in->snaps = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *in->snaps);
    in->conflict_log_ms = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(int64_t));
    in->conflicts_unlogged = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof(uint64_t));
    in->conflict_session = calloc(2 * (cfg->n_sources ? cfg->n_sources : 1), sizeof(uint64_t));
    if (in->snaps == NULL || in->conflict_log_ms == NULL || in->conflicts_unlogged == NULL ||
        in->conflict_session == NULL) {
        err = ATP_E_NOMEM;
        goto fail;
    }
    int rv;
    if ((rv = nng_sub0_open(&in->sock)) != 0) {
        err = ingest_fail("cannot open SUB socket", rv);
        goto fail;
    }
    in->sock_open = true;
    /* A hostile or broken peer must not make nng allocate without bound:
     * messages above the limit are dropped by nng and the pipe closed. */
    int recvbuf = cfg->service.ingest_recv_buffer;
    if (recvbuf > INGEST_NNG_MAX_RECVBUF)
        recvbuf = INGEST_NNG_MAX_RECVBUF;
    if ((rv = nng_socket_set(in->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ,
                                  cfg->service.ingest_recv_max_bytes)) != 0 ||
        (rv = nng_socket_set_int(in->sock, NNG_OPT_RECVBUF, recvbuf)) != 0 ||
        (rv = nng_socket_get_int(in->sock, NNG_OPT_RECVFD, &in->recv_fd)) != 0) {
        err = ingest_fail("cannot set SUB socket options", rv);
        goto fail;
    }
    if ((err = tls_listen(in->sock, cfg->service.ingest_listen, &cfg->tls, "ingest",
                          in->url[0], sizeof in->url[0])) != ATP_OK)
        goto fail;
    if ((rv = nng_pub0_open(&in->control)) != 0) {
        err = ingest_fail("cannot open the control PUB socket", rv);
        goto fail;
    }
    in->control_open = true;
    /* Requests are few, but never lose one to nng's default queue of 16. */
    nng_socket_set_int(in->control, NNG_OPT_SENDBUF, 1024);
    if ((err = tls_listen(in->control, cfg->service.control_listen, &cfg->tls, "ingest",
                          in->url[1], sizeof in->url[1])) != ATP_OK)
        goto fail;
    /* Until the first tick: every region fed by a source that has not
     * spoken yet is stale. */
    for (uint32_t r = 0; r < cfg->n_regions; r++)
        engine_region_stale_set(eng, r, sources_region_stale(src, r));
    *out = in;
    return ATP_OK;
fail:
    ingest_free(in);
    return err;
}

atp_err ingest_start(ingest *in)
{
    if (pthread_create(&in->thread, NULL, ingest_thread_main, in) != 0)
        return ATP_E_NOMEM;
    in->running = true;
    return ATP_OK;
}

/* Socket closes are bounded (thread_run_bounded: nng 1.5.2's nng_close
 * can wait forever); the process is stopping when they run. */
static void ingest_close_fn(void *arg) { nng_close(*(nng_socket *)arg); }

void ingest_stop(ingest *in)
{
    /* Let the thread leave by itself (it wakes at least every tick):
     * closing a socket under a blocked nng_recvmsg can make nng 1.5 panic,
     * so the socket is closed only after the join. */
    atomic_store(&in->stopping, true);
    if (in->running) {
        pthread_join(in->thread, NULL);
        in->running = false;
    }
    if (in->sock_open) {
        thread_run_bounded(ingest_close_fn, &in->sock, sizeof in->sock, 1000,
                           "closing the ingest SUB socket");
        in->sock_open = false;
    }
    /* Only now: the ingest thread sends resync requests on it. */
    if (in->control_open) {
        thread_run_bounded(ingest_close_fn, &in->control, sizeof in->control, 1000,
                           "closing the resync control PUB socket");
        in->control_open = false;
    }
}

void ingest_free(ingest *in)
{
    if (in == NULL)
        return;
    ingest_stop(in);
    sources_release_held(in->src, ingest_drop, in);
    for (size_t s = 0; in->snaps != NULL && s < in->cfg->n_sources; s++) {
        ingest_snapshot_reset(&in->snaps[s]);
        free(in->snaps[s].items);
    }
    free(in->snaps);
    free(in->conflict_log_ms);
    free(in->conflicts_unlogged);
    free(in->conflict_session);
    names_fini(&in->locs);
    free(in->loc_ids);
    free(in);
}

void ingest_stats_get(const ingest *in, ingest_stats *out)
{
    *out = (ingest_stats){
        .received = atomic_load_explicit(&in->received, memory_order_relaxed),
        .bytes = atomic_load_explicit(&in->bytes, memory_order_relaxed),
        .bad_messages = atomic_load_explicit(&in->bad_messages, memory_order_relaxed),
        .unknown_source =
            atomic_load_explicit(&in->unknown_source, memory_order_relaxed),
        .rejected = atomic_load_explicit(&in->rejected, memory_order_relaxed),
    };
}
