/*
 * read_places.c - the sections that name places and channels: regions,
 * locations (each in a region) and channels. References between them (a
 * location's region) are kept as names and resolved by validate.c. Main
 * thread at start.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_HORIZON_MAX_MS (366 * CONFIG__DAY_MS)

/* config__entry_name writes how messages name an entry: "region 'us-east'",
 * or "regions entry 3" (1-based) while its id is unknown. */
void config__entry_name(char *buf, size_t size, const char *kind,
                        const char *section, const char *id, size_t i)
{
    if (id != NULL)
        snprintf(buf, size, "%s '%.64s'", kind, id);
    else
        snprintf(buf, size, "%s entry %zu", section, i + 1);
}

static const char *const config_region_keys[] = {"id", "inbound_horizon"};

void config__parse_regions(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "regions", "regions");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_REGIONS, "regions");
    if (n == 0)
        return;
    b->c.regions = calloc(n, sizeof *b->c.regions);
    b->region_marks = calloc(n, sizeof *b->region_marks);
    if (b->c.regions == NULL || b->region_marks == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[2];
        if (!config__map_fields(w, item, "regions entry", config_region_keys, 2,
                                v))
            continue;
        char name[96];
        if (v[0] == NULL) {
            config__entry_name(name, sizeof name, "region", "regions", NULL, i);
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'id'", name);
            continue;
        }
        char *id = config__get_id(w, v[0], "region id", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        config_region *r = &b->c.regions[b->c.n_regions];
        b->region_marks[b->c.n_regions] = config__mark_of(v[0]);
        b->c.n_regions++;
        r->id = id;
        config__entry_name(name, sizeof name, "region", "regions", id, i);
        if (v[1]) {
            char what[128];
            snprintf(what, sizeof what, "%s: inbound_horizon", name);
            config__get_duration(w, v[1], what, 0, CONFIG_HORIZON_MAX_MS,
                                 &r->inbound_horizon_ms);
        }
    }
}

static const char *const config_location_keys[] = {"id", "region", "type",
                                                   "pickup", "pickup_buffer"};

/* The store pickup keys of a location (docs/CONFIG.md, "locations"). */
static void config_location_pickup(config__walk *w, yaml_node_t *const *v,
                                   const char *name, config_location *l)
{
    static const char *const flags[] = {"false", "true", NULL};
    char what[128];
    if (v[3] != NULL) {
        int on = 0;
        snprintf(what, sizeof what, "%s: pickup", name);
        if (config__get_choice(w, v[3], what, "true or false", flags, &on))
            l->pickup = on == 1;
    }
    if (v[4] != NULL) {
        snprintf(what, sizeof what, "%s: pickup_buffer", name);
        config__get_int(w, v[4], what, 0, ATP_QTY_MAX, &l->pickup_buffer);
    }
}

void config__parse_locations(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "locations", "locations");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_LOCATIONS, "locations");
    if (n == 0)
        return;
    b->c.locations = calloc(n, sizeof *b->c.locations);
    b->locations = calloc(n, sizeof *b->locations);
    if (b->c.locations == NULL || b->locations == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[5];
        if (!config__map_fields(w, item, "locations entry",
                                config_location_keys, 5, v))
            continue;
        char name[96], what[128];
        if (v[0] == NULL) {
            config__entry_name(name, sizeof name, "location", "locations", NULL,
                               i);
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'id'", name);
            continue;
        }
        char *id = config__get_id(w, v[0], "location id", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        size_t k = b->c.n_locations++;
        config_location *l = &b->c.locations[k];
        config__location_src *src = &b->locations[k];
        l->id = id;
        src->id = config__mark_of(v[0]);
        config__entry_name(name, sizeof name, "location", "locations", id, i);
        if (v[1] == NULL) {
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'region'", name);
        } else {
            snprintf(what, sizeof what, "%s: region", name);
            src->region = config__get_id(w, v[1], what, ATP_ID_MAX_LEN);
            src->region_mark = config__mark_of(v[1]);
        }
        if (v[2] != NULL) {
            snprintf(what, sizeof what, "%s: type", name);
            l->type = config__get_id(w, v[2], what, ATP_ID_MAX_LEN);
        }
        if (l->type == NULL)
            l->type = config__strdup(b, "");
        config_location_pickup(w, v, name, l);
    }
}

void config__parse_channels(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "channels", "channel ids");
    if (n == 0)
        return;
    /* channels[0] is the built-in default; the file may name it too. */
    size_t cap = n + 1 < CONFIG_MAX_CHANNELS ? n + 1 : CONFIG_MAX_CHANNELS;
    char **ch = realloc(b->c.channels, cap * sizeof *ch);
    if (ch == NULL) {
        b->oom = true;
        return;
    }
    b->c.channels = ch;
    config__mark *marks = realloc(b->channel_marks, cap * sizeof *marks);
    if (marks == NULL) {
        b->oom = true;
        return;
    }
    b->channel_marks = marks;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        char *id = config__get_id(w, item, "channel", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        /* Naming the default channel is allowed (it documents that the
         * file uses it); only the first mention is free, a second one is a
         * duplicate like any other. */
        if (strcmp(id, ATP_DEFAULT_CHANNEL) == 0 &&
            b->channel_marks[0].line == 0) {
            b->channel_marks[0] = config__mark_of(item);
            free(id);
            continue;
        }
        if (b->c.n_channels == cap) {
            free(id);
            config__error(b, config__mark_of(item),
                          "channels: more than %d, counting the built-in "
                          "'%s'; at most %d are allowed",
                          CONFIG_MAX_CHANNELS, ATP_DEFAULT_CHANNEL,
                          CONFIG_MAX_CHANNELS);
            break;
        }
        b->c.channels[b->c.n_channels] = id;
        b->channel_marks[b->c.n_channels] = config__mark_of(item);
        b->c.n_channels++;
    }
}
