/*
 * bench_load.h - the load runner: sends a scenario's logical requests to a
 * backend (atpd or the echo floor over nng REQ, Redis over hiredis) either
 * open-loop at a fixed arrival rate or closed-loop with N clients, and
 * measures every latency from the request's INTENDED send time.
 *
 * Open loop (rate > 0, or rate < 0: the generator's own times, for
 * replays): the runner's thread wakes at each intended time and hands the
 * request to a free slot (an nng context, a Redis pipeline place). When
 * every slot is busy the request waits in a queue and its wait counts in
 * its latency, so a slow reply never delays the next send unnoticed (no
 * coordinated omission). Closed loop (rate == 0): every slot sends its next
 * request as soon as its previous reply arrived (saturation throughput).
 *
 * Threads: bench_runner_run blocks its caller; completions arrive on the
 * backend's threads and call bench_runner_done. The scenario's callbacks
 * (bench_source) are always called with the runner's lock held, so they
 * need no locking of their own.
 */
#ifndef ATP_BENCH_LOAD_H
#define ATP_BENCH_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_hist.h"
#include "bench_work.h"

typedef struct bench_runner bench_runner;

typedef struct bench_backend {
    const char *system; /* "atpd", "echo", "redis" */
    void *ctx;
    unsigned slots; /* requests in flight at most */
    /* send starts r on slot; the backend calls bench_runner_done(run, slot,
     * r) exactly once, on any thread, with r's status set. Returns 0, or -1
     * when it could not start (then it does not call done). */
    int (*send)(void *ctx, bench_runner *run, unsigned slot, bench_req *r);
    /* cancel aborts whatever is in flight (each still gets its done). */
    void (*cancel)(void *ctx);
} bench_backend;

typedef struct bench_source {
    void *ctx;
    /* next returns a new request, or NULL when there is nothing more. In
     * replay mode (rate < 0) r->intended_ns holds its offset from the start
     * in ns. */
    bench_req *(*next)(void *ctx);
    /* done (optional) sees every finished request and may return a
     * follow-up to send at once (commit after reserve, ...). */
    bench_req *(*done)(void *ctx, const bench_req *r);
} bench_source;

typedef struct bench_run_opts {
    const char *label;     /* progress lines: "[label] ..." */
    double rate;           /* > 0 open loop; 0 closed loop; < 0 replay times */
    double duration_s;     /* sending stops after this long */
    double warmup_s;       /* not measured */
    double drain_s;        /* wait at most this long for what is in flight */
    uint64_t max_requests; /* 0: no limit */
    bool quiet;            /* no progress lines */
    bool rt;               /* the runner at SCHED_FIFO 1 (bench_rt_prio_set) */
} bench_run_opts;

/* Everything one run measured. */
typedef struct bench_run_result {
    bench_hist hist[BENCH_OP_COUNT]; /* measured requests */
    /* open loop, measured requests: how late the runner woke for the
     * intended send time (already part of hist): atp-bench's own share */
    bench_hist send_lag;
    /* counters: atomics, written from the backends' threads */
    _Atomic uint64_t sent[BENCH_OP_COUNT];
    _Atomic uint64_t ok[BENCH_OP_COUNT], refused[BENCH_OP_COUNT],
        errors[BENCH_OP_COUNT];
    _Atomic uint64_t in_window[BENCH_OP_COUNT]; /* completed (not failed) inside
                                                   the window */
    _Atomic uint64_t req_bytes[BENCH_OP_COUNT], reply_bytes[BENCH_OP_COUNT];
    _Atomic uint64_t lines[BENCH_OP_COUNT];
    /* least squares of reply bytes against lines (the echo model) */
    double fit_n[BENCH_OP_COUNT], fit_x[BENCH_OP_COUNT], fit_y[BENCH_OP_COUNT],
        fit_xx[BENCH_OP_COUNT], fit_xy[BENCH_OP_COUNT];
    uint64_t unfinished; /* still queued or in flight when the drain ended */
    uint64_t backlog_max;
    int first_err_code;
    char first_err_op[16];
    double window_s;  /* measurement window length */
    double elapsed_s; /* whole run, including the drain */
    bench_sec *secs;  /* secs[s * BENCH_OP_COUNT + op], s from the start */
    unsigned n_secs;
    double rate, warmup_s, duration_s;
    unsigned slots;
    /* CPU seconds used during the whole run (filled by the caller) */
    double server_cpu_s, client_cpu_s;
    _Atomic uint64_t
        completed;  /* every request that finished, measured or not */
    bool client_rt; /* the runner ran at a real-time priority (--rt) */
} bench_run_result;

/* bench_runner_run runs one measurement and fills *res (allocated by the
 * caller, zeroed by this call; free its secs with bench_run_result_fini).
 * Returns 0, or -1 when nothing could be sent at all. */
int bench_runner_run(const bench_run_opts *o, bench_backend *be,
                     bench_source *src, bench_run_result *res);
void bench_run_result_fini(bench_run_result *res);

/* bench_rt_prio_set puts the calling thread at SCHED_FIFO priority 1.
 * false: not permitted, unchanged. */
bool bench_rt_prio_set(void);

/* bench_runner_done: called by a backend once per request it started. */
void bench_runner_done(bench_runner *run, unsigned slot, bench_req *r);

/* ops/s of op inside the measurement window; 0 when not measured. */
double bench_run_ops_per_s(const bench_run_result *res, unsigned op);

/* Echo model: expected reply size of op with n lines, from an atpd run. */
typedef struct bench_echo_model {
    double a[BENCH_OP_COUNT], b[BENCH_OP_COUNT];
    bool have[BENCH_OP_COUNT];
} bench_echo_model;

void bench_echo_model_fit(bench_echo_model *m, const bench_run_result *res);
uint32_t bench_echo_model_size(const bench_echo_model *m, unsigned op,
                               uint32_t n_lines);

#endif
