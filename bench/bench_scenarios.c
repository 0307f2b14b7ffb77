/*
 * bench_scenarios.c - atp-bench's scenarios: the request generators (one
 * per kind of load) and the runs that put atpd, the echo floor and Redis
 * side by side. Main thread; generator callbacks run under the runner's
 * lock (bench_load.h), on whichever thread completes a request.
 */
#define _GNU_SOURCE /* asprintf, vasprintf, open_memstream */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_nng.h"
#include "bench_scenarios.h"

#include "bench_cluster.h"
#include "bench_servers.h"
#ifdef ATP_BENCH_HAVE_CURL
#include "bench_http.h"
#include "bench_wrk.h"
#endif
#include "bench_sp.h"
#include "common/clock.h"

/* ---- request generators ------------------------------------------------ */

typedef enum bench_gen_kind {
    GEN_POINT,   /* one line, ordinary SKUs */
    GEN_CART,    /* basket-size lines, one region per cart */
    GEN_RESERVE, /* reserve (one line or a cart), then commit/release/expire */
    GEN_MIX,     /* peak: queries, carts, flash-sale reservations on hot SKUs */
    GEN_FILL,    /* restart: N held reservations, nothing after */
    GEN_REPLAY,  /* orders from the CSV, in time order */
} bench_gen_kind;

typedef struct bench_gen {
    bench_app *app;
    const bench_work *work;
    bench_gen_kind kind;
    bench_rng rng;
    uint32_t lo, hi; /* ordinary SKUs */
    bool cart;       /* reserve: carts instead of one line */
    uint32_t cap_lines;
    int p_commit, p_release; /* percent; the rest expires */
    int64_t ttl_ms, expire_ttl_ms;
    int w_atp, w_atp_hot, w_cart; /* mix, percent; the rest reserves hot */
    uint64_t remaining;           /* fill */
    /* replay */
    bool replay_reserve;
    size_t pos;
    double speedup;
    uint64_t resv_base;
    bool *granted_order;
    uint64_t cancels_skipped;
    /* flash sale */
    int64_t *hot_granted, *hot_committed; /* [hot * n_regions + region] */
    int64_t first_refusal_ns;
} bench_gen;

static void bench_gen_line(bench_gen *g, bench_line *l, uint32_t region,
                           bool hot)
{
    const bench_app *app = g->app;
    if (hot)
        l->sku =
            app->normal_hi + (uint32_t)bench_rng_below(&g->rng, app->a.hot);
    else
        l->sku = bench_sku_pick(&g->rng, g->lo, g->hi);
    l->region = region;
    l->qty = 1 + (int64_t)bench_rng_below(&g->rng, hot ? 2 : 3);
}

static bench_req *bench_gen_reserve(bench_gen *g, uint32_t n, bool hot)
{
    bench_req *r = bench_req_alloc(BENCH_OP_RESERVE, n);
    if (r == NULL)
        return NULL;
    uint32_t region = (uint32_t)bench_rng_below(&g->rng, g->work->n_regions);
    for (uint32_t i = 0; i < n; i++)
        bench_gen_line(g, &r->lines[i], region, hot);
    r->resv = g->app->resv_next++;
    int u = (int)bench_rng_below(&g->rng, 100);
    r->follow = u < g->p_commit                  ? BENCH_FOLLOW_COMMIT
                : u < g->p_commit + g->p_release ? BENCH_FOLLOW_RELEASE
                                                 : BENCH_FOLLOW_EXPIRE;
    r->ttl_ms = r->follow == BENCH_FOLLOW_EXPIRE ? g->expire_ttl_ms : g->ttl_ms;
    return r;
}

static bench_req *bench_gen_next(void *ctx)
{
    bench_gen *g = ctx;
    bench_req *r = NULL;
    uint32_t region = (uint32_t)bench_rng_below(&g->rng, g->work->n_regions);
    switch (g->kind) {
    case GEN_POINT:
        if ((r = bench_req_alloc(BENCH_OP_ATP, 1)) != NULL)
            bench_gen_line(g, &r->lines[0], region, false);
        return r;
    case GEN_CART: {
        uint32_t n = bench_basket_draw(&g->app->basket, &g->rng, g->cap_lines);
        if ((r = bench_req_alloc(BENCH_OP_CART, n)) != NULL)
            for (uint32_t i = 0; i < n; i++)
                bench_gen_line(g, &r->lines[i], region, false);
        return r;
    }
    case GEN_RESERVE:
        return bench_gen_reserve(
            g,
            g->cart ? bench_basket_draw(&g->app->basket, &g->rng, g->cap_lines)
                    : 1,
            false);
    case GEN_FILL:
        if (g->remaining == 0)
            return NULL;
        g->remaining--;
        r = bench_gen_reserve(g, 1, false);
        if (r != NULL) {
            r->follow = BENCH_FOLLOW_NONE;
            r->ttl_ms = g->ttl_ms;
        }
        return r;
    case GEN_MIX: {
        int u = (int)bench_rng_below(&g->rng, 100);
        if (u < g->w_atp + g->w_atp_hot) {
            if ((r = bench_req_alloc(BENCH_OP_ATP, 1)) != NULL)
                bench_gen_line(g, &r->lines[0], region, u >= g->w_atp);
            return r;
        }
        if (u < g->w_atp + g->w_atp_hot + g->w_cart) {
            uint32_t n =
                bench_basket_draw(&g->app->basket, &g->rng, g->cap_lines);
            if ((r = bench_req_alloc(BENCH_OP_CART, n)) != NULL)
                for (uint32_t i = 0; i < n; i++)
                    bench_gen_line(g, &r->lines[i], region, false);
            return r;
        }
        return bench_gen_reserve(g, 1, true);
    }
    case GEN_REPLAY: {
        const bench_replay *rp = &g->app->replay;
        while (g->pos < rp->n_orders) {
            size_t i = g->pos++;
            const bench_replay_order *o = &rp->orders[i];
            int64_t off =
                (int64_t)((double)(o->t_ms - rp->t_first) * 1e6 / g->speedup);
            if (o->cancel) {
                if (!g->replay_reserve)
                    continue;
                if (o->target < 0 || !g->granted_order[o->target]) {
                    g->cancels_skipped++;
                    continue;
                }
                r = bench_req_alloc(BENCH_OP_RELEASE, 0);
                if (r == NULL)
                    return NULL;
                r->resv = g->resv_base + (uint64_t)o->target;
                r->release_lines = true;
            } else {
                r = bench_req_alloc(
                    g->replay_reserve ? BENCH_OP_RESERVE : BENCH_OP_CART, 0);
                if (r == NULL)
                    return NULL;
                r->resv = g->resv_base + i;
                r->follow =
                    BENCH_FOLLOW_COMMIT; /* an invoice is a placed order */
            }
            r->lines_shared = true;
            r->lines = &rp->lines[o->first_line];
            r->n_lines = o->n_lines;
            if (r->op == BENCH_OP_RESERVE && r->n_lines > g->cap_lines)
                r->n_lines = g->cap_lines;
            r->intended_ns = off;
            return r;
        }
        return NULL;
    }
    }
    return NULL;
}

static bench_req *bench_gen_done(void *ctx, const bench_req *r)
{
    bench_gen *g = ctx;
    if (r->op != BENCH_OP_RESERVE)
        return NULL;
    const bench_app *app = g->app;
    if (r->status == BENCH_ST_REFUSED && g->hot_granted != NULL &&
        g->first_refusal_ns == 0 && r->lines[0].sku >= app->normal_hi)
        g->first_refusal_ns = clock_mono_ns();
    if (r->status != BENCH_ST_OK)
        return NULL;
    if (g->kind == GEN_REPLAY) {
        g->granted_order[r->resv - g->resv_base] = true;
    } else if (g->hot_granted != NULL) {
        for (uint32_t i = 0; i < r->n_lines; i++) {
            const bench_line *l = &r->lines[i];
            if (l->sku < app->normal_hi)
                continue;
            size_t k = (size_t)(l->sku - app->normal_hi) * g->work->n_regions +
                       l->region;
            g->hot_granted[k] += l->qty;
            if (r->follow == BENCH_FOLLOW_COMMIT)
                g->hot_committed[k] += l->qty;
        }
    }
    if (r->follow != BENCH_FOLLOW_COMMIT && r->follow != BENCH_FOLLOW_RELEASE)
        return NULL;
    bench_req *f = bench_req_alloc(
        r->follow == BENCH_FOLLOW_COMMIT ? BENCH_OP_COMMIT : BENCH_OP_RELEASE,
        0);
    if (f != NULL)
        f->resv = r->resv;
    return f;
}

static void bench_gen_init(bench_gen *g, bench_app *app, bench_gen_kind kind)
{
    memset(g, 0, sizeof *g);
    g->app = app;
    g->work = &app->work;
    g->kind = kind;
    g->rng.s = app->a.seed;
    g->lo = 0;
    g->hi = app->normal_hi;
    g->cap_lines = kind == GEN_CART ? app->cfg.service.max_cart_lines
                                    : app->cfg.reservations.max_lines;
    g->p_commit = kind == GEN_RESERVE ? app->a.mix_commit : 60;
    g->p_release = kind == GEN_RESERVE ? app->a.mix_release : 30;
    g->ttl_ms = 0; /* atpd's default TTL */
    g->expire_ttl_ms = app->cfg.reservations.min_ttl_ms > 1000
                           ? app->cfg.reservations.min_ttl_ms
                           : 1000; /* expires during the run */
    /* peak mix: most traffic checks availability (a quarter of it on the
     * flash-sale SKUs), some checks carts, 5 % reserves hot SKUs */
    g->w_atp = 60;
    g->w_atp_hot = 25;
    g->w_cart = 10;
    g->speedup = 1;
}

/* ---- background ingest ------------------------------------------------- */

typedef struct bench_bg {
    pthread_t th;
    bench_feed_opts o;
    bench_feed_result res;
    atomic_bool stop;
    int rc;
    bool running;
} bench_bg;

static void *bench_bg_main(void *arg)
{
    bench_bg *b = arg;
    b->rc = bench_feed_run(&b->o, &b->res);
    return NULL;
}

static void bench_bg_start(bench_app *app, bench_bg *b, double rate,
                           const char *label)
{
    memset(b, 0, sizeof *b);
    if (rate <= 0)
        return;
    atomic_init(&b->stop, false);
    b->o = (bench_feed_opts){
        .ingest_url = app->ingest_url,
        .query_url = app->query_url,
        .source = app->source,
        .locations = app->src_locs,
        .n_locations = app->n_src_locs,
        .work = &app->work,
        .sku_lo = 0,
        .sku_hi = app->normal_hi, /* never the flash-sale SKUs */
        .batch = rate >= 10000 ? 100 : 10,
        .events_per_s = rate,
        .window = app->a.window ? app->a.window : 2048,
        .qty = app->a.stock,
        .seed = app->a.seed + 7,
        .label = label,
        .quiet = true,
        .stop = &b->stop,
    };
    if (pthread_create(&b->th, NULL, bench_bg_main, b) == 0)
        b->running = true;
}

/* bench_bg_stop stops the feed; with a key, its figures go to the report. */
static void bench_bg_stop(bench_app *app, bench_bg *b, const char *key)
{
    if (!b->running)
        return;
    atomic_store(&b->stop, true);
    pthread_join(b->th, NULL);
    b->running = false;
    bench_feed_result *r = &b->res;
    if (b->rc != 0)
        bench_report_warn(app->rep, "%s: background ingest: %s", b->o.label,
                          r->error);
    if (key == NULL) {
        bench_feed_result_fini(r);
        return;
    }
    const char *scenario = key;
    bench_report_section(
        app->rep, scenario,
        "{\"ingest_rate_asked\": %g, \"events_sent\": %llu, "
        "\"events_applied\": %llu, \"applied_events_per_s\": %.0f, "
        "\"missed\": %llu, \"unaccounted\": %lld, \"complete\": %s}",
        b->o.events_per_s, (unsigned long long)r->events_sent,
        (unsigned long long)r->events, r->events_per_s,
        (unsigned long long)r->missed, (long long)r->unaccounted,
        r->complete ? "true" : "false");
    bench_feed_result_fini(r);
}

/* ---- running one load against atpd, echo and redis ---------------------- */

enum {
    SYS_ATPD = 1,
    SYS_ECHO = 2,
    SYS_REDIS = 4,
    SYS_HTTP = 8,        /* atpd over HTTP */
    SYS_HTTP_FLOOR = 16, /* atp-bench-http-floor */
};
#define BENCH_N_SYS 5

typedef struct bench_spec {
    const char *scenario;
    bench_gen proto;
    double rate; /* 0 closed, > 0 open, < 0 replay times */
    double duration, warmup;
    unsigned systems;   /* SYS_* */
    double ingest_rate; /* background ingest during the atpd run */
    uint64_t max_requests;
    /* out: the last atpd run's generator state, its flash-sale counts
     * summed over the repeats (caller frees) */
    bench_gen *last_atpd_gen;
} bench_spec;

static void bench_gen_fini(bench_gen *g)
{
    free(g->granted_order);
    free(g->hot_granted);
    free(g->hot_committed);
}

/* bench_gen_carry adds the flash-sale counts of an earlier repeat (prev)
 * to g: the repeats run against one atpd, so the stock the first sold is
 * gone for the next, and only the totals can be checked against supply. */
static void bench_gen_carry(bench_gen *g, const bench_gen *prev)
{
    if (g->hot_granted == NULL || prev->hot_granted == NULL)
        return;
    size_t n = (size_t)g->app->a.hot * g->work->n_regions;
    for (size_t k = 0; k < n; k++) {
        g->hot_granted[k] += prev->hot_granted[k];
        g->hot_committed[k] += prev->hot_committed[k];
    }
    if (prev->first_refusal_ns != 0)
        g->first_refusal_ns = prev->first_refusal_ns;
}

static int bench_gen_prepare(bench_gen *g, const bench_gen *proto,
                             bench_app *app)
{
    *g = *proto;
    g->rng.s = app->a.seed;
    g->granted_order = NULL;
    g->hot_granted = g->hot_committed = NULL;
    if (g->kind == GEN_REPLAY) {
        g->pos = 0;
        g->resv_base = app->resv_next;
        app->resv_next += app->replay.n_orders;
        g->granted_order =
            calloc(app->replay.n_orders ? app->replay.n_orders : 1, 1);
        if (g->granted_order == NULL)
            return -1;
    }
    if (g->kind == GEN_MIX) {
        size_t n = (size_t)app->a.hot * app->work.n_regions;
        g->hot_granted = calloc(n, sizeof *g->hot_granted);
        g->hot_committed = calloc(n, sizeof *g->hot_committed);
        if (g->hot_granted == NULL || g->hot_committed == NULL)
            return -1;
    }
    return 0;
}

/* bench_http_open opens the HTTP backend for atpd (floor false) or the
 * HTTP floor; ATP_E_CONFIG when atp-bench was built without libcurl. */
static atp_err bench_http_open(bench_app *app, bool floor, void **hb,
                               bench_backend *be, char *err, size_t errlen)
{
#ifdef ATP_BENCH_HAVE_CURL
    bench_http_be *b = NULL;
    atp_err e = bench_http_be_open(
        floor ? app->http_floor_url : app->http_url, app->a.clients, floor,
        &app->work, &app->http_model, app->a.timeout_ms, &b, err, errlen);
    if (e == ATP_OK)
        bench_http_be_backend(b, be);
    *hb = b;
    return e;
#else
    (void)app, (void)floor, (void)be;
    *hb = NULL;
    snprintf(err, errlen, "atp-bench was built without libcurl");
    return ATP_E_CONFIG;
#endif
}

static void bench_http_close(void *hb)
{
#ifdef ATP_BENCH_HAVE_CURL
    bench_http_be_close(hb);
#else
    (void)hb;
#endif
}

/* bench_run_systems runs the same load against atpd, then the echo floor,
 * then atpd over HTTP and the HTTP floor (--http), then Redis, and again
 * --repeat times, interleaved, so that each repeat of atpd and of its
 * baselines ran back to back on about the same machine. */
static int bench_run_systems(bench_app *app, bench_spec *s)
{
    static const unsigned order[] = {SYS_ATPD, SYS_ECHO, SYS_HTTP,
                                     SYS_HTTP_FLOOR, SYS_REDIS};
    static const char *const names[] = {"atpd", "echo", "atpd-http",
                                        "http-floor", "redis"};
    unsigned repeats = app->a.repeat ? app->a.repeat : 1;
    if (repeats > BENCH_MAX_RUNS)
        repeats = BENCH_MAX_RUNS;
    bench_run_result *runs[BENCH_N_SYS][BENCH_MAX_RUNS];
    unsigned n_runs[BENCH_N_SYS] = {0};
    int rc = 0;
    memset(&app->model, 0, sizeof app->model);
    memset(&app->http_model, 0, sizeof app->http_model);
    for (unsigned rep = 0; rep < repeats; rep++) {
        for (int k = 0; k < BENCH_N_SYS; k++) {
            unsigned sys = order[k];
            if (!(s->systems & sys))
                continue;
            if (sys == SYS_ECHO && bench_ensure_echo(app) != 0)
                continue;
            if (sys == SYS_HTTP_FLOOR && bench_ensure_http_floor(app) != 0)
                continue;
            if (sys == SYS_HTTP && app->http_url[0] == '\0') {
                if (rep == 0)
                    bench_report_warn(app->rep,
                                      "%s/atpd-http: atpd has no HTTP URL "
                                      "(--http needs atp-bench to start atpd)",
                                      s->scenario);
                continue;
            }
            if (sys == SYS_REDIS && bench_ensure_redis_preloaded(app) != 0)
                continue;
            bench_gen g;
            if (bench_gen_prepare(&g, &s->proto, app) != 0)
                return -1;
            char err[256] = "";
            bench_backend be;
            bench_req_be *nb = NULL;
            bench_sp_be *sb = NULL;
            bench_redis_be *rb = NULL;
            void *hb = NULL;
            unsigned slots = app->a.clients;
            atp_err e;
            if (sys == SYS_HTTP || sys == SYS_HTTP_FLOOR) {
                e = bench_http_open(app, sys == SYS_HTTP_FLOOR, &hb, &be, err,
                                    sizeof err);
            } else if (sys == SYS_REDIS) {
                e = bench_redis_be_open(app->redis, app->redis_port,
                                        app->a.conns, slots, &app->work, &rb,
                                        err, sizeof err);
                if (e == ATP_OK)
                    bench_redis_be_backend(rb, &be);
            } else {
                const char *url =
                    sys == SYS_ECHO ? app->echo_url : app->query_url;
                if (!app->a.client_nng && bench_sp_url_ok(url)) {
                    e = bench_sp_be_open(
                        url, app->a.conns, slots, sys == SYS_ECHO, &app->work,
                        &app->model, app->a.timeout_ms, &sb, err, sizeof err);
                    if (e == ATP_OK)
                        bench_sp_be_backend(sb, &be);
                } else {
                    e = bench_req_be_open(
                        url, app->a.conns, slots, sys == SYS_ECHO, &app->work,
                        &app->model, app->a.timeout_ms, &nb, err, sizeof err);
                    if (e == ATP_OK)
                        bench_req_be_backend(nb, &be);
                }
            }
            if (e != ATP_OK) {
                bench_report_warn(app->rep, "%s/%s: cannot connect: %s",
                                  s->scenario, names[k], err);
                bench_gen_fini(&g);
                rc = -1;
                continue;
            }
            char label[64];
            if (repeats > 1)
                snprintf(label, sizeof label, "%s/%s #%u", s->scenario,
                         names[k], rep + 1);
            else
                snprintf(label, sizeof label, "%s/%s", s->scenario, names[k]);
            bench_run_opts o = {
                .label = label,
                .rate = s->rate,
                .duration_s = s->duration,
                .warmup_s = s->warmup,
                .drain_s = app->a.drain,
                .max_requests = s->max_requests,
                .quiet = app->a.quiet,
                .rt = app->a.rt,
            };
            bench_source src = {
                .ctx = &g, .next = bench_gen_next, .done = bench_gen_done};
            bench_bg bg;
            /* The echo floor runs under the same ingest load as atpd (the
             * feed still goes to atpd): same machine, same client process,
             * so the difference is atpd's own work. */
            bench_bg_start(app, &bg, sys != SYS_REDIS ? s->ingest_rate : 0,
                           label);
            bench_run_result *res = calloc(1, sizeof *res);
            pid_t server = sys == SYS_ATPD || sys == SYS_HTTP ? app->atpd.pid
                           : sys == SYS_ECHO                  ? app->echo.pid
                           : sys == SYS_HTTP_FLOOR ? app->http_floor.pid
                                                   : app->redis_proc.pid;
            double srv0 = server > 0 ? bench_cpu_s(server) : -1,
                   cli0 = bench_cpu_s(0), nats0 = 0,
                   standby0 = sys == SYS_ATPD && app->a.cluster > 0
                                  ? bench_cluster_cpu_s(app, &nats0)
                                  : 0;
            if (res == NULL || bench_runner_run(&o, &be, &src, res) != 0) {
                bench_report_warn(app->rep, "%s: nothing could be sent", label);
                rc = -1;
            }
            if (res != NULL) {
                res->server_cpu_s = srv0 >= 0 ? bench_cpu_s(server) - srv0 : -1;
                res->client_cpu_s = bench_cpu_s(0) - cli0;
                if (sys == SYS_ATPD && app->a.cluster > 0)
                    bench_cluster_report(app, label, res, standby0, nats0);
            }
            char bgname[96];
            snprintf(bgname, sizeof bgname, "background_ingest_%s",
                     s->scenario);
            for (char *p = bgname; *p; p++)
                if (*p == '-' || *p == '+')
                    *p = '_';
            bench_bg_stop(app, &bg,
                          sys == SYS_ATPD && rep + 1 == repeats ? bgname
                                                                : NULL);
            if (res != NULL) {
                if (res->unfinished > 0)
                    bench_report_warn(app->rep,
                                      "%s: %llu requests unfinished at the end "
                                      "(counted as errors)",
                                      label,
                                      (unsigned long long)res->unfinished);
                if (res->first_err_code != 0)
                    bench_report_warn(app->rep, "%s: first error: %s on %s",
                                      label, atp_err_name(res->first_err_code),
                                      res->first_err_op);
                if (sys == SYS_ATPD && rep == 0)
                    bench_echo_model_fit(&app->model, res);
                if (sys == SYS_HTTP && rep == 0)
                    bench_echo_model_fit(&app->http_model, res);
                runs[k][n_runs[k]++] = res;
            }
            bench_redis_be_close(rb);
            bench_sp_be_close(sb);
            bench_req_be_close(nb);
            bench_http_close(hb);
            if (sys == SYS_ATPD && s->last_atpd_gen != NULL) {
                bench_gen_carry(&g, s->last_atpd_gen);
                bench_gen_fini(s->last_atpd_gen);
                *s->last_atpd_gen = g; /* the caller reads and frees it */
            } else {
                bench_gen_fini(&g);
            }
        }
    }
    for (int k = 0; k < BENCH_N_SYS; k++) {
        bench_report_add_runs(app->rep, s->scenario, names[k],
                              (const bench_run_result *const *)runs[k],
                              n_runs[k]);
        for (unsigned i = 0; i < n_runs[k]; i++) {
            bench_run_result_fini(runs[k][i]);
            free(runs[k][i]);
        }
    }
    return rc;
}

static unsigned bench_baselines(const bench_app *app)
{
    unsigned s = 0;
    if (!app->a.no_nng)
        s |= SYS_ATPD;
    if (!app->a.no_nng && !app->a.no_echo)
        s |= SYS_ECHO;
    if (app->a.http)
        s |= SYS_HTTP | SYS_HTTP_FLOOR;
    if (!app->a.no_redis)
        s |= SYS_REDIS;
    return s;
}

static bool bench_need_own(bench_app *app, const char *what)
{
    if (app->a.endpoint == NULL && app->a.atpd != NULL)
        return true;
    bench_report_warn(
        app->rep, "%s needs atp-bench to start atpd itself (--atpd): skipped",
        what);
    return false;
}

static int bench_need_atpd(bench_app *app)
{
    if (app->ctl != NULL)
        return 0;
    /* restart/memory stopped ours; start the main one again */
    char data[1100];
    snprintf(data, sizeof data, "%s/atpd-data", app->tmp);
    return bench_start_atpd(app, data, "atpd.log", NULL);
}

/* ---- targets --------------------------------------------------------------
 */

static void bench_target_ratio(bench_app *app, const char *scenario,
                               const char *op, const char *name,
                               const char *goal, bool vs_echo, double min)
{
    bench_entry *e = bench_report_find(app->rep, scenario, "atpd", op);
    double v = e == NULL ? NAN : vs_echo ? e->ratio_vs_echo : e->ratio_vs_redis;
    char note[200];
    snprintf(note, sizeof note, "%s/%s, %s, %u clients", scenario, op,
             e ? e->mode : "-", e ? e->clients : 0);
    bench_report_target(app->rep, name, goal, v, "x",
                        isfinite(v) ? v >= min : -1, note);
}

/* A target of atpd over HTTP (--http): ratio 'f' (floor), 'r' (Redis) or
 * 'n' (atpd over nng) of scenario/op at least min. */
static void bench_target_http(bench_app *app, const char *scenario,
                              const char *system, const char *op,
                              const char *name, const char *goal, char which,
                              double min)
{
    bench_entry *e = bench_report_find(app->rep, scenario, system, op);
    if (!app->a.http || e == NULL)
        return;
    double v = e == NULL      ? NAN
               : which == 'f' ? e->ratio_vs_echo
               : which == 'r' ? e->ratio_vs_redis
                              : e->ratio_vs_nng;
    char note[200];
    snprintf(note, sizeof note,
             "%s/%s over HTTP, %s, %u clients, cpu/req %.1f us", scenario, op,
             e ? e->mode : "-", e ? e->clients : 0,
             e ? e->server_cpu_us_per_req : NAN);
    bench_report_target(app->rep, name, goal, v, "x",
                        isfinite(v) ? v >= min : -1, note);
}

/* ---- scenarios -------------------------------------------------------------
 */

static double bench_replay_speedup(bench_app *app, double duration)
{
    if (app->a.speedup > 0)
        return app->a.speedup;
    double span_ms = (double)(app->replay.t_last - app->replay.t_first);
    return span_ms > 0 ? span_ms / (duration * 1000.0 * 0.95) : 1;
}

/* A scenario's spec from the command line: rate, duration, warm-up. */
static bench_spec sc_spec(bench_app *app, const char *scenario,
                          unsigned systems, double rate, double ingest_rate)
{
    return (bench_spec){.scenario = scenario,
                        .rate = rate,
                        .duration = app->a.duration,
                        .warmup = app->a.warmup,
                        .systems = systems,
                        .ingest_rate = ingest_rate};
}

/* The --replay orders themselves, in arrival order, time-compressed. */
static int sc_run_replay(bench_app *app, bench_spec *s, const char *scenario,
                         bool reserve)
{
    s->scenario = scenario;
    bench_gen_init(&s->proto, app, GEN_REPLAY);
    if (reserve)
        s->proto.replay_reserve = true;
    else
        s->proto.cap_lines = app->cfg.service.max_cart_lines;
    s->proto.speedup = bench_replay_speedup(app, s->duration);
    s->rate = -1;
    return bench_run_systems(app, s);
}

static int sc_point(bench_app *app)
{
    if (bench_need_atpd(app) || bench_ensure_preloaded(app))
        return -1;
    bench_spec s = sc_spec(app, "point", bench_baselines(app), app->a.rate,
                           app->a.ingest_rate);
    bench_gen_init(&s.proto, app, GEN_POINT);
    int rc = bench_run_systems(app, &s);
#ifdef ATP_BENCH_HAVE_CURL
    if (app->a.wrk && app->a.http && app->a.rate == 0)
        rc |= bench_wrk_point(app, app->a.repeat ? app->a.repeat : 1);
#endif
    bench_report_ratios(app->rep);
    bench_target_ratio(app, "point", "atp",
                       "single-line ATP vs transport floor", ">= 0.85x echo",
                       true, 0.85);
    bench_target_http(app, "point", "atpd-http", "atp",
                      "single-line ATP over HTTP vs HTTP floor",
                      ">= 0.85x http-floor", 'f', 0.85);
    bench_target_http(app, "point", "atpd-http-wrk", "atp",
                      "single-line ATP over HTTP vs HTTP floor, wrk client",
                      ">= 0.85x http-floor-wrk", 'f', 0.85);
    bench_entry *h = bench_report_find(app->rep, "point", "atpd-http", "atp");
    if (h != NULL && app->a.rate > 0) {
        char note[160];
        snprintf(note, sizeof note, "open loop at %.0f req/s, cpu/req %.1f us",
                 app->a.rate, h->server_cpu_us_per_req);
        /* judged at the rate (or above) only */
        bench_report_target(app->rep, "p99 single-line ATP over HTTP",
                            "<= 1000 us at 10000 req/s", h->p99_us, "us",
                            app->a.rate >= 10000 ? h->p99_us <= 1000 : -1,
                            note);
    }
    return rc;
}

static int sc_cart(bench_app *app)
{
    if (bench_need_atpd(app) || bench_ensure_preloaded(app))
        return -1;
    /* Carts with real basket sizes: the UCI figures, or the --replay
     * files' own distribution. */
    bench_spec s = sc_spec(app, "cart", bench_baselines(app), app->a.rate,
                           app->a.ingest_rate);
    bench_gen_init(&s.proto, app, GEN_CART);
    int rc = bench_run_systems(app, &s);
    if (app->have_replay)
        rc |= sc_run_replay(app, &s, "cart-replay", false);
    bench_report_ratios(app->rep);
    bench_target_ratio(app, "cart", "cart",
                       "cart ATP (real basket sizes) vs Redis Lua",
                       ">= 3x Redis", false, 3.0);
    bench_target_http(app, "cart", "atpd-http", "cart",
                      "cart ATP over HTTP (real basket sizes) vs Redis Lua",
                      ">= 3x Redis", 'r', 3.0);
    return rc;
}

static int sc_reserve(bench_app *app)
{
    if (bench_need_atpd(app) || bench_ensure_preloaded(app))
        return -1;
    int rc = 0;
    bench_spec s =
        sc_spec(app, "reserve-single", bench_baselines(app), app->a.rate, 0);
    bench_gen_init(&s.proto, app, GEN_RESERVE);
    rc |= bench_run_systems(app, &s);
#ifdef ATP_BENCH_HAVE_CURL
    /* wrk cannot follow a reservation with its commit: reserve only */
    if (app->a.wrk && app->a.http && app->a.rate == 0) {
        if (app->a.mix_commit == 0 && app->a.mix_release == 0)
            rc |= bench_wrk_reserve(app, app->a.repeat ? app->a.repeat : 1);
        else
            bench_report_warn(app->rep, "reserve-single/wrk: only with "
                                        "--reserve-mix 0,0,100: skipped");
    }
#endif
    s.scenario = "reserve-cart";
    bench_gen_init(&s.proto, app, GEN_RESERVE);
    s.proto.cart = true;
    rc |= bench_run_systems(app, &s);
    /* Every invoice reserved then committed, cancellations released. */
    if (app->have_replay)
        rc |= sc_run_replay(app, &s, "reserve-replay", true);
    bench_report_ratios(app->rep);
    bench_entry *e =
        bench_report_find(app->rep, "reserve-single", "atpd", "reserve");
    char note[256];
    snprintf(note, sizeof note, "%s, %u clients, durability %s; p99 %.0f us",
             e ? e->mode : "-", e ? e->clients : 0,
             app->cfg.reservations.sync ? "sync" : "nosync",
             e ? e->p99_us : NAN);
    bench_report_target(
        app->rep, "durable single-line reservations/s (p99 <= 2 ms)",
        ">= 30000/s with p99 <= 2000 us", e ? e->ops_per_s : NAN, "reserve/s",
        e ? (e->ops_per_s >= 30000 && e->p99_us <= 2000) : -1, note);
    bench_target_ratio(
        app, "reserve-cart", "reserve",
        "durable cart reservations vs Redis Lua appendfsync always",
        ">= 3x Redis", false, 3.0);
    bench_target_http(app, "reserve-single", "atpd-http", "reserve",
                      "durable single-line reservations over HTTP vs nng",
                      ">= 0.9x atpd over nng", 'n', 0.9);
    bench_target_http(app, "reserve-single", "atpd-http-wrk", "reserve",
                      "durable single-line reservations over HTTP (wrk) vs nng",
                      ">= 0.9x atpd over nng", 'n', 0.9);
    bench_target_http(app, "reserve-cart", "atpd-http", "reserve",
                      "durable cart reservations over HTTP vs nng",
                      ">= 0.9x atpd over nng", 'n', 0.9);
    return rc;
}

static void bench_ingest_section(bench_app *app, const char *key,
                                 const bench_feed_result *r, uint32_t window,
                                 uint32_t batch)
{
    bench_report_section(
        app->rep, key,
        "{\"events_per_s_applied\": %.0f, \"events_per_s_sent\": %.0f, "
        "\"events_sent\": %llu, \"events_applied\": %llu, "
        "\"messages_sent\": %llu, \"bytes_sent\": %llu, \"batch\": %u, "
        "\"window\": %u, \"first_seq\": %llu, \"final_seq\": %llu, "
        "\"seqs\": %llu, \"applied_messages\": %llu, \"rejected\": %llu, "
        "\"missed\": %llu, \"gaps\": %llu, \"duplicates\": %llu, "
        "\"unaccounted\": %lld, \"complete\": %s, \"send_s\": %.3f, "
        "\"applied_s\": %.3f}",
        r->events_per_s, r->sent_events_per_s,
        (unsigned long long)r->events_sent, (unsigned long long)r->events,
        (unsigned long long)r->msgs_sent, (unsigned long long)r->bytes_sent,
        batch, window, (unsigned long long)r->first_seq,
        (unsigned long long)r->final_seq,
        (unsigned long long)(r->final_seq - r->first_seq + 1),
        (unsigned long long)r->messages, (unsigned long long)r->rejected,
        (unsigned long long)r->missed, (unsigned long long)r->gaps,
        (unsigned long long)r->duplicates, (long long)r->unaccounted,
        r->complete ? "true" : "false", r->send_s, r->applied_s);
}

static int sc_engine(bench_app *app)
{
    if (!bench_file_exists(app->a.bench_engine)) {
        bench_report_warn(app->rep,
                          "%s not found: engine apply rate not measured",
                          app->a.bench_engine);
        return 0;
    }
    const char *events = app->a.tiny                             ? "200000"
                         : strcmp(app->a.scenario, "quick") == 0 ? "1000000"
                                                                 : "5000000";
    char cmd[1400], line[512];
    snprintf(cmd, sizeof cmd, "'%s' --events %s --queries 200000 2>&1",
             app->a.bench_engine, events);
    if (!app->a.quiet)
        fprintf(stderr, "[engine] %s\n", cmd);
    FILE *p = popen(cmd, "r");
    double apply = NAN, q_idle = NAN, q_busy = NAN;
    while (p != NULL && fgets(line, sizeof line, p) != NULL) {
        if (!app->a.quiet)
            fprintf(stderr, "[engine] %s", line);
        double v;
        if (sscanf(line, "apply (submit+engine) %lf events/s", &v) == 1)
            apply = v;
        else if (sscanf(line, "query, engine idle %lf", &v) == 1)
            q_idle = v;
        else if (sscanf(line, "query, engine applying %lf", &v) == 1)
            q_busy = v;
    }
    if (p != NULL)
        pclose(p);
    bench_report_section(
        app->rep, "engine",
        "{\"apply_events_per_s\": %.0f, \"query_idle_per_s\": %.0f, "
        "\"query_applying_per_s\": %.0f, \"events\": %s}",
        isfinite(apply) ? apply : -1, isfinite(q_idle) ? q_idle : -1,
        isfinite(q_busy) ? q_busy : -1, events);
    bench_report_target(app->rep, "engine apply alone (bench_engine)",
                        ">= 5000000 events/s", apply, "events/s",
                        isfinite(apply) ? apply >= 5e6 : -1,
                        "bench_engine, no transport, batch 1000");
    return 0;
}

static int sc_ingest(bench_app *app)
{
    if (bench_need_atpd(app) || bench_ensure_preloaded(app))
        return -1;
    bench_feed_opts o = {
        .ingest_url = app->ingest_url,
        .query_url = app->query_url,
        .source = app->source,
        .locations = app->src_locs,
        .n_locations = app->n_src_locs,
        .work = &app->work,
        .sku_lo = 0,
        .sku_hi = app->normal_hi,
        .batch = app->a.batch,
        .events_per_s = 0,
        .duration_s = app->a.duration,
        .window = app->a.window,
        .qty = app->a.stock,
        .seed = app->a.seed + 11,
        .label = "ingest",
        .quiet = app->a.quiet,
    };
    bench_feed_result r;
    int rc = bench_feed_run(&o, &r);
    if (rc != 0)
        bench_report_warn(app->rep, "ingest: %s", r.error);
    bench_ingest_section(app, "ingest", &r, o.window, o.batch);
    bench_report_series(app->rep, "ingest-engine-applied-events", r.series,
                        r.n_series);
    char note[256];
    snprintf(note, sizeof note,
             "nng tcp, batch %u, window %u; %llu seqs: %llu applied, %llu "
             "rejected, %llu "
             "missed (gaps), %lld unaccounted",
             app->a.batch, o.window,
             (unsigned long long)(r.final_seq - r.first_seq + 1),
             (unsigned long long)r.messages, (unsigned long long)r.rejected,
             (unsigned long long)r.missed, (long long)r.unaccounted);
    bench_report_target(
        app->rep, "ingest over nng tcp, zero undetected loss",
        ">= 1000000 events/s, 0 unaccounted", r.events_per_s, "events/s",
        r.complete ? (r.events_per_s >= 1e6 && r.unaccounted == 0) : 0, note);
    bench_feed_result_fini(&r);
    /* The same without flow control, briefly: PUB drops what atpd cannot
     * queue; every drop must show up as a gap, none may go unnoticed. */
    o.window = 0;
    o.batch = 10; /* many small messages: nng's queues fill, PUB drops */
    o.duration_s = app->a.duration / 2 > 3 ? 3 : app->a.duration / 2;
    o.label = "ingest-burst";
    o.seed++;
    if (bench_feed_run(&o, &r) != 0)
        bench_report_warn(app->rep, "ingest-burst: %s", r.error);
    bench_ingest_section(app, "ingest_burst_no_flow_control", &r, 0, o.batch);
    if (r.unaccounted != 0)
        bench_report_warn(app->rep,
                          "ingest-burst: %lld sequence numbers unaccounted for",
                          (long long)r.unaccounted);
    bench_feed_result_fini(&r);
    sc_engine(app);
    return rc;
}

static int sc_peak(bench_app *app)
{
    if (bench_need_atpd(app) || bench_ensure_preloaded(app))
        return -1;
    int rc = 0;
    /* 1. single-line ATP at a fixed rate while ingesting. */
    bench_spec s =
        sc_spec(app, "atp+ingest", SYS_ATPD | (app->a.no_echo ? 0 : SYS_ECHO),
                app->a.peak_rate, app->a.peak_ingest_rate);
    bench_gen_init(&s.proto, app, GEN_POINT);
    rc |= bench_run_systems(app, &s);
    bench_report_ratios(app->rep);
    bench_entry *e = bench_report_find(app->rep, "atp+ingest", "atpd", "atp");
    char note[256];
    snprintf(note, sizeof note,
             "open loop %.0f q/s while ingesting %.0f events/s (asked)",
             app->a.peak_rate, app->a.peak_ingest_rate);
    bench_report_target(app->rep,
                        "p99 single-line ATP at 10k q/s + 100k events/s ingest",
                        "<= 300 us", e ? e->p99_us : NAN, "us",
                        e ? e->p99_us <= 300 : -1, note);
    /* 2. the flash sale: queries, carts and reservations on a few hot SKUs
     * whose stock runs out, while ingesting. */
    bench_gen last;
    memset(&last, 0, sizeof last);
    s = sc_spec(app, "peak", SYS_ATPD, app->a.peak_rate,
                app->a.peak_ingest_rate);
    s.last_atpd_gen = &last;
    bench_gen_init(&s.proto, app, GEN_MIX);
    s.proto.p_commit = 70;
    s.proto.p_release = 20;
    s.proto.cap_lines = 60; /* carts in a flash sale are small */
    int64_t t0 = clock_mono_ns();
    rc |= bench_run_systems(app, &s);
    /* No oversell: committed units never exceed supply - buffer, and atpd
     * reports no shortfall on any hot row. */
    char *rows = NULL;
    size_t rl = 0;
    FILE *f = open_memstream(&rows, &rl);
    int64_t oversold = 0, granted = 0, committed = 0;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    fprintf(f, "[");
    for (uint32_t h = 0; h < app->a.hot && last.hot_granted != NULL; h++) {
        for (uint32_t reg = 0; reg < app->work.n_regions; reg++) {
            size_t k = (size_t)h * app->work.n_regions + reg;
            const char *sku = app->work.skus[app->normal_hi + h];
            codec_writer_reset(w);
            codec_w_map(w, 4);
            codec_w_kv_cstr(w, "op", "atp");
            codec_w_kv_cstr(w, "sku", sku);
            codec_w_kv_cstr(w, "region", app->work.regions[reg]);
            codec_w_kv_cstr(w, "channel", app->work.channel);
            const codec_val *v;
            int64_t supply = -1, reserved = -1, buffer = -1, shortfall = -1;
            if (client_request(app->ctl, w, a, &v) == ATP_OK) {
                codec_val_int(codec_val_get(v, "supply"), &supply);
                codec_val_int(codec_val_get(v, "reserved"), &reserved);
                codec_val_int(codec_val_get(v, "buffer"), &buffer);
                codec_val_int(codec_val_get(v, "shortfall"), &shortfall);
            }
            codec_arena_clear(a);
            int64_t over = last.hot_committed[k] - (supply - buffer);
            if (over > 0 || shortfall != 0)
                oversold += over > 0 ? over : 1;
            granted += last.hot_granted[k];
            committed += last.hot_committed[k];
            fprintf(
                f,
                "%s{\"sku\": \"%s\", \"region\": \"%s\", \"supply\": %lld, "
                "\"buffer\": %lld, \"reserved\": %lld, \"shortfall\": %lld, "
                "\"granted_units\": %lld, \"committed_units\": %lld}",
                k ? ", " : "", sku, app->work.regions[reg], (long long)supply,
                (long long)buffer, (long long)reserved, (long long)shortfall,
                (long long)last.hot_granted[k],
                (long long)last.hot_committed[k]);
        }
    }
    fprintf(f, "]");
    fclose(f);
    codec_arena_free(a);
    codec_writer_free(w);
    double sold_out_s =
        last.first_refusal_ns ? (double)(last.first_refusal_ns - t0) / 1e9 : -1;
    bench_report_section(app->rep, "flash_sale",
                         "{\"hot_skus\": %u, \"stock_per_location\": %lld, "
                         "\"granted_units\": %lld, \"committed_units\": %lld, "
                         "\"first_refusal_after_s\": %.2f, \"oversold\": %lld, "
                         "\"no_oversell\": %s, \"rows\": %s}",
                         app->a.hot, (long long)app->a.hot_stock,
                         (long long)granted, (long long)committed, sold_out_s,
                         (long long)oversold, oversold == 0 ? "true" : "false",
                         rows ? rows : "[]");
    if (oversold != 0)
        bench_report_warn(app->rep, "flash sale: OVERSOLD (%lld units)",
                          (long long)oversold);
    /* The verdict in the table too, and whether the sale sold out at all:
     * a run that never refused proves little. */
    bench_entry *re = bench_report_find(app->rep, "peak", "atpd", "reserve");
    char fnote[256];
    if (sold_out_s >= 0)
        snprintf(fnote, sizeof fnote,
                 "%lld units granted, %lld committed, %llu reservations "
                 "refused as sold out (the first after %.1f s)",
                 (long long)granted, (long long)committed,
                 re ? (unsigned long long)re->refused : 0ULL, sold_out_s);
    else
        snprintf(fnote, sizeof fnote,
                 "the stock did not sell out (%lld units granted, %lld "
                 "committed): nothing was refused, the check proves little",
                 (long long)granted, (long long)committed);
    bench_report_target(app->rep,
                        "flash sale: no oversell (commits <= supply - buffer, "
                        "no shortfall)",
                        "0 units", (double)oversold, "units", oversold == 0,
                        fnote);
    free(rows);
    bench_gen_fini(&last);
    return rc;
}

static int64_t bench_dir_bytes(const char *dir)
{
    char cmd[1200], out[64];
    snprintf(cmd, sizeof cmd, "du -sb '%s' 2>/dev/null | cut -f1", dir);
    bench_cmd_output(cmd, out, sizeof out);
    return out[0] ? strtoll(out, NULL, 10) : -1;
}

/* A fresh atpd with its own data directory, and a work of n_skus SKUs. */
static int bench_fresh_atpd(bench_app *app, const char *name)
{
    if (app->ctl != NULL)
        bench_stop_atpd(app, SIGTERM); /* one atpd at a time on two cores */
    char data[1100], log[128];
    snprintf(data, sizeof data, "%s/%s-data", app->tmp, name);
    bench_rm_rf(data);
    snprintf(log, sizeof log, "atpd-%s.log", name);
    return bench_start_atpd(app, data, log, NULL);
}

/* The restart scenario checks that every restart brings back what was
 * there: supply and reserved of this many SKUs, spread evenly, in every
 * region, besides the counts of `status`. */
#define SC_RESTART_SAMPLE 200
#define SC_RESTART_MAX 20 /* --restarts */

/* One start of the restart scenario's atpd on its stored data. */
typedef struct sc_restart_run {
    int sig;         /* the signal that stopped the previous run */
    double stop_ms;  /* that stop: signal to exit */
    bool clean_stop; /* SIGTERM: exit status 0 */
    double ready_ms, cpu_ms, restore_ms;
    bench_mem mem;
    bench_atpd_status st;
    bool sample_ok;
} sc_restart_run;

/* sc_restart_sample reads supply and reserved of the sample SKUs of w in
 * every region into out (2 per pair: SC_RESTART_SAMPLE x regions x 2);
 * false when a request failed. */
static bool sc_restart_sample(bench_app *app, const bench_work *w, int64_t *out)
{
    codec_writer *cw = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    uint32_t step =
        w->n_skus / SC_RESTART_SAMPLE ? w->n_skus / SC_RESTART_SAMPLE : 1;
    bool ok = cw != NULL && a != NULL;
    size_t k = 0;
    for (uint32_t i = 0; ok && i < SC_RESTART_SAMPLE; i++) {
        for (uint32_t r = 0; ok && r < w->n_regions; r++, k += 2) {
            out[k] = out[k + 1] = -1;
            if (i * step >= w->n_skus)
                continue;
            codec_writer_reset(cw);
            codec_arena_clear(a);
            codec_w_map(cw, 4);
            codec_w_kv_cstr(cw, "op", "atp");
            codec_w_kv_cstr(cw, "sku", w->skus[i * step]);
            codec_w_kv_cstr(cw, "region", w->regions[r]);
            codec_w_kv_cstr(cw, "channel", w->channel);
            const codec_val *v;
            ok = client_request(app->ctl, cw, a, &v) == ATP_OK &&
                 codec_val_int(codec_val_get(v, "supply"), &out[k]) &&
                 codec_val_int(codec_val_get(v, "reserved"), &out[k + 1]);
        }
    }
    codec_writer_free(cw);
    codec_arena_free(a);
    return ok;
}

/* sc_restart_logged_ms: N of the last "restored ... in N ms" line atpd
 * logged after byte offset of log (-1: none). */
static double sc_restart_logged_ms(const char *log, long offset)
{
    FILE *f = fopen(log, "r");
    if (f == NULL)
        return -1;
    fseek(f, offset, SEEK_SET);
    char line[1024];
    double ms = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "restored ");
        const char *q = p != NULL ? strstr(p, ") in ") : NULL;
        if (q != NULL)
            ms = strtod(q + 5, NULL);
    }
    fclose(f);
    return ms;
}

static long sc_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* sc_restart_drop_caches: --cold, the page cache emptied (root). */
static bool sc_restart_drop_caches(void)
{
    sync();
    FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
    if (f == NULL)
        return false;
    bool ok = fputs("3\n", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* sc_restart_one stops app's atpd with sig and starts it again on data:
 * how long each took, what it restored (compared with the sample `want`,
 * read before the first stop), its memory. -1 if it did not come back. */
static int sc_restart_one(bench_app *app, const bench_work *w, const char *data,
                          int sig, const int64_t *want, int64_t *got,
                          sc_restart_run *run)
{
    char log[1200];
    snprintf(log, sizeof log, "%s/atpd-restart.log", app->tmp);
    run->sig = sig;
    int64_t t = clock_mono_ns();
    client_close(app->ctl);
    app->ctl = NULL;
    int status = bench_proc_stop(&app->atpd, sig, 30000);
    run->stop_ms = (double)(clock_mono_ns() - t) / 1e6;
    run->clean_stop = sig != SIGTERM || (status >= 0 && WIFEXITED(status) &&
                                         WEXITSTATUS(status) == 0);
    if (app->a.cold && !sc_restart_drop_caches())
        bench_report_warn(app->rep, "restart: --cold: cannot drop the page "
                                    "cache (root only): this run is warm");
    long off = sc_file_size(log);
    if (bench_start_atpd(app, data, "atpd-restart.log", &run->ready_ms) != 0)
        return -1;
    double cpu = bench_cpu_s(app->atpd.pid); /* clock-tick resolution */
    run->cpu_ms = cpu >= 0 ? cpu * 1000.0 : -1;
    run->restore_ms = sc_restart_logged_ms(log, off < 0 ? 0 : off);
    bench_mem_get(app->atpd.pid, &run->mem);
    bench_status_read(app->ctl, &run->st);
    size_t n = (size_t)SC_RESTART_SAMPLE * w->n_regions * 2;
    run->sample_ok = sc_restart_sample(app, w, got) &&
                     memcmp(want, got, n * sizeof *got) == 0;
    if (!app->a.quiet)
        fprintf(stderr,
                "atp-bench: restart after %s: stop %.0f ms%s, ready in %.1f ms "
                "(atpd restore %.0f ms, atpd CPU %.0f ms), %llu positions, "
                "%llu open reservations, VmRSS %.1f MiB = RssAnon %.1f + "
                "RssFile %.1f (LMDB pages read), sample %s\n",
                sig == SIGTERM ? "SIGTERM" : "SIGKILL", run->stop_ms,
                run->clean_stop ? "" : " (UNCLEAN)", run->ready_ms,
                run->restore_ms, run->cpu_ms,
                (unsigned long long)run->st.positions,
                (unsigned long long)run->st.resv_open, run->mem.rss_kb / 1024.0,
                run->mem.anon_kb / 1024.0, run->mem.file_kb / 1024.0,
                run->sample_ok ? "ok" : "DIFFERS");
    return 0;
}

static int sc_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sc_restart_report writes the restart section and its target line. */
static void sc_restart_report(bench_app *app, const bench_atpd_status *before,
                              const bench_atpd_status *filled,
                              long empty_rss_kb, long loaded_rss_kb,
                              double snapshot_ms, int64_t data_bytes,
                              const double loadavg[2],
                              const sc_restart_run *runs, unsigned n)
{
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    double term[SC_RESTART_MAX + 1], worst = -1;
    unsigned n_term = 0;
    bool ok = n > 0;
    const sc_restart_run *last_term = NULL, *kill = NULL;
    for (unsigned i = 0; i < n; i++) {
        const sc_restart_run *r = &runs[i];
        bool same = r->st.positions == before->positions &&
                    r->st.resv_open == filled->resv_open &&
                    r->st.resv_load_skipped == 0 && r->sample_ok &&
                    r->clean_stop;
        ok = ok && same;
        if (r->sig == SIGTERM) {
            term[n_term++] = r->ready_ms;
            last_term = r;
        } else {
            kill = r;
        }
        worst = r->ready_ms > worst ? r->ready_ms : worst;
        if (f != NULL)
            fprintf(f,
                    "%s{\"after\": \"%s\", \"stop_ms\": %.1f, \"ready_ms\": "
                    "%.1f, \"cpu_ms\": %.0f, \"restore_ms\": %.0f, "
                    "\"rss_bytes\": %ld, \"hwm_bytes\": %ld, "
                    "\"rss_anon_bytes\": %ld, \"rss_file_bytes\": %ld, "
                    "\"positions\": %llu, \"open\": %llu, \"load_skipped\": "
                    "%llu, \"ok\": %s}",
                    i ? ", " : "", r->sig == SIGTERM ? "sigterm" : "sigkill",
                    r->stop_ms, r->ready_ms, r->cpu_ms, r->restore_ms,
                    r->mem.rss_kb * 1024, r->mem.hwm_kb * 1024,
                    r->mem.anon_kb * 1024, r->mem.file_kb * 1024,
                    (unsigned long long)r->st.positions,
                    (unsigned long long)r->st.resv_open,
                    (unsigned long long)r->st.resv_load_skipped,
                    same ? "true" : "false");
    }
    if (f != NULL)
        fclose(f);
    qsort(term, n_term, sizeof term[0], sc_cmp_double);
    double median = n_term ? term[n_term / 2] : -1;
    const sc_restart_run *m = last_term != NULL ? last_term : kill;
    double pos = before->positions ? (double)before->positions : 1;
    long rss = m ? m->mem.rss_kb : -1, anon = m ? m->mem.anon_kb : -1;
    bench_report_section(
        app->rep, "restart",
        "{\"reservations_created\": %llu, \"open_before\": %llu, "
        "\"positions_before\": %llu, \"data_dir_bytes\": %lld, "
        "\"snapshot_ms\": %.1f, \"empty_rss_bytes\": %ld, "
        "\"loaded_rss_bytes\": %ld, \"cold\": %s, "
        "\"stop_ms\": %.1f, \"ready_ms_after_sigterm\": %.1f, "
        "\"ready_ms_after_sigterm_worst\": %.1f, "
        "\"open_after_sigterm\": %llu, \"positions_after_sigterm\": %llu, "
        "\"ready_ms_after_sigkill\": %.1f, \"open_after_sigkill\": %llu, "
        "\"positions_after_sigkill\": %llu, \"bytes_per_position\": %.1f, "
        "\"bytes_per_position_above_empty\": %.1f, "
        "\"anon_bytes_per_position\": %.1f, \"loadavg_before\": %.2f, "
        "\"loadavg_after\": %.2f, \"runs\": [%s], \"ok\": %s, "
        "\"note\": \"ready = time from exec until `status` answers ready "
        "(median of the SIGTERM restarts); positions come back from atpd's "
        "snapshots, reservations from their records; ok: every run restored "
        "the counts, load_skipped 0 and the sample's supply and reserved\"}",
        (unsigned long long)app->a.reservations,
        (unsigned long long)filled->resv_open,
        (unsigned long long)before->positions, (long long)data_bytes,
        snapshot_ms, empty_rss_kb * 1024, loaded_rss_kb * 1024,
        app->a.cold ? "true" : "false", runs[0].stop_ms, median,
        n_term ? term[n_term - 1] : -1.0,
        (unsigned long long)(last_term ? last_term->st.resv_open : 0),
        (unsigned long long)(last_term ? last_term->st.positions : 0),
        kill ? kill->ready_ms : -1.0,
        (unsigned long long)(kill ? kill->st.resv_open : 0),
        (unsigned long long)(kill ? kill->st.positions : 0),
        (double)rss * 1024.0 / pos, (double)(rss - empty_rss_kb) * 1024.0 / pos,
        (double)anon * 1024.0 / pos, loadavg[0], loadavg[1], list ? list : "",
        ok ? "true" : "false");
    free(list);
    if (!ok)
        bench_report_warn(app->rep,
                          "restart: a restart did not bring back what was "
                          "stored (%llu positions, %llu open reservations "
                          "before; see the section's runs)",
                          (unsigned long long)before->positions,
                          (unsigned long long)filled->resv_open);
    char note[256];
    snprintf(note, sizeof note,
             "%llu open reservations, %llu positions; %u restarts after "
             "SIGTERM (median %.0f ms), after kill -9: %.0f ms",
             (unsigned long long)filled->resv_open,
             (unsigned long long)before->positions, n_term, median,
             kill ? kill->ready_ms : -1.0);
    bench_report_target(
        app->rep, "restart until ready (1M positions + 100k reservations)",
        "<= 1000 ms", worst, "ms", worst >= 0 ? worst <= 1000 : -1, note);
}

/* sc_restart_fill stores app->a.reservations open reservations on w's
 * SKUs, as fast as atpd takes them (durable: group commit shares each
 * fsync among the connections' requests in flight). */
static int sc_restart_fill(bench_app *app, bench_work *w)
{
    bench_gen g;
    bench_gen_init(&g, app, GEN_FILL);
    g.work = w;
    g.hi = w->n_skus;
    g.remaining = app->a.reservations;
    g.ttl_ms = app->cfg.reservations.max_ttl_ms < 3600000
                   ? app->cfg.reservations.max_ttl_ms
                   : 3600000;
    bench_req_be *nb = NULL;
    char err[256] = "";
    if (bench_req_be_open(app->query_url, app->a.conns, 64, false, w, NULL,
                          app->a.timeout_ms, &nb, err, sizeof err) != ATP_OK) {
        bench_report_warn(app->rep, "restart: %s", err);
        return -1;
    }
    bench_backend be;
    bench_req_be_backend(nb, &be);
    bench_run_opts o = {.label = "restart-fill",
                        .rate = 0,
                        .duration_s = 600,
                        .warmup_s = 0,
                        .drain_s = app->a.drain,
                        .quiet = app->a.quiet};
    bench_source src = {
        .ctx = &g, .next = bench_gen_next, .done = bench_gen_done};
    bench_run_result *res = calloc(1, sizeof *res);
    double cpu0 = bench_cpu_s(app->atpd.pid);
    if (res != NULL && bench_runner_run(&o, &be, &src, res) == 0) {
        res->server_cpu_s = cpu0 >= 0 ? bench_cpu_s(app->atpd.pid) - cpu0 : -1;
        /* window = the whole fill: ops/s is the fill rate */
        res->window_s = res->elapsed_s;
        for (unsigned op = 0; op < BENCH_OP_COUNT; op++)
            res->in_window[op] = res->ok[op] + res->refused[op];
        bench_report_add_run(app->rep, "restart-fill", "atpd", res);
        bench_run_result_fini(res);
    }
    free(res);
    bench_req_be_close(nb);
    return 0;
}

static double sc_loadavg(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* restart: --restart-positions positions and --reservations open
 * reservations stored, then atpd stopped with SIGTERM and started again
 * --restarts times, and once after SIGKILL: the time until `status`
 * answers ready, what atpd restored, its memory (docs/PERFORMANCE.md,
 * "Restart in detail"). */
static int sc_restart(bench_app *app)
{
    if (!bench_need_own(app, "restart"))
        return 0;
    if (bench_fresh_atpd(app, "restart") != 0)
        return -1;
    char data[1100];
    snprintf(data, sizeof data, "%s/restart-data", app->tmp);
    bench_mem mem;
    bench_mem_get(app->atpd.pid, &mem);
    long empty_rss_kb = mem.rss_kb;
    bench_work w;
    uint32_t n_skus =
        (uint32_t)((app->a.restart_positions + app->n_src_locs - 1) /
                   app->n_src_locs);
    char *regions[CONFIG_MAX_REGIONS];
    for (uint32_t i = 0; i < app->work.n_regions && i < CONFIG_MAX_REGIONS; i++)
        regions[i] = app->work.regions[i];
    if (!bench_work_init(&w, "R-", n_skus ? n_skus : 1, regions,
                         app->work.n_regions, app->work.channel))
        return -1;
    w.token = app->work.token;
    snprintf(w.resv_prefix, sizeof w.resv_prefix, "%s", app->work.resv_prefix);
    size_t n_sample = (size_t)SC_RESTART_SAMPLE * w.n_regions * 2;
    int64_t *want = calloc(n_sample, sizeof *want);
    int64_t *got = calloc(n_sample, sizeof *got);
    bench_feed_result fr;
    int rc = want != NULL && got != NULL
                 ? bench_preload_range(app, &w, app->query_url, app->ingest_url,
                                       0, w.n_skus, app->a.stock,
                                       "restart-positions", &fr)
                 : -1;
    if (want != NULL && got != NULL)
        bench_feed_result_fini(&fr);
    bench_atpd_status before = {0}, filled = {0};
    bench_status_read(app->ctl, &before);
    if (rc == 0)
        rc = sc_restart_fill(app, &w);
    bench_status_read(app->ctl, &filled);
    bench_mem_get(app->atpd.pid, &mem);
    long loaded_rss_kb = mem.rss_kb;
    if (rc == 0 && !sc_restart_sample(app, &w, want)) {
        bench_report_warn(app->rep,
                          "restart: the sample's ATP requests failed");
        rc = -1;
    }
    int64_t t = clock_mono_ns();
    if (rc == 0 && !bench_snapshot_now(app->ctl, 120))
        bench_report_warn(app->rep,
                          "restart: the snapshot before the stop failed");
    double snapshot_ms = (double)(clock_mono_ns() - t) / 1e6;
    int64_t data_bytes = bench_dir_bytes(data);
    sc_restart_run runs[SC_RESTART_MAX + 1];
    memset(runs, 0, sizeof runs);
    unsigned n = 0;
    double loadavg[2] = {sc_loadavg(), -1};
    for (; rc == 0 && n <= app->a.restarts; n++)
        rc = sc_restart_one(app, &w, data,
                            n < app->a.restarts ? SIGTERM : SIGKILL, want, got,
                            &runs[n]);
    loadavg[1] = sc_loadavg();
    if (rc == 0)
        sc_restart_report(app, &before, &filled, empty_rss_kb, loaded_rss_kb,
                          snapshot_ms, data_bytes, loadavg, runs, n);
    bench_stop_atpd(app, SIGTERM);
    bench_work_fini(&w);
    free(want);
    free(got);
    return rc;
}

static int sc_memory(bench_app *app)
{
    if (!bench_need_own(app, "memory"))
        return 0;
    if (bench_fresh_atpd(app, "memory") != 0)
        return -1;
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    bench_mem m0;
    bench_mem_get(app->atpd.pid, &m0);
    bench_atpd_status st0;
    bench_status_read(app->ctl, &st0);
    uint32_t n_skus =
        (uint32_t)((app->a.positions + app->n_src_locs - 1) / app->n_src_locs);
    char *regions[CONFIG_MAX_REGIONS];
    for (uint32_t i = 0; i < app->work.n_regions && i < CONFIG_MAX_REGIONS; i++)
        regions[i] = app->work.regions[i];
    bench_work w;
    if (!bench_work_init(&w, "M-", n_skus, regions, app->work.n_regions,
                         app->work.channel))
        return -1;
    w.token = app->work.token;
    bench_feed_result fr;
    int64_t t0 = clock_mono_ns();
    /* A small flow-control window: what atpd keeps for good, not the
     * buffers of a deep ingest backlog (which stay resident: see
     * docs/PERFORMANCE.md); --window sets another. */
    uint32_t saved_window = app->a.window;
    app->a.window = app->a.window_set ? app->a.window : 64;
    uint32_t window = app->a.window;
    int rc = bench_preload_range(app, &w, app->query_url, app->ingest_url, 0,
                                 w.n_skus, app->a.stock, "memory", &fr);
    app->a.window = saved_window;
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    /* Right after the load, then settled: a snapshot of everything loaded
     * is stored first (its LMDB transaction and buffers are in use until
     * then), and memory freed meanwhile stays resident until jemalloc's
     * decay (10 s by default) returns it, so the settled figure is the one
     * that lasts. */
    struct timespec ts2 = {1, 500000000};
    nanosleep(&ts2, NULL);
    bench_mem loaded;
    bench_mem_get(app->atpd.pid, &loaded);
    if (!bench_snapshot_now(app->ctl, 120))
        fprintf(stderr, "atp-bench: memory: the snapshot after loading did not "
                        "complete; measuring anyway\n");
    int settle_s = app->a.tiny ? 1 : 15;
    for (int i = 0; i < settle_s; i++) {
        struct timespec one = {1, 0};
        nanosleep(&one, NULL);
    }
    bench_mem m1;
    bench_mem_get(app->atpd.pid, &m1);
    bench_atpd_status st1;
    bench_status_read(app->ctl, &st1);
    uint64_t pos =
        st1.positions > st0.positions ? st1.positions - st0.positions : 0;
    double per_rss =
        pos ? (double)(m1.rss_kb - m0.rss_kb) * 1024.0 / (double)pos : NAN;
    double per_anon =
        pos ? (double)(m1.anon_kb - m0.anon_kb) * 1024.0 / (double)pos : NAN;
    double per_eng =
        pos ? (double)(st1.memory_bytes - st0.memory_bytes) / (double)pos : NAN;
    bench_report_section(
        app->rep, "memory",
        "{\"positions\": %llu, \"skus\": %llu, \"rss_kb_before\": %ld, "
        "\"rss_kb_just_loaded\": %ld, \"settle_s\": %d, "
        "\"rss_kb_after\": %ld, \"rss_anon_kb_before\": %ld, "
        "\"rss_anon_kb_after\": %ld, \"rss_file_kb_before\": %ld, "
        "\"rss_file_kb_after\": %ld, \"rss_bytes_per_position\": %.1f, "
        "\"rss_anon_bytes_per_position\": %.1f, "
        "\"engine_memory_bytes\": %llu, \"engine_bytes_per_position\": %.1f, "
        "\"load_s\": %.2f, \"load_events_per_s\": %.0f, \"window\": %u, "
        "\"sku_id_example\": \"%s\"}",
        (unsigned long long)pos, (unsigned long long)st1.skus, m0.rss_kb,
        loaded.rss_kb, settle_s, m1.rss_kb, m0.anon_kb, m1.anon_kb, m0.file_kb,
        m1.file_kb, per_rss, per_anon, (unsigned long long)st1.memory_bytes,
        per_eng, secs, fr.events_per_s, window, w.skus[w.n_skus - 1]);
    char note[256];
    snprintf(note, sizeof note,
             "%llu positions (%u SKUs x %u locations); anonymous memory %.1f "
             "B/position, "
             "engine's own count %.1f B/position",
             (unsigned long long)pos, n_skus, app->n_src_locs, per_anon,
             per_eng);
    bench_report_target(app->rep,
                        "memory per SKU-location position (RSS, at 10M)",
                        "<= 100 bytes", per_rss, "bytes",
                        isfinite(per_rss) ? per_rss <= 100 : -1, note);
    bench_feed_result_fini(&fr);
    bench_stop_atpd(app, SIGTERM);
    bench_work_fini(&w);
    return rc;
}

/* bench_tls_setup makes a throwaway CA, a server certificate for
 * 127.0.0.1 and a client certificate (EC P-256, openssl, in tmp), writes
 * the TLS variant of the config and points the process's dials at the
 * client files (tools_tls.h). 0, or -1 with a warning. */
static int bench_tls_setup(bench_app *app)
{
    static char ca[1100], cert[1100], key[1100];
    const char *d = app->tmp;
    char cmd[4096], out[64] = "", out2[64] = "";
    /* openssl's chatter stays out of the report */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && (printf "
             "'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\\n' > san.ext && "
             "K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj "
             "/CN=atp-bench-ca && "
             "openssl req $K -keyout server.key -out server.csr -subj "
             "/CN=127.0.0.1 && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
             "-CAcreateserial "
             "-out server.pem -days 2 -extfile san.ext && "
             "openssl req $K -keyout client.key -out client.csr -subj "
             "/CN=atp-bench && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
             "-CAcreateserial "
             "-out client.pem -days 2) >/dev/null 2>&1 && echo ok",
             d);
    bench_cmd_output(cmd, out, sizeof out);
    snprintf(app->tls_cfg_path, sizeof app->tls_cfg_path, "%s/atpd-tls.yaml",
             d);
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && printf 'tls:\\n  cert_file: %s/server.pem\\n  "
             "key_file: "
             "%s/server.key\\n  ca_file: %s/ca.pem\\n  verify_clients: "
             "required\\n' >> '%s' "
             "&& echo ok",
             app->cfg_path, app->tls_cfg_path, d, d, d, app->tls_cfg_path);
    if (strcmp(out, "ok") == 0)
        bench_cmd_output(cmd, out2, sizeof out2);
    if (strcmp(out2, "ok") != 0) {
        bench_report_warn(
            app->rep,
            "tls: cannot make certificates with openssl in %s (is openssl "
            "installed?)",
            d);
        return -1;
    }
    snprintf(ca, sizeof ca, "%s/ca.pem", d);
    snprintf(cert, sizeof cert, "%s/client.pem", d);
    snprintf(key, sizeof key, "%s/client.key", d);
    tools_tls_set(
        &(tools_tls){.ca_file = ca, .cert_file = cert, .key_file = key});
    return 0;
}

/* tls: what TLS costs a query. The same closed-loop single-line ATP load,
 * over nng's REQ client both times (bench_sp.h speaks plain TCP only), to
 * a fresh atpd on tcp:// and then to one on tls+tcp:// with client
 * certificates required (atpd's protected setup). Connections are made
 * before the measured window: this is the per-request cost (encryption,
 * record framing), not the handshake's. */
static int sc_tls(bench_app *app)
{
    if (!bench_need_own(app, "tls"))
        return 0;
    if (bench_tls_setup(app) != 0)
        return -1;
    bool client_nng = app->a.client_nng;
    app->a.client_nng = true;
    int rc = 0;
    static const char *const names[] = {"tls-off", "tls-on"};
    for (int on = 0; on < 2 && rc == 0; on++) {
        app->tls_on = on == 1;
        if (bench_fresh_atpd(app, names[on]) != 0 ||
            bench_ensure_preloaded(app) != 0) {
            rc = -1;
            break;
        }
        bench_spec s = sc_spec(app, names[on], SYS_ATPD, app->a.rate, 0);
        bench_gen_init(&s.proto, app, GEN_POINT);
        rc |= bench_run_systems(app, &s);
    }
    /* Later scenarios get a plain atpd again (bench_need_atpd). */
    bench_stop_atpd(app, SIGTERM);
    app->tls_on = false;
    app->a.client_nng = client_nng;
    bench_entry *off = bench_report_find(app->rep, "tls-off", "atpd", "atp"),
                *on = bench_report_find(app->rep, "tls-on", "atpd", "atp");
    if (off == NULL || on == NULL || off->ops_per_s <= 0)
        return -1;
    double ratio = on->ops_per_s / off->ops_per_s;
    char note[256];
    snprintf(note, sizeof note,
             "%.0f vs %.0f ops/s, %u clients on %u connections; server cpu/req "
             "%.1f vs %.1f "
             "us, client cpu/req %.1f vs %.1f us (tls vs tcp)",
             on->ops_per_s, off->ops_per_s, on->clients, app->a.conns,
             on->server_cpu_us_per_req, off->server_cpu_us_per_req,
             on->client_cpu_us_per_req, off->client_cpu_us_per_req);
    bench_report_target(app->rep, "single-line ATP over tls+tcp:// vs tcp://",
                        "measured (no goal)", ratio, "x", -1, note);
    bench_report_section(
        app->rep, "tls",
        "{\"ops_ratio\": %.4f, \"server_cpu_us_per_req_tcp\": %.2f, "
        "\"server_cpu_us_per_req_tls\": %.2f, "
        "\"client_cpu_us_per_req_tcp\": %.2f, "
        "\"client_cpu_us_per_req_tls\": %.2f}",
        ratio, off->server_cpu_us_per_req, on->server_cpu_us_per_req,
        off->client_cpu_us_per_req, on->client_cpu_us_per_req);
    return rc;
}

int bench_run_scenario(bench_app *app, const char *name)
{
    struct {
        const char *name;
        int (*fn)(bench_app *);
    } const all[] = {
        {"point", sc_point},
        {"cart", sc_cart},
        {"reserve", sc_reserve},
        {"peak", sc_peak},
        {"ingest", sc_ingest},
        {"restart", sc_restart},
        {"memory", sc_memory},
        {"tls", sc_tls},
        {"import", bench_scenario_import},
    };
    int rc = 0;
    bool quick = strcmp(name, "quick") == 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        /* tls makes certificates and two more atpds, import writes two
         * large files: asked for by name */
        if (quick ? all[i].fn == sc_tls || all[i].fn == bench_scenario_import
                  : strcmp(name, all[i].name) != 0)
            continue;
        if (!app->a.quiet)
            fprintf(stderr, "== %s ==\n", all[i].name);
        if (all[i].fn(app) != 0) {
            fprintf(stderr, "atp-bench: scenario %s failed\n", all[i].name);
            rc = 1;
        }
    }
    return rc;
}
