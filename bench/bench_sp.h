/*
 * bench_sp.h - a lean REQ load backend for atp-bench: the SP wire protocol
 * (what nng's REQ0 speaks over TCP) on plain non-blocking sockets, one
 * epoll thread for every connection.
 *
 * Why not nng's REQ contexts (bench_nng.h): in nng 1.5 each request hops
 * between the sender, the poller and taskq threads: ~6 more context
 * switches and ~19 us more CPU per request for atp-bench (perf stat, point
 * at 10,000 q/s), on the same 2 cores as the server it measures, and each
 * hop's scheduling delay lands in the measured latency. Here a request is
 * written by the thread that sends it and its reply is read and handed
 * back by the one I/O thread. The servers (atpd, atp-bench-echo) are
 * unchanged nng REP sockets.
 *
 * Wire format (nng's TCP transport): after connecting, each side sends
 * 00 'S' 'P' 00, its protocol (2 bytes, big endian: REQ0 48, REP0 49),
 * 00 00; then every message is an 8-byte big-endian length and that many
 * bytes: for REQ0 a 4-byte request id with the top bit set, then the body.
 * The reply starts with the same id.
 *
 * Threads: send runs on any thread (the runner's, or this backend's I/O
 * thread when a completion starts a follow-up); completions run on the
 * I/O thread. One mutex guards slots and output buffers; it is never held
 * while the runner is called.
 */
#ifndef ATP_BENCH_SP_H
#define ATP_BENCH_SP_H

#include <stdbool.h>
#include <stddef.h>

#include "atp/error.h"
#include "bench_load.h"
#include "bench_work.h"

typedef struct bench_sp_be bench_sp_be;

/* bench_sp_url_ok: url is tcp://host:port (what this backend can dial). */
bool bench_sp_url_ok(const char *url);

/* bench_sp_be_open connects n_conns TCP connections to url (tcp:// only)
 * carrying n_slots requests in flight at most (at most 4096), checks the
 * peer is a REP socket, starts the I/O thread. echo and model as in
 * bench_req_be_open; work and model are borrowed. A request without a
 * reply after timeout_ms fails with ATP_E_TIMEOUT. */
atp_err bench_sp_be_open(const char *url, unsigned n_conns, unsigned n_slots,
                         bool echo, const bench_work *work,
                         const bench_echo_model *model, int timeout_ms,
                         bench_sp_be **out, char *err, size_t errlen);
void bench_sp_be_backend(bench_sp_be *b, bench_backend *out);
/* bench_sp_be_close stops the I/O thread and closes the connections; call
 * once nothing is in flight (after the run). */
void bench_sp_be_close(bench_sp_be *b);

#endif
