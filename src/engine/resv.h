/*
 * resv.h - reservations inside the engine: the table of records, the
 * state machine, expiry, consumption by allocation events, and the group
 * commit pipeline that makes every change durable before it is answered.
 *
 * Engine thread only (and main before engine_start for resv_load); the
 * counters are atomics any thread may read through engine_stats_get.
 *
 * Why no reservation can oversell: every reserve runs on the engine thread,
 * which is the only writer of the reserved totals; it checks each line
 * against the formula with the totals as they are at that instant and adds
 * its quantities before looking at the next request. Readers never take
 * part in the decision.
 */
#ifndef ATP_RESV_H
#define ATP_RESV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "common/heap.h"

struct config;
struct engine;
struct engine_resv_req;
struct engine_stats;

typedef struct resv_line {
    uint32_t sku; /* dictionary index */
    uint32_t region;
    /* The location the line is pinned to (store pickup) as its index + 1;
     * 0: none (engine_resv_line.pin). A pinned line counts in its region's
     * reserved total like any other and also in engine.pinned at (sku,
     * location). */
    uint32_t pin;
    int64_t qty;
    int64_t consumed; /* by allocation events */
    int64_t released; /* by a partial release */
    /* Units beyond ATP when granted (a reserve with backorder: true,
     * docs/PROTOCOL.md, "Backorder budgets"); what it was then, kept. */
    int64_t backordered;
} resv_line;

/* A consumption key: event `event` (its index in the message's applied
 * events) of message `seq` of source `src`; RESV_MARK_MESSAGE: the whole
 * message. Keys of one source are applied in (seq, event) order. */
#define RESV_MARK_MESSAGE UINT32_MAX
/* The highest seq a stored mark may hold: a source's seq is at most
 * 2^63 - 1 (PROTOCOL.md, limits); above it the record is malformed. */
#define RESV_SEQ_MAX INT64_MAX
typedef struct resv_mark {
    uint64_t seq;
    uint32_t src; /* index in config.sources */
    uint32_t event;
} resv_mark;

/* One reservation. Chains and heap node belong to the table. */
typedef struct resv {
    struct resv *next_id;  /* chain in by_id */
    struct resv *next_ref; /* chain in by_ref */
    char *id;
    uint32_t id_len;
    char *order_ref; /* NULL: none */
    uint32_t order_ref_len;
    char *client; /* tenancy: the creating token's client; NULL: none */
    uint32_t client_len;
    uint32_t channel;
    uint8_t state;                              /* engine_resv_state */
    int64_t created_ms, expires_ms, updated_ms; /* wall clock */
    heap_node due; /* key: expiry when open, purge time when finished */
    /* What the record already reflects of each source, at most one mark
     * per source: every event of src up to (seq, event) was applied while
     * this record was what it is (or an earlier version of it). Raised
     * by an allocation naming the record while it is held (it consumed
     * nothing), at commit to each source's applied offset (what came
     * before the commit consumed nothing), and by every consumption; a
     * source event at or below its mark (a resend after a restart) never
     * consumes (resv_consume). Only sources that may allocate in a line's
     * region get one, so n_marks is small. NULL: none. */
    resv_mark *marks;
    uint32_t n_marks;
    /* A partial reserve's, or one with a split line (docs/PROTOCOL.md,
     * "Partial reservations", "Split lines"): its lines are what was
     * granted, not what was asked, so a replay is told by this digest of
     * what was asked (resv_request_digest); 0: any other reserve, whose
     * lines are what was asked. */
    uint64_t digest;
    /* A dated reservation's date (docs/PROTOCOL.md, "Dated
     * reservations"), 0: none. While it is later than the engine's
     * phased.conv_ms its open lines count as dated (phased.c), from then
     * on in their rows' reserved. */
    int64_t promise_ms;
    uint32_t n_lines;
    resv_line lines[];
} resv;

typedef struct resv_pending resv_pending;

/* Open (held or committed) reservations of one tenancy client, for
 * auth.limits.max_open_reservations. */
typedef struct resv_client {
    char *name;
    uint32_t len;
    int64_t open;
} resv_client;

/* Changes waiting for one store transaction, with the replies that wait
 * for them and the before-images that undo them if the write fails. */
typedef struct resv_group {
    resv_pending *items;
    size_t n, cap;
    size_t n_writes;
} resv_group;

typedef struct resv_table {
    resv **by_id;
    size_t id_cap, count;
    resv **by_ref;
    size_t ref_cap;
    heap expiry;         /* every record, by due.key */
    resv_group open;     /* collecting */
    resv_group inflight; /* written by the store now (n > 0) */
    resv_group durable;  /* written; being answered in resv_group_done */
    bool inflight_busy;
    /* Groups handed to the store so far and the last of them stored: the
     * in-flight group is number gen_flushed, the open one gen_flushed + 1.
     * A snapshot cut waits for the consumptions before it by number. */
    uint64_t gen_flushed, gen_durable;
    /* may_allocate[region * n_sources + src]: src is authoritative for
     * `allocated` at a location of region, so it can consume a line there. */
    uint8_t *may_allocate;
    size_t n_sources;
    /* seq_floor[src]: the highest seq of src known to have been applied
     * before the restart: the "applied" file's (engine_applied_attach) or
     * the highest in the marks of the records loaded at start-up; a
     * commit's mark is at least that (see resv_marks_commit). Cleared once
     * a batch of the source at or above it is applied: the offset covers
     * it then. */
    uint64_t *seq_floor;
    /* applied_hw[src]: the source's slot in the "applied" file (store.h),
     * raised to each applied batch's seq, never lowered (a resend applies
     * lower seqs again; lowering it and crashing again would forget what
     * the first run applied). NULL entries: no file. */
    uint64_t **applied_hw;
    /* Per client (records with one), kept by resv_replace: a few entries
     * (the configured clients, and any a stored record still names). */
    resv_client *clients;
    size_t n_clients, clients_cap;
    bool stopping; /* engine stop: failed consumptions are not retried */
    int64_t retry_after_ms; /* after a failed write, expiry waits till then */

    _Atomic uint64_t n_total, n_held, n_committed, granted, refused, expired,
        consumed, store_failures, load_skipped;
    /* Grants that took units beyond ATP, and those units (stored ones). */
    _Atomic uint64_t backorder_reserves, backorder_units;
} resv_table;

/* resv_table_init: an empty table for the sources and regions of cfg
 * (read during the call only). */
atp_err resv_table_init(resv_table *t, const struct config *cfg);
void resv_table_fini(resv_table *t);
/* resv_table_using counts the reservations the table remembers (open or
 * finished within retention) made in channel or with a line in region
 * (UINT32_MAX: that one not asked): what a region or channel removed at
 * run time would leave naming nothing. Engine thread. */
size_t resv_table_using(const resv_table *t, uint32_t region, uint32_t channel);

/* resv_may_allocate_set sets which sources may consume reservations in
 * which region: those with allocated authority at one of its locations,
 * each location in the region loc_region gives (NULL: cfg's; a reload may
 * have moved locations). Engine thread, or before it starts. */
void resv_may_allocate_set(resv_table *t, const struct config *cfg,
                           const uint16_t *loc_region);

/* resv_execute runs one operation; its reply is delivered when durable. */
void resv_execute(struct engine *e, const struct engine_resv_req *req);

/* resv_flush hands the collected group to the store if none is in flight
 * (call after each command). */
void resv_flush(struct engine *e);

/* resv_group_done: the store finished the in-flight group with err. */
void resv_group_done(struct engine *e, atp_err err);

/* resv_consumptions_gen: the number of the last group holding a
 * consumption not stored yet (0: none); stored once gen_durable reaches it. */
uint64_t resv_consumptions_gen(const resv_table *t);

/* resv_tick expires and purges what is due at now_ms (wall clock); returns
 * milliseconds until the next due time, or -1 if nothing is scheduled. */
int64_t resv_tick(struct engine *e, int64_t now_ms);

/* resv_consume: a positive allocation of qty units of (sku, region) naming
 * ref (reservation id or order reference), applied as event `event` of
 * message seq of source src (src UINT32_MAX: not from a source, never
 * resent). Consumes once per (src, seq, event), only if the reservation was
 * committed before that event was first applied: see resv->marks. An
 * event naming a held reservation (by id) stores its key as that record's
 * mark, so that a resend never consumes it once it is committed. */
void resv_consume(struct engine *e, uint32_t sku, uint32_t region,
                  const char *ref, uint32_t ref_len, int64_t qty, uint32_t src,
                  uint64_t seq, uint32_t event);

/* resv_load restores a stored record (main thread, before engine_start). */
atp_err resv_load(struct engine *e, const void *key, size_t key_len,
                  const void *val, size_t val_len);

/* resv_fail_all answers every waiting operation with err (shutdown). */
void resv_fail_all(struct engine *e, atp_err err);

void resv_stats(const resv_table *t, struct engine_stats *out);

/* resv_mark_raise raises r's mark for src to (seq, event), adding it if r
 * has none (never lowers it). Returns false when out of memory (r
 * unchanged). Shared with resv_record.c. */
bool resv_mark_raise(resv *r, uint32_t src, uint64_t seq, uint32_t event);

/* Record encoding (resv_record.c): msgpack bytes of a record, for the store.
 * resv_record_encode returns a malloc'd buffer (caller frees) or NULL. */
unsigned char *resv_record_encode(const struct engine *e, const resv *r,
                                  size_t *len);
/* resv_record_decode returns a new record (the caller frees it with
 * resv__free) or an error when the bytes are not a valid record or name
 * unknown regions or channels. Interns the SKUs it names. */
atp_err resv_record_decode(struct engine *e, const void *buf, size_t len,
                           resv **out);

#endif
