/*
 * cluster_info.h - what the cluster module (docs/CLUSTER.md) tells the
 * rest of atpd about this node's part in its cluster: whether it owns its
 * partition, who does, the lease epoch and how far it follows the
 * partition's stream. The cluster thread writes it; the server reads it
 * for the `cluster` op, the `not_owner` error's `owner` field and the
 * metrics. A small struct copied under a mutex: read a few times a
 * second at most, never on a query's path (a standby refuses queries with
 * one health_cond_met read first).
 */
#ifndef ATP_CLUSTER_INFO_H
#define ATP_CLUSTER_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_INFO_ID_MAX 64   /* node, partition and cluster names */
#define CLUSTER_INFO_URL_MAX 256 /* advertised URLs */

#define CLUSTER_INFO_PARTS 16 /* CONFIG_CLUSTER_MAX_PARTITIONS */

/* One partition's owner as its lease names it; node empty: none known. */
typedef struct cluster_owner {
    char partition[CLUSTER_INFO_ID_MAX + 1];
    char node[CLUSTER_INFO_ID_MAX + 1];
    char query[CLUSTER_INFO_URL_MAX];
    char http[CLUSTER_INFO_URL_MAX];
    uint64_t epoch;
} cluster_owner;

typedef struct cluster_info {
    bool enabled;   /* a cluster: section is configured */
    bool owner;     /* this node holds the lease and serves its partition */
    bool connected; /* to NATS, now */
    char name[CLUSTER_INFO_ID_MAX + 1];
    char node[CLUSTER_INFO_ID_MAX + 1];
    char partition[CLUSTER_INFO_ID_MAX + 1];
    /* The owner as the lease names it; node empty: none known. */
    char owner_node[CLUSTER_INFO_ID_MAX + 1];
    char owner_query[CLUSTER_INFO_URL_MAX];
    char owner_http[CLUSTER_INFO_URL_MAX];
    uint64_t epoch;       /* the lease's epoch, held or last seen */
    uint64_t stream_seq;  /* the stream's last sequence, as last asked */
    uint64_t applied_seq; /* the last sequence this node has read */
    uint64_t stored_seq;  /* the position its own store has (local.c) */
    uint64_t records;     /* reservations in the warm copy (standby) */
    uint64_t takeovers;   /* partitions this process took over */
    uint64_t published;   /* records accepted by the stream */
    uint64_t refused;     /* groups the stream refused or timed out */
    /* The change feed across partitions: messages lost publishing or
     * receiving, and received but dropped (no such partition, no epoch,
     * a deposed owner's). */
    uint64_t feed_lost, feed_rejected;
    int64_t lease_ms;
    int64_t takeover_ms; /* how long the last takeover took (ms) */
    /* With cluster.partitions: every partition's owner, in the
     * configuration's order (read about once a second). */
    size_t n_parts;
    cluster_owner parts[CLUSTER_INFO_PARTS];
} cluster_info;

/* cluster_info_set publishes *ci; cluster_info_get copies the last one
 * (all zero, enabled false, before any set). Any thread. */
void cluster_info_set(const cluster_info *ci);
void cluster_info_get(cluster_info *out);

#endif
