/*
 * read_bundles.c - the bundles section (docs/CONFIG.md, "bundles"): each
 * entry a SKU and its components (sku, qty), checked as a whole once all
 * are read: a SKU defined twice, a bundle naming itself or another bundle
 * as a component (no nesting), a component twice. And the helpers the
 * admin state uses to copy and find definitions. Main thread at start, or
 * the admin thread for a run-time change (config_load_string).
 */
#include "config/config_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* The bounds formula/bundles.h checks too. */
#define CONFIG_BUNDLES_MAX 100000
#define CONFIG_BUNDLE_MAX_PARTS 16
#define CONFIG_BUNDLE_MAX_QTY 1000000

static const char *const config_bundle_keys[] = {"sku", "components"};
static const char *const config_part_keys[] = {"sku", "qty"};

static void config_bundle_parts(config__walk *w, const yaml_node_t *seq,
                                config_bundle *out)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "bundle components", "components");
    if (n == 0 || n > CONFIG_BUNDLE_MAX_PARTS) {
        config__error(b, config__mark_of(seq),
                      "bundle '%s': %zu components; expected 1 to %d",
                      out->sku ? out->sku : "?", n, CONFIG_BUNDLE_MAX_PARTS);
        return;
    }
    out->parts = calloc(n, sizeof *out->parts);
    if (out->parts == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i), *v[2];
        if (!config__map_fields(w, item, "bundle component", config_part_keys,
                                2, v))
            continue;
        config_bundle_part *p = &out->parts[out->n_parts++];
        if (v[0] == NULL || v[1] == NULL) {
            config__error(b, config__mark_of(item),
                          "bundle component: expected both sku and qty");
            continue;
        }
        p->sku =
            config__get_id(w, v[0], "bundle component sku", ATP_SKU_MAX_LEN);
        config__get_int(w, v[1], "bundle component qty", 1,
                        CONFIG_BUNDLE_MAX_QTY, &p->qty);
    }
}

static bool config_str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The checks across entries: a SKU defined twice, a bundle naming itself,
 * a component twice, a component that is a bundle: n log n, by the
 * sections' sorted ids (validate.c). */
static void config_bundles_check(config__build *b, const config *c,
                                 const config__mark *marks)
{
    config_key *order = config__keys_sorted(b, c->n_bundles, config__bundle_id);
    if (order == NULL)
        return; /* out of memory: said */
    for (size_t k = 1; k < c->n_bundles; k++) {
        const config_bundle *x = &c->bundles[order[k].index],
                            *first = &c->bundles[order[k - 1].index];
        if (config_str_eq(x->sku, first->sku))
            config__error(b, marks[order[k].index],
                          "bundle '%s' is defined twice (first at line %d)",
                          x->sku, first->line);
    }
    for (size_t i = 0; i < c->n_bundles; i++) {
        const config_bundle *x = &c->bundles[i];
        for (size_t k = 0; k < x->n_parts; k++) {
            const char *s = x->parts[k].sku;
            if (s == NULL)
                continue; /* reported */
            if (config_str_eq(s, x->sku))
                config__error(b, marks[i],
                              "bundle '%s' names itself as a component",
                              x->sku);
            else if (config__keys_find(order, c->n_bundles, s) >= 0)
                config__error(b, marks[i],
                              "bundle '%s': component '%s' is a bundle "
                              "itself; bundles do not nest",
                              x->sku, s);
            for (size_t m = 0; m < k; m++)
                if (config_str_eq(s, x->parts[m].sku))
                    config__error(b, marks[i],
                                  "bundle '%s' names component '%s' twice",
                                  x->sku, s);
        }
    }
    free(order);
}

void config__parse_bundles(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "bundles", "bundle definitions");
    n = config__seq_limit(w, seq, n, CONFIG_BUNDLES_MAX, "bundles");
    if (n == 0)
        return;
    b->c.bundles = calloc(n, sizeof *b->c.bundles);
    config__mark *marks = calloc(n, sizeof *marks);
    if (b->c.bundles == NULL || marks == NULL) {
        free(marks);
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i), *v[2];
        if (!config__map_fields(w, item, "bundles entry", config_bundle_keys, 2,
                                v))
            continue;
        size_t k = b->c.n_bundles++;
        config_bundle *x = &b->c.bundles[k];
        marks[k] = config__mark_of(item);
        x->line = marks[k].line;
        if (v[0] == NULL || v[1] == NULL) {
            config__error(b, marks[k],
                          "bundles entry: expected sku and components");
            continue;
        }
        x->sku = config__get_id(w, v[0], "bundle sku", ATP_SKU_MAX_LEN);
        config_bundle_parts(w, v[1], x);
    }
    if (!b->oom)
        config_bundles_check(b, &b->c, marks);
    free(marks);
}

const config_bundle *config_bundle_find(const config *c, const char *sku,
                                        size_t len)
{
    for (size_t i = 0; i < c->n_bundles; i++)
        if (c->bundles[i].sku != NULL && strlen(c->bundles[i].sku) == len &&
            memcmp(c->bundles[i].sku, sku, len) == 0)
            return &c->bundles[i];
    return NULL;
}

void config_bundles_free(config_bundle *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        for (size_t k = 0; k < v[i].n_parts; k++)
            free(v[i].parts[k].sku);
        free(v[i].parts);
        free(v[i].sku);
    }
    free(v);
}

atp_err config_bundles_copy(const config_bundle *src, size_t n,
                            config_bundle **out)
{
    *out = NULL;
    if (n == 0)
        return ATP_OK;
    config_bundle *v = calloc(n, sizeof *v);
    if (v == NULL)
        return ATP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].line = src[i].line;
        v[i].sku = strdup(src[i].sku);
        v[i].parts =
            calloc(src[i].n_parts ? src[i].n_parts : 1, sizeof *v[i].parts);
        if (v[i].sku == NULL || v[i].parts == NULL) {
            config_bundles_free(v, i + 1);
            return ATP_E_NOMEM;
        }
        for (size_t k = 0; k < src[i].n_parts; k++) {
            v[i].parts[k].qty = src[i].parts[k].qty;
            if ((v[i].parts[k].sku = strdup(src[i].parts[k].sku)) == NULL) {
                v[i].n_parts = k;
                config_bundles_free(v, i + 1);
                return ATP_E_NOMEM;
            }
            v[i].n_parts = k + 1;
        }
    }
    *out = v;
    return ATP_OK;
}

static uint64_t config_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

uint64_t config_bundles_digest(const config *c)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < c->n_bundles; i++) {
        const config_bundle *b = &c->bundles[i];
        h = config_fnv(h, b->sku, strlen(b->sku) + 1); /* NUL: a separator */
        for (size_t k = 0; k < b->n_parts; k++) {
            h = config_fnv(h, b->parts[k].sku, strlen(b->parts[k].sku) + 1);
            h = config_fnv(h, &b->parts[k].qty, sizeof b->parts[k].qty);
        }
        h = config_fnv(h, "|", 1);
    }
    return h;
}
