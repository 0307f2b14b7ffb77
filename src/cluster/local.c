/*
 * local.c - the warm copy in this node's own store (docs/CLUSTER.md, "A
 * node's local copy"), so that a restarted node goes on from where its
 * store is instead of reading the partition's whole stream.
 *
 * The store's reservations are the copy; its meta record
 * `cluster:<stream>` (16 bytes: the stream sequence the records reach,
 * u64 LE, and the stream's creation time in ns, i64 LE) says how far.
 * The records hold at least every change up to that sequence and maybe
 * later ones (an owner's own writes): reading the stream on from it gives
 * the same copy, since every record of the stream is a whole record.
 *
 * A standby writes what changed once a second, a taking-over node before
 * it serves; both wait for the store. At start (cluster_seed) the copy is
 * what the store has, and it goes on from the meta record's sequence only
 * when the stream is the same one and still holds the next message;
 * otherwise the copy is read from the stream's start and the records the
 * store had are deleted unless the stream brings them back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/done_wait.h"
#include "common/log.h"

#define CLUSTER_META_PREFIX "cluster:"
#define CLUSTER_META_LEN 16
/* Records per store write: renewals go on between them (a takeover). */
#define CLUSTER_LOCAL_SLICE 20000

static void local_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t local_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool cluster_seed(void *arg, const void *key, size_t key_len, const void *val,
                  size_t val_len)
{
    cluster *c = arg;
    if (key_len == 0 || key_len > 0xffff || val_len == 0 ||
        cluster__copy_put(&c->copy, key, key_len, val, val_len) != ATP_OK)
        c->seed_foreign = true; /* not a copy to go on from */
    return true;
}

bool cluster_seed_meta(void *arg, const void *key, size_t key_len,
                       const void *val, size_t val_len)
{
    cluster *c = arg;
    size_t plen = sizeof CLUSTER_META_PREFIX - 1;
    if (key_len < plen || memcmp(key, CLUSTER_META_PREFIX, plen) != 0)
        return true;
    if (key_len != strlen(c->meta_key) ||
        memcmp(key, c->meta_key, key_len) != 0 || val_len != CLUSTER_META_LEN) {
        /* another stream's (this node served another partition): the
         * records are not this stream's alone; its position is deleted
         * at the next write */
        c->seed_foreign = true;
        if (c->n_foreign < CLUSTER_FOREIGN_MAX && key_len < 200) {
            memcpy(c->foreign[c->n_foreign], key, key_len);
            c->foreign_len[c->n_foreign++] = key_len;
        }
        return true;
    }
    c->seed_meta = true;
    c->seed_seq = local_get_u64(val);
    c->seed_created = (int64_t)local_get_u64((const unsigned char *)val + 8);
    return true;
}

bool cluster__seed_check(cluster *c)
{
    if (c->seed_checked)
        return true;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr) != NATS_OK)
        return false; /* asked again at the next tick */
    uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    c->stream_created = si->Created;
    jsStreamInfo_Destroy(si);
    const char *why = c->seed_foreign ? "records of another stream"
                      : !c->seed_meta ? "no position recorded"
                      : c->seed_created != c->stream_created
                          ? "the stream was made again"
                      : c->seed_seq > last ? "ahead of the stream"
                      : first > c->seed_seq + 1
                          ? "the stream no longer has the messages after it"
                          : NULL;
    if (why == NULL) {
        c->applied_seq = c->local_seq = c->seed_seq;
        log_info("cluster",
                 "the warm copy goes on from the local store: %zu "
                 "reservations at sequence %llu of stream %s (last %llu)",
                 c->copy.n, (unsigned long long)c->seed_seq, c->stream,
                 (unsigned long long)last);
    } else {
        if (c->copy.n > 0 || c->seed_meta)
            log_info("cluster",
                     "the local store's %zu reservations are not used (%s): "
                     "the warm copy is read from stream %s",
                     c->copy.n, why, c->stream);
        /* what the store has is deleted unless the stream has it; its
         * old position first, so that a stop halfway is a reset again */
        c->meta_stale = c->seed_meta;
        cluster__copy_reset(&c->copy);
        c->applied_seq = c->local_seq = 0;
        c->seed_meta = false; /* the next write records the position */
    }
    c->copy.track = true;
    c->seed_checked = true;
    return true;
}

/* local_submit writes ops[0..n) and waits for the store. */
static atp_err local_submit(cluster *c, const engine_record_op *ops, size_t n)
{
    done_wait w;
    done_wait_init(&w);
    return done_wait_finish(
        &w, c->inner.write(c->inner.ctx, ops, n, done_wait_signal, &w));
}

/* local_forget deletes the store's position (the next start reads the
 * stream from its start and deletes what it does not bring back). */
static atp_err local_forget(cluster *c)
{
    engine_record_op del = {ENGINE_DB_META, c->meta_key, strlen(c->meta_key),
                            NULL, 0};
    return local_submit(c, &del, 1);
}

bool cluster__local_write(cluster *c, const char *why)
{
    if (!c->seed_checked)
        return false;
    if (c->copy.dirty_lost) {
        /* out of memory lost a change: the store no longer follows the
         * copy, and says so once (a restart reads the stream) */
        if (!c->local_lost && local_forget(c) == ATP_OK) {
            c->local_lost = true;
            log_error("cluster",
                      "out of memory: the local store stops following the "
                      "warm copy until a restart (which reads stream %s)",
                      c->stream);
        }
        cluster__copy_dirty_clear(&c->copy);
        return false;
    }
    if (c->meta_stale) {
        if (local_forget(c) != ATP_OK)
            return false;
        c->meta_stale = false;
    }
    size_t n = 0;
    engine_record_op *ops = cluster__copy_dirty_ops(&c->copy, &n);
    if (ops == NULL && n == 0 && c->copy.dirty_n > 0)
        return false; /* out of memory: kept for the next */
    if (n == 0 && c->local_seq == c->applied_seq && c->seed_meta &&
        c->n_foreign == 0) {
        free(ops);
        return true;
    }
    atp_err err = ATP_OK;
    /* The records in slices, the position last: a store that took only
     * some slices keeps its older position, which stays true. */
    for (size_t i = 0; err == ATP_OK && i < n; i += CLUSTER_LOCAL_SLICE) {
        size_t k = n - i < CLUSTER_LOCAL_SLICE ? n - i : CLUSTER_LOCAL_SLICE;
        err = local_submit(c, ops + i, k);
        cluster__renew_now(c);
    }
    free(ops);
    unsigned char pos[CLUSTER_META_LEN];
    local_u64(pos, c->applied_seq);
    local_u64(pos + 8, (uint64_t)c->stream_created);
    engine_record_op meta[1 + CLUSTER_FOREIGN_MAX] = {
        {ENGINE_DB_META, c->meta_key, strlen(c->meta_key), pos, sizeof pos}};
    for (size_t i = 0; i < c->n_foreign; i++) /* other streams' positions */
        meta[1 + i] = (engine_record_op){ENGINE_DB_META, c->foreign[i],
                                         c->foreign_len[i], NULL, 0};
    if (err == ATP_OK)
        err = local_submit(c, meta, 1 + c->n_foreign);
    if (err != ATP_OK) {
        log_warn("cluster",
                 "the local store did not take the warm copy (%s): %s; it "
                 "keeps its older position, from which a restart reads the "
                 "stream (a standby tries again a second later)",
                 why, atp_err_message(err));
        return false;
    }
    cluster__copy_dirty_clear(&c->copy);
    c->local_seq = c->applied_seq;
    c->seed_meta = true;
    c->n_foreign = 0;
    return true;
}

void cluster__local_tick(cluster *c, int64_t now)
{
    if (!c->seed_checked || atomic_load(&c->owner) || now < c->local_next_ms)
        return;
    c->local_next_ms = now + 1000;
    cluster__local_write(c, "a standby's");
}
