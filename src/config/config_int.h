/*
 * config_int.h - what the files of the config module share: the build in
 * progress (config.c), the YAML readers (yaml_read.c, scalars.c), the
 * section readers (read_*.c) and the cross-checks (validate.c). Not for
 * other modules.
 *
 * The parser can check one node at a time (types, ranges, id syntax) but not
 * references between sections: a location names a region that may come
 * later in the file, two sources may claim the same pair. So it keeps every
 * name it cannot resolve yet, and the position of every entry, in side
 * tables parallel to the config arrays; config__validate resolves them and
 * reports with those positions.
 *
 * Main thread only (like the whole module); a build lives for one load.
 */
#ifndef ATP_CONFIG_INT_H
#define ATP_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config/config.h"

/* Diagnostics kept per load; a file with more problems gets one last line
 * saying how many more there were (a generated file gone wrong can have
 * millions, and nobody reads past the first screens). */
#define CONFIG__MAX_DIAGS 1000
/* Buffer rules are not bounded by config.h; this is far above any real
 * rule set and keeps a mistaken generator from exhausting memory. */
#define CONFIG__MAX_BUFFERS 1000000

/* A day, the largest duration unit. */
#define CONFIG__DAY_MS (24LL * 3600 * 1000)

/* Bits of config__authority_src.buckets. */
#define CONFIG__ALL_BUCKETS ((1u << ATP_BUCKET_COUNT) - 1)

/* A position in the file, 1-based; {0, 0} for built-in entries. */
typedef struct config__mark {
    int line;
    int column;
} config__mark;

typedef struct config__location_src {
    config__mark id; /* the id scalar (or the entry when id is missing) */
    char *region;    /* owned; NULL when missing (already reported) */
    config__mark region_mark;
} config__location_src;

/* One location named in one authority entry, with the buckets that entry
 * lists (an entry is the cross product of its locations and buckets). */
typedef struct config__claim_src {
    char *location; /* owned */
    config__mark mark;
    uint8_t buckets; /* bit (1 << enum atp_bucket) */
} config__claim_src;

typedef struct config__source_src {
    config__mark id;
    config__claim_src *claims;
    size_t n_claims;
} config__source_src;

typedef struct config__buffer_src {
    char *region; /* owned; NULL = any */
    config__mark region_mark;
    char *channel; /* owned; NULL = any */
    config__mark channel_mark;
    config__mark mark; /* the rule itself */
} config__buffer_src;

/* config__build: one load in progress. c's arrays and the *_src arrays are
 * parallel (same index = same entry). Entries whose id was missing are not
 * added at all; entries with an invalid id are kept with it, so that
 * references to them do not produce a second, misleading "unknown" error. */
typedef struct config__build {
    config c;
    config_diags *diags; /* NULL: count only */
    size_t n_errors;
    bool oom;
    config__mark query_listen_mark;
    config__mark ingest_listen_mark;
    config__mark feed_listen_mark, http_listen_mark, auth_mark;
    config__mark *region_marks;
    config__location_src *locations;
    config__mark *channel_marks; /* [0] is the built-in default channel */
    config__source_src *sources;
    config__buffer_src *buffers;
} config__build;

/* config__error records one problem at mark (line 0 = not tied to a line).
 * Never fails: when memory or the diag cap runs out it only counts. */
void config__error(config__build *b, config__mark mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* config__validate runs the cross-section checks on a parsed build, resolves
 * names into indexes and expands authority into sorted pairs. Errors go to
 * b (config__error); sets b->oom when memory runs out. */
void config__validate(config__build *b);

/* config__*_id: the id of entry i of a section (index.c), for the code
 * that walks every section alike (the maps, validate.c's checks). */
typedef const char *(*config__id_fn)(const config *c, size_t i);
const char *config__region_id(const config *c, size_t i);
const char *config__location_id(const config *c, size_t i);
const char *config__channel_id(const config *c, size_t i);
const char *config__source_id(const config *c, size_t i);
/* config__bundle_id: bundle i's SKU ("" when it did not parse). */
const char *config__bundle_id(const config *c, size_t i);

/* A section's ids sorted (then by index), for checks across entries in
 * n log n (validate.c): config__keys_sorted returns the n ids of a section
 * sorted (caller frees), or NULL with b->oom set (n == 0 returns NULL too:
 * lookups in an empty list find nothing); config__keys_find returns the
 * index of the first entry named id, or -1. */
typedef struct config_key {
    const char *id;
    uint32_t index;
} config_key;
config_key *config__keys_sorted(config__build *b, size_t n,
                                config__id_fn id_of);
int64_t config__keys_find(const config_key *keys, size_t n, const char *id);

/* config__index_build builds c's id -> index maps (index.c), once, after
 * a load succeeded: ATP_OK or ATP_E_NOMEM (c->index left NULL).
 * config__index_free frees them (config_fini). */
atp_err config__index_build(config *c);
void config__index_free(config *c);

/* config__id_check returns NULL when s (len bytes) is a valid id: 1..max_len
 * bytes of printable UTF-8, no control characters. Otherwise it returns what
 * is wrong, for a message ("is empty", "is longer than 64 bytes", ...). */
const char *config__id_check(const char *s, size_t len, size_t max_len);

/* config__at writes where an earlier node is, for "(first at ...)": "line 5",
 * or "line 5, column 11" when later is on the same line (flow style). */
const char *config__at(config__mark earlier, config__mark later, char *buf,
                       size_t size);

/* config__diags_finish (yaml_read.c) sorts b's diagnostics by position and
 * adds the "more problems" line; once, at the end of a load. */
void config__diags_finish(config__build *b);

/* Small parsers (scalars.c): no YAML, no allocation. */
int config__parse_int(const char *s, size_t len, int64_t *out);
void config__format_ms(int64_t ms, char *buf, size_t size);
size_t config__utf8_len(const unsigned char *s, size_t avail, uint32_t *cp);

/* config__walk: the document being read, and where problems go. */
typedef struct config__walk {
    config__build *b;
    yaml_document_t *doc;
} config__walk;

/* YAML node helpers and typed readers (yaml_read.c). A reader that fails
 * has reported why at the node (config__error) and leaves *out alone;
 * strings it returns are malloc'ed and owned by the caller. */
config__mark config__mark_of(const yaml_node_t *n);
yaml_node_t *config__node(config__walk *w, int index);
bool config__node_is_null(const yaml_node_t *n);
const char *config__node_show(const yaml_node_t *n, char *buf, size_t size);
char *config__strdup(config__build *b, const char *s);
const char *config__scalar(config__walk *w, const yaml_node_t *n,
                           const char *what, const char *expected, size_t *len);
bool config__get_int(config__walk *w, const yaml_node_t *n, const char *what,
                     int64_t min, int64_t max, int64_t *out);
/* config__get_choice: a scalar that must be one of choices (NULL-ended);
 * *out is its index. expected words the choices for the message. */
bool config__get_choice(config__walk *w, const yaml_node_t *n, const char *what,
                        const char *expected, const char *const *choices,
                        int *out);
bool config__get_duration(config__walk *w, const yaml_node_t *n,
                          const char *what, int64_t min_ms, int64_t max_ms,
                          int64_t *out);
char *config__get_text(config__walk *w, const yaml_node_t *n, const char *what,
                       const char *expected);
char *config__get_id(config__walk *w, const yaml_node_t *n, const char *what,
                     size_t max_len);
size_t config__get_seq(config__walk *w, const yaml_node_t *n, const char *what,
                       const char *of);
yaml_node_t *config__seq_item(config__walk *w, const yaml_node_t *n, size_t i);
size_t config__seq_limit(config__walk *w, const yaml_node_t *seq, size_t n,
                         size_t max, const char *what);
/* The most keys a section may have (service has 36): each section checks
 * its count against it at compile time (_Static_assert), and
 * config__map_fields at run time, so a key added beyond it fails loudly
 * instead of overrunning the parser's table. */
#define CONFIG_MAX_KEYS 64

/* config__section_of_key: "service" or "reservations" when key is one of
 * that section's keys (a key written at the top level by mistake), else
 * NULL. */
const char *config__section_of_key(const char *key);

bool config__map_fields(config__walk *w, const yaml_node_t *node,
                        const char *what, const char *const *keys,
                        size_t n_keys, yaml_node_t **vals);

/* Section readers, called by config.c for each top-level key present (not
 * null). node is the section's value; what it sets is in w->b. */
void config__parse_service(config__walk *w, const yaml_node_t *node);
void config__parse_reservations(config__walk *w, const yaml_node_t *node);
void config__parse_regions(config__walk *w, const yaml_node_t *seq);
void config__parse_locations(config__walk *w, const yaml_node_t *seq);
void config__parse_channels(config__walk *w, const yaml_node_t *seq);
void config__parse_bundles(config__walk *w, const yaml_node_t *seq);
void config__parse_sources(config__walk *w, const yaml_node_t *seq);
void config__parse_buffers(config__walk *w, const yaml_node_t *seq);
void config__parse_auth(config__walk *w, const yaml_node_t *node);
/* config__check_sources_insecure (read_sources.c) refuses ingest_listen
 * beyond loopback while a source has no key_file, unless
 * auth.allow_insecure. After the sections are read. */
void config__check_sources_insecure(config__build *b);
/* config__source_insecure: ingest_listen is beyond loopback while a source
 * has no key (whatever allow_insecure says); true with the message in why.
 * Shared by the load check above and config_insecure_listener (atpd, after
 * its command-line overrides). */
bool config__source_insecure(const config *c, char *why, size_t why_len);
/* config__check_insecure (read_auth.c) reports each client listener
 * (query, feed, HTTP) beyond loopback when auth has no tokens and
 * allow_insecure is not set. After the sections are read. */
void config__check_insecure(config__build *b);
/* config__parse_tls (read_tls.c) reads the tls: section and checks its
 * files (crypto/x509.h); config__validate_tls checks that every TLS
 * endpoint has a certificate, called once after all sections. */
void config__parse_tls(config__walk *w, const yaml_node_t *node);
/* config__parse_cluster (read_cluster.c) reads the cluster: section. */
void config__parse_cluster(config__walk *w, const yaml_node_t *node);
void config__validate_tls(config__build *b);

/* config__entry_name (read_places.c) writes how messages name an entry:
 * "region 'us-east'", or "regions entry 3" while its id is unknown. */
void config__entry_name(char *buf, size_t size, const char *kind,
                        const char *section, const char *id, size_t i);

#endif
