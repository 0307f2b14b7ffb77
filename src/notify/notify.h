/*
 * notify.h - telling the service manager (systemd, Type=notify) where atpd
 * is: ready, reloading, stopping, a status line, and the watchdog's
 * keep-alive. Every call is a no-op when NOTIFY_SOCKET is unset (atpd not
 * started by systemd, or by a unit without Type=notify), and a failure to
 * send is logged once and otherwise ignored: it never stops atpd.
 * Main thread only.
 */
#ifndef ATP_NOTIFY_H
#define ATP_NOTIFY_H

#include <stdint.h>

/* notify_ready: READY=1 with STATUS=status (start-up done, or a reload
 * finished). */
void notify_ready(const char *status);

/* notify_reloading: RELOADING=1 (with MONOTONIC_USEC, which systemd
 * wants for it) before a reload starts; notify_ready ends it. */
void notify_reloading(const char *status);

/* notify_stopping: STOPPING=1 when the stop begins. */
void notify_stopping(const char *status);

/* notify_watchdog: WATCHDOG=1, the keep-alive (send it only when healthy,
 * so that systemd restarts an atpd whose threads are stuck). */
void notify_watchdog(void);

/* notify_watchdog_ms: half the watchdog interval systemd asked for
 * (WATCHDOG_USEC, for this pid), the period at which to send
 * notify_watchdog; 0 when there is no watchdog. */
int64_t notify_watchdog_ms(void);

#endif
