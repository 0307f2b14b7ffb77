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
    CL_N
};

static const char *const config_cluster_keys[] = {"nats",
                                                  "name",
                                                  "node",
                                                  "partition",
                                                  "replicas",
                                                  "lease",
                                                  "advertise_query",
                                                  "advertise_http"};

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
    c->enabled = true;
}
