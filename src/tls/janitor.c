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
 * that are not an nng pipe (pipes.c: same local and peer address and
 * port), and shuts down (never closes: the descriptor stays nng's) those
 * first seen over timeout ago. nng then sees
 * the connection end and frees it as for any peer that hangs up (checked:
 * the descriptor goes, the other clients are served).
 *
 * Only the descriptors it shuts are touched: the listing reads /proc, not
 * the descriptors, which nng may be closing at that moment. A number can
 * be reused between the listing and the shutdown; the shutdown goes to a
 * duplicate whose socket inode is checked against the one listed, so it
 * never reaches another connection.
 *
 * One janitor per process (like the log): module state below, the
 * janitor thread's own but for start and stop (main thread).
 */
#define _GNU_SOURCE
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

#define TLS_PERIOD_MIN_MS 100
/* At most every 2.5 s: a scan reads the namespace's whole TCP table,
 * 18 ms of CPU a second with 4,000 connections at this period (41 at 1 s;
 * docs/SECURITY.md, "Half-open TLS connections"). */
#define TLS_PERIOD_MAX_MS 2500

/* A socket seen on a TLS port and not a pipe: since when. */
typedef struct tls_pending {
    ino_t ino;
    int64_t first_ms;
    bool shut;
} tls_pending;

static struct {
    pthread_mutex_t mu; /* stop */
    pthread_cond_t cv;
    bool stop;

    bool running;
    pthread_t thread;
    int64_t timeout_ms;
    _Atomic uint64_t closed;

    /* The janitor thread's own. Its descriptors are opened at start and
     * kept: the attack it answers is running atpd out of descriptors, and
     * a scan that needed new ones would then see nothing for good. */
    int tcp_fd, tcp6_fd;  /* /proc/self/net/tcp, tcp6 (-1: no IPv6) */
    DIR *fd_dir;          /* /proc/self/fd */
    int null_fd, slot_fd; /* /dev/null, and the slot a checked dup uses */
    tls_tcp_conn *conns;  /* the kernel's table, watched ports, by inode */
    size_t n_conns, cap_conns;
    char *text; /* a /proc/net/tcp file read whole */
    size_t cap_text;
    tls_pending *pend, *pend_next;
    size_t n_pend, cap_pend;
    tls_peer *known;
    size_t cap_known;
} tj = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .tcp_fd = -1,
    .tcp6_fd = -1,
    .null_fd = -1,
    .slot_fd = -1,
};

static int tls_pending_cmp(const void *a, const void *b)
{
    ino_t x = ((const tls_pending *)a)->ino, y = ((const tls_pending *)b)->ino;
    return (x > y) - (x < y);
}

static int tls_conn_cmp(const void *a, const void *b)
{
    ino_t x = ((const tls_tcp_conn *)a)->ino,
          y = ((const tls_tcp_conn *)b)->ino;
    return (x > y) - (x < y);
}

/* tls_shut: shut down the socket at fd if it still is inode ino. The dup
 * goes into a slot kept for it (no new descriptor needed), and the slot
 * gets /dev/null back after, so it holds no socket alive. */
static bool tls_shut(int fd, ino_t ino)
{
    /* The raw system call, not dup3(): ThreadSanitizer models a descriptor
     * number as a variable, and this read of one nng owns (and may close
     * at once) is a race by its model. It is one by design: whatever the
     * number holds now is duplicated, and acted on only if it is the
     * socket listed (the inode check below). */
    if (syscall(SYS_dup3, fd, tj.slot_fd, O_CLOEXEC) < 0)
        return false;
    struct stat st;
    bool same =
        fstat(tj.slot_fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
    if (same)
        shutdown(tj.slot_fd, SHUT_RDWR);
    dup3(tj.null_fd, tj.slot_fd, O_CLOEXEC);
    return same;
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

/* tls_read_text: the file at fd, from its start, into tj.text
 * (NUL-terminated). /proc files have no size and are made again at each
 * read from offset 0. */
static bool tls_read_text(int fd)
{
    if (lseek(fd, 0, SEEK_SET) != 0)
        return false;
    size_t len = 0;
    for (;;) {
        if (tj.cap_text - len < 4096) {
            size_t cap = tj.cap_text ? tj.cap_text * 2 : 65536;
            char *t = realloc(tj.text, cap);
            if (t == NULL)
                return false;
            tj.text = t;
            tj.cap_text = cap;
        }
        ssize_t r = read(fd, tj.text + len, tj.cap_text - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    tj.text[len] = '\0';
    return true;
}

/* tls_conns_load: the kernel's connections on the watched ports, sorted
 * by inode; false when they cannot be read (the scan keeps what it had). */
static bool tls_conns_load(const tls_ports *ps)
{
    tj.n_conns = 0;
    const int fds[2] = {tj.tcp_fd, tj.tcp6_fd};
    for (int v6 = 0; v6 < 2; v6++) {
        if (fds[v6] < 0)
            continue; /* a kernel without IPv6 */
        if (!tls_read_text(fds[v6]) ||
            !tls__proc_tcp_parse(tj.text, v6, ps->port, ps->n, &tj.conns,
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

/* tls_scan: one pass over the descriptors; returns how many it shut, or
 * -1 when it could not look (what was pending stays pending). */
static int tls_scan(int64_t now_ms)
{
    tls_ports ps;
    tls__ports(&ps);
    if (ps.n == 0) {
        tj.n_pend = 0;
        return 0;
    }
    if (!tls_conns_load(&ps))
        return -1;
    size_t n_known = tls__pipes_copy(&tj.known, &tj.cap_known);
    if (n_known == SIZE_MAX)
        return -1;
    int dfd = dirfd(tj.fd_dir);
    rewinddir(tj.fd_dir);
    int shut = 0;
    size_t n_next = 0;
    struct dirent *de;
    while ((de = readdir(tj.fd_dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end != '\0' || end == de->d_name || fd == dfd)
            continue;
        tls_tcp_conn key_c = {.ino = tls_fd_socket_ino(dfd, de->d_name)};
        const tls_tcp_conn *c = key_c.ino == 0 || tj.n_conns == 0
                                    ? NULL
                                    : bsearch(&key_c, tj.conns, tj.n_conns,
                                              sizeof key_c, tls_conn_cmp);
        if (c == NULL ||
            (n_known > 0 && bsearch(&c->peer, tj.known, n_known, sizeof c->peer,
                                    tls__peer_cmp) != NULL))
            continue; /* not on a TLS port, or an nng pipe */
        tls_pending key = {.ino = c->ino, .first_ms = now_ms};
        const tls_pending *was =
            tj.n_pend > 0
                ? bsearch(&key, tj.pend, tj.n_pend, sizeof key, tls_pending_cmp)
                : NULL;
        if (was != NULL)
            key = *was;
        /* Checked against the pipes again right before: a pipe recorded
         * since the copy above is a client that just made it. */
        if (!key.shut && now_ms - key.first_ms >= tj.timeout_ms &&
            !tls__is_pipe(&c->peer) && tls_shut((int)fd, c->ino)) {
            key.shut = true;
            shut++;
        }
        if (!tls_pend_push(key, &n_next))
            break; /* out of memory: the rest waits for the next scan */
    }
    if (n_next > 0)
        qsort(tj.pend_next, n_next, sizeof *tj.pend_next, tls_pending_cmp);
    tls_pending *t = tj.pend;
    tj.pend = tj.pend_next;
    tj.pend_next = t;
    tj.n_pend = n_next;
    return shut;
}

static void tls_scan_report(int n)
{
    if (n > 0) {
        atomic_fetch_add_explicit(&tj.closed, (uint64_t)n,
                                  memory_order_relaxed);
        log_warn("tls",
                 "closed %d connection(s) that did not finish the TLS "
                 "handshake within service.tls_handshake_timeout (%lld ms)",
                 n, (long long)tj.timeout_ms);
    } else if (n < 0) {
        /* The log counts repeats of an identical line (log_repeat_window). */
        log_warn("tls", "cannot read the TCP connection table to look for "
                        "connections stuck in their TLS handshake (out of "
                        "memory?); trying again");
    }
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
        tls_scan_report(tls_scan(clock_mono_ms()));
        pthread_mutex_lock(&tj.mu);
    }
    pthread_mutex_unlock(&tj.mu);
    return NULL;
}

static void tls_janitor_close_files(void)
{
    if (tj.fd_dir != NULL)
        closedir(tj.fd_dir);
    tj.fd_dir = NULL;
    int *fds[] = {&tj.tcp_fd, &tj.tcp6_fd, &tj.null_fd, &tj.slot_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

/* tls_janitor_open_files: every descriptor a scan uses, once. */
static bool tls_janitor_open_files(void)
{
    tj.tcp_fd = open("/proc/self/net/tcp", O_RDONLY | O_CLOEXEC);
    tj.tcp6_fd = open("/proc/self/net/tcp6", O_RDONLY | O_CLOEXEC);
    tj.fd_dir = opendir("/proc/self/fd");
    tj.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    tj.slot_fd = tj.null_fd < 0 ? -1 : fcntl(tj.null_fd, F_DUPFD_CLOEXEC, 0);
    if (tj.tcp_fd < 0 || tj.fd_dir == NULL || tj.slot_fd < 0 ||
        (tj.tcp6_fd < 0 && errno != ENOENT)) {
        tls_janitor_close_files();
        return false;
    }
    return true;
}

atp_err tls_janitor_start(int64_t timeout_ms)
{
    tls_ports ps;
    tls__ports(&ps);
    if (timeout_ms <= 0 || tj.running || ps.n == 0)
        return ATP_OK;
    if (!tls_janitor_open_files()) {
        log_error("tls",
                  "cannot open /proc/self/net/tcp, /proc/self/fd or "
                  "/dev/null: connections stuck in their TLS "
                  "handshake cannot be closed (%s)",
                  strerror(errno));
        return ATP_E_TRANSPORT;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&tj.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        tls_janitor_close_files();
        return ATP_E_NOMEM;
    }
    tj.timeout_ms = timeout_ms;
    tj.stop = false;
    if (pthread_create(&tj.thread, NULL, tls_janitor_main, NULL) != 0) {
        pthread_cond_destroy(&tj.cv);
        tls_janitor_close_files();
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
    tls_janitor_close_files();
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
