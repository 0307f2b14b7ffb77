/*
 * janitor.c - closing nng TLS connections that never finish their
 * handshake (tls.h, docs/SECURITY.md "TLS").
 *
 * Why: nng 1.5.2's TLS transport starts its 10 s SP-negotiation deadline
 * with a send that waits for the TLS handshake, and cancelling that send
 * only aborts a TCP send that is not pending (the handshake waits on a
 * receive), so the deadline never fires: a peer that connects and sends
 * nothing, or half a ClientHello, holds a descriptor forever (measured:
 * still open after 25 s; integration.security_idle). nng gives no handle
 * on a connection before it is a pipe, so the janitor finds them from the
 * outside: every period it reads the kernel's TCP table for the
 * connections on a tls+tcp:// listener's port (proc_tcp.c) and the links
 * of the process's descriptors for their socket inodes, takes the ones
 * whose peer is not an nng pipe, and shuts down (never closes: the
 * descriptor stays nng's) those first seen over timeout ago. nng then sees
 * the connection end and frees it as for any peer that hangs up (checked:
 * the descriptor goes, the other clients are served).
 *
 * Only the descriptors it shuts are touched: the listing reads /proc, not
 * the descriptors, which nng may be closing at that moment. A number can
 * be reused between the listing and the shutdown; the shutdown goes to a
 * duplicate whose socket inode is checked against the one listed, so it
 * never reaches another connection.
 *
 * One janitor per process (like the log): module state below. Pipe events
 * come on nng's threads, the scan runs on the janitor's thread; the pipe
 * table is under mu. The socket and port tables are written on the main
 * thread before any listener starts, then only read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

#define TLS_SOCKETS_MAX 8 /* server, changes, ingest's two: 4 today */
#define TLS_SOCKET_PORTS 2
#define TLS_PERIOD_MIN_MS 100
/* At most every 2.5 s: a scan reads the namespace's whole TCP table,
 * 18 ms of CPU a second with 4,000 connections at this period (41 at 1 s;
 * docs/SECURITY.md, "Half-open TLS connections"). */
#define TLS_PERIOD_MAX_MS 2500

typedef struct tls_pipe_ent {
    uint32_t id;
    tls_peer peer;
} tls_pipe_ent;

/* A socket seen on a TLS port and not a pipe: since when. */
typedef struct tls_pending {
    ino_t ino;
    int64_t first_ms;
    bool shut;
} tls_pending;

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

    pthread_mutex_t mu; /* pipes, stop */
    pthread_cond_t cv;
    tls_pipe_ent *pipes;
    size_t n_pipes, cap_pipes;
    bool stop;

    bool running;
    pthread_t thread;
    int64_t timeout_ms;
    _Atomic uint64_t closed;

    /* the janitor thread's own */
    tls_tcp_conn *conns; /* the kernel's table, watched ports, by inode */
    size_t n_conns, cap_conns;
    char *text; /* a /proc/net/tcp file read whole */
    size_t cap_text;
    tls_pending *pend, *pend_next;
    size_t n_pend, cap_pend;
    tls_peer *known;
    size_t cap_known;
} tj = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static int tls_peer_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(tls_peer));
}

static int tls_pending_cmp(const void *a, const void *b)
{
    ino_t x = ((const tls_pending *)a)->ino, y = ((const tls_pending *)b)->ino;
    return (x > y) - (x < y);
}

/* tls_peer_of_pipe: the connection of pipe p; false if not TCP. */
static bool tls_peer_of_pipe(nng_pipe p, tls_peer *out)
{
    nng_sockaddr la, ra;
    if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &la) != 0 ||
        nng_pipe_get_addr(p, NNG_OPT_REMADDR, &ra) != 0)
        return false;
    memset(out, 0, sizeof *out);
    if (la.s_family == NNG_AF_INET)
        out->lport = ntohs(la.s_in.sa_port);
    else if (la.s_family == NNG_AF_INET6)
        out->lport = ntohs(la.s_in6.sa_port);
    else
        return false;
    if (ra.s_family == NNG_AF_INET) {
        out->rport = ntohs(ra.s_in.sa_port);
        tls__peer_v4(out, &ra.s_in.sa_addr);
    } else if (ra.s_family == NNG_AF_INET6) {
        out->rport = ntohs(ra.s_in6.sa_port);
        tls__peer_v6(out, ra.s_in6.sa_addr);
    } else {
        return false;
    }
    return true;
}

static void tls_pipe_record(nng_pipe p, nng_pipe_ev ev)
{
    uint32_t id = (uint32_t)nng_pipe_id(p);
    tls_peer peer;
    if (ev == NNG_PIPE_EV_ADD_POST && !tls_peer_of_pipe(p, &peer))
        return;
    pthread_mutex_lock(&tj.mu);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        if (tj.n_pipes == tj.cap_pipes) {
            size_t cap = tj.cap_pipes ? tj.cap_pipes * 2 : 64;
            tls_pipe_ent *np = realloc(tj.pipes, cap * sizeof *np);
            if (np == NULL) {
                /* Unrecorded, the pipe's socket would look half-open and
                 * be shut at the timeout: refuse it now, loudly. */
                pthread_mutex_unlock(&tj.mu);
                log_error("tls", "out of memory recording a connection");
                nng_pipe_close(p);
                return;
            }
            tj.pipes = np;
            tj.cap_pipes = cap;
        }
        tj.pipes[tj.n_pipes++] = (tls_pipe_ent){.id = id, .peer = peer};
    } else {
        for (size_t i = 0; i < tj.n_pipes; i++)
            if (tj.pipes[i].id == id) {
                tj.pipes[i] = tj.pipes[--tj.n_pipes];
                break;
            }
    }
    pthread_mutex_unlock(&tj.mu);
}

static void tls_pipe_trampoline(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    tls_sock_ent *e = arg;
    if (e->tls && (ev == NNG_PIPE_EV_ADD_POST || ev == NNG_PIPE_EV_REM_POST))
        tls_pipe_record(p, ev);
    if (e->cb != NULL)
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

/* tls_sock_entry: sock's entry, made and hooked to nng on first use. */
static tls_sock_ent *tls_sock_entry(nng_socket sock)
{
    uint32_t id = (uint32_t)nng_socket_id(sock);
    for (size_t i = 0; i < tj.n_socks; i++)
        if (tj.socks[i].sock_id == id)
            return &tj.socks[i];
    tls_sock_ent *e = NULL;
    if (tj.n_socks < TLS_SOCKETS_MAX)
        e = &tj.socks[tj.n_socks];
    for (size_t i = 0; e == NULL && i < tj.n_socks; i++)
        if (tls_sock_closed(&tj.socks[i]))
            e = &tj.socks[i];
    if (e == NULL)
        return NULL;
    *e = (tls_sock_ent){.sock_id = id};
    if (nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, tls_pipe_trampoline, e) !=
            0 ||
        nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, tls_pipe_trampoline, e) !=
            0) {
        e->sock_id = 0; /* nng ids start at 1: a free slot */
        return NULL;
    }
    if (e == &tj.socks[tj.n_socks])
        tj.n_socks++;
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

atp_err tls__watch(nng_socket sock, uint16_t port)
{
    tls_sock_ent *e = tls_sock_entry(sock);
    if (e == NULL || e->n_ports == TLS_SOCKET_PORTS)
        return ATP_E_TRANSPORT;
    e->tls = true;
    e->ports[e->n_ports++] = port;
    return ATP_OK;
}

/* The TCP ports of the TLS listeners of open sockets, read once a scan. */
typedef struct tls_ports {
    uint16_t port[TLS_SOCKETS_MAX * TLS_SOCKET_PORTS];
    size_t n;
} tls_ports;

static void tls_ports_get(tls_ports *out)
{
    out->n = 0;
    for (size_t i = 0; i < tj.n_socks; i++)
        if (tj.socks[i].n_ports > 0 && !tls_sock_closed(&tj.socks[i]))
            for (size_t j = 0; j < tj.socks[i].n_ports; j++)
                out->port[out->n++] = tj.socks[i].ports[j];
}

static bool tls_any_watched(void)
{
    tls_ports ps;
    tls_ports_get(&ps);
    return ps.n > 0;
}

/* tls_shut: shut down the socket at fd if it still is inode ino. */
static bool tls_shut(int fd, ino_t ino)
{
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return false;
    struct stat st;
    bool same = fstat(d, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
    if (same)
        shutdown(d, SHUT_RDWR);
    close(d);
    return same;
}

/* tls_known_copy: the recorded pipes' peers, sorted; their count. */
static size_t tls_known_copy(void)
{
    pthread_mutex_lock(&tj.mu);
    size_t n = tj.n_pipes;
    if (n > tj.cap_known) {
        tls_peer *nk = realloc(tj.known, n * sizeof *nk);
        if (nk == NULL) {
            pthread_mutex_unlock(&tj.mu);
            return SIZE_MAX; /* this scan is skipped */
        }
        tj.known = nk;
        tj.cap_known = n;
    }
    for (size_t i = 0; i < n; i++)
        tj.known[i] = tj.pipes[i].peer;
    pthread_mutex_unlock(&tj.mu);
    if (n > 0)
        qsort(tj.known, n, sizeof *tj.known, tls_peer_cmp);
    return n;
}

static bool tls_pend_push(tls_pending p, size_t *n)
{
    if (*n == tj.cap_pend) {
        size_t cap = tj.cap_pend ? tj.cap_pend * 2 : 64;
        tls_pending *a = realloc(tj.pend, cap * sizeof *a);
        if (a == NULL)
            return false;
        tj.pend = a;
        tls_pending *b = realloc(tj.pend_next, cap * sizeof *b);
        if (b == NULL)
            return false;
        tj.pend_next = b;
        tj.cap_pend = cap;
    }
    tj.pend_next[(*n)++] = p;
    return true;
}

static int tls_conn_cmp(const void *a, const void *b)
{
    ino_t x = ((const tls_tcp_conn *)a)->ino,
          y = ((const tls_tcp_conn *)b)->ino;
    return (x > y) - (x < y);
}

/* tls_read_text: path read whole into tj.text (NUL-terminated); false if
 * it cannot be (no such file: no IPv6, say). /proc files have no size. */
static bool tls_read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    for (;;) {
        if (tj.cap_text - len < 4096) {
            size_t cap = tj.cap_text ? tj.cap_text * 2 : 65536;
            char *t = realloc(tj.text, cap);
            if (t == NULL) {
                close(fd);
                return false;
            }
            tj.text = t;
            tj.cap_text = cap;
        }
        ssize_t r = read(fd, tj.text + len, tj.cap_text - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    tj.text[len] = '\0';
    return true;
}

/* tls_conns_load: the kernel's connections on the watched ports, sorted
 * by inode; false when they cannot be read (this scan is skipped). */
static bool tls_conns_load(const tls_ports *ps)
{
    static const char *const files[2] = {"/proc/self/net/tcp",
                                         "/proc/self/net/tcp6"};
    tj.n_conns = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        if (!tls_read_text(files[v6])) {
            if (v6)
                continue; /* a kernel without IPv6 */
            return false;
        }
        if (!tls__proc_tcp_parse(tj.text, v6, ps->port, ps->n, &tj.conns,
                                 &tj.n_conns, &tj.cap_conns))
            return false;
    }
    if (tj.n_conns > 0)
        qsort(tj.conns, tj.n_conns, sizeof *tj.conns, tls_conn_cmp);
    return true;
}

/* tls_fd_socket_ino: the inode of the socket at descriptor name (a
 * /proc/self/fd entry), from its link "socket:[INODE]": read without
 * touching the descriptor, which nng owns. 0 when not a socket. */
static ino_t tls_fd_socket_ino(int dfd, const char *name)
{
    char link[64];
    ssize_t n = readlinkat(dfd, name, link, sizeof link - 1);
    if (n <= 8 || memcmp(link, "socket:[", 8) != 0)
        return 0;
    link[n] = '\0';
    char *end;
    unsigned long long ino = strtoull(link + 8, &end, 10);
    return *end == ']' ? (ino_t)ino : 0;
}

/* tls_scan: one pass over the descriptors; returns how many it shut. */
static unsigned tls_scan(int64_t now_ms)
{
    tls_ports ps;
    tls_ports_get(&ps);
    if (ps.n == 0 || !tls_conns_load(&ps) || tj.n_conns == 0) {
        tj.n_pend = 0;
        return 0;
    }
    size_t n_known = tls_known_copy();
    if (n_known == SIZE_MAX)
        return 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return 0;
    int dfd = dirfd(dir);
    unsigned shut = 0;
    size_t n_next = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end != '\0' || end == de->d_name || fd == dfd)
            continue;
        tls_tcp_conn key_c = {.ino = tls_fd_socket_ino(dfd, de->d_name)};
        const tls_tcp_conn *c = key_c.ino == 0
                                    ? NULL
                                    : bsearch(&key_c, tj.conns, tj.n_conns,
                                              sizeof key_c, tls_conn_cmp);
        if (c == NULL ||
            (n_known > 0 && bsearch(&c->peer, tj.known, n_known, sizeof c->peer,
                                    tls_peer_cmp) != NULL))
            continue; /* not on a TLS port, or an nng pipe */
        tls_pending key = {.ino = c->ino, .first_ms = now_ms};
        const tls_pending *was =
            tj.n_pend > 0
                ? bsearch(&key, tj.pend, tj.n_pend, sizeof key, tls_pending_cmp)
                : NULL;
        if (was != NULL)
            key = *was;
        if (!key.shut && now_ms - key.first_ms >= tj.timeout_ms &&
            tls_shut((int)fd, c->ino)) {
            key.shut = true;
            shut++;
        }
        if (!tls_pend_push(key, &n_next))
            break; /* out of memory: the rest waits for the next scan */
    }
    closedir(dir);
    if (n_next > 0)
        qsort(tj.pend_next, n_next, sizeof *tj.pend_next, tls_pending_cmp);
    tls_pending *t = tj.pend;
    tj.pend = tj.pend_next;
    tj.pend_next = t;
    tj.n_pend = n_next;
    return shut;
}

static void *tls_janitor_main(void *arg)
{
    (void)arg;
    thread_name("tls-janitor");
    int64_t period = tj.timeout_ms / 4;
    if (period < TLS_PERIOD_MIN_MS)
        period = TLS_PERIOD_MIN_MS;
    if (period > TLS_PERIOD_MAX_MS)
        period = TLS_PERIOD_MAX_MS;
    pthread_mutex_lock(&tj.mu);
    while (!tj.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += period / 1000;
        ts.tv_nsec += (period % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&tj.cv, &tj.mu, &ts);
        if (tj.stop)
            break;
        pthread_mutex_unlock(&tj.mu);
        unsigned n = tls_scan(clock_mono_ms());
        if (n > 0) {
            atomic_fetch_add_explicit(&tj.closed, n, memory_order_relaxed);
            log_warn("tls",
                     "closed %u connection(s) that did not finish the TLS "
                     "handshake within service.tls_handshake_timeout "
                     "(%lld ms)",
                     n, (long long)tj.timeout_ms);
        }
        pthread_mutex_lock(&tj.mu);
    }
    pthread_mutex_unlock(&tj.mu);
    return NULL;
}

atp_err tls_janitor_start(int64_t timeout_ms)
{
    if (timeout_ms <= 0 || tj.running || !tls_any_watched())
        return ATP_OK;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&tj.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return ATP_E_NOMEM;
    tj.timeout_ms = timeout_ms;
    tj.stop = false;
    if (pthread_create(&tj.thread, NULL, tls_janitor_main, NULL) != 0) {
        pthread_cond_destroy(&tj.cv);
        log_error("tls", "cannot start the TLS handshake janitor thread");
        return ATP_E_NOMEM;
    }
    tj.running = true;
    return ATP_OK;
}

void tls_janitor_stop(void)
{
    if (!tj.running)
        return;
    pthread_mutex_lock(&tj.mu);
    tj.stop = true;
    pthread_cond_signal(&tj.cv);
    pthread_mutex_unlock(&tj.mu);
    pthread_join(tj.thread, NULL);
    pthread_cond_destroy(&tj.cv);
    tj.running = false;
    free(tj.pend);
    free(tj.pend_next);
    free(tj.known);
    free(tj.conns);
    free(tj.text);
    tj.pend = tj.pend_next = NULL;
    tj.known = NULL;
    tj.conns = NULL;
    tj.text = NULL;
    tj.n_pend = tj.cap_pend = tj.cap_known = 0;
    tj.n_conns = tj.cap_conns = tj.cap_text = 0;
}

uint64_t tls_janitor_closed(void)
{
    return atomic_load_explicit(&tj.closed, memory_order_relaxed);
}
