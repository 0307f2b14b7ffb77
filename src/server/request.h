/*
 * request.h - decoding a query, running it against the engine, and writing
 * the reply. Independent of the transport (no nng here), so it is tested
 * without sockets. Called from any thread; reads only lock-free state.
 */
#ifndef ATP_REQUEST_H
#define ATP_REQUEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "changes/changes.h"
#include "codec/codec.h"
#include "common/names.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/ingest.h"
#include "sources/sources.h"

/* A section another transport adds to the status reply (the HTTP front
 * end's counters): write(arg, w) writes one value, put under the key name. */
typedef struct request_status_section {
    const char *name;
    void (*write)(void *arg, codec_writer *w);
    void *arg;
} request_status_section;

/* What a request handler may see. Immutable after request_env_init, except
 * the counters and the status section (set once, by the transport that
 * owns it, while others may already answer status: atomic). */
typedef struct request_env {
    const config *cfg;
    engine *eng;
    sources *src;
    ingest *in;   /* may be NULL (tests) */
    changes *chg; /* may be NULL (tests): scans then report seq 0 */
    names regions;
    names channels;
    const char **region_ids;
    /* "us-east, us-west, eu": what an unknown_region / unknown_channel
     * error lists (shortened with "... (N in all)" past REQUEST_LIST_MAX) */
    char *region_list, *channel_list;
    int64_t started_ms; /* monotonic */
    _Atomic uint64_t requests;
    _Atomic uint64_t errors;
    const request_status_section *_Atomic status_extra; /* NULL: none */
} request_env;

atp_err request_env_init(request_env *env, const config *cfg, engine *eng,
                         sources *src, ingest *in, changes *chg);
void request_env_fini(request_env *env);

/* The longest backup directory a request may name (bytes). */
#define REQUEST_BACKUP_DIR_MAX 1023

/* An operation answered later (reservations and snapshots: after the
 * engine decided and the store wrote). The server owns it, one per context;
 * the request module fills it and calls finish(owner) once the reply is
 * written to w. */
typedef struct request_async {
    engine_resv_req req; /* reservations */
    int64_t started_ms;  /* snapshot, backup: monotonic, for its "ms" */
    char backup_dir[REQUEST_BACKUP_DIR_MAX + 1]; /* backup: NUL-terminated */
    codec_str sku; /* explain: in the request's buffer */
    request_env *env;
    codec_writer *w;
    void (*finish)(void *owner);
    void *owner;
} request_async;

/* request_handle decodes buf[0..len), runs it and writes exactly one reply
 * map to w. Uses a for decoded data. Returns true when the reply is
 * written; false when it will be written later, from another thread, and
 * announced through async->finish; buf, a and w must then stay untouched
 * until finish is called. */
bool request_handle(request_env *env, const void *buf, size_t len,
                    codec_arena *a, codec_writer *w, request_async *async);

#endif
