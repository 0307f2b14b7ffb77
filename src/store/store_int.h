/*
 * store_int.h - internals shared by the store's own files: the queued
 * group, and the reservation log (reslog.c), the durable front of LMDB for
 * groups that only touch reservations.
 *
 * Log file "reservations.log" in the data directory, preallocated (written
 * with zeros once, at creation) so that, on a filesystem that overwrites in
 * place (ext4, xfs), an append never needs space and fdatasync never has to
 * write file metadata. Records, little endian:
 *
 *   | offset | size | field                                             |
 *   |--------|------|---------------------------------------------------|
 *   | 0      | 4    | magic "ATP2" (0x32505441)                         |
 *   | 4      | 4    | CRC32C of bytes 8 .. 32 + payload_len             |
 *   | 8      | 8    | epoch: random, new for each cycle (see below)     |
 *   | 16     | 8    | LSN: the previous record's LSN + 1                |
 *   | 24     | 4    | payload_len                                       |
 *   | 28     | 4    | n_ops (>= 1)                                      |
 *   | 32     | ...  | n_ops x { db u8, key_len u32, val_len u32         |
 *   |        |      |   (0xffffffff: delete), key, val }                |
 *
 * One record per store group. An append (the records of one write and one
 * fdatasync) starts at a STORE_LOG_ALIGN boundary and is padded with zeros
 * to the next one, so an append never rewrites a page holding acknowledged
 * records. A cycle starts at offset 0 with a new random epoch (at start-up,
 * and whenever the writer goes back to offset 0 once LMDB has applied
 * everything); its appends follow each other. Replay reads from offset 0:
 * the record there gives the epoch, and the chain goes on while the next
 * record (right after the previous one, or, after zeros, at the next
 * STORE_LOG_ALIGN boundary) is intact, has that epoch and the previous
 * LSN + 1. Stale records behind the tail, of earlier cycles or runs
 * (including appends that were refused), have another epoch: they can never
 * continue the chain, whatever their LSN.
 */
#ifndef ATP_STORE_INT_H
#define ATP_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/queue.h"
#include "store/store.h"

typedef struct store_group store_group;
struct store_group {
    store_group *next; /* applier queue (guarded by store.amu) */
    uint64_t lsn;      /* 0: not in the log (LMDB path) */
    bool loggable;     /* only reservation ops, at least one */
    size_t log_len;    /* its log record's size, if loggable */
    store_op *ops;
    size_t n;
    store_done_fn done;
    void *arg;
    /* store_submit_owned: ops and their bytes are the caller's, given back
     * with release(owner) when the group is freed; bytes[] is empty. */
    void (*release)(void *owner);
    void *owner;
    /* store_backup: a barrier (n 0) that copies LMDB to this directory
     * (owned) once everything queued before it is committed. */
    char *backup_dir;
    unsigned char bytes[]; /* ops array, then keys and values */
};

#define STORE_LOG_MAGIC 0x32505441u
#define STORE_LOG_MAGIC_V1 0x4c505441u /* "ATPL", 24-byte header: refused */
#define STORE_LOG_HDR 32u
#define STORE_LOG_ALIGN 4096u
#define STORE_LOG_OP_HDR 9u
#define STORE_LOG_DELETE 0xffffffffu
#define STORE_LOG_NAME "reservations.log"
#define STORE_APPLIED_NAME "applied" /* applied.c */

typedef enum store_log_status {
    STORE_LOG_OK = 0,
    STORE_LOG_END,     /* no record here: zeros or another magic */
    STORE_LOG_TORN,    /* the record runs past the end of the file */
    STORE_LOG_CORRUPT, /* bad CRC, or a payload that does not parse */
} store_log_status;

/* store__crc32c continues crc (start with 0) over p[0..n) (Castagnoli). */
uint32_t store__crc32c(uint32_t crc, const void *p, size_t n);

/* store__log_record_size: the encoded size of a group of n ops. */
size_t store__log_record_size(const store_op *ops, size_t n);

/* store__log_padded: len rounded up to STORE_LOG_ALIGN (an append's size). */
size_t store__log_padded(size_t len);

/* store__log_encode writes the record (store__log_record_size bytes) to out. */
void store__log_encode(unsigned char *out, uint64_t epoch, uint64_t lsn,
                       const store_op *ops, size_t n);

/* store__log_decode checks the record at buf[0..len) (len: what is left of
 * the file). On STORE_LOG_OK: *epoch, *lsn, *rec_len (bytes taken), *n_ops;
 * ops (if not NULL, cap >= *n_ops) point into buf. Pure; no I/O. */
store_log_status store__log_decode(const unsigned char *buf, size_t len,
                                   uint64_t *epoch, uint64_t *lsn,
                                   size_t *rec_len, store_op *ops, size_t cap,
                                   size_t *n_ops);

enum { STORE_HIST_SYNC, STORE_HIST_COMMIT, STORE_HIST_COUNT };

/* The log file. Writer thread only after store_open. */
typedef struct store_log {
    int fd;
    size_t size;             /* preallocated bytes */
    size_t wpos;             /* where the next append goes (STORE_LOG_ALIGN) */
    uint64_t epoch;          /* of the current cycle */
    uint64_t next_lsn;       /* LSN of the next record */
    metrics_hist *sync_hist; /* each append's fdatasync; NULL (as
                              store__log_open leaves it): not timed */
} store_log;

/* store__log_new_epoch: 64 random bits (getrandom; a mix of the clock, the
 * pid and a counter if that fails), never 0. */
uint64_t store__log_new_epoch(void);

/* store__log_rewind starts a new cycle: wpos 0, a new epoch. Only once
 * nothing in the file still needs replaying (LMDB has applied it all). */
void store__log_rewind(store_log *l);

/* store__log_open opens (creating, zero-filled to size bytes) the log in
 * dir. size 0: open only an existing one (for replay), else *l->fd = -1. */
atp_err store__log_open(store_log *l, const char *dir, size_t size);

/* store__log_replay calls fn for each record of the chain from offset 0
 * (see above) with LSN > applied, in order; ops are valid during the call.
 * *last gets the last LSN of the chain (or applied), *bad 1 when the chain
 * ended on a torn or corrupt record. fn returns an error to stop. Reads the
 * file in chunks: memory is 1 MiB or the largest record. */
atp_err store__log_replay(store_log *l, uint64_t applied,
                          atp_err (*fn)(void *ctx, uint64_t lsn,
                                        const store_op *ops, size_t n),
                          void *ctx, uint64_t *last, int *bad);

/* store__log_append writes buf[0..len) at wpos, then fdatasync; len is a
 * multiple of STORE_LOG_ALIGN (records, then zeros). The caller checked
 * wpos + len <= size. ATP_E_STORE_FULL (ENOSPC) or ATP_E_IO; then, as a
 * best effort, the magic of every record of buf is overwritten with zeros
 * in the file (and synced), so that a replay does not apply a refused
 * append whose bytes reached the file or the page cache. */
atp_err store__log_append(store_log *l, const void *buf, size_t len);

/* store__log_clear: everything in the log is applied; zero the first magic
 * so the next start-up's replay reads nothing. */
atp_err store__log_clear(store_log *l);

void store__log_close(store_log *l);

/* The data directory's lock file (store_dir_lock). */
#define STORE_LOCK_FILE "atpd.lock"

/* The store. Guards: see each field; atomics are read by any thread. */
/* A write transaction of at least this many ops is followed by a reopen of
 * the environment (store.c, store_env_reopen): it bounds what LMDB keeps
 * cached of the pages a transaction dirtied (at most one page per op and
 * the branches above, 128 MiB in the worst case; ops in key order, as in
 * snapshots, share leaves and keep far less). */
#define STORE_REOPEN_OPS 32768

struct store {
    /* env and dbi are replaced by a reopen (store__commit), on the thread
     * that owns LMDB writes, holding envmu; threads other than that one
     * (store_info_get, store_scan) use them holding envmu. NULL: a reopen
     * failed; the next commit tries again. */
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    pthread_mutex_t envmu;
    char *dir;
    int lock_fd; /* STORE_LOCK_FILE, flock'ed while open (-1: read only) */
    uint64_t store_id; /* META "store_id": random, set when LMDB was created */
    size_t reopen_ops; /* opt.reopen_ops or STORE_REOPEN_OPS */
    _Atomic uint64_t reopens;
    store_options opt;
    size_t map_bytes; /* the thread that owns LMDB writes */
    queue q;          /* of store_group * */
    store_group *
        *batch; /* the writer's, STORE_MAX_GROUPS_PER_TXN (store_start) */
    pthread_t thread;
    bool running;
    int64_t last_flush_ms;
    _Atomic uint64_t commits, groups, ops, failures, map_size, used;
    _Atomic bool full;
    /* Latency histograms (aligned_alloc, 64): [STORE_HIST_SYNC] is the
     * log's fdatasync (the writer), [STORE_HIST_COMMIT] mdb_txn_commit
     * (the thread that owns LMDB writes). One writer each, read by any. */
    metrics_hist *hist;
    /* The reservation log (log_on): the writer owns log and buf. */
    bool log_on;
    bool log_uncertain;   /* a failed append, or groups replayed but not
                             applied: the next append waits until all is
                             applied, then starts a new cycle */
    uint64_t written_lsn; /* last LSN appended (writer) */
    store_log log;
    unsigned char *buf;
    size_t buf_cap;
    /* The applier queue and its state, guarded by amu. */
    pthread_mutex_t amu;
    pthread_cond_t acond; /* applier: work queued, or closing */
    pthread_cond_t dcond; /* writer: LSNs applied, or an attempt failed */
    store_group *ahead, *atail;
    bool aclosing;
    bool aurgent; /* an LMDB group, a barrier, or the writer waits: no pacing */
    bool aidle;   /* the applier sleeps with nothing pending: a push wakes it */
    uint64_t applied_lsn;
    atp_err apply_err;    /* the applier's failing error: new groups refused */
    uint64_t apply_tries; /* applier attempts at the pending groups */
    /* Groups replayed at open that LMDB could not take (full): in memory
     * for store_scan, then the applier's pending groups (store_start). */
    store_group **replayed;
    size_t n_replayed;
    pthread_t applier;
    bool applier_running;
    _Atomic uint64_t log_appends, log_groups, log_applied, log_waits,
        log_replayed;
    _Atomic uint64_t log_used; /* log.wpos, for store_stats_get */
};

/* store__commit writes groups g[0..n) to LMDB in one transaction, and lsn
 * (if not 0) as the last log LSN applied; grows the map while it is full
 * and below the limit. Only the thread that owns LMDB writes (start-up,
 * then the writer without the log, or the applier with it). */
atp_err store__commit(store *s, store_group **g, size_t n, uint64_t lsn);

/* store__update_usage refreshes the used-bytes figure after a commit. */
void store__update_usage(store *s);

/* store__group_own makes a group of the caller's ops without copying
 * (store_submit_owned). NULL: out of memory. */
store_group *store__group_own(store_op *ops, size_t n,
                              void (*release)(void *owner), void *owner,
                              store_done_fn done, void *arg);
/* A growable list of groups in log order: the groups replayed at open,
 * then the applier's pending ones. */
typedef struct store_group_list {
    store_group **g;
    size_t n, cap;
} store_group_list;

/* store__group_list_push appends g (false: out of memory, l unchanged). */
bool store__group_list_push(store_group_list *l, store_group *g);

/* store__backup_copy copies the environment to dir (compacted) and syncs
 * it (backup.c; the thread that owns LMDB writes, after committing every
 * group queued before the backup). */
atp_err store__backup_copy(store *s, const char *dir);

/* store__group_free gives an owned group's ops back, then frees g. */
void store__group_free(store_group *g);
/* store__group_new copies n ops into a new group (NULL: out of memory). */
store_group *store__group_new(const store_op *ops, size_t n, store_done_fn done,
                              void *arg);

/* store__err logs an LMDB (or errno) failure of what once and translates
 * it (store.c): no space is store_full, LMDB refusing a call as invalid is
 * internal, anything else io. */
atp_err store__err(const char *what, int rc);

#endif
