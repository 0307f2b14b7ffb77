/*
 * request_query.c - the query ops: atp, regions, sources, source_reset,
 * scan. Any thread; reads only lock-free engine state (source_reset only
 * asks the ingest thread to act).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "formula/rules.h"
#include "server/reply.h"
#include "server/request_int.h"

bool request_atp(request_env *env, const request_fields *f, codec_arena *a,
                 codec_writer *w, reply_error *e)
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
    codec_w_map(w, 1 + REPLY_ANSWER_FIELDS(&ans));
    codec_w_kv_bool(w, "ok", true);
    reply_answer_write(w, sku, env->cfg->regions[region].id,
                       env->cfg->channels[channel], &ans);
    return true;
}

bool request_regions(request_env *env, const request_fields *f, codec_arena *a,
                     codec_writer *w, reply_error *e)
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
    /* every place answered, the regions in service written */
    engine_query_regions(env->eng, sku.ptr, sku.len, channel, ans);
    size_t live = config_regions_live(env->cfg);
    uint8_t in[CONFIG_MAX_REGIONS];
    uint32_t n = 0;
    for (uint32_t r = 0; r < live; r++)
        n += in[r] =
            config_region_in_service(env->cfg, r) &&
            config_partition_here(&env->cfg->cluster, env->cfg->regions[r].id,
                                  strlen(env->cfg->regions[r].id));
    codec_w_array(w, n);
    for (uint32_t r = 0; r < live; r++) {
        if (!in[r])
            continue;
        codec_w_map(w, REPLY_ANSWER_FIELDS(&ans[r]));
        reply_answer_write(w, sku, env->cfg->regions[r].id, ch, &ans[r]);
    }
    free(ans);
    return true;
}

bool request_sources(request_env *env, const request_fields *f, codec_arena *a,
                     codec_writer *w, reply_error *e)
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
bool request_source_reset(request_env *env, const request_fields *f,
                          codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    codec_str id;
    if (!request_id(f->source, "source", ATP_ID_MAX_LEN, ATP_E_BAD_REQUEST, &id,
                    e))
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

/* A page of every SKU atpd knows in one region, with the change-feed
 * sequences read BEFORE the rows: a subscriber that loads the pages and
 * then applies feed messages with a higher sequence ends up current. */
#define REQUEST_SCAN_DEFAULT 1000
#define REQUEST_SCAN_MAX 10000

bool request_scan(request_env *env, const request_fields *f, codec_arena *a,
                  codec_writer *w, reply_error *e)
{
    (void)a;
    uint32_t region;
    uint64_t cursor = 0, limit = REQUEST_SCAN_DEFAULT;
    if (!request_region(env, f->region, &region, e))
        return false;
    if (codec_view_type(f->cursor) != CODEC_NIL &&
        !codec_view_uint(f->cursor, &cursor)) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "cursor must be a non-negative integer");
        return false;
    }
    if (f->limit.p != NULL && (!codec_view_uint(f->limit, &limit) ||
                               limit < 1 || limit > REQUEST_SCAN_MAX)) {
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
    size_t nch = config_channels_live(env->cfg);
    uint8_t in[CONFIG_MAX_CHANNELS];
    uint32_t n_in = 0;
    for (size_t c = 0; c < nch; c++)
        n_in += in[c] = config_channel_in_service(env->cfg, (uint32_t)c);
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
        engine_answer_index(env->eng, (uint32_t)s, region, 0, &ans, &sku,
                            &sku_len);
        codec_w_map(w, 6);
        codec_w_kv_str(w, "sku", sku, sku_len);
        codec_w_kv_int(w, "supply", ans.supply);
        codec_w_kv_int(w, "reserved", ans.reserved);
        codec_w_kv_int(w, "shortfall", ans.shortfall);
        codec_w_kv_bool(w, "stale", ans.stale);
        codec_w_cstr(w, "channels");
        codec_w_array(w, n_in);
        for (size_t c = 0; c < nch; c++) {
            if (!in[c])
                continue; /* removed at run time */
            if (c > 0)
                engine_answer_index(env->eng, (uint32_t)s, region, (uint32_t)c,
                                    &ans, &sku, &sku_len);
            bool budget = ans.backorder_budget > 0;
            codec_w_map(w, budget ? 6 : 4);
            codec_w_kv_cstr(w, "channel", env->cfg->channels[c]);
            codec_w_kv_int(w, "atp", ans.atp);
            codec_w_kv_int(w, "buffer", ans.buffer);
            codec_w_kv_cstr(w, "rule", rules_level_name(ans.rule_level));
            if (budget) { /* as the change feed's channel entries */
                codec_w_kv_int(w, "backorder_budget", ans.backorder_budget);
                codec_w_kv_int(w, "backorder_used", ans.backorder_used);
            }
        }
    }
    return true;
}
