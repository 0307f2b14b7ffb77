/*
 * atp_feed.c - atp-feed, the source simulator: reads atpd's config, plays
 * one or more of its sources, and publishes their messages (PUB, dialing
 * atpd's ingest endpoint) at a paced rate with deterministic faults. It
 * also answers atpd's resync requests (SUB, dialing atpd's control
 * endpoint): a replay from its bounded log of the exact bytes it generated,
 * or a full snapshot of the state it has produced (docs/PROTOCOL.md,
 * "Resync"; tools/atp-feed/README.md).
 *
 * Single-threaded (nng's own threads aside; the pipe callback only sets an
 * atomic flag, the signal handler only a sig_atomic_t). What is generated
 * and when is decided by generator.c, the produced state is tracked by
 * feed_state.c, the replay log is feed_replay.c, the command line
 * feed_args.c; this file does the clock, the sockets, the log and the
 * summary.
 *
 * Exit codes: 0 done, 1 failed while running (log write error, out of
 * memory), 2 bad arguments or configuration, 3 cannot reach atpd.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "feed_args.h"
#include "feed_log.h"
#include "feed_replay.h"
#include "feed_sign.h"
#include "feed_state.h"
#include "generator.h"
#include "sp_probe.h"
#include "tool_args.h"
#include "tools_tls.h"

/* PUB drops what a peer cannot take yet, so: connect first (retrying while
 * atpd starts), let the subscription side settle, and linger before close
 * so that the queue drains. The values are generous for loopback. */
#define FEED_CONNECT_WAIT_MS 5000
#define FEED_CONNECT_RETRY_MS 100
#define FEED_PIPE_WAIT_MS 1000
#define FEED_SETTLE_MS 200
#define FEED_LINGER_MS 300
#define FEED_SENDBUF 8192
#define FEED_PROGRESS_NS 1000000000LL

/* Resync: replays go out at most FEED_REPLAY_BURST messages per loop turn
 * (PUB drops what its queue cannot take, so a long replay is spread over
 * turns); the control socket is polled at least every FEED_POLL_NS; after
 * the last message, requests are answered until --linger seconds pass
 * without one, FEED_LINGER_MAX_S at most. Both sockets redial quickly
 * after atpd restarts. */
#define FEED_REPLAY_BURST 1024
#define FEED_POLL_NS 2000000LL
#define FEED_RECONNECT_MIN_MS 50
#define FEED_RECONNECT_MAX_MS 500

/* Per source counters for the summary. */
typedef struct feed_stats {
    uint64_t messages; /* generated, dropped ones and heartbeats included */
    uint64_t heartbeats;
    uint64_t events; /* delta and set events in generated messages */
    uint64_t dropped, duplicated, reordered;
    uint64_t sends; /* nng sends: duplicates count twice, drops not at all */
    uint64_t first_seq, last_seq;
    uint64_t skipped;       /* --restart-seq: regenerated, not sent */
    uint64_t lot_events;    /* lot events in generated messages */
    uint64_t requests;      /* resync requests received */
    uint64_t replays;       /* replay requests answered with messages */
    uint64_t replayed;      /* messages resent */
    uint64_t snapshots;     /* full snapshots sent */
    uint64_t snapshot_msgs; /* their parts */
} feed_stats;

/* Per source resync bookkeeping. */
typedef struct feed_src_rt {
    feed_replay log;   /* exact bytes of the last messages */
    feed_state *state; /* what the source has produced */
    bool state_broken; /* out of memory once: no snapshot can be true */
    bool replaying;    /* a replay in progress: next..end still to send */
    uint64_t replay_next, replay_end;
    const char **on_hand; /* locations with on_hand authority */
    size_t n_on_hand;
} feed_src_rt;

/* A message held back by --reorder until its source's next message. */
typedef struct feed_held {
    void *buf;
    size_t len;
    unsigned copies;
} feed_held;

typedef struct feed_run {
    feed_args a;
    config cfg;
    bool cfg_loaded;
    const char *url;
    char url_buf[512];
    feed_source_spec *specs;
    feed_pair *pairs;
    size_t *cfg_index; /* spec i is config source cfg_index[i] */
    size_t n;
    feed_gen *gen;
    feed_sched sched;
    codec_writer *w;
    FILE *log;
    nng_socket sock;
    bool sock_open;
    feed_stats *stats;
    feed_held *held;
    uint64_t send_errors;
    uint64_t bytes;
    int64_t start_ns; /* publishing started (monotonic) */
    int64_t end_ns;
    const char **locs; /* inbound and on_hand location lists, all sources */
    feed_src_rt *rt;
    nng_socket ctl; /* SUB: resync requests from atpd */
    bool ctl_open;
    const char *ctl_url;
    char ctl_url_buf[512];
    codec_arena *ctl_arena;
    uint64_t ctl_bad;     /* undecodable control messages */
    uint64_t snapshot_id; /* last snapshot id sent */
    int64_t last_request_ns;
    int64_t last_t_ns; /* schedule time of the last generated message */
    uint64_t session;  /* sent in every message; 0: none (--session none) */
    uint8_t file_key[CONFIG_KEY_MAX]; /* --key-file's key */
    size_t file_key_len;
} feed_run;

static volatile sig_atomic_t feed_stop_flag;
static atomic_bool feed_pipe_up;

static void feed_on_signal(int sig)
{
    (void)sig;
    feed_stop_flag = 1;
}

/* feed_pipe_cb runs on an nng thread: it only records that a connection
 * exists. */
static void feed_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    (void)arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_store(&feed_pipe_up, true);
}

/* ---- arguments ---------------------------------------------------------- */

/* ---- setup -------------------------------------------------------------- */

static int feed_load_config(feed_run *r)
{
    config_diags diags = {0};
    atp_err e = config_load_file(r->a.config_path, &r->cfg, &diags);
    if (e != ATP_OK) {
        if (e != ATP_E_IO)
            fprintf(stderr, "atp-feed: invalid config %s:\n", r->a.config_path);
        else if (diags.n == 0)
            fprintf(stderr, "atp-feed: cannot read %s\n", r->a.config_path);
        for (size_t i = 0; i < diags.n; i++) {
            const config_diag *d = &diags.items[i];
            if (d->line > 0)
                fprintf(stderr, "%s:%d:%d: %s\n", r->a.config_path, d->line,
                        d->column, d->message);
            else
                fprintf(stderr, "atp-feed: %s\n", d->message);
        }
        config_diags_fini(&diags);
        return FEED_EXIT_USAGE;
    }
    config_diags_fini(&diags);
    r->cfg_loaded = true;
    return FEED_EXIT_OK;
}

static void feed_list_sources(const config *c, FILE *f)
{
    if (c->n_sources == 0) {
        fprintf(f, "(none)");
        return;
    }
    for (size_t i = 0; i < c->n_sources; i++)
        fprintf(f, "%s%s", i > 0 ? ", " : "", c->sources[i].id);
}

/* feed_pick_sources resolves --source ids (or takes every source with an
 * authority) and builds the generator's specs. */
static int feed_pick_sources(feed_run *r)
{
    const config *c = &r->cfg;
    size_t want = r->a.n_sources > 0 ? r->a.n_sources : c->n_sources;
    r->cfg_index = calloc(want > 0 ? want : 1, sizeof *r->cfg_index);
    if (r->cfg_index == NULL)
        return FEED_EXIT_RUNTIME;
    if (r->a.n_sources > 0) {
        for (size_t i = 0; i < r->a.n_sources; i++) {
            const char *id = r->a.sources[i];
            int k = config_source_find(c, id, strlen(id));
            if (k < 0) {
                fprintf(stderr, "atp-feed: unknown source '%s'; %s has: ", id,
                        r->a.config_path);
                feed_list_sources(c, stderr);
                fputc('\n', stderr);
                return FEED_EXIT_USAGE;
            }
            if (c->sources[k].n_authority == 0) {
                fprintf(stderr,
                        "atp-feed: source '%s' has no authority in %s: it "
                        "could only send rejected events\n",
                        id, r->a.config_path);
                return FEED_EXIT_USAGE;
            }
            r->cfg_index[r->n++] = (size_t)k;
        }
    } else {
        for (size_t k = 0; k < c->n_sources; k++)
            if (c->sources[k].n_authority > 0)
                r->cfg_index[r->n++] = k;
        if (r->n == 0) {
            fprintf(stderr,
                    "atp-feed: %s has no source with an authority; nothing "
                    "to generate (sources: ",
                    r->a.config_path);
            feed_list_sources(c, stderr);
            fputs(")\n", stderr);
            return FEED_EXIT_USAGE;
        }
    }
    /* Authority pairs on position buckets become DELTA / SET pairs; the
     * `inbound` ones become the locations of lot events. on_hand pairs are
     * also where a received lot's quantity lands (feed_state). */
    size_t n_pairs = 0;
    for (size_t i = 0; i < r->n; i++)
        n_pairs += c->sources[r->cfg_index[i]].n_authority;
    r->specs = calloc(r->n, sizeof *r->specs);
    r->pairs = calloc(n_pairs ? n_pairs : 1, sizeof *r->pairs);
    r->locs = calloc(n_pairs ? n_pairs : 1, sizeof *r->locs);
    r->rt = calloc(r->n, sizeof *r->rt);
    if (r->specs == NULL || r->pairs == NULL || r->locs == NULL ||
        r->rt == NULL)
        return FEED_EXIT_RUNTIME;
    size_t p = 0, l = 0;
    for (size_t i = 0; i < r->n; i++) {
        const config_source *s = &c->sources[r->cfg_index[i]];
        feed_source_spec *sp = &r->specs[i];
        sp->id = s->id;
        sp->pairs = &r->pairs[p];
        for (size_t j = 0; j < s->n_authority; j++) {
            if (s->authority[j].bucket >= ATP_BUCKET_COUNT)
                continue;
            r->pairs[p].location = c->locations[s->authority[j].location].id;
            r->pairs[p].bucket = s->authority[j].bucket;
            p++;
            sp->n_pairs++;
        }
        sp->inbound = &r->locs[l];
        for (size_t j = 0; j < s->n_authority; j++)
            if (s->authority[j].bucket == ATP_AUTH_INBOUND) {
                r->locs[l++] = c->locations[s->authority[j].location].id;
                sp->n_inbound++;
            }
        r->rt[i].on_hand = &r->locs[l];
        for (size_t j = 0; j < s->n_authority; j++)
            if (s->authority[j].bucket == ATP_BUCKET_ON_HAND) {
                r->locs[l++] = c->locations[s->authority[j].location].id;
                r->rt[i].n_on_hand++;
            }
    }
    return FEED_EXIT_OK;
}

/* feed_check_sizes refuses a --batch that atpd would refuse: more events
 * than service.max_events_per_message, or a message that may exceed
 * service.ingest_recv_max_bytes (nng would then drop the connection). */
static int feed_check_sizes(feed_run *r)
{
    const config_service *svc = &r->cfg.service;
    if (r->a.batch > svc->max_events_per_message) {
        char b[32], m[32];
        snprintf(b, sizeof b, "%" PRIu64, r->a.batch);
        snprintf(m, sizeof m, "%" PRIu32, svc->max_events_per_message);
        fprintf(stderr,
                "atp-feed: --batch %s exceeds the config's "
                "service.max_events_per_message %s\n",
                b, m);
        return FEED_EXIT_USAGE;
    }
    size_t loc_max = 0;
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < r->specs[i].n_pairs; j++) {
            size_t l = strlen(r->specs[i].pairs[j].location);
            if (l > loc_max)
                loc_max = l;
        }
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < r->specs[i].n_inbound; j++) {
            size_t l = strlen(r->specs[i].inbound[j]);
            if (l > loc_max)
                loc_max = l;
        }
    /* msgpack worst case: array header, kind, sku and location strings
     * with 2-byte headers, bucket, a 9-byte integer; a lot event has a
     * lot id and two integers instead of the bucket and value. */
    size_t per_event = 1 + 1 + (2 + ATP_SKU_MAX_LEN) + (2 + loc_max) + 1 + 9;
    size_t per_lot = 1 + 1 + (2 + ATP_SKU_MAX_LEN) + (2 + loc_max) +
                     (2 + FEED_LOT_ID_MAX) + 9 + 9;
    if (per_lot > per_event)
        per_event = per_lot;
    size_t envelope = 1 + 1 + (2 + ATP_ID_MAX_LEN) + 9 + 9 + 5;
    size_t snap_envelope = envelope + 9 + 9 + 9 + 1;
    size_t worst = envelope + (size_t)r->a.batch * per_event;
    size_t worst_snap = snap_envelope + (size_t)r->a.snapshot_part * per_event;
    if (worst > svc->ingest_recv_max_bytes ||
        worst_snap > svc->ingest_recv_max_bytes) {
        bool snap = worst_snap > svc->ingest_recv_max_bytes;
        fprintf(stderr,
                "atp-feed: %s %" PRIu64 " may make messages of up to "
                "%zu bytes, above the config's "
                "service.ingest_recv_max_bytes %zu; lower it\n",
                snap ? "--snapshot-part" : "--batch",
                snap ? r->a.snapshot_part : r->a.batch,
                snap ? worst_snap : worst, svc->ingest_recv_max_bytes);
        return FEED_EXIT_USAGE;
    }
    if (r->a.snapshot_part > svc->max_events_per_message) {
        fprintf(stderr,
                "atp-feed: --snapshot-part %" PRIu64 " exceeds the config's "
                "service.max_events_per_message %" PRIu32 "\n",
                r->a.snapshot_part, svc->max_events_per_message);
        return FEED_EXIT_USAGE;
    }
    return FEED_EXIT_OK;
}

static void feed_resolve_url(feed_run *r)
{
    r->url =
        tools_dial_url(r->a.endpoint, r->cfg.service.ingest_listen,
                       ATP_DEFAULT_INGEST_URL, r->url_buf, sizeof r->url_buf);
    r->ctl_url = tools_dial_url(r->a.control, r->cfg.service.control_listen,
                                ATP_DEFAULT_CONTROL_URL, r->ctl_url_buf,
                                sizeof r->ctl_url_buf);
}

static void feed_sleep_until_ns(int64_t deadline)
{
    struct timespec ts = {.tv_sec = deadline / 1000000000LL,
                          .tv_nsec = deadline % 1000000000LL};
    /* EINTR (a signal) just returns early; callers re-check the flag. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void feed_sleep_ms(int64_t ms)
{
    feed_sleep_until_ns(clock_mono_ns() + ms * 1000000LL);
}

static int feed_connect(feed_run *r)
{
    int rv = nng_pub0_open(&r->sock);
    if (rv != 0) {
        fprintf(stderr, "atp-feed: cannot open a PUB socket: %s\n",
                nng_strerror(rv));
        return FEED_EXIT_TRANSPORT;
    }
    r->sock_open = true;
    if ((rv = nng_socket_set_int(r->sock, NNG_OPT_SENDBUF, FEED_SENDBUF)) !=
            0 ||
        (rv = nng_socket_set_ms(r->sock, NNG_OPT_RECONNMINT,
                                FEED_RECONNECT_MIN_MS)) != 0 ||
        (rv = nng_socket_set_ms(r->sock, NNG_OPT_RECONNMAXT,
                                FEED_RECONNECT_MAX_MS)) != 0 ||
        (rv = nng_pipe_notify(r->sock, NNG_PIPE_EV_ADD_POST, feed_pipe_cb,
                              NULL)) != 0) {
        fprintf(stderr, "atp-feed: cannot configure the socket: %s\n",
                nng_strerror(rv));
        return FEED_EXIT_TRANSPORT;
    }
    /* Another kind of socket at the URL (atpd's query port) lets the dial
     * below succeed and every message vanish (nng drops the mismatched
     * pipe): say what it is, at once. */
    char why[384];
    if (sp_probe(r->url, SP_PROTO_PUB, SP_PROTO_SUB, FEED_CONNECT_WAIT_MS, why,
                 sizeof why) == ATP_E_BAD_REQUEST) {
        fprintf(stderr,
                "atp-feed: %s\natp-feed: --endpoint must name atpd's source "
                "feed port (service.ingest_listen)\n",
                why);
        return FEED_EXIT_USAGE;
    }
    /* A synchronous dial fails at once when nothing listens; retry while
     * atpd may still be starting, bounded by FEED_CONNECT_WAIT_MS. */
    int64_t deadline = clock_mono_ms() + FEED_CONNECT_WAIT_MS;
    for (;;) {
        char tls_why[256];
        rv = tools_tls_dial(r->sock, r->url, 0, tls_why, sizeof tls_why);
        if (rv == 0)
            break;
        if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL) {
            fprintf(stderr, "atp-feed: cannot dial '%s': %s\n", r->url,
                    tls_why[0] != '\0' ? tls_why : nng_strerror(rv));
            return FEED_EXIT_USAGE;
        }
        if (clock_mono_ms() >= deadline || feed_stop_flag) {
            fprintf(stderr,
                    "atp-feed: cannot connect to %s within %d ms: %s; is "
                    "atpd running (make run), or is --endpoint wrong?\n",
                    r->url, FEED_CONNECT_WAIT_MS, nng_strerror(rv));
            return FEED_EXIT_TRANSPORT;
        }
        feed_sleep_ms(FEED_CONNECT_RETRY_MS);
    }
    int64_t pipe_deadline = clock_mono_ms() + FEED_PIPE_WAIT_MS;
    while (!atomic_load(&feed_pipe_up) && clock_mono_ms() < pipe_deadline)
        feed_sleep_ms(10);
    /* The subscriber needs a moment after the pipe is up before PUB
     * delivers to it; without this the first messages can vanish. */
    feed_sleep_ms(FEED_SETTLE_MS);
    return FEED_EXIT_OK;
}

/* feed_connect_control opens the SUB socket for resync requests, subscribed
 * to "resync" NUL id NUL of every played source, and dials atpd's control
 * endpoint in the background: atpd may not listen yet (or restart later);
 * nng keeps redialing. Requests sent while no pipe is up are lost, and
 * atpd asks again (service.resync_retry). */
static int feed_connect_control(feed_run *r)
{
    if (r->a.no_resync)
        return FEED_EXIT_OK;
    int rv = nng_sub0_open(&r->ctl);
    if (rv != 0) {
        fprintf(stderr, "atp-feed: cannot open a SUB socket: %s\n",
                nng_strerror(rv));
        return FEED_EXIT_TRANSPORT;
    }
    r->ctl_open = true;
    for (size_t i = 0; i < r->n && rv == 0; i++) {
        char topic[sizeof ATP_RESYNC_TOPIC + ATP_ID_MAX_LEN + 1];
        size_t tl = strlen(ATP_RESYNC_TOPIC), il = strlen(r->specs[i].id);
        memcpy(topic, ATP_RESYNC_TOPIC, tl + 1);
        memcpy(topic + tl + 1, r->specs[i].id, il + 1);
        rv = nng_socket_set(r->ctl, NNG_OPT_SUB_SUBSCRIBE, topic, tl + il + 2);
    }
    if (rv == 0)
        rv = nng_socket_set_ms(r->ctl, NNG_OPT_RECONNMINT,
                               FEED_RECONNECT_MIN_MS);
    if (rv == 0)
        rv = nng_socket_set_ms(r->ctl, NNG_OPT_RECONNMAXT,
                               FEED_RECONNECT_MAX_MS);
    if (rv != 0) {
        fprintf(stderr, "atp-feed: cannot configure the control socket: %s\n",
                nng_strerror(rv));
        return FEED_EXIT_TRANSPORT;
    }
    char tls_why[256];
    rv = tools_tls_dial(r->ctl, r->ctl_url, NNG_FLAG_NONBLOCK, tls_why,
                        sizeof tls_why);
    if (rv != 0) {
        fprintf(stderr, "atp-feed: cannot dial the control endpoint '%s': %s\n",
                r->ctl_url, tls_why[0] != '\0' ? tls_why : nng_strerror(rv));
        return FEED_EXIT_USAGE;
    }
    r->ctl_arena = codec_arena_alloc();
    if (r->ctl_arena == NULL) {
        fprintf(stderr, "atp-feed: out of memory\n");
        return FEED_EXIT_RUNTIME;
    }
    return FEED_EXIT_OK;
}

/* ---- sending ------------------------------------------------------------ */

static void feed_send_bytes(feed_run *r, const void *buf, size_t len,
                            unsigned copies, size_t src)
{
    for (unsigned c = 0; c < copies; c++) {
        /* nng_send copies the buffer (no NNG_FLAG_ALLOC); PUB never blocks. */
        int rv = nng_send(r->sock, (void *)buf, len, 0);
        if (rv != 0) {
            if (r->send_errors++ == 0)
                fprintf(stderr, "atp-feed: send failed: %s\n",
                        nng_strerror(rv));
            continue;
        }
        r->stats[src].sends++;
        r->bytes += len;
    }
}

static void feed_release_held(feed_run *r, size_t src)
{
    feed_held *h = &r->held[src];
    if (h->buf == NULL)
        return;
    feed_send_bytes(r, h->buf, h->len, h->copies, src);
    free(h->buf);
    h->buf = NULL;
}

/* feed_ts: the timestamp of a message due at schedule time t_ns. */
static uint64_t feed_ts(const feed_run *r, int64_t t_ns)
{
    return r->a.ts_start_set ? r->a.ts_start + (uint64_t)(t_ns / 1000000)
                             : (uint64_t)clock_wall_ms();
}

/* feed_key: spec src's key (--key-file, else the config's key_file),
 * *len 0: none. */
static const uint8_t *feed_key(const feed_run *r, size_t src, size_t *len)
{
    if (r->file_key_len > 0) {
        *len = r->file_key_len;
        return r->file_key;
    }
    const config_source *cs = &r->cfg.sources[r->cfg_index[src]];
    *len = cs->key_len;
    return cs->key;
}

/* feed_encode writes m (its original seq and timestamp) of spec src into
 * r->w with the run's session, signed with the source's key if it has one
 * (docs/PROTOCOL.md, "Source keys": the MAC covers every byte before it),
 * and returns the bytes (valid until the next encode), or NULL. */
static const void *feed_encode(feed_run *r, size_t src, const codec_src_msg *sm,
                               size_t *len)
{
    size_t key_len;
    const uint8_t *key = feed_key(r, src, &key_len);
    codec_src_msg m = *sm;
    m.session = r->session;
    const void *buf = feed_sign_encode(r->w, &m, key, key_len, len);
    if (buf == NULL)
        fprintf(stderr, "atp-feed: cannot encode a message\n");
    return buf;
}

/* feed_track records a generated message for resync: its bytes in the
 * replay log, its events in the source's state. Dropped messages too:
 * a replay or a snapshot is how they reach atpd after all. */
static void feed_track(feed_run *r, const feed_msg *m, const void *buf,
                       size_t len)
{
    feed_src_rt *rt = &r->rt[m->source];
    if (feed_replay_add(&rt->log, m->seq, buf, len) != ATP_OK)
        fprintf(stderr, "atp-feed: out of memory: replay log of %s emptied\n",
                m->source_id);
    if (!rt->state_broken &&
        feed_state_apply(rt->state, m->events, m->n_events) != ATP_OK) {
        rt->state_broken = true;
        fprintf(stderr,
                "atp-feed: out of memory: the state of %s is incomplete; no "
                "snapshot will be sent for it\n",
                m->source_id);
    }
}

/* feed_emit logs, counts, records and sends one generated message, holding
 * it back when it is to be reordered and releasing the source's held
 * message right after. With skip (--restart-seq), the message is only
 * recorded: the earlier run sent and logged it. Returns FEED_EXIT_OK or
 * FEED_EXIT_RUNTIME. */
static int feed_emit(feed_run *r, const feed_msg *m, uint64_t ts_ms, bool skip)
{
    feed_stats *st = &r->stats[m->source];
    codec_src_msg sm = {
        .source = {m->source_id, (uint32_t)strlen(m->source_id)},
        .seq = m->seq,
        .ts_ms = ts_ms,
        .n_events = m->n_events,
        .events = m->events,
    };
    size_t len = 0;
    const void *buf = feed_encode(r, m->source, &sm, &len);
    if (buf == NULL)
        return FEED_EXIT_RUNTIME;
    feed_track(r, m, buf, len);
    if (skip) {
        st->skipped++;
        return FEED_EXIT_OK;
    }
    if (st->messages++ == 0)
        st->first_seq = m->seq;
    st->last_seq = m->seq;
    if (m->heartbeat)
        st->heartbeats++;
    else
        st->events += m->n_events;
    for (uint32_t i = 0; i < m->n_events; i++)
        st->lot_events += m->events[i].kind >= ATP_EV_LOT_ADD;
    st->dropped += m->dropped;
    st->duplicated += m->copies == 2;
    st->reordered += m->reordered;
    if (r->log != NULL && feed_log_write(r->log, m, ts_ms) != 0) {
        fprintf(stderr, "atp-feed: cannot write %s: %s\n", r->a.log_path,
                strerror(errno));
        return FEED_EXIT_RUNTIME;
    }
    if (!m->dropped) {
        if (m->reordered) {
            feed_held *h = &r->held[m->source];
            h->buf = malloc(len);
            if (h->buf == NULL) {
                fprintf(stderr, "atp-feed: out of memory\n");
                return FEED_EXIT_RUNTIME;
            }
            memcpy(h->buf, buf, len);
            h->len = len;
            h->copies = m->copies;
            return FEED_EXIT_OK; /* the generator never holds two */
        }
        feed_send_bytes(r, buf, len, m->copies, m->source);
    }
    /* "Right after the next message": also when that one was dropped. */
    feed_release_held(r, m->source);
    return FEED_EXIT_OK;
}

/* ---- resync: answering atpd's requests ----------------------------------- */

/* feed_reply_ts: the timestamp of a snapshot sent now. */
static uint64_t feed_reply_ts(const feed_run *r)
{
    return feed_ts(r, r->last_t_ns);
}

/* feed_note logs what was done about a request: a JSON line in --log, a
 * line on stderr unless --quiet. */
static void feed_note(feed_run *r, bool snapshot, feed_resync_note *n)
{
    n->ts_ms = feed_reply_ts(r);
    if (r->log != NULL) {
        int rc = snapshot ? feed_log_snapshot(r->log, n)
                          : feed_log_replay(r->log, n);
        if (rc != 0 || fflush(r->log) != 0)
            fprintf(stderr, "atp-feed: cannot write %s: %s\n", r->a.log_path,
                    strerror(errno));
    }
    if (r->a.quiet)
        return;
    if (snapshot)
        fprintf(stderr,
                "atp-feed: %s: snapshot %" PRIu64
                " consistent with seq %" PRIu64 " (%" PRIu32 " parts, %" PRIu64
                " positions, %" PRIu64 " lots) for %s request %" PRIu64
                "%s%s\n",
                n->source, n->snapshot_id, n->seq, n->parts, n->positions,
                n->lots, n->mode, n->request_id, n->reason ? ": " : "",
                n->reason ? n->reason : "");
    else if (n->messages > 0)
        fprintf(stderr,
                "atp-feed: %s: replay of seq %" PRIu64 "..%" PRIu64 " (%" PRIu64
                " messages) for request %" PRIu64 "\n",
                n->source, n->first_seq, n->last_seq, n->messages,
                n->request_id);
    else
        fprintf(stderr,
                "atp-feed: %s: replay from seq %" PRIu64 " (request %" PRIu64
                "): nothing sent: %s\n",
                n->source, n->from_seq, n->request_id,
                n->reason ? n->reason : "");
}

/* feed_send_snapshot sends the source's full state, consistent with the
 * last seq it generated, in parts of --snapshot-part events, and cancels a
 * replay in progress (the snapshot covers it). */
static void feed_send_snapshot(feed_run *r, size_t src, feed_resync_note *n)
{
    feed_src_rt *rt = &r->rt[src];
    rt->replaying = false;
    codec_event *evs = NULL;
    size_t n_evs = 0;
    if (rt->state_broken ||
        feed_state_events(rt->state, &evs, &n_evs) != ATP_OK) {
        fprintf(stderr,
                "atp-feed: %s: cannot send a snapshot: out of memory while "
                "tracking the state\n",
                r->specs[src].id);
        return;
    }
    uint64_t part_max = r->a.snapshot_part;
    uint32_t parts =
        n_evs == 0 ? 1 : (uint32_t)((n_evs + part_max - 1) / part_max);
    n->snapshot_id = ++r->snapshot_id;
    n->seq = feed_gen_next_seq(r->gen, src) - 1;
    n->parts = parts;
    n->events = n_evs;
    n->lots = feed_state_lots(rt->state);
    n->positions = n_evs - n->lots;
    uint64_t ts = feed_reply_ts(r);
    for (uint32_t p = 0; p < parts; p++) {
        size_t off = (size_t)p * part_max;
        size_t cnt = n_evs - off < part_max ? n_evs - off : part_max;
        codec_src_msg sm = {
            .kind = ATP_MSG_SNAPSHOT,
            .source = {r->specs[src].id, (uint32_t)strlen(r->specs[src].id)},
            .seq = n->seq,
            .ts_ms = ts,
            .n_events = (uint32_t)cnt,
            .events = evs + off,
            .snapshot_id = n->snapshot_id,
            .part = p,
            .last = p + 1 == parts,
        };
        size_t len;
        const void *buf = feed_encode(r, src, &sm, &len);
        if (buf == NULL)
            return;
        feed_send_bytes(r, buf, len, 1, src);
    }
    r->stats[src].snapshots++;
    r->stats[src].snapshot_msgs += parts;
    feed_note(r, true, n);
}

/* feed_on_request answers one request of source src. */
static void feed_on_request(feed_run *r, size_t src, bool snapshot,
                            uint64_t from, uint64_t request_id)
{
    feed_src_rt *rt = &r->rt[src];
    r->stats[src].requests++;
    feed_resync_note n = {
        .source = r->specs[src].id,
        .request_id = request_id,
        .mode = snapshot ? "snapshot" : "replay",
        .from_seq = from,
    };
    if (snapshot) {
        n.reason = "requested";
        feed_send_snapshot(r, src, &n);
        return;
    }
    uint64_t next = feed_gen_next_seq(r->gen, src);
    if (from >= next) {
        /* Nothing generated at or after from_seq. from == next is the
         * usual restart question ("anything after my offset?"); beyond it,
         * atpd applied seqs this feeder has not generated yet (a fresh
         * feeder against an atpd that kept its offset): until this feeder
         * reaches from_seq its messages are duplicates to atpd. */
        n.reason = from == next
                       ? "nothing generated after the requested seq yet"
                       : "atpd is ahead of this feeder: its messages below "
                         "from_seq are duplicates there (continue an earlier "
                         "run with --restart-seq, or the same seed and "
                         "arguments)";
        feed_note(r, false, &n);
        return;
    }
    uint64_t first, last;
    if (!feed_replay_range(&rt->log, &first, &last) || from < first) {
        n.reason = "the replay log does not reach back to from_seq";
        feed_send_snapshot(r, src, &n);
        return;
    }
    /* Resend from..last; a replay in progress goes back if need be (a
     * retry means atpd still misses from_seq). */
    if (!rt->replaying || from < rt->replay_next)
        rt->replay_next = from;
    rt->replay_end = last;
    rt->replaying = true;
    r->stats[src].replays++;
    n.first_seq = from;
    n.last_seq = last;
    n.messages = last - from + 1;
    feed_note(r, false, &n);
}

/* feed_handle_request decodes one control message (codec_resync_decode)
 * and answers it when it names a source this run plays. */
static void feed_handle_request(feed_run *r, const char *buf, size_t len)
{
    codec_arena_clear(r->ctl_arena);
    codec_resync_req q;
    size_t src = r->n;
    if (codec_resync_decode(r->ctl_arena, buf, len, &q) == ATP_OK)
        for (size_t i = 0; i < r->n; i++)
            if (codec_str_eq(q.source, r->specs[i].id))
                src = i;
    if (src == r->n) {
        r->ctl_bad++;
        return;
    }
    r->last_request_ns = clock_mono_ns();
    feed_on_request(r, src, q.snapshot, q.from_seq, q.request_id);
}

/* feed_poll_control takes the requests that arrived, without blocking. */
static void feed_poll_control(feed_run *r)
{
    if (!r->ctl_open)
        return;
    for (int k = 0; k < 64; k++) { /* bounded per turn */
        void *buf = NULL;
        size_t len = 0;
        int rv =
            nng_recv(r->ctl, &buf, &len, NNG_FLAG_NONBLOCK | NNG_FLAG_ALLOC);
        if (rv != 0)
            return;
        feed_handle_request(r, buf, len);
        nng_free(buf, len);
    }
}

/* feed_pump_replays sends up to FEED_REPLAY_BURST replayed messages per
 * source; returns true while some replay is still in progress. */
static bool feed_pump_replays(feed_run *r)
{
    bool busy = false;
    for (size_t i = 0; i < r->n; i++) {
        feed_src_rt *rt = &r->rt[i];
        for (int k = 0; rt->replaying && k < FEED_REPLAY_BURST; k++) {
            const void *buf;
            size_t len;
            if (!feed_replay_get(&rt->log, rt->replay_next, &buf, &len)) {
                /* Evicted while the replay was in progress. */
                feed_resync_note n = {
                    .source = r->specs[i].id,
                    .mode = "replay",
                    .from_seq = rt->replay_next,
                    .reason = "the replay log no longer reaches back to "
                              "from_seq",
                };
                feed_send_snapshot(r, i, &n);
                break;
            }
            feed_send_bytes(r, buf, len, 1, i);
            r->stats[i].replayed++;
            if (rt->replay_next++ == rt->replay_end)
                rt->replaying = false;
        }
        busy = busy || rt->replaying;
    }
    return busy;
}

/* feed_service: the resync work of one loop turn. */
static bool feed_service(feed_run *r)
{
    feed_poll_control(r);
    return feed_pump_replays(r);
}

/* feed_linger answers requests after the last message until --linger
 * seconds pass without one (bounded by FEED_LINGER_MAX_S). */
static void feed_linger(feed_run *r)
{
    if (!r->ctl_open || r->a.linger_s <= 0)
        return;
    int64_t start = clock_mono_ns();
    int64_t quiet = (int64_t)(r->a.linger_s * 1e9);
    int64_t stop = start + (int64_t)(FEED_LINGER_MAX_S * 1e9);
    while (!feed_stop_flag) {
        bool busy = feed_service(r);
        int64_t now = clock_mono_ns();
        int64_t last = r->last_request_ns > start ? r->last_request_ns : start;
        if ((!busy && now - last >= quiet) || now >= stop)
            break;
        feed_sleep_until_ns(now + (busy ? FEED_POLL_NS / 4 : FEED_POLL_NS));
    }
    if (r->log != NULL)
        fflush(r->log);
}

/* ---- progress and summary ----------------------------------------------- */

static void feed_totals(const feed_run *r, feed_stats *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < r->n; i++) {
        t->messages += r->stats[i].messages;
        t->heartbeats += r->stats[i].heartbeats;
        t->events += r->stats[i].events;
        t->dropped += r->stats[i].dropped;
        t->duplicated += r->stats[i].duplicated;
        t->reordered += r->stats[i].reordered;
        t->sends += r->stats[i].sends;
        t->skipped += r->stats[i].skipped;
        t->lot_events += r->stats[i].lot_events;
        t->requests += r->stats[i].requests;
        t->replays += r->stats[i].replays;
        t->replayed += r->stats[i].replayed;
        t->snapshots += r->stats[i].snapshots;
        t->snapshot_msgs += r->stats[i].snapshot_msgs;
    }
}

static void feed_progress(const feed_run *r, int64_t now_ns)
{
    feed_stats t;
    feed_totals(r, &t);
    double s = (double)(now_ns - r->start_ns) / 1e9;
    fprintf(stderr,
            "atp-feed: %6.1fs  messages %" PRIu64 " (%.0f/s)  events %" PRIu64
            "  dropped %" PRIu64 "  dup %" PRIu64 "  reordered %" PRIu64 "\n",
            s, t.messages, s > 0 ? (double)t.messages / s : 0.0, t.events,
            t.dropped, t.duplicated, t.reordered);
}

static void feed_summary(const feed_run *r)
{
    feed_stats t;
    feed_totals(r, &t);
    double s = (double)(r->end_ns - r->start_ns) / 1e9;
    double mps = s > 0 ? (double)t.messages / s : 0.0;
    double eps = s > 0 ? (double)t.events / s : 0.0;
    if (r->a.json) {
        FILE *f = stdout;
        fputs("{\"endpoint\":", f);
        codec_json_str_file(f, r->url, strlen(r->url));
        fprintf(f,
                ",\"seed\":%" PRIu64 ",\"elapsed_ms\":%" PRId64
                ",\"messages\":%" PRIu64 ",\"heartbeats\":%" PRIu64
                ",\"events\":%" PRIu64 ",\"dropped\":%" PRIu64
                ",\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64
                ",\"sends\":%" PRIu64 ",\"send_errors\":%" PRIu64
                ",\"bytes\":%" PRIu64
                ",\"messages_per_s\":%.1f,\"events_per_s\":%.1f,"
                "\"interrupted\":%s,\"skipped\":%" PRIu64
                ",\"lot_events\":%" PRIu64 ",\"resync\":%s"
                ",\"resync_requests\":%" PRIu64 ",\"replays\":%" PRIu64
                ",\"replayed\":%" PRIu64 ",\"snapshots\":%" PRIu64
                ",\"snapshot_parts\":%" PRIu64 ",\"control_bad\":%" PRIu64
                ",\"session\":%" PRIu64 ",\"sources\":[",
                r->a.seed, (r->end_ns - r->start_ns) / 1000000, t.messages,
                t.heartbeats, t.events, t.dropped, t.duplicated, t.reordered,
                t.sends, r->send_errors, r->bytes, mps, eps,
                feed_stop_flag ? "true" : "false", t.skipped, t.lot_events,
                r->ctl_open ? "true" : "false", t.requests, t.replays,
                t.replayed, t.snapshots, t.snapshot_msgs, r->ctl_bad,
                r->session);
        for (size_t i = 0; i < r->n; i++) {
            const feed_stats *st = &r->stats[i];
            fprintf(f, "%s{\"id\":", i > 0 ? "," : "");
            codec_json_str_file(f, r->specs[i].id, strlen(r->specs[i].id));
            fprintf(f,
                    ",\"messages\":%" PRIu64 ",\"heartbeats\":%" PRIu64
                    ",\"events\":%" PRIu64 ",\"dropped\":%" PRIu64
                    ",\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64
                    ",\"sends\":%" PRIu64 ",\"first_seq\":%" PRIu64
                    ",\"last_seq\":%" PRIu64 ",\"skipped\":%" PRIu64
                    ",\"lot_events\":%" PRIu64 ",\"open_lots\":%zu"
                    ",\"resync_requests\":%" PRIu64 ",\"replays\":%" PRIu64
                    ",\"replayed\":%" PRIu64 ",\"snapshots\":%" PRIu64 "}",
                    st->messages, st->heartbeats, st->events, st->dropped,
                    st->duplicated, st->reordered, st->sends, st->first_seq,
                    st->last_seq, st->skipped, st->lot_events,
                    feed_gen_open_lots(r->gen, i), st->requests, st->replays,
                    st->replayed, st->snapshots);
        }
        fputs("]}\n", f);
        fflush(f);
        return;
    }
    FILE *f = stderr;
    fprintf(f,
            "atp-feed: %s%" PRIu64 " messages (%" PRIu64
            " heartbeats), %" PRIu64 " events in %.2f s to %s: %.0f msg/s, "
            "%.0f events/s, %" PRIu64 " sends, %" PRIu64 " bytes%s\n",
            feed_stop_flag ? "interrupted after " : "", t.messages,
            t.heartbeats, t.events, s, r->url, mps, eps, t.sends, r->bytes,
            r->send_errors > 0 ? " (with send errors)" : "");
    size_t w = strlen("SOURCE");
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->specs[i].id) > w)
            w = strlen(r->specs[i].id);
    fprintf(f, "%-*s  %10s  %10s  %12s  %8s  %10s  %9s  %10s  %10s\n", (int)w,
            "SOURCE", "MESSAGES", "HEARTBEATS", "EVENTS", "DROPPED",
            "DUPLICATED", "REORDERED", "FIRST_SEQ", "LAST_SEQ");
    for (size_t i = 0; i < r->n; i++) {
        const feed_stats *st = &r->stats[i];
        fprintf(f,
                "%-*s  %10" PRIu64 "  %10" PRIu64 "  %12" PRIu64 "  %8" PRIu64
                "  %10" PRIu64 "  %9" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "\n",
                (int)w, r->specs[i].id, st->messages, st->heartbeats,
                st->events, st->dropped, st->duplicated, st->reordered,
                st->first_seq, st->last_seq);
    }
    if (r->ctl_open || t.skipped > 0)
        fprintf(f,
                "atp-feed: resync: %" PRIu64 " requests, %" PRIu64
                " replays (%" PRIu64 " messages resent), %" PRIu64
                " snapshots (%" PRIu64 " parts)%s; %" PRIu64
                " messages regenerated, not sent (--restart-seq)\n",
                t.requests, t.replays, t.replayed, t.snapshots, t.snapshot_msgs,
                r->ctl_open ? "" : " (not answering: --no-resync)", t.skipped);
}

/* ---- main loop ---------------------------------------------------------- */

/* feed_session_key picks the run's publisher session (docs/PROTOCOL.md,
 * "Publisher sessions": random per run unless --session says otherwise)
 * and reads --key-file. */
static int feed_session_key(feed_run *r)
{
    const char *sv = r->a.session;
    if (sv != NULL && strcmp(sv, "none") == 0) {
        r->session = 0;
    } else if (sv != NULL && strcmp(sv, "random") != 0) {
        r->session = strtoull(sv, NULL, 10); /* checked by the parser */
    } else {
        do {
            if (!crypto_random(&r->session, sizeof r->session)) {
                fprintf(stderr, "atp-feed: no random bytes for a session id\n");
                return FEED_EXIT_USAGE;
            }
            r->session &= (uint64_t)ATP_WIRE_INT_MAX;
        } while (r->session == 0);
    }
    if (r->a.key_file != NULL) {
        char why[256];
        if (!config_key_read(r->a.key_file, r->file_key, sizeof r->file_key,
                             &r->file_key_len, why, sizeof why)) {
            fprintf(stderr, "atp-feed: --key-file %s: %s\n", r->a.key_file,
                    why);
            return FEED_EXIT_USAGE;
        }
    }
    return FEED_EXIT_OK;
}

/* feed_wait sleeps until the item's deadline, printing progress, watching
 * for a signal and serving resync requests meanwhile (every FEED_POLL_NS
 * at least). Returns false when asked to stop. */
static bool feed_wait(feed_run *r, int64_t deadline, int64_t *next_progress,
                      int64_t *next_poll)
{
    for (;;) {
        if (feed_stop_flag)
            return false;
        int64_t now = clock_mono_ns();
        if (now >= *next_progress) {
            if (!r->a.quiet)
                feed_progress(r, now);
            *next_progress += FEED_PROGRESS_NS;
            if (*next_progress <= now)
                *next_progress = now + FEED_PROGRESS_NS;
        }
        bool busy = false;
        if (r->ctl_open && now >= *next_poll) {
            busy = feed_service(r);
            /* A replay in progress goes on at once, between messages. */
            *next_poll = now + (busy ? 0 : FEED_POLL_NS);
        }
        if (now >= deadline)
            return true;
        int64_t until = deadline < *next_progress ? deadline : *next_progress;
        if (r->ctl_open && *next_poll < until)
            until = *next_poll;
        if (until > now)
            feed_sleep_until_ns(until);
    }
}

static int feed_play(feed_run *r)
{
    feed_msg m;
    int rc = FEED_EXIT_OK;
    r->start_ns = clock_mono_ns();
    int64_t next_progress = r->start_ns + FEED_PROGRESS_NS;
    int64_t next_poll = r->start_ns;
    bool caught_up = r->a.restart_seq == 0;
    /* Bounded: the schedule ends after --messages or --duration. */
    for (;;) {
        int64_t now = clock_mono_ns();
        feed_item it;
        feed_sched_next(&r->sched, now - r->start_ns, &it);
        if (it.kind == FEED_ITEM_END)
            break;
        /* --restart-seq: messages below it are regenerated at once, not
         * sent; the real clock starts at the first one that is sent. */
        bool skip = false;
        if (!caught_up) {
            size_t src = it.kind == FEED_ITEM_DATA
                             ? feed_gen_peek_source(r->gen)
                             : it.source;
            skip = feed_gen_next_seq(r->gen, src) < r->a.restart_seq;
            if (!skip) {
                caught_up = true;
                r->start_ns = clock_mono_ns() - it.t_ns;
            }
        }
        if (!skip && !feed_wait(r, r->a.rate > 0 ? r->start_ns + it.t_ns : now,
                                &next_progress, &next_poll))
            break;
        uint64_t ts = feed_ts(r, it.t_ns);
        feed_gen_set_now(r->gen, (int64_t)ts);
        if (it.kind == FEED_ITEM_DATA)
            feed_gen_data(r->gen, &m);
        else
            feed_gen_heartbeat(r->gen, it.source, false, &m);
        r->last_t_ns = it.t_ns;
        if ((rc = feed_emit(r, &m, ts, skip)) != FEED_EXIT_OK)
            break;
    }
    /* The final heartbeats close every source's stream, also after a signal
     * or an error, so that a receiver is never left waiting for a seq. */
    for (size_t i = 0; i < r->n; i++) {
        feed_gen_heartbeat(r->gen, i, true, &m);
        int e = feed_emit(r, &m, feed_ts(r, r->last_t_ns), false);
        if (rc == FEED_EXIT_OK)
            rc = e;
        feed_release_held(r, i); /* none remain: belt and braces */
    }
    r->end_ns = clock_mono_ns();
    if (r->log != NULL && fflush(r->log) != 0 && rc == FEED_EXIT_OK) {
        fprintf(stderr, "atp-feed: cannot write %s: %s\n", r->a.log_path,
                strerror(errno));
        rc = FEED_EXIT_RUNTIME;
    }
    /* Whatever atpd still misses of the end is asked for now. */
    feed_linger(r);
    /* PUB has no flush: give the queue time to drain before closing. */
    feed_sleep_ms(FEED_LINGER_MS);
    return rc;
}

static void feed_run_fini(feed_run *r)
{
    if (r->ctl_open)
        nng_close(r->ctl);
    codec_arena_free(r->ctl_arena);
    if (r->sock_open)
        nng_close(r->sock);
    for (size_t i = 0; r->rt != NULL && i < r->n; i++) {
        feed_replay_fini(&r->rt[i].log);
        feed_state_free(r->rt[i].state);
    }
    free(r->rt);
    free(r->locs);
    if (r->log != NULL)
        fclose(r->log);
    if (r->held != NULL)
        for (size_t i = 0; i < r->n; i++)
            free(r->held[i].buf);
    free(r->held);
    free(r->stats);
    codec_writer_free(r->w);
    feed_gen_free(r->gen);
    free(r->specs);
    free(r->pairs);
    free(r->cfg_index);
    if (r->cfg_loaded)
        config_fini(&r->cfg);
}

static int feed_setup(feed_run *r)
{
    int rc;
    if ((rc = feed_load_config(r)) != FEED_EXIT_OK)
        return rc;
    if ((rc = feed_pick_sources(r)) != FEED_EXIT_OK)
        return rc;
    if ((rc = feed_check_sizes(r)) != FEED_EXIT_OK)
        return rc;
    feed_resolve_url(r);
    feed_gen_opts go = {
        .seed = r->a.seed,
        .batch = (uint32_t)r->a.batch,
        .skus = r->a.skus,
        .sku_prefix = r->a.sku_prefix,
        .set_ratio = r->a.set_ratio,
        .drop = r->a.drop,
        .dup = r->a.dup,
        .reorder = r->a.reorder,
        .start_seq = r->a.start_seq,
        .lot_ratio = r->a.lot_ratio,
        .lot_eta_max_ms = (int64_t)r->a.lot_eta_ms,
    };
    codec_str prefix = {r->a.sku_prefix, (uint32_t)strlen(r->a.sku_prefix)};
    if ((prefix.len > 0 && !codec_str_is_id(prefix, ATP_SKU_MAX_LEN)) ||
        feed_gen_alloc(&go, r->specs, r->n, &r->gen) != ATP_OK) {
        fprintf(stderr,
                "atp-feed: --sku-prefix '%s' with --skus %" PRIu64
                " does not make valid SKUs (printable, at most %d bytes)\n",
                r->a.sku_prefix, r->a.skus, ATP_SKU_MAX_LEN);
        return FEED_EXIT_USAGE;
    }
    feed_sched_opts so = {
        .rate = r->a.rate,
        .heartbeat_ms = (int64_t)r->a.heartbeat_ms,
        .messages = r->a.messages,
        .duration_ms = (int64_t)llround(r->a.duration_s * 1000.0),
        .n_sources = r->n,
    };
    if (feed_sched_init(&r->sched, &so) != ATP_OK) {
        fprintf(stderr, "atp-feed: bad schedule options\n");
        return FEED_EXIT_USAGE;
    }
    r->stats = calloc(r->n, sizeof *r->stats);
    r->held = calloc(r->n, sizeof *r->held);
    r->w = codec_writer_alloc(NULL, NULL);
    if (r->stats == NULL || r->held == NULL || r->w == NULL) {
        fprintf(stderr, "atp-feed: out of memory\n");
        return FEED_EXIT_RUNTIME;
    }
    for (size_t i = 0; i < r->n; i++) {
        feed_src_rt *rt = &r->rt[i];
        if (feed_replay_init(&rt->log, (size_t)r->a.replay_log,
                             (size_t)r->a.replay_bytes) != ATP_OK ||
            feed_state_alloc(rt->on_hand, rt->n_on_hand, &rt->state) !=
                ATP_OK) {
            fprintf(stderr,
                    "atp-feed: out of memory (--replay-log %" PRIu64
                    " too large?)\n",
                    r->a.replay_log);
            return FEED_EXIT_RUNTIME;
        }
    }
    if (feed_session_key(r) != FEED_EXIT_OK)
        return FEED_EXIT_USAGE;
    if (r->a.log_path != NULL) {
        r->log = fopen(r->a.log_path, "w");
        if (r->log == NULL) {
            fprintf(stderr, "atp-feed: cannot create %s: %s\n", r->a.log_path,
                    strerror(errno));
            return FEED_EXIT_USAGE;
        }
    }
    return FEED_EXIT_OK;
}

int main(int argc, char **argv)
{
    static feed_run run; /* large (argument arrays): not on the stack */
    feed_run *r = &run;
    int rc = feed_args_parse(argc, argv, &r->a);
    if (rc != FEED_EXIT_OK)
        return rc;
    if (r->a.help) {
        feed_usage(stdout);
        return FEED_EXIT_OK;
    }
    if (r->a.version) {
        tool_args_version("atp-feed");
        return FEED_EXIT_OK;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = feed_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed log pipe must be an error we report, not a silent death. */
    signal(SIGPIPE, SIG_IGN);

    rc = feed_setup(r);
    if (rc == FEED_EXIT_OK)
        rc = feed_connect_control(r);
    if (rc == FEED_EXIT_OK)
        rc = feed_connect(r);
    if (rc == FEED_EXIT_OK) {
        rc = feed_play(r);
        feed_summary(r);
    }
    feed_run_fini(r);
    return rc;
}
