/* tls_int.h - inside the tls module: tls.c tells the janitor (janitor.c)
 * which sockets and ports have a tls+tcp:// listener. */
#ifndef ATP_TLS_INT_H
#define ATP_TLS_INT_H

#include <nng/nng.h>
#include <stdint.h>

#include "atp/error.h"

/* tls__watch: sock listens with TLS on TCP port: record its pipes, and
 * watch the connections accepted on port. Main thread, before the
 * listener starts accepting. */
atp_err tls__watch(nng_socket sock, uint16_t port);

#endif
