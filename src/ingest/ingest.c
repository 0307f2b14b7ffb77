/*
 * ingest.c - the nng transport of the source feeds: the SUB socket that
 * receives sources' messages and the control PUB socket that sends them
 * resync requests. Runs on the ingest thread (see ingest.h). What happens
 * to a message between the socket and the engine is the nng-free part
 * (core.h: core.c, snapshot.c), which this file feeds.
 */
#include "ingest/ingest.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/assert.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"
#include "ingest/core.h"
#include "tls/tls.h"

/* How often the ingest thread ticks (reorder deadlines, silence, resync
 * retries): well inside the 100 ms reorder window.
 *
 * The thread waits for messages on the socket's readiness fd with poll(),
 * not with a receive timeout: nng 1.5's expiry thread spins on the clock
 * for up to a millisecond whenever an aio times out within the current
 * millisecond, so a 25 ms receive timeout alone kept an idle atpd at
 * ~3.5 % of a CPU. Receives are non-blocking and complete at once. */
#define INGEST_TICK_MS 25
#define INGEST_NNG_MAX_RECVBUF 8192 /* nng 1.5 refuses larger queues */

struct ingest {
    const config *cfg;
    engine *eng;
    sources *src;
    ingest_core *core;
    nng_socket sock;
    bool sock_open;
    int recv_fd;        /* readable while sock has messages queued */
    nng_socket control; /* PUB: resync requests to sources */
    bool control_open;
    codec_writer *w;  /* resync requests (ingest thread) */
    char url[2][256]; /* bound source and control URLs: port 0 resolved */
    uint64_t request_id;
    _Atomic bool stopping; /* the thread leaves by its next tick */
    pthread_t thread;
    bool running;
};

/* ---- hooks of the core -------------------------------------------------- */

static atp_err ingest_submit(void *ctx, const engine_batch *b)
{
    ingest *in = ctx;
    return engine_submit(in->eng, b);
}

static void ingest_msg_free(void *msg)
{
    nng_msg_free(msg);
}

/* ingest_request sends a resync request to source src (control PUB). */
static void ingest_request(void *ctx, uint32_t src, sources_resync_mode mode,
                           uint64_t from_seq)
{
    ingest *in = ctx;
    ATP_ASSERT(src < in->cfg->n_sources);
    const char *id = in->cfg->sources[src].id;
    if (!in->control_open)
        return;
    codec_resync_req r = {.source = {id, (uint32_t)strlen(id)},
                          .snapshot = mode == SOURCES_RESYNC_SNAPSHOT,
                          .from_seq = from_seq,
                          .request_id = ++in->request_id,
                          .ts_ms = clock_wall_ms()};
    codec_writer_reset(in->w);
    codec_resync_encode(in->w, &r);
    size_t len;
    const void *data = codec_writer_data(in->w, &len);
    nng_msg *msg = NULL;
    int rv = codec_writer_failed(in->w) ? NNG_ENOMEM : nng_msg_alloc(&msg, len);
    if (rv == 0) {
        memcpy(nng_msg_body(msg), data, len);
        rv = nng_sendmsg(in->control, msg, 0);
    }
    const char *mode_name = r.snapshot ? "snapshot" : "replay";
    if (rv != 0) {
        if (msg != NULL)
            nng_msg_free(msg);
        log_warn("ingest", "resync request to %s not sent: %s", id,
                 nng_strerror(rv));
        return;
    }
    log_info("ingest", "asked source %s for a %s from seq %llu", id, mode_name,
             (unsigned long long)from_seq);
}

/* ---- the thread --------------------------------------------------------- */

static void ingest_tick(ingest *in)
{
    ingest_core_tick(in->core, clock_mono_ms());
    for (uint32_t r = 0; r < in->cfg->n_regions; r++)
        engine_region_stale_set(in->eng, r, sources_region_stale(in->src, r));
}

static void *ingest_thread_main(void *arg)
{
    thread_name("atp:ingest");
    health_slot *hs = health_thread_add("atp:ingest");
    ingest *in = arg;
    int64_t next_tick = clock_mono_ms();
    while (!atomic_load(&in->stopping)) {
        health_busy(hs);
        nng_msg *msg;
        int rv = nng_recvmsg(in->sock, &msg, NNG_FLAG_NONBLOCK);
        if (rv == 0)
            ingest_core_receive(in->core, msg, nng_msg_body(msg),
                                nng_msg_len(msg), clock_mono_ms());
        else if (rv == NNG_ECLOSED)
            break;
        else if (rv != NNG_EAGAIN)
            log_warn("ingest", "receive failed: %s", nng_strerror(rv));
        int64_t now = clock_mono_ms();
        if (now >= next_tick) {
            ingest_tick(in);
            next_tick = now + INGEST_TICK_MS;
        }
        if (rv == NNG_EAGAIN) { /* nothing queued: a message or the tick */
            struct pollfd p = {.fd = in->recv_fd, .events = POLLIN};
            int64_t wait = next_tick - clock_mono_ms();
            health_idle(hs);
            poll(&p, 1, wait > 0 ? (int)wait : 0);
        }
    }
    health_thread_remove(hs);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static atp_err ingest_fail(const char *what, int rv)
{
    log_error("ingest", "%s: %s", what, nng_strerror(rv));
    return ATP_E_TRANSPORT;
}

const char *ingest_listen_url(const ingest *in, bool control)
{
    return in->url[control ? 1 : 0];
}

atp_err ingest_alloc(const config *cfg, engine *eng, sources *src, ingest **out)
{
    ingest *in = calloc(1, sizeof *in);
    if (in == NULL)
        return ATP_E_NOMEM;
    in->cfg = cfg;
    in->eng = eng;
    in->src = src;
    ingest_hooks hooks = {ingest_submit, ingest_request, ingest_msg_free, in};
    atp_err err = ingest_core_alloc(cfg, src, &hooks, &in->core);
    if (err != ATP_OK)
        goto fail;
    if ((in->w = codec_writer_alloc(NULL, NULL)) == NULL) {
        err = ATP_E_NOMEM;
        goto fail;
    }
    int rv;
    if ((rv = nng_sub0_open(&in->sock)) != 0) {
        err = ingest_fail("cannot open SUB socket", rv);
        goto fail;
    }
    in->sock_open = true;
    /* A hostile or broken peer must not make nng allocate without bound:
     * messages above the limit are dropped by nng and the pipe closed. */
    int recvbuf = cfg->service.ingest_recv_buffer;
    if (recvbuf > INGEST_NNG_MAX_RECVBUF)
        recvbuf = INGEST_NNG_MAX_RECVBUF;
    if ((rv = nng_socket_set(in->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ,
                                  cfg->service.ingest_recv_max_bytes)) != 0 ||
        (rv = nng_socket_set_int(in->sock, NNG_OPT_RECVBUF, recvbuf)) != 0 ||
        (rv = nng_socket_get_int(in->sock, NNG_OPT_RECVFD, &in->recv_fd)) !=
            0) {
        err = ingest_fail("cannot set SUB socket options", rv);
        goto fail;
    }
    if ((err = tls_listen(in->sock, cfg->service.ingest_listen, &cfg->tls,
                          "ingest", in->url[0], sizeof in->url[0])) != ATP_OK)
        goto fail;
    if ((rv = nng_pub0_open(&in->control)) != 0) {
        err = ingest_fail("cannot open the control PUB socket", rv);
        goto fail;
    }
    in->control_open = true;
    /* Requests are few, but never lose one to nng's default queue of 16. */
    nng_socket_set_int(in->control, NNG_OPT_SENDBUF, 1024);
    if ((err = tls_listen(in->control, cfg->service.control_listen, &cfg->tls,
                          "ingest", in->url[1], sizeof in->url[1])) != ATP_OK)
        goto fail;
    /* Until the first tick: every region fed by a source that has not
     * spoken yet is stale. */
    for (uint32_t r = 0; r < cfg->n_regions; r++)
        engine_region_stale_set(eng, r, sources_region_stale(src, r));
    *out = in;
    return ATP_OK;
fail:
    ingest_free(in);
    return err;
}

atp_err ingest_start(ingest *in)
{
    if (pthread_create(&in->thread, NULL, ingest_thread_main, in) != 0)
        return ATP_E_NOMEM;
    in->running = true;
    return ATP_OK;
}

/* Socket closes are bounded (thread_run_bounded: nng 1.5.2's nng_close
 * can wait forever); the process is stopping when they run. */
static void ingest_close_fn(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

void ingest_stop(ingest *in)
{
    /* Let the thread leave by itself (it wakes at least every tick):
     * closing a socket under a blocked nng_recvmsg can make nng 1.5 panic,
     * so the socket is closed only after the join. */
    atomic_store(&in->stopping, true);
    if (in->running) {
        pthread_join(in->thread, NULL);
        in->running = false;
    }
    if (in->sock_open) {
        thread_run_bounded(ingest_close_fn, &in->sock, sizeof in->sock, 1000,
                           "closing the ingest SUB socket");
        in->sock_open = false;
    }
    /* Only now: the ingest thread sends resync requests on it. */
    if (in->control_open) {
        thread_run_bounded(ingest_close_fn, &in->control, sizeof in->control,
                           1000, "closing the resync control PUB socket");
        in->control_open = false;
    }
}

void ingest_free(ingest *in)
{
    if (in == NULL)
        return;
    ingest_stop(in);
    ingest_core_free(in->core);
    codec_writer_free(in->w);
    free(in);
}

void ingest_stats_get(const ingest *in, ingest_stats *out)
{
    ingest_core_stats_get(in->core, out);
}
