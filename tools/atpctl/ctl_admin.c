/*
 * ctl_admin.c - `atpctl admin ...`: the run-time administration requests
 * (docs/PROTOCOL.md, "Admin") built from the command words, and their
 * replies as text. Single-threaded, like atpctl.
 */
#include "ctl_admin.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_resv.h"

/* The keys a buffer scope or value may name as KEY=VALUE words. */
static const char *const ctl_admin_scope[] = {"sku", "region", "channel"};
static const char *const ctl_admin_values[] = {"units", "percent", "low_stock",
                                               "backorder"};

static bool ctl_admin_in(const char *k, size_t n, const char *const *v,
                         size_t nv)
{
    for (size_t i = 0; i < nv; i++)
        if (strlen(v[i]) == n && memcmp(v[i], k, n) == 0)
            return true;
    return false;
}

/* ctl_admin_kv writes words[from..] (KEY=VALUE) into w: the scope's as
 * strings, units, low_stock and backorder as integers, percent as given (a
 * string: atpd reads "2.5" exactly). Returns false with why said on stderr. */
static bool ctl_admin_kv(char **words, int from, int n, bool values,
                         codec_writer *w)
{
    for (int i = from; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        size_t kn = eq ? (size_t)(eq - words[i]) : 0;
        bool scope = eq && ctl_admin_in(words[i], kn, ctl_admin_scope, 3);
        bool value =
            eq && values && ctl_admin_in(words[i], kn, ctl_admin_values, 4);
        if (!scope && !value) {
            fprintf(stderr,
                    "atpctl: admin: '%s': expected KEY=VALUE with KEY one of "
                    "sku, region, channel%s\n",
                    words[i],
                    values ? ", units, percent, low_stock, backorder" : "");
            return false;
        }
        if (scope || strncmp(words[i], "percent", kn) == 0) {
            codec_w_str(w, words[i], kn);
            codec_w_cstr(w, eq + 1);
            continue;
        }
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (*end != '\0' || end == eq + 1) {
            fprintf(stderr, "atpctl: admin: '%s': %.*s needs an integer\n",
                    words[i], (int)kn, words[i]);
            return false;
        }
        codec_w_str(w, words[i], kn);
        codec_w_int(w, v);
    }
    return true;
}

/* ctl_admin_location_kv writes set-location's words[from..n) (type=T,
 * pickup=true|false, pickup_buffer=N) into w. false: why said on
 * stderr. */
static bool ctl_admin_location_kv(char **words, int from, int n,
                                  codec_writer *w)
{
    for (int i = from; i < n; i++) {
        const char *v = strchr(words[i], '=');
        size_t kn = v ? (size_t)(v++ - words[i]) : 0;
        char *end = NULL;
        long long q = 0;
        if (kn == 4 && memcmp(words[i], "type", 4) == 0) {
            codec_w_cstr(w, "type");
            codec_w_cstr(w, v);
        } else if (kn == 6 && memcmp(words[i], "pickup", 6) == 0 &&
                   (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)) {
            codec_w_kv_bool(w, "pickup", v[0] == 't');
        } else if (kn == 13 && memcmp(words[i], "pickup_buffer", 13) == 0 &&
                   (q = strtoll(v, &end, 10), *v != '\0' && *end == '\0')) {
            codec_w_kv_int(w, "pickup_buffer", q);
        } else {
            fprintf(stderr,
                    "atpctl: admin: '%s': expected type=T, pickup=true|false "
                    "or pickup_buffer=N\n",
                    words[i]);
            return false;
        }
    }
    return true;
}

/* ctl_admin_buckets writes "on_hand,held" (or "none") as an array of
 * names. false: a word that names no bucket (said on stderr; atpd judges
 * repeats). */
static bool ctl_admin_buckets(const char *list, codec_writer *w)
{
    static const char *const names[] = {"on_hand", "allocated", "held",
                                        "inbound"};
    if (strcmp(list, "none") == 0) {
        codec_w_array(w, 0);
        return true;
    }
    uint32_t n = 1;
    for (const char *p = list;; p++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!ctl_admin_in(p, len, names, 4)) {
            fprintf(stderr,
                    "atpctl: admin: set-authority: '%.*s' is no bucket; "
                    "expected on_hand, allocated, held, inbound "
                    "(comma-separated) or none\n",
                    (int)len, p);
            return false;
        }
        if (e == NULL)
            break;
        n++;
        p = e;
    }
    codec_w_array(w, n);
    for (const char *p = list;; p++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        codec_w_str(w, p, len);
        if (e == NULL)
            break;
        p = e;
    }
    return true;
}

/* ctl_admin_horizon_ok: a horizon word says its unit ("36h", "2d"), or
 * is "0": a bare number would be milliseconds to atpd, which a command
 * line typing "36" hardly means (as --ttl and --duration refuse it).
 * false: said on stderr. */
static bool ctl_admin_horizon_ok(const char *s)
{
    size_t d = strspn(s, "0123456789");
    if (d == 0 || s[d] != '\0' || strcmp(s, "0") == 0)
        return true; /* atpd judges the rest */
    fprintf(stderr,
            "atpctl: admin: horizon '%s': say its unit (%sh, %sd, %sms ...)\n",
            s, s, s, s);
    return false;
}

int ctl_admin_build(const ctl_args *a, codec_writer *w, bool *usage)
{
    const char *sub = a->nwords > 1 ? a->words[1] : "";
    int n = a->nwords;
    *usage = true;
    if (strcmp(sub, "list") == 0 || strcmp(sub, "export") == 0) {
        if (n != 2)
            return -1;
        codec_w_map(w, 1);
        codec_w_kv_cstr(w, "op", sub[0] == 'l' ? "admin_list" : "admin_export");
        return 0;
    }
    if (strcmp(sub, "history") == 0) {
        if (n > 3)
            return -1;
        char *end = NULL;
        unsigned long long after = n == 3 ? strtoull(a->words[2], &end, 10) : 0;
        if (n == 3 && (*end != '\0' || a->words[2][0] == '-'))
            return -1;
        codec_w_map(w, 2 + (a->limit != NULL));
        codec_w_kv_cstr(w, "op", "admin_history");
        codec_w_kv_uint(w, "after", after);
        if (a->limit != NULL)
            codec_w_kv_uint(w, "limit", strtoull(a->limit, NULL, 10));
        return 0;
    }
    bool set = strcmp(sub, "set-buffer") == 0;
    if (set || strcmp(sub, "remove-buffer") == 0) {
        if (n < 3)
            return -1;
        codec_w_map(w, (uint32_t)(2 + n - 3));
        codec_w_kv_cstr(w, "op",
                        set ? "admin_set_buffer" : "admin_remove_buffer");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        *usage = false;
        return ctl_admin_kv(a->words, 3, n, set, w) ? 0 : -1;
    }
    if (strcmp(sub, "move-location") == 0) {
        if (n != 5)
            return -1;
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "op", "admin_move_location");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "location", a->words[3]);
        codec_w_kv_cstr(w, "region", a->words[4]);
        return 0;
    }
    if (strcmp(sub, "remove-location") == 0) {
        if (n != 4)
            return -1;
        codec_w_map(w, 3);
        codec_w_kv_cstr(w, "op", "admin_remove_location");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "location", a->words[3]);
        return 0;
    }
    if (strcmp(sub, "set-region") == 0) {
        if (n != 5)
            return -1;
        if (!ctl_admin_horizon_ok(a->words[4]))
            return *usage = false, -1;
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "op", "admin_set_region");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "region", a->words[3]);
        codec_w_kv_cstr(w, "inbound_horizon", a->words[4]);
        return 0;
    }
    if (strcmp(sub, "add-location") == 0) {
        if (n < 5)
            return -1;
        codec_w_map(w, (uint32_t)(4 + n - 5));
        codec_w_kv_cstr(w, "op", "admin_add_location");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "location", a->words[3]);
        codec_w_kv_cstr(w, "region", a->words[4]);
        *usage = false;
        return ctl_admin_location_kv(a->words, 5, n, w) ? 0 : -1;
    }
    bool rm_region = strcmp(sub, "remove-region") == 0;
    if (strcmp(sub, "add-channel") == 0 || rm_region ||
        strcmp(sub, "remove-channel") == 0) {
        if (n != 4)
            return -1;
        codec_w_map(w, 3);
        codec_w_kv_cstr(w, "op",
                        sub[0] == 'a' ? "admin_add_channel"
                        : rm_region   ? "admin_remove_region"
                                      : "admin_remove_channel");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, rm_region ? "region" : "channel", a->words[3]);
        return 0;
    }
    if (strcmp(sub, "add-region") == 0) {
        if (n != 4 && n != 5)
            return -1;
        if (n == 5 && !ctl_admin_horizon_ok(a->words[4]))
            return *usage = false, -1;
        codec_w_map(w, (uint32_t)(n == 5 ? 4 : 3));
        codec_w_kv_cstr(w, "op", "admin_add_region");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "region", a->words[3]);
        if (n == 5)
            codec_w_kv_cstr(w, "inbound_horizon", a->words[4]);
        return 0;
    }
    if (strcmp(sub, "set-authority") == 0) {
        if (n != 6)
            return -1;
        codec_w_map(w, 5);
        codec_w_kv_cstr(w, "op", "admin_set_authority");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "source", a->words[3]);
        codec_w_kv_cstr(w, "location", a->words[4]);
        codec_w_cstr(w, "buckets");
        *usage = false;
        return ctl_admin_buckets(a->words[5], w) ? 0 : -1;
    }
    if (strcmp(sub, "set-bundle") == 0) { /* ID SKU COMP:QTY ... */
        if (n > 4 + 16) {
            fprintf(stderr,
                    "atpctl: admin set-bundle: %d components; a "
                    "bundle has 1 to 16\n",
                    n - 4);
            *usage = false;
            return -1;
        }
        if (n < 5)
            return -1;
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "op", "admin_set_bundle");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "sku", a->words[3]);
        codec_w_cstr(w, "components");
        codec_w_array(w, (uint32_t)(n - 4));
        *usage = false;
        for (int i = 4; i < n; i++) {
            const char *colon = strrchr(a->words[i], ':');
            char *end = NULL;
            long long q = colon ? strtoll(colon + 1, &end, 10) : 0;
            if (colon == NULL || colon == a->words[i] || *end != '\0' ||
                end == colon + 1) {
                fprintf(stderr,
                        "atpctl: admin set-bundle: '%s': expected SKU:QTY\n",
                        a->words[i]);
                return -1;
            }
            codec_w_array(w, 2);
            codec_w_str(w, a->words[i], (size_t)(colon - a->words[i]));
            codec_w_int(w, q);
        }
        return 0;
    }
    if (strcmp(sub, "remove-bundle") == 0) {
        if (n != 4)
            return -1;
        codec_w_map(w, 3);
        codec_w_kv_cstr(w, "op", "admin_remove_bundle");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "sku", a->words[3]);
        return 0;
    }
    if (strcmp(sub, "set-location") == 0) {
        if (n < 5)
            return -1;
        codec_w_map(w, (uint32_t)(3 + n - 4));
        codec_w_kv_cstr(w, "op", "admin_set_location");
        codec_w_kv_cstr(w, "change_id", a->words[2]);
        codec_w_kv_cstr(w, "location", a->words[3]);
        *usage = false;
        return ctl_admin_location_kv(a->words, 4, n, w) ? 0 : -1;
    }
    return -1;
}

/* ctl_admin_id: a string field or "*" (nil: any). */
static void ctl_admin_id(const codec_val *m, const char *key, char *buf,
                         size_t n)
{
    codec_str s;
    if (codec_val_str(codec_val_get(m, key), &s))
        snprintf(buf, n, "%.*s", (int)s.len, s.ptr);
    else
        snprintf(buf, n, "*");
}

static int64_t ctl_admin_int(const codec_val *m, const char *key)
{
    int64_t v = 0;
    codec_val_int(codec_val_get(m, key), &v);
    return v;
}

static void ctl_admin_show_list(const codec_val *r, FILE *f)
{
    fprintf(f, "version %" PRId64 "\n", ctl_admin_int(r, "version"));
    const codec_val *b = codec_val_get(r, "buffers");
    fprintf(f, "buffers (%u):\n  %-20s %-12s %-12s %8s %8s %9s %9s\n",
            codec_val_len(b), "SKU", "REGION", "CHANNEL", "UNITS", "PERCENT",
            "LOW_STOCK", "BACKORDER");
    for (uint32_t i = 0; i < codec_val_len(b); i++) {
        const codec_val *x = codec_val_at(b, i);
        char sku[80], reg[140], ch[140];
        ctl_admin_id(x, "sku", sku, sizeof sku);
        ctl_admin_id(x, "region", reg, sizeof reg);
        ctl_admin_id(x, "channel", ch, sizeof ch);
        int64_t bp = ctl_admin_int(x, "percent_bp");
        fprintf(f,
                "  %-20s %-12s %-12s %8" PRId64 " %5" PRId64 ".%02" PRId64
                " %9" PRId64 " %9" PRId64 "\n",
                sku, reg, ch, ctl_admin_int(x, "units"), bp / 100, bp % 100,
                ctl_admin_int(x, "low_stock"), ctl_admin_int(x, "backorder"));
    }
    const codec_val *bu = codec_val_get(r, "bundles");
    fprintf(f, "bundles (%u):\n", codec_val_len(bu));
    for (uint32_t i = 0; i < codec_val_len(bu); i++) {
        const codec_val *x = codec_val_at(bu, i), *c;
        char sku[80];
        ctl_admin_id(x, "sku", sku, sizeof sku);
        fprintf(f, "  %s =", sku);
        c = codec_val_get(x, "components");
        for (uint32_t k = 0; k < codec_val_len(c); k++) {
            const codec_val *p = codec_val_at(c, k);
            codec_str s;
            int64_t q = 0;
            if (codec_val_str(codec_val_at(p, 0), &s) &&
                codec_val_int(codec_val_at(p, 1), &q))
                fprintf(f, " %.*s:%" PRId64, (int)s.len, s.ptr, q);
        }
        fputc('\n', f);
    }
    const codec_val *g = codec_val_get(r, "regions");
    fprintf(f, "regions (%u):\n  %-20s %s\n", codec_val_len(g), "ID",
            "INBOUND_HORIZON_MS");
    for (uint32_t i = 0; i < codec_val_len(g); i++) {
        char id[140];
        ctl_admin_id(codec_val_at(g, i), "id", id, sizeof id);
        fprintf(f, "  %-20s %" PRId64 "\n", id,
                ctl_admin_int(codec_val_at(g, i), "inbound_horizon_ms"));
    }
    const codec_val *l = codec_val_get(r, "locations");
    fprintf(f, "locations (%u):\n  %-20s %-12s %-12s %6s %13s\n",
            codec_val_len(l), "ID", "REGION", "TYPE", "PICKUP",
            "PICKUP_BUFFER");
    for (uint32_t i = 0; i < codec_val_len(l); i++) {
        const codec_val *x = codec_val_at(l, i);
        char id[140], reg[140], type[140];
        bool pickup = false;
        ctl_admin_id(x, "id", id, sizeof id);
        ctl_admin_id(x, "region", reg, sizeof reg);
        ctl_admin_id(x, "type", type, sizeof type);
        codec_val_bool(codec_val_get(x, "pickup"), &pickup);
        fprintf(f, "  %-20s %-12s %-12s %6s %13" PRId64 "\n", id, reg,
                type[0] ? type : "-", pickup ? "yes" : "no",
                ctl_admin_int(x, "pickup_buffer"));
    }
    fprintf(f, "spare places for locations: %" PRId64 "\n",
            ctl_admin_int(r, "spare_locations"));
    const codec_val *ch = codec_val_get(r, "channels");
    fprintf(f, "channels (%u):", codec_val_len(ch));
    for (uint32_t i = 0; i < codec_val_len(ch); i++) {
        codec_str cs = {0};
        codec_val_str(codec_val_at(ch, i), &cs);
        fprintf(f, "%s%.*s", i ? ", " : " ", (int)cs.len, cs.ptr);
    }
    fprintf(f, "\nspare places for channels: %" PRId64 "\n",
            ctl_admin_int(r, "spare_channels"));
    fprintf(f, "spare places for regions: %" PRId64 "\n",
            ctl_admin_int(r, "spare_regions"));
    const codec_val *s = codec_val_get(r, "sources");
    fprintf(f, "sources (%u):\n", codec_val_len(s));
    for (uint32_t i = 0; i < codec_val_len(s); i++) {
        const codec_val *x = codec_val_at(s, i);
        const codec_val *au = codec_val_get(x, "authority");
        char id[140];
        ctl_admin_id(x, "id", id, sizeof id);
        fprintf(f, "  %s:%s\n", id, codec_val_len(au) ? "" : " (none)");
        for (uint32_t k = 0; k < codec_val_len(au); k++) {
            const codec_val *y = codec_val_at(au, k);
            const codec_val *bk = codec_val_get(y, "buckets");
            char loc[140];
            ctl_admin_id(y, "location", loc, sizeof loc);
            fprintf(f, "    %-20s", loc);
            for (uint32_t j = 0; j < codec_val_len(bk); j++) {
                char name[32];
                codec_str bs = {0};
                codec_val_str(codec_val_at(bk, j), &bs);
                snprintf(name, sizeof name, "%.*s", (int)bs.len, bs.ptr);
                fprintf(f, "%s%s", j ? ", " : " ", name);
            }
            fputc('\n', f);
        }
    }
}

static void ctl_admin_show_history(const codec_val *r, FILE *f)
{
    const codec_val *c = codec_val_get(r, "changes");
    for (uint32_t i = 0; i < codec_val_len(c); i++) {
        const codec_val *x = codec_val_at(c, i);
        char who[140], what[1024], before[300], after[300], id[140], at[64];
        ctl_admin_id(x, "who", who, sizeof who);
        ctl_admin_id(x, "what", what, sizeof what);
        ctl_admin_id(x, "before", before, sizeof before);
        ctl_admin_id(x, "after", after, sizeof after);
        ctl_admin_id(x, "change_id", id, sizeof id);
        ctl_resv_fmt_utc(ctl_admin_int(x, "at_ms"), at, sizeof at);
        fprintf(f, "v%" PRId64 " at %s by %s%s%s: %s\n",
                ctl_admin_int(x, "version"), at, who, id[0] ? ", change " : "",
                id, what);
        if (before[0] || after[0])
            fprintf(f, "    before: %s\n    after:  %s\n",
                    before[0] ? before : "(none)", after[0] ? after : "(none)");
    }
    int64_t next = ctl_admin_int(r, "next_after");
    if (next > 0)
        fprintf(f, "(more: atpctl admin history %" PRId64 ")\n", next);
}

void ctl_admin_render(const codec_val *r, FILE *f)
{
    codec_str s;
    if (codec_val_str(codec_val_get(r, "config"), &s)) {
        fwrite(s.ptr, 1, s.len, f); /* export: the document as it is */
    } else if (codec_val_get(r, "changes") != NULL) {
        ctl_admin_show_history(r, f);
    } else if (codec_val_get(r, "buffers") != NULL) {
        ctl_admin_show_list(r, f);
    } else {
        bool replayed = false;
        codec_val_bool(codec_val_get(r, "replayed"), &replayed);
        fprintf(f, "ok: version %" PRId64 "%s\n", ctl_admin_int(r, "version"),
                replayed ? " (this change id was applied before: replayed)"
                         : "");
    }
}
