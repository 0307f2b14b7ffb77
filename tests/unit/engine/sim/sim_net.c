/*
 * sim_net.c - the simulation's network and publishers (sim.h): packets
 * lost, duplicated, delayed and so reordered by the network's mode; two
 * publishers that encode real source messages, keep their history (which
 * survives their restarts) and answer resync requests from it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"
#include "sim.h"

/* ---- the network -------------------------------------------------------- */

/* sim_grow: arr (n used of *cap elements of size) with room for one more. */
static void *sim_grow(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : 256;
    arr = realloc(arr, *cap * size);
    if (arr == NULL)
        abort();
    return arr;
}

static void sim_net_push(sim *s, const sim_packet *p, int64_t delay)
{
    sim_net *n = &s->net;
    n->q = sim_grow(n->q, n->n, &n->cap, sizeof *n->q);
    sim_packet *np = &n->q[n->n++];
    *np = *p;
    np->due = s->now + delay;
    np->order = n->order++;
}

/* A packet's delay in the network's mode: reordering comes from unequal
 * delays (a healed network delivers in order, at once). */
static int64_t sim_net_delay(sim *s)
{
    switch (s->net.mode) {
    case SIM_NET_HEALED:
        return 0;
    case SIM_NET_SLOW:
        return sim_range(s, 0, 80);
    default:
        return sim_range(s, 0, 150);
    }
}

/* sim_net_send: p (its buf owned from now on) is lost, delivered once, or
 * delivered twice, as the network's mode has it. */
void sim_net_send(sim *s, sim_packet p)
{
    static const uint32_t loss[] = {0, 0, 10, 90}, dup[] = {0, 5, 5, 5};
    s->sent++;
    if (sim_chance(s, loss[s->net.mode])) {
        s->dropped++;
        free(p.buf);
        return;
    }
    if (sim_chance(s, dup[s->net.mode])) {
        sim_packet d = p;
        if (p.buf != NULL) {
            d.buf = malloc(p.len);
            if (d.buf == NULL)
                abort();
            memcpy(d.buf, p.buf, p.len);
        }
        sim_net_push(s, &d, sim_net_delay(s));
        s->duplicated++;
    }
    sim_net_push(s, &p, sim_net_delay(s));
}

/* sim_net_take removes the next packet due by now: the earliest, then the
 * first sent. */
bool sim_net_take(sim *s, sim_packet *out)
{
    sim_net *n = &s->net;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n->n; i++) {
        const sim_packet *p = &n->q[i];
        if (p->due > s->now)
            continue;
        if (best == SIZE_MAX || p->due < n->q[best].due ||
            (p->due == n->q[best].due && p->order < n->q[best].order))
            best = i;
    }
    if (best == SIZE_MAX)
        return false;
    *out = n->q[best];
    n->q[best] = n->q[--n->n];
    return true;
}

/* What was in flight to or from a process that ends is lost. */
void sim_net_clear(sim *s)
{
    for (size_t i = 0; i < s->net.n; i++)
        free(s->net.q[i].buf);
    s->net.n = 0;
}

/* ---- publishers --------------------------------------------------------- */

/* sim_pub_encode: m as src's publisher with session sends it, in a buffer
 * of its own. */
sim_packet sim_pub_encode(sim *s, uint32_t src, codec_src_msg m,
                          uint64_t session)
{
    m.source = (codec_str){sim_source_ids[src], 3};
    m.session = session;
    codec_writer_reset(s->w);
    codec_src_encode(s->w, &m);
    size_t len;
    const void *data = codec_writer_data(s->w, &len);
    unsigned char *buf = malloc(len);
    if (codec_writer_failed(s->w) || buf == NULL)
        abort();
    memcpy(buf, data, len);
    return (sim_packet){.src = src, .session = session, .buf = buf, .len = len};
}

codec_event sim_codec_event(uint32_t src, uint32_t sku, uint32_t loc, bool set,
                            int64_t value)
{
    return (codec_event){.kind = set ? ATP_EV_SET : ATP_EV_DELTA,
                         .bucket = sim_source_bucket[src],
                         .sku = {sim_skus[sku], 2},
                         .location = {sim_locs[loc], 2},
                         .value = value};
}

/* sim_pub_send sends message seq of src's history, with the publisher's
 * session now (a replay after a restart carries the new one). */
static void sim_pub_send(sim *s, uint32_t src, uint64_t seq)
{
    sim_pub *p = &s->pub[src];
    const sim_pub_msg *h = &p->hist[seq - 1];
    codec_event evs[SIM_BATCH_EVENTS];
    uint32_t n = h->n;
    for (uint32_t i = 0; i < h->n; i++)
        evs[i] = sim_codec_event(src, h->ev[i].sku, h->ev[i].loc, h->ev[i].set,
                                 h->ev[i].value);
    if (n == 0)
        evs[n++] = (codec_event){.kind = ATP_EV_HEARTBEAT};
    codec_src_msg m = {.kind = ATP_MSG_SOURCE_BATCH,
                       .seq = seq,
                       .ts_ms = (uint64_t)s->now,
                       .n_events = n,
                       .events = evs};
    sim_net_send(s, sim_pub_encode(s, src, m, p->session));
    p->last_sent = s->now;
}

/* sim_pub_emit: the publisher's next message, a batch of 1-4 random events
 * (SET or DELTA on its bucket) or a heartbeat, kept in its history with
 * the state after it, then sent. */
void sim_pub_emit(sim *s, uint32_t src, bool heartbeat)
{
    sim_pub *p = &s->pub[src];
    p->hist = sim_grow(p->hist, p->seq, &p->cap, sizeof *p->hist);
    sim_pub_msg *h = &p->hist[p->seq++];
    memset(h, 0, sizeof *h);
    h->n = heartbeat ? 0 : 1 + sim_below(s, SIM_BATCH_EVENTS);
    for (uint32_t i = 0; i < h->n; i++) {
        uint32_t sku = sim_below(s, SIM_SKUS), loc = sim_below(s, SIM_LOCS);
        bool set = sim_chance(s, 40);
        int64_t v = src == 0
                        ? (set ? sim_range(s, 0, 60) : sim_range(s, -10, 20))
                        : (set ? sim_range(s, 0, 15) : sim_range(s, -6, 8));
        int64_t *cell = &p->state[sku][loc];
        *cell = set ? v : *cell + v;
        h->ev[i].sku = (uint8_t)sku;
        h->ev[i].loc = (uint8_t)loc;
        h->ev[i].set = set;
        h->ev[i].value = v;
    }
    memcpy(h->state, p->state, sizeof h->state);
    sim_pub_send(s, src, p->seq);
}

/* sim_pub_snapshot sends the publisher's whole state (a SET for every
 * position of its authority), consistent with its last seq, in parts. */
void sim_pub_snapshot(sim *s, uint32_t src)
{
    sim_pub *p = &s->pub[src];
    codec_event evs[SIM_SKUS * SIM_LOCS];
    uint32_t n = 0;
    for (uint32_t k = 0; k < SIM_SKUS; k++)
        for (uint32_t l = 0; l < SIM_LOCS; l++)
            evs[n++] = sim_codec_event(src, k, l, true, p->state[k][l]);
    uint64_t id = ++p->snapshot_id;
    uint32_t parts = (n + SIM_SNAPSHOT_PART - 1) / SIM_SNAPSHOT_PART;
    for (uint32_t part = 0; part < parts; part++) {
        uint32_t off = part * SIM_SNAPSHOT_PART;
        codec_src_msg m = {
            .kind = ATP_MSG_SNAPSHOT,
            .seq = p->seq,
            .ts_ms = (uint64_t)s->now,
            .n_events =
                n - off < SIM_SNAPSHOT_PART ? n - off : SIM_SNAPSHOT_PART,
            .events = evs + off,
            .snapshot_id = id,
            .part = part,
            .last = part + 1 == parts,
        };
        sim_net_send(s, sim_pub_encode(s, src, m, p->session));
    }
    p->last_sent = p->last_snapshot = s->now;
    s->snapshots++;
}

/* sim_pub_request answers a resync request that reached the publisher:
 * its snapshot, or every message from the seq asked for (none when it
 * sent nothing from there). A restarting publisher answers nothing. */
void sim_pub_request(sim *s, const sim_packet *q)
{
    sim_pub *p = &s->pub[q->src];
    if (p->down)
        return;
    if (q->snapshot) {
        sim_pub_snapshot(s, q->src);
        return;
    }
    s->replays++;
    for (uint64_t seq = q->from ? q->from : 1; seq <= p->seq; seq++)
        sim_pub_send(s, q->src, seq);
}
