/*
 * request_status.c - the status op: what atpd is, how far start-up is,
 * and its counters (engine, ingest, reservations, store, snapshots, feed,
 * queries, per-op latency, and the HTTP section when HTTP is on)
 * (docs/PROTOCOL.md, "status"). Any thread; reads only counters.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigmem.h"
#include "common/clock.h"
#include "common/cluster_info.h"
#include "common/thread.h"
#include "server/reply.h"
#include "server/request_int.h"
#include "tls/tls.h"

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
        codec_w_kv_count(w, "p99_us",
                         metrics_hist_quantile_us(&sums[op], 0.99));
        codec_w_kv_count(w, "p999_us",
                         metrics_hist_quantile_us(&sums[op], 0.999));
    }
}

/* The cluster member of status (docs/CLUSTER.md): this node's part. */
static void request_cluster_write(codec_writer *w, const config_cluster *k,
                                  const cluster_info *ci)
{
    codec_w_cstr(w, "cluster");
    codec_w_map(w, 18 + (k->n_partitions > 0));
    if (k->n_partitions > 0) { /* several partitions: the map */
        codec_w_cstr(w, "partitions");
        reply_partitions_write(w, k, ci);
    }
    codec_w_kv_cstr(w, "name", ci->name);
    codec_w_kv_cstr(w, "node", ci->node);
    codec_w_kv_cstr(w, "partition", ci->partition);
    codec_w_kv_cstr(w, "role", ci->owner ? "owner" : "standby");
    codec_w_kv_bool(w, "connected", ci->connected);
    codec_w_cstr(w, "owner");
    codec_w_map(w, 3);
    codec_w_kv_cstr(w, "node", ci->owner_node);
    codec_w_kv_cstr(w, "query", ci->owner_query);
    codec_w_kv_cstr(w, "http", ci->owner_http);
    codec_w_kv_count(w, "epoch", ci->epoch);
    codec_w_kv_count(w, "lease_ms", (uint64_t)ci->lease_ms);
    codec_w_kv_count(w, "stream_seq", ci->stream_seq);
    codec_w_kv_count(w, "applied_seq", ci->applied_seq);
    codec_w_kv_count(w, "stored_seq", ci->stored_seq);
    codec_w_kv_count(w, "lag",
                     ci->stream_seq > ci->applied_seq
                         ? ci->stream_seq - ci->applied_seq
                         : 0);
    codec_w_kv_count(w, "warm_records", ci->records);
    codec_w_kv_count(w, "takeovers", ci->takeovers);
    codec_w_kv_count(w, "takeover_ms", (uint64_t)ci->takeover_ms);
    codec_w_kv_count(w, "published", ci->published);
    codec_w_kv_count(w, "refused", ci->refused);
    codec_w_kv_count(w, "now_ms", (uint64_t)clock_wall_ms());
}

bool request_status(request_env *env, const request_fields *f, codec_arena *a,
                    codec_writer *w, reply_error *e)
{
    (void)f, (void)a, (void)e;
    cluster_info ci;
    cluster_info_get(&ci);
    if (!request_is_ready(env)) {
        /* Start-up is still loading the engine (or this node is a
         * cluster's standby): say only what does not read it
         * (docs/PROTOCOL.md, "status"). */
        codec_w_map(w, 6 + ci.enabled);
        if (ci.enabled)
            request_cluster_write(w, &env->cfg->cluster, &ci);
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
    codec_w_map(w, (es.store_known ? 23 : 22) + (extra != NULL) + ci.enabled);
    if (ci.enabled)
        request_cluster_write(w, &env->cfg->cluster, &ci);
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
    codec_w_kv_count(w, "regions", config_regions_in_service(env->cfg));
    codec_w_kv_count(w, "locations", sources_locations_live(env->src));
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
    codec_w_map(w, 6);
    codec_w_kv_count(w, "published", cs.published);
    codec_w_kv_count(w, "flushes", cs.flushes);
    codec_w_kv_count(w, "send_failures", cs.send_failures);
    codec_w_kv_count(w, "subscribers", cs.subscribers);
    codec_w_kv_count(w, "pickup_published", cs.pickup_published);
    codec_w_kv_count(w, "pickup_dropped", cs.pickup_dropped);
    codec_w_cstr(w, "queries");
    codec_w_map(w, 3);
    codec_w_kv_count(
        w, "requests",
        atomic_load_explicit(&env->requests, memory_order_relaxed));
    codec_w_kv_count(w, "errors",
                     atomic_load_explicit(&env->errors, memory_order_relaxed));
    codec_w_kv_count(
        w, "idle_closed",
        atomic_load_explicit(&env->idle_closed, memory_order_relaxed));
    codec_w_cstr(w, "tls");
    codec_w_map(w, 1);
    codec_w_kv_count(w, "handshake_closed", tls_janitor_closed());
    request_status_latency(env, w);
    if (extra != NULL) {
        codec_w_cstr(w, extra->name);
        extra->write(extra->arg, w);
    }
    return true;
}
