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

#include "admin/admin.h"
#include "auth/auth.h"
#include "changes/changes.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"
#include "ingest/ingest.h"
#include "metrics/metrics.h"
#include "sources/sources.h"

/* A section another transport adds to the status reply (the HTTP front
 * end's counters): write(arg, w) writes one value, put under the key name. */
typedef struct request_status_section {
    const char *name;
    void (*write)(void *arg, codec_writer *w);
    void *arg;
} request_status_section;

/* ---- per-operation metrics (docs/METRICS.md) ------------------------------
 * Every request, on either transport, is timed by its transport from
 * arrival to its reply handed over, and counted under its op (index 0,
 * "none": the request named no op atpd knows, or the HTTP layer answered
 * it before it reached one) with its error code. */
typedef enum request_transport {
    REQUEST_NNG,
    REQUEST_HTTP,
    REQUEST_TRANSPORTS
} request_transport;

/* Room for the ops (request.c checks at compile time that they fit) and
 * for the error codes (a code past the last slot counts in slot 0's
 * place: never, include/atp/error.h stays below it). */
#define REQUEST_OPS_MAX 40
#define REQUEST_ERR_SLOTS 48

typedef struct request_metrics {
    metrics_hist latency[REQUEST_TRANSPORTS][REQUEST_OPS_MAX];
    _Atomic uint64_t
        errors[REQUEST_TRANSPORTS][REQUEST_OPS_MAX][REQUEST_ERR_SLOTS];
} request_metrics;

/* request_op_count: ops known, "none" included; request_op_name(i) for
 * 0 <= i < request_op_count() ("none", "atp", ...). */
unsigned request_op_count(void);
const char *request_op_name(unsigned op);
extern const char *const request_transport_names[REQUEST_TRANSPORTS];

/* What a request handler may see. Immutable after request_env_init, except
 * the counters and the status section (set once, by the transport that
 * owns it, while others may already answer status: atomic). */
typedef struct request_env {
    const config *cfg;
    auth *auth; /* cfg->auth's tokens (off when none), owned */
    engine *eng;
    sources *src;
    ingest *in;         /* may be NULL (tests) */
    changes *chg;       /* may be NULL (tests): scans then report seq 0 */
    int64_t started_ms; /* monotonic */
    _Atomic uint64_t requests;
    _Atomic uint64_t errors;
    /* nng query connections closed for idleness (server.c,
     * service.query_idle_timeout) */
    _Atomic uint64_t idle_closed;
    request_metrics *metrics; /* 64-byte aligned, owned */
    const request_status_section *_Atomic status_extra; /* NULL: none */
    /* true (atpd, set before any transport starts): until every
     * readiness condition of common/health.h holds, every op but status,
     * ready and health answers not_ready. false (tests): always ready. */
    bool gate_ready;
    /* The run-time administration (admin ops); NULL (tests): those ops
     * answer bad_state. Set by main before any request. */
    admin *admin;
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
    void *pickup;  /* pickup, pickup_cart: the request, in its arena */
    void *promise; /* promise, promise_cart: the request, in its arena */
    /* Who sent it (auth_check; NULL: authentication off or an open op):
     * its client owns the reservations it creates (tenancy). */
    auth_who who;
    request_env *env;
    codec_writer *w;
    void (*finish)(void *owner);
    void *owner;
    /* Set by request_handle for the transport's request_observe: the op's
     * index (0: none) and the reply's error code (ATP_OK: none), final
     * once the reply is written (finish called, for a later one). */
    unsigned op;
    int code;
} request_async;

/* request_handle decodes buf[0..len), runs it and writes exactly one reply
 * map to w. Uses a for decoded data. Returns true when the reply is
 * written; false when it will be written later, from another thread, and
 * announced through async->finish; buf, a and w must then stay untouched
 * until finish is called. */
bool request_handle(request_env *env, const void *buf, size_t len,
                    codec_arena *a, codec_writer *w, request_async *async);

/* request_observe counts one request of transport t that took ns
 * nanoseconds: op and code as request_handle left them in the request's
 * request_async (or 0 and the HTTP layer's own code). Lock-free, any
 * thread. */
void request_observe(request_env *env, request_transport t, unsigned op,
                     int code, uint64_t ns);

/* request_latency_read adds the latency histogram of op over every
 * transport into *out (zeroed by the caller). */
void request_latency_read(request_env *env, unsigned op, metrics_hist_sum *out);

/* request_metrics_write writes every atpd metric this module can gather
 * (requests, sources, reservations, ingest, feed, store, snapshots,
 * memory) to t in the Prometheus text format, from the same readings the
 * status reply makes (request_metrics.c). Any thread. */
void request_metrics_write(request_env *env, metrics_text *t);

#endif
