/*
 * index.c - the id -> index maps of a loaded configuration: regions,
 * locations, channels and sources, each a hash map (common/names.h) built
 * once by the loaders and read by every module that resolves an id from
 * the wire or from disk (config_*_find). A map never changes once built,
 * so any thread may look up at once; a reloaded configuration is another
 * config with maps of its own. The one exception is the running
 * configuration's locations: a location added at run time names one of its
 * unnamed places (config_location_claim) and is inserted into the location
 * map, which config_location_spares sized for them (names_insert: a
 * lookup meanwhile finds it whole or not at all).
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/names.h"

struct config_index {
    names regions, locations, channels, sources;
    /* [place]: 1 while a region or channel place is out of service (a
     * run-time addition not yet in force, or a removal): lookups and
     * lists skip it. Written by the admin (release), read by any thread
     * (acquire). */
    uint8_t *region_out, *channel_out;
    size_t n_regions, n_channels; /* the places those two have */
};

/* config_index_map indexes the n ids that id_of gives. names borrows each
 * id string (owned by the config), not the array, which is freed here. */
static atp_err config_index_map(names *m, const config *c, size_t n,
                                config__id_fn id_of)
{
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    if (ids == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        ids[i] = id_of(c, i);
    }
    atp_err err = names_init(m, ids, n);
    free(ids);
    return err;
}

const char *config__region_id(const config *c, size_t i)
{
    return c->regions[i].id;
}
const char *config__location_id(const config *c, size_t i)
{
    return c->locations[i].id;
}
const char *config__channel_id(const config *c, size_t i)
{
    return c->channels[i];
}
const char *config__bundle_id(const config *c, size_t i)
{
    return c->bundles[i].sku != NULL ? c->bundles[i].sku : "";
}

const char *config__source_id(const config *c, size_t i)
{
    return c->sources[i].id;
}

static void config_index_delete(struct config_index *x)
{
    free(x->region_out);
    free(x->channel_out);
    names_fini(&x->regions); /* each is safe on a map never built */
    names_fini(&x->locations);
    names_fini(&x->channels);
    names_fini(&x->sources);
    free(x);
}

/* config_index_new: the maps of c's ids as they are now. */
static atp_err config_index_new(const config *c, struct config_index **out)
{
    struct config_index *x = calloc(1, sizeof *x);
    if (x == NULL)
        return ATP_E_NOMEM;
    atp_err err =
        config_index_map(&x->regions, c, c->n_regions, config__region_id);
    if (err == ATP_OK)
        err = config_index_map(&x->locations, c, c->n_locations,
                               config__location_id);
    if (err == ATP_OK)
        err = config_index_map(&x->channels, c, c->n_channels,
                               config__channel_id);
    if (err == ATP_OK)
        err = config_index_map(&x->sources, c, c->n_sources, config__source_id);
    if (err == ATP_OK &&
        ((x->region_out = calloc(c->n_regions + 1, 1)) == NULL ||
         (x->channel_out = calloc(c->n_channels + 1, 1)) == NULL))
        err = ATP_E_NOMEM;
    x->n_regions = c->n_regions;
    x->n_channels = c->n_channels;
    if (err != ATP_OK) {
        config_index_delete(x);
        return err;
    }
    *out = x;
    return ATP_OK;
}

atp_err config__index_build(config *c)
{
    ATP_ASSERT(c->index == NULL);
    size_t named = 0;
    while (named < c->n_channels && c->channels[named] != NULL)
        named++;
    c->n_channels_named = named; /* no reader yet: the loaders, start-up */
    for (named = 0; named < c->n_regions && c->regions[named].id != NULL;)
        named++;
    c->n_regions_named = named;
    return config_index_new(c, &c->index);
}

void config__index_free(config *c)
{
    if (c->index != NULL)
        config_index_delete(c->index);
    c->index = NULL;
}

/* config_index_of: c's maps. A config that did not come from a loader has
 * none: a programming error, not input. */
static const struct config_index *config_index_of(const config *c)
{
    ATP_ASSERT(c->index != NULL);
    return c->index;
}

/* config_index_find: the index of id in m (of a section of n ids), or -1. */
static int config_index_find(const names *m, const char *id, size_t len,
                             size_t n)
{
    int64_t i = names_find(m, id, len);
    ATP_ASSERT(i < (int64_t)n);
    return (int)i;
}

static bool config_out(const uint8_t *out, int i)
{
    return i >= 0 && __atomic_load_n(&out[i], __ATOMIC_ACQUIRE) != 0;
}

int config_region_place(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->regions, id, len,
                             c->n_regions);
}

int config_region_find(const config *c, const char *id, size_t len)
{
    int i = config_region_place(c, id, len);
    return config_out(config_index_of(c)->region_out, i) ? -1 : i;
}

bool config_region_in_service(const config *c, uint32_t r)
{
    return r < config_regions_live(c) &&
           !config_out(config_index_of(c)->region_out, (int)r);
}

size_t config_regions_in_service(const config *c)
{
    size_t n = 0, live = config_regions_live(c);
    for (uint32_t r = 0; r < live; r++)
        n += config_region_in_service(c, r);
    return n;
}

void config_region_out_set(config *c, uint32_t r, bool out)
{
    ATP_ASSERT(r < c->n_regions);
    __atomic_store_n(&c->index->region_out[r], (uint8_t)out, __ATOMIC_RELEASE);
}

int config_location_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->locations, id, len,
                             c->n_locations);
}

int config_channel_place(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->channels, id, len,
                             c->n_channels);
}

int config_channel_find(const config *c, const char *id, size_t len)
{
    int i = config_channel_place(c, id, len);
    return config_out(config_index_of(c)->channel_out, i) ? -1 : i;
}

bool config_channel_in_service(const config *c, uint32_t ch)
{
    return ch < config_channels_live(c) &&
           !config_out(config_index_of(c)->channel_out, (int)ch);
}

void config_channel_out_set(config *c, uint32_t ch, bool out)
{
    ATP_ASSERT(ch < c->n_channels);
    __atomic_store_n(&c->index->channel_out[ch], (uint8_t)out,
                     __ATOMIC_RELEASE);
}

int config_source_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->sources, id, len,
                             c->n_sources);
}

/* config_index_rebuild indexes c again (a section grew at start),
 * keeping which region and channel places are out of service. */
static atp_err config_index_rebuild(config *c)
{
    struct config_index *old = c->index;
    c->index = NULL;
    atp_err err = config__index_build(c);
    if (err != ATP_OK) {
        c->index = old;
        return err;
    }
    if (old != NULL) { /* a section only grows here */
        memcpy(c->index->region_out, old->region_out, old->n_regions);
        memcpy(c->index->channel_out, old->channel_out, old->n_channels);
        config_index_delete(old);
    }
    return ATP_OK;
}

atp_err config_location_spares(config *c, size_t n)
{
    if (n == 0)
        return ATP_OK;
    if (c->n_locations + n > CONFIG_MAX_LOCATIONS)
        n = CONFIG_MAX_LOCATIONS - c->n_locations;
    config_location *v =
        realloc(c->locations, (c->n_locations + n) * sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    memset(v + c->n_locations, 0, n * sizeof *v); /* unnamed: id NULL */
    c->locations = v;
    c->n_locations += n;
    /* Indexed again: the location map sized for every place, so that
     * config_location_claim inserts without growing it. */
    return config_index_rebuild(c);
}

size_t config_location_named(const config *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_locations; i++)
        n += c->locations[i].id != NULL;
    return n;
}

atp_err config_location_claim(config *c, const char *id, uint32_t *index)
{
    int k = config_location_find(c, id, strlen(id));
    if (k >= 0) {
        *index = (uint32_t)k;
        return ATP_OK;
    }
    size_t slot = 0;
    while (slot < c->n_locations && c->locations[slot].id != NULL)
        slot++;
    if (slot == c->n_locations)
        return ATP_E_BAD_STATE; /* no unnamed slot left */
    char *name = strdup(id);
    if (name == NULL)
        return ATP_E_NOMEM;
    c->locations[slot].id = name;
    atp_err err = names_insert(&c->index->locations, name, (uint32_t)slot);
    if (err != ATP_OK) { /* sized for every place: never */
        c->locations[slot].id = NULL;
        free(name);
        return err;
    }
    *index = (uint32_t)slot;
    return ATP_OK;
}

/* config_place_name names the place *named (the next unnamed one of a
 * region or channel section; *id_at its id field) id, out of service
 * until the admin puts it in, indexes it in m and raises the named count
 * with a release store: a reader that sees the count sees the name. */
static atp_err config_place_name(names *m, uint8_t *out, size_t *named,
                                 char **id_at, const char *id, uint32_t *index)
{
    size_t slot = *named;
    char *name = strdup(id);
    if (name == NULL)
        return ATP_E_NOMEM;
    *id_at = name;
    __atomic_store_n(&out[slot], (uint8_t)1, __ATOMIC_RELEASE);
    atp_err err = names_insert(m, name, (uint32_t)slot);
    if (err != ATP_OK) { /* sized for every place: never */
        *id_at = NULL;
        free(name);
        return err;
    }
    __atomic_store_n(named, slot + 1, __ATOMIC_RELEASE);
    *index = (uint32_t)slot;
    return ATP_OK;
}

atp_err config_channel_spares(config *c, size_t n)
{
    if (c->n_channels + n > CONFIG_MAX_CHANNELS)
        n = CONFIG_MAX_CHANNELS - c->n_channels;
    if (n == 0)
        return ATP_OK;
    char **v = realloc(c->channels, (c->n_channels + n) * sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    memset(v + c->n_channels, 0, n * sizeof *v); /* unnamed: NULL */
    c->channels = v;
    c->n_channels += n;
    return config_index_rebuild(c); /* the map sized for every place */
}

size_t config_channels_live(const config *c)
{
    return __atomic_load_n(&c->n_channels_named, __ATOMIC_ACQUIRE);
}

atp_err config_channel_claim(config *c, const char *id, uint32_t *index)
{
    int k = config_channel_place(c, id, strlen(id));
    if (k >= 0) {
        *index = (uint32_t)k;
        return ATP_OK;
    }
    size_t slot = c->n_channels_named; /* the claimer's own count */
    if (slot == c->n_channels)
        return ATP_E_BAD_STATE;
    return config_place_name(&c->index->channels, c->index->channel_out,
                             &c->n_channels_named, &c->channels[slot], id,
                             index);
}

atp_err config_region_spares(config *c, size_t n)
{
    if (c->n_regions + n > CONFIG_MAX_REGIONS)
        n = CONFIG_MAX_REGIONS - c->n_regions;
    if (n == 0)
        return ATP_OK;
    config_region *v = realloc(c->regions, (c->n_regions + n) * sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    memset(v + c->n_regions, 0, n * sizeof *v); /* unnamed: id NULL */
    c->regions = v;
    c->n_regions += n;
    return config_index_rebuild(c); /* the map sized for every place */
}

size_t config_regions_live(const config *c)
{
    return __atomic_load_n(&c->n_regions_named, __ATOMIC_ACQUIRE);
}

atp_err config_region_claim(config *c, const char *id, int64_t horizon_ms,
                            uint32_t *index)
{
    int k = config_region_place(c, id, strlen(id));
    if (k >= 0) {
        *index = (uint32_t)k;
        return ATP_OK;
    }
    size_t slot = c->n_regions_named; /* the claimer's own count */
    if (slot == c->n_regions)
        return ATP_E_BAD_STATE;
    c->regions[slot].inbound_horizon_ms = horizon_ms; /* before it shows */
    return config_place_name(&c->index->regions, c->index->region_out,
                             &c->n_regions_named, &c->regions[slot].id, id,
                             index);
}

void config_places_follow(config *c, const config *state, bool in)
{
    for (uint32_t r = 0; r < config_regions_live(c); r++) {
        const char *id = c->regions[r].id;
        bool out = config_region_find(state, id, strlen(id)) < 0;
        if (out || in)
            config_region_out_set(c, r, out);
    }
    for (uint32_t ch = 0; ch < config_channels_live(c); ch++) {
        const char *id = c->channels[ch];
        bool out = config_channel_find(state, id, strlen(id)) < 0;
        if (out || in)
            config_channel_out_set(c, ch, out);
    }
}
