/*
 * snapshot.c - consistent, incremental snapshots of positions and source
 * offsets (restore.c loads them at start-up). Engine thread.
 *
 * Consistency: the engine thread applies source batches one at a time and
 * records each batch's sequence as its source's applied offset. A snapshot
 * is cut between two batches: the positions changed since the last cut and
 * the offsets as they are now go to the store as ONE group, hence one LMDB
 * transaction. After a restart the positions are exactly those of the
 * stored offsets, and each source is asked to resend from offset + 1.
 *
 * Incremental: a position carries POSITION_DIRTY from its first change
 * after a cut until the next cut, and its key is queued once. The queue is
 * kept to an eighth of the positions: when more change (a bulk load), the
 * snapshot finds them by their flag in one pass over the table instead
 * (scan mode), so the queue never costs more than 1 byte per position. If a
 * snapshot cannot be written, the next one writes everything.
 *
 * The cut is all the engine thread does: it copies the changed positions
 * (32 bytes each) and formats the few lots and offsets; the snapshot writer
 * thread (snapshot_write.c) turns the copies into records in key order and
 * submits the group. The buffers are mmap'd (common/bigmem.h) and unmapped
 * as soon as they are done with (the records' bytes when the store releases
 * them): from malloc, a 10M-position snapshot's pages stayed resident in an
 * idle atpd until jemalloc's decay ran.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/bigmem.h"
#include "common/clock.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "formula/formula.h"

int64_t engine__position_net(const engine *e, const position *p)
{
    formula_position fp = {
        p->bucket[ATP_BUCKET_ON_HAND], p->bucket[ATP_BUCKET_ALLOCATED],
        p->bucket[ATP_BUCKET_HELD], positions_inbound(&e->pos, p)};
    return formula_net(&fp);
}

atp_err engine__snapshot_init(engine *e)
{
    const config *cfg = e->cfg;
    e->snap.offsets =
        calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *e->snap.offsets);
    if (e->snap.offsets == NULL)
        return ATP_E_NOMEM;
    e->snap.next_ms = clock_mono_ms() + cfg->service.snapshot_interval_ms;
    return ATP_OK;
}

void engine__snapshot_fini(engine *e)
{
    engine__snap_writer_stop(e);
    if (e->snap.held != NULL)
        engine__snap_job_free(e->snap.held);
    free(e->snap.offsets);
    free(e->load.items);
    bigmem_free(e->snap.keys, e->snap.cap * sizeof *e->snap.keys);
}

#define SNAPSHOT_QUEUE_MIN 65536

void engine__position_touched(engine *e, position *p)
{
    ATP_ASSERT_OWNER(&e->owner);
    engine__pickup_touched(e, p);
    if (p->key & POSITION_DIRTY)
        return;
    p->key |= POSITION_DIRTY;
    e->snap.n_dirty++;
    if (e->snap.scan)
        return;
    if (e->snap.n == e->snap.cap) {
        size_t cap = e->snap.cap ? e->snap.cap * 2 : SNAPSHOT_QUEUE_MIN;
        uint64_t *k = NULL;
        if (cap <= SNAPSHOT_QUEUE_MIN || cap <= e->pos.used / 8)
            k = bigmem_realloc(e->snap.keys, e->snap.cap * sizeof *k,
                               cap * sizeof *k);
        if (k == NULL) {
            e->snap.scan = true; /* too many (or no memory): find by flag */
            return;
        }
        e->snap.keys = k;
        e->snap.cap = cap;
    }
    e->snap.keys[e->snap.n++] = p->key & POSITION_KEY_MASK;
}

void engine__sequence_restarted(engine *e, uint32_t src)
{
    if (src >= e->cfg->n_sources)
        return;
    uint64_t *hw = e->resv.applied_hw[src];
    if (hw != NULL)
        __atomic_store_n(hw, 0, __ATOMIC_RELAXED);
    e->resv.seq_floor[src] = 0;
}

void engine__offset_applied(engine *e, uint32_t src, uint64_t seq,
                            uint64_t ts_ms)
{
    if (src >= e->cfg->n_sources)
        return;
    engine_offset *o = &e->snap.offsets[src];
    /* Before anything else can run on the engine thread (a commit, a
     * consumption, a snapshot cut), so a kill -9 cannot come between the
     * batch's effects and this record of them. */
    uint64_t *hw = e->resv.applied_hw[src];
    if (hw != NULL && seq > __atomic_load_n(hw, __ATOMIC_RELAXED))
        __atomic_store_n(hw, seq, __ATOMIC_RELAXED);
    o->seq = seq;
    o->ts_ms = ts_ms;
    o->known = true;
    o->dirty = true;
}

/* ---- the cut (engine thread; snapshot_write.c writes it) ------------------
 */

static void *snapshot_bytes(engine_snap_job *j, size_t n)
{
    if (j->used + n > j->size) {
        /* Ops point into bytes, so it cannot move: this size is reserved
         * up front from the number of lots (see engine__snapshot_start). */
        j->failed = true;
        return NULL;
    }
    void *p = j->bytes + j->used;
    j->used += n;
    return p;
}

static void snapshot_add(engine_snap_job *j, engine_db db, const void *key,
                         size_t key_len, const void *val, size_t val_len)
{
    if (j->n_ops == j->ops_cap) {
        j->failed = true;
        return;
    }
    j->ops[j->n_ops++] = (engine_record_op){db, key, key_len, val, val_len};
}

static void snapshot_lot_add(void *ctx, const void *key, size_t key_len,
                             const void *val, size_t val_len)
{
    engine_snap_job *j = ctx;
    unsigned char *k = snapshot_bytes(j, key_len);
    unsigned char *v = val ? snapshot_bytes(j, val_len) : NULL;
    if (k == NULL || (val && v == NULL))
        return;
    memcpy(k, key, key_len);
    if (val)
        memcpy(v, val, val_len);
    snapshot_add(j, ENGINE_DB_LOTS, k, key_len, v, val ? val_len : 0);
}

void engine__snapshot_done_cb(void *arg, atp_err err)
{
    engine *e = arg;
    engine_cmd cmd = {.type = ENGINE_CMD_SNAPSHOT_DONE, .err = err};
    queue_push(&e->q, &cmd); /* never closed while a snapshot is in flight */
}

static engine_snap_job *snapshot_job_alloc(size_t n_pos, size_t n_ops,
                                           size_t bytes)
{
    engine_snap_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    /* Sized for the worst case, touched (hence resident) only as used. */
    j->pos_cap = n_pos ? n_pos : 1;
    j->ops_cap = n_ops ? n_ops : 1;
    j->size = bytes;
    j->pos = bigmem_alloc(j->pos_cap * sizeof *j->pos, false);
    j->ops = bigmem_alloc(j->ops_cap * sizeof *j->ops, false);
    j->bytes = bigmem_alloc(j->size, false);
    if (j->pos == NULL || j->ops == NULL || j->bytes == NULL) {
        engine__snap_job_free(j);
        return NULL;
    }
    return j;
}

/* Copy the changed positions into j and clear their flags: this is the
 * cut. Queued keys are looked up with the slots prefetched a few ahead. */
#define SNAPSHOT_PREFETCH 8
static void snapshot_cut_positions(engine *e, engine_snap_job *j, bool full)
{
    if (full || e->snap.scan) {
        uint64_t want = full ? ~0ULL : POSITION_DIRTY;
        for (size_t i = 0; i < e->pos.cap; i++) {
            position *p = &e->pos.slots[i];
            if (p->key != 0 && (p->key & want) && j->n_pos < j->pos_cap)
                j->pos[j->n_pos++] = *p;
            p->key &= ~POSITION_DIRTY;
        }
        return;
    }
    for (size_t i = 0; i < e->snap.n; i++) {
        if (i + SNAPSHOT_PREFETCH < e->snap.n) {
            uint64_t f = e->snap.keys[i + SNAPSHOT_PREFETCH];
            positions_prefetch(&e->pos, (uint32_t)(f >> 16) - 1,
                               (uint16_t)(f & 0xffff));
        }
        uint64_t k = e->snap.keys[i];
        position *p = positions_get(&e->pos, (uint32_t)(k >> 16) - 1,
                                    (uint16_t)(k & 0xffff));
        if (p == NULL || !(p->key & POSITION_DIRTY) || j->n_pos == j->pos_cap)
            continue;
        j->pos[j->n_pos++] = *p;
        p->key &= ~POSITION_DIRTY;
    }
}

void engine__snapshot_start(engine *e)
{
    ATP_ASSERT_OWNER(&e->owner);
    if (e->snap.inflight || e->persist.write == NULL)
        return;
    int64_t t0 = clock_mono_ns();
    bool full = e->snap.full_next;
    size_t n_pos = full ? e->pos.used : e->snap.n_dirty;
    size_t n_lots = engine__lots_snapshot_size(e);
    engine_snap_job *j =
        snapshot_job_alloc(n_pos, n_lots + e->cfg->n_sources,
                           n_lots * (ENGINE_LOT_KEY_MAX + 16) +
                               e->cfg->n_sources * (ATP_ID_MAX_LEN + 16) + 1);
    if (j == NULL) {
        log_error("engine", "out of memory: snapshot postponed");
        return;
    }
    /* From here on this is the cut: what changes later belongs to the
     * next snapshot, and if this one is not stored, the next is full. */
    snapshot_cut_positions(e, j, full);
    if (n_lots > 0) {
        engine_lots_writer lw = {snapshot_lot_add, j};
        engine__lots_snapshot(e, &lw);
    }
    for (size_t s = 0; s < e->cfg->n_sources; s++) {
        engine_offset *o = &e->snap.offsets[s];
        if (!o->known || (!o->dirty && !full))
            continue;
        /* The id is copied too: every record lives in j->bytes. */
        const char *id = e->cfg->sources[s].id;
        size_t id_len = strlen(id);
        unsigned char *key = snapshot_bytes(j, id_len);
        unsigned char *val = snapshot_bytes(j, 16);
        if (key == NULL || val == NULL)
            break;
        memcpy(key, id, id_len);
        engine__put_le64(val, o->seq);
        engine__put_le64(val + 8, o->ts_ms);
        snapshot_add(j, ENGINE_DB_OFFSETS, key, id_len, val, 16);
    }
    e->snap.n = 0;
    e->snap.n_dirty = 0;
    e->snap.scan = false;
    for (size_t s = 0; s < e->cfg->n_sources; s++)
        e->snap.offsets[s].dirty = false;
    e->snap.full_next = false;
    e->snap.cut_ns = t0;
    e->snap.cut_cost_ns = clock_mono_ns() - t0;
    atomic_store(&e->snap.last_positions, j->n_pos);
    /* A consumption applied before the cut but not stored yet must be
     * stored first: the cut carries its source's offset past the
     * allocation, which is then never resent. The cut is not postponed
     * (under load there is always a consumption pending): only its
     * hand-over waits, for the groups pending now. */
    e->snap.barrier = resv_consumptions_gen(&e->resv);
    if (e->snap.barrier != 0) {
        atomic_fetch_add(&e->snap.waited, 1);
        e->snap.held = j;
        e->snap.inflight = true;
        return;
    }
    if (engine__snap_write(e, j) != ATP_OK) {
        engine__snap_job_free(j);
        log_error("engine", "snapshot not written: cannot start its writer");
        e->snap.full_next = true;
        engine__lots_snapshot_settled(e, false);
        return;
    }
    e->snap.inflight = true;
}

void engine__snapshot_barrier(engine *e, bool failed)
{
    ATP_ASSERT_OWNER(&e->owner);
    if (e->snap.held == NULL)
        return;
    if (failed) /* what it waits for is queued again: wait for that */
        e->snap.barrier = resv_consumptions_gen(&e->resv);
    if (e->snap.barrier != 0 && e->resv.gen_durable < e->snap.barrier)
        return;
    engine_snap_job *j = e->snap.held;
    e->snap.held = NULL;
    if (engine__snap_write(e, j) != ATP_OK) {
        engine__snap_job_free(j);
        log_error("engine", "snapshot not written: cannot start its writer");
        engine__snapshot_done(e, ATP_E_NOMEM);
    }
}

/* engine_snapshot_join makes w wait for the snapshot in flight. */
static void engine_snapshot_join(engine *e, engine_snap_waiter w)
{
    if (e->snap.n_waiters < sizeof e->snap.waiters / sizeof e->snap.waiters[0])
        e->snap.waiters[e->snap.n_waiters++] = w;
    else
        w.done(w.arg, ATP_E_BUSY);
}

void engine__snapshot_done(engine *e, atp_err err)
{
    ATP_ASSERT_OWNER(&e->owner);
    e->snap.inflight = false;
    engine__lots_snapshot_settled(e, err == ATP_OK);
    if (err != ATP_OK) {
        /* What this snapshot carried is not stored: write everything next
         * time (incremental state was already cut). */
        e->snap.full_next = true;
        atomic_fetch_add(&e->snap.failed, 1);
        if (e->snap.stopping && !e->snap.final_tried) {
            /* One started before the stop: the final one, tried next,
             * writes everything and says once whether it was stored
             * (store_nearfull saw this line twice before). */
        } else if (e->snap.stopping)
            log_error("engine",
                      "final snapshot not stored (%s): stopping "
                      "without it. Acknowledged reservations are stored; "
                      "positions and source offsets stay as of the last stored "
                      "snapshot, and the sources are asked to replay from "
                      "there at the next start",
                      atp_err_message(err));
        else if (e->snap.failing++ == 0) /* once per run of failures */
            log_error("engine",
                      "snapshot failed (%s): retried every "
                      "snapshot_interval, each writing all positions; logged "
                      "again once one is stored",
                      atp_err_message(err));
    } else {
        if (e->snap.failing > 0)
            log_info("engine", "snapshot stored again after %llu failed",
                     (unsigned long long)e->snap.failing);
        e->snap.failing = 0;
        atomic_fetch_add(&e->snap.taken, 1);
        atomic_store(&e->snap.last_ms, (uint64_t)clock_wall_ms());
        log_debug("engine",
                  "snapshot: %zu records, %zu bytes; cut in %lld us "
                  "(engine thread), formatted and sorted in %lld us CPU "
                  "(writer), stored %lld ms after the cut",
                  e->snap.records, e->snap.bytes,
                  (long long)(e->snap.cut_cost_ns / 1000),
                  (long long)(e->snap.write_cpu_ns / 1000),
                  (long long)((clock_mono_ns() - e->snap.cut_ns) / 1000000));
    }
    for (size_t i = 0; i < e->snap.n_waiters; i++)
        e->snap.waiters[i].done(e->snap.waiters[i].arg, err);
    e->snap.n_waiters = 0;
    /* The requests that came while this one was stored: the first starts
     * the next snapshot, cut now, so after all of them: the others wait for
     * that one too, not for one each. */
    size_t n_next = e->snap.n_next;
    e->snap.n_next = 0;
    for (size_t i = 0; i < n_next; i++) {
        if (i > 0 && e->snap.inflight)
            engine_snapshot_join(e, e->snap.next[i]);
        else
            engine__snapshot_request(e, e->snap.next[i]);
    }
}

bool engine__snapshot_pending(const engine *e)
{
    if (e->snap.n_dirty > 0 || e->snap.full_next ||
        engine__lots_snapshot_size(e) > 0)
        return true;
    for (size_t s = 0; s < e->cfg->n_sources; s++)
        if (e->snap.offsets[s].dirty)
            return true;
    return false;
}

int64_t engine__snapshot_tick(engine *e, int64_t now)
{
    int64_t interval = e->cfg->service.snapshot_interval_ms;
    if (now >= e->snap.next_ms) {
        if (engine__snapshot_pending(e))
            engine__snapshot_start(e);
        e->snap.next_ms = now + interval;
    }
    return e->snap.next_ms - now;
}

void engine__snapshot_request(engine *e, engine_snap_waiter w)
{
    if (e->persist.write == NULL) {
        w.done(w.arg, ATP_OK);
        return;
    }
    if (e->snap.stopping) { /* the stop takes the final snapshot itself */
        w.done(w.arg, ATP_E_BUSY);
        return;
    }
    if (e->snap.inflight) {
        /* The one in flight was cut before this request: take another. */
        if (e->snap.n_next < sizeof e->snap.next / sizeof e->snap.next[0])
            e->snap.next[e->snap.n_next++] = w;
        else
            w.done(w.arg, ATP_E_BUSY);
        return;
    }
    engine__snapshot_start(e);
    if (!e->snap.inflight) { /* nothing could be started */
        w.done(w.arg, ATP_E_NOMEM);
        return;
    }
    engine_snapshot_join(e, w);
}

bool engine__snapshot_final(engine *e)
{
    if (!e->snap.inflight && !e->snap.final_tried) {
        e->snap.final_tried = true;
        if (engine__snapshot_pending(e))
            engine__snapshot_start(e);
    }
    return e->snap.inflight;
}
