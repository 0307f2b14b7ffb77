/*
 * index.c - the id -> index maps of a loaded configuration: regions,
 * locations, channels and sources, each a hash map (common/names.h) built
 * once by the loaders and read by every module that resolves an id from
 * the wire or from disk (config_*_find). A configuration is immutable after
 * its load, so its maps never change and any thread may look up at once; a
 * reloaded configuration is another config with maps of its own.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/names.h"

struct config_index {
    names regions, locations, channels, sources;
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
        ATP_ASSERT(ids[i] != NULL);
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
const char *config__source_id(const config *c, size_t i)
{
    return c->sources[i].id;
}

atp_err config__index_build(config *c)
{
    ATP_ASSERT(c->index == NULL);
    struct config_index *x = calloc(1, sizeof *x);
    if (x == NULL)
        return ATP_E_NOMEM;
    c->index = x;
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
    if (err != ATP_OK)
        config__index_free(c);
    return err;
}

void config__index_free(config *c)
{
    struct config_index *x = c->index;
    if (x == NULL)
        return;
    names_fini(&x->regions); /* each is safe on a map never built */
    names_fini(&x->locations);
    names_fini(&x->channels);
    names_fini(&x->sources);
    free(x);
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

int config_region_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->regions, id, len,
                             c->n_regions);
}

int config_location_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->locations, id, len,
                             c->n_locations);
}

int config_channel_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->channels, id, len,
                             c->n_channels);
}

int config_source_find(const config *c, const char *id, size_t len)
{
    return config_index_find(&config_index_of(c)->sources, id, len,
                             c->n_sources);
}
