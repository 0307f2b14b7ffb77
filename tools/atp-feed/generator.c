/*
 * generator.c - deterministic source messages, faults and schedule for
 * atp-feed (see generator.h). Pure computation; main thread of atp-feed.
 *
 * Each source draws from two PRNG streams of its own, both derived from the
 * seed and the source id: one for the events, one for the faults. So a
 * source's events do not change when faults are switched on, nor when other
 * sources are added to the run: tests can compare runs that differ in one
 * knob only.
 */
#include "generator.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"

/* ---- PRNG --------------------------------------------------------------- */

static uint64_t feed_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void feed_rng_seed(feed_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = feed_splitmix64(&x);
}

static uint64_t feed_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t feed_rng_next(feed_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = feed_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = feed_rotl(s[3], 45);
    return result;
}

uint64_t feed_rng_below(feed_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)feed_rng_next(r) * n) >> 64);
}

double feed_rng_unit(feed_rng *r)
{
    return (double)(feed_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- generator ---------------------------------------------------------- */

/* An open lot, as the generator needs it to pick the next lot event. */
typedef struct feed_gen_lot {
    uint64_t id;  /* "L<id>" */
    uint64_t sku; /* SKU number */
    size_t loc;   /* index into the spec's inbound locations */
} feed_gen_lot;

typedef struct feed_gen_src {
    feed_rng content; /* SKUs, pairs, kinds, values */
    feed_rng faults;  /* drop / dup / reorder draws */
    uint64_t next_seq;
    bool held_pending;  /* its previous message was reordered: the next one
                         * releases it and must not be held itself */
    bool finished;      /* its final heartbeat was generated */
    feed_gen_lot *lots; /* open lots, in no particular order */
    size_t n_lots;
    uint64_t next_lot; /* next lot id */
} feed_gen_src;

struct feed_gen {
    feed_gen_opts o;
    const feed_source_spec *srcs;
    size_t n_srcs;
    feed_gen_src *st;
    size_t rr; /* next source for data, round robin */
    codec_event *events;
    char *skus;    /* batch slots of ATP_SKU_MAX_LEN + 1 bytes */
    char *lot_ids; /* batch slots of FEED_LOT_ID_MAX bytes */
    uint64_t hot;  /* SKUs [0, hot) are the hot set */
    int64_t now_ms;
};

static uint64_t feed_fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool feed_prob_ok(double p)
{
    return p >= 0.0 && p <= 1.0;
}

atp_err feed_gen_alloc(const feed_gen_opts *o, const feed_source_spec *srcs,
                       size_t n_srcs, feed_gen **out)
{
    if (o->batch < 1 || o->skus < 1 || o->sku_prefix == NULL || n_srcs < 1 ||
        !feed_prob_ok(o->set_ratio) || !feed_prob_ok(o->drop) ||
        !feed_prob_ok(o->dup) || !feed_prob_ok(o->reorder) ||
        !feed_prob_ok(o->lot_ratio) || o->lot_eta_max_ms < 0 ||
        o->lot_eta_max_ms > ATP_QTY_MAX)
        return ATP_E_BAD_REQUEST;
    /* The largest SKU must fit the wire limit. */
    char widest[32];
    int digits = snprintf(widest, sizeof widest, "%" PRIu64, o->skus - 1);
    if (strlen(o->sku_prefix) + (size_t)digits > ATP_SKU_MAX_LEN)
        return ATP_E_BAD_REQUEST;
    for (size_t i = 0; i < n_srcs; i++)
        if ((srcs[i].n_pairs < 1 && srcs[i].n_inbound < 1) ||
            srcs[i].id == NULL)
            return ATP_E_BAD_REQUEST;
    /* Every seq must stay within what atpd accepts (ATP_WIRE_INT_MAX);
     * half of it leaves room for any run after the start. */
    if (o->start_seq > (uint64_t)ATP_WIRE_INT_MAX / 2)
        return ATP_E_BAD_REQUEST;

    feed_gen *g = calloc(1, sizeof *g);
    if (g == NULL)
        return ATP_E_NOMEM;
    g->o = *o;
    g->srcs = srcs;
    g->n_srcs = n_srcs;
    g->st = calloc(n_srcs, sizeof *g->st);
    g->events = calloc(o->batch, sizeof *g->events);
    g->skus = calloc(o->batch, ATP_SKU_MAX_LEN + 1);
    g->lot_ids = calloc(o->batch, FEED_LOT_ID_MAX);
    if (g->st == NULL || g->events == NULL || g->skus == NULL ||
        g->lot_ids == NULL) {
        feed_gen_free(g);
        return ATP_E_NOMEM;
    }
    for (size_t i = 0; i < n_srcs; i++)
        if (srcs[i].n_inbound > 0 &&
            (g->st[i].lots =
                 calloc(FEED_LOTS_MAX_OPEN, sizeof *g->st[i].lots)) == NULL) {
            feed_gen_free(g);
            return ATP_E_NOMEM;
        }
    g->hot = o->skus / FEED_HOT_DIVISOR;
    if (g->hot < 1)
        g->hot = 1;
    for (size_t i = 0; i < n_srcs; i++) {
        uint64_t h = feed_fnv1a(srcs[i].id);
        feed_rng_seed(&g->st[i].content, o->seed ^ h);
        feed_rng_seed(&g->st[i].faults, (o->seed ^ h) + 0x632be59bd9b4e019ULL);
        g->st[i].next_seq = o->start_seq;
    }
    *out = g;
    return ATP_OK;
}

void feed_gen_free(feed_gen *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; g->st != NULL && i < g->n_srcs; i++)
        free(g->st[i].lots);
    free(g->st);
    free(g->events);
    free(g->skus);
    free(g->lot_ids);
    free(g);
}

uint64_t feed_gen_next_seq(const feed_gen *g, size_t src)
{
    return g->st[src].next_seq;
}

void feed_gen_set_now(feed_gen *g, int64_t now_ms)
{
    g->now_ms = now_ms;
}

size_t feed_gen_open_lots(const feed_gen *g, size_t src)
{
    return g->st[src].n_lots;
}

/* feed_gen_begin fills the envelope of out and decides its faults. Three
 * fault draws per message whatever the outcome, so that one message's
 * faults never shift the draws of the next. */
static void feed_gen_begin(feed_gen *g, size_t src, bool final, feed_msg *out)
{
    feed_gen_src *st = &g->st[src];
    memset(out, 0, sizeof *out);
    out->source = src;
    out->source_id = g->srcs[src].id;
    out->seq = st->next_seq++;
    out->final = final;
    out->copies = 1;
    if (final) {
        st->finished = true;
        st->held_pending = false;
        return;
    }
    double u_drop = feed_rng_unit(&st->faults);
    double u_dup = feed_rng_unit(&st->faults);
    double u_reorder = feed_rng_unit(&st->faults);
    /* A receiver applies the first message it sees from a source whatever
     * its seq, so a lost or late first message could never be detected:
     * the first message is never dropped nor held back (it may still be
     * duplicated, which is detectable). */
    bool first = out->seq == g->o.start_seq;
    if (u_drop < g->o.drop && !first) {
        out->dropped = true;
        out->copies = 0;
    } else {
        out->copies = u_dup < g->o.dup ? 2 : 1;
        out->reordered =
            !first && !st->held_pending && u_reorder < g->o.reorder;
    }
    st->held_pending = out->reordered;
}

/* feed_gen_sku picks n with FEED_HOT_SHARE of the picks in the hot set. */
static uint64_t feed_gen_sku(feed_gen *g, feed_rng *r)
{
    bool hot = feed_rng_unit(r) < FEED_HOT_SHARE;
    if (hot || g->o.skus <= g->hot)
        return feed_rng_below(r, g->hot);
    return g->hot + feed_rng_below(r, g->o.skus - g->hot);
}

/* feed_gen_delta: on_hand mostly grows (receipts outnumber shrinkage):
 * [-5, 20] without 0; the other buckets move both ways: [-5, 5] without 0.
 * A zero delta would be a message that changes nothing. */
static int64_t feed_gen_delta(feed_rng *r, uint8_t bucket)
{
    int64_t hi = bucket == ATP_BUCKET_ON_HAND ? 20 : 5;
    int64_t v = (int64_t)feed_rng_below(r, (uint64_t)(hi + 5)) - 5;
    return v >= 0 ? v + 1 : v;
}

/* feed_gen_lot_event fills e with a lot event of source src: add a lot,
 * or change, receive or cancel an open one. sku and lot are the event's
 * string slots. */
static void feed_gen_lot_event(feed_gen *g, size_t src, codec_event *e,
                               char *sku, char *lot)
{
    feed_gen_src *st = &g->st[src];
    const feed_source_spec *spec = &g->srcs[src];
    feed_rng *r = &st->content;
    double u = feed_rng_unit(r);
    feed_gen_lot *x;
    if (st->n_lots == 0 ||
        (u < FEED_LOT_P_ADD && st->n_lots < FEED_LOTS_MAX_OPEN)) {
        x = &st->lots[st->n_lots++];
        x->id = st->next_lot++;
        x->sku = feed_gen_sku(g, r);
        x->loc = (size_t)feed_rng_below(r, spec->n_inbound);
        e->kind = ATP_EV_LOT_ADD;
    } else {
        size_t j = (size_t)feed_rng_below(r, st->n_lots);
        x = &st->lots[j];
        e->kind = u < FEED_LOT_P_CHANGE    ? ATP_EV_LOT_CHANGE
                  : u < FEED_LOT_P_RECEIVE ? ATP_EV_LOT_RECEIVE
                                           : ATP_EV_LOT_CANCEL;
    }
    int len = snprintf(sku, ATP_SKU_MAX_LEN + 1, "%s%" PRIu64, g->o.sku_prefix,
                       x->sku);
    int lot_len = snprintf(lot, FEED_LOT_ID_MAX, "L%" PRIu64, x->id);
    const char *loc = spec->inbound[x->loc];
    e->sku = (codec_str){sku, (uint32_t)len};
    e->location = (codec_str){loc, (uint32_t)strlen(loc)};
    e->ref = (codec_str){lot, (uint32_t)lot_len};
    if (e->kind == ATP_EV_LOT_ADD || e->kind == ATP_EV_LOT_CHANGE) {
        e->value = 1 + (int64_t)feed_rng_below(r, FEED_LOT_QTY_MAX);
        e->eta_ms = g->now_ms + (int64_t)feed_rng_below(
                                    r, (uint64_t)g->o.lot_eta_max_ms + 1);
    } else {
        /* Received or cancelled: no longer open (swap-remove). */
        *x = st->lots[--st->n_lots];
    }
}

size_t feed_gen_peek_source(const feed_gen *g)
{
    /* Sources that already sent their final heartbeat are skipped; the
     * bound keeps the loop finite even if every source has finished. */
    size_t src = g->rr;
    for (size_t k = 0; k < g->n_srcs && g->st[src].finished; k++)
        src = (src + 1) % g->n_srcs;
    return src;
}

void feed_gen_data(feed_gen *g, feed_msg *out)
{
    size_t src = feed_gen_peek_source(g);
    g->rr = (src + 1) % g->n_srcs;
    feed_gen_begin(g, src, false, out);
    const feed_source_spec *spec = &g->srcs[src];
    feed_rng *r = &g->st[src].content;
    for (uint32_t i = 0; i < g->o.batch; i++) {
        codec_event *e = &g->events[i];
        char *sku = g->skus + (size_t)i * (ATP_SKU_MAX_LEN + 1);
        memset(e, 0, sizeof *e);
        /* The lot draw is made only when lots are possible, so that a
         * source's stream without lots is what it always was. */
        if (spec->n_inbound > 0 &&
            (spec->n_pairs == 0 ||
             (g->o.lot_ratio > 0.0 && feed_rng_unit(r) < g->o.lot_ratio))) {
            feed_gen_lot_event(g, src, e, sku,
                               g->lot_ids + (size_t)i * FEED_LOT_ID_MAX);
            continue;
        }
        uint64_t n = feed_gen_sku(g, r);
        int len = snprintf(sku, ATP_SKU_MAX_LEN + 1, "%s%" PRIu64,
                           g->o.sku_prefix, n);
        const feed_pair *p = &spec->pairs[feed_rng_below(r, spec->n_pairs)];
        e->sku.ptr = sku;
        e->sku.len = (uint32_t)len;
        e->location.ptr = p->location;
        e->location.len = (uint32_t)strlen(p->location);
        e->bucket = p->bucket;
        if (feed_rng_unit(r) < g->o.set_ratio) {
            e->kind = ATP_EV_SET;
            e->value = (int64_t)feed_rng_below(r, 501);
        } else {
            e->kind = ATP_EV_DELTA;
            e->value = feed_gen_delta(r, p->bucket);
        }
    }
    out->n_events = g->o.batch;
    out->events = g->events;
}

void feed_gen_heartbeat(feed_gen *g, size_t src, bool final, feed_msg *out)
{
    feed_gen_begin(g, src, final, out);
    out->heartbeat = true;
    memset(&g->events[0], 0, sizeof g->events[0]);
    g->events[0].kind = ATP_EV_HEARTBEAT;
    out->n_events = 1;
    out->events = g->events;
}

/* ---- schedule ----------------------------------------------------------- */

#define FEED_NS_PER_MS 1000000LL

atp_err feed_sched_init(feed_sched *s, const feed_sched_opts *o)
{
    if (o->messages == 0 && o->duration_ms <= 0)
        return ATP_E_BAD_REQUEST;
    if (!(o->rate >= 0.0) || !isfinite(o->rate) || o->heartbeat_ms < 0 ||
        o->duration_ms < 0 || o->n_sources < 1)
        return ATP_E_BAD_REQUEST;
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->hb_tick = 1;
    return ATP_OK;
}

static void feed_sched_emit_hb(feed_sched *s, int64_t th, feed_item *out)
{
    out->kind = FEED_ITEM_HEARTBEAT;
    out->source = s->hb_source;
    out->t_ns = th;
    s->clock_ns = th;
    if (++s->hb_source == s->o.n_sources) {
        s->hb_source = 0;
        s->hb_tick++;
    }
}

void feed_sched_next(feed_sched *s, int64_t now_ns, feed_item *out)
{
    memset(out, 0, sizeof *out);
    out->kind = FEED_ITEM_END;
    out->t_ns = s->clock_ns;
    if (s->ended)
        return;
    int64_t dur_ns = s->o.duration_ms * FEED_NS_PER_MS;
    int64_t hb_ns = s->o.heartbeat_ms * FEED_NS_PER_MS;
    bool data_left = s->o.messages == 0 || s->data_done < s->o.messages;

    if (s->o.rate > 0.0) {
        int64_t td = 0;
        if (data_left) {
            td = (int64_t)llround((double)s->data_done * 1e9 / s->o.rate);
            if (dur_ns > 0 && td >= dur_ns)
                data_left = false;
        }
        if (hb_ns > 0) {
            int64_t th = (int64_t)s->hb_tick * hb_ns;
            /* A tie goes to data; after the data, heartbeats go on only to
             * fill a requested duration. */
            bool due = data_left ? th < td : (dur_ns > 0 && th < dur_ns);
            if (due) {
                feed_sched_emit_hb(s, th, out);
                return;
            }
        }
        if (data_left) {
            out->kind = FEED_ITEM_DATA;
            out->t_ns = td;
            s->clock_ns = td;
            s->data_done++;
            return;
        }
        s->ended = true;
        return;
    }

    /* rate 0: as fast as possible, the real clock decides. */
    if (dur_ns > 0 && now_ns >= dur_ns)
        data_left = false;
    if (!data_left) {
        s->ended = true;
        return;
    }
    if (hb_ns > 0 && now_ns >= (int64_t)s->hb_tick * hb_ns) {
        /* After a stall, skip the ticks already missed rather than send a
         * burst of heartbeats that prove nothing. */
        if (s->hb_source == 0 && now_ns / hb_ns > (int64_t)s->hb_tick)
            s->hb_tick = (uint64_t)(now_ns / hb_ns);
        feed_sched_emit_hb(s, (int64_t)s->hb_tick * hb_ns, out);
        return;
    }
    out->kind = FEED_ITEM_DATA;
    out->t_ns = s->clock_ns;
    s->data_done++;
}
