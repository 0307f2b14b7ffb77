/*
 * store.c - LMDB environment, start-up scans, and the writer thread that
 * group-commits queued writes (see store.h for the thread rules).
 *
 * LMDB layout (one environment in service.data_dir):
 *
 *   | db            | key                  | value                          |
 *   |---------------|----------------------|--------------------------------|
 *   | reservations  | reservation id bytes | record, msgpack (engine/resv_record.c) |
 *   | meta          | "format"             | "atpd-1"                       |
 *   | positions     | location NUL sku     | on_hand, allocated, held: 3 x int64 LE |
 *   | offsets       | source id            | applied seq, source ts_ms: 2 x uint64 LE |
 *   | lots          | location NUL sku NUL lot id | qty, eta_ms: 2 x int64 LE |
 *
 * Positions, lots and offsets are written together by one snapshot group
 * (one transaction), so the offsets always describe exactly the positions
 * stored with them.
 */
#include "store/store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/queue.h"

#define STORE_QUEUE_CAP 65536
#define STORE_MAX_GROUPS_PER_TXN 4096
#define STORE_NOSYNC_FLUSH_MS 1000

static const char *const store_db_names[STORE_DB_COUNT] = {
    "reservations", "meta", "positions", "offsets", "lots"};

typedef struct store_group {
    store_op *ops;
    size_t n;
    store_done_fn done;
    void *arg;
    unsigned char bytes[]; /* keys and values of ops */
} store_group;

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    store_options opt;
    size_t map_bytes; /* writer thread (and open) only */
    queue q;          /* of store_group * */
    pthread_t thread;
    bool running;
    int64_t last_flush_ms;
    _Atomic uint64_t commits, groups, ops, failures, map_size, used;
    _Atomic bool full;
};

static atp_err store_err(const char *what, int rc)
{
    log_error("store", "%s: %s", what, mdb_strerror(rc));
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
        return ATP_E_STORE_FULL;
    if (rc == ENOMEM)
        return ATP_E_NOMEM;
    return ATP_E_IO;
}

atp_err store_open(const char *dir, const store_options *o, store **out)
{
    store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->opt = *o;
    s->map_bytes = o->initial_map_bytes ? o->initial_map_bytes : (64u << 20);
    atp_err err = ATP_E_IO;
    int rc;
    if (!o->read_only && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        log_error("store", "cannot create data directory %s: %s", dir,
                  strerror(errno));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) != 0) {
        err = store_err("mdb_env_create", rc);
        goto fail;
    }
    unsigned flags = MDB_NOTLS | (o->sync == STORE_NOSYNC ? MDB_NOSYNC : 0) |
                     (o->read_only ? MDB_RDONLY : 0);
    if ((rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, s->map_bytes)) != 0 ||
        (rc = mdb_env_open(s->env, dir, flags, 0640)) != 0) {
        log_error("store", "cannot open LMDB environment in %s", dir);
        err = store_err("mdb_env_open", rc);
        goto fail;
    }
    /* An existing environment may be larger than what we asked for. */
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_bytes = info.me_mapsize;
    int dead = 0;
    if (!o->read_only)
        mdb_reader_check(s->env, &dead); /* slots of processes killed with -9 */
    if (dead > 0)
        log_info("store", "cleared %d stale reader slots", dead);
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->env, NULL, o->read_only ? MDB_RDONLY : 0, &txn)) != 0) {
        err = store_err("mdb_txn_begin", rc);
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
            err = store_err("mdb_dbi_open", rc);
            goto fail;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        err = store_err("mdb_txn_commit", rc);
        goto fail;
    }
    if ((err = queue_init(&s->q, sizeof(store_group *), STORE_QUEUE_CAP)) != ATP_OK)
        goto fail;
    atomic_store(&s->map_size, s->map_bytes);
    *out = s;
    return ATP_OK;
fail:
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s);
    return err;
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
    int rc = mdb_env_info(s->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(s->env, &st);
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return store_err("info", rc);
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        MDB_stat ds;
        if (s->dbi[i] != (MDB_dbi)-1 && mdb_stat(txn, s->dbi[i], &ds) == 0)
            out->entries[i] = ds.ms_entries;
    }
    mdb_txn_abort(txn);
    out->map_bytes = info.me_mapsize;
    out->page_size = st.ms_psize;
    out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    out->readers_used = info.me_numreaders;
    out->readers_max = info.me_maxreaders;
    return ATP_OK;
}

atp_err store_scan(store *s, store_db db,
                   bool (*fn)(void *ctx, const void *key, size_t key_len,
                              const void *val, size_t val_len),
                   void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (s->dbi[db] == (MDB_dbi)-1)
        return ATP_OK; /* read-only view of an older store: empty */
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return store_err("mdb_txn_begin (scan)", rc);
    if ((rc = mdb_cursor_open(txn, s->dbi[db], &cur)) != 0) {
        mdb_txn_abort(txn);
        return store_err("mdb_cursor_open", rc);
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (!fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size))
            break;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? ATP_OK : store_err("scan", rc);
}

/* ---- writer thread ------------------------------------------------------ */

static int store_txn_apply(store *s, store_group **g, size_t n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < g[i]->n; k++) {
            const store_op *op = &g[i]->ops[k];
            MDB_val key = {op->key_len, (void *)op->key};
            if (op->val != NULL) {
                MDB_val val = {op->val_len, (void *)op->val};
                rc = mdb_put(txn, s->dbi[op->db], &key, &val, 0);
            } else {
                rc = mdb_del(txn, s->dbi[op->db], &key, NULL);
                if (rc == MDB_NOTFOUND)
                    rc = 0;
            }
            if (rc != 0) {
                mdb_txn_abort(txn); /* never commit half a group */
                return rc;
            }
        }
    }
    return mdb_txn_commit(txn); /* a failed commit aborts the txn itself */
}

/* Commit groups g[0..n) in one transaction; grow the map while it is full
 * and below the limit. */
static atp_err store_commit(store *s, store_group **g, size_t n)
{
    for (;;) {
        int rc = store_txn_apply(s, g, n);
        if (rc == 0) {
            atomic_store(&s->full, false);
            return ATP_OK;
        }
        size_t limit = s->opt.max_map_bytes ? s->opt.max_map_bytes : SIZE_MAX / 2;
        if (rc == MDB_MAP_FULL && s->map_bytes < limit) {
            /* Double, but not past the limit. Safe here: this thread is
             * the only one with transactions. */
            size_t grown = s->map_bytes * 2 < limit ? s->map_bytes * 2 : limit;
            int grc = mdb_env_set_mapsize(s->env, grown);
            if (grc == 0) {
                s->map_bytes = grown;
                atomic_store(&s->map_size, s->map_bytes);
                log_info("store", "map grown to %zu MiB", s->map_bytes >> 20);
                continue;
            }
            rc = grc;
        }
        atp_err err = store_err("commit", rc);
        atomic_store(&s->full, err == ATP_E_STORE_FULL);
        atomic_fetch_add(&s->failures, 1);
        return err;
    }
}

static void store_update_usage(store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
        atomic_store(&s->used, (uint64_t)(info.me_last_pgno + 1) * st.ms_psize);
}

static void *store_writer_main(void *arg)
{
    store *s = arg;
    store_group **batch = malloc(STORE_MAX_GROUPS_PER_TXN * sizeof *batch);
    if (batch == NULL) {
        log_error("store", "writer cannot start: out of memory");
        return NULL;
    }
    for (;;) {
        size_t n = 0;
        atp_err perr = queue_pop(&s->q, &batch[0], s->opt.sync == STORE_NOSYNC
                                                       ? STORE_NOSYNC_FLUSH_MS
                                                       : -1);
        if (perr == ATP_E_BAD_STATE)
            break;
        if (perr == ATP_OK) {
            n = 1;
            /* Everything already queued joins this transaction. */
            while (n < STORE_MAX_GROUPS_PER_TXN &&
                   queue_pop(&s->q, &batch[n], 0) == ATP_OK)
                n++;
            atp_err err = store_commit(s, batch, n);
            atomic_fetch_add(&s->commits, 1);
            atomic_fetch_add(&s->groups, n);
            for (size_t i = 0; i < n; i++) {
                atomic_fetch_add(&s->ops, batch[i]->n);
                if (batch[i]->done != NULL)
                    batch[i]->done(batch[i]->arg, err);
                free(batch[i]);
            }
            store_update_usage(s);
        }
        if (s->opt.sync == STORE_NOSYNC &&
            clock_mono_ms() - s->last_flush_ms >= STORE_NOSYNC_FLUSH_MS) {
            mdb_env_sync(s->env, 1);
            s->last_flush_ms = clock_mono_ms();
        }
    }
    free(batch);
    return NULL;
}

atp_err store_start(store *s)
{
    s->last_flush_ms = clock_mono_ms();
    if (pthread_create(&s->thread, NULL, store_writer_main, s) != 0)
        return ATP_E_NOMEM;
    s->running = true;
    return ATP_OK;
}

atp_err store_submit(store *s, const store_op *ops, size_t n, store_done_fn done,
                     void *arg)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += ops[i].key_len + (ops[i].val ? ops[i].val_len : 0);
    store_group *g = malloc(sizeof *g + bytes + n * sizeof(store_op));
    if (g == NULL)
        return ATP_E_NOMEM;
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
    g->done = done;
    g->arg = arg;
    atp_err err = queue_push(&s->q, &g);
    if (err != ATP_OK)
        free(g);
    return err;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    queue_close(&s->q); /* the writer commits what is queued, then exits */
    if (s->running)
        pthread_join(s->thread, NULL);
    if (!s->opt.read_only)
        mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    queue_fini(&s->q);
    free(s);
}

void store_stats_get(const store *s, store_stats *out)
{
    store *m = (store *)s; /* atomics only */
    *out = (store_stats){
        .commits = atomic_load(&m->commits),
        .groups = atomic_load(&m->groups),
        .ops = atomic_load(&m->ops),
        .failures = atomic_load(&m->failures),
        .map_bytes = atomic_load(&m->map_size),
        .used_bytes = atomic_load(&m->used),
        .full = atomic_load(&m->full),
    };
}
