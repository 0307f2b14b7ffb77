/*
 * feed.c - the change feed across a cluster's partitions (docs/CLUSTER.md,
 * "The change feed across partitions"): a partition's owner publishes
 * every change-feed message it sends to the core NATS subject
 * `<name>.<partition>` (two tokens: outside the streams' `<name>.<p>.>`),
 * and every node subscribes to `<name>.*` and hands the messages of the
 * partitions it does not own to the change feed, which sends them on as
 * they are. Core NATS, like nng's PUB, drops rather than waits: a
 * subscriber finds the gap in the partition's sequences and rescans.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "common/log.h"

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
    if (natsConnection_Publish(c->nc, c->subj_feed, msg, (int)len) != NATS_OK)
        atomic_fetch_add(&c->feed_failures, 1);
}

/* cluster_feed_msg (libnats's thread): another partition's message, or
 * this node's partition's while this node does not own it. */
static void cluster_feed_msg(natsConnection *nc, natsSubscription *sub,
                             natsMsg *m, void *arg)
{
    (void)nc, (void)sub;
    cluster *c = arg;
    const char *subj = natsMsg_GetSubject(m);
    const char *dot = subj != NULL ? strchr(subj, '.') : NULL;
    bool mine = dot != NULL && strcmp(dot + 1, c->cfg->cluster.partition) == 0;
    if (dot != NULL && !(mine && atomic_load(&c->owner)) && c->feed_fn != NULL)
        c->feed_fn(c->feed_arg, natsMsg_GetData(m),
                   (size_t)natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

void cluster__feed_start(cluster *c)
{
    if (c->feed_fn == NULL || c->feed_sub != NULL ||
        c->cfg->cluster.n_partitions < 2)
        return;
    char all[96];
    snprintf(all, sizeof all, "%s.*", c->cfg->cluster.name);
    natsStatus s =
        natsConnection_Subscribe(&c->feed_sub, c->nc, all, cluster_feed_msg, c);
    if (s != NATS_OK) {
        c->feed_sub = NULL;
        log_warn("cluster", "the other partitions' change feed (%s): %s", all,
                 natsStatus_GetText(s));
        return;
    }
    /* a slow relay drops (counted by libnats) instead of growing */
    natsSubscription_SetPendingLimits(c->feed_sub, 65536, 64 * 1024 * 1024);
    atomic_store(&c->feed_ready, true);
}

void cluster__feed_stop(cluster *c)
{
    if (c->feed_sub == NULL)
        return;
    /* Every callback has returned once the drain completes: the change
     * feed it hands messages to may go after this. */
    if (natsSubscription_Drain(c->feed_sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(c->feed_sub, 2000);
    natsSubscription_Destroy(c->feed_sub);
    c->feed_sub = NULL;
}
