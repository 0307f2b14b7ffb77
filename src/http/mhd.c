/*
 * mhd.c - the libmicrohttpd glue's lifecycle: the listener made, started
 * and stopped (http.h), its options and callbacks, its status section.
 * The glue is this file and the mhd_*.c files (mhd_int.h), the only ones
 * that include <microhttpd.h>. They run on libmicrohttpd's threads
 * (service.http_threads event loops) and, for the deferred replies, on
 * the engine or store thread that calls http_req_finish.
 *
 * One request: the route (route.c) from the method, the raw path and the
 * raw query parameters; the body collected up to
 * service.query_recv_max_bytes; the JSON body and the route's fields made
 * into the msgpack request map (codec_json_request); request_handle, the
 * same call the nng server makes; its msgpack reply written as JSON with
 * the status of its error code (http_reply_status). A reservation or
 * snapshot suspends the connection before request_handle and is resumed
 * by the thread that writes its reply (MHD_resume_connection), so no
 * libmicrohttpd thread ever waits on the engine.
 *
 * Request state (http_req) is pooled: the arena, the writers and the body
 * buffer are reused, so a request allocates only its JSON reply (handed
 * to libmicrohttpd, which frees it).
 */
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/assert.h"
#include "common/log.h"
#include "http/mhd_int.h"

/* Paths and query values are percent-decoded by route.c, per segment:
 * libmicrohttpd's own decoding would turn "%2F" into a separator. */
static size_t http_unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

static void http_log_cb(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("http", "libmicrohttpd: %s", line);
}

/* ---- status -------------------------------------------------------------- */

static void http_status_write(void *arg, codec_writer *w)
{
    http *h = arg;
    uint32_t n_err = 0;
    uint64_t errs[HTTP_ERR_SLOTS];
    for (size_t i = 0; i < HTTP_ERR_SLOTS; i++) {
        errs[i] = atomic_load_explicit(&h->errors[i], memory_order_relaxed);
        n_err += errs[i] != 0;
    }
    codec_w_map(w, 8);
    codec_w_kv_cstr(w, "listen", h->url);
    codec_w_kv_count(w, "requests",
                     atomic_load_explicit(&h->requests, memory_order_relaxed));
    codec_w_kv_count(w, "rejected",
                     atomic_load_explicit(&h->rejected, memory_order_relaxed));
    codec_w_kv_count(
        w, "connections",
        atomic_load_explicit(&h->conns_open, memory_order_relaxed));
    codec_w_kv_count(
        w, "connections_total",
        atomic_load_explicit(&h->conns_total, memory_order_relaxed));
    codec_w_kv_count(w, "event_streams", http_sse_count(h->sse));
    codec_w_kv_count(w, "timed_out", http_deadline_closed(h->dl));
    codec_w_cstr(w, "errors");
    codec_w_map(w, n_err);
    for (size_t i = 0; i < HTTP_ERR_SLOTS; i++)
        if (errs[i] != 0)
            codec_w_kv_count(w, atp_err_name((int)i), errs[i]);
}

/* ---- lifecycle ----------------------------------------------------------- */

/* http_bind_addr resolves the host of an http://host:port URL (numeric
 * addresses only: checked by the config) into ss. */
static bool http_bind_addr(const char *url, struct sockaddr_storage *ss,
                           bool *v6)
{
    char host[64];
    unsigned port;
    if (!config_http_url_split(url, host, sizeof host, &port))
        return false;
    struct addrinfo hints = {.ai_flags =
                                 AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo *ai;
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return false;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return true;
}

atp_err http_alloc(const config *cfg, request_env *env, changes *chg,
                   http **out)
{
    ATP_ASSERT(cfg != NULL && env != NULL && out != NULL);
    ATP_ASSERT(cfg->service.http_listen != NULL);
    http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return ATP_E_NOMEM;
    h->cfg = cfg;
    h->env = env;
    h->chg = chg;
    pthread_mutex_init(&h->pool_mu, NULL);
    const config_service *s = &cfg->service;
    if (!http_bind_addr(s->http_listen, &h->addr, &h->v6)) {
        log_error("http", "cannot resolve service.http_listen %s",
                  s->http_listen);
        http_free(h);
        return ATP_E_TRANSPORT;
    }
    if (chg != NULL && http_sse_alloc(cfg, chg, &h->sse) != ATP_OK) {
        http_free(h);
        return ATP_E_NOMEM;
    }
    h->status = (request_status_section){"http", http_status_write, h};
    atomic_store_explicit(&env->status_extra, &h->status, memory_order_release);
    *out = h;
    return ATP_OK;
}

atp_err http_start(http *h)
{
    ATP_ASSERT(h != NULL && h->d == NULL); /* started once */
    const config_service *s = &h->cfg->service;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (h->v6 ? MHD_USE_IPv6 : 0);
    /* The logger first: later options log through it. One event loop runs
     * without a pool (libmicrohttpd warns about a pool of 1). */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_log_cb, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &h->addr},
        {MHD_OPTION_CONNECTION_LIMIT, s->http_max_connections, NULL},
        /* auth.limits.http_connections_per_peer (0: none): one peer cannot
         * take every connection; over it, libmicrohttpd closes the new
         * connection at once. */
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
         (intptr_t)h->cfg->auth.http_connections_per_peer, NULL},
        /* atpd's watchdog (deadline.c) closes a connection whose request
         * is not whole within http_timeout, and counts it (timed_out);
         * libmicrohttpd's own timeout, which restarts at every byte, is
         * only a backstop behind it: at the same value it fired first and
         * nothing was counted. */
        {MHD_OPTION_CONNECTION_TIMEOUT, 2 * ((s->http_timeout_ms + 999) / 1000),
         NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->http_max_header_bytes,
         NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed_cb, h},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_connection_cb, h},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)http_unescape_cb, NULL},
        {s->http_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         s->http_threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem tls_opts[5];
    if (!http_tls_options(h, tls_opts, &flags))
        return ATP_E_TRANSPORT;
    if (http_deadline_start(s->http_timeout_ms, &h->dl) != ATP_OK)
        return ATP_E_NOMEM;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, http_access_cb, h,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_ARRAY, tls_opts,
                            MHD_OPTION_END);
    if (h->d == NULL) {
        http_deadline_stop(h->dl);
        h->dl = NULL;
        log_error("http", "cannot listen on %s (address in use, or not local?)",
                  s->http_listen);
        return ATP_E_TRANSPORT;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    char host[64];
    unsigned port;
    config_http_url_split(s->http_listen, host, sizeof host, &port);
    snprintf(h->url, sizeof h->url, h->v6 ? "%s://[%s]:%u" : "%s://%s:%u",
             h->tls_cert != NULL ? "https" : "http", host,
             info != NULL ? (unsigned)info->port : port);
    return ATP_OK;
}

const char *http_listen_url(const http *h)
{
    return h->url;
}

void http_stop(http *h)
{
    if (h->d == NULL)
        return;
    /* Event streams are suspended while they wait: libmicrohttpd cannot
     * stop with a suspended connection, so each is ended and resumed
     * first. */
    if (h->sse != NULL)
        http_sse_end_all(h->sse);
    MHD_stop_daemon(h->d);
    h->d = NULL;
    http_deadline_stop(h->dl); /* after: no callback uses it any more */
    h->dl = NULL;
    atomic_store_explicit(&h->env->status_extra, NULL, memory_order_release);
}

void http_free(http *h)
{
    if (h == NULL)
        return;
    http_stop(h);
    http_sse_free(h->sse);
    while (h->pool != NULL) {
        http_req *r = h->pool;
        h->pool = r->next_free;
        http_req_free(r);
    }
    pthread_mutex_destroy(&h->pool_mu);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_ca);
    free(h);
}
