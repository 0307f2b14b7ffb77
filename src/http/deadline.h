/*
 * deadline.h - the HTTP listener's request deadline: a request (its
 * headers and body) must arrive whole within service.http_timeout of the
 * connection opening or of the previous reply. libmicrohttpd's own
 * timeout (MHD_OPTION_CONNECTION_TIMEOUT) is an idle timeout: every byte
 * received restarts it, so a client dripping one byte a second held its
 * connection (and a slot of service.http_max_connections) for ever. A
 * watchdog thread shuts the socket of a connection past its deadline
 * down; libmicrohttpd then sees the end of the stream and closes it
 * itself. A connection being answered (a reply being written, a
 * reservation waiting for the engine, an event stream) has no deadline.
 *
 * No libmicrohttpd here: mhd.c calls these from its callbacks, on
 * libmicrohttpd's threads; everything is guarded by one mutex.
 */
#ifndef ATP_HTTP_DEADLINE_H
#define ATP_HTTP_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct http_deadline http_deadline;
typedef struct http_deadline_conn http_deadline_conn;

/* http_deadline_start starts the watchdog for connections whose request
 * is not whole within timeout_ms. ATP_OK, ATP_E_NOMEM. */
atp_err http_deadline_start(int64_t timeout_ms, http_deadline **out);

/* http_deadline_stop stops the watchdog (waits for it) and frees d, and
 * the connections still registered. NULL is allowed. Call it after the
 * HTTP server stopped (no callback runs any more). */
void http_deadline_stop(http_deadline *d);

/* http_deadline_open registers a new connection on socket fd, reading its
 * first request from now. NULL when out of memory (the connection then
 * has only libmicrohttpd's idle timeout). */
http_deadline_conn *http_deadline_open(http_deadline *d, int fd);

/* http_deadline_answering: c's request is whole; no deadline until
 * http_deadline_reading. http_deadline_reading: c's reply is sent; the
 * next request must be whole within the timeout from now. NULL is
 * allowed (both). */
void http_deadline_answering(http_deadline *d, http_deadline_conn *c);
void http_deadline_reading(http_deadline *d, http_deadline_conn *c);

/* http_deadline_close unregisters c (its socket is about to be closed)
 * and frees it. NULL is allowed. */
void http_deadline_close(http_deadline *d, http_deadline_conn *c);

/* http_deadline_closed: connections shut down for their deadline so
 * far. */
uint64_t http_deadline_closed(const http_deadline *d);

#endif
