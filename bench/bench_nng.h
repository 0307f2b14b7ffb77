/*
 * bench_nng.h - atp-bench's nng transports, all in this one file:
 * - the REQ load backend (many contexts over a few sockets, async aio) for
 *   atpd and for the echo floor;
 * - a PUB publisher for source feeds;
 * - the readiness probe used to time restarts.
 * Control queries (status, sources) use tools/common/client.h.
 */
#ifndef ATP_BENCH_NNG_H
#define ATP_BENCH_NNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "bench_load.h"
#include "bench_work.h"
#include "codec/codec.h"

typedef struct bench_req_be bench_req_be;

/* bench_req_be_open dials url with n_socks REQ sockets (each one TCP
 * connection) carrying n_slots contexts in all. echo: requests are the
 * atpd bytes with the first 4 replaced by the reply size the echo server
 * must send back (from model), and replies are not decoded. work and model
 * are borrowed. Blocks until every socket is connected (or fails). */
atp_err bench_req_be_open(const char *url, unsigned n_socks, unsigned n_slots,
                          bool echo, const bench_work *work,
                          const bench_echo_model *model, int timeout_ms,
                          bench_req_be **out, char *err, size_t errlen);
/* bench_req_be_backend describes b for the runner. */
void bench_req_be_backend(bench_req_be *b, bench_backend *out);
void bench_req_be_close(bench_req_be *b);

typedef struct bench_pub bench_pub;

/* bench_pub_open dials a PUB socket to url, waits until the connection is up
 * and lets it settle (nng PUB drops what is sent before that). */
atp_err bench_pub_open(const char *url, bench_pub **out, char *err,
                       size_t errlen);
/* bench_pub_send encodes m and sends it (never blocks: PUB drops when the
 * peer's queue is full). Returns ATP_OK, or an error when not sent. */
atp_err bench_pub_send(bench_pub *p, const codec_src_msg *m, size_t *bytes);
void bench_pub_close(bench_pub *p);

/* bench_probe_ready asks url for `ready` over and over (short timeouts,
 * fast reconnects) until it answers ok with ready true, or until
 * deadline_ns (monotonic). Returns true and *t_ready_ns (monotonic) when
 * ready. */
bool bench_probe_ready(const char *url, int64_t deadline_ns,
                       int64_t *t_ready_ns);

/* bench_nng_version: the nng library's version string. */
const char *bench_nng_version(void);

#endif
