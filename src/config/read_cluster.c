/*
 * read_cluster.c - the cluster: section (docs/CLUSTER.md): the NATS
 * servers, this node's id, its partition, the lease time, the replicas
 * and the URLs a standby sends clients to. Names become NATS subject
 * tokens and a stream name, so they are kept to [A-Za-z0-9_-]. Main
 * thread at start, like config.c.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum {
    CL_NATS,
    CL_NAME,
    CL_NODE,
    CL_PARTITION,
    CL_REPLICAS,
    CL_LEASE,
    CL_ADV_QUERY,
    CL_ADV_HTTP,
    CL_PARTITIONS,
    CL_N
};

static const char *const config_cluster_keys[] = {"nats",
                                                  "name",
                                                  "node",
                                                  "partition",
                                                  "replicas",
                                                  "lease",
                                                  "advertise_query",
                                                  "advertise_http",
                                                  "partitions"};

/* config_cluster_token reads a name that becomes a NATS subject token. */
static char *config_cluster_token(config__walk *w, const yaml_node_t *n,
                                  const char *what)
{
    static const char expected[] = "1..64 of A-Z a-z 0-9 _ -";
    char *s = config__get_text(w, n, what, expected);
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    bool ok = len <= 64;
    for (size_t i = 0; ok && i < len; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (!ok)
        config__error(w->b, config__mark_of(n), "%s: '%.64s' is not %s", what,
                      s, expected);
    return s;
}

static char *config_cluster_url(config__walk *w, const yaml_node_t *n,
                                const char *what, const char *scheme)
{
    char *s = config__get_text(w, n, what, "a URL");
    if (s != NULL && strncmp(s, scheme, strlen(scheme)) != 0 &&
        !(strcmp(scheme, "nats://") == 0 && strncmp(s, "tls://", 6) == 0))
        config__error(w->b, config__mark_of(n), "%s: '%.200s' is not a %s URL",
                      what, s, scheme);
    return s;
}

/* config_partition_names: whether p names region id[0..len). */
static bool config_partition_names(const config_partition *p, const char *id,
                                   size_t len)
{
    for (size_t j = 0; j < p->n_regions; j++)
        if (strlen(p->regions[j]) == len && memcmp(p->regions[j], id, len) == 0)
            return true;
    return false;
}

bool config_partition_owns(const config_cluster *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_partitions; i++)
        if (config_partition_names(&c->partitions[i], id, len))
            return true;
    return false;
}

size_t config_partition_of(const config_cluster *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_partitions; i++)
        if (config_partition_names(&c->partitions[i], id, len))
            return i;
    return 0;
}

bool config_partition_here(const config_cluster *c, const char *id, size_t len)
{
    return c->n_partitions < 2 ||
           strcmp(c->partitions[config_partition_of(c, id, len)].name,
                  c->partition) == 0;
}

static const char *const config_partition_keys[] = {"name", "regions"};

/* config_partition_parse reads one entry of cluster.partitions into p:
 * {name: p1, regions: [us-east, ...]}, every region configured and named
 * by no earlier partition. */
static void config_partition_parse(config__walk *w, const yaml_node_t *item,
                                   config_partition *p)
{
    config_cluster *c = &w->b->c.cluster;
    yaml_node_t *v[2];
    if (!config__map_fields(w, item, "cluster.partitions entry",
                            config_partition_keys, 2, v))
        return;
    if (v[0] == NULL || v[1] == NULL) {
        config__error(w->b, config__mark_of(item),
                      "cluster.partitions entry: needs 'name' and 'regions'");
        return;
    }
    p->name = config_cluster_token(w, v[0], "cluster.partitions name");
    for (size_t i = 0; p->name != NULL && i < c->n_partitions; i++)
        if (c->partitions[i].name != NULL &&
            strcmp(c->partitions[i].name, p->name) == 0)
            config__error(w->b, config__mark_of(v[0]),
                          "cluster.partitions: '%s' named twice", p->name);
    size_t n =
        config__get_seq(w, v[1], "cluster.partitions regions", "region ids");
    p->regions = calloc(n ? n : 1, sizeof *p->regions);
    if (p->regions == NULL) {
        w->b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *r = config__seq_item(w, v[1], i);
        char *id =
            config__get_text(w, r, "cluster.partitions regions", "a region id");
        if (id == NULL)
            continue;
        bool known = false; /* the index is built after the parse */
        for (size_t k = 0; k < w->b->c.n_regions && !known; k++)
            known = strcmp(w->b->c.regions[k].id, id) == 0;
        if (!known) {
            char list[512];
            config_region_list(&w->b->c, list, sizeof list);
            config__error(w->b, config__mark_of(r),
                          "cluster.partitions: unknown region '%.64s'; "
                          "regions: %s",
                          id, list);
        } else if (config_partition_owns(c, id, strlen(id)) ||
                   config_partition_names(p, id, strlen(id)))
            config__error(w->b, config__mark_of(r),
                          "cluster.partitions: region '%.64s' in two "
                          "partitions",
                          id);
        p->regions[p->n_regions++] = id;
    }
    if (n == 0)
        config__error(w->b, config__mark_of(v[1]),
                      "cluster.partitions '%s': no regions",
                      p->name ? p->name : "?");
}

/* config_partitions_parse reads cluster.partitions and its one-line key. */
static void config_partitions_parse(config__walk *w, const yaml_node_t *seq)
{
    config_cluster *c = &w->b->c.cluster;
    size_t n = config__get_seq(w, seq, "cluster.partitions", "partitions");
    n = config__seq_limit(w, seq, n, CONFIG_CLUSTER_MAX_PARTITIONS,
                          "cluster.partitions");
    if (n < 2)
        config__error(w->b, config__mark_of(seq),
                      "cluster.partitions: %s; list two or more "
                      "partitions, or leave the key out for one",
                      n == 0 ? "empty" : "one partition");
    c->partitions = calloc(n ? n : 1, sizeof *c->partitions);
    if (c->partitions == NULL) {
        w->b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !w->b->oom; i++) {
        config_partition_parse(w, config__seq_item(w, seq, i),
                               &c->partitions[i]);
        c->n_partitions = i + 1;
    }
    size_t len = 1;
    for (size_t i = 0; i < c->n_partitions; i++) {
        const config_partition *p = &c->partitions[i];
        len += strlen(p->name ? p->name : "") + 2;
        for (size_t j = 0; j < p->n_regions; j++)
            len += strlen(p->regions[j]) + 1;
    }
    c->partitions_key = malloc(len);
    if (c->partitions_key == NULL) {
        w->b->oom = true;
        return;
    }
    char *o = c->partitions_key;
    for (size_t i = 0; i < c->n_partitions; i++) {
        const config_partition *p = &c->partitions[i];
        o += sprintf(o, "%s%s=", i ? ";" : "", p->name ? p->name : "");
        for (size_t j = 0; j < p->n_regions; j++)
            o += sprintf(o, "%s%s", j ? "," : "", p->regions[j]);
    }
    *o = '\0';
}

void config__parse_cluster(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[CL_N];
    if (!config__map_fields(w, node, "cluster", config_cluster_keys, CL_N, v))
        return;
    config_cluster *c = &w->b->c.cluster;
    if (v[CL_NATS] == NULL) {
        config__error(w->b, config__mark_of(node),
                      "cluster.nats: missing; the NATS servers' URLs");
    } else {
        size_t n = config__get_seq(w, v[CL_NATS], "cluster.nats", "URLs");
        n = config__seq_limit(w, v[CL_NATS], n, CONFIG_CLUSTER_MAX_NATS,
                              "cluster.nats");
        c->nats = calloc(n ? n : 1, sizeof *c->nats);
        if (c->nats == NULL) {
            w->b->oom = true;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            char *u = config_cluster_url(w, config__seq_item(w, v[CL_NATS], i),
                                         "cluster.nats", "nats://");
            if (u != NULL)
                c->nats[c->n_nats++] = u;
        }
        if (n == 0)
            config__error(w->b, config__mark_of(v[CL_NATS]),
                          "cluster.nats: empty; list at least one NATS URL");
    }
    if (v[CL_NODE] == NULL)
        config__error(w->b, config__mark_of(node),
                      "cluster.node: missing; this node's unique id");
    else
        c->node = config_cluster_token(w, v[CL_NODE], "cluster.node");
    c->name = v[CL_NAME] ? config_cluster_token(w, v[CL_NAME], "cluster.name")
                         : config__strdup(w->b, "atpd");
    c->partition = v[CL_PARTITION] ? config_cluster_token(w, v[CL_PARTITION],
                                                          "cluster.partition")
                                   : config__strdup(w->b, "p0");
    int64_t replicas = 3;
    if (v[CL_REPLICAS])
        config__get_int(w, v[CL_REPLICAS], "cluster.replicas", 1, 5, &replicas);
    c->replicas = (int)replicas;
    c->lease_ms = 3000;
    if (v[CL_LEASE])
        config__get_duration(w, v[CL_LEASE], "cluster.lease", 1000, 60000,
                             &c->lease_ms);
    if (v[CL_ADV_QUERY])
        c->advertise_query =
            config__get_text(w, v[CL_ADV_QUERY], "cluster.advertise_query",
                             "the nng URL clients reach");
    if (v[CL_ADV_HTTP])
        c->advertise_http = config_cluster_url(
            w, v[CL_ADV_HTTP], "cluster.advertise_http", "http");
    if (v[CL_PARTITIONS] != NULL && !w->b->oom) {
        config_partitions_parse(w, v[CL_PARTITIONS]);
        bool mine = false;
        for (size_t i = 0; i < c->n_partitions && c->partition; i++)
            mine |= c->partitions[i].name != NULL &&
                    strcmp(c->partitions[i].name, c->partition) == 0;
        if (!mine && c->partition != NULL && c->n_partitions > 0)
            config__error(w->b, config__mark_of(v[CL_PARTITIONS]),
                          "cluster.partition '%s' is not one of "
                          "cluster.partitions",
                          c->partition);
    }
    c->enabled = true;
}
