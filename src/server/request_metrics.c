/*
 * request_metrics.c - every metric atpd's request module can gather, in
 * the Prometheus text format (docs/METRICS.md), for GET /metrics. Reads
 * the same statistics the status reply reads (engine, ingest, sources,
 * change feed, store): nothing is counted twice. Any thread (an HTTP
 * worker); lock-free reads, except jemalloc's own stats refresh.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "common/bigmem.h"
#include "common/clock.h"
#include "common/cluster_info.h"
#include "server/request.h"
#include "server/request_int.h"
#include "tls/tls.h"

/* One unlabelled sample of a family: written by request_metrics_list. */
typedef struct request_metric {
    const char *name, *type, *help;
    uint64_t v;
} request_metric;

static void request_metrics_list(metrics_text *t, const request_metric *m,
                                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        metrics_text_family(t, m[i].name, m[i].type, m[i].help);
        metrics_text_uint(t, m[i].name, NULL, 0, m[i].v);
    }
}

#define REQUEST_METRICS_LIST(t, arr)                                           \
    request_metrics_list(t, arr, sizeof arr / sizeof arr[0])

static void request_metrics_requests(request_env *env, metrics_text *t)
{
    request_metrics *m = env->metrics;
    unsigned nops = request_op_count();
    metrics_text_family(
        t, "atpd_request_duration_seconds", "histogram",
        "Time from a request's arrival to its reply handed to the "
        "transport, by transport and op (_count: requests)");
    for (unsigned tr = 0; tr < REQUEST_TRANSPORTS; tr++)
        for (unsigned op = 0; op < nops; op++) {
            metrics_hist_sum s = {0};
            metrics_hist_read(&m->latency[tr][op], &s);
            metrics_label l[2] = {{"transport", request_transport_names[tr]},
                                  {"op", request_op_name(op)}};
            metrics_text_hist(t, "atpd_request_duration_seconds", l, 2, &s);
        }
    metrics_text_family(t, "atpd_request_errors_total", "counter",
                        "Requests answered with an error, by transport, op and "
                        "error code name (codes never seen are left out)");
    for (unsigned tr = 0; tr < REQUEST_TRANSPORTS; tr++)
        for (unsigned op = 0; op < nops; op++)
            for (int c = 1; c < REQUEST_ERR_SLOTS; c++) {
                uint64_t n = atomic_load_explicit(&m->errors[tr][op][c],
                                                  memory_order_relaxed);
                if (n == 0)
                    continue;
                metrics_label l[3] = {
                    {"transport", request_transport_names[tr]},
                    {"op", request_op_name(op)},
                    {"code", atp_err_name(c)}};
                metrics_text_uint(t, "atpd_request_errors_total", l, 3, n);
            }
}

/* A gauge family in seconds from the int64_t milliseconds at off in each
 * source's status; a source whose value is negative (none yet) is left
 * out. */
static void request_metrics_source_ms(metrics_text *t, const sources_status *st,
                                      size_t n, size_t off, const char *name,
                                      const char *help)
{
    metrics_text_family(t, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        int64_t ms;
        memcpy(&ms, (const char *)&st[i] + off, sizeof ms);
        /* age: -1 before anything arrived. lag: meaningful once a message
         * with a timestamp was applied (last_ts_ms set), and may then be
         * negative (a source clock ahead of atpd's): absent before, not 0. */
        bool present = off == offsetof(sources_status, lag_ms)
                           ? st[i].last_ts_ms > 0
                           : ms >= 0;
        if (present) {
            metrics_label l = {"source", st[i].id};
            metrics_text_double(t, name, &l, 1, (double)ms / 1000.0);
        }
    }
}

/* One family per source figure, a sample per source. */
static void request_metrics_sources(request_env *env, metrics_text *t)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } figs[] = {
#define F(n, ty, h, field) {n, ty, h, offsetof(sources_status, field)}
        F("atpd_source_last_seq", "gauge",
          "Last sequence number applied, by source", last_seq),
        F("atpd_source_messages_total", "counter",
          "Messages applied, by source", messages),
        F("atpd_source_events_total", "counter", "Events applied, by source",
          events),
        F("atpd_source_duplicates_total", "counter",
          "Messages dropped as already applied, by source", duplicates),
        F("atpd_source_gaps_total", "counter",
          "Holes in a source's sequence found, by source", gaps),
        F("atpd_source_rejected_messages_total", "counter",
          "Messages rejected whole, by source", rejected_messages),
        F("atpd_source_resync_requests_total", "counter",
          "Replay or snapshot requests sent, by source", resync_requests),
        F("atpd_source_conflicts_total", "counter",
          "Messages of a second publisher (another session while the current "
          "one is live) dropped, by source",
          conflicts),
        F("atpd_source_sessions_total", "counter",
          "New publisher sessions accepted after the previous one went "
          "silent, by source",
          sessions),
        F("atpd_source_unsynced_total", "counter",
          "Messages dropped before their session's full snapshot, by source",
          unsynced),
        F("atpd_source_seq_rejected_total", "counter",
          "Messages whose seq jumped beyond max_seq_jump, dropped, by source",
          seq_rejected),
        F("atpd_source_bad_mac_total", "counter",
          "Messages without a valid MAC for the source's key, dropped, by "
          "source",
          bad_mac),
        F("atpd_source_resets_total", "counter",
          "source_reset operations done, by source", resets),
#undef F
    };
    int64_t now = clock_mono_ms();
    size_t n = sources_count(env->src);
    sources_status *st = calloc(n ? n : 1, sizeof *st);
    if (st == NULL) {
        t->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        sources_status_get(env->src, i, now, &st[i]);
    metrics_text_family(t, "atpd_source_state", "gauge",
                        "1 for the state each source is in, 0 for the others");
    static const sources_state states[] = {SOURCES_WAITING,   SOURCES_OK,
                                           SOURCES_GAPPED,    SOURCES_SILENT,
                                           SOURCES_RESYNCING, SOURCES_CONFLICT};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            metrics_label l[2] = {{"source", st[i].id},
                                  {"state", sources_state_name(states[k])}};
            metrics_text_uint(t, "atpd_source_state", l, 2,
                              st[i].state == states[k]);
        }
    for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++) {
        metrics_text_family(t, figs[f].name, figs[f].type, figs[f].help);
        for (size_t i = 0; i < n; i++) {
            metrics_label l = {"source", st[i].id};
            uint64_t v;
            memcpy(&v, (const char *)&st[i] + figs[f].off, sizeof v);
            metrics_text_uint(t, figs[f].name, &l, 1, v);
        }
    }
    /* Left out for a source not heard from yet (see above). */
    request_metrics_source_ms(t, st, n, offsetof(sources_status, lag_ms),
                              "atpd_source_lag_seconds",
                              "Receive time minus the source's timestamp of "
                              "its last applied message, by source (absent "
                              "before the first)");
    request_metrics_source_ms(t, st, n, offsetof(sources_status, age_ms),
                              "atpd_source_age_seconds",
                              "Time since the source's last message (any, "
                              "heartbeats too), by source (absent before the "
                              "first)");
    free(st);
}

static void request_metrics_engine(request_env *env, metrics_text *t)
{
    engine_stats es;
    engine_stats_get(env->eng, &es);
    ingest_stats is = {0};
    if (env->in != NULL)
        ingest_stats_get(env->in, &is);
    const request_metric m[] = {
        {"atpd_skus", "gauge", "SKUs known", es.skus},
        {"atpd_positions", "gauge", "Positions (SKU, location) known",
         es.positions},
        {"atpd_ingest_messages_total", "counter", "Source messages received",
         is.received},
        {"atpd_ingest_bytes_total", "counter",
         "Bytes of source messages received", is.bytes},
        {"atpd_ingest_bad_messages_total", "counter",
         "Undecodable messages naming no readable source", is.bad_messages},
        {"atpd_ingest_unknown_source_total", "counter",
         "Messages naming a source not configured", is.unknown_source},
        {"atpd_ingest_events_total", "counter",
         "Source events applied by the engine", es.events_applied},
        {"atpd_engine_queued", "gauge",
         "Batches and operations waiting for the engine thread", es.queue_len},
        {"atpd_engine_memory_bytes", "gauge",
         "Memory the engine's tables take (approximate)", es.memory_bytes},
        {"atpd_reservations_remembered", "gauge",
         "Reservations open or finished within the retention window",
         es.resv_total},
        {"atpd_reservation_grants_total", "counter", "Reservations granted",
         es.resv_granted},
        {"atpd_reservation_refusals_total", "counter",
         "Reservations refused for lack of ATP", es.resv_refused},
        {"atpd_backorder_reserves_total", "counter",
         "Reservations granted with units beyond ATP (backorder budgets)",
         es.backorder_reserves},
        {"atpd_backorder_units_total", "counter",
         "Units granted beyond ATP from backorder budgets", es.backorder_units},
        {"atpd_preorder_reserves_total", "counter",
         "Dated reservations (preorders) granted", es.preorder_reserves},
        {"atpd_preorder_dated_units", "gauge",
         "Open units of dated reservations not yet at their date",
         (uint64_t)es.preorder_dated_units},
        {"atpd_preorder_hold_units", "gauge",
         "Preorder holds counted in reserved: what dated reservations need "
         "of present supply beyond the lots before their dates (the sum of "
         "every row's)",
         (uint64_t)es.preorder_hold_units},
        {"atpd_reservation_expiries_total", "counter",
         "Held reservations expired", es.resv_expired},
        {"atpd_reservation_consumptions_total", "counter",
         "Committed reservations consumed by source events", es.resv_consumed},
        {"atpd_snapshots_total", "counter", "Position snapshots stored",
         es.snapshots},
        {"atpd_snapshot_failures_total", "counter",
         "Position snapshots that could not be stored", es.snapshot_failures},
    };
    REQUEST_METRICS_LIST(t, m);
    metrics_text_family(t, "atpd_reservations", "gauge",
                        "Reservations open now, by state");
    metrics_label held = {"state", "held"}, committed = {"state", "committed"};
    metrics_text_uint(t, "atpd_reservations", &held, 1, es.resv_held);
    metrics_text_uint(t, "atpd_reservations", &committed, 1, es.resv_committed);
    if (es.store_known) {
        const request_metric st[] = {
            {"atpd_store_commits_total", "counter", "LMDB write transactions",
             es.store.commits},
            {"atpd_store_commit_failures_total", "counter",
             "LMDB write transactions that failed", es.store.failures},
            {"atpd_store_map_bytes", "gauge", "LMDB map size",
             es.store.map_bytes},
            {"atpd_store_used_bytes", "gauge", "LMDB pages in use",
             es.store.used_bytes},
            {"atpd_store_full", "gauge",
             "1 when the last LMDB commit failed for lack of space",
             es.store.full},
            {"atpd_store_log_present", "gauge",
             "1 when the reservation log is in use (0: none, e.g. nosync)",
             es.store.log_present},
            {"atpd_store_log_size_bytes", "gauge",
             "Size of the reservation log file (0: none)", es.store.log_size},
            {"atpd_store_log_used_bytes", "gauge",
             "Bytes of the reservation log written since it last wrapped",
             es.store.log_used},
            {"atpd_store_log_appends_total", "counter",
             "Reservation log writes, each one fdatasync",
             es.store.log_appends},
            {"atpd_store_log_groups_total", "counter",
             "Reservation groups made durable by the log", es.store.log_groups},
        };
        REQUEST_METRICS_LIST(t, st);
        metrics_text_family(t, "atpd_store_log_sync_seconds", "histogram",
                            "Reservation log fdatasync latency, one per "
                            "append (_count: syncs; none without the log)");
        metrics_text_hist(t, "atpd_store_log_sync_seconds", NULL, 0,
                          &es.store.log_sync);
        metrics_text_family(t, "atpd_store_commit_seconds", "histogram",
                            "LMDB write transaction commit latency "
                            "(_count: commits attempted)");
        metrics_text_hist(t, "atpd_store_commit_seconds", NULL, 0,
                          &es.store.commit);
    }
    if (es.snapshot_last_ms > 0) {
        int64_t age = clock_wall_ms() - (int64_t)es.snapshot_last_ms;
        metrics_text_family(t, "atpd_snapshot_age_seconds", "gauge",
                            "Time since the last stored position snapshot "
                            "(absent before the first)");
        metrics_text_double(t, "atpd_snapshot_age_seconds", NULL, 0,
                            age > 0 ? (double)age / 1000.0 : 0.0);
    }
}

static void request_metrics_feed_memory(request_env *env, metrics_text *t)
{
    changes_stats cs = {0};
    if (env->chg != NULL)
        changes_stats_get(env->chg, &cs);
    const request_metric m[] = {
        {"atpd_feed_messages_total", "counter",
         "Change-feed messages published", cs.published},
        {"atpd_feed_subscribers", "gauge", "Change-feed subscribers connected",
         cs.subscribers},
        {"atpd_query_idle_closed_total", "counter",
         "nng query connections closed after service.query_idle_timeout "
         "without a request",
         atomic_load_explicit(&env->idle_closed, memory_order_relaxed)},
        {"atpd_tls_handshake_closed_total", "counter",
         "nng tls+tcp:// connections shut because they did not finish the "
         "TLS handshake within service.tls_handshake_timeout",
         tls_janitor_closed()},
        {"atpd_feed_send_failures_total", "counter",
         "Change-feed messages that could not be built or sent (dropped)",
         cs.send_failures},
        {"atpd_feed_pickup_messages_total", "counter",
         "Pickup feed messages published", cs.pickup_published},
        {"atpd_feed_relayed_total", "counter",
         "Change-feed messages of the cluster's other partitions passed to "
         "this node's feed (docs/CLUSTER.md)",
         cs.relayed},
        {"atpd_feed_relay_dropped_total", "counter",
         "Change-feed messages of the cluster's other partitions lost here "
         "(queue full, send failure)",
         cs.relay_dropped},
        {"atpd_feed_pickup_dropped_total", "counter",
         "Pickup feed changes lost (out of memory, or not sent)",
         cs.pickup_dropped},
        {"atpd_process_resident_memory_bytes", "gauge",
         "Resident set size of the atpd process", bigmem_rss_bytes()},
        {"atpd_uptime_seconds", "gauge", "Seconds since atpd started",
         (uint64_t)((clock_mono_ms() - env->started_ms) / 1000)},
        {"atpd_ready", "gauge",
         "1 when atpd is ready (GET /readyz 200): before, its state is still "
         "being restored and the other figures are partial; 0 again while "
         "it stops",
         request_is_serving(env)},
    };
    REQUEST_METRICS_LIST(t, m);
    alloc_stats as;
    if (alloc_stats_get(&as)) {
        const request_metric je[] = {
            {"atpd_jemalloc_allocated_bytes", "gauge",
             "Bytes allocated by the application (jemalloc stats.allocated)",
             as.allocated},
            {"atpd_jemalloc_resident_bytes", "gauge",
             "Bytes in physically resident allocator pages (jemalloc "
             "stats.resident)",
             as.resident},
        };
        REQUEST_METRICS_LIST(t, je);
    }
}

/* The cluster's (docs/CLUSTER.md), only in one. */
static void request_metrics_cluster(metrics_text *t)
{
    cluster_info ci;
    cluster_info_get(&ci);
    if (!ci.enabled)
        return;
    const request_metric m[] = {
        {"atpd_cluster_owner", "gauge",
         "1 while this node owns its partition (holds the lease and serves)",
         ci.owner},
        {"atpd_cluster_nats_connected", "gauge",
         "1 while the connection to NATS is up", ci.connected},
        {"atpd_cluster_epoch", "gauge",
         "The partition's epoch this node holds or last saw (its owner's "
         "takeover marker's stream sequence)",
         ci.epoch},
        {"atpd_cluster_stream_lag", "gauge",
         "Messages of the partition's stream a standby has not read yet",
         ci.stream_seq > ci.applied_seq ? ci.stream_seq - ci.applied_seq : 0},
        {"atpd_cluster_published_total", "counter",
         "Messages the partition's stream accepted from this node (one per "
         "reservation group, and takeover markers)",
         ci.published},
        {"atpd_cluster_refused_total", "counter",
         "Reservation groups the stream refused or did not confirm in time",
         ci.refused},
        {"atpd_cluster_takeovers_total", "counter",
         "Takeovers of the partition by this process", ci.takeovers},
        {"atpd_cluster_takeover_ms", "gauge",
         "How long this process's last takeover took, lease to serving (ms)",
         (uint64_t)ci.takeover_ms},
        {"atpd_cluster_feed_lost_total", "counter",
         "Change-feed messages across partitions lost publishing to NATS or "
         "receiving from it (several partitions)",
         ci.feed_lost},
        {"atpd_cluster_feed_rejected_total", "counter",
         "Change-feed messages from NATS dropped: no such partition, no "
         "epoch, or a deposed owner's (several partitions)",
         ci.feed_rejected},
    };
    REQUEST_METRICS_LIST(t, m);
}

void request_metrics_write(request_env *env, metrics_text *t)
{
    request_metrics_requests(env, t);
    request_metrics_sources(env, t);
    request_metrics_engine(env, t);
    request_metrics_feed_memory(env, t);
    request_metrics_cluster(t);
}
