/*
 * engine_int.h - what the engine's own files share: struct engine and the
 * engine__* functions one of its files defines for the others (README.md
 * lists the files). Not for other modules.
 *
 * Guarded by the single-writer rule: fields marked "engine thread" are
 * touched only by the engine thread (or by main before engine_start);
 * atomics may be read by any thread. e->owner is the engine thread once it
 * runs; functions that only it may run start with ATP_ASSERT_OWNER, which
 * holds for main too before the thread starts (restore) and after it
 * stopped.
 */
#ifndef ATP_ENGINE_INT_H
#define ATP_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/assert.h"
#include "common/done_wait.h"
#include "common/heap.h"
#include "common/queue.h"
#include "engine/dict.h"
#include "engine/engine.h"
#include "engine/positions.h"
#include "engine/resv.h"
#include "formula/bundles.h"
#include "formula/rules.h"

/* The lookup pipeline of engine.c (a batch's events) and query.c (a
 * cart's lines): a stage every ENGINE_PIPE_D items, in a ring of
 * ENGINE_PIPE_RING slots. */
#define ENGINE_PIPE_D 4
#define ENGINE_PIPE_RING 16 /* a power of two > 3 * ENGINE_PIPE_D */

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

/* A caller waiting for the engine thread (common/done_wait.h). */
typedef done_wait engine_sync_waiter;

/* What travels through the engine's queue. Every consumer of the queue
 * (the engine thread, and engine_stop's drain after it) handles every type
 * in a switch without a default, so the compiler (-Wswitch) flags a type
 * added here and forgotten there: a command left unanswered in the queue
 * means a caller waiting forever. */
typedef enum engine_cmd_type {
    ENGINE_CMD_BATCH,
    ENGINE_CMD_SYNC,
    ENGINE_CMD_RESV,          /* a reservation operation */
    ENGINE_CMD_GROUP_DONE,    /* the store finished the in-flight group */
    ENGINE_CMD_STOP,          /* finish what is queued and in flight, exit */
    ENGINE_CMD_SNAPSHOT_DONE, /* the store finished a snapshot group */
    ENGINE_CMD_SNAPSHOT_NOW,  /* take a snapshot now (atpctl snapshot) */
    ENGINE_CMD_RULES,         /* new buffer rules (a reload, reload.c) */
    ENGINE_CMD_EXPLAIN,       /* explain one SKU (explain.c) */
    ENGINE_CMD_PICKUP,        /* a region's locations for pickup (pickup.c) */
    ENGINE_CMD_PROMISE,       /* time-phased answers (phased.c) */
    ENGINE_CMD_PICKUP_DRAIN,  /* hand the pickup feed what changed
                                 (pickup_feed.c) */
    ENGINE_CMD_ADOPT,         /* load reservation records at run time
                                 (a cluster takeover, restore.c) */
} engine_cmd_type;

/* ENGINE_CMD_ADOPT: the caller (engine_resv_adopt) owns it and waits on
 * waiter; the engine thread fills loaded. */
typedef struct engine_adopt_req {
    const engine_record_op *recs;
    size_t n;
    size_t loaded;
    engine_sync_waiter *waiter;
} engine_adopt_req;

/* A scope whose buffer rule was added, removed or changed by a reload: the
 * rows it covers are marked for the change feed. sku NULL: every SKU;
 * region UINT32_MAX: every region (a row carries every channel). */
typedef struct engine_rule_scope {
    const char *sku; /* borrowed from the new or the running config */
    uint32_t region;
} engine_rule_scope;

/* ENGINE_CMD_RULES: the caller (engine_rules_replace) owns it and waits on
 * waiter; the engine thread sets taken once next is published (the engine
 * then owns next, and keeps the set it replaced until engine_free:
 * lock-free readers may still be using it). loc_region is the region of
 * every location after the reload (relocate.c moves the stock of those
 * whose region changes in the same command); refused is set when the move
 * is refused (why says why), and then nothing changed. */
typedef struct engine_rules_change {
    rules *next;
    const engine_rule_scope *scopes;
    size_t n_scopes;
    const uint16_t *loc_region; /* cfg->n_locations entries */
    uint16_t *was; /* as many: the engine's room for the regions before */
    /* as many: next's type and pickup settings; once applied, the ones
     * they replaced (the caller frees whichever it holds) */
    engine_location_info *info;
    /* n_regions: next's inbound horizons; once applied, the ones they
     * replaced (the caller frees whichever it holds) */
    int64_t *horizon_ms;
    bool taken;
    uint64_t rows_marked;
    size_t horizons_changed;
    engine_relocate_report moved;
    engine_authority_swap *authority; /* NULL: unchanged */
    const config *next_cfg; /* the configuration the command applies */
    /* The engine's region and channel places next no longer has (removed
     * at run time): refused while a location is in such a region or a
     * remembered reservation names either (engine_removal_check). */
    const uint32_t *removed_regions, *removed_channels;
    size_t n_removed_regions, n_removed_channels;
    char *why;
    size_t why_len;
    engine_sync_waiter *waiter;
} engine_rules_change;

/* Who asked for a snapshot (SNAPSHOT_NOW): called once with the outcome. */
typedef struct engine_snap_waiter {
    engine_snapshot_done_fn done;
    void *arg;
} engine_snap_waiter;

/* Inbound lots (lots.c, engine thread). */
typedef struct engine_lot engine_lot;
typedef struct engine_lot_key { /* a lot removed since the last snapshot */
    uint32_t sku;
    uint16_t loc;
    char *key; /* lot id */
    uint32_t len;
} engine_lot_key;

typedef struct engine_lots {
    engine_lot **buckets;
    size_t cap, count;
    heap waiting; /* lots waiting to enter the horizon, by due time */
    /* Each SKU's lots, chained through engine_lot.sku_next: open
     * addressing on sku + 1 (0: empty); a SKU whose last lot went keeps
     * its slot (head NULL) until the next growth drops it. So a SKU's
     * lots are found without walking every lot (explain, promise). */
    struct {
        uint32_t *keys;
        engine_lot **heads;
        size_t cap, used;
    } by_sku;
    engine_lot_key *removed;
    size_t n_removed, cap_removed;
    /* removed[0..n_removed_cut) went into the snapshot in flight: freed
     * once it is stored, kept (and every lot written again) if it is not
     * (engine__lots_snapshot_settled). */
    size_t n_removed_cut;
    bool cut_lots; /* the snapshot in flight carried the lots' changes */
    /* Lots added or changed since the last snapshot cut, each once
     * (engine_lot.changed; a slot is NULL when its lot went since): the
     * next snapshot writes these, not every lot (2.4 million lots took
     * the engine thread 0.7-1.1 s per snapshot, docs/PERFORMANCE.md). */
    engine_lot **changed;
    size_t n_changed, cap_changed;
    bool dirty;       /* changed since the last snapshot */
    bool rewrite_all; /* lost track of changes: rewrite (never happens
                         unless out of memory) */
} engine_lots;

#define ENGINE_LOT_KEY_MAX                                                     \
    (ATP_ID_MAX_LEN + ATP_SKU_MAX_LEN + ATP_RESV_ID_MAX_LEN + 2)

typedef struct engine_lots_writer {
    void (*add)(void *ctx, const void *key, size_t key_len, const void *val,
                size_t val_len);
    void *ctx;
} engine_lots_writer;

typedef struct engine_offset {
    uint64_t seq, ts_ms;
    bool known; /* a message from this source was applied or loaded */
    bool dirty; /* changed since the last snapshot */
} engine_offset;

/* A stored position waiting in a load group (restore.c). */
#define ENGINE_LOAD_BATCH 32
typedef struct engine_load_pos {
    uint32_t hash, sku;
    uint16_t loc;
    uint32_t sku_len;
    int64_t bucket[3];
    char sku_id[ATP_SKU_MAX_LEN];
} engine_load_pos;

/* ENGINE_CMD_EXPLAIN: one allocation (the SKU follows it), freed by
 * whoever answers; the command carries only its pointer, so explain does
 * not make every queued batch larger. */
typedef struct engine_explain_req {
    engine_explain_done_fn done;
    void *arg;
    size_t sku_len;
    char sku[];
} engine_explain_req;

/* ENGINE_CMD_PICKUP: one allocation, freed by whoever answers; the lines
 * are borrowed from the caller (engine_pickup_submit). */
typedef struct engine_pickup_req {
    engine_pickup_done_fn done;
    void *arg;
    uint32_t region, channel;
    const engine_pickup_line *lines;
    uint32_t n;
} engine_pickup_req;

/* ENGINE_CMD_PROMISE: one allocation, freed by whoever answers; the
 * lines are borrowed from the caller (engine_promise_submit). */
typedef struct engine_promise_req {
    engine_promise_done_fn done;
    void *arg;
    uint32_t region, channel;
    const engine_promise_line *lines;
    uint32_t n;
    int64_t date_ms;
    bool points;
} engine_promise_req;

/* Dated reservations (phased.c, engine thread): per (sku, region) row
 * with any, the open units per promise date, and the row's preorder hold
 * (docs/PROTOCOL.md, "The time-phased formula"), which the row's reserved
 * total includes: reserved = ordinary + hold. */
typedef struct engine_phased_date {
    int64_t date_ms, qty;
} engine_phased_date;

typedef struct engine_phased_row {
    uint64_t key;              /* (sku << 16 | region) + 1; 0: an empty slot */
    engine_phased_date *dates; /* by date; never shrinks (phased.c) */
    uint32_t n, cap;
    int64_t hold;
    int64_t next_hold; /* computed, not yet published (stale) */
    bool stale;        /* its lots changed: hold again at the flush */
} engine_phased_row;

typedef struct engine_phased {
    engine_phased_row *rows; /* open addressing; a row stays once made */
    size_t cap, used;
    /* A dated record counts here while its promise_ms is later than
     * conv_ms, in its row's reserved (ordinary) from then on; the tick
     * moves the dates at or before now and sets conv_ms = now. */
    int64_t conv_ms;
    int64_t next_ms;             /* the earliest date here; INT64_MAX: none */
    struct phased_step *scratch; /* a row's steps (engine thread) */
    size_t scratch_cap;
    /* Rows whose lots changed, by key: their holds are published with the
     * batch's supply (engine__phased_holds_rise / _fall), not per event:
     * a snapshot restating thousands of a SKU's lots costs one pass, and
     * a reader never sees ATP rise halfway through a batch. */
    uint64_t *stale;
    size_t n_stale, cap_stale;
    bool loading; /* before engine_start_stepped: holds settle there */
    _Atomic int64_t dated_units, hold_units;
    _Atomic uint64_t reserves; /* dated reserves granted */
} engine_phased;

typedef struct engine_cmd {
    engine_cmd_type type;
    atp_err err; /* GROUP_DONE, SNAPSHOT_DONE */
    engine_batch batch;
    engine_sync_waiter *sync; /* SYNC */
    engine_snap_waiter snap;  /* SNAPSHOT_NOW */
    engine_resv_req resv;
    engine_rules_change *rules;  /* RULES */
    engine_explain_req *explain; /* EXPLAIN */
    engine_pickup_req *pickup;   /* PICKUP */
    engine_promise_req *promise; /* PROMISE */
    engine_adopt_req *adopt;     /* ADOPT */
} engine_cmd;

struct engine {
    const config *cfg;
    uint32_t n_regions;
    uint32_t n_channels;
    uint16_t *loc_region;           /* location index -> region index, or
                                       CONFIG_LOCATION_GONE: removed by a reload
                                       (engine thread) */
    engine_location_info *loc_info; /* per location (engine thread) */
    /* Per location: moved (or named again) by a rules command whose change
     * is not stored yet (engine_authority_swap.places, places_in false);
     * a line pinned there is refused until the settling command clears it
     * (engine thread). So an undo of the move never meets a pinned line
     * the move let in. NULL until a first such move. */
    uint8_t *loc_settling;
    int64_t *horizon_ms; /* per region: its inbound horizon (engine thread) */

    dict *skus;
    _Atomic(engine_row *) *row_dir; /* ENGINE_MAX_SKUS / ENGINE_ROW_CHUNK */
    size_t row_bytes;               /* engine thread */
    _Atomic(rules *) rules;
    struct {
        rules **sets; /* replaced by reloads, freed at engine_free */
        size_t n;
    } retired; /* engine thread */
    /* Bundles (docs/PROTOCOL.md, "Bundles"): an immutable set like the
     * rules, swapped by the rules command; the replaced ones are kept
     * until engine_free (readers may still hold them). */
    _Atomic(bundles *) bundles;
    struct {
        bundles **sets;
        size_t n;
    } retired_bundles;       /* engine thread */
    uint64_t bundles_digest; /* config_bundles_digest of the set in force */
    _Atomic bool *region_stale;
    /* Odd while a reload moves locations between regions (relocate.c):
     * readers of several rows (engine_query_lines, engine_query_regions)
     * read again when it changed, so they never see a location's stock
     * counted in both regions or in neither. */
    _Atomic uint32_t reloc_seq;

    positions pos; /* engine thread */
    /* Open reservation lines pinned to a location, summed per (SKU,
     * location): the pickup formula's reserved(loc) (engine thread; kept
     * by resv__replace like the rows' reserved totals). */
    position_sums pinned;

    queue q;
    pthread_t thread;
    bool running;
    /* The wall clock the engine decides with (engine thread): set by each
     * turn of the loop (engine_step's argument, or clock_wall_ms() on the
     * engine thread), so that reservations, expiries and lots never read
     * the clock themselves and a simulation can drive them. */
    int64_t now_ms;
    atp_owner owner; /* the engine thread while it runs */

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
        __int128 *delta; /* exact: a batch may move supply by any amount */
        uint32_t *touched;
        size_t cap, n_touched;
    } acc;

    /* Rows whose exact supply lies beyond what they show (readers see it
     * clamped to ATP_QTY_SUM_MAX): the part beyond, per row key (sku << 16
     * | region), so that the row shows the exact sum again once it is back
     * under the bound (engine thread). Only absurd quantities get here
     * (more than 9 locations or lots of 10^15 in one region): a short
     * array, searched linearly, touched only by rows at the bound. */
    struct {
        uint64_t *keys;
        __int128 *rest;
        size_t n, cap;
    } over;

    /* Snapshots (snapshot.c, engine thread): positions changed since the
     * last snapshot (n_dirty of them carry POSITION_DIRTY; their keys are
     * queued unless scan), the applied offset of every source, and the
     * snapshot in flight. */
    struct {
        uint64_t *keys; /* bigmem */
        size_t n, cap;
        size_t n_dirty;
        bool scan; /* too many for the queue: find them by their flag */
        struct engine_offset *offsets; /* cfg->n_sources */
        bool full_next;                /* the last one failed: write all */
        bool inflight;
        int64_t next_ms; /* monotonic */
        /* The one in flight, for the debug log: when it was cut and how
         * long the engine thread spent cutting it (ns); the writer's CPU
         * time to format and sort it and its size (set before it submits). */
        int64_t cut_ns, cut_cost_ns, write_cpu_ns;
        size_t records, bytes;
        /* The snapshot writer thread (snapshot_write.c), started on first
         * use: formats, sorts and submits what the engine thread cut. */
        struct {
            pthread_t thread;
            bool started, stop;
            pthread_mutex_t mu;
            pthread_cond_t cv;
            struct engine_snap_job *job; /* handed over, at most one */
        } w;
        /* The one in flight, cut but not handed to the writer yet: it
         * waits for the reservation group `barrier` (resv_table gens) to
         * be stored, because it holds consumptions that were applied
         * before the cut (engine__snapshot_barrier). NULL: none waits. */
        struct engine_snap_job *held;
        uint64_t barrier;
        engine_snap_waiter waiters[16]; /* SNAPSHOT_NOW: in this one */
        size_t n_waiters;
        engine_snap_waiter next[16]; /* SNAPSHOT_NOW: need the next one */
        size_t n_next;
        /* Stopping: no snapshot starts but the final one, tried once; a
         * request gets busy (engine thread). */
        bool stopping, final_tried;
        uint64_t failing; /* failures in a row, for the log */
        _Atomic uint64_t waited, taken, failed, last_ms, last_positions;
    } snap;
    engine_lots lots;     /* engine thread */
    engine_phased phased; /* engine thread */
    struct {
        engine_load_pos *items; /* ENGINE_LOAD_BATCH, once loading starts */
        size_t n;
    } load; /* main thread, before engine_start */

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

    /* The pickup feed (pickup_feed.c): the positions of pickup locations
     * changed since the last drain, each once (POSITION_PICKUP in its key),
     * kept by the engine thread; a drain command turns them into changes
     * in the outbox, which the changes thread swaps out (mu guards it). */
    struct {
        bool enabled;   /* engine_pickup_feed_enable, before engine_start */
        uint64_t *keys; /* position keys, flags cleared (engine thread) */
        size_t n, cap;
        _Atomic bool draining; /* a drain command is queued */
        pthread_mutex_t mu;
        engine_pickup_change *out;
        size_t out_n, out_cap;
        _Atomic uint64_t dropped; /* out of memory: changes not published */
    } pfeed;
};

/* ---- rows.c: the seqlock rows ------------------------------------------ */

/* engine__row_at returns the aggregate row of (sku, region); the SKU must be
 * published (any thread). */
engine_row *engine__row_at(const engine *e, uint32_t sku, uint32_t region);
/* engine__row_read reads a consistent (supply, reserved) pair (any thread). */
void engine__row_read(const engine_row *r, int64_t *supply, int64_t *reserved);
/* engine__row_add adds to the row of (sku, region) under its seqlock and
 * marks it for the change feed (engine thread). Supply is kept exact and
 * shown clamped to ATP_QTY_SUM_MAX (e->over); reserved saturates (a grant
 * keeps it at most supply, so it never gets there) and never goes below
 * 0 (asserted: a reservation total below 0 is a broken count). */
void engine__row_add(engine *e, uint32_t sku, uint32_t region,
                     __int128 d_supply, int64_t d_reserved);
/* engine__supply_exact returns the exact supply of (sku, region), including
 * what the row shows clamped (engine thread). */
__int128 engine__supply_exact(const engine *e, uint32_t sku, uint32_t region);
/* engine__row_sums: the row's exact supply is the sum of the nets of the
 * SKU's positions at the region's locations, as it must be whenever the
 * accumulator is empty. O(locations): for ATP_DASSERT (engine thread). */
bool engine__row_sums(const engine *e, uint32_t sku, uint32_t region);
/* engine__skus_reserve makes room to intern n more SKUs of `bytes` total
 * length, their rows included, without any allocation failing half-way
 * (engine thread, or main before start). */
atp_err engine__skus_reserve(engine *e, uint32_t n, size_t bytes);

/* ---- accum.c: the batch accumulator and the change marks ----------------- */

/* engine__supply_changed: a position's net moved by d; through the batch
 * accumulator when it has room (published by engine__supply_flush), else
 * straight to the row (engine thread). */
void engine__supply_changed(engine *e, uint32_t sku, uint16_t loc, int64_t d);
/* engine__supply_flush writes every accumulated change to its row and
 * empties the accumulator (engine thread). */
void engine__supply_flush(engine *e);
/* The batch accumulator itself (engine thread): acc_reserve makes room for
 * n more rows (false: out of memory; call it only while it is empty),
 * acc_add adds d to (sku, region) (room reserved), acc_each calls fn with
 * each row's accumulated change, acc_discard empties it unpublished. */
bool engine__acc_reserve(engine *e, uint32_t n);
void engine__acc_add(engine *e, uint32_t sku, uint32_t region, int64_t d);
typedef bool (*engine_acc_fn)(void *ctx, uint32_t sku, uint32_t region,
                              __int128 d);
bool engine__acc_each(engine *e, engine_acc_fn fn, void *ctx);
void engine__acc_discard(engine *e);
/* engine__dirty_mark queues a changed row for the change feed, once until
 * the feed reads it (a no-op unless the feed is enabled). The engine
 * thread, or any thread through engine_region_stale_set: e->dirty.mu
 * guards the queue. */
void engine__dirty_mark(engine *e, engine_row *r, uint32_t sku,
                        uint32_t region);

/* ---- restore.c: start-up (main thread, before engine_start) -------------- */

/* engine__load_flush applies the positions staged by engine_position_load
 * (every other load calls it first, and engine_start). */
void engine__load_flush(engine *e);
/* ---- bundle.c: bundles (docs/PROTOCOL.md, "Bundles") -------------------- */

/* engine__bundles_build builds the bundle set of cfg's definitions,
 * interning every bundle and component SKU (engine thread, or main before
 * start). ATP_E_NOMEM, ATP_E_TOO_LARGE (the dictionary is full). */
atp_err engine__bundles_build(engine *e, const config *cfg, bundles **out);
/* engine__bundles_install publishes next (engine thread) and marks for
 * the change feed every row of each bundle next adds, changes or
 * removes; the replaced set is kept until engine_free, in
 * retired_bundles, which the caller gave room for one more. */
void engine__bundles_install(engine *e, bundles *next);
/* engine__bundle_answer: the answer of bundle d (any thread; lock-free
 * like engine__answer_of). */
void engine__bundle_answer(const engine *e, const bundle_def *d,
                           uint32_t region, uint32_t channel,
                           engine_answer *out);
/* engine__bundle_expand: req's lines with each bundle line replaced by
 * its components (qty x per kit), in a malloc'd array (*out, *n), with
 * the request line each came from in *origin (in the same allocation:
 * free *out only), or *out NULL when no line names a bundle (engine
 * thread). An error (a bundle line partial, pinned or split; a quantity
 * beyond 10^15; too many lines; memory) is returned with *line its
 * request line (UINT32_MAX: none) and *why a message. */
atp_err engine__bundle_expand(const engine *e, const engine_resv_req *req,
                              engine_resv_line **out, uint32_t **origin,
                              uint32_t *n, uint32_t *line, const char **why);

/* engine__sku_intern_one interns one SKU with room for one more position
 * (loading; engine thread or main before start). */
atp_err engine__sku_intern_one(engine *e, const char *sku, size_t len,
                               uint32_t *idx);

/* engine__put_le64 / engine__get_le64: the 8-byte little-endian integers
 * of stored values (positions, offsets, lots). */
static inline void engine__put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t engine__get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- engine.c ------------------------------------------------------------ */

/* engine__region_of, engine__channel_of: the engine's place (in started,
 * its configuration) of cfg's region or channel index, matched by id
 * (UINT32_MAX stays "any"; UINT32_MAX - 1: started has no such id). */
uint32_t engine__region_of(const config *started, const config *cfg,
                           uint32_t region);
uint32_t engine__channel_of(const config *started, const config *cfg,
                            uint32_t channel);

/* engine__rules_build builds the rule set of cfg's buffer rules with the
 * engine's places (started: its configuration, spare places included;
 * regions and channels matched by id: ATP_E_CONFIG for one started has
 * no place for) (any thread). */
atp_err engine__rules_build(const config *cfg, const config *started,
                            rules **out);

/* engine__loc_info_of builds the engine's location info (e->cfg's
 * locations, in its order) from src: each location's values in src
 * (matched by id), or the started configuration's where src lacks it.
 * *out: malloc'd, free with engine__loc_info_free. Any thread. */
atp_err engine__loc_info_of(const config *started, const config *src,
                            engine_location_info **out);
void engine__loc_info_free(engine_location_info *v, size_t n);

/* engine__horizons_of: the inbound horizon of each of started's regions
 * in src (matched by id; started's own where src lacks it), malloc'd.
 * NULL: out of memory. Any thread. */
int64_t *engine__horizons_of(const config *started, const config *src);
/* engine__waiter_init / engine__waiter_wait: a caller waiting for the engine
 * thread's answer to one command; wait waits only if queued == ATP_OK, and
 * destroys w. */
void engine__waiter_init(engine_sync_waiter *w);
atp_err engine__waiter_wait(engine_sync_waiter *w, atp_err queued);
/* engine__sync_signal answers a waiter (any thread). */
void engine__sync_signal(engine_sync_waiter *w, atp_err err);
/* engine__adopt_run: ENGINE_CMD_ADOPT on the engine thread (restore.c). */
void engine__adopt_run(engine *e, engine_adopt_req *req);
/* engine__answer_of fills the ATP answer of (sku, region, channel) where sku
 * is a dictionary index or DICT_NONE. Any thread. */
void engine__answer_of(const engine *e, uint32_t sku, const char *sku_str,
                       size_t sku_len, uint32_t region, uint32_t channel,
                       engine_answer *out);
/* engine__clamp returns a bucket value clamped to +-ATP_QTY_MAX, counting
 * the clamp in events_clamped (engine thread). */
int64_t engine__clamp(engine *e, int64_t v);

/* ---- reload.c, relocate.c, lots.c, explain.c, snapshot*.c ---------------- */

/* reload.c: engine__rules_apply publishes change->next and marks the rows
 * of its scopes (engine thread). */
void engine__rules_apply(engine *e, engine_rules_change *change);
/* relocate.c (engine thread): engine__relocate moves the stock of every
 * location whose region changes in change->loc_region, or refuses it
 * (change->why; nothing changed); engine__relocate_publish is called with
 * reloc_seq odd to publish what engine__relocate staged. */
atp_err engine__relocate(engine *e, engine_rules_change *change);
void engine__relocate_publish(engine *e, engine_rules_change *change);
/* lots.c: the lots of locations whose region changed (old_region: before)
 * count again under their new region's horizon (engine thread). */
void engine__lots_relocated(engine *e, const uint16_t *old_region,
                            int64_t now_ms);
/* lots.c: the lots of every region whose horizon changed (old_horizon:
 * before, per region) count again under its new one (engine thread). */
void engine__lots_rehorizon(engine *e, const int64_t *old_horizon,
                            int64_t now_ms);
/* engine__lots_at: how many lots location loc has; engine__lots_first: a
 * location that next removes (CONFIG_LOCATION_GONE) and that has a lot,
 * into *loc (false: none). Engine thread. */
size_t engine__lots_at(const engine *e, uint16_t loc);
bool engine__lots_first(const engine *e, const uint16_t *next, uint16_t *loc);

/* lots.c (engine thread; loading: main thread before start): */
atp_err engine__lots_init(engine_lots *l);
void engine__lots_fini(engine_lots *l);
size_t engine__lots_memory(const engine_lots *l); /* approximate bytes */
void engine__lot_event(engine *e, uint32_t sku, const engine_event *ev);
void engine__lots_clear_source(engine *e, const uint8_t *inbound_loc);
int64_t engine__lots_tick(engine *e, int64_t now_ms); /* ms to next, -1 none */
size_t engine__lots_snapshot_size(const engine *e);
void engine__lots_snapshot(engine *e, engine_lots_writer *w);
/* engine__lots_snapshot_settled: the snapshot cut last was stored (the
 * removals it carried are forgotten) or not (they and every lot go into
 * the next one). */
void engine__lots_snapshot_settled(engine *e, bool stored);
/* engine__lots_visit calls fn for every lot of sku (any order), through
 * the SKU's chain: O(its lots). */
typedef void (*engine_lot_fn)(void *ctx, uint16_t loc, const char *id,
                              uint32_t id_len, int64_t qty, int64_t eta_ms,
                              bool counted);
void engine__lots_visit(const engine *e, uint32_t sku, engine_lot_fn fn,
                        void *ctx);

/* phased.c (engine thread; loading: main thread before start) - dated
 * reservations and the preorder hold (docs/PROTOCOL.md, "The time-phased
 * formula"):
 * engine__phased_init/fini: the table (init: ATP_E_NOMEM).
 * engine__phased_counts: does open line quantity of a record promised for
 *   promise_ms count as dated (here) rather than in the row's reserved?
 * engine__phased_move: add d (+/-) open units at date_ms to (sku, region)
 *   and publish the row's new hold (engine__row_add). A date that finds no
 *   room counts in the row as ordinary (logged); a removal that finds no
 *   such date takes it from there too, so the two never disagree.
 * engine__phased_room: room for r's dated lines, so that putting r in
 *   cannot fail (call it before a new record goes in; ATP_E_NOMEM).
 * engine__phased_lots_changed: a lot of sku at loc changed: its row's hold
 *   again at the next flush. engine__phased_refresh_all: every row's
 *   (horizons or regions moved, a source's lots cleared), likewise.
 * engine__phased_holds_rise / _fall: the flush, in two halves around the
 *   batch's supply (engine__supply_flush): holds that grow are published
 *   before the supply, holds that shrink after, so a concurrent reader
 *   sees ATP dip for an instant rather than rise. engine__phased_settle:
 *   both at once (the engine loop, so none stays stale).
 * engine__phased_headroom: how many more open units (ordinary or dated)
 *   the row of (sku, region) may take before its ordinary + dated units
 *   would pass ATP_QTY_SUM_MAX (reserved = ordinary + hold must stay
 *   exact). reserved: the row's. Every grant is capped by it: plain,
 *   dated, pinned and backorder units alike (resv.c).
 * engine__phased_tick: dates at or before now become ordinary; returns the
 *   ms to the next date, -1 none.
 * engine__phased_atp_on: atp_on(date_ms) of (sku, region) for answer a (a
 *   reserve's check; any date, the row's lots and dates as they are now).
 * engine__promise_run / _refuse: one promise command. */
atp_err engine__phased_init(engine_phased *p);
void engine__phased_fini(engine_phased *p);
static inline bool engine__phased_counts(const engine *e, int64_t promise_ms)
{
    return promise_ms > e->phased.conv_ms;
}
void engine__phased_move(engine *e, uint32_t sku, uint32_t region,
                         int64_t date_ms, int64_t d);
atp_err engine__phased_room(engine *e, uint32_t sku, uint32_t region,
                            int64_t date_ms);
void engine__phased_lots_changed(engine *e, uint32_t sku, uint16_t loc);
void engine__phased_refresh_all(engine *e);
void engine__phased_holds_rise(engine *e);
void engine__phased_holds_fall(engine *e);
void engine__phased_settle(engine *e);
int64_t engine__phased_headroom(const engine *e, uint32_t sku, uint32_t region,
                                int64_t reserved);
int64_t engine__phased_tick(engine *e, int64_t now_ms);
int64_t engine__phased_atp_on(const engine *e, uint32_t sku, uint32_t region,
                              const engine_answer *a, int64_t date_ms);
void engine__promise_run(engine *e, engine_promise_req *req);
void engine__promise_refuse(engine_promise_req *req);

/* explain.c (engine thread): answer one explain command; refuse answers
 * it busy without running it (stopped). */
void engine__explain_run(engine *e, engine_explain_req *req);
void engine__explain_refuse(engine_explain_req *req);
/* engine__loc_read: location l's position of sku (a dictionary index) as
 * explain shows it, region and net included; false when l has none (or a
 * reload removed l). Engine thread. */
bool engine__loc_read(const engine *e, uint32_t sku, uint32_t l,
                      engine_explain_loc *out);

/* pickup.c (engine thread): answer one pickup command; refuse answers it
 * busy without running it (stopped). */
void engine__pickup_run(engine *e, engine_pickup_req *req);
void engine__pickup_refuse(engine_pickup_req *req);

/* pickup_feed.c (engine thread): engine__pickup_touched marks p for the
 * pickup feed when its location takes pickup orders (a change of its
 * buckets or of what is pinned there); engine__pickup_settings marks every
 * position of the locations whose region, pickup flag or pickup buffer
 * differ from was_region / was_info (an admin change or a reload), so that
 * a location turning pickup off says so once; engine__pickup_drain turns
 * the marks into the outbox. All do nothing unless the feed is on. */
void engine__pickup_touched(engine *e, position *p);
void engine__pickup_settings(engine *e, const uint16_t *was_region,
                             const engine_location_info *was_info);
void engine__pickup_drain(engine *e);
/* engine__pickup_atp: the pickup ATP of sku (a dictionary index) at
 * location l when the region's ATP is region_atp: the pickup formula with
 * what lines pinned to l hold (pickup.c). Engine thread. */
int64_t engine__pickup_atp(const engine *e, uint32_t sku, uint32_t l,
                           int64_t region_atp);

/* snapshot.c (engine thread unless said): */
void engine__position_touched(engine *e, position *p);
/* engine__sequence_restarted: src's numbering restarts (its first snapshot
 * after a source_reset): its applied-file seq and commit floor go to 0
 * before engine__offset_applied raises them to the snapshot's seq. */
void engine__sequence_restarted(engine *e, uint32_t src);
void engine__offset_applied(engine *e, uint32_t src, uint64_t seq,
                            uint64_t ts_ms);
/* engine__snapshot_tick takes a snapshot if one is due; returns ms until the
 * next is due. */
int64_t engine__snapshot_tick(engine *e, int64_t now_ms);
void engine__snapshot_start(engine *e); /* now, unless one is in flight */
bool engine__snapshot_pending(const engine *e);
/* engine__snapshot_request: SNAPSHOT_NOW; calls w's done once a snapshot
 * cut after the request is stored (or failed); busy while stopping. */
void engine__snapshot_request(engine *e, engine_snap_waiter w);
/* engine__snapshot_final: stopping; starts the final snapshot if there is
 * anything to store and it was not tried yet. Returns whether a snapshot
 * is still in flight (the engine thread waits for it). */
bool engine__snapshot_final(engine *e);
void engine__snapshot_done(engine *e, atp_err err);
/* engine__snapshot_barrier: a reservation group was stored (failed: it
 * failed and its consumptions were queued again); hands a held snapshot
 * to the writer once what it waits for is stored. */
void engine__snapshot_barrier(engine *e, bool failed);
atp_err engine__snapshot_init(engine *e);
void engine__snapshot_fini(engine *e);

/* What the engine thread hands the snapshot writer at a cut: copies of the
 * positions to store (pos, bigmem) and the lots and offsets already as
 * records (ops with keys and values all in bytes, bigmem). The writer owns
 * and frees it. */
typedef struct engine_snap_job {
    position *pos;
    size_t n_pos, pos_cap;
    engine_record_op *ops;
    size_t n_ops, ops_cap;
    unsigned char *bytes;
    size_t used, size;
    bool failed; /* ran out of the room reserved: not written */
} engine_snap_job;

/* snapshot_write.c: engine__snap_write hands job over (engine thread; one
 * at a time: only while no snapshot is in flight). It completes like the
 * store, with ENGINE_CMD_SNAPSHOT_DONE (engine__snapshot_done_cb). An error
 * (the thread cannot start) leaves job to the caller. engine__snap_writer_stop
 * joins the thread (after it wrote what it was handed). */
atp_err engine__snap_write(engine *e, engine_snap_job *job);
void engine__snapshot_done_cb(void *arg, atp_err err);
void engine__snap_job_free(engine_snap_job *job);
void engine__snap_writer_stop(engine *e);
/* engine__position_net: the net a position adds to its row's supply
 * (formula_net of its buckets and counted inbound). */
int64_t engine__position_net(const engine *e, const position *p);

#endif
