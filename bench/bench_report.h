/*
 * bench_report.h - atp-bench's results: one entry per (scenario, system,
 * operation), extra sections (ingest, restart, memory, flash sale), target
 * checks; written as a human table, as JSON (--json) and as gnuplot charts
 * (--plot DIR). Main thread only.
 */
#ifndef ATP_BENCH_REPORT_H
#define ATP_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_load.h"

#define BENCH_MAX_RUNS 16

typedef struct bench_entry {
    char scenario[32], op[24], system[16], mode[16];
    unsigned clients;
    double rate;
    double ops_per_s, p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
    uint64_t count, errors, refused, unfinished;
    unsigned n_runs;                 /* repeats merged into this entry */
    double runs_ops[BENCH_MAX_RUNS]; /* ops/s of each repeat */
    /* ops/s ratios; NAN: n/a. ratio_vs_echo is against the system's floor:
     * the nng echo server for atpd, the HTTP floor for atpd-http;
     * ratio_vs_nng: atpd-http against atpd over nng */
    double ratio_vs_echo, ratio_vs_redis, ratio_vs_nng;
    double p99_ratio_vs_echo, p99_ratio_vs_redis; /* p99 atpd / p99 other */
    double req_bytes, reply_bytes, lines_mean;
    /* CPU time of the server process / of atp-bench per finished request
     * (all operations of the run): robust to a busy machine, unlike ops/s */
    double server_cpu_us_per_req, client_cpu_us_per_req;
    /* the client's own lateness (bench_run_result.send_lag), all ops */
    double send_lag_p50_us, send_lag_p99_us;
    bool client_rt; /* every repeat's runner had a real-time priority */
    /* per second, for the charts */
    unsigned n_secs, window_end_s;
    double *sec_ops, *sec_p50, *sec_p99;
} bench_entry;

typedef struct bench_report bench_report;

bench_report *bench_report_alloc(void);
void bench_report_free(bench_report *r);

/* bench_report_add_run adds one entry per operation that was sent in res. */
void bench_report_add_run(bench_report *r, const char *scenario,
                          const char *system, const bench_run_result *res);
/* bench_report_add_runs merges repeats of the same load: latencies from all
 * of them, ops/s the median of the repeats (each kept in runs_ops). */
void bench_report_add_runs(bench_report *r, const char *scenario,
                           const char *system,
                           const bench_run_result *const *runs,
                           unsigned n_runs);
/* One run measured by an outside load generator (wrk): only its summary. */
typedef struct bench_ext_run {
    double ops_per_s, p50_us, p99_us, max_us;
    double server_cpu_us_per_req; /* NAN: unknown */
    uint64_t count, errors;
} bench_ext_run;

/* bench_report_add_external adds one closed-loop entry from such runs
 * (ops/s, p50, p99: medians of the runs; no per-second series). */
void bench_report_add_external(bench_report *r, const char *scenario,
                               const char *system, const char *op,
                               unsigned clients, const bench_ext_run *runs,
                               unsigned n_runs);
/* bench_report_find returns the entry or NULL. */
bench_entry *bench_report_find(bench_report *r, const char *scenario,
                               const char *system, const char *op);
/* bench_report_ratios fills ratio_vs_echo / ratio_vs_redis of the atpd
 * entries from the echo / redis entries of the same scenario and op (for
 * atpd-http: http-floor / redis, and ratio_vs_nng from atpd): the median
 * over repeats of (atpd run k / baseline run k). */
void bench_report_ratios(bench_report *r);

/* bench_report_section adds "key": <json> (json must be a valid value). */
void bench_report_section(bench_report *r, const char *key, const char *fmt,
                          ...) __attribute__((format(printf, 3, 4)));
/* bench_report_series adds a named per-second series (ingest throughput). */
void bench_report_series(bench_report *r, const char *name, const uint64_t *v,
                         unsigned n);

/* Targets from the issue: measured value against the goal. */
void bench_report_target(bench_report *r, const char *name, const char *goal,
                         double measured, const char *unit,
                         int met /* 1, 0, -1 n/a */, const char *note);
/* bench_report_warn records a warning (printed and in the JSON). */
void bench_report_warn(bench_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void bench_report_print(const bench_report *r, FILE *f);
/* bench_report_write_json writes the whole report; header is a JSON object
 * body (without braces) with the run's facts. Returns 0 or -1. */
int bench_report_write_json(const bench_report *r, const char *path,
                            const char *header);
/* bench_report_plot writes DIR/<scenario>.dat, DIR/plot.gp and runs gnuplot.
 * Returns the number of PNGs written, -1 when gnuplot is missing. */
int bench_report_plot(const bench_report *r, const char *dir);

/* bench_json_str writes s as a JSON string literal into buf[0..len), NUL
 * terminated, with codec_json_str (the project's one escaper); a string too
 * long for buf is cut short (and still closed). */
void bench_json_str(char *buf, size_t len, const char *s);

#endif
