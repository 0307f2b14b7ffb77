/*
 * ingest_int.h - what the nng-free files of ingest share (core.c, the
 * message path; snapshot.c, full-snapshot assembly). Never included outside
 * src/ingest/ (the unit tests aside).
 *
 * All of it is owned by the ingest thread, except the counters (atomics,
 * read by ingest_core_stats_get) and what travels in a batch to the engine
 * thread (an item or a snapshot batch, released there).
 */
#ifndef ATP_INGEST_INT_H
#define ATP_INGEST_INT_H

#include <stdatomic.h>

#include "codec/codec.h"
#include "ingest/core.h"

/* One received message. The transport's message and its decode arena
 * travel together, because decoded strings point into the message. */
typedef struct ingest_item {
    ingest_core *core;
    void *msg; /* the transport's, freed by hooks.msg_free */
    codec_arena *arena;
    codec_src_msg m;    /* valid when decode_err == ATP_OK */
    atp_err decode_err; /* set: rejected whole, still consumes its seq */
    uint32_t src;
    uint64_t seq;
    uint64_t ts_ms;
    engine_event *events;
} ingest_item;

/* A full snapshot being received from one source: its parts (items) until
 * the last one arrives; nothing is applied before that. */
typedef struct ingest_snapshot {
    bool active;
    uint64_t id;
    uint64_t session; /* of its part 0: every part comes from it */
    uint32_t next_part;
    uint64_t seq; /* consistent with */
    ingest_item **items;
    size_t n, cap;
    uint64_t events;
    int64_t started_ms;
} ingest_snapshot;

struct ingest_core {
    const config *cfg;
    sources *src;
    ingest_hooks hooks;
    sources_io io;
    ingest_snapshot *snaps; /* per source */
    bool restored_asked;
    int64_t now_ms;           /* monotonic: the receive or tick in progress */
    uint64_t log_budget;      /* rejections logged so far */
    int64_t *conflict_log_ms; /* per source: conflicts logged once a second */
    uint64_t *conflicts_unlogged; /* per source: since the last line */
    uint64_t *conflict_session;   /* [2 src]: the last intruder, [2 src + 1]:
                                     the session live then */
    _Atomic uint64_t received, bytes, bad_messages, unknown_source, rejected;
};

/* ingest__item_free frees an item, its arena and its transport message. */
void ingest__item_free(ingest_item *it);

/* ingest__should_log: whether this rejection is logged (the first 20, then
 * one in 1000), so that a hostile feed cannot flood the log. */
bool ingest__should_log(ingest_core *c);

/* ingest__resolve resolves and authorizes a message's events into out (room
 * for n_evs): the number written, or -1 when the message must be rejected
 * whole (counted and logged here); heartbeats are counted in *heartbeats,
 * not written. */
int64_t ingest__resolve(ingest_core *c, uint32_t src, uint64_t seq,
                        const codec_event *evs, uint32_t n_evs,
                        engine_event *out, uint32_t *heartbeats);

/* ingest__snapshot_part takes a snapshot part (owned from now on): kept,
 * and the whole snapshot handed on when it is the last one. */
void ingest__snapshot_part(ingest_core *c, ingest_item *it);
/* ingest__snapshot_abort abandons src's snapshot in progress (logged with
 * why): nothing of it applies. */
void ingest__snapshot_abort(ingest_core *c, uint32_t src, const char *why);
/* ingest__snapshot_reset frees the parts kept and makes sn inactive. */
void ingest__snapshot_reset(ingest_snapshot *sn);

#endif
