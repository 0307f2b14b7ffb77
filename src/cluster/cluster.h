/*
 * cluster.h - several atpd nodes serving one partition on NATS JetStream
 * (docs/CLUSTER.md). The only module that links libnats.
 *
 * One node, the owner, holds the partition's lease (a key of a JetStream
 * key-value bucket, created when absent, renewed by compare-and-set, gone
 * when its TTL passes unrenewed) and serves. Every reservation change it
 * makes is published to the partition's stream, fenced by the stream's
 * expected last sequence, before the store below it writes it: the
 * engine acknowledges a change only once both did. The other nodes
 * follow the stream into a warm copy of every reservation's record and,
 * when they take the lease over, load that copy into their engine.
 *
 * The owner that loses its lease (a renewal refused or too late) stops
 * acknowledging and ends the process with status CLUSTER_EXIT_LOST (75,
 * EX_TEMPFAIL): its supervisor starts it again, as a standby.
 *
 * Threads: `atp:cluster` (lease, following, takeover) and `atp:cl-pub`
 * (publishes the engine's groups in order); libnats's own.
 */
#ifndef ATP_CLUSTER_H
#define ATP_CLUSTER_H

#include "atp/error.h"
#include "config/config.h"
#include "engine/engine.h"

#define CLUSTER_EXIT_LOST 75

typedef struct cluster cluster;

/* cluster_alloc prepares the cluster of cfg->cluster (enabled) in front
 * of inner (the local store's persistence, which must outlive it). No
 * connection yet. cfg must outlive the cluster. */
atp_err cluster_alloc(const config *cfg, const engine_persist *inner,
                      cluster **out);

/* cluster_persist is the persistence to give the engine: reservation
 * groups go to the stream first (refused with ATP_E_NOT_OWNER while this
 * node is not the owner), then to inner; everything else to inner. */
engine_persist cluster_persist(cluster *c);

/* cluster_advertise gives the URLs this node's listeners are bound to
 * (the port a 0 in the configuration got), which the lease names when
 * cluster.advertise_query / advertise_http are not set. http may be NULL
 * (no HTTP). Before cluster_start; the strings are copied. */
void cluster_advertise(cluster *c, const char *query, const char *http);

/* cluster_seed and cluster_seed_meta take, before cluster_start (main
 * thread), every record of the local store's reservations and meta
 * databases, in store_scan's callback shape (arg: the cluster; always
 * true): the warm copy starts from them when they follow on from the
 * partition's stream (docs/CLUSTER.md, "A node's local copy"). */
bool cluster_seed(void *arg, const void *key, size_t key_len, const void *val,
                  size_t val_len);
bool cluster_seed_meta(void *arg, const void *key, size_t key_len,
                       const void *val, size_t val_len);

/* cluster_start connects to NATS (retrying in the background while no
 * server answers) and starts the threads. eng is the running engine the
 * partition's reservations are loaded into at a takeover; until then the
 * node is a standby (HEALTH_RESERVATIONS stays false, so requests are
 * refused with not_owner). */
atp_err cluster_start(cluster *c, engine *eng);

/* cluster_stop, after engine_stop: the publisher's last groups answered,
 * an owner hands its lease back (deletes the key, so a standby takes
 * over at once), the threads end, the connection closes. */
void cluster_stop(cluster *c);

/* The change feed across partitions (docs/CLUSTER.md). cluster_feed_relay,
 * before cluster_start: fn gets every change-feed message the owners of
 * the other partitions publish (and this node's partition's while it does
 * not own it), on libnats's thread. cluster_feed_publish (arg: the
 * cluster) sends one of this node's messages to the others while it owns
 * its partition; a changes_mirror_fn. Both do nothing with fewer than two
 * partitions. */
typedef void (*cluster_feed_fn)(void *arg, const void *msg, size_t len);
void cluster_feed_relay(cluster *c, cluster_feed_fn fn, void *arg);
void cluster_feed_publish(void *arg, const void *msg, size_t len);
void cluster_free(cluster *c);

#endif
