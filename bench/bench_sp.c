/*
 * bench_sp.c - the SP (nng wire protocol) REQ load backend on plain
 * sockets and one epoll thread (see bench_sp.h for why and the format).
 */
#define _GNU_SOURCE /* MSG_NOSIGNAL, accept4-era socket flags */
#include "bench_sp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"

#define SP_PROTO_REQ0 48
#define SP_PROTO_REP0 49
#define SP_MAX_SLOTS 4096 /* the slot is the low 12 bits of a request id */
#define SP_GEN_MASK 0x7ffffu
#define SP_MAX_FRAME ((uint64_t)64 << 20)
#define SP_READ_CHUNK 65536

typedef struct sp_buf {
    unsigned char *p;
    size_t off, len, cap; /* valid bytes: p[off, len) */
} sp_buf;

typedef struct sp_conn {
    int fd;
    bool dead;
    bool want_out; /* EPOLLOUT armed */
    sp_buf out;    /* under mu */
    sp_buf in;     /* I/O thread only */
} sp_conn;

typedef struct sp_slot {
    unsigned conn;
    uint32_t gen;
    bool busy;
    bench_req *req;
    bench_runner *run;
    int64_t deadline;
    codec_writer *w; /* encoding (the sending thread, slot idle) */
    sp_buf frame;    /* length + id + body */
} sp_slot;

struct bench_sp_be {
    pthread_mutex_t mu;
    sp_conn *conns;
    unsigned n_conns;
    sp_slot *slots;
    unsigned n_slots;
    bool echo;
    const bench_work *work;
    const bench_echo_model *model;
    int64_t timeout_ns;
    int ep, evfd;
    pthread_t th;
    bool th_running;
    atomic_bool stop;
};

static bool sp_reserve(sp_buf *b, size_t more)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return true;
    if (b->off > 0) { /* compact before growing */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return true;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static void sp_put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t sp_get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

bool bench_sp_url_ok(const char *url)
{
    return url != NULL && strncmp(url, "tcp://", 6) == 0 &&
           strrchr(url + 6, ':') != NULL;
}

/* ---- completions (I/O thread, or the caller of cancel) ------------------ */

/* Take every busy slot that matches (conn == -1: any; deadline: only those
 * past it) out of flight, under mu; the caller finishes them unlocked. */
static unsigned sp_take(bench_sp_be *b, int conn, int64_t deadline,
                        unsigned *idx)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b->n_slots; i++) {
        sp_slot *s = &b->slots[i];
        if (!s->busy || (conn >= 0 && s->conn != (unsigned)conn) ||
            (deadline > 0 && s->deadline > deadline))
            continue;
        s->busy = false;
        s->gen++; /* a late reply no longer matches */
        idx[n++] = i;
    }
    return n;
}

static void sp_finish(bench_sp_be *b, unsigned slot, uint8_t status, int code)
{
    sp_slot *s = &b->slots[slot];
    bench_req *r = s->req;
    bench_runner *run = s->run;
    s->req = NULL;
    r->status = status;
    r->err_code = code;
    bench_runner_done(run, slot, r);
}

static void sp_fail_taken(bench_sp_be *b, const unsigned *idx, unsigned n,
                          int code)
{
    for (unsigned i = 0; i < n; i++)
        sp_finish(b, idx[i], BENCH_ST_ERROR, code);
}

static void sp_conn_fail(bench_sp_be *b, unsigned c, unsigned *idx)
{
    pthread_mutex_lock(&b->mu);
    sp_conn *cn = &b->conns[c];
    unsigned n = 0;
    if (!cn->dead) {
        cn->dead = true;
        epoll_ctl(b->ep, EPOLL_CTL_DEL, cn->fd, NULL);
        n = sp_take(b, (int)c, 0, idx);
    }
    pthread_mutex_unlock(&b->mu);
    if (n > 0)
        fprintf(stderr, "atp-bench: connection %u lost: %u requests failed\n",
                c, n);
    sp_fail_taken(b, idx, n, ATP_E_TRANSPORT);
}

/* One reply frame (id + body) arrived on connection c. */
static void sp_reply(bench_sp_be *b, unsigned c, const unsigned char *p,
                     size_t len)
{
    uint32_t id = (uint32_t)sp_get_be(p, 4);
    unsigned slot = id & (SP_MAX_SLOTS - 1);
    if (slot >= b->n_slots)
        return;
    sp_slot *s = &b->slots[slot];
    pthread_mutex_lock(&b->mu);
    bool mine = s->busy && s->conn == c &&
                ((id >> 12) & SP_GEN_MASK) == (s->gen & SP_GEN_MASK);
    if (mine)
        s->busy = false;
    pthread_mutex_unlock(&b->mu);
    if (!mine)
        return; /* timed out or cancelled already */
    s->req->reply_len = (uint32_t)(len - 4);
    uint8_t status = BENCH_ST_OK;
    int code = ATP_OK;
    if (!b->echo) {
        bench_classify_atpd(p + 4, len - 4, s->req->op, &status, &code);
    }
    sp_finish(b, slot, status, code);
}

/* Read what is there and hand back every complete reply. false: the
 * connection is gone. */
static bool sp_read(bench_sp_be *b, unsigned c)
{
    sp_buf *in = &b->conns[c].in;
    for (;;) {
        if (!sp_reserve(in, SP_READ_CHUNK))
            return false;
        ssize_t n = recv(b->conns[c].fd, in->p + in->len, in->cap - in->len,
                         MSG_DONTWAIT);
        if (n == 0)
            return false;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return false;
            break;
        }
        in->len += (size_t)n;
        while (in->len - in->off >= 8) {
            const unsigned char *f = in->p + in->off;
            uint64_t flen = sp_get_be(f, 8);
            if (flen < 4 || flen > SP_MAX_FRAME)
                return false; /* not a REP reply: protocol error */
            if (in->len - in->off < 8 + flen)
                break;
            sp_reply(b, c, f + 8, (size_t)flen);
            in->off += 8 + (size_t)flen;
        }
        if ((size_t)n < in->cap - (in->len - (size_t)n))
            break; /* short read: drained */
    }
    return true;
}

/* Write queued bytes (mu held). false: the connection is gone. */
static bool sp_flush(bench_sp_be *b, sp_conn *cn)
{
    while (cn->out.off < cn->out.len) {
        ssize_t n =
            send(cn->fd, cn->out.p + cn->out.off, cn->out.len - cn->out.off,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return false;
        }
        cn->out.off += (size_t)n;
    }
    bool empty = cn->out.off == cn->out.len;
    if (empty)
        cn->out.off = cn->out.len = 0;
    if (empty == cn->want_out) { /* arm or disarm EPOLLOUT */
        cn->want_out = !empty;
        struct epoll_event ev = {.events = EPOLLIN |
                                           (empty ? 0u : (uint32_t)EPOLLOUT),
                                 .data.u32 = (uint32_t)(cn - b->conns)};
        epoll_ctl(b->ep, EPOLL_CTL_MOD, cn->fd, &ev);
    }
    return true;
}

static void *sp_thread(void *arg)
{
    bench_sp_be *b = arg;
    unsigned *idx = malloc(b->n_slots * sizeof *idx);
    int64_t next_check = clock_mono_ns();
    while (idx != NULL && !atomic_load(&b->stop)) {
        struct epoll_event evs[16];
        int n = epoll_wait(b->ep, evs, 16, 10);
        for (int i = 0; i < n; i++) {
            uint32_t c = evs[i].data.u32;
            if (c == UINT32_MAX)
                continue; /* the stop event */
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                ok = sp_read(b, c);
            if (ok && (evs[i].events & EPOLLOUT)) {
                pthread_mutex_lock(&b->mu);
                ok = b->conns[c].dead || sp_flush(b, &b->conns[c]);
                pthread_mutex_unlock(&b->mu);
            }
            if (!ok)
                sp_conn_fail(b, c, idx);
        }
        int64_t now = clock_mono_ns();
        if (now >= next_check) { /* requests without a reply in time */
            next_check = now + 10000000LL;
            pthread_mutex_lock(&b->mu);
            unsigned k = sp_take(b, -1, now, idx);
            pthread_mutex_unlock(&b->mu);
            sp_fail_taken(b, idx, k, ATP_E_TIMEOUT);
        }
    }
    free(idx);
    return NULL;
}

/* ---- sending (any thread) ----------------------------------------------- */

static int sp_send(void *ctx, bench_runner *run, unsigned slot, bench_req *r)
{
    bench_sp_be *b = ctx;
    sp_slot *s = &b->slots[slot];
    codec_writer_reset(s->w);
    bench_encode_atpd(b->work, r, s->w);
    size_t len = 0;
    const unsigned char *body = codec_writer_data(s->w, &len);
    s->frame.off = s->frame.len = 0;
    if (codec_writer_failed(s->w) || len < 4 ||
        !sp_reserve(&s->frame, 12 + len))
        return -1;
    unsigned char *f = s->frame.p;
    sp_put_be(f, 4 + len, 8);
    memcpy(f + 12, body, len);
    if (b->echo) /* the reply size the echo server must send back */
        sp_put_be(f + 12, bench_echo_model_size(b->model, r->op, r->n_lines),
                  4);
    r->req_len = (uint32_t)len;
    pthread_mutex_lock(&b->mu);
    sp_conn *cn = &b->conns[s->conn];
    if (cn->dead) {
        pthread_mutex_unlock(&b->mu);
        return -1;
    }
    s->gen++;
    sp_put_be(f + 8,
              0x80000000u | (s->gen & SP_GEN_MASK) << 12 | (uint32_t)slot, 4);
    s->req = r;
    s->run = run;
    s->busy = true;
    s->deadline = clock_mono_ns() + b->timeout_ns;
    bool ok = sp_reserve(&cn->out, 12 + len);
    if (ok) {
        memcpy(cn->out.p + cn->out.len, f, 12 + len);
        cn->out.len += 12 + len;
        /* Written right here when nothing is queued before it; a broken
         * connection is noticed (and its requests failed) by the I/O
         * thread. */
        sp_flush(b, cn);
    } else {
        s->busy = false;
        s->req = NULL;
    }
    pthread_mutex_unlock(&b->mu);
    return ok ? 0 : -1;
}

static void sp_cancel(void *ctx)
{
    bench_sp_be *b = ctx;
    unsigned *idx = malloc(b->n_slots * sizeof *idx);
    if (idx == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    unsigned n = sp_take(b, -1, 0, idx);
    pthread_mutex_unlock(&b->mu);
    sp_fail_taken(b, idx, n, ATP_E_TRANSPORT);
    free(idx);
}

/* ---- set-up ------------------------------------------------------------- */

static int sp_connect(const char *url, char *err, size_t errlen)
{
    char host[256];
    const char *hp = url + 6, *colon = strrchr(hp, ':');
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') { /* [::1]:port */
        hp++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "bad address %s", url);
        return -1;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rv = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", url, gai_strerror(rv));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", url, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char hdr[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REQ0, 0, 0}, peer[8];
    size_t got = 0;
    if (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) != (ssize_t)sizeof hdr)
        goto bad;
    while (got < sizeof peer) {
        ssize_t n = recv(fd, peer + got, sizeof peer - got, 0);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            goto bad;
        got += n > 0 ? (size_t)n : 0;
    }
    if (peer[0] != 0 || peer[1] != 'S' || peer[2] != 'P' ||
        sp_get_be(peer + 4, 2) != SP_PROTO_REP0)
        goto bad;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
bad:
    snprintf(err, errlen, "%s: no SP REP0 handshake", url);
    close(fd);
    return -1;
}

atp_err bench_sp_be_open(const char *url, unsigned n_conns, unsigned n_slots,
                         bool echo, const bench_work *work,
                         const bench_echo_model *model, int timeout_ms,
                         bench_sp_be **out, char *err, size_t errlen)
{
    if (!bench_sp_url_ok(url) || n_slots == 0 || n_slots > SP_MAX_SLOTS) {
        snprintf(err, errlen, "%s: need tcp://host:port and 1..%d slots", url,
                 SP_MAX_SLOTS);
        return ATP_E_CONFIG;
    }
    if (n_conns == 0)
        n_conns = 1;
    if (n_conns > n_slots)
        n_conns = n_slots;
    bench_sp_be *b = calloc(1, sizeof *b);
    if (b == NULL)
        return ATP_E_NOMEM;
    pthread_mutex_init(&b->mu, NULL);
    atomic_init(&b->stop, false);
    b->echo = echo;
    b->work = work;
    b->model = model;
    b->timeout_ns = (int64_t)(timeout_ms > 0 ? timeout_ms : 10000) * 1000000;
    b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    b->conns = calloc(n_conns, sizeof *b->conns);
    b->slots = calloc(n_slots, sizeof *b->slots);
    atp_err e = ATP_E_NOMEM;
    if (b->evfd < 0 || b->ep < 0 || b->conns == NULL || b->slots == NULL)
        goto fail;
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->evfd, &sev);
    for (unsigned i = 0; i < n_slots; i++) {
        sp_slot *s = &b->slots[i];
        s->conn = i % n_conns;
        b->n_slots = i + 1;
        if ((s->w = codec_writer_alloc(NULL, NULL)) == NULL)
            goto fail;
    }
    e = ATP_E_TRANSPORT;
    for (unsigned i = 0; i < n_conns; i++) {
        sp_conn *cn = &b->conns[i];
        cn->fd = -1;
        b->n_conns = i + 1;
        if ((cn->fd = sp_connect(url, err, errlen)) < 0)
            goto fail;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(b->ep, EPOLL_CTL_ADD, cn->fd, &ev) != 0)
            goto fail;
    }
    if (pthread_create(&b->th, NULL, sp_thread, b) != 0) {
        e = ATP_E_NOMEM;
        goto fail;
    }
    b->th_running = true;
    *out = b;
    return ATP_OK;
fail:
    bench_sp_be_close(b);
    return e;
}

void bench_sp_be_backend(bench_sp_be *b, bench_backend *out)
{
    *out = (bench_backend){
        .system = b->echo ? "echo" : "atpd",
        .ctx = b,
        .slots = b->n_slots,
        .send = sp_send,
        .cancel = sp_cancel,
    };
}

void bench_sp_be_close(bench_sp_be *b)
{
    if (b == NULL)
        return;
    if (b->th_running) {
        atomic_store(&b->stop, true);
        uint64_t one = 1;
        if (write(b->evfd, &one, sizeof one) < 0) {
            /* the thread still sees stop within its 10 ms wait */
        }
        pthread_join(b->th, NULL);
    }
    for (unsigned i = 0; i < b->n_conns; i++) {
        if (b->conns[i].fd >= 0)
            close(b->conns[i].fd);
        free(b->conns[i].out.p);
        free(b->conns[i].in.p);
    }
    for (unsigned i = 0; i < b->n_slots; i++) {
        codec_writer_free(b->slots[i].w);
        free(b->slots[i].frame.p);
    }
    if (b->ep >= 0)
        close(b->ep);
    if (b->evfd >= 0)
        close(b->evfd);
    free(b->conns);
    free(b->slots);
    pthread_mutex_destroy(&b->mu);
    free(b);
}
