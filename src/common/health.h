/*
 * health.h - readiness and liveness of the process (docs/HTTP.md,
 * "/readyz" and "/healthz"; docs/PROTOCOL.md, ops "ready" and "health").
 *
 * Readiness: start-up sets each condition once it holds (main.c); atpd is
 * ready when all hold. Until then requests that need the state answer
 * not_ready (request module).
 *
 * Liveness: each long-lived thread registers a slot and reports when it
 * takes work (health_busy: progress, now) and when it goes back to
 * waiting for work (health_idle). A thread is stuck when it is busy and
 * has not reported progress for the stall timeout (service.stall_timeout):
 * a thread that waits for work is never stuck, however long it waits.
 *
 * Process-wide state (one atpd per process), like the log. Every function
 * may be called from any thread; a NULL slot is accepted and ignored (a
 * table full of slots: that thread is simply not watched).
 */
#ifndef ATP_HEALTH_H
#define ATP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The readiness conditions, in start-up order. */
typedef enum health_cond {
    HEALTH_STORE,        /* store open, its reservation log replayed */
    HEALTH_SNAPSHOT,     /* positions, lots, source offsets restored */
    HEALTH_RESERVATIONS, /* reservations restored into the engine */
    HEALTH_LISTENERS,    /* every configured listener bound (nng, HTTP) */
    HEALTH_COND_COUNT,
} health_cond;

/* health_cond_name: "store", "snapshot", "reservations", "listeners". */
const char *health_cond_name(health_cond c);

void health_cond_set(health_cond c, bool met);
bool health_cond_met(health_cond c);

/* health_ready: every condition holds. */
bool health_ready(void);

/* Stopping: set once when shutdown begins (SIGTERM, SIGINT), never
 * cleared. A stopping atpd is not ready (/readyz 503 naming "stopping")
 * though requests are still answered while it drains; health_ready, which
 * gates requests, does not look at it. */
void health_set_stopping(void);
bool health_stopping(void);

/* The most threads watched at once. */
#define HEALTH_THREADS_MAX 32

typedef struct health_slot health_slot;

/* health_thread_add registers a thread under name (a string that outlives
 * the slot), idle. NULL when the table is full. */
health_slot *health_thread_add(const char *name);

/* health_thread_remove: the thread ends; its slot is free again. */
void health_thread_remove(health_slot *s);

/* health_busy: the thread has work and made progress just now. */
void health_busy(health_slot *s);

/* health_idle: the thread waits for work (not stuck while it does). */
void health_idle(health_slot *s);

/* health_long: the thread starts an operation known to take long without
 * reporting progress (a backup's copy of the whole store): busy, but not
 * stuck, however long it takes, until its next health_busy or health_idle
 * ends the operation. Any other hang of the thread is still detected. */
void health_long(health_slot *s);

/* The stall timeout (ms, > 0); default HEALTH_STALL_DEFAULT_MS. */
#define HEALTH_STALL_DEFAULT_MS 10000
void health_set_stall_ms(int64_t ms);
int64_t health_stall_ms(void);

/* One watched thread as health_threads_get saw it. */
typedef struct health_thread_info {
    const char *name;
    bool busy;
    bool stuck;
    bool long_op;     /* in an operation known to take long (health_long) */
    int64_t since_ms; /* ms since its last progress (busy) or since idle */
} health_thread_info;

/* health_threads_get fills out[0..max) with the watched threads (at most
 * max) as of now_ms (clock_mono_ms) and returns how many; *stuck counts
 * the stuck ones. */
size_t health_threads_get(int64_t now_ms, health_thread_info *out, size_t max,
                          size_t *stuck);

#endif
