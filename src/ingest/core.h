/*
 * core.h - the nng-free part of ingest: everything a source message goes
 * through between the socket and the engine queue. Decode and validation
 * (codec), the source it names (the configuration's map), its MAC, the
 * publisher session and sequencing (sources), location resolution and the
 * source's authority, full-snapshot assembly, and the batches handed on.
 * The transport (ingest.c) only receives messages and sends resync
 * requests; unit tests drive this part with bytes and hooks of their own
 * (tests/unit/ingest/).
 *
 * Time: the core reads no clock for its decisions. Every receive and tick
 * is given now_ms (monotonic, milliseconds; never going back), which is
 * the time of the session check (heartbeat_timeout), sequencing (reorder
 * window, resync retries and timeout), heartbeats, and snapshot assembly
 * (snapshot_timeout); held messages delivered from a tick carry the
 * tick's. The daemon passes clock_mono_ms(); the simulation test
 * (tests/unit/engine/test_sim.c) its own clock, so that a seed is one run.
 * Only the lag a source's status reports (sources_applied) reads the wall
 * clock, where a batch is released.
 *
 * Threads: ingest_core_receive and ingest_core_tick on one thread (the
 * ingest thread); the release callback of every batch handed to
 * hooks.submit runs where the batch is applied (the engine thread);
 * ingest_core_stats_get from any thread.
 */
#ifndef ATP_INGEST_CORE_H
#define ATP_INGEST_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/ingest.h"
#include "sources/sources.h"

typedef struct ingest_core ingest_core;

/* What the core calls outside itself. */
typedef struct ingest_hooks {
    /* submit hands a batch on (engine_submit): ATP_OK, after which b's
     * release(owner, applied) is called exactly once, later, from any
     * thread; any other result: release is not called, the core frees. */
    atp_err (*submit)(void *ctx, const engine_batch *b);
    /* request asks source src for a replay from from_seq or a snapshot
     * (the control socket). May do nothing. */
    void (*request)(void *ctx, uint32_t src, sources_resync_mode mode,
                    uint64_t from_seq);
    /* msg_free frees a transport message given to ingest_core_receive
     * (nng_msg_free); NULL: the messages are not freed. */
    void (*msg_free)(void *msg);
    void *ctx;
} ingest_hooks;

/* ingest_core_alloc: cfg and src (built from cfg) must outlive it. Returns
 * ATP_OK or ATP_E_NOMEM. Any thread, before the first receive. */
atp_err ingest_core_alloc(const config *cfg, sources *src,
                          const ingest_hooks *hooks, ingest_core **out);
/* ingest_core_free drops held messages and partial snapshots; call when no
 * release callback is outstanding (after engine_stop). NULL is fine. */
void ingest_core_free(ingest_core *c);

/* ingest_core_receive takes one message, received at now_ms (monotonic):
 * msg is the transport's handle (owned from now on: freed through
 * hooks.msg_free when the message is done, whatever happens to it) and
 * body[0..len) its bytes, which must live as long as msg. The message is
 * counted, decoded, attributed, checked and either dropped (counted,
 * logged with a budget) or passed to sequencing, which hands it on through
 * hooks.submit in its source's order: a batch of its resolved events, or
 * of none when it was rejected whole (an event outside the source's
 * authority or naming an unknown location rejects all of it). A snapshot
 * part is kept until its last part, then the whole snapshot is one batch
 * with replace_authority. */
void ingest_core_receive(ingest_core *c, void *msg, const void *body,
                         size_t len, int64_t now_ms);

/* ingest_core_tick, at now_ms (monotonic, the clock of the receives):
 * resync requests after a restart (first tick), snapshot timeouts, source
 * resets, reorder deadlines, silence (sources_tick). */
void ingest_core_tick(ingest_core *c, int64_t now_ms);

/* ingest_core_stats_get: the counters of ingest_stats. Any thread. */
void ingest_core_stats_get(const ingest_core *c, ingest_stats *out);

#endif
