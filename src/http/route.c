/*
 * route.c - the HTTP API's route table (docs/HTTP.md), path and query
 * decoding, and the one table from error codes to HTTP statuses. No HTTP
 * library here: the glue (mhd.c) hands over the method, the raw path and
 * the raw query parameters. Any thread; state lives in the caller's
 * http_call and arena.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "http/http_int.h"
#include "http/ui.h"

/* Which query parameters a route reads, and as what. */
enum http_param_kind { HTTP_P_STR, HTTP_P_INT, HTTP_P_BOOL };

typedef struct http_param_def {
    const char *name;
    int kind;
} http_param_def;

/* A route: method, a pattern of literal segments and {field} captures
 * (each capture becomes the request field of that name), the op and its
 * query parameters. */
typedef struct http_route_def {
    const char *method;
    const char *pattern;
    const char *op; /* NULL: the change feed, or answered by the glue */
    bool body, async, created, line_qty, line_sku_qty, line_pin;
    bool metrics;      /* GET /metrics: the glue writes the exposition */
    const char *probe; /* 503 when the reply's field of this name is false */
    http_param_def params[3];
} http_route_def;

static const http_route_def http_routes[] = {
    {"GET", "/v1/availability/{sku}/{region}", "atp",
     .params = {{"channel", HTTP_P_STR}}},
    {"GET", "/v1/availability/{sku}", "regions",
     .params = {{"channel", HTTP_P_STR}}},
    {"POST", "/v1/availability/cart", "cart", .body = true, .line_qty = true},
    {"GET", "/v1/regions/{region}/availability", "scan",
     .params = {{"cursor", HTTP_P_INT},
                {"limit", HTTP_P_INT},
                {"channel", HTTP_P_STR}}},
    {"GET", "/v1/explain/{sku}", "explain", .async = true},
    /* Store pickup (docs/HTTP.md, "Store pickup"). */
    {"GET", "/v1/pickup/{region}/{sku}", "pickup", .async = true,
     .params = {{"channel", HTTP_P_STR}, {"pickup_only", HTTP_P_BOOL}}},
    {"POST", "/v1/pickup/{region}/cart", "pickup_cart", .body = true,
     .async = true, .line_sku_qty = true},
    /* Time-phased promises (docs/HTTP.md, "Time-phased promises"). */
    {"GET", "/v1/promise/{region}/{sku}", "promise", .async = true,
     .params = {{"channel", HTTP_P_STR},
                {"qty", HTTP_P_INT},
                {"date_ms", HTTP_P_INT}}},
    {"POST", "/v1/promise/{region}/cart", "promise_cart", .body = true,
     .async = true, .line_sku_qty = true},
    {.method = "GET", .pattern = "/v1/sources", .op = "sources"},
    {.method = "POST",
     .pattern = "/v1/sources/{source}/reset",
     .op = "source_reset"},
    {.method = "GET", .pattern = "/v1/status", .op = "status"},
    {"GET", "/healthz", "health", .probe = "healthy"},
    {"GET", "/readyz", "ready", .probe = "ready",
     .params = {{"sources", HTTP_P_STR}}},
    {"POST", "/v1/snapshots", "snapshot", .async = true},
    {"POST", "/v1/reservations", "reserve", .body = true, .async = true,
     .created = true, .line_qty = true, .line_pin = true},
    {"GET", "/v1/reservations/{id}", "reservation", .async = true},
    {"DELETE", "/v1/reservations/{id}", "release", .async = true},
    {"POST", "/v1/reservations/{id}/commit", "commit", .body = true,
     .async = true},
    {"POST", "/v1/reservations/{id}/release", "release", .body = true,
     .async = true},
    {"POST", "/v1/reservations/{id}/extend", "extend", .body = true,
     .async = true},
    {"GET", "/v1/changes", NULL,
     .params = {{"region", HTTP_P_STR}, {"sku", HTTP_P_STR}}},
    {"GET", "/metrics", NULL, .metrics = true},
    /* run-time administration (docs/HTTP.md, "Admin") */
    {.method = "GET", .pattern = "/v1/admin", .op = "admin_list"},
    {.method = "GET", .pattern = "/v1/admin/export", .op = "admin_export"},
    {"GET", "/v1/admin/history", "admin_history",
     .params = {{"after", HTTP_P_INT}, {"limit", HTTP_P_INT}}},
    {"PUT", "/v1/admin/buffers", "admin_set_buffer", .body = true,
     .async = true},
    {"POST", "/v1/admin/buffers/remove", "admin_remove_buffer", .body = true,
     .async = true},
    {"PUT", "/v1/admin/bundles", "admin_set_bundle", .body = true,
     .async = true},
    {"POST", "/v1/admin/bundles/remove", "admin_remove_bundle", .body = true,
     .async = true},
    {"PUT", "/v1/admin/locations/{location}", "admin_move_location",
     .body = true, .async = true},
    {"PATCH", "/v1/admin/locations/{location}", "admin_set_location",
     .body = true, .async = true},
    {"PATCH", "/v1/admin/regions/{region}", "admin_set_region", .body = true,
     .async = true},
    {"POST", "/v1/admin/locations/{location}/remove", "admin_remove_location",
     .body = true, .async = true},
    {"POST", "/v1/admin/locations", "admin_add_location", .body = true,
     .async = true},
    {"PUT", "/v1/admin/sources/{source}/authority/{location}",
     "admin_set_authority", .body = true, .async = true},
    {"POST", "/v1/admin/channels", "admin_add_channel", .body = true,
     .async = true},
    {"POST", "/v1/admin/regions", "admin_add_region", .body = true,
     .async = true},
    {"POST", "/v1/admin/regions/{region}/remove", "admin_remove_region",
     .body = true, .async = true},
    {"POST", "/v1/admin/channels/{channel}/remove", "admin_remove_channel",
     .body = true, .async = true},
};

#define HTTP_ROUTES (sizeof http_routes / sizeof http_routes[0])

/* http_decode percent-decodes s[0..n) into a (plus: '+' is a space, as in
 * a query string). Returns ATP_OK, ATP_E_BAD_REQUEST (a '%' not followed
 * by two hex digits) or ATP_E_NOMEM. The result may hold any byte: the
 * request module judges it (an id must be printable UTF-8). */
static atp_err http_decode(const char *s, size_t n, bool plus, codec_arena *a,
                           codec_str *out)
{
    char *d = codec_arena_malloc(a, n ? n : 1);
    out->ptr = d;
    out->len = 0;
    if (d == NULL)
        return ATP_E_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return ATP_E_BAD_REQUEST;
            d[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    out->len = (uint32_t)o;
    return ATP_OK;
}

static void http_call_fail(http_call *c, int status, atp_err err,
                           const char *fmt, const char *arg)
{
    c->status = status;
    c->err = err;
    snprintf(c->message, sizeof c->message, fmt, arg);
}

static bool http_field_add_str(http_call *c, const char *key, codec_str s)
{
    if (c->n_fields == HTTP_FIELDS_MAX)
        return false; /* the table never asks for more */
    c->fields[c->n_fields++] = (codec_json_field){.key = key, .str = s};
    return true;
}

/* http_capture_key: the field name of a pattern's capture "{name}", as
 * a static string (field keys must outlive the call). */
static const char *http_capture_key(const char *p, size_t pn)
{
    static const char *const keys[] = {"sku",    "region",   "id",
                                       "source", "location", "channel"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (pn == strlen(keys[i]) + 2 && memcmp(p + 1, keys[i], pn - 2) == 0)
            return keys[i];
    return "id"; /* unreachable: the table uses only these */
}

/* http_match matches path against pattern; on a match, captures become
 * fields of c (decoded into a). Returns ATP_OK with *match, or
 * http_decode's error for a captured segment. */
static atp_err http_match(http_call *c, const char *pattern, const char *path,
                          codec_arena *a, bool *match)
{
    const char *p = pattern, *s = path;
    size_t n0 = c->n_fields;
    while (*p != '\0' && *s != '\0') {
        if (*p++ != '/' || *s++ != '/')
            goto none;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p);
        size_t sn = se ? (size_t)(se - s) : strlen(s);
        if (p[0] == '{') {
            codec_str v;
            atp_err err = http_decode(s, sn, false, a, &v);
            if (err != ATP_OK)
                return err;
            const char *key = http_capture_key(p, pn);
            http_field_add_str(c, key, v);
        } else if (pn != sn || memcmp(p, s, pn) != 0) {
            goto none;
        }
        p += pn;
        s += sn;
    }
    if (*p == '\0' && *s == '\0') {
        *match = true;
        return ATP_OK;
    }
none:
    c->n_fields = n0;
    *match = false;
    return ATP_OK;
}

/* http_query_int: a query value of decimal digits as an integer (beyond
 * 2^53-1: INT64_MAX, out of every field's range, as codec_json_request
 * does for JSON numbers); false when it is not all digits. */
static bool http_query_int(codec_str s, int64_t *out)
{
    if (s.len == 0)
        return false;
    int64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        if (v <= 9007199254740991LL)
            v = v * 10 + (s.ptr[i] - '0');
    }
    *out = v > 9007199254740991LL ? INT64_MAX : v;
    return true;
}

/* http_params_take adds the query parameters route r reads to c (the first
 * occurrence of each wins, as in a request map). Returns http_decode's
 * error for a value. */
static atp_err http_params_take(http_call *c, const http_route_def *r,
                                const http_param *params, size_t n_params,
                                codec_arena *a)
{
    for (size_t d = 0; d < 3 && r->params[d].name != NULL; d++) {
        const http_param_def *def = &r->params[d];
        for (size_t i = 0; i < n_params; i++) {
            if (strcmp(params[i].key, def->name) != 0)
                continue;
            const char *v = params[i].value;
            if (v == NULL || v[0] == '\0')
                break; /* "?cursor=": absent */
            codec_str s;
            atp_err err = http_decode(v, strlen(v), true, a, &s);
            if (err != ATP_OK)
                return err;
            int64_t iv;
            bool bv = s.len == 4 && memcmp(s.ptr, "true", 4) == 0;
            if (def->kind == HTTP_P_BOOL &&
                (bv || (s.len == 5 && memcmp(s.ptr, "false", 5) == 0))) {
                if (c->n_fields < HTTP_FIELDS_MAX)
                    c->fields[c->n_fields++] = (codec_json_field){
                        .key = def->name, .is_bool = true, .b = bv};
            } else if (def->kind == HTTP_P_INT && http_query_int(s, &iv)) {
                if (c->n_fields < HTTP_FIELDS_MAX)
                    c->fields[c->n_fields++] = (codec_json_field){
                        .key = def->name, .is_int = true, .i = iv};
            } else {
                /* Not digits: passed as a string, which the request module
                 * refuses as the wrong type (bad_request), as over nng. */
                http_field_add_str(c, def->name, s);
            }
            break;
        }
    }
    return ATP_OK;
}

/* http_call_decode_fail: a path or query that cannot be decoded. */
static bool http_call_decode_fail(http_call *c, atp_err err, const char *where)
{
    if (err == ATP_E_NOMEM)
        http_call_fail(c, http_status_of(err), err,
                       "out of memory decoding the %s", where);
    else
        http_call_fail(c, 400, ATP_E_BAD_REQUEST,
                       "malformed percent-encoding in the %s", where);
    return false;
}

bool http_route(http_call *c, const char *method, const char *path,
                const http_param *params, size_t n_params, codec_arena *a)
{
    memset(c, 0, sizeof *c);
    size_t allow_len = 0;
    /* HEAD is GET without the body (RFC 9110 9.3.2; libmicrohttpd drops
     * the body of a HEAD reply), except on the event stream, which has no
     * end to measure. */
    bool head = strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < HTTP_ROUTES; i++) {
        const http_route_def *r = &http_routes[i];
        bool m;
        atp_err err = http_match(c, r->pattern, path, a, &m);
        if (err != ATP_OK)
            return http_call_decode_fail(c, err, "path");
        if (!m)
            continue;
        bool stream = r->op == NULL && !r->metrics;
        bool as_get = head && strcmp(r->method, "GET") == 0 && !stream;
        if (!as_get && strcmp(method, r->method) != 0) {
            /* Another method's route: remember it for Allow. */
            c->n_fields = 0;
            if (strstr(c->allow, r->method) == NULL)
                allow_len += (size_t)snprintf(
                    c->allow + allow_len, sizeof c->allow - allow_len, "%s%s%s",
                    allow_len ? ", " : "", r->method,
                    strcmp(r->method, "GET") == 0 && !stream ? ", HEAD" : "");
            continue;
        }
        c->op = r->op;
        c->sse = stream;
        c->metrics = r->metrics;
        c->body = r->body;
        c->async = r->async;
        c->created = r->created;
        c->line_qty = r->line_qty;
        c->line_sku_qty = r->line_sku_qty;
        c->line_pin = r->line_pin;
        c->probe = r->probe;
        err = http_params_take(c, r, params, n_params, a);
        if (err != ATP_OK)
            return http_call_decode_fail(c, err, "query string");
        if (c->op != NULL)
            c->fields[c->n_fields++] = (codec_json_field){
                .key = "op", .str = {c->op, (uint32_t)strlen(c->op)}};
        return true;
    }
    if (allow_len == 0 && http_ui_find(path) != NULL)
        /* The dashboard's files: mhd_request.c serves GET and HEAD before
         * routing, so another method on them is a known path's. */
        allow_len = (size_t)snprintf(c->allow, sizeof c->allow, "GET, HEAD");
    if (allow_len > 0) {
        http_call_fail(c, 405, ATP_E_UNKNOWN_OP,
                       "method not allowed here; allowed: %s", c->allow);
        return false;
    }
    char shown[64];
    codec_str_to_text(shown, sizeof shown, path, strlen(path));
    http_call_fail(c, 404, ATP_E_UNKNOWN_OP,
                   "no route %s (docs/HTTP.md lists the routes)", shown);
    return false;
}

codec_str http_bearer(const char *header)
{
    codec_str none = {"", 0};
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return none;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    return n > 0 && n <= UINT32_MAX ? (codec_str){t, (uint32_t)n} : none;
}

const codec_json_field *http_field_find(const http_call *c, const char *key)
{
    for (size_t i = 0; i < c->n_fields; i++)
        if (strcmp(c->fields[i].key, key) == 0)
            return &c->fields[i];
    return NULL;
}

/* The one table: every code of include/atp/error.h to one HTTP status
 * (docs/HTTP.md). Codes only the source feed gives (unauthorized, ...)
 * are mapped too, so that the table is total. */
int http_status_of(int code)
{
    switch (code) {
    case ATP_E_OK:
        return 200;
    case ATP_E_BAD_REQUEST:
        return 400;
    case ATP_E_UNKNOWN_OP:
    case ATP_E_NOT_FOUND:
        return 404;
    case ATP_E_UNKNOWN_REGION:
    case ATP_E_UNKNOWN_CHANNEL:
    case ATP_E_UNKNOWN_LOCATION:
    case ATP_E_BAD_SKU:
    case ATP_E_BAD_QTY:
    case ATP_E_TOO_MANY_LINES:
    case ATP_E_BAD_BUCKET:
    case ATP_E_BAD_EVENT:
    case ATP_E_BAD_TTL:
    case ATP_E_BAD_ID:
    case ATP_E_UNKNOWN_SOURCE:
    case ATP_E_CONFIG: /* an admin change the file's checks refuse */
        return 422;
    case ATP_E_TOO_LARGE:
        return 413;
    case ATP_E_UNAUTHORIZED:
    case ATP_E_FORBIDDEN:
        return 403;
    case ATP_E_UNAUTHENTICATED:
        return 401; /* with WWW-Authenticate: Bearer (mhd.c) */
    case ATP_E_QUOTA:
        return 429;
    case ATP_E_CONFLICT:
    case ATP_E_CROSS_PARTITION:
    case ATP_E_DUPLICATE:
    case ATP_E_BAD_STATE:
        return 409;
    case ATP_E_BUSY:
    case ATP_E_NOMEM:
    case ATP_E_NOT_READY:
    case ATP_E_NOT_OWNER:
        return 503;
    case ATP_E_STORE_FULL:
        return 507;
    case ATP_E_TIMEOUT:
        return 504;
    case ATP_E_TRANSPORT:
        return 502;
    case ATP_E_INTERNAL:
    case ATP_E_IO:
        return 500;
    }
    return 500;
}

bool http_reply_read(const void *rep, size_t len, http_reply_info *out)
{
    memset(out, 0, sizeof *out);
    codec_view root;
    bool ok;
    if (codec_view_root(rep, len, &root) != ATP_OK ||
        !codec_view_bool(codec_view_get(root, "ok"), &ok))
        return false;
    if (!ok) {
        int64_t code;
        if (!codec_view_int(
                codec_view_get(codec_view_get(root, "error"), "code"), &code))
            return false;
        out->code = (int)code;
        return true;
    }
    codec_view_bool(codec_view_get(root, "granted"), &out->granted);
    codec_view_bool(codec_view_get(root, "replayed"), &out->replayed);
    bool b;
    out->ready = !codec_view_bool(codec_view_get(root, "ready"), &b) || b;
    out->healthy = !codec_view_bool(codec_view_get(root, "healthy"), &b) || b;
    return true;
}

int http_reply_status(const http_call *c, const http_reply_info *r)
{
    if (r->code != ATP_OK)
        return http_status_of(r->code);
    if (c->probe != NULL &&
        !(strcmp(c->probe, "ready") == 0 ? r->ready : r->healthy))
        return 503; /* /readyz, /healthz: a load balancer reads the status */
    return c->created && r->granted && !r->replayed ? 201 : 200;
}
