/*
 * request_admin_ops.c - the run-time administration ops (docs/PROTOCOL.md,
 * "Admin"): admin_list, admin_history and admin_export answered at once
 * from the admin state; admin_set_buffer, admin_remove_buffer,
 * admin_move_location, admin_set_location, admin_remove_location,
 * admin_set_region, admin_add_location, admin_set_authority,
 * admin_add_channel, admin_add_region, admin_remove_region and
 * admin_remove_channel validated here (field shapes), run by
 * the admin thread and answered by it once stored (request_async, like a
 * reservation). Any thread (nng callbacks, libmicrohttpd's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/reply.h"
#include "server/request_int.h"

/* The longest change id (bytes), as a reservation id. */
#define REQUEST_ADMIN_ID_MAX 128
#define REQUEST_ADMIN_HISTORY_MAX 1000

static bool request_admin_on(request_env *env, reply_error *e)
{
    if (env->admin != NULL)
        return true;
    reply_error_set(e, ATP_E_BAD_STATE,
                    "run-time administration is not available here");
    return false;
}

bool request_admin_list(request_env *env, const request_fields *f,
                        codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)f;
    (void)a;
    if (!request_admin_on(env, e))
        return false;
    admin_list_write(env->admin, w);
    return true;
}

bool request_admin_export(request_env *env, const request_fields *f,
                          codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)f;
    (void)a;
    if (!request_admin_on(env, e))
        return false;
    uint64_t v = admin_version(env->admin);
    char *text = admin_export(env->admin);
    if (text == NULL) {
        reply_error_set(e, ATP_E_NOMEM, "out of memory");
        return false;
    }
    codec_w_map(w, 3);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_uint(w, "version", v);
    codec_w_kv_cstr(w, "config", text);
    free(text);
    return true;
}

bool request_admin_history(request_env *env, const request_fields *f,
                           codec_arena *a, codec_writer *w, reply_error *e)
{
    (void)a;
    if (!request_admin_on(env, e))
        return false;
    uint64_t after = 0, limit = 100;
    codec_view va = codec_view_get(f->root, "after");
    if ((va.p != NULL && !codec_view_uint(va, &after)) ||
        (f->limit.p != NULL &&
         (!codec_view_uint(f->limit, &limit) || limit == 0 ||
          limit > REQUEST_ADMIN_HISTORY_MAX))) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "'after' must be a version (integer >= 0) and "
                        "'limit' 1..%d",
                        REQUEST_ADMIN_HISTORY_MAX);
        return false;
    }
    admin_history_write(env->admin, after, (uint32_t)limit, w);
    return true;
}

/* ---- changes ------------------------------------------------------------ */

/* request_admin_name copies an optional id field into buf (NULL: absent
 * or nil, "any"). false: e filled. */
static bool request_admin_name(codec_view v, const char *what, uint32_t max,
                               atp_err code, bool required, char *buf,
                               const char **out, reply_error *e)
{
    *out = NULL;
    if (!required && (v.p == NULL || codec_view_type(v) == CODEC_NIL))
        return true;
    codec_str s;
    if (!request_id(v, what, max, code, &s, e))
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    *out = buf;
    return true;
}

/* request_admin_qty reads an optional integer 0..ATP_QTY_MAX field. */
static bool request_admin_qty(codec_view v, const char *what, bool *has,
                              int64_t *out, reply_error *e)
{
    *has = v.p != NULL && codec_view_type(v) != CODEC_NIL;
    if (!*has)
        return true;
    if (!codec_view_int(v, out)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "'%s' must be an integer", what);
        return false;
    }
    if (*out < 0 || *out > ATP_QTY_MAX) {
        reply_error_set(e, ATP_E_BAD_QTY, "'%s' must be 0..%lld", what,
                        (long long)ATP_QTY_MAX);
        return false;
    }
    return true;
}

/* request_admin_percent_range: the file's message for a percent out of
 * range, for one that cannot be written into the file's document. */
static bool request_admin_percent_range(reply_error *e, const char *shown,
                                        int len)
{
    reply_error_set(e, ATP_E_CONFIG,
                    "buffer rule percent: '%.*s' is out of range; expected a "
                    "percentage 0..100 with at most 2 decimals, like 2.5",
                    len, shown);
    return false;
}

/* request_admin_percent reads percent: an integer, or a string with at
 * most 2 decimals ("2.5"), into basis points; the range is the file's
 * check (0..100). */
static bool request_admin_percent(codec_view v, bool *has, int64_t *bp,
                                  reply_error *e)
{
    *has = v.p != NULL && codec_view_type(v) != CODEC_NIL;
    if (!*has)
        return true;
    /* Any value whose basis points fit is read, so that one out of the
     * file's range gets the file's message (config), not bad_request. */
    const int64_t lim = INT64_MAX / 100 - 1;
    int64_t i;
    codec_str s;
    if (codec_view_int(v, &i)) {
        if (i >= -lim && i <= lim) {
            *bp = i * 100;
            return true;
        }
        char shown[24]; /* no basis points for it */
        int n = snprintf(shown, sizeof shown, "%lld", (long long)i);
        return request_admin_percent_range(e, shown, n);
    }
    /* A string has the file's syntax (" 5", "+5", ".5" are not); one out
     * of range gets the file's message. */
    enum config_percent_result pr = CONFIG_PERCENT_SYNTAX;
    if (codec_view_str(v, &s) &&
        (pr = config_parse_percent_bp(s.ptr, s.len, bp)) == CONFIG_PERCENT_OK)
        return true;
    if (pr == CONFIG_PERCENT_RANGE)
        return request_admin_percent_range(e, s.ptr, request_clip(s));
    reply_error_set(e, ATP_E_BAD_REQUEST,
                    "'percent' must be an integer or a string with at most 2 "
                    "decimals, like \"2.5\"");
    return false;
}

/* request_admin_location_values reads admin_set_location's (and
 * admin_add_location's) values: type? (a string of at most ADMIN_TYPE_MAX
 * bytes, copied into buf; its content is the file's check), pickup? (a
 * boolean), pickup_buffer? (an integer 0..ATP_QTY_MAX); at least one for a
 * set. */
static bool request_admin_location_values(const request_fields *f,
                                          config_edit *ed, char *buf,
                                          reply_error *e)
{
    bool add = ed->kind == CONFIG_EDIT_LOCATION_ADD;
    codec_view vt = codec_view_get(f->root, "type");
    codec_view vp = codec_view_get(f->root, "pickup");
    if (vt.p != NULL && codec_view_type(vt) != CODEC_NIL) {
        codec_str s;
        if (!codec_view_str(vt, &s) || s.len > ADMIN_TYPE_MAX ||
            memchr(s.ptr, '\0', s.len) != NULL) {
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "'type' must be a string of at most %d bytes",
                            ADMIN_TYPE_MAX);
            return false;
        }
        memcpy(buf, s.ptr, s.len);
        buf[s.len] = '\0';
        ed->type = buf;
    }
    ed->has_pickup = vp.p != NULL && codec_view_type(vp) != CODEC_NIL;
    if (ed->has_pickup && !codec_view_bool(vp, &ed->pickup)) {
        reply_error_set(e, ATP_E_BAD_REQUEST, "'pickup' must be true or false");
        return false;
    }
    if (!request_admin_qty(codec_view_get(f->root, "pickup_buffer"),
                           "pickup_buffer", &ed->has_pickup_buffer,
                           &ed->pickup_buffer, e))
        return false;
    if (!add && ed->type == NULL && !ed->has_pickup && !ed->has_pickup_buffer) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "admin_set_location changes 'type', 'pickup' or "
                        "'pickup_buffer': give at least one");
        return false;
    }
    return true;
}

/* request_admin_buckets reads admin_set_authority's buckets: an array of
 * distinct names of the file's authority buckets (on_hand, allocated,
 * held, inbound), empty for none. */
static bool request_admin_buckets(const request_fields *f, config_edit *ed,
                                  reply_error *e)
{
    codec_view v = codec_view_get(f->root, "buckets");
    bool ok = v.p != NULL && codec_view_type(v) == CODEC_ARRAY;
    uint32_t n = ok ? codec_view_len(v) : 0;
    codec_view it = n > 0 ? codec_view_first(v) : v;
    for (uint32_t i = 0; ok && i < n;
         i++, it = i < n ? codec_view_next(it) : it) {
        codec_str s;
        unsigned k = 0;
        ok = codec_view_str(it, &s);
        while (ok && k < ATP_AUTH_BUCKET_COUNT &&
               !codec_str_eq(s, config_bucket_name(k)))
            k++;
        ok = ok && k < ATP_AUTH_BUCKET_COUNT && !(ed->buckets & (1u << k));
        if (ok)
            ed->buckets |= (uint8_t)(1u << k);
    }
    if (!ok)
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "'buckets' must be an array of distinct bucket names "
                        "(on_hand, allocated, held, inbound; [] for none)");
    return ok;
}

/* request_admin_horizon reads admin_set_region's inbound_horizon into
 * buf: a string of at most ADMIN_HORIZON_MAX bytes as given (the file's
 * syntax: "2d", "36h", "0"), or an integer of milliseconds; the parser
 * judges the value as the file's. */
static bool request_admin_horizon(const request_fields *f, config_edit *ed,
                                  char *buf, reply_error *e)
{
    codec_view v = codec_view_get(f->root, "inbound_horizon");
    codec_str s;
    int64_t ms;
    if (v.p != NULL && codec_view_int(v, &ms)) {
        snprintf(buf, ADMIN_HORIZON_MAX + 1, "%lldms", (long long)ms);
    } else if (v.p != NULL && codec_view_str(v, &s) && s.len > 0 &&
               s.len <= ADMIN_HORIZON_MAX &&
               memchr(s.ptr, '\0', s.len) == NULL) {
        memcpy(buf, s.ptr, s.len);
        buf[s.len] = '\0';
    } else {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "'inbound_horizon' must be a duration (a string like "
                        "\"2d\", at most %d bytes) or an integer of "
                        "milliseconds",
                        ADMIN_HORIZON_MAX);
        return false;
    }
    ed->horizon = buf;
    return true;
}

/* request_admin_done: the admin thread's answer. */
static void request_admin_done(void *arg, const admin_result *res)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    if (res->err != ATP_OK) {
        reply_error e = {.line = -1};
        reply_error_set(&e, res->err, "%s", res->message);
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else {
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_uint(w, "version", res->version);
        codec_w_kv_bool(w, "replayed", res->replayed);
    }
    as->finish(as->owner);
}

/* request_admin_submit hands c to the admin thread, answered by it. */
static bool request_admin_submit(request_env *env, admin_change *c,
                                 codec_writer *w, request_async *async,
                                 reply_error *e)
{
    c->who = async->who != NULL ? async->who->name : "anonymous";
    async->env = env;
    async->w = w;
    atp_err err = admin_submit(env->admin, c, request_admin_done, async);
    if (err == ATP_OK)
        return true;
    reply_error_set(e, ATP_E_BUSY,
                    "atpd's admin queue is full or atpd is stopping: nothing "
                    "was done; retry later with the same change_id");
    return false;
}

/* request_admin_parts reads a bundle's components: 1..16 [sku, qty]
 * pairs, qty 1..1,000,000 (the rest - a SKU twice, nesting - is the
 * file's check, with its messages). SKUs go into names. */
static bool request_admin_parts(codec_view v, config_bundle_part *parts,
                                char (*names)[ATP_SKU_MAX_LEN + 1], size_t *n,
                                reply_error *e)
{
    uint32_t len = codec_view_len(v);
    if (codec_view_type(v) != CODEC_ARRAY || len == 0 || len > 16) {
        reply_error_set(e, ATP_E_BAD_REQUEST,
                        "'components' must be a list of 1 to 16 [sku, qty] "
                        "pairs, like [[\"MUG\", 2], [\"TEA\", 1]]");
        return false;
    }
    codec_view c = codec_view_first(v);
    for (uint32_t k = 0; k < len; k++, c = codec_view_next(c)) {
        codec_str s;
        int64_t q;
        if (codec_view_type(c) != CODEC_ARRAY || codec_view_len(c) != 2) {
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "component %u (from 0): expected [sku, qty], like "
                            "[\"MUG\", 2]",
                            k);
            return false;
        }
        codec_view sv = codec_view_first(c);
        if (!request_id(sv, "component sku", ATP_SKU_MAX_LEN, ATP_E_BAD_SKU, &s,
                        e))
            return false;
        if (!codec_view_int(codec_view_next(sv), &q)) {
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "component %u: qty must be an integer", k);
            return false;
        }
        if (q < 1 || q > 1000000) {
            reply_error_set(e, ATP_E_BAD_QTY,
                            "component %u: qty must be 1..1000000", k);
            return false;
        }
        memcpy(names[k], s.ptr, s.len);
        names[k][s.len] = '\0';
        parts[k] = (config_bundle_part){names[k], q};
    }
    *n = len;
    return true;
}

/* admin_set_bundle, admin_remove_bundle: change_id, sku, components (a
 * set). */
static bool request_admin_bundle_start(request_env *env, config_edit_kind kind,
                                       const request_fields *f, codec_writer *w,
                                       request_async *async, reply_error *e)
{
    char id[REQUEST_ADMIN_ID_MAX + 1], sku[ATP_SKU_MAX_LEN + 1];
    char names[16][ATP_SKU_MAX_LEN + 1];
    config_bundle_part parts[16];
    admin_change c = {.edit = {.kind = kind}};
    if (!request_admin_name(codec_view_get(f->root, "change_id"), "change_id",
                            REQUEST_ADMIN_ID_MAX, ATP_E_BAD_ID, true, id,
                            &c.change_id, e) ||
        !request_admin_name(f->sku, "sku", ATP_SKU_MAX_LEN, ATP_E_BAD_SKU, true,
                            sku, &c.edit.sku, e))
        return false;
    if (kind == CONFIG_EDIT_BUNDLE_SET) {
        if (!request_admin_parts(codec_view_get(f->root, "components"), parts,
                                 names, &c.edit.n_parts, e))
            return false;
        c.edit.parts = parts;
    }
    return request_admin_submit(env, &c, w, async, e);
}

/* The keys each admin change takes besides op, token and change_id
 * (docs/PROTOCOL.md, "Run-time administration"), NULL-ended. */
static const char *const *request_admin_keys(config_edit_kind kind)
{
    static const char *const buffer_set[] = {
        "sku",     "region",    "channel",   "units",
        "percent", "low_stock", "backorder", NULL};
    static const char *const scope[] = {"sku", "region", "channel", NULL};
    static const char *const move[] = {"location", "region", NULL};
    static const char *const loc_set[] = {"location", "type", "pickup",
                                          "pickup_buffer", NULL};
    static const char *const region_set[] = {"region", "inbound_horizon", NULL};
    static const char *const location[] = {"location", NULL};
    static const char *const loc_add[] = {"location", "region",        "type",
                                          "pickup",   "pickup_buffer", NULL};
    static const char *const authority[] = {"source", "location", "buckets",
                                            NULL};
    static const char *const channel[] = {"channel", NULL};
    static const char *const region[] = {"region", NULL};
    static const char *const bundle_set[] = {"sku", "components", NULL};
    static const char *const sku[] = {"sku", NULL};
    switch (kind) {
    case CONFIG_EDIT_BUFFER_SET:
        return buffer_set;
    case CONFIG_EDIT_BUFFER_REMOVE:
        return scope;
    case CONFIG_EDIT_LOCATION_MOVE:
        return move;
    case CONFIG_EDIT_LOCATION_SET:
        return loc_set;
    case CONFIG_EDIT_REGION_SET:
    case CONFIG_EDIT_REGION_ADD:
        return region_set;
    case CONFIG_EDIT_LOCATION_REMOVE:
        return location;
    case CONFIG_EDIT_LOCATION_ADD:
        return loc_add;
    case CONFIG_EDIT_AUTHORITY_SET:
        return authority;
    case CONFIG_EDIT_CHANNEL_ADD:
    case CONFIG_EDIT_CHANNEL_REMOVE:
        return channel;
    case CONFIG_EDIT_REGION_REMOVE:
        return region;
    case CONFIG_EDIT_BUNDLE_SET:
        return bundle_set;
    case CONFIG_EDIT_BUNDLE_REMOVE:
        return sku;
    }
    return sku;
}

/* request_admin_keys_check refuses a key the change does not take: a
 * misspelt scope key ("skus") would otherwise be ignored and the change
 * land on a broader scope, the global rule for every SKU. */
static bool request_admin_keys_check(codec_view map, config_edit_kind kind,
                                     reply_error *e)
{
    const char *const *keys = request_admin_keys(kind);
    uint32_t n = codec_view_len(map);
    codec_view k = codec_view_first(map);
    for (uint32_t i = 0; i < n; i++, k = codec_view_next(codec_view_next(k))) {
        codec_str s;
        if (!codec_view_str(k, &s))
            continue; /* not a key any field is read from */
        bool known = codec_str_eq(s, "op") || codec_str_eq(s, "token") ||
                     codec_str_eq(s, "change_id");
        for (size_t j = 0; !known && keys[j] != NULL; j++)
            known = codec_str_eq(s, keys[j]);
        if (!known) {
            char list[256] = "";
            size_t at = 0;
            for (size_t j = 0; keys[j] != NULL && at < sizeof list; j++)
                at += (size_t)snprintf(list + at, sizeof list - at, ", %s",
                                       keys[j]);
            reply_error_set(e, ATP_E_BAD_REQUEST,
                            "unknown field '%.*s' (this change takes "
                            "change_id%s): nothing changed",
                            request_clip(s), s.ptr, list);
            return false;
        }
    }
    return true;
}

bool request_admin_change_start(request_env *env, config_edit_kind kind,
                                const request_fields *f, codec_writer *w,
                                request_async *async, reply_error *e)
{
    if (!request_admin_on(env, e) ||
        !request_admin_keys_check(f->root, kind, e))
        return false;
    if (kind == CONFIG_EDIT_BUNDLE_SET || kind == CONFIG_EDIT_BUNDLE_REMOVE)
        return request_admin_bundle_start(env, kind, f, w, async, e);
    char id[REQUEST_ADMIN_ID_MAX + 1], sku[ATP_SKU_MAX_LEN + 1];
    char region[ATP_ID_MAX_LEN + 1], channel[ATP_ID_MAX_LEN + 1];
    char location[ATP_ID_MAX_LEN + 1], type[ADMIN_TYPE_MAX + 1];
    char horizon[ADMIN_HORIZON_MAX + 1], source[ATP_ID_MAX_LEN + 1];
    admin_change c = {.edit = {.kind = kind}};
    config_edit *ed = &c.edit;
    bool add = kind == CONFIG_EDIT_LOCATION_ADD;
    bool authority = kind == CONFIG_EDIT_AUTHORITY_SET;
    if (kind == CONFIG_EDIT_CHANNEL_ADD ||
        kind == CONFIG_EDIT_CHANNEL_REMOVE) { /* change_id, channel */
        if (!request_admin_name(codec_view_get(f->root, "change_id"),
                                "change_id", REQUEST_ADMIN_ID_MAX, ATP_E_BAD_ID,
                                true, id, &c.change_id, e) ||
            !request_admin_name(f->channel, "channel", ATP_ID_MAX_LEN,
                                ATP_E_UNKNOWN_CHANNEL, true, channel,
                                &ed->channel, e))
            return false;
        return request_admin_submit(env, &c, w, async, e);
    }
    if (kind == CONFIG_EDIT_REGION_ADD ||
        kind == CONFIG_EDIT_REGION_REMOVE) { /* change_id, region, horizon? */
        if (!request_admin_name(codec_view_get(f->root, "change_id"),
                                "change_id", REQUEST_ADMIN_ID_MAX, ATP_E_BAD_ID,
                                true, id, &c.change_id, e) ||
            !request_admin_name(f->region, "region", ATP_ID_MAX_LEN,
                                ATP_E_UNKNOWN_REGION, true, region, &ed->region,
                                e) ||
            (kind == CONFIG_EDIT_REGION_ADD &&
             codec_view_get(f->root, "inbound_horizon").p != NULL &&
             !request_admin_horizon(f, ed, horizon, e)))
            return false;
        return request_admin_submit(env, &c, w, async, e);
    }
    bool move = kind == CONFIG_EDIT_LOCATION_MOVE || add;
    bool regional = kind == CONFIG_EDIT_REGION_SET;
    bool located = move || kind == CONFIG_EDIT_LOCATION_SET ||
                   kind == CONFIG_EDIT_LOCATION_REMOVE || authority;
    if (!request_admin_name(codec_view_get(f->root, "change_id"), "change_id",
                            REQUEST_ADMIN_ID_MAX, ATP_E_BAD_ID, true, id,
                            &c.change_id, e) ||
        ((move || !located) &&
         !request_admin_name(f->region, "region", ATP_ID_MAX_LEN,
                             ATP_E_UNKNOWN_REGION, move || regional, region,
                             &ed->region, e)))
        return false;
    if (regional) {
        if (!request_admin_horizon(f, ed, horizon, e))
            return false;
    } else if (located) {
        if (!request_admin_name(codec_view_get(f->root, "location"), "location",
                                ATP_ID_MAX_LEN, ATP_E_UNKNOWN_LOCATION, true,
                                location, &ed->location, e))
            return false;
        if ((kind == CONFIG_EDIT_LOCATION_SET || add) &&
            !request_admin_location_values(f, ed, type, e))
            return false;
        if (authority &&
            (!request_admin_name(codec_view_get(f->root, "source"), "source",
                                 ATP_ID_MAX_LEN, ATP_E_UNKNOWN_SOURCE, true,
                                 source, &ed->source, e) ||
             !request_admin_buckets(f, ed, e)))
            return false;
    } else if (!request_admin_name(f->sku, "sku", ATP_SKU_MAX_LEN,
                                   ATP_E_BAD_SKU, false, sku, &ed->sku, e) ||
               !request_admin_name(f->channel, "channel", ATP_ID_MAX_LEN,
                                   ATP_E_UNKNOWN_CHANNEL, false, channel,
                                   &ed->channel, e)) {
        return false;
    }
    if (kind == CONFIG_EDIT_BUFFER_SET &&
        (!request_admin_qty(codec_view_get(f->root, "units"), "units",
                            &ed->has_units, &ed->units, e) ||
         !request_admin_percent(codec_view_get(f->root, "percent"),
                                &ed->has_percent, &ed->percent_bp, e) ||
         !request_admin_qty(codec_view_get(f->root, "low_stock"), "low_stock",
                            &ed->has_low_stock, &ed->low_stock, e) ||
         !request_admin_qty(codec_view_get(f->root, "backorder"), "backorder",
                            &ed->has_backorder, &ed->backorder, e)))
        return false;
    return request_admin_submit(env, &c, w, async, e);
}
