/*
 * client.h - a small synchronous REQ client for atpd's query socket, shared
 * by the tools (atpctl today, atp-bench later).
 *
 * One client is one nng REQ socket dialed to one endpoint, or, for an
 * http:// endpoint (atpctl --endpoint http://127.0.0.1:7080), atpd's HTTP
 * API (docs/HTTP.md) over one kept-alive libcurl connection: the same
 * request maps and the same reply maps (JSON turned back into msgpack),
 * every exchange bounded by the same timeout. It is meant for
 * one thread at a time: a request blocks the calling thread until the reply
 * arrives or the timeout expires. Replies are copied into the caller's codec
 * arena, so a decoded reply lives exactly as long as that arena.
 */
#ifndef ATP_TOOLS_CLIENT_H
#define ATP_TOOLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "atp/error.h"
#include "codec/codec.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 5000
/* Replies to scans and big carts can be large; 64 MiB keeps a runaway reply
 * from exhausting memory while leaving room for any sane answer. */
#define CLIENT_DEFAULT_RECV_MAX ((size_t)64 << 20)

typedef struct client client;

typedef struct client_opts {
    const char *url;       /* e.g. ATP_DEFAULT_QUERY_URL, or http://... */
    int timeout_ms;        /* send and receive; <= 0: the default */
    size_t recv_max_bytes; /* NNG_OPT_RECVMAXSZ; 0: the default */
    /* The client's token (docs/SECURITY.md), NULL: none. Sent with every
     * request: as the request map's "token" over nng, as
     * "Authorization: Bearer" over HTTP. At most CLIENT_TOKEN_MAX bytes. */
    const char *token;
} client_opts;

#define CLIENT_TOKEN_MAX 4096

/* client_token_env returns $ATP_TOKEN, or NULL when unset or empty: the
 * tools' default for --token (an argument shows in `ps`; the environment
 * does not). */
const char *client_token_env(void);

/* client_open opens a REQ socket and starts dialing o->url in the
 * background; it does not wait for a connection (a request waits, bounded by
 * the timeout). Returns ATP_OK and *out, ATP_E_BAD_REQUEST when the URL is not
 * valid for nng, ATP_E_NOMEM, or ATP_E_TRANSPORT. On failure a description
 * goes to err (if not NULL). Release with client_close. */
atp_err client_open(const client_opts *o, client **out, char *err,
                    size_t errlen);

/* client_close closes the socket and frees c. NULL is allowed. */
void client_close(client *c);

/* client_request_raw sends req[0..len) and waits for the reply, which is
 * copied into arena a (*reply, *reply_len; valid until a is cleared).
 * The whole call returns within the timeout (plus at most a second if nng
 * is slow to cancel). The first request checks the endpoint: nothing
 * listening fails at once (ATP_E_TRANSPORT), another kind of socket too
 * (ATP_E_TRANSPORT, client_wrong_peer true, last_error names the port).
 * Returns ATP_OK, ATP_E_TIMEOUT (no reply within the timeout: see
 * client_connected to tell "no connection" from "no answer"), ATP_E_NOMEM
 * or ATP_E_TRANSPORT. client_last_error describes a failure. */
atp_err client_request_raw(client *c, const void *req, size_t len,
                           codec_arena *a, const void **reply,
                           size_t *reply_len);

/* client_request sends what w holds (an internal-buffer writer, see
 * codec_writer_alloc) and decodes the reply into a. Returns what
 * client_request_raw returns, ATP_E_BAD_REQUEST when w failed, or the
 * codec_decode error when the reply is not one valid msgpack object. */
atp_err client_request(client *c, const codec_writer *w, codec_arena *a,
                       const codec_val **reply);

/* client_connected is true once a connection to the endpoint was up at some
 * point (set from an nng pipe callback). */
bool client_connected(const client *c);

/* client_wrong_peer is true when the endpoint answered as something other
 * than a query (REP) socket: atpd's feed or ingest port, say; for an
 * http:// endpoint, a server that is not atpd's HTTP API (no HTTP, or a
 * reply that is not JSON). */
bool client_wrong_peer(const client *c);

/* client_url returns the endpoint given to client_open. */
const char *client_url(const client *c);

/* client_last_error describes the last failure of c ("" when none). */
const char *client_last_error(const client *c);

#endif
