/*
 * engine.h - atpd's in-memory state: SKU dictionary, positions, per-(SKU,
 * region) aggregates, buffer rules, and the ATP answer.
 *
 * Threads:
 * - One engine thread (engine_start) owns every mutation. Other threads hand
 *   it work through one bounded queue: engine_submit (batches) blocks while
 *   it is full (backpressure on ingest); engine_resv_submit and
 *   engine_snapshot_submit never block (nng callbacks): ATP_E_BUSY.
 * - Queries (engine_query and the other const functions) run on any thread,
 *   take no lock and never wait for the engine thread: each (SKU, region)
 *   aggregate is read under a per-row seqlock, the SKU dictionary is
 *   lock-free (dict.h), rules are an immutable set behind an atomic pointer.
 * - A batch's effect on one (SKU, region) row is published in one seqlock
 *   write at the end of the batch, so a reader never sees a row halfway
 *   through a batch. Different rows are not published together, except by
 *   a reload moving locations between regions: readers of several rows
 *   (engine_query_lines, engine_query_regions) see such a move whole.
 */
#ifndef ATP_ENGINE_H
#define ATP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "metrics/metrics.h"

typedef struct engine engine;

/* What the engine stores (each a database of the store). */
typedef enum engine_db {
    ENGINE_DB_RESERVATIONS,
    ENGINE_DB_POSITIONS, /* key "location\0sku", value 3 x int64 LE */
    ENGINE_DB_OFFSETS,   /* key source id, value seq, ts_ms (2 x uint64 LE) */
    ENGINE_DB_LOTS,      /* key "location\0sku\0lot", value qty, eta_ms */
    ENGINE_DB_META,      /* key a name: the cluster's local copy position */
    ENGINE_DB_COUNT,
} engine_db;

/* One record write for engine_persist: val NULL = delete. */
typedef struct engine_record_op {
    engine_db db;
    const void *key;
    size_t key_len;
    const void *val;
    size_t val_len;
} engine_record_op;

/* One resolved source event (locations already resolved to indices and
 * authority already checked by the caller). The SKU bytes are borrowed until
 * the batch is released. */
typedef struct engine_event {
    uint8_t kind;   /* ATP_EV_DELTA, ATP_EV_SET or ATP_EV_LOT_* */
    uint8_t bucket; /* enum atp_bucket (DELTA, SET) */
    /* LOT_RECEIVE: the lot's quantity moves into on_hand (the source is
     * authoritative for on_hand there); otherwise the lot just ends. */
    bool receive_to_on_hand;
    uint16_t location;
    uint32_t sku_len;
    const char *sku;
    int64_t value;
    /* DELTA: optional order / reservation reference (ref_len 0: none); a
     * positive ALLOCATED delta naming a committed reservation consumes it.
     * LOT_*: the lot id. */
    const char *ref;
    uint32_t ref_len;
    int64_t eta_ms; /* LOT_ADD, LOT_CHANGE: wall clock */
} engine_event;

/* A batch handed to the engine thread. After applying it (or dropping it on
 * shutdown), the engine thread calls release(owner, applied) exactly once;
 * that is where the submitter frees the memory the events borrow from and
 * records progress. n may be 0 (a heartbeat or a rejected message that still
 * consumes a sequence number: release keeps ordering with the others). */
typedef struct engine_batch {
    const engine_event *events;
    uint32_t n;
    /* When from_source: the source message this batch is. Its sequence
     * becomes the source's applied offset, stored with the positions in the
     * same snapshot. */
    bool from_source;
    uint32_t source; /* index in config.sources */
    uint64_t seq, ts_ms;
    /* A full snapshot of the source: first every position bucket and lot
     * in its authority is cleared, then the events (SET, LOT_ADD) apply;
     * readers see the result per row at once. */
    bool replace_authority;
    /* The source's first snapshot after a source_reset: its sequence
     * restarts at seq, maybe below the old one, so the highest seq kept
     * in the applied file (engine_applied_attach) and the commit floor
     * follow it down; the old numbering's history is over. */
    bool restarts_sequence;
    void (*release)(void *owner, bool applied);
    void *owner;
} engine_batch;

/* The answer to "how many can I promise?" for one (SKU, region, channel). */
typedef struct engine_answer {
    int64_t atp;
    int64_t supply;
    int64_t reserved;
    int64_t buffer;
    int64_t shortfall;
    uint8_t rule_level; /* enum atp_rule_level */
    bool stale;
    bool known_sku;
    int64_t low_stock; /* the matched rule's low-stock threshold (0: none) */
    /* The matched rule: buffer = max(units, ceil(percent_bp * supply /
     * 10000)). */
    int64_t buffer_units;
    int64_t buffer_percent_bp;
    /* The matched rule's backorder budget (0: none) and its use,
     * formula_backorder (docs/PROTOCOL.md, "Backorder budgets"). */
    int64_t backorder_budget;
    int64_t backorder_used;
    int64_t backorder_left;
    /* A bundle's answer (docs/PROTOCOL.md, "Bundles"): the component that
     * limits it (dictionary-owned, lives as long as the engine); NULL: not
     * a bundle. */
    const char *limiting;
    uint32_t limiting_len;
} engine_answer;

/* What the persistence behind engine_persist reports (status). */
typedef struct engine_store_stats {
    uint64_t commits;  /* LMDB write transactions */
    uint64_t failures; /* failed LMDB commits */
    uint64_t map_bytes, used_bytes;
    bool full;                 /* the last commit failed for lack of space */
    uint64_t log_appends;      /* reservation log: write + fdatasync */
    uint64_t log_groups;       /* groups made durable by the log */
    uint64_t log_waits;        /* appends that waited for LMDB (log full) */
    uint64_t log_replayed;     /* groups replayed from the log at start */
    uint64_t env_reopens;      /* LMDB reopened after a large transaction */
    bool log_present;          /* the reservation log is in use */
    uint64_t log_size;         /* its file's size; 0: none */
    uint64_t log_used;         /* bytes written in its current cycle */
    metrics_hist_sum log_sync; /* each log append's fdatasync latency */
    metrics_hist_sum commit;   /* each LMDB commit's latency */
} engine_store_stats;

typedef struct engine_stats {
    uint64_t skus;
    uint64_t positions;
    uint64_t batches_applied;
    uint64_t events_applied;
    uint64_t events_clamped; /* results beyond +-ATP_QTY_MAX, clamped */
    uint64_t queue_len;
    uint64_t memory_bytes; /* approximate, engine-owned structures */
    uint64_t resv_open;    /* held + committed */
    uint64_t resv_held;
    uint64_t resv_committed;
    uint64_t resv_total; /* including finished ones still remembered */
    uint64_t resv_granted, resv_refused, resv_expired, resv_consumed;
    /* grants that took units beyond ATP, and those units */
    uint64_t backorder_reserves, backorder_units;
    /* dated reserves granted; open units of dated reservations before
     * their date; the sum of every row's preorder hold */
    uint64_t preorder_reserves;
    int64_t preorder_dated_units, preorder_hold_units;
    uint64_t resv_store_failures; /* operations refused: store write failed */
    bool store_known;             /* store filled in (persist.stats set) */
    engine_store_stats store;
    uint64_t resv_load_skipped; /* stored records not restored */
    uint64_t snapshots, snapshot_failures;
    uint64_t snapshot_waited;         /* cut, then stored after consumptions */
    uint64_t snapshot_last_ms;        /* wall clock of the last stored one */
    uint64_t snapshot_last_positions; /* positions it carried */
} engine_stats;

/* ---- reservations ------------------------------------------------------ */

typedef enum engine_resv_op {
    ENGINE_RESV_RESERVE,
    ENGINE_RESV_COMMIT,
    ENGINE_RESV_RELEASE,
    ENGINE_RESV_EXTEND,
    ENGINE_RESV_GET,
} engine_resv_op;

typedef enum engine_resv_state {
    ENGINE_RESV_HELD,
    ENGINE_RESV_COMMITTED,
    ENGINE_RESV_CONSUMED,
    ENGINE_RESV_RELEASED,
    ENGINE_RESV_EXPIRED,
} engine_resv_state;

/* The regions a split line may name (docs/PROTOCOL.md, "Split lines"). */
#define ENGINE_SPLIT_MAX 8

typedef struct engine_resv_line {
    const char *sku;
    uint32_t sku_len;
    uint32_t region;
    /* reserve: the pickup location the line is pinned to, as its index in
     * cfg's locations + 1; 0: none, so that a line left zero is not pinned
     * (docs/PROTOCOL.md, "Pinned lines"); results: the same. Lines of one
     * (sku, region) in one request must name the same location (or all
     * none). */
    uint32_t pin;
    int64_t qty; /* requested (reserve) / reserved (results) */
    /* reserve: a split line (docs/PROTOCOL.md, "Split lines") is filled
     * from `region`, then from these regions in order (indexes into cfg's
     * regions); n_split 0: an ordinary line. Its SKU is in no other line
     * of the request, and it is not pinned. */
    const uint32_t *split;
    uint32_t n_split;  /* at most ENGINE_SPLIT_MAX - 1 */
    int64_t consumed;  /* results: consumed by allocation events */
    int64_t released;  /* results: released by a partial release */
    int64_t available; /* results of a refusal: ATP at that moment (with
                          backorder: plus the budget left) */
    /* results: units of the line beyond ATP when it was granted
     * (docs/PROTOCOL.md, "Backorder budgets") */
    int64_t backordered;
} engine_resv_line;

/* What a reservation operation answers. Valid only during the done
 * callback: copy what you need. */
typedef struct engine_resv_result {
    atp_err err;
    const char *message; /* human detail for err, or NULL */
    /* has_line: err is about request line `line` (its index in the
     * request) */
    bool has_line;
    uint32_t line;
    bool granted;  /* reserve: granted now or originally */
    bool replayed; /* the id was known: the original answer */
    /* the reservation as it is after the operation (absent when refused or
     * on error): */
    bool has_record;
    const char *id;
    uint32_t id_len;
    uint32_t channel;
    engine_resv_state state;
    int64_t created_ms, expires_ms, updated_ms; /* wall clock */
    const char *order_ref;                      /* NULL: none */
    int64_t promise_ms; /* a dated reservation's date, 0: none */
    bool dated;         /* promise_ms is still later than now */
    const engine_resv_line *lines;
    uint32_t n_lines;
} engine_resv_result;

/* A reservation request. Everything it points to must stay valid until
 * done has been called. done is called exactly once, on the engine thread
 * or the store writer thread, after the outcome is durable. */
typedef struct engine_resv_req {
    engine_resv_op op;
    const char *id;
    uint32_t id_len;
    uint32_t channel;              /* reserve */
    const engine_resv_line *lines; /* reserve: lines; release: lines to */
    uint32_t n_lines;              /* release (qty ignored), 0 = all */
    int64_t ttl_ms;                /* reserve, extend; 0 = default */
    /* reserve: grant what is available of each line (at least one unit in
     * all) instead of all or nothing; lines with nothing available are
     * left out of the reservation (docs/PROTOCOL.md, "Partial
     * reservations"). */
    bool partial;
    /* reserve: a line may also take its row's backorder budget left
     * beyond ATP (not a pinned line; docs/PROTOCOL.md, "Backorder
     * budgets"). */
    bool backorder;
    /* reserve: a dated reservation's date, ms since the epoch (0: none;
     * docs/PROTOCOL.md, "Dated reservations"): each line is checked
     * against atp_on(promise_ms); at or before now an ordinary reserve.
     * Not with backorder or pinned lines (the server refuses those). */
    int64_t promise_ms;
    const char *order_ref; /* commit, optional */
    uint32_t order_ref_len;
    /* Tenancy (docs/SECURITY.md): the client the request's token is bound
     * to, NULL when none. A bound request sees only reservations created
     * under the same client (others are not_found; a reserve reusing
     * another client's id is a conflict); an unbound one sees all. A
     * reserve stores it with the reservation, and is refused with
     * ATP_E_QUOTA when the client already has
     * auth.limits.max_open_reservations open ones. Must outlive the
     * request. */
    const char *client;
    uint32_t client_len;
    void (*done)(void *arg, const engine_resv_result *res);
    void *arg;
} engine_resv_req;

/* Where the engine makes reservation changes durable (wired by main to the
 * store). write copies the records and calls done(arg, err) once they are
 * durable, on any thread. A NULL write means "memory only" (tests). */
typedef struct engine_persist {
    void *ctx;
    atp_err (*write)(void *ctx, const engine_record_op *ops, size_t n,
                     void (*done)(void *arg, atp_err err), void *arg);
    /* Optional, for snapshots: like write, but the records' keys and values
     * are not copied: they stay valid until release(owner), called once
     * after done (not at all on an error return). ops itself is read during
     * the call only. */
    atp_err (*write_owned)(void *ctx, const engine_record_op *ops, size_t n,
                           void (*release)(void *owner), void *owner,
                           void (*done)(void *arg, atp_err err), void *arg);
    /* Optional, any thread: the store's counters for status. */
    void (*stats)(void *ctx, engine_store_stats *out);
    /* Optional, any thread: an online backup into dir (store_backup's
     * contract): done(arg, err) once, after every write completed before
     * the call is in the copy; an error return (why filled) means no done. */
    atp_err (*backup)(void *ctx, const char *dir,
                      void (*done)(void *arg, atp_err err), void *arg,
                      char *why, size_t why_len);
} engine_persist;

/* engine_alloc builds an engine for cfg (regions, locations, channels,
 * buffer rules); cfg must outlive the engine. */
atp_err engine_alloc(const config *cfg, const engine_persist *persist,
                     engine **out);

/* engine_resv_load restores one stored reservation record (start-up, main
 * thread, before engine_start). Records that do not decode or name unknown
 * regions/channels are skipped with a log line and counted. */
atp_err engine_resv_load(engine *e, const void *key, size_t key_len,
                         const void *val, size_t val_len);

/* engine_resv_submit queues a reservation operation (any thread but the
 * engine's). Never blocks (nng callbacks call it): ATP_E_BUSY when the
 * engine's queue is full (an ingest backlog: retry shortly), ATP_E_BAD_STATE
 * when stopped; done is then not called. Queued, it is answered exactly
 * once, with ATP_E_BUSY if atpd stops before the engine reads it. */
atp_err engine_resv_submit(engine *e, const engine_resv_req *req);

const char *engine_resv_state_name(engine_resv_state st);
void engine_free(engine *e);

/* engine_start starts the engine thread; engine_stop applies what is queued,
 * stops it and waits for it. Never call engine_stop from the engine thread. */
atp_err engine_start(engine *e);
void engine_stop(engine *e);

/* Deterministic driving (the simulation test, tests/unit/engine/test_sim.c):
 * instead of engine_start, engine_start_stepped finishes start-up without a
 * thread, and the caller is the engine thread from then on: each
 * engine_step(e, now_ms) runs, on the calling thread, what the engine
 * thread's loop runs in one go - reservations and lots due at now_ms
 * (wall clock), every queued command (batches, reservation operations,
 * syncs, store completions pushed meanwhile) with now_ms as its time, and
 * the group commit after each - and returns once the queue is empty. The
 * thread's loop is the same code with the real clock. Periodic snapshots
 * do not run (engine_snapshot_submit does); the calls that wait for the
 * engine thread (engine_sync, engine_snapshot_now, engine_rules_replace)
 * would wait for ever, and engine_stop does nothing: free a stepped
 * engine with engine_free. engine_start_stepped returns ATP_E_BAD_STATE
 * when the thread runs; engine_start is engine_start_stepped and then the
 * thread. */
atp_err engine_start_stepped(engine *e);
void engine_step(engine *e, int64_t now_ms);

/* engine_submit queues a batch (ownership of owner moves to the engine on
 * success only). Blocks while the queue is full. ATP_E_BAD_STATE when
 * stopped. Any thread except the engine thread. */
atp_err engine_submit(engine *e, const engine_batch *b);

/* What a snapshot request answers: err is ATP_OK once a snapshot cut
 * after the request is stored, the store's error if it was not, ATP_E_BUSY
 * when atpd is stopping (the stop takes a final snapshot itself) or too
 * many requests wait. */
typedef void (*engine_snapshot_done_fn)(void *arg, atp_err err);

/* engine_snapshot_submit asks for a snapshot (any thread but the
 * engine's). Never blocks: ATP_E_BUSY when the engine's queue is full,
 * ATP_E_BAD_STATE when stopped; done is then not called. Otherwise done
 * is called exactly once, on the engine thread (or in engine_stop). */
atp_err engine_snapshot_submit(engine *e, engine_snapshot_done_fn done,
                               void *arg);

/* engine_snapshot_now is engine_snapshot_submit waiting for the answer
 * (tests, tools; never from a thread that must not block). */
atp_err engine_snapshot_now(engine *e);

/* What a reload's location moves did (engine_rules_replace). */
typedef struct engine_relocate_report {
    size_t locations;   /* locations moved to another region */
    size_t removed;     /* locations the new configuration no longer has */
    size_t restored;    /* removed ones it has again (they come back empty) */
    uint64_t positions; /* their positions (every SKU stocked there) */
    uint64_t rows;      /* (SKU, region) rows whose supply changed */
} engine_relocate_report;

/* What engine_rules_replace did. */
typedef struct engine_rules_report {
    size_t rules;          /* rules in the new set */
    size_t scopes_changed; /* rules added, removed or changed */
    uint64_t rows_marked;  /* rows visited for the change feed (an upper
                              bound; a row already marked counts too) */
    engine_relocate_report moved;
    size_t horizons_changed; /* regions whose inbound horizon changed */
    char refused[320]; /* why the command was refused ("" if it was not) */
} engine_rules_report;

/* engine_rules_replace makes next's buffer rules, each region's inbound
 * horizon (the lots of a region whose horizon changed count again under
 * the new one, in the same command; rows whose supply changed are marked
 * for the change feed) and the region, type and pickup settings of each
 * of its locations the engine's (a reload; the pickup and explain answers
 * after it show the new type and settings). next must have running's regions
 * and channels, and no location the engine's configuration does not name
 * (locations are matched by id: config_location_regions; a location added
 * at run time is first named in a spare place, config_location_claim, and
 * then comes back from CONFIG_LOCATION_GONE like one named again); running
 * is the configuration whose rules are in force, for the difference.
 * Which sources may allocate in which region is derived again from the
 * locations' regions and the sources' authority (as
 * engine_rules_replace_swap installs it). A location next does not list is
 * removed, only if it has no stock (ATP_E_BAD_STATE, report->refused says
 * which, otherwise): the engine drops later events naming it; named again, it
 * comes back empty. Both are applied by the engine thread as one command, so
 * each grant and batch sees either the old rules and regions or the new. A
 * location whose region changes takes its positions along: the net of each
 * leaves its (SKU, old region) row and joins its (SKU, new region) row, its
 * inbound lots count under the new region's horizon, and reservations (per SKU
 * and region) keep their quantities (a region left with less supply than it
 * reserved shows a shortfall). Readers of several rows (engine_query_lines,
 * engine_query_regions) see all of it or none. Rows under a changed rule or
 * with moved supply are marked for the change feed. Blocks until done; any
 * thread but the engine's; neither config is kept. Returns ATP_E_BAD_QTY when a
 * move would take a row's supply beyond
 * +-ATP_QTY_SUM_MAX (report->refused says which), ATP_E_CONFIG when next
 * adds a location or changes the regions, ATP_E_BUSY when the engine stopped
 * first, ATP_E_NOMEM; then nothing changed. report may be NULL. */
atp_err engine_rules_replace(engine *e, const config *running,
                             const config *next, engine_rules_report *report);

/* The sources' authority lists a rules command installs (run-time
 * administration): for each i < n with counts[i] != SIZE_MAX, lists[i]
 * and counts[i] are swapped with sources[i].authority and n_authority
 * (sources: the engine's configuration's, the caller's writable view of
 * it) by the engine thread when the command applies, so no reader of
 * them on that thread (a full snapshot clearing what its source owns)
 * sees a list change under it. Afterwards lists[i] holds the list
 * replaced, or still the caller's when the command was refused: the
 * caller frees what lists holds in both cases. */
typedef struct engine_authority_swap {
    config_source *sources;
    config_authority **lists;
    size_t *counts;
    size_t n;
    /* The engine's configuration, writable (NULL: not given): the command
     * also takes every region and channel place next does not name out
     * of service (config_places_follow), in the same command as the
     * removal checks (after its rules swap), so no reservation is granted
     * in a place it removed; with
     * places_in, it puts those next names in service too, and marks their
     * rows for the change feed (every row when a channel goes in or out).
     * The admin applies a change with places_in false, stores it, then
     * puts the added places in (a second command): no reservation is
     * granted in a place whose addition is not stored. */
    config *places;
    bool places_in;
} engine_authority_swap;

/* engine_rules_replace_swap is engine_rules_replace that also installs
 * swap (NULL: none) in the same command. */
atp_err engine_rules_replace_swap(engine *e, const config *running,
                                  const config *next,
                                  engine_authority_swap *swap,
                                  engine_rules_report *report);

/* engine_backup_submit asks the persistence for an online backup into dir
 * (engine_persist.backup): every reservation acknowledged before the call
 * is in it. Not through the engine thread: an acknowledged reservation's
 * write was queued in the store before its reply, so the store's order
 * suffices. ATP_E_BAD_STATE (why filled) when atpd keeps memory only. Any
 * thread; never blocks on the engine. */
atp_err engine_backup_submit(engine *e, const char *dir,
                             void (*done)(void *arg, atp_err err), void *arg,
                             char *why, size_t why_len);

/* engine_reserve_positions sizes the positions table for n more, and the
 * SKU dictionary and rows for the n / n_locations SKUs they at least
 * belong to (before a start-up load of n stored positions: one allocation
 * instead of doubling all the way up). Main thread, before engine_start. */
atp_err engine_reserve_positions(engine *e, size_t n);

/* engine_position_load restores one stored position (start-up, main
 * thread, before engine_start). A location no longer configured is
 * ATP_E_UNKNOWN_LOCATION (the caller counts and drops it). */
atp_err engine_position_load(engine *e, const void *key, size_t key_len,
                             const void *val, size_t val_len);

/* engine_lot_load restores one stored inbound lot (start-up, main thread,
 * before engine_start). */
atp_err engine_lot_load(engine *e, const void *key, size_t key_len,
                        const void *val, size_t val_len);

/* engine_offset_load restores a source's applied offset; true and *src,
 * *seq set when the key names a configured source. */
bool engine_offset_load(engine *e, const void *key, size_t key_len,
                        const void *val, size_t val_len, uint32_t *src,
                        uint64_t *seq);

/* engine_applied_attach gives the engine, per configured source (cfg
 * order), a slot holding the highest seq it has applied, kept across
 * restarts (store.h, "the applied file"; NULL: none for that source). The
 * engine raises it with every batch it applies from the source and never
 * lowers it; what it holds now (applied before the restart) becomes the
 * source's floor for commits: a reservation committed while the source
 * resends is marked at least there, so a resent allocation applied before
 * the crash never consumes it (docs/PROTOCOL.md, "Expiry,
 * consumption, retention"). Main thread, before engine_start; the slots must
 * outlive engine_stop. */
/* engine_resv_adopt loads reservation records (ENGINE_DB_RESERVATIONS
 * puts; other ops are ignored) into the running engine, like
 * engine_resv_load at start-up, on the engine thread, and waits until
 * they are in: a cluster standby taking its partition over
 * (docs/CLUSTER.md). A record whose id the engine already holds, or that
 * does not decode, is skipped (logged, counted as a load skip). *loaded
 * (may be NULL) gets how many were loaded. Not on the engine thread;
 * ATP_E_BUSY when the engine stopped first. */
atp_err engine_resv_adopt(engine *e, const engine_record_op *recs, size_t n,
                          size_t *loaded);

void engine_applied_attach(engine *e, uint64_t *const *slots);

/* engine_sync returns once everything submitted before the call has been
 * applied. Any thread except the engine thread. */
atp_err engine_sync(engine *e);

/* engine_query_regions answers (sku, r, channel) for every region r into
 * out[0 .. regions), all read at one point between two reloads that move
 * locations (any thread). */
void engine_query_regions(const engine *e, const char *sku, size_t sku_len,
                          uint32_t channel, engine_answer *out);

/* engine_query answers one line. region and channel must be valid indices.
 * An unknown SKU has ATP 0 (known_sku false). Any thread, lock-free. */
void engine_query(const engine *e, const char *sku, size_t sku_len,
                  uint32_t region, uint32_t channel, engine_answer *out);

/* One line of engine_query_lines: region and channel must be valid. */
typedef struct engine_query_line {
    const char *sku;
    uint32_t sku_len;
    uint32_t region;
    uint32_t channel;
} engine_query_line;

/* engine_query_lines answers n lines (a cart): out[i] is what
 * engine_query(e, lines[i].sku, lines[i].sku_len, lines[i].region,
 * lines[i].channel, &out[i]) gives, each line read on its own as n calls
 * would (no snapshot across lines: a batch's rows are published one by
 * one), except that a reload moving locations between regions is seen
 * for all lines or for none (engine_rules_replace). Faster for many lines: the
 * dictionary and row cache misses of several lines overlap (prefetching
 * pipeline). Any thread, lock-free; out has room for n answers. */
void engine_query_lines(const engine *e, const engine_query_line *lines,
                        size_t n, engine_answer *out);

/* A location's type and pickup settings as the engine runs them: the
 * started configuration's, then each engine_rules_replace's (matched by
 * id). Indexed like config.locations; read on the engine thread (the
 * explain and pickup answers hand them to their callbacks). */
typedef struct engine_location_info {
    char *type; /* "" when none; never NULL */
    bool pickup;
    int64_t pickup_buffer;
} engine_location_info;

/* ---- explain: the whole formula of one SKU ------------------------------ */

/* One location's position of the SKU (locations without one are left out). */
typedef struct engine_explain_loc {
    uint32_t location; /* index into config.locations */
    uint32_t region;   /* its region now (a reload may have moved it) */
    int64_t on_hand, allocated, held;
    int64_t inbound; /* lots inside the horizon, as counted in net */
    int64_t net; /* formula_net: the location's part of its region's supply */
} engine_explain_loc;

/* One inbound lot of the SKU. */
typedef struct engine_explain_lot {
    uint32_t location;
    uint32_t region; /* its location's region now */
    const char *id;
    uint32_t id_len;
    int64_t qty, eta_ms; /* eta: wall clock */
    bool in_horizon;     /* counted in its location's inbound */
} engine_explain_lot;

/* One open (held or committed) reservation line of the SKU. */
typedef struct engine_explain_resv {
    const char *id;
    uint32_t id_len;
    uint32_t region, channel;
    uint32_t pin; /* the line's pickup location + 1, 0: not pinned */
    engine_resv_state state;
    int64_t open; /* qty - consumed - released: its part of reserved */
    int64_t expires_ms;
    /* a dated reservation's date (0: none); dated: still later than the
     * engine's conversion clock, so its open units are not in reserved
     * but in the row's preorder hold's computation (phased.c) */
    int64_t promise_ms;
    bool dated;
} engine_explain_resv;

/* What engine_explain_submit answers. Valid only during the done callback.
 * Everything is read on the engine thread between two commands, so the
 * parts add up: each region's supply is the sum of its locations' net
 * (unless clamped at ATP_QTY_SUM_MAX), its reserved the sum of its open
 * lines, and answers[] come from the same function as engine_query. */
typedef struct engine_explain {
    atp_err err; /* ATP_E_NOMEM: nothing else is set */
    bool known_sku;
    int64_t now_ms; /* wall clock of the reading */
    const engine_explain_loc *locs;
    uint32_t n_locs;
    const engine_explain_lot *lots;
    uint32_t n_lots;
    const engine_explain_resv *resvs; /* at most ENGINE_EXPLAIN_RESV_MAX */
    uint32_t n_resvs;
    uint64_t resv_lines; /* open lines in all (n_resvs may be fewer) */
    /* answers[region * n_channels + channel] */
    const engine_answer *answers;
    const engine_location_info *info; /* per location index */
    const int64_t *horizon_ms;        /* per region: inbound horizon now */
} engine_explain;

#define ENGINE_EXPLAIN_RESV_MAX 200

typedef void (*engine_explain_done_fn)(void *arg, const engine_explain *x);

/* engine_explain_submit asks for the explanation of one SKU (copied).
 * Never blocks: ATP_E_BUSY when the engine's queue is full, ATP_E_BAD_STATE
 * when stopped, ATP_E_NOMEM; done is then not called. Otherwise done is
 * called exactly once, on the engine thread (x->err ATP_E_BUSY when atpd
 * stops first). Costs the engine thread one pass over the SKU's locations,
 * all lots and all reservations: an operator's tool, not a hot path. */
atp_err engine_explain_submit(engine *e, const char *sku, size_t sku_len,
                              engine_explain_done_fn done, void *arg);

/* ---- store pickup: the locations of one region --------------------------- */

/* One SKU of a pickup query; the bytes are borrowed until done is called. */
typedef struct engine_pickup_line {
    const char *sku;
    uint32_t sku_len;
} engine_pickup_line;

/* One location's pickup answer for one line (formula/pickup.h). */
typedef struct engine_pickup_loc {
    int64_t on_hand, allocated, held;
    int64_t inbound;  /* lots inside the region's horizon: in the region's
                         supply, not in net (not on the shelf yet) */
    int64_t net;      /* max(0, on_hand - allocated - held) */
    int64_t reserved; /* open reservation lines pinned to the location */
    int64_t buffer;   /* the location's pickup_buffer */
    /* pickup ATP: pickup-enabled ? min(max(0, net - reserved - buffer),
     * region atp) : 0 */
    int64_t atp;
} engine_pickup_loc;

/* What engine_pickup_submit answers. Valid only during the done callback.
 * Read on the engine thread between two commands: every location of the
 * region (after the last reload's moves) and the region's answers at one
 * instant. */
typedef struct engine_pickup {
    /* ATP_E_TOO_MANY_LINES: lines x locations over ENGINE_PICKUP_CELLS_MAX
     * (n_locs says how many locations); ATP_E_NOMEM, ATP_E_BUSY: nothing
     * else is set. */
    atp_err err;
    const uint32_t *locations; /* the region's locations, config order */
    uint32_t n_locs;
    const engine_answer *answers;     /* per line: the region's answer */
    const engine_pickup_loc *locs;    /* locs[line * n_locs + i] */
    const engine_location_info *info; /* per location index */
} engine_pickup;

/* The most (line, location) pairs one pickup query reads: the engine
 * thread's time and the reply's size stay bounded (about 10 ms, a few MB). */
#define ENGINE_PICKUP_CELLS_MAX 100000

typedef void (*engine_pickup_done_fn)(void *arg, const engine_pickup *x);

/* engine_pickup_submit asks for the pickup answer of n lines (1..) in
 * region for channel (valid indices): the region's answer of each line
 * (engine_query's) and, for every location of the region, its position
 * and pickup ATP (docs/PROTOCOL.md, "The pickup formula"), with the
 * pickup settings in force (engine_location_info). lines
 * must stay valid until done. Never blocks: ATP_E_BUSY when the engine's
 * queue is full, ATP_E_BAD_STATE when stopped, ATP_E_NOMEM; done is then
 * not called. Otherwise done is called exactly once, on the engine thread
 * (x->err ATP_E_BUSY when atpd stops first). Costs the engine thread one
 * position lookup per (line, location). */
atp_err engine_pickup_submit(engine *e, uint32_t region, uint32_t channel,
                             const engine_pickup_line *lines, uint32_t n,
                             engine_pickup_done_fn done, void *arg);

/* ---- time-phased promises (docs/PROTOCOL.md, "Time-phased promises") --- */

/* One SKU of a promise query; the bytes are borrowed until done is called.
 * qty: the quantity whose earliest date is asked (0: none). */
typedef struct engine_promise_line {
    const char *sku;
    uint32_t sku_len;
    int64_t qty;
} engine_promise_line;

/* The most schedule entries a promise answer lists. */
#define ENGINE_PROMISE_POINTS 64

/* One line's time-phased answer (formula/phased.h). */
typedef struct engine_promise_result {
    engine_answer answer; /* today's, engine_query's */
    bool bundle;          /* a bundle SKU: nothing else is set */
    int64_t dated;        /* open units of dated reservations before their
                             date */
    int64_t hold;         /* the row's preorder hold (in answer.reserved) */
    int64_t shortfall;    /* preorder_shortfall */
    int64_t max_promisable;
    int64_t atp_on_date; /* atp_on(the request's date) */
    int64_t earliest_ms; /* for the line's qty; -1: never */
    uint32_t n_points;   /* schedule entries (with points, line 0 only) */
    bool truncated;      /* more than ENGINE_PROMISE_POINTS */
} engine_promise_result;

/* What engine_promise_submit answers: valid only during the done
 * callback. err ATP_E_NOMEM or ATP_E_BUSY: nothing else is set. */
typedef struct engine_promise {
    atp_err err;
    int64_t now_ms; /* the engine's clock at the answer */
    const engine_promise_result *lines;
    /* with points: line 0's schedule, lines[0].n_points entries (a cart
     * has none: its lines would cost 1 KB each) */
    const int64_t *point_ms, *point_atp;
} engine_promise;

typedef void (*engine_promise_done_fn)(void *arg, const engine_promise *x);

/* engine_promise_submit asks for the time-phased answer of n lines (1..)
 * of SKUs in region for channel (valid indices), atp_on at date_ms (0:
 * now), with the schedule when points is true: the inbound lots of each
 * SKU and its dated reservations are read on the engine thread, between
 * two commands. lines must stay valid until done. Never blocks: ATP_E_BUSY
 * when the engine's queue is full, ATP_E_BAD_STATE when stopped,
 * ATP_E_NOMEM; done is then not called. Otherwise done is called exactly
 * once, on the engine thread (x->err ATP_E_BUSY when atpd stops first).
 * Costs the engine thread one pass over each SKU's lots. */
atp_err engine_promise_submit(engine *e, uint32_t region, uint32_t channel,
                              const engine_promise_line *lines, uint32_t n,
                              int64_t date_ms, bool points,
                              engine_promise_done_fn done, void *arg);

/* engine_region_stale_set marks a region stale or not (any thread); a
 * change marks every row of the region for the change feed. */
void engine_region_stale_set(engine *e, uint32_t region, bool stale);

void engine_stats_get(const engine *e, engine_stats *out);

/* ---- change feed and scans (any thread unless said) --------------------- */

#define ENGINE_CHANGE_MAX_CHANNELS CONFIG_MAX_CHANNELS

/* One (SKU, region) as the change feed publishes it: every channel. */
typedef struct engine_change {
    const char *sku; /* dictionary-owned, lives as long as the engine */
    uint32_t sku_len;
    uint32_t region;
    uint32_t n_channels; /* the channels in service when it was read */
    engine_answer channels[ENGINE_CHANGE_MAX_CHANNELS]; /* n_channels used */
} engine_change;

/* ---- the pickup feed (docs/PROTOCOL.md, "Pickup feed") ------------------ */

/* One pickup location's own state for one SKU (the pickup formula without
 * the region's cap): available = pickup ? max(0, net - reserved - buffer)
 * : 0. */
typedef struct engine_pickup_change {
    uint32_t sku; /* dictionary index: engine_sku_name */
    uint16_t location, region;
    bool pickup;
    int64_t net, reserved, buffer, available;
} engine_pickup_change;

/* engine_pickup_feed_enable starts marking the positions of pickup
 * locations that change (before engine_start). */
void engine_pickup_feed_enable(engine *e);
/* engine_pickup_drain_submit asks the engine thread to put what changed
 * since the last drain in the outbox (any thread; ATP_OK too when a drain
 * is already queued, ATP_E_BUSY when the queue is full: ask again later). */
atp_err engine_pickup_drain_submit(engine *e);
/* engine_pickup_take swaps the caller's buffer (*buf, *cap) for the
 * outbox: afterwards *buf holds the changes drained since the last take,
 * each (SKU, location) at most once per drain, the return value their
 * count. One consumer only. */
size_t engine_pickup_take(engine *e, engine_pickup_change **buf, size_t *cap);
/* engine_pickup_dropped: pickup feed changes lost for memory (any
 * thread). */
uint64_t engine_pickup_dropped(const engine *e);
/* One component of a bundle (docs/PROTOCOL.md, "Bundles"). */
typedef struct engine_bundle_part {
    const char *sku; /* dictionary-owned, lives as long as the engine */
    uint32_t sku_len;
    int64_t qty; /* per kit */
} engine_bundle_part;
#define ENGINE_BUNDLE_MAX_PARTS 16

/* engine_bundle_get: whether sku is a bundle now, with its components in
 * parts (room for ENGINE_BUNDLE_MAX_PARTS), *n of them. Any thread. */
bool engine_bundle_get(const engine *e, const char *sku, size_t len,
                       engine_bundle_part *parts, uint32_t *n);

/* engine_bundles_using: the bundles SKU index sku is a component of now
 * (their SKU indexes in *out, valid until engine_free), and how many. Any
 * thread. */
uint32_t engine_bundles_using(const engine *e, uint32_t sku,
                              const uint32_t **out);

/* engine_sku_name: the SKU of a dictionary index (any thread). */
const char *engine_sku_name(const engine *e, uint32_t sku, size_t *len);

/* engine_changes_enable starts marking changed rows (before engine_start). */
void engine_changes_enable(engine *e);

/* engine_changes_take swaps the caller's key buffer (*keys, *cap) for the
 * engine's: afterwards *keys holds the rows changed since the last call as
 * (sku << 16 | region), the return value their count. One consumer only. */
size_t engine_changes_take(engine *e, uint64_t **keys, size_t *cap);

/* engine_changes_read clears the row's changed mark, then reads it for
 * every channel (so a change after the read marks it again). */
bool engine_changes_read(const engine *e, uint32_t sku, uint32_t region,
                         engine_change *out);

/* engine_changes_clear clears the row's changed mark without reading it
 * (nobody subscribed to the change feed). */
void engine_changes_clear(const engine *e, uint32_t sku, uint32_t region);

/* engine_sku_count returns how many SKUs exist; indices are 0..count-1. */
uint32_t engine_sku_count(const engine *e);

/* engine_answer_index answers (SKU index, region, channel) and gives the
 * SKU id; false if the index does not exist. */
bool engine_answer_index(const engine *e, uint32_t sku, uint32_t region,
                         uint32_t channel, engine_answer *out,
                         const char **sku_id, size_t *sku_len);

#endif
