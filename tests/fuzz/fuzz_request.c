/*
 * fuzz_request.c - libFuzzer target for client requests: request_handle,
 * the function both transports (nng REQ/REP and HTTP, after its JSON body
 * becomes this map) call with the bytes a client sent. It decodes, runs the
 * op against a real engine (started, with stock; no store: persist is NULL,
 * so reservations are answered once the engine decides, snapshots and
 * backups are refused) and writes the reply.
 *
 * Checks, for any input: exactly one reply, written at once or through
 * async->finish within FUZZ_REPLY_WAIT_S; the reply is one msgpack map
 * with "ok", its strings valid UTF-8 and its integers within +-(2^53-1).
 * Threads: the fuzzer's, and the engine thread that answers reservations.
 * Authentication is off (no tokens configured): a token the fuzzer cannot
 * guess would stop every input at the door.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "fuzz.h"
#include "server/request.h"
#include "sources/sources.h"

#define FUZZ_REPLY_WAIT_S 10

static struct {
    config cfg;
    engine *eng;
    sources *src;
    request_env env;
    codec_arena *arena, *reply_arena;
    codec_writer *w;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
} fx = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void fuzz_request_setup(void)
{
    fuzz_config_load(&fx.cfg);
    fuzz_check(engine_alloc(&fx.cfg, NULL, &fx.eng) == ATP_OK &&
                   engine_start(fx.eng) == ATP_OK &&
                   sources_alloc(&fx.cfg, &fx.src) == ATP_OK &&
                   request_env_init(&fx.env, &fx.cfg, fx.eng, fx.src, NULL,
                                    NULL) == ATP_OK,
               "setup: engine, sources, request env");
    fx.arena = codec_arena_alloc();
    fx.reply_arena = codec_arena_alloc();
    fx.w = codec_writer_alloc(NULL, NULL);
    fuzz_check(fx.arena && fx.reply_arena && fx.w, "setup: codec");
    /* Stock at both locations, so that carts and reservations succeed. */
#define EV(loc_, sku_, v_)                                                     \
    {                                                                          \
        .kind = ATP_EV_SET, .bucket = ATP_BUCKET_ON_HAND, .location = loc_,    \
        .sku_len = sizeof sku_ - 1, .sku = sku_, .value = v_                   \
    }
    static const engine_event ev[] = {EV(0, "SKU-1", 50), EV(1, "SKU-1", 7),
                                      EV(1, "A", 1000000)};
#undef EV
    engine_batch b = {.events = ev, .n = sizeof ev / sizeof ev[0]};
    fuzz_check(engine_submit(fx.eng, &b) == ATP_OK &&
                   engine_sync(fx.eng) == ATP_OK,
               "setup: stock");
}

static void fuzz_request_finish(void *owner)
{
    (void)owner;
    pthread_mutex_lock(&fx.mu);
    fuzz_check(!fx.done, "a request was answered twice");
    fx.done = true;
    pthread_cond_signal(&fx.cond);
    pthread_mutex_unlock(&fx.mu);
}

static void fuzz_request_wait(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FUZZ_REPLY_WAIT_S;
    pthread_mutex_lock(&fx.mu);
    int rc = 0;
    while (!fx.done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fx.cond, &fx.mu, &until);
    bool done = fx.done;
    pthread_mutex_unlock(&fx.mu);
    fuzz_check(done, "a request queued for later was never answered");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fx.eng == NULL) {
        fuzz_logs_all();
        fuzz_request_setup();
    }
    /* A copy of exactly size bytes: ASan sees a read past the request. */
    void *buf = malloc(size ? size : 1);
    fuzz_check(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    codec_arena_clear(fx.arena);
    codec_writer_reset(fx.w);
    fx.done = false;
    request_async async = {.finish = fuzz_request_finish, .owner = &fx};
    if (!request_handle(&fx.env, buf, size, fx.arena, fx.w, &async))
        fuzz_request_wait();
    free(buf);

    size_t n;
    const void *reply = codec_writer_data(fx.w, &n);
    fuzz_check(!codec_writer_failed(fx.w) && n > 0, "no reply written");
    const codec_val *v;
    codec_arena_clear(fx.reply_arena);
    fuzz_check(codec_decode(fx.reply_arena, reply, n, &v) == ATP_OK,
               "the reply is not one msgpack value");
    fuzz_check(codec_val_type(v) == CODEC_MAP &&
                   codec_val_type(codec_val_get(v, "ok")) == CODEC_BOOL,
               "the reply is not a map with \"ok\"");
    fuzz_check_sent(v, true);
    return 0;
}
