/*
 * mhd.c - the libmicrohttpd glue: the only file that includes
 * <microhttpd.h>. Runs on libmicrohttpd's threads (service.http_threads
 * event loops) and, for the deferred replies, on the engine or store
 * thread that calls http_req_finish.
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
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/file.h"
#include "common/log.h"
#include "http/http.h"
#include "http/deadline.h"
#include "http/http_int.h"
#include "http/sse.h"
#include "http/ui.h"
#include "server/reply.h"

/* Error codes counted one by one in status.http.errors (include/atp/error.h
 * has 28 today; later ones share the last slot until this grows). */
#define HTTP_ERR_SLOTS 48
/* The most query parameters read from one request (the others are
 * ignored, as unknown ones are). */
#define HTTP_PARAMS_MAX 16

enum { HTTP_REQ_RUNNING, HTTP_REQ_WAITING, HTTP_REQ_DONE };

typedef struct http_req {
    struct http *h;
    struct MHD_Connection *conn;
    struct http_req *next_free;
    http_call call;
    codec_arena *arena;
    codec_writer *req_w; /* the msgpack request */
    codec_writer *rep_w; /* the msgpack reply */
    request_async async;
    char *body;
    size_t body_len, body_cap;
    /* Set while reading: answered by the HTTP layer itself. */
    atp_err fail;
    int fail_status;
    char fail_msg[200];
    _Atomic int state;
    int64_t started_ns; /* the request's headers arrived (monotonic) */
} http_req;

struct http {
    const config *cfg;
    request_env *env;
    changes *chg;
    struct MHD_Daemon *d;
    char url[128];
    struct sockaddr_storage addr; /* service.http_listen */
    bool v6;
    request_status_section status;
    http_sse *sse;
    http_deadline *dl; /* request deadline watchdog (deadline.h) */
    /* https://: the tls: section's PEM files, read at http_start
     * (libmicrohttpd takes them from memory); NULL for http://. */
    char *tls_cert, *tls_key, *tls_ca;
    int verify; /* enum config_tls_verify of HTTPS; NONE for http:// */

    pthread_mutex_t pool_mu; /* guards pool */
    http_req *pool;

    _Atomic uint64_t requests, rejected, conns_open, conns_total;
    _Atomic uint64_t errors[HTTP_ERR_SLOTS];
};

/* ---- request state pool -------------------------------------------------- */

static void http_req_free(http_req *r)
{
    if (r == NULL)
        return;
    codec_arena_free(r->arena);
    codec_writer_free(r->req_w);
    codec_writer_free(r->rep_w);
    free(r->body);
    free(r);
}

static void http_req_finish(void *owner);

static http_req *http_req_get(http *h)
{
    pthread_mutex_lock(&h->pool_mu);
    http_req *r = h->pool;
    if (r != NULL)
        h->pool = r->next_free;
    pthread_mutex_unlock(&h->pool_mu);
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return NULL;
        r->h = h;
        r->arena = codec_arena_alloc();
        r->req_w = codec_writer_alloc(NULL, NULL);
        r->rep_w = codec_writer_alloc(NULL, NULL);
        if (r->arena == NULL || r->req_w == NULL || r->rep_w == NULL) {
            http_req_free(r);
            return NULL;
        }
    }
    r->async.finish = http_req_finish;
    r->async.owner = r;
    r->body_len = 0;
    r->fail = ATP_OK;
    r->fail_status = 0;
    r->async.op = 0; /* "none" until request_handle names it */
    r->async.code = ATP_OK;
    atomic_store_explicit(&r->state, HTTP_REQ_RUNNING, memory_order_relaxed);
    return r;
}

/* A large body buffer is not kept: the pool would hold max_message bytes
 * per connection ever served. */
#define HTTP_BODY_KEEP (64 * 1024)

static void http_req_put(http *h, http_req *r)
{
    codec_arena_clear(r->arena);
    codec_writer_reset(r->req_w);
    codec_writer_reset(r->rep_w);
    if (r->body_cap > HTTP_BODY_KEEP) {
        free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    pthread_mutex_lock(&h->pool_mu);
    r->next_free = h->pool;
    h->pool = r;
    pthread_mutex_unlock(&h->pool_mu);
}

/* http_req_finish: request_handle's deferred reply is written (engine or
 * store thread). The connection was suspended before request_handle. */
static void http_req_finish(void *owner)
{
    http_req *r = owner;
    atomic_store_explicit(&r->state, HTTP_REQ_DONE, memory_order_release);
    MHD_resume_connection(r->conn);
}

/* ---- replies ------------------------------------------------------------- */

static void http_count_error(http *h, int code)
{
    size_t slot =
        code > 0 && code < HTTP_ERR_SLOTS ? (size_t)code : HTTP_ERR_SLOTS - 1;
    atomic_fetch_add_explicit(&h->errors[slot], 1, memory_order_relaxed);
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, int status,
                                  char *json, size_t len, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(json);
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 503 || status == 429)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) /* RFC 6750, 3 */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"atpd\"");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* http_reply sends the msgpack reply in r->rep_w as JSON; status 0: the
 * status of the reply's error code (http_reply_status). */
static enum MHD_Result http_reply(http_req *r, int status)
{
    size_t len;
    const void *rep = codec_writer_data(r->rep_w, &len);
    http_reply_info info;
    char *json = NULL;
    size_t jlen = 0;
    if (codec_writer_failed(r->rep_w) || !http_reply_read(rep, len, &info) ||
        codec_json_from_msgpack(r->arena, rep, len, &json, &jlen) != ATP_OK) {
        /* Out of memory, or a reply that is no reply map (a bug): a
         * fixed answer that needs no allocation to be built. */
        static const char oom[] = "{\"ok\":false,\"error\":{\"code\":16,"
                                  "\"name\":\"nomem\",\"message\":\"out of "
                                  "memory writing the reply\"}}";
        log_error("http", "cannot write a reply as JSON");
        http_count_error(r->h, ATP_E_NOMEM);
        request_observe(r->h->env, REQUEST_HTTP, r->async.op, ATP_E_NOMEM,
                        (uint64_t)(clock_mono_ns() - r->started_ns));
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json");
        enum MHD_Result ret = MHD_queue_response(r->conn, 503, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (info.code != ATP_OK)
        http_count_error(r->h, info.code);
    request_observe(r->h->env, REQUEST_HTTP, r->async.op, info.code,
                    (uint64_t)(clock_mono_ns() - r->started_ns));
    if (status == 0)
        status = http_reply_status(&r->call, &info);
    return http_queue(r->conn, status, json, jlen,
                      status == 405 ? r->call.allow : NULL);
}

/* http_reply_error answers an error the HTTP layer finds itself (route,
 * body size, JSON): the same error map as the request module's. */
static enum MHD_Result http_reply_error(http_req *r, int status, atp_err code,
                                        const char *message)
{
    atomic_fetch_add_explicit(&r->h->rejected, 1, memory_order_relaxed);
    reply_error e = {.line = -1};
    reply_error_set(&e, code, "%s", message);
    codec_writer_reset(r->rep_w);
    reply_error_write(r->rep_w, &e);
    return http_reply(r, status);
}

/* ---- one request --------------------------------------------------------- */

typedef struct http_params {
    http_param p[HTTP_PARAMS_MAX];
    size_t n;
} http_params;

static enum MHD_Result http_param_cb(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
    (void)kind;
    http_params *ps = cls;
    if (ps->n == HTTP_PARAMS_MAX)
        return MHD_NO;
    ps->p[ps->n++] = (http_param){key, value};
    return MHD_YES;
}

/* http_req_begin: the first call for a request (headers read). Sets
 * r->fail when the answer is decided already; the body is then read and
 * discarded (the connection stays usable), except when it is too large. */
static void http_req_begin(http_req *r, const char *method, const char *url)
{
    http *h = r->h;
    http_params ps = {.n = 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, http_param_cb,
                              &ps);
    if (!http_route(&r->call, method, url, ps.p, ps.n, r->arena)) {
        r->fail = r->call.err;
        r->fail_status = r->call.status;
        snprintf(r->fail_msg, sizeof r->fail_msg, "%s", r->call.message);
    }
    /* A declared length over the limit is refused before its body is
     * read, whatever else is wrong with the request. */
    const char *cl = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t max = h->cfg->service.query_recv_max_bytes;
    if (cl != NULL && strtoull(cl, NULL, 10) > max) {
        r->fail = ATP_E_TOO_LARGE;
        r->fail_status = 413;
        snprintf(r->fail_msg, sizeof r->fail_msg,
                 "request body of %s bytes, at most %zu "
                 "(service.query_recv_max_bytes)",
                 cl, max);
    }
}

/* http_req_body appends a piece of the body (bounded); once the answer is
 * decided, or when the route reads no body, it is discarded (a chunked
 * body's size is bounded only by the client and http_timeout). */
static void http_req_body(http_req *r, const char *data, size_t n)
{
    size_t max = r->h->cfg->service.query_recv_max_bytes;
    if (r->fail != ATP_OK || !r->call.body)
        return;
    if (n > max - r->body_len || r->body_len > max) {
        r->fail = ATP_E_TOO_LARGE;
        r->fail_status = 413;
        snprintf(r->fail_msg, sizeof r->fail_msg,
                 "request body over %zu bytes (service.query_recv_max_bytes)",
                 max);
        return;
    }
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (b == NULL) {
            r->fail = ATP_E_NOMEM;
            r->fail_status = 503;
            snprintf(r->fail_msg, sizeof r->fail_msg,
                     "out of memory reading the body");
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

/* ---- event streams (GET /v1/changes) ---------------------------------------
 * A stream with nothing to send suspends its connection from inside the
 * content reader (allowed there by libmicrohttpd), and the changes thread
 * resumes it when it queues an event; both under the stream's lock
 * (sse.c), so the resume always follows the suspend. */

static void http_sse_sleep_cb(void *ctx)
{
    MHD_suspend_connection(ctx);
}

static void http_sse_wake_cb(void *ctx)
{
    MHD_resume_connection(ctx);
}

static ssize_t http_sse_reader_cb(void *cls, uint64_t pos, char *buf,
                                  size_t max)
{
    (void)pos;
    ssize_t n = http_sse_read(cls, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void http_sse_free_cb(void *cls)
{
    http_sse_close(cls);
}

static enum MHD_Result http_sse_start(http_req *r)
{
    http *h = r->h;
    if (h->sse == NULL)
        return http_reply_error(r, 0, ATP_E_BUSY,
                                "the change feed is not running");
    const char *last =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    atp_err err;
    char msg[200];
    http_sse_io io = {http_sse_sleep_cb, http_sse_wake_cb, r->conn};
    http_sse_stream *st =
        http_sse_open(h->sse, &r->call, last, io, &err, msg, sizeof msg);
    if (st == NULL)
        return http_reply_error(r, 0, err, msg);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, http_sse_reader_cb, st, http_sse_free_cb);
    if (resp == NULL) {
        http_sse_close(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- GET /metrics ---------------------------------------------------------
 * What the request module gathers, then the HTTP layer's own counters
 * (docs/METRICS.md). A scrape is not timed as a request (it is no op). */

static void http_metrics_write(http *h, metrics_text *t)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"atpd_http_requests_total", "counter",
         "HTTP requests received (event streams and scrapes included)"},
        {"atpd_http_rejected_total", "counter",
         "HTTP requests the HTTP layer answered itself (route, method, body, "
         "JSON)"},
        {"atpd_http_connections", "gauge", "HTTP connections open"},
        {"atpd_http_connections_accepted_total", "counter",
         "HTTP connections accepted"},
        {"atpd_http_event_streams", "gauge", "GET /v1/changes streams open"},
    };
    uint64_t v[] = {
        atomic_load_explicit(&h->requests, memory_order_relaxed),
        atomic_load_explicit(&h->rejected, memory_order_relaxed),
        atomic_load_explicit(&h->conns_open, memory_order_relaxed),
        atomic_load_explicit(&h->conns_total, memory_order_relaxed),
        http_sse_count(h->sse),
    };
    request_metrics_write(h->env, t);
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        metrics_text_family(t, fams[i].name, fams[i].type, fams[i].help);
        metrics_text_uint(t, fams[i].name, NULL, 0, v[i]);
    }
}

static enum MHD_Result http_metrics_reply(http_req *r)
{
    metrics_text t;
    metrics_text_init(&t);
    http_metrics_write(r->h, &t);
    if (t.failed) {
        metrics_text_fini(&t);
        return http_reply_error(r, 503, ATP_E_NOMEM, "out of memory writing the metrics");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(t.len, t.buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        metrics_text_fini(&t);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* http_req_token: the request's bearer token (empty: none). */
static codec_str http_req_token(http_req *r)
{
    return http_bearer(MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

/* http_req_authorize: the routes that are no request op (the change feed,
 * /metrics) check the token here, as request_handle does for the others
 * (src/auth). false: answered. */
static bool http_req_authorize(http_req *r, const char *what, enum MHD_Result *ret)
{
    if (!auth_enabled(r->h->env->auth))
        return true;
    codec_str tok = http_req_token(r);
    auth_who who;
    char why[200], msg[240];
    atp_err err = auth_check(r->h->env->auth, tok.ptr, tok.len,
                             auth_op_scope(what, strlen(what)), clock_mono_ns(),
                             &who, why, sizeof why);
    if (err == ATP_OK)
        return true;
    snprintf(msg, sizeof msg, "%s; nothing was done", why);
    *ret = http_reply_error(r, 0, err, msg);
    return false;
}

/* http_req_run: the whole request is read; run it. */
static enum MHD_Result http_req_run(http_req *r)
{
    http *h = r->h;
    enum MHD_Result ret;
    if (r->fail != ATP_OK)
        return http_reply_error(r, r->fail_status, r->fail, r->fail_msg);
    if (r->call.sse)
        return http_req_authorize(r, "feed", &ret) ? http_sse_start(r) : ret;
    if (r->call.metrics)
        return http_req_authorize(r, "metrics", &ret) ? http_metrics_reply(r) : ret;
    /* The token travels in the request map, always (empty when the
     * request has none), so that a body's "token" member never stands in
     * for the Authorization header (fields win over the body). */
    if (r->call.n_fields < HTTP_FIELDS_MAX)
        r->call.fields[r->call.n_fields++] =
            (codec_json_field){.key = "token", .str = http_req_token(r)};
    codec_json_opts opts = {r->call.fields, r->call.n_fields, r->call.line_qty};
    char msg[200];
    atp_err err = codec_json_request(r->req_w, &opts, r->body, r->body_len, msg,
                                     sizeof msg);
    if (err != ATP_OK)
        return http_reply_error(r, 0, err, msg);
    size_t len;
    const void *req = codec_writer_data(r->req_w, &len);
    if (r->call.async) {
        atomic_store_explicit(&r->state, HTTP_REQ_WAITING,
                              memory_order_relaxed);
        MHD_suspend_connection(r->conn);
    }
    if (!request_handle(h->env, req, len, r->arena, r->rep_w, &r->async))
        return MHD_YES; /* http_req_finish resumes the connection */
    if (r->call.async) {
        /* Answered at once (a refusal): resumed, then called again. */
        http_req_finish(r);
        return MHD_YES;
    }
    return http_reply(r, 0);
}

/* http_req_refuse answers a body declared too large (Content-Length) at
 * once, before it is read: libmicrohttpd then discards the request and
 * closes the connection after the reply. */
static enum MHD_Result http_req_refuse(http_req *r)
{
    atomic_store_explicit(&r->state, HTTP_REQ_DONE, memory_order_relaxed);
    return http_reply_error(r, r->fail_status, r->fail, r->fail_msg);
}

/* http_ui_serve sends a dashboard file (ui.h): static bytes, never freed,
 * with its type and a strict Content-Security-Policy. */
static enum MHD_Result http_ui_serve(http *h, struct MHD_Connection *conn,
                                     const http_ui_asset *a)
{
    atomic_fetch_add_explicit(&h->requests, 1, memory_order_relaxed);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        a->len, (void *)a->bytes, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(resp, "Content-Security-Policy", HTTP_UI_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* What atpd keeps per connection (libmicrohttpd's socket context, made and
 * freed by http_connection_cb): its deadline entry, and whether its client
 * certificate was verified already. */
typedef struct http_conn_ctx {
    http_deadline_conn *dl;
    bool cert_ok;
} http_conn_ctx;

static http_conn_ctx *http_conn_ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* http_client_cert_ok: with tls.verify_clients on HTTPS, the certificate
 * the client sent verifies against tls.ca_file (GnuTLS, with the trust
 * libmicrohttpd was given), and with `required` one was sent. The chain is
 * verified once per connection (its TLS session, and so its peer, does not
 * change), at its first request; paid only with verification on. */
static bool http_client_cert_ok(const http *h, struct MHD_Connection *conn)
{
    if (h->verify == CONFIG_TLS_VERIFY_NONE)
        return true;
    http_conn_ctx *cx = http_conn_ctx_of(conn);
    if (cx != NULL && cx->cert_ok)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return false;
    gnutls_session_t s = ci->tls_session;
    unsigned n = 0, status = 0;
    bool ok = gnutls_certificate_get_peers(s, &n) == NULL || n == 0
                  ? h->verify == CONFIG_TLS_VERIFY_OPTIONAL
                  : gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS &&
                        status == 0;
    if (ok && cx != NULL)
        cx->cert_ok = true;
    return ok;
}

/* http_conn_deadline: the deadline entry of conn (http_connection_cb). */
static http_deadline_conn *http_conn_deadline(struct MHD_Connection *conn)
{
    http_conn_ctx *cx = http_conn_ctx_of(conn);
    return cx != NULL ? cx->dl : NULL;
}

/* http_conn_answering: conn's request is whole (or refused): no deadline
 * while it is answered (deadline.h). */
static void http_conn_answering(http *h, struct MHD_Connection *conn)
{
    http_deadline_answering(h->dl, http_conn_deadline(conn));
}

static enum MHD_Result http_access_cb(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http *h = cls;
    http_req *r = *con_cls;
    const http_ui_asset *ui;
    if (r == NULL && !http_client_cert_ok(h, conn)) {
        /* As nng's verify_clients: nothing of atpd is reached; the
         * connection is closed without a reply. */
        atomic_fetch_add_explicit(&h->rejected, 1, memory_order_relaxed);
        log_debug("http", "closed an HTTPS connection without a valid client "
                          "certificate (tls.verify_clients)");
        return MHD_NO;
    }
    if (r == NULL &&
        (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
        (ui = http_ui_find(url)) != NULL) {
        http_conn_answering(h, conn);
        return http_ui_serve(h, conn, ui); /* the dashboard (docs/HTTP.md) */
    }
    if (r == NULL) {
        r = http_req_get(h);
        if (r == NULL)
            return MHD_NO; /* out of memory: the connection is closed */
        r->conn = conn;
        r->started_ns = clock_mono_ns();
        *con_cls = r;
        atomic_fetch_add_explicit(&h->requests, 1, memory_order_relaxed);
        http_req_begin(r, method, url);
        if (r->fail != ATP_E_TOO_LARGE)
            return MHD_YES;
        http_conn_answering(h, conn);
        return http_req_refuse(r);
    }
    if (*upload_data_size > 0) {
        /* libmicrohttpd takes no reply while a body arrives: a chunked
         * body that passes the limit is discarded to its end (no memory
         * held) and answered 413 then. */
        http_req_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    http_conn_answering(h, conn);
    switch (atomic_load_explicit(&r->state, memory_order_acquire)) {
    case HTTP_REQ_DONE:
        if (r->fail != ATP_OK)
            return MHD_YES; /* refused already (http_req_refuse) */
        return http_reply(r, 0);
    case HTTP_REQ_WAITING:
        return MHD_YES; /* not resumed by us: cannot happen */
    default:
        return http_req_run(r);
    }
}

static void http_completed_cb(void *cls, struct MHD_Connection *conn,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http *h = cls;
    /* The reply is out: the next request has its deadline from now. */
    http_deadline_reading(h->dl, http_conn_deadline(conn));
    http_req *r = *con_cls;
    if (r != NULL)
        http_req_put(cls, r);
    *con_cls = NULL;
}

static void http_connection_cb(void *cls, struct MHD_Connection *conn,
                               void **socket_context,
                               enum MHD_ConnectionNotificationCode toe)
{
    http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&h->conns_open, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->conns_total, 1, memory_order_relaxed);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_conn_ctx *cx = calloc(1, sizeof *cx);
        if (cx != NULL && ci != NULL)
            cx->dl = http_deadline_open(h->dl, ci->connect_fd);
        *socket_context = cx; /* NULL (no memory): no deadline, verified each time */
    } else {
        http_conn_ctx *cx = *socket_context;
        /* Before libmicrohttpd closes the socket (deadline.h). */
        if (cx != NULL)
            http_deadline_close(h->dl, cx->dl);
        free(cx);
        *socket_context = NULL;
        atomic_fetch_sub_explicit(&h->conns_open, 1, memory_order_relaxed);
    }
}

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
    codec_w_kv_count(w, "connections",
                     atomic_load_explicit(&h->conns_open, memory_order_relaxed));
    codec_w_kv_count(w, "connections_total",
                     atomic_load_explicit(&h->conns_total, memory_order_relaxed));
    codec_w_kv_count(w, "event_streams", http_sse_count(h->sse));
    codec_w_kv_count(w, "timed_out", http_deadline_closed(h->dl));
    codec_w_cstr(w, "errors");
    codec_w_map(w, n_err);
    for (size_t i = 0; i < HTTP_ERR_SLOTS; i++)
        if (errs[i] != 0)
            codec_w_kv_count(w, atp_err_name((int)i), errs[i]);
}

/* ---- HTTPS --------------------------------------------------------------- */

/* http_tls_read: the whole PEM file as a C string, or NULL (logged). */
static char *http_tls_read(const char *what, const char *path)
{
    char *buf = path != NULL ? file_read_all(path, 1 << 20, NULL) : NULL;
    if (buf == NULL)
        log_error("http", "cannot read %s %s for https://", what,
                  path != NULL ? path : "(not configured)");
    return buf;
}

/* http_tls_options fills opts (5 items, MHD_OPTION_END-terminated) with
 * the HTTPS options of the tls: section when service.http_listen is
 * https://. GnuTLS's priority string sets the minimum version. With
 * verify_clients, the client CA makes libmicrohttpd ask for a client
 * certificate; it does not check it: http_client_cert_ok does. false
 * (logged): a file cannot be read. */
static bool http_tls_options(http *h, struct MHD_OptionItem *opts, unsigned *flags)
{
    const config_tls *t = &h->cfg->tls;
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (strncmp(h->cfg->service.http_listen, "https://", 8) != 0)
        return true;
    if ((h->tls_cert = http_tls_read("tls.cert_file", t->cert_file)) == NULL ||
        (h->tls_key = http_tls_read("tls.key_file", t->key_file)) == NULL)
        return false;
    static const char min12[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    static const char min13[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                        (void *)(t->min_version == 13 ? min13 : min12)};
    if (t->ca_file != NULL && t->verify_clients != CONFIG_TLS_VERIFY_NONE) {
        if ((h->tls_ca = http_tls_read("tls.ca_file", t->ca_file)) == NULL)
            return false;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_ca};
        h->verify = t->verify_clients;
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    *flags |= MHD_USE_TLS;
    return true;
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
        {MHD_OPTION_CONNECTION_TIMEOUT, (s->http_timeout_ms + 999) / 1000,
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
