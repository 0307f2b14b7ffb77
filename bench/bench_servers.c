/*
 * bench_servers.c - the servers atp-bench runs (atpd, the echo and HTTP
 * floors, redis-server: started on free loopback ports in the run's
 * temporary directory, stopped by pid) and the stock it preloads into atpd
 * and Redis. Main thread.
 */
#define _GNU_SOURCE
#include "bench_servers.h"

#include "bench_cluster.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_nng.h"
#include "common/clock.h"
#include "formula/rules.h"

/* ---- processes -------------------------------------------------------------
 */

static void bench_url(char *buf, size_t len)
{
    snprintf(buf, len, "tcp://127.0.0.1:%d", bench_free_port());
}

/* Ask atpd for a snapshot and wait until one is stored (a large one can
 * outlast the client's 10 s timeout: retry, bounded by limit_s). */
bool bench_snapshot_now(client *cl, int limit_s)
{
    bool ok = false;
    int64_t deadline = clock_mono_ns() + (int64_t)limit_s * 1000000000;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    while (w != NULL && a != NULL && !ok && clock_mono_ns() < deadline) {
        codec_writer_reset(w);
        codec_arena_clear(a);
        codec_w_map(w, 1);
        codec_w_kv_cstr(w, "op", "snapshot");
        const codec_val *v;
        if (client_request(cl, w, a, &v) == ATP_OK)
            codec_val_bool(codec_val_get(v, "ok"), &ok);
        if (!ok) {
            struct timespec one = {1, 0};
            nanosleep(&one, NULL);
        }
    }
    codec_writer_free(w);
    codec_arena_free(a);
    return ok;
}

bool bench_status_read(client *cl, bench_atpd_status *st)
{
    memset(st, 0, sizeof *st);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    const codec_val *v;
    if (w != NULL && a != NULL) {
        codec_w_map(w, 1);
        codec_w_kv_cstr(w, "op", "status");
        if (client_request(cl, w, a, &v) == ATP_OK) {
            codec_val_bool(codec_val_get(v, "ok"), &st->ok);
            if (!codec_val_bool(codec_val_get(v, "ready"), &st->ready))
                st->ready = st->ok;
            codec_str s;
            if (codec_val_str(codec_val_get(v, "version"), &s))
                snprintf(st->version, sizeof st->version, "%.*s", (int)s.len,
                         s.ptr);
            codec_val_uint(codec_val_get(v, "skus"), &st->skus);
            codec_val_uint(codec_val_get(v, "positions"), &st->positions);
            codec_val_uint(codec_val_get(v, "engine_memory_bytes"),
                           &st->memory_bytes);
            codec_val_uint(
                codec_val_get(codec_val_get(v, "engine"), "events_applied"),
                &st->events_applied);
            const codec_val *r = codec_val_get(v, "reservations");
            codec_val_uint(codec_val_get(r, "open"), &st->resv_open);
            codec_val_uint(codec_val_get(r, "granted"), &st->resv_granted);
            codec_val_uint(codec_val_get(r, "load_skipped"),
                           &st->resv_load_skipped);
        }
    }
    codec_arena_free(a);
    codec_writer_free(w);
    return st->ok;
}

/* bench_ready_url copies the string value of "key" in atpd's ready file
 * text (docs/CONFIG.md: one JSON object, URLs without quotes). */
static bool bench_ready_url(const char *text, const char *key, char *out,
                            size_t n)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(text, pat), *e;
    if (p == NULL || (e = strchr(p += strlen(pat), '"')) == NULL ||
        (size_t)(e - p) >= n)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

/* bench_await_ready waits (bounded) until atpd wrote its ready file and
 * takes the URLs it listens on from it. Its sockets listen on port 0: the
 * system picks free ports, so no other process can take one between our
 * choosing and atpd binding it. */
static bool bench_await_ready(bench_app *app, const char *path,
                              int64_t deadline_ns)
{
    while (clock_mono_ns() < deadline_ns && bench_proc_alive(&app->atpd)) {
        char text[2048];
        FILE *f = fopen(path, "r");
        size_t n = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        text[n] = '\0';
        if (n > 0)
            return bench_ready_url(text, "query", app->query_url,
                                   sizeof app->query_url) &&
                   bench_ready_url(text, "ingest", app->ingest_url,
                                   sizeof app->ingest_url) &&
                   bench_ready_url(text, "feed", app->feed_url,
                                   sizeof app->feed_url) &&
                   bench_ready_url(text, "control", app->control_url,
                                   sizeof app->control_url) &&
                   (!app->a.http || app->a.http_endpoint != NULL ||
                    bench_ready_url(text, "http", app->http_url,
                                    sizeof app->http_url));
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* bench_start_atpd starts our atpd on fresh ports with data_dir, waits
 * until it is ready and (re)opens the control client. */
int bench_start_atpd(bench_app *app, const char *data_dir, const char *log_name,
                     double *ready_ms)
{
    char log[1200], ready[1200], any[] = "tcp://127.0.0.1:0";
    char tls_any[] = "tls+tcp://127.0.0.1:0";
    snprintf(log, sizeof log, "%s/%s", app->tmp, log_name);
    snprintf(ready, sizeof ready, "%s/%s.ready", app->tmp, log_name);
    unlink(ready);
    /* info for the restart data directory: atpd logs what it restored */
    const char *level = strstr(log_name, "restart") != NULL ? "info" : "warn";
    char http_any[] = "http://127.0.0.1:0";
    const char *cfg = app->tls_on ? app->tls_cfg_path : app->cfg_path;
    if (app->a.cluster > 0 &&
        (cfg = bench_cluster_start(app, data_dir)) == NULL)
        return -1;
    char *argv[] = {(char *)app->a.atpd,
                    "--config",
                    (char *)cfg,
                    "--query-listen",
                    app->tls_on ? tls_any : any,
                    "--ingest-listen",
                    any,
                    "--feed-listen",
                    any,
                    "--data-dir",
                    (char *)data_dir,
                    "--log-level",
                    (char *)level,
                    "--ready-file",
                    ready,
                    app->a.http && app->a.http_endpoint == NULL
                        ? (char *)"--http-listen"
                        : NULL,
                    http_any,
                    NULL};
    if (bench_proc_spawn(&app->atpd, "atpd", argv, log, false) != 0) {
        fprintf(stderr, "atp-bench: cannot start %s: %s\n", app->a.atpd,
                strerror(errno));
        return -1;
    }
    int64_t t_ready;
    int64_t deadline = clock_mono_ns() + 60000000000LL;
    if (!bench_await_ready(app, ready, deadline) ||
        !bench_probe_ready(app->query_url, deadline, &t_ready)) {
        fprintf(stderr,
                "atp-bench: atpd did not become ready within 60 s (log: %s)\n",
                log);
        bench_proc_stop(&app->atpd, SIGKILL, 0);
        return -1;
    }
    if (ready_ms != NULL)
        *ready_ms = (double)(t_ready - app->atpd.started_ns) / 1e6;
    /* --cluster: node 1 holds the lease now; its standbys follow. */
    if (app->a.cluster > 0 && bench_cluster_standbys(app, data_dir) != 0)
        return -1;
    client_close(app->ctl);
    app->ctl = NULL;
    client_opts co = {
        .url = app->query_url, .timeout_ms = 10000, .token = app->a.token};
    char err[256];
    if (client_open(&co, &app->ctl, err, sizeof err) != ATP_OK) {
        fprintf(stderr, "atp-bench: %s\n", err);
        return -1;
    }
    bench_atpd_status st;
    if (bench_status_read(app->ctl, &st))
        snprintf(app->atpd_version, sizeof app->atpd_version, "%s", st.version);
    app->own_atpd = true;
    return 0;
}

void bench_stop_atpd(bench_app *app, int sig)
{
    client_close(app->ctl);
    app->ctl = NULL;
    if (app->atpd.pid > 0)
        bench_proc_stop(&app->atpd, sig, 10000);
    bench_cluster_stop(app);
    app->preloaded = false;
}

int bench_ensure_http_floor(bench_app *app)
{
    if (app->http_floor_up)
        return 0;
    if (!app->a.http)
        return -1;
    char log[1200], threads[16];
    snprintf(log, sizeof log, "%s/http-floor.log", app->tmp);
    /* threaded like atpd's HTTP server unless --http-threads says */
    snprintf(threads, sizeof threads, "%u",
             app->a.http_threads ? app->a.http_threads
                                 : (unsigned)app->cfg.service.http_threads);
    char *argv[] = {
        (char *)app->a.http_floor, "--port", "0", "--threads", threads, NULL};
    if (!bench_file_exists(app->a.http_floor) ||
        bench_proc_spawn(&app->http_floor, "http-floor", argv, log,
                         app->a.sched_batch) != 0) {
        bench_report_warn(app->rep, "cannot start the HTTP floor %s: skipped",
                          app->a.http_floor);
        return -1;
    }
    /* It prints "port P" once listening (port 0: a free one). */
    for (int i = 0; i < 500 && bench_proc_alive(&app->http_floor); i++) {
        char text[256] = "";
        FILE *f = fopen(log, "r");
        if (f != NULL) {
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        unsigned port = 0;
        const char *p = strstr(text, "port ");
        if (p != NULL && sscanf(p, "port %u", &port) == 1 && port > 0) {
            snprintf(app->http_floor_url, sizeof app->http_floor_url,
                     "http://127.0.0.1:%u", port);
            app->http_floor_up = true;
            return 0;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    bench_report_warn(app->rep, "the HTTP floor did not come up: skipped");
    bench_proc_stop(&app->http_floor, SIGKILL, 0);
    return -1;
}

int bench_ensure_echo(bench_app *app)
{
    if (app->echo_up)
        return 0;
    if (app->a.no_echo)
        return -1;
    bench_url(app->echo_url, sizeof app->echo_url);
    char log[1200];
    snprintf(log, sizeof log, "%s/echo.log", app->tmp);
    char *argv[] = {(char *)app->a.echo, "--listen", app->echo_url,
                    "--contexts",        "64",       NULL};
    if (!bench_file_exists(app->a.echo) ||
        bench_proc_spawn(&app->echo, "echo", argv, log, app->a.sched_batch) !=
            0) {
        bench_report_warn(
            app->rep,
            "cannot start the echo server %s: transport floor skipped",
            app->a.echo);
        app->a.no_echo = true;
        return -1;
    }
    /* Ready once a 4-byte request gets its 4-byte reply. */
    bench_work none = {0};
    bench_echo_model m = {0};
    for (int i = 0; i < 300; i++) {
        bench_req_be *b;
        if (bench_req_be_open(app->echo_url, 1, 1, true, &none, &m, 500, &b,
                              NULL, 0) == ATP_OK) {
            bench_req_be_close(b);
            app->echo_up = true;
            return 0;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    bench_report_warn(
        app->rep, "the echo server did not come up: transport floor skipped");
    bench_proc_stop(&app->echo, SIGKILL, 0);
    app->a.no_echo = true;
    return -1;
}

int bench_ensure_redis(bench_app *app)
{
    if (app->redis != NULL)
        return 0;
    if (app->a.no_redis)
        return -1;
    if (!bench_redis_available()) {
        bench_report_warn(app->rep,
                          "atp-bench was built without hiredis: Redis baseline "
                          "skipped (install libhiredis-dev, reconfigure)");
        app->a.no_redis = true;
        return -1;
    }
    const char *srv =
        app->a.redis_server ? app->a.redis_server : "/usr/bin/redis-server";
    if (!bench_file_exists(srv)) {
        bench_report_warn(
            app->rep,
            "%s not found: Redis baseline skipped (apt-get install "
            "redis-server, or --redis-server PATH)",
            srv);
        app->a.no_redis = true;
        return -1;
    }
    app->redis_port = bench_free_port();
    char port[16], dir[1100], log[1200];
    snprintf(port, sizeof port, "%d", app->redis_port);
    snprintf(dir, sizeof dir, "%s/redis", app->tmp);
    mkdir(dir, 0755);
    snprintf(log, sizeof log, "%s/redis.log", app->tmp);
    /* The durable comparison: every write is in the AOF, fsynced, before
     * the reply (appendfsync always); no RDB snapshots in the way. */
    char *argv[] = {(char *)srv, "--port",
                    port,        "--bind",
                    "127.0.0.1", "--dir",
                    dir,         "--appendonly",
                    "yes",       "--appendfsync",
                    "always",    "--save",
                    "",          "--protected-mode",
                    "no",        "--daemonize",
                    "no",        "--io-threads",
                    "1",         NULL};
    if (bench_proc_spawn(&app->redis_proc, "redis", argv, log,
                         app->a.sched_batch) != 0) {
        bench_report_warn(app->rep, "cannot start %s: Redis baseline skipped",
                          srv);
        app->a.no_redis = true;
        return -1;
    }
    char err[256] = "";
    for (int i = 0; i < 300; i++) {
        if (bench_redis_open(app->redis_port, &app->redis, err, sizeof err) ==
            ATP_OK) {
            bench_redis_version(app->redis, app->redis_version,
                                sizeof app->redis_version);
            return 0;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    bench_report_warn(
        app->rep, "redis-server did not come up (%s): Redis baseline skipped",
        err);
    bench_proc_stop(&app->redis_proc, SIGKILL, 0);
    app->a.no_redis = true;
    return -1;
}

/* ---- preloading ---------------------------------------------------------- */

int bench_preload_range(bench_app *app, const bench_work *w,
                        const char *query_url, const char *ingest_url,
                        uint32_t lo, uint32_t hi, int64_t qty,
                        const char *label, bench_feed_result *res)
{
    bench_feed_opts o = {
        .ingest_url = ingest_url,
        .query_url = query_url,
        .source = app->source,
        .locations = app->src_locs,
        .n_locations = app->n_src_locs,
        .work = w,
        .sku_lo = lo,
        .sku_hi = hi,
        .batch = app->a.batch,
        .window = app->a.window ? app->a.window : 2048,
        .preload = true,
        .qty = qty,
        .lots = app->a.lots,
        .seed = app->a.seed,
        .label = label,
        .quiet = app->a.quiet,
    };
    int rc = bench_feed_run(&o, res);
    if (rc != 0)
        fprintf(stderr, "atp-bench: preload: %s\n", res->error);
    else if (res->unaccounted != 0 || res->missed != 0 || res->rejected != 0)
        bench_report_warn(
            app->rep,
            "preload %s: %llu missed, %llu rejected, %lld unaccounted", label,
            (unsigned long long)res->missed, (unsigned long long)res->rejected,
            (long long)res->unaccounted);
    return rc;
}

/* bench_ensure_preloaded stocks every SKU once: ordinary ones with --stock
 * per location, the hot (flash-sale) ones with --hot-stock. */
int bench_ensure_preloaded(bench_app *app)
{
    if (app->preloaded)
        return 0;
    bench_feed_result res;
    int64_t t0 = clock_mono_ns();
    int rc =
        bench_preload_range(app, &app->work, app->query_url, app->ingest_url, 0,
                            app->normal_hi, app->a.stock, "preload", &res);
    uint64_t ev = res.events;
    bench_feed_result_fini(&res);
    if (rc == 0 && app->normal_hi < app->work.n_skus) {
        rc = bench_preload_range(
            app, &app->work, app->query_url, app->ingest_url, app->normal_hi,
            app->work.n_skus, app->a.hot_stock, "preload-hot", &res);
        ev += res.events;
        bench_feed_result_fini(&res);
    }
    if (rc != 0)
        return -1;
    if (!app->a.quiet)
        fprintf(stderr,
                "atp-bench: preloaded %u SKUs x %u locations (%llu events) in "
                "%.1f s\n",
                app->work.n_skus, app->n_src_locs, (unsigned long long)ev,
                (double)(clock_mono_ns() - t0) / 1e9);
    app->preloaded = true;
    return 0;
}

static void bench_redis_row(void *ctx, uint32_t sku, uint32_t region,
                            int64_t *supply, int64_t *units, int64_t *pct)
{
    bench_app *app = ctx;
    int64_t qty = sku < app->normal_hi ? app->a.stock : app->a.hot_stock;
    *supply = qty * app->locs_in_region[region];
    rules_hit h;
    const char *s = app->work.skus[sku];
    rules_match(app->rules, s, strlen(s), region, app->channel, &h);
    *units = h.units;
    *pct = h.percent_bp;
}

int bench_ensure_redis_preloaded(bench_app *app)
{
    if (bench_ensure_redis(app) != 0)
        return -1;
    if (app->redis_preloaded)
        return 0;
    char err[256];
    int64_t t0 = clock_mono_ns();
    if (bench_redis_preload(app->redis, &app->work, bench_redis_row, app, err,
                            sizeof err) != ATP_OK) {
        bench_report_warn(
            app->rep, "redis preload failed (%s): Redis baseline skipped", err);
        app->a.no_redis = true;
        return -1;
    }
    if (!app->a.quiet)
        fprintf(stderr, "atp-bench: redis preloaded %u hashes in %.1f s\n",
                app->work.n_skus * app->work.n_regions,
                (double)(clock_mono_ns() - t0) / 1e9);
    app->redis_preloaded = true;
    return 0;
}
