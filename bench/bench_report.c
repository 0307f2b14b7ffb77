/*
 * bench_report.c - report entries, JSON, table and charts (bench_report.h).
 * Main thread only.
 */
#define _GNU_SOURCE /* asprintf, vasprintf, open_memstream */
#include "bench_report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/codec.h"

typedef struct bench_kv {
    char *key;
    char *json;
} bench_kv;

typedef struct bench_series {
    char name[64];
    double *v;
    unsigned n;
} bench_series;

struct bench_report {
    bench_entry *e;
    size_t n, cap;
    bench_kv *sec;
    size_t n_sec;
    char **targets; /* JSON objects */
    size_t n_targets;
    char **warnings;
    size_t n_warnings;
    bench_series *series;
    size_t n_series;
};

bench_report *bench_report_alloc(void)
{
    return calloc(1, sizeof(bench_report));
}

void bench_report_free(bench_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].sec_ops);
        free(r->e[i].sec_p50);
        free(r->e[i].sec_p99);
    }
    free(r->e);
    for (size_t i = 0; i < r->n_sec; i++) {
        free(r->sec[i].key);
        free(r->sec[i].json);
    }
    free(r->sec);
    for (size_t i = 0; i < r->n_targets; i++)
        free(r->targets[i]);
    free(r->targets);
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    for (size_t i = 0; i < r->n_series; i++)
        free(r->series[i].v);
    free(r->series);
    free(r);
}

static void *bench_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (q == NULL)
        return NULL;
    memset((char *)q + *cap * elem, 0, (c - *cap) * elem);
    *cap = c;
    return q;
}

static int bench_dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double bench_median(const double *v, unsigned n)
{
    double s[BENCH_MAX_RUNS];
    if (n == 0)
        return NAN;
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, bench_dbl_cmp);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

void bench_report_add_run(bench_report *r, const char *scenario,
                          const char *system, const bench_run_result *res)
{
    const bench_run_result *one[1] = {res};
    bench_report_add_runs(r, scenario, system, one, 1);
}

/* A new zeroed entry, named; NULL when out of memory. */
static bench_entry *bench_entry_new(bench_report *r, const char *scenario,
                                    const char *op, const char *system)
{
    bench_entry *e = bench_grow(r->e, &r->cap, r->n + 1, sizeof *r->e);
    if (e == NULL)
        return NULL;
    r->e = e;
    e = &r->e[r->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->scenario, sizeof e->scenario, "%s", scenario);
    snprintf(e->op, sizeof e->op, "%s", op);
    snprintf(e->system, sizeof e->system, "%s", system);
    return e;
}

void bench_report_add_runs(bench_report *r, const char *scenario,
                           const char *system,
                           const bench_run_result *const *runs, unsigned n_runs)
{
    if (n_runs == 0)
        return;
    if (n_runs > BENCH_MAX_RUNS)
        n_runs = BENCH_MAX_RUNS;
    const bench_run_result *res = runs[0];
    for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
        uint64_t sent = 0;
        for (unsigned k = 0; k < n_runs; k++)
            sent += runs[k]->sent[op];
        if (sent == 0)
            continue;
        bench_entry *e =
            bench_entry_new(r, scenario, bench_op_name(op), system);
        if (e == NULL)
            return;
        snprintf(e->mode, sizeof e->mode, "%s",
                 res->rate > 0   ? "open"
                 : res->rate < 0 ? "replay"
                                 : "closed");
        e->clients = res->slots;
        e->rate = res->rate;
        e->n_runs = n_runs;
        bench_hist *h = calloc(1, sizeof *h), *lag = calloc(1, sizeof *lag);
        if (h == NULL || lag == NULL) {
            free(h);
            free(lag);
            r->n--;
            return;
        }
        uint64_t reqb = 0, repb = 0, lines = 0, completed = 0;
        double srv_cpu = 0, cli_cpu = 0;
        bool cpu_known = true;
        unsigned n_secs = 0;
        for (unsigned k = 0; k < n_runs; k++) {
            const bench_run_result *x = runs[k];
            bench_hist_merge(h, &x->hist[op]);
            bench_hist_merge(lag, &x->send_lag);
            e->runs_ops[k] = bench_run_ops_per_s(x, op);
            e->errors += x->errors[op];
            e->refused += x->refused[op];
            e->unfinished += x->unfinished;
            reqb += x->req_bytes[op];
            repb += x->reply_bytes[op];
            lines += x->lines[op];
            completed += x->completed;
            srv_cpu += x->server_cpu_s;
            cli_cpu += x->client_cpu_s;
            e->client_rt = k == 0 ? x->client_rt : e->client_rt && x->client_rt;
            cpu_known &= x->server_cpu_s >= 0;
            unsigned w = (unsigned)x->duration_s;
            n_secs += w >= 1 && w < x->n_secs ? w : x->n_secs;
        }
        e->count = h->count;
        e->ops_per_s = bench_median(e->runs_ops, n_runs);
        e->p50_us = bench_hist_pct_us(h, 0.50);
        e->p90_us = bench_hist_pct_us(h, 0.90);
        e->p99_us = bench_hist_pct_us(h, 0.99);
        e->p999_us = bench_hist_pct_us(h, 0.999);
        e->max_us = bench_hist_max_us(h);
        e->mean_us = bench_hist_mean_us(h);
        e->send_lag_p50_us = bench_hist_pct_us(lag, 0.50);
        e->send_lag_p99_us = bench_hist_pct_us(lag, 0.99);
        free(h);
        free(lag);
        uint64_t c = e->count ? e->count : 1;
        e->req_bytes = (double)reqb / (double)c;
        e->reply_bytes = (double)repb / (double)c;
        e->lines_mean = (double)lines / (double)c;
        /* CPU time comes in clock ticks (10 ms): below 10 ticks a figure
         * per request would be mostly rounding, so there is none. */
        e->server_cpu_us_per_req = cpu_known && completed && srv_cpu >= 0.1
                                       ? srv_cpu * 1e6 / (double)completed
                                       : NAN;
        e->client_cpu_us_per_req = completed && cli_cpu >= 0.1
                                       ? cli_cpu * 1e6 / (double)completed
                                       : NAN;
        e->ratio_vs_echo = e->ratio_vs_redis = e->ratio_vs_nng =
            e->p99_ratio_vs_echo = e->p99_ratio_vs_redis = NAN;
        /* per-second series, the runs one after the other (full seconds) */
        e->sec_ops = calloc(n_secs ? n_secs : 1, sizeof(double));
        e->sec_p50 = calloc(n_secs ? n_secs : 1, sizeof(double));
        e->sec_p99 = calloc(n_secs ? n_secs : 1, sizeof(double));
        if (e->sec_ops == NULL || e->sec_p50 == NULL || e->sec_p99 == NULL)
            continue;
        unsigned o = 0;
        for (unsigned k = 0; k < n_runs; k++) {
            const bench_run_result *x = runs[k];
            unsigned w = (unsigned)x->duration_s;
            unsigned lim = w >= 1 && w < x->n_secs ? w : x->n_secs;
            for (unsigned s = 0; s < lim && o < n_secs; s++, o++) {
                const bench_sec *sc = &x->secs[(size_t)s * BENCH_OP_COUNT + op];
                e->sec_ops[o] = sc->count;
                e->sec_p50[o] = bench_sec_pct_us(sc, 0.5);
                e->sec_p99[o] = bench_sec_pct_us(sc, 0.99);
            }
        }
        e->n_secs = o;
        e->window_end_s = o;
    }
}

void bench_report_add_external(bench_report *r, const char *scenario,
                               const char *system, const char *op,
                               unsigned clients, const bench_ext_run *runs,
                               unsigned n_runs)
{
    if (n_runs == 0)
        return;
    if (n_runs > BENCH_MAX_RUNS)
        n_runs = BENCH_MAX_RUNS;
    bench_entry *e = bench_entry_new(r, scenario, op, system);
    if (e == NULL)
        return;
    snprintf(e->mode, sizeof e->mode, "closed");
    e->clients = clients;
    e->n_runs = n_runs;
    double p50[BENCH_MAX_RUNS], p99[BENCH_MAX_RUNS], cpu[BENCH_MAX_RUNS],
        mx = 0;
    unsigned n_cpu = 0;
    for (unsigned k = 0; k < n_runs; k++) {
        e->runs_ops[k] = runs[k].ops_per_s;
        p50[k] = runs[k].p50_us;
        p99[k] = runs[k].p99_us;
        if (isfinite(runs[k].server_cpu_us_per_req))
            cpu[n_cpu++] = runs[k].server_cpu_us_per_req;
        /* an untimed run (pipelined wrk) makes the max unknown */
        mx = isnan(runs[k].max_us) || isnan(mx) ? NAN
             : runs[k].max_us > mx              ? runs[k].max_us
                                                : mx;
        e->count += runs[k].count;
        e->errors += runs[k].errors;
    }
    /* Only the tool's percentiles of each run are known: medians of them. */
    e->ops_per_s = bench_median(e->runs_ops, n_runs);
    e->p50_us = bench_median(p50, n_runs);
    e->p99_us = bench_median(p99, n_runs);
    e->p90_us = e->p999_us = e->mean_us = NAN;
    e->max_us = mx;
    e->server_cpu_us_per_req = n_cpu ? bench_median(cpu, n_cpu) : NAN;
    e->client_cpu_us_per_req = NAN;
    e->ratio_vs_echo = e->ratio_vs_redis = e->ratio_vs_nng =
        e->p99_ratio_vs_echo = e->p99_ratio_vs_redis = NAN;
}

bench_entry *bench_report_find(bench_report *r, const char *scenario,
                               const char *system, const char *op)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->e[i].scenario, scenario) == 0 &&
            strcmp(r->e[i].system, system) == 0 && strcmp(r->e[i].op, op) == 0)
            return &r->e[i];
    return NULL;
}

/* The median of the per-run ratios: run k of atpd and run k of the
 * baseline ran back to back, so each pair saw about the same machine. */
static double bench_pair_ratio(const bench_entry *a, const bench_entry *b)
{
    double q[BENCH_MAX_RUNS];
    unsigned n = a->n_runs < b->n_runs ? a->n_runs : b->n_runs;
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++)
        if (b->runs_ops[i] > 0)
            q[k++] = a->runs_ops[i] / b->runs_ops[i];
    return k ? bench_median(q, k) : NAN;
}

void bench_report_ratios(bench_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        bench_entry *e = &r->e[i];
        /* atpd over nng against the nng echo floor; atpd over HTTP against
         * the HTTP floor (same column), and against atpd over nng */
        bool http = strcmp(e->system, "atpd-http") == 0;
        bool wrk = strcmp(e->system, "atpd-http-wrk") == 0;
        if (!http && !wrk && strcmp(e->system, "atpd") != 0)
            continue;
        bench_entry *echo = bench_report_find(r, e->scenario,
                                              wrk    ? "http-floor-wrk"
                                              : http ? "http-floor"
                                                     : "echo",
                                              e->op);
        bench_entry *redis =
            wrk ? NULL : bench_report_find(r, e->scenario, "redis", e->op);
        bench_entry *nng =
            http || wrk ? bench_report_find(r, e->scenario, "atpd", e->op)
                        : NULL;
        if (echo != NULL && echo->ops_per_s > 0) {
            e->ratio_vs_echo = bench_pair_ratio(e, echo);
            if (echo->p99_us > 0)
                e->p99_ratio_vs_echo = e->p99_us / echo->p99_us;
        }
        if (redis != NULL && redis->ops_per_s > 0) {
            e->ratio_vs_redis = bench_pair_ratio(e, redis);
            if (redis->p99_us > 0)
                e->p99_ratio_vs_redis = e->p99_us / redis->p99_us;
        }
        if (nng != NULL && nng->ops_per_s > 0)
            e->ratio_vs_nng = bench_pair_ratio(e, nng);
    }
}

void bench_report_section(bench_report *r, const char *key, const char *fmt,
                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = NULL;
    if (vasprintf(&json, fmt, ap) < 0)
        json = NULL;
    va_end(ap);
    bench_kv *s = realloc(r->sec, (r->n_sec + 1) * sizeof *s);
    if (json == NULL || s == NULL) {
        free(json);
        return;
    }
    r->sec = s;
    r->sec[r->n_sec].key = strdup(key);
    r->sec[r->n_sec++].json = json;
}

void bench_report_series(bench_report *r, const char *name, const uint64_t *v,
                         unsigned n)
{
    bench_series *s = realloc(r->series, (r->n_series + 1) * sizeof *s);
    if (s == NULL)
        return;
    r->series = s;
    s = &r->series[r->n_series];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->v = calloc(n ? n : 1, sizeof *s->v);
    if (s->v == NULL)
        return;
    /* trim trailing zero seconds */
    while (n > 0 && v[n - 1] == 0)
        n--;
    for (unsigned i = 0; i < n; i++)
        s->v[i] = (double)v[i];
    s->n = n;
    r->n_series++;
}

/* Where bench_json_str's escaped pieces go: a piece is kept only if it
 * fits whole with room left for the closing quote and the NUL. */
typedef struct bench_json_buf {
    char *p;
    size_t cap, len;
} bench_json_buf;

static int bench_json_sink(void *ctx, const void *piece, size_t n)
{
    bench_json_buf *b = ctx;
    if (n + 2 > b->cap - b->len)
        return 1; /* full: the string is cut here */
    memcpy(b->p + b->len, piece, n);
    b->len += n;
    return 0;
}

void bench_json_str(char *buf, size_t len, const char *s)
{
    if (len < 3) {
        if (len)
            buf[0] = '\0';
        return;
    }
    bench_json_buf b = {buf, len, 0};
    if (codec_json_str(bench_json_sink, &b, s, strlen(s)) != 0)
        buf[b.len++] = '"'; /* cut short: close the string */
    buf[b.len] = '\0';
}

void bench_report_target(bench_report *r, const char *name, const char *goal,
                         double measured, const char *unit, int met,
                         const char *note)
{
    char n[256], g[256], u[64], no[512], *json = NULL;
    bench_json_str(n, sizeof n, name);
    bench_json_str(g, sizeof g, goal);
    bench_json_str(u, sizeof u, unit);
    bench_json_str(no, sizeof no, note ? note : "");
    char m[64];
    if (isfinite(measured))
        snprintf(m, sizeof m, "%.6g", measured);
    else
        snprintf(m, sizeof m, "null");
    if (asprintf(&json,
                 "{\"name\": %s, \"goal\": %s, \"measured\": %s, \"unit\": %s, "
                 "\"met\": %s, \"note\": %s}",
                 n, g, m, u,
                 met > 0    ? "true"
                 : met == 0 ? "false"
                            : "null",
                 no) < 0)
        return;
    char **t = realloc(r->targets, (r->n_targets + 1) * sizeof *t);
    if (t == NULL) {
        free(json);
        return;
    }
    r->targets = t;
    r->targets[r->n_targets++] = json;
}

void bench_report_warn(bench_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (msg == NULL)
        return;
    fprintf(stderr, "atp-bench: warning: %s\n", msg);
    char **w = realloc(r->warnings, (r->n_warnings + 1) * sizeof *w);
    if (w == NULL) {
        free(msg);
        return;
    }
    r->warnings = w;
    r->warnings[r->n_warnings++] = msg;
}

static void bench_fmt_ratio(char *buf, size_t len, double v)
{
    if (isfinite(v))
        snprintf(buf, len, "%.2fx", v);
    else
        snprintf(buf, len, "-");
}

void bench_report_print(const bench_report *r, FILE *f)
{
    fprintf(f,
            "\n%-15s %-7s %-14s %-7s %4s %11s %9s %9s %9s %9s %10s %7s %7s %8s "
            "%8s %7s %9s\n",
            "scenario", "op", "system", "mode", "cli", "ops/s", "p50 us",
            "p90 us", "p99 us", "p99.9 us", "max us", "errors", "refused",
            "vs floor", "vs redis", "cpu/req", "lag p99");
    for (size_t i = 0; i < r->n; i++) {
        const bench_entry *e = &r->e[i];
        char re[16], rr[16];
        bench_fmt_ratio(re, sizeof re, e->ratio_vs_echo);
        bench_fmt_ratio(rr, sizeof rr, e->ratio_vs_redis);
        char cpu[16];
        if (isfinite(e->server_cpu_us_per_req))
            snprintf(cpu, sizeof cpu, "%.1fus", e->server_cpu_us_per_req);
        else
            snprintf(cpu, sizeof cpu, "-");
        char lag[16] = "-"; /* the client's own lateness, open loop */
        if (e->rate != 0)
            snprintf(lag, sizeof lag, "%.1f", e->send_lag_p99_us);
        fprintf(f,
                "%-15s %-7s %-14s %-7s %4u %11.0f %9.1f %9.1f %9.1f %9.1f "
                "%10.1f %7llu %7llu %8s %8s %7s %9s\n",
                e->scenario, e->op, e->system, e->mode, e->clients,
                e->ops_per_s, e->p50_us, e->p90_us, e->p99_us, e->p999_us,
                e->max_us, (unsigned long long)e->errors,
                (unsigned long long)e->refused, re, rr, cpu, lag);
    }
    if (r->n_targets > 0) {
        fprintf(f, "\ntargets:\n");
        for (size_t i = 0; i < r->n_targets; i++)
            fprintf(f, "  %s\n", r->targets[i]);
    }
    for (size_t i = 0; i < r->n_warnings; i++)
        fprintf(f, "warning: %s\n", r->warnings[i]);
}

static void bench_json_num(FILE *f, const char *key, double v, bool comma)
{
    if (isfinite(v))
        fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
    else
        fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
}

int bench_report_write_json(const bench_report *r, const char *path,
                            const char *header)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\n%s,\n  \"results\": [\n", header);
    for (size_t i = 0; i < r->n; i++) {
        const bench_entry *e = &r->e[i];
        fprintf(
            f,
            "    {\"scenario\": \"%s\", \"op\": \"%s\", \"system\": \"%s\", "
            "\"mode\": \"%s\", \"clients\": %u, ",
            e->scenario, e->op, e->system, e->mode, e->clients);
        bench_json_num(f, "rate", e->rate > 0 ? e->rate : NAN, true);
        bench_json_num(f, "ops_per_s", e->ops_per_s, true);
        bench_json_num(f, "p50_us", e->p50_us, true);
        bench_json_num(f, "p90_us", e->p90_us, true);
        bench_json_num(f, "p99_us", e->p99_us, true);
        bench_json_num(f, "p999_us", e->p999_us, true);
        bench_json_num(f, "max_us", e->max_us, true);
        bench_json_num(f, "mean_us", e->mean_us, true);
        fprintf(f, "\"count\": %llu, \"errors\": %llu, \"refused\": %llu, ",
                (unsigned long long)e->count, (unsigned long long)e->errors,
                (unsigned long long)e->refused);
        bench_json_num(f, "req_bytes", e->req_bytes, true);
        bench_json_num(f, "reply_bytes", e->reply_bytes, true);
        bench_json_num(f, "lines_mean", e->lines_mean, true);
        bench_json_num(f, "server_cpu_us_per_req", e->server_cpu_us_per_req,
                       true);
        bench_json_num(f, "client_cpu_us_per_req", e->client_cpu_us_per_req,
                       true);
        bench_json_num(f, "send_lag_p50_us", e->send_lag_p50_us, true);
        bench_json_num(f, "send_lag_p99_us", e->send_lag_p99_us, true);
        fprintf(f, "\"client_rt\": %s, ", e->client_rt ? "true" : "false");
        fprintf(f, "\"ops_per_s_runs\": [");
        for (unsigned k = 0; k < e->n_runs; k++)
            fprintf(f, "%s%.0f", k ? ", " : "", e->runs_ops[k]);
        fprintf(f, "], ");
        bench_json_num(f, "ratio_vs_echo", e->ratio_vs_echo, true);
        bench_json_num(f, "p99_ratio_vs_echo", e->p99_ratio_vs_echo, true);
        bench_json_num(f, "ratio_vs_redis", e->ratio_vs_redis, true);
        bench_json_num(f, "ratio_vs_nng", e->ratio_vs_nng, true);
        bench_json_num(f, "p99_ratio_vs_redis", e->p99_ratio_vs_redis, false);
        fprintf(f, "}%s\n", i + 1 < r->n ? "," : "");
    }
    fprintf(f, "  ],\n  \"targets\": [\n");
    for (size_t i = 0; i < r->n_targets; i++)
        fprintf(f, "    %s%s\n", r->targets[i],
                i + 1 < r->n_targets ? "," : "");
    fprintf(f, "  ],\n  \"warnings\": [");
    for (size_t i = 0; i < r->n_warnings; i++) {
        char buf[1024];
        bench_json_str(buf, sizeof buf, r->warnings[i]);
        fprintf(f, "%s%s", i ? ", " : "", buf);
    }
    fprintf(f, "]");
    for (size_t i = 0; i < r->n_sec; i++)
        fprintf(f, ",\n  \"%s\": %s", r->sec[i].key, r->sec[i].json);
    fprintf(f, "\n}\n");
    int rc = ferror(f) ? -1 : 0;
    if (f != stdout && fclose(f) != 0)
        rc = -1;
    return rc;
}

/* ---- charts ------------------------------------------------------------- */

static bool bench_seen(char (*names)[32], size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

int bench_report_plot(const bench_report *r, const char *dir)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0)
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    FILE *gp = fopen(path, "w");
    if (gp == NULL)
        return 0;
    fprintf(gp,
            "# written by atp-bench --plot; rerun: cd %s && gnuplot plot.gp\n"
            "set terminal pngcairo size 1100,560 noenhanced font 'sans,10'\n"
            "set grid\nset key outside right top\nset xlabel 'seconds since "
            "the run started'\n",
            dir);
    char scen[64][32];
    size_t n_scen = 0;
    int pngs = 0;
    for (size_t i = 0; i < r->n && n_scen < 64; i++) {
        if (bench_seen(scen, n_scen, r->e[i].scenario))
            continue;
        const char *sc = r->e[i].scenario;
        snprintf(scen[n_scen++], sizeof scen[0], "%s", sc);
        snprintf(path, sizeof path, "%s/%s.dat", dir, sc);
        FILE *d = fopen(path, "w");
        if (d == NULL)
            continue;
        int blocks = 0;
        char titles[32][64];
        for (size_t j = i; j < r->n && blocks < 32; j++) {
            const bench_entry *e = &r->e[j];
            if (strcmp(e->scenario, sc) != 0 || e->n_secs == 0)
                continue;
            snprintf(titles[blocks], sizeof titles[0], "%s %s", e->system,
                     e->op);
            fprintf(d, "# %s %s %s\n# t ops_per_s p50_us p99_us\n", e->scenario,
                    e->system, e->op);
            /* full seconds of the sending window only: the drain and a
             * partial last second would read as a collapse */
            unsigned last = e->n_secs;
            while (last > 0 && e->sec_ops[last - 1] == 0)
                last--;
            if (e->window_end_s >= 1 && last > e->window_end_s)
                last = e->window_end_s;
            for (unsigned s = 0; s < last; s++)
                fprintf(d, "%u %.0f %.1f %.1f\n", s, e->sec_ops[s],
                        e->sec_p50[s], e->sec_p99[s]);
            fprintf(d, "\n\n");
            blocks++;
        }
        fclose(d);
        if (blocks == 0)
            continue;
        fprintf(
            gp,
            "\nset output '%s-latency.png'\nset title '%s: latency per second "
            "(p99 solid, p50 dashed; from intended send time)'\n"
            "set ylabel 'microseconds'\nset logscale y\nplot ",
            sc, sc);
        for (int b = 0; b < blocks; b++)
            fprintf(gp,
                    "'%s.dat' index %d using 1:($4>0?$4:1/0) with linespoints "
                    "lw 2 lc %d "
                    "title '%s p99', '' index %d using 1:($3>0?$3:1/0) with "
                    "lines dt 2 lc %d "
                    "title '%s p50'%s",
                    sc, b, b + 1, titles[b], b, b + 1, titles[b],
                    b + 1 < blocks ? ", \\\n  " : "\n");
        fprintf(
            gp,
            "unset logscale y\nset output '%s-throughput.png'\nset title '%s: "
            "completed operations per second'\nset ylabel 'ops/s'\nset yrange "
            "[0:*]\nplot ",
            sc, sc);
        for (int b = 0; b < blocks; b++)
            fprintf(gp,
                    "'%s.dat' index %d using 1:2 with linespoints lw 2 lc %d "
                    "title '%s'%s",
                    sc, b, b + 1, titles[b],
                    b + 1 < blocks ? ", \\\n  " : "\n");
        fprintf(gp, "set autoscale y\n");
        pngs += 2;
    }
    for (size_t i = 0; i < r->n_series; i++) {
        const bench_series *s = &r->series[i];
        if (s->n == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s.dat", dir, s->name);
        FILE *d = fopen(path, "w");
        if (d == NULL)
            continue;
        fprintf(d, "# t value\n");
        for (unsigned k = 0; k < s->n; k++)
            fprintf(d, "%u %.0f\n", k, s->v[k]);
        fclose(d);
        fprintf(
            gp,
            "\nset output '%s.png'\nset title '%s (per second)'\nset ylabel "
            "'events/s'\nset yrange [0:*]\nplot '%s.dat' using 1:2 with "
            "linespoints lw 2 "
            "title '%s'\nset autoscale y\n",
            s->name, s->name, s->name, s->name);
        pngs++;
    }
    fclose(gp);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot plot.gp 2>gnuplot.log", dir);
    if (system(cmd) != 0)
        return 0;
    return pngs;
}
