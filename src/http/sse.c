/*
 * sse.c - the change feed's event streams (see sse.h). The changes thread
 * appends to every matching stream (http_sse_feed); libmicrohttpd's
 * threads read from them (http_sse_read) and open them; a stream's lock
 * guards its buffer and flags, the hub's lock the list of streams.
 *
 * A stream is freed by the changes thread, never by the thread closing
 * it: http_sse_close only marks it, and the next feed or tick unlinks and
 * frees the marked ones. So the glue's close path takes no lock the
 * changes thread may hold while it wakes a connection.
 */
#define _GNU_SOURCE /* memmem */
#include "http/sse.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

/* What one stream may hold unsent; past it the client is too slow: the
 * pending events are replaced by one gap event (it must re-read with a
 * scan anyway). */
#define HTTP_SSE_BUF_MAX (1024 * 1024)
/* A comment line after this much silence, so that proxies keep the
 * stream and a vanished client is noticed (its write fails). */
#define HTTP_SSE_KEEPALIVE_MS 15000

struct http_sse_stream {
    http_sse *hub;
    http_sse_stream *next; /* hub list, guarded by hub->mu */
    pthread_mutex_t mu;    /* guards everything below */
    char *buf;
    size_t len, off, cap;
    bool asleep, ended, closed;
    int64_t last_ms; /* monotonic: when text was last queued */
    http_sse_io io;
    /* the filter, immutable after open */
    int64_t region; /* -1: every region */
    char sku[ATP_SKU_MAX_LEN + 1];
    size_t sku_len; /* 0: every SKU */
};

struct http_sse {
    const config *cfg;
    changes *chg;
    pthread_mutex_t mu; /* guards streams */
    http_sse_stream *streams;
    bool ended;
    _Atomic size_t count;
    int64_t keepalive_ms; /* set before streams open */
};

atp_err http_sse_alloc(const config *cfg, changes *chg, http_sse **out)
{
    http_sse *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->cfg = cfg;
    s->chg = chg;
    s->keepalive_ms = HTTP_SSE_KEEPALIVE_MS;
    pthread_mutex_init(&s->mu, NULL);
    if (chg != NULL)
        changes_listener_set(chg, http_sse_feed, s);
    *out = s;
    return ATP_OK;
}

static void http_sse_stream_free(http_sse_stream *st)
{
    pthread_mutex_destroy(&st->mu);
    free(st->buf);
    free(st);
}

void http_sse_free(http_sse *s)
{
    if (s == NULL)
        return;
    while (s->streams != NULL) {
        http_sse_stream *st = s->streams;
        s->streams = st->next;
        http_sse_stream_free(st);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* http_sse_put appends text to st (its lock held); wakes it if asleep.
 * Past HTTP_SSE_BUF_MAX the pending text becomes one gap event. */
static void http_sse_put(http_sse_stream *st, const char *text, size_t n)
{
    static const char gap[] =
        "event: gap\ndata: {\"reason\":\"slow_client\",\"message\":\"events "
        "were "
        "dropped: this client read too slowly; re-read with a scan "
        "(GET /v1/regions/{region}/availability)\"}\n\n";
    if (st->ended || st->closed)
        return;
    if (st->len - st->off + n > HTTP_SSE_BUF_MAX) {
        /* Keep the event the reader may be in the middle of (up to its
         * blank line), drop the ones not started, then the gap. */
        const char *end =
            memmem(st->buf + st->off, st->len - st->off, "\n\n", 2);
        st->len = end != NULL ? (size_t)(end + 2 - st->buf) : st->off;
        text = gap;
        n = sizeof gap - 1;
    }
    if (st->len + n > st->cap) {
        if (st->off > 0) { /* move the unsent text to the front first */
            memmove(st->buf, st->buf + st->off, st->len - st->off);
            st->len -= st->off;
            st->off = 0;
        }
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n)
            cap *= 2;
        if (cap > st->cap) {
            char *b = realloc(st->buf, cap);
            if (b == NULL) {
                log_warn("http",
                         "out of memory: an event stream lost an event");
                return;
            }
            st->buf = b;
            st->cap = cap;
        }
    }
    memcpy(st->buf + st->len, text, n);
    st->len += n;
    st->last_ms = clock_mono_ms();
    if (st->asleep) {
        st->asleep = false;
        st->io.wake(st->io.ctx);
    }
}

/* http_sse_sweep frees the streams marked closed (hub lock held; changes
 * thread or the last free). */
static void http_sse_sweep(http_sse *s)
{
    http_sse_stream **pp = &s->streams;
    while (*pp != NULL) {
        http_sse_stream *st = *pp;
        pthread_mutex_lock(&st->mu);
        bool closed = st->closed;
        pthread_mutex_unlock(&st->mu);
        if (closed) {
            *pp = st->next;
            http_sse_stream_free(st);
        } else {
            pp = &st->next;
        }
    }
}

static bool http_sse_match(const http_sse_stream *st, const changes_event *ev)
{
    return (st->region < 0 || st->region == (int64_t)ev->region) &&
           (st->sku_len == 0 || (st->sku_len == ev->sku_len &&
                                 memcmp(st->sku, ev->sku, ev->sku_len) == 0));
}

void http_sse_feed(void *arg, const changes_event *ev)
{
    http_sse *s = arg;
    pthread_mutex_lock(&s->mu);
    http_sse_sweep(s);
    if (ev == NULL) { /* a tick: keep-alives */
        int64_t now = clock_mono_ms();
        for (http_sse_stream *st = s->streams; st != NULL; st = st->next) {
            pthread_mutex_lock(&st->mu);
            if (now - st->last_ms >= s->keepalive_ms)
                http_sse_put(st, ": keep-alive\n\n", 14);
            pthread_mutex_unlock(&st->mu);
        }
        pthread_mutex_unlock(&s->mu);
        return;
    }
    char *json = NULL, *text = NULL;
    size_t n = 0;
    for (http_sse_stream *st = s->streams; st != NULL; st = st->next) {
        if (!http_sse_match(st, ev))
            continue;
        if (text == NULL) { /* built once, for the first stream that wants it */
            size_t jlen;
            if (codec_json_from_msgpack(ev->body, ev->body_len, &json, &jlen) !=
                ATP_OK)
                break;
            text = malloc(jlen + 64);
            if (text == NULL)
                break;
            n = (size_t)snprintf(
                text, 64, "id: %" PRIu64 "\nevent: change\ndata: ", ev->seq);
            memcpy(text + n, json, jlen);
            memcpy(text + n + jlen, "\n\n", 2);
            n += jlen + 2;
        }
        pthread_mutex_lock(&st->mu);
        http_sse_put(st, text, n);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->mu);
    free(json);
    free(text);
}

/* http_sse_filter reads the stream's filter from c into st. */
static bool http_sse_filter(http_sse *s, const http_call *c,
                            http_sse_stream *st, atp_err *err, char *msg,
                            size_t msg_cap)
{
    const codec_json_field *r = http_field_find(c, "region");
    const codec_json_field *k = http_field_find(c, "sku");
    st->region = -1;
    if (r != NULL) {
        st->region = config_region_find(s->cfg, r->str.ptr, r->str.len);
        if (st->region < 0) {
            char shown[80], list[160];
            codec_str_to_text(shown, sizeof shown, r->str.ptr, r->str.len);
            config_region_list(s->cfg, list, sizeof list);
            *err = ATP_E_UNKNOWN_REGION;
            snprintf(msg, msg_cap, "unknown region '%s'; regions: %s", shown,
                     list);
            return false;
        }
    }
    if (k != NULL) {
        if (!codec_str_is_id(k->str, ATP_SKU_MAX_LEN)) {
            *err = ATP_E_BAD_SKU;
            snprintf(msg, msg_cap, "sku must be 1..%d bytes of printable UTF-8",
                     ATP_SKU_MAX_LEN);
            return false;
        }
        memcpy(st->sku, k->str.ptr, k->str.len);
        st->sku_len = k->str.len;
    }
    return true;
}

http_sse_stream *http_sse_open(http_sse *s, const http_call *c,
                               const char *last_event_id, http_sse_io io,
                               atp_err *err, char *msg, size_t msg_cap)
{
    http_sse_stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        *err = ATP_E_NOMEM;
        snprintf(msg, msg_cap, "out of memory");
        return NULL;
    }
    if (!http_sse_filter(s, c, st, err, msg, msg_cap)) {
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    st->hub = s;
    st->io = io;
    st->last_ms = clock_mono_ms();
    /* The first text: the sequence the stream starts after, so that a
     * client knows where a scan it makes now stands; after a reconnect
     * with Last-Event-ID, a gap event first if anything may have been
     * published meanwhile (atpd keeps no history to replay). */
    char head[512];
    uint64_t seq = s->chg != NULL ? changes_seq(s->chg) : 0;
    size_t n = (size_t)snprintf(head, sizeof head, "retry: 2000\n\n");
    if (last_event_id != NULL) {
        char *end;
        unsigned long long last = strtoull(last_event_id, &end, 10);
        if (end == last_event_id || *end != '\0' || last != seq)
            n += (size_t)snprintf(head + n, sizeof head - n,
                                  "event: gap\ndata: {\"reason\":\"reconnect\","
                                  "\"seq\":%" PRIu64
                                  ",\"message\":\"atpd does not "
                                  "replay the change feed: re-read with a scan "
                                  "(GET /v1/regions/{region}/availability) and "
                                  "apply events with a higher id\"}\n\n",
                                  seq);
    }
    pthread_mutex_lock(&st->mu);
    http_sse_put(st, head, n);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&s->mu);
    bool ended = s->ended;
    if (!ended) {
        st->next = s->streams;
        s->streams = st;
        atomic_fetch_add(&s->count, 1);
    }
    pthread_mutex_unlock(&s->mu);
    if (ended) {
        http_sse_stream_free(st);
        *err = ATP_E_BUSY;
        snprintf(msg, msg_cap, "atpd is shutting down");
        return NULL;
    }
    if (s->chg != NULL)
        changes_listener_watch(s->chg, 1);
    return st;
}

ssize_t http_sse_read(http_sse_stream *st, char *buf, size_t n)
{
    pthread_mutex_lock(&st->mu);
    size_t avail = st->len - st->off;
    if (avail == 0) {
        if (st->ended) {
            pthread_mutex_unlock(&st->mu);
            return -1;
        }
        st->asleep = true;
        st->io.sleep(st->io.ctx);
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    if (avail > n)
        avail = n;
    memcpy(buf, st->buf + st->off, avail);
    st->off += avail;
    if (st->off == st->len)
        st->off = st->len = 0;
    pthread_mutex_unlock(&st->mu);
    return (ssize_t)avail;
}

void http_sse_close(http_sse_stream *st)
{
    http_sse *s = st->hub;
    pthread_mutex_lock(&st->mu);
    st->closed = true;
    pthread_mutex_unlock(&st->mu);
    atomic_fetch_sub(&s->count, 1);
    if (s->chg != NULL)
        changes_listener_watch(s->chg, -1);
}

void http_sse_end_all(http_sse *s)
{
    pthread_mutex_lock(&s->mu);
    s->ended = true;
    for (http_sse_stream *st = s->streams; st != NULL; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->ended = true;
        if (st->asleep) {
            st->asleep = false;
            st->io.wake(st->io.ctx);
        }
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void http_sse_keepalive_set(http_sse *s, int64_t ms)
{
    s->keepalive_ms = ms;
}

size_t http_sse_count(http_sse *s)
{
    return s != NULL ? atomic_load(&s->count) : 0;
}
