/*
 * config_int.h - what config.c (YAML to structs) hands to validate.c
 * (cross-checks between sections). Not for other modules.
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

#include "config/config.h"

/* Diagnostics kept per load; a file with more problems gets one last line
 * saying how many more there were (a generated file gone wrong can have
 * millions, and nobody reads past the first screens). */
#define CONFIG__MAX_DIAGS 1000
/* Buffer rules are not bounded by config.h; this is far above any real
 * rule set and keeps a mistaken generator from exhausting memory. */
#define CONFIG__MAX_BUFFERS 1000000

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

/* config__id_check returns NULL when s (len bytes) is a valid id: 1..max_len
 * bytes of printable UTF-8, no control characters. Otherwise it returns what
 * is wrong, for a message ("is empty", "is longer than 64 bytes", ...). */
const char *config__id_check(const char *s, size_t len, size_t max_len);

/* config__at writes where an earlier node is, for "(first at ...)": "line 5",
 * or "line 5, column 11" when later is on the same line (flow style). */
const char *config__at(config__mark earlier, config__mark later, char *buf,
                       size_t size);

/* config__bucket_name returns "on_hand", "allocated" or "held". */
const char *config__bucket_name(unsigned bucket);

#endif
