/*
 * bench_nng.c - the nng transports of atp-bench (see bench_nng.h). The only
 * bench file that includes nng; nng codes become atp_err here.
 *
 * Threads: the REQ backend's callbacks run on nng's threads and call the
 * runner; each slot (context) is used by one request at a time, so its
 * writer needs no lock. The publisher and the probe run in the
 * calling thread.
 */
#include "bench_nng.h"
#include "tools_tls.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/clock.h"

#define BENCH_RECV_MAX ((size_t)64 << 20)

static void bench_nng_err(char *buf, size_t len, const char *what,
                          const char *url, int rv)
{
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s %s: %s", what, url, nng_strerror(rv));
}

const char *bench_nng_version(void)
{
    return nng_version();
}

/* ---- REQ backend -------------------------------------------------------- */

enum { BENCH_SLOT_IDLE, BENCH_SLOT_SEND, BENCH_SLOT_RECV };

typedef struct bench_slot {
    bench_req_be *be;
    unsigned idx;
    nng_ctx ctx;
    nng_aio *aio;
    int state;
    bench_runner *run;
    bench_req *req;
    codec_writer *w;
    bool ctx_open;
} bench_slot;

struct bench_req_be {
    nng_socket *socks;
    unsigned n_socks;
    bench_slot *slots;
    unsigned n_slots;
    bool echo;
    const bench_work *work;
    const bench_echo_model *model;
};

static void bench_slot_finish(bench_slot *s, uint8_t status, int err_code)
{
    bench_req *r = s->req;
    bench_runner *run = s->run;
    s->req = NULL;
    s->state = BENCH_SLOT_IDLE;
    r->status = status;
    r->err_code = err_code;
    bench_runner_done(run, s->idx, r);
}

static void bench_slot_cb(void *arg)
{
    bench_slot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (s->state == BENCH_SLOT_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio));
            nng_aio_set_msg(s->aio, NULL);
            bench_slot_finish(s, BENCH_ST_ERROR,
                              rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT
                                                  : ATP_E_TRANSPORT);
            return;
        }
        s->state = BENCH_SLOT_RECV;
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    if (s->state != BENCH_SLOT_RECV)
        return;
    if (rv != 0) {
        bench_slot_finish(s, BENCH_ST_ERROR,
                          rv == NNG_ETIMEDOUT ? ATP_E_TIMEOUT
                                              : ATP_E_TRANSPORT);
        return;
    }
    nng_msg *m = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, NULL);
    s->req->reply_len = (uint32_t)nng_msg_len(m);
    uint8_t status = BENCH_ST_OK;
    int code = ATP_OK;
    if (!s->be->echo) {
        bench_classify_atpd(nng_msg_body(m), nng_msg_len(m), s->req->op,
                            &status, &code);
    }
    nng_msg_free(m);
    bench_slot_finish(s, status, code);
}

static int bench_req_be_send(void *ctx, bench_runner *run, unsigned slot,
                             bench_req *r)
{
    bench_req_be *b = ctx;
    bench_slot *s = &b->slots[slot];
    /* Encode into the slot's growable buffer, then copy once into a message
     * of the right size: nng 1.5's nng_msg_append from an empty message
     * reallocates on every call, which is quadratic in the message size
     * (docs/PERFORMANCE.md). */
    codec_writer_reset(s->w);
    bench_encode_atpd(b->work, r, s->w);
    size_t len = 0;
    const void *data = codec_writer_data(s->w, &len);
    nng_msg *m;
    if (codec_writer_failed(s->w) || len < 4 || nng_msg_alloc(&m, len) != 0)
        return -1;
    memcpy(nng_msg_body(m), data, len);
    if (b->echo) {
        uint32_t n = bench_echo_model_size(b->model, r->op, r->n_lines);
        unsigned char *p = nng_msg_body(m);
        p[0] = (unsigned char)(n >> 24);
        p[1] = (unsigned char)(n >> 16);
        p[2] = (unsigned char)(n >> 8);
        p[3] = (unsigned char)n;
    }
    r->req_len = (uint32_t)nng_msg_len(m);
    s->run = run;
    s->req = r;
    s->state = BENCH_SLOT_SEND;
    nng_aio_set_msg(s->aio, m);
    nng_ctx_send(s->ctx, s->aio);
    return 0;
}

static void bench_req_be_cancel(void *ctx)
{
    bench_req_be *b = ctx;
    for (unsigned i = 0; i < b->n_slots; i++)
        if (b->slots[i].aio != NULL)
            nng_aio_cancel(b->slots[i].aio);
}

atp_err bench_req_be_open(const char *url, unsigned n_socks, unsigned n_slots,
                          bool echo, const bench_work *work,
                          const bench_echo_model *model, int timeout_ms,
                          bench_req_be **out, char *err, size_t errlen)
{
    if (n_socks == 0)
        n_socks = 1;
    if (n_socks > n_slots)
        n_socks = n_slots;
    bench_req_be *b = calloc(1, sizeof *b);
    if (b == NULL)
        return ATP_E_NOMEM;
    b->echo = echo;
    b->work = work;
    b->model = model;
    b->socks = calloc(n_socks, sizeof *b->socks);
    b->slots = calloc(n_slots, sizeof *b->slots);
    if (b->socks == NULL || b->slots == NULL) {
        bench_req_be_close(b);
        return ATP_E_NOMEM;
    }
    int rv;
    for (unsigned i = 0; i < n_socks; i++) {
        if ((rv = nng_req0_open(&b->socks[i])) != 0) {
            bench_nng_err(err, errlen, "cannot open a REQ socket for", url, rv);
            goto fail;
        }
        b->n_socks = i + 1;
        if ((rv = nng_socket_set_size(b->socks[i], NNG_OPT_RECVMAXSZ,
                                      BENCH_RECV_MAX)) != 0 ||
            (rv = nng_socket_set_ms(b->socks[i], NNG_OPT_REQ_RESENDTIME,
                                    NNG_DURATION_INFINITE)) != 0 ||
            (rv = tools_tls_dial(b->socks[i], url, 0, NULL, 0)) != 0) {
            bench_nng_err(err, errlen, "cannot dial", url, rv);
            goto fail;
        }
    }
    for (unsigned i = 0; i < n_slots; i++) {
        bench_slot *s = &b->slots[i];
        s->be = b;
        s->idx = i;
        if ((s->w = codec_writer_alloc(NULL, NULL)) == NULL) {
            b->n_slots = i + 1;
            bench_req_be_close(b);
            return ATP_E_NOMEM;
        }
        if ((rv = nng_aio_alloc(&s->aio, bench_slot_cb, s)) != 0 ||
            (rv = nng_ctx_open(&s->ctx, b->socks[i % b->n_socks])) != 0) {
            b->n_slots = i + 1;
            bench_nng_err(err, errlen, "cannot create a context for", url, rv);
            goto fail;
        }
        s->ctx_open = true;
        nng_aio_set_timeout(s->aio, timeout_ms > 0 ? timeout_ms : 10000);
        b->n_slots = i + 1;
    }
    *out = b;
    return ATP_OK;
fail:
    bench_req_be_close(b);
    return ATP_E_TRANSPORT;
}

void bench_req_be_backend(bench_req_be *b, bench_backend *out)
{
    *out = (bench_backend){
        .system = b->echo ? "echo" : "atpd",
        .ctx = b,
        .slots = b->n_slots,
        .send = bench_req_be_send,
        .cancel = bench_req_be_cancel,
    };
}

void bench_req_be_close(bench_req_be *b)
{
    if (b == NULL)
        return;
    for (unsigned i = 0; i < b->n_slots; i++)
        if (b->slots[i].aio != NULL)
            nng_aio_stop(b->slots[i].aio);
    for (unsigned i = 0; i < b->n_slots; i++) {
        bench_slot *s = &b->slots[i];
        if (s->ctx_open)
            nng_ctx_close(s->ctx);
        if (s->aio != NULL) {
            nng_msg_free(nng_aio_get_msg(s->aio));
            nng_aio_free(s->aio);
        }
        codec_writer_free(s->w);
    }
    for (unsigned i = 0; i < b->n_socks; i++)
        nng_close(b->socks[i]);
    free(b->slots);
    free(b->socks);
    free(b);
}

/* ---- PUB publisher ------------------------------------------------------ */

struct bench_pub {
    nng_socket sock;
    codec_writer *w;
    atomic_bool connected;
};

static void bench_pub_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    bench_pub *pub = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_store(&pub->connected, true);
}

static void bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

atp_err bench_pub_open(const char *url, bench_pub **out, char *err,
                       size_t errlen)
{
    bench_pub *p = calloc(1, sizeof *p);
    if (p == NULL || (p->w = codec_writer_alloc(NULL, NULL)) == NULL) {
        free(p);
        return ATP_E_NOMEM;
    }
    atomic_init(&p->connected, false);
    int rv;
    if ((rv = nng_pub0_open(&p->sock)) != 0) {
        bench_nng_err(err, errlen, "cannot open a PUB socket for", url, rv);
        codec_writer_free(p->w);
        free(p);
        return ATP_E_TRANSPORT;
    }
    if ((rv = nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 8192)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 10)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 100)) != 0 ||
        (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, bench_pub_pipe_cb,
                              p)) != 0 ||
        (rv = tools_tls_dial(p->sock, url, NNG_FLAG_NONBLOCK, NULL, 0)) != 0) {
        bench_nng_err(err, errlen, "cannot dial", url, rv);
        bench_pub_close(p);
        return ATP_E_TRANSPORT;
    }
    for (int i = 0; i < 500 && !atomic_load(&p->connected); i++)
        bench_sleep_ms(10);
    if (!atomic_load(&p->connected)) {
        if (err != NULL)
            snprintf(err, errlen, "cannot connect to %s within 5 s", url);
        bench_pub_close(p);
        return ATP_E_TRANSPORT;
    }
    bench_sleep_ms(150); /* let the subscriber side settle */
    *out = p;
    return ATP_OK;
}

atp_err bench_pub_send(bench_pub *p, const codec_src_msg *m, size_t *bytes)
{
    /* Buffer first, one copy into the message (see bench_req_be_send). */
    codec_writer_reset(p->w);
    codec_src_encode(p->w, m);
    size_t len = 0;
    const void *data = codec_writer_data(p->w, &len);
    nng_msg *msg;
    if (codec_writer_failed(p->w) || nng_msg_alloc(&msg, len) != 0)
        return ATP_E_NOMEM;
    memcpy(nng_msg_body(msg), data, len);
    if (bytes != NULL)
        *bytes = len;
    int rv = nng_sendmsg(p->sock, msg, 0);
    if (rv != 0) {
        nng_msg_free(msg);
        return ATP_E_TRANSPORT;
    }
    return ATP_OK;
}

void bench_pub_close(bench_pub *p)
{
    if (p == NULL)
        return;
    bench_sleep_ms(100); /* linger: let the queue drain */
    nng_close(p->sock);
    codec_writer_free(p->w);
    free(p);
}

/* ---- readiness probe ---------------------------------------------------- */

bool bench_probe_ready(const char *url, int64_t deadline_ns,
                       int64_t *t_ready_ns)
{
    nng_socket s;
    if (nng_req0_open(&s) != 0)
        return false;
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 1);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 5);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 20);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 20);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, BENCH_RECV_MAX);
    bool ready = false;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    if (w == NULL || a == NULL ||
        tools_tls_dial(s, url, NNG_FLAG_NONBLOCK, NULL, 0) != 0)
        goto out;
    /* `ready`: what status says about readiness, and open to a client
     * without a token when atpd has auth.tokens (docs/SECURITY.md). */
    codec_w_map(w, 1);
    codec_w_kv_cstr(w, "op", "ready");
    size_t len;
    const void *req = codec_writer_data(w, &len);
    while (clock_mono_ns() < deadline_ns) {
        if (nng_send(s, (void *)req, len, 0) != 0) {
            bench_sleep_ms(1);
            continue;
        }
        void *buf = NULL;
        size_t n = 0;
        if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) != 0)
            continue;
        int64_t t = clock_mono_ns();
        const codec_val *v;
        bool ok = false, rdy = false;
        if (codec_decode(a, buf, n, &v) == ATP_OK) {
            codec_val_bool(codec_val_get(v, "ok"), &ok);
            if (!codec_val_bool(codec_val_get(v, "ready"), &rdy))
                rdy = ok; /* no ready flag: answering is ready */
        }
        codec_arena_clear(a);
        nng_free(buf, n);
        if (ok && rdy) {
            *t_ready_ns = t;
            ready = true;
            break;
        }
        bench_sleep_ms(1);
    }
out:
    codec_arena_free(a);
    codec_writer_free(w);
    nng_close(s);
    return ready;
}
