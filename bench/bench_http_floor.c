/*
 * bench_http_floor.c - atp-bench-http-floor, the HTTP transport floor: GNU
 * libmicrohttpd (the library behind atpd's HTTP server) answering every
 * request with a fixed JSON body and doing no other work, so that atp-bench
 * can say how much of atpd's HTTP cost is the library's.
 *
 * The reply body is `{"ok":true,"pad":"xx..."}` padded to --size bytes, or
 * to the size a request asks for in its `X-Reply-Size` header (atp-bench
 * sends atpd's average reply size per operation and cart size, like the
 * nng echo floor's size prefix). A request body is read and dropped, as
 * atpd reads and parses one. The reply is copied per request (like a
 * handler whose answer varies), with `Content-Type: application/json`.
 *
 * Configured like atpd's HTTP server (src/http/mhd.c): epoll, suspend and
 * resume allowed (an inter-thread channel, which atpd needs for its
 * deferred replies; --no-suspend: without, as in the library spike),
 * --threads N event loops (atp-bench passes atpd's service.http_threads;
 * 1: one internal epoll thread). --turbo: MHD_USE_TURBO.
 *
 * usage: atp-bench-http-floor [--port P] [--threads N] [--size BYTES]
 *                             [--turbo] [--no-suspend]
 * Listens on 127.0.0.1 (port 0: a free one), prints "port P" on stdout once
 * listening, runs until SIGTERM/SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define FLOOR_MAX_REPLY ((size_t)16 << 20)

typedef struct floor_state {
    size_t size;
} floor_state;

/* floor_body writes a JSON object of exactly n bytes (n >= 24) into buf. */
static void floor_body(char *buf, size_t n)
{
    static const char head[] = "{\"ok\":true,\"pad\":\"";
    size_t hl = sizeof head - 1;
    memcpy(buf, head, hl);
    memset(buf + hl, 'x', n - hl - 2);
    buf[n - 2] = '"';
    buf[n - 1] = '}';
}

static size_t floor_want(const floor_state *st, struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Reply-Size");
    size_t n = st->size;
    if (h != NULL) {
        char *end;
        unsigned long long v = strtoull(h, &end, 10);
        if (end != h && *end == '\0')
            n = (size_t)v;
    }
    if (n < 24)
        n = 24;
    return n > FLOOR_MAX_REPLY ? FLOOR_MAX_REPLY : n;
}

static enum MHD_Result floor_handle(void *cls, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    (void)url, (void)method, (void)version, (void)upload;
    /* First call: headers only. Then the body in pieces (dropped), then a
     * last call with *upload_size == 0: answer. */
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    size_t n = floor_want(cls, conn);
    char small[4096];
    char *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL)
        return MHD_NO;
    floor_body(buf, n);
    struct MHD_Response *res =
        MHD_create_response_from_buffer(n, buf, MHD_RESPMEM_MUST_COPY);
    if (buf != small)
        free(buf);
    if (res == NULL)
        return MHD_NO;
    enum MHD_Result rv = MHD_NO;
    if (MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json") == MHD_YES)
        rv = MHD_queue_response(conn, MHD_HTTP_OK, res);
    MHD_destroy_response(res);
    return rv;
}

static void usage(void)
{
    fprintf(stderr, "usage: atp-bench-http-floor [--port P] [--threads N] "
                    "[--size BYTES] [--turbo] [--no-suspend]\n");
}

int main(int argc, char **argv)
{
    unsigned port = 0, threads = 1;
    floor_state st = {.size = 200};
    bool turbo = false, suspend = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            st.size = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--turbo") == 0)
            turbo = true;
        else if (strcmp(argv[i], "--no-suspend") == 0)
            suspend = false;
        else {
            usage();
            return 2;
        }
    }
    if (port > 65535 || threads < 1 || threads > 64 || st.size < 24 ||
        st.size > FLOOR_MAX_REPLY) {
        usage();
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit this */

    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (suspend)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    if (turbo)
        flags |= MHD_USE_TURBO;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_CONNECTION_LIMIT, 4096, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         (intptr_t)threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, floor_handle, &st,
                         MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "atp-bench-http-floor: cannot start the server\n");
        return 1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL) {
        MHD_stop_daemon(d);
        return 1;
    }
    printf("port %u\n", (unsigned)info->port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
