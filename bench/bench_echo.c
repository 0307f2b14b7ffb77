/*
 * bench_echo.c - atp-bench-echo, the transport floor: an nng REP server
 * shaped like atpd's query server (N contexts, aio callbacks on nng's
 * threads) that does no work at all. A request's first 4 bytes (big endian)
 * give the size of the reply to send back, so that atp-bench can make the
 * echo traffic byte-for-byte as large as atpd's in both directions.
 *
 * --raw: a raw-mode REP socket instead (no contexts: N aios receive on the
 * socket, and a reply carries its request's routing header back), the
 * alternative issue 20 asks to measure against the context floor
 * (docs/PERFORMANCE.md, "Raw-mode REP").
 *
 * usage: atp-bench-echo --listen URL [--contexts N] [--raw]
 * Runs until SIGTERM/SIGINT. Prints "ready" on stdout once listening.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

typedef struct echo_ctx {
    nng_ctx ctx;
    nng_socket sock; /* raw mode: the socket itself */
    bool raw;
    nng_aio *aio;
    int sending;
} echo_ctx;

static void echo_recv(echo_ctx *c)
{
    if (c->raw)
        nng_recv_aio(c->sock, c->aio);
    else
        nng_ctx_recv(c->ctx, c->aio);
}

static void echo_cb(void *arg)
{
    echo_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->sending) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = 0;
        echo_recv(c);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv != 0) {
        echo_recv(c);
        return;
    }
    nng_msg *req = nng_aio_get_msg(c->aio);
    size_t want = 0;
    if (nng_msg_len(req) >= 4) {
        const unsigned char *p = nng_msg_body(req);
        want = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) |
               ((size_t)p[2] << 8) | p[3];
    }
    if (want > ((size_t)64 << 20))
        want = (size_t)64 << 20;
    nng_msg *rep;
    if (nng_msg_alloc(&rep, want) != 0) {
        nng_msg_free(req);
        echo_recv(c);
        return;
    }
    /* Like atpd, the reply is written byte by byte into a fresh message;
     * fill it with the request's bytes, repeated. */
    unsigned char *d = nng_msg_body(rep);
    size_t rl = nng_msg_len(req);
    const unsigned char *s = nng_msg_body(req);
    for (size_t i = 0; i < want && rl > 0; i += rl)
        memcpy(d + i, s, want - i < rl ? want - i : rl);
    /* raw: the request's backtrace routes the reply to its pipe */
    if (c->raw && nng_msg_header_append(rep, nng_msg_header(req),
                                        nng_msg_header_len(req)) != 0) {
        nng_msg_free(rep);
        nng_msg_free(req);
        echo_recv(c);
        return;
    }
    nng_msg_free(req);
    c->sending = 1;
    nng_aio_set_msg(c->aio, rep);
    if (c->raw)
        nng_send_aio(c->sock, c->aio);
    else
        nng_ctx_send(c->ctx, c->aio);
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int n = 64;
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--contexts") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--raw") == 0)
            raw = true;
        else {
            fprintf(
                stderr,
                "usage: atp-bench-echo --listen URL [--contexts N] [--raw]\n");
            return 2;
        }
    }
    if (url == NULL || n < 1 || n > 4096) {
        fprintf(stderr, "usage: atp-bench-echo --listen URL [--contexts N]\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* nng's threads inherit this */
    nng_socket sock;
    int rv;
    if ((rv = (raw ? nng_rep0_open_raw(&sock) : nng_rep0_open(&sock))) != 0 ||
        (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, (size_t)64 << 20)) !=
            0) {
        fprintf(stderr, "atp-bench-echo: %s\n", nng_strerror(rv));
        return 1;
    }
    echo_ctx *ctxs = calloc((size_t)n, sizeof *ctxs);
    if (ctxs == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        ctxs[i].raw = raw;
        ctxs[i].sock = sock;
        if ((rv = nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i])) != 0 ||
            (!raw && (rv = nng_ctx_open(&ctxs[i].ctx, sock)) != 0)) {
            fprintf(stderr, "atp-bench-echo: %s\n", nng_strerror(rv));
            return 1;
        }
    }
    if ((rv = nng_listen(sock, url, NULL, 0)) != 0) {
        fprintf(stderr, "atp-bench-echo: cannot listen on %s: %s\n", url,
                nng_strerror(rv));
        return 1;
    }
    for (int i = 0; i < n; i++)
        echo_recv(&ctxs[i]);
    printf("ready\n");
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    for (int i = 0; i < n; i++)
        nng_aio_stop(ctxs[i].aio);
    nng_close(sock);
    for (int i = 0; i < n; i++)
        nng_aio_free(ctxs[i].aio);
    free(ctxs);
    return 0;
}
