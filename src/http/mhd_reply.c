/*
 * mhd_reply.c - writing responses: a msgpack reply as JSON with the status
 * of its error code, the HTTP layer's own errors, the event stream of GET
 * /v1/changes, GET /metrics, and the dashboard's files; the per-code error
 * counters of status.http. libmicrohttpd's threads.
 */
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "http/mhd_int.h"
#include "server/reply.h"

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

enum MHD_Result http_reply(http_req *r, int status)
{
    size_t len;
    const void *rep = codec_writer_data(r->rep_w, &len);
    http_reply_info info;
    char *json = NULL;
    size_t jlen = 0;
    if (codec_writer_failed(r->rep_w) || !http_reply_read(rep, len, &info) ||
        codec_json_from_msgpack(rep, len, &json, &jlen) != ATP_OK) {
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

enum MHD_Result http_reply_error(http_req *r, int status, atp_err code,
                                 const char *message)
{
    ATP_ASSERT(code != ATP_OK && message != NULL);
    atomic_fetch_add_explicit(&r->h->rejected, 1, memory_order_relaxed);
    reply_error e = {.line = -1};
    reply_error_set(&e, code, "%s", message);
    codec_writer_reset(r->rep_w);
    reply_error_write(r->rep_w, &e);
    return http_reply(r, status);
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

enum MHD_Result http_sse_start(http_req *r)
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
        {"atpd_http_timed_out_total", "counter",
         "HTTP connections closed because a request did not arrive whole "
         "within service.http_timeout"},
    };
    uint64_t v[] = {
        atomic_load_explicit(&h->requests, memory_order_relaxed),
        atomic_load_explicit(&h->rejected, memory_order_relaxed),
        atomic_load_explicit(&h->conns_open, memory_order_relaxed),
        atomic_load_explicit(&h->conns_total, memory_order_relaxed),
        http_sse_count(h->sse),
        http_deadline_closed(h->dl),
    };
    request_metrics_write(h->env, t);
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        metrics_text_family(t, fams[i].name, fams[i].type, fams[i].help);
        metrics_text_uint(t, fams[i].name, NULL, 0, v[i]);
    }
}

enum MHD_Result http_metrics_reply(http_req *r)
{
    metrics_text t;
    metrics_text_init(&t);
    http_metrics_write(r->h, &t);
    if (t.failed) {
        metrics_text_fini(&t);
        return http_reply_error(r, 503, ATP_E_NOMEM,
                                "out of memory writing the metrics");
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

/* http_ui_serve sends a dashboard file (ui.h): static bytes, never freed,
 * with its type and a strict Content-Security-Policy. */
enum MHD_Result http_ui_serve(http *h, struct MHD_Connection *conn,
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
