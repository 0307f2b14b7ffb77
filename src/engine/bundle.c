/*
 * bundle.c - bundles in the engine (docs/PROTOCOL.md, "Bundles"): the set
 * built from the configuration with every SKU interned, its publication
 * by the rules command, a bundle's answer from its components, and a
 * reserve's bundle lines expanded into component lines. The kit
 * arithmetic and the set itself are formula/bundles.c.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "engine/dict.h"
#include "engine/engine_int.h"
#include "formula/rules.h"

atp_err engine__bundles_build(engine *e, const config *cfg, bundles **out)
{
    bundles *b;
    atp_err err = bundles_alloc(&b);
    for (size_t i = 0; err == ATP_OK && i < cfg->n_bundles; i++) {
        const config_bundle *c = &cfg->bundles[i];
        bundle_part parts[BUNDLES_MAX_COMPONENTS];
        uint32_t sku;
        if (c->n_parts > BUNDLES_MAX_COMPONENTS) {
            err = ATP_E_BAD_QTY; /* the configuration checked it */
            break;
        }
        err = engine__sku_intern_one(e, c->sku, strlen(c->sku), &sku);
        for (size_t k = 0; err == ATP_OK && k < c->n_parts; k++) {
            parts[k].qty = c->parts[k].qty;
            err = engine__sku_intern_one(
                e, c->parts[k].sku, strlen(c->parts[k].sku), &parts[k].sku);
        }
        if (err == ATP_OK)
            err = bundles_add(b, sku, parts, (uint32_t)c->n_parts);
    }
    if (err != ATP_OK) {
        bundles_free(b);
        return err;
    }
    *out = b;
    return ATP_OK;
}

static bool engine_bundle_same(const bundle_def *x, const bundle_def *y)
{
    if (x == NULL || y == NULL || x->n_parts != y->n_parts)
        return false;
    for (uint32_t k = 0; k < x->n_parts; k++) /* by field: padding */
        if (x->parts[k].sku != y->parts[k].sku ||
            x->parts[k].qty != y->parts[k].qty)
            return false;
    return true;
}

static void engine_bundle_mark(engine *e, uint32_t sku)
{
    for (uint32_t r = 0; r < e->n_regions; r++)
        engine__dirty_mark(e, engine__row_at(e, sku, r), sku, r);
}

void engine__bundles_install(engine *e, bundles *next)
{
    ATP_ASSERT_OWNER(&e->owner);
    bundles *was =
        atomic_exchange_explicit(&e->bundles, next, memory_order_acq_rel);
    e->retired_bundles.sets[e->retired_bundles.n++] = was;
    for (size_t i = 0; i < bundles_count(next); i++) {
        const bundle_def *d = bundles_at(next, i);
        if (!engine_bundle_same(d, bundles_find(was, d->sku)))
            engine_bundle_mark(e, d->sku);
    }
    for (size_t i = 0; i < bundles_count(was); i++) {
        const bundle_def *d = bundles_at(was, i);
        if (bundles_find(next, d->sku) == NULL)
            engine_bundle_mark(e, d->sku);
    }
}

void engine__bundle_answer(const engine *e, const bundle_def *d,
                           uint32_t region, uint32_t channel,
                           engine_answer *out)
{
    int64_t kits = 0, supply = 0;
    bool stale = false;
    uint8_t level = ATP_RULE_GLOBAL;
    const char *limiting = NULL;
    size_t limiting_len = 0;
    for (uint32_t k = 0; k < d->n_parts; k++) {
        size_t len;
        const char *sku = dict_key(e->skus, d->parts[k].sku, &len);
        engine_answer a;
        engine__answer_of(e, d->parts[k].sku, sku, len, region, channel, &a);
        int64_t n = bundles_kits(a.atp, d->parts[k].qty);
        int64_t s = bundles_kits(a.supply, d->parts[k].qty);
        if (k == 0 || n < kits) {
            kits = n;
            level = a.rule_level;
            limiting = sku;
            limiting_len = len;
        }
        if (k == 0 || s < supply)
            supply = s;
        stale |= a.stale;
    }
    size_t len;
    const char *self = dict_key(e->skus, d->sku, &len);
    rules_hit hit; /* the bundle's own rule: its low-stock threshold */
    rules_match(atomic_load_explicit(&e->rules, memory_order_acquire), self,
                len, region, channel, &hit);
    *out = (engine_answer){.atp = kits,
                           .supply = supply,
                           .rule_level = level,
                           .stale = stale,
                           .known_sku = true,
                           .low_stock = hit.low_stock,
                           .limiting = limiting,
                           .limiting_len = (uint32_t)limiting_len};
}

/* engine_bundle_line_why: why line l may not name a bundle, or NULL. */
static const char *engine_bundle_line_why(const engine_resv_req *req,
                                          const engine_resv_line *l)
{
    if (req->partial)
        return "a bundle line is all or nothing: a reserve with one cannot "
               "be partial";
    if (l->pin != 0)
        return "a bundle line cannot be pinned to a pickup location";
    if (l->split != NULL)
        return "a bundle line cannot be split over regions";
    return NULL;
}

atp_err engine__bundle_expand(const engine *e, const engine_resv_req *req,
                              engine_resv_line **out, uint32_t **origin,
                              uint32_t *n, uint32_t *line, const char **why)
{
    *out = NULL;
    *origin = NULL;
    *n = 0;
    *line = UINT32_MAX;
    *why = NULL;
    const bundles *b = atomic_load_explicit(&e->bundles, memory_order_relaxed);
    if (bundles_count(b) == 0)
        return ATP_OK;
    size_t total = 0;
    bool any = false;
    for (uint32_t i = 0; i < req->n_lines; i++) {
        const engine_resv_line *l = &req->lines[i];
        uint32_t idx = dict_find(e->skus, l->sku, l->sku_len);
        const bundle_def *d = idx != DICT_NONE ? bundles_find(b, idx) : NULL;
        if (d == NULL) {
            total++;
            continue;
        }
        any = true;
        *line = i;
        if ((*why = engine_bundle_line_why(req, l)) != NULL)
            return ATP_E_BAD_REQUEST;
        for (uint32_t k = 0; k < d->n_parts; k++)
            if (l->qty > ATP_QTY_MAX / d->parts[k].qty) {
                *why = "the bundle line's quantity times a component's is "
                       "beyond 10^15";
                return ATP_E_BAD_QTY;
            }
        total += d->n_parts;
    }
    *line = UINT32_MAX;
    if (!any)
        return ATP_OK;
    if (total > e->cfg->reservations.max_lines) {
        *why = "the bundles' component lines are more than "
               "reservations.max_lines";
        return ATP_E_TOO_MANY_LINES;
    }
    engine_resv_line *v = calloc(total, sizeof *v + sizeof **origin);
    if (v == NULL)
        return ATP_E_NOMEM;
    uint32_t *from = (uint32_t *)(v + total);
    uint32_t m = 0;
    for (uint32_t i = 0; i < req->n_lines; i++) {
        const engine_resv_line *l = &req->lines[i];
        uint32_t idx = dict_find(e->skus, l->sku, l->sku_len);
        const bundle_def *d = idx != DICT_NONE ? bundles_find(b, idx) : NULL;
        if (d == NULL) {
            from[m] = i;
            v[m++] = *l;
            continue;
        }
        for (uint32_t k = 0; k < d->n_parts; k++) {
            from[m] = i;
            size_t len;
            const char *sku = dict_key(e->skus, d->parts[k].sku, &len);
            v[m++] = (engine_resv_line){.sku = sku,
                                        .sku_len = (uint32_t)len,
                                        .region = l->region,
                                        .qty = l->qty * d->parts[k].qty};
        }
    }
    *out = v;
    *origin = from;
    *n = m;
    return ATP_OK;
}

bool engine_bundle_get(const engine *e, const char *sku, size_t len,
                       engine_bundle_part *parts, uint32_t *n)
{
    _Static_assert(ENGINE_BUNDLE_MAX_PARTS == BUNDLES_MAX_COMPONENTS,
                   "one bound for the engine's and the set's components");
    *n = 0;
    const bundles *b = atomic_load_explicit(&e->bundles, memory_order_acquire);
    uint32_t idx =
        bundles_count(b) > 0 ? dict_find(e->skus, sku, len) : DICT_NONE;
    const bundle_def *d = idx != DICT_NONE ? bundles_find(b, idx) : NULL;
    if (d == NULL)
        return false;
    for (uint32_t k = 0; k < d->n_parts; k++) {
        size_t l;
        parts[k].sku = dict_key(e->skus, d->parts[k].sku, &l);
        parts[k].sku_len = (uint32_t)l;
        parts[k].qty = d->parts[k].qty;
    }
    *n = d->n_parts;
    return true;
}

uint32_t engine_bundles_using(const engine *e, uint32_t sku,
                              const uint32_t **out)
{
    uint32_t n;
    *out = bundles_using(
        atomic_load_explicit(&e->bundles, memory_order_acquire), sku, &n);
    return n;
}
