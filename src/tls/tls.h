/*
 * tls.h - listening on an nng URL, with TLS for tls+tcp:// (the tls:
 * section, docs/SECURITY.md "TLS"). Called by the nng transports (server,
 * ingest, changes) on the main thread at start.
 */
#ifndef ATP_TLS_H
#define ATP_TLS_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"

/* tls_listen starts a listener of sock on url. A tls+tcp:// url gets a TLS
 * configuration from t: own certificate and key, the client CA and
 * verification mode, TLS 1.2 (or t->min_version) as the minimum. bound
 * gets the URL listened on with a port 0 resolved (bound_n bytes). who
 * names the caller in log lines. ATP_OK, or ATP_E_TRANSPORT logged with
 * the reason. The socket holds the TLS configuration; nothing to free. */
atp_err tls_listen(nng_socket sock, const char *url, const config_tls *t,
                   const char *who, char *bound, size_t bound_n);

/* Connections that never finish the TLS handshake (janitor.c; docs/
 * SECURITY.md, "TLS"). nng 1.5.2's TLS transport has no deadline on the
 * handshake, so the janitor, once started, shuts down every connection
 * accepted by a tls+tcp:// listener of tls_listen that has not become an
 * nng pipe timeout_ms after the janitor first saw it (it looks every
 * timeout/4, between 0.25 and 2.5 s: a connection is shut between timeout
 * and 1.5 timeout after it came, at most 5 s more). One per process.
 *
 * tls_pipe_notify: how a transport gets nng's pipe events (ADD_POST and
 * REM_POST) on sock. It must be used instead of nng_pipe_notify, which
 * keeps one callback per socket and event: the janitor hooks the same
 * events on every socket with a TLS listener and calls cb after its own
 * bookkeeping. Main thread, before the socket listens. ATP_E_TRANSPORT
 * when nng refuses or more than 8 sockets ask. */
atp_err tls_pipe_notify(nng_socket sock, nng_pipe_cb cb, void *arg);
/* tls_janitor_start: start the janitor thread ("tls-janitor"); nothing when
 * timeout_ms is 0 or no TLS listener was started. Main thread, after the
 * listeners. ATP_E_TRANSPORT when /proc/self/net/tcp, /proc/self/fd or
 * /dev/null cannot be opened (the janitor keeps them open), logged.
 * tls_janitor_stop waits for it; harmless if never started. */
atp_err tls_janitor_start(int64_t timeout_ms);
void tls_janitor_stop(void);
/* tls_janitor_closed: connections shut so far (status, /metrics). Any
 * thread. */
uint64_t tls_janitor_closed(void);

#endif
