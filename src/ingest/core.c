/*
 * core.c - the message path of ingest, without nng (see core.h). Ingest
 * thread; ingest_release runs where a batch is applied (the engine thread).
 *
 * A message's life: ingest_core_receive -> decode + validate (codec) ->
 * source (the configuration's map) -> MAC -> publisher session ->
 * sequencing (sources: duplicate / hold / deliver) -> ingest_deliver:
 * locations resolved and authority checked -> hooks.submit -> applied ->
 * ingest_release frees it and records the applied offset. Snapshot parts
 * leave the path after the session check (snapshot.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "ingest/ingest_int.h"

/* ---- items ------------------------------------------------------------- */

void ingest__item_free(ingest_item *it)
{
    if (it == NULL)
        return;
    if (it->msg != NULL && it->core->hooks.msg_free != NULL)
        it->core->hooks.msg_free(it->msg);
    codec_arena_free(it->arena);
    free(it);
}

static void ingest_drop(void *ctx, void *item)
{
    (void)ctx;
    ingest__item_free(item);
}

/* ingest_release: engine thread, once the batch is applied (or dropped). */
static void ingest_release(void *owner, bool applied)
{
    ingest_item *it = owner;
    ingest_core *c = it->core;
    if (!applied)
        log_error("ingest", "source %s seq %llu was not applied",
                  c->cfg->sources[it->src].id, (unsigned long long)it->seq);
    sources_applied(c->src, it->src, it->seq, it->ts_ms, clock_wall_ms());
    ingest__item_free(it);
}

bool ingest__should_log(ingest_core *c)
{
    c->log_budget++;
    return c->log_budget <= 20 || c->log_budget % 1000 == 0;
}

/* ---- resolution and authority ------------------------------------------ */

int64_t ingest__resolve(ingest_core *c, uint32_t src, uint64_t seq,
                        const codec_event *evs, uint32_t n_evs,
                        engine_event *out, uint32_t *heartbeats)
{
    ATP_ASSERT(src < c->cfg->n_sources);
    uint32_t unauthorized = 0, unknown_loc = 0, n = 0;
    *heartbeats = 0;
    for (uint32_t i = 0; i < n_evs; i++) {
        const codec_event *ev = &evs[i];
        if (ev->kind == ATP_EV_HEARTBEAT) {
            (*heartbeats)++;
            continue;
        }
        int loc =
            config_location_find(c->cfg, ev->location.ptr, ev->location.len);
        if (loc < 0 || sources_location_gone(c->src, (uint32_t)loc)) {
            unknown_loc++;
            continue;
        }
        bool lot = ev->kind >= ATP_EV_LOT_ADD;
        uint8_t auth = lot ? ATP_AUTH_INBOUND : ev->bucket;
        if (!sources_authorized(c->src, src, (uint32_t)loc, auth)) {
            unauthorized++;
            continue;
        }
        out[n++] = (engine_event){
            .kind = ev->kind,
            .bucket = ev->bucket,
            .receive_to_on_hand = ev->kind == ATP_EV_LOT_RECEIVE &&
                                  sources_authorized(c->src, src, (uint32_t)loc,
                                                     ATP_BUCKET_ON_HAND),
            .location = (uint16_t)loc,
            .sku_len = ev->sku.len,
            .sku = ev->sku.ptr,
            .value = ev->value,
            .ref = ev->ref.ptr,
            .ref_len = ev->ref.len,
            .eta_ms = ev->eta_ms,
        };
    }
    ATP_ASSERT(n + unauthorized + unknown_loc + *heartbeats == n_evs);
    if (unauthorized || unknown_loc) {
        sources_count_rejected(c->src, src, unauthorized, unknown_loc);
        atomic_fetch_add_explicit(&c->rejected, 1, memory_order_relaxed);
        if (ingest__should_log(c))
            log_warn("ingest",
                     "source %s seq %llu rejected whole: %u events outside its "
                     "authority, %u naming unknown locations",
                     c->cfg->sources[src].id, (unsigned long long)seq,
                     unauthorized, unknown_loc);
        return -1;
    }
    return n;
}

/* ingest_deliver: the message is next in its source's order. */
static void ingest_deliver(void *ctx, void *item, uint64_t seq)
{
    ingest_core *c = ctx;
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
        sources_count_rejected(c->src, it->src, 0, 0);
        atomic_fetch_add_explicit(&c->rejected, 1, memory_order_relaxed);
        if (ingest__should_log(c))
            log_warn("ingest", "source %s seq %llu rejected whole: %s",
                     c->cfg->sources[it->src].id, (unsigned long long)seq,
                     atp_err_message(it->decode_err));
    } else {
        uint32_t heartbeats = 0;
        it->events = codec_arena_malloc(it->arena,
                                        (it->m.n_events ? it->m.n_events : 1) *
                                            sizeof *it->events);
        int64_t n =
            it->events == NULL
                ? -1
                : ingest__resolve(c, it->src, seq, it->m.events, it->m.n_events,
                                  it->events, &heartbeats);
        if (heartbeats > 0)
            sources_heartbeat(c->src, it->src, c->now_ms);
        if (n >= 0) {
            b.events = it->events;
            b.n = (uint32_t)n;
            sources_count_applied(c->src, it->src, (uint32_t)n, heartbeats);
        }
    }
    /* Rejected messages travel through the queue too (with no events) so
     * that the applied offset advances in sequence order. */
    if (c->hooks.submit(c->hooks.ctx, &b) != ATP_OK)
        ingest__item_free(it);
}

static void ingest_request(void *ctx, uint32_t src, sources_resync_mode mode,
                           uint64_t from_seq)
{
    ingest_core *c = ctx;
    if (c->hooks.request != NULL)
        c->hooks.request(c->hooks.ctx, src, mode, from_seq);
}

/* ---- envelope, MAC, session -------------------------------------------- */

/* When the full decode fails, try to read just the envelope so that the
 * rejection is charged to its source and the message consumes its seq. */
static bool ingest_peek_envelope(codec_arena *a, const void *buf, size_t len,
                                 codec_str *source, uint64_t *seq, uint64_t *ts,
                                 uint64_t *session)
{
    const codec_val *v;
    if (codec_decode(a, buf, len, &v) != ATP_OK ||
        codec_val_type(v) != CODEC_ARRAY || codec_val_len(v) < 4)
        return false;
    uint64_t kind;
    *session = 0; /* the 6th element: a session not 1..2^53-1 is a malformed
                     header (no seq consumed), like a bad seq */
    if (codec_val_len(v) >= 6 &&
        (!codec_val_uint(codec_val_at(v, 5), session) || *session == 0 ||
         *session > (uint64_t)ATP_WIRE_INT_MAX))
        return false;
    return codec_val_uint(codec_val_at(v, 0), &kind) &&
           kind == ATP_MSG_SOURCE_BATCH &&
           codec_val_str(codec_val_at(v, 1), source) &&
           codec_val_uint(codec_val_at(v, 2), seq) &&
           codec_val_uint(codec_val_at(v, 3), ts) &&
           *seq <= (uint64_t)ATP_WIRE_INT_MAX &&
           *ts <=
               (uint64_t)ATP_WIRE_INT_MAX; /* else a malformed header: no seq */
}

/* ingest_mac_ok: the message ends with a MAC (0xc4 0x20 and 32 bytes) that
 * is HMAC-SHA-256(key, every byte before it) (docs/PROTOCOL.md, "Source
 * keys"). Checked on the raw bytes, so that a message whose events do not
 * decode is authenticated the same way before it may consume a seq. */
static bool ingest_mac_ok(const config_source *cs, const uint8_t *buf,
                          size_t len)
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
 * unlogged (ingest_conflict_flush). */
static void ingest_conflict_flush(ingest_core *c, uint32_t src, int64_t now)
{
    if (c->conflicts_unlogged[src] == 0 ||
        (c->conflict_log_ms[src] != 0 && now - c->conflict_log_ms[src] < 1000))
        return;
    log_warn(
        "ingest",
        "source %s: %llu message(s) of session %llu dropped (since the last "
        "such line) while session %llu was live: a second publisher uses "
        "this source id (docs/PROTOCOL.md, \"Publisher sessions\")",
        c->cfg->sources[src].id, (unsigned long long)c->conflicts_unlogged[src],
        (unsigned long long)c->conflict_session[2 * src],
        (unsigned long long)c->conflict_session[2 * src + 1]);
    c->conflicts_unlogged[src] = 0;
    c->conflict_log_ms[src] = now;
}

static void ingest_conflict_note(ingest_core *c, uint32_t src, uint64_t session,
                                 int64_t now)
{
    sources_status st;
    sources_status_get(c->src, src, now, &st);
    c->conflicts_unlogged[src]++;
    c->conflict_session[2 * src] = session;
    c->conflict_session[2 * src + 1] = st.session;
    ingest_conflict_flush(c, src, now);
}

/* ingest_session: the publisher-session check (sources_session); true
 * when the message goes on, else it was counted and is freed here. */
static bool ingest_session(ingest_core *c, ingest_item *it, uint64_t session,
                           bool snapshot)
{
    int64_t now = c->now_ms;
    uint64_t ended;
    sources_verdict v = sources_session(c->src, it->src, session, snapshot, now,
                                        &c->io, &ended);
    if (ended != UINT64_MAX) {
        if (c->snaps[it->src].active)
            ingest__snapshot_abort(c, it->src, "its session ended");
        log_info("ingest",
                 "source %s: new session %llu after session %llu was silent "
                 "for heartbeat_timeout: nothing of it applies before its "
                 "full snapshot (asked for)",
                 c->cfg->sources[it->src].id, (unsigned long long)session,
                 (unsigned long long)ended);
    }
    if (v == SOURCES_CONFLICT_DROP)
        ingest_conflict_note(c, it->src, session, now);
    if (v == SOURCES_ACCEPT)
        return true;
    ingest__item_free(it);
    return false;
}

/* ingest_attribute decodes it (or at least its envelope) and finds its
 * source: true, or false when it was dropped (counted, logged, freed). */
static bool ingest_attribute(ingest_core *c, ingest_item *it, const void *body,
                             size_t len, uint64_t *session)
{
    codec_str source_id;
    uint32_t bad_event;
    it->decode_err = codec_src_decode(it->arena, body, len,
                                      c->cfg->service.max_events_per_message,
                                      &it->m, &bad_event);
    if (it->decode_err == ATP_OK) {
        source_id = it->m.source;
        it->seq = it->m.seq;
        it->ts_ms = it->m.ts_ms;
        *session = it->m.session;
    } else if (!ingest_peek_envelope(it->arena, body, len, &source_id, &it->seq,
                                     &it->ts_ms, session)) {
        atomic_fetch_add_explicit(&c->bad_messages, 1, memory_order_relaxed);
        if (ingest__should_log(c))
            log_warn("ingest", "undecodable message of %zu bytes dropped: %s",
                     len, atp_err_message(it->decode_err));
        ingest__item_free(it);
        return false;
    }
    int src = config_source_find(c->cfg, source_id.ptr, source_id.len);
    if (src < 0) {
        atomic_fetch_add_explicit(&c->unknown_source, 1, memory_order_relaxed);
        if (ingest__should_log(c))
            log_warn("ingest", "message from unknown source '%.*s' dropped",
                     (int)(source_id.len > 64 ? 64 : source_id.len),
                     source_id.ptr);
        ingest__item_free(it);
        return false;
    }
    it->src = (uint32_t)src;
    return true;
}

void ingest_core_receive(ingest_core *c, void *msg, const void *body,
                         size_t len, int64_t now_ms)
{
    ATP_ASSERT(now_ms >= c->now_ms); /* core.h: the clock never goes back */
    c->now_ms = now_ms;
    atomic_fetch_add_explicit(&c->received, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->bytes, len, memory_order_relaxed);
    ingest_item *it = calloc(1, sizeof *it);
    if (it == NULL || (it->arena = codec_arena_alloc()) == NULL) {
        free(it);
        if (c->hooks.msg_free != NULL)
            c->hooks.msg_free(msg);
        log_error("ingest", "out of memory: message dropped");
        return;
    }
    it->core = c;
    it->msg = msg;
    uint64_t session = 0;
    if (!ingest_attribute(c, it, body, len, &session))
        return;
    const config_source *cs = &c->cfg->sources[it->src];
    if (cs->key_len > 0 && !ingest_mac_ok(cs, body, len)) {
        /* Not from the holder of the key: as if never sent (no seq
         * consumed, no session heard). */
        sources_count_bad_mac(c->src, it->src);
        atomic_fetch_add_explicit(&c->rejected, 1, memory_order_relaxed);
        if (ingest__should_log(c))
            log_warn("ingest",
                     "message naming source %s dropped: no valid MAC for its "
                     "key (docs/PROTOCOL.md, \"Source keys\")",
                     cs->id);
        ingest__item_free(it);
        return;
    }
    bool snapshot = it->decode_err == ATP_OK && it->m.kind == ATP_MSG_SNAPSHOT;
    if (!ingest_session(c, it, session, snapshot))
        return;
    if (snapshot) {
        ingest__snapshot_part(c, it);
        return;
    }
    sources_receive(c->src, it->src, it->seq, it, now_ms, &c->io);
}

void ingest_core_tick(ingest_core *c, int64_t now)
{
    ATP_ASSERT(now >= c->now_ms);
    c->now_ms = now;
    if (!c->restored_asked) {
        c->restored_asked = true;
        sources_resync_restored(c->src, now, &c->io);
    }
    for (uint32_t s = 0; s < c->cfg->n_sources; s++) {
        if (c->snaps[s].active &&
            now - c->snaps[s].started_ms > c->cfg->service.snapshot_timeout_ms)
            ingest__snapshot_abort(c, s, "timed out");
        ingest_conflict_flush(c, s, now);
        uint64_t resets = sources_reset_take(c->src, s);
        if (resets > 0) {
            if (c->snaps[s].active)
                ingest__snapshot_abort(c, s, "the source was reset");
            sources_reset(c->src, s, resets, now, &c->io);
            log_warn("ingest",
                     "source %s reset (source_reset): nothing of it applies "
                     "until its next full snapshot, whatever that snapshot's "
                     "seq",
                     c->cfg->sources[s].id);
        }
    }
    sources_tick(c->src, now, &c->io);
}

/* ---- lifecycle --------------------------------------------------------- */

atp_err ingest_core_alloc(const config *cfg, sources *src,
                          const ingest_hooks *hooks, ingest_core **out)
{
    ATP_ASSERT(cfg != NULL && src != NULL && hooks->submit != NULL);
    ATP_ASSERT(sources_count(src) == cfg->n_sources);
    ingest_core *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    c->cfg = cfg;
    c->src = src;
    c->hooks = *hooks;
    c->io = (sources_io){ingest_deliver, ingest_drop, ingest_request, c};
    size_t n = cfg->n_sources ? cfg->n_sources : 1;
    c->snaps = calloc(n, sizeof *c->snaps);
    c->conflict_log_ms = calloc(n, sizeof(int64_t));
    c->conflicts_unlogged = calloc(n, sizeof(uint64_t));
    c->conflict_session = calloc(2 * n, sizeof(uint64_t));
    if (c->snaps == NULL || c->conflict_log_ms == NULL ||
        c->conflicts_unlogged == NULL || c->conflict_session == NULL) {
        ingest_core_free(c);
        return ATP_E_NOMEM;
    }
    *out = c;
    return ATP_OK;
}

void ingest_core_free(ingest_core *c)
{
    if (c == NULL)
        return;
    sources_release_held(c->src, ingest_drop, c);
    for (size_t s = 0; c->snaps != NULL && s < c->cfg->n_sources; s++) {
        ingest__snapshot_reset(&c->snaps[s]);
        free(c->snaps[s].items);
    }
    free(c->snaps);
    free(c->conflict_log_ms);
    free(c->conflicts_unlogged);
    free(c->conflict_session);
    free(c);
}

void ingest_core_stats_get(const ingest_core *c, ingest_stats *out)
{
    *out = (ingest_stats){
        .received = atomic_load_explicit(&c->received, memory_order_relaxed),
        .bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed),
        .bad_messages =
            atomic_load_explicit(&c->bad_messages, memory_order_relaxed),
        .unknown_source =
            atomic_load_explicit(&c->unknown_source, memory_order_relaxed),
        .rejected = atomic_load_explicit(&c->rejected, memory_order_relaxed),
    };
}
