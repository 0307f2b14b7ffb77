/*
 * bench_restart.c - how long atpd takes to be ready again after a restart
 * with a large state: N stock positions and R open reservations.
 *
 * Target (docs/PERFORMANCE.md, "Restart"): ready within 1 s for 1,000,000
 * positions and 100,000 open reservations.
 *
 *   bench_restart --atpd BUILD/atpd [--positions 1000000] [--skus 100000]
 *                 [--reservations 100000] [--lines 1] [--threads 32]
 *                 [--restarts 3] [--batch 50000] [--durability sync]
 *                 [--time-limit 900] [--json FILE] [--keep] [--cold]
 *
 * What it does, all on loopback with free ports and a temporary data dir:
 *  1. starts atpd (one region per 5 locations, one source `wms`
 *     authoritative for on_hand everywhere) and notes its RSS when empty;
 *  2. loads N positions = SKUS x (N / SKUS) locations as SET on_hand events,
 *     --batch events per source message over nng PUB (codec_src_encode),
 *     and waits until `sources` shows the last seq applied (a message lost
 *     on the way is sent again from the first missing seq);
 *  3. creates R reservations (--lines lines of qty 1 each, TTL 1 day) from
 *     --threads threads, one REQ socket each (tools/common/client.h), so
 *     durable group commit shares each fsync among the threads;
 *  4. forces a snapshot ({"op": "snapshot"}), stops atpd with SIGTERM;
 *  5. restarts it --restarts times: wall time from just before fork/exec to
 *     the first successful `status` reply (probed by a REQ socket that
 *     redials every 2-5 ms), the restore time atpd logs, the restored
 *     counts (status.positions, status.reservations.open must be exact),
 *     a sample of ATP answers (supply and reserved must match what was
 *     loaded), VmRSS/VmHWM; then SIGTERM again and the stop time.
 * Prints a summary and, with --json, writes it to FILE.
 *
 * Bounded: every wait is bounded by --time-limit (whole run) and smaller
 * per-step limits; atpd is stopped by its pid on every path (atexit,
 * SIGINT/SIGTERM) and dies with this process (PR_SET_PDEATHSIG).
 * Exit status: 0 when every check passed (whatever the times), 1 when a
 * check failed, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/req.h>

#include "atp/wire.h"
#include "bench_proc.h"
#include "client.h"
#include "codec/codec.h"

#define BR_MAX_RESTARTS 20
#define BR_LOCS_PER_REGION 5
#define BR_SAMPLE 200

/* ---- options ------------------------------------------------------------ */

typedef struct br_opts {
    const char *atpd;
    uint64_t positions, skus, reservations;
    unsigned lines, threads, restarts, batch;
    const char *durability;
    int time_limit_s;
    const char *json;
    bool keep, cold;
} br_opts;

static br_opts O = {
    .positions = 1000000,
    .skus = 100000,
    .reservations = 100000,
    .lines = 1,
    .threads = 32,
    .restarts = 3,
    .batch = 50000,
    .durability = "sync",
    .time_limit_s = 900,
};

/* ---- time, errors, the atpd child ------------------------------------- */

static int64_t br_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t br_deadline_ns; /* the whole run */
static volatile pid_t br_child;   /* running atpd, 0 when none */
static char br_tmp[256];

static int64_t br_left_ms(void)
{
    int64_t l = (br_deadline_ns - br_now_ns()) / 1000000;
    return l > 0 ? l : 0;
}

static void br_kill_child(void)
{
    pid_t p = br_child;
    if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        br_child = 0;
    }
}

static void br_cleanup(void)
{
    br_kill_child();
    if (br_tmp[0] != '\0' && !O.keep) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", br_tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_restart: could not remove %s\n", br_tmp);
    }
}

static void br_on_signal(int sig)
{
    pid_t p = br_child;
    if (p > 0)
        kill(p, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void br_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_restart: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (br_tmp[0] != '\0')
        fprintf(stderr, "bench_restart: atpd log: %s/atpd.log%s\n", br_tmp,
                O.keep ? "" : " (removed; --keep keeps it)");
    exit(1);
}

static void br_check_deadline(const char *what)
{
    if (br_left_ms() <= 0)
        br_fail("time limit (%d s) reached during %s", O.time_limit_s, what);
}

static char br_query_url[64], br_ingest_url[64], br_feed_url[64], br_ctl_url[64];
static char br_config[320], br_data[320], br_log[320];

/* Starts atpd; returns the monotonic time just before fork. */
static int64_t br_spawn(void)
{
    int64_t t0 = br_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        br_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(br_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {(char *)O.atpd, "--config", br_config, "--data-dir", br_data,
                        NULL};
        execv(O.atpd, argv);
        _exit(127);
    }
    br_child = pid;
    return t0;
}

/* SIGTERM, wait up to grace_ms, then SIGKILL. Returns the time it took (ms)
 * and sets *clean when atpd exited 0 on SIGTERM. */
static double br_stop(int grace_ms, bool *clean)
{
    pid_t p = br_child;
    *clean = false;
    if (p <= 0)
        return 0;
    int64_t t0 = br_now_ns();
    kill(p, SIGTERM);
    int st = 0;
    for (int i = 0; i < grace_ms; i++) {
        pid_t r = waitpid(p, &st, WNOHANG);
        if (r == p) {
            br_child = 0;
            *clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            return (double)(br_now_ns() - t0) / 1e6;
        }
        usleep(1000);
    }
    fprintf(stderr, "bench_restart: atpd (pid %d) did not stop within %d ms: "
                    "SIGKILL\n", (int)p, grace_ms);
    br_kill_child();
    return (double)(br_now_ns() - t0) / 1e6;
}

static bool br_child_alive(void)
{
    pid_t p = br_child;
    if (p <= 0)
        return false;
    int st;
    if (waitpid(p, &st, WNOHANG) == p) {
        br_child = 0;
        fprintf(stderr, "bench_restart: atpd exited (status %d)\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        return false;
    }
    return true;
}

static long br_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- requests ------------------------------------------------------------ */

typedef struct br_conn {
    client *c;
    codec_writer *w;
    codec_arena *a;
} br_conn;

static void br_conn_open(br_conn *k, int timeout_ms)
{
    char err[256];
    client_opts co = {.url = br_query_url, .timeout_ms = timeout_ms};
    if (client_open(&co, &k->c, err, sizeof err) != ATP_OK)
        br_fail("client: %s", err);
    k->w = codec_writer_alloc(NULL, NULL);
    k->a = codec_arena_alloc();
    if (k->w == NULL || k->a == NULL)
        br_fail("out of memory");
}

static void br_conn_close(br_conn *k)
{
    client_close(k->c);
    codec_writer_free(k->w);
    codec_arena_free(k->a);
    memset(k, 0, sizeof *k);
}

/* Sends what k->w holds; returns the reply map (ok or not), NULL on a
 * transport failure. */
static const codec_val *br_send(br_conn *k)
{
    codec_arena_clear(k->a);
    const codec_val *r = NULL;
    if (client_request(k->c, k->w, k->a, &r) != ATP_OK)
        return NULL;
    return r;
}

static const codec_val *br_op(br_conn *k, const char *op)
{
    codec_writer_reset(k->w);
    codec_w_map(k->w, 1);
    codec_w_kv_cstr(k->w, "op", op);
    return br_send(k);
}

static bool br_ok(const codec_val *r)
{
    bool ok = false;
    return r != NULL && codec_val_bool(codec_val_get(r, "ok"), &ok) && ok;
}

static uint64_t br_u(const codec_val *v)
{
    uint64_t u = 0;
    codec_val_uint(v, &u);
    return u;
}

static void br_print_reply(const char *what, const codec_val *r)
{
    fprintf(stderr, "bench_restart: %s: ", what);
    if (r != NULL)
        codec_val_write_json(r, stderr);
    else
        fprintf(stderr, "(no reply)");
    fprintf(stderr, "\n");
}

/* ---- the data set -------------------------------------------------------- */

static unsigned br_n_locs(void) { return (unsigned)(O.positions / O.skus); }
static unsigned br_n_regions(void)
{
    return (br_n_locs() + BR_LOCS_PER_REGION - 1) / BR_LOCS_PER_REGION;
}
static unsigned br_region_of(unsigned loc) { return loc / BR_LOCS_PER_REGION; }
static int64_t br_on_hand(uint64_t sku, unsigned loc)
{
    return 100 + (int64_t)((sku * 7 + loc * 13) % 900);
}

/* Reservation i, line j: (sku, region). Consecutive reservations spread
 * over SKUs and regions, so every reserved count stays far below supply. */
static void br_resv_line(uint64_t i, unsigned j, uint64_t *sku, unsigned *region)
{
    uint64_t k = i * O.lines + j;
    *sku = k % O.skus;
    *region = (unsigned)((k / O.skus) % br_n_regions());
}

static void br_write_config(void)
{
    FILE *f = fopen(br_config, "w");
    if (f == NULL)
        br_fail("cannot write %s: %s", br_config, strerror(errno));
    fprintf(f,
            "# written by bench_restart\n"
            "service:\n"
            "  query_listen: %s\n  ingest_listen: %s\n  feed_listen: %s\n"
            "  control_listen: %s\n"
            "  data_dir: %s\n"
            "  ingest_recv_max_bytes: 67108864\n"
            "  max_events_per_message: 1000000\n"
            "  query_contexts: 256\n"
            "  log_level: info\n"
            "regions:\n",
            br_query_url, br_ingest_url, br_feed_url, br_ctl_url, br_data);
    for (unsigned r = 0; r < br_n_regions(); r++)
        fprintf(f, "  - id: r%u\n", r);
    fprintf(f, "locations:\n");
    for (unsigned l = 0; l < br_n_locs(); l++)
        fprintf(f, "  - {id: L%u, region: r%u, type: dc}\n", l, br_region_of(l));
    fprintf(f, "channels: [web]\n"
               "sources:\n"
               "  - id: wms\n"
               "    heartbeat_timeout: 1d\n"
               "    authority:\n"
               "      - buckets: [on_hand]\n"
               "        locations: [");
    for (unsigned l = 0; l < br_n_locs(); l++)
        fprintf(f, "%sL%u", l ? ", " : "", l);
    fprintf(f, "]\n"
               "reservations:\n"
               "  durability: %s\n"
               "  default_ttl: 1d\n"
               "  max_ttl: 1d\n"
               "  committed_ttl: 2d\n"
               "  retention: 1h\n",
            O.durability);
    if (fclose(f) != 0)
        br_fail("cannot write %s", br_config);
}

/* ---- readiness probe ---------------------------------------------------- */

/* Dials before atpd listens and redials every 2-5 ms; the first `status`
 * reply is the moment atpd is ready. Returns the monotonic time of the
 * reply, or 0 on failure (atpd died, timeout). */
static int64_t br_wait_ready(int timeout_ms)
{
    nng_socket s;
    int rv;
    if ((rv = nng_req0_open(&s)) != 0)
        br_fail("nng_req0_open: %s", nng_strerror(rv));
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 2);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 5);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 100);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, 60000);
    if ((rv = nng_dial(s, br_query_url, NULL, NNG_FLAG_NONBLOCK)) != 0)
        br_fail("dial %s: %s", br_query_url, nng_strerror(rv));
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    codec_w_map(w, 1);
    codec_w_kv_cstr(w, "op", "status");
    size_t len;
    const void *req = codec_writer_data(w, &len);
    int64_t end = br_now_ns() + (int64_t)timeout_ms * 1000000;
    int64_t got = 0;
    bool sent = false;
    while (got == 0 && br_now_ns() < end && br_child_alive()) {
        if (!sent) {
            /* REQ keeps the request until a pipe is up; a send timeout just
             * means no connection yet. */
            rv = nng_send(s, (void *)req, len, 0);
            if (rv == 0)
                sent = true;
            else if (rv != NNG_ETIMEDOUT)
                break;
            continue;
        }
        void *buf = NULL;
        size_t n = 0;
        rv = nng_recv(s, &buf, &n, NNG_FLAG_ALLOC);
        if (rv == NNG_ETIMEDOUT)
            continue;
        if (rv != 0)
            break;
        int64_t t = br_now_ns();
        const codec_val *r = NULL;
        codec_arena_clear(a);
        if (codec_decode(a, buf, n, &r) == ATP_OK && br_ok(r))
            got = t;
        nng_free(buf, n);
        sent = false; /* not ok: ask again */
    }
    nng_close(s);
    codec_writer_free(w);
    codec_arena_free(a);
    return got;
}

/* ---- loading positions ------------------------------------------------- */

static uint64_t br_source_last_seq(br_conn *k, const char *src)
{
    const codec_val *r = br_op(k, "sources");
    if (!br_ok(r))
        return UINT64_MAX;
    const codec_val *arr = codec_val_get(r, "sources");
    for (uint32_t i = 0; i < codec_val_len(arr); i++) {
        const codec_val *s = codec_val_at(arr, i);
        codec_str id;
        if (codec_val_str(codec_val_get(s, "id"), &id) && codec_str_eq(id, src))
            return br_u(codec_val_get(s, "last_seq"));
    }
    return UINT64_MAX;
}

typedef struct br_msgs {
    void **data;
    size_t *len;
    uint64_t n;
    size_t bytes;
} br_msgs;

static void br_build_messages(br_msgs *m)
{
    uint64_t total = O.skus * br_n_locs();
    m->n = (total + O.batch - 1) / O.batch;
    m->data = calloc(m->n, sizeof *m->data);
    m->len = calloc(m->n, sizeof *m->len);
    codec_event *ev = calloc(O.batch, sizeof *ev);
    char (*skus)[24] = calloc(O.batch, sizeof *skus);
    char (*locs)[8] = calloc(O.batch, sizeof *locs);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (m->data == NULL || m->len == NULL || ev == NULL || skus == NULL ||
        locs == NULL || w == NULL)
        br_fail("out of memory");
    int64_t ts = (int64_t)time(NULL) * 1000;
    for (uint64_t msg = 0; msg < m->n; msg++) {
        uint64_t first = msg * O.batch;
        uint32_t n = (uint32_t)(total - first < O.batch ? total - first : O.batch);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t p = first + i;
            uint64_t sku = p / br_n_locs();
            unsigned loc = (unsigned)(p % br_n_locs());
            int sl = snprintf(skus[i], sizeof skus[i], "S%07" PRIu64, sku);
            int ll = snprintf(locs[i], sizeof locs[i], "L%u", loc);
            ev[i] = (codec_event){.kind = ATP_EV_SET,
                                  .bucket = ATP_BUCKET_ON_HAND,
                                  .sku = {skus[i], (uint32_t)sl},
                                  .location = {locs[i], (uint32_t)ll},
                                  .value = br_on_hand(sku, loc)};
        }
        codec_src_msg sm = {.source = {"wms", 3},
                            .seq = msg + 1,
                            .ts_ms = (uint64_t)ts,
                            .n_events = n,
                            .events = ev,
                            .kind = ATP_MSG_SOURCE_BATCH};
        codec_writer_reset(w);
        codec_src_encode(w, &sm);
        size_t len;
        const void *d = codec_writer_data(w, &len);
        if (codec_writer_failed(w) || (m->data[msg] = malloc(len)) == NULL)
            br_fail("cannot encode source message %" PRIu64, msg + 1);
        memcpy(m->data[msg], d, len);
        m->len[msg] = len;
        m->bytes += len;
    }
    codec_writer_free(w);
    free(ev);
    free(skus);
    free(locs);
}

static void br_free_messages(br_msgs *m)
{
    for (uint64_t i = 0; i < m->n; i++)
        free(m->data[i]);
    free(m->data);
    free(m->len);
}

/* Publishes every message; resends from the first one atpd has not applied
 * when nothing moves for 3 s (PUB drops when a queue is full). */
static double br_load_positions(br_conn *k)
{
    br_msgs m = {0};
    br_build_messages(&m);
    nng_socket pub;
    int rv;
    if ((rv = nng_pub0_open(&pub)) != 0)
        br_fail("nng_pub0_open: %s", nng_strerror(rv));
    nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192);
    nng_socket_set_ms(pub, NNG_OPT_RECONNMINT, 10);
    nng_socket_set_ms(pub, NNG_OPT_RECONNMAXT, 100);
    if ((rv = nng_dial(pub, br_ingest_url, NULL, 0)) != 0)
        br_fail("dial %s: %s", br_ingest_url, nng_strerror(rv));
    usleep(200 * 1000); /* the SUB side delivers once its pipe is set up */
    int64_t t0 = br_now_ns();
    uint64_t next = 0, applied = 0, resends = 0;
    int64_t last_move = br_now_ns();
    while (applied < m.n) {
        br_check_deadline("loading positions");
        if (!br_child_alive())
            br_fail("atpd died while loading positions");
        /* Keep at most 64 messages in flight. */
        while (next < m.n && next < applied + 64) {
            nng_msg *msg;
            if (nng_msg_alloc(&msg, m.len[next]) != 0)
                br_fail("out of memory");
            memcpy(nng_msg_body(msg), m.data[next], m.len[next]);
            if ((rv = nng_sendmsg(pub, msg, 0)) != 0) {
                nng_msg_free(msg);
                br_fail("publish: %s", nng_strerror(rv));
            }
            next++;
        }
        usleep(20 * 1000);
        uint64_t seq = br_source_last_seq(k, "wms");
        if (seq == UINT64_MAX)
            br_fail("`sources` failed while loading (%s)", client_last_error(k->c));
        if (seq > applied) {
            applied = seq;
            last_move = br_now_ns();
        } else if (br_now_ns() - last_move > 3000000000LL) {
            next = applied; /* lost on the way: again from the first missing */
            resends++;
            last_move = br_now_ns();
            if (resends > 20)
                br_fail("positions: seq %" PRIu64 " of %" PRIu64 " applied after "
                        "20 resends", applied, m.n);
        }
    }
    double s = (double)(br_now_ns() - t0) / 1e9;
    printf("loaded   %" PRIu64 " positions in %" PRIu64 " messages (%.1f MB) in "
           "%.2f s: %.0f events/s%s\n",
           O.skus * br_n_locs(), m.n, (double)m.bytes / 1e6, s,
           (double)(O.skus * br_n_locs()) / s, resends ? " (with resends)" : "");
    nng_close(pub);
    br_free_messages(&m);
    return s;
}

/* ---- reservations ------------------------------------------------------- */

typedef struct br_worker {
    pthread_t th;
    unsigned id;
    uint64_t granted, refused, failed;
    char err[256];
} br_worker;

static atomic_bool br_stop_workers;

static void *br_worker_main(void *arg)
{
    br_worker *wk = arg;
    br_conn k;
    br_conn_open(&k, 30000);
    char id[32], sku[24], region[16];
    for (uint64_t i = wk->id; i < O.reservations && !atomic_load(&br_stop_workers);
         i += O.threads) {
        if (br_left_ms() <= 0)
            break;
        codec_writer_reset(k.w);
        codec_w_map(k.w, 5);
        codec_w_kv_cstr(k.w, "op", "reserve");
        snprintf(id, sizeof id, "b-%08" PRIu64, i);
        codec_w_kv_cstr(k.w, "id", id);
        codec_w_kv_cstr(k.w, "channel", "web");
        codec_w_kv_int(k.w, "ttl_ms", 86400000);
        codec_w_cstr(k.w, "lines");
        codec_w_array(k.w, O.lines);
        for (unsigned j = 0; j < O.lines; j++) {
            uint64_t s;
            unsigned r;
            br_resv_line(i, j, &s, &r);
            snprintf(sku, sizeof sku, "S%07" PRIu64, s);
            snprintf(region, sizeof region, "r%u", r);
            codec_w_array(k.w, 3);
            codec_w_cstr(k.w, sku);
            codec_w_cstr(k.w, region);
            codec_w_int(k.w, 1);
        }
        const codec_val *r = br_send(&k);
        bool granted = false;
        if (br_ok(r) && codec_val_bool(codec_val_get(r, "granted"), &granted) &&
            granted) {
            wk->granted++;
        } else if (br_ok(r)) {
            wk->refused++;
        } else {
            wk->failed++;
            if (wk->err[0] == '\0') {
                if (r == NULL) {
                    snprintf(wk->err, sizeof wk->err, "%s", client_last_error(k.c));
                } else {
                    FILE *mf = fmemopen(wk->err, sizeof wk->err - 1, "w");
                    if (mf != NULL) {
                        codec_val_write_json(r, mf);
                        fclose(mf);
                    }
                }
            }
            if (wk->failed > 10)
                break;
        }
    }
    br_conn_close(&k);
    return NULL;
}

static double br_create_reservations(void)
{
    br_worker *w = calloc(O.threads, sizeof *w);
    if (w == NULL)
        br_fail("out of memory");
    int64_t t0 = br_now_ns();
    for (unsigned i = 0; i < O.threads; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].th, NULL, br_worker_main, &w[i]) != 0)
            br_fail("pthread_create");
    }
    uint64_t granted = 0, refused = 0, failed = 0;
    const char *err = NULL;
    for (unsigned i = 0; i < O.threads; i++) {
        pthread_join(w[i].th, NULL);
        granted += w[i].granted;
        refused += w[i].refused;
        failed += w[i].failed;
        if (err == NULL && w[i].err[0])
            err = w[i].err;
    }
    double s = (double)(br_now_ns() - t0) / 1e9;
    printf("reserved %" PRIu64 " reservations x %u line(s) from %u threads in %.2f s: "
           "%.0f/s (%s)\n",
           granted, O.lines, O.threads, s, (double)granted / s, O.durability);
    if (granted != O.reservations)
        br_fail("reservations: %" PRIu64 " granted, %" PRIu64 " refused, %" PRIu64
                " failed of %" PRIu64 "%s%s",
                granted, refused, failed, O.reservations, err ? "; first error: " : "",
                err ? err : "");
    free(w);
    return s;
}

/* ---- restarts ---------------------------------------------------------- */

typedef struct br_run {
    double ready_ms;    /* fork/exec -> first status reply */
    double cpu_ms;      /* atpd's CPU time (user + system) at ready */
    double restore_ms;  /* what atpd logs for the restore scan */
    double stop_ms;     /* SIGTERM -> exit */
    bench_mem mem; /* at ready */
    uint64_t positions, open, memory_bytes;
    bool ok;
} br_run;

/* The restore time atpd logged ("restored ... in N ms") after offset. */
static double br_logged_restore_ms(long offset)
{
    FILE *f = fopen(br_log, "r");
    if (f == NULL)
        return -1;
    fseek(f, offset, SEEK_SET);
    char line[1024];
    double ms = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, "restored ");
        char *q = p ? strstr(p, ") in ") : NULL;
        if (q != NULL)
            ms = strtod(q + 5, NULL);
    }
    fclose(f);
    return ms;
}

/* Checks a sample of SKUs: supply and reserved of each (sku, region). */
static bool br_check_sample(br_conn *k)
{
    /* reserved count per (sku, region) for the sample SKUs */
    unsigned nreg = br_n_regions();
    uint64_t step = O.skus / BR_SAMPLE ? O.skus / BR_SAMPLE : 1;
    bool ok = true;
    for (uint64_t sku = 0; sku < O.skus; sku += step) {
        for (unsigned r = 0; r < nreg; r++) {
            int64_t supply = 0, reserved = 0;
            for (unsigned l = 0; l < br_n_locs(); l++)
                if (br_region_of(l) == r)
                    supply += br_on_hand(sku, l);
            /* lines k = i * lines + j with k % skus == sku and
             * (k / skus) % nreg == r */
            uint64_t total_lines = O.reservations * O.lines;
            for (uint64_t kk = sku + (uint64_t)r * O.skus; kk < total_lines;
                 kk += O.skus * nreg)
                reserved++;
            char s[24], rg[16];
            snprintf(s, sizeof s, "S%07" PRIu64, sku);
            snprintf(rg, sizeof rg, "r%u", r);
            codec_writer_reset(k->w);
            codec_w_map(k->w, 4);
            codec_w_kv_cstr(k->w, "op", "atp");
            codec_w_kv_cstr(k->w, "sku", s);
            codec_w_kv_cstr(k->w, "region", rg);
            codec_w_kv_cstr(k->w, "channel", "web");
            const codec_val *rep = br_send(k);
            int64_t got_s = -1, got_r = -1;
            if (rep != NULL) {
                codec_val_int(codec_val_get(rep, "supply"), &got_s);
                codec_val_int(codec_val_get(rep, "reserved"), &got_r);
            }
            if (!br_ok(rep) || got_s != supply || got_r != reserved) {
                fprintf(stderr, "bench_restart: %s %s: supply %" PRId64 " reserved %" PRId64
                                ", want %" PRId64 " and %" PRId64 "\n",
                        s, rg, got_s, got_r, supply, reserved);
                ok = false;
            }
        }
    }
    return ok;
}

static bool br_drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        return false;
    bool ok = write(fd, "3\n", 2) == 2;
    close(fd);
    return ok;
}

static void br_restart(br_run *run, unsigned i)
{
    if (O.cold && !br_drop_caches())
        fprintf(stderr, "bench_restart: --cold: cannot drop the page cache "
                        "(%s); this run is warm\n", strerror(errno));
    long off = br_file_size(br_log);
    int64_t t0 = br_spawn();
    int64_t t1 = br_wait_ready((int)(br_left_ms() < 120000 ? br_left_ms() : 120000));
    if (t1 == 0)
        br_fail("restart %u: atpd not ready within the limit", i + 1);
    run->ready_ms = (double)(t1 - t0) / 1e6;
    double cpu_s = bench_cpu_s(br_child); /* clock-tick resolution */
    run->cpu_ms = cpu_s >= 0 ? cpu_s * 1000.0 : -1;
    run->restore_ms = br_logged_restore_ms(off < 0 ? 0 : off);
    bench_mem_get(br_child, &run->mem);
    br_conn k;
    br_conn_open(&k, 30000);
    const codec_val *st = br_op(&k, "status");
    if (!br_ok(st))
        br_fail("restart %u: status failed", i + 1);
    run->positions = br_u(codec_val_get(st, "positions"));
    run->open = br_u(codec_val_get(codec_val_get(st, "reservations"), "open"));
    run->memory_bytes = br_u(codec_val_get(st, "engine_memory_bytes"));
    uint64_t skipped =
        br_u(codec_val_get(codec_val_get(st, "reservations"), "load_skipped"));
    run->ok = run->positions == O.skus * br_n_locs() && run->open == O.reservations &&
              skipped == 0;
    if (!run->ok)
        br_print_reply("restored status does not match", st);
    if (!br_check_sample(&k))
        run->ok = false;
    br_conn_close(&k);
    bool clean;
    run->stop_ms = br_stop(120000, &clean);
    if (!clean)
        run->ok = false;
    printf("restart %u: ready in %.1f ms (atpd restore %.0f ms, atpd CPU %.0f ms), positions %" PRIu64
           ", open reservations %" PRIu64 ", VmRSS %.1f MiB (peak %.1f MiB), stop "
           "%.0f ms%s%s\n"
           "          (VmRSS = RssAnon %.1f MiB + RssFile %.1f MiB: LMDB pages read)\n",
           i + 1, run->ready_ms, run->restore_ms, run->cpu_ms, run->positions, run->open,
           run->mem.rss_kb / 1024.0, run->mem.hwm_kb / 1024.0, run->stop_ms,
           clean ? "" : ", UNCLEAN STOP", run->ok ? "" : " CHECK FAILED",
           run->mem.anon_kb / 1024.0, run->mem.file_kb / 1024.0);
}

/* ---- main -------------------------------------------------------------- */

static void br_usage(FILE *f)
{
    fprintf(f,
            "usage: bench_restart --atpd PATH [options]\n"
            "  --positions N     stock positions (default 1000000)\n"
            "  --skus N          SKUs; locations = positions / skus (default 100000)\n"
            "  --reservations N  open reservations (default 100000)\n"
            "  --lines N         lines per reservation (default 1)\n"
            "  --threads N       concurrent REQ clients reserving (default 32)\n"
            "  --restarts N      measured restarts (default 3, at most %d)\n"
            "  --batch N         events per source message (default 50000)\n"
            "  --durability M    sync or nosync (default sync)\n"
            "  --time-limit S    the whole run (default 900)\n"
            "  --json FILE       write the results as JSON\n"
            "  --cold            drop the page cache before each restart (root)\n"
            "  --keep            keep the temp dir (config, data, atpd.log)\n",
            BR_MAX_RESTARTS);
}

static uint64_t br_num(const char *s, const char *what, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench_restart: %s: expected %" PRIu64 "..%" PRIu64 ", got '%s'\n",
                what, min, max, s);
        exit(2);
    }
    return v;
}

static void br_parse(int argc, char **argv)
{
    static const struct option opts[] = {
        {"atpd", required_argument, NULL, 'a'},
        {"positions", required_argument, NULL, 'p'},
        {"skus", required_argument, NULL, 's'},
        {"reservations", required_argument, NULL, 'r'},
        {"lines", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"restarts", required_argument, NULL, 'k'},
        {"batch", required_argument, NULL, 'b'},
        {"durability", required_argument, NULL, 'd'},
        {"time-limit", required_argument, NULL, 'T'},
        {"json", required_argument, NULL, 'j'},
        {"cold", no_argument, NULL, 'C'},
        {"keep", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': O.atpd = optarg; break;
        case 'p': O.positions = br_num(optarg, "--positions", 1, 100000000); break;
        case 's': O.skus = br_num(optarg, "--skus", 1, 10000000); break;
        case 'r': O.reservations = br_num(optarg, "--reservations", 0, 10000000); break;
        case 'l': O.lines = (unsigned)br_num(optarg, "--lines", 1, 100); break;
        case 't': O.threads = (unsigned)br_num(optarg, "--threads", 1, 256); break;
        case 'k': O.restarts = (unsigned)br_num(optarg, "--restarts", 1, BR_MAX_RESTARTS); break;
        case 'b': O.batch = (unsigned)br_num(optarg, "--batch", 1, 1000000); break;
        case 'd': O.durability = optarg; break;
        case 'T': O.time_limit_s = (int)br_num(optarg, "--time-limit", 10, 86400); break;
        case 'j': O.json = optarg; break;
        case 'C': O.cold = true; break;
        case 'K': O.keep = true; break;
        case 'h': br_usage(stdout); exit(0);
        default: br_usage(stderr); exit(2);
        }
    }
    if (O.atpd == NULL || optind < argc) {
        br_usage(stderr);
        exit(2);
    }
    if (strcmp(O.durability, "sync") != 0 && strcmp(O.durability, "nosync") != 0) {
        fprintf(stderr, "bench_restart: --durability: sync or nosync\n");
        exit(2);
    }
    if (O.positions % O.skus != 0 || O.positions / O.skus > 1000) {
        fprintf(stderr, "bench_restart: --positions must be --skus x L "
                        "locations, L <= 1000\n");
        exit(2);
    }
    if (access(O.atpd, X_OK) != 0) {
        fprintf(stderr, "bench_restart: %s: %s\n", O.atpd, strerror(errno));
        exit(2);
    }
}

static void br_machine(FILE *f, bool json)
{
    char model[256] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci != NULL) {
        char line[512];
        while (fgets(line, sizeof line, ci) != NULL)
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p != NULL) {
                    snprintf(model, sizeof model, "%s", p + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(ci);
    }
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) /
                 (1024.0 * 1024 * 1024);
    if (json)
        fprintf(f, "\"machine\": {\"cpu\": \"%s\", \"cpus\": %ld, \"mem_gib\": %.1f, "
                   "\"kernel\": \"%s\"}",
                model, cpus, mem, u.release);
    else
        fprintf(f, "machine: %s, %ld CPUs, %.1f GiB, Linux %s\n", model, cpus, mem,
                u.release);
}

/* The 1-minute load average: other work on the machine skews every time
 * measured here, so it is printed with the results. */
static double br_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int br_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    br_parse(argc, argv);
    br_deadline_ns = br_now_ns() + (int64_t)O.time_limit_s * 1000000000;
    atexit(br_cleanup);
    signal(SIGINT, br_on_signal);
    signal(SIGTERM, br_on_signal);
    signal(SIGPIPE, SIG_IGN);

    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(br_tmp, sizeof br_tmp, "%s/bench-restart-XXXXXX", tmpdir);
    if (mkdtemp(br_tmp) == NULL) {
        br_tmp[0] = '\0';
        br_fail("mkdtemp: %s", strerror(errno));
    }
    snprintf(br_config, sizeof br_config, "%s/atpd.yaml", br_tmp);
    snprintf(br_data, sizeof br_data, "%s/data", br_tmp);
    snprintf(br_log, sizeof br_log, "%s/atpd.log", br_tmp);
    int ports[4];
    for (int i = 0; i < 4; i++) {
        ports[i] = bench_free_port();
        for (int j = 0; j < i; j++)
            if (ports[j] == ports[i])
                ports[i] = 0;
        if (ports[i] == 0 && (ports[i] = bench_free_port()) == 0)
            br_fail("no free port");
    }
    snprintf(br_query_url, sizeof br_query_url, "tcp://127.0.0.1:%d", ports[0]);
    snprintf(br_ingest_url, sizeof br_ingest_url, "tcp://127.0.0.1:%d", ports[1]);
    snprintf(br_feed_url, sizeof br_feed_url, "tcp://127.0.0.1:%d", ports[2]);
    snprintf(br_ctl_url, sizeof br_ctl_url, "tcp://127.0.0.1:%d", ports[3]);
    br_write_config();

    printf("bench_restart: %" PRIu64 " positions (%" PRIu64 " SKUs x %u locations, "
           "%u regions), %" PRIu64 " reservations x %u line(s), %s, %u restarts\n",
           O.positions, O.skus, br_n_locs(), br_n_regions(), O.reservations, O.lines,
           O.durability, O.restarts);
    br_machine(stdout, false);
    printf("data dir: %s\n", br_data);
    fflush(stdout);

    /* 1. empty start */
    int64_t t0 = br_spawn();
    int64_t t1 = br_wait_ready(30000);
    if (t1 == 0)
        br_fail("atpd did not start");
    double empty_ready_ms = (double)(t1 - t0) / 1e6;
    long empty_rss;
    bench_mem mem;
    bench_mem_get(br_child, &mem);
    empty_rss = mem.rss_kb;
    printf("empty    ready in %.1f ms, VmRSS %.1f MiB\n", empty_ready_ms,
           empty_rss / 1024.0);

    /* 2. positions, 3. reservations */
    br_conn k;
    br_conn_open(&k, 60000);
    double load_s = br_load_positions(&k);
    double resv_s = O.reservations ? br_create_reservations() : 0;
    const codec_val *st = br_op(&k, "status");
    if (!br_ok(st) || br_u(codec_val_get(st, "positions")) != O.positions ||
        br_u(codec_val_get(codec_val_get(st, "reservations"), "open")) != O.reservations) {
        br_print_reply("status before the restart", st);
        br_fail("state before the restart is not what was loaded");
    }
    long loaded_rss;
    bench_mem_get(br_child, &mem);
    loaded_rss = mem.rss_kb;

    /* 4. snapshot, stop */
    int64_t ts = br_now_ns();
    st = br_op(&k, "snapshot");
    if (!br_ok(st)) {
        br_print_reply("snapshot", st);
        br_fail("snapshot failed");
    }
    double snap_ms = (double)(br_now_ns() - ts) / 1e6;
    printf("snapshot %" PRIu64 " positions written in %.0f ms (incremental: the "
           "automatic 1 s snapshots already stored the rest); loaded VmRSS %.1f MiB\n",
           br_u(codec_val_get(st, "positions")), snap_ms, loaded_rss / 1024.0);
    br_conn_close(&k);
    bool clean;
    double stop_ms = br_stop(120000, &clean);
    if (!clean)
        br_fail("atpd did not exit 0 on SIGTERM");
    char mdb[400];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", br_data);
    long mdb_bytes = br_file_size(mdb);
    printf("stopped  in %.0f ms; data.mdb %.1f MiB\n", stop_ms, mdb_bytes / 1048576.0);
    fflush(stdout);

    /* 5. restarts */
    br_run runs[BR_MAX_RESTARTS] = {0};
    bool all_ok = true;
    double load_before = br_loadavg();
    double ready[BR_MAX_RESTARTS];
    for (unsigned i = 0; i < O.restarts; i++) {
        br_check_deadline("restarts");
        br_restart(&runs[i], i);
        all_ok = all_ok && runs[i].ok;
        ready[i] = runs[i].ready_ms;
        fflush(stdout);
    }
    double load_after = br_loadavg();
    qsort(ready, O.restarts, sizeof ready[0], br_cmp_double);
    double median = ready[O.restarts / 2], worst = ready[O.restarts - 1];
    long rss = runs[O.restarts - 1].mem.rss_kb, anon = runs[O.restarts - 1].mem.anon_kb;
    double bpp = (double)rss * 1024.0 / (double)O.positions;
    double bpp_net = (double)(rss - empty_rss) * 1024.0 / (double)O.positions;
    double bpp_anon = (double)anon * 1024.0 / (double)O.positions;

    printf("\nsummary: ready after restart: median %.1f ms, worst %.1f ms "
           "(target 1000 ms: %.2fx)\n",
           median, worst, worst / 1000.0);
    printf("         restored VmRSS %.1f MiB = %.0f bytes/position (%.0f above the "
           "empty process); anonymous memory only (without the LMDB pages the\n"
           "         restore read): %.1f MiB = %.0f bytes/position; both include the "
           "%" PRIu64 " reservations\n",
           rss / 1024.0, bpp, bpp_net, anon / 1024.0, bpp_anon, O.reservations);
    printf("         load average (1 min) %.2f before the restarts, %.2f after "
           "(%ld CPUs: above that, atpd waited for a CPU)\n",
           load_before, load_after, sysconf(_SC_NPROCESSORS_ONLN));
    printf("         checks %s\n", all_ok ? "passed" : "FAILED");

    if (O.json != NULL) {
        FILE *f = fopen(O.json, "w");
        if (f == NULL)
            br_fail("cannot write %s: %s", O.json, strerror(errno));
        fprintf(f, "{\"bench\": \"restart\", ");
        br_machine(f, true);
        fprintf(f,
                ", \"positions\": %" PRIu64 ", \"skus\": %" PRIu64 ", \"locations\": %u, "
                "\"regions\": %u, \"reservations\": %" PRIu64 ", \"lines\": %u, "
                "\"threads\": %u, \"durability\": \"%s\", \"cold\": %s, "
                "\"empty_ready_ms\": %.1f, \"empty_rss_bytes\": %ld, "
                "\"load_s\": %.3f, \"reserve_s\": %.3f, \"snapshot_ms\": %.1f, "
                "\"stop_ms\": %.1f, \"loaded_rss_bytes\": %ld, \"data_mdb_bytes\": %ld, "
                "\"restarts\": [",
                O.positions, O.skus, br_n_locs(), br_n_regions(), O.reservations,
                O.lines, O.threads, O.durability, O.cold ? "true" : "false",
                empty_ready_ms, empty_rss * 1024, load_s, resv_s, snap_ms, stop_ms,
                loaded_rss * 1024, mdb_bytes);
        for (unsigned i = 0; i < O.restarts; i++)
            fprintf(f,
                    "%s{\"ready_ms\": %.1f, \"cpu_ms\": %.0f, \"restore_ms\": %.0f, \"stop_ms\": %.1f, "
                    "\"rss_bytes\": %ld, \"hwm_bytes\": %ld, \"rss_anon_bytes\": %ld, "
                    "\"rss_file_bytes\": %ld, \"positions\": %" PRIu64
                    ", \"open\": %" PRIu64 ", \"memory_bytes\": %" PRIu64
                    ", \"ok\": %s}",
                    i ? ", " : "", runs[i].ready_ms, runs[i].cpu_ms, runs[i].restore_ms,
                    runs[i].stop_ms, runs[i].mem.rss_kb * 1024, runs[i].mem.hwm_kb * 1024,
                    runs[i].mem.anon_kb * 1024, runs[i].mem.file_kb * 1024, runs[i].positions, runs[i].open, runs[i].memory_bytes,
                    runs[i].ok ? "true" : "false");
        fprintf(f,
                "], \"ready_median_ms\": %.1f, \"ready_worst_ms\": %.1f, "
                "\"target_ms\": 1000, \"ratio_to_target\": %.3f, "
                "\"bytes_per_position\": %.1f, \"bytes_per_position_above_empty\": %.1f, "
                "\"anon_bytes_per_position\": %.1f, \"loadavg_before\": %.2f, "
                "\"loadavg_after\": %.2f, \"ok\": %s}\n",
                median, worst, worst / 1000.0, bpp, bpp_net, bpp_anon, load_before,
                load_after, all_ok ? "true" : "false");
        fclose(f);
        printf("wrote %s\n", O.json);
    }
    return all_ok ? 0 : 1;
}
