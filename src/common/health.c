/*
 * health.c - readiness conditions and per-thread progress (health.h).
 * Slots are read lock-free by whoever asks (status, /healthz, the
 * watchdog); a slot's owner writes it with relaxed atomics, one clock read
 * per report.
 */
#include "common/health.h"

#include <pthread.h>
#include <stdatomic.h>

#include "common/clock.h"

struct health_slot {
    _Atomic(const char *) name; /* NULL: free */
    _Atomic bool busy;
    _Atomic bool long_op;    /* health_long: busy, never stuck */
    _Atomic int64_t last_ms; /* last progress (busy) or when it went idle */
};

static struct {
    _Atomic bool cond[HEALTH_COND_COUNT];
    _Atomic bool stopping;
    _Atomic int64_t stall_ms;
    pthread_mutex_t mu; /* add and remove */
    health_slot slots[HEALTH_THREADS_MAX];
} health = {.stall_ms = HEALTH_STALL_DEFAULT_MS,
            .mu = PTHREAD_MUTEX_INITIALIZER};

const char *health_cond_name(health_cond c)
{
    static const char *const names[HEALTH_COND_COUNT] = {
        "store", "snapshot", "reservations", "listeners"};
    return c < HEALTH_COND_COUNT ? names[c] : "unknown";
}

void health_cond_set(health_cond c, bool met)
{
    if (c < HEALTH_COND_COUNT)
        atomic_store(&health.cond[c], met);
}

bool health_cond_met(health_cond c)
{
    return c < HEALTH_COND_COUNT && atomic_load(&health.cond[c]);
}

bool health_ready(void)
{
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        if (!atomic_load(&health.cond[c]))
            return false;
    return true;
}

void health_set_stopping(void)
{
    atomic_store(&health.stopping, true);
}

bool health_stopping(void)
{
    return atomic_load(&health.stopping);
}

health_slot *health_thread_add(const char *name)
{
    health_slot *found = NULL;
    pthread_mutex_lock(&health.mu);
    for (size_t i = 0; i < HEALTH_THREADS_MAX && found == NULL; i++) {
        health_slot *s = &health.slots[i];
        if (atomic_load_explicit(&s->name, memory_order_relaxed) != NULL)
            continue;
        atomic_store_explicit(&s->busy, false, memory_order_relaxed);
        atomic_store_explicit(&s->long_op, false, memory_order_relaxed);
        atomic_store_explicit(&s->last_ms, clock_mono_ms(),
                              memory_order_relaxed);
        atomic_store_explicit(&s->name, name, memory_order_release);
        found = s;
    }
    pthread_mutex_unlock(&health.mu);
    return found;
}

void health_thread_remove(health_slot *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&health.mu);
    atomic_store_explicit(&s->name, NULL, memory_order_release);
    pthread_mutex_unlock(&health.mu);
}

void health_busy(health_slot *s)
{
    if (s == NULL)
        return;
    atomic_store_explicit(&s->last_ms, clock_mono_ms(), memory_order_relaxed);
    atomic_store_explicit(&s->long_op, false, memory_order_relaxed);
    atomic_store_explicit(&s->busy, true, memory_order_release);
}

void health_long(health_slot *s)
{
    if (s == NULL)
        return;
    atomic_store_explicit(&s->last_ms, clock_mono_ms(), memory_order_relaxed);
    atomic_store_explicit(&s->long_op, true, memory_order_relaxed);
    atomic_store_explicit(&s->busy, true, memory_order_release);
}

void health_idle(health_slot *s)
{
    if (s == NULL)
        return;
    atomic_store_explicit(&s->busy, false, memory_order_relaxed);
    atomic_store_explicit(&s->long_op, false, memory_order_relaxed);
    atomic_store_explicit(&s->last_ms, clock_mono_ms(), memory_order_relaxed);
}

void health_set_stall_ms(int64_t ms)
{
    if (ms > 0)
        atomic_store(&health.stall_ms, ms);
}

int64_t health_stall_ms(void)
{
    return atomic_load(&health.stall_ms);
}

size_t health_threads_get(int64_t now_ms, health_thread_info *out, size_t max,
                          size_t *stuck)
{
    int64_t stall = health_stall_ms();
    size_t n = 0;
    *stuck = 0;
    for (size_t i = 0; i < HEALTH_THREADS_MAX && n < max; i++) {
        health_slot *s = &health.slots[i];
        const char *name = atomic_load_explicit(&s->name, memory_order_acquire);
        if (name == NULL)
            continue;
        /* busy (acquire) before last_ms: health_busy stores last_ms
         * first, so a thread seen busy shows a last_ms at least as new as
         * when it became busy (never the old one of its idle time). */
        bool busy = atomic_load_explicit(&s->busy, memory_order_acquire);
        int64_t since =
            now_ms - atomic_load_explicit(&s->last_ms, memory_order_relaxed);
        if (since < 0)
            since = 0;
        bool long_op = atomic_load_explicit(&s->long_op, memory_order_relaxed);
        bool is_stuck = busy && !long_op && since > stall;
        out[n++] = (health_thread_info){name, busy, is_stuck, long_op, since};
        *stuck += is_stuck;
    }
    return n;
}
