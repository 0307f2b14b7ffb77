/*
 * pickup_feed.c - what the pickup feed publishes (docs/PROTOCOL.md,
 * "Pickup feed"): per (SKU, pickup location), the location's own state
 * (net, what pinned lines hold, its pickup buffer, what it could promise
 * before the region's cap) each time it changes.
 *
 * Positions are engine-thread state, so the engine thread does the work
 * and the changes thread only publishes. Marking: a position whose
 * buckets change (engine__position_touched), whose pinned total moves
 * (resv_rows_move), or whose location's settings or region change
 * (engine__pickup_settings) gets POSITION_PICKUP and its key queued once.
 * Draining: every feed interval the changes thread queues one drain
 * command (engine_pickup_drain_submit); the engine thread reads each
 * marked position once, clears its mark and puts the change in the outbox,
 * which the changes thread swaps out at its next interval. However often a
 * position changed in between, one change carries its latest state; the
 * outbox never holds more than one change per marked position.
 *
 * Only locations that take pickup orders are marked by stock and pins, so
 * a retailer without pickup stores pays one flag test per event.
 */
#include <stdlib.h>

#include "common/log.h"
#include "engine/engine_int.h"
#include "engine/resv_int.h"
#include "formula/pickup.h"

void engine_pickup_feed_enable(engine *e)
{
    pthread_mutex_init(&e->pfeed.mu, NULL);
    e->pfeed.enabled = true;
}

/* Room for one more of n items of size bytes in *buf (capacity *cap),
 * doubling it when full: false (counted as dropped) when out of memory. */
static bool pickup_feed_room(engine *e, void **buf, size_t *cap, size_t n,
                             size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 1024;
    void *grown = realloc(*buf, c * size);
    if (grown == NULL) {
        atomic_fetch_add_explicit(&e->pfeed.dropped, 1, memory_order_relaxed);
        return false;
    }
    *buf = grown;
    *cap = c;
    return true;
}

static void pickup_feed_mark(engine *e, position *p)
{
    void *keys = e->pfeed.keys;
    if ((p->key & POSITION_PICKUP) ||
        !pickup_feed_room(e, &keys, &e->pfeed.cap, e->pfeed.n,
                          sizeof *e->pfeed.keys))
        return;
    e->pfeed.keys = keys;
    p->key |= POSITION_PICKUP;
    e->pfeed.keys[e->pfeed.n++] = p->key & POSITION_KEY_MASK;
}

void engine__pickup_touched(engine *e, position *p)
{
    if (e->pfeed.enabled && !(p->key & POSITION_PICKUP) &&
        e->loc_info[position_loc(p)].pickup)
        pickup_feed_mark(e, p);
}

void engine__pickup_settings(engine *e, const uint16_t *was_region,
                             const engine_location_info *was_info)
{
    if (!e->pfeed.enabled)
        return;
    size_t n = e->cfg->n_locations;
    bool *hit = calloc(n ? n : 1, sizeof *hit);
    if (hit == NULL) {
        atomic_fetch_add_explicit(&e->pfeed.dropped, 1, memory_order_relaxed);
        log_error("engine", "out of memory: the pickup feed does not publish "
                            "this change of locations' settings");
        return;
    }
    bool any = false;
    for (size_t l = 0; l < n; l++) {
        const engine_location_info *a = &was_info[l], *b = &e->loc_info[l];
        hit[l] =
            (a->pickup || b->pickup) &&
            (a->pickup != b->pickup || a->pickup_buffer != b->pickup_buffer ||
             was_region[l] != e->loc_region[l]);
        any |= hit[l];
    }
    for (size_t i = 0; any && i < e->pos.cap; i++) {
        position *p = &e->pos.slots[i];
        if (p->key != 0 && hit[position_loc(p)])
            pickup_feed_mark(e, p);
    }
    free(hit);
}

/* One marked position's change (false: its location was removed, nothing
 * to say about it any more). */
static bool pickup_feed_read(const engine *e, const position *p,
                             engine_pickup_change *out)
{
    uint16_t loc = position_loc(p);
    uint16_t region = e->loc_region[loc];
    if (region == CONFIG_LOCATION_GONE)
        return false;
    const engine_location_info *li = &e->loc_info[loc];
    formula_position fp = {p->bucket[ATP_BUCKET_ON_HAND],
                           p->bucket[ATP_BUCKET_ALLOCATED],
                           p->bucket[ATP_BUCKET_HELD], 0};
    formula_pickup x;
    uint32_t sku = position_sku(p);
    /* The region's cap left out (ATP_QTY_SUM_MAX): it is the region's
     * answer, on its own topic. */
    formula_pickup_of(&fp, resv__pinned_at(e, sku, loc), li->pickup_buffer,
                      li->pickup, ATP_QTY_SUM_MAX, &x);
    *out = (engine_pickup_change){.sku = sku,
                                  .location = loc,
                                  .region = region,
                                  .pickup = li->pickup,
                                  .net = x.net,
                                  .reserved = x.reserved,
                                  .buffer = x.buffer,
                                  .available = x.atp};
    return true;
}

void engine__pickup_drain(engine *e)
{
    ATP_ASSERT_OWNER(&e->owner);
    atomic_store_explicit(&e->pfeed.draining, false, memory_order_release);
    pthread_mutex_lock(&e->pfeed.mu);
    for (size_t i = 0; i < e->pfeed.n; i++) {
        uint64_t k = e->pfeed.keys[i];
        position *p = positions_get(&e->pos, (uint32_t)(k >> 16) - 1,
                                    (uint16_t)(k & 0xffff));
        if (p == NULL) /* never: positions are not removed */
            continue;
        p->key &= ~POSITION_PICKUP;
        void *out = e->pfeed.out;
        if (!pickup_feed_room(e, &out, &e->pfeed.out_cap, e->pfeed.out_n,
                              sizeof *e->pfeed.out))
            continue;
        e->pfeed.out = out;
        if (pickup_feed_read(e, p, &e->pfeed.out[e->pfeed.out_n]))
            e->pfeed.out_n++;
    }
    pthread_mutex_unlock(&e->pfeed.mu);
    e->pfeed.n = 0;
}

atp_err engine_pickup_drain_submit(engine *e)
{
    if (atomic_exchange_explicit(&e->pfeed.draining, true,
                                 memory_order_acq_rel))
        return ATP_OK; /* one is queued: it drains everything */
    engine_cmd cmd = {.type = ENGINE_CMD_PICKUP_DRAIN};
    atp_err err = queue_try_push(&e->q, &cmd);
    if (err != ATP_OK)
        atomic_store_explicit(&e->pfeed.draining, false, memory_order_release);
    return err;
}

size_t engine_pickup_take(engine *e, engine_pickup_change **buf, size_t *cap)
{
    pthread_mutex_lock(&e->pfeed.mu);
    engine_pickup_change *out = e->pfeed.out;
    size_t n = e->pfeed.out_n, out_cap = e->pfeed.out_cap;
    e->pfeed.out = *buf;
    e->pfeed.out_cap = *cap;
    e->pfeed.out_n = 0;
    pthread_mutex_unlock(&e->pfeed.mu);
    *buf = out;
    *cap = out_cap;
    return n;
}

uint64_t engine_pickup_dropped(const engine *e)
{
    return atomic_load_explicit(&((engine *)e)->pfeed.dropped,
                                memory_order_relaxed);
}

const char *engine_sku_name(const engine *e, uint32_t sku, size_t *len)
{
    return dict_key(e->skus, sku, len);
}
