/*
 * client.c - synchronous REQ client for atpd's query socket (see client.h).
 *
 * Runs in the caller's thread; only client_pipe_cb runs on an nng thread and
 * it touches nothing but the atomic flags. The only tools file that speaks
 * nng for queries: nng error codes are turned into atp_err here, and the
 * native text is kept in last_error for the operator.
 */
#include "client.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

struct client {
    nng_socket sock;
    char *url;
    int timeout_ms;
    atomic_bool ever_connected; /* written by client_pipe_cb (nng thread) */
    atomic_int pipes_closed;    /* idem */
    char last_error[256];
};

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

static void client_set_error(char *buf, size_t len, const char *what,
                             const char *url, int rv)
{
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s %s: %s", what, url, nng_strerror(rv));
}

atp_err client_open(const client_opts *o, client **out, char *err,
                    size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    atomic_init(&c->ever_connected, false);
    atomic_init(&c->pipes_closed, 0);
    c->url = strdup(o->url);
    if (c->url == NULL) {
        free(c);
        return ATP_E_NOMEM;
    }
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    size_t recv_max =
        o->recv_max_bytes > 0 ? o->recv_max_bytes : CLIENT_DEFAULT_RECV_MAX;
    c->timeout_ms = timeout;
    atp_err e = ATP_E_TRANSPORT;
    int rv = nng_req0_open(&c->sock);
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
    rv = nng_dial(c->sock, o->url, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
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
    free(c->url);
    free(c);
    return e;
}

void client_close(client *c)
{
    if (c == NULL)
        return;
    nng_close(c->sock);
    free(c->url);
    free(c);
}

atp_err client_request_raw(client *c, const void *req, size_t len,
                           codec_arena *a, const void **reply,
                           size_t *reply_len)
{
    c->last_error[0] = '\0';
    int closed_before = atomic_load(&c->pipes_closed);
    /* nng_send wants a mutable buffer but copies it without NNG_FLAG_ALLOC;
     * the cast only drops const. */
    int rv = nng_send(c->sock, (void *)req, len, 0);
    if (rv != 0) {
        /* REQ holds a request until a connection is up, so a send timeout
         * means "nothing listens there". */
        if (rv == NNG_ETIMEDOUT && !atomic_load(&c->ever_connected))
            snprintf(c->last_error, sizeof c->last_error,
                     "cannot connect to %s (nothing answered within %d ms)",
                     c->url, c->timeout_ms);
        else
            client_set_error(c->last_error, sizeof c->last_error,
                             "cannot send to", c->url, rv);
        return rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT : ATP_E_TRANSPORT;
    }
    void *buf = NULL;
    size_t n = 0;
    rv = nng_recv(c->sock, &buf, &n, NNG_FLAG_ALLOC);
    if (rv != 0) {
        if (rv == NNG_ETIMEDOUT && !atomic_load(&c->ever_connected)) {
            snprintf(c->last_error, sizeof c->last_error,
                     "cannot connect to %s (nothing answered within %d ms)",
                     c->url, c->timeout_ms);
        } else if (rv == NNG_ETIMEDOUT &&
                   atomic_load(&c->pipes_closed) != closed_before) {
            /* The peer closed the connection while we waited: atpd does
             * that to a request above its receive limit. */
            snprintf(c->last_error, sizeof c->last_error,
                     "%s closed the connection without replying (request "
                     "too large?)",
                     c->url);
        } else {
            client_set_error(c->last_error, sizeof c->last_error,
                             "no reply from", c->url, rv);
        }
        return rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT : ATP_E_TRANSPORT;
    }
    /* Decoded strings point into the reply bytes, so they must live as
     * long as the arena, not as long as the nng buffer. */
    void *copy = codec_arena_malloc(a, n > 0 ? n : 1);
    if (copy == NULL) {
        nng_free(buf, n);
        snprintf(c->last_error, sizeof c->last_error,
                 "out of memory for a %zu-byte reply", n);
        return ATP_E_NOMEM;
    }
    memcpy(copy, buf, n);
    nng_free(buf, n);
    *reply = copy;
    *reply_len = n;
    return ATP_OK;
}

atp_err client_request(client *c, const codec_writer *w, codec_arena *a,
                       const codec_val **reply)
{
    if (codec_writer_failed(w)) {
        snprintf(c->last_error, sizeof c->last_error,
                 "the request could not be encoded");
        return ATP_E_BAD_REQUEST;
    }
    size_t len = 0;
    const void *req = codec_writer_data(w, &len);
    const void *rep = NULL;
    size_t rep_len = 0;
    atp_err e = client_request_raw(c, req, len, a, &rep, &rep_len);
    if (e != ATP_OK)
        return e;
    e = codec_decode(a, rep, rep_len, reply);
    if (e != ATP_OK)
        snprintf(c->last_error, sizeof c->last_error,
                 "undecodable %zu-byte reply from %s: %s", rep_len, c->url,
                 atp_err_message(e));
    return e;
}

bool client_connected(const client *c)
{
    return atomic_load(&c->ever_connected);
}

const char *client_url(const client *c)
{
    return c->url;
}

const char *client_last_error(const client *c)
{
    return c->last_error;
}
