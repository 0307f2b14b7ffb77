/*
 * map.c - every partition's owner, for the partition map of a cluster of
 * several partitions (docs/CLUSTER.md, "Several partitions"): the thread
 * `atp:cl-map` watches the lease bucket and keeps each partition's last
 * lease value and when it was last written. The cluster thread copies it
 * into cluster_info; relays read the epochs (feed.c). Its own thread
 * because making a watcher, or waiting for its next update, blocks on
 * NATS, and the cluster thread must renew the lease on time.
 */
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/thread.h"

/* map_entry (map thread): one update of the bucket. */
static void map_entry(cluster *c, kvEntry *e)
{
    const config_cluster *k = &c->cfg->cluster;
    for (size_t p = 0; p < k->n_partitions && p < CLUSTER_INFO_PARTS; p++) {
        if (strcmp(kvEntry_Key(e), k->partitions[p].name) != 0)
            continue;
        pthread_mutex_lock(&c->map_mu);
        cluster_owner *o = &c->map_parts[p];
        /* a delete: the owner handed the lease back */
        cluster__owner_parse(
            kvEntry_Operation(e) == kvOp_Put ? kvEntry_ValueString(e) : "", o);
        c->map_seen_ms[p] = clock_mono_ms();
        /* the lease's epoch now (a handed-back lease keeps the last):
         * relays drop messages of older ones */
        if (o->epoch > 0)
            atomic_store(&c->map_epoch[p], o->epoch);
        pthread_mutex_unlock(&c->map_mu);
    }
}

static void *map_thread_main(void *arg)
{
    cluster *c = arg;
    thread_name("atp:cl-map");
    kvWatcher *w = NULL;
    while (!atomic_load(&c->stop)) {
        cluster__feed_start(c); /* until made; at most once a second */
        int64_t dropped = 0;
        if (c->feed_sub != NULL &&
            natsSubscription_GetDropped(c->feed_sub, &dropped) == NATS_OK)
            atomic_store(&c->feed_dropped, (uint64_t)dropped);
        if (w == NULL) {
            kvWatchOptions o;
            kvWatchOptions_Init(&o);
            if (kvStore_WatchAll(&w, c->kv, &o) != NATS_OK) {
                w = NULL;
                usleep(250 * 1000);
                continue;
            }
        }
        kvEntry *e = NULL;
        natsStatus s = kvWatcher_Next(&e, w, 250);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) { /* made again */
            kvWatcher_Destroy(w);
            w = NULL;
            continue;
        }
        if (e != NULL) { /* NULL: the end of the initial values */
            map_entry(c, e);
            kvEntry_Destroy(e);
        }
    }
    if (w != NULL) {
        kvWatcher_Stop(w);
        kvWatcher_Destroy(w);
    }
    return NULL;
}

void cluster__map_start(cluster *c)
{
    if (c->map_started || c->cfg->cluster.n_partitions < 2)
        return;
    if (pthread_create(&c->map_thread, NULL, map_thread_main, c) != 0) {
        log_warn("cluster", "cannot start the partition map's thread");
        return;
    }
    c->map_started = true;
}

void cluster__map_stop(cluster *c)
{
    if (!c->map_started)
        return;
    pthread_join(c->map_thread, NULL); /* c->stop is set */
    c->map_started = false;
}

void cluster__map_copy(cluster *c, cluster_info *info)
{
    const config_cluster *k = &c->cfg->cluster;
    /* The owner renews every third of the lease, and each renewal is an
     * update: one not heard of for a lease and a half has lost it (its
     * key expired, which sends no update). */
    int64_t stale = clock_mono_ms() - k->lease_ms * 3 / 2;
    pthread_mutex_lock(&c->map_mu);
    for (size_t p = 0; p < k->n_partitions && p < CLUSTER_INFO_PARTS; p++) {
        cluster_owner *o = &info->parts[p];
        char name[sizeof o->partition];
        memcpy(name, o->partition, sizeof name);
        *o = c->map_parts[p];
        memcpy(o->partition, name, sizeof name);
        if (c->map_seen_ms[p] < stale)
            o->node[0] = o->query[0] = o->http[0] = '\0';
    }
    pthread_mutex_unlock(&c->map_mu);
}
