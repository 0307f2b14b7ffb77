/*
 * main.c - atpd: parse the command line and the configuration, wire the
 * modules together, wait for SIGINT/SIGTERM (SIGHUP reloads the
 * configuration file), shut down in order.
 * Only wiring lives here; see docs/ARCHITECTURE.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes/changes.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/listen_check.h"
#include "common/log.h"
#include "common/thread.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/ingest.h"
#include "http/http.h"
#include "notify/notify.h"
#include "server/server.h"
#include "sources/sources.h"
#include "store/store.h"

/* jemalloc's options, read once at start (ignored without jemalloc, as in
 * sanitizer builds). background_thread: purge freed dirty pages on a timer
 * of jemalloc's own; without it, purging only happens while the process
 * allocates, so an atpd that settled after loading kept the store's copies
 * of its snapshots resident. */
const char *malloc_conf = "background_thread:true";

static void atpd_usage(FILE *f)
{
    fprintf(f,
            "usage: atpd [--config FILE] [options]\n"
            "       atpd --check-config FILE\n"
            "\n"
            "atpd keeps available-to-promise per SKU and region in memory, fed by\n"
            "WMS/3PL/ERP sources over nng pub/sub, and answers queries over nng\n"
            "REQ/REP (docs/PROTOCOL.md).\n"
            "\n"
            "options:\n"
            "  -c, --config FILE        configuration file (YAML, docs/CONFIG.md),\n"
            "                           read again on SIGHUP (CONFIG.md, \"Reload\");\n"
            "                           without it: one region 'default', no sources\n"
            "      --check-config FILE  validate FILE, print every problem with its\n"
            "                           line, exit 0 if valid, 1 if not\n"
            "      --query-listen URL   override service.query_listen\n"
            "      --ingest-listen URL  override service.ingest_listen\n"
            "      --feed-listen URL    override service.feed_listen (change feed)\n"
            "      --control-listen URL override service.control_listen (resync)\n"
            "      --http-listen URL    override service.http_listen (HTTP/JSON API,\n"
            "                           http://127.0.0.1:7080; off when neither)\n"
            "      --data-dir DIR       override service.data_dir (default:\n"
            "                           /var/lib/atpd installed, ./atpd-data when\n"
            "                           run from its build tree)\n"
            "      --log-level LEVEL    debug, info, warn or error\n"
            "      --ready-file FILE    once atpd is ready (state restored, every\n"
            "                           socket listening), write FILE: JSON with the\n"
            "                           pid and the URLs listened on (the port chosen\n"
            "                           when a configured one is 0)\n"
            "  -h, --help               this text\n"
            "  -V, --version            print the version\n");
}

/* atpd_print_diags prints each problem as "FILE:LINE:COL: message", to
 * stderr (start-up, --check-config) or to the log (a reload). */
static int atpd_print_diags(const char *path, const config_diags *d, bool to_log)
{
    for (size_t i = 0; i < d->n; i++) {
        const config_diag *g = &d->items[i];
        char where[32] = "";
        if (g->line > 0)
            snprintf(where, sizeof where, ":%d:%d", g->line, g->column);
        if (to_log)
            log_error("atpd", "%s%s: %s", path, where, g->message);
        else
            fprintf(stderr, "%s%s: %s\n", path, where, g->message);
    }
    return (int)d->n;
}

static int atpd_check_config(const char *path)
{
    config cfg;
    config_diags diags = {0};
    atp_err err = config_load_file(path, &cfg, &diags);
    atpd_print_diags(path, &diags, false);
    config_diags_fini(&diags);
    if (err != ATP_OK) {
        fprintf(stderr, "%s: invalid configuration\n", path);
        return 1;
    }
    printf("%s: ok (%zu regions, %zu locations, %zu channels, %zu sources, "
           "%zu buffer rules)\n",
           path, cfg.n_regions, cfg.n_locations, cfg.n_channels, cfg.n_sources,
           cfg.n_buffers);
    config_fini(&cfg);
    return 0;
}

/* The engine's persistence interface, backed by the store. */
static store_op *atpd_store_ops(const engine_record_op *ops, size_t n)
{
    store_op *sops = malloc((n ? n : 1) * sizeof *sops);
    if (sops == NULL)
        return NULL;
    static const store_db dbs[ENGINE_DB_COUNT] = {
        [ENGINE_DB_RESERVATIONS] = STORE_DB_RESERVATIONS,
        [ENGINE_DB_POSITIONS] = STORE_DB_POSITIONS,
        [ENGINE_DB_OFFSETS] = STORE_DB_OFFSETS,
        [ENGINE_DB_LOTS] = STORE_DB_LOTS,
    };
    for (size_t i = 0; i < n; i++)
        sops[i] = (store_op){dbs[ops[i].db], ops[i].key, ops[i].key_len,
                             ops[i].val, ops[i].val_len};
    return sops;
}

static atp_err atpd_persist_write(void *ctx, const engine_record_op *ops,
                                  size_t n, void (*done)(void *arg, atp_err err),
                                  void *arg)
{
    store_op *sops = atpd_store_ops(ops, n);
    if (sops == NULL)
        return ATP_E_NOMEM;
    atp_err err = store_submit(ctx, sops, n, done, arg);
    free(sops);
    return err;
}

/* A snapshot handed to the store without copying its records: the store
 * keeps the translated ops until it releases the group. */
typedef struct atpd_owned {
    store_op *sops;
    void (*release)(void *owner);
    void *owner;
} atpd_owned;

static void atpd_owned_release(void *arg)
{
    atpd_owned *o = arg;
    o->release(o->owner);
    free(o->sops);
    free(o);
}

static atp_err atpd_persist_write_owned(void *ctx, const engine_record_op *ops,
                                        size_t n, void (*release)(void *owner),
                                        void *owner,
                                        void (*done)(void *arg, atp_err err),
                                        void *arg)
{
    atpd_owned *o = malloc(sizeof *o);
    store_op *sops = o != NULL ? atpd_store_ops(ops, n) : NULL;
    if (sops == NULL) {
        free(o);
        return ATP_E_NOMEM;
    }
    *o = (atpd_owned){sops, release, owner};
    atp_err err = store_submit_owned(ctx, sops, n, atpd_owned_release, o, done, arg);
    if (err != ATP_OK) {
        free(sops);
        free(o);
    }
    return err;
}

static void atpd_persist_stats(void *ctx, engine_store_stats *out)
{
    store_stats st;
    store_stats_get(ctx, &st);
    *out = (engine_store_stats){
        .commits = st.commits, .failures = st.failures,
        .map_bytes = st.map_bytes, .used_bytes = st.used_bytes, .full = st.full,
        .log_appends = st.log_appends, .log_groups = st.log_groups,
        .log_waits = st.log_waits, .log_replayed = st.log_replayed,
        .env_reopens = st.env_reopens, .log_present = st.log_present,
        .log_size = st.log_size, .log_used = st.log_used,
        .log_sync = st.log_sync, .commit = st.commit,
    };
}

static atp_err atpd_persist_backup(void *ctx, const char *dir,
                                   void (*done)(void *arg, atp_err err), void *arg,
                                   char *why, size_t why_len)
{
    return store_backup(ctx, dir, done, arg, why, why_len);
}

static bool atpd_load_reservation(void *ctx, const void *key, size_t key_len,
                                  const void *val, size_t val_len)
{
    engine_resv_load(ctx, key, key_len, val, val_len); /* skips are logged */
    return true;
}

/* Start-up restore of the last snapshot: positions, lots, source offsets. */
typedef struct atpd_restore {
    engine *eng;
    sources *src;
    uint64_t loaded, skipped;
} atpd_restore;

static bool atpd_load_position(void *ctx, const void *key, size_t key_len,
                               const void *val, size_t val_len)
{
    atpd_restore *r = ctx;
    if (engine_position_load(r->eng, key, key_len, val, val_len) == ATP_OK)
        r->loaded++;
    else
        r->skipped++;
    return true;
}

static bool atpd_load_lot(void *ctx, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    atpd_restore *r = ctx;
    if (engine_lot_load(r->eng, key, key_len, val, val_len) == ATP_OK)
        r->loaded++;
    else
        r->skipped++;
    return true;
}

static bool atpd_load_offset(void *ctx, const void *key, size_t key_len,
                             const void *val, size_t val_len)
{
    atpd_restore *r = ctx;
    uint32_t src;
    uint64_t seq;
    if (engine_offset_load(r->eng, key, key_len, val, val_len, &src, &seq)) {
        sources_restore(r->src, src, seq);
        r->loaded++;
    } else {
        r->skipped++;
    }
    return true;
}

static atp_err atpd_restore_state(store *st, engine *eng, sources *src)
{
    int64_t t0 = clock_mono_ms();
    atpd_restore pos = {eng, src, 0, 0}, lots = pos, offs = pos;
    atp_err err;
    store_info info;
    if (store_info_get(st, &info) == ATP_OK &&
        (err = engine_reserve_positions(eng, info.entries[STORE_DB_POSITIONS] +
                                                 info.entries[STORE_DB_LOTS])) !=
            ATP_OK)
        return err;
    if ((err = store_scan(st, STORE_DB_POSITIONS, atpd_load_position, &pos)) != ATP_OK ||
        (err = store_scan(st, STORE_DB_LOTS, atpd_load_lot, &lots)) != ATP_OK ||
        (err = store_scan(st, STORE_DB_OFFSETS, atpd_load_offset, &offs)) != ATP_OK)
        return err;
    health_cond_set(HEALTH_SNAPSHOT, true);
    if ((err = store_scan(st, STORE_DB_RESERVATIONS, atpd_load_reservation, eng)) !=
        ATP_OK)
        return err;
    health_cond_set(HEALTH_RESERVATIONS, true);
    engine_stats es;
    engine_stats_get(eng, &es);
    log_info("atpd",
             "restored %llu positions, %llu lots, %llu source offsets, %llu "
             "reservations (%llu open) in %lld ms",
             (unsigned long long)pos.loaded, (unsigned long long)lots.loaded,
             (unsigned long long)offs.loaded, (unsigned long long)es.resv_total,
             (unsigned long long)es.resv_open, (long long)(clock_mono_ms() - t0));
    if (pos.skipped + lots.skipped + offs.skipped > 0)
        log_warn("atpd",
                 "skipped %llu stored positions, %llu lots, %llu offsets that "
                 "no longer match the configuration",
                 (unsigned long long)pos.skipped, (unsigned long long)lots.skipped,
                 (unsigned long long)offs.skipped);
    return ATP_OK;
}

/* atpd_applied_open maps the store's "applied" file and gives the engine
 * each source's slot (engine_applied_attach), after the reservations are
 * loaded. Without it (cannot create or map it: a full or read-only disk)
 * atpd runs as before the file existed, with a warning: what a resend may
 * then consume is in docs/PROTOCOL.md, "Expiry, consumption, retention". */
static store_applied *atpd_applied_open(const config *cfg, store *st, engine *eng)
{
    const char *ids[CONFIG_MAX_SOURCES];
    uint64_t *slots[CONFIG_MAX_SOURCES] = {0};
    for (size_t i = 0; i < cfg->n_sources; i++)
        ids[i] = cfg->sources[i].id;
    store_applied *a = NULL;
    atp_err err = store_applied_open(cfg->service.data_dir, store_id(st), ids,
                                     cfg->n_sources, &a);
    if (err != ATP_OK)
        log_warn("atpd", "running without the applied file: %s (a restart "
                 "then knows only the snapshot's offsets)", atp_err_message(err));
    for (size_t i = 0; a != NULL && i < cfg->n_sources; i++)
        slots[i] = store_applied_slot(a, i);
    engine_applied_attach(eng, slots);
    return a;
}

static int atpd_override(char **field, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

typedef struct atpd_args {
    const char *config_path;
    const char *query_listen, *ingest_listen, *feed_listen, *control_listen;
    const char *http_listen;
    const char *data_dir, *log_level, *ready_file;
} atpd_args;

/* Returns -1 to continue, or the exit code. */
static int atpd_parse_args(int argc, char **argv, atpd_args *a)
{
    enum { OPT_CHECK = 256, OPT_QUERY, OPT_INGEST, OPT_FEED, OPT_CONTROL, OPT_DATA,
           OPT_LOG, OPT_READY, OPT_HTTP };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, OPT_CHECK},
        {"query-listen", required_argument, NULL, OPT_QUERY},
        {"ingest-listen", required_argument, NULL, OPT_INGEST},
        {"feed-listen", required_argument, NULL, OPT_FEED},
        {"control-listen", required_argument, NULL, OPT_CONTROL},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"http-listen", required_argument, NULL, OPT_HTTP},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case OPT_CHECK:
            return atpd_check_config(optarg);
        case OPT_QUERY:
            a->query_listen = optarg;
            break;
        case OPT_INGEST:
            a->ingest_listen = optarg;
            break;
        case OPT_FEED:
            a->feed_listen = optarg;
            break;
        case OPT_CONTROL:
            a->control_listen = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case OPT_LOG:
            a->log_level = optarg;
            break;
        case OPT_READY:
            a->ready_file = optarg;
            break;
        case OPT_HTTP:
            a->http_listen = optarg;
            break;
        case 'h':
            atpd_usage(stdout);
            return 0;
        case 'V':
            printf("atpd %s (wire protocol %d)\n", ATP_VERSION,
                   ATP_WIRE_VERSION);
            return 0;
        default:
            atpd_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "atpd: unexpected argument '%s'\n", argv[optind]);
        atpd_usage(stderr);
        return 2;
    }
    return -1;
}

/* atpd_config_read loads the configuration (the file, or the defaults) and
 * applies the command line's overrides. Returns 0, or 1 with the problems
 * said on stderr (to_log false) or in the log. */
static int atpd_config_read(const atpd_args *a, config *cfg, bool to_log)
{
    config_diags diags = {0};
    atp_err err = a->config_path ? config_load_file(a->config_path, cfg, &diags)
                                 : config_defaults(cfg);
    if (a->config_path)
        atpd_print_diags(a->config_path, &diags, to_log);
    config_diags_fini(&diags);
    if (err != ATP_OK) {
        /* The lines above say what is wrong (the file's own diagnostics);
         * an I/O error code adds nothing to "cannot open". */
        const char *path = a->config_path ? a->config_path : "(defaults)";
        const char *sep = err == ATP_E_IO ? "" : ": ";
        const char *why = err == ATP_E_IO ? "" : atp_err_message(err);
        if (to_log)
            log_error("atpd", "reload refused: cannot use configuration %s%s%s "
                      "(check it with atpd --check-config FILE); the running "
                      "configuration stays in force", path, sep, why);
        else
            fprintf(stderr,
                    "atpd: cannot use configuration %s%s%s (check it with atpd "
                    "--check-config FILE; docs/CONFIG.md has every key)\n",
                    path, sep, why);
        return 1;
    }
    if ((a->query_listen && atpd_override(&cfg->service.query_listen, a->query_listen)) ||
        (a->ingest_listen && atpd_override(&cfg->service.ingest_listen, a->ingest_listen)) ||
        (a->feed_listen && atpd_override(&cfg->service.feed_listen, a->feed_listen)) ||
        (a->control_listen &&
         atpd_override(&cfg->service.control_listen, a->control_listen)) ||
        (a->http_listen && atpd_override(&cfg->service.http_listen, a->http_listen)) ||
        (a->data_dir && atpd_override(&cfg->service.data_dir, a->data_dir)) ||
        (a->log_level && atpd_override(&cfg->service.log_level, a->log_level))) {
        config_fini(cfg);
        if (to_log)
            log_error("atpd", "reload refused: out of memory");
        else
            fprintf(stderr, "atpd: out of memory\n");
        return 1;
    }
    return 0;
}

/* atpd_runtime_configure applies the service.log_* keys and
 * service.stall_timeout (start and reload). The level was checked by the
 * config reader or below. */
static void atpd_runtime_configure(const config *cfg)
{
    log_level lvl;
    if (log_parse_level(cfg->service.log_level, &lvl))
        log_set_level(lvl);
    log_set_format(cfg->service.log_json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    log_set_repeat_window_ms(cfg->service.log_repeat_window_ms);
    health_set_stall_ms(cfg->service.stall_timeout_ms);
}

static int atpd_load_config(const atpd_args *a, config *cfg)
{
    if (atpd_config_read(a, cfg, false) != 0)
        return 1;
    log_level lvl;
    if (!log_parse_level(cfg->service.log_level, &lvl)) {
        fprintf(stderr, "atpd: unknown log level '%s' (debug, info, warn, error)\n",
                cfg->service.log_level);
        config_fini(cfg);
        return 2;
    }
    atpd_runtime_configure(cfg);
    return 0;
}

/* What SIGHUP works with (main thread): the configuration the modules were
 * built from (its structure and start-up keys stay in force until a
 * restart) and the last one a reload applied, whose rules, location
 * regions, heartbeat timeouts and log settings are in force. */
typedef struct atpd_reload {
    const atpd_args *args;
    const config *started;
    config last;
    bool have_last;
    engine *eng;
    sources *src;
    size_t refused;
} atpd_reload;

static void atpd_reload_report(void *ctx, config_change kind, const char *what)
{
    atpd_reload *r = ctx;
    if (kind == CONFIG_CHANGE_REFUSED) {
        r->refused++;
        log_error("atpd", "reload: %s; that needs a restart (docs/CONFIG.md, "
                  "\"Reload\")", what);
    } else {
        log_warn("atpd", "reload: %s changed; the running value stays until "
                 "atpd restarts (docs/CONFIG.md, \"Reload\")", what);
    }
}

/* atpd_reload_run: SIGHUP. Applies the new file's buffer rules and
 * location regions (through the engine thread, as one command), heartbeat
 * timeouts and log settings, or
 * nothing at all when the file is invalid or changes the structure. Never
 * stops atpd. */
static void atpd_reload_run(atpd_reload *r)
{
    const char *path = r->args->config_path;
    if (path == NULL) {
        log_warn("atpd", "SIGHUP: atpd runs without --config: nothing to reload");
        return;
    }
    log_repeats_flush();
    log_info("atpd", "SIGHUP: reloading %s", path);
    config next;
    if (atpd_config_read(r->args, &next, true) != 0)
        return;
    r->refused = 0;
    config_compare(r->started, &next, atpd_reload_report, r);
    if (r->refused > 0) {
        log_error("atpd", "reload refused: %s changes what only a restart can "
                  "apply; nothing was changed, the running configuration stays "
                  "in force", path);
        config_fini(&next);
        return;
    }
    engine_rules_report rep = {0};
    const config *in_force = r->have_last ? &r->last : r->started;
    atp_err err = engine_rules_replace(r->eng, in_force, &next, &rep);
    if (err != ATP_OK) {
        log_error("atpd", "reload refused: buffer rules and location regions "
                  "not replaced: %s%s%s; the running configuration stays in "
                  "force", atp_err_message(err), rep.refused[0] ? ": " : "",
                  rep.refused);
        config_fini(&next);
        return;
    }
    uint16_t *loc_region =
        malloc((r->started->n_locations ? r->started->n_locations : 1) *
               sizeof *loc_region);
    if (loc_region != NULL) { /* else the sources keep their regions */
        config_location_regions(r->started, &next, loc_region);
        sources_reload(r->src, &next, loc_region);
        free(loc_region);
    }
    atpd_runtime_configure(&next);
    /* A removed location's positions are zero now: a snapshot deletes
     * their records, so they cannot come back with old stock if the
     * location is named again (a restart after a kill -9 included). */
    if (rep.moved.removed > 0 && (err = engine_snapshot_now(r->eng)) != ATP_OK)
        log_warn("atpd", "reload: the snapshot after removing locations was "
                 "not stored (%s); it is retried every snapshot_interval",
                 atp_err_message(err));
    log_info("atpd", "reload applied: %zu buffer rules (%zu added, removed or "
             "changed; %llu rows marked for the change feed), %zu locations "
             "moved to another region (%llu positions, %llu rows changed), "
             "%zu removed, %zu named again, %zu source heartbeat timeouts, "
             "log level %s, log format %s",
             rep.rules, rep.scopes_changed, (unsigned long long)rep.rows_marked,
             rep.moved.locations, (unsigned long long)rep.moved.positions,
             (unsigned long long)rep.moved.rows, rep.moved.removed,
             rep.moved.restored, next.n_sources, next.service.log_level,
             next.service.log_json ? "json" : "text");
    if (r->have_last)
        config_fini(&r->last);
    r->last = next;
    r->have_last = true;
}

/* atpd_watchdog: the service manager's keep-alive, sent only while every
 * watched thread makes progress (common/health.h): a stuck atpd stops
 * sending it and systemd restarts it (WatchdogSec=). */
static void atpd_watchdog(void)
{
    health_thread_info t[HEALTH_THREADS_MAX];
    size_t stuck;
    size_t n = health_threads_get(clock_mono_ms(), t, HEALTH_THREADS_MAX, &stuck);
    if (stuck == 0) {
        notify_watchdog();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (t[i].stuck)
            log_error("atpd", "thread %s made no progress for %lld ms (busy; "
                      "service.stall_timeout %lld ms): no watchdog keep-alive",
                      t[i].name, (long long)t[i].since_ms,
                      (long long)health_stall_ms());
}

/* atpd_wait_signal: the main thread's life after start-up. Waits for a
 * signal; SIGHUP reloads (RELOADING=1, then READY=1 again), SIGINT or
 * SIGTERM is returned. With a systemd watchdog (WATCHDOG_USEC), wakes every
 * half interval to send its keep-alive. */
static int atpd_wait_signal(const sigset_t *set, atpd_reload *reload)
{
    int64_t period = notify_watchdog_ms();
    for (;;) {
        int sig;
        if (period > 0) {
            struct timespec ts = {period / 1000, (long)(period % 1000) * 1000000L};
            atpd_watchdog();
            sig = sigtimedwait(set, NULL, &ts);
        } else {
            sig = sigwaitinfo(set, NULL);
        }
        if (sig < 0)
            continue; /* EAGAIN: the watchdog's period; EINTR */
        if (sig != SIGHUP)
            return sig;
        notify_reloading("reloading the configuration");
        atpd_reload_run(reload);
        notify_ready("ready");
    }
}

/* One JSON string value; URLs come from the configuration, so escape. */
static void atpd_json_str(FILE *f, const char *key, const char *v)
{
    fprintf(f, ", \"%s\": ", key);
    codec_json_str_file(f, v, strlen(v));
}

/* --ready-file: written to FILE.tmp and renamed, so that a reader sees the
 * whole file or none. Tests and supervisors wait for it instead of polling,
 * and learn the ports atpd chose for the URLs configured with port 0. */
static int atpd_ready_file(const char *path, server *srv, ingest *in, changes *chg,
                           http *web)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"pid\": %ld", (long)getpid());
    atpd_json_str(f, "version", ATP_VERSION);
    atpd_json_str(f, "query", server_listen_url(srv));
    atpd_json_str(f, "ingest", ingest_listen_url(in, false));
    atpd_json_str(f, "feed", changes_listen_url(chg));
    atpd_json_str(f, "control", ingest_listen_url(in, true));
    if (web != NULL)
        atpd_json_str(f, "http", http_listen_url(web));
    fprintf(f, "}\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A TCP URL with port 0: each such socket gets a port of its own. */
static bool atpd_port_zero(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon != NULL && strcmp(colon, ":0") == 0;
}

/* atpd_check_listen checks the four listen URLs before anything is
 * created (the store makes its data directory and a 64 MiB map): a port
 * already taken, or given twice, stops atpd here with a message that says
 * which key and how to change it. Returns 0 or 1 (said in the log). */
static int atpd_check_listen(const config *cfg)
{
    const struct {
        const char *key, *opt, *url;
    } socks[] = {
        {"query_listen", "--query-listen", cfg->service.query_listen},
        {"ingest_listen", "--ingest-listen", cfg->service.ingest_listen},
        {"feed_listen", "--feed-listen", cfg->service.feed_listen},
        {"control_listen", "--control-listen", cfg->service.control_listen},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++) {
        char why[256];
        for (size_t k = 0; k < i; k++)
            if (strcmp(socks[i].url, socks[k].url) == 0 &&
                !atpd_port_zero(socks[i].url)) {
                log_error("atpd", "start-up failed: service.%s and service.%s "
                          "are both %s; give each its own port (%s URL, or "
                          "port 0 for any free one)", socks[k].key, socks[i].key,
                          socks[i].url, socks[i].opt);
                bad = 1;
            }
        if (!listen_check(socks[i].url, why, sizeof why)) {
            log_error("atpd", "start-up failed: cannot listen on %s (service.%s): "
                      "%s; change it with %s URL or service.%s in the "
                      "configuration (port 0: any free port, see --ready-file)",
                      socks[i].url, socks[i].key, why, socks[i].opt, socks[i].key);
            bad = 1;
        }
    }
    return bad;
}

/* atpd_log_start says what this atpd is about to use: version, config
 * file, data directory (absolute, so that a relative default is no
 * surprise) and the addresses it will listen on. */
static void atpd_log_start(const atpd_args *a, const config *cfg)
{
    char cwd[4096];
    const char *dir = cfg->service.data_dir;
    bool relative = dir[0] != '/' && getcwd(cwd, sizeof cwd) != NULL;
    log_info("atpd",
             "atpd %s (pid %ld) starting: config %s, data directory %s%s%s, "
             "listening on query %s, ingest %s, feed %s, control %s",
             ATP_VERSION, (long)getpid(),
             a->config_path ? a->config_path : "(none: defaults)",
             relative ? cwd : "", relative ? "/" : "", dir,
             cfg->service.query_listen, cfg->service.ingest_listen,
             cfg->service.feed_listen, cfg->service.control_listen);
}

int main(int argc, char **argv)
{
    atpd_args args = {0};
    int rc = atpd_parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;

    config cfg;
    if ((rc = atpd_load_config(&args, &cfg)) != 0)
        return rc;

    /* Block the stop signals before any thread exists (nng's included), so
     * that only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP); /* a reload, never a stop */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Likewise the scheduling policy, before nng and our modules start
     * threads: each inherits it. */
    int sched_rc = cfg.service.sched_batch ? thread_sched_batch() : 0;
    if (sched_rc != 0)
        log_warn("atpd", "service.scheduling: batch: SCHED_BATCH not set on "
                 "every thread (%s)", strerror(sched_rc));

    store *st = NULL;
    store_applied *applied = NULL;
    engine *eng = NULL;
    sources *src = NULL;
    ingest *in = NULL;
    changes *chg = NULL;
    server *srv = NULL;
    http *web = NULL; /* service.http_listen: NULL when not configured */
    atp_err err;
    rc = 1;
    store_options sopt = {
        .sync = cfg.reservations.sync ? STORE_SYNC : STORE_NOSYNC,
        .initial_map_bytes = 64u << 20,
        .max_map_bytes = cfg.reservations.max_map_bytes,
        .log_bytes = cfg.reservations.log_bytes,
        .log_apply_delay_ms = cfg.reservations.log_apply_delay_ms,
    };
    atpd_log_start(&args, &cfg);
    char insecure[512];
    if (config_insecure_listener(&cfg, false, insecure, sizeof insecure)) {
        /* After the command-line overrides, before any socket is bound. */
        log_error("atpd", "start-up refused: %s", insecure);
        goto out;
    }
    if (config_insecure_listener(&cfg, true, insecure, sizeof insecure))
        log_warn("atpd", "%s", insecure);
    else if (cfg.auth.n_tokens > 0)
        log_info("atpd", "auth: %zu client tokens; every request needs one "
                 "(docs/SECURITY.md)", cfg.auth.n_tokens);
    if (atpd_check_listen(&cfg) != 0)
        goto out;
    if ((err = store_open(cfg.service.data_dir, &sopt, &st)) != ATP_OK) {
        log_error("atpd", "cannot open the store in %s: %s", cfg.service.data_dir,
                  atp_err_message(err));
        goto out;
    }
    health_cond_set(HEALTH_STORE, true); /* store_open replayed the log */
    engine_persist persist = {.ctx = st, .write = atpd_persist_write,
                              .write_owned = atpd_persist_write_owned,
                              .stats = atpd_persist_stats,
                              .backup = atpd_persist_backup};
    /* Every socket binds here, and queries are taken at once, before the
     * restore (which takes seconds for millions of positions): until atpd
     * is ready (common/health.h) they answer not_ready, and status, ready
     * (/readyz) and health (/healthz) say how far start-up is. */
    if ((err = engine_alloc(&cfg, &persist, &eng)) != ATP_OK ||
        (err = sources_alloc(&cfg, &src)) != ATP_OK ||
        (err = ingest_alloc(&cfg, eng, src, &in)) != ATP_OK ||
        (err = changes_alloc(&cfg, eng, &chg)) != ATP_OK ||
        (err = server_alloc(&cfg, eng, src, in, chg, &srv)) != ATP_OK) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    server_request_env(srv)->gate_ready = true; /* before any request */
    if ((cfg.service.http_listen != NULL &&
         (err = http_alloc(&cfg, server_request_env(srv), chg, &web)) != ATP_OK) ||
        (err = server_start(srv)) != ATP_OK ||
        (web != NULL && (err = http_start(web)) != ATP_OK) ||
        (err = atpd_restore_state(st, eng, src)) != ATP_OK) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    applied = atpd_applied_open(&cfg, st, eng);
    if ((err = store_start(st)) != ATP_OK) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    if ((err = engine_start(eng)) != ATP_OK || (err = changes_start(chg)) != ATP_OK ||
        (err = ingest_start(in)) != ATP_OK) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    health_cond_set(HEALTH_LISTENERS, true); /* each bound in its _alloc */
    log_info("atpd",
             "atpd %s ready: queries on %s, sources on %s, change feed on %s, "
             "resync requests on %s, HTTP on %s (%zu regions, %zu locations, "
             "%zu sources)",
             ATP_VERSION, server_listen_url(srv), ingest_listen_url(in, false),
             changes_listen_url(chg), ingest_listen_url(in, true),
             web != NULL ? http_listen_url(web) : "(off)",
             cfg.n_regions, cfg.n_locations, cfg.n_sources);
    if (args.ready_file != NULL &&
        atpd_ready_file(args.ready_file, srv, in, chg, web) != 0) {
        log_error("atpd", "cannot write the ready file %s: %s", args.ready_file,
                  strerror(errno));
        goto out;
    }

    notify_ready("ready");
    atpd_reload reload = {.args = &args, .started = &cfg, .eng = eng, .src = src};
    int sig = atpd_wait_signal(&stop, &reload);
    log_info("atpd", "signal %d (%s): shutting down", sig, strsignal(sig));
    notify_stopping("stopping");
    health_set_stopping(); /* /readyz 503 "stopping" while it drains */
    if (reload.have_last)
        config_fini(&reload.last);
    rc = 0;
out:
    /* Order matters: no new batches; the engine applies what is queued,
     * answers every reservation waiting on it (their replies still need the
     * server's socket, so the server stops after), writes a final snapshot;
     * then no new requests (those arriving meanwhile are refused by the
     * stopped engine), then free the held messages and the state. */
    if (in != NULL)
        ingest_stop(in);
    if (eng != NULL)
        engine_stop(eng); /* waits for the store to finish its group */
    if (web != NULL)
        http_stop(web); /* its waiting replies were answered by engine_stop */
    if (srv != NULL)
        server_stop(srv);
    if (chg != NULL)
        changes_stop(chg);
    store_close(st);
    store_applied_close(applied); /* after engine_stop: nothing writes it */
    http_free(web); /* after server_stop (status reads it) and changes_stop */
    server_free(srv);
    changes_free(chg);
    ingest_free(in);
    sources_free(src);
    engine_free(eng);
    config_fini(&cfg);
    log_repeats_flush();
    return rc;
}
