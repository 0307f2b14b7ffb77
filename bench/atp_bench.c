/*
 * atp_bench.c - atp-bench: peak-load benchmark of atpd, side by side with
 * the transport floor (an nng echo server) and Redis 7 + Lua, in one run,
 * with the same clients on the same machine. This file: the command line,
 * the processes (atpd, echo, redis-server: started on free loopback ports
 * in a temporary directory, stopped by pid), preloading stock, the report.
 * The scenarios are in bench_scenarios.c; docs/PERFORMANCE.md tells how to
 * read the results.
 *
 * Main thread; the load runner and the feed publisher bring their own.
 * Exit codes: 0 done, 1 a scenario failed, 2 bad arguments, 3 cannot start
 * or reach atpd.
 */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include "atp_bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atp/wire.h"
#include "bench_nng.h"
#ifdef ATP_BENCH_HAVE_CURL
#include "bench_http.h"
#endif
#include "common/clock.h"
#include "formula/rules.h"

#ifndef ATP_BENCH_MSGPACK_VERSION
#define ATP_BENCH_MSGPACK_VERSION "?"
#endif

static bench_app *bench_cleanup_app;

static void bench_usage(FILE *f)
{
    fprintf(
        f,
        "usage: atp-bench [--scenario NAME] [options]\n"
        "\n"
        "Peak-load benchmark of atpd over nng REQ, side by side with the "
        "transport\n"
        "floor (an nng REP echo server) and Redis 7 + Lua, same clients, same "
        "run.\n"
        "\n"
        "scenarios (--scenario, default quick):\n"
        "  point    single-line ATP          cart     multi-line ATP (real "
        "basket sizes)\n"
        "  reserve  durable reservations, single-line and carts: reserve, then "
        "commit,\n"
        "           release or let expire\n"
        "  ingest   source feed at maximum rate: events/s applied, loss "
        "accounting\n"
        "  peak     ATP at a fixed rate while ingesting, then a flash sale on "
        "hot SKUs\n"
        "  restart  time until `status` answers ready, for N stored "
        "reservations\n"
        "  memory   RSS per SKU-location position\n"
        "  tls      single-line ATP over tcp:// and over tls+tcp:// (mutual "
        "TLS,\n"
        "           throwaway certificates made with openssl): ops/s ratio, "
        "CPU/request\n"
        "           (not part of quick)\n"
        "  quick    all of them, short (what `make bench` runs)\n"
        "\n"
        "target:\n"
        "  --atpd PATH           start this atpd (default: the one next to "
        "atp-bench)\n"
        "  --config FILE         atpd's configuration (default: a generated "
        "one)\n"
        "  --endpoint URL        use a running atpd instead (needs --config "
        "for feeds);\n"
        "                        tls+tcp:// needs --ca (and --cert/--key when "
        "atpd\n"
        "                        verifies clients)\n"
        "  --token T             atpd's client token (default: $ATP_TOKEN), "
        "sent with\n"
        "                        every request: measures the cost of "
        "checking it\n"
        "  --ingest-endpoint URL its source-feed endpoint (default: from "
        "--config)\n"
        "  --echo PATH           atp-bench-echo (default: next to atp-bench)\n"
        "  --redis-server PATH   default: redis-server from PATH\n"
        "  --no-echo, --no-redis skip a baseline\n"
        "  --http                also atpd over HTTP (atpd --http-listen) and "
        "the\n"
        "                        HTTP floor (libmicrohttpd, no work), over "
        "libcurl\n"
        "  --http-endpoint URL   atpd's HTTP API at URL (http://host:port) "
        "instead of\n"
        "                        the one atp-bench starts (implies --http)\n"
        "  --no-nng              not atpd over nng (nor the echo floor)\n"
        "  --wrk                 closed loop, with --http: also atpd over HTTP "
        "and the\n"
        "                        HTTP floor driven by wrk (a cheaper client): "
        "point,\n"
        "                        and reserve with --reserve-mix 0,0,100\n"
        "  --http-floor PATH     atp-bench-http-floor (default: next to "
        "atp-bench)\n"
        "  --http-threads N      the floor's server threads (default: atpd's\n"
        "                        service.http_threads)\n"
        "load:\n"
        "  --rate N              open loop: N requests/s, latency from the "
        "intended\n"
        "                        send time; without it (or 0): closed loop\n"
        "  --clients N           requests in flight at most (default 32)\n"
        "  --conns N             connections (default 4)\n"
        "  --client sp|nng       REQ client: sp (default for tcp://, one epoll "
        "thread\n"
        "                        speaking nng's wire protocol) or nng "
        "(nng REQ\n"
        "                        contexts: 1.5-2x the client CPU per request)\n"
        "  --rt                  pace open-loop sends at SCHED_FIFO 1 (needs "
        "root):\n"
        "                        on time on a busy machine, but more client "
        "CPU\n"
        "  --sched batch|normal  servers' CPU scheduling (default normal): the\n"
        "                        generated atpd config's service.scheduling,\n"
        "                        and SCHED_BATCH for the echo and Redis servers\n"
        "                        when batch (with --config: the file decides)\n"
        "  --repeat N            run atpd and its baselines N times, "
        "interleaved;\n"
        "                        ops/s = median, ratio = median of per-repeat "
        "ratios\n"
        "  --duration S          seconds per run, warm-up included "
        "(default 10)\n"
        "  --warmup S            the first S seconds of each run, not "
        "measured\n"
        "                        (default 1)\n"
        "  --skus N              SKUs (default 100000)    --stock N  units per "
        "location\n"
        "  --channel ID          channel of every request (default: first "
        "configured)\n"
        "  --ingest-rate N       background ingest events/s during point/cart\n"
        "  --peak-rate N         peak: requests/s (default 10000)\n"
        "  --peak-ingest-rate N  peak: ingest events/s (default 100000)\n"
        "  --hot N               peak: flash-sale SKUs (default 5)\n"
        "  --hot-stock N         peak: their units per location (default 50)\n"
        "  --batch N             events per source message (default 1000)\n"
        "  --window N            feed flow control: messages in flight "
        "(default 2048,\n"
        "                        0: none, drops then show up as gaps)\n"
        "  --reservations N      restart: reservations stored first (default "
        "100000)\n"
        "  --restart-positions N restart: positions loaded first (default "
        "1000000)\n"
        "  --positions N         memory: positions loaded (default 10000000)\n"
        "  --seed N              same seed, same requests\n"
        "  --reserve-mix C,R,E   reserve: after a grant, commit C %%, release "
        "R %%,\n"
        "                        let E %% expire (1 s TTL); default 60,30,10; "
        "0,0,100:\n"
        "                        reserve only\n"
        "replay:\n"
        "  --replay FILE...      order-history CSV(s): carts / reservations in "
        "arrival\n"
        "                        order; cancellations (InvoiceNo C...) "
        "release\n"
        "  --speedup X           time compression (default: the file fits "
        "--duration;\n"
        "                        orders that fall in the warm-up are sent, "
        "not measured)\n"
        "  --replay-rows N       read at most N rows\n"
        "  --csv-invoice COL --csv-sku COL --csv-qty COL --csv-date COL\n"
        "  --csv-country COL --csv-customer COL   header names or 1-based "
        "numbers\n"
        "  --csv-sep C --csv-cancel-prefix P      (defaults: UCI Online "
        "Retail)\n"
        "output:\n"
        "  --json FILE           machine-readable report ('-': stdout)\n"
        "  --plot DIR            latency-over-time and throughput PNGs "
        "(gnuplot)\n"
        "  --tmpdir DIR          where data directories go (default /tmp)\n"
        "  --keep                keep the temporary directory\n"
        "  --quiet               no progress lines\n"
        "  --tiny                smallest scale (CI smoke test)\n"
        "  --help\n"
        "  --version\n");
}

__attribute__((format(printf, 1, 2))) static int bench_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "atp-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(atp-bench --help lists the options)\n");
    return 2;
}

static bool bench_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end); /* accepts 1e6 */
    if (errno || end == s || *end != '\0' || v < 0 || v > 1e18 || v != floor(v))
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool bench_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0) || v > 1e12)
        return false;
    *out = v;
    return true;
}

/* "C,R,E": commit, release and expire percentages that add up to 100. */
static bool bench_parse_mix(const char *s, int *commit, int *release)
{
    unsigned c, r, e;
    int end = 0;
    if (sscanf(s, "%u,%u,%u%n", &c, &r, &e, &end) != 3 || s[end] != '\0' ||
        c > 100 || r > 100 || e > 100 || c + r + e != 100)
        return false;
    *commit = (int)c;
    *release = (int)r;
    return true;
}

static int bench_parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){
        .scenario = "quick",
        .clients = 32,
        .conns = 4,
        .repeat = 1,
        .duration = -1,
        .warmup = -1,
        .drain = 10,
        .skus = 0,
        .hot = 5,
        .batch = 1000,
        .window = 2048,
        .stock = -1,
        .hot_stock = 50,
        .peak_ingest_rate = -1,
        .peak_rate = -1,
        .reservations = 0,
        .positions = 0,
        .restart_positions = 0,
        .seed = 42,
        .timeout_ms = 10000,
        .token = client_token_env(), /* --token overrides it */
        .mix_commit = 60,
        .mix_release = 30,
    };
    bench_replay_cols_default(&a->cols);
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            bench_usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--version") == 0) {
            printf("atp-bench %s (wire protocol %d)\n", ATP_VERSION,
                   ATP_WIRE_VERSION);
            return 0;
        }
        bool *flag = strcmp(opt, "--keep") == 0       ? &a->keep
                     : strcmp(opt, "--quiet") == 0    ? &a->quiet
                     : strcmp(opt, "--tiny") == 0     ? &a->tiny
                     : strcmp(opt, "--no-echo") == 0  ? &a->no_echo
                     : strcmp(opt, "--no-redis") == 0 ? &a->no_redis
                     : strcmp(opt, "--rt") == 0       ? &a->rt
                     : strcmp(opt, "--http") == 0     ? &a->http
                     : strcmp(opt, "--no-nng") == 0   ? &a->no_nng
                     : strcmp(opt, "--wrk") == 0      ? &a->wrk
                                                      : NULL;
        if (flag != NULL) {
            *flag = true;
            continue;
        }
        int tls = tools_tls_arg("atp-bench", argc, argv, &i, &a->tls);
        if (tls < 0)
            return 2;
        if (tls > 0)
            continue;
        if (strcmp(opt, "--replay") == 0) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                if (a->n_replay >= BENCH_MAX_REPLAY_FILES)
                    return bench_usage_error(
                        "too many --replay files (at most %s)", "1024");
                a->replay[a->n_replay++] = argv[++i];
            }
            if (a->n_replay == 0)
                return bench_usage_error("%s needs at least one file", opt);
            continue;
        }
        if (i + 1 >= argc)
            return bench_usage_error("unknown option or missing value: %s",
                                     opt);
        const char *v = argv[++i];
        uint64_t u = 0;
        bool okv = true;
        const char *want = NULL; /* NULL: a number, in this option's range */
        if (strcmp(opt, "--scenario") == 0)
            a->scenario = v;
        else if (strcmp(opt, "--endpoint") == 0)
            a->endpoint = v;
        else if (strcmp(opt, "--token") == 0)
            a->token = v;
        else if (strcmp(opt, "--ingest-endpoint") == 0)
            a->ingest_endpoint = v;
        else if (strcmp(opt, "--atpd") == 0)
            a->atpd = v;
        else if (strcmp(opt, "--config") == 0)
            a->config = v;
        else if (strcmp(opt, "--echo") == 0)
            a->echo = v;
        else if (strcmp(opt, "--http-endpoint") == 0)
            a->http_endpoint = v, a->http = true;
        else if (strcmp(opt, "--http-floor") == 0)
            a->http_floor = v;
        else if (strcmp(opt, "--http-threads") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 64,
            a->http_threads = (unsigned)u;
        else if (strcmp(opt, "--redis-server") == 0)
            a->redis_server = v;
        else if (strcmp(opt, "--bench-engine") == 0)
            a->bench_engine = v;
        else if (strcmp(opt, "--json") == 0)
            a->json = v;
        else if (strcmp(opt, "--plot") == 0)
            a->plot = v;
        else if (strcmp(opt, "--tmpdir") == 0)
            a->tmpdir = v;
        else if (strcmp(opt, "--channel") == 0)
            a->channel = v;
        else if (strcmp(opt, "--csv-invoice") == 0)
            a->cols.invoice = v;
        else if (strcmp(opt, "--csv-sku") == 0)
            a->cols.sku = v;
        else if (strcmp(opt, "--csv-qty") == 0)
            a->cols.qty = v;
        else if (strcmp(opt, "--csv-date") == 0)
            a->cols.date = v;
        else if (strcmp(opt, "--csv-country") == 0)
            a->cols.country = *v ? v : NULL;
        else if (strcmp(opt, "--csv-customer") == 0)
            a->cols.customer = *v ? v : NULL;
        else if (strcmp(opt, "--csv-cancel-prefix") == 0)
            a->cols.cancel_prefix = v;
        else if (strcmp(opt, "--csv-sep") == 0) {
            okv = strlen(v) == 1 || strcmp(v, "\\t") == 0;
            want = "one character, or \\t for a tab";
            a->cols.sep = strcmp(v, "\\t") == 0 ? '\t' : v[0];
        } else if (strcmp(opt, "--rate") == 0)
            okv = bench_parse_double(v, &a->rate);
        else if (strcmp(opt, "--duration") == 0)
            okv = bench_parse_double(v, &a->duration);
        else if (strcmp(opt, "--warmup") == 0)
            okv = bench_parse_double(v, &a->warmup);
        else if (strcmp(opt, "--speedup") == 0)
            okv = bench_parse_double(v, &a->speedup) && a->speedup > 0;
        else if (strcmp(opt, "--ingest-rate") == 0)
            okv = bench_parse_double(v, &a->ingest_rate);
        else if (strcmp(opt, "--peak-ingest-rate") == 0)
            okv = bench_parse_double(v, &a->peak_ingest_rate);
        else if (strcmp(opt, "--peak-rate") == 0)
            okv = bench_parse_double(v, &a->peak_rate) && a->peak_rate > 0;
        else if (strcmp(opt, "--clients") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 4096,
            a->clients = (unsigned)u;
        else if (strcmp(opt, "--conns") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 256,
            a->conns = (unsigned)u;
        else if (strcmp(opt, "--repeat") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 16,
            a->repeat = (unsigned)u;
        else if (strcmp(opt, "--skus") == 0)
            okv = bench_parse_u64(v, &u) && u >= 10 && u <= 100000000,
            a->skus = (uint32_t)u;
        else if (strcmp(opt, "--hot") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 1000,
            a->hot = (uint32_t)u;
        else if (strcmp(opt, "--batch") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1 && u <= 100000,
            a->batch = (uint32_t)u;
        else if (strcmp(opt, "--window") == 0)
            okv = bench_parse_u64(v, &u) && u <= 1000000,
            a->window = (uint32_t)u, a->window_set = true;
        else if (strcmp(opt, "--stock") == 0)
            okv = bench_parse_u64(v, &u) && u <= 1000000000000ULL,
            a->stock = (int64_t)u;
        else if (strcmp(opt, "--hot-stock") == 0)
            okv = bench_parse_u64(v, &u) && u <= 1000000000000ULL,
            a->hot_stock = (int64_t)u;
        else if (strcmp(opt, "--reservations") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1, a->reservations = u;
        else if (strcmp(opt, "--positions") == 0)
            okv = bench_parse_u64(v, &u) && u >= 1, a->positions = u;
        else if (strcmp(opt, "--restart-positions") == 0)
            okv = bench_parse_u64(v, &u), a->restart_positions = u;
        else if (strcmp(opt, "--replay-rows") == 0)
            okv = bench_parse_u64(v, &u), a->replay_rows = u;
        else if (strcmp(opt, "--seed") == 0)
            okv = bench_parse_u64(v, &u), a->seed = u;
        else if (strcmp(opt, "--sched") == 0) {
            okv = strcmp(v, "batch") == 0 || strcmp(v, "normal") == 0;
            want = "batch or normal";
            a->sched_batch = strcmp(v, "batch") == 0;
        } else if (strcmp(opt, "--client") == 0) {
            okv = strcmp(v, "sp") == 0 || strcmp(v, "nng") == 0;
            want = "sp or nng";
            a->client_nng = strcmp(v, "nng") == 0;
        } else if (strcmp(opt, "--reserve-mix") == 0) {
            if (!bench_parse_mix(v, &a->mix_commit, &a->mix_release))
                return bench_usage_error(
                    "bad value '%s' for --reserve-mix: expected C,R,E, "
                    "three percentages (commit, release, expire) that sum "
                    "to 100, e.g. 60,30,10", v);
        }
        else if (strcmp(opt, "--timeout-ms") == 0)
            okv = bench_parse_u64(v, &u) && u >= 100, a->timeout_ms = (int)u;
        else
            return bench_usage_error("unknown option '%s'", opt);
        if (!okv && want != NULL)
            return bench_usage_error("bad value '%s' for %s: expected %s", v,
                                     opt, want);
        if (!okv) {
            double d;
            return bench_usage_error(
                "bad value '%s' for %s: %s", v, opt,
                bench_parse_double(v, &d) ? "out of range for this option"
                                          : "expected a number >= 0 (1e6 works)");
        }
    }
    static const char *const names[] = {"point", "cart",    "reserve", "ingest",
                                        "peak",  "restart", "memory",  "quick",
                                        "tls"};
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= strcmp(a->scenario, names[i]) == 0;
    if (!known)
        return bench_usage_error("unknown scenario '%s': point, cart, reserve, "
                                 "ingest, peak, restart, memory, tls or quick",
                                 a->scenario);
    if (a->endpoint && a->atpd)
        return bench_usage_error("give --endpoint or --atpd, not both");
    bool quick = strcmp(a->scenario, "quick") == 0;
    bool small = quick || a->tiny;
    /* Defaults that depend on the scale. */
    if (a->duration < 0)
        a->duration = a->tiny ? 0.6 : quick ? 2.0 : 10.0;
    if (a->warmup < 0)
        a->warmup = a->tiny ? 0.1 : quick ? 0.4 : 1.0;
    if (a->warmup >= a->duration)
        return bench_usage_error(
            "--warmup (%g s) must be shorter than --duration (%g s): the "
            "warm-up is the start of each run; give a smaller --warmup",
            a->warmup, a->duration);
    if (a->skus == 0)
        a->skus = a->tiny ? 1000 : small ? 20000 : 100000;
    if (a->stock < 0)
        a->stock = a->n_replay > 0 ? 1000000 : 1000;
    if (a->peak_ingest_rate < 0)
        a->peak_ingest_rate = a->tiny ? 5000 : small ? 20000 : 100000;
    if (a->peak_rate < 0)
        a->peak_rate = a->tiny ? 500 : small ? 2000 : 10000;
    if (a->reservations == 0)
        a->reservations = a->tiny ? 200 : small ? 5000 : 100000;
    if (a->positions == 0)
        a->positions = a->tiny ? 20000 : small ? 1000000 : 10000000;
    if (a->restart_positions == 0)
        a->restart_positions = a->tiny ? 10000 : small ? 100000 : 1000000;
    if (a->hot >= a->skus)
        return bench_usage_error("--hot (%u) must be below --skus (%u)", a->hot, a->skus);
    char why[128];
    if (!tools_tls_check(&a->tls, why, sizeof why))
        return bench_usage_error("%s", why);
    tools_tls_set(&a->tls);
    return -1;
}

/* ---- configuration ---------------------------------------------------------
 */

static int bench_write_config(bench_app *app)
{
    snprintf(app->cfg_path, sizeof app->cfg_path, "%s/atpd.yaml", app->tmp);
    FILE *f = fopen(app->cfg_path, "w");
    if (f == NULL)
        return -1;
    /* The listen URLs are overridden on atpd's command line; the control
     * (resync) socket, which nothing of the bench dials, listens on port 0:
     * the system picks a free one. */
    fprintf(
        f,
        "# generated by atp-bench: 3 regions, 12 locations, one source with\n"
        "# authority over everything, a global and a regional buffer rule.\n"
        "service:\n  log_level: warn\n  query_contexts: 64\n"
        "  scheduling: %s\n  control_listen: tcp://127.0.0.1:0\n"
        "regions: [{id: r0}, {id: r1}, {id: r2}]\nlocations:\n",
        app->a.sched_batch ? "batch" : "normal");
    for (int i = 0; i < 12; i++)
        fprintf(f, "  - {id: L%d, region: r%d, type: dc}\n", i, i / 4);
    /* resync: false - the bench's publisher does not replay: a hole is
     * reported as a gap (missed) after the reorder window, which is what
     * the loss accounting checks. */
    fprintf(
        f,
        "channels: [web]\nsources:\n  - id: bench\n    heartbeat_timeout: 1d\n"
        "    resync: false\n    authority:\n      - locations: [");
    for (int i = 0; i < 12; i++)
        fprintf(f, "%sL%d", i ? ", " : "", i);
    fprintf(f, "]\nbuffers:\n  - {units: 1}\n  - {region: r2, percent: 5}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static int bench_load_config(bench_app *app)
{
    const char *path = app->a.config ? app->a.config : app->cfg_path;
    if (app->a.config)
        snprintf(app->cfg_path, sizeof app->cfg_path, "%s", app->a.config);
    config_diags d = {0};
    atp_err e = config_load_file(path, &app->cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s:%d: %s\n", path, d.items[i].line,
                d.items[i].message);
    config_diags_fini(&d);
    if (e != ATP_OK) {
        fprintf(stderr, "atp-bench: cannot use the configuration %s\n", path);
        return -1;
    }
    app->cfg_loaded = true;
    config *c = &app->cfg;
    /* The baselines run under the scheduling atpd's configuration asks for. */
    app->a.sched_batch = c->service.sched_batch;
    /* The source with the most on_hand locations feeds the benchmark. */
    size_t best = 0, best_n = 0;
    for (size_t s = 0; s < c->n_sources; s++) {
        size_t n = 0;
        for (size_t k = 0; k < c->sources[s].n_authority; k++)
            n += c->sources[s].authority[k].bucket == ATP_BUCKET_ON_HAND;
        if (n > best_n) {
            best = s;
            best_n = n;
        }
    }
    if (best_n == 0) {
        fprintf(
            stderr,
            "atp-bench: %s has no source with on_hand authority: nothing to "
            "stock the SKUs with\n",
            path);
        return -1;
    }
    app->source = c->sources[best].id;
    app->src_locs = calloc(best_n, sizeof *app->src_locs);
    app->locs_in_region = calloc(c->n_regions, sizeof *app->locs_in_region);
    if (app->src_locs == NULL || app->locs_in_region == NULL)
        return -1;
    for (size_t k = 0; k < c->sources[best].n_authority; k++) {
        const config_authority *au = &c->sources[best].authority[k];
        if (au->bucket != ATP_BUCKET_ON_HAND)
            continue;
        app->src_locs[app->n_src_locs++] = c->locations[au->location].id;
        app->locs_in_region[c->locations[au->location].region]++;
    }
    /* The channel of every request. */
    int ch = app->a.channel ? config_channel_find(c, app->a.channel,
                                                  strlen(app->a.channel))
                            : (c->n_channels > 1 ? 1 : 0);
    if (ch < 0) {
        fprintf(stderr, "atp-bench: unknown channel '%s'\n", app->a.channel);
        return -1;
    }
    app->channel = (uint32_t)ch;
    if (rules_alloc((uint32_t)c->n_regions, (uint32_t)c->n_channels,
                    &app->rules) != ATP_OK)
        return -1;
    for (size_t i = 0; i < c->n_buffers; i++) {
        const config_buffer_rule *b = &c->buffers[i];
        rules_add(app->rules, b->sku, b->sku ? strlen(b->sku) : 0, b->region,
                  b->channel, b->units, b->percent_bp);
    }
    return 0;
}

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
            codec_val_uint(codec_val_get(v, "engine_memory_bytes"), &st->memory_bytes);
            codec_val_uint(
                codec_val_get(codec_val_get(v, "engine"), "events_applied"),
                &st->events_applied);
            const codec_val *r = codec_val_get(v, "reservations");
            codec_val_uint(codec_val_get(r, "open"), &st->resv_open);
            codec_val_uint(codec_val_get(r, "granted"), &st->resv_granted);
        }
    }
    codec_arena_free(a);
    codec_writer_free(w);
    return st->ok;
}

/* bench_ready_url copies the string value of "key" in atpd's ready file
 * text (docs/CONFIG.md: one JSON object, URLs without quotes). */
static bool bench_ready_url(const char *text, const char *key, char *out, size_t n)
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
static bool bench_await_ready(bench_app *app, const char *path, int64_t deadline_ns)
{
    while (clock_mono_ns() < deadline_ns && bench_proc_alive(&app->atpd)) {
        char text[2048];
        FILE *f = fopen(path, "r");
        size_t n = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        text[n] = '\0';
        if (n > 0)
            return bench_ready_url(text, "query", app->query_url, sizeof app->query_url) &&
                   bench_ready_url(text, "ingest", app->ingest_url,
                                   sizeof app->ingest_url) &&
                   bench_ready_url(text, "feed", app->feed_url, sizeof app->feed_url) &&
                   (!app->a.http || app->a.http_endpoint != NULL ||
                    bench_ready_url(text, "http", app->http_url, sizeof app->http_url));
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
    char *argv[] = {(char *)app->a.atpd, "--config",
                    app->tls_on ? app->tls_cfg_path : app->cfg_path,
                    "--query-listen",
                    app->tls_on ? tls_any : any,
                    "--ingest-listen",
                    any,                 "--feed-listen",
                    any,                 "--data-dir",
                    (char *)data_dir,    "--log-level",
                    (char *)level,       "--ready-file",
                    ready,
                    app->a.http && app->a.http_endpoint == NULL
                        ? (char *)"--http-listen"
                        : NULL,
                    http_any,            NULL};
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
    client_close(app->ctl);
    app->ctl = NULL;
    client_opts co = {.url = app->query_url, .timeout_ms = 10000, .token = app->a.token};
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
    char *argv[] = {(char *)app->a.http_floor, "--port", "0", "--threads",
                    threads, NULL};
    if (!bench_file_exists(app->a.http_floor) ||
        bench_proc_spawn(&app->http_floor, "http-floor", argv, log,
                         app->a.sched_batch) != 0) {
        bench_report_warn(app->rep,
                          "cannot start the HTTP floor %s: skipped",
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
        bench_proc_spawn(&app->echo, "echo", argv, log, app->a.sched_batch) != 0) {
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
    if (bench_proc_spawn(&app->redis_proc, "redis", argv, log, app->a.sched_batch) != 0) {
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

/* ---- report header ---------------------------------------------------------
 */

static char *bench_header(bench_app *app, const char *started, double elapsed)
{
    const bench_args *a = &app->a;
    char cpu[300], kern[300], host[200], cfg[1200], scen[64], src[200],
        git[64] = "";
#ifdef ATP_BENCH_SOURCE_DIR
    bench_cmd_output("git -C '" ATP_BENCH_SOURCE_DIR
                     "' rev-parse --short HEAD 2>/dev/null",
                     git, sizeof git);
#endif
    bench_json_str(cpu, sizeof cpu, app->machine.cpu);
    bench_json_str(kern, sizeof kern, app->machine.kernel);
    bench_json_str(host, sizeof host, app->machine.hostname);
    char wake_same[32] = "null", wake_cross[32] = "null";
    if (app->wake.same_cpu_us > 0)
        snprintf(wake_same, sizeof wake_same, "%.1f", app->wake.same_cpu_us);
    if (app->wake.cross_cpu_us > 0)
        snprintf(wake_cross, sizeof wake_cross, "%.1f", app->wake.cross_cpu_us);
    bench_json_str(cfg, sizeof cfg,
                   app->a.config ? app->a.config : "(generated)");
    bench_json_str(scen, sizeof scen, a->scenario);
    bench_json_str(src, sizeof src, app->source ? app->source : "");
    char *replay = NULL;
    size_t rl = 0;
    FILE *rf = open_memstream(&replay, &rl);
    fprintf(rf, "[");
    for (int i = 0; i < a->n_replay; i++) {
        char f[1100];
        bench_json_str(f, sizeof f, a->replay[i]);
        fprintf(rf, "%s%s", i ? ", " : "", f);
    }
    fprintf(rf, "]");
    fclose(rf);
    char *h = NULL;
    if (asprintf(
            &h,
            "  \"tool\": \"atp-bench\", \"version\": \"%s\", \"scenario\": "
            "%s,\n"
            "  \"started_utc\": \"%s\", \"elapsed_s\": %.1f,\n"
            "  \"machine\": {\"nproc\": %ld, \"cpu_model\": %s, \"kernel\": "
            "%s, "
            "\"mem_total_kb\": %ld, \"hostname\": %s, \"loadavg_start\": "
            "\"%s\", "
            "\"loadavg_end\": \"%s\", \"wake_rtt_us\": {\"same_cpu\": %s, "
            "\"cross_cpu\": %s}},\n"
            "  \"versions\": {\"atp_bench\": \"%s\", \"atpd\": \"%s\", "
            "\"git\": \"%s\", "
            "\"nng\": \"%s\", \"msgpack\": \"%s\", \"redis\": \"%s\", "
            "\"hiredis\": %s, "
            "\"compiler\": \"%s\"},\n"
            "  \"parameters\": {\"config\": %s, \"source\": %s, \"endpoint\": "
            "%s, "
            "\"rate\": %g, \"clients\": %u, \"conns\": %u, \"repeat\": %u, "
            "\"duration_s\": %g, \"warmup_s\": %g, \"skus\": %u, \"regions\": "
            "%u, "
            "\"stock\": %lld, \"hot\": %u, \"hot_stock\": %lld, \"batch\": %u, "
            "\"window\": %u, \"ingest_rate\": %g, \"peak_rate\": %g, "
            "\"peak_ingest_rate\": %g, \"reservations\": %llu, \"positions\": "
            "%llu, "
            "\"restart_positions\": %llu, \"seed\": %llu, \"tiny\": %s, "
            "\"basket\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, "
            "\"source\": \"%s\"}, "
            "\"reserve_mix\": [%d, %d, %d], "
            "\"replay\": %s, \"speedup\": %g, \"durability\": \"%s\", "
            "\"scheduling\": \"%s\"}",
            ATP_BENCH_VERSION, scen, started, elapsed, app->machine.nproc, cpu,
            kern, app->machine.mem_kb, host, app->loadavg_start,
            app->loadavg_end, wake_same, wake_cross, ATP_BENCH_VERSION, app->atpd_version, git,
            bench_nng_version(), ATP_BENCH_MSGPACK_VERSION, app->redis_version,
#ifdef ATP_BENCH_HIREDIS_VERSION
            "\"" ATP_BENCH_HIREDIS_VERSION "\"",
#else
            "null",
#endif
            __VERSION__, cfg, src, a->endpoint ? "true" : "false", a->rate,
            a->clients, a->conns, a->repeat, a->duration, a->warmup,
            app->work.n_skus, app->work.n_regions, (long long)a->stock, a->hot,
            (long long)a->hot_stock, a->batch, a->window, a->ingest_rate,
            a->peak_rate, a->peak_ingest_rate,
            (unsigned long long)a->reservations,
            (unsigned long long)a->positions,
            (unsigned long long)a->restart_positions,
            (unsigned long long)a->seed, a->tiny ? "true" : "false",
            bench_basket_quantile(&app->basket, 0.5),
            bench_basket_quantile(&app->basket, 0.9),
            bench_basket_quantile(&app->basket, 0.99),
            app->have_replay ? "replay" : "UCI Online Retail figures",
            a->mix_commit, a->mix_release, 100 - a->mix_commit - a->mix_release,
            replay ? replay : "[]", a->speedup,
            app->cfg.reservations.sync ? "sync" : "nosync",
            a->sched_batch ? "batch" : "normal") < 0)
        h = NULL;
    free(replay);
    return h;
}

/* ---- main
 * -------------------------------------------------------------------- */

static void bench_cleanup(void)
{
    bench_app *app = bench_cleanup_app;
    if (app == NULL)
        return;
    bench_proc_kill_all();
    if (app->tmp != NULL && !app->a.keep)
        bench_rm_rf(app->tmp);
}

static void bench_default_path(char *buf, size_t len, const char *dir,
                               const char *rel)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, rel) >= len)
        buf[0] = '\0';
}

int main(int argc, char **argv)
{
    static bench_app app_storage;
    bench_app *app = &app_storage;
    int rc = bench_parse_args(argc, argv, &app->a);
    if (rc >= 0)
        return rc;
    setvbuf(stderr, NULL, _IOLBF, 0);
    bench_proc_install_signals();
    bench_cleanup_app = app;
    atexit(bench_cleanup);
    bench_machine_get(&app->machine);
    /* Before any server starts: what a hand-off costs on this machine. */
    if (!bench_wake_measure(20000, 0.5, &app->wake))
        app->wake = (bench_wake){-1, -1};
    bench_cmd_output("cut -d' ' -f1-3 /proc/loadavg", app->loadavg_start,
                     sizeof app->loadavg_start);
    app->rep = bench_report_alloc();
    time_t now = time(NULL);
    char started[32];
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int64_t t_start = clock_mono_ns();

    /* Paths of the programs we run. */
    static char atpd_path[1200], echo_path[1200], engine_path[1200],
        floor_path[1200];
    if (!bench_exe_dir(app->exe_dir, sizeof app->exe_dir))
        snprintf(app->exe_dir, sizeof app->exe_dir, ".");
    if (app->a.atpd == NULL && app->a.endpoint == NULL) {
        bench_default_path(atpd_path, sizeof atpd_path, app->exe_dir,
                           "../atpd");
        if (!bench_file_exists(atpd_path))
            bench_default_path(atpd_path, sizeof atpd_path, app->exe_dir,
                               "atpd");
        app->a.atpd = atpd_path;
    }
    if (app->a.echo == NULL) {
        bench_default_path(echo_path, sizeof echo_path, app->exe_dir,
                           "atp-bench-echo");
        app->a.echo = echo_path;
    }
    if (app->a.http_floor == NULL) {
        bench_default_path(floor_path, sizeof floor_path, app->exe_dir,
                           "atp-bench-http-floor");
        app->a.http_floor = floor_path;
    }
    if (app->a.bench_engine == NULL) {
        bench_default_path(engine_path, sizeof engine_path, app->exe_dir,
                           "bench_engine");
        app->a.bench_engine = engine_path;
    }
    if (app->a.atpd != NULL && !bench_file_exists(app->a.atpd)) {
        fprintf(
            stderr,
            "atp-bench: no atpd at %s (give --atpd PATH or --endpoint URL)\n",
            app->a.atpd);
        return 3;
    }
    app->tmp = bench_mkdtemp(app->a.tmpdir);
    if (app->tmp == NULL) {
        fprintf(stderr, "atp-bench: cannot create a temporary directory: %s\n",
                strerror(errno));
        return 1;
    }
    if (app->a.keep || !app->a.quiet)
        fprintf(stderr, "atp-bench: working directory %s%s\n", app->tmp,
                app->a.keep ? " (kept)" : "");
    if ((app->a.config == NULL && bench_write_config(app) != 0) ||
        bench_load_config(app) != 0)
        return 2;

    /* The workload: SKUs, regions, basket sizes, replay. */
    char **regions = calloc(app->cfg.n_regions, sizeof *regions);
    for (size_t i = 0; i < app->cfg.n_regions; i++)
        regions[i] = app->cfg.regions[i].id;
    if (!bench_work_init(&app->work, "SKU-", app->a.skus, regions,
                         (uint32_t)app->cfg.n_regions,
                         app->cfg.channels[app->channel])) {
        fprintf(stderr, "atp-bench: out of memory\n");
        return 1;
    }
    app->work.token = app->a.token;
    free(regions);
    snprintf(app->work.resv_prefix, sizeof app->work.resv_prefix,
             "bench-%lx-%d-", (unsigned long)now, (int)getpid());
    app->work.committed_ttl_ms = app->cfg.reservations.committed_ttl_ms;
    bench_basket_default(&app->basket);
    app->normal_hi = app->work.n_skus - app->a.hot;
    if (app->a.n_replay > 0) {
        char err[256];
        if (bench_replay_load(app->a.replay, app->a.n_replay, &app->a.cols,
                              (uint32_t)app->cfg.n_regions, app->a.replay_rows,
                              &app->replay, err, sizeof err) != 0) {
            fprintf(stderr, "atp-bench: replay: %s\n", err);
            return 2;
        }
        app->have_replay = true;
        bench_replay_basket(&app->replay, &app->basket);
        /* Replayed SKUs come first, then the synthetic hot ones. */
        uint32_t n = app->replay.n_skus + app->a.hot;
        char **names = calloc(n, sizeof *names);
        char(*hot)[32] = calloc(app->a.hot, sizeof *hot);
        for (uint32_t i = 0; i < app->replay.n_skus; i++)
            names[i] = app->replay.skus[i];
        for (uint32_t i = 0; i < app->a.hot; i++) {
            snprintf(hot[i], sizeof hot[i], "FLASH-%u", i);
            names[app->replay.n_skus + i] = hot[i];
        }
        bench_work_set_skus(&app->work, names, n);
        free(names);
        free(hot);
        app->normal_hi = app->replay.n_skus;
        if (!app->a.quiet)
            fprintf(
                stderr,
                "atp-bench: replay: %llu rows, %zu orders, %zu lines, %u SKUs, "
                "%llu rows skipped, cancellation lines %llu matched / %llu "
                "unmatched; "
                "basket p50 %.0f p90 %.0f p99 %.0f\n",
                (unsigned long long)app->replay.rows, app->replay.n_orders,
                app->replay.n_lines, app->replay.n_skus,
                (unsigned long long)app->replay.skipped_rows,
                (unsigned long long)app->replay.cancel_lines_matched,
                (unsigned long long)app->replay.cancel_lines_unmatched,
                bench_basket_quantile(&app->basket, 0.5),
                bench_basket_quantile(&app->basket, 0.9),
                bench_basket_quantile(&app->basket, 0.99));
    }

    /* atpd: ours, or the one at --endpoint. */
    if (app->a.http_endpoint != NULL)
        snprintf(app->http_url, sizeof app->http_url, "%s",
                 app->a.http_endpoint);
    if (app->a.endpoint != NULL) {
        snprintf(app->query_url, sizeof app->query_url, "%s", app->a.endpoint);
        snprintf(app->ingest_url, sizeof app->ingest_url, "%s",
                 app->a.ingest_endpoint ? app->a.ingest_endpoint
                                        : app->cfg.service.ingest_listen);
        client_opts co = {.url = app->query_url, .timeout_ms = 10000, .token = app->a.token};
        char err[256];
        bench_atpd_status st;
        if (client_open(&co, &app->ctl, err, sizeof err) != ATP_OK) {
            fprintf(stderr,
                    "atp-bench: cannot use --endpoint %s: %s\n(a URL like "
                    "tcp://127.0.0.1:7420; without --endpoint atp-bench "
                    "starts its own atpd)\n",
                    app->query_url, err);
            return 3;
        }
        if (!bench_status_read(app->ctl, &st)) {
            fprintf(stderr,
                    "atp-bench: no answer from atpd at %s within 10 s: is it "
                    "running there? (without --endpoint atp-bench starts its "
                    "own atpd)\n",
                    app->query_url);
            return 3;
        }
        snprintf(app->atpd_version, sizeof app->atpd_version, "%s", st.version);
    } else {
        char data[1100];
        snprintf(data, sizeof data, "%s/atpd-data", app->tmp);
        if (bench_start_atpd(app, data, "atpd.log", NULL) != 0)
            return 3;
    }

#ifdef ATP_BENCH_HAVE_CURL
    if (app->a.http)
        bench_report_section(
            app->rep, "http",
            "{\"libcurl\": \"%s\", \"floor_threads\": %u, \"wrk\": %s}",
            bench_http_version(),
            app->a.http_threads ? app->a.http_threads
                                : (unsigned)app->cfg.service.http_threads,
            app->a.wrk ? "true" : "false");
#endif
    rc = bench_run_scenario(app, app->a.scenario);

    bench_cmd_output("cut -d' ' -f1-3 /proc/loadavg", app->loadavg_end,
                     sizeof app->loadavg_end);
    bench_report_ratios(app->rep);
    /* With --json -, stdout carries the JSON alone: the table goes to
     * stderr. */
    FILE *out = app->a.json != NULL && strcmp(app->a.json, "-") == 0 ? stderr
                                                                      : stdout;
    bench_report_print(app->rep, out);
    if (!app->a.quiet || app->a.json == NULL) {
        fprintf(out,
                "machine: %ld CPUs (%s), load average %s at the start, %s at "
                "the end\n",
                app->machine.nproc, app->machine.cpu, app->loadavg_start,
                app->loadavg_end);
        if (app->wake.cross_cpu_us > 0)
            fprintf(out,
                    "thread hand-off round trip (2 wake-ups): %.1f us on one "
                    "CPU, %.1f us across CPUs\n",
                    app->wake.same_cpu_us, app->wake.cross_cpu_us);
        else if (app->wake.same_cpu_us > 0)
            fprintf(out,
                    "thread hand-off round trip (2 wake-ups): %.1f us on one "
                    "CPU (across CPUs: not measured, one CPU usable)\n",
                    app->wake.same_cpu_us);
    }
    char *hdr =
        bench_header(app, started, (double)(clock_mono_ns() - t_start) / 1e9);
    if (app->a.json != NULL) {
        if (hdr == NULL ||
            bench_report_write_json(app->rep, app->a.json, hdr) != 0) {
            fprintf(stderr, "atp-bench: cannot write %s\n", app->a.json);
            rc = 1;
        } else if (strcmp(app->a.json, "-") != 0 && !app->a.quiet) {
            fprintf(stderr, "atp-bench: report written to %s\n", app->a.json);
        }
    }
    free(hdr);
    if (app->a.plot != NULL) {
        int n = bench_report_plot(app->rep, app->a.plot);
        if (n < 0)
            fprintf(stderr, "atp-bench: gnuplot not found (apt-get install "
                            "gnuplot-nox): no "
                            "charts\n");
        else if (!app->a.quiet)
            fprintf(stderr, "atp-bench: %d charts in %s\n", n, app->a.plot);
    }
    /* Stop what we started, by pid. */
    client_close(app->ctl);
    app->ctl = NULL;
    bench_redis_close(app->redis);
    if (app->atpd.pid > 0)
        bench_proc_stop(&app->atpd, SIGTERM, 10000);
    if (app->echo.pid > 0)
        bench_proc_stop(&app->echo, SIGTERM, 5000);
    if (app->http_floor.pid > 0)
        bench_proc_stop(&app->http_floor, SIGTERM, 5000);
    if (app->redis_proc.pid > 0)
        bench_proc_stop(&app->redis_proc, SIGTERM, 5000);
    if (!app->a.quiet)
        fprintf(stderr, "atp-bench: done in %.1f s\n",
                (double)(clock_mono_ns() - t_start) / 1e9);
    bench_report_free(app->rep);
    if (app->have_replay)
        bench_replay_fini(&app->replay);
    bench_work_fini(&app->work);
    rules_free(app->rules);
    free(app->src_locs);
    free(app->locs_in_region);
    if (app->cfg_loaded)
        config_fini(&app->cfg);
    return rc;
}
