/*
 * pipes.c - which connections are nng pipes, for the janitor (janitor.c):
 * the sockets with a tls+tcp:// listener, their ports, and the connection
 * (local and peer address and port) of each of their pipes, from nng's
 * pipe events. nng keeps one callback per socket and event, so the
 * transports take theirs through tls_pipe_notify and a trampoline calls
 * them after the bookkeeping.
 *
 * A pipe is recorded at NNG_PIPE_EV_ADD_PRE (both handshakes done, before
 * nng starts it) and forgotten at REM_POST. nng can deliver REM_POST of a
 * pipe whose peer hung up at once before an ADD_* callback of it has
 * returned; such an id is kept among the last TLS_TOMBSTONES forgotten,
 * and a record that comes after its own removal is dropped, so the table
 * does not keep a dead pipe for good.
 *
 * Threads: the socket table is written on the main thread before the
 * listeners start, then only read (by nng's threads in the trampoline and
 * the janitor's); the pipe table is under mu (nng's threads, the
 * janitor's).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

#define TLS_TOMBSTONES 256

typedef struct tls_pipe_ent {
    uint32_t id;
    tls_peer peer;
} tls_pipe_ent;

typedef struct tls_sock_ent {
    uint32_t sock_id;
    bool tls; /* has a tls+tcp:// listener: its pipes are recorded */
    uint16_t ports[TLS_SOCKET_PORTS]; /* its TLS listeners' TCP ports */
    size_t n_ports;
    nng_pipe_cb cb; /* the transport's own callback, or NULL */
    void *arg;
} tls_sock_ent;

static struct {
    tls_sock_ent socks[TLS_SOCKETS_MAX];
    size_t n_socks;

    pthread_mutex_t mu; /* the rest */
    tls_pipe_ent *pipes;
    size_t n_pipes, cap_pipes;
    uint32_t gone[TLS_TOMBSTONES]; /* ids removed before recorded */
    size_t n_gone;
} tp = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

int tls__peer_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(tls_peer));
}

/* tls_nng_addr: sa into dst; its port in *port; the family stored, 0 if
 * not TCP. */
static uint8_t tls_nng_addr(const nng_sockaddr *sa, uint8_t dst[16],
                            uint16_t *port)
{
    if (sa->s_family == NNG_AF_INET) {
        *port = ntohs(sa->s_in.sa_port);
        return tls__peer_addr(dst, (const uint8_t *)&sa->s_in.sa_addr, false);
    }
    if (sa->s_family == NNG_AF_INET6) {
        *port = ntohs(sa->s_in6.sa_port);
        return tls__peer_addr(dst, sa->s_in6.sa_addr, true);
    }
    return 0;
}

/* tls_peer_of_pipe: the connection of pipe p; false if not TCP. */
static bool tls_peer_of_pipe(nng_pipe p, tls_peer *out)
{
    nng_sockaddr la, ra;
    memset(out, 0, sizeof *out);
    if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &la) != 0 ||
        nng_pipe_get_addr(p, NNG_OPT_REMADDR, &ra) != 0 ||
        tls_nng_addr(&la, out->laddr, &out->lport) == 0)
        return false;
    out->family = tls_nng_addr(&ra, out->raddr, &out->rport);
    return out->family != 0;
}

static bool tls_gone_take(uint32_t id)
{
    for (size_t i = 0; i < tp.n_gone && i < TLS_TOMBSTONES; i++)
        if (tp.gone[i] == id) {
            tp.gone[i] = 0; /* nng pipe ids are never 0 */
            return true;
        }
    return false;
}

static void tls_pipe_add(nng_pipe p)
{
    uint32_t id = (uint32_t)nng_pipe_id(p);
    tls_peer peer;
    if (!tls_peer_of_pipe(p, &peer)) {
        /* Unrecorded, it would be shut as half-open at the timeout. */
        log_error("tls",
                  "cannot read the addresses of connection %u: "
                  "closed",
                  id);
        nng_pipe_close(p);
        return;
    }
    pthread_mutex_lock(&tp.mu);
    if (tls_gone_take(id)) {
        pthread_mutex_unlock(&tp.mu);
        return; /* removed already */
    }
    if (tp.n_pipes == tp.cap_pipes) {
        size_t cap = tp.cap_pipes ? tp.cap_pipes * 2 : 64;
        tls_pipe_ent *np = realloc(tp.pipes, cap * sizeof *np);
        if (np == NULL) {
            pthread_mutex_unlock(&tp.mu);
            log_error("tls",
                      "out of memory recording connection %u: "
                      "closed",
                      id);
            nng_pipe_close(p);
            return;
        }
        tp.pipes = np;
        tp.cap_pipes = cap;
    }
    tp.pipes[tp.n_pipes].id = id;
    tp.pipes[tp.n_pipes].peer = peer;
    tp.n_pipes++;
    pthread_mutex_unlock(&tp.mu);
}

static void tls_pipe_remove(nng_pipe p)
{
    uint32_t id = (uint32_t)nng_pipe_id(p);
    pthread_mutex_lock(&tp.mu);
    size_t i = 0;
    while (i < tp.n_pipes && tp.pipes[i].id != id)
        i++;
    if (i < tp.n_pipes)
        tp.pipes[i] = tp.pipes[--tp.n_pipes];
    else
        tp.gone[tp.n_gone++ % TLS_TOMBSTONES] = id;
    pthread_mutex_unlock(&tp.mu);
}

static void tls_pipe_trampoline(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    tls_sock_ent *e = arg;
    if (e->tls && ev == NNG_PIPE_EV_ADD_PRE)
        tls_pipe_add(p);
    else if (e->tls && ev == NNG_PIPE_EV_REM_POST)
        tls_pipe_remove(p);
    /* The transports asked for ADD_POST and REM_POST only. */
    if (e->cb != NULL && ev != NNG_PIPE_EV_ADD_PRE)
        e->cb(p, ev, e->arg);
}

/* tls_sock_closed: entry e's socket was closed (a process that made
 * several, like the unit tests): its slot can be reused. */
static bool tls_sock_closed(const tls_sock_ent *e)
{
    bool raw;
    return nng_socket_get_bool((nng_socket){.id = e->sock_id}, NNG_OPT_RAW,
                               &raw) == NNG_ECLOSED;
}

/* tls_sock_entry: sock's entry, made and hooked to nng on first use.
 * (nng numbers sockets from 1 again only after nng_fini, which atpd never
 * calls: an id names one socket for the process's life.) */
static tls_sock_ent *tls_sock_entry(nng_socket sock)
{
    uint32_t id = (uint32_t)nng_socket_id(sock);
    for (size_t i = 0; i < tp.n_socks; i++)
        if (tp.socks[i].sock_id == id)
            return &tp.socks[i];
    tls_sock_ent *e = NULL;
    if (tp.n_socks < TLS_SOCKETS_MAX)
        e = &tp.socks[tp.n_socks];
    for (size_t i = 0; e == NULL && i < tp.n_socks; i++)
        if (tls_sock_closed(&tp.socks[i]))
            e = &tp.socks[i];
    if (e == NULL)
        return NULL;
    *e = (tls_sock_ent){.sock_id = id};
    static const nng_pipe_ev evs[] = {NNG_PIPE_EV_ADD_PRE, NNG_PIPE_EV_ADD_POST,
                                      NNG_PIPE_EV_REM_POST};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (nng_pipe_notify(sock, evs[i], tls_pipe_trampoline, e) != 0) {
            e->sock_id = 0; /* nng ids start at 1: a free slot */
            return NULL;
        }
    if (e == &tp.socks[tp.n_socks])
        tp.n_socks++;
    return e;
}

atp_err tls_pipe_notify(nng_socket sock, nng_pipe_cb cb, void *arg)
{
    tls_sock_ent *e = tls_sock_entry(sock);
    if (e == NULL)
        return ATP_E_TRANSPORT;
    e->cb = cb;
    e->arg = arg;
    return ATP_OK;
}

atp_err tls__watch_socket(nng_socket sock)
{
    tls_sock_ent *e = tls_sock_entry(sock);
    if (e == NULL)
        return ATP_E_TRANSPORT;
    e->tls = true;
    return ATP_OK;
}

atp_err tls__watch_port(nng_socket sock, uint16_t port)
{
    tls_sock_ent *e = tls_sock_entry(sock);
    if (e == NULL || !e->tls || e->n_ports == TLS_SOCKET_PORTS)
        return ATP_E_TRANSPORT;
    e->ports[e->n_ports++] = port;
    return ATP_OK;
}

void tls__ports(tls_ports *out)
{
    out->n = 0;
    for (size_t i = 0; i < tp.n_socks; i++)
        if (tp.socks[i].n_ports > 0 && !tls_sock_closed(&tp.socks[i]))
            for (size_t j = 0; j < tp.socks[i].n_ports; j++)
                out->port[out->n++] = tp.socks[i].ports[j];
}

size_t tls__pipes_copy(tls_peer **buf, size_t *cap)
{
    pthread_mutex_lock(&tp.mu);
    size_t n = tp.n_pipes;
    if (n > *cap) {
        tls_peer *nb = realloc(*buf, n * sizeof *nb);
        if (nb == NULL) {
            pthread_mutex_unlock(&tp.mu);
            return SIZE_MAX;
        }
        *buf = nb;
        *cap = n;
    }
    for (size_t i = 0; i < n; i++)
        (*buf)[i] = tp.pipes[i].peer;
    pthread_mutex_unlock(&tp.mu);
    if (n > 0)
        qsort(*buf, n, sizeof **buf, tls__peer_cmp);
    return n;
}

bool tls__is_pipe(const tls_peer *c)
{
    pthread_mutex_lock(&tp.mu);
    bool found = false;
    for (size_t i = 0; i < tp.n_pipes && !found; i++)
        found = tls__peer_cmp(&tp.pipes[i].peer, c) == 0;
    pthread_mutex_unlock(&tp.mu);
    return found;
}
