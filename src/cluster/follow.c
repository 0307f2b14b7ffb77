/*
 * follow.c - reading the partition's stream into the warm copy: an
 * ordered consumer from the stream's first message, on the cluster
 * thread. Each group message holds the records of one group the owner
 * wrote (publish.c has the format); a deleted reservation's value is
 * absent.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/log.h"

atp_err cluster__stream_last(cluster *c, uint64_t *seq, uint64_t *msgs)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
    if (s != NATS_OK)
        return ATP_E_TRANSPORT;
    *seq = si->State.LastSeq;
    if (msgs != NULL)
        *msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return ATP_OK;
}

atp_err cluster__follow_start(cluster *c)
{
    if (c->sub != NULL)
        return ATP_OK;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Ordered = true;
    /* After a broken subscription, on from where the copy is: it holds
     * everything up to applied_seq. */
    so.Config.DeliverPolicy =
        c->applied_seq > 0 ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = c->applied_seq + 1;
    /* The server's heartbeats tell a consumer whose server died: the
     * ordered consumer is made again after two missed ones. */
    so.Config.Heartbeat = (int64_t)1000 * 1000000; /* ns */
    jsErrCode jerr = 0;
    natsStatus s =
        js_SubscribeSync(&c->sub, c->js, c->subj_all, NULL, &so, &jerr);
    if (s != NATS_OK) {
        log_warn("cluster", "cannot follow stream %s: %s (%d)", c->stream,
                 natsStatus_GetText(s), (int)jerr);
        c->sub = NULL;
        return ATP_E_TRANSPORT;
    }
    return ATP_OK;
}

void cluster__follow_stop(cluster *c)
{
    if (c->sub == NULL)
        return;
    natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    c->sub = NULL;
}

/* cluster_apply puts one stream message into the copy. */
static void cluster_apply(cluster *c, natsMsg *m)
{
    if (strcmp(natsMsg_GetSubject(m), c->subj_group) != 0)
        return; /* the takeover marker */
    if (!cluster__group_apply(&c->copy, natsMsg_GetData(m),
                              (size_t)natsMsg_GetDataLength(m)))
        log_error("cluster", "stream %s: a malformed group message skipped",
                  c->stream);
}

void cluster__follow_read(cluster *c, int64_t wait_ms)
{
    if (c->sub == NULL && cluster__follow_start(c) != ATP_OK)
        return;
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, c->sub, wait_ms);
        if (s == NATS_TIMEOUT)
            return; /* nothing more for now */
        if (s != NATS_OK) {
            /* The subscription broke (closed, a slow consumer): follow
             * again from the next sequence at the next tick. */
            log_warn("cluster",
                     "following stream %s: %s; following again from "
                     "sequence %llu",
                     c->stream, natsStatus_GetText(s),
                     (unsigned long long)c->applied_seq + 1);
            cluster__follow_stop(c);
            return;
        }
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            if (meta->Sequence.Stream > c->applied_seq) { /* once each */
                cluster_apply(c, m);
                c->applied_seq = meta->Sequence.Stream;
            }
            jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(m);
        wait_ms = 1; /* drain what is there, then return */
    }
}
