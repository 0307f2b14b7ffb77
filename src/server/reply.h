/*
 * reply.h - writing reply maps (docs/PROTOCOL.md, "Queries"). Any thread;
 * each caller brings its own writer.
 */
#ifndef ATP_REPLY_H
#define ATP_REPLY_H

#include <stdint.h>

#include "codec/codec.h"
#include "common/cluster_info.h"
#include "config/config.h"
#include "engine/engine.h"

/* A failed request: code, a message naming the culprit, and for carts the
 * index of the offending line (-1: none). */
typedef struct reply_error {
    atp_err code;
    int64_t line;
    /* not_owner and cross_partition in a cluster of several partitions
     * (docs/CLUSTER.md): the partitions (NULL: this node's only), and
     * part + 1, the one whose owner not_owner names (0: this node's). */
    const config_cluster *map;
    int part;
    char message[1024]; /* room for a list of the valid values */
} reply_error;

/* reply_error_set fills e with code and a printf-style message. */
void reply_error_set(reply_error *e, atp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* reply_error_write writes {"ok": false, "error": {...}}. */
void reply_error_write(codec_writer *w, const reply_error *e);
/* reply_owner_write writes a partition's owner: {partition, node, query,
 * http}. reply_partitions_write writes the partition map of k as an
 * array of {partition, regions, owner, epoch} (docs/CLUSTER.md). */
void reply_owner_write(codec_writer *w, const cluster_owner *o);
void reply_partitions_write(codec_writer *w, const config_cluster *k,
                            const cluster_info *ci);

/* The number of key/value pairs reply_answer_write writes for answer a:
 * 10, and the 3 of a backorder budget when the row has one. */
#define REPLY_ANSWER_FIELDS(a)                                                 \
    (10u + ((a)->backorder_budget > 0 ? 3u : 0u) +                             \
     ((a)->limiting != NULL ? 1u : 0u))

/* reply_answer_write writes the ATP answer's pairs (sku, region, channel,
 * atp, supply, reserved, buffer, rule, shortfall, stale; backorder_budget,
 * backorder_used, backorder_left when the row has a budget; limiting for
 * a bundle) into an open map. */
void reply_answer_write(codec_writer *w, codec_str sku, const char *region,
                        const char *channel, const engine_answer *a);

#endif
