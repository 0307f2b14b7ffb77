/*
 * daemon.h - the jobs of atpd's own process that belong to no other
 * module: the command line (and --help, --check-config), loading the
 * configuration with its command-line overrides, the start-up checks and
 * the ready file, the engine's persistence interface backed by the store
 * and the restore from it, and the main thread's life after start-up
 * (signals: SIGHUP reloads, SIGINT/SIGTERM stop; the watchdog).
 * main.c calls these in order; everything here runs on the main thread,
 * except the persistence callbacks (daemon_persist), which run on the
 * engine's threads.
 */
#ifndef ATP_DAEMON_H
#define ATP_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/admin.h"
#include "changes/changes.h"
#include "config/config.h"
#include "engine/engine.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "server/server.h"
#include "sources/sources.h"
#include "store/store.h"

/* The command line (args.c). Strings point into argv. */
typedef struct daemon_args {
    const char *config_path;
    const char *query_listen, *ingest_listen, *feed_listen, *control_listen;
    const char *http_listen;
    const char *data_dir, *log_level, *ready_file;
} daemon_args;

/* daemon_args_parse reads argv into a (docs/CONFIG.md, "Command line").
 * Returns -1 to go on, or the exit code when atpd is done already:
 * --help and --version (0), --check-config (0 or 1), a usage error (2). */
int daemon_args_parse(int argc, char **argv, daemon_args *a);

/* daemon_config_load loads the configuration a names (or the defaults),
 * applies the command line's overrides and the log and stall settings.
 * Returns 0 with cfg filled (caller frees it with config_fini), or the
 * exit code with the problems said on stderr. */
int daemon_config_load(const daemon_args *a, config *cfg);

/* daemon_process_init blocks SIGINT, SIGTERM and SIGHUP in the calling
 * thread and fills set with them (daemon_wait_signal takes them), ignores
 * SIGPIPE and applies service.scheduling. Call it before any thread
 * exists, nng's included: every thread inherits the mask and the policy. */
void daemon_process_init(const config *cfg, sigset_t *set);

/* daemon_log_start logs what this atpd is about to use: version, config
 * file, data directory, listen addresses. */
void daemon_log_start(const daemon_args *a, const config *cfg);

/* daemon_check_listeners runs the checks made before anything is created
 * (the store makes its directory and map): a client listener beyond
 * loopback without tokens is refused, the four nng listen URLs must be
 * free and distinct. Returns 0, or 1 (said in the log). */
int daemon_check_listeners(const config *cfg);

/* daemon_store_options: the store's options from cfg's reservations
 * section. */
store_options daemon_store_options(const config *cfg);

/* daemon_persist: the engine's persistence interface backed by st
 * (borrowed; it outlives the engine). */
engine_persist daemon_persist(store *st);

/* daemon_admin_open restores the administered state from st's "admin"
 * database and lays it over cfg's buffer rules and location regions, or
 * seeds it from cfg (admin_begin): after store_open, before the engine is
 * made from cfg. Returns it (admin_free after engine_stop), or the error
 * (logged). */
atp_err daemon_admin_open(store *st, config *cfg, admin **out);

/* daemon_restore loads the last snapshot (positions, lots, source
 * offsets, into eng and src) and, when reservations is true (not in a
 * cluster: docs/CLUSTER.md), the reservations from st, sets the
 * readiness conditions HEALTH_SNAPSHOT and HEALTH_RESERVATIONS, and logs
 * what it loaded. Before store_start and engine_start. */
atp_err daemon_restore(store *st, engine *eng, sources *src, bool reservations);

/* daemon_scan_local hands every record of st's reservations database to
 * records and every record of its meta database to meta (store_scan's
 * callback shape, ctx passed): a cluster node's warm copy starts from
 * them (cluster_seed, docs/CLUSTER.md). Before store_start. */
typedef bool (*daemon_scan_fn)(void *ctx, const void *key, size_t key_len,
                               const void *val, size_t val_len);
atp_err daemon_scan_local(store *st, daemon_scan_fn records,
                          daemon_scan_fn meta, void *ctx);

/* For a node started without a cluster: daemon_forget_scan (before
 * store_start) finds the store's cluster positions (docs/CLUSTER.md, "A
 * node's local copy"); daemon_forget_cluster (after store_start, before
 * anything else is written) deletes them and waits until they are gone:
 * this node's reservations then change outside the partition's stream,
 * so its store must not be taken for the stream's copy if it joins
 * again. */
#define DAEMON_FORGET_MAX 8
typedef struct daemon_forget {
    char keys[DAEMON_FORGET_MAX][200];
    size_t lens[DAEMON_FORGET_MAX], n;
} daemon_forget;
atp_err daemon_forget_scan(store *st, daemon_forget *f);
atp_err daemon_forget_cluster(store *st, const daemon_forget *f);

/* daemon_applied_open maps the store's applied file and gives the engine
 * each source's slot (engine_applied_attach), after daemon_restore.
 * Returns it (close with store_applied_close after engine_stop), or NULL:
 * atpd runs without it, with a warning (docs/PROTOCOL.md, "Expiry,
 * consumption, retention"). */
store_applied *daemon_applied_open(const config *cfg, store *st, engine *eng);

/* daemon_ready_file writes --ready-file FILE once atpd is ready: JSON with
 * the pid, the version and the URLs listened on (web NULL: no HTTP), to
 * FILE.tmp renamed to FILE. Returns 0, or -1 with errno set. */
int daemon_ready_file(const char *path, server *srv, ingest *in, changes *chg,
                      http *web);

/* What SIGHUP works with (reload.c): the configuration the modules were
 * built from (its structure and start-up keys stay in force until a
 * restart), the last one a reload applied (its heartbeat timeouts and log
 * settings are in force), and the admin state, which owns the buffer
 * rules and location regions in force (admin_reload). Caller's
 * storage: daemon_reload_init, daemon_reload_fini. */
typedef struct daemon_reload {
    const daemon_args *args;
    const config *started;
    config last;
    bool have_last;
    engine *eng;
    sources *src;
    admin *adm; /* the administered state: buffer rules, location regions */
    size_t refused;
} daemon_reload;

void daemon_reload_init(daemon_reload *r, const daemon_args *args,
                        const config *started, engine *eng, sources *src,
                        admin *adm);
void daemon_reload_fini(daemon_reload *r);

/* daemon_wait_signal: the main thread's life after start-up. Waits for a
 * signal of set; SIGHUP reloads (the service manager told RELOADING=1,
 * then READY=1 again), SIGINT or SIGTERM is returned. With a systemd
 * watchdog (WATCHDOG_USEC), wakes every half interval to send its
 * keep-alive while every watched thread makes progress. */
int daemon_wait_signal(const sigset_t *set, daemon_reload *r);
/* daemon_drain: the stop's first step, with service.stop_drain > 0: atpd
 * is already not ready (/readyz 503 "stopping") and serves on for ms, so
 * that load balancers see it and stop sending before the listeners close
 * (docs/OPERATIONS.md). A second SIGTERM or SIGINT of set ends it at
 * once; SIGHUP is ignored then. Sends the watchdog keep-alive meanwhile. */
void daemon_drain(const sigset_t *set, int64_t ms);

#endif
