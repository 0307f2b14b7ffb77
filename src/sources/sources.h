/*
 * sources.h - what atpd knows about each feeding system: sequencing
 * (duplicates, reorder window, gaps), authority over (location, bucket)
 * pairs, health (waiting, ok, gapped, silent) and counters.
 *
 * Threads: sources_receive, sources_tick and the sources_count_* functions
 * are called by the ingest thread only. sources_applied is called by the
 * engine thread. sources_status_get, sources_authorized and sources_find
 * may be called from any thread (counters are atomics; the rest is
 * immutable after sources_alloc).
 * Pure logic: no I/O, no clock of its own (callers pass now_ms).
 */
#ifndef ATP_SOURCES_H
#define ATP_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"

typedef struct sources sources;

typedef enum sources_state {
    SOURCES_WAITING, /* nothing received yet */
    SOURCES_OK,
    SOURCES_GAPPED, /* a gap was detected and not yet repaired */
    SOURCES_SILENT, /* nothing received for longer than heartbeat_timeout */
} sources_state;

typedef struct sources_status {
    const char *id;
    sources_state state;
    uint64_t last_seq;   /* last sequence number applied by the engine */
    uint64_t last_ts_ms; /* source timestamp of that message */
    int64_t lag_ms;      /* receive time - source timestamp, last message */
    int64_t age_ms;      /* since anything arrived; -1 never */
    uint64_t messages, events, duplicates, gaps, missed;
    uint64_t rejected_messages, unauthorized, unknown_location, heartbeats;
} sources_status;

/* Called for each message that may now be processed, in sequence order. */
typedef void (*sources_deliver_fn)(void *ctx, void *item, uint64_t seq);
/* Called for a message that will never be processed (duplicate). */
typedef void (*sources_drop_fn)(void *ctx, void *item);

atp_err sources_alloc(const config *cfg, sources **out);
/* sources_release_held hands every held message to drop (shutdown). */
void sources_release_held(sources *s, sources_drop_fn drop, void *ctx);
/* sources_free frees s; call sources_release_held first if any are held. */
void sources_free(sources *s);

size_t sources_count(const sources *s);
/* sources_find returns the index of a source id, or -1. */
int sources_find(const sources *s, const char *id, size_t len);
bool sources_authorized(const sources *s, uint32_t src, uint32_t location,
                        uint8_t bucket);

/* sources_receive offers message `item` with sequence seq from source src,
 * received at now_ms (monotonic) carrying source timestamp ts_ms.
 * Calls deliver for this and any held messages that are now in order;
 * holds it if earlier ones are missing; calls drop for duplicates. */
void sources_receive(sources *s, uint32_t src, uint64_t seq, uint64_t ts_ms,
                     void *item, int64_t now_ms, sources_deliver_fn deliver,
                     sources_drop_fn drop, void *ctx);

/* sources_tick ends expired reorder waits (declaring gaps and delivering
 * what was held) and updates silence. Call it every few milliseconds. */
void sources_tick(sources *s, int64_t now_ms, sources_deliver_fn deliver,
                  void *ctx);

/* sources_region_stale: true when a source with authority in region is
 * waiting, gapped or silent. Any thread. */
bool sources_region_stale(const sources *s, uint32_t region);

/* Counting (ingest thread), after the caller validated a delivered message. */
void sources_count_applied(sources *s, uint32_t src, uint32_t events,
                           uint32_t heartbeats);
void sources_count_rejected(sources *s, uint32_t src, uint32_t unauthorized,
                            uint32_t unknown_location);

/* sources_applied records that the engine applied seq (engine thread);
 * wall_ms is the wall clock then, for lag. */
void sources_applied(sources *s, uint32_t src, uint64_t seq, uint64_t ts_ms,
                     int64_t wall_ms);

void sources_status_get(const sources *s, uint32_t src, int64_t now_ms,
                        sources_status *out);
const char *sources_state_name(sources_state st);

#endif
