/*
 * read_service.c - the two sections of single settings: service (listen
 * URLs, data directory, message and queue limits, intervals, log level) and
 * reservations (TTLs, retention, durability, store and log sizes). Each key
 * overrides the default set in config.c. Main thread at start.
 */
#include "config/config_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/log.h"

/* Bounds of the service keys (docs/CONFIG.md lists them with reasons). */
#define CONFIG_RECV_MAX_BYTES_MIN 1024
#define CONFIG_RECV_MAX_BYTES_MAX (1024 * 1024 * 1024)
/* nng refuses NNG_OPT_RECVBUF above 8192 (checked against nng 1.5.2). */
#define CONFIG_RECV_BUFFER_MAX 8192
#define CONFIG_QUERY_CONTEXTS_MAX 4096
#define CONFIG_QUERY_IDLE_MAX_MS (24 * 3600 * 1000)
#define CONFIG_TLS_HANDSHAKE_MAX_MS (3600 * 1000)
#define CONFIG_EVENTS_PER_MESSAGE_MAX 1000000
#define CONFIG_REORDER_WINDOW_MAX_MS (60 * 1000)
#define CONFIG_REORDER_MESSAGES_MAX 65536
/* A full snapshot is held in memory until its last part: at ~100 bytes an
 * event, 50M events is ~5 GB, the most a source snapshot may take. */
#define CONFIG_SNAPSHOT_EVENTS_MAX 50000000

static const char *const config_service_keys[] = {
    "query_listen",
    "ingest_listen",
    "data_dir",
    "ingest_recv_max_bytes",
    "ingest_recv_buffer",
    "query_recv_max_bytes",
    "query_contexts",
    "max_events_per_message",
    "max_cart_lines",
    "reorder_window",
    "reorder_max_messages",
    "log_level",
    "feed_listen",
    "feed_interval",
    "snapshot_interval",
    "control_listen",
    "resync_retry",
    "resync_timeout",
    "resync_hold_messages",
    "scheduling",
    "snapshot_timeout",
    "snapshot_max_events",
    "http_listen",
    "http_threads",
    "http_max_connections",
    "http_timeout",
    "http_max_header_bytes",
    "log_format",
    "log_repeat_window",
    "stall_timeout",
    "query_idle_timeout",
    "tls_handshake_timeout",
    "stop_drain",
    "spare_locations",
    "spare_channels",
    "spare_regions",
};
enum {
    SVC_QUERY_LISTEN,
    SVC_INGEST_LISTEN,
    SVC_DATA_DIR,
    SVC_INGEST_RECV_MAX_BYTES,
    SVC_INGEST_RECV_BUFFER,
    SVC_QUERY_RECV_MAX_BYTES,
    SVC_QUERY_CONTEXTS,
    SVC_MAX_EVENTS,
    SVC_MAX_CART_LINES,
    SVC_REORDER_WINDOW,
    SVC_REORDER_MAX_MESSAGES,
    SVC_LOG_LEVEL,
    SVC_FEED_LISTEN,
    SVC_FEED_INTERVAL,
    SVC_SNAPSHOT_INTERVAL,
    SVC_CONTROL_LISTEN,
    SVC_RESYNC_RETRY,
    SVC_RESYNC_TIMEOUT,
    SVC_RESYNC_HOLD,
    SVC_SCHEDULING,
    SVC_SNAPSHOT_TIMEOUT,
    SVC_SNAPSHOT_MAX_EVENTS,
    SVC_HTTP_LISTEN,
    SVC_HTTP_THREADS,
    SVC_HTTP_MAX_CONNECTIONS,
    SVC_HTTP_TIMEOUT,
    SVC_HTTP_MAX_HEADER_BYTES,
    SVC_LOG_FORMAT,
    SVC_LOG_REPEAT_WINDOW,
    SVC_STALL_TIMEOUT,
    SVC_QUERY_IDLE_TIMEOUT,
    SVC_TLS_HANDSHAKE_TIMEOUT,
    SVC_STOP_DRAIN,
    SVC_SPARE_LOCATIONS,
    SVC_SPARE_CHANNELS,
    SVC_SPARE_REGIONS,
    SVC_N
};
_Static_assert(SVC_N <= CONFIG_MAX_KEYS, "service: raise CONFIG_MAX_KEYS");
_Static_assert(SVC_N ==
                   sizeof config_service_keys / sizeof config_service_keys[0],
               "service: a key without its enum entry, or the reverse");

/* config_read_timeout_or_off: a duration key that is 0 (never) or 1 s ..
 * max_ms (max_txt in words); *out unchanged when v is absent or wrong. */
static void config_read_timeout_or_off(config__walk *w, const yaml_node_t *v,
                                       const char *key, const char *max_txt,
                                       int64_t max_ms, int64_t *out)
{
    int64_t n;
    if (v == NULL || !config__get_duration(w, v, key, 0, max_ms, &n))
        return;
    if (n > 0 && n < 1000)
        config__error(w->b, config__mark_of(v),
                      "%s: expected 0 (never) or 1s..%s, got %lld ms", key,
                      max_txt, (long long)n);
    else
        *out = n;
}

/* config_replace_str frees *slot and takes v, when v is not NULL. */
static void config_replace_str(char **slot, char *v)
{
    if (v != NULL) {
        free(*slot);
        *slot = v;
    }
}

static char *config_get_url(config__walk *w, const yaml_node_t *n,
                            const char *what)
{
    static const char expected[] =
        "an nng URL like tcp://127.0.0.1:7450 or ipc:///tmp/atpd.ipc";
    char *url = config__get_text(w, n, what, expected);
    if (url == NULL)
        return NULL;
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || sep[3] == '\0') {
        char shown[48];
        config__error(w->b, config__mark_of(n),
                      "%s: %s is not a URL; expected %s", what,
                      config__node_show(n, shown, sizeof shown), expected);
        free(url);
        return NULL;
    }
    return url;
}

bool config_http_url_split(const char *url, char *host, size_t host_cap,
                           unsigned *port)
{
    size_t skip = url == NULL                        ? 0
                  : strncmp(url, "http://", 7) == 0  ? 7
                  : strncmp(url, "https://", 8) == 0 ? 8
                                                     : 0;
    if (skip == 0)
        return false;
    const char *h = url + skip, *end;
    if (*h == '[') {
        end = strchr(++h, ']');
        if (end == NULL || end[1] != ':')
            return false;
    } else {
        end = strrchr(h, ':');
        if (end == NULL)
            return false;
    }
    size_t hn = (size_t)(end - h);
    const char *p = *end == ']' ? end + 2 : end + 1;
    if (hn == 0 || hn >= host_cap || *p == '\0' || strlen(p) > 5 ||
        strspn(p, "0123456789") != strlen(p) || atoi(p) > 65535)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    /* Numeric only: the server binds what it is given, no name lookups. */
    unsigned char addr[16];
    if (inet_pton(*end == ']' ? AF_INET6 : AF_INET, host, addr) != 1)
        return false;
    *port = (unsigned)atoi(p);
    return true;
}

bool config_url_is_tls(const char *url)
{
    return url != NULL && (strncmp(url, "tls+tcp://", 10) == 0 ||
                           strncmp(url, "tls+tcp4://", 11) == 0 ||
                           strncmp(url, "tls+tcp6://", 11) == 0 ||
                           strncmp(url, "https://", 8) == 0);
}

/* config_get_http_url: an http:// or https:// URL with a numeric address (the
 * HTTP server binds it as given: no name lookups). */
static char *config_get_http_url(config__walk *w, const yaml_node_t *n)
{
    static const char expected[] =
        "an http URL with a numeric address, like http://127.0.0.1:7080, "
        "http://[::1]:0 or (with the tls: section) https://127.0.0.1:7443";
    char *url = config__get_text(w, n, "service.http_listen", expected);
    char host[64];
    unsigned port;
    if (url != NULL && !config_http_url_split(url, host, sizeof host, &port)) {
        char shown[48];
        config__error(w->b, config__mark_of(n),
                      "service.http_listen: %s is not %s",
                      config__node_show(n, shown, sizeof shown), expected);
        free(url);
        return NULL;
    }
    return url;
}

/* config_parse_http: the service.http_* keys. */
static void config_parse_http(config__walk *w, yaml_node_t *const *v,
                              config_service *s)
{
    int64_t n;
    if (v[SVC_HTTP_LISTEN])
        config_replace_str(&s->http_listen,
                           config_get_http_url(w, v[SVC_HTTP_LISTEN]));
    if (v[SVC_HTTP_THREADS] &&
        config__get_int(w, v[SVC_HTTP_THREADS], "service.http_threads", 1, 64,
                        &n))
        s->http_threads = (int)n;
    if (v[SVC_HTTP_MAX_CONNECTIONS] &&
        config__get_int(w, v[SVC_HTTP_MAX_CONNECTIONS],
                        "service.http_max_connections", 1, 100000, &n))
        s->http_max_connections = (int)n;
    /* libmicrohttpd counts whole seconds. */
    if (v[SVC_HTTP_TIMEOUT] &&
        config__get_duration(w, v[SVC_HTTP_TIMEOUT], "service.http_timeout",
                             1000, 3600000, &n)) {
        if (n % 1000 != 0)
            config__error(
                w->b, config__mark_of(v[SVC_HTTP_TIMEOUT]),
                "service.http_timeout: expected whole seconds (1s..1h), "
                "got %lld ms",
                (long long)n);
        else
            s->http_timeout_ms = n;
    }
    if (v[SVC_HTTP_MAX_HEADER_BYTES] &&
        config__get_int(w, v[SVC_HTTP_MAX_HEADER_BYTES],
                        "service.http_max_header_bytes", 4096, 1024 * 1024, &n))
        s->http_max_header_bytes = n;
}

void config__parse_service(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[SVC_N];
    if (!config__map_fields(w, node, "service", config_service_keys, SVC_N, v))
        return;
    config_service *s = &w->b->c.service;
    int64_t n;

    config_parse_http(w, v, s);
    if (v[SVC_QUERY_LISTEN]) {
        config_replace_str(
            &s->query_listen,
            config_get_url(w, v[SVC_QUERY_LISTEN], "service.query_listen"));
        w->b->query_listen_mark = config__mark_of(v[SVC_QUERY_LISTEN]);
    }
    if (v[SVC_INGEST_LISTEN]) {
        config_replace_str(
            &s->ingest_listen,
            config_get_url(w, v[SVC_INGEST_LISTEN], "service.ingest_listen"));
        w->b->ingest_listen_mark = config__mark_of(v[SVC_INGEST_LISTEN]);
    }
    if (v[SVC_FEED_LISTEN]) {
        config_replace_str(
            &s->feed_listen,
            config_get_url(w, v[SVC_FEED_LISTEN], "service.feed_listen"));
        w->b->feed_listen_mark = config__mark_of(v[SVC_FEED_LISTEN]);
    }
    if (v[SVC_HTTP_LISTEN])
        w->b->http_listen_mark = config__mark_of(v[SVC_HTTP_LISTEN]);
    if (v[SVC_FEED_INTERVAL])
        config__get_duration(w, v[SVC_FEED_INTERVAL], "service.feed_interval",
                             1, 60000, &s->feed_interval_ms);
    if (v[SVC_CONTROL_LISTEN])
        config_replace_str(
            &s->control_listen,
            config_get_url(w, v[SVC_CONTROL_LISTEN], "service.control_listen"));
    if (v[SVC_RESYNC_RETRY])
        config__get_duration(w, v[SVC_RESYNC_RETRY], "service.resync_retry", 10,
                             600000, &s->resync_retry_ms);
    if (v[SVC_RESYNC_TIMEOUT])
        config__get_duration(w, v[SVC_RESYNC_TIMEOUT], "service.resync_timeout",
                             10, 3600000, &s->resync_timeout_ms);
    if (v[SVC_RESYNC_HOLD] &&
        config__get_int(w, v[SVC_RESYNC_HOLD], "service.resync_hold_messages",
                        1, 1000000, &n))
        s->resync_hold_messages = (uint32_t)n;
    if (v[SVC_SNAPSHOT_TIMEOUT])
        config__get_duration(w, v[SVC_SNAPSHOT_TIMEOUT],
                             "service.snapshot_timeout", 10, 3600000,
                             &s->snapshot_timeout_ms);
    if (v[SVC_SNAPSHOT_MAX_EVENTS] &&
        config__get_int(w, v[SVC_SNAPSHOT_MAX_EVENTS],
                        "service.snapshot_max_events", 1,
                        CONFIG_SNAPSHOT_EVENTS_MAX, &n))
        s->snapshot_max_events = (uint32_t)n;
    if (v[SVC_SNAPSHOT_INTERVAL])
        config__get_duration(w, v[SVC_SNAPSHOT_INTERVAL],
                             "service.snapshot_interval", 10, 3600000,
                             &s->snapshot_interval_ms);
    if (v[SVC_DATA_DIR])
        config_replace_str(&s->data_dir, config__get_text(w, v[SVC_DATA_DIR],
                                                          "service.data_dir",
                                                          "a directory path"));
    if (v[SVC_INGEST_RECV_MAX_BYTES] &&
        config__get_int(
            w, v[SVC_INGEST_RECV_MAX_BYTES], "service.ingest_recv_max_bytes",
            CONFIG_RECV_MAX_BYTES_MIN, CONFIG_RECV_MAX_BYTES_MAX, &n))
        s->ingest_recv_max_bytes = (size_t)n;
    if (v[SVC_INGEST_RECV_BUFFER] &&
        config__get_int(w, v[SVC_INGEST_RECV_BUFFER],
                        "service.ingest_recv_buffer", 1, CONFIG_RECV_BUFFER_MAX,
                        &n))
        s->ingest_recv_buffer = (int)n;
    if (v[SVC_QUERY_RECV_MAX_BYTES] &&
        config__get_int(
            w, v[SVC_QUERY_RECV_MAX_BYTES], "service.query_recv_max_bytes",
            CONFIG_RECV_MAX_BYTES_MIN, CONFIG_RECV_MAX_BYTES_MAX, &n))
        s->query_recv_max_bytes = (size_t)n;
    if (v[SVC_QUERY_CONTEXTS] &&
        config__get_int(w, v[SVC_QUERY_CONTEXTS], "service.query_contexts", 1,
                        CONFIG_QUERY_CONTEXTS_MAX, &n))
        s->query_contexts = (int)n;
    /* 0: never; otherwise at least 1 s (the server checks once a second). */
    config_read_timeout_or_off(
        w, v[SVC_QUERY_IDLE_TIMEOUT], "service.query_idle_timeout", "1d",
        CONFIG_QUERY_IDLE_MAX_MS, &s->query_idle_timeout_ms);
    config_read_timeout_or_off(
        w, v[SVC_TLS_HANDSHAKE_TIMEOUT], "service.tls_handshake_timeout", "1h",
        CONFIG_TLS_HANDSHAKE_MAX_MS, &s->tls_handshake_timeout_ms);
    if (v[SVC_MAX_EVENTS] &&
        config__get_int(w, v[SVC_MAX_EVENTS], "service.max_events_per_message",
                        1, CONFIG_EVENTS_PER_MESSAGE_MAX, &n))
        s->max_events_per_message = (uint32_t)n;
    if (v[SVC_MAX_CART_LINES] &&
        config__get_int(w, v[SVC_MAX_CART_LINES], "service.max_cart_lines", 1,
                        ATP_CART_MAX_LINES, &n))
        s->max_cart_lines = (uint32_t)n;
    if (v[SVC_SPARE_LOCATIONS] &&
        config__get_int(w, v[SVC_SPARE_LOCATIONS], "service.spare_locations", 0,
                        CONFIG_MAX_LOCATIONS, &n))
        s->spare_locations = (uint32_t)n;
    if (v[SVC_SPARE_CHANNELS] &&
        config__get_int(w, v[SVC_SPARE_CHANNELS], "service.spare_channels", 0,
                        CONFIG_MAX_CHANNELS, &n))
        s->spare_channels = (uint32_t)n;
    if (v[SVC_SPARE_REGIONS] &&
        config__get_int(w, v[SVC_SPARE_REGIONS], "service.spare_regions", 0,
                        CONFIG_MAX_REGIONS, &n))
        s->spare_regions = (uint32_t)n;
    if (v[SVC_REORDER_WINDOW])
        config__get_duration(w, v[SVC_REORDER_WINDOW], "service.reorder_window",
                             0, CONFIG_REORDER_WINDOW_MAX_MS,
                             &s->reorder_window_ms);
    if (v[SVC_REORDER_MAX_MESSAGES] &&
        config__get_int(w, v[SVC_REORDER_MAX_MESSAGES],
                        "service.reorder_max_messages", 1,
                        CONFIG_REORDER_MESSAGES_MAX, &n))
        s->reorder_max_messages = (uint32_t)n;
    if (v[SVC_SCHEDULING]) {
        static const char *const choices[] = {"batch", "normal", NULL};
        int k;
        if (config__get_choice(w, v[SVC_SCHEDULING], "service.scheduling",
                               "batch or normal", choices, &k))
            s->sched_batch = k == 0;
    }
    if (v[SVC_LOG_FORMAT]) {
        static const char *const choices[] = {"text", "json", NULL};
        int k;
        if (config__get_choice(w, v[SVC_LOG_FORMAT], "service.log_format",
                               "text or json", choices, &k))
            s->log_json = k == 1;
    }
    if (v[SVC_LOG_REPEAT_WINDOW])
        config__get_duration(w, v[SVC_LOG_REPEAT_WINDOW],
                             "service.log_repeat_window", 0, 3600 * 1000,
                             &s->log_repeat_window_ms);
    if (v[SVC_STALL_TIMEOUT])
        config__get_duration(w, v[SVC_STALL_TIMEOUT], "service.stall_timeout",
                             100, 3600 * 1000, &s->stall_timeout_ms);
    if (v[SVC_STOP_DRAIN])
        config__get_duration(w, v[SVC_STOP_DRAIN], "service.stop_drain", 0,
                             5 * 60 * 1000, &s->stop_drain_ms);
    if (v[SVC_LOG_LEVEL]) {
        static const char expected[] = "one of debug, info, warn, error";
        size_t len;
        const char *lv = config__scalar(w, v[SVC_LOG_LEVEL],
                                        "service.log_level", expected, &len);
        log_level lvl;
        if (lv != NULL && log_parse_level(lv, &lvl)) {
            config_replace_str(&s->log_level, config__strdup(w->b, lv));
        } else if (lv != NULL) {
            char shown[48];
            config__error(
                w->b, config__mark_of(v[SVC_LOG_LEVEL]),
                "service.log_level: expected %s, got %s", expected,
                config__node_show(v[SVC_LOG_LEVEL], shown, sizeof shown));
        }
    }
}

static const char *const config_resv_keys[] = {
    "default_ttl", "min_ttl",         "max_ttl",    "committed_ttl",
    "retention",   "max_lines",       "durability", "max_map_bytes",
    "log_bytes",   "log_apply_delay",
};

const char *config__section_of_key(const char *key)
{
    for (size_t i = 0;
         i < sizeof config_service_keys / sizeof *config_service_keys; i++)
        if (strcmp(key, config_service_keys[i]) == 0)
            return "service";
    for (size_t i = 0; i < sizeof config_resv_keys / sizeof *config_resv_keys;
         i++)
        if (strcmp(key, config_resv_keys[i]) == 0)
            return "reservations";
    return NULL;
}
enum {
    RSV_DEFAULT_TTL,
    RSV_MIN_TTL,
    RSV_MAX_TTL,
    RSV_COMMITTED_TTL,
    RSV_RETENTION,
    RSV_MAX_LINES,
    RSV_DURABILITY,
    RSV_MAX_MAP_BYTES,
    RSV_LOG_BYTES,
    RSV_LOG_APPLY_DELAY,
    RSV_N
};

#define CONFIG_TTL_MAX_MS (366LL * 24 * 3600 * 1000)

void config__parse_reservations(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[RSV_N];
    if (!config__map_fields(w, node, "reservations", config_resv_keys, RSV_N,
                            v))
        return;
    config_reservations *r = &w->b->c.reservations;
    int64_t n;
    if (v[RSV_DEFAULT_TTL])
        config__get_duration(w, v[RSV_DEFAULT_TTL], "reservations.default_ttl",
                             1000, CONFIG_TTL_MAX_MS, &r->default_ttl_ms);
    if (v[RSV_MIN_TTL])
        config__get_duration(w, v[RSV_MIN_TTL], "reservations.min_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->min_ttl_ms);
    if (v[RSV_MAX_TTL])
        config__get_duration(w, v[RSV_MAX_TTL], "reservations.max_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->max_ttl_ms);
    if (v[RSV_COMMITTED_TTL])
        config__get_duration(w, v[RSV_COMMITTED_TTL],
                             "reservations.committed_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->committed_ttl_ms);
    if (v[RSV_RETENTION])
        config__get_duration(w, v[RSV_RETENTION], "reservations.retention", 0,
                             CONFIG_TTL_MAX_MS, &r->retention_ms);
    if (v[RSV_MAX_LINES] &&
        config__get_int(w, v[RSV_MAX_LINES], "reservations.max_lines", 1,
                        ATP_CART_MAX_LINES, &n))
        r->max_lines = (uint32_t)n;
    if (v[RSV_MAX_MAP_BYTES] &&
        config__get_int(w, v[RSV_MAX_MAP_BYTES], "reservations.max_map_bytes",
                        1 << 20, INT64_MAX / 4, &n))
        r->max_map_bytes = (size_t)n;
    if (v[RSV_LOG_BYTES] &&
        config__get_int(w, v[RSV_LOG_BYTES], "reservations.log_bytes", 0,
                        (int64_t)1 << 30, &n)) {
        /* At most 1 GiB: the groups LMDB has not applied are held in
         * memory at start-up until applied (up to about log_bytes). */
        if (n != 0 && n < (1 << 20))
            config__error(w->b, config__mark_of(v[RSV_LOG_BYTES]),
                          "reservations.log_bytes: expected 0 (no log) or "
                          "1048576 .. 1073741824, got %lld",
                          (long long)n);
        else
            r->log_bytes = (size_t)n;
    }
    if (v[RSV_LOG_APPLY_DELAY])
        config__get_duration(w, v[RSV_LOG_APPLY_DELAY],
                             "reservations.log_apply_delay", 0, 60 * 1000,
                             &r->log_apply_delay_ms);
    if (v[RSV_DURABILITY]) {
        static const char *const choices[] = {"sync", "nosync", NULL};
        int k;
        if (config__get_choice(w, v[RSV_DURABILITY], "reservations.durability",
                               "sync or nosync", choices, &k))
            r->sync = k == 0;
    }
    if (r->min_ttl_ms > r->max_ttl_ms || r->default_ttl_ms < r->min_ttl_ms ||
        r->default_ttl_ms > r->max_ttl_ms)
        config__error(
            w->b, config__mark_of(node),
            "reservations: expected min_ttl <= default_ttl <= max_ttl, "
            "got %lld ms <= %lld ms <= %lld ms",
            (long long)r->min_ttl_ms, (long long)r->default_ttl_ms,
            (long long)r->max_ttl_ms);
}
