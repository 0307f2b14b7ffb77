/*
 * reload.c - the main thread's life after start-up: waiting for signals,
 * SIGHUP's reload of the configuration file (docs/CONFIG.md, "Reload"),
 * and the service manager's watchdog keep-alive. Main thread.
 */
#include <signal.h>
#include <time.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "daemon/daemon_int.h"
#include "notify/notify.h"

void daemon_reload_init(daemon_reload *r, const daemon_args *args,
                        const config *started, engine *eng, sources *src,
                        admin *adm)
{
    ATP_ASSERT(args != NULL && started != NULL && eng != NULL && src != NULL);
    ATP_ASSERT(adm != NULL);
    *r = (daemon_reload){
        .args = args, .started = started, .eng = eng, .src = src, .adm = adm};
}

void daemon_reload_fini(daemon_reload *r)
{
    if (r->have_last)
        config_fini(&r->last);
    r->have_last = false;
}

static void daemon_reload_report(void *ctx, config_change kind,
                                 const char *what)
{
    daemon_reload *r = ctx;
    if (kind == CONFIG_CHANGE_REFUSED) {
        r->refused++;
        log_error("atpd",
                  "reload: %s; that needs a restart (docs/CONFIG.md, "
                  "\"Reload\")",
                  what);
    } else {
        log_warn("atpd",
                 "reload: %s changed; the running value stays until "
                 "atpd restarts (docs/CONFIG.md, \"Reload\")",
                 what);
    }
}

/* daemon_reload_check: how many differences of next refuse the reload
 * (admin_reload calls it once it laid the admin state over next; the
 * keys that wait for a restart are only logged). */
static size_t daemon_reload_check(void *ctx, const config *next)
{
    daemon_reload *r = ctx;
    size_t before = r->refused;
    config_compare(r->started, next, daemon_reload_report, r);
    return r->refused - before;
}

/* daemon_reload_run: SIGHUP. Applies the new file's buffer rules and
 * location regions when they changed in it (admin_reload: through the
 * engine thread, as one command, and stored as the admin state's next
 * version; otherwise the admin state stays), heartbeat timeouts and log
 * settings, or
 * nothing at all when the file is invalid or changes the structure. Never
 * stops atpd. */
static void daemon_reload_run(daemon_reload *r)
{
    const char *path = r->args->config_path;
    if (path == NULL) {
        log_warn("atpd",
                 "SIGHUP: atpd runs without --config: nothing to reload");
        return;
    }
    log_repeats_flush();
    log_info("atpd", "SIGHUP: reloading %s", path);
    config next;
    if (daemon__config_read(r->args, &next, true) != 0)
        return;
    r->refused = 0;
    /* Buffer rules and locations go through the admin state: the file's
     * apply only when they changed in it (docs/CONFIG.md, "Run-time
     * administration"); the structure is compared with next as the admin
     * state leaves it (daemon_reload_check). */
    engine_rules_report rep = {0};
    atp_err err = admin_reload(r->adm, &next, daemon_reload_check, r, &rep);
    if (r->refused > 0) {
        log_error("atpd",
                  "reload refused: %s changes what only a restart can "
                  "apply; nothing was changed, the running configuration stays "
                  "in force",
                  path);
        config_fini(&next);
        return;
    }
    if (err != ATP_OK) {
        log_error("atpd",
                  "reload refused: the file's regions, locations, channels, "
                  "buffer rules and authority not applied: %s%s%s; the "
                  "running configuration stays in force",
                  atp_err_message(err), rep.refused[0] ? ": " : "",
                  rep.refused);
        config_fini(&next);
        return;
    }
    daemon__runtime_configure(&next);
    /* A removed location's positions are zero now: a snapshot deletes
     * their records, so they cannot come back with old stock if the
     * location is named again (a restart after a kill -9 included). */
    if (rep.moved.removed > 0 && (err = engine_snapshot_now(r->eng)) != ATP_OK)
        log_warn("atpd",
                 "reload: the snapshot after removing locations was "
                 "not stored (%s); it is retried every snapshot_interval",
                 atp_err_message(err));
    log_info("atpd",
             "reload applied: %zu buffer rules (%zu added, removed or "
             "changed; %llu rows marked for the change feed), %zu locations "
             "moved to another region (%llu positions, %llu rows changed), "
             "%zu removed, %zu named again, %zu inbound horizons changed, "
             "%zu source heartbeat timeouts, log level %s, log format %s",
             rep.rules, rep.scopes_changed, (unsigned long long)rep.rows_marked,
             rep.moved.locations, (unsigned long long)rep.moved.positions,
             (unsigned long long)rep.moved.rows, rep.moved.removed,
             rep.moved.restored, rep.horizons_changed, next.n_sources,
             next.service.log_level, next.service.log_json ? "json" : "text");
    if (r->have_last)
        config_fini(&r->last);
    r->last = next;
    r->have_last = true;
}

/* daemon_watchdog: the service manager's keep-alive, sent only while every
 * watched thread makes progress (common/health.h): a stuck atpd stops
 * sending it and systemd restarts it (WatchdogSec=). */
static void daemon_watchdog(void)
{
    health_thread_info t[HEALTH_THREADS_MAX];
    size_t stuck;
    size_t n =
        health_threads_get(clock_mono_ms(), t, HEALTH_THREADS_MAX, &stuck);
    if (stuck == 0) {
        notify_watchdog();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (t[i].stuck)
            log_error("atpd",
                      "thread %s made no progress for %lld ms (busy; "
                      "service.stall_timeout %lld ms): no watchdog keep-alive",
                      t[i].name, (long long)t[i].since_ms,
                      (long long)health_stall_ms());
}

/* daemon_drain: see daemon.h. */
void daemon_drain(const sigset_t *set, int64_t ms)
{
    if (ms <= 0)
        return;
    log_info("atpd",
             "draining for %lld ms (service.stop_drain): serving on, not "
             "ready; SIGTERM again stops at once",
             (long long)ms);
    int64_t end = clock_mono_ms() + ms;
    int64_t period = notify_watchdog_ms();
    for (int64_t now = clock_mono_ms(); now < end; now = clock_mono_ms()) {
        int64_t wait = end - now;
        if (period > 0 && wait > period)
            wait = period;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        daemon_watchdog();
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("atpd", "signal %d (%s) while draining: stopping now", sig,
                     strsignal(sig));
            return;
        }
        if (sig == SIGHUP)
            log_warn("atpd", "SIGHUP while stopping: no reload");
    }
}

/* daemon_wait_signal: the main thread's life after start-up. Waits for a
 * signal; SIGHUP reloads (RELOADING=1, then READY=1 again), SIGINT or
 * SIGTERM is returned. With a systemd watchdog (WATCHDOG_USEC), wakes every
 * half interval to send its keep-alive. */
int daemon_wait_signal(const sigset_t *set, daemon_reload *reload)
{
    int64_t period = notify_watchdog_ms();
    for (;;) {
        int sig;
        if (period > 0) {
            struct timespec ts = {period / 1000,
                                  (long)(period % 1000) * 1000000L};
            daemon_watchdog();
            sig = sigtimedwait(set, NULL, &ts);
        } else {
            sig = sigwaitinfo(set, NULL);
        }
        if (sig < 0)
            continue; /* EAGAIN: the watchdog's period; EINTR */
        if (sig != SIGHUP)
            return sig;
        notify_reloading("reloading the configuration");
        daemon_reload_run(reload);
        notify_ready("ready");
    }
}
