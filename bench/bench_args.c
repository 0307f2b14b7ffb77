/*
 * bench_args.c - atp-bench's command line (bench_args.h). Main thread.
 */
#define _GNU_SOURCE
#include "bench_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_args.h"

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
        "  import   atp-import of a generated X12 846 and CSV: lines/s end to "
        "end\n"
        "           (until atpd applied it) and parse-only, CPU per line (not "
        "part\n"
        "           of quick)\n"
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
        "  --bench-engine PATH   bench_engine, run by the ingest scenario "
        "(default:\n"
        "                        next to atp-bench)\n"
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
        "  --http-pipeline       with --wrk, point: wrk opens --conns "
        "connections and\n"
        "                        pipelines clients/conns requests on each, "
        "as the\n"
        "                        Redis and nng clients do (default: one "
        "request per\n"
        "                        connection, --clients connections)\n"
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
        "  --sched batch|normal  servers' CPU scheduling (default normal): "
        "the\n"
        "                        generated atpd config's service.scheduling,\n"
        "                        and SCHED_BATCH for the echo and Redis "
        "servers\n"
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
        "  --import-lines N      import: lines of the generated 846 and CSV "
        "(default\n"
        "                        1000000; tiny 20000)\n"
        "  --restarts N          restart: starts after SIGTERM (default 3; "
        "quick 1),\n"
        "                        then one after SIGKILL\n"
        "  --cold                restart: drop the page cache before each "
        "start "
        "(root)\n"
        "  --positions N         memory: positions loaded (default 10000000)\n"
        "  --seed N              same seed, same requests\n"
        "  --timeout-ms MS       one request's reply timeout (default 10000, "
        "at "
        "least 100)\n"
        "  --query-bundles      point: every SKU-i has a bundle KIT-SKU-i of\n"
        "                        SKU-i x1, SKU-(i+1) x2, SKU-(i+2) x1, and "
        "the\n"
        "                        nng ATP requests ask the bundles (--skus at\n"
        "                        most 100000)\n"
        "  --define-bundles     point: those bundles defined, the requests\n"
        "                        asking plain SKUs (what bundles cost others)\n"
        "  --query-promise      point: the nng ATP requests ask `promise`\n"
        "                        (qty 1, date_ms a week ahead) instead of atp\n"
        "  --lots N             the preload adds N inbound lots to every\n"
        "                        (sku, location), 1..N weeks ahead (0..8)\n"
        "  --cluster N          atpd as a cluster (docs/CLUSTER.md): N\n"
        "                        nats-servers (JetStream, replicas N) and N\n"
        "                        atpd nodes of one partition; requests go to\n"
        "                        the owner; the report adds the standbys' and\n"
        "                        NATS's CPU per request (1..5; 0: one atpd\n"
        "                        without NATS, the default)\n"
        "  --nats-server PATH   default: nats-server from PATH\n"
        "  --reserve-fill M     reserve: plain (default), partial (partial: "
        "true)\n"
        "                        or split (each line [sku, [its region, the "
        "next],\n"
        "                        qty]) or backorder (backorder: true, every\n"
        "                        row with a budget)\n"
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

__attribute__((format(printf, 1, 2))) static int
bench_usage_error(const char *fmt, ...)
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

enum {
    BO_SCENARIO = TOOL_ARGS_OWN,
    BO_ENDPOINT,
    BO_TOKEN,
    BO_INGEST_ENDPOINT,
    BO_ATPD,
    BO_CONFIG,
    BO_ECHO,
    BO_HTTP_ENDPOINT,
    BO_HTTP_FLOOR,
    BO_REDIS_SERVER,
    BO_BENCH_ENGINE,
    BO_JSON,
    BO_PLOT,
    BO_TMPDIR,
    BO_CHANNEL,
    BO_CSV_INVOICE,
    BO_CSV_SKU,
    BO_CSV_QTY,
    BO_CSV_DATE,
    BO_CSV_COUNTRY,
    BO_CSV_CUSTOMER,
    BO_CSV_CANCEL_PREFIX,
    BO_CSV_SEP,
    BO_RATE,
    BO_DURATION,
    BO_WARMUP,
    BO_SPEEDUP,
    BO_INGEST_RATE,
    BO_PEAK_INGEST_RATE,
    BO_PEAK_RATE,
    BO_HTTP_THREADS,
    BO_CLIENTS,
    BO_CONNS,
    BO_REPEAT,
    BO_SKUS,
    BO_HOT,
    BO_BATCH,
    BO_WINDOW,
    BO_STOCK,
    BO_HOT_STOCK,
    BO_RESERVATIONS,
    BO_POSITIONS,
    BO_RESTART_POSITIONS,
    BO_IMPORT_LINES,
    BO_RESTARTS,
    BO_REPLAY_ROWS,
    BO_SEED,
    BO_SCHED,
    BO_CLIENT,
    BO_RESERVE_MIX,
    BO_RESERVE_FILL,
    BO_TIMEOUT_MS,
    BO_REPLAY,
    /* flags */
    BO_KEEP,
    BO_QUIET,
    BO_TINY,
    BO_NO_ECHO,
    BO_NO_REDIS,
    BO_RT,
    BO_HTTP,
    BO_NO_NNG,
    BO_WRK,
    BO_HTTP_PIPELINE,
    BO_COLD,
    BO_QUERY_BUNDLES,
    BO_DEFINE_BUNDLES,
    BO_QUERY_PROMISE,
    BO_LOTS,
    BO_CLUSTER,
    BO_NATS_SERVER,
};

static const struct option bench_options[] = {
    TOOL_ARGS_STD,
    TOOL_ARGS_TLS,
    {"scenario", required_argument, NULL, BO_SCENARIO},
    {"endpoint", required_argument, NULL, BO_ENDPOINT},
    {"token", required_argument, NULL, BO_TOKEN},
    {"ingest-endpoint", required_argument, NULL, BO_INGEST_ENDPOINT},
    {"atpd", required_argument, NULL, BO_ATPD},
    {"config", required_argument, NULL, BO_CONFIG},
    {"echo", required_argument, NULL, BO_ECHO},
    {"http-endpoint", required_argument, NULL, BO_HTTP_ENDPOINT},
    {"http-floor", required_argument, NULL, BO_HTTP_FLOOR},
    {"redis-server", required_argument, NULL, BO_REDIS_SERVER},
    {"bench-engine", required_argument, NULL, BO_BENCH_ENGINE},
    {"json", required_argument, NULL, BO_JSON},
    {"plot", required_argument, NULL, BO_PLOT},
    {"tmpdir", required_argument, NULL, BO_TMPDIR},
    {"channel", required_argument, NULL, BO_CHANNEL},
    {"csv-invoice", required_argument, NULL, BO_CSV_INVOICE},
    {"csv-sku", required_argument, NULL, BO_CSV_SKU},
    {"csv-qty", required_argument, NULL, BO_CSV_QTY},
    {"csv-date", required_argument, NULL, BO_CSV_DATE},
    {"csv-country", required_argument, NULL, BO_CSV_COUNTRY},
    {"csv-customer", required_argument, NULL, BO_CSV_CUSTOMER},
    {"csv-cancel-prefix", required_argument, NULL, BO_CSV_CANCEL_PREFIX},
    {"csv-sep", required_argument, NULL, BO_CSV_SEP},
    {"rate", required_argument, NULL, BO_RATE},
    {"duration", required_argument, NULL, BO_DURATION},
    {"warmup", required_argument, NULL, BO_WARMUP},
    {"speedup", required_argument, NULL, BO_SPEEDUP},
    {"ingest-rate", required_argument, NULL, BO_INGEST_RATE},
    {"peak-ingest-rate", required_argument, NULL, BO_PEAK_INGEST_RATE},
    {"peak-rate", required_argument, NULL, BO_PEAK_RATE},
    {"http-threads", required_argument, NULL, BO_HTTP_THREADS},
    {"clients", required_argument, NULL, BO_CLIENTS},
    {"conns", required_argument, NULL, BO_CONNS},
    {"repeat", required_argument, NULL, BO_REPEAT},
    {"skus", required_argument, NULL, BO_SKUS},
    {"hot", required_argument, NULL, BO_HOT},
    {"batch", required_argument, NULL, BO_BATCH},
    {"window", required_argument, NULL, BO_WINDOW},
    {"stock", required_argument, NULL, BO_STOCK},
    {"hot-stock", required_argument, NULL, BO_HOT_STOCK},
    {"reservations", required_argument, NULL, BO_RESERVATIONS},
    {"positions", required_argument, NULL, BO_POSITIONS},
    {"restart-positions", required_argument, NULL, BO_RESTART_POSITIONS},
    {"import-lines", required_argument, NULL, BO_IMPORT_LINES},
    {"restarts", required_argument, NULL, BO_RESTARTS},
    {"replay-rows", required_argument, NULL, BO_REPLAY_ROWS},
    {"seed", required_argument, NULL, BO_SEED},
    {"sched", required_argument, NULL, BO_SCHED},
    {"client", required_argument, NULL, BO_CLIENT},
    {"reserve-mix", required_argument, NULL, BO_RESERVE_MIX},
    {"reserve-fill", required_argument, NULL, BO_RESERVE_FILL},
    {"timeout-ms", required_argument, NULL, BO_TIMEOUT_MS},
    {"replay", required_argument, NULL, BO_REPLAY},
    {"keep", no_argument, NULL, BO_KEEP},
    {"quiet", no_argument, NULL, BO_QUIET},
    {"tiny", no_argument, NULL, BO_TINY},
    {"no-echo", no_argument, NULL, BO_NO_ECHO},
    {"no-redis", no_argument, NULL, BO_NO_REDIS},
    {"rt", no_argument, NULL, BO_RT},
    {"http", no_argument, NULL, BO_HTTP},
    {"no-nng", no_argument, NULL, BO_NO_NNG},
    {"wrk", no_argument, NULL, BO_WRK},
    {"http-pipeline", no_argument, NULL, BO_HTTP_PIPELINE},
    {"cold", no_argument, NULL, BO_COLD},
    {"query-bundles", no_argument, NULL, BO_QUERY_BUNDLES},
    {"define-bundles", no_argument, NULL, BO_DEFINE_BUNDLES},
    {"query-promise", no_argument, NULL, BO_QUERY_PROMISE},
    {"lots", required_argument, NULL, BO_LOTS},
    {"cluster", required_argument, NULL, BO_CLUSTER},
    {"nats-server", required_argument, NULL, BO_NATS_SERVER},
    {NULL, 0, NULL, 0},
};

/* bench_args_flag: the bool a flag option sets, NULL for other options. */
static bool *bench_args_flag(bench_args *a, int opt)
{
    switch (opt) {
    case BO_KEEP:
        return &a->keep;
    case BO_QUIET:
        return &a->quiet;
    case BO_TINY:
        return &a->tiny;
    case BO_NO_ECHO:
        return &a->no_echo;
    case BO_NO_REDIS:
        return &a->no_redis;
    case BO_RT:
        return &a->rt;
    case BO_HTTP:
        return &a->http;
    case BO_NO_NNG:
        return &a->no_nng;
    case BO_WRK:
        return &a->wrk;
    case BO_HTTP_PIPELINE:
        return &a->http_pipeline;
    case BO_COLD:
        return &a->cold;
    case BO_QUERY_BUNDLES:
        return &a->query_bundles;
    case BO_DEFINE_BUNDLES:
        return &a->define_bundles;
    case BO_QUERY_PROMISE:
        return &a->query_promise;
    }
    return NULL;
}

/* bench_args_str: the string a string option sets, NULL for others. */
static const char **bench_args_str(bench_args *a, int opt)
{
    switch (opt) {
    case BO_SCENARIO:
        return &a->scenario;
    case BO_ENDPOINT:
        return &a->endpoint;
    case BO_TOKEN:
        return &a->token;
    case BO_INGEST_ENDPOINT:
        return &a->ingest_endpoint;
    case BO_ATPD:
        return &a->atpd;
    case BO_CONFIG:
        return &a->config;
    case BO_ECHO:
        return &a->echo;
    case BO_HTTP_ENDPOINT:
        a->http = true;
        return &a->http_endpoint;
    case BO_HTTP_FLOOR:
        return &a->http_floor;
    case BO_REDIS_SERVER:
        return &a->redis_server;
    case BO_NATS_SERVER:
        return &a->nats_server;
    case BO_BENCH_ENGINE:
        return &a->bench_engine;
    case BO_JSON:
        return &a->json;
    case BO_PLOT:
        return &a->plot;
    case BO_TMPDIR:
        return &a->tmpdir;
    case BO_CHANNEL:
        return &a->channel;
    case BO_CSV_INVOICE:
        return &a->cols.invoice;
    case BO_CSV_SKU:
        return &a->cols.sku;
    case BO_CSV_QTY:
        return &a->cols.qty;
    case BO_CSV_DATE:
        return &a->cols.date;
    case BO_CSV_CANCEL_PREFIX:
        return &a->cols.cancel_prefix;
    }
    return NULL;
}

/* bench_args_number stores a numeric option's value: false when v is not
 * a number or out of the option's range. */
static bool bench_args_number(bench_args *a, int opt, const char *v)
{
    uint64_t u = 0;
    double d = 0;
    bool num = bench_parse_u64(v, &u);
    switch (opt) {
    case BO_RATE:
        return bench_parse_double(v, &a->rate);
    case BO_DURATION:
        return bench_parse_double(v, &a->duration);
    case BO_WARMUP:
        return bench_parse_double(v, &a->warmup);
    case BO_SPEEDUP:
        return bench_parse_double(v, &a->speedup) && a->speedup > 0;
    case BO_INGEST_RATE:
        return bench_parse_double(v, &a->ingest_rate);
    case BO_PEAK_INGEST_RATE:
        return bench_parse_double(v, &a->peak_ingest_rate);
    case BO_PEAK_RATE:
        return bench_parse_double(v, &d) && d > 0 && (a->peak_rate = d, true);
    case BO_HTTP_THREADS:
        return num && u >= 1 && u <= 64 &&
               (a->http_threads = (unsigned)u, true);
    case BO_CLIENTS:
        return num && u >= 1 && u <= 4096 && (a->clients = (unsigned)u, true);
    case BO_CONNS:
        return num && u >= 1 && u <= 256 && (a->conns = (unsigned)u, true);
    case BO_REPEAT:
        return num && u >= 1 && u <= 16 && (a->repeat = (unsigned)u, true);
    case BO_SKUS:
        return num && u >= 10 && u <= 100000000 &&
               (a->skus = (uint32_t)u, true);
    case BO_HOT:
        return num && u >= 1 && u <= 1000 && (a->hot = (uint32_t)u, true);
    case BO_LOTS:
        return num && u <= 8 && (a->lots = (uint32_t)u, true);
    case BO_CLUSTER:
        return num && u <= 5 && (a->cluster = (unsigned)u, true);
    case BO_BATCH:
        return num && u >= 1 && u <= 100000 && (a->batch = (uint32_t)u, true);
    case BO_WINDOW:
        a->window_set = true;
        return num && u <= 1000000 && (a->window = (uint32_t)u, true);
    case BO_STOCK:
        return num && u <= 1000000000000ULL && (a->stock = (int64_t)u, true);
    case BO_HOT_STOCK:
        return num && u <= 1000000000000ULL &&
               (a->hot_stock = (int64_t)u, true);
    case BO_RESERVATIONS:
        return num && u >= 1 && (a->reservations = u, true);
    case BO_POSITIONS:
        return num && u >= 1 && (a->positions = u, true);
    case BO_RESTART_POSITIONS:
        return num && (a->restart_positions = u, true);
    case BO_IMPORT_LINES:
        return num && u >= 1 && u <= 20000000 && (a->import_lines = u, true);
    case BO_RESTARTS:
        return num && u >= 1 && u <= 20 && (a->restarts = (unsigned)u, true);
    case BO_REPLAY_ROWS:
        return num && (a->replay_rows = u, true);
    case BO_SEED:
        return num && (a->seed = u, true);
    case BO_TIMEOUT_MS:
        return num && u >= 100 && u <= INT32_MAX &&
               (a->timeout_ms = (int)u, true);
    }
    return false;
}

/* bench_args_word: the options whose value is one of a few words (or a
 * character); *want says which when v is none of them. */
static bool bench_args_word(bench_args *a, int opt, const char *v,
                            const char **want)
{
    switch (opt) {
    case BO_CSV_SEP:
        *want = "one character, or \\t for a tab";
        a->cols.sep = strcmp(v, "\\t") == 0 ? '\t' : v[0];
        return strlen(v) == 1 || strcmp(v, "\\t") == 0;
    case BO_SCHED:
        *want = "batch or normal";
        a->sched_batch = strcmp(v, "batch") == 0;
        return strcmp(v, "batch") == 0 || strcmp(v, "normal") == 0;
    case BO_CLIENT:
        *want = "sp or nng";
        a->client_nng = strcmp(v, "nng") == 0;
        return strcmp(v, "sp") == 0 || strcmp(v, "nng") == 0;
    case BO_RESERVE_FILL:
        *want = "plain, partial, split or backorder";
        a->reserve_fill = strcmp(v, "partial") == 0     ? BENCH_FILL_PARTIAL
                          : strcmp(v, "split") == 0     ? BENCH_FILL_SPLIT
                          : strcmp(v, "backorder") == 0 ? BENCH_FILL_BACKORDER
                                                        : BENCH_FILL_PLAIN;
        return strcmp(v, "plain") == 0 || a->reserve_fill != BENCH_FILL_PLAIN;
    case BO_RESERVE_MIX:
        *want = "C,R,E, three percentages (commit, release, expire) that sum "
                "to 100, e.g. 60,30,10";
        return bench_parse_mix(v, &a->mix_commit, &a->mix_release);
    case BO_CSV_COUNTRY:
        a->cols.country = *v ? v : NULL;
        return true;
    case BO_CSV_CUSTOMER:
        a->cols.customer = *v ? v : NULL;
        return true;
    }
    return false;
}

/* bench_args_replay takes --replay FILE [FILE ...]: every argument up to
 * the next option. */
static int bench_args_replay(bench_args *a, tool_args *t)
{
    if (strncmp(t->val, "--", 2) == 0)
        return bench_usage_error("%s needs at least one file", t->name);
    for (const char *f = t->val; f != NULL; f = tool_args_take_more(t)) {
        if (a->n_replay >= BENCH_MAX_REPLAY_FILES)
            return bench_usage_error("too many --replay files (at most %s)",
                                     "1024");
        a->replay[a->n_replay++] = (char *)f;
    }
    return -1;
}

/* bench_args_option stores one option. -1 or the usage error's exit. */
static int bench_args_option(bench_args *a, tool_args *t, int opt)
{
    bool *flag = bench_args_flag(a, opt);
    const char **str = bench_args_str(a, opt);
    const char *want = NULL;
    int tls = opt == TOOL_ARGS_BAD ? -1 : tool_args_tls(t, opt, &a->tls);
    if (tls < 0)
        return bench_usage_error("%s", t->why);
    if (tls > 0)
        return -1;
    if (flag != NULL) {
        *flag = true;
        return -1;
    }
    if (str != NULL) {
        *str = t->val;
        return -1;
    }
    if (opt == BO_REPLAY)
        return bench_args_replay(a, t);
    if (bench_args_word(a, opt, t->val, &want) ||
        (want == NULL && bench_args_number(a, opt, t->val)))
        return -1;
    if (want != NULL)
        return bench_usage_error("bad value '%s' for %s: expected %s", t->val,
                                 t->name, want);
    double d;
    return bench_usage_error("bad value '%s' for %s: %s", t->val, t->name,
                             bench_parse_double(t->val, &d)
                                 ? "out of range for this option"
                                 : "expected a number >= 0 (1e6 works)");
}

static void bench_args_defaults(bench_args *a)
{
    *a = (bench_args){
        .scenario = "quick",
        .clients = 32,
        .conns = 4,
        .repeat = 1,
        .duration = -1,
        .warmup = -1,
        .drain = 10,
        .hot = 5,
        .batch = 1000,
        .window = 2048,
        .stock = -1,
        .hot_stock = 50,
        .peak_ingest_rate = -1,
        .peak_rate = -1,
        .seed = 42,
        .timeout_ms = 10000,
        .token = client_token_env(), /* --token overrides it */
        .mix_commit = 60,
        .mix_release = 30,
    };
    bench_replay_cols_default(&a->cols);
}

/* bench_args_scale checks the options together and fills the defaults
 * that depend on the scale. -1 or the usage error's exit. */
static int bench_args_scale(bench_args *a)
{
    static const char *const names[] = {"point", "cart",    "reserve", "ingest",
                                        "peak",  "restart", "memory",  "quick",
                                        "tls",   "import"};
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= strcmp(a->scenario, names[i]) == 0;
    if (!known)
        return bench_usage_error(
            "unknown scenario '%s': point, cart, reserve, "
            "ingest, peak, restart, memory, tls, import or quick",
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
    if (a->import_lines == 0)
        a->import_lines = a->tiny ? 20000 : 1000000;
    if (a->restarts == 0)
        a->restarts = small ? 1 : 3;
    if (a->hot >= a->skus)
        return bench_usage_error("--hot (%u) must be below --skus (%u)", a->hot,
                                 a->skus);
    if ((a->query_bundles || a->define_bundles) &&
        (a->skus < 3 || a->skus > 100000))
        return bench_usage_error("--query-bundles and --define-bundles need "
                                 "--skus 3..100000 (atpd's bundle limit), "
                                 "not %u",
                                 a->skus);
    if (a->lots > 0 && a->batch != 0 && a->batch < 1 + a->lots)
        return bench_usage_error("--lots %u needs --batch of at least %u "
                                 "(a position and its lots in one message)",
                                 a->lots, 1 + a->lots);
    char why[128];
    if (!tools_tls_check(&a->tls, why, sizeof why))
        return bench_usage_error("%s", why);
    tools_tls_set(&a->tls);
    return -1;
}

int bench_args_parse(int argc, char **argv, bench_args *a)
{
    bench_args_defaults(a);
    tool_args t;
    tool_args_init(&t, argc, argv, "+hV", bench_options);
    bool help = false, version = false;
    int opt, rc;
    while ((opt = tool_args_next(&t)) != TOOL_ARGS_END) {
        if (opt == 'h')
            help = true;
        else if (opt == 'V')
            version = true;
        else if ((rc = bench_args_option(a, &t, opt)) >= 0)
            return rc;
    }
    if (t.rest < argc)
        return bench_usage_error("unexpected argument '%s'", argv[t.rest]);
    if (help) {
        bench_usage(stdout);
        return 0;
    }
    if (version) {
        tool_args_version("atp-bench");
        return 0;
    }
    return bench_args_scale(a);
}
