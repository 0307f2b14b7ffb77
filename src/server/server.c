/*
 * server.c - nng REP transport for queries. Each of cfg.query_contexts
 * contexts runs receive -> request_handle -> send on nng's callback threads;
 * contexts are independent, so slow clients do not hold up fast ones.
 * Connections idle for service.query_idle_timeout are closed (pipes.h).
 */
#include "server/server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"
#include "server/pipes.h"
#include "server/request.h"
#include "tls/tls.h"

enum server_ctx_state { SERVER_RECV, SERVER_WAIT, SERVER_SEND };

typedef struct server_ctx {
    struct server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    int state;
    codec_arena *arena;
    codec_writer *w;
    nng_msg *req;        /* while waiting: decoded strings point into it */
    request_async async; /* while waiting for the engine */
    int64_t started_ns;  /* the request's arrival (monotonic) */
} server_ctx;

/* Pipes closed per idle check at most: a burst of idle connections is
 * closed over a few seconds rather than in one long callback. */
#define SERVER_IDLE_BATCH 256
/* A reply later than this after its request touches the connection again
 * (the idle check counts whole seconds); a prompt one does not, so most
 * requests take the pipe table's lock once, not twice. */
#define SERVER_TOUCH_AGAIN_NS 100000000

struct server {
    const config *cfg;
    nng_socket sock;
    bool sock_open;
    char url[256]; /* bound: port 0 resolved */
    server_ctx *ctxs;
    int n_ctxs;
    request_env env;
    /* Idle connections (service.query_idle_timeout; 0: none closed). The
     * pipe callbacks, the contexts and the idle check share the table. */
    int64_t idle_ms;
    nng_mtx *pipes_mtx;
    pipes pipes;
    nng_aio *idle_aio; /* the idle check, once a second */
};

/* server_pipe_touch: the pipe of msg did something at now_ns (a request
 * came, its reply goes). The caller's clock reading is reused: a second
 * read per request was ~70 ns on this VM's kvm-clock (docs/PERFORMANCE.md,
 * "Idle query connections"). */
static void server_pipe_touch(server *s, nng_msg *msg, int64_t now_ns)
{
    if (s->idle_ms == 0 || msg == NULL)
        return;
    uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
    if (id == 0 || id == (uint32_t)-1)
        return;
    nng_mtx_lock(s->pipes_mtx);
    pipes_touch(&s->pipes, id, now_ns / 1000000);
    nng_mtx_unlock(s->pipes_mtx);
}

static void server_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    server *s = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    nng_mtx_lock(s->pipes_mtx);
    if (ev == NNG_PIPE_EV_ADD_POST &&
        pipes_add(&s->pipes, id, clock_mono_ms()) != ATP_OK)
        log_warn("server",
                 "out of memory: connection %u is not watched for "
                 "idleness",
                 id);
    else if (ev == NNG_PIPE_EV_REM_POST)
        pipes_remove(&s->pipes, id);
    nng_mtx_unlock(s->pipes_mtx);
}

/* The idle check: close the pipes idle for idle_ms, once a second. Closed
 * outside the lock: nng_pipe_close runs the REM_POST callback, which
 * takes it. */
static void server_idle_cb(void *arg)
{
    server *s = arg;
    if (nng_aio_result(s->idle_aio) != 0)
        return; /* stopped */
    uint32_t ids[SERVER_IDLE_BATCH];
    nng_mtx_lock(s->pipes_mtx);
    size_t n = pipes_take_idle(&s->pipes, clock_mono_ms(), s->idle_ms, ids,
                               SERVER_IDLE_BATCH);
    nng_mtx_unlock(s->pipes_mtx);
    for (size_t i = 0; i < n; i++) {
        nng_pipe p = NNG_PIPE_INITIALIZER;
        p.id = ids[i];
        if (nng_pipe_close(p) == 0)
            atomic_fetch_add_explicit(&s->env.idle_closed, 1,
                                      memory_order_relaxed);
    }
    if (n > 0)
        log_debug("server", "closed %zu idle query connection(s)", n);
    nng_sleep_aio(1000, s->idle_aio);
}

static void server_ctx_recv(server_ctx *c)
{
    c->state = SERVER_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

/* The reply is written into the context's own growing buffer (amortised
 * doubling) and copied into an nng message once: appending to the message
 * piece by piece made large replies quadratic. */
static void server_ctx_send(server_ctx *c)
{
    ATP_ASSERT(c->state == SERVER_WAIT); /* one reply per request */
    codec_arena_clear(c->arena);
    int64_t now_ns = clock_mono_ns();
    /* A reply that waited (the disk, the engine) keeps its connection from
     * looking idle; one answered at once was touched when it arrived. */
    if (now_ns - c->started_ns > SERVER_TOUCH_AGAIN_NS)
        server_pipe_touch(c->srv, c->req, now_ns);
    nng_msg_free(c->req);
    c->req = NULL;
    size_t len;
    const void *data = codec_writer_data(c->w, &len);
    nng_msg *rep = NULL;
    if (codec_writer_failed(c->w) || nng_msg_alloc(&rep, len) != 0) {
        /* Out of memory: better no answer (the client times out and
         * retries) than a truncated one. */
        log_error("server", "out of memory writing a reply");
        codec_writer_reset(c->w);
        server_ctx_recv(c);
        return;
    }
    memcpy(nng_msg_body(rep), data, len);
    codec_writer_reset(c->w);
    request_observe(&c->srv->env, REQUEST_NNG, c->async.op, c->async.code,
                    (uint64_t)(now_ns - c->started_ns));
    nng_aio_set_msg(c->aio, rep);
    c->state = SERVER_SEND;
    nng_ctx_send(c->ctx, c->aio);
}

/* server_ctx_finish: a deferred reply is written (engine or store thread). */
static void server_ctx_finish(void *owner)
{
    server_ctx_send(owner);
}

static void server_ctx_cb(void *arg)
{
    server_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->state == SERVER_SEND) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        server_ctx_recv(c);
        return;
    }
    ATP_ASSERT(c->state == SERVER_RECV); /* no callback while it waits */
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return; /* shutting down */
    if (rv != 0) {
        server_ctx_recv(c);
        return;
    }
    c->started_ns = clock_mono_ns();
    c->req = nng_aio_get_msg(c->aio);
    c->state = SERVER_WAIT;
    server_pipe_touch(c->srv, c->req, c->started_ns);
    if (request_handle(&c->srv->env, nng_msg_body(c->req), nng_msg_len(c->req),
                       c->arena, c->w, &c->async))
        server_ctx_send(c);
    /* else: server_ctx_finish sends once the engine has answered */
}

atp_err server_alloc(const config *cfg, engine *eng, sources *src, ingest *in,
                     changes *chg, server **out)
{
    ATP_ASSERT(cfg != NULL && eng != NULL && src != NULL && out != NULL);
    server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->cfg = cfg;
    atp_err err = request_env_init(&s->env, cfg, eng, src, in, chg);
    if (err != ATP_OK)
        goto fail;
    int rv;
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        log_error("server", "cannot open REP socket: %s", nng_strerror(rv));
        err = ATP_E_TRANSPORT;
        goto fail;
    }
    s->sock_open = true;
    /* Bound what one request may make nng allocate (default: unlimited). */
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
                                  cfg->service.query_recv_max_bytes)) != 0) {
        log_error("server", "cannot set receive limit: %s", nng_strerror(rv));
        err = ATP_E_TRANSPORT;
        goto fail;
    }
    s->idle_ms = cfg->service.query_idle_timeout_ms;
    if (s->idle_ms > 0) {
        /* tls_pipe_notify, not nng_pipe_notify: the TLS janitor shares
         * the socket's pipe events (tls.h). */
        if ((rv = nng_mtx_alloc(&s->pipes_mtx)) != 0 ||
            (rv = nng_aio_alloc(&s->idle_aio, server_idle_cb, s)) != 0 ||
            tls_pipe_notify(s->sock, server_pipe_cb, s) != ATP_OK) {
            log_error("server", "cannot watch connections for idleness: %s",
                      rv != 0 ? nng_strerror(rv) : "pipe events refused");
            err = ATP_E_TRANSPORT;
            goto fail;
        }
    }
    s->n_ctxs = cfg->service.query_contexts;
    s->ctxs = calloc((size_t)s->n_ctxs, sizeof *s->ctxs);
    if (s->ctxs == NULL) {
        err = ATP_E_NOMEM;
        goto fail;
    }
    for (int i = 0; i < s->n_ctxs; i++) {
        server_ctx *c = &s->ctxs[i];
        c->srv = s;
        c->async.finish = server_ctx_finish;
        c->async.owner = c;
        if ((c->arena = codec_arena_alloc()) == NULL ||
            (c->w = codec_writer_alloc(NULL, NULL)) == NULL) {
            err = ATP_E_NOMEM;
            goto fail;
        }
        if ((rv = nng_aio_alloc(&c->aio, server_ctx_cb, c)) != 0 ||
            (rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
            log_error("server", "cannot create context: %s", nng_strerror(rv));
            err = ATP_E_TRANSPORT;
            goto fail;
        }
    }
    if ((err = tls_listen(s->sock, cfg->service.query_listen, &cfg->tls,
                          "server", s->url, sizeof s->url)) != ATP_OK)
        goto fail;
    *out = s;
    return ATP_OK;
fail:
    server_free(s);
    return err;
}

const char *server_listen_url(const server *s)
{
    return s->url;
}

request_env *server_request_env(server *s)
{
    return &s->env;
}

atp_err server_start(server *s)
{
    for (int i = 0; i < s->n_ctxs; i++)
        server_ctx_recv(&s->ctxs[i]);
    if (s->idle_aio != NULL)
        nng_sleep_aio(1000, s->idle_aio);
    return ATP_OK;
}

/* Socket closes are bounded (thread_run_bounded: nng 1.5.2's nng_close
 * can wait forever); the process is stopping when they run. */
static void server_close_fn(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

void server_stop(server *s)
{
    /* Stop every aio first (waits for running callbacks), then close. */
    if (s->idle_aio != NULL)
        nng_aio_stop(s->idle_aio);
    for (int i = 0; s->ctxs != NULL && i < s->n_ctxs; i++)
        if (s->ctxs[i].aio != NULL)
            nng_aio_stop(s->ctxs[i].aio);
    if (s->sock_open) {
        thread_run_bounded(server_close_fn, &s->sock, sizeof s->sock, 1000,
                           "closing the query REP socket");
        s->sock_open = false;
    }
}

void server_free(server *s)
{
    if (s == NULL)
        return;
    server_stop(s);
    for (int i = 0; s->ctxs != NULL && i < s->n_ctxs; i++) {
        server_ctx *c = &s->ctxs[i];
        if (c->aio != NULL)
            nng_aio_free(c->aio);
        codec_writer_free(c->w);
        codec_arena_free(c->arena);
    }
    free(s->ctxs);
    if (s->idle_aio != NULL)
        nng_aio_free(s->idle_aio);
    if (s->pipes_mtx != NULL)
        nng_mtx_free(s->pipes_mtx);
    pipes_fini(&s->pipes);
    request_env_fini(&s->env);
    free(s);
}
