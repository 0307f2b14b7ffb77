/*
 * bench_load.c - open- and closed-loop load runner (see bench_load.h).
 *
 * The runner's thread schedules (open loop) or waits (closed loop) and
 * prints progress; completions run on backend threads. runner.mu guards
 * the pending queue, the free slots, the in-flight count and every call
 * into the scenario's bench_source. Histograms are atomic and recorded
 * outside the lock.
 */
#include "bench_load.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "atp/error.h"
#include "common/clock.h"

#define BENCH_NS 1000000000LL

struct bench_runner {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when in_flight drops to 0 */
    const bench_run_opts *o;
    bench_backend *be;
    bench_source *src;
    bench_run_result *res;
    bench_req *pend_head, *pend_tail; /* open loop: waiting for a slot */
    uint64_t pend_len;
    unsigned *free_slots;
    unsigned n_free;
    unsigned in_flight; /* slots busy */
    bool closed_loop;
    bool stopping;  /* no new requests, no follow-ups */
    bool exhausted; /* the source returned NULL */
    int64_t t0, t_warm, t_end;
    uint64_t issued; /* requests handed out (max_requests) */
};

bool bench_rt_prio_set(void)
{
    struct sched_param sp = {.sched_priority = 1};
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
}

static void bench_sleep_until(int64_t mono_ns)
{
    struct timespec ts = {mono_ns / BENCH_NS, mono_ns % BENCH_NS};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Take a new request from the source (lock held). */
static bench_req *bench_runner_next(bench_runner *run)
{
    if (run->exhausted || run->stopping)
        return NULL;
    if (run->o->max_requests && run->issued >= run->o->max_requests) {
        run->exhausted = true;
        return NULL;
    }
    bench_req *r = run->src->next(run->src->ctx);
    if (r == NULL)
        run->exhausted = true;
    else
        run->issued++;
    return r;
}

static void bench_runner_mark(bench_runner *run, bench_req *r, int64_t intended)
{
    r->intended_ns = intended;
    r->measured = intended >= run->t_warm && intended < run->t_end;
    r->next = NULL;
}

/* Account a request that finished (or failed to start); no lock needed. */
static void bench_runner_record(bench_runner *run, bench_req *r, int64_t now)
{
    bench_run_result *res = run->res;
    unsigned op = r->op < BENCH_OP_COUNT ? r->op : 0;
    int64_t lat = now - r->intended_ns;
    int64_t s = (now - run->t0) / BENCH_NS;
    atomic_fetch_add_explicit(&res->completed, 1, memory_order_relaxed);
    if (s >= 0 && (uint64_t)s < res->n_secs)
        bench_sec_record(&res->secs[(size_t)s * BENCH_OP_COUNT + op], lat,
                         r->status == BENCH_ST_ERROR);
    /* Throughput: everything that completed inside the window, whenever it
     * was meant to be sent (an overloaded open loop still serves its
     * backlog); latency: the requests meant to be sent inside the window. */
    if (now >= run->t_warm && now <= run->t_end && r->status != BENCH_ST_ERROR)
        atomic_fetch_add_explicit(&res->in_window[op], 1, memory_order_relaxed);
    if (!r->measured)
        return;
    bench_hist_record(&res->hist[op], lat);
    _Atomic uint64_t *ctr = r->status == BENCH_ST_OK        ? &res->ok[op]
                            : r->status == BENCH_ST_REFUSED ? &res->refused[op]
                                                            : &res->errors[op];
    atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&res->req_bytes[op], r->req_len,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&res->reply_bytes[op], r->reply_len,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&res->lines[op], r->n_lines,
                              memory_order_relaxed);
}

/* Start r on slot, outside the lock. On a failure to start, the request is
 * accounted as an error and the slot is freed. */
static void bench_runner_start(bench_runner *run, unsigned slot, bench_req *r)
{
    atomic_fetch_add_explicit(
        &run->res->sent[r->op < BENCH_OP_COUNT ? r->op : 0], 1,
        memory_order_relaxed);
    r->sent_ns = clock_mono_ns();
    if (run->be->send(run->be->ctx, run, slot, r) == 0)
        return;
    r->status = BENCH_ST_ERROR;
    r->err_code = ATP_E_TRANSPORT;
    bench_runner_record(run, r, clock_mono_ns());
    pthread_mutex_lock(&run->mu);
    if (run->res->first_err_code == 0) {
        run->res->first_err_code = ATP_E_TRANSPORT;
        snprintf(run->res->first_err_op, sizeof run->res->first_err_op, "%s",
                 bench_op_name(r->op));
    }
    if (run->src->done != NULL) {
        bench_req *f = run->src->done(run->src->ctx, r);
        bench_req_free(f); /* no follow-up of a failed start */
    }
    run->free_slots[run->n_free++] = slot;
    if (--run->in_flight == 0)
        pthread_cond_broadcast(&run->idle);
    pthread_mutex_unlock(&run->mu);
    bench_req_free(r);
}

void bench_runner_done(bench_runner *run, unsigned slot, bench_req *r)
{
    int64_t now = clock_mono_ns();
    bench_runner_record(run, r, now);
    bench_run_result *res = run->res;
    bench_req *next = NULL;
    pthread_mutex_lock(&run->mu);
    if (r->measured && r->op < BENCH_OP_COUNT && r->reply_len > 0) {
        double x = r->n_lines, y = r->reply_len;
        res->fit_n[r->op] += 1;
        res->fit_x[r->op] += x;
        res->fit_y[r->op] += y;
        res->fit_xx[r->op] += x * x;
        res->fit_xy[r->op] += x * y;
    }
    if (r->status == BENCH_ST_ERROR && res->first_err_code == 0) {
        res->first_err_code = r->err_code ? r->err_code : ATP_E_INTERNAL;
        snprintf(res->first_err_op, sizeof res->first_err_op, "%s",
                 bench_op_name(r->op));
    }
    bench_req *follow =
        run->src->done ? run->src->done(run->src->ctx, r) : NULL;
    if (follow != NULL && !run->stopping && now < run->t_end) {
        bench_runner_mark(run, follow, now);
        next = follow;
    } else {
        bench_req_free(follow);
        if (run->pend_head != NULL) {
            next = run->pend_head;
            run->pend_head = next->next;
            if (run->pend_head == NULL)
                run->pend_tail = NULL;
            run->pend_len--;
        } else if (run->closed_loop && now < run->t_end) {
            next = bench_runner_next(run);
            if (next != NULL)
                bench_runner_mark(run, next, now);
        }
    }
    if (next == NULL) {
        run->free_slots[run->n_free++] = slot;
        if (--run->in_flight == 0)
            pthread_cond_broadcast(&run->idle);
    }
    pthread_mutex_unlock(&run->mu);
    bench_req_free(r);
    if (next != NULL)
        bench_runner_start(run, slot, next);
}

/* Open loop: hand r to a free slot or queue it. */
static void bench_runner_dispatch(bench_runner *run, bench_req *r)
{
    pthread_mutex_lock(&run->mu);
    if (run->n_free > 0) {
        unsigned slot = run->free_slots[--run->n_free];
        run->in_flight++;
        pthread_mutex_unlock(&run->mu);
        bench_runner_start(run, slot, r);
        return;
    }
    if (run->pend_tail != NULL)
        run->pend_tail->next = r;
    else
        run->pend_head = r;
    run->pend_tail = r;
    if (++run->pend_len > run->res->backlog_max)
        run->res->backlog_max = run->pend_len;
    pthread_mutex_unlock(&run->mu);
}

static void bench_runner_progress(bench_runner *run, int64_t now,
                                  int64_t *next_print)
{
    if (run->o->quiet || now < *next_print)
        return;
    *next_print += BENCH_NS;
    int64_t s = (now - run->t0) / BENCH_NS - 1; /* the last full second */
    bench_run_result *res = run->res;
    if (s < 0 || (uint64_t)s >= res->n_secs)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "[%s] %2llds", run->o->label,
                     (long long)s + 1);
    for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
        bench_sec *sec = &res->secs[(size_t)s * BENCH_OP_COUNT + op];
        uint32_t c = atomic_load(&sec->count);
        if (c == 0)
            continue;
        n += snprintf(line + n, sizeof line - (size_t)n,
                      "  %s %u/s p50 %.0fus p99 %.0fus err %u",
                      bench_op_name(op), c, bench_sec_pct_us(sec, 0.5),
                      bench_sec_pct_us(sec, 0.99), atomic_load(&sec->errors));
        if ((size_t)n >= sizeof line)
            break;
    }
    pthread_mutex_lock(&run->mu);
    uint64_t backlog = run->pend_len;
    unsigned in_flight = run->in_flight;
    pthread_mutex_unlock(&run->mu);
    fprintf(stderr, "%s  in-flight %u backlog %llu\n", line, in_flight,
            (unsigned long long)backlog);
}

static void bench_runner_open_loop(bench_runner *run)
{
    const bench_run_opts *o = run->o;
    int64_t next_print = run->t0 + BENCH_NS;
    uint64_t i = 0;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        bench_req *r = bench_runner_next(run);
        pthread_mutex_unlock(&run->mu);
        if (r == NULL)
            break;
        int64_t off =
            o->rate > 0 ? (int64_t)((double)i * 1e9 / o->rate) : r->intended_ns;
        int64_t due = run->t0 + off;
        if (due >= run->t_end) {
            bench_req_free(r);
            break;
        }
        int64_t now = clock_mono_ns();
        while (now < due) {
            int64_t until = due < next_print ? due : next_print;
            bench_sleep_until(until);
            now = clock_mono_ns();
            bench_runner_progress(run, now, &next_print);
        }
        bench_runner_progress(run, now, &next_print);
        bench_runner_mark(run, r, due);
        if (r->measured)
            bench_hist_record(&run->res->send_lag, now - due);
        bench_runner_dispatch(run, r);
        i++;
    }
    /* Keep printing until the end of the window. */
    for (int64_t now = clock_mono_ns(); now < run->t_end;
         now = clock_mono_ns()) {
        bench_sleep_until(now + 100000000LL < run->t_end ? now + 100000000LL
                                                         : run->t_end);
        bench_runner_progress(run, clock_mono_ns(), &next_print);
    }
}

static void bench_runner_closed_loop(bench_runner *run)
{
    unsigned started[4096];
    bench_req *first[4096];
    unsigned n = 0;
    pthread_mutex_lock(&run->mu);
    int64_t now = clock_mono_ns();
    while (run->n_free > 0 && n < 4096) {
        bench_req *r = bench_runner_next(run);
        if (r == NULL)
            break;
        bench_runner_mark(run, r, now);
        started[n] = run->free_slots[--run->n_free];
        first[n++] = r;
        run->in_flight++;
    }
    pthread_mutex_unlock(&run->mu);
    for (unsigned i = 0; i < n; i++)
        bench_runner_start(run, started[i], first[i]);
    int64_t next_print = run->t0 + BENCH_NS;
    for (now = clock_mono_ns(); now < run->t_end; now = clock_mono_ns()) {
        int64_t until = now + 50000000LL;
        bench_sleep_until(until < run->t_end ? until : run->t_end);
        bench_runner_progress(run, clock_mono_ns(), &next_print);
        pthread_mutex_lock(&run->mu);
        bool idle = run->in_flight == 0 && run->exhausted;
        pthread_mutex_unlock(&run->mu);
        if (idle)
            break;
    }
}

/* Wait until nothing is in flight or the deadline passes. */
static bool bench_runner_wait_idle(bench_runner *run, int64_t deadline)
{
    struct timespec ts;
    pthread_mutex_lock(&run->mu);
    while (run->in_flight > 0 || run->pend_head != NULL) {
        int64_t now = clock_mono_ns();
        if (now >= deadline)
            break;
        int64_t wake =
            now + 50000000LL < deadline ? now + 50000000LL : deadline;
        /* the cond uses CLOCK_REALTIME: convert a short relative wait */
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t rt = (int64_t)ts.tv_sec * BENCH_NS + ts.tv_nsec + (wake - now);
        ts.tv_sec = rt / BENCH_NS;
        ts.tv_nsec = rt % BENCH_NS;
        pthread_cond_timedwait(&run->idle, &run->mu, &ts);
    }
    bool idle = run->in_flight == 0 && run->pend_head == NULL;
    pthread_mutex_unlock(&run->mu);
    return idle;
}

int bench_runner_run(const bench_run_opts *o, bench_backend *be,
                     bench_source *src, bench_run_result *res)
{
    memset(res, 0, sizeof *res);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake on time, not 50 us late */
    /* --rt: send on time even when other processes keep both cores busy
     * (needs CAP_SYS_NICE). Not the default: measured, it cuts the pacing
     * lag p99 5-10x on a loaded machine but raises atp-bench's CPU per
     * request 2-3x (system time in the runner), CPU the servers lack on 2
     * cores. */
    int policy;
    struct sched_param old_prio;
    pthread_getschedparam(pthread_self(), &policy, &old_prio);
    bool rt = o->rt && bench_rt_prio_set();
    bench_runner run = {.o = o, .be = be, .src = src, .res = res};
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.idle, NULL);
    run.closed_loop = o->rate == 0;
    res->rate = o->rate;
    res->warmup_s = o->warmup_s;
    res->duration_s = o->duration_s;
    res->slots = be->slots;
    res->n_secs = (unsigned)(o->duration_s + o->drain_s + 3);
    res->secs = calloc((size_t)res->n_secs * BENCH_OP_COUNT, sizeof *res->secs);
    run.free_slots = calloc(be->slots ? be->slots : 1, sizeof *run.free_slots);
    if (res->secs == NULL || run.free_slots == NULL || be->slots == 0) {
        free(run.free_slots);
        return -1;
    }
    for (unsigned i = 0; i < be->slots; i++)
        run.free_slots[run.n_free++] = be->slots - 1 - i;
    run.t0 = clock_mono_ns() + 1000000; /* 1 ms: the first send is on time */
    run.t_warm = run.t0 + (int64_t)(o->warmup_s * 1e9);
    run.t_end = run.t0 + (int64_t)(o->duration_s * 1e9);
    res->window_s = (double)(run.t_end - run.t_warm) / 1e9;
    bench_sleep_until(run.t0);
    if (run.closed_loop)
        bench_runner_closed_loop(&run);
    else
        bench_runner_open_loop(&run);
    pthread_mutex_lock(&run.mu);
    run.stopping = true;
    pthread_mutex_unlock(&run.mu);
    int64_t drain_end = clock_mono_ns() + (int64_t)(o->drain_s * 1e9);
    if (!bench_runner_wait_idle(&run, drain_end)) {
        /* Give up on what is queued; cancel what is in flight. */
        pthread_mutex_lock(&run.mu);
        bench_req *p = run.pend_head;
        run.pend_head = run.pend_tail = NULL;
        run.pend_len = 0;
        pthread_mutex_unlock(&run.mu);
        while (p != NULL) {
            bench_req *nx = p->next;
            if (p->measured)
                res->errors[p->op < BENCH_OP_COUNT ? p->op : 0]++;
            res->unfinished++;
            bench_req_free(p);
            p = nx;
        }
        pthread_mutex_lock(&run.mu);
        res->unfinished += run.in_flight;
        pthread_mutex_unlock(&run.mu);
        if (be->cancel != NULL)
            be->cancel(be->ctx);
        if (!bench_runner_wait_idle(&run, clock_mono_ns() + 10 * BENCH_NS)) {
            /* The backend did not give its requests back: they and the
             * runner state must leak rather than be freed under it. */
            fprintf(stderr,
                    "atp-bench: %s: requests still in flight after cancel\n",
                    o->label);
            res->elapsed_s = (double)(clock_mono_ns() - run.t0) / 1e9;
            return 0;
        }
    }
    res->elapsed_s = (double)(clock_mono_ns() - run.t0) / 1e9;
    res->client_rt = rt;
    pthread_setschedparam(pthread_self(), policy, &old_prio);
    free(run.free_slots);
    pthread_cond_destroy(&run.idle);
    pthread_mutex_destroy(&run.mu);
    uint64_t any = 0;
    for (unsigned op = 0; op < BENCH_OP_COUNT; op++)
        any += res->sent[op];
    return any > 0 ? 0 : -1;
}

void bench_run_result_fini(bench_run_result *res)
{
    free(res->secs);
    res->secs = NULL;
}

double bench_run_ops_per_s(const bench_run_result *res, unsigned op)
{
    if (op >= BENCH_OP_COUNT || res->window_s <= 0)
        return 0;
    return (double)res->in_window[op] / res->window_s;
}

void bench_echo_model_fit(bench_echo_model *m, const bench_run_result *res)
{
    for (unsigned op = 0; op < BENCH_OP_COUNT; op++) {
        double n = res->fit_n[op];
        if (n < 1)
            continue;
        double den = n * res->fit_xx[op] - res->fit_x[op] * res->fit_x[op];
        if (den > 1e-9) {
            m->b[op] =
                (n * res->fit_xy[op] - res->fit_x[op] * res->fit_y[op]) / den;
            m->a[op] = (res->fit_y[op] - m->b[op] * res->fit_x[op]) / n;
        } else {
            m->b[op] = 0;
            m->a[op] = res->fit_y[op] / n;
        }
        m->have[op] = true;
    }
}

uint32_t bench_echo_model_size(const bench_echo_model *m, unsigned op,
                               uint32_t n_lines)
{
    double v = 64;
    if (op < BENCH_OP_COUNT && m->have[op])
        v = m->a[op] + m->b[op] * n_lines;
    if (v < 8)
        v = 8;
    if (v > 64 * 1024 * 1024)
        v = 64 * 1024 * 1024;
    return (uint32_t)(v + 0.5);
}
