/*
 * publish.c - the persistence the engine gets in a cluster: a
 * reservation group is published to the partition's stream as one
 * message (the records of the group), fenced by the stream's expected
 * last sequence, and only then handed to the local store; the engine hears
 * done() once both took it (docs/CLUSTER.md, "Fencing"). Groups are published
 * in the order the engine wrote them, by one thread (`atp:cl-pub`): the engine
 * keeps one reservation group in flight at a time, so its order is the
 * stream's order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"

/* A group message's payload at most: NATS refuses messages beyond its
 * max_payload (1 MiB by default); a larger group goes as several. */
#define CLUSTER_MSG_MAX (512 * 1024)

/* How long one publish waits for the stream's acknowledgement before it
 * is sent again (same message id: the stream stores it once). */
#define CLUSTER_PUBLISH_WAIT_MS 1000

atp_err cluster__publish(cluster *c, const char *subject, const void *data,
                         size_t len)
{
    if (atomic_load(&c->last_seq) == 0)
        return ATP_E_NOT_OWNER; /* never unfenced: the stream has its init */
    char msg_id[96];
    snprintf(msg_id, sizeof msg_id, "%s-%llu-%llu", c->cfg->cluster.node,
             (unsigned long long)atomic_load(&c->epoch),
             (unsigned long long)atomic_fetch_add(&c->msg_counter, 1) + 1);
    /* One deadline for this message, whatever the renewals do meanwhile:
     * a stream that cannot take it (no quorum of its own, deleted) must
     * not hold the engine's group, and the process, for ever. */
    int64_t deadline =
        clock_mono_ms() + c->cfg->cluster.lease_ms + CLUSTER_NATS_GRACE_MS;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (now >= deadline || now >= atomic_load(&c->hard_until))
            return ATP_E_NOT_OWNER; /* NATS stayed silent too long */
        natsMsg *m = NULL;
        if (natsMsg_Create(&m, subject, NULL, data, (int)len) != NATS_OK)
            return ATP_E_NOMEM;
        char epoch[24];
        snprintf(epoch, sizeof epoch, "%llu",
                 (unsigned long long)atomic_load(&c->epoch));
        natsMsgHeader_Set(m, "Atp-Epoch", epoch);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = msg_id;
        po.ExpectLastSeq = atomic_load(&c->last_seq);
        po.MaxWait = CLUSTER_PUBLISH_WAIT_MS;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_PublishMsg(&pa, c->js, m, &po, &jerr);
        natsMsg_Destroy(m);
        if (s == NATS_OK && pa->Sequence > 0) {
            atomic_store(&c->last_seq, pa->Sequence);
            jsPubAck_Destroy(pa);
            atomic_fetch_add(&c->published, 1);
            return ATP_OK;
        }
        if (pa != NULL)
            jsPubAck_Destroy(pa);
        /* Fenced (another owner wrote), or an answer that no retry can
         * change: the stream is gone, or NATS takes no message this
         * large. */
        if (jerr == JSStreamWrongLastSequenceErr ||
            jerr == JSStreamNotFoundErr ||
            jerr == JSStreamMessageExceedsMaximumErr || s == NATS_OK)
            return ATP_E_NOT_OWNER;
        /* No answer (a timeout, no responders while the stream elects a
         * leader, a reconnect): send it again, after a pause when the
         * refusal came at once; the stream stores it once (the message
         * id). */
        if (clock_mono_ms() - now < 50)
            usleep(50 * 1000);
    }
}

static cluster_job *cluster_job_pop(cluster *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->head == NULL && !c->pub_stop)
        pthread_cond_wait(&c->cv, &c->mu);
    cluster_job *j = c->head;
    if (j != NULL) {
        c->head = j->next;
        if (c->head == NULL)
            c->tail = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    return j;
}

/* cluster_job_run publishes a group's reservation records (one message,
 * or several when they pass CLUSTER_MSG_MAX), then hands the whole group
 * to the local store. */
static void cluster_job_run(cluster *c, cluster_job *j)
{
    atp_err err = atomic_load(&c->owner) ? ATP_OK : ATP_E_NOT_OWNER;
    size_t cap = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->ops[i].db == ENGINE_DB_RESERVATIONS)
            cap += CLUSTER_GROUP_ENTRY(&j->ops[i]);
    char *buf = cap > 0 && err == ATP_OK ? malloc(cap) : NULL;
    if (cap > 0 && err == ATP_OK && buf == NULL)
        err = ATP_E_NOMEM;
    size_t used = 0;
    for (size_t i = 0; err == ATP_OK && i < j->n; i++) {
        const engine_record_op *op = &j->ops[i];
        if (op->db != ENGINE_DB_RESERVATIONS)
            continue;
        size_t len = CLUSTER_GROUP_ENTRY(op);
        if (used > 0 && used + len > CLUSTER_MSG_MAX) {
            err = cluster__publish(c, c->subj_group, buf, used);
            used = 0;
        }
        if (err == ATP_OK)
            used += cluster__group_put(buf + used, op);
    }
    if (err == ATP_OK && used > 0)
        err = cluster__publish(c, c->subj_group, buf, used);
    free(buf);
    if (err == ATP_OK)
        err = c->inner.write(c->inner.ctx, j->ops, j->n, j->done, j->arg);
    else
        atomic_fetch_add(&c->refused, 1);
    if (err != ATP_OK)
        j->done(j->arg, err);
    if (err == ATP_E_NOT_OWNER && atomic_load(&c->owner))
        cluster__lost(c, "the stream refused a write (another owner wrote, "
                         "or the lease ran out while NATS did not answer)");
    free(j);
}

static void *cluster_publisher_main(void *arg)
{
    cluster *c = arg;
    thread_name("atp:cl-pub");
    for (cluster_job *j; (j = cluster_job_pop(c)) != NULL;)
        cluster_job_run(c, j);
    return NULL;
}

/* The engine's write: copy the group, queue it for the publisher. */
static atp_err cluster_write(void *ctx, const engine_record_op *ops, size_t n,
                             void (*done)(void *arg, atp_err err), void *arg)
{
    cluster *c = ctx;
    bool resv = false;
    size_t bytes = sizeof(cluster_job) + n * sizeof(engine_record_op);
    for (size_t i = 0; i < n; i++) {
        resv |= ops[i].db == ENGINE_DB_RESERVATIONS;
        bytes += ops[i].key_len + (ops[i].val ? ops[i].val_len : 0);
    }
    if (!resv) /* offsets and the like: this node's own */
        return c->inner.write(c->inner.ctx, ops, n, done, arg);
    if (!atomic_load(&c->owner))
        return ATP_E_NOT_OWNER;
    cluster_job *j = malloc(bytes);
    if (j == NULL)
        return ATP_E_NOMEM;
    *j = (cluster_job){
        .ops = (engine_record_op *)(j + 1), .n = n, .done = done, .arg = arg};
    char *p = (char *)(j->ops + n);
    for (size_t i = 0; i < n; i++) {
        j->ops[i] = ops[i];
        memcpy(p, ops[i].key, ops[i].key_len);
        j->ops[i].key = p;
        p += ops[i].key_len;
        if (ops[i].val != NULL) {
            memcpy(p, ops[i].val, ops[i].val_len);
            j->ops[i].val = p;
            p += ops[i].val_len;
        }
    }
    pthread_mutex_lock(&c->mu);
    bool stopped = c->pub_stop;
    if (!stopped) {
        if (c->tail != NULL)
            c->tail->next = j;
        else
            c->head = j;
        c->tail = j;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (stopped) {
        free(j);
        return ATP_E_BUSY;
    }
    return ATP_OK;
}

static atp_err cluster_write_owned(void *ctx, const engine_record_op *ops,
                                   size_t n, void (*release)(void *owner),
                                   void *owner,
                                   void (*done)(void *arg, atp_err err),
                                   void *arg)
{
    cluster *c = ctx; /* snapshots: positions, lots, offsets; local */
    return c->inner.write_owned(c->inner.ctx, ops, n, release, owner, done,
                                arg);
}

static void cluster_stats(void *ctx, engine_store_stats *out)
{
    cluster *c = ctx;
    c->inner.stats(c->inner.ctx, out);
}

static atp_err cluster_backup(void *ctx, const char *dir,
                              void (*done)(void *arg, atp_err err), void *arg,
                              char *why, size_t why_len)
{
    cluster *c = ctx;
    return c->inner.backup(c->inner.ctx, dir, done, arg, why, why_len);
}

engine_persist cluster_persist(cluster *c)
{
    return (engine_persist){
        .ctx = c,
        .write = cluster_write,
        .write_owned = c->inner.write_owned ? cluster_write_owned : NULL,
        .stats = c->inner.stats ? cluster_stats : NULL,
        .backup = c->inner.backup ? cluster_backup : NULL};
}

atp_err cluster__publisher_start(cluster *c)
{
    if (pthread_create(&c->pub_thread, NULL, cluster_publisher_main, c) != 0)
        return ATP_E_NOMEM;
    return ATP_OK;
}

/* After engine_stop: nothing is queued any more but what is in flight. */
void cluster__publisher_stop(cluster *c)
{
    pthread_mutex_lock(&c->mu);
    c->pub_stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->pub_thread, NULL);
}
