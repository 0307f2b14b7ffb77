/*
 * feed.c - the change feed across a cluster's partitions (docs/CLUSTER.md,
 * "The change feed across partitions"): a partition's owner publishes
 * every change-feed message it sends to the core NATS subject
 * `<name>.<partition>` (two tokens: outside the streams' `<name>.<p>.>`),
 * with its epoch in the header `Atp-Epoch`; every node subscribes to
 * `<name>.*` and hands the messages of the partitions it does not own to
 * the change feed, which sends them on as they are.
 *
 * The feed has its own connection (made by the partition map's thread,
 * which may block): its bursts never queue the lease's renewals or the
 * stream's writes behind them, a write waits at most
 * CLUSTER_FEED_WRITE_MS (then the message is lost and counted), it does
 * not hear its own messages (no echo), and a reconnection sends at most
 * CLUSTER_FEED_RECONNECT_BUF bytes published while it was away. Core
 * NATS drops what a slow subscriber cannot take: a subscriber finds the
 * gap in the partition's sequences and rescans.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/clock.h"
#include "common/log.h"

#define CLUSTER_FEED_WRITE_MS 200
#define CLUSTER_FEED_RECONNECT_BUF (256 * 1024)

void cluster_feed_relay(cluster *c, cluster_feed_fn fn, void *arg)
{
    c->feed_fn = fn;
    c->feed_arg = arg;
}

void cluster_feed_publish(void *arg, const void *msg, size_t len)
{
    cluster *c = arg;
    /* Only the owner's messages carry its partition's reservations; the
     * connection is published (feed_ready) before it is used here. */
    if (!atomic_load(&c->owner) || !atomic_load(&c->feed_ready))
        return;
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%llu",
             (unsigned long long)atomic_load(&c->epoch));
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, c->subj_feed, NULL, msg, (int)len) != NATS_OK ||
        natsMsgHeader_Set(m, "Atp-Epoch", epoch) != NATS_OK ||
        natsConnection_PublishMsg(c->feed_nc, m) != NATS_OK)
        atomic_fetch_add(&c->feed_lost, 1);
    natsMsg_Destroy(m);
}

/* cluster_feed_part: the index in cluster.partitions of the partition a
 * feed subject names, or -1. */
static int cluster_feed_part(const cluster *c, const char *subj)
{
    const config_cluster *k = &c->cfg->cluster;
    const char *dot = subj != NULL ? strchr(subj, '.') : NULL;
    for (size_t p = 0; dot != NULL && p < k->n_partitions; p++)
        if (strcmp(dot + 1, k->partitions[p].name) == 0)
            return (int)p;
    return -1;
}

/* cluster_feed_msg (libnats's thread): another partition's message, or
 * this node's partition's while this node does not own it. A message of
 * no configured partition, without an epoch, or from an owner older than
 * the lease map's (a deposed owner's late messages) is dropped. */
static void cluster_feed_msg(natsConnection *nc, natsSubscription *sub,
                             natsMsg *m, void *arg)
{
    (void)nc, (void)sub;
    cluster *c = arg;
    int p = cluster_feed_part(c, natsMsg_GetSubject(m));
    bool mine = p >= 0 && strcmp(c->cfg->cluster.partitions[p].name,
                                 c->cfg->cluster.partition) == 0;
    const char *ep = NULL;
    char *end = NULL;
    unsigned long long epoch = 0;
    if (p >= 0 && natsMsgHeader_Get(m, "Atp-Epoch", &ep) == NATS_OK &&
        ep != NULL)
        epoch = strtoull(ep, &end, 10);
    if (p < 0 || end == NULL || end == ep || *end != '\0' ||
        epoch < atomic_load(&c->map_epoch[p])) {
        atomic_fetch_add(&c->feed_rejected, 1);
    } else if (!(mine && atomic_load(&c->owner)) && c->feed_fn != NULL) {
        c->feed_fn(c->feed_arg, natsMsg_GetData(m),
                   (size_t)natsMsg_GetDataLength(m));
    }
    natsMsg_Destroy(m);
}

/* cluster_feed_connect makes the feed's connection; false: not now. */
static bool cluster_feed_connect(cluster *c)
{
    const config_cluster *k = &c->cfg->cluster;
    natsOptions *o = NULL;
    bool ok =
        natsOptions_Create(&o) == NATS_OK &&
        natsOptions_SetServers(o, (const char **)k->nats, (int)k->n_nats) ==
            NATS_OK &&
        natsOptions_SetName(o, k->node) == NATS_OK &&
        natsOptions_SetNoEcho(o, true) == NATS_OK &&
        natsOptions_SetWriteDeadline(o, CLUSTER_FEED_WRITE_MS) == NATS_OK &&
        natsOptions_SetReconnectBufSize(o, CLUSTER_FEED_RECONNECT_BUF) ==
            NATS_OK &&
        natsOptions_SetMaxReconnect(o, -1) == NATS_OK &&
        natsOptions_SetReconnectWait(o, 100) == NATS_OK &&
        natsOptions_SetTimeout(o, 1000) == NATS_OK &&
        natsOptions_SetPingInterval(o, 500) == NATS_OK &&
        natsOptions_SetMaxPingsOut(o, 2) == NATS_OK &&
        natsConnection_Connect(&c->feed_nc, o) == NATS_OK;
    natsOptions_Destroy(o);
    if (!ok)
        c->feed_nc = NULL;
    return ok;
}

void cluster__feed_start(cluster *c)
{
    if (c->feed_fn == NULL || c->cfg->cluster.n_partitions < 2 ||
        c->feed_sub != NULL || clock_mono_ms() < c->feed_next_ms)
        return;
    c->feed_next_ms = clock_mono_ms() + 1000;
    if (c->feed_nc == NULL && !cluster_feed_connect(c))
        return;
    atomic_store(&c->feed_ready, true);
    char all[96];
    snprintf(all, sizeof all, "%s.*", c->cfg->cluster.name);
    natsStatus s = natsConnection_Subscribe(&c->feed_sub, c->feed_nc, all,
                                            cluster_feed_msg, c);
    if (s != NATS_OK) {
        c->feed_sub = NULL;
        log_warn("cluster",
                 "the other partitions' change feed (%s): %s; trying again "
                 "every second",
                 all, natsStatus_GetText(s));
        return;
    }
    /* a slow relay drops (counted by libnats) instead of growing */
    natsSubscription_SetPendingLimits(c->feed_sub, 65536, 64 * 1024 * 1024);
}

uint64_t cluster__feed_lost(cluster *c)
{
    return atomic_load(&c->feed_lost) + atomic_load(&c->feed_dropped);
}

void cluster__feed_stop(cluster *c)
{
    if (c->feed_sub != NULL) {
        /* Every callback has returned once the drain completes: the
         * change feed it hands messages to may go after this. */
        if (natsSubscription_Drain(c->feed_sub) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(c->feed_sub, 2000);
        natsSubscription_Destroy(c->feed_sub);
        c->feed_sub = NULL;
    }
}

void cluster__feed_close(cluster *c)
{
    atomic_store(&c->feed_ready, false);
    if (c->feed_nc != NULL)
        natsConnection_Destroy(c->feed_nc);
    c->feed_nc = NULL;
}
