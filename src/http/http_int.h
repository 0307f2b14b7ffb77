/*
 * http_int.h - what the HTTP module's files share: the route table and the
 * translation between HTTP and the transport-free request module
 * (route.c, no HTTP library here, unit-tested without sockets), used by
 * the libmicrohttpd glue (mhd.c). Not for other modules.
 */
#ifndef ATP_HTTP_INT_H
#define ATP_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "codec/codec.h"

/* One query-string parameter as the HTTP library split it, NOT yet
 * percent-decoded (the glue turns the library's decoding off so that a
 * path's "%2F" stays inside its segment). */
typedef struct http_param {
    const char *key;
    const char *value; /* NULL: "?key" without "=" */
} http_param;

/* The most fields a route gives the request (path segments and query
 * parameters). */
#define HTTP_FIELDS_MAX 7

/* A request matched to a route: which nng op it runs and the fields the
 * route supplies, or the error the HTTP layer answers by itself. */
typedef struct http_call {
    const char *op; /* the request module's op; NULL for the change feed */
    bool sse;       /* GET /v1/changes */
    bool metrics;   /* GET /metrics (Prometheus text, docs/METRICS.md) */
    bool body;      /* the route reads a JSON body */
    bool async;     /* the op may be answered later (reservations, snapshot) */
    bool created;   /* reserve: 201 when a new reservation was granted */
    bool line_qty;  /* lines given as objects carry qty */
    bool line_sku_qty; /* ... and no region: [sku, qty] (pickup_cart) */
    bool line_pin;     /* ... and may name a location (reserve) */
    const char *probe; /* /readyz, /healthz: "ready" or "healthy", the reply
                          field whose false answers 503 */
    codec_json_field fields[HTTP_FIELDS_MAX];
    size_t n_fields;
    /* When routing failed (http_route returned false): */
    int status;        /* 404, 405 or 400 */
    atp_err err;       /* UNKNOWN_OP or BAD_REQUEST */
    char allow[48];    /* 405: the Allow header's value */
    char message[160]; /* printable UTF-8 */
} http_call;

/* http_route matches method and the raw path (no query string) against the
 * route table (docs/HTTP.md) and fills c: op and flags, the decoded path
 * segments and the query parameters the route reads (percent-decoded, '+'
 * as a space in the query; cursor and limit as integers when they are
 * decimal digits; an empty value is absent). Decoded strings live in a.
 * false: no route (404, unknown_op), a route for another method (405,
 * unknown_op, c->allow set), malformed percent-encoding (400,
 * bad_request) or out of memory (503, nomem); c->status, c->err and
 * c->message say which. Any thread. */
bool http_route(http_call *c, const char *method, const char *path,
                const http_param *params, size_t n_params, codec_arena *a);

/* http_bearer returns the token of an Authorization header value
 * ("Bearer <token>", the scheme in any case, RFC 6750), or an empty
 * string when header is NULL, another scheme or no token: the request
 * then has no token (auth_check says unauthenticated when tokens are
 * configured). Points into header. */
codec_str http_bearer(const char *header);

/* http_field_find returns the value of the field key that c supplies, or
 * NULL. */
const codec_json_field *http_field_find(const http_call *c, const char *key);

/* http_status_of maps an error code to its one HTTP status (docs/HTTP.md,
 * the table); ATP_OK is 200. Codes this build does not know: 500. */
int http_status_of(int code);

/* What a reply map says, for the status line: its error code (0 when
 * ok), and for a reserve whether it granted a new reservation. */
typedef struct http_reply_info {
    int code;
    bool granted;
    bool replayed;
    bool ready, healthy; /* the fields, true when absent */
} http_reply_info;

/* http_reply_read reads the msgpack reply rep[0..len) that request_handle
 * wrote. false when it is no reply map (a bug: answered 500). */
bool http_reply_read(const void *rep, size_t len, http_reply_info *out);

/* http_reply_status: the HTTP status of a reply to call c. */
int http_reply_status(const http_call *c, const http_reply_info *r);

#endif
