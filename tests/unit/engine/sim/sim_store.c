/*
 * sim_store.c - the simulation's fake store and atpd's life on it (sim.h):
 * the store holds each group commit until the simulation completes it
 * (OK, or an error while it fails) or crashes, and loses what it had not
 * acknowledged; atpd boots on what it acknowledged.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- the fake store ----------------------------------------------------- */

static sim_record *sim_store_find(sim_store *st, const void *key, size_t len)
{
    for (size_t i = 0; i < st->n_recs; i++)
        if (st->recs[i].key_len == len &&
            memcmp(st->recs[i].key, key, len) == 0)
            return &st->recs[i];
    return NULL;
}

static void sim_store_apply(sim_store *st, sim_write *w)
{
    for (size_t i = 0; i < w->n; i++) {
        sim_record *op = &w->ops[i];
        sim_record *r = sim_store_find(st, op->key, op->key_len);
        if (w->del[i]) {
            if (r != NULL) {
                free(r->val);
                *r = st->recs[--st->n_recs];
            }
            continue;
        }
        if (r == NULL) {
            if (st->n_recs == SIM_STORE_RECORDS)
                abort(); /* the sim's ids are fewer */
            r = &st->recs[st->n_recs++];
            memcpy(r->key, op->key, op->key_len);
            r->key_len = op->key_len;
        } else {
            free(r->val);
        }
        r->val = op->val;
        r->val_len = op->val_len;
        op->val = NULL;
    }
}

static void sim_write_free(sim_write *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->ops[i].val);
    w->n = 0;
}

/* engine_persist.write: copies the records and holds them until the sim
 * completes the write (sim_store_settle) or crashes. */
static atp_err sim_store_write(void *ctx, const engine_record_op *ops, size_t n,
                               void (*done)(void *arg, atp_err err), void *arg)
{
    sim_store *st = ctx;
    if (st->mode == 2) {
        st->full++;
        return ATP_E_STORE_FULL;
    }
    if (st->n_pending == SIM_STORE_PENDING ||
        n > sizeof st->pending[0].ops / sizeof st->pending[0].ops[0])
        abort(); /* one group in flight at a time: never */
    sim_write *w = &st->pending[st->n_pending++];
    w->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].db != ENGINE_DB_RESERVATIONS ||
            ops[i].key_len >= sizeof w->ops[0].key)
            abort(); /* no snapshots in stepped mode, ids are short */
        sim_record *r = &w->ops[w->n];
        memcpy(r->key, ops[i].key, ops[i].key_len);
        r->key_len = ops[i].key_len;
        w->del[w->n] = ops[i].val == NULL;
        r->val = NULL;
        r->val_len = ops[i].val_len;
        if (ops[i].val != NULL) {
            r->val = malloc(ops[i].val_len ? ops[i].val_len : 1);
            if (r->val == NULL)
                abort();
            memcpy(r->val, ops[i].val, ops[i].val_len);
        }
        w->n++;
    }
    w->done = done;
    w->arg = arg;
    st->writes++;
    return ATP_OK;
}

/* ---- the engine's life -------------------------------------------------- */

/* A new atpd on what the store holds: engine, sources, ingest core. No
 * positions or offsets are stored (no snapshots in stepped mode), so the
 * sources start from nothing, as the daemon does without a snapshot: when
 * a publisher speaks, they ask it for a replay from seq 1. */
void sim_boot(sim *s)
{
    engine_persist p = {.ctx = &s->store, .write = sim_store_write};
    if (engine_alloc(&s->cfg, &p, &s->e) != ATP_OK)
        abort();
    for (size_t i = 0; i < s->store.n_recs; i++) {
        sim_record *r = &s->store.recs[i];
        if (engine_resv_load(s->e, r->key, r->key_len, r->val, r->val_len) !=
            ATP_OK)
            abort();
    }
    if (engine_start_stepped(s->e) != ATP_OK)
        abort();
    ingest_hooks hooks = {.submit = sim_ingest_submit,
                          .request = sim_ingest_request,
                          .msg_free = free,
                          .ctx = s};
    if (sources_alloc(&s->cfg, &s->srcs) != ATP_OK ||
        ingest_core_alloc(&s->cfg, s->srcs, &hooks, &s->core) != ATP_OK)
        abort();
    memset(s->bucket, 0, sizeof s->bucket);
    memset(s->model, 0, sizeof s->model);
    ingest_core_tick(s->core, s->now);
    engine_step(s->e, s->now);
}

/* A crash: atpd goes away with whatever it had not stored, the store loses
 * the writes it had not acknowledged, the network what was in flight. */
void sim_crash(sim *s)
{
    engine_free(s->e); /* first: a batch it drops is released to ingest */
    s->e = NULL;
    ingest_core_free(s->core);
    s->core = NULL;
    sources_free(s->srcs);
    s->srcs = NULL;
    sim_net_clear(s);
    for (size_t i = 0; i < s->store.n_pending; i++)
        sim_write_free(&s->store.pending[i]);
    s->store.n_pending = 0;
}

/* Completes the store's writes (each OK, or an error while failing) until
 * none is left, stepping the engine after each; with crash, atpd crashes
 * instead while one is in flight (true: the caller restarts it). */
bool sim_store_settle(sim *s, bool crash)
{
    if (crash && s->store.n_pending > 0) {
        sim_crash(s);
        return true;
    }
    while (s->store.n_pending > 0) {
        sim_write w = s->store.pending[0];
        memmove(&s->store.pending[0], &s->store.pending[1],
                --s->store.n_pending * sizeof w);
        atp_err err = ATP_OK;
        if (s->store.mode == 1 && sim_chance(s, 70)) {
            err = ATP_E_IO;
            s->store.failed++;
            sim_write_free(&w);
        } else {
            sim_store_apply(&s->store, &w);
            sim_write_free(&w);
        }
        w.done(w.arg, err);
        engine_step(s->e, s->now);
    }
    return false;
}
