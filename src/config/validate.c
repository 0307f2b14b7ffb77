/*
 * validate.c - the checks between sections of a parsed configuration:
 * unique ids, names that point at other sections (a location's region, a
 * source's locations, a buffer rule's region and channel), one source per
 * (location, bucket), one buffer rule per scope. Resolves those names into
 * indexes and expands each source's authority into sorted pairs.
 *
 * Ids are sorted once (with their file order) and looked up by binary
 * search: 65535 locations named by thousands of authority entries must not
 * take a quadratic walk. Main thread at start, like config.c.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An id and the index of its entry; sorted by id, then file order, so the
 * first of equal ids is the one that came first in the file. */
static int config_key_cmp(const void *a, const void *b)
{
    const config_key *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c != 0)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

config_key *config__keys_sorted(config__build *b, size_t n, config__id_fn id_of)
{
    if (n == 0)
        return NULL;
    config_key *keys = malloc(n * sizeof *keys);
    if (keys == NULL) {
        b->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i].id = id_of(&b->c, i);
        keys[i].index = (uint32_t)i;
    }
    qsort(keys, n, sizeof *keys, config_key_cmp);
    return keys;
}

int64_t config__keys_find(const config_key *keys, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && strcmp(keys[lo].id, id) == 0)
        return keys[lo].index;
    return -1;
}

/* config_ids_list writes "a, b, c" (file order) for an "expected one of"
 * message, shortened to "a, b, ... (N in all)" when it does not fit. */
static void config_ids_list(const config *c, size_t n, config__id_fn id_of,
                            char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    size_t shown = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += id_of(c, i) != NULL;
    for (size_t i = 0; i < n; i++) {
        const char *id = id_of(c, i);
        if (id == NULL)
            continue; /* not in service */
        /* A duplicated id is reported on its own; list it once here. */
        size_t j = 0;
        while (j < i && (id_of(c, j) == NULL || strcmp(id_of(c, j), id) != 0))
            j++;
        if (j < i)
            continue;
        /* Keep room for the longest tail, ", ... (99999 in all)". */
        if (o + strlen(id) + 2 + 24 > size) {
            snprintf(buf + o, size - o, "%s... (%zu in all)", shown ? ", " : "",
                     total);
            return;
        }
        o += (size_t)snprintf(buf + o, size - o, "%s%s", shown ? ", " : "", id);
        shown++;
    }
}

/* config_live_id: a place's id while in service, else NULL (skipped). */
static const char *config_live_region(const config *c, size_t i)
{
    return config_region_in_service(c, (uint32_t)i) ? c->regions[i].id : NULL;
}
static const char *config_live_channel(const config *c, size_t i)
{
    return config_channel_in_service(c, (uint32_t)i) ? c->channels[i] : NULL;
}

void config_region_list(const config *c, char *buf, size_t size)
{
    /* the regions in service: not the spare places, nor one removed */
    config_ids_list(c, config_regions_live(c), config_live_region, buf, size);
}

void config_channel_list(const config *c, char *buf, size_t size)
{
    config_ids_list(c, config_channels_live(c), config_live_channel, buf, size);
}

/* config_check_unique reports every id that appears again, at the later
 * entry. marks is parallel to the section; kind names it in messages. */
static void config_check_unique(config__build *b, const config_key *keys,
                                size_t n, const config__mark *marks,
                                const char *kind)
{
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i].id, keys[i - 1].id) != 0)
            continue;
        /* Compare with the first of the run, not the previous one. */
        size_t first = i - 1;
        while (first > 0 && strcmp(keys[first - 1].id, keys[i].id) == 0)
            first--;
        char at[48];
        config__error(b, marks[keys[i].index],
                      "duplicate %s '%s' (first at %s); each %s is listed "
                      "once",
                      kind, keys[i].id,
                      config__at(marks[keys[first].index], marks[keys[i].index],
                                 at, sizeof at),
                      kind);
    }
}

static void config_validate_service(config__build *b)
{
    const config_service *s = &b->c.service;
    if (s->query_listen == NULL || s->ingest_listen == NULL ||
        strcmp(s->query_listen, s->ingest_listen) != 0)
        return;
    /* Port 0: each socket gets a port of its own from the system. */
    size_t n = strlen(s->query_listen);
    if (n > 2 && strcmp(s->query_listen + n - 2, ":0") == 0)
        return;
    config__mark m = b->ingest_listen_mark.line != 0 ? b->ingest_listen_mark
                                                     : b->query_listen_mark;
    config__error(b, m,
                  "service.ingest_listen and service.query_listen are both "
                  "'%s'; expected two different endpoints",
                  s->ingest_listen);
}

/* Locations: a second entry with the same id is either a plain duplicate,
 * or - when its region differs - the location placed in two regions, which
 * deserves its own message because the fix is to choose one region. */
static void config_validate_locations(config__build *b,
                                      const config_key *regions,
                                      const config_key *locs)
{
    config *c = &b->c;
    size_t n = c->n_locations;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(locs[i].id, locs[i - 1].id) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(locs[first - 1].id, locs[i].id) == 0)
            first--;
        const config__location_src *a = &b->locations[locs[first].index];
        const config__location_src *z = &b->locations[locs[i].index];
        if (a->region != NULL && z->region != NULL &&
            strcmp(a->region, z->region) != 0)
            config__error(b, z->id,
                          "location '%s' is in region '%s' (line %d) and in "
                          "region '%s' (line %d); a location belongs to "
                          "exactly one region",
                          locs[i].id, a->region, a->id.line, z->region,
                          z->id.line);
        else {
            char at[48];
            config__error(b, z->id,
                          "duplicate location '%s' (first at %s); each "
                          "location is listed once",
                          locs[i].id, config__at(a->id, z->id, at, sizeof at));
        }
    }
    for (size_t i = 0; i < n; i++) {
        const config__location_src *src = &b->locations[i];
        if (src->region == NULL)
            continue; /* missing: reported by the parser */
        int64_t r = config__keys_find(regions, c->n_regions, src->region);
        if (r >= 0) {
            c->locations[i].region = (uint32_t)r;
            continue;
        }
        char list[160];
        config_ids_list(c, c->n_regions, config__region_id, list, sizeof list);
        config__error(b, src->region_mark,
                      "location '%s': unknown region '%s'; expected one of: %s",
                      c->locations[i].id, src->region, list);
    }
}

/* One (location, bucket) claimed by one authority entry of one source. */
typedef struct config_pair {
    uint32_t location;
    uint32_t source;
    uint32_t claim; /* index in that source's claims: file order */
    uint8_t bucket;
} config_pair;

static int config_pair_cmp(const void *a, const void *b)
{
    const config_pair *x = a, *y = b;
    if (x->location != y->location)
        return x->location < y->location ? -1 : 1;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return (x->claim > y->claim) - (x->claim < y->claim);
}

/* Two sources claiming the same pair: the first claimant in file order and
 * a later one. */
typedef struct config_conflict {
    config_pair first;
    config_pair later;
    bool reported;
} config_conflict;

/* config_report_conflicts reports the conflicts, one message per location
 * and pair of claims listing all the buckets they fight over (a source that
 * copies another's authority would otherwise get three messages per
 * location). Conflicts come sorted by location. */
static void config_report_conflicts(config__build *b, config_conflict *cf,
                                    size_t n)
{
    const config *c = &b->c;
    for (size_t i = 0; i < n; i++) {
        if (cf[i].reported)
            continue;
        unsigned bits = 1u << cf[i].first.bucket;
        for (size_t j = i + 1;
             j < n && cf[j].first.location == cf[i].first.location; j++) {
            if (cf[j].first.source == cf[i].first.source &&
                cf[j].first.claim == cf[i].first.claim &&
                cf[j].later.source == cf[i].later.source &&
                cf[j].later.claim == cf[i].later.claim) {
                bits |= 1u << cf[j].first.bucket;
                cf[j].reported = true;
            }
        }
        char buckets[64];
        size_t o = 0;
        buckets[0] = '\0';
        for (unsigned k = 0; k < ATP_AUTH_BUCKET_COUNT; k++) {
            if (bits & (1u << k))
                o += (size_t)snprintf(buckets + o, sizeof buckets - o, "%s%s",
                                      o ? ", " : "", config_bucket_name(k));
        }
        const config__source_src *s1 = &b->sources[cf[i].first.source];
        const config__source_src *s2 = &b->sources[cf[i].later.source];
        config__error(b, s2->claims[cf[i].later.claim].mark,
                      "location '%s' %s is claimed by source '%s' (line %d) "
                      "and by source '%s' (line %d); one source is "
                      "authoritative for each location and bucket",
                      c->locations[cf[i].first.location].id, buckets,
                      c->sources[cf[i].first.source].id,
                      s1->claims[cf[i].first.claim].mark.line,
                      c->sources[cf[i].later.source].id,
                      s2->claims[cf[i].later.claim].mark.line);
    }
}

static void config_validate_sources(config__build *b, const config_key *locs)
{
    config *c = &b->c;
    /* Resolve every claim; count the pairs it expands to. */
    size_t n_pairs = 0;
    for (size_t s = 0; s < c->n_sources; s++) {
        const config__source_src *src = &b->sources[s];
        for (size_t j = 0; j < src->n_claims; j++) {
            const config__claim_src *cl = &src->claims[j];
            if (config__keys_find(locs, c->n_locations, cl->location) >= 0) {
                n_pairs += (size_t)__builtin_popcount(cl->buckets);
                continue;
            }
            config__error(b, cl->mark,
                          "source '%s': authority names unknown location "
                          "'%s'; expected an id listed under locations",
                          c->sources[s].id, cl->location);
        }
    }
    if (n_pairs == 0)
        return;

    config_pair *pairs = malloc(n_pairs * sizeof *pairs);
    config_conflict *cf = NULL;
    size_t n_cf = 0, cap_cf = 0;
    if (pairs == NULL) {
        b->oom = true;
        return;
    }
    size_t k = 0;
    for (size_t s = 0; s < c->n_sources; s++) {
        const config__source_src *src = &b->sources[s];
        for (size_t j = 0; j < src->n_claims; j++) {
            const config__claim_src *cl = &src->claims[j];
            int64_t loc = config__keys_find(locs, c->n_locations, cl->location);
            if (loc < 0)
                continue;
            for (unsigned bk = 0; bk < ATP_AUTH_BUCKET_COUNT; bk++) {
                if (!(cl->buckets & (1u << bk)))
                    continue;
                pairs[k].location = (uint32_t)loc;
                pairs[k].bucket = (uint8_t)bk;
                pairs[k].source = (uint32_t)s;
                pairs[k].claim = (uint32_t)j;
                k++;
            }
        }
    }
    qsort(pairs, n_pairs, sizeof *pairs, config_pair_cmp);

    /* One pass: conflicts, and how many distinct pairs each source gets.
     * A source naming its own pair twice is harmless and folded. */
    size_t *count = calloc(c->n_sources, sizeof *count);
    if (count == NULL)
        goto oom;
    for (size_t i = 0; i < n_pairs; i++) {
        const config_pair *p = &pairs[i];
        bool same_pair = i > 0 && pairs[i - 1].location == p->location &&
                         pairs[i - 1].bucket == p->bucket;
        if (same_pair && pairs[i - 1].source == p->source)
            continue;
        count[p->source]++;
        if (!same_pair)
            continue;
        size_t first = i - 1;
        while (first > 0 && pairs[first - 1].location == p->location &&
               pairs[first - 1].bucket == p->bucket)
            first--;
        if (n_cf == cap_cf) {
            cap_cf = cap_cf ? cap_cf * 2 : 16;
            config_conflict *t = realloc(cf, cap_cf * sizeof *cf);
            if (t == NULL)
                goto oom;
            cf = t;
        }
        cf[n_cf].first = pairs[first];
        cf[n_cf].later = *p;
        cf[n_cf].reported = false;
        n_cf++;
    }
    config_report_conflicts(b, cf, n_cf);

    for (size_t s = 0; s < c->n_sources; s++) {
        if (count[s] == 0)
            continue;
        c->sources[s].authority = malloc(count[s] * sizeof(config_authority));
        if (c->sources[s].authority == NULL)
            goto oom;
    }
    /* pairs is sorted by (location, bucket): each source's list comes out
     * sorted the same way. */
    for (size_t i = 0; i < n_pairs; i++) {
        const config_pair *p = &pairs[i];
        config_source *src = &c->sources[p->source];
        if (src->n_authority > 0) {
            const config_authority *last =
                &src->authority[src->n_authority - 1];
            if (last->location == p->location && last->bucket == p->bucket)
                continue;
        }
        src->authority[src->n_authority].location = p->location;
        src->authority[src->n_authority].bucket = p->bucket;
        src->n_authority++;
    }
    free(count);
    free(cf);
    free(pairs);
    return;
oom:
    b->oom = true;
    free(count);
    free(cf);
    free(pairs);
}

/* A buffer rule's scope, for sorting and duplicate detection. */
typedef struct config_scope {
    const char *sku; /* NULL = any, sorts first */
    uint32_t region, channel, index;
} config_scope;

static int config_scope_cmp(const void *a, const void *b)
{
    const config_scope *x = a, *y = b;
    if ((x->sku == NULL) != (y->sku == NULL))
        return x->sku == NULL ? -1 : 1;
    if (x->sku != NULL) {
        int c = strcmp(x->sku, y->sku);
        if (c != 0)
            return c;
    }
    if (x->region != y->region)
        return x->region < y->region ? -1 : 1;
    if (x->channel != y->channel)
        return x->channel < y->channel ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static void config_scope_describe(const config *c, const config_buffer_rule *r,
                                  char *buf, size_t size)
{
    if (r->sku == NULL && r->region == UINT32_MAX && r->channel == UINT32_MAX) {
        snprintf(buf, size, "the global default (no sku, region or channel)");
        return;
    }
    size_t o = 0;
    if (r->sku != NULL)
        o += (size_t)snprintf(buf + o, size - o, "sku '%s'", r->sku);
    if (r->region != UINT32_MAX && o < size)
        o += (size_t)snprintf(buf + o, size - o, "%sregion '%s'", o ? ", " : "",
                              c->regions[r->region].id);
    if (r->channel != UINT32_MAX && o < size)
        snprintf(buf + o, size - o, "%schannel '%s'", o ? ", " : "",
                 c->channels[r->channel]);
}

static void config_validate_buffers(config__build *b, const config_key *regions,
                                    const config_key *channels)
{
    config *c = &b->c;
    config_scope *scopes = NULL;
    size_t n_scopes = 0;
    if (c->n_buffers > 0) {
        scopes = malloc(c->n_buffers * sizeof *scopes);
        if (scopes == NULL) {
            b->oom = true;
            return;
        }
    }
    char list[160];
    for (size_t i = 0; i < c->n_buffers; i++) {
        config_buffer_rule *r = &c->buffers[i];
        const config__buffer_src *src = &b->buffers[i];
        bool resolved = true;
        if (src->region != NULL) {
            int64_t x = config__keys_find(regions, c->n_regions, src->region);
            if (x >= 0) {
                r->region = (uint32_t)x;
            } else {
                resolved = false;
                config_ids_list(c, c->n_regions, config__region_id, list,
                                sizeof list);
                config__error(b, src->region_mark,
                              "buffer rule: unknown region '%s'; expected "
                              "one of: %s",
                              src->region, list);
            }
        }
        if (src->channel != NULL) {
            int64_t x =
                config__keys_find(channels, c->n_channels, src->channel);
            if (x >= 0) {
                r->channel = (uint32_t)x;
            } else {
                resolved = false;
                config_ids_list(c, c->n_channels, config__channel_id, list,
                                sizeof list);
                config__error(b, src->channel_mark,
                              "buffer rule: unknown channel '%s'; expected "
                              "one of: %s",
                              src->channel, list);
            }
        }
        /* A rule with an unknown name has no scope to compare. */
        if (resolved) {
            scopes[n_scopes].sku = r->sku;
            scopes[n_scopes].region = r->region;
            scopes[n_scopes].channel = r->channel;
            scopes[n_scopes].index = (uint32_t)i;
            n_scopes++;
        }
    }
    if (n_scopes > 1)
        qsort(scopes, n_scopes, sizeof *scopes, config_scope_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n_scopes; i++) {
        const config_scope *x = &scopes[first], *y = &scopes[i];
        bool same =
            (x->sku == NULL ? y->sku == NULL
                            : y->sku != NULL && strcmp(x->sku, y->sku) == 0) &&
            x->region == y->region && x->channel == y->channel;
        if (!same) {
            first = i;
            continue;
        }
        char scope[200], at[48];
        config_scope_describe(c, &c->buffers[y->index], scope, sizeof scope);
        config__error(b, b->buffers[y->index].mark,
                      "duplicate buffer rule for %s (first at %s); one rule "
                      "per scope",
                      scope,
                      config__at(b->buffers[x->index].mark,
                                 b->buffers[y->index].mark, at, sizeof at));
    }
    free(scopes);
}

void config__validate(config__build *b)
{
    config *c = &b->c;
    config_validate_service(b);
    config_key *regions =
        config__keys_sorted(b, c->n_regions, config__region_id);
    config_key *locs =
        config__keys_sorted(b, c->n_locations, config__location_id);
    config_key *channels =
        config__keys_sorted(b, c->n_channels, config__channel_id);
    config_key *sources =
        config__keys_sorted(b, c->n_sources, config__source_id);
    if (b->oom)
        goto done;
    config_check_unique(b, regions, c->n_regions, b->region_marks, "region");
    config_check_unique(b, channels, c->n_channels, b->channel_marks,
                        "channel");
    if (c->n_sources > 0) {
        /* Source marks live inside config__source_src: gather them. */
        config__mark *marks = malloc(c->n_sources * sizeof *marks);
        if (marks == NULL) {
            b->oom = true;
            goto done;
        }
        for (size_t i = 0; i < c->n_sources; i++)
            marks[i] = b->sources[i].id;
        config_check_unique(b, sources, c->n_sources, marks, "source");
        free(marks);
    }
    config_validate_locations(b, regions, locs);
    config_validate_sources(b, locs);
    if (!b->oom)
        config_validate_buffers(b, regions, channels);
done:
    free(regions);
    free(locs);
    free(channels);
    free(sources);
}
