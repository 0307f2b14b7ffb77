/*
 * bench_redis.c - the Redis baseline (see bench_redis.h).
 *
 * Threads: bench_redis (setup, preload, reads) is used from the main
 * thread only. A bench_redis_be runs one loop thread that owns the
 * connections; bench_redis_be_send may be called from any thread and hands
 * formatted commands over through be->mu and an eventfd.
 */
#include "bench_redis.h"

#ifndef ATP_BENCH_HAVE_HIREDIS

bool bench_redis_available(void)
{
    return false;
}

static atp_err bench_redis_missing(char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen,
                 "atp-bench was built without hiredis (install libhiredis-dev "
                 "and reconfigure): Redis baseline skipped");
    return ATP_E_INTERNAL;
}

#include <stdio.h>

atp_err bench_redis_open(int port, bench_redis **out, char *err, size_t errlen)
{
    (void)port;
    *out = NULL;
    return bench_redis_missing(err, errlen);
}
atp_err bench_redis_preload(bench_redis *r, const bench_work *w,
                            bench_redis_row_fn row, void *ctx, char *err,
                            size_t errlen)
{
    (void)r, (void)w, (void)row, (void)ctx;
    return bench_redis_missing(err, errlen);
}
void bench_redis_version(bench_redis *r, char *buf, size_t len)
{
    (void)r;
    snprintf(buf, len, "n/a");
}
int64_t bench_redis_field(bench_redis *r, const bench_work *w, uint32_t sku,
                          uint32_t region, const char *field)
{
    (void)r, (void)w, (void)sku, (void)region, (void)field;
    return -1;
}
void bench_redis_close(bench_redis *r)
{
    (void)r;
}
atp_err bench_redis_be_open(bench_redis *r, int port, unsigned n_conns,
                            unsigned n_slots, const bench_work *w,
                            bench_redis_be **out, char *err, size_t errlen)
{
    (void)r, (void)port, (void)n_conns, (void)n_slots, (void)w;
    *out = NULL;
    return bench_redis_missing(err, errlen);
}
void bench_redis_be_backend(bench_redis_be *b, bench_backend *out)
{
    (void)b;
    *out = (bench_backend){0};
}
void bench_redis_be_close(bench_redis_be *b)
{
    (void)b;
}

#else /* ATP_BENCH_HAVE_HIREDIS */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"

bool bench_redis_available(void)
{
    return true;
}

/* Duplicate (sku, region) lines are summed, as atpd does. */
static const char bench_lua_cart[] =
    "local want, all, out = {}, 1, {0}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  want[k] = (want[k] or 0) + tonumber(ARGV[i])\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local v = redis.call('HMGET', k, 's', 'r', 'bu', 'bp')\n"
    "  local s, r = tonumber(v[1]) or 0, tonumber(v[2]) or 0\n"
    "  local b = math.max(tonumber(v[3]) or 0, math.ceil((tonumber(v[4]) or 0) "
    "* s / 10000))\n"
    "  local atp = s - r - b\n"
    "  if atp < 0 then atp = 0 end\n"
    "  local ok = 1\n"
    "  if atp < want[k] then ok = 0; all = 0 end\n"
    "  out[#out + 1] = atp\n"
    "  out[#out + 1] = ok\n"
    "end\n"
    "out[1] = all\n"
    "return out\n";

/* KEYS[1] reservation, KEYS[2..] lines; ARGV[1] ttl_ms, ARGV[2] now_ms,
 * ARGV[3..] quantities. All or nothing; a refusal stores nothing. */
static const char bench_lua_reserve[] =
    "local id = KEYS[1]\n"
    "if redis.call('EXISTS', id) == 1 then return {1, 1} end\n"
    "local want, order = {}, {}\n"
    "for i = 2, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  if want[k] == nil then want[k] = 0; order[#order + 1] = k end\n"
    "  want[k] = want[k] + tonumber(ARGV[i + 1])\n"
    "end\n"
    "for _, k in ipairs(order) do\n"
    "  local v = redis.call('HMGET', k, 's', 'r', 'bu', 'bp')\n"
    "  local s, r = tonumber(v[1]) or 0, tonumber(v[2]) or 0\n"
    "  local b = math.max(tonumber(v[3]) or 0, math.ceil((tonumber(v[4]) or 0) "
    "* s / 10000))\n"
    "  if s - r - b < want[k] then return {0, 0} end\n"
    "end\n"
    "local lines = {}\n"
    "for _, k in ipairs(order) do\n"
    "  redis.call('HINCRBY', k, 'r', want[k])\n"
    "  lines[#lines + 1] = k\n"
    "  lines[#lines + 1] = want[k]\n"
    "end\n"
    "redis.call('HSET', id, 'st', 'held', 'lines', cjson.encode(lines))\n"
    "redis.call('ZADD', 'exp', tonumber(ARGV[2]) + tonumber(ARGV[1]), id)\n"
    "return {1, 0}\n";

/* KEYS[1] reservation; ARGV[1] now_ms, ARGV[2] committed TTL. */
static const char bench_lua_commit[] =
    "local st = redis.call('HGET', KEYS[1], 'st')\n"
    "if not st then return -1 end\n"
    "if st == 'committed' then return 1 end\n"
    "if st ~= 'held' then return -2 end\n"
    "redis.call('HSET', KEYS[1], 'st', 'committed')\n"
    "redis.call('ZADD', 'exp', tonumber(ARGV[1]) + tonumber(ARGV[2]), "
    "KEYS[1])\n"
    "return 0\n";

/* KEYS[1] reservation; ARGV: the line keys to release (none: all). */
static const char bench_lua_release[] =
    "local st = redis.call('HGET', KEYS[1], 'st')\n"
    "if not st then return -1 end\n"
    "if st == 'released' or st == 'expired' then return 1 end\n"
    "if st ~= 'held' and st ~= 'committed' then return -2 end\n"
    "local only = nil\n"
    "if #ARGV > 0 then only = {}; for i = 1, #ARGV do only[ARGV[i]] = true end "
    "end\n"
    "local lines = cjson.decode(redis.call('HGET', KEYS[1], 'lines'))\n"
    "local left = 0\n"
    "for i = 1, #lines, 2 do\n"
    "  if lines[i + 1] > 0 and (only == nil or only[lines[i]]) then\n"
    "    redis.call('HINCRBY', lines[i], 'r', -lines[i + 1])\n"
    "    lines[i + 1] = 0\n"
    "  end\n"
    "  left = left + lines[i + 1]\n"
    "end\n"
    "if left == 0 then\n"
    "  redis.call('HSET', KEYS[1], 'st', 'released', 'lines', "
    "cjson.encode(lines))\n"
    "  redis.call('ZREM', 'exp', KEYS[1])\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'lines', cjson.encode(lines))\n"
    "end\n"
    "return 0\n";

enum {
    BENCH_LUA_CART,
    BENCH_LUA_RESERVE,
    BENCH_LUA_COMMIT,
    BENCH_LUA_RELEASE,
    BENCH_LUA_N
};

struct bench_redis {
    redisContext *c;
    char sha[BENCH_LUA_N][48];
};

static atp_err bench_redis_fail(char *err, size_t errlen, const char *what,
                                const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "redis: %s: %s", what,
                 detail ? detail : "no reply");
    return ATP_E_TRANSPORT;
}

atp_err bench_redis_open(int port, bench_redis **out, char *err, size_t errlen)
{
    bench_redis *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ATP_E_NOMEM;
    struct timeval tv = {5, 0};
    r->c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (r->c == NULL || r->c->err) {
        atp_err e = bench_redis_fail(err, errlen, "cannot connect",
                                     r->c ? r->c->errstr : NULL);
        bench_redis_close(r);
        return e;
    }
    static const char *const src[BENCH_LUA_N] = {
        bench_lua_cart, bench_lua_reserve, bench_lua_commit, bench_lua_release};
    for (int i = 0; i < BENCH_LUA_N; i++) {
        redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", src[i]);
        if (rep == NULL || rep->type != REDIS_REPLY_STRING) {
            atp_err e = bench_redis_fail(err, errlen, "SCRIPT LOAD",
                                         rep ? rep->str : r->c->errstr);
            if (rep)
                freeReplyObject(rep);
            bench_redis_close(r);
            return e;
        }
        snprintf(r->sha[i], sizeof r->sha[i], "%s", rep->str);
        freeReplyObject(rep);
    }
    *out = r;
    return ATP_OK;
}

static int bench_redis_key(char *buf, size_t len, const bench_work *w,
                           uint32_t sku, uint32_t region)
{
    return snprintf(buf, len, "a:%s:%s", w->skus[sku], w->regions[region]);
}

atp_err bench_redis_preload(bench_redis *r, const bench_work *w,
                            bench_redis_row_fn row, void *ctx, char *err,
                            size_t errlen)
{
    uint64_t total = (uint64_t)w->n_skus * w->n_regions, sent = 0, got = 0;
    while (got < total) {
        for (unsigned k = 0; k < 2000 && sent < total; k++, sent++) {
            uint32_t sku = (uint32_t)(sent / w->n_regions),
                     reg = (uint32_t)(sent % w->n_regions);
            int64_t s = 0, bu = 0, bp = 0;
            row(ctx, sku, reg, &s, &bu, &bp);
            char key[160], sv[24], buv[24], bpv[24];
            bench_redis_key(key, sizeof key, w, sku, reg);
            snprintf(sv, sizeof sv, "%lld", (long long)s);
            snprintf(buv, sizeof buv, "%lld", (long long)bu);
            snprintf(bpv, sizeof bpv, "%lld", (long long)bp);
            const char *argv[] = {"HSET", key,  "s", sv,   "r",
                                  "0",    "bu", buv, "bp", bpv};
            redisAppendCommandArgv(r->c, 10, argv, NULL);
        }
        for (; got < sent; got++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || rep == NULL ||
                rep->type == REDIS_REPLY_ERROR) {
                atp_err e = bench_redis_fail(err, errlen, "HSET",
                                             rep ? rep->str : r->c->errstr);
                if (rep)
                    freeReplyObject(rep);
                return e;
            }
            freeReplyObject(rep);
        }
    }
    return ATP_OK;
}

void bench_redis_version(bench_redis *r, char *buf, size_t len)
{
    snprintf(buf, len, "?");
    redisReply *rep = redisCommand(r->c, "INFO server");
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        const char *p = strstr(rep->str, "redis_version:");
        if (p != NULL) {
            p += strlen("redis_version:");
            snprintf(buf, len, "%.*s", (int)strcspn(p, "\r\n"), p);
        }
    }
    if (rep)
        freeReplyObject(rep);
}

int64_t bench_redis_field(bench_redis *r, const bench_work *w, uint32_t sku,
                          uint32_t region, const char *field)
{
    char key[160];
    bench_redis_key(key, sizeof key, w, sku, region);
    redisReply *rep = redisCommand(r->c, "HGET %s %s", key, field);
    int64_t v = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        v = strtoll(rep->str, NULL, 10);
    if (rep)
        freeReplyObject(rep);
    return v;
}

void bench_redis_close(bench_redis *r)
{
    if (r == NULL)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

/* ---- the load backend ---------------------------------------------------- */

typedef struct bench_rpend {
    unsigned slot;
    bench_req *req;
    bench_runner *run;
} bench_rpend;

typedef struct bench_rsub {
    struct bench_rsub *next;
    bench_rpend p;
    char *cmd;
    int len;
} bench_rsub;

typedef struct bench_rconn {
    int fd;
    redisReader *rd;
    char *out;
    size_t out_len, out_off, out_cap;
    bench_rpend *fifo; /* ring of requests in flight, in send order */
    size_t fifo_cap, head, count;
    bool dead;
} bench_rconn;

struct bench_redis_be {
    bench_redis *r;
    const bench_work *w;
    bench_rconn *conns;
    unsigned n_conns, n_slots;
    int evfd;
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu; /* guards subs, stop, cancel */
    bench_rsub *sub_head, *sub_tail;
    bool stop, cancel;
    char first_error[256];
};

static void bench_rpend_fail(bench_rpend *p, int code)
{
    p->req->status = BENCH_ST_ERROR;
    p->req->err_code = code;
    bench_runner_done(p->run, p->slot, p->req);
}

static void bench_rconn_fail_all(bench_rconn *c)
{
    while (c->count > 0) {
        bench_rpend p = c->fifo[c->head];
        c->head = (c->head + 1) % c->fifo_cap;
        c->count--;
        bench_rpend_fail(&p, ATP_E_TRANSPORT);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->dead = true;
}

static int bench_redis_format(bench_redis_be *b, const bench_req *r, char **cmd)
{
    const bench_work *w = b->w;
    uint32_t n = r->n_lines;
    size_t argc_max = 6 + 2 * (size_t)n;
    const char **argv = malloc(argc_max * sizeof *argv);
    size_t *lens = malloc(argc_max * sizeof *lens);
    size_t cap = (size_t)n * 160 + 512, used = 0;
    char *buf = malloc(cap);
    int len = -1;
    if (argv == NULL || lens == NULL || buf == NULL)
        goto out;
    int argc = 0;
#define BR_ARG(...)                                                            \
    do {                                                                       \
        int k_ = snprintf(buf + used, cap - used, __VA_ARGS__);                \
        argv[argc] = buf + used;                                               \
        lens[argc++] = (size_t)k_;                                             \
        used += (size_t)k_ + 1;                                                \
    } while (0)
    char id[96];
    bench_resv_id(w, r->resv, id, sizeof id);
    int64_t now = clock_wall_ms();
    argv[argc] = "EVALSHA";
    lens[argc++] = 7;
    switch (r->op) {
    case BENCH_OP_ATP:
    case BENCH_OP_CART:
        BR_ARG("%s", b->r->sha[BENCH_LUA_CART]);
        BR_ARG("%u", n);
        for (uint32_t i = 0; i < n; i++)
            BR_ARG("a:%s:%s", w->skus[r->lines[i].sku],
                   w->regions[r->lines[i].region]);
        for (uint32_t i = 0; i < n; i++)
            BR_ARG("%lld", (long long)r->lines[i].qty);
        break;
    case BENCH_OP_RESERVE:
        BR_ARG("%s", b->r->sha[BENCH_LUA_RESERVE]);
        BR_ARG("%u", n + 1);
        BR_ARG("r:%s", id);
        for (uint32_t i = 0; i < n; i++)
            BR_ARG("a:%s:%s", w->skus[r->lines[i].sku],
                   w->regions[r->lines[i].region]);
        BR_ARG("%lld", (long long)(r->ttl_ms > 0 ? r->ttl_ms : 900000));
        BR_ARG("%lld", (long long)now);
        for (uint32_t i = 0; i < n; i++)
            BR_ARG("%lld", (long long)r->lines[i].qty);
        break;
    case BENCH_OP_COMMIT:
        BR_ARG("%s", b->r->sha[BENCH_LUA_COMMIT]);
        BR_ARG("1");
        BR_ARG("r:%s", id);
        BR_ARG("%lld", (long long)now);
        BR_ARG("%lld", (long long)w->committed_ttl_ms);
        break;
    case BENCH_OP_RELEASE:
        BR_ARG("%s", b->r->sha[BENCH_LUA_RELEASE]);
        BR_ARG("1");
        BR_ARG("r:%s", id);
        if (r->release_lines)
            for (uint32_t i = 0; i < n; i++)
                BR_ARG("a:%s:%s", w->skus[r->lines[i].sku],
                       w->regions[r->lines[i].region]);
        break;
    default:
        goto out;
    }
#undef BR_ARG
    len = redisFormatCommandArgv(cmd, argc, argv, lens);
out:
    free(argv);
    free(lens);
    free(buf);
    return len;
}

static void bench_redis_classify(bench_redis_be *b, bench_req *r,
                                 redisReply *rep)
{
    r->status = BENCH_ST_ERROR;
    r->err_code = ATP_E_INTERNAL;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (b->first_error[0] == '\0') {
            snprintf(b->first_error, sizeof b->first_error, "%s", rep->str);
            fprintf(stderr, "atp-bench: redis error (first one): %s\n",
                    rep->str);
        }
        return;
    }
    switch (r->op) {
    case BENCH_OP_ATP:
    case BENCH_OP_CART:
    case BENCH_OP_RESERVE:
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER) {
            r->status =
                rep->element[0]->integer == 1 ? BENCH_ST_OK : BENCH_ST_REFUSED;
            r->err_code = ATP_OK;
        }
        break;
    default:
        if (rep->type == REDIS_REPLY_INTEGER) {
            r->status = rep->integer >= 0 ? BENCH_ST_OK : BENCH_ST_ERROR;
            r->err_code = rep->integer >= 0    ? ATP_OK
                          : rep->integer == -1 ? ATP_E_NOT_FOUND
                                               : ATP_E_BAD_STATE;
        }
    }
}

static bool bench_rconn_append(bench_rconn *c, const char *cmd, int len)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + (size_t)len > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 65536;
        while (cap < c->out_len + (size_t)len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (p == NULL)
            return false;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, cmd, (size_t)len);
    c->out_len += (size_t)len;
    return true;
}

static void bench_rconn_flush(bench_rconn *c)
{
    while (!c->dead && c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        bench_rconn_fail_all(c);
        return;
    }
}

static void bench_rconn_read(bench_redis_be *b, bench_rconn *c)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            redisReaderFeed(c->rd, buf, (size_t)n);
            if ((size_t)n < sizeof buf)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        bench_rconn_fail_all(c); /* EOF or error */
        return;
    }
    for (;;) {
        void *rep = NULL;
        if (redisReaderGetReply(c->rd, &rep) != REDIS_OK) {
            bench_rconn_fail_all(c);
            return;
        }
        if (rep == NULL)
            return;
        if (c->count == 0) { /* a reply nobody asked for */
            freeReplyObject(rep);
            continue;
        }
        bench_rpend p = c->fifo[c->head];
        c->head = (c->head + 1) % c->fifo_cap;
        c->count--;
        bench_redis_classify(b, p.req, rep);
        freeReplyObject(rep);
        bench_runner_done(p.run, p.slot, p.req);
    }
}

static void *bench_redis_loop(void *arg)
{
    bench_redis_be *b = arg;
    struct pollfd *pfd = calloc(b->n_conns + 1, sizeof *pfd);
    if (pfd == NULL)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        bench_rsub *s = b->sub_head;
        b->sub_head = b->sub_tail = NULL;
        bool stop = b->stop, cancel = b->cancel;
        pthread_mutex_unlock(&b->mu);
        while (s != NULL) {
            bench_rsub *nx = s->next;
            bench_rconn *c = &b->conns[s->p.slot % b->n_conns];
            if (cancel || c->dead || c->count == c->fifo_cap ||
                !bench_rconn_append(c, s->cmd, s->len)) {
                bench_rpend_fail(&s->p, ATP_E_TRANSPORT);
            } else {
                c->fifo[(c->head + c->count) % c->fifo_cap] = s->p;
                c->count++;
            }
            redisFreeCommand(s->cmd);
            free(s);
            s = nx;
        }
        if (cancel)
            for (unsigned i = 0; i < b->n_conns; i++)
                if (!b->conns[i].dead)
                    bench_rconn_fail_all(&b->conns[i]);
        if (stop)
            break;
        pfd[0] = (struct pollfd){.fd = b->evfd, .events = POLLIN};
        for (unsigned i = 0; i < b->n_conns; i++) {
            bench_rconn *c = &b->conns[i];
            bench_rconn_flush(c);
            pfd[i + 1].fd = c->dead ? -1 : c->fd;
            pfd[i + 1].events =
                POLLIN | (c->out_off < c->out_len ? POLLOUT : 0);
            pfd[i + 1].revents = 0;
        }
        if (poll(pfd, b->n_conns + 1, 100) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rn = read(b->evfd, &v, sizeof v);
            (void)rn;
        }
        for (unsigned i = 0; i < b->n_conns; i++) {
            bench_rconn *c = &b->conns[i];
            if (c->dead)
                continue;
            if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
                bench_rconn_read(b, c);
            if (!c->dead && (pfd[i + 1].revents & POLLOUT))
                bench_rconn_flush(c);
        }
    }
    for (unsigned i = 0; i < b->n_conns; i++)
        if (!b->conns[i].dead)
            bench_rconn_fail_all(&b->conns[i]);
    free(pfd);
    return NULL;
}

static int bench_redis_be_send(void *ctx, bench_runner *run, unsigned slot,
                               bench_req *r)
{
    bench_redis_be *b = ctx;
    bench_rsub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->len = bench_redis_format(b, r, &s->cmd);
    if (s->len < 0) {
        free(s);
        return -1;
    }
    r->req_len = (uint32_t)s->len;
    s->p = (bench_rpend){slot, r, run};
    pthread_mutex_lock(&b->mu);
    bool wake = b->sub_head == NULL;
    if (b->sub_tail)
        b->sub_tail->next = s;
    else
        b->sub_head = s;
    b->sub_tail = s;
    pthread_mutex_unlock(&b->mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t wn = write(b->evfd, &one, sizeof one);
        (void)wn;
    }
    return 0;
}

static void bench_redis_be_cancel(void *ctx)
{
    bench_redis_be *b = ctx;
    pthread_mutex_lock(&b->mu);
    b->cancel = true;
    pthread_mutex_unlock(&b->mu);
    uint64_t one = 1;
    ssize_t wn = write(b->evfd, &one, sizeof one);
    (void)wn;
}

static int bench_redis_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fd;
}

atp_err bench_redis_be_open(bench_redis *r, int port, unsigned n_conns,
                            unsigned n_slots, const bench_work *w,
                            bench_redis_be **out, char *err, size_t errlen)
{
    if (n_conns == 0)
        n_conns = 1;
    if (n_conns > n_slots)
        n_conns = n_slots;
    bench_redis_be *b = calloc(1, sizeof *b);
    if (b == NULL)
        return ATP_E_NOMEM;
    b->r = r;
    b->w = w;
    b->n_slots = n_slots;
    b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&b->mu, NULL);
    b->conns = calloc(n_conns, sizeof *b->conns);
    if (b->conns == NULL || b->evfd < 0) {
        bench_redis_be_close(b);
        return ATP_E_NOMEM;
    }
    for (unsigned i = 0; i < n_conns; i++) {
        bench_rconn *c = &b->conns[i];
        b->n_conns = i + 1;
        c->fd = bench_redis_connect(port);
        c->rd = redisReaderCreate();
        c->fifo_cap = n_slots;
        c->fifo = calloc(n_slots, sizeof *c->fifo);
        if (c->fd < 0 || c->rd == NULL || c->fifo == NULL) {
            if (err != NULL)
                snprintf(err, errlen,
                         "redis: cannot connect to 127.0.0.1:%d: %s", port,
                         strerror(errno));
            bench_redis_be_close(b);
            return ATP_E_TRANSPORT;
        }
    }
    if (pthread_create(&b->th, NULL, bench_redis_loop, b) != 0) {
        bench_redis_be_close(b);
        return ATP_E_NOMEM;
    }
    b->th_started = true;
    *out = b;
    return ATP_OK;
}

void bench_redis_be_backend(bench_redis_be *b, bench_backend *out)
{
    *out = (bench_backend){
        .system = "redis",
        .ctx = b,
        .slots = b->n_slots,
        .send = bench_redis_be_send,
        .cancel = bench_redis_be_cancel,
    };
}

void bench_redis_be_close(bench_redis_be *b)
{
    if (b == NULL)
        return;
    if (b->th_started) {
        pthread_mutex_lock(&b->mu);
        b->stop = true;
        pthread_mutex_unlock(&b->mu);
        uint64_t one = 1;
        ssize_t wn = write(b->evfd, &one, sizeof one);
        (void)wn;
        pthread_join(b->th, NULL);
    }
    for (unsigned i = 0; i < b->n_conns; i++) {
        bench_rconn *c = &b->conns[i];
        if (c->fd >= 0)
            close(c->fd);
        if (c->rd)
            redisReaderFree(c->rd);
        free(c->fifo);
        free(c->out);
    }
    free(b->conns);
    if (b->evfd >= 0)
        close(b->evfd);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

#endif /* ATP_BENCH_HAVE_HIREDIS */
