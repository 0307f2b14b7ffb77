/*
 * rules.c - buffer rule storage and precedence matching. Built on one
 * thread, then read-only (see rules.h). Pure code.
 *
 * Rules without a SKU live in a dense (region+1) x (channel+1) table, index
 * 0 meaning "any". Rules with a SKU live in an open-addressing hash table
 * keyed by the SKU string; each SKU keeps a short list of its scopes.
 */
#include "formula/rules.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct rules_cell {
    bool set;
    rules_values v;
} rules_cell;

typedef struct rules_scope {
    uint32_t region;  /* or RULES_ANY */
    uint32_t channel; /* or RULES_ANY */
    rules_values v;
} rules_scope;

typedef struct rules_sku {
    char *sku;
    size_t len;
    uint64_t hash;
    rules_scope *scopes;
    size_t n_scopes;
} rules_sku;

struct rules {
    uint32_t n_regions;
    uint32_t n_channels;
    rules_cell *cells; /* (n_regions + 1) * (n_channels + 1) */
    rules_sku *skus;   /* hash table, capacity sku_cap (power of 2) */
    size_t sku_cap;
    size_t sku_used;
    size_t n_rules;
};

static const char *const rules_level_names[ATP_RULE_LEVELS] = {
    "sku+region+channel", "sku+region", "sku+channel", "sku",
    "region+channel",     "region",     "channel",     "global"};

const char *rules_level_name(unsigned level)
{
    return level < ATP_RULE_LEVELS ? rules_level_names[level] : "unknown";
}

/* FNV-1a: short keys, no adversary controls the table after start-up. */
static uint64_t rules_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

atp_err rules_alloc(uint32_t n_regions, uint32_t n_channels, rules **out)
{
    rules *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ATP_E_NOMEM;
    r->n_regions = n_regions;
    r->n_channels = n_channels;
    r->cells = calloc(((size_t)n_regions + 1) * ((size_t)n_channels + 1),
                      sizeof *r->cells);
    if (r->cells == NULL) {
        free(r);
        return ATP_E_NOMEM;
    }
    *out = r;
    return ATP_OK;
}

void rules_free(rules *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->sku_cap; i++) {
        free(r->skus[i].sku);
        free(r->skus[i].scopes);
    }
    free(r->skus);
    free(r->cells);
    free(r);
}

size_t rules_count(const rules *r)
{
    return r->n_rules;
}

static rules_cell *rules_cell_at(const rules *r, uint32_t region,
                                 uint32_t channel)
{
    size_t ri = region == RULES_ANY ? 0 : (size_t)region + 1;
    size_t ci = channel == RULES_ANY ? 0 : (size_t)channel + 1;
    return &r->cells[ri * ((size_t)r->n_channels + 1) + ci];
}

static rules_sku *rules_sku_find(const rules *r, const char *sku, size_t len,
                                 uint64_t h)
{
    if (r->sku_cap == 0)
        return NULL;
    for (size_t i = h & (r->sku_cap - 1);; i = (i + 1) & (r->sku_cap - 1)) {
        rules_sku *e = &r->skus[i];
        if (e->sku == NULL)
            return NULL;
        if (e->hash == h && e->len == len && memcmp(e->sku, sku, len) == 0)
            return e;
    }
}

static atp_err rules_sku_grow(rules *r)
{
    size_t cap = r->sku_cap ? r->sku_cap * 2 : 16;
    rules_sku *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < r->sku_cap; i++) {
        rules_sku *e = &r->skus[i];
        if (e->sku == NULL)
            continue;
        size_t j = e->hash & (cap - 1);
        while (t[j].sku != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    free(r->skus);
    r->skus = t;
    r->sku_cap = cap;
    return ATP_OK;
}

static atp_err rules_sku_insert(rules *r, const char *sku, size_t len,
                                uint64_t h, rules_sku **out)
{
    if ((r->sku_used + 1) * 2 > r->sku_cap) { /* load factor <= 1/2 */
        atp_err e = rules_sku_grow(r);
        if (e != ATP_OK)
            return e;
    }
    size_t i = h & (r->sku_cap - 1);
    while (r->skus[i].sku != NULL)
        i = (i + 1) & (r->sku_cap - 1);
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return ATP_E_NOMEM;
    memcpy(copy, sku, len);
    copy[len] = '\0';
    r->skus[i] = (rules_sku){.sku = copy, .len = len, .hash = h};
    r->sku_used++;
    *out = &r->skus[i];
    return ATP_OK;
}

atp_err rules_add(rules *r, const char *sku, size_t sku_len, uint32_t region,
                  uint32_t channel, int64_t units, int64_t percent_bp)
{
    rules_values v = {.units = units, .percent_bp = percent_bp};
    return rules_add_values(r, sku, sku_len, region, channel, &v);
}

atp_err rules_add_values(rules *r, const char *sku, size_t sku_len,
                         uint32_t region, uint32_t channel,
                         const rules_values *v)
{
    if (region != RULES_ANY && region >= r->n_regions)
        return ATP_E_UNKNOWN_REGION;
    if (channel != RULES_ANY && channel >= r->n_channels)
        return ATP_E_UNKNOWN_CHANNEL;
    if (v->units < 0 || v->percent_bp < 0 || v->percent_bp > 10000 ||
        v->low_stock < 0 || v->backorder < 0)
        return ATP_E_BAD_QTY;
    if (sku == NULL || sku_len == 0) {
        rules_cell *c = rules_cell_at(r, region, channel);
        if (c->set)
            return ATP_E_CONFLICT;
        *c = (rules_cell){.set = true, .v = *v};
        r->n_rules++;
        return ATP_OK;
    }
    uint64_t h = rules_hash(sku, sku_len);
    rules_sku *e = rules_sku_find(r, sku, sku_len, h);
    if (e == NULL) {
        atp_err err = rules_sku_insert(r, sku, sku_len, h, &e);
        if (err != ATP_OK)
            return err;
    }
    for (size_t i = 0; i < e->n_scopes; i++)
        if (e->scopes[i].region == region && e->scopes[i].channel == channel)
            return ATP_E_CONFLICT;
    rules_scope *s = realloc(e->scopes, (e->n_scopes + 1) * sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    e->scopes = s;
    s[e->n_scopes++] = (rules_scope){region, channel, *v};
    r->n_rules++;
    return ATP_OK;
}

/* Level of a SKU scope for a query (region, channel), or -1 if it does not
 * apply. Scopes are exact or "any"; never a different concrete value. */
static int rules_scope_level(const rules_scope *s, uint32_t region,
                             uint32_t channel)
{
    bool r_any = s->region == RULES_ANY, c_any = s->channel == RULES_ANY;
    if (!r_any && s->region != region)
        return -1;
    if (!c_any && s->channel != channel)
        return -1;
    if (!r_any && !c_any)
        return ATP_RULE_SKU_REGION_CHANNEL;
    if (!r_any)
        return ATP_RULE_SKU_REGION;
    if (!c_any)
        return ATP_RULE_SKU_CHANNEL;
    return ATP_RULE_SKU;
}

static void rules_hit_of(const rules_values *v, uint8_t level, rules_hit *out)
{
    *out = (rules_hit){.units = v->units,
                       .percent_bp = v->percent_bp,
                       .low_stock = v->low_stock,
                       .backorder = v->backorder,
                       .level = level};
}

void rules_match(const rules *r, const char *sku, size_t sku_len,
                 uint32_t region, uint32_t channel, rules_hit *out)
{
    int best = ATP_RULE_LEVELS;
    const rules_scope *hit = NULL;
    if (sku_len > 0) {
        const rules_sku *e =
            rules_sku_find(r, sku, sku_len, rules_hash(sku, sku_len));
        for (size_t i = 0; e != NULL && i < e->n_scopes; i++) {
            int lvl = rules_scope_level(&e->scopes[i], region, channel);
            if (lvl >= 0 && lvl < best) {
                best = lvl;
                hit = &e->scopes[i];
            }
        }
    }
    if (hit != NULL) {
        rules_hit_of(&hit->v, (uint8_t)best, out);
        return;
    }
    /* No SKU rule: the dense table, most specific first. An out-of-range
     * region or channel only matches "any". */
    bool r_ok = region < r->n_regions, c_ok = channel < r->n_channels;
    const struct {
        bool valid;
        uint32_t region, channel;
        uint8_t level;
    } order[] = {
        {r_ok && c_ok, region, channel, ATP_RULE_REGION_CHANNEL},
        {r_ok, region, RULES_ANY, ATP_RULE_REGION},
        {c_ok, RULES_ANY, channel, ATP_RULE_CHANNEL},
        {true, RULES_ANY, RULES_ANY, ATP_RULE_GLOBAL},
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!order[i].valid)
            continue;
        const rules_cell *c =
            rules_cell_at(r, order[i].region, order[i].channel);
        if (c->set) {
            rules_hit_of(&c->v, order[i].level, out);
            return;
        }
    }
    *out = (rules_hit){.level = ATP_RULE_GLOBAL};
}
