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

/* The script: SKUs like bench_sku_pick (80 % of picks in the first fifth
 * of the ordinary SKUs), a random region, the bench channel; the floor's
 * reply size (atpd ignores the header); one RESULT line at the end. */
static int bench_wrk_script(bench_app *app, const char *path, uint32_t size)
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
    fprintf(f, "}\nlocal channel = ");
    bench_wrk_lua_pct(f, w->channel);
    fprintf(f,
            "\nlocal hdr = {[\"X-Reply-Size\"] = \"%u\"}\n"
            "math.randomseed(%" PRIu64 ")\n"
            "request = function()\n"
            "  local i\n"
            "  if math.random() < 0.8 then i = math.random(0, hot - 1)\n"
            "  else i = math.random(0, n - 1) end\n"
            "  return wrk.format(\"GET\", \"/v1/availability/\" .. prefix .. i"
            " .. \"/\" .. regions[math.random(#regions)] .. \"?channel=\" .."
            " channel, hdr)\n"
            "end\n"
            "done = function(summary, latency, requests)\n"
            "  local e = summary.errors\n"
            "  io.write(string.format(\"RESULT %%d %%d %%d %%d %%d %%d\\n\",\n"
            "    summary.requests, summary.duration, latency:percentile(50),\n"
            "    latency:percentile(99), latency.max,\n"
            "    e.connect + e.read + e.write + e.status + e.timeout))\n"
            "end\n",
            size, app->a.seed);
    return fclose(f) == 0 ? 0 : -1;
}

/* One wrk run against url; server is the pid whose CPU is counted. */
static int bench_wrk_run(bench_app *app, const char *wrk, const char *script,
                         const char *url, pid_t server, const char *label,
                         bench_ext_run *out)
{
    char log[1200], conns[16], dur[16], full[300];
    snprintf(log, sizeof log, "%s/wrk-%s.log", app->tmp, label);
    unlink(log);
    snprintf(conns, sizeof conns, "%u", app->a.clients);
    snprintf(dur, sizeof dur, "%ds",
             (int)(app->a.duration > 1 ? app->a.duration + 0.5 : 1));
    snprintf(full, sizeof full, "%s/v1/availability", url);
    char *argv[] = {(char *)wrk, "-t1",  "-c",           conns,
                    "-d",        dur,    "-s",           (char *)script,
                    "--timeout", "10s",  full,           NULL};
    bench_proc p;
    double cpu0 = bench_cpu_s(server);
    if (bench_proc_spawn(&p, "wrk", argv, log, false) != 0)
        return -1;
    /* wrk stops by itself after -d; bounded wait, then stopped by pid */
    int64_t deadline = clock_mono_ns() + (int64_t)(app->a.duration + 30) * 1000000000LL;
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
    *out = (bench_ext_run){
        .ops_per_s = (double)req / ((double)dur_us / 1e6),
        .p50_us = (double)p50,
        .p99_us = (double)p99,
        .max_us = (double)mx,
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

int bench_wrk_point(bench_app *app, unsigned repeats)
{
    char wrk[1024], script[1200];
    bench_wrk_path(wrk, sizeof wrk);
    if (wrk[0] == '\0') {
        bench_report_warn(app->rep, "point/wrk: no wrk in PATH: skipped");
        return -1;
    }
    if (app->have_replay || app->http_url[0] == '\0' ||
        bench_ensure_http_floor(app) != 0) {
        bench_report_warn(app->rep, "point/wrk: needs atpd over HTTP, the "
                                    "HTTP floor and synthetic SKUs: skipped");
        return -1;
    }
    uint32_t size = bench_echo_model_size(&app->http_model, BENCH_OP_ATP, 1);
    snprintf(script, sizeof script, "%s/wrk-point.lua", app->tmp);
    if (bench_wrk_script(app, script, size) != 0)
        return -1;
    if (repeats > BENCH_MAX_RUNS)
        repeats = BENCH_MAX_RUNS;
    bench_ext_run ra[BENCH_MAX_RUNS], rf[BENCH_MAX_RUNS];
    unsigned na = 0, nf = 0;
    int rc = 0;
    for (unsigned k = 0; k < repeats; k++) {
        char la[64], lf[64];
        snprintf(la, sizeof la, "point-atpd-http-wrk-%u", k + 1);
        snprintf(lf, sizeof lf, "point-http-floor-wrk-%u", k + 1);
        if (bench_wrk_run(app, wrk, script, app->http_url, app->atpd.pid,
                          la, &ra[na]) == 0)
            na++;
        else
            rc = -1;
        if (bench_wrk_run(app, wrk, script, app->http_floor_url,
                          app->http_floor.pid, lf, &rf[nf]) == 0)
            nf++;
        else
            rc = -1;
    }
    if (rc != 0)
        bench_report_warn(app->rep, "point/wrk: a wrk run failed (logs: %s)",
                          app->tmp);
    bench_report_add_external(app->rep, "point", "atpd-http-wrk", "atp",
                              app->a.clients, ra, na);
    bench_report_add_external(app->rep, "point", "http-floor-wrk", "atp",
                              app->a.clients, rf, nf);
    return rc;
}
