/*
 * ctl_sub.c - SUB client for atpd's change feed (see ctl_sub.h). Caller's
 * thread; ctl_sub_pipe_cb runs on an nng thread and touches only atomics.
 *
 * An http:// feed URL reads the same feed as Server-Sent Events (GET
 * /v1/changes, tools/common/client_sse): each "change" event's JSON is
 * turned back into the message the SUB socket would have received
 * (topic, then the msgpack body), so the watch loop cannot tell the two
 * apart.
 */
#include "ctl_sub.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "atp/wire.h"
#include "client_route.h"
#include "client_sse.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "common/thread.h"
#include "tools_tls.h"

struct ctl_sub {
    nng_socket sock;
    atomic_int pipes;       /* connections up (ctl_sub_pipe_cb) */
    atomic_int connections; /* connections ever made (ctl_sub_pipe_cb) */
    char last_error[256];
    bool is_sse; /* an http:// feed: no nng socket */
    client_sse *sse;
    codec_writer *w;  /* the event's JSON as msgpack (sse only) */
    codec_arena *a;   /* decoding it for the topic (sse only) */
    codec_writer *tw; /* the topic (codec_feed_topic, sse only) */
};

/* ctl_sub_pipe_cb counts connections, so that the watch can say whether
 * anything listens at its URL. nng thread. */
static void ctl_sub_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    ctl_sub *s = arg;
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&s->pipes, 1);
        atomic_fetch_add(&s->connections, 1);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        atomic_fetch_sub(&s->pipes, 1);
    }
}

/* ctl_sub_url_ok catches what a non-blocking dial would only retry
 * forever: a TCP URL without a host or with a port outside 1..65535. */
static bool ctl_sub_url_ok(const char *url)
{
    nng_url *u = NULL;
    if (nng_url_parse(&u, url) != 0)
        return false;
    bool ok = true;
    if (strncmp(u->u_scheme, "tcp", 3) == 0 ||
        strncmp(u->u_scheme, "tls+tcp", 7) == 0) {
        char *end = NULL;
        long port = strtol(u->u_port, &end, 10);
        ok = u->u_hostname[0] != '\0' && end != u->u_port && *end == '\0' &&
             port >= 1 && port <= 65535;
    }
    nng_url_free(u);
    return ok;
}

/* ctl_sub_open_sse: ctl_sub_open of an http:// URL. The prefix "atp\0",
 * "atp\0R\0" or "atp\0R\0S\0" becomes the stream's region and sku. */
static atp_err ctl_sub_open_sse(ctl_sub *s, const char *url, const char *token,
                                const char *prefix, size_t prefix_len,
                                char *err, size_t errlen)
{
    const char *region = NULL, *sku = NULL;
    size_t root = sizeof ATP_FEED_TOPIC_ROOT;
    if (prefix_len > root) {
        region = prefix + root;
        if (prefix_len > root + strlen(region) + 1)
            sku = region + strlen(region) + 1;
    }
    s->is_sse = true;
    char *stream = client_route_changes_url(url, region, sku);
    s->w = codec_writer_alloc(NULL, NULL);
    s->a = codec_arena_alloc();
    s->tw = codec_writer_alloc(NULL, NULL);
    atp_err e = ATP_E_NOMEM;
    if (stream != NULL && s->w != NULL && s->a != NULL && s->tw != NULL)
        e = client_sse_open(stream, token, &s->sse, err, errlen);
    free(stream);
    return e;
}

atp_err ctl_sub_open(const char *url, const char *token, const void *prefix,
                     size_t prefix_len, ctl_sub **out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    ctl_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        atp_err se =
            ctl_sub_open_sse(s, url, token, prefix, prefix_len, err, errlen);
        if (se != ATP_OK) {
            ctl_sub_close(s);
            return se;
        }
        *out = s;
        return ATP_OK;
    }
    atomic_init(&s->pipes, 0);
    atomic_init(&s->connections, 0);
    atp_err e = ATP_E_TRANSPORT;
    const char *what = "cannot open a SUB socket for";
    int rv = nng_sub0_open(&s->sock);
    if (rv != 0)
        goto fail_free;
    /* The receive buffer is as deep as nng allows, so that a short stall of
     * the terminal loses as little as possible (PUB drops for a subscriber
     * that does not keep up; the sequence numbers then show the gap). The
     * reconnect times are those of a feed that should come back soon. */
    what = "cannot configure the SUB socket for";
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
                                  CTL_SUB_RECV_MAX)) != 0 ||
        (rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, 8192)) != 0 ||
        (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 100)) != 0 ||
        (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
        (rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefix,
                             prefix_len)) != 0 ||
        (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, ctl_sub_pipe_cb,
                              s)) != 0 ||
        (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, ctl_sub_pipe_cb,
                              s)) != 0)
        goto fail_close;
    /* Non-blocking: when nothing listens yet, nng keeps dialing. A URL nng
     * cannot parse fails here, at once. */
    what = "cannot dial";
    char why[256] = "";
    rv = ctl_sub_url_ok(url)
             ? tools_tls_dial(s->sock, url, NNG_FLAG_NONBLOCK, why, sizeof why)
             : NNG_EADDRINVAL;
    if (rv != 0 && why[0] != '\0')
        what = why;
    if (rv != 0) {
        if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL)
            e = ATP_E_BAD_REQUEST;
        goto fail_close;
    }
    *out = s;
    return ATP_OK;

fail_close:
    nng_close(s->sock);
fail_free:
    if (rv == NNG_ENOMEM)
        e = ATP_E_NOMEM;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s %s: %s", what, url,
                 rv != 0 ? nng_strerror(rv) : "out of memory");
    free(s);
    return e;
}

static void ctl_sub_close_fn(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

void ctl_sub_close(ctl_sub *s)
{
    if (s == NULL)
        return;
    if (s->is_sse) {
        client_sse_close(s->sse);
        codec_writer_free(s->w);
        codec_writer_free(s->tw);
        codec_arena_free(s->a);
        free(s);
        return;
    }
    /* Bounded (common/thread.h): nng 1.5.2's nng_close can wait forever
     * for a pipe that a peer is sending on, and a SUB socket on a busy
     * change feed always has one (`watch --count 5` in readme_tour once ran
     * into the test's 240 s limit under load, on a feed that kept
     * publishing). Not closed in time: s stays allocated, nng may still
     * call ctl_sub_pipe_cb with it; the process exits soon anyway. */
    if (thread_run_bounded(ctl_sub_close_fn, &s->sock, sizeof s->sock, 1000,
                           "closing the change-feed socket"))
        free(s);
}

/* ctl_sub_message builds the SUB socket's message of one change event:
 * "atp" NUL region NUL sku NUL, then the body as msgpack (nng_alloc'ed,
 * so that ctl_sub_free_msg frees both kinds alike). An event that is not
 * a JSON map with a region and a sku is passed on as its text: the watch
 * reports it as no change-feed message. */
static atp_err ctl_sub_message(ctl_sub *s, const client_sse_event *ev,
                               void **msg, size_t *len)
{
    char why[200];
    const codec_val *body = NULL;
    codec_str region = {0}, sku = {0};
    const void *bytes = ev->data;
    size_t n = ev->data_len;
    codec_writer_reset(s->w);
    codec_arena_clear(s->a);
    bool ok = codec_json_to_msgpack(s->w, ev->data, ev->data_len, why,
                                    sizeof why) == ATP_OK;
    if (ok) {
        bytes = codec_writer_data(s->w, &n);
        ok = codec_decode(s->a, bytes, n, &body) == ATP_OK &&
             codec_val_str(codec_val_get(body, "region"), &region) &&
             codec_val_str(codec_val_get(body, "sku"), &sku);
    }
    codec_writer_reset(s->tw);
    if (ok)
        codec_feed_topic(s->tw, region, sku);
    size_t topic = 0;
    const void *topic_bytes = codec_writer_data(s->tw, &topic);
    char *m = codec_writer_failed(s->tw)
                  ? NULL
                  : nng_alloc(topic + n > 0 ? topic + n : 1);
    if (m == NULL) {
        snprintf(s->last_error, sizeof s->last_error, "out of memory");
        return ATP_E_NOMEM;
    }
    if (topic > 0)
        memcpy(m, topic_bytes, topic);
    if (n > 0)
        memcpy(m + topic, bytes, n);
    *msg = m;
    *len = topic + n;
    return ATP_OK;
}

/* ctl_sub_recv_sse: ctl_sub_recv of an event stream; events other than
 * "change" (a "gap": the next message's sequence shows it) are skipped. */
static atp_err ctl_sub_recv_sse(ctl_sub *s, int timeout_ms, void **msg,
                                size_t *len)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        client_sse_event ev;
        atp_err e = client_sse_next(s->sse, left > 0 ? (int)left : 0, &ev);
        if (e == ATP_E_TRANSPORT)
            snprintf(s->last_error, sizeof s->last_error, "%s",
                     client_sse_last_error(s->sse));
        if (e != ATP_OK)
            return e;
        if (strcmp(ev.type, "change") == 0)
            return ctl_sub_message(s, &ev, msg, len);
    }
}

atp_err ctl_sub_recv(ctl_sub *s, int timeout_ms, void **msg, size_t *len)
{
    s->last_error[0] = '\0';
    if (s->sse != NULL)
        return ctl_sub_recv_sse(s, timeout_ms, msg, len);
    int rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    if (rv == 0)
        rv = nng_recv(s->sock, msg, len, NNG_FLAG_ALLOC);
    if (rv == 0)
        return ATP_OK;
    if (rv == NNG_ETIMEDOUT)
        return ATP_E_TIMEOUT;
    snprintf(s->last_error, sizeof s->last_error, "cannot receive: %s",
             nng_strerror(rv));
    return rv == NNG_ENOMEM ? ATP_E_NOMEM : ATP_E_TRANSPORT;
}

void ctl_sub_free_msg(void *msg, size_t len)
{
    nng_free(msg, len);
}

bool ctl_sub_connected(const ctl_sub *s)
{
    if (s->sse != NULL)
        return client_sse_connected(s->sse);
    return atomic_load(&s->pipes) > 0;
}

int ctl_sub_connections(const ctl_sub *s)
{
    if (s->sse != NULL)
        return client_sse_connections(s->sse);
    return atomic_load(&s->connections);
}

const char *ctl_sub_last_error(const ctl_sub *s)
{
    return s->last_error;
}
