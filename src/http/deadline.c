/* deadline.c - see deadline.h. One watchdog thread ("atp:http-dl")
 * scans the registered connections a few times per timeout. */
#include "http/deadline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"

struct http_deadline_conn {
    http_deadline_conn *prev, *next; /* guarded by http_deadline.mu */
    int fd;
    int64_t since_ms; /* reading a request since (monotonic ms) */
    bool answering;   /* the request is whole: no deadline */
    bool shut;        /* shut down once: not again */
};

struct http_deadline {
    pthread_mutex_t mu; /* guards conns, stop */
    pthread_cond_t cv;  /* stop */
    http_deadline_conn *conns;
    bool stop;
    int64_t timeout_ms;
    pthread_t thread;
    _Atomic uint64_t closed;
};

/* http_deadline_scan shuts down every connection past its deadline at
 * now. Under d->mu: a connection is unregistered (under it) before
 * libmicrohttpd closes its socket, so the fd shut down is still its own. */
static void http_deadline_scan(http_deadline *d, int64_t now)
{
    for (http_deadline_conn *c = d->conns; c != NULL; c = c->next) {
        if (c->shut || c->answering || now - c->since_ms < d->timeout_ms)
            continue;
        c->shut = true;
        shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add_explicit(&d->closed, 1, memory_order_relaxed);
        log_debug("http", "closed a connection whose request did not arrive "
                          "whole within service.http_timeout");
    }
}

static void *http_deadline_main(void *arg)
{
    http_deadline *d = arg;
    thread_name("atp:http-dl");
    /* A few scans per timeout: closed within timeout + timeout/4. */
    int64_t step_ms = d->timeout_ms / 4 > 250 ? 250 : d->timeout_ms / 4 + 1;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + step_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        if (!d->stop)
            http_deadline_scan(d, clock_mono_ms());
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

atp_err http_deadline_start(int64_t timeout_ms, http_deadline **out)
{
    http_deadline *d = calloc(1, sizeof *d);
    if (d == NULL)
        return ATP_E_NOMEM;
    d->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, http_deadline_main, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return ATP_E_NOMEM;
    }
    *out = d;
    return ATP_OK;
}

void http_deadline_stop(http_deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    while (d->conns != NULL) {
        http_deadline_conn *c = d->conns;
        d->conns = c->next;
        free(c);
    }
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

http_deadline_conn *http_deadline_open(http_deadline *d, int fd)
{
    http_deadline_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->since_ms = clock_mono_ms();
    pthread_mutex_lock(&d->mu);
    c->next = d->conns;
    if (d->conns != NULL)
        d->conns->prev = c;
    d->conns = c;
    pthread_mutex_unlock(&d->mu);
    return c;
}

void http_deadline_answering(http_deadline *d, http_deadline_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    c->answering = true;
    pthread_mutex_unlock(&d->mu);
}

void http_deadline_reading(http_deadline *d, http_deadline_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    c->answering = false;
    c->since_ms = clock_mono_ms();
    pthread_mutex_unlock(&d->mu);
}

void http_deadline_close(http_deadline *d, http_deadline_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&d->mu);
    free(c);
}

uint64_t http_deadline_closed(const http_deadline *d)
{
    return d == NULL ? 0
                     : atomic_load_explicit(&((http_deadline *)d)->closed,
                                            memory_order_relaxed);
}
