/*
 * store.h - what atpd must never lose, in LMDB. The only module that
 * includes <lmdb.h>.
 *
 * Threads: store_open/store_scan/store_close on the main thread at start-up
 * and shutdown. Writes go through the store's own writer thread
 * (store_start): callers queue groups of operations with store_submit from
 * any thread; each group's completion runs once the group is durable:
 *   - with the reservation log (sync mode, log_bytes > 0), a group of only
 *     reservation ops is durable once appended to the log: all groups queued
 *     meanwhile in one write and one fdatasync, completed on the writer
 *     thread. The applier thread then writes them to LMDB in larger
 *     transactions, recording the log sequence number (LSN) applied;
 *     store_open replays what LMDB had not applied yet. Other groups
 *     (snapshots) and barriers are committed (completed) by the applier
 *     thread, after every group queued before them is in LMDB.
 *   - without the log, the writer commits everything queued in one LMDB
 *     transaction and one fsync (group commit) and completes the groups.
 * Completions of groups of the same kind (reservation-only, other) run in
 * submission order; a barrier completes after everything queued before it.
 *
 * Durability modes (docs/ARCHITECTURE.md, "Durability"):
 *   STORE_SYNC   - fsync at every commit: an acknowledged write survives
 *                  kill -9 and power loss.
 *   STORE_NOSYNC - no fsync (MDB_NOSYNC); a background flush once a second:
 *                  survives kill -9 (the data is in the OS page cache) but a
 *                  power loss or kernel crash can lose the last second.
 * Never MDB_WRITEMAP: it turns a full disk into SIGBUS.
 */
#ifndef ATP_STORE_H
#define ATP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "metrics/metrics.h"

typedef struct store store;

typedef enum store_db {
    STORE_DB_RESERVATIONS = 0, /* key: reservation id, value: record */
    STORE_DB_META = 1,         /* key: name, value: bytes */
    STORE_DB_POSITIONS = 2,    /* key: "location\0sku", value: buckets */
    STORE_DB_OFFSETS = 3,      /* key: source id, value: applied seq, ts */
    STORE_DB_LOTS = 4,         /* key: "location\0sku\0lot", value: qty, eta */
    /* run-time administration (src/admin): key "state": the administered
     * state in force (version, YAML text); key 'h' + version (8 bytes,
     * big-endian): that change's audit record. Values: msgpack maps,
     * written and read by admin/records.c. */
    STORE_DB_ADMIN = 5,
    STORE_DB_COUNT = 6,
} store_db;

typedef enum store_sync { STORE_SYNC = 0, STORE_NOSYNC = 1 } store_sync;

typedef struct store_options {
    bool read_only; /* inspection: no writer, no creation, no reader cleanup */
    store_sync sync;
    size_t initial_map_bytes; /* 0: 64 MiB; grows by doubling on MDB_MAP_FULL */
    /* The map never exceeds this (0: no limit): it starts below it, growth
     * stops at it (then STORE_FULL), and an existing larger map shrinks to
     * it at open (or to the bytes in use, if more). */
    size_t max_map_bytes;
    size_t log_bytes;           /* reservation log size; 0: no log */
    int64_t log_apply_delay_ms; /* tests: the applier waits this long first */
    /* The log full while LMDB is behind: how long an append waits for the
     * applier before its groups are refused with ATP_E_BUSY. 0: the
     * default (10 s); tests lower it. */
    int64_t log_wait_ms;
    /* A write transaction of at least this many ops is followed by a
     * close and reopen of the environment, which frees the pages LMDB keeps
     * cached from it (up to 512 MiB). 0: the default (32768). */
    size_t reopen_ops;
} store_options;

/* One put (val != NULL) or delete (val == NULL). The bytes are copied by
 * store_submit. */
typedef struct store_op {
    store_db db;
    const void *key;
    size_t key_len;
    const void *val;
    size_t val_len;
} store_op;

/* Completion of a group: err is ATP_OK once durable (per the mode),
 * ATP_E_STORE_FULL when the disk or the map limit is full, ATP_E_INTERNAL
 * when LMDB refused the write as invalid (a bug), ATP_E_IO else.
 * Runs on a store thread (writer or applier, see above). */
typedef void (*store_done_fn)(void *arg, atp_err err);

typedef struct store_stats {
    uint64_t commits;
    uint64_t groups;
    uint64_t ops;
    uint64_t failures;
    uint64_t map_bytes;
    uint64_t used_bytes;
    bool full;             /* the last commit failed for lack of space */
    uint64_t log_appends;  /* writes + fdatasyncs of the reservation log */
    uint64_t log_groups;   /* groups made durable by the log */
    uint64_t log_applied;  /* last LSN applied to LMDB */
    uint64_t log_waits;    /* appends that waited for the applier (log full) */
    uint64_t log_replayed; /* groups replayed from the log at store_open */
    uint64_t env_reopens;  /* environment reopened after a large transaction */
    bool log_present;      /* the reservation log is in use (docs/CONFIG.md) */
    uint64_t log_size;     /* its file's (preallocated) size; 0: none */
    uint64_t log_used;     /* bytes of it written in its current cycle */
    /* Latencies on the monotonic clock: each reservation-log append's
     * fdatasync (several groups each, group commit), and each LMDB write
     * transaction commit (mdb_txn_commit, failed ones too). */
    metrics_hist_sum log_sync;
    metrics_hist_sum commit;
} store_stats;

/* store_open opens (creating) the LMDB environment in directory dir,
 * clears stale reader slots left by dead processes, and applies to LMDB
 * what the reservation log holds beyond what LMDB applied (one synced
 * transaction; a torn or corrupt tail is logged and ignored). If LMDB is
 * full, it opens anyway: the replayed groups stay in the log and in memory
 * (store_scan includes them), the applier retries them after store_start,
 * and new groups are refused with ATP_E_STORE_FULL until they are in. */
atp_err store_open(const char *dir, const store_options *o, store **out);
/* store_close stops the writer (after finishing queued groups) and closes. */
void store_close(store *s);

/* store_start starts the writer thread (and the applier, with the log).
 * ATP_OK, or ATP_E_NOMEM: the store is then not (fully) running, and
 * store_close is still the way to close it. */
atp_err store_start(store *s);

/* store_scan calls fn for every key/value of db, in key order, in one read
 * transaction (main thread, before store_start). Bytes are valid only
 * during the call. fn returns false to stop. Includes the groups replayed
 * from the reservation log that LMDB could not take at store_open. */
atp_err store_scan(store *s, store_db db,
                   bool (*fn)(void *ctx, const void *key, size_t key_len,
                              const void *val, size_t val_len),
                   void *ctx);

/* store_submit queues a group of n ops (copied) and the completion; n may
 * be 0 (a barrier: done fires after everything queued before it). Any
 * thread. ATP_E_NOMEM, or ATP_E_BAD_STATE after store_close. */
atp_err store_submit(store *s, const store_op *ops, size_t n,
                     store_done_fn done, void *arg);

/* store_submit_owned is store_submit without the copy (for large groups:
 * snapshots): ops and the bytes they point at stay the caller's until the
 * store calls release(owner), once, on a store thread, after done. On an
 * error return nothing was taken and release is not called. */
atp_err store_submit_owned(store *s, store_op *ops, size_t n,
                           void (*release)(void *owner), void *owner,
                           store_done_fn done, void *arg);

/* store_backup queues an online backup: a compacted copy of the LMDB
 * environment (mdb_env_copy2, MDB_CP_COMPACT) as DIR/data.mdb, taken once
 * every group queued before it is committed to LMDB, so every write whose
 * completion ran before this call is in the copy; the reservation log is
 * not copied (what it held then is in LMDB by then). DIR must be absolute,
 * and new or empty (it is created, mode 0750). done(arg, err) runs once,
 * on a store thread, after the copy is synced: ATP_OK, ATP_E_STORE_FULL
 * (disk full), ATP_E_IO. Returns ATP_OK when queued; else done is not
 * called and why says what is wrong: ATP_E_BAD_REQUEST (not absolute),
 * ATP_E_CONFLICT (not empty), ATP_E_IO, ATP_E_NOMEM, ATP_E_BAD_STATE
 * (stopping). Any thread; the check and mkdir are done in the call. The
 * thread that owns LMDB writes makes the copy, so writes wait in the log
 * (or the queue) meanwhile: the copy of 1 GB of data takes seconds. */
atp_err store_backup(store *s, const char *dir, store_done_fn done, void *arg,
                     char *why, size_t why_len);

void store_stats_get(const store *s, store_stats *out);

/* store_id is this store's identity: 64 random bits written to META
 * "store_id" when the LMDB environment is first opened for writing (a
 * store from before that gets one at its next open). A wiped or new data
 * directory has another; a backup restored has the same. 0 for a
 * read-only open of a store that has none. */
uint64_t store_id(const store *s);

/* ---- the "applied" file: per source, the highest seq applied -------------
 *
 * A file next to the LMDB environment, mapped MAP_SHARED, with one 64-bit
 * slot per source that the engine raises with every message it applies
 * (engine_applied_attach). It survives a kill -9 without any sync (the
 * page cache keeps it), not a power loss. After a restart it says what
 * atpd had applied before the crash, beyond the last snapshot's offsets
 * (docs/PROTOCOL.md, "Expiry, consumption, retention"). */
typedef struct store_applied store_applied;

/* store_applied_open maps dir's "applied" file (creating it: 16,448
 * bytes, every block allocated; locked with flock while mapped),
 * for the store whose store_id is given, and finds the slot of each of
 * the n source ids (NUL-terminated; n <= 256): the slot keeping that id,
 * or a new one at 0. A file of another store id, of another version or
 * size is started again, empty, with a warning. ATP_E_IO (store_id 0,
 * cannot create, lock, allocate or map it: the caller runs without it),
 * ATP_E_NOMEM, ATP_E_CONFIG (n > 256, or dir too long). Main thread, at
 * start-up. */
atp_err store_applied_open(const char *dir, uint64_t store_id,
                           const char *const *ids, size_t n,
                           store_applied **out);
/* store_applied_slot: the seq slot of the i-th id given to open (NULL if
 * i >= n), in the mapping, 8-byte aligned: read and written with
 * __atomic loads and stores. Valid until store_applied_close. */
uint64_t *store_applied_slot(store_applied *a, size_t i);
/* store_applied_close unmaps (no msync) and frees; NULL is allowed. Once
 * nothing writes the slots any more (after engine_stop). */
void store_applied_close(store_applied *a);

/* What an offline look at the store shows (atpctl inspect). */
typedef struct store_info {
    uint64_t entries[STORE_DB_COUNT];
    uint64_t map_bytes;  /* the map size */
    uint64_t used_bytes; /* pages in use * page size */
    uint64_t page_size;
    uint32_t readers_used, readers_max;
    uint64_t log_applied; /* the last reservation log LSN LMDB applied */
} store_info;

/* What the reservation log file of a data directory holds (atpctl
 * inspect): the chain a start-up would replay from offset 0. */
typedef struct store_log_summary {
    bool present;          /* reservations.log exists */
    uint64_t file_bytes;   /* its (preallocated) size */
    uint64_t records, ops; /* records (store groups) in the chain, their ops */
    uint64_t first_lsn, last_lsn;  /* of the chain; 0: empty */
    uint64_t pending, pending_ops; /* records with LSN > applied: not in LMDB */
    bool torn; /* the chain ends on a torn or corrupt record */
} store_log_summary;

/* store_log_summary_get reads dir's reservation log without changing it
 * (applied: store_info.log_applied of the same directory). ATP_OK with
 * present false when there is none; ATP_E_IO, ATP_E_NOMEM. Any thread;
 * safe while atpd runs (a record being appended may show as torn). */
atp_err store_log_summary_get(const char *dir, uint64_t applied,
                              store_log_summary *out);

/* store_info_get fills *out (any time, any thread; a short read
 * transaction; waits for a reopen of the environment). */
atp_err store_info_get(store *s, store_info *out);

/* store_db_name returns the LMDB name of a database ("positions", ...). */
const char *store_db_name(store_db db);

#endif
