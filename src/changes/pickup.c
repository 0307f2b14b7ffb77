/*
 * pickup.c - the pickup feed's publisher (see pickup.h). Changes thread;
 * the published counter is an atomic any thread reads.
 *
 * Sequences: `seq` +1 per pickup message, `location_seq` +1 per message
 * of one location, both starting at the change feed's base (the start
 * time in ms x 1000, changes.c), so a restart shows a jump, never a
 * reused number. A subscriber to one location checks location_seq: a
 * step other than +1 means it missed messages (a slow subscriber's PUB
 * queue overflowed) and should read `pickup` again.
 */
#include "changes/pickup.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

struct changes_pickup {
    const config *cfg;
    uint64_t seq_base;
    _Atomic uint64_t seq;
    uint64_t *location_seq; /* per location */
    engine_pickup_change *buf;
    size_t cap;
};

changes_pickup *changes_pickup_alloc(const config *cfg, uint64_t seq_base)
{
    changes_pickup *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->cfg = cfg;
    p->seq_base = seq_base;
    atomic_init(&p->seq, seq_base);
    size_t n = cfg->n_locations ? cfg->n_locations : 1;
    p->location_seq = malloc(n * sizeof *p->location_seq);
    if (p->location_seq == NULL) {
        free(p);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        p->location_seq[i] = seq_base;
    return p;
}

void changes_pickup_free(changes_pickup *p)
{
    if (p == NULL)
        return;
    free(p->location_seq);
    free(p->buf);
    free(p);
}

static bool changes_pickup_send(changes_pickup *p, engine *eng, nng_socket sock,
                                codec_writer *w, const engine_pickup_change *c)
{
    const config *cfg = p->cfg;
    size_t sku_len;
    const char *sku = engine_sku_name(eng, c->sku, &sku_len);
    const char *loc = cfg->locations[c->location].id;
    const char *region = cfg->regions[c->region].id;
    uint64_t seq = atomic_load(&p->seq) + 1;
    uint64_t location_seq = p->location_seq[c->location] + 1;
    codec_feed_pickup m = {
        .seq = seq,
        .location_seq = location_seq,
        .ts_ms = clock_wall_ms(),
        .location = {loc, (uint32_t)strlen(loc)},
        .sku = {sku, (uint32_t)sku_len},
        .region = {region, (uint32_t)strlen(region)},
        .pickup = c->pickup,
        .net = c->net,
        .reserved = c->reserved,
        .buffer = c->buffer,
        .available = c->available,
    };
    codec_writer_reset(w);
    codec_feed_pickup_encode(w, &m);
    size_t len;
    const unsigned char *data = codec_writer_data(w, &len);
    nng_msg *msg;
    if (codec_writer_failed(w) || nng_msg_alloc(&msg, len) != 0)
        return false;
    memcpy(nng_msg_body(msg), data, len);
    /* Both sequences move together once the message exists: a send that
     * fails then shows as a gap in both. */
    atomic_store(&p->seq, seq);
    p->location_seq[c->location] = location_seq;
    if (nng_sendmsg(sock, msg, 0) != 0) {
        nng_msg_free(msg);
        return false;
    }
    return true;
}

uint64_t changes_pickup_flush(changes_pickup *p, engine *eng, nng_socket sock,
                              bool send, codec_writer *w, uint64_t *failures)
{
    size_t n = engine_pickup_take(eng, &p->buf, &p->cap);
    uint64_t sent = 0;
    for (size_t i = 0; send && i < n; i++) {
        /* another partition's location: its owner has the reservations
         * (docs/CLUSTER.md); not relayed */
        const char *region = p->cfg->regions[p->buf[i].region].id;
        if (!config_partition_here(&p->cfg->cluster, region, strlen(region)))
            continue;
        if (changes_pickup_send(p, eng, sock, w, &p->buf[i]))
            sent++;
        else
            (*failures)++;
    }
    /* Busy: the engine's queue is full; the marks wait for the next
     * interval's drain, nothing is lost. */
    (void)engine_pickup_drain_submit(eng);
    return sent;
}

uint64_t changes_pickup_published(const changes_pickup *p)
{
    return atomic_load(&((changes_pickup *)p)->seq) - p->seq_base;
}
