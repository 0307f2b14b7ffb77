/*
 * rules.h - buffer rules and their precedence (docs/CONFIG.md, "buffers"):
 * (sku,region,channel) > (sku,region) > (sku,channel) > (sku) >
 * (region,channel) > (region) > (channel) > global default (0).
 *
 * A rule set is built once (rules_add on one thread), then published and
 * never changed: any number of threads may call rules_match concurrently.
 * To change rules, build a new set and swap the pointer.
 * Pure code: allocation, no I/O.
 */
#ifndef ATP_RULES_H
#define ATP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "atp/wire.h"

#define RULES_ANY UINT32_MAX

typedef struct rules rules;

/* What a rule sets (docs/CONFIG.md, "buffers"). */
typedef struct rules_values {
    int64_t units;
    int64_t percent_bp;
    int64_t low_stock; /* the change feed's low-stock threshold; 0: none */
    int64_t backorder; /* units reserves may promise beyond ATP; 0: none */
} rules_values;

typedef struct rules_hit {
    int64_t units;
    int64_t percent_bp;
    int64_t low_stock; /* the change feed's low-stock threshold; 0: none */
    int64_t backorder; /* the backorder budget; 0: none */
    uint8_t level;     /* enum atp_rule_level */
} rules_hit;

/* rules_alloc returns an empty set for regions [0, n_regions) and channels
 * [0, n_channels) in *out. */
atp_err rules_alloc(uint32_t n_regions, uint32_t n_channels, rules **out);
void rules_free(rules *r);

/* rules_add adds one rule. sku NULL (or sku_len 0) = any SKU; region or
 * channel RULES_ANY = any. Returns ATP_E_CONFLICT when the same scope is
 * already set, ATP_E_UNKNOWN_REGION / ATP_E_UNKNOWN_CHANNEL for indices out
 * of range, ATP_E_BAD_QTY for negative units or percent outside 0..10000. */
atp_err rules_add(rules *r, const char *sku, size_t sku_len, uint32_t region,
                  uint32_t channel, int64_t units, int64_t percent_bp);

/* rules_add_values is rules_add with every value of a rule: the change
 * feed's low-stock threshold and the backorder budget too (each >= 0,
 * else ATP_E_BAD_QTY); the most specific matching rule gives them all. */
atp_err rules_add_values(rules *r, const char *sku, size_t sku_len,
                         uint32_t region, uint32_t channel,
                         const rules_values *v);

/* rules_match fills *out with the most specific rule for the triple, or the
 * built-in global default (0 units, 0 %) at level ATP_RULE_GLOBAL. */
void rules_match(const rules *r, const char *sku, size_t sku_len,
                 uint32_t region, uint32_t channel, rules_hit *out);

/* rules_count returns how many rules the set holds. */
size_t rules_count(const rules *r);

/* rules_level_name returns the wire name of a level ("sku+region", ...). */
const char *rules_level_name(unsigned level);

#endif
