/*
 * main.c - atpd: the order in which the modules are created, started and
 * stopped. Parse the command line and the configuration, create the
 * modules, restore the state, start them, wait for SIGINT/SIGTERM (SIGHUP
 * reloads the configuration file), shut down in order. Only wiring lives
 * here: each step's work is in its module (the process's own jobs in
 * src/daemon); see docs/ARCHITECTURE.md.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cluster/cluster.h"
#include "common/health.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "notify/notify.h"
#include "tls/tls.h"

/* jemalloc's options, read once at start (ignored without jemalloc, as in
 * sanitizer builds). background_thread: purge freed dirty pages on a timer
 * of jemalloc's own; without it, purging only happens while the process
 * allocates, so an atpd that settled after loading kept the store's copies
 * of its snapshots resident. */
const char *malloc_conf = "background_thread:true";

int main(int argc, char **argv)
{
    daemon_args args = {0};
    int rc = daemon_args_parse(argc, argv, &args);
    if (rc >= 0)
        return rc;

    config cfg;
    if ((rc = daemon_config_load(&args, &cfg)) != 0)
        return rc;
    sigset_t signals;                    /* taken by daemon_wait_signal only */
    daemon_process_init(&cfg, &signals); /* before any thread exists */

    store *st = NULL;
    store_applied *applied = NULL;
    admin *adm = NULL;
    engine *eng = NULL;
    sources *src = NULL;
    ingest *in = NULL;
    changes *chg = NULL;
    daemon_forget forget = {.n = 0}; /* a single node's old cluster positions */
    server *srv = NULL;
    http *web = NULL;   /* service.http_listen: NULL when not configured */
    cluster *cl = NULL; /* cluster: (docs/CLUSTER.md); NULL: one node */
    atp_err err;
    rc = 1;
    daemon_log_start(&args, &cfg);
    if (daemon_check_listeners(&cfg) != 0) /* before anything is created */
        goto out;
    store_options sopt = daemon_store_options(&cfg);
    if ((err = store_open(cfg.service.data_dir, &sopt, &st)) != ATP_OK) {
        log_error("atpd", "cannot open the store in %s: %s",
                  cfg.service.data_dir,
                  err == ATP_E_BAD_STATE
                      ? "another atpd uses it; stop that one, or give this "
                        "one its own service.data_dir (or --data-dir)"
                      : atp_err_message(err));
        goto out;
    }
    health_cond_set(HEALTH_STORE, true); /* store_open replayed the log */
    /* The stored buffer rules and location regions win over the file's:
     * laid over cfg before anything is made from it. */
    if (daemon_admin_open(st, &cfg, &adm) != ATP_OK)
        goto out;
    engine_persist persist = daemon_persist(st);
    /* In a cluster, reservation groups go to the partition's stream
     * before the store. */
    if (cfg.cluster.enabled) {
        if ((err = cluster_alloc(&cfg, &persist, &cl)) != ATP_OK) {
            log_error("atpd", "start-up failed: %s", atp_err_message(err));
            goto out;
        }
        persist = cluster_persist(cl);
    }
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
    if (cl != NULL && cfg.cluster.n_partitions >= 2) {
        /* one change feed across the partitions (docs/CLUSTER.md) */
        cluster_feed_relay(cl, changes_relay_msg, chg);
        changes_mirror_set(chg, cluster_feed_publish, cl);
    }
    /* Every listener is up: connections that never finish a TLS handshake
     * are shut from now on (tls.h). */
    if ((err = tls_janitor_start(cfg.service.tls_handshake_timeout_ms)) !=
        ATP_OK) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    server_request_env(srv)->gate_ready = true; /* before any request */
    server_request_env(srv)->admin = adm;
    if ((cfg.service.http_listen != NULL &&
         (err = http_alloc(&cfg, server_request_env(srv), chg, &web)) !=
             ATP_OK) ||
        (err = server_start(srv)) != ATP_OK ||
        (web != NULL && (err = http_start(web)) != ATP_OK) ||
        (err = daemon_restore(st, eng, src, cl == NULL)) != ATP_OK ||
        (cl == NULL && (err = daemon_forget_scan(st, &forget)) != ATP_OK) ||
        (cl != NULL &&
         (err = daemon_scan_local(st, cluster_seed, cluster_seed_meta, cl)) !=
             ATP_OK)) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    applied = daemon_applied_open(&cfg, st, eng);
    if ((err = store_start(st)) != ATP_OK ||
        (cl == NULL && (err = daemon_forget_cluster(st, &forget)) != ATP_OK)) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    if ((err = engine_start(eng)) != ATP_OK ||
        (err = admin_start(adm, eng, src)) != ATP_OK ||
        (err = changes_start(chg)) != ATP_OK ||
        (err = ingest_start(in)) != ATP_OK ||
        (cl != NULL &&
         (cluster_advertise(cl, server_listen_url(srv),
                            web != NULL ? http_listen_url(web) : NULL),
          (err = cluster_start(cl, eng)) != ATP_OK))) {
        log_error("atpd", "start-up failed: %s", atp_err_message(err));
        goto out;
    }
    health_cond_set(HEALTH_LISTENERS, true); /* each bound in its _alloc */
    log_info("atpd",
             "atpd %s %s: queries on %s, sources on %s, change feed on %s, "
             "resync requests on %s, HTTP on %s (%zu regions, %zu locations, "
             "%zu sources)",
             ATP_VERSION,
             cl != NULL ? "up (a cluster node: it serves once it owns its "
                          "partition)"
                        : "ready",
             server_listen_url(srv), ingest_listen_url(in, false),
             changes_listen_url(chg), ingest_listen_url(in, true),
             web != NULL ? http_listen_url(web) : "(off)",
             config_regions_in_service(&cfg), sources_locations_live(src),
             cfg.n_sources);
    if (args.ready_file != NULL &&
        daemon_ready_file(args.ready_file, srv, in, chg, web) != 0) {
        log_error("atpd", "cannot write the ready file %s: %s", args.ready_file,
                  strerror(errno));
        goto out;
    }

    notify_ready("ready");
    daemon_reload reload;
    daemon_reload_init(&reload, &args, &cfg, eng, src, adm);
    int sig = daemon_wait_signal(&signals, &reload);
    log_info("atpd", "signal %d (%s): shutting down", sig, strsignal(sig));
    notify_stopping("stopping");
    health_set_stopping(); /* /readyz 503 "stopping" while it drains */
    daemon_drain(&signals, cfg.service.stop_drain_ms);
    daemon_reload_fini(&reload);
    rc = 0;
out:
    /* Order matters: no new batches; the engine applies what is queued,
     * answers every reservation waiting on it (their replies still need the
     * server's socket, so the server stops after), writes a final snapshot;
     * then no new requests (those arriving meanwhile are refused by the
     * stopped engine), then free the held messages and the state. */
    admin_stop(adm); /* its changes use the engine and the store */
    tls_janitor_stop();
    if (in != NULL)
        ingest_stop(in);
    if (eng != NULL)
        engine_stop(eng); /* waits for the store to finish its group */
    cluster_stop(cl);     /* after the engine: its last groups are published */
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
    cluster_free(cl);
    admin_free(adm);
    config_fini(&cfg);
    log_repeats_flush();
    return rc;
}
