/*
 * sources.h - what atpd knows about each feeding system: sequencing
 * (duplicates, reorder window, gaps), authority over (location, bucket)
 * pairs, health (waiting, ok, resyncing, gapped, silent) and counters.
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
    SOURCES_WAITING, /* nothing received since start, for at most
                        heartbeat_timeout */
    SOURCES_OK,
    SOURCES_GAPPED,    /* a hole was skipped: applied without it, until a
                          snapshot repairs it */
    SOURCES_SILENT,    /* nothing received for longer than heartbeat_timeout:
                          since the last message, or since start (age_ms -1) */
    SOURCES_RESYNCING, /* a hole: later messages held, replay or snapshot
                          requested; or a new session (or a reset) waiting
                          for its full snapshot */
    SOURCES_CONFLICT,  /* a second publisher: messages of another session
                          than the current one, within heartbeat_timeout */
} sources_state;

typedef enum sources_resync_mode {
    SOURCES_RESYNC_REPLAY,   /* resend from a sequence number */
    SOURCES_RESYNC_SNAPSHOT, /* send a full snapshot */
} sources_resync_mode;

typedef struct sources_status {
    const char *id;
    sources_state state;
    uint64_t last_seq;   /* last sequence number applied by the engine */
    uint64_t last_ts_ms; /* source timestamp of that message */
    int64_t lag_ms;      /* receive time - source timestamp, last message */
    int64_t age_ms;      /* since anything arrived; -1 never */
    uint64_t messages, events, duplicates, gaps, missed;
    uint64_t rejected_messages, unauthorized, unknown_location, heartbeats;
    uint64_t resync_requests, snapshots_applied, snapshots_aborted;
    uint64_t held;             /* messages waiting behind a hole now */
    uint64_t resync_from;      /* while resyncing: the first missing seq */
    int64_t last_heartbeat_ms; /* age of the last heartbeat; -1 never */
    uint64_t session;          /* the current publisher session; 0 none */
    uint64_t conflicts;        /* messages of another, live-clashing session */
    uint64_t sessions;         /* new sessions accepted (takeovers) */
    uint64_t unsynced;         /* batches dropped: their session's full
                                  snapshot had not applied yet */
    uint64_t seq_rejected;     /* seq beyond last applied + max_seq_jump */
    uint64_t bad_mac;          /* keyed source: MAC missing or wrong */
    uint64_t resets;           /* source_reset done */
} sources_status;

/* What to do with a message, by its publisher session (sources_session). */
typedef enum sources_verdict {
    SOURCES_ACCEPT,        /* the current session's: sequence it */
    SOURCES_CONFLICT_DROP, /* another session while the current one is live:
                              counted, dropped, changes nothing */
    SOURCES_UNSYNCED,      /* a batch of a session whose full snapshot has not
                              applied yet: counted, dropped (the snapshot will
                              cover it) */
} sources_verdict;

/* Called for each message that may now be processed, in sequence order. */
typedef void (*sources_deliver_fn)(void *ctx, void *item, uint64_t seq);
/* Called for a message that will never be processed (duplicate). */
typedef void (*sources_drop_fn)(void *ctx, void *item);

/* The callbacks sequencing uses; ctx is passed back to each. */
typedef struct sources_io {
    sources_deliver_fn deliver;
    sources_drop_fn drop;
    /* ask source src to resend (replay from from_seq, or a full snapshot) */
    void (*request)(void *ctx, uint32_t src, sources_resync_mode mode,
                    uint64_t from_seq);
    void *ctx;
} sources_io;

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
 * received at now_ms (monotonic). Calls deliver for this and any held
 * messages that are now in order; holds it if earlier ones are missing;
 * calls drop for duplicates (and for messages beyond the hold limit), and
 * for a seq more than the source's max_seq_jump above the last applied
 * one (counted in seq_rejected; a snapshot is asked for). */
void sources_receive(sources *s, uint32_t src, uint64_t seq, void *item,
                     int64_t now_ms, const sources_io *io);

/* sources_session decides by the publisher session (0: the message had
 * none) whether a message of source src (a snapshot part when snapshot)
 * may go on (docs/PROTOCOL.md, "Publisher sessions"): with no current
 * session (start, reset) the first one heard becomes current; another
 * session while the current one was heard within heartbeat_timeout is a
 * conflict; after that long a silence it takes over, and its batches are
 * dropped until its full snapshot applies (one is asked for through io;
 * *ended is then the session it replaced, else UINT64_MAX). Counts what
 * it drops. Ingest thread. */
sources_verdict sources_session(sources *s, uint32_t src, uint64_t session,
                                bool snapshot, int64_t now_ms,
                                const sources_io *io, uint64_t *ended);

/* sources_session_current: session is src's current one (ingest thread): a
 * snapshot being assembled from another is abandoned. */
bool sources_session_current(const sources *s, uint32_t src, uint64_t session);

/* sources_reset_request asks for a reset of source src (source_reset op):
 * done by the ingest thread's next sources_reset_take. Any thread.
 * sources_reset_take returns how many requests came since it last took
 * them (ingest thread; 0: none), which then abandons any snapshot being
 * assembled and calls sources_reset with that count once: held messages
 * dropped, session forgotten, and nothing applied until a full snapshot,
 * whatever its seq (the sequence restarts there). Requests that arrive
 * between two takes are one reset, and every one counts in `resets` (each
 * was an operation answered ok). */
void sources_reset_request(sources *s, uint32_t src);
uint64_t sources_reset_take(sources *s, uint32_t src);
void sources_reset(sources *s, uint32_t src, uint64_t ops, int64_t now_ms,
                   const sources_io *io);

/* sources_count_bad_mac: a message named src without a valid MAC while
 * src has a key (ingest thread). */
void sources_count_bad_mac(sources *s, uint32_t src);

/* sources_tick: a hole that outlived the reorder window starts a resync
 * (or, for sources with resync off, becomes a gap); unanswered requests are
 * resent; a resync that outlives resync_timeout gives up (gap); silence is
 * updated. Call it every few milliseconds. The first call is the start:
 * a source not heard from heartbeat_timeout after it is silent. */
void sources_tick(sources *s, int64_t now_ms, const sources_io *io);

/* sources_feeds: source src has authority at a location of region (as
 * the last reload placed the locations). Any thread. */
bool sources_feeds(const sources *s, uint32_t src, uint32_t region);

/* sources_reload takes each source's heartbeat_timeout from next (a
 * reload; next has the same sources in the same order, config_compare),
 * and from loc_region (the running configuration's locations, where next
 * puts them: config_location_regions) the regions each source feeds (a
 * region is stale while a source with authority at one of its locations
 * is not ok) and the locations removed (CONFIG_LOCATION_GONE). Any thread;
 * the next sources_tick, staleness check and sources_location_gone use it.
 * A source already silent stays so until its next message, as before. */
void sources_reload(sources *s, const config *next, const uint16_t *loc_region);

/* sources_relocate is sources_reload without the heartbeat timeouts: the
 * regions each source feeds and the locations removed, from loc_region
 * alone (a run-time admin change, src/admin), and the authority table
 * from the sources' configurations (config_source.authority of the
 * configuration sources_alloc was given, which the admin state rewrites
 * before it calls this: one caller at a time). Any thread; the ingest's
 * checks see each (location, bucket)'s old owner or its new one. */
void sources_relocate(sources *s, const uint16_t *loc_region);

/* sources_locations_live: how many locations atpd serves now (the
 * configured ones, plus those added, less those removed, at run time).
 * Any thread. */
size_t sources_locations_live(const sources *s);

/* sources_location_gone: a reload removed the location (index into the
 * configuration atpd started with): the ingest rejects events naming it
 * as naming an unknown location. Any thread. */
bool sources_location_gone(const sources *s, uint32_t location);

/* sources_heartbeat records that a heartbeat event was seen. */
void sources_heartbeat(sources *s, uint32_t src, int64_t now_ms);

/* sources_snapshot_applied: a full snapshot consistent with seq was handed
 * to the engine. Messages up to seq are dropped, later held ones delivered;
 * a gap is repaired; the current session (or the sequence, after a reset)
 * is in sync from seq + 1 on. */
void sources_snapshot_applied(sources *s, uint32_t src, uint64_t seq,
                              int64_t now_ms, const sources_io *io);
void sources_snapshot_aborted(sources *s, uint32_t src);
/* sources_snapshot_stale: a snapshot consistent with seq is older than the
 * messages already delivered (seq + 1 < the next expected seq), so applying
 * it would undo them; never after a reset (the sequence restarts at the
 * snapshot's). Ingest thread. */
bool sources_snapshot_stale(const sources *s, uint32_t src, uint64_t seq);

/* sources_restarting: src was reset and its next full snapshot restarts
 * the sequence (until sources_snapshot_applied). Ingest thread. */
bool sources_restarting(const sources *s, uint32_t src);

/* sources_restore: after a restart, the source's applied offset was
 * loaded; the next expected message is seq + 1 (main, before start). */
void sources_restore(sources *s, uint32_t src, uint64_t seq);

/* sources_resync_restored asks every restored source to replay what it
 * sent after its stored offset (ingest thread, once at start; sources_tick
 * repeats it every resync_retry until the source's first message). */
void sources_resync_restored(sources *s, int64_t now_ms, const sources_io *io);

/* sources_region_stale: true when a source with authority in region is
 * not ok (waiting, resyncing, gapped or silent). Any thread. */
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
