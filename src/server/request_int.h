/*
 * request_int.h - what the server's request files share (request.c and
 * the request_*.c files). Not for other modules.
 */
#ifndef ATP_REQUEST_INT_H
#define ATP_REQUEST_INT_H

#include "server/reply.h"
#include "server/request.h"

/* The top-level fields of a request, found in one pass over its map by
 * request_fields_scan: the first occurrence of each key wins, other keys
 * are ignored, an absent field is an absent view (p == NULL). */
typedef struct request_fields {
    codec_view op, sku, region, channel, lines, id, ttl_ms, order_ref, cursor,
        limit, dir, sources, source, token;
    codec_view root; /* the whole map: ops with fields of their own read it */
    codec_view pickup_only; /* pickup, pickup_cart */
    codec_view partial;     /* reserve */
    codec_view backorder;   /* reserve */
    codec_view promise_ms;  /* reserve */
} request_fields;

/* request_fields_scan walks the request map once and keeps the first
 * value of every key a handler reads (request.c). Returns whether the
 * field 'op' is a string, in *op. */
bool request_fields_scan(codec_view map, request_fields *f, codec_str *op);

/* Field helpers: on failure they fill e and return false. */
int request_clip(codec_str s);
bool request_id(codec_view v, const char *what, uint32_t max, atp_err bad_code,
                codec_str *out, reply_error *e);
bool request_sku(codec_view v, codec_str *out, reply_error *e);
bool request_region(request_env *env, codec_view v, uint32_t *out,
                    reply_error *e);
bool request_channel(request_env *env, const request_fields *f, uint32_t *out,
                     reply_error *e);
/* A line's qty: not an integer is BAD_REQUEST (a field of the wrong type),
 * an integer outside 1..ATP_QTY_MAX is BAD_QTY. */
bool request_qty(codec_view v, int64_t *out, reply_error *e);
/* request_count_error counts an error reply with code to the request
 * whose request_async is as. */
void request_count_error(request_env *env, request_async *as, atp_err code);

/* request_partition (request_partition.c): with several partitions
 * (cluster.partitions), the index of the partition whose regions the
 * request names; REQUEST_PART_NONE when it names none (or the cluster has
 * one partition), REQUEST_PART_SEVERAL when they lie in more than one.
 */
#define REQUEST_PART_NONE (-1)
#define REQUEST_PART_SEVERAL (-2)
int request_partition(const request_env *env, const request_fields *f);
/* request_region_part_here: whether partition index part is this node's. */
bool request_region_part_here(const request_env *env, int part);

/* Readiness and liveness (request_health.c). request_is_ready: the state
 * is restored and every listener bound (always, when env->gate_ready is
 * false): requests may read it. request_is_serving: ready and not
 * stopping (health_stopping), what "ready" and status.ready say. The
 * _write functions write one map value: status's "readiness" and
 * "health". */
bool request_is_ready(const request_env *env);
bool request_is_serving(const request_env *env);
/* request_is_standby: this node is a cluster's standby (docs/CLUSTER.md):
 * restored, but without its partition's reservations, which the owner
 * serves; requests that read the state are refused with not_owner. */
bool request_is_standby(const request_env *env);
void request_readiness_write(request_env *env, codec_writer *w);
void request_health_write(codec_writer *w);
bool request_ready(request_env *env, const request_fields *f, codec_arena *a,
                   codec_writer *w, reply_error *e);
bool request_health(request_env *env, const request_fields *f, codec_arena *a,
                    codec_writer *w, reply_error *e);

/* A request the engine could not queue is answered busy: submit_err
 * ATP_E_BUSY (its queue is full: retry after REQUEST_BUSY_RETRY_MS) or
 * ATP_E_BAD_STATE (stopped: atpd is shutting down). Nothing was done either
 * way, so a retry with the same id is safe. */
#define REQUEST_BUSY_RETRY_MS 50
void request_busy(reply_error *e, atp_err submit_err);
/* request_submitted: the outcome of handing a read (explain, pickup) to
 * the engine: true when queued (err ATP_OK, the reply comes later);
 * false with e filled otherwise: out of memory, or busy. */
bool request_submitted(atp_err err, const char *what, reply_error *e);

/* A cart or reserve line, validated. */
typedef struct request_line {
    codec_str sku;
    uint32_t region;
    uint32_t first; /* index of the first line with the same (sku, region) */
    int64_t qty;
    int64_t total; /* qty summed over lines with the same (sku, region),
                      at most ATP_QTY_MAX + 1 */
    uint32_t pin;  /* reserve: engine_resv_line.pin (location index + 1) */
} request_line;

/* request_line_read reads a line [sku, region, qty] (with_qty) or
 * [sku, region]: BAD_REQUEST for another shape, then the field helpers'
 * codes. may_pin (a reserve): [sku, region, qty, location] too, the
 * location a configured one (UNKNOWN_LOCATION otherwise; whether it is in
 * the region is the engine's to say, as of the moment it decides). */
bool request_line_read(request_env *env, codec_view v, bool with_qty,
                       bool may_pin, request_line *out, reply_error *e);

/* request_cart_lines_count checks a cart's field 'lines' (cart,
 * pickup_cart): an array (else BAD_REQUEST) of 1 (else BAD_REQUEST) to
 * service.max_cart_lines (else TOO_MANY_LINES) members, their count in
 * *out (request_cart.c). */
bool request_cart_lines_count(request_env *env, const request_fields *f,
                              uint32_t *out, reply_error *e);

/* request_region_lines reads the 'lines' of a cart in one region
 * (pickup_cart, promise_cart): each [sku, qty] (else BAD_REQUEST, "a
 * <what> line is [sku, qty]", with e->line), counted and merged like a
 * cart's (request_cart_lines_count, request_lines_merge); the lines in a. */
bool request_region_lines(request_env *env, const request_fields *f,
                          uint32_t region, const char *what, codec_arena *a,
                          request_line **out, uint32_t *n_out, reply_error *e);

/* request_cart answers op "cart" (request_cart.c). */
bool request_cart(request_env *env, const request_fields *f, codec_arena *a,
                  codec_writer *w, reply_error *e);
/* request_line_totals sets every line's total: the sum of qty (each
 * 1..ATP_QTY_MAX) over the lines naming the same (sku, region), so a cart
 * asking twice for 3 of the last 5 units is not available. A sum above
 * ATP_QTY_MAX stops there (the total is ATP_QTY_MAX + 1, never an
 * overflow) and *over gets the index of the first line, in request order,
 * at which a sum went over; UINT32_MAX when none did. A hash table in a,
 * linear in n; when the SKUs collide too much it sorts instead and sets
 * *sorted. false: out of memory. request_line_hash is its hash (exposed
 * for tests). */
bool request_line_totals(request_line *lines, uint32_t n, codec_arena *a,
                         bool *sorted, uint32_t *over);
uint64_t request_line_hash(codec_str sku, uint32_t region);
/* request_lines_merge runs request_line_totals for a request: a merged
 * quantity above ATP_QTY_MAX is BAD_QTY with e->line at the line that
 * went over (PROTOCOL.md: the rule for carts and reserves alike). */
bool request_lines_merge(request_env *env, request_line *lines, uint32_t n,
                         codec_arena *a, reply_error *e);

/* The ops answered at once (request_query.c, request_status.c), as the
 * dispatch table calls them: true with the reply written to w, false with
 * e filled. */
bool request_atp(request_env *env, const request_fields *f, codec_arena *a,
                 codec_writer *w, reply_error *e);
bool request_regions(request_env *env, const request_fields *f, codec_arena *a,
                     codec_writer *w, reply_error *e);
bool request_sources(request_env *env, const request_fields *f, codec_arena *a,
                     codec_writer *w, reply_error *e);
bool request_source_reset(request_env *env, const request_fields *f,
                          codec_arena *a, codec_writer *w, reply_error *e);
bool request_scan(request_env *env, const request_fields *f, codec_arena *a,
                  codec_writer *w, reply_error *e);
bool request_status(request_env *env, const request_fields *f, codec_arena *a,
                    codec_writer *w, reply_error *e);

/* The admin ops answered once stored (request_admin.c): snapshot and
 * backup. Return like request_resv_start. */
bool request_snapshot_start(request_env *env, codec_writer *w,
                            request_async *async, reply_error *e);
bool request_backup_start(request_env *env, const request_fields *f,
                          codec_writer *w, request_async *async,
                          reply_error *e);

/* Run-time administration (request_admin_ops.c): list, history and
 * export answered at once; a change validated and handed to the admin
 * thread (returns like request_resv_start). */
bool request_admin_list(request_env *env, const request_fields *f,
                        codec_arena *a, codec_writer *w, reply_error *e);
bool request_admin_history(request_env *env, const request_fields *f,
                           codec_arena *a, codec_writer *w, reply_error *e);
bool request_admin_export(request_env *env, const request_fields *f,
                          codec_arena *a, codec_writer *w, reply_error *e);
bool request_admin_change_start(request_env *env, config_edit_kind kind,
                                const request_fields *f, codec_writer *w,
                                request_async *async, reply_error *e);

/* request_explain_start validates an explain request and hands it to the
 * engine (request_explain.c); returns like request_resv_start. */
bool request_explain_start(request_env *env, const request_fields *f,
                           codec_writer *w, request_async *async,
                           reply_error *e);

/* request_pickup_start validates a pickup (cart false) or pickup_cart
 * request and hands it to the engine (request_pickup.c); the request's
 * state lives in a until the reply. Returns like request_resv_start. */
bool request_pickup_start(request_env *env, const request_fields *f, bool cart,
                          codec_arena *a, codec_writer *w, request_async *async,
                          reply_error *e);

/* request_promise_start validates a promise (cart false) or promise_cart
 * request and hands it to the engine (request_promise.c); the request's
 * state lives in a until the reply. Returns like request_resv_start. */
bool request_promise_start(request_env *env, const request_fields *f, bool cart,
                           codec_arena *a, codec_writer *w,
                           request_async *async, reply_error *e);
/* request_promise_ms reads a reserve's optional promise_ms: an integer
 * 0..2^53-1, nil or absent 0 (else BAD_REQUEST). */
bool request_promise_ms(codec_view v, int64_t *out, reply_error *e);

/* request_resv_start validates a reservation request and hands it to the
 * engine. Returns true when submitted (the reply comes through
 * async->finish), false with e filled when the request is refused now. */
bool request_resv_start(request_env *env, engine_resv_op op,
                        const request_fields *f, codec_arena *a,
                        codec_writer *w, request_async *async, reply_error *e);

#endif
