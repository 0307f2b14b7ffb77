/*
 * compare.c - what a reload (SIGHUP) would change: config_compare walks the
 * running configuration and a newly loaded one and reports each difference
 * with its class (docs/CONFIG.md, "Reload"). Pure: no I/O, any thread.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_int.h"

/* The service and reservations keys read once at start: a change is
 * reported as CONFIG_CHANGE_RESTART (it takes effect at the next start). */
typedef struct config_field {
    const char *name;
    size_t offset;
    enum {
        CONFIG_F_STR,
        CONFIG_F_I64,
        CONFIG_F_U32,
        CONFIG_F_INT,
        CONFIG_F_SIZE,
        CONFIG_F_BOOL
    } type;
} config_field;

/* The file's key (what the reload line names) and the field it sets. */
#define SVC(key, f, t)                                                         \
    {                                                                          \
        "service." key, offsetof(config, service.f), t                         \
    }
#define RSV(key, f, t)                                                         \
    {                                                                          \
        "reservations." key, offsetof(config, reservations.f), t               \
    }
static const config_field config_restart_fields[] = {
    SVC("query_listen", query_listen, CONFIG_F_STR),
    SVC("ingest_listen", ingest_listen, CONFIG_F_STR),
    SVC("feed_listen", feed_listen, CONFIG_F_STR),
    SVC("control_listen", control_listen, CONFIG_F_STR),
    SVC("data_dir", data_dir, CONFIG_F_STR),
    SVC("ingest_recv_max_bytes", ingest_recv_max_bytes, CONFIG_F_SIZE),
    SVC("ingest_recv_buffer", ingest_recv_buffer, CONFIG_F_INT),
    SVC("query_recv_max_bytes", query_recv_max_bytes, CONFIG_F_SIZE),
    SVC("query_contexts", query_contexts, CONFIG_F_INT),
    SVC("query_idle_timeout", query_idle_timeout_ms, CONFIG_F_I64),
    SVC("tls_handshake_timeout", tls_handshake_timeout_ms, CONFIG_F_I64),
    SVC("stop_drain", stop_drain_ms, CONFIG_F_I64),
    SVC("max_events_per_message", max_events_per_message, CONFIG_F_U32),
    SVC("max_cart_lines", max_cart_lines, CONFIG_F_U32),
    SVC("reorder_window", reorder_window_ms, CONFIG_F_I64),
    SVC("reorder_max_messages", reorder_max_messages, CONFIG_F_U32),
    SVC("spare_locations", spare_locations, CONFIG_F_U32),
    SVC("spare_channels", spare_channels, CONFIG_F_U32),
    SVC("spare_regions", spare_regions, CONFIG_F_U32),
    SVC("feed_interval", feed_interval_ms, CONFIG_F_I64),
    SVC("snapshot_interval", snapshot_interval_ms, CONFIG_F_I64),
    SVC("resync_retry", resync_retry_ms, CONFIG_F_I64),
    SVC("resync_timeout", resync_timeout_ms, CONFIG_F_I64),
    SVC("resync_hold_messages", resync_hold_messages, CONFIG_F_U32),
    SVC("scheduling", sched_batch, CONFIG_F_BOOL),
    SVC("snapshot_timeout", snapshot_timeout_ms, CONFIG_F_I64),
    SVC("snapshot_max_events", snapshot_max_events, CONFIG_F_U32),
    RSV("default_ttl", default_ttl_ms, CONFIG_F_I64),
    RSV("min_ttl", min_ttl_ms, CONFIG_F_I64),
    RSV("max_ttl", max_ttl_ms, CONFIG_F_I64),
    RSV("committed_ttl", committed_ttl_ms, CONFIG_F_I64),
    RSV("retention", retention_ms, CONFIG_F_I64),
    RSV("max_lines", max_lines, CONFIG_F_U32),
    RSV("durability", sync, CONFIG_F_BOOL),
    RSV("max_map_bytes", max_map_bytes, CONFIG_F_SIZE),
    RSV("log_bytes", log_bytes, CONFIG_F_SIZE),
    RSV("log_apply_delay", log_apply_delay_ms, CONFIG_F_I64),
    /* Certificates are loaded at start: rotating them is a restart
     * (docs/SECURITY.md, "TLS"). */
    {"tls.cert_file", offsetof(config, tls.cert_file), CONFIG_F_STR},
    {"tls.key_file", offsetof(config, tls.key_file), CONFIG_F_STR},
    {"tls.ca_file", offsetof(config, tls.ca_file), CONFIG_F_STR},
    {"tls.verify_clients", offsetof(config, tls.verify_clients), CONFIG_F_INT},
    {"tls.min_version", offsetof(config, tls.min_version), CONFIG_F_INT},
    /* The cluster: section is read at start (docs/CLUSTER.md). */
    {"cluster", offsetof(config, cluster.enabled), CONFIG_F_BOOL},
    {"cluster.name", offsetof(config, cluster.name), CONFIG_F_STR},
    {"cluster.node", offsetof(config, cluster.node), CONFIG_F_STR},
    {"cluster.partition", offsetof(config, cluster.partition), CONFIG_F_STR},
    {"cluster.replicas", offsetof(config, cluster.replicas), CONFIG_F_INT},
    {"cluster.lease", offsetof(config, cluster.lease_ms), CONFIG_F_I64},
    {"cluster.advertise_query", offsetof(config, cluster.advertise_query),
     CONFIG_F_STR},
    {"cluster.partitions", offsetof(config, cluster.partitions_key),
     CONFIG_F_STR},
    {"cluster.advertise_http", offsetof(config, cluster.advertise_http),
     CONFIG_F_STR},
};
#undef SVC
#undef RSV

static bool config_str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool config_field_equal(const config *a, const config *b,
                               const config_field *f)
{
    const char *pa = (const char *)a + f->offset,
               *pb = (const char *)b + f->offset;
    switch (f->type) {
    case CONFIG_F_STR:
        /* NULL: a key that is absent (the tls: section's files). */
        return config_str_eq(*(char *const *)(const void *)pa,
                             *(char *const *)(const void *)pb);
    case CONFIG_F_I64:
        return *(const int64_t *)(const void *)pa ==
               *(const int64_t *)(const void *)pb;
    case CONFIG_F_U32:
        return *(const uint32_t *)(const void *)pa ==
               *(const uint32_t *)(const void *)pb;
    case CONFIG_F_INT:
        return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
    case CONFIG_F_SIZE:
        return *(const size_t *)(const void *)pa ==
               *(const size_t *)(const void *)pb;
    case CONFIG_F_BOOL:
        return *(const bool *)(const void *)pa ==
               *(const bool *)(const void *)pb;
    }
    return false;
}

/* Each returns a description of the first difference in buf, or false. */
/* The index of the location id in c (its own map, config/index.c), or -1:
 * a reload of 65535 locations compares in linear time. */
static long config_loc_find(const config *c, const char *id)
{
    return id == NULL ? -1 : config_location_find(c, id, strlen(id));
}

size_t config_location_regions(const config *running, const config *next,
                               uint16_t *out)
{
    size_t matched = 0;
    for (size_t i = 0; i < running->n_locations; i++) {
        long k = config_loc_find(next, running->locations[i].id);
        /* the region's place in running, by id (their indexes may differ:
         * regions added or removed at run time) */
        const char *rid =
            k < 0 ? NULL : next->regions[next->locations[k].region].id;
        int r =
            rid == NULL ? -1 : config_region_place(running, rid, strlen(rid));
        out[i] = r < 0 ? CONFIG_LOCATION_GONE : (uint16_t)r;
        matched += r >= 0;
    }
    return matched;
}

static bool config_sources_differ(const config *a, const config *b, char *buf,
                                  size_t n)
{
    if (a->n_sources != b->n_sources) {
        snprintf(buf, n, "sources: %zu -> %zu", a->n_sources, b->n_sources);
        return true;
    }
    bool any = false;
    for (size_t i = 0; !any && i < a->n_sources; i++) {
        const config_source *x = &a->sources[i], *y = &b->sources[i];
        /* Authority is not structure: the admin state applies it
         * (admin.c), over the running locations and the spare ones. */
        any = strcmp(x->id, y->id) != 0 || x->resync != y->resync ||
              x->max_seq_jump != y->max_seq_jump || x->key_len != y->key_len ||
              (x->key_len > 0 && memcmp(x->key, y->key, x->key_len) != 0);
        if (any)
            snprintf(buf, n,
                     "sources: source %s: id, resync, max_seq_jump or key "
                     "changed",
                     x->id);
    }
    return any;
}

/* config_auth_differs: the auth section is read once at start (the
 * request module keeps the tokens it was started with). */
static bool config_auth_differs(const config_auth *a, const config_auth *b)
{
    if (a->n_tokens != b->n_tokens || a->allow_insecure != b->allow_insecure ||
        a->max_open_reservations != b->max_open_reservations ||
        a->requests_per_second != b->requests_per_second ||
        a->http_connections_per_peer != b->http_connections_per_peer)
        return true;
    for (size_t i = 0; i < a->n_tokens; i++) {
        const config_token *x = &a->tokens[i], *y = &b->tokens[i];
        if (!config_str_eq(x->name, y->name) ||
            !config_str_eq(x->client, y->client) || x->scopes != y->scopes ||
            x->salt_len != y->salt_len ||
            memcmp(x->salt, y->salt, x->salt_len) != 0 ||
            memcmp(x->sha256, y->sha256, sizeof x->sha256) != 0)
            return true;
    }
    return false;
}

size_t config_compare(const config *running, const config *next,
                      config_change_fn report, void *ctx)
{
    size_t count = 0;
    char buf[512];
    /* Structure: the sources (their per-source state is indexed by
     * them). Regions, locations and channels are matched by id and
     * added or removed by the admin state (spare places). */
    bool (*const structural[])(const config *, const config *, char *,
                               size_t) = {
        config_sources_differ,
    };
    for (size_t i = 0; i < sizeof structural / sizeof structural[0]; i++)
        if (structural[i](running, next, buf, sizeof buf)) {
            report(ctx, CONFIG_CHANGE_REFUSED, buf);
            count++;
        }
    for (size_t i = 0;
         i < sizeof config_restart_fields / sizeof config_restart_fields[0];
         i++)
        if (!config_field_equal(running, next, &config_restart_fields[i])) {
            report(ctx, CONFIG_CHANGE_RESTART, config_restart_fields[i].name);
            count++;
        }
    if (config_auth_differs(&running->auth, &next->auth)) {
        report(ctx, CONFIG_CHANGE_RESTART, "auth");
        count++;
    }
    return count;
}
