/*
 * store.c - LMDB environment, start-up scans and log replay, the writer
 * thread (appends reservation groups to the log, see reslog.c, or hands
 * groups to the applier) and the applier thread, the only one that writes
 * LMDB once started (see store.h for the thread rules).
 *
 * LMDB layout (one environment in service.data_dir):
 *
 *   | db            | key                  | value                          |
 *   |---------------|----------------------|--------------------------------|
 *   | reservations  | reservation id bytes | record, msgpack
 * (engine/resv_record.c) | | meta          | "format"             | "atpd-1" |
 *   | positions     | location NUL sku     | on_hand, allocated, held: 3 x
 * int64 LE | | offsets       | source id            | applied seq, source
 * ts_ms: 2 x uint64 LE | | lots          | location NUL sku NUL lot id | qty,
 * eta_ms: 2 x int64 LE | | meta          | "reslog_lsn"         | last log LSN
 * applied: uint64 LE | | meta          | "store_id"           | 64 random bits,
 * set at creation: uint64 |
 *
 * Positions, lots and offsets are written together by one snapshot group
 * (one transaction), so the offsets always describe exactly the positions
 * stored with them.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/queue.h"
#include "store/fault.h"
#include "store/store_int.h"

#define STORE_QUEUE_CAP 65536
#define STORE_LSN_KEY "reslog_lsn"
#define STORE_ID_KEY "store_id"

static const char *const store_db_names[STORE_DB_COUNT] = {
    "reservations", "meta", "positions", "offsets", "lots", "admin"};

static atp_err store_log_start(store *s, const char *dir);
static atp_err store_env_reopen(store *s);

/* store_err logs an LMDB (or errno) failure once and translates it: no
 * space is store_full; LMDB refusing a call as invalid (a bad argument,
 * transaction, database handle or value size, or a transaction too large)
 * is internal: a bug of ours, not the disk; anything else (I/O errors,
 * corruption) is io. */
atp_err store__err(const char *what, int rc)
{
    log_error("store", "%s: %s", what, mdb_strerror(rc));
    switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return ATP_E_STORE_FULL;
    case ENOMEM:
        return ATP_E_NOMEM;
    case EINVAL:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
    case MDB_BAD_RSLOT:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
        return ATP_E_INTERNAL;
    default:
        return ATP_E_IO;
    }
}

/* Below this many free bytes in the data directory's filesystem, an EIO
 * from LMDB means "full": LMDB reports a short write (the filesystem had
 * room for part of a transaction's pages) as EIO, and a nearly full disk
 * produces exactly that instead of ENOSPC. */
#define STORE_NEARLY_FULL_BYTES (1u << 20)

/* store_write_err translates the error of a write (a commit) in dir: like
 * store_err, except that EIO on a nearly full filesystem is
 * ATP_E_STORE_FULL (refuse writes, keep serving, start while full), as
 * ENOSPC is. */
static atp_err store_write_err(const char *dir, const char *what, int rc)
{
    struct statvfs fs;
    if (rc == EIO && statvfs(dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < STORE_NEARLY_FULL_BYTES) {
        log_error("store",
                  "%s: %s, with %llu bytes free: a short write, the "
                  "disk is full",
                  what, mdb_strerror(rc),
                  (unsigned long long)fs.f_bavail * fs.f_frsize);
        return ATP_E_STORE_FULL;
    }
    return store__err(what, rc);
}

/* store_id_get_or_make reads META "store_id" into s->store_id, first
 * writing 64 random bits there if it has none (not in a read-only open),
 * in a transaction of its own: a store that cannot take that write (a
 * full disk or map) still opens, with store_id 0 and a warning (atpd then
 * runs without the applied file). */
static void store_id_get_or_make(store *s)
{
    MDB_val key = {sizeof STORE_ID_KEY - 1, (void *)STORE_ID_KEY}, val;
    MDB_txn *txn;
    if (s->store_id != 0 || s->dbi[STORE_DB_META] == (MDB_dbi)-1 ||
        mdb_txn_begin(s->env, NULL, s->opt.read_only ? MDB_RDONLY : 0, &txn) !=
            0)
        return;
    int rc = mdb_get(txn, s->dbi[STORE_DB_META], &key, &val);
    if (rc == 0 && val.mv_size == sizeof s->store_id) {
        memcpy(&s->store_id, val.mv_data, sizeof s->store_id);
        mdb_txn_abort(txn);
        return;
    }
    if (s->opt.read_only) {
        mdb_txn_abort(txn);
        return;
    }
    uint64_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id &&
            errno != EINTR)
            break;
    val.mv_size = sizeof id;
    val.mv_data = &id;
    if (id == 0 ||
        (rc = mdb_put(txn, s->dbi[STORE_DB_META], &key, &val, 0)) != 0) {
        mdb_txn_abort(txn);
        log_warn("store", "cannot record the store's id: %s",
                 id == 0 ? "no random bytes" : mdb_strerror(rc));
        return;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) { /* frees txn, also on failure */
        log_warn("store", "cannot record the store's id: %s", mdb_strerror(rc));
        return;
    }
    s->store_id = id;
}

uint64_t store_id(const store *s)
{
    return s->store_id;
}

/* store_env_open opens the environment in s->dir into s->env and s->dbi:
 * the map at s->map_bytes (or the file's size, if larger), stale reader
 * slots cleared, the databases opened (created unless read-only). On
 * failure s->env is NULL. Called by store_open, and by store_env_reopen on
 * the thread that owns LMDB writes, holding envmu. */
static atp_err store_env_open(store *s)
{
    const store_options *o = &s->opt;
    atp_err err;
    int rc;
    if ((rc = mdb_env_create(&s->env)) != 0) {
        s->env = NULL;
        return store__err("mdb_env_create", rc);
    }
    unsigned flags = MDB_NOTLS | (o->sync == STORE_NOSYNC ? MDB_NOSYNC : 0) |
                     (o->read_only ? MDB_RDONLY : 0);
    if ((rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, s->map_bytes)) != 0 ||
        (rc = mdb_env_open(s->env, s->dir, flags, 0640)) != 0) {
        log_error("store", "cannot open LMDB environment in %s", s->dir);
        err = store__err("mdb_env_open", rc);
        goto fail;
    }
    /* An existing environment may be larger than what we asked for; one
     * made larger than the limit (before the limit was lowered) shrinks to
     * it, or to what it holds if that is more (LMDB's floor). */
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (!o->read_only && o->max_map_bytes > 0 &&
        info.me_mapsize > o->max_map_bytes &&
        mdb_env_set_mapsize(s->env, o->max_map_bytes) == 0)
        mdb_env_info(s->env, &info);
    s->map_bytes = info.me_mapsize;
    int dead = 0;
    if (!o->read_only)
        mdb_reader_check(s->env, &dead); /* slots of processes killed with -9 */
    if (dead > 0)
        log_info("store", "cleared %d stale reader slots", dead);
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->env, NULL, o->read_only ? MDB_RDONLY : 0,
                            &txn)) != 0) {
        err = store__err("mdb_txn_begin", rc);
        goto fail;
    }
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, store_db_names[i], o->read_only ? 0 : MDB_CREATE,
                          &s->dbi[i]);
        if (rc == MDB_NOTFOUND && o->read_only) {
            s->dbi[i] = (MDB_dbi)-1; /* an older store without it: empty */
            continue;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            err = store__err("mdb_dbi_open", rc);
            goto fail;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        err = store__err("mdb_txn_commit", rc);
        goto fail;
    }
    store_id_get_or_make(s);
    return ATP_OK;
fail:
    mdb_env_close(s->env);
    s->env = NULL;
    return err;
}

/* store_dir_lock takes the data directory for this process: its lock
 * file, flock'ed for as long as the store is open (the kernel drops it
 * when the process dies, kill -9 included). LMDB lets several processes
 * share an environment, and two atpds on one directory would each grant
 * the same stock and write over each other's log: the second is refused
 * (ATP_E_BAD_STATE). */
static atp_err store_dir_lock(store *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, STORE_LOCK_FILE);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0) {
        log_error("store", "cannot open %s: %s", path, strerror(errno));
        return ATP_E_IO;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return ATP_OK;
    int e = errno;
    log_error("store",
              "data directory %s is in use by another process (%s is "
              "locked: %s): one atpd per data directory, or two would "
              "promise the same stock",
              dir, path, strerror(e));
    return e == EWOULDBLOCK ? ATP_E_BAD_STATE : ATP_E_IO;
}

atp_err store_open(const char *dir, const store_options *o, store **out)
{
    ATP_ASSERT(dir != NULL && o != NULL && out != NULL);
    store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->opt = *o;
    s->log.fd = -1;
    s->lock_fd = -1;
    /* Whole cache lines, as aligned_alloc wants (metrics_hist is). */
    s->hist = aligned_alloc(64, STORE_HIST_COUNT * sizeof *s->hist);
    if (s->hist == NULL) {
        free(s);
        return ATP_E_NOMEM;
    }
    memset(s->hist, 0, STORE_HIST_COUNT * sizeof *s->hist);
    /* The map starts at the initial size, never above the limit: a limit
     * below it holds from the first write. */
    s->map_bytes = o->initial_map_bytes ? o->initial_map_bytes : (64u << 20);
    if (o->max_map_bytes > 0 && s->map_bytes > o->max_map_bytes)
        s->map_bytes = o->max_map_bytes;
    s->reopen_ops = o->reopen_ops ? o->reopen_ops : STORE_REOPEN_OPS;
    pthread_mutex_init(&s->envmu, NULL);
    atp_err err = ATP_E_NOMEM;
    if ((s->dir = strdup(dir)) == NULL)
        goto fail;
    err = ATP_E_IO;
    if (!o->read_only && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        log_error("store", "cannot create data directory %s: %s", dir,
                  strerror(errno));
        goto fail;
    }
    if (!o->read_only && (err = store_dir_lock(s, dir)) != ATP_OK)
        goto fail;
    if ((err = store_env_open(s)) != ATP_OK)
        goto fail;
    if (!o->read_only && (err = store_log_start(s, dir)) != ATP_OK)
        goto fail;
    if ((err = queue_init(&s->q, sizeof(store_group *), STORE_QUEUE_CAP)) !=
        ATP_OK)
        goto fail;
    pthread_mutex_init(&s->amu, NULL);
    clock_cond_init(&s->acond); /* timed waits: clock_deadline_ms */
    clock_cond_init(&s->dcond);
    atomic_store(&s->map_size, s->map_bytes);
    store__update_usage(s); /* status has it before the first commit */
    *out = s;
    return ATP_OK;
fail:
    store__log_close(&s->log);
    if (s->env != NULL)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* the lock goes with it */
    pthread_mutex_destroy(&s->envmu);
    free(s->dir);
    free(s->hist);
    free(s);
    return err;
}

/* store_env_reopen closes the environment and opens it again, between two
 * transactions, on the thread that owns LMDB writes. Why: LMDB 0.9 keeps
 * every single page a write transaction dirtied, once committed, on the
 * environment's free list (env->me_dpages) for reuse, and frees that list
 * only in mdb_env_close; a transaction of many ops (a snapshot of millions
 * of positions dirties up to MDB_IDL_UM_MAX pages, 512 MiB) would leave that
 * much malloc'ed memory resident for the life of the process. Nothing is
 * lost: everything is committed (without fsync in nosync mode, but already
 * written to the file), the map keeps its current size, and the databases
 * are opened again. envmu keeps store_info_get and store_scan out
 * meanwhile. On failure s->env stays NULL and store__commit tries again. */
static atp_err store_env_reopen(store *s)
{
    pthread_mutex_lock(&s->envmu);
    if (s->env != NULL)
        mdb_env_close(s->env);
    s->env = NULL;
    atp_err err = store_env_open(s);
    pthread_mutex_unlock(&s->envmu);
    if (err != ATP_OK) {
        log_error("store",
                  "cannot reopen the LMDB environment (%s): commits "
                  "fail until it reopens",
                  atp_err_message(err));
        return err;
    }
    atomic_fetch_add(&s->reopens, 1);
    atomic_store(&s->map_size, s->map_bytes);
    return ATP_OK;
}

const char *store_db_name(store_db db)
{
    return db < STORE_DB_COUNT ? store_db_names[db] : "?";
}

atp_err store_info_get(store *s, store_info *out)
{
    memset(out, 0, sizeof *out);
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    pthread_mutex_lock(&s->envmu); /* the applier may reopen env */
    if (s->env == NULL) {
        pthread_mutex_unlock(&s->envmu);
        return ATP_E_IO;
    }
    int rc = mdb_env_info(s->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(s->env, &st);
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        pthread_mutex_unlock(&s->envmu);
        return store__err("info", rc);
    }
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        MDB_stat ds;
        if (s->dbi[i] != (MDB_dbi)-1 && mdb_stat(txn, s->dbi[i], &ds) == 0)
            out->entries[i] = ds.ms_entries;
    }
    MDB_val key = {sizeof STORE_LSN_KEY - 1, (void *)STORE_LSN_KEY}, val;
    if (s->dbi[STORE_DB_META] != (MDB_dbi)-1 &&
        mdb_get(txn, s->dbi[STORE_DB_META], &key, &val) == 0 &&
        val.mv_size == 8)
        for (int i = 0; i < 8; i++)
            out->log_applied |=
                (uint64_t)((const unsigned char *)val.mv_data)[i] << (8 * i);
    mdb_txn_abort(txn);
    pthread_mutex_unlock(&s->envmu);
    out->map_bytes = info.me_mapsize;
    out->page_size = st.ms_psize;
    out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    out->readers_used = info.me_numreaders;
    out->readers_max = info.me_maxreaders;
    return ATP_OK;
}

/* ---- LMDB writes ------------------------------------------------------------
 */

/* One op through the database's cursor. A cursor, unlike mdb_put, first
 * looks on the leaf page it is already on, so ops in key order (snapshots
 * are sorted) do not search the tree from the root each time. */
static int store_txn_op(MDB_cursor *c, const store_op *op)
{
    MDB_val key = {op->key_len, (void *)op->key};
    if (op->val != NULL) {
        MDB_val val = {op->val_len, (void *)op->val};
        return mdb_cursor_put(c, &key, &val, 0);
    }
    MDB_val val;
    int rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    if (rc == 0)
        rc = mdb_cursor_del(c, 0);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int store_txn_apply(store *s, store_group **g, size_t n, uint64_t lsn)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *cur[STORE_DB_COUNT] = {0};
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t k = 0; k < g[i]->n && rc == 0; k++) {
            const store_op *op = &g[i]->ops[k];
            if (cur[op->db] == NULL &&
                (rc = mdb_cursor_open(txn, s->dbi[op->db], &cur[op->db])) != 0)
                break;
            rc = store_txn_op(cur[op->db], op);
        }
    }
    for (int d = 0; d < STORE_DB_COUNT; d++)
        if (cur[d] != NULL)
            mdb_cursor_close(cur[d]);
    if (rc != 0) {
        mdb_txn_abort(txn); /* never commit half a group */
        return rc;
    }
    if (lsn != 0) {
        unsigned char b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(lsn >> (8 * i));
        MDB_val key = {sizeof STORE_LSN_KEY - 1, (void *)STORE_LSN_KEY};
        MDB_val val = {sizeof b, b};
        if ((rc = mdb_put(txn, s->dbi[STORE_DB_META], &key, &val, 0)) != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    int fault = store__fault(STORE_FAULT_COMMIT);
    if (fault != 0) {
        mdb_txn_abort(txn);
        return fault;
    }
    int64_t t0 = clock_mono_ns();
    rc = mdb_txn_commit(txn); /* a failed commit aborts the txn itself */
    metrics_hist_observe(&s->hist[STORE_HIST_COMMIT],
                         (uint64_t)(clock_mono_ns() - t0));
    return rc;
}

atp_err store__commit(store *s, store_group **g, size_t n, uint64_t lsn)
{
    atp_err err;
    if (s->env == NULL && (err = store_env_reopen(s)) != ATP_OK) {
        atomic_fetch_add(&s->failures, 1);
        return err; /* a reopen failed: nothing written */
    }
    size_t ops = 0;
    for (size_t i = 0; i < n; i++)
        ops += g[i]->n;
    for (;;) {
        int rc = store_txn_apply(s, g, n, lsn);
        if (rc == 0) {
            atomic_store(&s->full, false);
            /* Committed; a failed reopen only delays the next commit. */
            if (ops >= s->reopen_ops)
                store_env_reopen(s);
            return ATP_OK;
        }
        size_t limit =
            s->opt.max_map_bytes ? s->opt.max_map_bytes : SIZE_MAX / 2;
        if (rc == MDB_MAP_FULL && s->map_bytes < limit) {
            /* Double, but not past the limit. Safe here: this thread is
             * the only one with write transactions, and envmu keeps the
             * others' read transactions (store_info_get) out: LMDB remaps
             * only while no transaction of this process is active. */
            size_t grown = s->map_bytes * 2 < limit ? s->map_bytes * 2 : limit;
            pthread_mutex_lock(&s->envmu);
            int grc = mdb_env_set_mapsize(s->env, grown);
            pthread_mutex_unlock(&s->envmu);
            if (grc == 0) {
                s->map_bytes = grown;
                atomic_store(&s->map_size, s->map_bytes);
                log_info("store", "map grown to %zu MiB", s->map_bytes >> 20);
                continue;
            }
            rc = grc;
        }
        err = store_write_err(s->dir, "commit", rc);
        atomic_store(&s->full, err == ATP_E_STORE_FULL);
        atomic_fetch_add(&s->failures, 1);
        return err;
    }
}

void store__update_usage(store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (s->env != NULL && mdb_env_info(s->env, &info) == 0 &&
        mdb_env_stat(s->env, &st) == 0)
        atomic_store(&s->used, (uint64_t)(info.me_last_pgno + 1) * st.ms_psize);
}

store_group *store__group_own(store_op *ops, size_t n,
                              void (*release)(void *owner), void *owner,
                              store_done_fn done, void *arg)
{
    store_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    bool loggable = n > 0;
    for (size_t i = 0; i < n && loggable; i++)
        loggable = ops[i].db == STORE_DB_RESERVATIONS;
    *g = (store_group){.ops = ops,
                       .n = n,
                       .loggable = loggable,
                       .log_len = loggable ? store__log_record_size(ops, n) : 0,
                       .done = done,
                       .arg = arg,
                       .release = release,
                       .owner = owner};
    return g;
}

void store__group_free(store_group *g)
{
    if (g != NULL && g->release != NULL)
        g->release(g->owner);
    if (g != NULL)
        free(g->backup_dir);
    free(g);
}

store_group *store__group_new(const store_op *ops, size_t n, store_done_fn done,
                              void *arg)
{
    size_t bytes = 0;
    bool loggable = n > 0;
    for (size_t i = 0; i < n; i++) {
        bytes += ops[i].key_len + (ops[i].val ? ops[i].val_len : 0);
        loggable = loggable && ops[i].db == STORE_DB_RESERVATIONS;
    }
    store_group *g = malloc(sizeof *g + bytes + n * sizeof(store_op));
    if (g == NULL)
        return NULL;
    memset(g, 0, sizeof *g);
    /* The ops array comes first in bytes[]: the header before it is made of
     * pointer-sized fields, so it is aligned for store_op. */
    g->ops = (store_op *)(void *)g->bytes;
    unsigned char *p = g->bytes + n * sizeof(store_op);
    for (size_t i = 0; i < n; i++) {
        g->ops[i] = ops[i];
        memcpy(p, ops[i].key, ops[i].key_len);
        g->ops[i].key = p;
        p += ops[i].key_len;
        if (ops[i].val != NULL) {
            memcpy(p, ops[i].val, ops[i].val_len);
            g->ops[i].val = p;
            p += ops[i].val_len;
        }
    }
    g->n = n;
    g->loggable = loggable;
    g->log_len = loggable ? store__log_record_size(g->ops, n) : 0;
    g->done = done;
    g->arg = arg;
    return g;
}

/* ---- log replay at open
 * -------------------------------------------------------- */

bool store__group_list_push(store_group_list *l, store_group *g)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        store_group **n = realloc(l->g, cap * sizeof *n);
        if (n == NULL)
            return false;
        l->g = n;
        l->cap = cap;
    }
    l->g[l->n++] = g;
    return true;
}

static atp_err store_replay_one(void *ctx, uint64_t lsn, const store_op *ops,
                                size_t n)
{
    store_group *g = store__group_new(ops, n, NULL, NULL);
    if (g == NULL)
        return ATP_E_NOMEM;
    g->lsn = lsn;
    if (!store__group_list_push(ctx, g)) {
        store__group_free(g);
        return ATP_E_NOMEM;
    }
    return ATP_OK;
}

static uint64_t store_applied_lsn(store *s)
{
    MDB_txn *txn;
    MDB_val key = {sizeof STORE_LSN_KEY - 1, (void *)STORE_LSN_KEY}, val;
    uint64_t lsn = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (mdb_get(txn, s->dbi[STORE_DB_META], &key, &val) == 0 &&
        val.mv_size == 8)
        for (int i = 0; i < 8; i++)
            lsn |= (uint64_t)((const unsigned char *)val.mv_data)[i] << (8 * i);
    mdb_txn_abort(txn);
    return lsn;
}

/* Open the log (creating it when it is on), apply what LMDB has not yet,
 * and set up the next LSN. An existing log is replayed even when the log
 * is now off (nosync, log_bytes 0), then removed. If LMDB has no room for
 * the replayed groups (disk or map full) and the log stays on, start
 * anyway, as at run time: they stay in the log and in memory (store_scan
 * shows them; the applier retries them), and new groups are refused with
 * ATP_E_STORE_FULL until they are applied. */
static atp_err store_log_start(store *s, const char *dir)
{
    bool want = s->opt.log_bytes > 0 && s->opt.sync == STORE_SYNC;
    atp_err err = store__log_open(&s->log, dir, want ? s->opt.log_bytes : 0);
    s->log.sync_hist = &s->hist[STORE_HIST_SYNC]; /* after the open's reset */
    if (err != ATP_OK && s->log.fd < 0)
        return err;
    if (err != ATP_OK) {
        log_warn("store",
                 "no reservation log (%s): every reservation group is "
                 "an LMDB commit",
                 atp_err_message(err));
        want = false;
    }
    uint64_t applied = store_applied_lsn(s), last;
    int bad;
    bool pending = false;
    store_group_list r = {0};
    err =
        store__log_replay(&s->log, applied, store_replay_one, &r, &last, &bad);
    if (err == ATP_OK && r.n > 0) {
        err = store__commit(s, r.g, r.n, last);
        /* s->env NULL: the reopen after a large replay failed. */
        int rc = err != ATP_OK    ? 0
                 : s->env == NULL ? EIO
                                  : mdb_env_sync(s->env, 1);
        if (rc != 0)
            err = store__err("mdb_env_sync (replay)", rc);
        if (err == ATP_OK)
            log_info("store",
                     "replayed %zu groups from the reservation log "
                     "(LSN %llu, LMDB had %llu)%s",
                     r.n, (unsigned long long)last, (unsigned long long)applied,
                     bad ? "; a torn tail ignored" : "");
        else if (err == ATP_E_STORE_FULL && want) {
            log_warn(
                "store",
                "%zu groups replayed from the reservation log "
                "(LSN %llu, LMDB had %llu) do not fit in LMDB: starting with "
                "them pending; new reservation groups are refused until "
                "space returns",
                r.n, (unsigned long long)last, (unsigned long long)applied);
            s->replayed = r.g;
            s->n_replayed = r.n;
            r = (store_group_list){0};
            pending = true;
            err = ATP_OK;
        }
    }
    atomic_store(&s->log_replayed, r.n + s->n_replayed);
    for (size_t i = 0; i < r.n; i++)
        store__group_free(r.g[i]);
    free(r.g);
    if (err != ATP_OK)
        return err; /* the log stays as it is for the next attempt */
    s->written_lsn = last;
    s->log.next_lsn = last + 1;
    if (pending) {
        /* The chain stays where it is until the applier has applied it. */
        s->applied_lsn = applied;
        s->apply_err = ATP_E_STORE_FULL;
        s->log_uncertain = true;
        s->log.wpos = s->log.size;
    } else {
        s->applied_lsn = last;
        /* A new cycle: records behind it (of this chain, of refused appends)
         * have another epoch and can never continue it. */
        store__log_rewind(&s->log);
    }
    atomic_store(&s->log_applied, s->applied_lsn);
    if (!want && s->log.fd >= 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, STORE_LOG_NAME);
        store__log_close(&s->log);
        if (unlink(path) != 0)
            log_warn("store", "cannot remove %s: %s", path, strerror(errno));
    }
    s->log_on = want;
    atomic_store(&s->log_used, want ? s->log.wpos : 0);
    return ATP_OK;
}
