/*
 * generator.h - atp-feed's pure logic: which messages a simulated source
 * sends, with which events, with which faults, and when.
 *
 * No I/O, no clock, no nng: everything is a function of the options and the
 * seed, so that the same arguments give a byte-identical stream and the unit
 * tests need nothing but this file. Not thread-safe; atp-feed uses it from
 * its main thread only.
 */
#ifndef ATP_FEED_GENERATOR_H
#define ATP_FEED_GENERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "codec/codec.h"

/* ---- PRNG --------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: small, fast, and the same on
 * every platform and libc, which rand() is not. */
typedef struct feed_rng {
    uint64_t s[4];
} feed_rng;

void feed_rng_seed(feed_rng *r, uint64_t seed);
uint64_t feed_rng_next(feed_rng *r);
/* feed_rng_below returns a value in [0, n) for n >= 1 (multiply-shift: no
 * rejection loop, bias below 2^-40 for any n we use). */
uint64_t feed_rng_below(feed_rng *r, uint64_t n);
/* feed_rng_unit returns a double in [0, 1) with 53 random bits. */
double feed_rng_unit(feed_rng *r);

/* ---- generator ---------------------------------------------------------- */

/* One (location, bucket) pair a source may write: its authority. */
typedef struct feed_pair {
    const char *location; /* borrowed; must outlive the generator */
    uint8_t bucket;       /* enum atp_bucket */
} feed_pair;

/* A source: its (location, bucket) pairs for DELTA / SET events, and the
 * locations where it has `inbound` authority (lot events). At least one
 * of the two lists is non-empty; a source with no pair sends lot events
 * only. */
typedef struct feed_source_spec {
    const char *id;         /* borrowed */
    const feed_pair *pairs; /* borrowed; buckets on_hand, allocated, held */
    size_t n_pairs;
    const char *const *inbound; /* borrowed; locations with inbound */
    size_t n_inbound;
} feed_source_spec;

typedef struct feed_gen_opts {
    uint64_t seed;
    uint32_t batch;         /* events per data message, >= 1 */
    uint64_t skus;          /* SKUs are <prefix><n>, n in [0, skus) */
    const char *sku_prefix; /* borrowed */
    double set_ratio;       /* probability that an event is a SET */
    double drop;            /* probability that a message is dropped */
    double dup;             /* ... sent twice */
    double reorder;         /* ... held back behind the source's next one */
    uint64_t start_seq;     /* first seq of every source */
    double lot_ratio;       /* probability that an event is a lot event
                             * (sources with inbound authority) */
    int64_t lot_eta_max_ms; /* a lot's ETA: now + [0, lot_eta_max_ms] */
} feed_gen_opts;

/* Lots: each source keeps at most FEED_LOTS_MAX_OPEN open lots; a lot event
 * adds one (FEED_LOT_P_ADD), changes one (up to FEED_LOT_P_CHANGE),
 * receives one (up to FEED_LOT_P_RECEIVE) or cancels one, always a lot
 * that is open, so every lot event is meaningful. Lot ids are "L<n>", n
 * counting per source from 0; quantities 1..FEED_LOT_QTY_MAX. */
#define FEED_LOTS_MAX_OPEN 4096
#define FEED_LOT_P_ADD 0.40
#define FEED_LOT_P_CHANGE 0.60
#define FEED_LOT_P_RECEIVE 0.85
#define FEED_LOT_QTY_MAX 50
#define FEED_LOT_ID_MAX 24

/* The hot set: FEED_HOT_SHARE of the picks go to the first
 * FEED_HOT_FRACTION of the SKUs (80/20), so that some rows are contended. */
#define FEED_HOT_SHARE 0.8
#define FEED_HOT_DIVISOR 5

/* One generated message and the faults decided for it. The first message
 * of a source (seq == start_seq) is never dropped or reordered, the final
 * heartbeat gets no fault at all. */
typedef struct feed_msg {
    size_t source;         /* index into the specs */
    const char *source_id; /* borrowed from the spec */
    uint64_t seq;
    bool heartbeat; /* a heartbeat message: one [3] event */
    bool final;     /* the source's last message: never faulted */
    uint32_t n_events;
    codec_event *events; /* owned by the generator; valid until the next
                          * feed_gen_* call */
    bool dropped;        /* takes its seq, never sent; copies == 0 */
    unsigned copies;     /* 0 (dropped), 1, or 2 (duplicated) */
    bool reordered;      /* send after the source's next message */
} feed_msg;

typedef struct feed_gen feed_gen;

/* feed_gen_alloc checks the options (batch >= 1, skus >= 1, probabilities
 * in [0, 1], lot_eta_max_ms >= 0, every source with at least one pair or
 * inbound location, SKU ids that fit
 * ATP_SKU_MAX_LEN) and returns a generator. ATP_E_BAD_REQUEST on bad options,
 * ATP_E_NOMEM. The specs and strings are borrowed and must outlive it. */
atp_err feed_gen_alloc(const feed_gen_opts *o, const feed_source_spec *srcs,
                       size_t n_srcs, feed_gen **out);
void feed_gen_free(feed_gen *g);

/* feed_gen_set_now sets the wall clock (ms) that lot ETAs are relative to;
 * the caller's clock, so that the generator stays free of one (0 until
 * set). */
void feed_gen_set_now(feed_gen *g, int64_t now_ms);

/* feed_gen_data generates the next data message (sources take turns, round
 * robin) with opts.batch DELTA/SET (and, with lot_ratio, lot) events inside
 * the source's authority. */
void feed_gen_data(feed_gen *g, feed_msg *out);

/* feed_gen_peek_source returns the source the next feed_gen_data will
 * use. */
size_t feed_gen_peek_source(const feed_gen *g);

/* feed_gen_open_lots returns how many lots of src are open now. */
size_t feed_gen_open_lots(const feed_gen *g, size_t src);

/* feed_gen_heartbeat generates a heartbeat message for source src. With
 * final, no fault is applied (it is the message that lets a receiver prove
 * it has everything); callers must not generate anything for src after it. */
void feed_gen_heartbeat(feed_gen *g, size_t src, bool final, feed_msg *out);

/* feed_gen_next_seq returns the seq the next message of src will get. */
uint64_t feed_gen_next_seq(const feed_gen *g, size_t src);

/* ---- schedule ----------------------------------------------------------- */

/* When each message is due, on a virtual clock that starts at 0. With a
 * rate, data message i is due at i / rate seconds and heartbeats at every
 * multiple of heartbeat_ms, so the whole stream (and its order) is fixed by
 * the options. With rate 0 data is always due at once, and only heartbeats
 * and the duration follow the caller's real clock. */
typedef struct feed_sched_opts {
    double rate;          /* data messages per second; 0: as fast as possible */
    int64_t heartbeat_ms; /* periodic heartbeats per source; 0: none */
    uint64_t messages;    /* data messages to generate; 0: no limit */
    int64_t duration_ms;  /* run length; 0: no limit */
    size_t n_sources;
} feed_sched_opts;

typedef enum feed_item_kind {
    FEED_ITEM_DATA,
    FEED_ITEM_HEARTBEAT,
    FEED_ITEM_END,
} feed_item_kind;

typedef struct feed_item {
    feed_item_kind kind;
    size_t source; /* FEED_ITEM_HEARTBEAT: which source */
    int64_t t_ns;  /* virtual time the item is due */
} feed_item;

typedef struct feed_sched {
    feed_sched_opts o;
    uint64_t data_done; /* data messages handed out */
    uint64_t hb_tick;   /* current heartbeat tick, from 1 */
    size_t hb_source;   /* next source to heartbeat in this tick */
    int64_t clock_ns;   /* virtual time of the last item */
    bool ended;
} feed_sched;

/* feed_sched_init: at least one of messages and duration_ms must be set
 * (the run is bounded); returns ATP_E_BAD_REQUEST otherwise. */
atp_err feed_sched_init(feed_sched *s, const feed_sched_opts *o);

/* feed_sched_next returns the next item. now_ns is the real time elapsed
 * since the start; it is only read when rate == 0. Once it returned END, it
 * keeps returning END. */
void feed_sched_next(feed_sched *s, int64_t now_ns, feed_item *out);

#endif
