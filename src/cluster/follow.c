/*
 * follow.c - reading the partition's stream into the warm copy: an
 * ordered consumer from the stream's first message, on the cluster
 * thread. A record's subject ends in its id in hex; a deleted
 * reservation's message is empty with the header Atp-Deleted.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/hex.h"
#include "common/log.h"

void cluster__rec_subject(const cluster *c, const char *id, size_t id_len,
                          char *buf, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = (size_t)snprintf(buf, cap, "%s.", c->subj_rec);
    for (size_t i = 0; i < id_len && n + 3 < cap; i++) {
        buf[n++] = digits[(unsigned char)id[i] >> 4];
        buf[n++] = digits[(unsigned char)id[i] & 15];
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

atp_err cluster__stream_last(cluster *c, uint64_t *seq)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
    if (s != NATS_OK)
        return ATP_E_TRANSPORT;
    *seq = si->State.LastSeq;
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
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    natsStatus s =
        js_SubscribeSync(&c->sub, c->js, c->subj_all, NULL, &so, &jerr);
    if (s != NATS_OK) {
        log_warn("cluster", "cannot follow stream %s: %s (%d)", c->stream,
                 natsStatus_GetText(s), (int)jerr);
        c->sub = NULL;
        return ATP_E_TRANSPORT;
    }
    /* The copy is rebuilt from the stream's start. */
    cluster__copy_free(&c->copy);
    c->applied_seq = 0;
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
    const char *subj = natsMsg_GetSubject(m);
    size_t pre = strlen(c->subj_rec);
    if (strncmp(subj, c->subj_rec, pre) != 0 || subj[pre] != '.')
        return; /* the takeover marker */
    const char *hex = subj + pre + 1;
    size_t hex_len = strlen(hex);
    char id[256];
    size_t id_len = hex_len / 2;
    if (hex_len % 2 != 0 || id_len > sizeof id) {
        log_warn("cluster", "stream %s: subject %.200s is no record", c->stream,
                 subj);
        return;
    }
    for (size_t i = 0; i < id_len; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return;
        id[i] = (char)(hi << 4 | lo);
    }
    const char *del = NULL;
    if (natsMsgHeader_Get(m, "Atp-Deleted", &del) == NATS_OK ||
        natsMsg_GetDataLength(m) == 0) {
        cluster__copy_del(&c->copy, id, id_len);
        return;
    }
    if (cluster__copy_put(&c->copy, id, id_len, natsMsg_GetData(m),
                          (size_t)natsMsg_GetDataLength(m)) != ATP_OK)
        log_error("cluster", "out of memory: the warm copy misses a record");
}

void cluster__follow_read(cluster *c, int64_t wait_ms)
{
    if (c->sub == NULL && cluster__follow_start(c) != ATP_OK)
        return;
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, c->sub, wait_ms);
        if (s != NATS_OK)
            return; /* timeout: nothing more for now */
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            cluster_apply(c, m);
            c->applied_seq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(m);
        wait_ms = 1; /* drain what is there, then return */
    }
}
