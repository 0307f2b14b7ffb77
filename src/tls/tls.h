/*
 * tls.h - listening on an nng URL, with TLS for tls+tcp:// (the tls:
 * section, docs/SECURITY.md "TLS"). Called by the nng transports (server,
 * ingest, changes) on the main thread at start.
 */
#ifndef ATP_TLS_H
#define ATP_TLS_H

#include <nng/nng.h>
#include <stddef.h>

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

#endif
