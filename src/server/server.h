/*
 * server.h - the query transport: an nng REP socket with a pool of
 * contexts, each an asynchronous receive -> handle -> send loop.
 *
 * Threads: requests are handled on nng's callback threads, several at once;
 * handlers only read engine and source state (lock-free), so they never
 * wait on ingest.
 */
#ifndef ATP_SERVER_H
#define ATP_SERVER_H

#include "atp/error.h"
#include "changes/changes.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/ingest.h"
#include "sources/sources.h"

typedef struct server server;

/* server_alloc opens the REP socket and listens on
 * cfg->service.query_listen; ATP_E_TRANSPORT (logged) if it cannot. */
atp_err server_alloc(const config *cfg, engine *eng, sources *src, ingest *in,
                     changes *chg, server **out);
/* server_listen_url: the URL the query socket listens on, with the port
 * the system chose when the configured one is 0 (valid until server_free). */
const char *server_listen_url(const server *s);
/* server_request_env: the request environment the server answers with,
 * shared with the HTTP front end so that both count into one status
 * (valid until server_free). */
struct request_env *server_request_env(server *s);
/* server_start starts receiving on every context. */
atp_err server_start(server *s);
/* server_stop closes the socket and waits for in-flight callbacks. */
void server_stop(server *s);
void server_free(server *s);

#endif
