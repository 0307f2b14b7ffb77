/*
 * client_parts.h - the tools' client in a cluster of several partitions
 * (docs/CLUSTER.md, "Several partitions"), used by client.c: a reserve a
 * node refused with cross_partition is held partition by partition, all
 * or nothing; a commit, release, extend or get by id is sent to every
 * partition. The map is the array a node gives (error.partitions,
 * status.cluster.partitions).
 */
#ifndef ATP_TOOLS_CLIENT_PARTS_H
#define ATP_TOOLS_CLIENT_PARTS_H

#include "client.h"

#define CLIENT_PARTS_MAX 16

/* A client's connections to the partitions' owners, by map index. */
typedef struct client_parts {
    client *peers[CLIENT_PARTS_MAX];
} client_parts;

/* client_parts_reserve holds the lines of reserve request req in each
 * partition of map that they name, in the map's order, under req's id;
 * the first refusal or failure releases every part asked (a failed
 * release is left to the TTL). *reply: one reservation with every part's
 * lines and "parts" (the partitions' names), or the refusal or error that
 * stopped it. A transport error or timeout is returned as such. */
atp_err client_parts_reserve(client *c, client_parts *p, const codec_val *req,
                             const codec_val *map, codec_arena *a,
                             const codec_val **reply);

/* client_parts_by_id sends req (commit, release, extend, reservation) to
 * every partition's owner: *reply merges the partitions that have the id
 * (lines concatenated, "parts"), or the first error other than not_found,
 * or not_found when none has it. */
atp_err client_parts_by_id(client *c, client_parts *p, const codec_val *req,
                           const codec_val *map, codec_arena *a,
                           const codec_val **reply);

void client_parts_fini(client_parts *p);

/* From client.c: whether c speaks HTTP; a client to url with c's
 * options that never splits requests itself. */
bool client__is_http(const client *c);
atp_err client__open_like(const client *c, const char *url, client **out);

#endif
