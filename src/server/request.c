/*
 * request.c - decode a query, validate all of it, run it, write the reply.
 * Any thread (nng callback threads); reads only lock-free engine state.
 *
 * Every handler validates its whole request before writing a byte of the
 * reply, so a failing request gets exactly one error reply and no partial
 * result.
 */
#include "server/request.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"
#include "common/clock.h"
#include "common/thread.h"
#include "formula/rules.h"
#include "server/reply.h"
#include "server/request_int.h"

/* The longest list of valid ids an error message carries. */
#define REQUEST_LIST_MAX 768

/* request_list_alloc returns "a, b, c" of ids[0..n), shortened to
 * "a, b, ... (N in all)" when longer than REQUEST_LIST_MAX; NULL: no
 * memory. Caller frees. */
static char *request_list_alloc(const char *const *ids, size_t n)
{
    char *buf = malloc(REQUEST_LIST_MAX + 48);
    if (buf == NULL)
        return NULL;
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        if (o + len + 2 > REQUEST_LIST_MAX) {
            snprintf(buf + o, 48, "%s... (%zu in all)", i ? ", " : "", n);
            break;
        }
        o += (size_t)snprintf(buf + o, REQUEST_LIST_MAX + 48 - o, "%s%s",
                              i ? ", " : "", ids[i]);
    }
    return buf;
}

atp_err request_env_init(request_env *env, const config *cfg, engine *eng,
                         sources *src, ingest *in, changes *chg)
{
    memset(env, 0, sizeof *env);
    env->cfg = cfg;
    env->eng = eng;
    env->src = src;
    env->in = in;
    env->chg = chg;
    env->started_ms = clock_mono_ms();
    if (auth_alloc(&cfg->auth, &env->auth) != ATP_OK)
        return ATP_E_NOMEM;
    /* Rounded up to whole cache lines, as aligned_alloc wants. */
    size_t msize = (sizeof *env->metrics + 63) / 64 * 64;
    env->metrics = aligned_alloc(64, msize);
    if (env->metrics == NULL)
        return ATP_E_NOMEM;
    memset(env->metrics, 0, msize);
    /* Ids are resolved by the configuration's own maps (config_*_find);
     * only the lists an unknown id's error shows are built here. */
    const char **region_ids =
        calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof *region_ids);
    if (region_ids != NULL) {
        for (size_t i = 0; i < cfg->n_regions; i++)
            region_ids[i] = cfg->regions[i].id;
        env->region_list = request_list_alloc(region_ids, cfg->n_regions);
    }
    free(region_ids);
    env->channel_list =
        request_list_alloc((const char *const *)cfg->channels, cfg->n_channels);
    if (env->region_list == NULL || env->channel_list == NULL) {
        request_env_fini(env);
        return ATP_E_NOMEM;
    }
    return ATP_OK;
}

void request_env_fini(request_env *env)
{
    free(env->region_list);
    free(env->channel_list);
    env->region_list = env->channel_list = NULL;
    free(env->metrics);
    env->metrics = NULL;
    auth_free(env->auth);
    env->auth = NULL;
}

/* ---- field helpers ------------------------------------------------------ */

int request_clip(codec_str s) { return s.len > 64 ? 64 : (int)s.len; }

/* A string field that must be an id (1..max printable bytes). */
bool request_id(codec_view v, const char *what, uint32_t max, atp_err bad_code,
                codec_str *out, reply_error *e)
{
    if (v.p == NULL) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "missing field '%s'", what);
        return false;
    }
    if (!codec_view_str(v, out)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "field '%s' must be a string", what);
        return false;
    }
    if (!codec_str_is_id(*out, max)) {
        reply_error_set(e, bad_code, "%s must be 1..%u bytes of printable UTF-8",
                        what, max);
        return false;
    }
    return true;
}

bool request_sku(codec_view v, codec_str *out, reply_error *e)
{
    return request_id(v, "sku", ATP_SKU_MAX_LEN, ATP_E_BAD_SKU, out, e);
}

bool request_region(request_env *env, codec_view v, uint32_t *out,
                    reply_error *e)
{
    codec_str s;
    if (!request_id(v, "region", ATP_ID_MAX_LEN, ATP_E_UNKNOWN_REGION, &s, e))
        return false;
    int64_t r = config_region_find(env->cfg, s.ptr, s.len);
    if (r < 0) {
        reply_error_set(e, ATP_E_UNKNOWN_REGION,
                        "unknown region '%.*s'; regions: %s", request_clip(s),
                        s.ptr, env->region_list);
        return false;
    }
    *out = (uint32_t)r;
    return true;
}

bool request_qty(codec_view v, int64_t *out, reply_error *e)
{
    codec_type t = codec_view_type(v);
    if (t != CODEC_INT && t != CODEC_UINT_BIG) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "qty must be an integer");
        return false;
    }
    if (t == CODEC_UINT_BIG || !codec_view_int(v, out) || *out < 1 ||
        *out > ATP_QTY_MAX) {
        reply_error_set(e, ATP_E_BAD_QTY, "qty must be 1..%lld",
                        (long long)ATP_QTY_MAX);
        return false;
    }
    return true;
}

/* The channel is optional: absent means the default channel. */
bool request_channel(request_env *env, const request_fields *f, uint32_t *out,
                     reply_error *e)
{
    codec_view v = f->channel;
    if (codec_view_type(v) == CODEC_NIL) {
        *out = 0;
        return true;
    }
    codec_str s;
    if (!request_id(v, "channel", ATP_ID_MAX_LEN, ATP_E_UNKNOWN_CHANNEL, &s, e))
        return false;
    int64_t c = config_channel_find(env->cfg, s.ptr, s.len);
    if (c < 0) {
        reply_error_set(e, ATP_E_UNKNOWN_CHANNEL,
                        "unknown channel '%.*s'; channels: %s", request_clip(s),
                        s.ptr, env->channel_list);
        return false;
    }
    *out = (uint32_t)c;
    return true;
}

/* ---- operations ---------------------------------------------------------- */

static bool request_atp(request_env *env, const request_fields *f,
                        codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    codec_str sku;
    uint32_t region, channel;
    if (!request_sku(f->sku, &sku, e) ||
        !request_region(env, f->region, &region, e) ||
        !request_channel(env, f, &channel, e))
        return false;
    engine_answer ans;
    engine_query(env->eng, sku.ptr, sku.len, region, channel, &ans);
    codec_w_map(w, 1 + REPLY_ANSWER_FIELDS);
    codec_w_kv_bool(w, "ok", true);
    reply_answer_write(w, sku, env->cfg->regions[region].id,
                       env->cfg->channels[channel], &ans);
    return true;
}

static bool request_regions(request_env *env, const request_fields *f,
                            codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    codec_str sku;
    uint32_t channel;
    if (!request_sku(f->sku, &sku, e) || !request_channel(env, f, &channel, e))
        return false;
    /* All regions at one point: a reload moving a location between two of
     * them is seen in both or in neither. */
    engine_answer *ans = calloc(env->cfg->n_regions, sizeof *ans);
    if (ans == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    const char *ch = env->cfg->channels[channel];
    codec_w_map(w, 4);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_str(w, "sku", sku.ptr, sku.len);
    codec_w_kv_cstr(w, "channel", ch);
    codec_w_cstr(w, "regions");
    codec_w_array(w, (uint32_t)env->cfg->n_regions);
    engine_query_regions(env->eng, sku.ptr, sku.len, channel, ans);
    for (uint32_t r = 0; r < env->cfg->n_regions; r++) {
        codec_w_map(w, REPLY_ANSWER_FIELDS);
        reply_answer_write(w, sku, env->cfg->regions[r].id, ch, &ans[r]);
    }
    free(ans);
    return true;
}

static bool request_sources(request_env *env, const request_fields *f,
                            codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)f, (void)a, (void)e;
    int64_t now = clock_mono_ms();
    uint32_t n = (uint32_t)sources_count(env->src);
    codec_w_map(w, 2);
    codec_w_kv_bool(w, "ok", true);
    codec_w_cstr(w, "sources");
    codec_w_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        sources_status st;
        sources_status_get(env->src, i, now, &st);
        codec_w_map(w, 28);
        codec_w_kv_cstr(w, "id", st.id);
        codec_w_kv_cstr(w, "state", sources_state_name(st.state));
        codec_w_kv_count(w, "last_seq", st.last_seq);
        codec_w_kv_count(w, "last_ts_ms", st.last_ts_ms);
        codec_w_kv_int(w, "lag_ms", st.lag_ms);
        codec_w_kv_int(w, "age_ms", st.age_ms);
        codec_w_kv_count(w, "messages", st.messages);
        codec_w_kv_count(w, "events", st.events);
        codec_w_kv_count(w, "duplicates", st.duplicates);
        codec_w_kv_count(w, "gaps", st.gaps);
        codec_w_kv_count(w, "missed", st.missed);
        codec_w_kv_count(w, "rejected_messages", st.rejected_messages);
        codec_w_kv_count(w, "unauthorized", st.unauthorized);
        codec_w_kv_count(w, "unknown_location", st.unknown_location);
        codec_w_kv_count(w, "heartbeats", st.heartbeats);
        codec_w_kv_int(w, "last_heartbeat_ms", st.last_heartbeat_ms);
        codec_w_kv_count(w, "resync_requests", st.resync_requests);
        codec_w_kv_count(w, "resync_from", st.resync_from);
        codec_w_kv_count(w, "held", st.held);
        codec_w_kv_count(w, "snapshots_applied", st.snapshots_applied);
        codec_w_kv_count(w, "snapshots_aborted", st.snapshots_aborted);
        codec_w_kv_count(w, "session", st.session);
        codec_w_kv_count(w, "conflicts", st.conflicts);
        codec_w_kv_count(w, "sessions", st.sessions);
        codec_w_kv_count(w, "unsynced", st.unsynced);
        codec_w_kv_count(w, "seq_rejected", st.seq_rejected);
        codec_w_kv_count(w, "bad_mac", st.bad_mac);
        codec_w_kv_count(w, "resets", st.resets);
    }
    return true;
}

/* source_reset (admin): the ingest thread resets the source within its
 * next tick (sources_reset_request): held messages dropped, session
 * forgotten, nothing applied until its next full snapshot, whatever that
 * snapshot's seq (docs/PROTOCOL.md, "source_reset"). */
static bool request_source_reset(request_env *env, const request_fields *f,
                                 codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    codec_str id;
    if (!request_id(f->source, "source", ATP_ID_MAX_LEN, ATP_E_BAD_REQUEST, &id, e))
        return false;
    int src = sources_find(env->src, id.ptr, id.len);
    if (src < 0) {
        reply_error_set(e, ATP_E_NOT_FOUND, "no source '%.*s' is configured",
                        request_clip(id), id.ptr);
        return false;
    }
    sources_reset_request(env->src, (uint32_t)src);
    codec_w_map(w, 3);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "source", env->cfg->sources[src].id);
    codec_w_kv_bool(w, "reset", true);
    return true;
}

/* request_status_latency writes "latency": per op seen, over both
 * transports, the request count and p50/p99/p999 in microseconds
 * estimated from its histogram (docs/PROTOCOL.md, "status"). */
static void request_status_latency(request_env *env, codec_writer *w)
{
    metrics_hist_sum sums[REQUEST_OPS_MAX];
    unsigned nops = request_op_count(), seen = 0;
    for (unsigned op = 0; op < nops; op++) {
        memset(&sums[op], 0, sizeof sums[op]);
        request_latency_read(env, op, &sums[op]);
        seen += sums[op].count > 0;
    }
    codec_w_cstr(w, "latency");
    codec_w_map(w, seen);
    for (unsigned op = 0; op < nops; op++) {
        if (sums[op].count == 0)
            continue;
        codec_w_cstr(w, request_op_name(op));
        codec_w_map(w, 4);
        codec_w_kv_count(w, "count", sums[op].count);
        codec_w_kv_count(w, "p50_us", metrics_hist_quantile_us(&sums[op], 0.5));
        codec_w_kv_count(w, "p99_us", metrics_hist_quantile_us(&sums[op], 0.99));
        codec_w_kv_count(w, "p999_us", metrics_hist_quantile_us(&sums[op], 0.999));
    }
}

static bool request_status(request_env *env, const request_fields *f,
                           codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)f, (void)a, (void)e;
    if (!request_is_ready(env)) {
        /* Start-up is still loading the engine: say only what does not
         * read it (docs/PROTOCOL.md, "status"). */
        codec_w_map(w, 6);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_cstr(w, "version", ATP_VERSION);
        codec_w_kv_bool(w, "ready", false);
        codec_w_kv_int(w, "uptime_ms", clock_mono_ms() - env->started_ms);
        codec_w_cstr(w, "readiness");
        request_readiness_write(env, w);
        codec_w_cstr(w, "health");
        request_health_write(w);
        return true;
    }
    engine_stats es;
    engine_stats_get(env->eng, &es);
    ingest_stats is = {0};
    if (env->in != NULL)
        ingest_stats_get(env->in, &is);
    const request_status_section *extra =
        atomic_load_explicit(&env->status_extra, memory_order_acquire);
    codec_w_map(w, (es.store_known ? 22 : 21) + (extra != NULL));
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "version", ATP_VERSION);
    codec_w_kv_bool(w, "ready", request_is_serving(env));
    codec_w_cstr(w, "readiness");
    request_readiness_write(env, w);
    codec_w_cstr(w, "health");
    request_health_write(w);
    codec_w_kv_int(w, "uptime_ms", clock_mono_ms() - env->started_ms);
    /* The policy in effect (service.scheduling, or set from outside),
     * read on the nng thread answering: they all share it. */
    codec_w_kv_cstr(w, "scheduling", thread_sched_name());
    codec_w_kv_count(w, "skus", es.skus);
    codec_w_kv_count(w, "positions", es.positions);
    codec_w_kv_count(w, "regions", env->cfg->n_regions);
    codec_w_kv_count(w, "locations", env->cfg->n_locations);
    /* engine_memory_bytes is what the engine's tables take, rss_bytes what
     * the process holds. memory_bytes: the old name of the first,
     * deprecated in 0.1, removed in 0.2. */
    codec_w_kv_count(w, "engine_memory_bytes", es.memory_bytes);
    codec_w_kv_count(w, "rss_bytes", bigmem_rss_bytes());
    codec_w_kv_count(w, "memory_bytes", es.memory_bytes);
    codec_w_cstr(w, "engine");
    codec_w_map(w, 4);
    codec_w_kv_count(w, "batches_applied", es.batches_applied);
    codec_w_kv_count(w, "events_applied", es.events_applied);
    codec_w_kv_count(w, "events_clamped", es.events_clamped);
    codec_w_kv_count(w, "queued", es.queue_len);
    codec_w_cstr(w, "ingest");
    codec_w_map(w, 5);
    codec_w_kv_count(w, "received", is.received);
    codec_w_kv_count(w, "bytes", is.bytes);
    codec_w_kv_count(w, "bad_messages", is.bad_messages);
    codec_w_kv_count(w, "unknown_source", is.unknown_source);
    codec_w_kv_count(w, "rejected", is.rejected);
    codec_w_cstr(w, "reservations");
    codec_w_map(w, 10);
    codec_w_kv_count(w, "open", es.resv_open);
    codec_w_kv_count(w, "held", es.resv_held);
    codec_w_kv_count(w, "committed", es.resv_committed);
    codec_w_kv_count(w, "remembered", es.resv_total);
    codec_w_kv_count(w, "granted", es.resv_granted);
    codec_w_kv_count(w, "refused", es.resv_refused);
    codec_w_kv_count(w, "expired", es.resv_expired);
    codec_w_kv_count(w, "consumed", es.resv_consumed);
    codec_w_kv_count(w, "store_failures", es.resv_store_failures);
    codec_w_kv_count(w, "load_skipped", es.resv_load_skipped);
    if (es.store_known) { /* the persistence behind the engine (LMDB + log) */
        codec_w_cstr(w, "store");
        codec_w_map(w, 10);
        codec_w_kv_count(w, "commits", es.store.commits);
        codec_w_kv_count(w, "failures", es.store.failures);
        codec_w_kv_bool(w, "full", es.store.full);
        codec_w_kv_count(w, "map_bytes", es.store.map_bytes);
        codec_w_kv_count(w, "used_bytes", es.store.used_bytes);
        codec_w_kv_count(w, "log_appends", es.store.log_appends);
        codec_w_kv_count(w, "log_groups", es.store.log_groups);
        codec_w_kv_count(w, "log_waits", es.store.log_waits);
        codec_w_kv_count(w, "log_replayed", es.store.log_replayed);
        codec_w_kv_count(w, "env_reopens", es.store.env_reopens);
    }
    codec_w_cstr(w, "snapshots");
    codec_w_map(w, 5);
    codec_w_kv_count(w, "taken", es.snapshots);
    codec_w_kv_count(w, "failed", es.snapshot_failures);
    codec_w_kv_count(w, "last_ms", es.snapshot_last_ms);
    codec_w_kv_count(w, "last_positions", es.snapshot_last_positions);
    codec_w_kv_count(w, "waited", es.snapshot_waited);
    changes_stats cs = {0};
    if (env->chg != NULL)
        changes_stats_get(env->chg, &cs);
    codec_w_cstr(w, "feed");
    codec_w_map(w, 4);
    codec_w_kv_count(w, "published", cs.published);
    codec_w_kv_count(w, "flushes", cs.flushes);
    codec_w_kv_count(w, "send_failures", cs.send_failures);
    codec_w_kv_count(w, "subscribers", cs.subscribers);
    codec_w_cstr(w, "queries");
    codec_w_map(w, 2);
    codec_w_kv_count(w, "requests",
                     atomic_load_explicit(&env->requests, memory_order_relaxed));
    codec_w_kv_count(w, "errors",
                     atomic_load_explicit(&env->errors, memory_order_relaxed));
    request_status_latency(env, w);
    if (extra != NULL) {
        codec_w_cstr(w, extra->name);
        extra->write(extra->arg, w);
    }
    return true;
}

/* A page of every SKU atpd knows in one region, with the change-feed
 * sequences read BEFORE the rows: a subscriber that loads the pages and
 * then applies feed messages with a higher sequence ends up current. */
#define REQUEST_SCAN_DEFAULT 1000
#define REQUEST_SCAN_MAX 10000

static bool request_scan(request_env *env, const request_fields *f,
                         codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    uint32_t region;
    uint64_t cursor = 0, limit = REQUEST_SCAN_DEFAULT;
    if (!request_region(env, f->region, &region, e))
        return false;
    if (codec_view_type(f->cursor) != CODEC_NIL &&
        !codec_view_uint(f->cursor, &cursor)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "cursor must be a non-negative integer");
        return false;
    }
    if (f->limit.p != NULL && (!codec_view_uint(f->limit, &limit) || limit < 1 ||
                               limit > REQUEST_SCAN_MAX)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "limit must be an integer 1..%d",
                        REQUEST_SCAN_MAX);
        return false;
    }
    uint64_t seq = env->chg ? changes_seq(env->chg) : 0;
    uint64_t rseq = env->chg ? changes_region_seq(env->chg, region) : 0;
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t total = engine_sku_count(env->eng);
    uint64_t end = cursor < total ? cursor + limit : cursor;
    if (end > total)
        end = total;
    uint32_t n = (uint32_t)(end > cursor ? end - cursor : 0);
    size_t nch = env->cfg->n_channels;
    codec_w_map(w, 6);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_cstr(w, "region", env->cfg->regions[region].id);
    codec_w_kv_uint(w, "seq", seq);
    codec_w_kv_uint(w, "region_seq", rseq);
    codec_w_cstr(w, "next_cursor");
    if (end < total)
        codec_w_uint(w, end);
    else
        codec_w_nil(w);
    codec_w_cstr(w, "items");
    codec_w_array(w, n);
    for (uint64_t s = cursor; s < end; s++) {
        engine_answer ans;
        const char *sku;
        size_t sku_len;
        engine_answer_index(env->eng, (uint32_t)s, region, 0, &ans, &sku, &sku_len);
        codec_w_map(w, 6);
        codec_w_kv_str(w, "sku", sku, sku_len);
        codec_w_kv_int(w, "supply", ans.supply);
        codec_w_kv_int(w, "reserved", ans.reserved);
        codec_w_kv_int(w, "shortfall", ans.shortfall);
        codec_w_kv_bool(w, "stale", ans.stale);
        codec_w_cstr(w, "channels");
        codec_w_array(w, (uint32_t)nch);
        for (size_t c = 0; c < nch; c++) {
            if (c > 0)
                engine_answer_index(env->eng, (uint32_t)s, region, (uint32_t)c,
                                    &ans, &sku, &sku_len);
            codec_w_map(w, 4);
            codec_w_kv_cstr(w, "channel", env->cfg->channels[c]);
            codec_w_kv_int(w, "atp", ans.atp);
            codec_w_kv_int(w, "buffer", ans.buffer);
            codec_w_kv_cstr(w, "rule", rules_level_name(ans.rule_level));
        }
    }
    return true;
}

/* request_snapshot_done: the engine's answer to a snapshot request (engine
 * thread, or the thread stopping the engine). */
static void request_snapshot_done(void *arg, atp_err err)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    if (err != ATP_OK) {
        reply_error e = {.line = -1};
        if (err == ATP_E_BUSY)
            reply_error_set(&e, err, "snapshot not taken: atpd is shutting down "
                                     "or busy with other snapshots; retry later");
        else
            reply_error_set(&e, err, "snapshot not stored: %s", atp_err_message(err));
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else {
        engine_stats es;
        engine_stats_get(as->env->eng, &es);
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_uint(w, "positions", es.snapshot_last_positions);
        codec_w_kv_int(w, "ms", clock_mono_ms() - as->started_ms);
    }
    as->finish(as->owner);
}

/* Take a snapshot of positions, lots and offsets now, answered once it is
 * stored, like a reservation: the nng callback never waits for the store.
 * Returns true when submitted (the reply comes through async->finish). */
static bool request_snapshot_start(request_env *env, codec_writer *w,
                                   request_async *async, reply_error *e)
{
    async->env = env;
    async->w = w;
    async->started_ms = clock_mono_ms();
    atp_err err = engine_snapshot_submit(env->eng, request_snapshot_done, async);
    if (err == ATP_OK)
        return true;
    request_busy(e, err);
    return false;
}

/* request_backup_done: the store's answer to a backup (a store thread). */
static void request_backup_done(void *arg, atp_err err)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    if (err != ATP_OK) {
        reply_error e = {.line = -1};
        reply_error_set(&e, err, "backup to %s failed: %s (atpd's log says more); "
                        "remove what it left there before trying again",
                        as->backup_dir, atp_err_message(err));
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else {
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_cstr(w, "dir", as->backup_dir);
        codec_w_kv_int(w, "ms", clock_mono_ms() - as->started_ms);
    }
    as->finish(as->owner);
}

/* An online backup into the directory "dir" on atpd's machine, answered
 * once the copy is synced (docs/PROTOCOL.md, "backup"). Returns true when
 * queued (the reply comes through async->finish). */
static bool request_backup_start(request_env *env, const request_fields *f,
                                 codec_writer *w, request_async *async, reply_error *e)
{
    codec_str dir;
    if (!request_id(f->dir, "dir", REQUEST_BACKUP_DIR_MAX, ATP_E_BAD_REQUEST, &dir, e))
        return false;
    memcpy(async->backup_dir, dir.ptr, dir.len);
    async->backup_dir[dir.len] = '\0';
    async->env = env;
    async->w = w;
    async->started_ms = clock_mono_ms();
    char why[REQUEST_BACKUP_DIR_MAX + 256];
    atp_err err = engine_backup_submit(env->eng, async->backup_dir, request_backup_done,
                                       async, why, sizeof why);
    if (err == ATP_OK)
        return true;
    reply_error_set(e, err, "%s", why);
    return false;
}

/* ---- dispatch ------------------------------------------------------------ */

/* request_authorize checks the request's token (field 'token') for op
 * (len 0: an op atpd does not know, answered unknown_op only to a valid
 * token) and sets async->who. false: refused, with the reason in e. */
static bool request_authorize(request_env *env, const request_fields *f,
                              codec_str op, request_async *async, reply_error *e)
{
    async->who = NULL;
    if (!auth_enabled(env->auth))
        return true; /* loopback without tokens: no clock read, no lookup */
    codec_str tok = {0};
    if (f->token.p != NULL && !codec_view_str(f->token, &tok))
        tok.len = 0; /* not a string: no token */
    unsigned scope = op.len > 0 ? auth_op_scope(op.ptr, op.len) : AUTH_ANY;
    char why[200];
    atp_err err = auth_check(env->auth, tok.ptr, tok.len, scope, clock_mono_ns(),
                             &async->who, why, sizeof why);
    if (err == ATP_OK)
        return true;
    reply_error_set(e, err, "%s; nothing was done", why);
    return false;
}

typedef bool (*request_fn)(request_env *, const request_fields *,
                           codec_arena *, codec_writer *, reply_error *);

static const struct {
    const char *op;
    request_fn fn;
} request_ops[] = {
    {"atp", request_atp},         {"cart", request_cart},
    {"regions", request_regions}, {"sources", request_sources},
    {"status", request_status},   {"scan", request_scan},
    {"ready", request_ready},     {"health", request_health},
    {"source_reset", request_source_reset},
};

static const struct {
    const char *op;
    engine_resv_op resv;
} request_resv_ops[] = {
    {"reserve", ENGINE_RESV_RESERVE}, {"commit", ENGINE_RESV_COMMIT},
    {"release", ENGINE_RESV_RELEASE}, {"extend", ENGINE_RESV_EXTEND},
    {"reservation", ENGINE_RESV_GET},
};

/* The ops' indexes in the metrics: 0 "none", then request_ops, snapshot,
 * backup, explain, request_resv_ops. */
#define REQUEST_N_OPS (sizeof request_ops / sizeof request_ops[0])
#define REQUEST_N_RESV (sizeof request_resv_ops / sizeof request_resv_ops[0])
#define REQUEST_OP_SNAPSHOT (1 + REQUEST_N_OPS)
#define REQUEST_OP_BACKUP (2 + REQUEST_N_OPS)
#define REQUEST_OP_EXPLAIN (3 + REQUEST_N_OPS)
#define REQUEST_OP_RESV (4 + REQUEST_N_OPS)
_Static_assert(REQUEST_OP_RESV + REQUEST_N_RESV <= REQUEST_OPS_MAX,
               "REQUEST_OPS_MAX too small for the ops");

const char *const request_transport_names[REQUEST_TRANSPORTS] = {"nng", "http"};

unsigned request_op_count(void)
{
    return (unsigned)(REQUEST_OP_RESV + REQUEST_N_RESV);
}

const char *request_op_name(unsigned op)
{
    if (op == 0 || op >= request_op_count())
        return "none";
    if (op <= REQUEST_N_OPS)
        return request_ops[op - 1].op;
    if (op == REQUEST_OP_SNAPSHOT)
        return "snapshot";
    if (op == REQUEST_OP_BACKUP)
        return "backup";
    if (op == REQUEST_OP_EXPLAIN)
        return "explain";
    return request_resv_ops[op - REQUEST_OP_RESV].op;
}

/* request_fields_scan walks the request map once and keeps the first
 * value of every key a handler reads (string keys only, as codec_val_get
 * matches them). Returns whether the field 'op' is a string, in *op. */
static bool request_fields_scan(codec_view map, request_fields *f, codec_str *op)
{
#define REQUEST_KEY(name) {#name, sizeof #name - 1, offsetof(request_fields, name)}
    static const struct {
        const char *name;
        uint32_t len;
        size_t off;
    } keys[] = {
        REQUEST_KEY(op),      REQUEST_KEY(sku),       REQUEST_KEY(region),
        REQUEST_KEY(channel), REQUEST_KEY(lines),     REQUEST_KEY(id),
        REQUEST_KEY(ttl_ms),  REQUEST_KEY(order_ref), REQUEST_KEY(cursor),
        REQUEST_KEY(limit),   REQUEST_KEY(dir),       REQUEST_KEY(sources),
        REQUEST_KEY(source),
        REQUEST_KEY(token),
    };
#undef REQUEST_KEY
    memset(f, 0, sizeof *f);
    uint32_t n = codec_view_len(map);
    codec_view k = codec_view_first(map);
    for (uint32_t i = 0; i < n; i++) {
        codec_view v = codec_view_next(k);
        codec_str s;
        if (codec_view_str(k, &s)) {
            for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
                codec_view *slot = (codec_view *)((char *)f + keys[j].off);
                if (s.len == keys[j].len && memcmp(s.ptr, keys[j].name, s.len) == 0) {
                    if (slot->p == NULL)
                        *slot = v;
                    break;
                }
            }
        }
        if (i + 1 < n)
            k = codec_view_next(v);
    }
    return codec_view_str(f->op, op);
}

bool request_handle(request_env *env, const void *buf, size_t len,
                    codec_arena *a, codec_writer *w, request_async *async)
{
    atomic_fetch_add_explicit(&env->requests, 1, memory_order_relaxed);
    async->op = 0;
    async->code = ATP_OK;
    async->who = NULL;
    reply_error e = {.code = ATP_OK, .line = -1};
    codec_view req;
    request_fields f;
    codec_str op;
    atp_err err = codec_view_root(buf, len, &req);
    if (err != ATP_OK) {
        reply_error_set(&e, err, "%s", err == ATP_E_TOO_LARGE
                                           ? "message nested too deeply or "
                                             "declaring sizes beyond its end"
                                           : "not a msgpack message");
    } else if (codec_view_type(req) != CODEC_MAP) {
        reply_error_set(&e, ATP_E_BAD_REQUEST, "a request is a msgpack map");
    } else if (!request_fields_scan(req, &f, &op)) {
        reply_error_set(&e, ATP_E_BAD_REQUEST, "missing string field 'op'");
    } else {
        size_t i = 0, n = sizeof request_ops / sizeof request_ops[0];
        size_t k = 0, nr = sizeof request_resv_ops / sizeof request_resv_ops[0];
        while (i < n && !codec_str_eq(op, request_ops[i].op))
            i++;
        while (i == n && k < nr && !codec_str_eq(op, request_resv_ops[k].op))
            k++;
        /* Only status, ready and health answer before the state is
         * restored: the others read it (sources too: start-up restores
         * their offsets). */
        bool probe = i < n && (request_ops[i].fn == request_status ||
                               request_ops[i].fn == request_ready ||
                               request_ops[i].fn == request_health);
        /* The op is set before the gate: a not_ready refusal is counted
         * under its op, not "none". */
        async->op = i < n                          ? (unsigned)(1 + i)
                    : codec_str_eq(op, "snapshot") ? REQUEST_OP_SNAPSHOT
                    : codec_str_eq(op, "explain")  ? REQUEST_OP_EXPLAIN
                    : codec_str_eq(op, "backup")   ? REQUEST_OP_BACKUP
                    : k < nr                       ? (unsigned)(REQUEST_OP_RESV + k)
                                                   : 0;
        bool known = async->op != 0;
        if (!request_authorize(env, &f, known ? op : (codec_str){0}, async, &e)) {
            /* refused: e says why; nothing ran */
        } else if (known && !probe && !request_is_ready(env)) {
            reply_error_set(&e, ATP_E_NOT_READY,
                            "atpd is starting: its state is not restored yet "
                            "(status, ready and health answer; GET /readyz "
                            "says what is missing); nothing was done, retry "
                            "once it is ready");
        } else if (i < n) {
            if (request_ops[i].fn(env, &f, a, w, &e))
                return true;
        } else if (codec_str_eq(op, "snapshot")) {
            if (request_snapshot_start(env, w, async, &e))
                return false;
        } else if (codec_str_eq(op, "explain")) {
            if (request_explain_start(env, &f, w, async, &e))
                return false;
        } else if (codec_str_eq(op, "backup")) {
            if (request_backup_start(env, &f, w, async, &e))
                return false;
        } else if (k < nr) {
            if (request_resv_start(env, request_resv_ops[k].resv, &f, a, w, async, &e))
                return false;
        } else {
            reply_error_set(&e, ATP_E_UNKNOWN_OP,
                            "unknown op '%.*s' (atp, cart, regions, scan, "
                            "sources, status, ready, health, snapshot, backup, explain, "
                            "reserve, commit, release, extend, reservation)",
                            request_clip(op), op.ptr);
        }
    }
    request_count_error(env, async, e.code);
    reply_error_write(w, &e);
    return true;
}

void request_busy(reply_error *e, atp_err submit_err)
{
    if (submit_err == ATP_E_BUSY)
        reply_error_set(e, ATP_E_BUSY, "atpd's engine queue is full (a backlog of "
                                       "source messages): nothing was done; retry "
                                       "in %d ms or more, with backoff",
                        REQUEST_BUSY_RETRY_MS);
    else
        reply_error_set(e, ATP_E_BUSY, "atpd is shutting down: nothing was done; "
                                       "retry once it is back");
}

void request_observe(request_env *env, request_transport t, unsigned op,
                     int code, uint64_t ns)
{
    request_metrics *m = env->metrics;
    if (op >= REQUEST_OPS_MAX)
        op = 0;
    metrics_hist_observe(&m->latency[t][op], ns);
    if (code != ATP_OK) {
        unsigned slot = code > 0 && code < REQUEST_ERR_SLOTS ? (unsigned)code : 0;
        atomic_fetch_add_explicit(&m->errors[t][op][slot], 1, memory_order_relaxed);
    }
}

void request_latency_read(request_env *env, unsigned op, metrics_hist_sum *out)
{
    for (unsigned t = 0; t < REQUEST_TRANSPORTS; t++)
        metrics_hist_read(&env->metrics->latency[t][op], out);
}

void request_count_error(request_env *env, request_async *as, atp_err code)
{
    as->code = code;
    atomic_fetch_add_explicit(&env->errors, 1, memory_order_relaxed);
}
