/*
 * proc_tcp.c - reading the kernel's TCP connection table (/proc/net/tcp
 * and tcp6, proc(5)) for the janitor: which socket inode is which
 * connection. The janitor learns a socket's addresses from here instead
 * of calling getsockname/getpeername on a descriptor nng owns and may be
 * closing at that moment. Pure: text in, entries out.
 *
 * A line: "sl local_address rem_address st tx_queue:rx_queue tr:when
 * retrnsmt uid timeout inode ...", an address "HEX:PORT" where HEX is the
 * address as the kernel's 32-bit words printed in host order (8 digits
 * for IPv4, 4 x 8 for IPv6) and PORT 4 hex digits.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "tls/tls_int.h"

uint8_t tls__peer_addr(uint8_t dst[16], const uint8_t *a, bool v6)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    memset(dst, 0, 16);
    if (!v6 || memcmp(a, mapped, sizeof mapped) == 0) {
        memcpy(dst, v6 ? a + 12 : a, 4);
        return 4;
    }
    memcpy(dst, a, 16);
    return 6;
}

/* tls_hex_u32: n hex digits at *p into *v; advances *p. */
static bool tls_hex_u32(const char **p, int n, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = hex_value((*p)[i]);
        if (d < 0)
            return false;
        x = x << 4 | (uint32_t)d;
    }
    *p += n;
    *v = x;
    return true;
}

/* tls_addr: "HEX:PORT" at *p into addr (network order bytes, 4 or 16)
 * and port; advances *p past it. */
static bool tls_addr(const char **p, bool v6, uint8_t addr[16], uint16_t *port)
{
    for (int w = 0; w < (v6 ? 4 : 1); w++) {
        uint32_t word;
        if (!tls_hex_u32(p, 8, &word))
            return false;
        /* The word was printed from memory in host order: its bytes in
         * memory are the address's bytes in network order. */
        memcpy(addr + 4 * w, &word, 4);
    }
    uint32_t pt;
    if (**p != ':')
        return false;
    (*p)++;
    if (!tls_hex_u32(p, 4, &pt))
        return false;
    *port = (uint16_t)pt;
    return true;
}

static const char *tls_skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

static const char *tls_skip_field(const char *p)
{
    while (*p != ' ' && *p != '\n' && *p != '\0')
        p++;
    return tls_skip_spaces(p);
}

/* tls_line: one line at p (not its header) into c; false if it is not a
 * connection on one of ports. */
static bool tls_line(const char *p, bool v6, const uint16_t *ports,
                     size_t n_ports, tls_tcp_conn *c)
{
    uint8_t la[16], ra[16];
    uint16_t lport, rport;
    p = tls_skip_field(tls_skip_spaces(p)); /* "sl:" */
    if (!tls_addr(&p, v6, la, &lport))
        return false;
    p = tls_skip_spaces(p);
    if (!tls_addr(&p, v6, ra, &rport) || rport == 0)
        return false; /* no peer: a listening socket */
    bool watched = false;
    for (size_t i = 0; i < n_ports && !watched; i++)
        watched = ports[i] == lport;
    if (!watched)
        return false;
    p = tls_skip_spaces(p);
    for (int f = 0; f < 6; f++) /* st, queues, timer, retrnsmt, uid, timeout */
        p = tls_skip_field(p);
    char *end;
    unsigned long long ino = strtoull(p, &end, 10);
    if (end == p || ino == 0)
        return false;
    memset(c, 0, sizeof *c);
    c->ino = (ino_t)ino;
    c->peer.lport = lport;
    c->peer.rport = rport;
    tls__peer_addr(c->peer.laddr, la, v6);
    c->peer.family = tls__peer_addr(c->peer.raddr, ra, v6);
    return true;
}

bool tls__proc_tcp_parse(const char *text, bool v6, const uint16_t *ports,
                         size_t n_ports, tls_tcp_conn **out, size_t *n,
                         size_t *cap)
{
    const char *line = strchr(text, '\n'); /* the header */
    while (line != NULL && *++line != '\0') {
        tls_tcp_conn c;
        if (tls_line(line, v6, ports, n_ports, &c)) {
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                tls_tcp_conn *a = realloc(*out, nc * sizeof *a);
                if (a == NULL)
                    return false;
                *out = a;
                *cap = nc;
            }
            (*out)[(*n)++] = c;
        }
        line = strchr(line, '\n');
    }
    return true;
}
