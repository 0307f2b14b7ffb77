/*
 * engine.c - the single-writer engine: set-up, the engine thread and its
 * commands, applying a batch's events to positions (see engine.h for the
 * thread rules). The lock-free readers' queries are query.c's.
 *
 * The rows the readers read are rows.c's (seqlocks), a batch's supply
 * changes go through accum.c's accumulator, start-up loading is
 * restore.c's; reservations are resv*.c's, snapshots snapshot*.c's.
 */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"
#include "engine/dict.h"
#include "engine/positions.h"
#include "formula/formula.h"
#include "formula/rules.h"

/* ---- set-up ------------------------------------------------------------ */

uint32_t engine__region_of(const config *started, const config *cfg,
                           uint32_t region)
{
    if (region == UINT32_MAX || cfg == started)
        return region;
    const char *id = cfg->regions[region].id;
    int k = config_region_place(started, id, strlen(id));
    return k < 0 ? UINT32_MAX - 1 : (uint32_t)k;
}

uint32_t engine__channel_of(const config *started, const config *cfg,
                            uint32_t channel)
{
    if (channel == UINT32_MAX || cfg == started)
        return channel;
    const char *id = cfg->channels[channel];
    int k = config_channel_place(started, id, strlen(id));
    return k < 0 ? UINT32_MAX - 1 : (uint32_t)k;
}

atp_err engine__rules_build(const config *cfg, const config *started,
                            rules **out)
{
    rules *r;
    /* Sized for the engine's places (spare channels included): cfg's
     * regions and named channels are a prefix of started's. */
    atp_err err = rules_alloc((uint32_t)started->n_regions,
                              (uint32_t)started->n_channels, &r);
    if (err != ATP_OK)
        return err;
    for (size_t i = 0; i < cfg->n_buffers; i++) {
        const config_buffer_rule *b = &cfg->buffers[i];
        uint32_t region = engine__region_of(started, cfg, b->region);
        uint32_t channel = engine__channel_of(started, cfg, b->channel);
        err =
            region == UINT32_MAX - 1 || channel == UINT32_MAX - 1
                ? ATP_E_CONFIG /* not a place of the engine: refused */
                : rules_add_values(r, b->sku, b->sku ? strlen(b->sku) : 0,
                                   region == UINT32_MAX ? RULES_ANY : region,
                                   channel == UINT32_MAX ? RULES_ANY : channel,
                                   &(rules_values){.units = b->units,
                                                   .percent_bp = b->percent_bp,
                                                   .low_stock = b->low_stock,
                                                   .backorder = b->backorder});
        if (err != ATP_OK) {
            log_error("engine", "buffer rule at line %d: %s", b->line,
                      atp_err_message(err));
            rules_free(r);
            return err;
        }
    }
    *out = r;
    return ATP_OK;
}

atp_err engine__loc_info_of(const config *started, const config *src,
                            engine_location_info **out)
{
    size_t n = started->n_locations;
    engine_location_info *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const config_location *l = &started->locations[i];
        int k = src == started ? (int)i
                : l->id == NULL
                    ? -1 /* a spare place: no settings until it is named */
                    : config_location_find(src, l->id, strlen(l->id));
        if (k >= 0)
            l = &src->locations[k];
        v[i] = (engine_location_info){.type = strdup(l->type ? l->type : ""),
                                      .pickup = l->pickup,
                                      .pickup_buffer = l->pickup_buffer};
        if (v[i].type == NULL) {
            engine__loc_info_free(v, i);
            return ATP_E_NOMEM;
        }
    }
    *out = v;
    return ATP_OK;
}

void engine__loc_info_free(engine_location_info *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].type);
    free(v);
}

int64_t *engine__horizons_of(const config *started, const config *src)
{
    size_t n = started->n_regions;
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t r = 0; v != NULL && r < n; r++) {
        const char *id = started->regions[r].id;
        int k = src == started ? (int)r
                : id == NULL   ? -1 /* a spare place: its claim's horizon */
                               : config_region_find(src, id, strlen(id));
        v[r] = k >= 0 ? src->regions[k].inbound_horizon_ms
                      : started->regions[r].inbound_horizon_ms;
    }
    return v;
}

atp_err engine_alloc(const config *cfg, const engine_persist *persist,
                     engine **out)
{
    atp_err err = ATP_E_NOMEM;
    engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ATP_E_NOMEM;
    e->cfg = cfg;
    e->now_ms = clock_wall_ms(); /* what a start-up load of lots counts at */
    if (persist != NULL)
        e->persist = *persist;
    e->n_regions = (uint32_t)cfg->n_regions;
    e->n_channels = (uint32_t)cfg->n_channels;
    if (e->n_regions == 0 || e->n_channels == 0) {
        err = ATP_E_CONFIG;
        goto fail;
    }
    e->loc_region =
        calloc(cfg->n_locations ? cfg->n_locations : 1, sizeof *e->loc_region);
    e->region_stale = calloc(e->n_regions, sizeof *e->region_stale);
    e->row_dir = calloc(ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK, sizeof *e->row_dir);
    if (e->loc_region == NULL || e->region_stale == NULL || e->row_dir == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->n_locations; i++) /* spare places: GONE */
        e->loc_region[i] = cfg->locations[i].id == NULL
                               ? CONFIG_LOCATION_GONE
                               : (uint16_t)cfg->locations[i].region;
    if ((err = engine__loc_info_of(cfg, cfg, &e->loc_info)) != ATP_OK)
        goto fail;
    if ((e->horizon_ms = engine__horizons_of(cfg, cfg)) == NULL) {
        err = ATP_E_NOMEM;
        goto fail;
    }
    if ((err = dict_alloc(ENGINE_MAX_SKUS, &e->skus)) != ATP_OK)
        goto fail;
    if ((err = positions_init(&e->pos, 1 << 16)) != ATP_OK)
        goto fail;
    rules *r;
    if ((err = engine__rules_build(cfg, cfg, &r)) != ATP_OK)
        goto fail;
    atomic_init(&e->rules, r);
    if ((err = queue_init(&e->q, sizeof(engine_cmd), ENGINE_QUEUE_CAP)) !=
        ATP_OK)
        goto fail;
    if ((err = resv_table_init(&e->resv, cfg)) != ATP_OK)
        goto fail;
    pthread_mutex_init(&e->dirty.mu, NULL);
    if ((err = engine__snapshot_init(e)) != ATP_OK ||
        (err = engine__lots_init(&e->lots)) != ATP_OK ||
        (err = engine__phased_init(&e->phased)) != ATP_OK)
        goto fail;
    bundles *b;
    if ((err = engine__bundles_build(e, cfg, &b)) != ATP_OK)
        goto fail;
    atomic_init(&e->bundles, b);
    e->bundles_digest = config_bundles_digest(cfg);
    *out = e;
    return ATP_OK;
fail:
    engine_free(e);
    return err;
}

void engine_free(engine *e)
{
    if (e == NULL)
        return;
    if (e->running)
        engine_stop(e);
    resv_table_fini(&e->resv);
    free(e->acc.keys);
    free(e->acc.delta);
    free(e->acc.touched);
    free(e->over.keys);
    free(e->over.rest);
    free(e->dirty.keys);
    pthread_mutex_destroy(&e->dirty.mu);
    engine__snapshot_fini(e);
    engine__lots_fini(&e->lots);
    engine__phased_fini(&e->phased);
    queue_fini(&e->q);
    rules_free(atomic_load(&e->rules));
    for (size_t i = 0; i < e->retired.n; i++)
        rules_free(e->retired.sets[i]);
    free(e->retired.sets);
    bundles_free(atomic_load(&e->bundles));
    for (size_t i = 0; i < e->retired_bundles.n; i++)
        bundles_free(e->retired_bundles.sets[i]);
    free(e->retired_bundles.sets);
    positions_fini(&e->pos);
    position_sums_fini(&e->pinned);
    if (e->pfeed.enabled)
        pthread_mutex_destroy(&e->pfeed.mu);
    free(e->pfeed.keys);
    free(e->pfeed.out);
    dict_free(e->skus);
    if (e->row_dir != NULL)
        for (size_t i = 0; i < ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK; i++)
            free(atomic_load(&e->row_dir[i]));
    free(e->row_dir);
    free(e->region_stale);
    free(e->loc_region);
    engine__loc_info_free(e->loc_info, e->cfg->n_locations);
    free(e->loc_settling);
    free(e->horizon_ms);
    free(e);
}

/* ---- the engine thread -------------------------------------------------- */

int64_t engine__clamp(engine *e, int64_t v)
{
    if (v > ATP_QTY_MAX || v < -ATP_QTY_MAX) {
        atomic_fetch_add_explicit(&e->events_clamped, 1, memory_order_relaxed);
        return v > 0 ? ATP_QTY_MAX : -ATP_QTY_MAX;
    }
    return v;
}

static atp_err engine_batch_reserve(engine *e, const engine_batch *b)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->events[i].sku_len > DICT_INLINE)
            bytes += b->events[i].sku_len;
    atp_err err = engine__skus_reserve(e, b->n, bytes);
    if (err != ATP_OK)
        return err;
    return positions_reserve(&e->pos, b->n);
}

static void engine_apply_event(engine *e, const engine_batch *b,
                               const engine_event *ev, uint32_t sku)
{
    /* Removed by a reload after the ingest resolved it (the ingest rejects
     * and counts such events from the reload on): dropped. */
    if (e->loc_region[ev->location] == CONFIG_LOCATION_GONE)
        return;
    if (ev->kind >= ATP_EV_LOT_ADD) {
        engine__lot_event(e, sku, ev);
        return;
    }
    size_t before = e->pos.used;
    position *p = positions_upsert(&e->pos, sku, ev->location);
    ATP_ASSERT(p != NULL); /* room reserved by engine_batch_reserve */
    if (e->pos.used != before)
        atomic_store_explicit(&e->n_positions, e->pos.used,
                              memory_order_relaxed);
    int64_t old_net = engine__position_net(e, p);
    engine__position_touched(e, p);
    int64_t *bucket = &p->bucket[ev->bucket];
    if (ev->kind == ATP_EV_SET)
        *bucket = engine__clamp(e, ev->value);
    else
        *bucket = engine__clamp(e, formula_sat_add(*bucket, ev->value));
    int64_t new_net = engine__position_net(e, p);
    uint32_t region = e->loc_region[ev->location];
    if (new_net != old_net)
        engine__supply_changed(e, sku, ev->location, new_net - old_net);
    /* An allocation naming a committed reservation: the WMS now holds what
     * the reservation held, so the reservation lets go of it (never
     * subtracted twice). Supply is published first, so a concurrent reader
     * sees ATP dip for an instant rather than rise. */
    if (ev->kind == ATP_EV_DELTA && ev->bucket == ATP_BUCKET_ALLOCATED &&
        ev->value > 0 && ev->ref_len > 0) {
        engine__supply_flush(e);
        resv_consume(e, sku, region, ev->ref, ev->ref_len, ev->value,
                     b->from_source ? b->source : UINT32_MAX, b->seq,
                     (uint32_t)(ev - b->events));
    }
}

/* Apply a batch's events in order as a software pipeline, because a lookup
 * is a chain of cache misses (dictionary slot, key entry, position) and a
 * batch has many independent ones: at step s, event s is hashed and its
 * dictionary slot prefetched, event s - D has its key entry prefetched,
 * event s - 2D is interned and its position prefetched, event s - 3D is
 * applied. Interning a few events ahead of applying them is invisible to
 * readers: a SKU is known with zero rows until the batch publishes. */
/* ENGINE_PIPE_D and ENGINE_PIPE_RING: engine_int.h (query.c's readers
 * run the same pipeline). */

static void engine_apply_events(engine *e, const engine_batch *b)
{
    uint32_t hash[ENGINE_PIPE_RING], sku[ENGINE_PIPE_RING];
    const uint32_t m = ENGINE_PIPE_RING - 1, d = ENGINE_PIPE_D, n = b->n;
    for (uint32_t s = 0; s < n + 3 * d; s++) {
        if (s + d < n)
            __builtin_prefetch(b->events[s + d].sku);
        if (s < n) {
            const engine_event *ev = &b->events[s];
            hash[s & m] = dict_hash(ev->sku, ev->sku_len);
            dict_prefetch(e->skus, hash[s & m]);
        }
        if (s >= d && s - d < n)
            dict_prefetch_key(e->skus, hash[(s - d) & m]);
        if (s >= 2 * d && s - 2 * d < n) {
            uint32_t i = s - 2 * d;
            const engine_event *ev = &b->events[i];
            /* cannot fail after engine_batch_reserve */
            atp_err err = dict_intern_hashed(e->skus, hash[i & m], ev->sku,
                                             ev->sku_len, &sku[i & m]);
            ATP_ASSERT(err == ATP_OK);
            if (ev->kind < ATP_EV_LOT_ADD)
                positions_prefetch(&e->pos, sku[i & m], ev->location);
        }
        if (s >= 3 * d) {
            uint32_t i = s - 3 * d;
            engine_apply_event(e, b, &b->events[i], sku[i & m]);
        }
    }
}

/* A full snapshot replaces everything the source is authoritative for:
 * its position buckets go to 0 and its lots away, before the snapshot's
 * own values apply (all in the same batch, published at once per row). */
static void engine_clear_authority(engine *e, uint32_t src)
{
    if (src >= e->cfg->n_sources)
        return;
    const config_source *cs = &e->cfg->sources[src];
    size_t nl = e->cfg->n_locations;
    uint8_t *mask = calloc(nl ? nl : 1, 1);
    uint8_t *inbound = calloc(nl ? nl : 1, 1);
    if (mask == NULL || inbound == NULL) {
        free(mask);
        free(inbound);
        log_error("engine", "out of memory: snapshot applied without clearing");
        return;
    }
    for (size_t i = 0; i < cs->n_authority; i++) {
        const config_authority *a = &cs->authority[i];
        if (a->bucket == ATP_AUTH_INBOUND)
            inbound[a->location] = 1;
        else
            mask[a->location] |= (uint8_t)(1u << a->bucket);
    }
    for (size_t i = 0; i < e->pos.cap; i++) {
        position *p = &e->pos.slots[i];
        if (p->key == 0 || mask[position_loc(p)] == 0)
            continue;
        int64_t before = engine__position_net(e, p);
        bool changed = false;
        for (int bk = 0; bk < ATP_BUCKET_COUNT; bk++) {
            if ((mask[position_loc(p)] & (1u << bk)) && p->bucket[bk] != 0) {
                p->bucket[bk] = 0;
                changed = true;
            }
        }
        if (changed) {
            engine__position_touched(e, p);
            engine__supply_changed(e, position_sku(p), position_loc(p),
                                   engine__position_net(e, p) - before);
        }
    }
    engine__lots_clear_source(e, inbound);
    free(mask);
    free(inbound);
}

/* Publish what the engine's own structures hold (engine thread): rows,
 * dictionary (with its retired tables), positions, the snapshot queue, the
 * batch accumulator, the change-feed queue and inbound lots. Reservations
 * are resv*.c's and not counted here. */
static void engine_memory_update(engine *e)
{
    size_t dirty_cap;
    pthread_mutex_lock(&e->dirty.mu);
    dirty_cap = e->dirty.cap;
    pthread_mutex_unlock(&e->dirty.mu);
    size_t bytes = sizeof *e + e->row_bytes +
                   ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK * sizeof *e->row_dir +
                   dict_memory(e->skus) + positions_memory(&e->pos) +
                   position_sums_memory(&e->pinned) +
                   e->pfeed.cap * sizeof *e->pfeed.keys +
                   e->snap.cap * sizeof *e->snap.keys +
                   e->acc.cap * (sizeof *e->acc.keys + sizeof *e->acc.delta +
                                 sizeof *e->acc.touched) +
                   dirty_cap * sizeof *e->dirty.keys +
                   e->over.cap * (sizeof *e->over.keys + sizeof *e->over.rest) +
                   engine__lots_memory(&e->lots);
    atomic_store_explicit(&e->memory_bytes, bytes, memory_order_relaxed);
}

static void engine_apply_batch(engine *e, const engine_batch *b)
{
    ATP_ASSERT_OWNER(&e->owner);
    bool applied = false;
    atp_err err = engine_batch_reserve(e, b);
    if (err == ATP_OK &&
        !engine__acc_reserve(
            e, b->replace_authority ? (uint32_t)(b->n + e->pos.used) : b->n))
        err = ATP_E_NOMEM;
    if (err != ATP_OK) {
        log_error("engine", "batch of %u events not applied: %s", b->n,
                  atp_err_message(err));
    } else {
        if (b->replace_authority)
            engine_clear_authority(e, b->source);
        engine_apply_events(e, b);
        engine__supply_flush(e);
        if (b->from_source && b->restarts_sequence)
            engine__sequence_restarted(e, b->source);
        if (b->from_source)
            engine__offset_applied(e, b->source, b->seq, b->ts_ms);
        /* The offset reached what the stored marks say was applied before
         * the restart: from now on the offset covers it. */
        if (b->from_source && b->seq >= e->resv.seq_floor[b->source])
            e->resv.seq_floor[b->source] = 0;
        atomic_fetch_add_explicit(&e->events_applied, b->n,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&e->batches_applied, 1, memory_order_relaxed);
        applied = true;
    }
    engine_memory_update(e);
    if (b->release != NULL)
        b->release(b->owner, applied);
}

void engine__sync_signal(engine_sync_waiter *w, atp_err err)
{
    done_wait_signal(w, err);
}

/* engine_cmd_run runs one command on the engine thread. */
static void engine_cmd_run(engine *e, engine_cmd *cmd, bool *stopping)
{
    ATP_ASSERT_OWNER(&e->owner);
    switch (cmd->type) {
    case ENGINE_CMD_BATCH:
        engine_apply_batch(e, &cmd->batch);
        return;
    case ENGINE_CMD_SYNC:
        engine__sync_signal(cmd->sync, ATP_OK);
        return;
    case ENGINE_CMD_RESV:
        resv_execute(e, &cmd->resv);
        return;
    case ENGINE_CMD_GROUP_DONE:
        resv_group_done(e, cmd->err);
        return;
    case ENGINE_CMD_STOP:
        *stopping = true;
        e->resv.stopping = true;
        e->snap.stopping = true;
        return;
    case ENGINE_CMD_SNAPSHOT_DONE:
        engine__snapshot_done(e, cmd->err);
        return;
    case ENGINE_CMD_SNAPSHOT_NOW:
        engine__snapshot_request(e, cmd->snap);
        return;
    case ENGINE_CMD_RULES:
        engine__rules_apply(e, cmd->rules);
        return;
    case ENGINE_CMD_EXPLAIN:
        engine__explain_run(e, cmd->explain);
        return;
    case ENGINE_CMD_PICKUP:
        engine__pickup_run(e, cmd->pickup);
        return;
    case ENGINE_CMD_PROMISE:
        engine__promise_run(e, cmd->promise);
        return;
    case ENGINE_CMD_PICKUP_DRAIN:
        engine__pickup_drain(e);
        return;
    case ENGINE_CMD_ADOPT:
        engine__adopt_run(e, cmd->adopt);
        return;
    }
}

/* engine_housekeep is a turn's work besides its command, at the given
 * clocks: reservations and lots due at wall_ms, the snapshot schedule at
 * mono_ms (none when mono_ms < 0), then the group commit. Returns how long
 * the loop may sleep before the next due time (-1: until a command). */
static int64_t engine_housekeep(engine *e, int64_t wall_ms, int64_t mono_ms)
{
    e->now_ms = wall_ms;
    int64_t wait = resv_tick(e, wall_ms);
    int64_t snap_wait = mono_ms < 0 ? -1 : engine__snapshot_tick(e, mono_ms);
    if (wait < 0 || (snap_wait >= 0 && snap_wait < wait))
        wait = snap_wait;
    int64_t lot_wait = engine__lots_tick(e, wall_ms);
    if (lot_wait >= 0 && (wait < 0 || lot_wait < wait))
        wait = lot_wait;
    engine__phased_settle(e); /* a hold no flush published yet */
    int64_t date_wait = engine__phased_tick(e, wall_ms);
    if (date_wait >= 0 && (wait < 0 || date_wait < wait))
        wait = date_wait;
    resv_flush(e);
    return wait;
}

static void *engine_thread_main(void *arg)
{
    thread_name("atp:engine");
    health_slot *hs = health_thread_add("atp:engine");
    engine *e = arg;
    atp_owner_claim(&e->owner); /* its tables are this thread's from now on */
    engine_cmd cmd;
    bool stopping = false;
    for (;;) {
        /* Sleep until the next command, reservation due time or snapshot
         * (none but the final one once stopping). */
        int64_t wait = engine_housekeep(e, clock_wall_ms(),
                                        stopping ? -1 : clock_mono_ms());
        /* A clean stop leaves a snapshot of everything applied, if the
         * store takes it: it is tried once (engine__snapshot_final). */
        if (stopping && !e->resv.inflight_busy && e->resv.open.n == 0 &&
            !engine__snapshot_final(e))
            break;
        health_idle(hs);
        atp_err err = queue_pop(&e->q, &cmd, wait);
        health_busy(hs);
        if (err == ATP_E_TIMEOUT)
            continue;
        if (err != ATP_OK)
            break;
        e->now_ms = clock_wall_ms(); /* the command decides at its own time */
        engine_cmd_run(e, &cmd, &stopping);
    }
    health_thread_remove(hs);
    atp_owner_release(&e->owner); /* engine_stop and engine_free, on main */
    return NULL;
}

void engine_step(engine *e, int64_t now_ms)
{
    engine_cmd cmd;
    bool stopping = false;      /* a stop command is the thread's alone */
    atp_owner_claim(&e->owner); /* the caller is the engine thread */
    engine_housekeep(e, now_ms, -1);
    while (queue_pop(&e->q, &cmd, 0) == ATP_OK) {
        e->now_ms = now_ms;
        engine_cmd_run(e, &cmd, &stopping);
        engine_housekeep(e, now_ms, -1);
    }
}

atp_err engine_start_stepped(engine *e)
{
    if (e->running)
        return ATP_E_BAD_STATE;
    engine__load_flush(e);
    e->phased.loading = false;
    engine__phased_settle(e); /* the holds of what start-up put in */
    /* What start-up loaded counts too (status before the first batch). */
    engine_memory_update(e);
    return ATP_OK;
}

atp_err engine_start(engine *e)
{
    atp_err err = engine_start_stepped(e); /* start-up, then the thread */
    if (err != ATP_OK)
        return err;
    if (pthread_create(&e->thread, NULL, engine_thread_main, e) != 0)
        return ATP_E_NOMEM;
    e->running = true;
    return ATP_OK;
}

/* engine_cmd_refuse answers a command that the engine thread will never
 * run (engine_stop, after the thread left): every caller hears back. */
static void engine_cmd_refuse(engine_cmd *cmd)
{
    switch (cmd->type) {
    case ENGINE_CMD_BATCH:
        if (cmd->batch.release != NULL)
            cmd->batch.release(cmd->batch.owner, false);
        return;
    case ENGINE_CMD_SYNC: /* everything before it was applied */
        engine__sync_signal(cmd->sync, ATP_OK);
        return;
    case ENGINE_CMD_RESV: {
        engine_resv_result res = {.err = ATP_E_BUSY,
                                  .message = "atpd is shutting down: nothing "
                                             "was done; retry once it is back"};
        cmd->resv.done(cmd->resv.arg, &res);
        return;
    }
    case ENGINE_CMD_SNAPSHOT_NOW:
        cmd->snap.done(cmd->snap.arg, ATP_E_BUSY);
        return;
    case ENGINE_CMD_RULES: /* not applied: the caller keeps its rules */
        engine__sync_signal(cmd->rules->waiter, ATP_E_BUSY);
        return;
    case ENGINE_CMD_EXPLAIN:
        engine__explain_refuse(cmd->explain);
        return;
    case ENGINE_CMD_PICKUP:
        engine__pickup_refuse(cmd->pickup);
        return;
    case ENGINE_CMD_PROMISE:
        engine__promise_refuse(cmd->promise);
        return;
    case ENGINE_CMD_PICKUP_DRAIN: /* stopped: nothing changes any more */
        return;
    case ENGINE_CMD_ADOPT: /* not loaded: the caller hears why */
        engine__sync_signal(cmd->adopt->waiter, ATP_E_BUSY);
        return;
    case ENGINE_CMD_STOP: /* a second engine_stop's: nothing to do */
        return;
    case ENGINE_CMD_GROUP_DONE:
    case ENGINE_CMD_SNAPSHOT_DONE:
        /* The thread waits for the group and snapshot in flight before it
         * leaves, so these cannot come after it. */
        log_error("engine",
                  "store completion (type %d) after the engine "
                  "stopped: ignored",
                  (int)cmd->type);
        return;
    }
}

void engine_stop(engine *e)
{
    if (!e->running)
        return;
    /* The thread applies what is queued before the stop command, waits for
     * the group in flight, then exits; only then is the queue closed. */
    engine_cmd cmd = {.type = ENGINE_CMD_STOP};
    queue_push(&e->q, &cmd);
    pthread_join(e->thread, NULL);
    /* The snapshot writer pushes into the store's queue: it must be gone
     * before the caller closes the store, or its last push may still be
     * signalling a condition variable that store_close destroys (TSan saw
     * exactly that). */
    engine__snap_writer_stop(e);
    queue_close(&e->q);
    /* Whatever came after the stop is refused, so nothing leaks and every
     * caller hears back. */
    while (queue_pop(&e->q, &cmd, 0) == ATP_OK)
        engine_cmd_refuse(&cmd);
    e->running = false;
}

atp_err engine_submit(engine *e, const engine_batch *b)
{
    engine_cmd cmd = {.type = ENGINE_CMD_BATCH, .batch = *b};
    return queue_push(&e->q, &cmd);
}

void engine__waiter_init(engine_sync_waiter *w)
{
    done_wait_init(w);
}

/* engine__waiter_wait waits for w's signal if its command was queued
 * (queued == ATP_OK), destroys w and returns the outcome. */
atp_err engine__waiter_wait(engine_sync_waiter *w, atp_err queued)
{
    return done_wait_finish(w, queued);
}

atp_err engine_sync(engine *e)
{
    engine_sync_waiter w;
    engine__waiter_init(&w);
    engine_cmd cmd = {.type = ENGINE_CMD_SYNC, .sync = &w};
    return engine__waiter_wait(&w, queue_push(&e->q, &cmd));
}

atp_err engine_snapshot_submit(engine *e, engine_snapshot_done_fn done,
                               void *arg)
{
    engine_cmd cmd = {.type = ENGINE_CMD_SNAPSHOT_NOW, .snap = {done, arg}};
    return queue_try_push(&e->q, &cmd);
}

static void engine_snapshot_now_done(void *arg, atp_err err)
{
    engine__sync_signal(arg, err);
}

atp_err engine_snapshot_now(engine *e)
{
    engine_sync_waiter w;
    engine__waiter_init(&w);
    return engine__waiter_wait(
        &w, engine_snapshot_submit(e, engine_snapshot_now_done, &w));
}

atp_err engine_backup_submit(engine *e, const char *dir,
                             void (*done)(void *arg, atp_err err), void *arg,
                             char *why, size_t why_len)
{
    if (e->persist.backup == NULL) {
        snprintf(why, why_len, "no store to back up (memory only)");
        return ATP_E_BAD_STATE;
    }
    return e->persist.backup(e->persist.ctx, dir, done, arg, why, why_len);
}

atp_err engine_resv_submit(engine *e, const engine_resv_req *req)
{
    engine_cmd cmd = {.type = ENGINE_CMD_RESV, .resv = *req};
    return queue_try_push(&e->q, &cmd);
}

const char *engine_resv_state_name(engine_resv_state st)
{
    switch (st) {
    case ENGINE_RESV_HELD:
        return "held";
    case ENGINE_RESV_COMMITTED:
        return "committed";
    case ENGINE_RESV_CONSUMED:
        return "consumed";
    case ENGINE_RESV_RELEASED:
        return "released";
    case ENGINE_RESV_EXPIRED:
        return "expired";
    }
    return "unknown";
}
