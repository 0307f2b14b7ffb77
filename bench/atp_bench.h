/*
 * atp_bench.h - shared state of atp-bench: arguments, the processes it
 * runs, the workload, the report. Types only: atp_bench.c (the command
 * line, the configuration, the report's header) calls the scenarios
 * (bench_scenarios.h), which call the servers (bench_servers.h); no file
 * calls back up.
 * Main thread, except where a function says otherwise.
 */
#ifndef ATP_BENCH_H
#define ATP_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_feed.h"
#include "bench_load.h"
#include "bench_proc.h"
#include "bench_redis.h"
#include "bench_replay.h"
#include "bench_report.h"
#include "bench_wake.h"
#include "bench_work.h"
#include "client.h"
#include "config/config.h"
#include "tools_tls.h"

#define ATP_BENCH_VERSION "0.1.0"
#define BENCH_MAX_REPLAY_FILES 1024

typedef struct bench_args {
    const char *scenario;
    const char *endpoint, *ingest_endpoint;
    const char *token; /* --token: atpd's client token (docs/SECURITY.md) */
    const char *atpd, *config, *echo, *redis_server, *bench_engine;
    bool no_echo, no_redis;
    /* --http: atpd over HTTP and the HTTP floor too; --no-nng: not atpd
     * over nng (nor the nng echo floor) */
    bool http, no_nng;
    bool wrk;               /* point: also atpd-http and the floor under wrk */
    bool http_pipeline;     /* wrk, point: conns connections, clients/conns
                               requests pipelined on each */
    const char *http_floor; /* atp-bench-http-floor */
    const char *http_endpoint; /* a running atpd's HTTP URL (implies --http) */
    unsigned http_threads;     /* the floor's threads; 0: atpd's http_threads */
    double rate;               /* 0: closed loop */
    unsigned clients, conns, repeat;
    double duration, warmup, drain;
    uint32_t skus, hot, batch, window;
    int64_t stock, hot_stock;
    double ingest_rate; /* background ingest during point/cart/peak */
    double peak_ingest_rate, peak_rate;
    uint64_t reservations, positions, restart_positions;
    uint64_t import_lines; /* import: lines of the generated 846 and CSV */
    /* restart: starts after SIGTERM (one more after SIGKILL); --cold: the
     * page cache dropped before each start (root) */
    unsigned restarts;
    bool cold;
    /* point: ATP requests ask bundles of three SKUs each (docs/PROTOCOL.md,
     * "Bundles"), defined in the generated configuration */
    bool query_bundles;
    bool define_bundles; /* the same bundles, requests asking plain SKUs */
    /* point: ATP requests ask `promise` (qty 1, a date a week ahead;
     * docs/PROTOCOL.md, "Time-phased promises") instead of `atp` */
    bool query_promise;
    /* the preload also adds this many inbound lots to every (sku,
     * location), arriving 1, 2, ... weeks ahead (0: none) */
    uint32_t lots;
    /* --cluster N: N nats-servers and N atpd nodes (bench_cluster.c) */
    unsigned cluster;
    const char *nats_server;
    char *replay[BENCH_MAX_REPLAY_FILES];
    int n_replay;
    double speedup;
    uint64_t replay_rows;
    bench_replay_cols cols;
    const char *json, *plot, *tmpdir, *channel;
    bool keep, quiet, tiny, window_set;
    bool rt;          /* the load runner at a real-time priority */
    bool sched_batch; /* servers under SCHED_BATCH (--sched batch) */
    uint64_t seed;
    int timeout_ms;
    /* reserve scenario: what follows a granted reservation, in percent
     * (the rest of 100 expires); default 60 commit, 30 release */
    int mix_commit, mix_release;
    /* reserve: --reserve-fill plain | partial | split | backorder
     * (docs/PROTOCOL.md, "Partial reservations", "Split lines",
     * "Backorder budgets") */
    int reserve_fill;
    /* REQ load over nng's own REQ contexts instead of bench_sp.h */
    bool client_nng;
    tools_tls tls; /* --ca, --cert, --key: a running atpd's TLS endpoint */
} bench_args;

typedef struct bench_app {
    bench_args a;
    config cfg;
    bool cfg_loaded;
    char cfg_path[1024];
    char *tmp;
    char exe_dir[1024];
    bench_proc atpd, echo, redis_proc, http_floor;
    bool own_atpd;
    char query_url[256], ingest_url[256], feed_url[256], echo_url[256];
    char control_url[256];
    char http_url[256], http_floor_url[256]; /* http://127.0.0.1:port */
    bool http_floor_up;
    bench_echo_model http_model; /* atpd's HTTP reply sizes (for the floor) */
    int redis_port;
    bench_redis *redis; /* control connection, NULL: no Redis baseline */
    bool echo_up;
    client *ctl;
    bench_work work;
    bench_basket basket;
    bench_replay replay;
    bool have_replay;
    uint32_t channel; /* index of work.channel in cfg */
    const char *source;
    char **src_locs; /* on_hand locations of the source, names */
    uint32_t n_src_locs;
    uint32_t *locs_in_region; /* count of src_locs per region */
    uint32_t normal_hi; /* SKUs [0, normal_hi) are ordinary, the rest hot */
    bool preloaded, redis_preloaded;
    uint64_t resv_next;
    bench_echo_model model;
    bench_report *rep;
    bench_machine machine;
    bench_wake wake; /* thread hand-off round trips, measured at start */
    char atpd_version[32], redis_version[32];
    char loadavg_start[64], loadavg_end[64];
    struct rules *rules;
    /* scenario tls: atpd started with tls+tcp:// queries and this config
     * (the main one plus a tls: section of certificates made in tmp) */
    bool tls_on;
    char tls_cfg_path[1100];
    /* --cluster (bench_cluster.c): the nats-servers, the standby nodes
     * (the owner is atpd above), node 1's configuration */
    bench_proc nats[5], standby[4];
    char cluster_cfg_path[1100];
} bench_app;

#endif
