/*
 * ctl_cluster.h - `atpctl cluster [URL ...]` (docs/CLUSTER.md): one row per
 * node from the `cluster` member of each node's status reply. Pure
 * formatting of decoded replies; main thread of atpctl.
 */
#ifndef ATP_CTL_CLUSTER_H
#define ATP_CTL_CLUSTER_H

#include <stdbool.h>
#include <stdio.h>

#include "codec/codec.h"

/* ctl_cluster_header writes the table's header line. */
void ctl_cluster_header(FILE *f);

/* ctl_cluster_row writes the row of the node at url from its status
 * reply (NULL: it did not answer; why says why). Returns 1 when the node
 * is its partition's owner, 0 otherwise. */
int ctl_cluster_row(const char *url, const codec_val *status, const char *why,
                    FILE *f);

/* ctl_cluster_map writes the partition map of a node's status
 * (status.cluster.partitions: partition, owner, epoch, regions) after a
 * blank line; false (nothing written) when it has none. */
bool ctl_cluster_map(const codec_val *status, FILE *f);

#endif
