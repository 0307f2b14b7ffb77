/*
 * bench_http.c - the HTTP/1.1 load backend over libcurl's multi interface
 * (see bench_http.h for the requests, the threads and why one connection
 * per request in flight).
 */
#define _GNU_SOURCE
#include "bench_http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"

#define HTTP_MAX_SLOTS 4096
#define HTTP_MAX_REPLY ((size_t)64 << 20)

typedef struct hbuf {
    char *p;
    size_t len, cap;
    bool failed;
} hbuf;

static void hb_need(hbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void hb_put(hbuf *b, const char *s, size_t n)
{
    hb_need(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void hb_cstr(hbuf *b, const char *s)
{
    hb_put(b, s, strlen(s));
}

static void hb_int(hbuf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%lld", (long long)v);
    hb_put(b, t, (size_t)n);
}

/* A JSON string literal (RFC 8259 escapes; the names are UTF-8 already). */
static void hb_json_str(hbuf *b, const char *s, size_t n)
{
    hb_need(b, n * 6 + 2);
    if (b->failed)
        return;
    char *d = b->p + b->len;
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *d++ = '\\';
            *d++ = (char)c;
        } else if (c < 0x20) {
            d += sprintf(d, "\\u%04x", c);
        } else {
            *d++ = (char)c;
        }
    }
    *d++ = '"';
    b->len = (size_t)(d - b->p);
    b->p[b->len] = '\0';
}

/* A path segment or query value, percent-encoded (RFC 3986 unreserved
 * characters stay as they are). */
static void hb_pct(hbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    hb_need(b, n * 3);
    if (b->failed)
        return;
    char *d = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            *d++ = (char)c;
        } else {
            *d++ = '%';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    b->len = (size_t)(d - b->p);
    b->p[b->len] = '\0';
}

/* ---- requests ----------------------------------------------------------- */

static void http_lines(const bench_work *w, const bench_req *r, hbuf *body,
                       bool with_qty)
{
    hb_cstr(body, "[");
    for (uint32_t i = 0; i < r->n_lines; i++) {
        const bench_line *l = &r->lines[i];
        hb_cstr(body, i ? ",{\"sku\":" : "{\"sku\":");
        hb_json_str(body, w->skus[l->sku], w->sku_len[l->sku]);
        hb_cstr(body, ",\"region\":");
        hb_json_str(body, w->regions[l->region], w->region_len[l->region]);
        if (with_qty) {
            hb_cstr(body, ",\"qty\":");
            hb_int(body, l->qty);
        }
        hb_cstr(body, "}");
    }
    hb_cstr(body, "]");
}

/* http_encode writes r's path (after the base URL) and JSON body (empty:
 * a GET). */
static void http_encode(const bench_work *w, const bench_req *r, hbuf *path,
                        hbuf *body)
{
    char id[96];
    switch (r->op) {
    case BENCH_OP_ATP: {
        const bench_line *l = &r->lines[0];
        hb_cstr(path, "/v1/availability/");
        hb_pct(path, w->skus[l->sku], w->sku_len[l->sku]);
        hb_cstr(path, "/");
        hb_pct(path, w->regions[l->region], w->region_len[l->region]);
        hb_cstr(path, "?channel=");
        hb_pct(path, w->channel, strlen(w->channel));
        break;
    }
    case BENCH_OP_CART:
        hb_cstr(path, "/v1/availability/cart");
        hb_cstr(body, "{\"channel\":");
        hb_json_str(body, w->channel, strlen(w->channel));
        hb_cstr(body, ",\"lines\":");
        http_lines(w, r, body, true);
        hb_cstr(body, "}");
        break;
    case BENCH_OP_RESERVE:
        bench_resv_id(w, r->resv, id, sizeof id);
        hb_cstr(path, "/v1/reservations");
        hb_cstr(body, "{\"id\":");
        hb_json_str(body, id, strlen(id));
        hb_cstr(body, ",\"channel\":");
        hb_json_str(body, w->channel, strlen(w->channel));
        if (r->ttl_ms > 0) {
            hb_cstr(body, ",\"ttl_ms\":");
            hb_int(body, r->ttl_ms);
        }
        hb_cstr(body, ",\"lines\":");
        http_lines(w, r, body, true);
        hb_cstr(body, "}");
        break;
    case BENCH_OP_COMMIT:
    case BENCH_OP_RELEASE:
        bench_resv_id(w, r->resv, id, sizeof id);
        hb_cstr(path, "/v1/reservations/");
        hb_pct(path, id, strlen(id));
        hb_cstr(path, r->op == BENCH_OP_COMMIT ? "/commit" : "/release");
        if (r->op == BENCH_OP_RELEASE && r->release_lines) {
            hb_cstr(body, "{\"lines\":");
            http_lines(w, r, body, false);
            hb_cstr(body, "}");
        } else {
            hb_cstr(body, "{}");
        }
        break;
    default:
        path->failed = true;
    }
}

/* ---- replies -------------------------------------------------------------
 * Only the top-level members "ok", "granted", "available" and the error's
 * "code" decide the outcome; a small scanner finds them without building a
 * tree (the client's CPU is taken from the server on 2 cores). It skips
 * strings with their escapes, so a SKU named "ok" cannot fool it. */

typedef struct http_outcome {
    int ok, granted, available; /* -1 absent, 0 false, 1 true */
    int64_t code;               /* error.code, -1 absent */
} http_outcome;

static const char *http_skip_str(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

static const char *http_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int http_bool_at(const char *p, const char *end)
{
    if (end - p >= 4 && memcmp(p, "true", 4) == 0)
        return 1;
    if (end - p >= 5 && memcmp(p, "false", 5) == 0)
        return 0;
    return -1;
}

static void http_scan(const char *p, size_t len, http_outcome *o)
{
    const char *end = p + len;
    int depth = 0;
    bool in_error = false; /* inside the top-level "error" object */
    o->ok = o->granted = o->available = -1;
    o->code = -1;
    while (p < end) {
        char c = *p;
        if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (--depth < 2)
                in_error = false;
            p++;
        } else if (c == '"') {
            const char *k = p + 1, *ke = http_skip_str(p, end);
            p = http_ws(ke, end);
            if (p >= end || *p != ':' || ke - k < 1)
                continue; /* a value, not a key */
            p = http_ws(p + 1, end);
            size_t kl = (size_t)(ke - 1 - k);
#define KEY(s) (kl == sizeof(s) - 1 && memcmp(k, s, kl) == 0)
            if (depth == 1) {
                if (KEY("ok"))
                    o->ok = http_bool_at(p, end);
                else if (KEY("granted"))
                    o->granted = http_bool_at(p, end);
                else if (KEY("available"))
                    o->available = http_bool_at(p, end);
                else if (KEY("error") && p < end && *p == '{')
                    in_error = true;
            } else if (depth == 2 && in_error && KEY("code")) {
                o->code = strtoll(p, NULL, 10);
            }
#undef KEY
        } else {
            p++;
        }
    }
}

static void http_classify(const char *buf, size_t len, uint8_t op,
                          uint8_t *status, int *err_code)
{
    http_outcome o;
    http_scan(buf, len, &o);
    *status = BENCH_ST_ERROR;
    if (o.ok != 1) {
        *err_code = o.ok == 0 ? (o.code >= 0 ? (int)o.code : ATP_E_INTERNAL)
                              : ATP_E_BAD_REQUEST;
        return;
    }
    *err_code = ATP_OK;
    int yes = op == BENCH_OP_RESERVE ? o.granted
              : op == BENCH_OP_CART  ? o.available
                                     : 1;
    *status = yes == 0 ? BENCH_ST_REFUSED : BENCH_ST_OK;
}

/* ---- the backend ----------------------------------------------------------
 */

typedef struct http_slot {
    CURL *easy;
    bench_req *req;
    bench_runner *run;
    hbuf url, body, reply;
    struct curl_slist *hdrs;
    char size_hdr[48];
    size_t path_at; /* url.p[0, path_at) is the base URL */
} http_slot;

struct bench_http_be {
    CURLM *multi;
    pthread_mutex_t mu;
    unsigned *queue; /* slots to hand to libcurl (under mu) */
    unsigned n_queue;
    unsigned *taken; /* I/O thread's copy of the queue */
    http_slot *slots;
    unsigned n_slots;
    bool floor;
    const bench_work *work;
    const bench_echo_model *model;
    long timeout_ms;
    int ep, evfd;     /* epoll set of libcurl's sockets; the wake-up */
    int64_t timer_ns; /* libcurl's next timeout (monotonic), -1: none */
    pthread_t th;
    bool th_running;
    atomic_bool stop, cancel;
};

static size_t http_write_cb(char *p, size_t size, size_t n, void *ud)
{
    hbuf *b = ud;
    size_t len = size * n;
    if (b->len + len > HTTP_MAX_REPLY)
        return 0; /* libcurl fails the transfer */
    hb_put(b, p, len);
    return b->failed ? 0 : len;
}

static void http_finish(bench_http_be *b, http_slot *s, uint8_t status,
                        int code)
{
    bench_req *r = s->req;
    bench_runner *run = s->run;
    s->req = NULL;
    r->status = status;
    r->err_code = code;
    bench_runner_done(run, (unsigned)(s - b->slots), r);
}

/* One transfer ended (I/O thread). */
static void http_done(bench_http_be *b, CURL *easy, CURLcode rc)
{
    http_slot *s = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
    curl_multi_remove_handle(b->multi, easy);
    if (s == NULL || s->req == NULL)
        return;
    if (rc != CURLE_OK) {
        http_finish(b, s, BENCH_ST_ERROR,
                    rc == CURLE_OPERATION_TIMEDOUT ? ATP_E_TIMEOUT
                                                   : ATP_E_TRANSPORT);
        return;
    }
    long st = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &st);
    s->req->reply_len = (uint32_t)s->reply.len;
    uint8_t status = BENCH_ST_OK;
    int code = ATP_OK;
    if (b->floor) {
        if (st != 200) {
            status = BENCH_ST_ERROR;
            code = ATP_E_TRANSPORT;
        }
    } else {
        http_classify(s->reply.p ? s->reply.p : "", s->reply.len, s->req->op,
                      &status, &code);
    }
    http_finish(b, s, status, code);
}

/* Everything still with libcurl fails (cancel; I/O thread). */
static void http_fail_all(bench_http_be *b)
{
    pthread_mutex_lock(&b->mu);
    b->n_queue = 0; /* not handed to libcurl yet: they fail too */
    pthread_mutex_unlock(&b->mu);
    for (unsigned i = 0; i < b->n_slots; i++) {
        http_slot *s = &b->slots[i];
        if (s->req == NULL)
            continue;
        curl_multi_remove_handle(b->multi, s->easy);
        http_finish(b, s, BENCH_ST_ERROR, ATP_E_TRANSPORT);
    }
}

/* libcurl tells which sockets to watch (I/O thread, inside
 * curl_multi_socket_action or curl_multi_add_handle). */
static int http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *ud,
                          void *sockp)
{
    (void)easy, (void)sockp;
    bench_http_be *b = ud;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(b->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {
        .events = (what & CURL_POLL_IN ? (uint32_t)EPOLLIN : 0u) |
                  (what & CURL_POLL_OUT ? (uint32_t)EPOLLOUT : 0u),
        .data.fd = fd};
    if (epoll_ctl(b->ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int http_timer_cb(CURLM *multi, long timeout_ms, void *ud)
{
    (void)multi;
    bench_http_be *b = ud;
    b->timer_ns =
        timeout_ms < 0 ? -1 : clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void http_reap(bench_http_be *b)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(b->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE)
            http_done(b, m->easy_handle, m->data.result);
}

/* The I/O thread: libcurl's socket interface over epoll, so that a reply
 * costs work on its own connection only (curl_multi_perform + poll visit
 * every connection; measured, that cost the same here with 32
 * connections: libcurl's own per-transfer work dominates). */
static void *http_thread(void *arg)
{
    bench_http_be *b = arg;
    int running = 0;
    while (!atomic_load(&b->stop)) {
        pthread_mutex_lock(&b->mu);
        unsigned n = b->n_queue;
        memcpy(b->taken, b->queue, n * sizeof *b->taken);
        b->n_queue = 0;
        pthread_mutex_unlock(&b->mu);
        for (unsigned i = 0; i < n; i++) {
            http_slot *s = &b->slots[b->taken[i]];
            if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK)
                http_finish(b, s, BENCH_ST_ERROR, ATP_E_TRANSPORT);
        }
        if (atomic_exchange(&b->cancel, false))
            http_fail_all(b);
        int64_t now = clock_mono_ns();
        if (b->timer_ns >= 0 && b->timer_ns <= now) {
            b->timer_ns = -1;
            curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0,
                                     &running);
            http_reap(b);
        }
        pthread_mutex_lock(&b->mu);
        bool more = b->n_queue > 0;
        pthread_mutex_unlock(&b->mu);
        if (more)
            continue;
        int wait_ms = 10;
        if (b->timer_ns >= 0) {
            int64_t d = (b->timer_ns - clock_mono_ns() + 999999) / 1000000;
            wait_ms = d < 0 ? 0 : d < wait_ms ? (int)d : wait_ms;
        }
        struct epoll_event evs[64];
        int k = epoll_wait(b->ep, evs, 64, wait_ms);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.fd == b->evfd) {
                uint64_t v;
                (void)!read(b->evfd, &v, sizeof v);
                continue;
            }
            int flags =
                (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(b->multi, evs[i].data.fd, flags, &running);
        }
        http_reap(b);
    }
    return NULL;
}

static void http_wake(bench_http_be *b)
{
    uint64_t one = 1;
    (void)!write(b->evfd, &one, sizeof one);
}

static int http_send(void *ctx, bench_runner *run, unsigned slot, bench_req *r)
{
    bench_http_be *b = ctx;
    http_slot *s = &b->slots[slot];
    s->url.len = s->path_at;
    s->url.failed = false;
    s->body.len = 0;
    s->body.failed = false;
    s->reply.len = 0;
    s->reply.failed = false;
    http_encode(b->work, r, &s->url, &s->body);
    if (s->url.failed || s->body.failed)
        return -1;
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url.p);
    if (s->body.len > 0) {
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.p);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->body.len);
    } else {
        curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    }
    if (b->floor) {
        /* the reply size the floor must send back, per op and lines */
        snprintf(s->size_hdr, sizeof s->size_hdr, "X-Reply-Size: %u",
                 bench_echo_model_size(b->model, r->op, r->n_lines));
    }
    r->req_len = (uint32_t)(s->body.len + (s->url.len - s->path_at));
    s->req = r;
    s->run = run;
    pthread_mutex_lock(&b->mu);
    b->queue[b->n_queue++] = slot;
    pthread_mutex_unlock(&b->mu);
    if (!pthread_equal(pthread_self(), b->th))
        http_wake(b);
    return 0;
}

static void http_cancel(void *ctx)
{
    bench_http_be *b = ctx;
    atomic_store(&b->cancel, true);
    http_wake(b);
}

bool bench_http_url_ok(const char *url)
{
    return url != NULL && strncmp(url, "http://", 7) == 0 &&
           strrchr(url + 7, ':') != NULL;
}

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *http_easy(long timeout_ms)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return e;
}

/* The request headers of slot s. "Expect:" off: no 100-continue round
 * trip for larger bodies. For the floor, a first item whose text is the
 * slot's own size_hdr, rewritten per request (libcurl reads the list when
 * it sends; bench_http_be_close detaches it before freeing). NULL: out of
 * memory. */
static struct curl_slist *http_headers(http_slot *s, bool floor,
                                       const char *token)
{
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *t = h ? curl_slist_append(h, "Expect:") : NULL;
    if (t != NULL && token != NULL && !floor) {
        size_t n = strlen(token) + 32;
        char *auth = malloc(n);
        if (auth != NULL)
            snprintf(auth, n, "Authorization: Bearer %s", token);
        t = auth != NULL ? curl_slist_append(h, auth) : NULL;
        free(auth);
    }
    struct curl_slist *x =
        t && floor ? curl_slist_append(NULL, "X-Reply-Size: 0") : NULL;
    if (t == NULL || (floor && x == NULL)) {
        curl_slist_free_all(h);
        return NULL;
    }
    if (!floor)
        return h;
    free(x->data);
    snprintf(s->size_hdr, sizeof s->size_hdr, "X-Reply-Size: 0");
    x->data = s->size_hdr;
    x->next = h;
    return x;
}

atp_err bench_http_be_open(const char *base_url, unsigned n_slots, bool floor,
                           const bench_work *work,
                           const bench_echo_model *model, int timeout_ms,
                           bench_http_be **out, char *err, size_t errlen)
{
    if (!bench_http_url_ok(base_url) || n_slots == 0 ||
        n_slots > HTTP_MAX_SLOTS) {
        snprintf(err, errlen, "%s: need http://host:port and 1..%d slots",
                 base_url, HTTP_MAX_SLOTS);
        return ATP_E_CONFIG;
    }
    pthread_once(&http_once, http_global_init);
    bench_http_be *b = calloc(1, sizeof *b);
    if (b == NULL)
        return ATP_E_NOMEM;
    pthread_mutex_init(&b->mu, NULL);
    atomic_init(&b->stop, false);
    atomic_init(&b->cancel, false);
    b->floor = floor;
    b->work = work;
    b->model = model;
    b->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    b->timer_ns = -1;
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->multi = curl_multi_init();
    b->slots = calloc(n_slots, sizeof *b->slots);
    b->queue = calloc(n_slots, sizeof *b->queue);
    b->taken = calloc(n_slots, sizeof *b->taken);
    if (b->multi == NULL || b->slots == NULL || b->queue == NULL ||
        b->taken == NULL || b->ep < 0 || b->evfd < 0)
        goto nomem;
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = b->evfd};
    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->evfd, &wev);
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b);
    /* Keep every connection: one per request in flight. */
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)n_slots);
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/')
        bl--;
    for (unsigned i = 0; i < n_slots; i++) {
        http_slot *s = &b->slots[i];
        b->n_slots = i + 1;
        s->easy = http_easy(b->timeout_ms);
        hb_put(&s->url, base_url, bl);
        s->path_at = bl;
        s->hdrs = http_headers(s, floor, work->token);
        if (s->easy == NULL || s->hdrs == NULL || s->url.failed)
            goto nomem;
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->reply);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (char *)s);
    }
    if (pthread_create(&b->th, NULL, http_thread, b) != 0)
        goto nomem;
    b->th_running = true;
    *out = b;
    return ATP_OK;
nomem:
    snprintf(err, errlen, "out of memory (libcurl)");
    bench_http_be_close(b);
    return ATP_E_NOMEM;
}

void bench_http_be_backend(bench_http_be *b, bench_backend *out)
{
    *out = (bench_backend){
        .system = b->floor ? "http-floor" : "atpd-http",
        .ctx = b,
        .slots = b->n_slots,
        .send = http_send,
        .cancel = http_cancel,
    };
}

void bench_http_be_close(bench_http_be *b)
{
    if (b == NULL)
        return;
    if (b->th_running) {
        atomic_store(&b->stop, true);
        http_wake(b);
        pthread_join(b->th, NULL);
    }
    for (unsigned i = 0; i < b->n_slots; i++) {
        http_slot *s = &b->slots[i];
        if (s->easy != NULL) {
            if (b->multi != NULL)
                curl_multi_remove_handle(b->multi, s->easy);
            curl_easy_cleanup(s->easy);
        }
        if (s->hdrs != NULL && b->floor)
            s->hdrs->data = NULL; /* size_hdr is not libcurl's to free */
        curl_slist_free_all(s->hdrs);
        free(s->url.p);
        free(s->body.p);
        free(s->reply.p);
    }
    if (b->multi != NULL)
        curl_multi_cleanup(b->multi);
    if (b->ep >= 0)
        close(b->ep);
    if (b->evfd >= 0)
        close(b->evfd);
    free(b->slots);
    free(b->queue);
    free(b->taken);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

const char *bench_http_version(void)
{
    return curl_version_info(CURLVERSION_NOW)->version;
}
