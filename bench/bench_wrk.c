/*
 * bench_wrk.c - single-line ATP over HTTP and the HTTP floor under wrk
 * (see bench_wrk.h).
 */
#define _GNU_SOURCE
#include "bench_wrk.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_servers.h"
#include "common/clock.h"

/* wrk from PATH, or "" */
static void bench_wrk_path(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    buf[0] = '\0';
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, len, "%.*s/wrk", (int)n, path);
        if (bench_file_exists(buf))
            return;
        path += n + (path[n] == ':');
    }
    buf[0] = '\0';
}

/* A Lua string literal of s, percent-encoded for a URL path or query. */
static void bench_wrk_lua_pct(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~')
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
    fputc('"', f);
}

/* A Lua string literal of s as a JSON string literal (for bodies). */
static void bench_wrk_lua_json(FILE *f, const char *s)
{
    fputs("'\"", f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputs(*p == '"' ? "\\\\\\\"" : "\\\\\\\\", f);
        else if (*p < 0x20 || *p == '\'')
            fprintf(f, "\\\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputs("\"'", f);
}

/* Requests pipelined per wrk connection: clients/conns with
 * --http-pipeline (point only), else 1. */
static unsigned bench_wrk_depth(const bench_app *app, bool reserve)
{
    if (!app->a.http_pipeline || reserve || app->a.conns == 0 ||
        app->a.clients < app->a.conns)
        return 1;
    return app->a.clients / app->a.conns;
}

/* The script: SKUs like bench_sku_pick (80 % of picks in the first fifth
 * of the ordinary SKUs), a random region, the bench channel; one RESULT
 * line at the end. point: GET the line's availability, with the floor's
 * reply size (atpd ignores the header). reserve: POST one-line
 * reservations (1-3 units, ids <id_prefix><thread>-<n>, TTL ttl_ms) that
 * all expire, like --reserve-mix 0,0,100. */
static int bench_wrk_script(bench_app *app, const char *path, bool reserve,
                            uint32_t size, const char *id_prefix,
                            int64_t ttl_ms)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    const bench_work *w = &app->work;
    uint32_t n = app->normal_hi ? app->normal_hi : 1;
    uint32_t hot = n / 5 ? n / 5 : 1;
    fprintf(f, "local n, hot = %u, %u\nlocal prefix = \"SKU-\"\n", n, hot);
    fprintf(f, "local regions = {");
    for (uint32_t i = 0; i < w->n_regions; i++) {
        bench_wrk_lua_pct(f, w->regions[i]);
        fputs(i + 1 < w->n_regions ? ", " : "", f);
    }
    fprintf(f, "}\nlocal jregions = {");
    for (uint32_t i = 0; i < w->n_regions; i++) {
        bench_wrk_lua_json(f, w->regions[i]);
        fputs(i + 1 < w->n_regions ? ", " : "", f);
    }
    fprintf(f, "}\nlocal channel = ");
    bench_wrk_lua_pct(f, w->channel);
    fprintf(f, "\nlocal jchannel = ");
    bench_wrk_lua_json(f, w->channel);
    fprintf(f,
            "\nmath.randomseed(%" PRIu64 ")\n"
            "local function pick()\n"
            "  if math.random() < 0.8 then return math.random(0, hot - 1) end\n"
            "  return math.random(0, n - 1)\n"
            "end\n",
            app->a.seed);
    if (!reserve) {
        fprintf(
            f,
            "local hdr = {[\"X-Reply-Size\"] = \"%u\"}\n"
            "local depth = %u\n"
            "local function one()\n"
            "  return wrk.format(\"GET\", \"/v1/availability/\" .. prefix .."
            " pick() .. \"/\" .. regions[math.random(#regions)] .."
            " \"?channel=\" .. channel, hdr)\n"
            "end\n"
            "request = function()\n"
            "  if depth == 1 then return one() end\n"
            "  local t = {}\n"
            "  for i = 1, depth do t[i] = one() end\n"
            "  return table.concat(t)\n"
            "end\n",
            size, bench_wrk_depth(app, reserve));
    } else {
        fprintf(
            f,
            "local hdr = {[\"X-Reply-Size\"] = \"%u\", [\"Content-Type\"] ="
            " \"application/json\"}\n"
            "local counter, nthreads = 0, 0\n"
            "setup = function(thread)\n"
            "  nthreads = nthreads + 1\n"
            "  thread:set(\"tid\", nthreads)\n"
            "end\n"
            "request = function()\n"
            "  counter = counter + 1\n"
            "  local body = '{\"id\":\"%s' .. (tid or 0) .. '-' .. counter"
            " .. '\",\"channel\":' .. jchannel .. ',\"ttl_ms\":%lld,"
            "\"lines\":[{\"sku\":\"' .. prefix .. pick() .. '\",\"region\":'"
            " .. jregions[math.random(#jregions)] .. ',\"qty\":' .."
            " math.random(1, 3) .. '}]}'\n"
            "  return wrk.format(\"POST\", \"/v1/reservations\", hdr, body)\n"
            "end\n",
            size, id_prefix, (long long)ttl_ms);
    }
    fprintf(f,
            "done = function(summary, latency, requests)\n"
            "  local e = summary.errors\n"
            "  io.write(string.format(\"RESULT %%d %%d %%d %%d %%d %%d\\n\",\n"
            "    summary.requests, summary.duration, latency:percentile(50),\n"
            "    latency:percentile(99), latency.max,\n"
            "    e.connect + e.read + e.write + e.status + e.timeout))\n"
            "end\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* One wrk run against url; server is the pid whose CPU is counted. */
static int bench_wrk_run(bench_app *app, const char *wrk, const char *script,
                         bool reserve, const char *url, pid_t server,
                         const char *label, bench_ext_run *out)
{
    char log[1200], conns[16], dur[16], full[300];
    snprintf(log, sizeof log, "%s/wrk-%s.log", app->tmp, label);
    unlink(log);
    unsigned depth = bench_wrk_depth(app, reserve);
    snprintf(conns, sizeof conns, "%u",
             depth > 1 ? app->a.conns : app->a.clients);
    snprintf(dur, sizeof dur, "%ds",
             (int)(app->a.duration > 1 ? app->a.duration + 0.5 : 1));
    snprintf(full, sizeof full, "%s/v1/availability", url);
    char *argv[] = {(char *)wrk,    "-t1",       "-c",  conns, "-d", dur, "-s",
                    (char *)script, "--timeout", "10s", full,  NULL};
    bench_proc p;
    double cpu0 = bench_cpu_s(server);
    if (bench_proc_spawn(&p, "wrk", argv, log, false) != 0)
        return -1;
    /* wrk stops by itself after -d; bounded wait, then stopped by pid */
    int64_t deadline =
        clock_mono_ns() + (int64_t)(app->a.duration + 30) * 1000000000LL;
    while (bench_proc_alive(&p) && clock_mono_ns() < deadline) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    if (p.pid > 0)
        bench_proc_stop(&p, SIGKILL, 0);
    double cpu1 = bench_cpu_s(server);
    FILE *f = fopen(log, "r");
    char line[512];
    bool got = false;
    unsigned long long req = 0, dur_us = 0, p50 = 0, p99 = 0, mx = 0, err = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "RESULT %llu %llu %llu %llu %llu %llu", &req, &dur_us,
                   &p50, &p99, &mx, &err) == 6)
            got = true;
    if (f != NULL)
        fclose(f);
    if (!got || dur_us == 0 || req == 0)
        return -1;
    /* Pipelined, wrk times a batch, not a request (and its percentiles
     * came out 0 here): no latency is reported then. */
    bool timed = depth == 1;
    *out = (bench_ext_run){
        .ops_per_s = (double)req / ((double)dur_us / 1e6),
        .p50_us = timed ? (double)p50 : NAN,
        .p99_us = timed ? (double)p99 : NAN,
        .max_us = timed ? (double)mx : NAN,
        .server_cpu_us_per_req = cpu0 >= 0 && cpu1 - cpu0 >= 0.1
                                     ? (cpu1 - cpu0) * 1e6 / (double)req
                                     : NAN,
        .count = req,
        .errors = err,
    };
    if (!app->a.quiet)
        fprintf(stderr, "[%s] %.0f req/s p50 %lluus p99 %lluus errors %llu\n",
                label, out->ops_per_s, p50, p99, err);
    return 0;
}

/* Both systems under wrk, interleaved; entries "<atpd|floor>-wrk" of
 * scenario/op. reserve: one script per run (fresh reservation ids). */
static int bench_wrk_pair(bench_app *app, unsigned repeats,
                          const char *scenario, const char *op, bool reserve)
{
    char wrk[1024], script[1200];
    bench_wrk_path(wrk, sizeof wrk);
    if (wrk[0] == '\0') {
        bench_report_warn(app->rep, "%s/wrk: no wrk in PATH: skipped",
                          scenario);
        return -1;
    }
    if (app->have_replay || app->http_url[0] == '\0' ||
        bench_ensure_http_floor(app) != 0) {
        bench_report_warn(app->rep,
                          "%s/wrk: needs atpd over HTTP, the HTTP floor and "
                          "synthetic SKUs: skipped",
                          scenario);
        return -1;
    }
    unsigned bop = reserve ? BENCH_OP_RESERVE : BENCH_OP_ATP;
    uint32_t size = bench_echo_model_size(&app->http_model, bop, 1);
    int64_t ttl = app->cfg.reservations.min_ttl_ms > 1000
                      ? app->cfg.reservations.min_ttl_ms
                      : 1000;
    if (repeats > BENCH_MAX_RUNS)
        repeats = BENCH_MAX_RUNS;
    bench_ext_run ra[BENCH_MAX_RUNS], rf[BENCH_MAX_RUNS];
    unsigned na = 0, nf = 0;
    int rc = 0;
    for (unsigned k = 0; k < repeats; k++) {
        for (int sys = 0; sys < 2; sys++) {
            char label[96], ids[96];
            snprintf(label, sizeof label, "%s-%s-wrk-%u", scenario,
                     sys ? "http-floor" : "atpd-http", k + 1);
            snprintf(ids, sizeof ids, "%swrk%u.%d.", app->work.resv_prefix, k,
                     sys);
            snprintf(script, sizeof script, "%s/wrk-%s.lua", app->tmp, label);
            bench_ext_run *out = sys ? &rf[nf] : &ra[na];
            if (bench_wrk_script(app, script, reserve, size, ids, ttl) != 0 ||
                bench_wrk_run(app, wrk, script, reserve,
                              sys ? app->http_floor_url : app->http_url,
                              sys ? app->http_floor.pid : app->atpd.pid, label,
                              out) != 0) {
                rc = -1;
                continue;
            }
            if (sys)
                nf++;
            else
                na++;
        }
    }
    if (rc != 0)
        bench_report_warn(app->rep, "%s/wrk: a wrk run failed (logs: %s)",
                          scenario, app->tmp);
    bench_report_add_external(app->rep, scenario, "atpd-http-wrk", op,
                              app->a.clients, ra, na);
    bench_report_add_external(app->rep, scenario, "http-floor-wrk", op,
                              app->a.clients, rf, nf);
    return rc;
}

int bench_wrk_point(bench_app *app, unsigned repeats)
{
    return bench_wrk_pair(app, repeats, "point", "atp", false);
}

int bench_wrk_reserve(bench_app *app, unsigned repeats)
{
    return bench_wrk_pair(app, repeats, "reserve-single", "reserve", true);
}
