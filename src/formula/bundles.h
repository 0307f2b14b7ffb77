/*
 * bundles.h - bundles (kits) as pure code (docs/PROTOCOL.md, "Bundles"): a
 * set of definitions keyed by the bundle's SKU index, each a list of
 * (component SKU index, qty per kit), with the reverse index from a
 * component to the bundles that use it, and the kit arithmetic.
 *
 * A set is built once (bundles_add on one thread), then published and never
 * changed: any number of threads may read it. To change it, build a new set
 * and swap the pointer (engine/reload.c, like the rule set). Pure code:
 * allocation, no I/O.
 */
#ifndef ATP_FORMULA_BUNDLES_H
#define ATP_FORMULA_BUNDLES_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

/* Bounds a definition is checked against (docs/CONFIG.md, "bundles"). */
#define BUNDLES_MAX_COMPONENTS 16
#define BUNDLES_MAX_QTY 1000000
#define BUNDLES_MAX 100000

typedef struct bundle_part {
    uint32_t sku; /* a component's SKU index */
    int64_t qty;  /* per kit, 1..BUNDLES_MAX_QTY */
} bundle_part;

typedef struct bundle_def {
    uint32_t sku; /* the bundle's SKU index */
    uint32_t n_parts;
    const bundle_part *parts; /* in definition order */
} bundle_def;

typedef struct bundles bundles;

/* bundles_alloc returns an empty set in *out. */
atp_err bundles_alloc(bundles **out);
void bundles_free(bundles *b);

/* bundles_add adds a definition (parts copied). ATP_E_CONFLICT: sku is
 * already a bundle, or a component, or a part names sku or a bundle, or a
 * SKU twice; ATP_E_BAD_QTY: a qty outside 1..BUNDLES_MAX_QTY, no part or
 * more than BUNDLES_MAX_COMPONENTS; ATP_E_TOO_LARGE: BUNDLES_MAX reached;
 * ATP_E_NOMEM. Nothing is added on an error. */
atp_err bundles_add(bundles *b, uint32_t sku, const bundle_part *parts,
                    uint32_t n_parts);

/* bundles_count: how many definitions the set holds. */
size_t bundles_count(const bundles *b);

/* bundles_find returns the definition of bundle SKU sku, or NULL. */
const bundle_def *bundles_find(const bundles *b, uint32_t sku);

/* bundles_at returns definition i (0..count-1), in the order added. */
const bundle_def *bundles_at(const bundles *b, size_t i);

/* bundles_using returns the bundles sku is a component of (their SKU
 * indexes, *n of them), or NULL with *n 0. */
const uint32_t *bundles_using(const bundles *b, uint32_t sku, uint32_t *n);

/* bundles_kits: whole kits `have` units make at qty per kit (have < 0
 * counts as 0; qty >= 1). */
int64_t bundles_kits(int64_t have, int64_t qty);

#endif
