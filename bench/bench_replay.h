/*
 * bench_replay.h - turns order-history CSV files into a replay plan: orders
 * (carts / reservations) in arrival order with their lines, and
 * cancellations that release earlier orders' lines.
 *
 * The UCI Online Retail layout works as is (InvoiceNo, StockCode, Quantity,
 * InvoiceDate, Country, CustomerID; an InvoiceNo starting with "C" is a
 * cancellation). Other layouts: name (or number, 1-based) the columns.
 * Rows of one order must be consecutive (they are in UCI's files); orders
 * are then sorted by time, stably. A cancellation line is matched to the
 * latest earlier order of the same customer (or any customer, without a
 * customer column) that has the same SKU. Pure code apart from reading the
 * files; main thread.
 */
#ifndef ATP_BENCH_REPLAY_H
#define ATP_BENCH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_work.h"

typedef struct bench_replay_cols {
    const char *invoice, *sku, *qty, *date, *country,
        *customer; /* NULL: absent */
    char sep;
    const char *cancel_prefix;
} bench_replay_cols;

void bench_replay_cols_default(bench_replay_cols *c);

typedef struct bench_replay_order {
    int64_t t_ms; /* order time, ms since the epoch */
    bool cancel;
    uint32_t first_line, n_lines; /* into bench_replay.lines */
    int64_t target; /* cancellation: the order it releases; -1 none */
} bench_replay_order;

typedef struct bench_replay {
    char **skus; /* distinct SKU ids, in first-seen order */
    uint32_t n_skus;
    bench_replay_order *orders;
    size_t n_orders;
    bench_line *lines; /* sku indexes into skus, region from the country */
    size_t n_lines;
    uint64_t rows, skipped_rows, cancel_lines_matched, cancel_lines_unmatched;
    int64_t t_first, t_last;
} bench_replay;

/* bench_replay_load reads files (at most max_rows rows in all, 0: all).
 * Returns 0, or -1 with a message in err. */
int bench_replay_load(char *const *files, int n_files,
                      const bench_replay_cols *cols, uint32_t n_regions,
                      uint64_t max_rows, bench_replay *out, char *err,
                      size_t errlen);
void bench_replay_fini(bench_replay *r);

/* bench_replay_basket fills b with the basket sizes of the orders. */
bool bench_replay_basket(const bench_replay *r, bench_basket *b);

/* Exposed for tests: parse one CSV record (in place) into at most max
 * fields; returns the count. */
int bench_csv_split(char *line, char sep, char **fields, int max);
/* bench_parse_time_ms parses "2010-12-01 08:26:00" or "12/1/2010 8:26". */
bool bench_parse_time_ms(const char *s, int64_t *out);

#endif
