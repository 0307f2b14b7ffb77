/*
 * pickup.h - the store pickup formula (docs/PROTOCOL.md, "The pickup
 * formula"): how many units of a SKU one location can promise for pickup,
 * as pure integer arithmetic next to the region formula (formula.h).
 *
 * No I/O, no allocation, no globals: callable from any thread. Sums
 * saturate at +-ATP_QTY_SUM_MAX like the region formula's.
 */
#ifndef ATP_FORMULA_PICKUP_H
#define ATP_FORMULA_PICKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "formula/formula.h"

/* One location's pickup answer for one SKU. */
typedef struct formula_pickup {
    int64_t net;       /* max(0, on_hand - allocated - held): on the shelf */
    int64_t reserved;  /* open reservation lines pinned to the location */
    int64_t buffer;    /* the location's pickup buffer (units, >= 0) */
    int64_t available; /* max(0, net - reserved - buffer) */
    int64_t atp;       /* enabled ? min(available, region_atp) : 0 */
} formula_pickup;

/* formula_pickup_of fills *out for a location whose position is *p (its
 * inbound_in_horizon is ignored: a lot on its way is not on the shelf a
 * customer collects from), where open lines pinned to it hold reserved
 * units of the SKU, with pickup buffer buffer (negative values of both
 * count as 0), pickup enabled or not, in a region whose ATP for the SKU
 * and channel is region_atp (negative counts as 0). The pickup ATP never
 * exceeds the region's ATP: every reservation, pinned or not, counts in
 * its region, and one that is not pinned may be picked at any of the
 * region's locations, so every unit promised for pickup must also be
 * free in the region. */
void formula_pickup_of(const formula_position *p, int64_t reserved,
                       int64_t buffer, bool enabled, int64_t region_atp,
                       formula_pickup *out);

#endif
