/*
 * ingest.h - the source feed transport: an nng SUB socket that listens for
 * sources' PUB sockets, decodes and validates each message, runs it through
 * sequencing (sources.h) and hands accepted batches to the engine.
 *
 * Threads: one ingest thread (ingest_start) does all of the above; the
 * engine thread calls back to release applied messages. ingest_stats_get
 * is callable from any thread.
 */
#ifndef ATP_INGEST_H
#define ATP_INGEST_H

#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"
#include "engine/engine.h"
#include "sources/sources.h"

typedef struct ingest ingest;

typedef struct ingest_stats {
    uint64_t received;       /* messages read from the socket */
    uint64_t bytes;          /* their payload bytes */
    uint64_t bad_messages;   /* undecodable and not attributable to a source */
    uint64_t unknown_source; /* decodable, but naming no configured source */
    uint64_t rejected;       /* rejected whole (all reasons, all sources) */
} ingest_stats;

/* ingest_alloc opens the SUB socket and listens on
 * cfg->service.ingest_listen. Returns ATP_E_TRANSPORT (logged with nng's
 * reason) when the address cannot be bound. All three must outlive it. */
atp_err ingest_alloc(const config *cfg, engine *eng, sources *src,
                     ingest **out);
/* ingest_listen_url: the URL the source socket (control false) or the
 * control socket (control true) listens on, with the port the system chose
 * when the configured one is 0 (valid until ingest_free). */
const char *ingest_listen_url(const ingest *in, bool control);
/* ingest_start starts the ingest thread. */
atp_err ingest_start(ingest *in);
/* ingest_stop closes the socket and waits for the thread. Messages already
 * handed to the engine are applied by engine_stop, which must come after. */
void ingest_stop(ingest *in);
/* ingest_free releases the socket and held messages; call after
 * engine_stop so that no release callback is outstanding. */
void ingest_free(ingest *in);

void ingest_stats_get(const ingest *in, ingest_stats *out);

#endif
