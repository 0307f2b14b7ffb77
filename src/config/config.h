/*
 * config.h - atpd's configuration: parsed from YAML (libyaml, only here),
 * validated, and handed to the other modules as plain structs.
 *
 * Not thread-aware: parsed once at start on the main thread; the result is
 * immutable afterwards and may be read from any thread.
 */
#ifndef ATP_CONFIG_H
#define ATP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "atp/wire.h"

#define CONFIG_MAX_REGIONS 1024
#define CONFIG_MAX_LOCATIONS 65535
#define CONFIG_MAX_CHANNELS 256
#define CONFIG_MAX_SOURCES 256

typedef struct config_region {
    char *id;
    int64_t inbound_horizon_ms; /* default 0: inbound not counted */
} config_region;

typedef struct config_location {
    char *id;
    uint32_t region; /* index into config.regions */
    char *type;      /* "dc", "store", "3pl", "dropship", ... free text */
    bool pickup;     /* takes pickup orders (store pickup); default false */
    int64_t pickup_buffer; /* units kept back from pickup, 0..ATP_QTY_MAX */
} config_location;

/* One (location, bucket) pair a source is authoritative for. */
typedef struct config_authority {
    uint32_t location; /* index into config.locations */
    uint8_t bucket;    /* enum atp_bucket */
} config_authority;

typedef struct config_source {
    char *id;
    int64_t heartbeat_timeout_ms; /* default 5000 */
    bool resync;                  /* asks for replays/snapshots, default true */
    config_authority *authority;  /* expanded pairs, sorted by (location,
                                     bucket), no duplicates */
    size_t n_authority;
    uint64_t max_seq_jump; /* a seq beyond last applied + this is
                              rejected; default 1,000,000 */
    char *key_file;        /* NULL: no key (messages unauthenticated) */
    uint8_t *key;          /* its contents (HMAC-SHA-256 key), read at
                              load; key_len 0: none */
    size_t key_len;
} config_source;

/* A buffer rule. NULL sku / UINT32_MAX region or channel = "any". */
typedef struct config_buffer_rule {
    char *sku;
    uint32_t region;    /* index into regions, or UINT32_MAX */
    uint32_t channel;   /* index into channels, or UINT32_MAX */
    int64_t units;      /* >= 0 */
    int64_t percent_bp; /* basis points: percent 12.5 -> 1250; 0..10000 */
    int64_t low_stock;  /* change feed: ATP below this is low stock; 0 none */
    int64_t backorder;  /* units reserves may promise beyond ATP; 0 none */
    int line;           /* line in the file, for messages */
} config_buffer_rule;

/* One component of a bundle (docs/CONFIG.md, "bundles"). */
typedef struct config_bundle_part {
    char *sku;
    int64_t qty; /* per kit, 1..1,000,000 */
} config_bundle_part;

/* A bundle (kit): a SKU answered and reserved as its components. */
typedef struct config_bundle {
    char *sku;
    config_bundle_part *parts;
    size_t n_parts; /* 1..16 */
    int line;       /* line in the file, for messages */
} config_bundle;

typedef struct config_service {
    char *query_listen;            /* default ATP_DEFAULT_QUERY_URL */
    char *ingest_listen;           /* default ATP_DEFAULT_INGEST_URL */
    char *data_dir;                /* default config_default_data_dir() */
    size_t ingest_recv_max_bytes;  /* NNG_OPT_RECVMAXSZ, default 4 MiB */
    int ingest_recv_buffer;        /* NNG_OPT_RECVBUF messages, default 8192 */
    size_t query_recv_max_bytes;   /* default 1 MiB */
    int query_contexts;            /* concurrent REP contexts, default 64 */
    int64_t query_idle_timeout_ms; /* a query connection with no request or
                                      reply for this long is closed; 0 never;
                                      default 300000 */
    int64_t tls_handshake_timeout_ms; /* an nng tls+tcp:// connection not
                                         through its TLS handshake for this
                                         long is shut; 0 never; default
                                         10000 */
    uint32_t max_events_per_message;  /* default 100000 */
    uint32_t max_cart_lines;          /* default ATP_CART_MAX_LINES */
    int64_t reorder_window_ms;        /* default 100 */
    uint32_t reorder_max_messages;    /* default 256 */
    uint32_t spare_locations;         /* room for locations added at run time,
                                         default 256 (config_location_spares) */
    uint32_t spare_channels;          /* room for channels added at run time,
                                         default 4 (config_channel_spares) */
    uint32_t spare_regions;           /* room for regions added at run time,
                                         default 2 (config_region_spares) */
    char *log_level;                  /* "debug","info","warn","error" */
    bool log_json;                    /* log_format: json (default text) */
    int64_t log_repeat_window_ms;     /* identical lines counted, default 60s */
    int64_t stall_timeout_ms; /* a busy thread without progress this long is
                                 stuck (/healthz), default 10s */
    int64_t stop_drain_ms;    /* SIGTERM: serve on, not ready, this long before
                                 stopping; default 0 */
    char *feed_listen; /* change feed PUB, default ATP_DEFAULT_FEED_URL */
    int64_t feed_interval_ms; /* coalescing interval, default 50 */
    int64_t
        snapshot_interval_ms; /* positions + offsets to LMDB, default 1000 */
    char *control_listen;     /* resync requests PUB, ATP_DEFAULT_CONTROL_URL */
    int64_t resync_retry_ms;  /* resend an unanswered request, default 2000 */
    int64_t resync_timeout_ms;     /* then apply what is held, default 30000 */
    uint32_t resync_hold_messages; /* held while resyncing, default 65536 */
    bool sched_batch; /* scheduling: true "batch", false "normal" (default) */
    int64_t snapshot_timeout_ms;  /* a source snapshot's parts, default 30000 */
    uint32_t snapshot_max_events; /* in one source snapshot, default 50000000 */
    char *http_listen;            /* "http://127.0.0.1:7080"; NULL: no HTTP */
    int http_threads;             /* libmicrohttpd event loops, default 2 */
    int http_max_connections;     /* open at once, default 1024 */
    int64_t http_timeout_ms;      /* idle or slow client, whole seconds, 30 s */
    int64_t http_max_header_bytes; /* per connection (request line and
                                      headers), default 32 KiB */
} config_service;

/* Reservations (the `reservations:` section). */
typedef struct config_reservations {
    int64_t default_ttl_ms;   /* default 15m */
    int64_t min_ttl_ms;       /* default 1s */
    int64_t max_ttl_ms;       /* default 24h */
    int64_t committed_ttl_ms; /* default 7d: committed ones never leak */
    int64_t retention_ms;     /* finished ids remembered, default 24h */
    uint32_t max_lines;       /* lines per reservation, default 1000 */
    bool sync; /* durability: true "sync" (default), false "nosync" */
    size_t max_map_bytes; /* LMDB map growth limit, default 64 GiB */
    size_t log_bytes;     /* reservation log file, default 64 MiB, 0: none */
    int64_t log_apply_delay_ms; /* tests only: LMDB applies this much later */
} config_reservations;

/* Clients' tokens (the `auth:` section, docs/SECURITY.md): each is kept as
 * SHA-256(salt || token), never in clear. Scopes are bits; none implies
 * another. */
#define CONFIG_SCOPE_READ 1u
#define CONFIG_SCOPE_RESERVE 2u
#define CONFIG_SCOPE_ADMIN 4u
#define CONFIG_MAX_TOKENS 256
#define CONFIG_TOKEN_SALT_MIN 8
#define CONFIG_TOKEN_SALT_MAX 64
#define CONFIG_TOKEN_HASH_LEN 32

typedef struct config_token {
    char *name;      /* unique id of the entry (logs, rotation) */
    char *client;    /* tenancy: the client its reservations belong to;
                        NULL: not bound (sees every reservation) */
    unsigned scopes; /* CONFIG_SCOPE_* bits, at least one */
    uint8_t salt[CONFIG_TOKEN_SALT_MAX];
    size_t salt_len;
    uint8_t sha256[CONFIG_TOKEN_HASH_LEN]; /* SHA-256(salt || token) */
    int64_t expires_ms; /* wall clock (ms since the epoch) from which the
                           token is refused; 0: never */
} config_token;

typedef struct config_auth {
    config_token *tokens; /* none: no authentication (loopback only) */
    size_t n_tokens;
    bool allow_insecure; /* listen beyond loopback without tokens */
    /* Limits (0: none): open reservations (held or committed) per client
     * (tokens bound to one; the engine counts them); requests per second
     * per token (with a burst of as many); HTTP connections open at once
     * per peer address. */
    uint32_t max_open_reservations;
    uint32_t requests_per_second;
    uint32_t http_connections_per_peer;
} config_auth;

/* config_url_is_local: url's host is loopback (127.0.0.0/8, [::1],
 * localhost) or its transport never leaves the machine (ipc://,
 * inproc://). "*", 0.0.0.0, any other address or name: false. */
bool config_url_is_local(const char *url);

/* TLS (the top-level `tls:` section; docs/SECURITY.md, "TLS"): used by
 * every tls+tcp:// nng endpoint and an https:// service.http_listen.
 * Paths as written (a relative one is relative to atpd's working
 * directory); NULL when absent. Checked when loaded (readable, PEM, not
 * expired, key matching the certificate), so a running atpd holds files
 * that were good at start. */
enum config_tls_verify {
    CONFIG_TLS_VERIFY_NONE,     /* clients are not asked for a certificate */
    CONFIG_TLS_VERIFY_OPTIONAL, /* asked; one that is sent must verify */
    CONFIG_TLS_VERIFY_REQUIRED  /* no verified certificate, no connection */
};
typedef struct config_tls {
    char *cert_file;    /* the server's certificate chain, PEM */
    char *key_file;     /* its private key, PEM, unencrypted */
    char *ca_file;      /* CA(s) that sign client certificates, PEM */
    int verify_clients; /* enum config_tls_verify; default REQUIRED with
                           ca_file, NONE without */
    int min_version;    /* 12 (TLS 1.2, default) or 13 */
} config_tls;

/* config_url_is_tls: url is tls+tcp://, tls+tcp4://, tls+tcp6:// (nng) or
 * https:// (the HTTP listener): an endpoint that needs the tls: section. */
bool config_url_is_tls(const char *url);

/* config_http_url_split splits "http://HOST:PORT" (or "https://...") (HOST a
 * numeric IPv4 address, or an IPv6 one in brackets; PORT 0..65535) into host
 * (without brackets) and port. false: not such a URL. */
bool config_http_url_split(const char *url, char *host, size_t host_cap,
                           unsigned *port);

/* config_key_read reads a source key file (sources[].key_file): its bytes,
 * one trailing newline ("\n" or "\r\n") left out, 16..CONFIG_KEY_MAX of
 * them (at most cap). The file must be a regular file that no one but its
 * owner may read or write (mode 0600 or 0400): a key others can read
 * authenticates nothing. false: why says what is wrong. Any thread. */
#define CONFIG_KEY_MAX 1024
bool config_key_read(const char *path, uint8_t *key, size_t cap, size_t *len,
                     char *why, size_t why_len);

/* The cluster: section (docs/CLUSTER.md); enabled false: a single node. */
#define CONFIG_CLUSTER_MAX_NATS 16
#define CONFIG_CLUSTER_MAX_PARTITIONS 16
/* One partition of cluster.partitions: its name and the ids of the
 * regions it owns. */
typedef struct config_partition {
    char *name;
    char **regions;
    size_t n_regions;
} config_partition;

typedef struct config_cluster {
    bool enabled;
    char **nats; /* NATS server URLs */
    size_t n_nats;
    char *name;      /* prefix of the stream, bucket and subjects */
    char *node;      /* this node's id */
    char *partition; /* the partition this process serves */
    int replicas;    /* the stream's and the lease bucket's */
    int64_t lease_ms;
    char *advertise_query; /* NULL: service.query_listen */
    char *advertise_http;  /* NULL: service.http_listen */
    /* cluster.partitions (docs/CLUSTER.md, "Several partitions"); none:
     * this node's partition owns every region. A region no partition
     * names belongs to the first. partitions_key: the map in one line
     * ("p1=us-east,us-west;p2=eu"), compared at reload. */
    config_partition *partitions;
    size_t n_partitions;
    char *partitions_key;
} config_cluster;

/* config_partition_of: the index in cluster.partitions of the partition
 * that owns region id[0..len) (the first when none names it); 0 without
 * partitions. Any thread; no allocation. */
size_t config_partition_of(const config_cluster *c, const char *id, size_t len);
/* config_partition_here: whether this node's partition (cluster.partition)
 * owns region id: always with fewer than two partitions. */
bool config_partition_here(const config_cluster *c, const char *id, size_t len);
/* config_partition_owns: whether a partition of c names region id. */
bool config_partition_owns(const config_cluster *c, const char *id, size_t len);

typedef struct config {
    config_service service;
    config_reservations reservations;
    config_region *regions;
    size_t n_regions;
    /* How many of regions are named (config_regions_live): as
     * n_channels_named, for the running configuration's spare regions. */
    size_t n_regions_named;
    config_location *locations;
    size_t n_locations;
    char **channels; /* channels[0] is always ATP_DEFAULT_CHANNEL */
    size_t n_channels;
    /* How many of channels are named (config_channels_live): all of them,
     * but in the running configuration, whose spare places
     * (config_channel_spares) come after its named channels and are named
     * in order (config_channel_claim). */
    size_t n_channels_named;
    config_source *sources;
    size_t n_sources;
    config_buffer_rule *buffers;
    size_t n_buffers;
    config_bundle *bundles; /* in file order */
    size_t n_bundles;
    config_auth auth;
    config_tls tls;
    config_cluster cluster;
    /* The id -> index maps of regions, locations, channels and sources
     * (config/index.c), built by the loaders and read by config_*_find.
     * Owned by this config: a copy of the struct moves them with it. */
    struct config_index *index;
} config;

/* config_insecure_listener: c has a client listener (query, feed, HTTP)
 * beyond loopback and no tokens, or ingest_listen beyond loopback and a
 * source without a key; with allow_insecure only when any is
 * true (for the start-up warning). true with what and why in why. Checked
 * by the loaders (a config error) and by atpd after its command-line
 * overrides, before it binds anything. */
bool config_insecure_listener(const config *c, bool any, char *why,
                              size_t why_len);

/* One problem found in a file. */
typedef struct config_diag {
    int line;           /* 1-based; 0 when not tied to a line */
    int column;         /* 1-based; 0 when unknown */
    char message[1024]; /* room for every allowed key of a section */
} config_diag;

typedef struct config_diags {
    config_diag *items;
    size_t n;
} config_diags;

/* config_load_file parses and validates path into *out (caller's storage).
 * Returns ATP_OK, or ATP_E_CONFIG with every problem found in *diags (as many
 * as can be found in one pass, each with its line), or ATP_E_IO when the file
 * cannot be read. On error *out is left empty (nothing to fini).
 * diags may be NULL. Call config_diags_fini on diags in every case. */
atp_err config_load_file(const char *path, config *out, config_diags *diags);

/* config_load_string is config_load_file on an in-memory document. */
atp_err config_load_string(const char *text, size_t len, config *out,
                           config_diags *diags);

/* config_defaults fills *out with a valid config: defaults for service,
 * one region "default", no locations, the default channel, no sources. */
atp_err config_defaults(config *out);

/* config_default_data_dir is service.data_dir when neither the file nor
 * --data-dir names one: "./atpd-data" for a binary that runs from its build
 * tree (tests, `make run`: no root needed), else the absolute directory set
 * at configure time (ATP_INSTALLED_DATA_DIR, /var/lib/atpd: the systemd
 * unit's StateDirectory). Reads /proc/self/exe once per call. */
const char *config_default_data_dir(void);

/* config_default_data_dir_for is its rule for an executable's real path
 * (NULL: unknown, taken as installed) and a build directory (absolute). */
const char *config_default_data_dir_for(const char *exe, const char *build_dir);

void config_fini(config *c);
void config_diags_fini(config_diags *d);

/* Lookups of an id (ptr, len: any bytes, NUL included) in a config from
 * a loader: its index, or -1. Hashed (built once at load), so these are the
 * one id -> index lookup of every module, on hot paths too. Any thread. */
int config_region_find(const config *c, const char *id, size_t len);
int config_location_find(const config *c, const char *id, size_t len);
int config_channel_find(const config *c, const char *id, size_t len);
/* config_region_list, config_channel_list: "a, b, c" (file order) into
 * buf, for a message naming the valid ids; shortened to "a, b, ... (N in
 * all)" when it does not fit. */
void config_region_list(const config *c, char *buf, size_t size);
void config_channel_list(const config *c, char *buf, size_t size);
int config_source_find(const config *c, const char *id, size_t len);

/* How a difference between the running configuration and a reloaded one
 * is handled (docs/CONFIG.md, "Reload"). */
typedef enum config_change {
    /* Structure (regions, channels, sources' ids, resync, max_seq_jump
     * and keys): the engine's rows, the rules and the sources are indexed
     * by it, so a reload that changes it is refused as a whole. Locations
     * (added, removed, moved) and sources' authority are not structure:
     * the admin state applies them (a location added takes a spare place,
     * config_location_spares). */
    CONFIG_CHANGE_REFUSED,
    /* A key read once at start: the running value stays until a restart. */
    CONFIG_CHANGE_RESTART,
} config_change;

typedef void (*config_change_fn)(void *ctx, config_change kind,
                                 const char *what);

/* config_location_regions fills out[i] (running->n_locations entries) with
 * the region next gives running's location i, as running's region index
 * (locations and regions matched by id; config_region_place), or
 * CONFIG_LOCATION_GONE when next has no such location (a reload removing
 * it). Returns how many of next's locations matched (next->n_locations
 * when next adds none). Pure; any thread. */
#define CONFIG_LOCATION_GONE UINT16_MAX
size_t config_location_regions(const config *running, const config *next,
                               uint16_t *out);

/* config_compare calls report once per difference between running and next
 * that a reload cannot apply (kind and a short description: the key, or
 * what changed in the structure), and returns how many. Buffer rules,
 * regions' inbound_horizon, locations (added, removed, their regions,
 * types and pickup settings), sources' authority and heartbeat_timeout
 * and service.log_* are what a reload applies; they are not reported.
 * Pure; any thread. */
size_t config_compare(const config *running, const config *next,
                      config_change_fn report, void *ctx);

/* config_parse_percent_bp parses a buffer rule's percent as the file
 * writes it ("12", "2.5", "0.25") into basis points (*out set on OK only):
 * the one syntax of the file and of admin changes. Pure; any thread. */
enum config_percent_result {
    CONFIG_PERCENT_OK,
    CONFIG_PERCENT_SYNTAX,   /* not digits with an optional .digits */
    CONFIG_PERCENT_DECIMALS, /* more than 2 (non-zero) decimals */
    CONFIG_PERCENT_RANGE,    /* outside 0..100 */
};
enum config_percent_result config_parse_percent_bp(const char *s, size_t len,
                                                   int64_t *out);

/* config_parse_duration_ms parses "250ms", "5s", "15m", "2h", "1d" or a bare
 * integer of milliseconds. Returns false on bad syntax or overflow. */
bool config_parse_duration_ms(const char *s, int64_t *out);

/* ---- run-time administration (config/admin.c; docs/CONFIG.md, "Run-time
 * administration") ----------------------------------------------------
 * The administered part of a configuration is its buffer rules, each
 * region's inbound_horizon and each location's region, type, pickup and
 * pickup_buffer. A change to it is written into a YAML document of
 * that part (regions, channels, locations, buffers) and read back with
 * config_load_string, so it is validated exactly like the file. */
typedef enum config_edit_kind {
    CONFIG_EDIT_BUFFER_SET,      /* add the rule of a scope, or replace it */
    CONFIG_EDIT_BUFFER_REMOVE,   /* remove the rule of a scope */
    CONFIG_EDIT_LOCATION_MOVE,   /* give a location another region */
    CONFIG_EDIT_LOCATION_SET,    /* a location's type and pickup settings */
    CONFIG_EDIT_REGION_SET,      /* a region's inbound horizon */
    CONFIG_EDIT_LOCATION_REMOVE, /* a location no longer listed */
    CONFIG_EDIT_LOCATION_ADD,    /* a new location (region, type, pickup) */
    CONFIG_EDIT_AUTHORITY_SET,   /* a source's buckets at one location */
    CONFIG_EDIT_CHANNEL_ADD,     /* a new channel (channel) */
    CONFIG_EDIT_REGION_ADD,      /* a new region (region, horizon) */
    CONFIG_EDIT_REGION_REMOVE,   /* a region no longer listed */
    CONFIG_EDIT_CHANNEL_REMOVE,  /* a channel no longer listed */
    CONFIG_EDIT_BUNDLE_SET,      /* add a bundle (sku, parts) or replace it */
    CONFIG_EDIT_BUNDLE_REMOVE,   /* remove the bundle sku */
} config_edit_kind;

/* One change. Names as the client gave them (NUL-terminated, borrowed):
 * a buffer scope's sku, region and channel (NULL: any); a move's location
 * and its new region (in region); a location set's location and the
 * values it changes (type NULL: unchanged; "" none); a region set's
 * region and its new inbound_horizon as the client wrote it (horizon: a
 * duration, "2d", "36h", "0"; the parser judges it). A buffer set writes
 * only the values it has; a location set keeps the values it lacks. */
typedef struct config_edit {
    config_edit_kind kind;
    const char *sku, *region, *channel, *location;
    bool has_units, has_percent, has_low_stock, has_backorder;
    int64_t units, percent_bp, low_stock, backorder;
    const char *type;
    bool has_pickup, pickup, has_pickup_buffer;
    int64_t pickup_buffer;
    const char *horizon;
    const char *source;              /* an authority set's source */
    const config_bundle_part *parts; /* a bundle set's components */
    size_t n_parts;
    uint8_t buckets; /* its buckets at location: 1 << enum atp_bucket
                        (ATP_AUTH_INBOUND too); 0: none (revoked) */
} config_edit;

/* config_admin_text writes c's administered part as a YAML configuration
 * document (a file --check-config accepts), with e applied (NULL: none):
 * a set takes the place of the rule of its scope (or comes last), a
 * remove leaves it out, a move writes the location with e->region, a
 * location set with e's type and pickup values, a region set the region
 * with e->horizon, a location remove leaves the location out, a location
 * add writes it last (e->region, e->type, e's pickup values), an authority
 * set gives e->source e->buckets at e->location (none: its entry for it
 * left out), a channel add writes e->channel after the channels, a
 * region add e->region (with e->horizon unless NULL) after the regions,
 * a region or channel remove leaves it out (what still names it is then
 * the parser's to refuse, with the file's messages). The
 * sources section (last: each source's id and authority, nothing else) is
 * written only when c has sources. Unnamed locations (config_location_spares)
 * are not written. Names of e are written as given; config_load_string then
 * reports an unknown region or channel, a bad value, with the file's messages.
 * Returns ATP_OK with *out (malloc'd, NUL-terminated, *len bytes: the caller
 * frees it), ATP_E_NOT_FOUND (a remove of a scope without a rule),
 * ATP_E_UNKNOWN_LOCATION (a move, set, remove or authority set of a
 * location c does not have), ATP_E_UNKNOWN_REGION (a region set of a
 * region c does not have), ATP_E_UNKNOWN_SOURCE (an authority set of a
 * source c does not have), ATP_E_CONFLICT (a location add of an id c
 * has, a channel or region add of one c has), ATP_E_UNKNOWN_REGION /
 * ATP_E_UNKNOWN_CHANNEL (a remove of one c does not have),
 * ATP_E_NOMEM. Pure; any thread. */
atp_err config_admin_text(const config *c, const config_edit *e, char **out,
                          size_t *len);

/* config_location_drop removes location id from c, with the authority
 * pairs naming it (the later locations' indexes move down by one), and
 * indexes c again. ATP_E_NOT_FOUND: c has no such location; ATP_E_NOMEM:
 * the index could not be rebuilt. */
atp_err config_location_drop(config *c, const char *id);

/* Bundles (docs/CONFIG.md, "bundles"): config_bundle_find returns the
 * bundle whose SKU is sku, or NULL; config_bundles_copy deep-copies n
 * definitions into *out (ATP_E_NOMEM: nothing to free);
 * config_bundles_free frees n of them and v. Pure; any thread. */
const config_bundle *config_bundle_find(const config *c, const char *sku,
                                        size_t len);
atp_err config_bundles_copy(const config_bundle *src, size_t n,
                            config_bundle **out);
void config_bundles_free(config_bundle *v, size_t n);
/* config_bundles_digest: a 64-bit hash of c's bundle definitions in order
 * (equal definitions, equal digest), so that a reload that does not touch
 * them need not rebuild them. */
uint64_t config_bundles_digest(const config *c);

/* Room for locations added at run time (docs/CONFIG.md,
 * service.spare_locations): the running configuration gets unnamed
 * locations (id NULL, found by no lookup) after its named ones, so that
 * every table sized by n_locations at start (the engine's, the sources'
 * authority, the feeds') has their places from the start.
 *
 * config_location_spares appends n of them (fewer when CONFIG_MAX_LOCATIONS
 * allows fewer). Main thread, at start, before anything indexes c. */
atp_err config_location_spares(config *c, size_t n);

/* config_location_named: how many of c's locations have an id. Only on
 * the thread that may claim (or before any may). */
size_t config_location_named(const config *c);

/* config_location_claim: in *index, the location id's place in c: its own
 * when c has the id (one removed at run time keeps its place), else the
 * first unnamed one, which takes the id (copied); the new id -> index map
 * is published atomically (config_location_find on any thread sees it
 * whole), the one it replaces is kept until config_fini. A claimed place
 * stays claimed (a reader may hold its index); the caller says what it
 * holds (the engine's region: CONFIG_LOCATION_GONE until it is added).
 * ATP_E_BAD_STATE: no unnamed place left; ATP_E_NOMEM. One claimer at a
 * time (the admin module's mutex). */
atp_err config_location_claim(config *c, const char *id, uint32_t *index);

/* Room for channels added at run time (docs/CONFIG.md,
 * service.spare_channels), as for locations: config_channel_spares
 * appends n unnamed channels (NULL) after the named ones, so every table
 * sized by n_channels has their places from the start; config_channel_claim
 * names the next one (its index in *index; the id map takes it, then the
 * count of named channels grows with a release store, so a reader that
 * sees the count sees the names); ATP_E_BAD_STATE: none left. Channels are
 * only added: the named ones stay a prefix [0, config_channels_live).
 * config_channels_live: that count (acquire), on any thread; loops that
 * answer or list channels go to it, tables sized by n_channels keep the
 * spare places. */
atp_err config_channel_spares(config *c, size_t n);
atp_err config_channel_claim(config *c, const char *id, uint32_t *index);
size_t config_channels_live(const config *c);

/* Regions, the same way (service.spare_regions): config_region_claim
 * names the next spare region id with inbound_horizon_ms horizon;
 * config_regions_live is the count of named regions, a prefix. */
atp_err config_region_spares(config *c, size_t n);
atp_err config_region_claim(config *c, const char *id, int64_t horizon_ms,
                            uint32_t *index);
size_t config_regions_live(const config *c);

/* In service, and out of it: a region or channel place is named once and
 * keeps its id; while it is out (claimed by a change not in force yet,
 * or removed at run time), config_region_find / config_channel_find do
 * not find it and lists skip it; config_*_place finds it anyway (the
 * admin's own lookups). config_*_claim leaves a new place out; the admin
 * puts it in service once the change is stored (config_*_out_set, one
 * release store; readers acquire). config_*_in_service: named and not
 * out. Any thread, but the setters: the admin (its mutex). */
int config_region_place(const config *c, const char *id, size_t len);
int config_channel_place(const config *c, const char *id, size_t len);
bool config_region_in_service(const config *c, uint32_t region);
bool config_channel_in_service(const config *c, uint32_t channel);
void config_region_out_set(config *c, uint32_t region, bool out);
/* config_places_follow: every named region and channel place of c that
 * state (a configuration matched by id) does not list out of service;
 * with in, every one it lists in service too. The setters' thread. */
void config_places_follow(config *c, const config *state, bool in);
/* config_regions_in_service: how many regions are (any thread). */
size_t config_regions_in_service(const config *c);
void config_channel_out_set(config *c, uint32_t channel, bool out);

/* config_bucket_name: "on_hand", "allocated", "held" or "inbound" (an
 * authority bucket as the file writes it), "?" beyond. */
const char *config_bucket_name(unsigned bucket);

/* config_quote writes s into buf (n >= 3 bytes) as the configuration
 * file's administered part writes an id: a YAML double-quoted scalar, '"',
 * '\\' and control bytes escaped, so two ids never write the same text;
 * cut short (still quoted and NUL-terminated) when it does not fit.
 * Returns the length written. Pure; any thread. */
size_t config_quote(char *buf, size_t n, const char *s);

/* config_admin_rule_matches: r (a rule of c) has the scope sku, region,
 * channel (ids; NULL: any). */
bool config_admin_rule_matches(const config *c, const config_buffer_rule *r,
                               const char *sku, const char *region,
                               const char *channel);

/* config_admin_overlay makes adm's buffer rules dst's (regions and
 * channels matched by id), gives each region of dst that adm lists adm's
 * inbound_horizon for it, and each location of dst that adm lists (by id)
 * adm's region, type, pickup and pickup_buffer for it; a location adm
 * lists and dst does not (added at run time) is added to dst; a location
 * of dst that adm does not list (removed at run time) is removed from dst,
 * with the authority pairs naming it, and said through fn. When adm has
 * sources, each source of dst that adm lists (by id) takes adm's
 * authority (locations by id). The regions and channels adm lists and
 * dst does not (added at run time) are added after dst's. What dst has no
 * place for (a rule's region or channel, a location, a region) is left
 * out and said through fn(ctx, what). Returns ATP_OK, or ATP_E_NOMEM
 * (dst may then be changed in part: the caller discards it or does not
 * start). */
typedef void (*config_admin_report_fn)(void *ctx, const char *what);

/* config_authority_map: src's authority pairs (src a source of from) with
 * dst's location indexes (matched by id; a location dst lacks is left
 * out), sorted by (location, bucket), in *out (malloc'd, the caller's).
 * ATP_E_NOMEM. Pure; any thread. */
atp_err config_authority_map(const config *dst, const config *from,
                             const config_source *src, config_authority **out,
                             size_t *n_out);
atp_err config_admin_overlay(config *dst, const config *adm,
                             config_admin_report_fn fn, void *ctx);

#endif
