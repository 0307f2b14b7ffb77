/*
 * h2o_fixed.c - the h2o side of the HTTP library spike (docs/PERFORMANCE.md,
 * "HTTP library spike"): libh2o-evloop answering every request with the same
 * fixed JSON body as atp-bench-http-floor (libmicrohttpd), copied into the
 * request's pool per request like a handler whose answer varies.
 * A measurement tool, not product code; built by bench/http_spike/run.sh.
 *
 * usage: h2o_fixed [--threads N] [--size BYTES]
 * N threads, each with its own event loop and SO_REUSEPORT listener on
 * 127.0.0.1 (the first binds a free port, the others the same one). Prints
 * "port P" once listening; runs until killed.
 */
#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static h2o_globalconf_t config;
static char body[1 << 16];
static size_t body_len = 200;
static unsigned port;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body_len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_iovec_t b =
        h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, body_len), body_len);
    memcpy(b.base, body, body_len);
    h2o_start_response(req, &generator);
    h2o_send(req, &b, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

typedef struct worker {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int fd;
} worker;

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    worker *w = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&w->accept_ctx, sock);
}

static int listen_fd(unsigned p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1024))
        return -1;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    return fd;
}

static void *run(void *arg)
{
    worker *w = arg;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = config.hosts;
    h2o_socket_t *ls =
        h2o_evloop_socket_create(w->ctx.loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = w;
    h2o_socket_read_start(ls, on_accept);
    while (h2o_evloop_run(w->ctx.loop, INT32_MAX) == 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            body_len = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: h2o_fixed [--threads N] [--size BYTES]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || body_len < 24 || body_len > sizeof body)
        return 2;
    static const char head[] = "{\"ok\":true,\"pad\":\"";
    memcpy(body, head, sizeof head - 1);
    memset(body + sizeof head - 1, 'x', body_len - (sizeof head - 1) - 2);
    body[body_len - 2] = '"';
    body[body_len - 1] = '}';

    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(
        &config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof *h);
    h->on_req = on_req;

    worker *ws = calloc(threads, sizeof *ws);
    pthread_t *tids = calloc(threads, sizeof *tids);
    if (ws == NULL || tids == NULL)
        return 1;
    for (unsigned i = 0; i < threads; i++) {
        if ((ws[i].fd = listen_fd(i == 0 ? 0 : port)) < 0) {
            perror("h2o_fixed: listen");
            return 1;
        }
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, run, &ws[i]);
    printf("port %u\n", port);
    fflush(stdout);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    return 0;
}
