/*
 * import_resolve.h - atp-import's check of a file's records against atpd's
 * configuration, and the events it sends: each location code through the
 * location map to a configured location where the source has authority,
 * SKUs and lot ids as atpd checks them, duplicates within the file
 * (docs/IMPORT.md).
 *
 * Pure: the map's text and the config are given. Main thread of
 * atp-import, the unit tests.
 */
#ifndef ATP_IMPORT_RESOLVE_H
#define ATP_IMPORT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"
#include "config/config.h"
#include "import_rec.h"

typedef struct import_locmap {
    char **code, **loc;
    size_t n, cap;
} import_locmap;

/* import_locmap_parse reads "CODE LOCATION" lines (separated by spaces, a
 * tab, '=' or ','; '#' starts a comment; blank lines skipped) into m;
 * false with why (naming the line) on a line without both, or a code
 * given twice. */
bool import_locmap_parse(const char *text, size_t len, import_locmap *m,
                         char *why, size_t why_len);
void import_locmap_fini(import_locmap *m);

typedef struct import_target {
    const config *cfg;
    size_t source;           /* index into cfg->sources */
    const char *default_loc; /* --location, or NULL */
    const import_locmap *map;
} import_target;

/* Counts of the events import_resolve wrote. */
typedef struct import_counts {
    size_t sets, lots, lot_cancels, lot_receives, locations;
} import_counts;

/* import_resolve checks every record of b against t, recording problems
 * in b, and, when there are none, writes the events in file order (a
 * repeated identical bucket value once) to *evs (malloc'd, *n events; the
 * caller frees it). Strings point into b's pool and t's config. false when
 * b has problems (or had them before) or memory ran out (b->nomem). */
bool import_resolve(import_batch *b, const import_target *t, codec_event **evs,
                    size_t *n, import_counts *counts);

#endif
