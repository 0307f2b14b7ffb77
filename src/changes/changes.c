/*
 * changes.c - the change feed publisher (see changes.h). Runs on its own
 * thread; the sequence counters are atomics read by the query server.
 *
 * Coalescing: the engine marks a row the first time it changes after the
 * feed last read it and queues its key once; every interval this thread
 * takes the queue, clears each mark, reads the row's current values and
 * publishes one message. However many times a row changed in between, one
 * message carries its latest values.
 *
 * Message: topic "atp" NUL region NUL sku NUL, then a msgpack map, both
 * written by codec_feed_encode (codec/feed_msg.c, where atpctl's decoder
 * is too).
 */
#include "changes/changes.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes/pickup.h"
#include "changes/relay.h"
#include "changes/transitions.h"
#include "codec/codec.h"
#include "common/assert.h"
#include "common/clock.h"
#include "common/cluster_info.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"
#include "formula/rules.h"
#include "tls/tls.h"

/* Sequence numbers a run may use per millisecond of its start time before
 * its sequences could reach those of a run started later: 1,000 per ms is
 * one million messages per second, sustained, far beyond what one
 * publisher thread sends. */
#define CHANGES_SEQ_PER_MS 1000u

/* Per-(SKU, region) feed state: its own sequence and, per channel, the
 * transition state. Open addressing on key + 1. */
typedef struct changes_key {
    uint64_t key1; /* (sku << 16 | region) + 1; 0 = empty */
    uint64_t key_seq;
    size_t states; /* index of n_channels transitions_state in c->states */
    uint64_t pass; /* the flush that last published it (bundles: once) */
} changes_key;

struct changes {
    const config *cfg;
    engine *eng;
    nng_socket sock;
    bool sock_open;
    char url[256]; /* bound: port 0 resolved */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu; /* guards stop and the wake-up condition */
    pthread_cond_t cv;
    bool stop;

    /* changes thread only */
    uint64_t pass; /* flushes that published something, numbered */
    changes_key *keys;
    size_t keys_cap, keys_used;
    transitions_state *states;
    size_t states_cap, states_used;
    uint64_t *taken;
    size_t taken_cap;
    engine_change *chg;
    codec_writer *w;
    codec_feed_channel *fch; /* n_channels: one message's channels */
    changes_pickup *pickup;  /* the pickup feed (pickup.c) */

    /* Sequences start at (start time in ms) x CHANGES_SEQ_PER_MS, so they
     * keep growing across restarts without being stored: a restart shows
     * subscribers a jump (a gap: rescan), never a reused number, as long
     * as a run publishes fewer than CHANGES_SEQ_PER_MS messages per
     * millisecond until the next start (PROTOCOL.md, "Sequences across
     * restarts"). The base stays below ATP_WIRE_INT_MAX (2^53 - 1) until
     * the year 2255, so JSON readers see exact numbers. */
    uint64_t seq_base;
    _Atomic uint64_t seq;
    _Atomic uint64_t *region_seq;
    _Atomic uint64_t flushes, send_failures;
    _Atomic uint64_t pickup_failures; /* pickup messages not sent */
    _Atomic int subscribers; /* connected SUB pipes (nng pipe callbacks) */
    /* The second consumer (changes_listener_set): set before the thread
     * starts; watchers counted by any thread. */
    changes_listener_fn listener;
    void *listener_arg;
    _Atomic int listener_watchers;
    /* Several partitions (changes_mirror_set, changes_relay): every
     * message this node publishes goes to mirror too; the other
     * partitions' come through relay. Set before the thread starts. */
    changes_mirror_fn mirror;
    void *mirror_arg;
    changes_relay *relay;
};

/* Pipe callbacks (nng's threads): count subscribers, so that nothing is
 * built while nobody listens. */
static void changes_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    changes *c = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&c->subscribers, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&c->subscribers, 1);
}

/* ---- per-key state ---------------------------------------------------- */

static size_t changes_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static bool changes_keys_grow(changes *c)
{
    size_t cap = c->keys_cap ? c->keys_cap * 2 : 4096;
    changes_key *n = calloc(cap, sizeof *n);
    if (n == NULL)
        return false;
    for (size_t i = 0; i < c->keys_cap; i++) {
        if (c->keys[i].key1 == 0)
            continue;
        size_t j = changes_hash(c->keys[i].key1) & (cap - 1);
        while (n[j].key1 != 0)
            j = (j + 1) & (cap - 1);
        n[j] = c->keys[i];
    }
    free(c->keys);
    c->keys = n;
    c->keys_cap = cap;
    return true;
}

static changes_key *changes_key_get(changes *c, uint64_t key)
{
    uint64_t key1 = key + 1;
    if ((c->keys_used + 1) * 2 > c->keys_cap && !changes_keys_grow(c))
        return NULL;
    size_t i = changes_hash(key1) & (c->keys_cap - 1);
    while (c->keys[i].key1 != 0 && c->keys[i].key1 != key1)
        i = (i + 1) & (c->keys_cap - 1);
    if (c->keys[i].key1 == key1)
        return &c->keys[i];
    size_t nch = c->cfg->n_channels;
    if (c->states_used + nch > c->states_cap) {
        size_t cap = c->states_cap ? c->states_cap * 2 : 4096 * nch;
        transitions_state *s = realloc(c->states, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        c->states = s;
        c->states_cap = cap;
    }
    memset(&c->states[c->states_used], 0, nch * sizeof *c->states);
    c->keys[i] = (changes_key){key1, c->seq_base, c->states_used, 0};
    c->states_used += nch;
    c->keys_used++;
    return &c->keys[i];
}

/* ---- one message -------------------------------------------------------- */

/* The transitions' bits are the wire's (codec_feed_mark). */
_Static_assert((unsigned)TRANSITION_OUT_OF_STOCK ==
                       (unsigned)CODEC_FEED_OUT_OF_STOCK &&
                   (unsigned)TRANSITION_BACK_IN_STOCK ==
                       (unsigned)CODEC_FEED_BACK_IN_STOCK &&
                   (unsigned)TRANSITION_LOW_STOCK ==
                       (unsigned)CODEC_FEED_LOW_STOCK,
               "transition marks are written as codec_feed_mark bits");

static void changes_publish(changes *c, const engine_change *ch, changes_key *k)
{
    const config *cfg = c->cfg;
    ATP_ASSERT(ch->region < cfg->n_regions);
    if (!config_region_in_service(cfg, ch->region))
        return; /* a spare place, or removed: nothing stocked to say */
    const char *region = cfg->regions[ch->region].id;
    if (!config_partition_here(&cfg->cluster, region, strlen(region)))
        return;     /* another partition's: its owner has its reservations */
    size_t nch = 0; /* the channels the engine answered, in service */
    for (size_t i = 0; i < ch->n_channels; i++) {
        if (!config_channel_in_service(cfg, (uint32_t)i))
            continue; /* removed at run time (or not yet in force) */
        const engine_answer *a = &ch->channels[i];
        transitions_state *st = &c->states[k->states + i];
        unsigned marks = transitions_update(st, a->atp, a->low_stock);
        const char *rule = rules_level_name(a->rule_level);
        c->fch[nch++] = (codec_feed_channel){
            .channel = {cfg->channels[i], (uint32_t)strlen(cfg->channels[i])},
            .atp = a->atp,
            .buffer = a->buffer,
            .rule = {rule, (uint32_t)strlen(rule)},
            .out_of_stock = st->out,
            .low_stock = st->low,
            .marks = marks,
            .backorder_budget = a->backorder_budget,
            .backorder_used = a->backorder_used,
        };
    }
    uint64_t seq = atomic_load(&c->seq) + 1;
    uint64_t rseq = atomic_load(&c->region_seq[ch->region]) + 1;
    k->key_seq++;
    const engine_answer *a0 = &ch->channels[0];
    const config_cluster *cl = &cfg->cluster;
    const char *part = cl->n_partitions >= 2 ? cl->partition : "";
    codec_feed_msg m = {
        .partition = {part, (uint32_t)strlen(part)},
        .seq = seq,
        .region_seq = rseq,
        .key_seq = k->key_seq,
        .ts_ms = clock_wall_ms(),
        .sku = {ch->sku, (uint32_t)ch->sku_len},
        .region = {region, (uint32_t)strlen(region)},
        .supply = a0->supply,
        .reserved = a0->reserved,
        .shortfall = a0->shortfall,
        .stale = a0->stale,
        .n_channels = (uint32_t)nch,
        .channels = c->fch,
    };
    /* Written into the writer's own buffer, copied into the message once:
     * nng 1.5 regrows a message on every append. */
    codec_writer *w = c->w;
    codec_writer_reset(w);
    size_t body_off, len;
    codec_feed_encode(w, &m, &body_off);
    const unsigned char *data = codec_writer_data(w, &len);
    if (codec_writer_failed(w)) {
        atomic_fetch_add(&c->send_failures, 1);
        return; /* its numbers are not used: no subscriber sees a gap */
    }
    /* Publish the sequence numbers after the row was read (in
     * engine_changes_read) and before the message leaves by any way: a
     * scan that reads seq >= this one read its rows after ours, and no
     * two messages, here, relayed or over HTTP, share a number. */
    atomic_store(&c->seq, seq);
    atomic_store(&c->region_seq[ch->region], rseq);
    if (c->mirror != NULL)
        c->mirror(c->mirror_arg, data, len);
    if (c->listener != NULL) {
        changes_event ev = {ch->region, ch->sku,         ch->sku_len,
                            seq,        data + body_off, len - body_off};
        c->listener(c->listener_arg, &ev);
    }
    nng_msg *msg;
    if (nng_msg_alloc(&msg, len) != 0) {
        atomic_fetch_add(&c->send_failures, 1);
        return;
    }
    memcpy(nng_msg_body(msg), data, len);
    if (nng_sendmsg(c->sock, msg, 0) != 0) {
        nng_msg_free(msg);
        atomic_fetch_add(&c->send_failures, 1);
    }
}

/* changes_publish_key reads row key and publishes it, unless this pass
 * (flush) already did. */
static void changes_publish_key(changes *c, uint64_t key, uint64_t pass)
{
    changes_key *k = changes_key_get(c, key);
    if (k == NULL) {
        log_error("changes", "out of memory: a change was not published");
        return;
    }
    if (k->pass == pass)
        return;
    k->pass = pass;
    if (engine_changes_read(c->eng, (uint32_t)(key >> 16),
                            (uint32_t)(key & 0xffff), c->chg))
        changes_publish(c, c->chg, k);
}

/* changes_standby: this node is a cluster's standby (docs/CLUSTER.md). */
static bool changes_standby(void)
{
    if (health_cond_met(HEALTH_RESERVATIONS))
        return false;
    cluster_info ci;
    cluster_info_get(&ci);
    return ci.enabled;
}

static void changes_flush(changes *c)
{
    size_t n = engine_changes_take(c->eng, &c->taken, &c->taken_cap);
    if (c->listener != NULL)
        c->listener(c->listener_arg, NULL);
    if ((atomic_load(&c->subscribers) == 0 &&
         atomic_load(&c->listener_watchers) == 0 && c->mirror == NULL) ||
        changes_standby()) {
        /* Nobody listens: let the rows go without building anything. A
         * subscriber that connects later starts with a scan anyway. And
         * a cluster's standby (docs/CLUSTER.md) holds none of its
         * partition's reservations: its ATP would be too high, so it
         * publishes nothing; the owner does. */
        for (size_t i = 0; i < n; i++)
            engine_changes_clear(c->eng, (uint32_t)(c->taken[i] >> 16),
                                 (uint32_t)(c->taken[i] & 0xffff));
        return;
    }
    uint64_t pass = ++c->pass;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = c->taken[i];
        uint32_t sku = (uint32_t)(key >> 16), region = (uint32_t)(key & 0xffff);
        changes_publish_key(c, key, pass);
        /* Its bundles change with it (PROTOCOL.md, "Bundles"): read after
         * it, so a bundle's last message is never older than its
         * components' (once per pass each). */
        const uint32_t *users;
        uint32_t n_users = engine_bundles_using(c->eng, sku, &users);
        for (uint32_t b = 0; b < n_users; b++)
            changes_publish_key(c, (uint64_t)users[b] << 16 | region, pass);
    }
    if (n > 0)
        atomic_fetch_add(&c->flushes, 1);
}

/* The pickup feed's messages (nng subscribers only: the HTTP event
 * streams carry the ATP topics). */
static void changes_flush_pickup(changes *c)
{
    uint64_t failures = 0;
    /* a cluster's standby holds none of its partition's reservations:
     * its pickup figures would be too high (the owner publishes them) */
    changes_pickup_flush(c->pickup, c->eng, c->sock,
                         atomic_load(&c->subscribers) > 0 && !changes_standby(),
                         c->w, &failures);
    if (failures > 0)
        atomic_fetch_add(&c->pickup_failures, failures);
}

/* changes_relay_send (changes thread): another partition's message, to
 * the SUB sockets as it is and to the HTTP event streams (its region's
 * index read from this node's configuration). true: it went out (nobody
 * listening counts as out: nothing was lost). */
static bool changes_relay_send(void *arg, const void *msg, size_t len)
{
    changes *c = arg;
    codec_str region, sku;
    const void *body;
    size_t body_len;
    codec_view root;
    uint64_t seq = 0;
    int r = -1;
    if (codec_feed_split(msg, len, &region, &sku, &body, &body_len) &&
        codec_view_root(body, body_len, &root) == ATP_OK &&
        codec_view_uint(codec_view_get(root, "seq"), &seq))
        r = config_region_find(c->cfg, region.ptr, region.len);
    if (c->listener != NULL && r >= 0) {
        changes_event ev = {(uint32_t)r, sku.ptr, sku.len, seq, body, body_len};
        c->listener(c->listener_arg, &ev);
    }
    if (atomic_load(&c->subscribers) == 0)
        return true;
    nng_msg *m;
    if (nng_msg_alloc(&m, len) != 0)
        return false;
    memcpy(nng_msg_body(m), msg, len);
    if (nng_sendmsg(c->sock, m, 0) != 0) {
        nng_msg_free(m);
        return false;
    }
    return true;
}

static void *changes_thread_main(void *arg)
{
    thread_name("atp:changes");
    health_slot *hs = health_thread_add("atp:changes");
    changes *c = arg;
    int64_t interval = c->cfg->service.feed_interval_ms;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts = clock_deadline_ms(interval);
        health_idle(hs);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        health_busy(hs);
        changes_flush(c);
        changes_relay_flush(c->relay, changes_relay_send, c);
        changes_flush_pickup(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    health_thread_remove(hs);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------
 */

atp_err changes_alloc(const config *cfg, engine *eng, changes **out)
{
    changes *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    c->cfg = cfg;
    c->eng = eng;
    pthread_mutex_init(&c->mu, NULL);
    clock_cond_init(&c->cv);
    atp_err err = ATP_E_NOMEM;
    c->region_seq =
        calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof *c->region_seq);
    c->seq_base = (uint64_t)clock_wall_ms() * CHANGES_SEQ_PER_MS;
    atomic_store(&c->seq, c->seq_base);
    for (size_t r = 0; c->region_seq != NULL && r < cfg->n_regions; r++)
        atomic_store(&c->region_seq[r], c->seq_base);
    c->chg = malloc(sizeof *c->chg);
    c->w = codec_writer_alloc(NULL, NULL);
    c->fch = calloc(cfg->n_channels ? cfg->n_channels : 1, sizeof *c->fch);
    c->pickup = changes_pickup_alloc(cfg, c->seq_base);
    c->relay = changes_relay_alloc();
    if (c->region_seq == NULL || c->chg == NULL || c->w == NULL ||
        c->fch == NULL || c->pickup == NULL || c->relay == NULL ||
        !changes_keys_grow(c))
        goto fail;
    int rv;
    if ((rv = nng_pub0_open(&c->sock)) != 0) {
        log_error("changes", "cannot open PUB socket: %s", nng_strerror(rv));
        err = ATP_E_TRANSPORT;
        goto fail;
    }
    c->sock_open = true;
    /* Shared with the TLS janitor (tls.h); without it the subscriber
     * count is wrong but the feed works, so not fatal. */
    if (tls_pipe_notify(c->sock, changes_pipe_cb, c) != ATP_OK)
        log_warn("changes", "cannot watch subscriber connections");
    /* nng PUB queues only 16 messages per subscriber by default and drops
     * the rest: one interval can carry thousands of keys. 8192 is nng's
     * maximum; beyond it a slow subscriber sees a gap and rescans. */
    if ((rv = nng_socket_set_int(c->sock, NNG_OPT_SENDBUF, 8192)) != 0) {
        log_error("changes", "cannot set the send buffer: %s",
                  nng_strerror(rv));
        err = ATP_E_TRANSPORT;
        goto fail;
    }
    if ((err = tls_listen(c->sock, cfg->service.feed_listen, &cfg->tls,
                          "changes", c->url, sizeof c->url)) != ATP_OK)
        goto fail;
    engine_changes_enable(eng);
    engine_pickup_feed_enable(eng);
    *out = c;
    return ATP_OK;
fail:
    changes_free(c);
    return err;
}

const char *changes_listen_url(const changes *c)
{
    return c->url;
}

atp_err changes_start(changes *c)
{
    if (pthread_create(&c->thread, NULL, changes_thread_main, c) != 0)
        return ATP_E_NOMEM;
    c->running = true;
    return ATP_OK;
}

/* Socket closes are bounded (thread_run_bounded: nng 1.5.2's nng_close
 * can wait forever); the process is stopping when they run. */
static void changes_close_fn(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

void changes_stop(changes *c)
{
    if (c->running) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        c->running = false;
    }
    if (c->sock_open) {
        thread_run_bounded(changes_close_fn, &c->sock, sizeof c->sock, 1000,
                           "closing the change feed PUB socket");
        c->sock_open = false;
    }
}

void changes_free(changes *c)
{
    if (c == NULL)
        return;
    changes_stop(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    codec_writer_free(c->w);
    free(c->fch);
    free(c->chg);
    free(c->keys);
    free(c->states);
    free(c->taken);
    free(c->region_seq);
    changes_pickup_free(c->pickup);
    changes_relay_free(c->relay);
    free(c);
}

uint64_t changes_seq(const changes *c)
{
    return atomic_load(&((changes *)c)->seq);
}

uint64_t changes_region_seq(const changes *c, uint32_t region)
{
    return atomic_load(&c->region_seq[region]);
}

void changes_listener_set(changes *c, changes_listener_fn fn, void *arg)
{
    c->listener = fn;
    c->listener_arg = arg;
}

void changes_listener_watch(changes *c, int delta)
{
    atomic_fetch_add(&c->listener_watchers, delta);
}

void changes_mirror_set(changes *c, changes_mirror_fn fn, void *arg)
{
    c->mirror = fn;
    c->mirror_arg = arg;
}

void changes_relay_msg(void *arg, const void *msg, size_t len)
{
    changes *c = arg;
    (void)changes_relay_push(c->relay, msg, len);
}

void changes_stats_get(const changes *c, changes_stats *out)
{
    changes *m = (changes *)c; /* atomics only */
    *out = (changes_stats){
        .published = atomic_load(&m->seq) - m->seq_base,
        .flushes = atomic_load(&m->flushes),
        .send_failures = atomic_load(&m->send_failures),
        .subscribers = (uint64_t)atomic_load(&m->subscribers),
        .pickup_published = changes_pickup_published(m->pickup),
        .pickup_dropped =
            atomic_load(&m->pickup_failures) + engine_pickup_dropped(m->eng),
    };
    changes_relay_stats(m->relay, &out->relayed, &out->relay_dropped);
}
