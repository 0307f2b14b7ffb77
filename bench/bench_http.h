/*
 * bench_http.h - atp-bench's HTTP/1.1 load backend: the same logical
 * requests as the nng backends, sent to atpd's HTTP API (docs/HTTP.md) or
 * to the HTTP floor (atp-bench-http-floor), over libcurl's multi interface
 * with keep-alive, one connection per request in flight (HTTP/1.1 has one
 * request in flight per connection unless pipelined; libcurl no longer
 * pipelines), on one I/O thread.
 *
 * Requests (docs/HTTP.md): atp `GET /v1/availability/{sku}/{region}?channel=C`;
 * cart `POST /v1/availability/cart` {"channel", "lines": [{"sku", "region",
 * "qty"}...]}; reserve `POST /v1/reservations` {"id", "channel", "ttl_ms"?,
 * "lines"}; commit `POST /v1/reservations/{id}/commit` {}; release
 * `POST /v1/reservations/{id}/release` {} or {"lines": [{"sku", "region"}]}.
 * Replies are classified from their JSON body like the nng ones ("ok",
 * "granted", "available", "error"."code"). For the floor (floor = true) the
 * same requests carry `X-Reply-Size` (the size atpd's HTTP reply had on
 * average, from model) and replies are not decoded.
 *
 * Threads: send runs on any thread (the runner's, or the I/O thread when a
 * completion starts a follow-up) and only queues the slot; the I/O thread
 * owns the curl handles, hands them to libcurl and calls
 * bench_runner_done. One mutex guards the queue.
 */
#ifndef ATP_BENCH_HTTP_H
#define ATP_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "atp/error.h"
#include "bench_load.h"
#include "bench_work.h"

typedef struct bench_http_be bench_http_be;

/* bench_http_url_ok: url is http://host:port (what this backend can use). */
bool bench_http_url_ok(const char *url);

/* bench_http_be_open prepares n_slots requests in flight at most (each its
 * own keep-alive connection, opened on first use) to base_url
 * (http://host:port), and starts the I/O thread. work and model are
 * borrowed. A request without a reply after timeout_ms fails with
 * ATP_E_TIMEOUT. */
atp_err bench_http_be_open(const char *base_url, unsigned n_slots, bool floor,
                           const bench_work *work,
                           const bench_echo_model *model, int timeout_ms,
                           bench_http_be **out, char *err, size_t errlen);
void bench_http_be_backend(bench_http_be *b, bench_backend *out);
/* bench_http_be_close stops the I/O thread and frees everything; call once
 * nothing is in flight (after the run). */
void bench_http_be_close(bench_http_be *b);

/* bench_http_version: libcurl's version string. */
const char *bench_http_version(void);

#endif
