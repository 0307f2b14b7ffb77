/*
 * restore.c - start-up: the engine takes back what the store kept
 * (positions, source offsets, reservations; lots.c decodes its own lots)
 * and the "applied" file's slots. Main thread, before engine_start: the
 * engine thread does not exist yet, so nothing here is shared.
 *
 * Order (the caller's store scans, main.c): room for what the store holds
 * (engine_reserve_positions), positions, lots, offsets, reservations, then
 * the applied file's slots (engine_applied_attach). Positions are staged
 * in groups; every other load applies the staged ones first (lots and
 * reservations count on top of them), and so does engine_start.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/assert.h"
#include "engine/dict.h"
#include "engine/engine_int.h"

atp_err engine_reserve_positions(engine *e, size_t n)
{
    ATP_ASSERT(!e->running); /* start-up only: no engine thread yet */
    /* Every SKU has at most one position per location, so n positions are
     * at least n / n_locations SKUs: size the dictionary and rows for that
     * many now (a lower bound: growth covers SKUs stocked in fewer
     * locations; an upper bound would cost 48 B per unused key). */
    size_t locs = config_location_named(e->cfg); /* not the spare places */
    locs = locs ? locs : 1;
    size_t skus = n / locs;
    if (skus > ENGINE_MAX_SKUS - dict_count(e->skus))
        skus = ENGINE_MAX_SKUS - dict_count(e->skus);
    atp_err err = engine__skus_reserve(e, (uint32_t)skus, 0);
    if (err != ATP_OK)
        return err;
    return positions_reserve(&e->pos, n);
}

atp_err engine__sku_intern_one(engine *e, const char *sku, size_t len,
                               uint32_t *idx)
{
    atp_err err = engine__skus_reserve(e, 1, len > DICT_INLINE ? len : 0);
    if (err == ATP_OK)
        err = positions_reserve(&e->pos, 1);
    if (err == ATP_OK)
        err = dict_intern(e->skus, sku, len, idx);
    return err;
}

atp_err engine_resv_load(engine *e, const void *key, size_t key_len,
                         const void *val, size_t val_len)
{
    engine__load_flush(e); /* asserts it is start-up */
    return resv_load(e, key, key_len, val, val_len);
}

atp_err engine_resv_adopt(engine *e, const engine_record_op *recs, size_t n,
                          size_t *loaded)
{
    ATP_ASSERT(e != NULL && (recs != NULL || n == 0));
    engine_sync_waiter w;
    engine__waiter_init(&w);
    engine_adopt_req req = {.recs = recs, .n = n, .waiter = &w};
    engine_cmd cmd = {.type = ENGINE_CMD_ADOPT, .adopt = &req};
    atp_err err = engine__waiter_wait(&w, queue_push(&e->q, &cmd));
    if (loaded != NULL)
        *loaded = req.loaded;
    return err;
}

void engine__adopt_run(engine *e, engine_adopt_req *req)
{
    for (size_t i = 0; i < req->n; i++) {
        const engine_record_op *r = &req->recs[i];
        if (r->db == ENGINE_DB_RESERVATIONS && r->val != NULL &&
            resv_load(e, r->key, r->key_len, r->val, r->val_len) == ATP_OK)
            req->loaded++; /* a skip is logged and counted by resv_load */
    }
    engine__sync_signal(req->waiter, ATP_OK);
}

void engine_applied_attach(engine *e, uint64_t *const *slots)
{
    ATP_ASSERT(!e->running); /* start-up only: no engine thread yet */
    for (size_t src = 0; src < e->cfg->n_sources; src++) {
        uint64_t *hw = slots[src];
        e->resv.applied_hw[src] = hw;
        uint64_t seq = hw != NULL ? __atomic_load_n(hw, __ATOMIC_RELAXED) : 0;
        if (seq > e->resv.seq_floor[src])
            e->resv.seq_floor[src] = seq;
    }
}

/* Positions load in groups of ENGINE_LOAD_BATCH: stored keys are
 * location-major, so consecutive positions are different SKUs and each one
 * is a chain of cache misses (dictionary slot, key entry, position slot,
 * row). A group overlaps those chains: hash all and prefetch their slots,
 * then their key entries, then intern all and prefetch positions and rows,
 * then apply in order. Room is reserved when a position is staged, so the
 * group cannot fail later; every other load and engine_start flush it. */
void engine__load_flush(engine *e)
{
    ATP_ASSERT(!e->running); /* start-up only: no engine thread yet */
    engine_load_pos *g = e->load.items;
    size_t n = e->load.n;
    for (size_t i = 0; i < n; i++) {
        g[i].hash = dict_hash(g[i].sku_id, g[i].sku_len);
        dict_prefetch(e->skus, g[i].hash);
    }
    for (size_t i = 0; i < n; i++)
        dict_prefetch_key(e->skus, g[i].hash);
    for (size_t i = 0; i < n; i++) {
        atp_err err = dict_intern_hashed(e->skus, g[i].hash, g[i].sku_id,
                                         g[i].sku_len, &g[i].sku);
        ATP_ASSERT(err == ATP_OK); /* room reserved when staged */
        positions_prefetch(&e->pos, g[i].sku, g[i].loc);
        __builtin_prefetch(engine__row_at(e, g[i].sku, e->loc_region[g[i].loc]),
                           1);
    }
    for (size_t i = 0; i < n; i++) {
        position *p = positions_upsert(&e->pos, g[i].sku, g[i].loc);
        ATP_ASSERT(p != NULL);
        int64_t before = engine__position_net(e, p);
        memcpy(p->bucket, g[i].bucket, sizeof p->bucket);
        int64_t d = engine__position_net(e, p) - before;
        if (d != 0)
            engine__row_add(e, g[i].sku, e->loc_region[g[i].loc], d, 0);
        ATP_DASSERT(engine__row_sums(e, g[i].sku, e->loc_region[g[i].loc]));
    }
    atomic_store_explicit(&e->n_positions, e->pos.used, memory_order_relaxed);
    e->load.n = 0;
}

atp_err engine_position_load(engine *e, const void *key, size_t key_len,
                             const void *val, size_t val_len)
{
    ATP_ASSERT(!e->running);
    const char *k = key;
    const char *nul = memchr(k, '\0', key_len);
    if (nul == NULL || val_len != 24)
        return ATP_E_BAD_REQUEST;
    size_t loc_len = (size_t)(nul - k), sku_len = key_len - loc_len - 1;
    int64_t loc = config_location_find(e->cfg, k, loc_len);
    if (loc < 0)
        return ATP_E_UNKNOWN_LOCATION; /* configuration changed: dropped */
    /* Printable UTF-8, as ingest admits: atpd sends the id in scans and
     * the change feed, and a damaged store may hold anything. */
    if (!codec_str_is_id((codec_str){nul + 1, (uint32_t)sku_len},
                         ATP_SKU_MAX_LEN))
        return ATP_E_BAD_SKU;
    int64_t b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = (int64_t)engine__get_le64((const unsigned char *)val + 8 * i);
        if (b[i] > ATP_QTY_MAX || b[i] < -ATP_QTY_MAX)
            return ATP_E_BAD_QTY;
    }
    if (e->load.items == NULL &&
        (e->load.items = malloc(ENGINE_LOAD_BATCH * sizeof *e->load.items)) ==
            NULL)
        return ATP_E_NOMEM;
    /* Room for every staged position and its SKU, this one included. The
     * long-key bytes are over-reserved by what is staged: harmless. */
    size_t staged = e->load.n + 1;
    atp_err err = engine__skus_reserve(
        e, (uint32_t)staged, sku_len > DICT_INLINE ? staged * sku_len : 0);
    if (err == ATP_OK)
        err = positions_reserve(&e->pos, staged);
    if (err != ATP_OK)
        return err;
    engine_load_pos *g = &e->load.items[e->load.n++];
    g->loc = (uint16_t)loc;
    g->sku_len = (uint32_t)sku_len;
    memcpy(g->sku_id, nul + 1, sku_len); /* the store's bytes are borrowed */
    memcpy(g->bucket, b, sizeof b);
    if (e->load.n == ENGINE_LOAD_BATCH)
        engine__load_flush(e);
    return ATP_OK;
}

bool engine_offset_load(engine *e, const void *key, size_t key_len,
                        const void *val, size_t val_len, uint32_t *src,
                        uint64_t *seq)
{
    engine__load_flush(e);
    if (val_len != 16)
        return false;
    for (size_t s = 0; s < e->cfg->n_sources; s++) {
        const char *id = e->cfg->sources[s].id;
        if (strlen(id) == key_len && memcmp(id, key, key_len) == 0) {
            engine_offset *o = &e->snap.offsets[s];
            o->seq = engine__get_le64(val);
            o->ts_ms = engine__get_le64((const unsigned char *)val + 8);
            o->known = true;
            *src = (uint32_t)s;
            *seq = o->seq;
            return true;
        }
    }
    return false;
}
