/*
 * resv_group.c - group commit of reservation changes: nothing is answered
 * before the store has written it. Engine thread only (see resv.h).
 *
 * Every change is applied at once (resv__change) and keeps a copy of the
 * record as it was before (the before-image). Changes collect in the open
 * group; when no group is in flight, the open one is handed to the store
 * (one transaction, one fsync for all of it) and a new one starts
 * collecting: under load a group holds everything that arrived during the
 * previous fsync. If the store cannot write a group, its operations are
 * undone newest first by putting the before-images back, and their callers
 * get the error; consumptions are kept and written again (resv_group_undo
 * says why).
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "engine/engine_int.h"
#include "engine/resv_int.h"

/* ---- results ------------------------------------------------------------- */

static void resv_deliver(engine *e, resv_pending *p)
{
    /* A grant counts once it is stored: a refused write changes nothing,
     * counters included; a replay is the original grant, not a new one. */
    if (p->err == ATP_OK && p->grant) {
        atomic_fetch_add_explicit(&e->resv.granted, 1, memory_order_relaxed);
        if (p->dated)
            atomic_fetch_add_explicit(&e->phased.reserves, 1,
                                      memory_order_relaxed);
        if (p->backordered > 0) {
            atomic_fetch_add_explicit(&e->resv.backorder_reserves, 1,
                                      memory_order_relaxed);
            atomic_fetch_add_explicit(&e->resv.backorder_units,
                                      (uint64_t)p->backordered,
                                      memory_order_relaxed);
        }
    }
    if (p->done == NULL)
        return;
    engine_resv_result res = {
        .err = p->err, .granted = p->granted, .replayed = p->replayed};
    engine_resv_line *lines = NULL;
    if (p->snap != NULL) {
        const resv *r = p->snap;
        lines = calloc(r->n_lines ? r->n_lines : 1, sizeof *lines);
        if (lines == NULL) {
            res.err = ATP_E_NOMEM;
        } else {
            for (uint32_t i = 0; i < r->n_lines; i++) {
                size_t len;
                lines[i].sku = dict_key(e->skus, r->lines[i].sku, &len);
                lines[i].sku_len = (uint32_t)len;
                lines[i].region = r->lines[i].region;
                lines[i].pin = r->lines[i].pin;
                lines[i].qty = r->lines[i].qty;
                lines[i].consumed = r->lines[i].consumed;
                lines[i].released = r->lines[i].released;
                lines[i].backordered = r->lines[i].backordered;
            }
            res.has_record = true;
            res.id = r->id;
            res.id_len = r->id_len;
            res.channel = r->channel;
            res.state = r->state;
            res.created_ms = r->created_ms;
            res.expires_ms = r->expires_ms;
            res.updated_ms = r->updated_ms;
            res.order_ref = r->order_ref;
            res.promise_ms = r->promise_ms;
            res.dated = engine__phased_counts(e, r->promise_ms);
            res.lines = lines;
            res.n_lines = r->n_lines;
        }
    }
    if (res.err == ATP_E_STORE_FULL)
        res.message = "storage full: the change was not stored and not applied";
    else if (res.err == ATP_E_IO)
        res.message =
            "storage error: the change was not stored and not applied";
    p->done(p->arg, &res);
    free(lines);
}

static void resv_pending_fini(resv_pending *p)
{
    resv__free(p->snap);
    resv__free(p->before);
    free(p->key);
    free(p->val);
}

static void resv_group_clear(resv_group *g)
{
    for (size_t i = 0; i < g->n; i++)
        resv_pending_fini(&g->items[i]);
    g->n = 0;
    g->n_writes = 0;
}

void resv__group_fini(resv_group *g)
{
    resv_group_clear(g);
    free(g->items);
    *g = (resv_group){0};
}

/* Answer an operation that changed nothing and depends on nothing in
 * flight: at once. */
void resv__reply_now(engine *e, const engine_resv_req *req, atp_err err,
                     const resv *snap, bool granted, bool replayed)
{
    resv_pending p = {.done = req->done,
                      .arg = req->arg,
                      .err = err,
                      .granted = granted,
                      .replayed = replayed,
                      .snap = (resv *)snap};
    resv_deliver(e, &p);
}

static resv_pending *resv_group_push(resv_group *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        resv_pending *n = realloc(g->items, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        g->items = n;
        g->cap = cap;
    }
    resv_pending *p = &g->items[g->n++];
    memset(p, 0, sizeof *p);
    return p;
}

/* Queue the reply of an operation that read a record: it must not be
 * answered before the write it reads from (if any) is durable. */
void resv__reply_after_writes(engine *e, const engine_resv_req *req,
                              atp_err err, const resv *r, bool granted,
                              bool replayed)
{
    resv_table *t = &e->resv;
    if (t->open.n == 0 && !t->inflight_busy) {
        resv__reply_now(e, req, err, r, granted, replayed);
        return;
    }
    resv_pending *p = resv_group_push(&t->open);
    resv *snap = r ? resv__clone(r) : NULL;
    if (p == NULL || (r != NULL && snap == NULL)) {
        if (p != NULL)
            t->open.n--;
        resv__free(snap);
        resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return;
    }
    *p = (resv_pending){.done = req->done,
                        .arg = req->arg,
                        .err = err,
                        .granted = granted,
                        .replayed = replayed,
                        .snap = snap};
}

/* Apply a change (cur -> next) now and queue its write and its reply.
 * next may be NULL (purge). done may be NULL (expiry, consumption).
 * Returns the queued write, NULL when it was refused for memory. */
resv_pending *resv__change(engine *e, const engine_resv_req *req, resv *cur,
                           resv *next, bool granted)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    const resv *r = next ? next : cur;
    resv_pending *p = resv_group_push(&t->open);
    resv *before = cur ? resv__clone(cur) : NULL;
    resv *snap = next && req && req->done ? resv__clone(next) : NULL;
    char *key = resv__strdup(r->id, r->id_len);
    size_t val_len = 0;
    unsigned char *val = next ? resv_record_encode(e, next, &val_len) : NULL;
    if (p == NULL || (cur && !before) || (next && req && req->done && !snap) ||
        key == NULL || (next && val == NULL)) {
        if (p != NULL)
            t->open.n--;
        log_error("resv", "out of memory: operation on %.*s refused",
                  (int)r->id_len, r->id); /* before r (next) is freed */
        resv__free(before);
        resv__free(snap);
        resv__free(next);
        free(key);
        free(val);
        if (req != NULL && req->done != NULL)
            resv__reply_now(e, req, ATP_E_NOMEM, NULL, false, false);
        return NULL;
    }
    *p = (resv_pending){
        .done = req ? req->done : NULL,
        .arg = req ? req->arg : NULL,
        .err = ATP_OK,
        .granted = granted,
        .grant = granted && cur == NULL,
        .snap = snap,
        .key = key,
        .key_len = next ? next->id_len : cur->id_len,
        .before = before,
        .wrote = true,
        .val = val,
        .val_len = val_len,
    };
    t->open.n_writes++;
    resv__replace(e, cur, next);
    return p;
}

/* ---- group commit -------------------------------------------------------- */

static void resv_store_done(void *arg, atp_err err)
{
    engine *e = arg;
    engine_cmd cmd = {.type = ENGINE_CMD_GROUP_DONE, .err = err};
    /* The engine queue is never closed while a group is in flight (engine
     * stop waits for it), so this push cannot fail. */
    queue_push(&e->q, &cmd);
}

static void resv_group_answer(engine *e, resv_group *g, atp_err err)
{
    for (size_t i = 0; i < g->n; i++) {
        if (err != ATP_OK)
            g->items[i].err = err;
        resv_deliver(e, &g->items[i]);
    }
    resv_group_clear(g);
}

/* Only consumptions change a line's consumed quantity, and they are kept:
 * an older operation's before-image takes over what was consumed since
 * (released only grows, so consumed + released stays within qty), with the
 * keys of those consumptions (marks only grow). */
static void resv_carry_consumed(resv *before, const resv *cur)
{
    for (uint32_t i = 0; i < before->n_lines && i < cur->n_lines; i++) {
        resv_line *b = &before->lines[i];
        const resv_line *c = &cur->lines[i];
        if (b->sku == c->sku && b->region == c->region &&
            c->consumed > b->consumed)
            b->consumed = c->consumed;
    }
    for (uint32_t i = 0; i < cur->n_marks; i++) {
        const resv_mark *m = &cur->marks[i];
        if (!resv_mark_raise(before, m->src, m->seq, m->event))
            log_error("resv",
                      "out of memory: %.*s may consume a resent allocation "
                      "again after a restart",
                      (int)cur->id_len, cur->id);
    }
}

/* Undo a group's changes, newest first. A consumption is not undone: the
 * source's allocation it answers is applied and stays applied, so undoing
 * it would subtract the same units twice (reserved and allocated) until the
 * reservation expired; an older operation undone on the same record keeps
 * what was consumed. resv_group_rewrite writes such records again. */
bool resv__pin_undoable_at(const engine *e, uint32_t location)
{
    const resv_group *groups[] = {&e->resv.open, &e->resv.inflight};
    for (size_t k = 0; k < 2; k++) {
        const resv_group *g = groups[k];
        for (size_t i = 0; i < g->n; i++) {
            const resv_pending *p = &g->items[i];
            if (!p->wrote || p->keep || p->before == NULL)
                continue;
            for (uint32_t j = 0; j < p->before->n_lines; j++) {
                const resv_line *l = &p->before->lines[j];
                if (l->pin == location + 1 && resv__line_open(p->before, l) > 0)
                    return true;
            }
        }
    }
    return false;
}

static void resv_group_undo(engine *e, resv_group *g)
{
    for (size_t i = g->n; i-- > 0;) {
        resv_pending *p = &g->items[i];
        if (!p->wrote || p->keep)
            continue;
        resv *cur = resv__find(&e->resv, p->key, p->key_len);
        if (cur != NULL && p->before != NULL)
            resv_carry_consumed(p->before, cur);
        resv__replace(e, cur, p->before);
        p->before = NULL;
    }
}

/* The ids of g's consumptions (NULL-ended, owned), to write again once g
 * is answered; NULL when there are none or memory is short (then they are
 * logged as not stored). */
static char **resv_group_kept(const resv_group *g1, const resv_group *g2)
{
    const resv_group *gs[2] = {g1, g2};
    size_t n = 0;
    for (int g = 0; g < 2; g++)
        for (size_t i = 0; gs[g] != NULL && i < gs[g]->n; i++)
            n += gs[g]->items[i].keep;
    if (n == 0)
        return NULL;
    char **ids = calloc(n + 1, sizeof *ids);
    size_t k = 0;
    for (int g = 0; g < 2 && ids != NULL; g++)
        for (size_t i = 0; gs[g] != NULL && i < gs[g]->n; i++) {
            const resv_pending *p = &gs[g]->items[i];
            if (!p->keep)
                continue;
            size_t j = 0; /* once per record: it is written as it is now */
            while (j < k && !(strlen(ids[j]) == p->key_len &&
                              memcmp(ids[j], p->key, p->key_len) == 0))
                j++;
            if (j == k && (ids[k] = resv__strdup(p->key, p->key_len)) != NULL)
                k++;
        }
    if (ids == NULL)
        log_error("resv", "out of memory: %zu consumptions not written again",
                  n);
    return ids;
}

/* Queue the current state of each kept record for the next group. Not
 * while stopping: a store that keeps failing would hold the stop forever;
 * the record stays as it was stored, and the log says so. */
static void resv_group_rewrite(engine *e, char **ids)
{
    for (size_t i = 0; ids != NULL && ids[i] != NULL; i++) {
        if (e->resv.stopping) {
            log_error("resv",
                      "stopping: consumption of %s not stored; until "
                      "it expires, its reservation also holds what the source "
                      "allocated",
                      ids[i]);
            free(ids[i]);
            continue;
        }
        resv *cur = resv__find(&e->resv, ids[i], strlen(ids[i]));
        resv *same = cur != NULL ? resv__clone(cur) : NULL;
        if (same != NULL) {
            /* An equal copy; never mark_only, even for a held record's
             * mark: a snapshot may wait for it, which is never wrong. */
            resv_pending *p = resv__change(e, NULL, cur, same, false);
            if (p != NULL)
                p->keep = true;
        } else if (cur != NULL) {
            log_error("resv",
                      "out of memory: consumption of %s not written again",
                      ids[i]);
        }
        free(ids[i]);
    }
    free(ids);
}

/* Only consumptions written again, and the store failed less than
 * RESV_RETRY_MS ago: they wait for the retry time (resv_tick wakes the
 * engine then) instead of failing in a loop while the disk is full. */
static bool resv_group_wait_retry(const resv_table *t, int64_t now)
{
    if (t->stopping || t->retry_after_ms == 0 || now >= t->retry_after_ms)
        return false;
    for (size_t i = 0; i < t->open.n; i++)
        if (!t->open.items[i].keep)
            return false;
    return true;
}

void resv_flush(engine *e)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    if (t->inflight_busy || t->open.n == 0 ||
        resv_group_wait_retry(t, e->now_ms))
        return;
    if (t->open.n_writes == 0 || e->persist.write == NULL) {
        t->gen_durable = ++t->gen_flushed;
        resv_group_answer(e, &t->open, ATP_OK); /* nothing to wait for */
        engine__snapshot_barrier(e, false);
        return;
    }
    engine_record_op *ops = calloc(t->open.n_writes, sizeof *ops);
    if (ops == NULL) {
        char **kept = resv_group_kept(&t->open, NULL);
        resv_group_undo(e, &t->open);
        resv_group_answer(e, &t->open, ATP_E_NOMEM);
        resv_group_rewrite(e, kept);
        t->retry_after_ms = e->now_ms + RESV_RETRY_MS;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->open.n; i++) {
        resv_pending *p = &t->open.items[i];
        if (p->wrote)
            ops[k++] = (engine_record_op){ENGINE_DB_RESERVATIONS, p->key,
                                          p->key_len, p->val, p->val_len};
    }
    /* Swap: the open group goes in flight, the (empty) old one collects. */
    ATP_ASSERT(t->inflight.n == 0); /* answered when it was stored */
    resv_group tmp = t->inflight;
    t->inflight = t->open;
    t->open = tmp;
    t->inflight_busy = true;
    t->gen_flushed++;
    atp_err err = e->persist.write(e->persist.ctx, ops, k, resv_store_done, e);
    free(ops);
    if (err != ATP_OK)
        resv_group_done(e, err);
}

void resv_group_done(engine *e, atp_err err)
{
    ATP_ASSERT_OWNER(&e->owner);
    resv_table *t = &e->resv;
    ATP_ASSERT(t->inflight_busy); /* one completion per group handed over */
    t->inflight_busy = false;
    if (err == ATP_OK) {
        /* Hand the next group to the store before answering this one, so
         * its fsync runs while we write the replies, not after them. What
         * is answered here is durable and no longer in flight: a failure
         * of the next group cannot touch it. */
        ATP_ASSERT(t->durable.n == 0);
        resv_group tmp = t->durable;
        t->durable = t->inflight;
        t->inflight = tmp;
        t->gen_durable = t->gen_flushed;
        resv_flush(e);
        resv_group_answer(e, &t->durable, ATP_OK);
        engine__snapshot_barrier(e, false);
        return;
    }
    /* The open group was decided on top of the failed one: undo both,
     * newest first, and refuse them all (consumptions are kept and written
     * again: they are not counted as refused). */
    size_t refused = 0;
    for (size_t i = 0; i < t->open.n; i++)
        refused += !t->open.items[i].keep;
    for (size_t i = 0; i < t->inflight.n; i++)
        refused += !t->inflight.items[i].keep;
    atomic_fetch_add_explicit(&t->store_failures, refused,
                              memory_order_relaxed);
    log_error("resv", "store write failed (%s): %zu operations refused%s",
              atp_err_message(err), refused,
              refused < t->open.n + t->inflight.n ? ", consumptions kept" : "");
    char **kept = resv_group_kept(&t->inflight, &t->open);
    resv_group_undo(e, &t->open);
    resv_group_undo(e, &t->inflight);
    resv_group_answer(e, &t->inflight, err);
    resv_group_answer(e, &t->open, err);
    resv_group_rewrite(e, kept); /* consumptions stay applied: store them */
    t->retry_after_ms = e->now_ms + RESV_RETRY_MS;
    engine__snapshot_barrier(e, true);
}

/* A held record's mark (mark_only) is not waited for: a snapshot whose
 * cut is past the event carries the source's offset past it, so after a
 * kill -9 the event is never resent (the ingest drops it as a duplicate),
 * and a commit after the restart marks the record at that offset, which
 * covers the event. The mark matters only while the stored offset is below
 * the event, that is without such a snapshot: a barrier would add nothing
 * and make the snapshot wait for a write. */
uint64_t resv_consumptions_gen(const resv_table *t)
{
    for (size_t i = 0; i < t->open.n; i++)
        if (t->open.items[i].keep && !t->open.items[i].mark_only)
            return t->gen_flushed + 1;
    for (size_t i = 0; t->inflight_busy && i < t->inflight.n; i++)
        if (t->inflight.items[i].keep && !t->inflight.items[i].mark_only)
            return t->gen_flushed;
    return 0;
}

void resv_fail_all(engine *e, atp_err err)
{
    resv_table *t = &e->resv;
    resv_group_undo(e, &t->open);
    resv_group_answer(e, &t->open, err);
}
