/*
 * import_rec.h - what atp-import reads out of a file, before it is checked
 * against atpd's configuration: records (a bucket value, an inbound lot, a
 * lot cancellation) with the position they came from, the problems found
 * (position and reason), and the small parsers the formats share
 * (quantities, dates).
 *
 * Pure: no I/O, no clock. One batch per file; main thread of atp-import
 * (and the unit tests, the fuzz target).
 */
#ifndef ATP_IMPORT_REC_H
#define ATP_IMPORT_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/wire.h"

/* Problems kept with their text; more are counted (docs/IMPORT.md: at most
 * 50 printed). */
#define IMPORT_DIAG_KEEP 50
#define IMPORT_DIAG_LEN 240

/* Where a record or a problem is: line (1-based, 0: none), X12 segment
 * (1-based in the file, 0 for CSV), element (X12 element number or CSV
 * column, 1-based; 0: the whole segment or line). */
typedef struct import_pos {
    uint32_t line;
    uint32_t segment;
    uint32_t element;
} import_pos;

typedef struct import_diag {
    import_pos pos;
    char seg_id[4]; /* X12 segment id, "" for CSV */
    char msg[IMPORT_DIAG_LEN];
} import_diag;

enum import_kind {
    IMPORT_SET = 1,         /* bucket := qty */
    IMPORT_LOT_ADD = 2,     /* lot (qty, eta_ms) */
    IMPORT_LOT_CANCEL = 3,  /* the lot will not come */
    IMPORT_LOT_RECEIVE = 4, /* the lot arrived (856 with --received) */
};

typedef struct import_rec {
    uint8_t kind;   /* enum import_kind */
    uint8_t bucket; /* enum atp_bucket (IMPORT_SET) */
    const char *sku;
    const char *loc; /* the file's location code; NULL: the file names none */
    const char *lot; /* lots: the lot id */
    int64_t qty;
    int64_t eta_ms;
    import_pos pos;     /* the record's SKU (CSV: its column) or quantity */
    char seg_id[4];     /* pos's segment id (X12), "" for CSV */
    import_pos loc_pos; /* where loc came from (line 0: pos) */
    uint32_t set; /* X12: the transaction set's number in the file (from 1):
                     an 856's items of one SKU to one location add up */
} import_rec;

typedef struct import_pool_chunk import_pool_chunk;

typedef struct import_batch {
    import_rec *recs;
    size_t n, cap;
    import_diag diags[IMPORT_DIAG_KEEP];
    size_t n_diags; /* every problem found (only the first KEEP have text) */
    import_pool_chunk *pool;
    bool nomem;        /* an allocation failed: the batch is unusable */
    uint32_t sets_846; /* X12 846 transaction sets read */
    uint32_t sets_856; /* X12 856 transaction sets read */
    uint64_t ignored;  /* quantities the mapping does not read */
    /* What the file is about (docs/IMPORT.md, --snapshot): stock (an 846
     * set, a stock CSV), inbound (an 856, an inbound CSV); from its kind,
     * not its records (a header-only stock CSV is a stock file). */
    bool stock_file, inbound_file;
    uint64_t csv_rows; /* CSV data rows read */
    char **csv_cols;   /* CSV: each column's header name (in the pool;
                          its number without a header), for messages */
    size_t n_csv_cols;
} import_batch;

void import_batch_init(import_batch *b);
void import_batch_fini(import_batch *b);

/* import_strdup copies s[0..len) NUL-terminated into the batch's pool
 * (lives until fini); NULL and b->nomem on failure. */
char *import_strdup(import_batch *b, const char *s, size_t len);

/* import_column_name: CSV column col's name (1-based), NULL if unknown. */
const char *import_column_name(const import_batch *b, uint32_t col);

/* import_add appends a zeroed record; NULL and b->nomem on failure. */
import_rec *import_add(import_batch *b);

/* import_diag_add records a problem at pos (seg_id may be NULL). */
void import_diag_add(import_batch *b, import_pos pos, const char *seg_id,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* import_parse_qty reads an integer quantity: optional sign, digits, and
 * optionally a decimal point followed by zeros only ("12", "-3", "12.00";
 * not "12.5", "", "1e3", "1,200"), |q| <= ATP_QTY_MAX. */
bool import_parse_qty(const char *s, size_t len, int64_t *out);

/* import_days_from_civil: days since 1970-01-01 of a proleptic Gregorian
 * date; false when month or day is out of range (Feb 30, day 0). */
bool import_days_from_civil(int64_t y, int m, int d, int64_t *days);

/* import_parse_x12_date reads a DTM date (CCYYMMDD, or YYMMDD: 00-49 are
 * 20xx, 50-99 19xx) and an optional time (tlen 0, HHMM or HHMMSS, and
 * longer decimal seconds are cut at the second) as UTC milliseconds. */
bool import_parse_x12_date(const char *d, size_t dlen, const char *t,
                           size_t tlen, int64_t *ms);

/* import_parse_iso_date reads YYYY-MM-DD, YYYYMMDD, YYYY-MM-DDTHH:MM[:SS][Z]
 * or YYYY-MM-DD HH:MM[:SS] as UTC milliseconds. */
bool import_parse_iso_date(const char *s, size_t len, int64_t *ms);

/* import_bucket_parse: "on_hand", "allocated", "held" -> enum atp_bucket. */
bool import_bucket_parse(const char *s, size_t len, uint8_t *bucket);
const char *import_bucket_name(uint8_t bucket);

#endif
