/*
 * import_link.c - atp-import's sockets, message encoding and confirmation
 * (see import_link.h).
 */
#include "import_link.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/wire.h"
#include "client.h"
#include "common/clock.h"
#include "feed_sign.h"
#include "sp_probe.h"

/* How often the `sources` reply is read while waiting, and how often the
 * message is sent again (pub/sub may drop it; a copy is a duplicate). */
#define IMPORT_POLL_MS 20
#define IMPORT_RESEND_MS 1000
/* After the PUB pipe is up the subscriber needs a moment before PUB
 * delivers to it (atp-feed's FEED_SETTLE_MS); a lost first copy is resent
 * a second later anyway. */
#define IMPORT_SETTLE_MS 50

struct import_link {
    const import_link_opts *o;
    nng_socket pub, ctl;
    bool pub_open, ctl_open;
    atomic_bool pipe_up;
    client *cl;
    codec_arena *arena;
    codec_writer *w, *req;
};

static void import_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void import_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_store(&((import_link *)arg)->pipe_up, true);
}

static int import_open_pub(import_link *l, char *why, size_t why_len)
{
    const import_link_opts *o = l->o;
    int rv = nng_pub0_open(&l->pub);
    if (rv != 0) {
        snprintf(why, why_len, "cannot open a PUB socket: %s",
                 nng_strerror(rv));
        return IMPORT_LINK_ERROR;
    }
    l->pub_open = true;
    nng_pipe_notify(l->pub, NNG_PIPE_EV_ADD_POST, import_pipe_cb, l);
    int64_t left = o->deadline_ms - clock_mono_ms();
    char probe[384];
    if (sp_probe(o->ingest_url, SP_PROTO_PUB, SP_PROTO_SUB,
                 (int)(left > 0 ? left : 1), probe,
                 sizeof probe) == ATP_E_BAD_REQUEST) {
        snprintf(why, why_len,
                 "%s; --endpoint must name atpd's source feed port "
                 "(service.ingest_listen)",
                 probe);
        return IMPORT_LINK_UNREACHABLE;
    }
    for (;;) {
        char tls_why[256] = "";
        rv = tools_tls_dial(l->pub, o->ingest_url, 0, tls_why, sizeof tls_why);
        if (rv == 0)
            break;
        if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL) {
            snprintf(why, why_len, "cannot dial '%s': %s", o->ingest_url,
                     tls_why[0] ? tls_why : nng_strerror(rv));
            return IMPORT_LINK_ERROR;
        }
        if (clock_mono_ms() >= o->deadline_ms) {
            snprintf(why, why_len, "cannot connect to %s: %s; is atpd running?",
                     o->ingest_url, nng_strerror(rv));
            return IMPORT_LINK_UNREACHABLE;
        }
        import_sleep_ms(50);
    }
    while (!atomic_load(&l->pipe_up) && clock_mono_ms() < o->deadline_ms)
        import_sleep_ms(5);
    import_sleep_ms(IMPORT_SETTLE_MS);
    return IMPORT_LINK_OK;
}

static int import_open_ctl(import_link *l, char *why, size_t why_len)
{
    const import_link_opts *o = l->o;
    char topic[sizeof ATP_RESYNC_TOPIC + ATP_ID_MAX_LEN + 1];
    size_t tl = strlen(ATP_RESYNC_TOPIC), il = strlen(o->source);
    memcpy(topic, ATP_RESYNC_TOPIC, tl + 1);
    memcpy(topic + tl + 1, o->source, il + 1);
    int rv = nng_sub0_open(&l->ctl);
    if (rv == 0)
        l->ctl_open = true;
    if (rv == 0)
        rv = nng_socket_set(l->ctl, NNG_OPT_SUB_SUBSCRIBE, topic, tl + il + 2);
    char tls_why[256] = "";
    if (rv == 0)
        rv = tools_tls_dial(l->ctl, o->control_url, NNG_FLAG_NONBLOCK, tls_why,
                            sizeof tls_why);
    if (rv != 0) {
        snprintf(why, why_len, "control endpoint '%s': %s", o->control_url,
                 tls_why[0] ? tls_why : nng_strerror(rv));
        return IMPORT_LINK_ERROR;
    }
    return IMPORT_LINK_OK;
}

int import_link_open(const import_link_opts *o, import_link **out, char *why,
                     size_t why_len)
{
    import_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(why, why_len, "out of memory");
        return IMPORT_LINK_ERROR;
    }
    l->o = o;
    *out = l;
    l->arena = codec_arena_alloc();
    l->w = codec_writer_alloc(NULL, NULL);
    l->req = codec_writer_alloc(NULL, NULL);
    if (l->arena == NULL || l->w == NULL || l->req == NULL) {
        snprintf(why, why_len, "out of memory");
        return IMPORT_LINK_ERROR;
    }
    int64_t left = o->deadline_ms - clock_mono_ms();
    /* Each `sources` request waits at most a second (or what is left):
     * the run ends within a second of --timeout. */
    client_opts co = {.url = o->query_url,
                      .timeout_ms = (int)(left < 100    ? 100
                                          : left > 1000 ? 1000
                                                        : left),
                      .token = o->token};
    char err[256] = "";
    if (client_open(&co, &l->cl, err, sizeof err) != ATP_OK) {
        snprintf(why, why_len, "query endpoint '%s': %s", o->query_url, err);
        return IMPORT_LINK_ERROR;
    }
    int rc = import_open_ctl(l, why, why_len);
    return rc != IMPORT_LINK_OK ? rc : import_open_pub(l, why, why_len);
}

void import_link_close(import_link *l)
{
    if (l == NULL)
        return;
    if (l->pub_open)
        nng_close(l->pub);
    if (l->ctl_open)
        nng_close(l->ctl);
    client_close(l->cl);
    codec_arena_free(l->arena);
    codec_writer_free(l->w);
    codec_writer_free(l->req);
    free(l);
}

static void import_copy_u64(const codec_val *src, const char *key,
                            uint64_t *out)
{
    if (!codec_val_uint(codec_val_get(src, key), out))
        *out = 0;
}

int import_link_sources(import_link *l, import_src_info *out, char *why,
                        size_t why_len)
{
    codec_writer_reset(l->req);
    codec_w_map(l->req, 1);
    codec_w_cstr(l->req, "op");
    codec_w_cstr(l->req, "sources");
    codec_arena_clear(l->arena);
    const codec_val *reply;
    atp_err e = client_request(l->cl, l->req, l->arena, &reply);
    if (e != ATP_OK) {
        snprintf(why, why_len, "no `sources` reply from %s: %s",
                 client_url(l->cl),
                 client_last_error(l->cl)[0] ? client_last_error(l->cl)
                                             : atp_err_name(e));
        return IMPORT_LINK_UNREACHABLE;
    }
    bool ok = false;
    codec_val_bool(codec_val_get(reply, "ok"), &ok);
    if (!ok) {
        const codec_val *err = codec_val_get(reply, "error");
        codec_str name = {"?", 1}, msg = {"", 0};
        codec_val_str(codec_val_get(err, "name"), &name);
        codec_val_str(codec_val_get(err, "message"), &msg);
        bool auth = codec_str_eq(name, "unauthenticated") ||
                    codec_str_eq(name, "forbidden");
        snprintf(why, why_len, "atpd refused `sources`: %.*s: %.*s%s",
                 (int)name.len, name.ptr, (int)msg.len, msg.ptr,
                 auth ? " (it needs a token with read scope: --token or "
                        "$ATP_TOKEN)"
                      : "");
        return IMPORT_LINK_ERROR;
    }
    const codec_val *list = codec_val_get(reply, "sources");
    for (uint32_t i = 0; i < codec_val_len(list); i++) {
        const codec_val *src = codec_val_at(list, i);
        codec_str id;
        if (!codec_val_str(codec_val_get(src, "id"), &id) ||
            !codec_str_eq(id, l->o->source))
            continue;
        memset(out, 0, sizeof *out);
        import_copy_u64(src, "last_seq", &out->last_seq);
        import_copy_u64(src, "session", &out->session);
        import_copy_u64(src, "rejected_messages", &out->rejected_messages);
        import_copy_u64(src, "snapshots_aborted", &out->snapshots_aborted);
        import_copy_u64(src, "conflicts", &out->conflicts);
        import_copy_u64(src, "bad_mac", &out->bad_mac);
        if (!codec_val_int(codec_val_get(src, "age_ms"), &out->age_ms))
            out->age_ms = -1;
        codec_str st = {"", 0};
        codec_val_str(codec_val_get(src, "state"), &st);
        snprintf(out->state, sizeof out->state, "%.*s", (int)st.len, st.ptr);
        return IMPORT_LINK_OK;
    }
    snprintf(why, why_len,
             "atpd has no source '%s' (its configuration differs from "
             "--config)",
             l->o->source);
    return IMPORT_LINK_ERROR;
}

int import_link_wait_quiet(import_link *l, uint64_t session, int64_t quiet_ms,
                           import_src_info *info, char *why, size_t why_len)
{
    /* atpd sees the silence at its next ingest tick (25 ms): a margin. */
    const int64_t margin_ms = 100;
    for (;;) {
        if (info->session == 0 || info->session == session ||
            info->age_ms < 0 || info->age_ms >= quiet_ms + margin_ms)
            return IMPORT_LINK_OK;
        int64_t left = l->o->deadline_ms - clock_mono_ms();
        if (left <= 0) {
            snprintf(why, why_len,
                     "another publisher (session %llu) is live on source %s "
                     "(heard from %lld ms ago; it must be silent for its "
                     "heartbeat_timeout, %lld ms): stop it, or give a longer "
                     "--timeout",
                     (unsigned long long)info->session, l->o->source,
                     (long long)info->age_ms, (long long)quiet_ms);
            return IMPORT_LINK_TIMEOUT;
        }
        int64_t wait = quiet_ms + margin_ms - info->age_ms;
        import_sleep_ms(wait < 100 ? wait : 100);
        int rc = import_link_sources(l, info, why, why_len);
        if (rc != IMPORT_LINK_OK)
            return rc;
    }
}

/* ---- sending ------------------------------------------------------------- */

/* import_msg_len: m's encoded size (signed), 0 when it cannot be encoded. */
static size_t import_msg_len(import_link *l, const codec_src_msg *m)
{
    size_t len;
    return feed_sign_encode(l->w, m, l->o->key, l->o->key_len, &len) != NULL
               ? len
               : 0;
}

/* import_send_msg sends m signed with the source's key (feed_sign.h). */
static bool import_send_msg(import_link *l, const codec_src_msg *m)
{
    size_t len;
    const void *buf = feed_sign_encode(l->w, m, l->o->key, l->o->key_len, &len);
    return buf != NULL && nng_send(l->pub, (void *)buf, len, 0) == 0;
}

typedef struct import_msg {
    uint64_t session, seq;
    bool snapshot;
    const codec_event *evs;
    size_t n;
    feed_state *st;
} import_msg;

static codec_src_msg import_batch_msg(const import_link *l, const import_msg *m)
{
    return (codec_src_msg){
        .source = {l->o->source, (uint32_t)strlen(l->o->source)},
        .seq = m->seq,
        .ts_ms = (uint64_t)clock_wall_ms(),
        .n_events = (uint32_t)m->n,
        .events = (codec_event *)m->evs,
        .session = m->session,
    };
}

static bool import_send_batch(import_link *l, const import_msg *m)
{
    codec_src_msg sm = import_batch_msg(l, m);
    return import_send_msg(l, &sm);
}

static bool import_send_snapshot(import_link *l, const import_msg *m)
{
    codec_event *evs;
    size_t n;
    if (feed_state_events(m->st, &evs, &n) != ATP_OK)
        return false;
    size_t part_max = l->o->part_max ? l->o->part_max : 1;
    uint64_t id = (uint64_t)clock_wall_ms();
    size_t off = 0;
    for (uint32_t p = 0; off < n || p == 0; p++) {
        size_t cnt = n - off < part_max ? n - off : part_max;
        codec_src_msg sm = {
            .kind = ATP_MSG_SNAPSHOT,
            .source = {l->o->source, (uint32_t)strlen(l->o->source)},
            .seq = m->seq,
            .ts_ms = (uint64_t)clock_wall_ms(),
            .n_events = (uint32_t)cnt,
            .events = evs + off,
            .snapshot_id = id,
            .part = p,
            .last = off + cnt == n,
            .session = m->session,
        };
        /* A part atpd would drop as too large (ingest_recv_max_bytes) is
         * halved until it fits: long SKUs and locations make big events. */
        size_t len;
        const void *buf;
        while ((buf = feed_sign_encode(l->w, &sm, l->o->key, l->o->key_len,
                                       &len)) != NULL &&
               cnt > 1 && len > l->o->max_bytes) {
            cnt /= 2;
            sm.n_events = (uint32_t)cnt;
            sm.last = off + cnt == n;
        }
        if (buf == NULL || nng_send(l->pub, (void *)buf, len, 0) != 0)
            return false;
        off += cnt;
    }
    return true;
}

/* import_answer takes atpd's pending requests: a replay from the batch's
 * own seq is the batch again, anything else a snapshot (which covers the
 * batch: the state already holds it). */
static bool import_answer(import_link *l, const import_msg *m)
{
    bool ok = true;
    for (int k = 0; k < 16; k++) {
        void *buf = NULL;
        size_t len = 0;
        if (nng_recv(l->ctl, &buf, &len, NNG_FLAG_NONBLOCK | NNG_FLAG_ALLOC) !=
            0)
            break;
        codec_resync_req q;
        codec_arena_clear(l->arena);
        if (codec_resync_decode(l->arena, buf, len, &q) == ATP_OK &&
            codec_str_eq(q.source, l->o->source) && q.from_seq <= m->seq) {
            if (!q.snapshot && !m->snapshot && q.from_seq == m->seq)
                ok = import_send_batch(l, m) && ok;
            else
                ok = import_send_snapshot(l, m) && ok;
        }
        nng_free(buf, len);
    }
    return ok;
}

int import_link_publish(import_link *l, uint64_t session, uint64_t seq,
                        bool *snapshot_io, const codec_event *evs, size_t n,
                        feed_state *st, const import_src_info *before,
                        int64_t *confirm_ms, char *why, size_t why_len)
{
    import_msg m = {session, seq, *snapshot_io, evs, n, st};
    if (!m.snapshot) { /* too many bytes for one message: a snapshot */
        codec_src_msg sm = import_batch_msg(l, &m);
        size_t len = import_msg_len(l, &sm);
        m.snapshot = len == 0 || len > l->o->max_bytes;
    }
    *snapshot_io = m.snapshot;
    bool snapshot = m.snapshot;
    int64_t start = clock_mono_ms(), next_send = start, next_poll = start;
    uint64_t aborted = before->snapshots_aborted;
    import_src_info now = *before;
    for (;;) {
        int64_t t = clock_mono_ms();
        if (t >= next_send) {
            bool sent = snapshot ? import_send_snapshot(l, &m)
                                 : import_send_batch(l, &m);
            if (!sent) {
                snprintf(why, why_len, "cannot send the message");
                return IMPORT_LINK_ERROR;
            }
            next_send = t + IMPORT_RESEND_MS;
        }
        if (!import_answer(l, &m)) {
            snprintf(why, why_len, "cannot answer atpd's request");
            return IMPORT_LINK_ERROR;
        }
        if (t >= next_poll) {
            next_poll = t + IMPORT_POLL_MS;
            int rc = import_link_sources(l, &now, why, why_len);
            if (rc == IMPORT_LINK_ERROR)
                return rc;
            if (rc == IMPORT_LINK_OK) {
                if (now.rejected_messages > before->rejected_messages) {
                    snprintf(why, why_len,
                             "atpd rejected the message (the source's "
                             "rejected_messages grew: see atpctl sources "
                             "and atpd's log)");
                    return IMPORT_LINK_REJECTED;
                }
                /* Applied, and nothing of ours missing before it (a source
                 * still resyncing or gapped waits for the snapshot). */
                if (now.session == session && now.last_seq >= seq &&
                    strcmp(now.state, "ok") == 0) {
                    *confirm_ms = clock_mono_ms() - start;
                    return IMPORT_LINK_OK;
                }
                if (now.snapshots_aborted > aborted) /* a part was lost */
                    aborted = now.snapshots_aborted, next_send = t;
            }
        }
        if (clock_mono_ms() >= l->o->deadline_ms) {
            snprintf(why, why_len,
                     "atpd did not apply seq %llu within --timeout (the "
                     "source is '%s'%s, last_seq %llu, session %llu; ours "
                     "%llu)",
                     (unsigned long long)seq, now.state,
                     now.bad_mac > before->bad_mac
                         ? ": atpd dropped our messages for a wrong MAC; is "
                           "--key-file (or the config's key_file) the key "
                           "atpd has?"
                     : now.conflicts > before->conflicts
                         ? ": another publisher holds the source"
                         : "",
                     (unsigned long long)now.last_seq,
                     (unsigned long long)now.session,
                     (unsigned long long)session);
            return IMPORT_LINK_TIMEOUT;
        }
        import_sleep_ms(5);
    }
}
