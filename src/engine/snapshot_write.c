/*
 * snapshot_write.c - the snapshot writer thread: turns what the engine
 * thread cut (snapshot.c) into records in key order and submits them to
 * the store as one group.
 *
 * Why a thread: formatting a snapshot (a dictionary lookup and a key per
 * position) and handing it to the store (which copies it) took the engine
 * thread 80-440 ms for 150k-800k changed positions at 100k events/s, and
 * reservations and source batches waited meanwhile. The cut itself stays on
 * the engine thread (a copy of each changed position), so the snapshot is
 * still exactly the state between two batches.
 *
 * Why key order: LMDB then finds each record's leaf page next to the
 * previous one and touches every page once, instead of searching and
 * dirtying pages at random.
 *
 * Why a lower priority (nice ENGINE_SNAP_NICE): the work is not urgent (a
 * snapshot only shortens the replay after a crash) and must not take CPU
 * from queries and reservations on a busy box. It cannot starve anyone: it
 * holds no lock a reader needs (the dictionary is read lock-free, the job
 * is its own), only the store's queue lock for one push.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/bigmem.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"
#include "engine/engine_int.h"

#define ENGINE_SNAP_NICE 10
#define SNAPSHOT_KEY_MAX (ATP_ID_MAX_LEN + 1 + ATP_SKU_MAX_LEN)

static int64_t snap_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void engine__snap_job_free(engine_snap_job *job)
{
    if (job == NULL)
        return;
    bigmem_free(job->pos, job->pos_cap * sizeof *job->pos);
    bigmem_free(job->ops, job->ops_cap * sizeof *job->ops);
    bigmem_free(job->bytes, job->size);
    free(job);
}

/* Sorting compares the first 16 key bytes as two big-endian integers
 * (zero-padded) and only falls back to memcmp on a tie: most keys differ
 * there ("location\0sku"), and qsort's comparisons were the writer's main
 * cost. The result is LMDB's default order: memcmp, then shorter first. */
typedef struct snap_sort_entry {
    uint64_t a, b;
    const engine_record_op *op;
} snap_sort_entry;

static uint64_t snap_be64(const unsigned char *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < len ? p[i] : 0);
    return v;
}

static int snap_entry_cmp(const void *pa, const void *pb)
{
    const snap_sort_entry *x = pa, *y = pb;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    size_t xl = x->op->key_len, yl = y->op->key_len;
    int c = memcmp(x->op->key, y->op->key, xl < yl ? xl : yl);
    if (c != 0)
        return c;
    return (xl > yl) - (xl < yl);
}

/* Sort ops[0..n) by key, using tmp (n entries) and out (n ops). */
static void snap_sort(const engine_record_op *ops, size_t n,
                      snap_sort_entry *tmp, engine_record_op *out)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *k = ops[i].key;
        size_t len = ops[i].key_len;
        tmp[i] =
            (snap_sort_entry){snap_be64(k, len),
                              len > 8 ? snap_be64(k + 8, len - 8) : 0, &ops[i]};
    }
    qsort(tmp, n, sizeof *tmp, snap_entry_cmp);
    for (size_t i = 0; i < n; i++)
        out[i] = *tmp[i].op;
}

/* Positions as records in key order, then the lots and offsets the engine
 * thread formatted, all in one bytes buffer (the store may keep it until
 * it releases the group). ATP_E_NOMEM: nothing allocated. */
static atp_err snap_format(engine *e, engine_snap_job *job,
                           engine_record_op **ops_out, size_t *n_out,
                           unsigned char **bytes_out, size_t *size_out)
{
    size_t n = job->n_pos + job->n_ops, cap = n ? n : 1;
    size_t size = job->n_pos * (SNAPSHOT_KEY_MAX + 24) + job->used + 1;
    engine_record_op *ops = bigmem_alloc(cap * sizeof *ops, false);
    engine_record_op *unsorted = bigmem_alloc(cap * sizeof *ops, false);
    snap_sort_entry *tmp = bigmem_alloc(cap * sizeof *tmp, false);
    unsigned char *bytes = bigmem_alloc(size, false);
    if (ops == NULL || unsorted == NULL || tmp == NULL || bytes == NULL) {
        bigmem_free(ops, cap * sizeof *ops);
        bigmem_free(unsorted, cap * sizeof *ops);
        bigmem_free(tmp, cap * sizeof *tmp);
        bigmem_free(bytes, size);
        return ATP_E_NOMEM;
    }
    unsigned char *w = bytes;
    for (size_t i = 0; i < job->n_pos; i++) {
        const position *p = &job->pos[i];
        const char *loc = e->cfg->locations[position_loc(p)].id;
        size_t loc_len = strlen(loc), sku_len;
        const char *sku = dict_key(e->skus, position_sku(p), &sku_len);
        unsigned char *key = w;
        memcpy(w, loc, loc_len + 1);
        memcpy(w + loc_len + 1, sku, sku_len);
        w += loc_len + 1 + sku_len;
        bool zero = p->bucket[0] == 0 && p->bucket[1] == 0 && p->bucket[2] == 0;
        unsigned char *val = zero ? NULL : w; /* all zero: deleted */
        for (int b = 0; !zero && b < 3; b++, w += 8)
            engine__put_le64(w, (uint64_t)p->bucket[b]);
        unsorted[i] =
            (engine_record_op){ENGINE_DB_POSITIONS, key, loc_len + 1 + sku_len,
                               val, zero ? 0 : 24};
    }
    snap_sort(unsorted, job->n_pos, tmp, ops);
    bigmem_free(unsorted, cap * sizeof *ops);
    bigmem_free(tmp, cap * sizeof *tmp);
    /* The lots and offsets move into bytes too: the store may keep them. */
    memcpy(w, job->bytes, job->used);
    for (size_t i = 0; i < job->n_ops; i++) {
        engine_record_op *op = &ops[job->n_pos + i];
        *op = job->ops[i];
        op->key = w + ((const unsigned char *)op->key - job->bytes);
        if (op->val != NULL)
            op->val = w + ((const unsigned char *)op->val - job->bytes);
    }
    w += job->used;
    *ops_out = ops;
    *n_out = n;
    *bytes_out = bytes;
    *size_out = size;
    e->snap.bytes = (size_t)(w - bytes);
    return ATP_OK;
}

/* The records' bytes while the store holds them (write_owned). */
typedef struct snap_bytes {
    unsigned char *p;
    size_t size;
} snap_bytes;

static void snap_bytes_release(void *owner)
{
    snap_bytes *b = owner;
    bigmem_free(b->p, b->size);
    free(b);
}

/* Submit the records, without a copy when the store can take them. */
static atp_err snap_submit(engine *e, const engine_record_op *ops, size_t n,
                           unsigned char *bytes, size_t size)
{
    snap_bytes *b = e->persist.write_owned ? malloc(sizeof *b) : NULL;
    if (b != NULL) {
        *b = (snap_bytes){bytes, size};
        atp_err err =
            e->persist.write_owned(e->persist.ctx, ops, n, snap_bytes_release,
                                   b, engine__snapshot_done_cb, e);
        if (err == ATP_OK)
            return ATP_OK; /* bytes are the store's until released */
        free(b);
        bigmem_free(bytes, size);
        return err;
    }
    atp_err err =
        e->persist.write(e->persist.ctx, ops, n, engine__snapshot_done_cb, e);
    bigmem_free(bytes, size);
    return err;
}

static void snap_write_job(engine *e, engine_snap_job *job)
{
    int64_t cpu0 = snap_thread_cpu_ns();
    engine_record_op *ops = NULL;
    unsigned char *bytes = NULL;
    size_t n = 0, size = 0;
    atp_err err = job->failed ? ATP_E_NOMEM
                              : snap_format(e, job, &ops, &n, &bytes, &size);
    /* The position copies are records now: give their memory back before
     * the store takes the records. */
    bigmem_free(job->pos, job->pos_cap * sizeof *job->pos);
    job->pos = NULL;
    if (err == ATP_OK) {
        e->snap.records = n;
        e->snap.write_cpu_ns = snap_thread_cpu_ns() - cpu0;
        err = snap_submit(e, ops, n, bytes, size);
        bigmem_free(ops, (n ? n : 1) * sizeof *ops);
    }
    engine__snap_job_free(job); /* its lots and offsets were copied */
    if (err != ATP_OK) {
        log_error("engine", "snapshot not written: %s", atp_err_message(err));
        engine__snapshot_done_cb(e, err); /* the next one writes everything */
    }
}

static void *snap_writer_main(void *arg)
{
    thread_name("atp:snapshot");
    engine *e = arg;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                    ENGINE_SNAP_NICE) != 0)
        log_debug("engine", "snapshot writer keeps the normal priority");
    pthread_mutex_lock(&e->snap.w.mu);
    for (;;) {
        while (e->snap.w.job == NULL && !e->snap.w.stop)
            pthread_cond_wait(&e->snap.w.cv, &e->snap.w.mu);
        engine_snap_job *job = e->snap.w.job;
        if (job == NULL)
            break; /* stopping, nothing handed over */
        e->snap.w.job = NULL;
        pthread_mutex_unlock(&e->snap.w.mu);
        snap_write_job(e, job);
        pthread_mutex_lock(&e->snap.w.mu);
    }
    pthread_mutex_unlock(&e->snap.w.mu);
    return NULL;
}

atp_err engine__snap_write(engine *e, engine_snap_job *job)
{
    if (!e->snap.w.started) {
        pthread_mutex_init(&e->snap.w.mu, NULL);
        pthread_cond_init(&e->snap.w.cv, NULL);
        e->snap.w.stop = false;
        if (pthread_create(&e->snap.w.thread, NULL, snap_writer_main, e) != 0) {
            pthread_mutex_destroy(&e->snap.w.mu);
            pthread_cond_destroy(&e->snap.w.cv);
            return ATP_E_NOMEM;
        }
        e->snap.w.started = true;
    }
    pthread_mutex_lock(&e->snap.w.mu);
    e->snap.w.job = job;
    pthread_cond_signal(&e->snap.w.cv);
    pthread_mutex_unlock(&e->snap.w.mu);
    return ATP_OK;
}

void engine__snap_writer_stop(engine *e)
{
    if (!e->snap.w.started)
        return;
    pthread_mutex_lock(&e->snap.w.mu);
    e->snap.w.stop = true;
    pthread_cond_signal(&e->snap.w.cv);
    pthread_mutex_unlock(&e->snap.w.mu);
    pthread_join(e->snap.w.thread, NULL);
    pthread_mutex_destroy(&e->snap.w.mu);
    pthread_cond_destroy(&e->snap.w.cv);
    e->snap.w.started = false;
}
