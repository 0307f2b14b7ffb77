/*
 * client_http.h - one HTTP/1.1 exchange at a time over a kept-alive
 * connection (libcurl), for the tools' client (client.c) when the endpoint
 * is http://. The only tools file that includes <curl/curl.h>: curl codes
 * are turned into atp_err here and their text kept for the operator.
 *
 * Every exchange is bounded by the deadline the caller gives (connect,
 * send and receive together: CURLOPT_TIMEOUT_MS), like the REQ client's
 * aio waits. No proxy is used (loopback and internal endpoints; an
 * http_proxy in the environment is ignored). One thread at a time.
 */
#ifndef ATP_TOOLS_CLIENT_HTTP_H
#define ATP_TOOLS_CLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct client_http client_http;

/* A growable text buffer, NUL-terminated after len (client_http.c and
 * client_sse.c collect libcurl's pieces in it). */
typedef struct client_text {
    char *p;
    size_t len, cap;
} client_text;

/* client_text_append adds s[0..n); false when out of memory (t
 * unchanged). */
bool client_text_append(client_text *t, const char *s, size_t n);

/* client_http_easy_defaults sets what every libcurl handle of the tools
 * uses (a CURL *; void here so that only the .c files see curl): no
 * signals, no proxy, http only, TCP_NODELAY, the body to write(arg), the
 * error text to errbuf (CURL_ERROR_SIZE bytes). For client_sse.c too. */
typedef size_t (*client_http_write_fn)(char *p, size_t size, size_t n,
                                       void *arg);
void client_http_easy_defaults(void *curl, client_http_write_fn write,
                               void *arg, char *errbuf);

/* client_http_open prepares a connection handle for replies of at most
 * recv_max bytes. Returns ATP_OK and *out, or ATP_E_NOMEM /
 * ATP_E_TRANSPORT (libcurl could not start) with err filled. */
atp_err client_http_open(size_t recv_max, const char *token, client_http **out,
                         char *err, size_t errlen);

/* client_http_auth_header appends "Authorization: Bearer <token>" to
 * *list (a struct curl_slist **; void here) when token is not NULL.
 * false: out of memory. For client_sse.c too. */
bool client_http_auth_header(void *list, const char *token);
void client_http_close(client_http *h); /* NULL allowed */

/* client_http_exchange sends a GET of url, or a POST of body[0..body_len)
 * as application/json when body is not NULL (method names it in errors),
 * and waits until deadline_ms
 * (clock_mono_ms) at the latest. On ATP_OK, *status is the HTTP status and
 * The token given to client_http_open goes with every request.
 * *reply (malloc'ed, NUL-terminated, caller frees) / *reply_len the body.
 * Errors: ATP_E_TIMEOUT (deadline passed), ATP_E_TRANSPORT (no connection,
 * not HTTP, a reply above recv_max), ATP_E_NOMEM; err describes them. */
atp_err client_http_exchange(client_http *h, const char *method,
                             const char *url, const char *body, size_t body_len,
                             int64_t deadline_ms, long *status, char **reply,
                             size_t *reply_len, char *err, size_t errlen);

/* client_http_connected is true once a connection was established. */
bool client_http_connected(const client_http *h);
/* client_http_not_http is true when the last exchange reached a server
 * that answered without HTTP (an nng port, say). */
bool client_http_not_http(const client_http *h);

#endif
