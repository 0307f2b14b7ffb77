/*
 * http.h - the HTTP/1.1 front end (docs/HTTP.md): the same operations as
 * the nng REQ/REP server, with JSON bodies, answered by the same request
 * module, plus the change feed as Server-Sent Events. The only module that
 * links libmicrohttpd.
 *
 * Threads: libmicrohttpd's own (service.http_threads event loops, epoll,
 * keep-alive and pipelining); a handler never waits: reservations and
 * snapshots suspend their connection until the engine (or the store)
 * answers, and an event stream with nothing to send is suspended until
 * the changes thread hands it an event.
 */
#ifndef ATP_HTTP_H
#define ATP_HTTP_H

#include "atp/error.h"
#include "changes/changes.h"
#include "config/config.h"
#include "server/request.h"

typedef struct http http;

/* http_alloc prepares serving cfg->service.http_listen (which must be
 * set: a numeric address) with env (shared with the nng server: one set
 * of counters, and the HTTP counters join its status reply). chg: the
 * change feed for GET /v1/changes (NULL: that route answers 503 busy).
 * Call before changes_start (it registers the event streams as the
 * feed's listener). ATP_E_TRANSPORT (logged): the URL has no numeric
 * address. */
atp_err http_alloc(const config *cfg, request_env *env, changes *chg,
                   http **out);
/* http_start listens and serves (libmicrohttpd's threads start). Call
 * after engine_start. ATP_E_TRANSPORT (logged) when it cannot listen. */
atp_err http_start(http *h);
/* http_listen_url: "http://host:port" with the port bound (valid until
 * http_free). */
const char *http_listen_url(const http *h);
/* http_stop ends every event stream and stops the server: requests in
 * flight are answered first (their engine callbacks have run: call it
 * after engine_stop). */
void http_stop(http *h);
void http_free(http *h);

#endif
