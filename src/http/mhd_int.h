/*
 * mhd_int.h - what the libmicrohttpd glue's files share (mhd.c,
 * mhd_conn.c, mhd_tls.c, mhd_request.c, mhd_reply.c): the listener's and
 * a request's state, and the functions one file calls in another. They
 * are the only files that include <microhttpd.h>. Not for other modules.
 */
#ifndef ATP_HTTP_MHD_INT_H
#define ATP_HTTP_MHD_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/deadline.h"
#include "http/http.h"
#include "http/http_int.h"
#include "http/sse.h"
#include "http/ui.h"

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
    /* fail is answered at once, before the body is read; libmicrohttpd
     * then closes the connection (too large, or framing in doubt) */
    bool refuse_now;
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

/* What atpd keeps per connection (libmicrohttpd's socket context, made and
 * freed by http_connection_cb): its deadline entry, and whether its client
 * certificate was verified already. */
typedef struct http_conn_ctx {
    http_deadline_conn *dl;
    bool cert_ok;
} http_conn_ctx;

/* ---- connections (mhd_conn.c) -------------------------------------------- */

/* http_conn_ctx_of: conn's context (http_connection_cb); NULL when it
 * could not be allocated. */
http_conn_ctx *http_conn_ctx_of(struct MHD_Connection *conn);

/* http_conn_answering: conn's request is whole (or refused): no deadline
 * while it is answered (deadline.h). */
void http_conn_answering(http *h, struct MHD_Connection *conn);

/* libmicrohttpd's connection callbacks (MHD_OPTION_NOTIFY_COMPLETED,
 * MHD_OPTION_NOTIFY_CONNECTION); cls is the http. */
void http_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe);
void http_connection_cb(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode toe);

/* ---- HTTPS (mhd_tls.c) --------------------------------------------------- */

/* http_client_cert_ok: conn's client certificate passes tls.verify_clients
 * (always true without verification). */
bool http_client_cert_ok(const http *h, struct MHD_Connection *conn);

/* http_tls_options fills opts (5 items, MHD_OPTION_END-terminated) with
 * the HTTPS options and adds MHD_USE_TLS to *flags for an https:// URL.
 * false (logged): a file cannot be read. */
bool http_tls_options(http *h, struct MHD_OptionItem *opts, unsigned *flags);

/* ---- requests (mhd_request.c) -------------------------------------------- */

/* http_access_cb: libmicrohttpd's request callback; cls is the http. */
enum MHD_Result http_access_cb(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls);

/* http_req_put returns r to h's pool (the request completed);
 * http_req_free frees it (http_free: the pool). */
void http_req_put(http *h, http_req *r);
void http_req_free(http_req *r);

/* ---- replies (mhd_reply.c) ----------------------------------------------- */

/* http_reply sends the msgpack reply in r->rep_w as JSON; status 0: the
 * status of the reply's error code (http_reply_status). */
enum MHD_Result http_reply(http_req *r, int status);

/* http_reply_error answers an error the HTTP layer finds itself (route,
 * body size, JSON): the same error map as the request module's. */
enum MHD_Result http_reply_error(http_req *r, int status, atp_err code,
                                 const char *message);

/* http_sse_start answers GET /v1/changes with an event stream. */
enum MHD_Result http_sse_start(http_req *r);

/* http_metrics_reply answers GET /metrics. */
enum MHD_Result http_metrics_reply(http_req *r);

/* http_ui_serve sends a dashboard file (ui.h). */
enum MHD_Result http_ui_serve(http *h, struct MHD_Connection *conn,
                              const http_ui_asset *a);

#endif
