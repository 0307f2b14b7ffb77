/*
 * engine_int.h - what the engine's own files share (engine.c, resv.c,
 * resv_record.c). Not for other modules.
 *
 * Guarded by the single-writer rule: fields marked "engine thread" are
 * touched only by the engine thread (or by main before engine_start);
 * atomics may be read by any thread.
 */
#ifndef ATP_ENGINE_INT_H
#define ATP_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/queue.h"
#include "engine/dict.h"
#include "engine/engine.h"
#include "engine/positions.h"
#include "engine/resv.h"
#include "formula/rules.h"

#define ENGINE_ROW_CHUNK_BITS 12
#define ENGINE_ROW_CHUNK (1u << ENGINE_ROW_CHUNK_BITS)
#define ENGINE_MAX_SKUS (1u << 26) /* 67M SKUs */
#define ENGINE_QUEUE_CAP 4096

typedef struct engine_row {
    _Atomic uint32_t seq;
    _Atomic uint32_t dirty; /* changed since the change feed last read it */
    _Atomic int64_t supply;
    _Atomic int64_t reserved;
} engine_row;

typedef struct engine_sync_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} engine_sync_waiter;

enum engine_cmd_type {
    ENGINE_CMD_BATCH,
    ENGINE_CMD_SYNC,
    ENGINE_CMD_RESV,       /* a reservation operation */
    ENGINE_CMD_GROUP_DONE, /* the store finished the in-flight group */
    ENGINE_CMD_STOP,       /* finish what is queued and in flight, exit */
};

typedef struct engine_cmd {
    int type;
    atp_err err; /* GROUP_DONE */
    engine_batch batch;
    engine_sync_waiter *sync;
    engine_resv_req resv;
} engine_cmd;

struct engine {
    const config *cfg;
    uint32_t n_regions;
    uint32_t n_channels;
    uint16_t *loc_region; /* location index -> region index */

    dict *skus;
    _Atomic(engine_row *) *row_dir; /* ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK */
    size_t row_bytes;               /* engine thread */
    _Atomic(rules *) rules;
    _Atomic bool *region_stale;

    positions pos; /* engine thread */

    queue q;
    pthread_t thread;
    bool running;

    _Atomic uint64_t n_positions;
    _Atomic uint64_t batches_applied;
    _Atomic uint64_t events_applied;
    _Atomic uint64_t events_clamped;
    _Atomic uint64_t memory_bytes;

    engine_persist persist;
    resv_table resv; /* engine thread */

    /* Per-batch supply changes per row, written once at the end of the
     * batch so that a reader sees a batch's effect on a row all at once
     * (engine thread). Open addressing on (sku, region) + 1. */
    struct {
        uint64_t *keys;
        int64_t *delta;
        uint32_t *touched;
        size_t cap, n_touched;
    } acc;

    /* Rows changed since the change feed last took them: (sku << 16 |
     * region) keys, each at most once (the row's dirty flag). The engine
     * appends, the feed thread swaps the vector out; mu guards both. */
    struct {
        pthread_mutex_t mu;
        uint64_t *keys;
        size_t n, cap;
        bool enabled;
        _Atomic uint64_t dropped; /* out of memory: marked rows lost */
    } dirty;
};

/* engine_row_at returns the aggregate row of (sku, region); the SKU must be
 * published (any thread). */
engine_row *engine_row_at(const engine *e, uint32_t sku, uint32_t region);
/* engine_row_add adds to the row of (sku, region) under its seqlock and
 * marks it for the change feed (engine thread). */
void engine_row_add(engine *e, uint32_t sku, uint32_t region, int64_t d_supply,
                    int64_t d_reserved);
/* engine_row_read reads a consistent (supply, reserved) pair (any thread). */
void engine_row_read(const engine_row *r, int64_t *supply, int64_t *reserved);
/* engine_answer_of fills the ATP answer of (sku, region, channel) where sku
 * is a dictionary index or DICT_NONE. Any thread. */
void engine_answer_of(const engine *e, uint32_t sku, const char *sku_str,
                      size_t sku_len, uint32_t region, uint32_t channel,
                      engine_answer *out);
/* engine_skus_reserve makes room to intern n more SKUs of `bytes` total
 * length without any allocation failing half-way (engine thread). */
atp_err engine_skus_reserve(engine *e, uint32_t n, size_t bytes);

#endif
