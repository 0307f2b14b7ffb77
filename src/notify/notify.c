/*
 * notify.c - sd_notify(3) from libsystemd (notify.h). The only file that
 * includes <systemd/sd-daemon.h>.
 */
#include "notify/notify.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "common/log.h"

static bool notify_failed; /* main thread only: log the first failure */

/* notify_send: sd_notify with a STATUS= line when status is not NULL.
 * sd_notify returns 0 when NOTIFY_SOCKET is unset (nothing sent). */
static void notify_send(const char *state, const char *status)
{
    char msg[512];
    if (status != NULL)
        snprintf(msg, sizeof msg, "%s\nSTATUS=%s", state, status);
    else
        snprintf(msg, sizeof msg, "%s", state);
    int rc = sd_notify(0, msg);
    if (rc < 0 && !notify_failed) {
        notify_failed = true;
        log_warn("notify",
                 "cannot notify the service manager (NOTIFY_SOCKET): "
                 "%s; atpd goes on without",
                 strerror(-rc));
    }
}

void notify_ready(const char *status)
{
    notify_send("READY=1", status);
}

void notify_reloading(const char *status)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char state[96];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000u);
    notify_send(state, status);
}

void notify_stopping(const char *status)
{
    notify_send("STOPPING=1", status);
}

void notify_watchdog(void)
{
    notify_send("WATCHDOG=1", NULL);
}

int64_t notify_watchdog_ms(void)
{
    uint64_t usec = 0;
    /* > 0: WATCHDOG_USEC is set for this pid (WATCHDOG_PID, if set, names
     * it). Half the interval: one lost or late keep-alive is no restart. */
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    int64_t ms = (int64_t)(usec / 2000u);
    return ms > 0 ? ms : 1;
}
