/* tls_int.h - inside the tls module: tls.c tells the janitor (janitor.c)
 * which sockets and ports have a tls+tcp:// listener; the janitor reads
 * the kernel's connection table through proc_tcp.c. */
#ifndef ATP_TLS_INT_H
#define ATP_TLS_INT_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atp/error.h"

/* tls__watch: sock listens with TLS on TCP port: record its pipes, and
 * watch the connections accepted on port. Main thread, before the
 * listener starts accepting. */
atp_err tls__watch(nng_socket sock, uint16_t port);

/* A TCP connection as seen from atpd: the local port it came in on and
 * the peer's address (network byte order) and port; an IPv4-mapped IPv6
 * address is stored as IPv4. Compared with memcmp: build it zeroed. */
typedef struct tls_peer {
    uint16_t lport; /* host order */
    uint16_t rport; /* host order */
    uint8_t family; /* 4 or 6 */
    uint8_t addr[16];
} tls_peer;

void tls__peer_v4(tls_peer *p, const void *addr4);
void tls__peer_v6(tls_peer *p, const uint8_t addr6[16]);

/* A socket of the kernel's table: its inode and connection. */
typedef struct tls_tcp_conn {
    ino_t ino;
    tls_peer peer;
} tls_tcp_conn;

/* tls__proc_tcp_parse: the connections listed in text, the contents of
 * /proc/net/tcp (v6 false) or /proc/net/tcp6 (v6 true), whose local port
 * is one of ports[0..n_ports) and which have a peer (listening sockets
 * have none), appended to *out (n used, cap allocated; grown with
 * realloc). Lines that do not parse are skipped. false: out of memory
 * (what was appended stays). */
bool tls__proc_tcp_parse(const char *text, bool v6, const uint16_t *ports,
                         size_t n_ports, tls_tcp_conn **out, size_t *n,
                         size_t *cap);

#endif
