/*
 * client_sse.h - a Server-Sent Events reader for atpd's change feed over
 * HTTP (GET /v1/changes, docs/HTTP.md), for `atpctl watch` with an http://
 * feed. libcurl's multi interface, kept in client_sse.c with client_http.c
 * as the tools' only users of <curl/curl.h>.
 *
 * Like the nng SUB socket it stands in for, it connects in the background
 * and reconnects after the stream ends (atpd restarted) every
 * CLIENT_SSE_RETRY_MS; nothing listening is not an error. Each wait is
 * bounded by the caller's timeout. One thread at a time.
 */
#ifndef ATP_TOOLS_CLIENT_SSE_H
#define ATP_TOOLS_CLIENT_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "atp/error.h"

#define CLIENT_SSE_RETRY_MS 500
/* A stream's unparsed text beyond this is no change feed: the stream is
 * dropped (and reconnected). */
#define CLIENT_SSE_BUF_MAX ((size_t)4 << 20)

typedef struct client_sse client_sse;

/* One event: its type ("change", "gap", ...; "message" when the stream
 * named none), its id ("" when none) and its data (the data lines joined
 * by '\n', NUL-terminated). Valid until the next client_sse_next. */
typedef struct client_sse_event {
    const char *type;
    const char *id;
    const char *data;
    size_t data_len;
} client_sse_event;

/* client_sse_open prepares a reader of url (http://...) and starts
 * connecting at the first client_sse_next; token (NULL: none) goes as
 * "Authorization: Bearer". Returns ATP_OK and *out, ATP_E_NOMEM or
 * ATP_E_TRANSPORT (libcurl could not start), err filled. */
atp_err client_sse_open(const char *url, const char *token, client_sse **out,
                        char *err, size_t errlen);
void client_sse_close(client_sse *s); /* NULL allowed */

/* client_sse_next waits up to timeout_ms for the next event with data.
 * Returns ATP_OK with *ev, ATP_E_TIMEOUT when none came, or
 * ATP_E_TRANSPORT when the server refused the stream (a status other than
 * 200: client_sse_last_error holds its reply, e.g. atpd's JSON error). */
atp_err client_sse_next(client_sse *s, int timeout_ms, client_sse_event *ev);

/* client_sse_event_parse parses one event: block[0..n), the text between
 * two blank lines ("event: change\nid: 7\ndata: {...}"; CR LF line ends
 * too), into out[0..out_cap) (at least n + 16 bytes) and *ev (pointing
 * into out). false when the block carries no data (a comment, the
 * stream's "retry:" preamble), which the standard says to skip. Pure;
 * client_sse_next's parser, exposed for its unit test. */
bool client_sse_event_parse(const char *block, size_t n, char *out,
                            size_t out_cap, client_sse_event *ev);

/* client_sse_connected is true while a stream is open (status 200 seen). */
bool client_sse_connected(const client_sse *s);
/* client_sse_connections counts the streams opened so far. */
int client_sse_connections(const client_sse *s);
const char *client_sse_last_error(const client_sse *s);

#endif
