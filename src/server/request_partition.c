/*
 * request_partition.c - which partition of a cluster (cluster.partitions,
 * docs/CLUSTER.md "Several partitions") a request belongs to, from the
 * regions it names: its "region" field and the region of each of its
 * "lines". Pure reads of the request and the start-up configuration (the
 * cluster section is restart-only); any thread, no allocation.
 */
#include <string.h>

#include "server/request_int.h"

/* request_partition_note: the partition of region v into *part; false
 * when it differs from one already noted (*part >= 0). A list of regions
 * (a split line, docs/PROTOCOL.md) notes each. Anything else is left to
 * the handler, which reports it. */
static bool request_partition_note(const config_cluster *k, codec_view v,
                                   int *part)
{
    codec_str s;
    if (v.p != NULL && codec_view_type(v) == CODEC_ARRAY) {
        uint32_t n = codec_view_len(v);
        codec_view r = codec_view_first(v);
        for (uint32_t i = 0; i < n; i++, r = codec_view_next(r))
            if (codec_view_type(r) == CODEC_STR &&
                !request_partition_note(k, r, part))
                return false;
        return true;
    }
    if (v.p == NULL || !codec_view_str(v, &s))
        return true;
    int p = (int)config_partition_of(k, s.ptr, s.len);
    if (*part >= 0 && *part != p)
        return false;
    *part = p;
    return true;
}

int request_partition(const request_env *env, const request_fields *f)
{
    const config_cluster *k = &env->cfg->cluster;
    if (k->n_partitions < 2)
        return REQUEST_PART_NONE;
    int part = -1;
    if (!request_partition_note(k, f->region, &part))
        return REQUEST_PART_SEVERAL;
    if (f->lines.p != NULL && codec_view_type(f->lines) == CODEC_ARRAY) {
        uint32_t n = codec_view_len(f->lines);
        codec_view line = codec_view_first(f->lines);
        for (uint32_t i = 0; i < n; i++, line = codec_view_next(line)) {
            if (codec_view_type(line) != CODEC_ARRAY ||
                codec_view_len(line) < 2)
                continue;
            codec_view region = codec_view_next(codec_view_first(line));
            if (!request_partition_note(k, region, &part))
                return REQUEST_PART_SEVERAL;
        }
    }
    return part < 0 ? REQUEST_PART_NONE : part;
}

bool request_region_part_here(const request_env *env, int part)
{
    const config_cluster *k = &env->cfg->cluster;
    return k->n_partitions < 2 ||
           strcmp(k->partitions[part].name, k->partition) == 0;
}
