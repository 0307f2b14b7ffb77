/*
 * request_dispatch.c - one request from bytes to reply: the map scanned,
 * the op looked up in the dispatch table, the token checked, the start-up
 * gate, the handler run, the error reply written and counted; the op
 * table's names and the per-op latency and error counters of both
 * transports. Any thread (nng callback threads, libmicrohttpd's).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "server/reply.h"
#include "server/request_int.h"

/* request_authorize checks the request's token (field 'token') for op
 * (len 0: an op atpd does not know, answered unknown_op only to a valid
 * token) and sets async->who. false: refused, with the reason in e. */
static bool request_authorize(request_env *env, const request_fields *f,
                              codec_str op, request_async *async,
                              reply_error *e)
{
    async->who = NULL;
    if (!auth_enabled(env->auth))
        return true; /* loopback without tokens: no clock read, no lookup */
    codec_str tok = {0};
    if (f->token.p != NULL && !codec_view_str(f->token, &tok))
        tok.len = 0; /* not a string: no token */
    unsigned scope = op.len > 0 ? auth_op_scope(op.ptr, op.len) : AUTH_ANY;
    char why[200];
    atp_err err = auth_check(env->auth, tok.ptr, tok.len, scope,
                             clock_mono_ns(), &async->who, why, sizeof why);
    if (err == ATP_OK)
        return true;
    reply_error_set(e, err, "%s; nothing was done", why);
    return false;
}

typedef bool (*request_fn)(request_env *, const request_fields *, codec_arena *,
                           codec_writer *, reply_error *);

static const struct {
    const char *op;
    request_fn fn;
} request_ops[] = {
    {"atp", request_atp},
    {"cart", request_cart},
    {"regions", request_regions},
    {"sources", request_sources},
    {"status", request_status},
    {"scan", request_scan},
    {"ready", request_ready},
    {"health", request_health},
    {"source_reset", request_source_reset},
    {"admin_list", request_admin_list},
    {"admin_history", request_admin_history},
    {"admin_export", request_admin_export},
};

static const struct {
    const char *op;
    engine_resv_op resv;
} request_resv_ops[] = {
    {"reserve", ENGINE_RESV_RESERVE}, {"commit", ENGINE_RESV_COMMIT},
    {"release", ENGINE_RESV_RELEASE}, {"extend", ENGINE_RESV_EXTEND},
    {"reservation", ENGINE_RESV_GET},
};

/* The admin changes, answered by the admin thread (request_admin_ops.c). */
static const struct {
    const char *op;
    config_edit_kind kind;
} request_admin_change_ops[] = {
    {"admin_set_buffer", CONFIG_EDIT_BUFFER_SET},
    {"admin_remove_buffer", CONFIG_EDIT_BUFFER_REMOVE},
    {"admin_set_bundle", CONFIG_EDIT_BUNDLE_SET},
    {"admin_remove_bundle", CONFIG_EDIT_BUNDLE_REMOVE},
    {"admin_move_location", CONFIG_EDIT_LOCATION_MOVE},
    {"admin_set_location", CONFIG_EDIT_LOCATION_SET},
    {"admin_set_region", CONFIG_EDIT_REGION_SET},
    {"admin_remove_location", CONFIG_EDIT_LOCATION_REMOVE},
    {"admin_add_location", CONFIG_EDIT_LOCATION_ADD},
    {"admin_set_authority", CONFIG_EDIT_AUTHORITY_SET},
    {"admin_add_channel", CONFIG_EDIT_CHANNEL_ADD},
    {"admin_add_region", CONFIG_EDIT_REGION_ADD},
    {"admin_remove_region", CONFIG_EDIT_REGION_REMOVE},
    {"admin_remove_channel", CONFIG_EDIT_CHANNEL_REMOVE},
};

/* The ops' indexes in the metrics: 0 "none", then request_ops, snapshot,
 * backup, explain, pickup, pickup_cart, promise, promise_cart,
 * request_resv_ops,
 * request_admin_change_ops. */
#define REQUEST_N_OPS (sizeof request_ops / sizeof request_ops[0])
#define REQUEST_N_RESV (sizeof request_resv_ops / sizeof request_resv_ops[0])
#define REQUEST_OP_SNAPSHOT (1 + REQUEST_N_OPS)
#define REQUEST_OP_BACKUP (2 + REQUEST_N_OPS)
#define REQUEST_OP_EXPLAIN (3 + REQUEST_N_OPS)
#define REQUEST_OP_PICKUP (4 + REQUEST_N_OPS)
#define REQUEST_OP_PICKUP_CART (5 + REQUEST_N_OPS)
#define REQUEST_OP_PROMISE (6 + REQUEST_N_OPS)
#define REQUEST_OP_PROMISE_CART (7 + REQUEST_N_OPS)
#define REQUEST_OP_RESV (8 + REQUEST_N_OPS)
#define REQUEST_N_ADMIN                                                        \
    (sizeof request_admin_change_ops / sizeof request_admin_change_ops[0])
#define REQUEST_OP_ADMIN (REQUEST_OP_RESV + REQUEST_N_RESV)
_Static_assert(REQUEST_OP_ADMIN + REQUEST_N_ADMIN <= REQUEST_OPS_MAX,
               "REQUEST_OPS_MAX too small for the ops");

const char *const request_transport_names[REQUEST_TRANSPORTS] = {"nng", "http"};

unsigned request_op_count(void)
{
    return (unsigned)(REQUEST_OP_ADMIN + REQUEST_N_ADMIN);
}

const char *request_op_name(unsigned op)
{
    if (op == 0 || op >= request_op_count())
        return "none";
    if (op <= REQUEST_N_OPS)
        return request_ops[op - 1].op;
    if (op == REQUEST_OP_SNAPSHOT)
        return "snapshot";
    if (op == REQUEST_OP_BACKUP)
        return "backup";
    if (op == REQUEST_OP_EXPLAIN)
        return "explain";
    if (op == REQUEST_OP_PICKUP)
        return "pickup";
    if (op == REQUEST_OP_PICKUP_CART)
        return "pickup_cart";
    if (op == REQUEST_OP_PROMISE)
        return "promise";
    if (op == REQUEST_OP_PROMISE_CART)
        return "promise_cart";
    if (op >= REQUEST_OP_ADMIN)
        return request_admin_change_ops[op - REQUEST_OP_ADMIN].op;
    return request_resv_ops[op - REQUEST_OP_RESV].op;
}

bool request_handle(request_env *env, const void *buf, size_t len,
                    codec_arena *a, codec_writer *w, request_async *async)
{
    ATP_ASSERT(env != NULL && (buf != NULL || len == 0));
    ATP_ASSERT(a != NULL && w != NULL && async != NULL);
    atomic_fetch_add_explicit(&env->requests, 1, memory_order_relaxed);
    async->op = 0;
    async->code = ATP_OK;
    async->who = NULL;
    reply_error e = {.code = ATP_OK, .line = -1};
    codec_view req;
    request_fields f;
    codec_str op;
    atp_err err = codec_view_root(buf, len, &req);
    if (err != ATP_OK) {
        reply_error_set(&e, err, "%s",
                        err == ATP_E_TOO_LARGE
                            ? "message nested too deeply or "
                              "declaring sizes beyond its end"
                            : "not a msgpack message");
    } else if (codec_view_type(req) != CODEC_MAP) {
        reply_error_set(&e, ATP_E_BAD_REQUEST, "a request is a msgpack map");
    } else if (!request_fields_scan(req, &f, &op)) {
        reply_error_set(&e, ATP_E_BAD_REQUEST, "missing string field 'op'");
    } else {
        size_t i = 0, n = sizeof request_ops / sizeof request_ops[0];
        size_t k = 0, nr = sizeof request_resv_ops / sizeof request_resv_ops[0];
        while (i < n && !codec_str_eq(op, request_ops[i].op))
            i++;
        while (i == n && k < nr && !codec_str_eq(op, request_resv_ops[k].op))
            k++;
        size_t m = 0;
        while (i == n && k == nr && m < REQUEST_N_ADMIN &&
               !codec_str_eq(op, request_admin_change_ops[m].op))
            m++;
        /* Only status, ready and health answer before the state is
         * restored: the others read it (sources too: start-up restores
         * their offsets). */
        bool probe = i < n && (request_ops[i].fn == request_status ||
                               request_ops[i].fn == request_ready ||
                               request_ops[i].fn == request_health);
        /* The op is set before the gate: a not_ready refusal is counted
         * under its op, not "none". */
        async->op = i < n                              ? (unsigned)(1 + i)
                    : codec_str_eq(op, "snapshot")     ? REQUEST_OP_SNAPSHOT
                    : codec_str_eq(op, "explain")      ? REQUEST_OP_EXPLAIN
                    : codec_str_eq(op, "backup")       ? REQUEST_OP_BACKUP
                    : codec_str_eq(op, "pickup")       ? REQUEST_OP_PICKUP
                    : codec_str_eq(op, "pickup_cart")  ? REQUEST_OP_PICKUP_CART
                    : codec_str_eq(op, "promise")      ? REQUEST_OP_PROMISE
                    : codec_str_eq(op, "promise_cart") ? REQUEST_OP_PROMISE_CART
                    : k < nr              ? (unsigned)(REQUEST_OP_RESV + k)
                    : m < REQUEST_N_ADMIN ? (unsigned)(REQUEST_OP_ADMIN + m)
                                          : 0;
        bool known = async->op != 0;
        /* A cluster's standby (docs/CLUSTER.md) answers what is this
         * node's own: its sources (each node ingests for itself) and its
         * run-time administration (per node); the rest is the owner's. */
        bool standby = known && !probe && request_is_standby(env);
        bool node_own =
            (i < n && (request_ops[i].fn == request_sources ||
                       request_ops[i].fn == request_source_reset ||
                       request_ops[i].fn == request_admin_list ||
                       request_ops[i].fn == request_admin_history ||
                       request_ops[i].fn == request_admin_export)) ||
            (i == n && k == nr && m < REQUEST_N_ADMIN);
        /* With several partitions, a request naming another
         * partition's regions goes to that partition's owner, and one
         * naming several partitions' regions is refused with the map
         * (docs/CLUSTER.md, "Several partitions"). */
        int part = known && !probe && !node_own ? request_partition(env, &f)
                                                : REQUEST_PART_NONE;
        if (!request_authorize(env, &f, known ? op : (codec_str){0}, async,
                               &e)) {
            /* refused: e says why; nothing ran */
        } else if (part == REQUEST_PART_SEVERAL) {
            e.map = &env->cfg->cluster;
            reply_error_set(&e, ATP_E_CROSS_PARTITION,
                            "the regions of this request lie in several "
                            "partitions: send each partition's lines to its "
                            "owner (error.partitions); nothing was done");
        } else if (part >= 0 && !request_region_part_here(env, part)) {
            e.part = part + 1;
            reply_error_set(&e, ATP_E_NOT_OWNER,
                            "this node serves another partition of its "
                            "cluster: send the request to the owner of "
                            "partition '%s' (error.owner); nothing was done",
                            env->cfg->cluster.partitions[part].name);
        } else if (standby && !node_own) {
            reply_error_set(&e, ATP_E_NOT_OWNER,
                            "this node is a standby of its cluster's "
                            "partition: send the request to the owner "
                            "(error.owner); nothing was done");
        } else if (known && !probe && !standby && !request_is_ready(env)) {
            reply_error_set(&e, ATP_E_NOT_READY,
                            "atpd is starting: its state is not restored yet "
                            "(status, ready and health answer; GET /readyz "
                            "says what is missing); nothing was done, retry "
                            "once it is ready");
        } else if (i < n) {
            if (request_ops[i].fn(env, &f, a, w, &e))
                return true;
        } else if (codec_str_eq(op, "snapshot")) {
            if (request_snapshot_start(env, w, async, &e))
                return false;
        } else if (codec_str_eq(op, "explain")) {
            if (request_explain_start(env, &f, w, async, &e))
                return false;
        } else if (async->op == REQUEST_OP_PICKUP ||
                   async->op == REQUEST_OP_PICKUP_CART) {
            if (request_pickup_start(env, &f,
                                     async->op == REQUEST_OP_PICKUP_CART, a, w,
                                     async, &e))
                return false;
        } else if (async->op == REQUEST_OP_PROMISE ||
                   async->op == REQUEST_OP_PROMISE_CART) {
            if (request_promise_start(env, &f,
                                      async->op == REQUEST_OP_PROMISE_CART, a,
                                      w, async, &e))
                return false;
        } else if (codec_str_eq(op, "backup")) {
            if (request_backup_start(env, &f, w, async, &e))
                return false;
        } else if (k < nr) {
            if (request_resv_start(env, request_resv_ops[k].resv, &f, a, w,
                                   async, &e))
                return false;
        } else if (m < REQUEST_N_ADMIN) {
            if (request_admin_change_start(
                    env, request_admin_change_ops[m].kind, &f, w, async, &e))
                return false;
        } else {
            reply_error_set(
                &e, ATP_E_UNKNOWN_OP,
                "unknown op '%.*s' (atp, cart, regions, scan, "
                "sources, status, ready, health, snapshot, backup, explain, "
                "pickup, pickup_cart, promise, promise_cart, reserve, commit, "
                "release, extend, "
                "reservation, admin_list, admin_history, admin_export, "
                "admin_set_buffer, admin_remove_buffer, admin_move_location, "
                "admin_set_location, admin_set_region, admin_remove_location, "
                "admin_add_location, admin_set_authority, admin_add_channel, "
                "admin_add_region, admin_remove_region, admin_remove_channel, "
                "admin_set_bundle, admin_remove_bundle)",
                request_clip(op), op.ptr);
        }
    }
    request_count_error(env, async, e.code);
    reply_error_write(w, &e);
    return true;
}

void request_busy(reply_error *e, atp_err submit_err)
{
    if (submit_err == ATP_E_BUSY)
        reply_error_set(e, ATP_E_BUSY,
                        "atpd's engine queue is full (a backlog of "
                        "source messages): nothing was done; retry "
                        "in %d ms or more, with backoff",
                        REQUEST_BUSY_RETRY_MS);
    else
        reply_error_set(e, ATP_E_BUSY,
                        "atpd is shutting down: nothing was done; "
                        "retry once it is back");
}

bool request_submitted(atp_err err, const char *what, reply_error *e)
{
    if (err == ATP_OK)
        return true;
    if (err == ATP_E_NOMEM)
        reply_error_set(e, err, "%s: out of memory", what);
    else
        request_busy(e, err);
    return false;
}

void request_observe(request_env *env, request_transport t, unsigned op,
                     int code, uint64_t ns)
{
    ATP_ASSERT((unsigned)t < REQUEST_TRANSPORTS && op < request_op_count());
    request_metrics *m = env->metrics;
    metrics_hist_observe(&m->latency[t][op], ns);
    if (code != ATP_OK) {
        unsigned slot =
            code > 0 && code < REQUEST_ERR_SLOTS ? (unsigned)code : 0;
        atomic_fetch_add_explicit(&m->errors[t][op][slot], 1,
                                  memory_order_relaxed);
    }
}

void request_latency_read(request_env *env, unsigned op, metrics_hist_sum *out)
{
    ATP_ASSERT(op < REQUEST_OPS_MAX && out != NULL);
    for (unsigned t = 0; t < REQUEST_TRANSPORTS; t++)
        metrics_hist_read(&env->metrics->latency[t][op], out);
}

void request_count_error(request_env *env, request_async *as, atp_err code)
{
    as->code = code;
    atomic_fetch_add_explicit(&env->errors, 1, memory_order_relaxed);
}
