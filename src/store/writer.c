/*
 * writer.c - the store's two threads (see store.h for the contract).
 *
 * Writer thread: pops queued groups in order. Without the log it commits
 * everything popped in one LMDB transaction (group commit). With the log,
 * consecutive reservation groups are encoded into one buffer, written with
 * one pwrite and made durable with one fdatasync, completed, and handed to
 * the applier; any other group (snapshots, barriers) goes to the applier,
 * which completes it: a large snapshot commit never delays reservations.
 *
 * Applier thread (log on only): the only thread with LMDB write
 * transactions. Applies logged groups in large transactions that also
 * record the last LSN applied; commits the other groups one by one, in
 * queue order, after the logged groups queued before them. If LMDB fails (disk
 * or map full), the logged groups stay pending and are retried every
 * STORE_APPLY_RETRY_MS; meanwhile apply_err makes the writer refuse new groups,
 * so nothing new is acknowledged that LMDB cannot take, while the logged ones
 * are never dropped.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"
#include "store/fault.h"
#include "store/store_int.h"

#define STORE_MAX_GROUPS_PER_TXN 4096
#define STORE_NOSYNC_FLUSH_MS 1000
#define STORE_LOG_BATCH_BYTES (4u << 20) /* one append at most */
#define STORE_LOG_WAIT_MS 10000          /* log full: wait for the applier */
#define STORE_APPLY_RETRY_MS 1000
/* Logged groups are applied at most this often: each LMDB commit is two
 * fdatasyncs and many page writes on the same disk as the log, and every
 * one of them delays the log's own fdatasync (the reply path). */
#define STORE_APPLY_INTERVAL_MS 50

/* The health slot of the thread running (the writer's or the applier's):
 * store_group_finish runs on both. */
static _Thread_local health_slot *store_thread_hs;

static void store_group_finish(store *s, store_group *g, atp_err err)
{
    /* A backup: everything before it is committed (err OK says so). The
     * copy takes as long as the store is large and reports no progress:
     * a known long operation, not a stuck thread (for /healthz and the
     * systemd watchdog), until the thread reports again after it. */
    if (g->backup_dir != NULL && err == ATP_OK) {
        health_long(store_thread_hs);
        err = store__backup_copy(s, g->backup_dir);
        health_busy(store_thread_hs);
    }
    atomic_fetch_add(&s->groups, 1);
    atomic_fetch_add(&s->ops, g->n);
    if (g->done != NULL)
        g->done(g->arg, err);
}

/* ---- applier thread
 * ------------------------------------------------------------ */

/* Apply the pending logged groups; on failure they stay pending. */
static atp_err store_applier_flush(store *s, store_group_list *p)
{
    size_t done = 0;
    atp_err err = ATP_OK;
    while (done < p->n) {
        size_t k = p->n - done < STORE_MAX_GROUPS_PER_TXN
                       ? p->n - done
                       : STORE_MAX_GROUPS_PER_TXN;
        uint64_t lsn = p->g[done + k - 1]->lsn;
        if ((err = store__commit(s, p->g + done, k, lsn)) != ATP_OK)
            break;
        atomic_fetch_add(&s->commits, 1);
        for (size_t i = done; i < done + k; i++)
            store__group_free(p->g[i]);
        done += k;
        atomic_store(&s->log_applied, lsn);
        pthread_mutex_lock(&s->amu);
        s->applied_lsn = lsn;
        s->apply_err = ATP_OK;
        pthread_cond_broadcast(&s->dcond);
        pthread_mutex_unlock(&s->amu);
    }
    memmove(p->g, p->g + done, (p->n - done) * sizeof *p->g);
    p->n -= done;
    pthread_mutex_lock(&s->amu);
    if (err != ATP_OK)
        s->apply_err = err;
    s->apply_tries++;
    pthread_cond_broadcast(&s->dcond);
    pthread_mutex_unlock(&s->amu);
    if (done > 0)
        store__update_usage(s);
    return err;
}

/* Process one list taken from the queue, in order. */
static void store_applier_run(store *s, store_group_list *p, store_group *list)
{
    if (s->opt.log_apply_delay_ms > 0) { /* tests: keep LMDB provably behind */
        struct timespec d = {s->opt.log_apply_delay_ms / 1000,
                             (s->opt.log_apply_delay_ms % 1000) * 1000000};
        while (nanosleep(&d, &d) != 0 && errno == EINTR) {
        }
    }
    atp_err perr = ATP_OK; /* the pending groups' state in this pass */
    bool tried = false;
    while (list != NULL) {
        store_group *g = list;
        list = g->next;
        if (g->lsn != 0) {
            while (
                !store__group_list_push(p, g)) { /* never drop a logged group */
                log_error("store", "applier: out of memory, retrying");
                struct timespec d = {0, 10000000};
                nanosleep(&d, NULL);
            }
            continue;
        }
        /* Everything logged before this group goes first. */
        if (p->n > 0 && !tried) {
            perr = store_applier_flush(s, p);
            tried = perr != ATP_OK;
        }
        /* A barrier is done: the pending groups are durable in the log. A
         * backup needs them in LMDB: it fails if they are still pending. */
        atp_err err = g->n == 0 && g->backup_dir == NULL ? ATP_OK
                      : p->n > 0                         ? perr
                      : g->n == 0                        ? ATP_OK
                                  : store__commit(s, &g, 1, 0);
        if (g->n > 0 && p->n == 0) {
            atomic_fetch_add(&s->commits, 1);
            store__update_usage(s);
        }
        store_group_finish(s, g, err);
        store__group_free(g);
    }
    if (p->n > 0 && !tried)
        store_applier_flush(s, p);
}

static void *store_applier_main(void *arg)
{
    thread_name("atp:lmdb-apply");
    health_slot *hs = health_thread_add("atp:lmdb-apply");
    store_thread_hs = hs;
    store *s = arg;
    /* Groups replayed at open that LMDB could not take yet (apply_err set). */
    store_group_list p = {s->replayed, s->n_replayed, s->n_replayed};
    s->replayed = NULL;
    s->n_replayed = 0;
    int64_t last_ms = 0; /* when logged groups were last applied */
    pthread_mutex_lock(&s->amu);
    for (;;) {
        if (s->ahead == NULL && !s->aclosing) {
            if (p.n == 0) {
                s->aidle = true;
                health_idle(hs);
                pthread_cond_wait(&s->acond, &s->amu);
                s->aidle = false;
            } else { /* failing: retry after a while */
                struct timespec ts = clock_deadline_ms(STORE_APPLY_RETRY_MS);
                pthread_cond_timedwait(&s->acond, &s->amu, &ts);
            }
        }
        /* Pace: let logged groups gather into one larger transaction. */
        while (!s->aurgent && !s->aclosing && s->apply_err == ATP_OK) {
            int64_t wait = last_ms + STORE_APPLY_INTERVAL_MS - clock_mono_ms();
            if (wait <= 0)
                break;
            struct timespec ts = clock_deadline_ms(wait);
            pthread_cond_timedwait(&s->acond, &s->amu, &ts);
        }
        s->aurgent = false;
        store_group *list = s->ahead;
        s->ahead = s->atail = NULL;
        bool closing = s->aclosing;
        pthread_mutex_unlock(&s->amu);
        health_busy(hs);
        if (list != NULL || p.n > 0) {
            store_applier_run(s, &p, list);
            last_ms = clock_mono_ms();
        }
        pthread_mutex_lock(&s->amu);
        if (closing && s->ahead == NULL)
            break;
    }
    pthread_mutex_unlock(&s->amu);
    if (p.n > 0)
        log_warn("store",
                 "%zu logged groups not applied to LMDB at shutdown: "
                 "the next start replays them from the log",
                 p.n);
    for (size_t i = 0; i < p.n; i++)
        store__group_free(p.g[i]);
    free(p.g);
    health_thread_remove(hs); /* its slot is free for the next store */
    return NULL;
}

/* ---- writer thread
 * ---------------------------------------------------------------- */

static void store_applier_push(store *s, store_group *first, store_group *last)
{
    pthread_mutex_lock(&s->amu);
    if (first->lsn == 0)
        s->aurgent = true; /* someone waits for this one's commit */
    last->next = NULL;
    if (s->atail != NULL)
        s->atail->next = first;
    else
        s->ahead = first;
    s->atail = last;
    /* Wake the applier only if it sleeps with nothing to do or someone
     * waits: otherwise its pacing timer picks the group up, and a wake per
     * append would cost a context switch per fdatasync for nothing. */
    bool wake = s->aidle || s->aurgent;
    pthread_mutex_unlock(&s->amu);
    if (wake)
        pthread_cond_signal(&s->acond);
}

/* The applier's state for a new group. While it fails, ask it to try
 * again now (space may be back) and wait for that one attempt. */
static atp_err store_writer_apply_state(store *s)
{
    pthread_mutex_lock(&s->amu);
    if (s->apply_err != ATP_OK) {
        uint64_t tries = s->apply_tries;
        struct timespec ts = clock_deadline_ms(STORE_APPLY_RETRY_MS);
        s->aurgent = true;
        pthread_cond_signal(&s->acond);
        int rc = 0;
        while (s->apply_tries == tries && s->apply_err != ATP_OK && rc == 0)
            rc = pthread_cond_timedwait(&s->dcond, &s->amu, &ts);
    }
    atp_err err = s->apply_err;
    pthread_mutex_unlock(&s->amu);
    return err;
}

/* An LMDB group (or a barrier) with the log on: the applier commits it
 * after everything queued before it, and completes it. */
static void store_writer_lmdb(store *s, store_group *g)
{
    atp_err err = g->n > 0 ? store_writer_apply_state(s) : ATP_OK;
    if (err == ATP_OK) {
        store_applier_push(s, g, g);
        return;
    }
    store_group_finish(s, g, err);
    store__group_free(g);
}

/* Make room for total bytes: reuse the log from offset 0 (a new cycle,
 * with a new epoch) once LMDB has applied everything in it; after a failed
 * append or a replay LMDB could not take, wait for that first. Timing out
 * while LMDB is merely behind (not failing) is ATP_E_BUSY. */
static atp_err store_writer_space(store *s, size_t total)
{
    if (!s->log_uncertain && s->log.wpos + total <= s->log.size)
        return ATP_OK;
    atomic_fetch_add(&s->log_waits, 1);
    struct timespec ts = clock_deadline_ms(
        s->opt.log_wait_ms > 0 ? s->opt.log_wait_ms : STORE_LOG_WAIT_MS);
    pthread_mutex_lock(&s->amu);
    s->aurgent = true;
    pthread_cond_signal(&s->acond);
    int rc = 0;
    while (s->applied_lsn < s->written_lsn && s->apply_err == ATP_OK && rc == 0)
        rc = pthread_cond_timedwait(&s->dcond, &s->amu, &ts);
    atp_err err = s->applied_lsn >= s->written_lsn ? ATP_OK
                  : s->apply_err != ATP_OK         ? s->apply_err
                                                   : ATP_E_BUSY;
    pthread_mutex_unlock(&s->amu);
    if (err != ATP_OK) {
        log_warn("store",
                 "reservation log full and LMDB behind: group refused (%s)",
                 atp_err_message(err));
        return err;
    }
    store__log_rewind(&s->log);
    s->log_uncertain = false;
    atomic_store(&s->log_used, 0);
    return ATP_OK;
}

/* Consecutive reservation groups g[0..n): one append, one fdatasync. */
static void store_writer_log(store *s, store_group **g, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += g[i]->log_len;
    size_t total = store__log_padded(bytes); /* whole pages: see store_int.h */
    if (total > s->log.size) { /* larger than the whole log: LMDB it is */
        for (size_t i = 0; i < n; i++)
            store_writer_lmdb(s, g[i]);
        return;
    }
    atp_err err = store_writer_apply_state(s);
    if (err == ATP_OK)
        err = store_writer_space(s, total);
    if (err == ATP_OK && total > s->buf_cap) {
        unsigned char *b = realloc(s->buf, total);
        if (b == NULL)
            err = ATP_E_NOMEM;
        else {
            s->buf = b;
            s->buf_cap = total;
        }
    }
    if (err == ATP_OK) {
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            g[i]->lsn = s->log.next_lsn + i;
            store__log_encode(s->buf + off, s->log.epoch, g[i]->lsn, g[i]->ops,
                              g[i]->n);
            off += g[i]->log_len;
        }
        memset(s->buf + off, 0, total - off);
        err = store__log_append(&s->log, s->buf, total);
        if (err == ATP_OK) {
            s->log.next_lsn += n;
            atomic_store(&s->log_used, s->log.wpos);
            s->written_lsn = g[n - 1]->lsn;
            atomic_fetch_add(&s->log_appends, 1);
            atomic_fetch_add(&s->log_groups, n);
        } else {
            s->log_uncertain = true; /* voided, but some may be on disk */
            atomic_fetch_add(&s->failures, 1);
        }
    }
    for (size_t i = 0; i < n; i++)
        store_group_finish(s, g[i], err);
    if (err == ATP_OK) {
        for (size_t i = 0; i + 1 < n; i++)
            g[i]->next = g[i + 1];
        store_applier_push(s, g[0], g[n - 1]);
    } else {
        for (size_t i = 0; i < n; i++)
            store__group_free(g[i]);
    }
}

static void store_writer_logged(store *s, store_group **batch, size_t n)
{
    for (size_t i = 0; i < n;) {
        store_group *g = batch[i];
        if (g->loggable) {
            size_t j = i + 1, bytes = g->log_len;
            while (j < n && batch[j]->loggable &&
                   bytes + batch[j]->log_len <= STORE_LOG_BATCH_BYTES)
                bytes += batch[j++]->log_len;
            store_writer_log(s, batch + i, j - i);
            i = j;
        } else {
            store_writer_lmdb(s, g);
            i++;
        }
    }
}

/* Without the log: everything popped in one LMDB transaction. */
static void store_writer_direct(store *s, store_group **batch, size_t n)
{
    atp_err err = store__commit(s, batch, n, 0);
    atomic_fetch_add(&s->commits, 1);
    for (size_t i = 0; i < n; i++) {
        store_group_finish(s, batch[i], err);
        store__group_free(batch[i]);
    }
    store__update_usage(s);
}

static void *store_writer_main(void *arg)
{
    thread_name("atp:log-write");
    health_slot *hs = health_thread_add("atp:log-write");
    store_thread_hs = hs;
    store *s = arg;
    store_group **batch = s->batch; /* allocated by store_start */
    bool nosync = s->opt.sync == STORE_NOSYNC;
    for (;;) {
        size_t n = 0;
        health_idle(hs);
        atp_err perr =
            queue_pop(&s->q, &batch[0], nosync ? STORE_NOSYNC_FLUSH_MS : -1);
        health_busy(hs);
        if (perr == ATP_E_BAD_STATE)
            break;
        if (perr == ATP_OK) {
            n = 1;
            /* Everything already queued joins this write. */
            while (n < STORE_MAX_GROUPS_PER_TXN &&
                   queue_pop(&s->q, &batch[n], 0) == ATP_OK)
                n++;
            if (s->log_on)
                store_writer_logged(s, batch, n);
            else
                store_writer_direct(s, batch, n);
        }
        if (nosync &&
            clock_mono_ms() - s->last_flush_ms >= STORE_NOSYNC_FLUSH_MS) {
            if (s->env != NULL) /* NULL: a reopen failed, see store__commit */
                mdb_env_sync(s->env, 1);
            s->last_flush_ms = clock_mono_ms();
        }
    }
    health_thread_remove(hs);
    return NULL;
}

/* ---- public
 * --------------------------------------------------------------------- */

atp_err store_start(store *s)
{
    ATP_ASSERT(s != NULL && !s->running); /* started once */
    s->last_flush_ms = clock_mono_ms();
    /* Everything the writer needs is allocated here, before it runs: a
     * writer that failed later would leave groups queued with nobody to
     * write them, after store_start said yes. */
    s->batch = store__fault(STORE_FAULT_ALLOC)
                   ? NULL
                   : malloc(STORE_MAX_GROUPS_PER_TXN * sizeof *s->batch);
    if (s->batch == NULL) {
        log_error("store", "cannot start the writer: out of memory");
        return ATP_E_NOMEM;
    }
    if (s->log_on) {
        if (pthread_create(&s->applier, NULL, store_applier_main, s) != 0)
            return ATP_E_NOMEM;
        s->applier_running = true;
    }
    if (pthread_create(&s->thread, NULL, store_writer_main, s) != 0)
        return ATP_E_NOMEM;
    s->running = true;
    return ATP_OK;
}

atp_err store_submit(store *s, const store_op *ops, size_t n,
                     store_done_fn done, void *arg)
{
    ATP_ASSERT(s != NULL && (ops != NULL || n == 0) && done != NULL);
    for (size_t i = 0; i < n; i++)
        ATP_DASSERT(ops[i].db < STORE_DB_COUNT);
    store_group *g = store__group_new(ops, n, done, arg);
    if (g == NULL)
        return ATP_E_NOMEM;
    atp_err err = queue_push(&s->q, &g);
    if (err != ATP_OK)
        free(g);
    return err;
}

atp_err store_submit_owned(store *s, store_op *ops, size_t n,
                           void (*release)(void *owner), void *owner,
                           store_done_fn done, void *arg)
{
    ATP_ASSERT(s != NULL && (ops != NULL || n == 0) && release != NULL &&
               done != NULL);
    for (size_t i = 0; i < n; i++)
        ATP_DASSERT(ops[i].db < STORE_DB_COUNT);
    store_group *g = store__group_own(ops, n, release, owner, done, arg);
    if (g == NULL)
        return ATP_E_NOMEM;
    atp_err err = queue_push(&s->q, &g);
    if (err != ATP_OK)
        free(g); /* not taken: the caller keeps ops */
    return err;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    queue_close(&s->q); /* the writer finishes what is queued, then exits */
    if (s->running)
        pthread_join(s->thread, NULL);
    if (s->applier_running) { /* then the applier applies what it has */
        pthread_mutex_lock(&s->amu);
        s->aclosing = true;
        pthread_cond_signal(&s->acond);
        pthread_mutex_unlock(&s->amu);
        pthread_join(s->applier, NULL);
    }
    int rc = s->opt.read_only ? 0
             : s->env == NULL ? EIO
                              : mdb_env_sync(s->env, 1);
    if (rc != 0)
        log_warn("store", "mdb_env_sync at shutdown: %s%s", mdb_strerror(rc),
                 s->log_on ? " (the reservation log is kept: the next start "
                             "replays it)"
                           : "");
    /* All applied and synced: the next start has nothing to replay. */
    if (s->log_on && rc == 0 && s->applied_lsn >= s->written_lsn &&
        store__log_clear(&s->log) != ATP_OK)
        log_warn("store", "reservation log not cleared: replayed (harmlessly) "
                          "at the next start");
    store__log_close(&s->log);
    for (size_t i = 0; i < s->n_replayed; i++) /* never started */
        store__group_free(s->replayed[i]);
    free(s->replayed);
    if (s->env != NULL)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0) /* last: the directory is free once all is shut */
        close(s->lock_fd);
    queue_fini(&s->q);
    pthread_mutex_destroy(&s->envmu);
    pthread_mutex_destroy(&s->amu);
    pthread_cond_destroy(&s->acond);
    pthread_cond_destroy(&s->dcond);
    free(s->buf);
    free(s->batch);
    free(s->dir);
    free(s->hist);
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
        .log_appends = atomic_load(&m->log_appends),
        .log_groups = atomic_load(&m->log_groups),
        .log_applied = atomic_load(&m->log_applied),
        .log_waits = atomic_load(&m->log_waits),
        .log_replayed = atomic_load(&m->log_replayed),
        .env_reopens = atomic_load(&m->reopens),
        .log_present = m->log_on,
        .log_size = m->log_on ? m->log.size : 0,
        .log_used = m->log_on ? atomic_load(&m->log_used) : 0,
    };
    metrics_hist_read(&m->hist[STORE_HIST_SYNC], &out->log_sync);
    metrics_hist_read(&m->hist[STORE_HIST_COMMIT], &out->commit);
}
