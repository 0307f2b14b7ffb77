/*
 * mhd_request.c - one HTTP request, from libmicrohttpd's request callback:
 * the pooled request state, the route, the body collected up to
 * service.query_recv_max_bytes, the token check of the routes that are no
 * op, and the run: the JSON body and the route's fields made into the
 * msgpack request map, request_handle, and for a reservation or snapshot
 * the suspend that the thread writing its reply ends (http_req_finish).
 * libmicrohttpd's threads; http_req_finish on the engine or store thread.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "http/mhd_int.h"

/* ---- request state pool -------------------------------------------------- */

void http_req_free(http_req *r)
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
    r->refuse_now = false;
    r->fail_status = 0;
    r->async.op = 0; /* "none" until request_handle names it */
    r->async.code = ATP_OK;
    atomic_store_explicit(&r->state, HTTP_REQ_RUNNING, memory_order_relaxed);
    return r;
}

/* A large body buffer is not kept: the pool would hold max_message bytes
 * per connection ever served. */
#define HTTP_BODY_KEEP (64 * 1024)

void http_req_put(http *h, http_req *r)
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
    /* Only a suspended request is resumed (http_req_run). */
    ATP_ASSERT(atomic_load_explicit(&r->state, memory_order_relaxed) ==
               HTTP_REQ_WAITING);
    atomic_store_explicit(&r->state, HTTP_REQ_DONE, memory_order_release);
    MHD_resume_connection(r->conn);
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

/* http_req_fail decides r's answer: code err, HTTP status, the message
 * (printf-style, printable text). */
static void http_req_fail(http_req *r, atp_err err, int status, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static void http_req_fail(http_req *r, atp_err err, int status, const char *fmt,
                          ...)
{
    r->fail = err;
    r->fail_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
    va_end(ap);
}

/* The Content-Length headers of a request: how many, and whether they
 * all say the same. */
typedef struct http_lengths {
    unsigned n;
    bool differ;
    const char *first;
} http_lengths;

static enum MHD_Result http_length_cb(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    http_lengths *l = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
        return MHD_YES;
    if (l->n++ == 0)
        l->first = value;
    else if (value == NULL || l->first == NULL || strcmp(value, l->first) != 0)
        l->differ = true;
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
    if (!http_route(&r->call, method, url, ps.p, ps.n, r->arena))
        http_req_fail(r, r->call.err, r->call.status, "%s", r->call.message);
    /* Two lengths that differ leave the body's end in doubt (RFC 9112
     * 6.3: a proxy in front may have framed it by the other one, so the
     * rest would be read as a request of its own): refused before the
     * body, and the connection closed. */
    http_lengths lens = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_length_cb, &lens);
    if (lens.differ) {
        http_req_fail(r, ATP_E_BAD_REQUEST, 400,
                      "%u Content-Length headers that differ: the body's end "
                      "is not known; the connection is closed",
                      lens.n);
        r->refuse_now = true;
        return;
    }
    /* A declared length over the limit is refused before its body is
     * read, whatever else is wrong with the request. */
    const char *cl = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t max = h->cfg->service.query_recv_max_bytes;
    if (cl != NULL && strtoull(cl, NULL, 10) > max) {
        http_req_fail(r, ATP_E_TOO_LARGE, 413,
                      "request body of %s bytes, at most %zu "
                      "(service.query_recv_max_bytes)",
                      cl, max);
        r->refuse_now = true;
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
        http_req_fail(r, ATP_E_TOO_LARGE, 413,
                      "request body over %zu bytes "
                      "(service.query_recv_max_bytes)",
                      max);
        return;
    }
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (b == NULL) {
            http_req_fail(r, ATP_E_NOMEM, 503,
                          "out of memory reading the body");
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
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
static bool http_req_authorize(http_req *r, const char *what,
                               enum MHD_Result *ret)
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
        return http_req_authorize(r, "metrics", &ret) ? http_metrics_reply(r)
                                                      : ret;
    /* The token travels in the request map, always (empty when the
     * request has none), so that a body's "token" member never stands in
     * for the Authorization header (fields win over the body). */
    if (r->call.n_fields < HTTP_FIELDS_MAX)
        r->call.fields[r->call.n_fields++] =
            (codec_json_field){.key = "token", .str = http_req_token(r)};
    codec_json_opts opts = {r->call.fields, r->call.n_fields, r->call.line_qty,
                            r->call.line_sku_qty, r->call.line_pin};
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

/* http_req_refuse answers a request refused by its headers (refuse_now: a
 * body declared too large, Content-Length headers that differ) at once,
 * before the body is read: libmicrohttpd then discards the request and
 * closes the connection after the reply. */
static enum MHD_Result http_req_refuse(http_req *r)
{
    atomic_store_explicit(&r->state, HTTP_REQ_DONE, memory_order_relaxed);
    return http_reply_error(r, r->fail_status, r->fail, r->fail_msg);
}

enum MHD_Result http_access_cb(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
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
        if (!r->refuse_now)
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
    int state = atomic_load_explicit(&r->state, memory_order_acquire);
    /* A suspended request (waiting) is called again only once
     * http_req_finish resumed it, and that marks it done first. */
    ATP_ASSERT(state != HTTP_REQ_WAITING);
    switch (state) {
    case HTTP_REQ_DONE:
        if (r->fail != ATP_OK)
            return MHD_YES; /* refused already (http_req_refuse) */
        return http_reply(r, 0);
    default:
        return http_req_run(r);
    }
}
