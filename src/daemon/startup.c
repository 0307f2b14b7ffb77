/*
 * startup.c - the start-up steps of atpd's process that no module owns:
 * the signal mask and scheduling policy every thread inherits, the
 * start-up log line, the checks of the listen addresses made before
 * anything is created, and the ready file. Main thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codec/codec.h"
#include "common/assert.h"
#include "common/listen_check.h"
#include "common/log.h"
#include "common/thread.h"
#include "daemon/daemon.h"

void daemon_process_init(const config *cfg, sigset_t *set)
{
    ATP_ASSERT(cfg != NULL && set != NULL);
    /* The stop signals are blocked before any thread exists (nng's
     * included), so that only daemon_wait_signal receives them. */
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP); /* a reload, never a stop */
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Likewise the scheduling policy, before nng and our modules start
     * threads: each inherits it. */
    int sched_rc = cfg->service.sched_batch ? thread_sched_batch() : 0;
    if (sched_rc != 0)
        log_warn("atpd",
                 "service.scheduling: batch: SCHED_BATCH not set on "
                 "every thread (%s)",
                 strerror(sched_rc));
}

/* daemon_log_start says what this atpd is about to use: version, config
 * file, data directory (absolute, so that a relative default is no
 * surprise) and the addresses it will listen on. */
void daemon_log_start(const daemon_args *a, const config *cfg)
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

/* A TCP URL with port 0: each such socket gets a port of its own. */
static bool daemon_port_zero(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon != NULL && strcmp(colon, ":0") == 0;
}

/* daemon_check_listen checks the four listen URLs before anything is
 * created (the store makes its data directory and a 64 MiB map): a port
 * already taken, or given twice, stops atpd here with a message that says
 * which key and how to change it. Returns 0 or 1 (said in the log). */
static int daemon_check_listen(const config *cfg)
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
                !daemon_port_zero(socks[i].url)) {
                log_error("atpd",
                          "start-up failed: service.%s and service.%s "
                          "are both %s; give each its own port (%s URL, or "
                          "port 0 for any free one)",
                          socks[k].key, socks[i].key, socks[i].url,
                          socks[i].opt);
                bad = 1;
            }
        if (!listen_check(socks[i].url, why, sizeof why)) {
            log_error("atpd",
                      "start-up failed: cannot listen on %s (service.%s): "
                      "%s; change it with %s URL or service.%s in the "
                      "configuration (port 0: any free port, see --ready-file)",
                      socks[i].url, socks[i].key, why, socks[i].opt,
                      socks[i].key);
            bad = 1;
        }
    }
    return bad;
}

int daemon_check_listeners(const config *cfg)
{
    ATP_ASSERT(cfg != NULL);
    char insecure[512];
    if (config_insecure_listener(cfg, false, insecure, sizeof insecure)) {
        /* After the command-line overrides, before any socket is bound. */
        log_error("atpd", "start-up refused: %s", insecure);
        return 1;
    }
    if (config_insecure_listener(cfg, true, insecure, sizeof insecure))
        log_warn("atpd", "%s", insecure);
    else if (cfg->auth.n_tokens > 0)
        log_info("atpd",
                 "auth: %zu client tokens; every request needs one "
                 "(docs/SECURITY.md)",
                 cfg->auth.n_tokens);
    return daemon_check_listen(cfg);
}

/* One JSON string value; URLs come from the configuration, so escape. */
static void daemon_json_str(FILE *f, const char *key, const char *v)
{
    fprintf(f, ", \"%s\": ", key);
    codec_json_str_file(f, v, strlen(v));
}

/* --ready-file: written to FILE.tmp and renamed, so that a reader sees the
 * whole file or none. Tests and supervisors wait for it instead of polling,
 * and learn the ports atpd chose for the URLs configured with port 0. */
int daemon_ready_file(const char *path, server *srv, ingest *in, changes *chg,
                      http *web)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"pid\": %ld", (long)getpid());
    daemon_json_str(f, "version", ATP_VERSION);
    daemon_json_str(f, "query", server_listen_url(srv));
    daemon_json_str(f, "ingest", ingest_listen_url(in, false));
    daemon_json_str(f, "feed", changes_listen_url(chg));
    daemon_json_str(f, "control", ingest_listen_url(in, true));
    if (web != NULL)
        daemon_json_str(f, "http", http_listen_url(web));
    fprintf(f, "}\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
