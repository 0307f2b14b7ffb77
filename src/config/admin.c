/*
 * admin.c - the run-time administered part of a configuration (buffer
 * rules; each location's region, type and pickup settings: docs/CONFIG.md,
 * "Run-time administration") as a YAML document, with one change applied, so
 * that a change is validated by config_load_string exactly like the file; and
 * that part of one configuration laid over another (the stored state over
 * the file at start). Pure, no I/O; any thread (the results are the
 * caller's).
 */
#include "common/assert.h"
#include "config/config.h"
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config_quote_byte: byte c as it stands inside a YAML double-quoted
 * scalar: escaped if a parser could take it for syntax, else itself.
 * Writes out (NUL-terminated), returns its length (1..4). */
static int config_quote_byte(unsigned char c, char out[5])
{
    if (c == '"' || c == '\\')
        return snprintf(out, 5, "\\%c", c);
    if (c < 0x20 || c == 0x7f)
        return snprintf(out, 5, "\\x%02x", c);
    out[0] = (char)c;
    out[1] = '\0';
    return 1;
}

/* config_admin_quote writes s as a YAML double-quoted scalar (UTF-8 as
 * is), so any id round-trips. */
static void config_admin_quote(FILE *f, const char *s)
{
    char b[5];
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        config_quote_byte(*p, b);
        fputs(b, f);
    }
    fputc('"', f);
}

size_t config_quote(char *buf, size_t n, const char *s)
{
    ATP_ASSERT(n >= 3);
    char b[5];
    size_t k = 0;
    buf[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t m = (size_t)config_quote_byte(*p, b);
        if (k + m + 2 > n) /* room for the closing quote and the NUL */
            break;
        memcpy(buf + k, b, m);
        k += m;
    }
    buf[k++] = '"';
    buf[k] = '\0';
    return k;
}

static bool config_admin_name_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

bool config_admin_rule_matches(const config *c, const config_buffer_rule *r,
                               const char *sku, const char *region,
                               const char *channel)
{
    const char *rr = r->region == UINT32_MAX ? NULL : c->regions[r->region].id;
    const char *rc = r->channel == UINT32_MAX ? NULL : c->channels[r->channel];
    return config_admin_name_eq(r->sku, sku) &&
           config_admin_name_eq(rr, region) &&
           config_admin_name_eq(rc, channel);
}

static void config_admin_rule_write(FILE *f, const char *sku,
                                    const char *region, const char *channel,
                                    const int64_t *units,
                                    const int64_t *percent_bp,
                                    const int64_t *low_stock,
                                    const int64_t *backorder)
{
    fputs("  - {", f);
    const char *sep = "";
    if (sku != NULL) {
        fputs("sku: ", f);
        config_admin_quote(f, sku);
        sep = ", ";
    }
    if (region != NULL) {
        fprintf(f, "%sregion: ", sep);
        config_admin_quote(f, region);
        sep = ", ";
    }
    if (channel != NULL) {
        fprintf(f, "%schannel: ", sep);
        config_admin_quote(f, channel);
        sep = ", ";
    }
    if (units != NULL) {
        fprintf(f, "%sunits: %lld", sep, (long long)*units);
        sep = ", ";
    }
    if (percent_bp != NULL) {
        long long bp = *percent_bp < 0 ? -*percent_bp : *percent_bp;
        fprintf(f, "%spercent: %s%lld.%02lld", sep, *percent_bp < 0 ? "-" : "",
                bp / 100, bp % 100); /* out of range: the parser says so */
        sep = ", ";
    }
    if (low_stock != NULL) {
        fprintf(f, "%slow_stock: %lld", sep, (long long)*low_stock);
        sep = ", ";
    }
    if (backorder != NULL)
        fprintf(f, "%sbackorder: %lld", sep, (long long)*backorder);
    fputs("}\n", f);
}

/* config_admin_location_write writes one entry of locations: (typed: a
 * type the client set, written even when empty, so that the parser says
 * what is wrong with it, as for the file). */
static void config_admin_location_write(FILE *f, const config_location *v,
                                        const char *region, bool typed)
{
    fputs("  - id: ", f);
    config_admin_quote(f, v->id);
    fputs("\n    region: ", f);
    config_admin_quote(f, region);
    if (v->type != NULL && (v->type[0] != '\0' || typed)) {
        fputs("\n    type: ", f);
        config_admin_quote(f, v->type);
    }
    if (v->pickup)
        fputs("\n    pickup: true", f);
    if (v->pickup_buffer != 0) /* out of range: the parser says so */
        fprintf(f, "\n    pickup_buffer: %lld", (long long)v->pickup_buffer);
    fputc('\n', f);
}

static void config_admin_write_places(FILE *f, const config *c,
                                      const config_edit *e)
{
    fputs("regions:\n", f);
    size_t regions = config_regions_live(c); /* not the spare places */
    bool rm_region = e != NULL && e->kind == CONFIG_EDIT_REGION_REMOVE;
    for (size_t i = 0; i < regions; i++) {
        if (!config_region_in_service(c, (uint32_t)i) ||
            (rm_region && strcmp(e->region, c->regions[i].id) == 0))
            continue; /* removed (at run time, or by this change) */
        fputs("  - id: ", f);
        config_admin_quote(f, c->regions[i].id);
        if (e != NULL && e->kind == CONFIG_EDIT_REGION_SET &&
            strcmp(e->region, c->regions[i].id) == 0) {
            fputs("\n    inbound_horizon: ", f); /* the parser judges it */
            config_admin_quote(f, e->horizon);
        } else if (c->regions[i].inbound_horizon_ms > 0) {
            fprintf(f, "\n    inbound_horizon: %lldms",
                    (long long)c->regions[i].inbound_horizon_ms);
        }
        fputc('\n', f);
    }
    if (e != NULL && e->kind == CONFIG_EDIT_REGION_ADD) {
        fputs("  - id: ", f);
        config_admin_quote(f, e->region); /* the parser judges both */
        if (e->horizon != NULL) {
            fputs("\n    inbound_horizon: ", f);
            config_admin_quote(f, e->horizon);
        }
        fputc('\n', f);
    }
    fputs("channels:\n", f);
    size_t live = config_channels_live(c); /* not the spare places */
    bool rm_channel = e != NULL && e->kind == CONFIG_EDIT_CHANNEL_REMOVE;
    for (size_t i = 0; i < live; i++) {
        if (!config_channel_in_service(c, (uint32_t)i) ||
            (rm_channel && strcmp(e->channel, c->channels[i]) == 0))
            continue;
        fputs("  - ", f);
        config_admin_quote(f, c->channels[i]);
        fputc('\n', f);
    }
    if (e != NULL && e->kind == CONFIG_EDIT_CHANNEL_ADD) {
        fputs("  - ", f);
        config_admin_quote(f, e->channel); /* the parser judges it */
        fputc('\n', f);
    }
    bool gone = e != NULL && e->kind == CONFIG_EDIT_LOCATION_REMOVE &&
                config_location_find(c, e->location, strlen(e->location)) >= 0;
    bool added = e != NULL && e->kind == CONFIG_EDIT_LOCATION_ADD;
    size_t listed = config_location_named(c) + added;
    fputs(listed > (gone ? 1u : 0u) ? "locations:\n" : "locations: []\n", f);
    for (size_t i = 0; i < c->n_locations; i++) {
        const config_location *l = &c->locations[i];
        if (l->id == NULL)
            continue; /* a spare place (config_location_spares) */
        bool named =
            e != NULL && e->location != NULL && strcmp(e->location, l->id) == 0;
        if (named && e->kind == CONFIG_EDIT_LOCATION_REMOVE)
            continue;
        bool moved = named && e->kind == CONFIG_EDIT_LOCATION_MOVE;
        bool set = named && e->kind == CONFIG_EDIT_LOCATION_SET;
        config_location v = *l;
        if (set) {
            if (e->type != NULL)
                v.type = (char *)e->type; /* only written */
            if (e->has_pickup)
                v.pickup = e->pickup;
            if (e->has_pickup_buffer)
                v.pickup_buffer = e->pickup_buffer;
        }
        config_admin_location_write(
            f, &v, moved ? e->region : c->regions[v.region].id, set && e->type);
    }
    if (added) {
        config_location v = {.id = (char *)e->location, /* only written */
                             .type = (char *)e->type,
                             .pickup = e->has_pickup && e->pickup,
                             .pickup_buffer =
                                 e->has_pickup_buffer ? e->pickup_buffer : 0};
        config_admin_location_write(f, &v, e->region, e->type != NULL);
    }
}

/* config_admin_buckets_write writes one authority entry: the location
 * and its bucket bits. */
static void config_admin_claim_write(FILE *f, const char *location,
                                     unsigned bits)
{
    fputs("      - {locations: [", f);
    config_admin_quote(f, location);
    fputs("], buckets: [", f);
    const char *sep = "";
    for (unsigned k = 0; k < ATP_AUTH_BUCKET_COUNT; k++)
        if (bits & (1u << k)) {
            fprintf(f, "%s%s", sep, config_bucket_name(k));
            sep = ", ";
        }
    fputs("]}\n", f);
}

/* config_admin_write_sources writes each source's id and authority, one
 * entry per location (its pairs are sorted by location), with e's
 * authority set applied (a removed location's entries left out). */
static void config_admin_write_sources(FILE *f, const config *c,
                                       const config_edit *e)
{
    if (c->n_sources == 0)
        return;
    bool edit = e != NULL && e->kind == CONFIG_EDIT_AUTHORITY_SET;
    bool removed = e != NULL && e->kind == CONFIG_EDIT_LOCATION_REMOVE;
    fputs("sources:\n", f);
    for (size_t i = 0; i < c->n_sources; i++) {
        const config_source *src = &c->sources[i];
        bool mine = edit && strcmp(e->source, src->id) == 0;
        fputs("  - id: ", f);
        config_admin_quote(f, src->id);
        fputc('\n', f);
        bool head = false;
        for (size_t a = 0; a < src->n_authority;) {
            uint32_t loc = src->authority[a].location;
            unsigned bits = 0;
            for (; a < src->n_authority && src->authority[a].location == loc;
                 a++)
                bits |= 1u << src->authority[a].bucket;
            const char *id = c->locations[loc].id;
            if (id == NULL ||
                ((mine || removed) && strcmp(id, e->location) == 0))
                continue; /* removed with its location, or edited: last */
            if (!head)
                fputs("    authority:\n", f);
            head = true;
            config_admin_claim_write(f, id, bits);
        }
        if (mine && e->buckets != 0) {
            if (!head)
                fputs("    authority:\n", f);
            config_admin_claim_write(f, e->location, e->buckets);
        }
    }
}

static void config_admin_bundle_write(FILE *f, const char *sku,
                                      const config_bundle_part *parts, size_t n)
{
    fputs("  - {sku: ", f);
    config_admin_quote(f, sku);
    fputs(", components: [", f);
    for (size_t k = 0; k < n; k++) {
        fputs(k ? ", {sku: " : "{sku: ", f);
        config_admin_quote(f, parts[k].sku);
        fprintf(f, ", qty: %lld}", (long long)parts[k].qty);
    }
    fputs("]}\n", f);
}

/* config_admin_write_bundles writes the bundles section with e's bundle
 * set (in the old definition's place, or last) or remove applied.
 * Returns whether e named a bundle c has. */
static bool config_admin_write_bundles(FILE *f, const config *c,
                                       const config_edit *e)
{
    bool set = e != NULL && e->kind == CONFIG_EDIT_BUNDLE_SET;
    bool edit = set || (e != NULL && e->kind == CONFIG_EDIT_BUNDLE_REMOVE);
    bool found = false;
    if (c->n_bundles + set > 0)
        fputs("bundles:\n", f);
    for (size_t i = 0; i < c->n_bundles; i++) {
        const config_bundle *b = &c->bundles[i];
        if (edit && strcmp(b->sku, e->sku) == 0) {
            found = true;
            if (set)
                config_admin_bundle_write(f, e->sku, e->parts, e->n_parts);
            continue;
        }
        config_admin_bundle_write(f, b->sku, b->parts, b->n_parts);
    }
    if (set && !found)
        config_admin_bundle_write(f, e->sku, e->parts, e->n_parts);
    return found;
}

atp_err config_admin_text(const config *c, const config_edit *e, char **out,
                          size_t *len)
{
    *out = NULL;
    *len = 0;
    bool found = false;
    bool located = e != NULL && (e->kind == CONFIG_EDIT_LOCATION_MOVE ||
                                 e->kind == CONFIG_EDIT_LOCATION_SET ||
                                 e->kind == CONFIG_EDIT_LOCATION_REMOVE);
    bool regional = e != NULL && e->kind == CONFIG_EDIT_REGION_SET;
    bool structural = e != NULL && (e->kind == CONFIG_EDIT_LOCATION_ADD ||
                                    e->kind == CONFIG_EDIT_AUTHORITY_SET);
    if (e != NULL && e->kind == CONFIG_EDIT_CHANNEL_ADD) {
        if (config_channel_find(c, e->channel, strlen(e->channel)) >= 0)
            return ATP_E_CONFLICT;
        found = true;
    }
    if (e != NULL && e->kind == CONFIG_EDIT_REGION_ADD) {
        if (config_region_find(c, e->region, strlen(e->region)) >= 0)
            return ATP_E_CONFLICT;
        found = true;
    }
    if (e != NULL && e->kind == CONFIG_EDIT_REGION_REMOVE) {
        if (config_region_find(c, e->region, strlen(e->region)) < 0)
            return ATP_E_UNKNOWN_REGION;
        found = true;
    }
    if (e != NULL && e->kind == CONFIG_EDIT_CHANNEL_REMOVE) {
        if (config_channel_find(c, e->channel, strlen(e->channel)) < 0)
            return ATP_E_UNKNOWN_CHANNEL;
        found = true;
    }
    if (located)
        found = config_location_find(c, e->location, strlen(e->location)) >= 0;
    if (regional)
        found = config_region_find(c, e->region, strlen(e->region)) >= 0;
    if (structural) {
        bool has =
            config_location_find(c, e->location, strlen(e->location)) >= 0;
        if (e->kind == CONFIG_EDIT_LOCATION_ADD && has)
            return ATP_E_CONFLICT;
        if (e->kind == CONFIG_EDIT_AUTHORITY_SET && !has)
            return ATP_E_UNKNOWN_LOCATION;
        if (e->kind == CONFIG_EDIT_AUTHORITY_SET &&
            config_source_find(c, e->source, strlen(e->source)) < 0)
            return ATP_E_UNKNOWN_SOURCE;
        found = true;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL)
        return ATP_E_NOMEM;
    fputs("# atpd's run-time administered state (docs/CONFIG.md, \"Run-time "
          "administration\")\n",
          f);
    config_admin_write_places(f, c, e);
    bool set = e != NULL && e->kind == CONFIG_EDIT_BUFFER_SET;
    bool scoped = e != NULL && (e->kind == CONFIG_EDIT_BUFFER_SET ||
                                e->kind == CONFIG_EDIT_BUFFER_REMOVE);
    bool bundle_set = e != NULL && e->kind == CONFIG_EDIT_BUNDLE_SET;
    size_t rules = c->n_buffers + (set ? 1 : 0);
    fputs(rules ? "buffers:\n" : "buffers: []\n", f);
    for (size_t i = 0; i < c->n_buffers; i++) {
        const config_buffer_rule *r = &c->buffers[i];
        if (scoped &&
            config_admin_rule_matches(c, r, e->sku, e->region, e->channel)) {
            found = true;
            if (set) /* in the old rule's place: the order stays */
                config_admin_rule_write(f, e->sku, e->region, e->channel,
                                        e->has_units ? &e->units : NULL,
                                        e->has_percent ? &e->percent_bp : NULL,
                                        e->has_low_stock ? &e->low_stock : NULL,
                                        e->has_backorder ? &e->backorder
                                                         : NULL);
            continue;
        }
        config_admin_rule_write(
            f, r->sku,
            r->region == UINT32_MAX ? NULL : c->regions[r->region].id,
            r->channel == UINT32_MAX ? NULL : c->channels[r->channel],
            &r->units, &r->percent_bp, &r->low_stock,
            r->backorder != 0 ? &r->backorder : NULL);
    }
    if (set && !found) /* a new scope */
        config_admin_rule_write(f, e->sku, e->region, e->channel,
                                e->has_units ? &e->units : NULL,
                                e->has_percent ? &e->percent_bp : NULL,
                                e->has_low_stock ? &e->low_stock : NULL,
                                e->has_backorder ? &e->backorder : NULL);
    if (config_admin_write_bundles(f, c, e))
        found = true;
    config_admin_write_sources(f, c, e);
    if (fclose(f) != 0 || buf == NULL) {
        free(buf);
        return ATP_E_NOMEM;
    }
    if (e != NULL && !set && !bundle_set && !found) {
        free(buf);
        return located    ? ATP_E_UNKNOWN_LOCATION
               : regional ? ATP_E_UNKNOWN_REGION
                          : ATP_E_NOT_FOUND;
    }
    *out = buf;
    *len = n;
    return ATP_OK;
}

/* config_admin_rules_copy: adm's rules with dst's region and channel
 * indexes (by id), or NULL (out of memory). A rule naming one dst lacks is
 * skipped and reported. */
static config_buffer_rule *config_admin_rules_copy(const config *dst,
                                                   const config *adm,
                                                   config_admin_report_fn fn,
                                                   void *ctx, size_t *n_out)
{
    config_buffer_rule *v =
        calloc(adm->n_buffers ? adm->n_buffers : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    size_t n = 0;
    char what[320];
    for (size_t i = 0; i < adm->n_buffers; i++) {
        const config_buffer_rule *r = &adm->buffers[i];
        config_buffer_rule c = *r;
        const char *rid = NULL, *cid = NULL;
        if (r->region != UINT32_MAX) {
            rid = adm->regions[r->region].id;
            int k = config_region_find(dst, rid, strlen(rid));
            c.region = k < 0 ? UINT32_MAX - 1 : (uint32_t)k;
        }
        if (r->channel != UINT32_MAX) {
            cid = adm->channels[r->channel];
            int k = config_channel_find(dst, cid, strlen(cid));
            c.channel = k < 0 ? UINT32_MAX - 1 : (uint32_t)k;
        }
        if (c.region == UINT32_MAX - 1 || c.channel == UINT32_MAX - 1) {
            snprintf(what, sizeof what,
                     "buffer rule for sku '%s', region '%s', channel '%s' "
                     "names a region or channel the file does not have: "
                     "left out",
                     r->sku ? r->sku : "*", rid ? rid : "*", cid ? cid : "*");
            fn(ctx, what);
            continue;
        }
        c.sku = NULL;
        if (r->sku != NULL && (c.sku = strdup(r->sku)) == NULL) {
            for (size_t k = 0; k < n; k++)
                free(v[k].sku);
            free(v);
            return NULL;
        }
        v[n++] = c;
    }
    *n_out = n;
    return v;
}

/* config_admin_types_copy: adm's type of each of its locations (NULL
 * where it has none), or NULL (out of memory). */
static char **config_admin_types_copy(const config *adm)
{
    char **t = calloc(adm->n_locations ? adm->n_locations : 1, sizeof *t);
    for (size_t i = 0; t != NULL && i < adm->n_locations; i++) {
        const char *s = adm->locations[i].type;
        if (s != NULL && (t[i] = strdup(s)) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(t[k]);
            free(t);
            t = NULL;
        }
    }
    return t;
}

/* config_admin_location_drop removes dst's location k and the authority
 * pairs naming it (the later locations' indexes move down by one), then
 * indexes dst again. ATP_E_NOMEM: the index could not be rebuilt. */
static atp_err config_admin_location_drop(config *dst, size_t k)
{
    free(dst->locations[k].id);
    free(dst->locations[k].type);
    memmove(&dst->locations[k], &dst->locations[k + 1],
            (dst->n_locations - k - 1) * sizeof *dst->locations);
    dst->n_locations--;
    for (size_t s = 0; s < dst->n_sources; s++) {
        config_source *src = &dst->sources[s];
        size_t n = 0;
        for (size_t i = 0; i < src->n_authority; i++) {
            config_authority a = src->authority[i];
            if (a.location == k)
                continue;
            if (a.location > k)
                a.location--;
            src->authority[n++] = a; /* the order (by location) stays */
        }
        src->n_authority = n;
    }
    config__index_free(dst);
    return config__index_build(dst);
}

atp_err config_location_drop(config *c, const char *id)
{
    int k = config_location_find(c, id, strlen(id));
    return k < 0 ? ATP_E_NOT_FOUND : config_admin_location_drop(c, (size_t)k);
}

/* config_admin_locations_drop removes every location of dst that adm does
 * not list: the ones removed at run time. */
static atp_err config_admin_locations_drop(config *dst, const config *adm,
                                           config_admin_report_fn fn, void *ctx)
{
    char what[320];
    for (size_t k = dst->n_locations; k-- > 0;) {
        const char *id = dst->locations[k].id;
        if (config_location_find(adm, id, strlen(id)) >= 0)
            continue;
        snprintf(what, sizeof what,
                 "location '%s' was removed at run time: left out (and the "
                 "authority entries naming it)",
                 id);
        fn(ctx, what);
        atp_err err = config_admin_location_drop(dst, k);
        if (err != ATP_OK)
            return err;
    }
    return ATP_OK;
}

/* config_admin_horizons_overlay gives dst's regions adm's horizons (by
 * id). */
static void config_admin_horizons_overlay(config *dst, const config *adm)
{
    for (size_t i = 0; i < adm->n_regions; i++) {
        const config_region *r = &adm->regions[i];
        int k = config_region_find(dst, r->id, strlen(r->id));
        if (k >= 0)
            dst->regions[k].inbound_horizon_ms = r->inbound_horizon_ms;
    }
}

/* By (location, bucket): the order of config_source.authority. */
static int config_authority_order(const void *pa, const void *pb)
{
    const config_authority *x = pa, *y = pb;
    if (x->location != y->location)
        return x->location < y->location ? -1 : 1;
    return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

/* config_admin_locations_add gives dst every location adm lists and dst
 * does not (added at run time), at the end, in adm's region (by id);
 * the loop of config_admin_overlay then gives it adm's settings. */
static atp_err config_admin_locations_add(config *dst, const config *adm,
                                          config_admin_report_fn fn, void *ctx)
{
    size_t n = dst->n_locations;
    for (size_t i = 0; i < adm->n_locations; i++) {
        const config_location *l = &adm->locations[i];
        const char *rid = adm->regions[l->region].id;
        int r = config_region_find(dst, rid, strlen(rid));
        if (config_location_find(dst, l->id, strlen(l->id)) >= 0 || r < 0)
            continue; /* known, or reported by the overlay's loop */
        if (n == CONFIG_MAX_LOCATIONS) {
            char what[320];
            snprintf(what, sizeof what,
                     "location '%s': more than %d locations; left out", l->id,
                     CONFIG_MAX_LOCATIONS);
            fn(ctx, what);
            continue;
        }
        config_location *v = realloc(dst->locations, (n + 1) * sizeof *v);
        if (v == NULL)
            return ATP_E_NOMEM;
        dst->locations = v;
        v[n] = (config_location){.id = strdup(l->id), .region = (uint32_t)r};
        if (v[n].id == NULL)
            return ATP_E_NOMEM;
        dst->n_locations = ++n;
    }
    config__index_free(dst);
    return config__index_build(dst);
}

atp_err config_authority_map(const config *dst, const config *from,
                             const config_source *src, config_authority **out,
                             size_t *n_out)
{
    config_authority *v =
        malloc((src->n_authority ? src->n_authority : 1) * sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    size_t n = 0;
    for (size_t a = 0; a < src->n_authority; a++) {
        const char *id = from->locations[src->authority[a].location].id;
        int k = id == NULL ? -1 : config_location_find(dst, id, strlen(id));
        if (k >= 0)
            v[n++] = (config_authority){(uint32_t)k, src->authority[a].bucket};
    }
    qsort(v, n, sizeof *v, config_authority_order);
    *out = v;
    *n_out = n;
    return ATP_OK;
}

/* config_admin_authority_overlay gives each source of dst that adm lists
 * adm's authority (locations by id); adm without sources (a state stored
 * before sources were administered) leaves dst's. */
static atp_err config_admin_authority_overlay(config *dst, const config *adm)
{
    for (size_t i = 0; adm->n_sources > 0 && i < dst->n_sources; i++) {
        config_source *d = &dst->sources[i];
        int k = config_source_find(adm, d->id, strlen(d->id));
        if (k < 0)
            continue;
        config_authority *v;
        size_t n;
        atp_err err = config_authority_map(dst, adm, &adm->sources[k], &v, &n);
        if (err != ATP_OK)
            return err;
        free(d->authority);
        d->authority = v;
        d->n_authority = n;
    }
    return ATP_OK;
}

/* config_admin_regions_add gives dst the regions adm lists after dst's
 * own (added at run time), with adm's horizons, in adm's order. */
static atp_err config_admin_regions_add(config *dst, const config *adm)
{
    size_t n = dst->n_regions;
    for (size_t i = 0; i < adm->n_regions; i++) {
        const config_region *r = &adm->regions[i];
        if (config_region_find(dst, r->id, strlen(r->id)) >= 0 ||
            n == CONFIG_MAX_REGIONS)
            continue; /* what names it is then left out, and said */
        config_region *v = realloc(dst->regions, (n + 1) * sizeof *v);
        if (v == NULL)
            return ATP_E_NOMEM;
        dst->regions = v;
        v[n] = (config_region){strdup(r->id), r->inbound_horizon_ms};
        if (v[n].id == NULL)
            return ATP_E_NOMEM;
        dst->n_regions = ++n;
    }
    return ATP_OK; /* indexed by config_admin_channels_add, next */
}

/* config_admin_channels_add gives dst the channels adm lists after dst's
 * own (added at run time), in adm's order, and indexes dst again. */
static atp_err config_admin_channels_add(config *dst, const config *adm)
{
    size_t n = dst->n_channels;
    for (size_t i = 0; i < adm->n_channels; i++) {
        const char *id = adm->channels[i];
        if (config_channel_find(dst, id, strlen(id)) >= 0 ||
            n == CONFIG_MAX_CHANNELS)
            continue; /* its rules are then left out, and said */
        char **v = realloc(dst->channels, (n + 1) * sizeof *v);
        if (v == NULL)
            return ATP_E_NOMEM;
        dst->channels = v;
        if ((v[n] = strdup(id)) == NULL)
            return ATP_E_NOMEM;
        dst->n_channels = ++n;
    }
    config__index_free(dst);
    return config__index_build(dst);
}

atp_err config_admin_overlay(config *dst, const config *adm,
                             config_admin_report_fn fn, void *ctx)
{
    size_t n;
    atp_err err0 = config_admin_regions_add(dst, adm);
    if (err0 == ATP_OK)
        err0 = config_admin_channels_add(dst, adm);
    if (err0 != ATP_OK)
        return err0;
    char **types = config_admin_types_copy(adm);
    config_buffer_rule *v =
        types ? config_admin_rules_copy(dst, adm, fn, ctx, &n) : NULL;
    if (v == NULL) {
        for (size_t i = 0; types != NULL && i < adm->n_locations; i++)
            free(types[i]);
        free(types);
        return ATP_E_NOMEM;
    }
    for (size_t i = 0; i < dst->n_buffers; i++)
        free(dst->buffers[i].sku);
    free(dst->buffers);
    dst->buffers = v;
    dst->n_buffers = n;
    config_bundle *bv;
    if (config_bundles_copy(adm->bundles, adm->n_bundles, &bv) != ATP_OK) {
        for (size_t i = 0; i < adm->n_locations; i++)
            free(types[i]);
        free(types);
        return ATP_E_NOMEM;
    }
    config_bundles_free(dst->bundles, dst->n_bundles);
    dst->bundles = bv;
    dst->n_bundles = adm->n_bundles;
    config_admin_horizons_overlay(dst, adm);
    atp_err err = config_admin_locations_add(dst, adm, fn, ctx);
    if (err != ATP_OK) {
        for (size_t i = 0; i < adm->n_locations; i++)
            free(types[i]);
        free(types);
        return err;
    }
    char what[320];
    for (size_t i = 0; i < adm->n_locations; i++) {
        const config_location *l = &adm->locations[i];
        int k = config_location_find(dst, l->id, strlen(l->id));
        const char *rid = adm->regions[l->region].id;
        int r = config_region_find(dst, rid, strlen(rid));
        if (k < 0 || r < 0) {
            snprintf(what, sizeof what,
                     "location '%s' in region '%s': the file has no %s of "
                     "that id; left out",
                     l->id, rid, k < 0 ? "location" : "region");
            fn(ctx, what);
            free(types[i]);
            continue;
        }
        config_location *d = &dst->locations[k];
        d->region = (uint32_t)r;
        d->pickup = l->pickup;
        d->pickup_buffer = l->pickup_buffer;
        if (types[i] != NULL) {
            free(d->type);
            d->type = types[i];
        }
    }
    free(types);
    if ((err = config_admin_locations_drop(dst, adm, fn, ctx)) != ATP_OK)
        return err;
    return config_admin_authority_overlay(dst, adm);
}
