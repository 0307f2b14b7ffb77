/*
 * client.c - synchronous REQ client for atpd's query socket (see client.h).
 *
 * Runs in the caller's thread; client_pipe_cb and client_aio_cb run on nng
 * threads and touch only the atomics and the wait (its mutex). The only
 * tools file that speaks nng for queries: nng error codes are turned into
 * atp_err here, and the native text is kept in last_error for the operator.
 *
 * Every wait has a deadline of its own: the first request probes the
 * endpoint (sp_probe: refused, silent or the wrong port fail at once), then
 * waits for nng's connection, and sends and receives through an aio whose
 * completion is awaited with a timed wait on the monotonic clock. A socket
 * option timeout alone is not trusted: libnng 1.5.2 was seen blocking in a
 * REQ send with no connection despite NNG_OPT_SENDTIMEO.
 *
 * An http:// endpoint is atpd's HTTP API instead (docs/HTTP.md): the same
 * request map goes out as the route's HTTP request (client_route.c) over
 * libcurl (client_http.c), and the JSON reply comes back as the same
 * msgpack map, so that a tool cannot tell the two apart.
 */
#include "client.h"
#include "client_parts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "client_http.h"
#include "client_route.h"
#include "common/clock.h"
#include "common/thread.h"
#include "sp_probe.h"
#include "tools_tls.h"

/* After a cancel, how long nng gets to complete the aio before the client
 * gives up on it (and leaks it rather than wait). */
#define CLIENT_CANCEL_GRACE_MS 1000

struct client {
    nng_socket sock;
    char *url;
    int timeout_ms;
    atomic_bool ever_connected; /* written by client_pipe_cb (nng thread) */
    atomic_int pipes_closed;    /* idem */
    bool probed;     /* the endpoint answered the handshake as a REP */
    bool wrong_peer; /* the endpoint is not a query port */
    bool wedged;     /* nng never completed a cancelled aio: leak, no close */
    nng_aio *aio;    /* one operation at a time */
    pthread_mutex_t mu; /* guards done */
    pthread_cond_t cv;  /* monotonic clock */
    bool done;          /* the aio completed (client_aio_cb) */
    char last_error[512];
    client_http *http; /* an http:// endpoint: no nng socket at all */
    char *token;       /* client_opts.token (copy), NULL: none */
    size_t recv_max;   /* client_opts.recv_max_bytes, resolved */
    /* A cluster's owner this client was sent to by a not_owner reply
     * (docs/CLUSTER.md): requests go there from then on. */
    client *redirect;
    /* Several partitions (client_parts.c): the owners' connections and
     * the map, asked once from status (map_state 0: not yet, 1: one
     * partition or no cluster, 2: map_buf holds it). A peer (no_parts)
     * never splits a request itself. */
    client_parts parts;
    int map_state;
    void *map_buf;
    size_t map_len;
    bool no_parts;
};

const char *client_token_env(void)
{
    const char *t = getenv("ATP_TOKEN");
    return t != NULL && t[0] != '\0' ? t : NULL;
}

/* client_msg_append appends the request map req[0..len) to msg, with
 * "token" as its first entry when c has one (the first occurrence of a
 * key is the one atpd reads). What is no map goes as it is: atpd answers
 * it bad_request. Returns nng's error. */
static int client_msg_append(const client *c, nng_msg *msg, const uint8_t *req,
                             size_t len)
{
    uint32_t n;
    size_t hl;
    if (c->token == NULL || len == 0)
        return nng_msg_append(msg, req, len);
    if ((req[0] & 0xf0) == 0x80) {
        n = req[0] & 0x0f, hl = 1;
    } else if (req[0] == 0xde && len >= 3) {
        n = (uint32_t)req[1] << 8 | req[2], hl = 3;
    } else if (req[0] == 0xdf && len >= 5 && req[1] != 0xff) {
        n = (uint32_t)req[1] << 24 | (uint32_t)req[2] << 16 |
            (uint32_t)req[3] << 8 | req[4];
        hl = 5;
    } else {
        return nng_msg_append(msg, req, len);
    }
    uint8_t h[16];
    size_t o = 0, tl = strlen(c->token);
    n++;
    if (n < 16) {
        h[o++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        h[o++] = 0xde, h[o++] = (uint8_t)(n >> 8), h[o++] = (uint8_t)n;
    } else {
        h[o++] = 0xdf, h[o++] = (uint8_t)(n >> 24), h[o++] = (uint8_t)(n >> 16);
        h[o++] = (uint8_t)(n >> 8), h[o++] = (uint8_t)n;
    }
    h[o++] = 0xa5; /* "token", then the value as a str8 or str16 */
    memcpy(h + o, "token", 5);
    o += 5;
    if (tl < 256) {
        h[o++] = 0xd9, h[o++] = (uint8_t)tl;
    } else {
        h[o++] = 0xda, h[o++] = (uint8_t)(tl >> 8), h[o++] = (uint8_t)tl;
    }
    int rv = nng_msg_append(msg, h, o);
    if (rv == 0)
        rv = nng_msg_append(msg, c->token, tl);
    if (rv == 0)
        rv = nng_msg_append(msg, req + hl, len - hl);
    return rv;
}

/* client_pipe_cb records connection events, so that a timeout can be
 * reported as "cannot connect" rather than "no reply". nng thread. */
static void client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    client *c = arg;
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_store(&c->ever_connected, true);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_add(&c->pipes_closed, 1);
}

/* client_aio_cb: the aio completed (nng thread). */
static void client_aio_cb(void *arg)
{
    client *c = arg;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* client_wait_done waits until the aio completed or deadline (monotonic
 * ms) passed. Returns whether it completed. */
static bool client_wait_done(client *c, int64_t deadline)
{
    /* clock_mono_ms is CLOCK_MONOTONIC, the condvar's clock */
    struct timespec ts = {.tv_sec = deadline / 1000,
                          .tv_nsec = (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&c->mu);
    int rv = 0;
    while (!c->done && rv != ETIMEDOUT)
        rv = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    bool done = c->done;
    pthread_mutex_unlock(&c->mu);
    return done;
}

/* client_aio_run starts op (nng_send_aio or nng_recv_aio) on c->aio and
 * waits for it until deadline, cancelling it then. Returns nng's result
 * (NNG_ETIMEDOUT at the deadline). */
static int client_aio_run(client *c, void (*op)(nng_socket, nng_aio *),
                          int64_t deadline)
{
    int64_t left = deadline - clock_mono_ms();
    if (left <= 0)
        return NNG_ETIMEDOUT;
    pthread_mutex_lock(&c->mu);
    c->done = false;
    pthread_mutex_unlock(&c->mu);
    nng_aio_set_timeout(c->aio, (nng_duration)left);
    op(c->sock, c->aio);
    if (!client_wait_done(c, deadline)) {
        nng_aio_cancel(c->aio);
        if (!client_wait_done(c, clock_mono_ms() + CLIENT_CANCEL_GRACE_MS)) {
            c->wedged = true;
            return NNG_ETIMEDOUT;
        }
        int rv = nng_aio_result(c->aio); /* 0: it made it after all */
        return rv == NNG_ECANCELED ? NNG_ETIMEDOUT : rv;
    }
    return nng_aio_result(c->aio);
}

static void client_set_error(char *buf, size_t len, const char *what,
                             const char *url, int rv)
{
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s %s: %s", what, url, nng_strerror(rv));
}

/* client_is_http: whether url names atpd's HTTP API. */
static bool client_is_http(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* client_open_http: client_open for an http:// endpoint. */
static atp_err client_open_http(const client_opts *o, client **out, char *err,
                                size_t errlen)
{
    client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->url = strdup(o->url)) == NULL) {
        free(c);
        return ATP_E_NOMEM;
    }
    c->timeout_ms =
        o->timeout_ms > 0 ? o->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    size_t recv_max =
        o->recv_max_bytes > 0 ? o->recv_max_bytes : CLIENT_DEFAULT_RECV_MAX;
    c->recv_max = recv_max;
    c->token = o->token != NULL ? strdup(o->token) : NULL;
    atp_err e =
        o->token != NULL && c->token == NULL
            ? ATP_E_NOMEM
            : client_http_open(recv_max, o->token, &c->http, err, errlen);
    if (e != ATP_OK) {
        free(c->token);
        free(c->url);
        free(c);
        return e;
    }
    *out = c;
    return ATP_OK;
}

atp_err client_open(const client_opts *o, client **out, char *err,
                    size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (o->token != NULL && strlen(o->token) > CLIENT_TOKEN_MAX) {
        snprintf(err, errlen, "a token of at most %d bytes", CLIENT_TOKEN_MAX);
        return ATP_E_BAD_REQUEST;
    }
    if (client_is_http(o->url))
        return client_open_http(o, out, err, errlen);
    client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    atomic_init(&c->ever_connected, false);
    atomic_init(&c->pipes_closed, 0);
    c->url = strdup(o->url);
    c->token = o->token != NULL ? strdup(o->token) : NULL;
    pthread_condattr_t ca;
    if (c->url == NULL || (o->token != NULL && c->token == NULL) ||
        pthread_condattr_init(&ca) != 0) {
        free(c->url);
        free(c->token);
        free(c);
        return ATP_E_NOMEM;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    size_t recv_max =
        o->recv_max_bytes > 0 ? o->recv_max_bytes : CLIENT_DEFAULT_RECV_MAX;
    c->timeout_ms = timeout;
    c->recv_max = recv_max;
    atp_err e = ATP_E_TRANSPORT;
    int rv = nng_aio_alloc(&c->aio, client_aio_cb, c);
    if (rv != 0) {
        e = ATP_E_NOMEM;
        goto fail_free;
    }
    rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        client_set_error(err, errlen, "cannot open a REQ socket for", o->url,
                         rv);
        goto fail_free;
    }
    /* Options set on the socket are inherited by the dialer created below;
     * the reconnect times are short because a tool run is short: if atpd
     * comes up during the wait, the request should still make it. */
    if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, recv_max)) != 0 ||
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout)) != 0 ||
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout)) != 0 ||
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500)) != 0 ||
        (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_cb,
                              c)) != 0 ||
        (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_cb,
                              c)) != 0) {
        client_set_error(err, errlen, "cannot configure the socket for", o->url,
                         rv);
        goto fail_close;
    }
    /* Non-blocking: when nothing listens, nng keeps retrying in the
     * background and the request's receive timeout bounds the wait. */
    char why[256];
    rv = tools_tls_dial(c->sock, o->url, NNG_FLAG_NONBLOCK, why, sizeof why);
    if (rv != 0) {
        if (why[0] != '\0' && err != NULL)
            snprintf(err, errlen, "cannot dial %s: %s", o->url, why);
        else
            client_set_error(err, errlen, "cannot dial", o->url, rv);
        if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL)
            e = ATP_E_BAD_REQUEST;
        goto fail_close;
    }
    *out = c;
    return ATP_OK;

fail_close:
    nng_close(c->sock);
fail_free:
    if (c->aio != NULL)
        nng_aio_free(c->aio);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->url);
    free(c->token);
    free(c);
    return e;
}

static void client_close_fn(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

void client_close(client *c)
{
    if (c == NULL)
        return;
    client_close(c->redirect);
    client_parts_fini(&c->parts);
    free(c->map_buf);
    if (c->http != NULL) {
        client_http_close(c->http);
        free(c->url);
        free(c->token);
        free(c);
        return;
    }
    if (c->wedged)
        return; /* nng still holds the aio: closing could wait for it */
    /* Bounded like ctl_sub_close and atpd's own closes (common/thread.h):
     * nng 1.5.2's nng_close can wait forever for a busy pipe. Not closed in
     * time: c stays allocated for nng (a tool exits soon after). */
    if (!thread_run_bounded(client_close_fn, &c->sock, sizeof c->sock, 1000,
                            "closing the query socket"))
        return;
    nng_aio_free(c->aio);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->url);
    free(c->token);
    free(c);
}

/* client_ready makes sure, before the first request, that the endpoint is
 * a REP socket (sp_probe) and that nng's own connection is up, both before
 * deadline. Returns ATP_OK or the error, described in last_error. */
static atp_err client_ready(client *c, int64_t deadline)
{
    if (!c->probed) {
        char why[384];
        /* The client's whole timeout, not what is left of this request's
         * (a millisecond less by now): the probe is the request's first
         * step, and its message names the timeout the user gave ("within
         * 500 ms", not 499: integration.client_timeout failed on that). */
        atp_err e =
            sp_probe(c->url, SP_PROTO_REQ, SP_PROTO_REP,
                     c->timeout_ms > 0 ? c->timeout_ms : 1, why, sizeof why);
        if (e != ATP_OK) {
            c->wrong_peer = e == ATP_E_BAD_REQUEST;
            snprintf(c->last_error, sizeof c->last_error, "%s", why);
            return e == ATP_E_TIMEOUT ? ATP_E_TIMEOUT : ATP_E_TRANSPORT;
        }
        c->probed = true;
    }
    /* The probe saw a REP listening; nng's dialer connects within its
     * reconnect time (50 ms at first). */
    while (!atomic_load(&c->ever_connected)) {
        if (clock_mono_ms() >= deadline) {
            snprintf(c->last_error, sizeof c->last_error,
                     "cannot connect to %s (nothing answered within %d ms)",
                     c->url, c->timeout_ms);
            return ATP_E_TIMEOUT;
        }
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return ATP_OK;
}

/* client_request_http: client_request_raw over HTTP. The request map
 * becomes its route's HTTP request; the JSON reply (a success or an
 * error, whatever the status) becomes msgpack in a. A reply that is not
 * JSON is not atpd's: wrong_peer. */
static atp_err client_request_http(client *c, const void *req, size_t len,
                                   codec_arena *a, const void **reply,
                                   size_t *reply_len)
{
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    const codec_val *map;
    client_route r;
    char *text = NULL;
    size_t text_len = 0;
    long status = 0;
    codec_writer *w = NULL;
    atp_err e = codec_decode(a, req, len, &map);
    if (e != ATP_OK) {
        snprintf(c->last_error, sizeof c->last_error,
                 "the request could not be encoded");
        return ATP_E_BAD_REQUEST;
    }
    e = client_route_build(map, c->url, &r, c->last_error,
                           sizeof c->last_error);
    if (e == ATP_OK)
        e = client_http_exchange(c->http, r.method, r.url, r.body, r.body_len,
                                 deadline, &status, &text, &text_len,
                                 c->last_error, sizeof c->last_error);
    if (e == ATP_E_TRANSPORT && client_http_not_http(c->http))
        c->wrong_peer =
            true; /* connected, but no HTTP answer: not atpd's API */
    if (e != ATP_OK)
        goto done;
    char why[256];
    w = codec_writer_alloc(NULL, NULL);
    if (w == NULL) {
        e = ATP_E_NOMEM;
        goto done;
    }
    e = codec_json_to_msgpack(w, text, text_len, why, sizeof why);
    if (e == ATP_E_NOMEM)
        goto done;
    if (e != ATP_OK) {
        char shown[120];
        codec_str_to_text(shown, sizeof shown, text,
                          text_len < 80 ? text_len : 80);
        snprintf(c->last_error, sizeof c->last_error,
                 "%s %s answered HTTP %ld with a body that is not atpd's JSON "
                 "(%s): %s",
                 r.method, r.url, status, why, shown);
        c->wrong_peer = true;
        e = ATP_E_TRANSPORT;
        goto done;
    }
    size_t n;
    const void *bytes = codec_writer_data(w, &n);
    void *copy = codec_arena_malloc(a, n > 0 ? n : 1);
    if (copy == NULL) {
        e = ATP_E_NOMEM;
        goto done;
    }
    memcpy(copy, bytes, n);
    *reply = copy;
    *reply_len = n;
done:
    if (e == ATP_E_NOMEM)
        snprintf(c->last_error, sizeof c->last_error, "out of memory");
    codec_writer_free(w);
    free(text);
    client_route_fini(&r);
    return e;
}

atp_err client_request_raw(client *c, const void *req, size_t len,
                           codec_arena *a, const void **reply,
                           size_t *reply_len)
{
    c->last_error[0] = '\0';
    if (c->http != NULL)
        return client_request_http(c, req, len, a, reply, reply_len);
    if (c->wedged) {
        snprintf(c->last_error, sizeof c->last_error,
                 "the connection to %s is stuck", c->url);
        return ATP_E_TRANSPORT;
    }
    int closed_before = atomic_load(&c->pipes_closed);
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    atp_err e = client_ready(c, deadline);
    if (e != ATP_OK)
        return e;
    nng_msg *msg = NULL;
    int rv = nng_msg_alloc(&msg, 0);
    if (rv == 0 && (rv = client_msg_append(c, msg, req, len)) != 0)
        nng_msg_free(msg);
    if (rv != 0) {
        snprintf(c->last_error, sizeof c->last_error,
                 "out of memory for a %zu-byte request", len);
        return ATP_E_NOMEM;
    }
    nng_aio_set_msg(c->aio, msg);
    rv = client_aio_run(c, nng_send_aio, deadline);
    if (rv != 0) {
        nng_msg *unsent = c->wedged ? NULL : nng_aio_get_msg(c->aio);
        if (unsent != NULL)
            nng_msg_free(unsent); /* not sent: still ours */
        if (rv == NNG_ETIMEDOUT)
            snprintf(c->last_error, sizeof c->last_error,
                     "cannot send to %s within %d ms", c->url, c->timeout_ms);
        else
            client_set_error(c->last_error, sizeof c->last_error,
                             "cannot send to", c->url, rv);
        return rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT : ATP_E_TRANSPORT;
    }
    rv = client_aio_run(c, nng_recv_aio, deadline);
    if (rv != 0) {
        if (rv == NNG_ETIMEDOUT &&
            atomic_load(&c->pipes_closed) != closed_before) {
            /* The peer closed the connection while we waited: atpd does
             * that to a request above its receive limit. */
            snprintf(c->last_error, sizeof c->last_error,
                     "%s closed the connection without replying (request "
                     "too large?)",
                     c->url);
        } else if (rv == NNG_ETIMEDOUT) {
            snprintf(c->last_error, sizeof c->last_error,
                     "no reply from %s within %d ms", c->url, c->timeout_ms);
        } else {
            client_set_error(c->last_error, sizeof c->last_error,
                             "no reply from", c->url, rv);
        }
        return rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT : ATP_E_TRANSPORT;
    }
    msg = nng_aio_get_msg(c->aio);
    size_t n = nng_msg_len(msg);
    /* Decoded strings point into the reply bytes, so they must live as
     * long as the arena, not as long as the nng buffer. */
    void *copy = codec_arena_malloc(a, n > 0 ? n : 1);
    if (copy == NULL) {
        nng_msg_free(msg);
        snprintf(c->last_error, sizeof c->last_error,
                 "out of memory for a %zu-byte reply", n);
        return ATP_E_NOMEM;
    }
    memcpy(copy, nng_msg_body(msg), n);
    nng_msg_free(msg);
    *reply = copy;
    *reply_len = n;
    return ATP_OK;
}

/* client_follow_owner: reply is a cluster's not_owner naming an owner at
 * another URL of the same kind (nng or http): requests go there from now
 * on. true when it was set up. */
static bool client_follow_owner(client *c, const codec_val *reply)
{
    const codec_val *err = codec_val_get(reply, "error");
    const codec_val *owner = err ? codec_val_get(err, "owner") : NULL;
    int64_t code = 0;
    codec_str url = {0};
    if (owner == NULL || !codec_val_int(codec_val_get(err, "code"), &code) ||
        code != ATP_E_NOT_OWNER ||
        !codec_val_str(codec_val_get(owner, c->http ? "http" : "query"),
                       &url) ||
        url.len == 0 || url.len >= 512)
        return false;
    char target[512];
    memcpy(target, url.ptr, url.len);
    target[url.len] = '\0';
    const client *now = c->redirect != NULL ? c->redirect : c;
    if (strcmp(target, now->url) == 0)
        return false; /* the owner itself says so: no loop */
    client_opts o = {.url = target,
                     .timeout_ms = c->timeout_ms,
                     .recv_max_bytes = c->recv_max,
                     .token = c->token};
    client *next = NULL;
    if (client_open(&o, &next, NULL, 0) != ATP_OK)
        return false;
    client_close(c->redirect);
    c->redirect = next;
    return true;
}

/* client_request_one: one request, not_owner followed. */
static atp_err client_request_one(client *c, const codec_writer *w,
                                  codec_arena *a, const codec_val **reply)
{
    if (codec_writer_failed(w)) {
        snprintf(c->last_error, sizeof c->last_error,
                 "the request could not be encoded");
        return ATP_E_BAD_REQUEST;
    }
    size_t len = 0;
    const void *req = codec_writer_data(w, &len);
    /* A not_owner reply is followed to the owner it names, at most twice
     * (a takeover in between can move it once more). */
    for (int hop = 0;; hop++) {
        client *t = c->redirect != NULL ? c->redirect : c;
        const void *rep = NULL;
        size_t rep_len = 0;
        atp_err e = client_request_raw(t, req, len, a, &rep, &rep_len);
        if (e == ATP_E_TRANSPORT && t != c && hop < 2) {
            /* The owner we were sent to is gone (nothing listens there any
             * more): back to the URL given, which names the next owner. A
             * timeout is not retried: the request may have been done. */
            client_close(c->redirect);
            c->redirect = NULL;
            continue;
        }
        if (e != ATP_OK) {
            if (t != c)
                snprintf(c->last_error, sizeof c->last_error, "%s",
                         t->last_error);
            return e;
        }
        e = codec_decode(a, rep, rep_len, reply);
        if (e != ATP_OK) {
            snprintf(c->last_error, sizeof c->last_error,
                     "undecodable %zu-byte reply from %s: %s", rep_len, t->url,
                     atp_err_message(e));
            return e;
        }
        if (hop >= 2 || !client_follow_owner(c, *reply))
            return ATP_OK;
    }
}

bool client__is_http(const client *c)
{
    return c->http != NULL;
}

atp_err client__open_like(const client *c, const char *url, client **out)
{
    client_opts o = {.url = url,
                     .timeout_ms = c->timeout_ms,
                     .recv_max_bytes = c->recv_max,
                     .token = c->token};
    atp_err e = client_open(&o, out, NULL, 0);
    if (e == ATP_OK)
        (*out)->no_parts = true;
    return e;
}

/* client_map: the cluster's partition map (two or more partitions) from
 * the node's status, asked once; NULL without one. */
static const codec_val *client_map(client *c, codec_arena *a)
{
    if (c->map_state == 0) {
        codec_writer *w = codec_writer_alloc(NULL, NULL);
        const codec_val *st = NULL;
        bool ok = false;
        if (w != NULL) {
            codec_w_map(w, 1);
            codec_w_kv_cstr(w, "op", "status");
        }
        /* No answer: asked again at the next request by id. Refused (a
         * token without the read scope): not asked again, requests by id
         * go to this node only (docs/CLUSTER.md). */
        atp_err e = w != NULL ? client_request_one(c, w, a, &st) : ATP_E_NOMEM;
        if (e == ATP_OK &&
            !(codec_val_bool(codec_val_get(st, "ok"), &ok) && ok))
            c->map_state = 1;
        if (e == ATP_OK && ok) {
            const codec_val *m =
                codec_val_get(codec_val_get(st, "cluster"), "partitions");
            codec_writer *mw = codec_writer_alloc(NULL, NULL);
            c->map_state = 1; /* one partition, or no cluster */
            if (codec_val_len(m) >= 2 && mw != NULL) {
                codec_w_val(mw, m);
                size_t len = 0;
                const void *d = codec_writer_data(mw, &len);
                free(c->map_buf);
                c->map_buf = malloc(len);
                if (c->map_buf != NULL && !codec_writer_failed(mw)) {
                    memcpy(c->map_buf, d, len);
                    c->map_len = len;
                    c->map_state = 2;
                }
            }
            codec_writer_free(mw);
        }
        codec_writer_free(w);
    }
    const codec_val *map = NULL;
    if (c->map_state != 2 ||
        codec_decode(a, c->map_buf, c->map_len, &map) != ATP_OK)
        return NULL;
    return map;
}

atp_err client_request(client *c, const codec_writer *w, codec_arena *a,
                       const codec_val **reply)
{
    const codec_val *req = NULL;
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    codec_str op = {0};
    if (c->no_parts || codec_writer_failed(w) ||
        codec_decode(a, data, len, &req) != ATP_OK ||
        !codec_val_str(codec_val_get(req, "op"), &op))
        return client_request_one(c, w, a, reply);
    /* By id in a cluster of several partitions: the reservation may have
     * lines in each (docs/CLUSTER.md, "Several partitions"). */
    bool by_id = codec_str_eq(op, "commit") || codec_str_eq(op, "release") ||
                 codec_str_eq(op, "extend") || codec_str_eq(op, "reservation");
    const codec_val *map = by_id ? client_map(c, a) : NULL;
    if (map != NULL) {
        atp_err e = client_parts_by_id(c, &c->parts, req, map, a, reply);
        if (e != ATP_OK)
            c->map_state = 0; /* an owner gone: the map again next time */
        return e;
    }
    atp_err e = client_request_one(c, w, a, reply);
    int64_t code = 0;
    if (e != ATP_OK || !codec_str_eq(op, "reserve") ||
        !codec_val_int(codec_val_get(codec_val_get(*reply, "error"), "code"),
                       &code) ||
        code != ATP_E_CROSS_PARTITION)
        return e;
    map = codec_val_get(codec_val_get(*reply, "error"), "partitions");
    return client_parts_reserve(c, &c->parts, req, map, a, reply);
}

bool client_connected(const client *c)
{
    if (c->http != NULL)
        return client_http_connected(c->http);
    return atomic_load(&c->ever_connected);
}

bool client_wrong_peer(const client *c)
{
    return c->wrong_peer;
}

const char *client_url(const client *c)
{
    return c->url;
}

const char *client_last_error(const client *c)
{
    return c->last_error;
}
