/*
 * csv_import.h - atp-import's reader of 3PL stock and inbound CSV files:
 * RFC 4180 fields, a configurable column mapping, every row a bucket value
 * (stock file) or an inbound lot (a file with lot and eta columns);
 * docs/IMPORT.md, "CSV".
 *
 * Pure: no I/O. Strings are copied into the batch's pool. Main thread of
 * atp-import, the unit tests, the fuzz target.
 */
#ifndef ATP_IMPORT_CSV_H
#define ATP_IMPORT_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "import_rec.h"

enum csv_col {
    CSV_SKU,
    CSV_LOCATION,
    CSV_QTY,
    CSV_BUCKET,
    CSV_LOT,
    CSV_ETA,
    CSV_COLS
};

#define CSV_COL_NAME_MAX 64

typedef struct csv_opts {
    char delimiter;
    bool header; /* the first line names the columns */
    /* Each column: a header name or a 1-based number; "" not in the file. */
    char cols[CSV_COLS][CSV_COL_NAME_MAX];
    uint8_t bucket; /* without a bucket column */
    bool received;  /* an inbound file's lots arrived (--received) */
} csv_opts;

/* csv_opts_default: ',', a header, sku=sku,location=location,qty=qty,
 * on_hand. */
void csv_opts_default(csv_opts *o);

/* csv_parse_columns replaces o's mapping with "sku=Item,qty=On Hand,..."
 * (keys sku, location, qty, bucket, lot, eta); false with why when a key
 * is unknown or repeated, a name empty or too long, sku or qty missing,
 * lot without eta (or the reverse), or bucket with lot. */
bool csv_parse_columns(const char *s, csv_opts *o, char *why, size_t why_len);

/* csv_parse_delimiter: ",", ";", "|", "tab" (or a tab character). */
bool csv_parse_delimiter(const char *s, char *out);

/* import_csv reads buf[0..len) into b: one record per data row, every
 * problem with its line and column. */
void import_csv(const char *buf, size_t len, const csv_opts *o,
                import_batch *b);

#endif
