/*
 * bench_servers.h - the servers atp-bench runs and what it loads into them:
 * atpd (started on loopback ports it picks itself, port 0, and read back
 * from its ready file; stopped by pid), the nng echo floor, the HTTP floor,
 * redis-server, and the stock preloaded into atpd and Redis before a run.
 * Main thread.
 */
#ifndef ATP_BENCH_SERVERS_H
#define ATP_BENCH_SERVERS_H

#include <stdbool.h>
#include <stdint.h>

#include "atp_bench.h"

/* bench_start_atpd starts atpd on fresh loopback ports with data_dir, waits
 * until `status` answers ready (*ready_ms: from exec to ready, if not NULL)
 * and opens app->ctl. */
int bench_start_atpd(bench_app *app, const char *data_dir, const char *log_name,
                     double *ready_ms);
void bench_stop_atpd(bench_app *app, int sig);
int bench_ensure_echo(bench_app *app);
/* bench_ensure_http_floor starts atp-bench-http-floor once (0), or warns and
 * sets --no-http-floor's effect (-1). */
int bench_ensure_http_floor(bench_app *app);
int bench_ensure_redis(bench_app *app);
int bench_ensure_preloaded(bench_app *app);
int bench_ensure_redis_preloaded(bench_app *app);
int bench_preload_range(bench_app *app, const bench_work *w,
                        const char *query_url, const char *ingest_url,
                        uint32_t lo, uint32_t hi, int64_t qty,
                        const char *label, bench_feed_result *res);

typedef struct bench_atpd_status {
    bool ok, ready;
    char version[32];
    uint64_t skus, positions, memory_bytes, events_applied, resv_open,
        resv_granted, resv_load_skipped;
} bench_atpd_status;
bool bench_status_read(client *cl, bench_atpd_status *st);
bool bench_snapshot_now(client *cl, int limit_s);

#endif
