/*
 * sp_probe.c - the SP handshake probe (see sp_probe.h). Plain sockets with
 * non-blocking connect and poll() deadlines: nothing here can block past
 * the caller's timeout. Runs in the caller's thread.
 */
#include "sp_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"

const char *sp_probe_peer_role(uint16_t proto)
{
    switch (proto) {
    case SP_PROTO_REP:
        return "a REP socket: atpd's query port (service.query_listen)";
    case SP_PROTO_SUB:
        return "a SUB socket: atpd's source feed port (service.ingest_listen)";
    case SP_PROTO_PUB:
        return "a PUB socket: atpd's change feed (service.feed_listen) or "
               "resync control port (service.control_listen)";
    case SP_PROTO_REQ:
        return "a REQ socket (a client, not atpd)";
    }
    return "an nng socket of a protocol atpd does not serve";
}

__attribute__((format(printf, 3, 4))) static void
sp_probe_say(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* sp_probe_wait polls fd for events until deadline (monotonic ms).
 * Returns > 0 ready, 0 deadline passed, < 0 error. */
static int sp_probe_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rv = poll(&p, 1, (int)left);
        if (rv >= 0 || errno != EINTR)
            return rv;
    }
}

/* sp_probe_connect starts a non-blocking connection to url's address and
 * waits for it until deadline. Returns the socket, or -1 with *why set
 * (an errno; ETIMEDOUT at the deadline; 0 when url is not probed). */
static int sp_probe_connect(const char *url, int64_t deadline, int *why)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    memset(&ss, 0, sizeof ss);
    *why = 0;
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        if (strlen(url + 6) >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, url + 6);
        sslen = sizeof *un;
    } else if (strncmp(url, "tcp://", 6) == 0) {
        /* tcp://HOST:PORT, HOST possibly [v6]; numeric or a name. */
        char host[256];
        const char *hp = url + 6, *colon = strrchr(hp, ':');
        if (colon == NULL || (size_t)(colon - hp) >= sizeof host)
            return -1;
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        char *h = host;
        size_t hl = strlen(h);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h[hl - 1] = '\0';
            h++;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0 ||
            ai == NULL)
            return -1; /* nng will say what is wrong with it */
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        sslen = ai->ai_addrlen;
        freeaddrinfo(ai);
    } else {
        return -1;
    }
    int fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = errno;
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&ss, sslen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EAGAIN) {
        *why = errno;
        close(fd);
        return -1;
    }
    int rv = sp_probe_wait(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (rv <= 0) {
        *why = rv == 0 ? ETIMEDOUT : errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        *why = errno;
    } else if (soerr != 0) {
        *why = soerr;
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* sp_probe_read reads exactly n bytes until deadline. Returns n, 0 when the
 * peer closed first, -1 at the deadline (errno ETIMEDOUT) or on error. */
static ssize_t sp_probe_read(int fd, unsigned char *buf, size_t n,
                             int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        int rv = sp_probe_wait(fd, POLLIN, deadline);
        if (rv == 0)
            errno = ETIMEDOUT;
        if (rv <= 0)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r == 0)
            return 0;
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (r > 0)
            got += (size_t)r;
    }
    return (ssize_t)n;
}

atp_err sp_probe(const char *url, uint16_t self, uint16_t want_peer,
                 int timeout_ms, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    int why = 0;
    int fd = sp_probe_connect(url, deadline, &why);
    if (fd < 0 && why == 0)
        return ATP_OK; /* not a URL we probe: nng's dial decides */
    if (fd < 0 && why == ETIMEDOUT) {
        sp_probe_say(err, errlen,
                     "cannot connect to %s: no answer within %d ms", url,
                     timeout_ms);
        return ATP_E_TIMEOUT;
    }
    if (fd < 0) {
        sp_probe_say(err, errlen, "cannot connect to %s: %s", url,
                     strerror(why));
        return ATP_E_TRANSPORT;
    }
    /* The SP header: 0, 'S', 'P', version 0, protocol (big endian), 0, 0.
     * Both sides send theirs at once, so the peer's comes whatever ours
     * says; a mismatched peer then closes. */
    unsigned char hello[8] = {
        0, 'S', 'P', 0, (unsigned char)(self >> 8), (unsigned char)self, 0, 0};
    unsigned char peer[8];
    atp_err e = ATP_OK;
    ssize_t r = send(fd, hello, sizeof hello, MSG_NOSIGNAL) == sizeof hello
                    ? sp_probe_read(fd, peer, sizeof peer, deadline)
                    : -1;
    if (r < 0 && errno == ETIMEDOUT) {
        sp_probe_say(err, errlen,
                     "%s accepted the connection but sent no handshake "
                     "within %d ms (a stopped or overloaded process?)",
                     url, timeout_ms);
        e = ATP_E_TIMEOUT;
    } else if (r <= 0) {
        sp_probe_say(err, errlen,
                     "%s closed the connection during the handshake: not an "
                     "nng endpoint",
                     url);
        e = ATP_E_BAD_REQUEST;
    } else if (memcmp(peer, "\0SP\0", 4) != 0) {
        sp_probe_say(err, errlen,
                     "%s is not an nng endpoint (it does not answer the SP "
                     "handshake)",
                     url);
        e = ATP_E_BAD_REQUEST;
    } else {
        uint16_t proto = (uint16_t)(peer[4] << 8 | peer[5]);
        if (proto != want_peer) {
            sp_probe_say(err, errlen, "%s is %s (SP protocol 0x%02x)", url,
                         sp_probe_peer_role(proto), proto);
            e = ATP_E_BAD_REQUEST;
        }
    }
    close(fd);
    return e;
}
