/* tls_int.h - inside the tls module: tls.c has the janitor watch each
 * socket with a tls+tcp:// listener (pipes.c records its nng pipes);
 * janitor.c shuts what is no pipe, reading the kernel's connection table
 * through proc_tcp.c. */
#ifndef ATP_TLS_INT_H
#define ATP_TLS_INT_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atp/error.h"

/* A TCP connection as seen from atpd: local and peer address (network
 * byte order; an IPv4-mapped IPv6 address stored as IPv4, family 4) and
 * ports. Every byte is a field, so memcmp compares connections: build it
 * zeroed (tls__peer_addr fills an address). */
typedef struct tls_peer {
    uint16_t lport; /* host order */
    uint16_t rport; /* host order */
    uint8_t family; /* 4 or 6, of the peer's address */
    uint8_t pad[3]; /* zero */
    uint8_t laddr[16];
    uint8_t raddr[16];
} tls_peer;

/* tls__peer_addr: a (4 bytes, v6 false) or (16 bytes) into dst (p->laddr
 * or p->raddr); returns the family it was stored as (4 for an
 * IPv4-mapped IPv6 address). */
uint8_t tls__peer_addr(uint8_t dst[16], const uint8_t *a, bool v6);

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

/* pipes.c: which sockets have TLS listeners, on which ports, and which
 * connections are nng pipes. */
#define TLS_SOCKETS_MAX 8 /* server, changes, ingest's two: 4 today */
#define TLS_SOCKET_PORTS 2

/* tls__watch_socket: sock gets a tls+tcp:// listener: record its pipes
 * from now on. Main thread, before the listener starts (a pipe accepted
 * before would never be recorded, and be shut as half-open). */
atp_err tls__watch_socket(nng_socket sock);
/* tls__watch_port: the TCP port that listener got. Main thread, after it
 * started, before tls_janitor_start. */
atp_err tls__watch_port(nng_socket sock, uint16_t port);

typedef struct tls_ports {
    uint16_t port[TLS_SOCKETS_MAX * TLS_SOCKET_PORTS];
    size_t n;
} tls_ports;
/* tls__ports: the watched ports of the sockets still open. */
void tls__ports(tls_ports *out);
/* tls__pipes_copy: the recorded pipes' connections into *buf (grown;
 * cap), sorted for tls__peer_cmp; their count, SIZE_MAX out of memory.
 * tls__is_pipe: is c a recorded pipe now (under the table's lock). Any
 * thread. */
size_t tls__pipes_copy(tls_peer **buf, size_t *cap);
bool tls__is_pipe(const tls_peer *c);
int tls__peer_cmp(const void *a, const void *b);

#endif
