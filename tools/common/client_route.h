/*
 * client_route.h - a query map (docs/PROTOCOL.md, {"op": ..., ...}) as the
 * HTTP request of the same operation (docs/HTTP.md: method, path, query,
 * JSON body), for the tools' client over HTTP. Pure: no I/O, no HTTP
 * library; any thread.
 *
 * The routes follow the API table: atp, regions, cart, pickup,
 * pickup_cart, promise, promise_cart, scan, sources, status, snapshot,
 * reserve, reservation, commit, release, extend, the admin ops. Fields
 * named in the path ({sku}, {region}, {id}) or the query string are
 * percent-encoded there; every other field except "op" goes into the JSON
 * body (POST only), so the server reads the same map the nng socket would.
 */
#ifndef ATP_TOOLS_CLIENT_ROUTE_H
#define ATP_TOOLS_CLIENT_ROUTE_H

#include <stddef.h>

#include "atp/error.h"
#include "codec/codec.h"

typedef struct client_route {
    const char *method; /* "GET" or "POST" (static) */
    char *url;          /* base + path + query; malloc'ed, NUL-terminated */
    char *body;         /* JSON object; malloc'ed; NULL for GET */
    size_t body_len;
} client_route;

/* client_route_build fills *out with the HTTP request of the query map req
 * against base (an http:// URL, a trailing '/' ignored). Returns ATP_OK;
 * ATP_E_UNKNOWN_OP (an op with no route, or no "op"), ATP_E_BAD_REQUEST (a
 * path or query field missing or of the wrong type) with a description in
 * err; ATP_E_NOMEM. Release with client_route_fini (also after a failure). */
atp_err client_route_build(const codec_val *req, const char *base,
                           client_route *out, char *err, size_t errlen);

void client_route_fini(client_route *r);

/* client_route_changes_url returns the URL of the change feed's event
 * stream against base: base/v1/changes, with ?region=R (when region is
 * not NULL) and &sku=S (when sku is not NULL) percent-encoded. malloc'ed;
 * NULL when out of memory. */
char *client_route_changes_url(const char *base, const char *region,
                               const char *sku);

#endif
