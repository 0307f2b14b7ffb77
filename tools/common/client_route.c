/*
 * client_route.c - a query map as the HTTP request of the same operation
 * (see client_route.h). Pure: strings in, strings out; any thread.
 */
#define _GNU_SOURCE /* open_memstream */
#include "client_route.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One route of docs/HTTP.md. Path segments are literal or "{field}"; the
 * query fields are optional and sent only when the map has them. */
#define CLIENT_ROUTE_SEGS 5 /* path segments after /v1 */

typedef struct client_route_def {
    const char *op;
    const char *method;
    const char *path[CLIENT_ROUTE_SEGS];
    const char *query[3];
} client_route_def;

static const client_route_def client_routes[] = {
    {"atp", "GET", {"availability", "{sku}", "{region}"}, {"channel"}},
    {"regions", "GET", {"availability", "{sku}"}, {"channel"}},
    {"cart", "POST", {"availability", "cart"}, {NULL}},
    {"pickup",
     "GET",
     {"pickup", "{region}", "{sku}"},
     {"channel", "pickup_only"}},
    {"pickup_cart", "POST", {"pickup", "{region}", "cart"}, {NULL}},
    {"promise",
     "GET",
     {"promise", "{region}", "{sku}"},
     {"channel", "qty", "date_ms"}},
    {"promise_cart", "POST", {"promise", "{region}", "cart"}, {NULL}},
    {"scan",
     "GET",
     {"regions", "{region}", "availability"},
     {"cursor", "limit", "channel"}},
    {"sources", "GET", {"sources"}, {NULL}},
    {"source_reset", "POST", {"sources", "{source}", "reset"}, {NULL}},
    {"status", "GET", {"status"}, {NULL}},
    {"snapshot", "POST", {"snapshots"}, {NULL}},
    {"reserve", "POST", {"reservations"}, {NULL}},
    {"reservation", "GET", {"reservations", "{id}"}, {NULL}},
    {"commit", "POST", {"reservations", "{id}", "commit"}, {NULL}},
    {"release", "POST", {"reservations", "{id}", "release"}, {NULL}},
    {"extend", "POST", {"reservations", "{id}", "extend"}, {NULL}},
    {"admin_list", "GET", {"admin"}, {NULL}},
    {"admin_export", "GET", {"admin", "export"}, {NULL}},
    {"admin_history", "GET", {"admin", "history"}, {"after", "limit"}},
    {"admin_set_buffer", "PUT", {"admin", "buffers"}, {NULL}},
    {"admin_remove_buffer", "POST", {"admin", "buffers", "remove"}, {NULL}},
    {"admin_set_bundle", "PUT", {"admin", "bundles"}, {NULL}},
    {"admin_remove_bundle", "POST", {"admin", "bundles", "remove"}, {NULL}},
    {"admin_move_location",
     "PUT",
     {"admin", "locations", "{location}"},
     {NULL}},
    {"admin_set_location",
     "PATCH",
     {"admin", "locations", "{location}"},
     {NULL}},
    {"admin_set_region", "PATCH", {"admin", "regions", "{region}"}, {NULL}},
    {"admin_remove_location",
     "POST",
     {"admin", "locations", "{location}", "remove"},
     {NULL}},
    {"admin_add_location", "POST", {"admin", "locations"}, {NULL}},
    {"admin_set_authority",
     "PUT",
     {"admin", "sources", "{source}", "authority", "{location}"},
     {NULL}},
    {"admin_add_channel", "POST", {"admin", "channels"}, {NULL}},
    {"admin_add_region", "POST", {"admin", "regions"}, {NULL}},
    {"admin_remove_region",
     "POST",
     {"admin", "regions", "{region}", "remove"},
     {NULL}},
    {"admin_remove_channel",
     "POST",
     {"admin", "channels", "{channel}", "remove"},
     {NULL}},
};

#define CLIENT_ROUTES (sizeof client_routes / sizeof client_routes[0])

/* client_route_escape writes s[0..n) percent-encoded: RFC 3986's
 * unreserved characters as they are, every other byte as %XX. */
static void client_route_escape(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~')
            fputc(c, f);
        else
            fprintf(f, "%%%c%c", hex[c >> 4], hex[c & 0xf]);
    }
}

/* client_route_base writes base without its trailing '/'s, then "/v1". */
static void client_route_base(FILE *f, const char *base)
{
    size_t bn = strlen(base);
    while (bn > 0 && base[bn - 1] == '/')
        bn--;
    fwrite(base, 1, bn, f);
    fputs("/v1", f);
}

/* client_route_field writes the value of field key of req (a string, or a
 * non-negative integer or a boolean when may_int) escaped; false when it
 * has none. */
static bool client_route_field(FILE *f, const codec_val *req, const char *key,
                               bool may_int)
{
    const codec_val *v = codec_val_get(req, key);
    codec_str s;
    uint64_t u;
    if (codec_val_str(v, &s)) {
        client_route_escape(f, s.ptr, s.len);
        return true;
    }
    if (may_int && codec_val_uint(v, &u)) {
        fprintf(f, "%" PRIu64, u);
        return true;
    }
    bool b;
    if (may_int && codec_val_bool(v, &b)) {
        fputs(b ? "true" : "false", f);
        return true;
    }
    return false;
}

static bool client_route_in_path(const client_route_def *d, const char *key,
                                 size_t kn)
{
    for (int i = 0; i < CLIENT_ROUTE_SEGS && d->path[i] != NULL; i++)
        if (d->path[i][0] == '{' && strlen(d->path[i]) == kn + 2 &&
            memcmp(d->path[i] + 1, key, kn) == 0)
            return true;
    return false;
}

/* client_route_url writes base, the path and the query string to f;
 * false (err filled) when a path field is missing. */
static bool client_route_url(FILE *f, const client_route_def *d,
                             const codec_val *req, const char *base, char *err,
                             size_t errlen)
{
    client_route_base(f, base);
    for (int i = 0; i < CLIENT_ROUTE_SEGS && d->path[i] != NULL; i++) {
        const char *seg = d->path[i];
        fputc('/', f);
        if (seg[0] != '{') {
            fputs(seg, f);
            continue;
        }
        char key[16];
        snprintf(key, sizeof key, "%.*s", (int)strlen(seg) - 2, seg + 1);
        if (!client_route_field(f, req, key, false)) {
            snprintf(err, errlen, "%s needs a string '%s'", d->op, key);
            return false;
        }
    }
    char sep = '?';
    for (int i = 0; i < 3 && d->query[i] != NULL; i++) {
        if (codec_val_get(req, d->query[i]) == NULL)
            continue;
        fprintf(f, "%c%s=", sep, d->query[i]);
        sep = '&';
        if (!client_route_field(f, req, d->query[i], true)) {
            snprintf(err, errlen,
                     "%s: '%s' must be a string, an integer or a boolean",
                     d->op, d->query[i]);
            return false;
        }
    }
    return true;
}

/* client_route_body writes every field of req but "op" and the path's as
 * one JSON object to f. */
static atp_err client_route_body(FILE *f, const client_route_def *d,
                                 const codec_val *req)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    atp_err e = ATP_E_NOMEM;
    if (w == NULL || a == NULL)
        goto done;
    uint32_t n = codec_val_len(req), keep = 0;
    bool *kept = calloc(n ? n : 1, sizeof *kept);
    if (kept == NULL)
        goto done;
    for (uint32_t i = 0; i < n; i++) {
        codec_str k;
        kept[i] = !codec_val_str(codec_val_map_key(req, i), &k) ||
                  !((k.len == 2 && memcmp(k.ptr, "op", 2) == 0) ||
                    client_route_in_path(d, k.ptr, k.len));
        keep += kept[i];
    }
    codec_w_map(w, keep);
    for (uint32_t i = 0; i < n; i++) {
        if (!kept[i])
            continue;
        codec_w_val(w, codec_val_map_key(req, i));
        codec_w_val(w, codec_val_map_value(req, i));
    }
    free(kept);
    size_t len;
    const void *buf = codec_writer_data(w, &len);
    const codec_val *body;
    if (codec_writer_failed(w) || codec_decode(a, buf, len, &body) != ATP_OK)
        goto done;
    codec_val_write_json(body, f);
    e = ATP_OK;
done:
    codec_arena_free(a);
    codec_writer_free(w);
    return e;
}

atp_err client_route_build(const codec_val *req, const char *base,
                           client_route *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    codec_str op = {0};
    const client_route_def *d = NULL;
    if (codec_val_str(codec_val_get(req, "op"), &op))
        for (size_t i = 0; i < CLIENT_ROUTES && d == NULL; i++)
            if (strlen(client_routes[i].op) == op.len &&
                memcmp(client_routes[i].op, op.ptr, op.len) == 0)
                d = &client_routes[i];
    if (d == NULL) {
        snprintf(err, errlen, "no HTTP route for op '%.*s'", (int)op.len,
                 op.ptr ? op.ptr : "");
        return ATP_E_UNKNOWN_OP;
    }
    out->method = d->method;
    size_t n = 0;
    FILE *f = open_memstream(&out->url, &n);
    if (f == NULL)
        return ATP_E_NOMEM;
    bool ok = client_route_url(f, d, req, base, err, errlen);
    if (fclose(f) != 0)
        return ATP_E_NOMEM;
    if (!ok)
        return ATP_E_BAD_REQUEST;
    if (strcmp(d->method, "GET") == 0)
        return ATP_OK; /* POST and PUT carry the rest of the map */
    f = open_memstream(&out->body, &out->body_len);
    if (f == NULL)
        return ATP_E_NOMEM;
    atp_err e = client_route_body(f, d, req);
    if (fclose(f) != 0 && e == ATP_OK)
        e = ATP_E_NOMEM;
    return e;
}

void client_route_fini(client_route *r)
{
    free(r->url);
    free(r->body);
    memset(r, 0, sizeof *r);
}

char *client_route_changes_url(const char *base, const char *region,
                               const char *sku)
{
    char *url = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&url, &n);
    if (f == NULL)
        return NULL;
    client_route_base(f, base);
    fputs("/changes", f);
    if (region != NULL) {
        fputs("?region=", f);
        client_route_escape(f, region, strlen(region));
    }
    if (sku != NULL) {
        fputs(region != NULL ? "&sku=" : "?sku=", f);
        client_route_escape(f, sku, strlen(sku));
    }
    if (fclose(f) != 0) {
        free(url);
        return NULL;
    }
    return url;
}
