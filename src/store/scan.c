/*
 * scan.c - store_scan (store.h): a database's records in key order from
 * one read transaction, with the writes still in flight (the overlay of
 * groups not yet applied) merged in, so a scan sees every acknowledged
 * write whether or not LMDB has it yet.
 */
#include "store/store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "store/store_int.h"

/* LMDB's default key order: bytes, then the shorter first. */
static int store_key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : (al > bl) - (al < bl);
}

typedef struct store_overlay_op {
    const store_op *op;
    size_t seq; /* replay order: the later one wins */
} store_overlay_op;

static int store_overlay_cmp(const void *pa, const void *pb)
{
    const store_overlay_op *a = pa, *b = pb;
    int c =
        store_key_cmp(a->op->key, a->op->key_len, b->op->key, b->op->key_len);
    return c != 0 ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* The final op per key of db in the groups replayed but not in LMDB
 * (store_log_start), sorted by key: *out (NULL, 0 when none). */
static atp_err store_overlay(store *s, store_db db, store_overlay_op **out,
                             size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n = 0;
    for (size_t i = 0; i < s->n_replayed; i++)
        for (size_t k = 0; k < s->replayed[i]->n; k++)
            n += s->replayed[i]->ops[k].db == db;
    if (n == 0)
        return ATP_OK;
    store_overlay_op *v = malloc(n * sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    n = 0;
    for (size_t i = 0; i < s->n_replayed; i++)
        for (size_t k = 0; k < s->replayed[i]->n; k++)
            if (s->replayed[i]->ops[k].db == db) {
                v[n].op = &s->replayed[i]->ops[k];
                v[n].seq = n;
                n++;
            }
    qsort(v, n, sizeof *v, store_overlay_cmp);
    size_t m = 0; /* keep the last of each key */
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n &&
            store_key_cmp(v[i].op->key, v[i].op->key_len, v[i + 1].op->key,
                          v[i + 1].op->key_len) == 0)
            continue;
        v[m++] = v[i];
    }
    *out = v;
    *n_out = m;
    return ATP_OK;
}

atp_err store_scan(store *s, store_db db,
                   bool (*fn)(void *ctx, const void *key, size_t key_len,
                              const void *val, size_t val_len),
                   void *ctx)
{
    ATP_ASSERT(s != NULL && (unsigned)db < STORE_DB_COUNT && fn != NULL);
    MDB_txn *txn;
    MDB_cursor *cur;
    if (s->dbi[db] == (MDB_dbi)-1)
        return ATP_OK; /* read-only view of an older store: empty */
    store_overlay_op *ov;
    size_t n_ov, o = 0;
    atp_err err = store_overlay(s, db, &ov, &n_ov);
    if (err != ATP_OK)
        return err;
    pthread_mutex_lock(&s->envmu); /* the applier may reopen env */
    int rc =
        s->env != NULL ? mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) : EIO;
    if (rc != 0) {
        pthread_mutex_unlock(&s->envmu);
        free(ov);
        return store__err("mdb_txn_begin (scan)", rc);
    }
    if ((rc = mdb_cursor_open(txn, s->dbi[db], &cur)) != 0) {
        mdb_txn_abort(txn);
        pthread_mutex_unlock(&s->envmu);
        free(ov);
        return store__err("mdb_cursor_open", rc);
    }
    /* LMDB's keys merged with the replayed groups' final ops, in order. */
    bool go = true;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && go;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int c = -1;
        while (go && o < n_ov &&
               (c = store_key_cmp(ov[o].op->key, ov[o].op->key_len, k.mv_data,
                                  k.mv_size)) < 0) {
            if (ov[o].op->val != NULL)
                go = fn(ctx, ov[o].op->key, ov[o].op->key_len, ov[o].op->val,
                        ov[o].op->val_len);
            o++;
        }
        if (!go)
            break;
        if (o < n_ov && c == 0) { /* replaced or deleted by the log */
            if (ov[o].op->val != NULL)
                go = fn(ctx, ov[o].op->key, ov[o].op->key_len, ov[o].op->val,
                        ov[o].op->val_len);
            o++;
        } else {
            go = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        }
    }
    if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = 0;
        for (; go && o < n_ov; o++)
            if (ov[o].op->val != NULL)
                go = fn(ctx, ov[o].op->key, ov[o].op->key_len, ov[o].op->val,
                        ov[o].op->val_len);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    pthread_mutex_unlock(&s->envmu);
    free(ov);
    return rc == 0 ? ATP_OK : store__err("scan", rc);
}
