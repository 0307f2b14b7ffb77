/*
 * bench_feed.h - atp-bench's own source publisher: sends batched source
 * messages (PUB) to atpd at a paced or maximum rate, follows what atpd
 * applied through the `sources` query, and accounts for every sequence
 * number at the end (applied, rejected, or reported missed by a gap).
 *
 * Flow control: with window > 0 the publisher never has more than window
 * messages sent but not yet applied (nng PUB drops what the subscriber
 * cannot queue, so an unbounded burst loses messages on purpose; window 0
 * shows that, and the gaps are then reported, not hidden).
 *
 * Runs in the calling thread (a scenario may start it on its own thread).
 */
#ifndef ATP_BENCH_FEED_H
#define ATP_BENCH_FEED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_work.h"

typedef struct bench_feed_opts {
    const char *ingest_url;
    const char *query_url;  /* for `sources` */
    const char *source;     /* source id */
    char *const *locations; /* where events go (on_hand), authority of source */
    uint32_t n_locations;
    const bench_work *work;  /* SKU names */
    uint32_t sku_lo, sku_hi; /* SKUs touched: [lo, hi) */
    uint32_t batch;          /* events per message */
    double events_per_s;     /* 0: as fast as possible */
    double duration_s;       /* traffic: stop after this long (0: no limit) */
    uint64_t max_events;     /* traffic: stop after this many (0: no limit) */
    uint32_t window; /* messages in flight at most; 0: no flow control */
    bool preload;    /* SET on_hand = qty on every (sku, location) once */
    int64_t qty;     /* preload quantity; traffic SETs go back to it */
    uint32_t lots;   /* preload: inbound lots per (sku, location) too, qty
                        each, arriving 1, 2, ... weeks ahead */
    uint64_t seed;
    const char *label;
    bool quiet;
    atomic_bool *stop; /* optional: stop early when it becomes true */
} bench_feed_opts;

typedef struct bench_feed_result {
    uint64_t first_seq, final_seq; /* this run's sequence numbers */
    uint64_t msgs_sent, events_sent, bytes_sent, send_errors;
    double send_s;    /* first send .. last data message sent */
    double applied_s; /* first send .. final sequence applied */
    bool complete;    /* the final sequence was applied in time */
    /* the source's counters, deltas over the run */
    uint64_t messages, events, duplicates, gaps, missed, rejected, heartbeats;
    int64_t
        unaccounted; /* seqs neither applied, rejected nor reported missed */
    double events_per_s; /* events applied / applied_s */
    double sent_events_per_s;
    uint64_t
        *series; /* events the engine applied in each second from the start */
    unsigned n_series;
    char error[256];
} bench_feed_result;

/* bench_feed_run publishes and waits until atpd applied the last message
 * (bounded). Returns 0, or -1 with res->error. */
int bench_feed_run(const bench_feed_opts *o, bench_feed_result *res);
void bench_feed_result_fini(bench_feed_result *res);

/* Counters of one source as `sources` reports them. */
typedef struct bench_source_counters {
    bool found;
    char state[16];
    uint64_t last_seq, messages, events, duplicates, gaps, missed, rejected,
        heartbeats;
} bench_source_counters;

struct client;
/* bench_sources_read asks `sources` and fills c for source id. */
bool bench_sources_read(struct client *cl, const char *source,
                        bench_source_counters *c);

#endif
