/*
 * formula.h - the ATP formula (docs/PROTOCOL.md, "The ATP answer") as pure
 * integer arithmetic.
 *
 * No I/O, no allocation, no globals: callable from any thread. All sums
 * saturate at +-ATP_QTY_SUM_MAX instead of overflowing, so no input can make
 * the arithmetic undefined.
 */
#ifndef ATP_FORMULA_H
#define ATP_FORMULA_H

#include <stdint.h>

/* Saturation bound of sums (supply of many locations): 2^53 - 1, the
 * largest integer a JSON reader holds exactly (ATP_WIRE_INT_MAX), so that
 * supply, reserved, buffer, atp and shortfall reach every client unrounded.
 * Above any real quantity (10^15 per bucket; 9 locations at 10^15 stay
 * below it) and far below INT64_MAX, so a sum of two bounded values can
 * never overflow before it is clamped. */
#define ATP_QTY_SUM_MAX 9007199254740991LL

typedef struct formula_position {
    int64_t on_hand;
    int64_t allocated;
    int64_t held;
    int64_t inbound_in_horizon; /* sum of inbound lots inside the horizon */
} formula_position;

typedef struct formula_answer {
    int64_t atp;
    int64_t supply;
    int64_t reserved;
    int64_t buffer;
    int64_t shortfall; /* max(0, reserved - supply) */
} formula_answer;

/* formula_sat_add returns a + b clamped to [-ATP_QTY_SUM_MAX, ATP_QTY_SUM_MAX].
 */
int64_t formula_sat_add(int64_t a, int64_t b);

/* formula_net returns a location's contribution to supply:
 * max(0, on_hand - allocated - held) + inbound_in_horizon (inbound floored at
 * 0 too). Never negative. */
int64_t formula_net(const formula_position *p);

/* formula_buffer returns max(units, ceil(percent_bp * supply / 10000)) where
 * percent_bp is the percent in basis points (12.5 % = 1250). Negative
 * supply counts as 0; negative units or percent as 0. */
int64_t formula_buffer(int64_t units, int64_t percent_bp, int64_t supply);

/* formula_atp fills *out with ATP = max(0, supply - reserved - buffer) and
 * the breakdown. */
void formula_atp(int64_t supply, int64_t reserved, int64_t buffer,
                 formula_answer *out);

/* formula_backorder: a row's backorder budget in use (docs/PROTOCOL.md,
 * "Backorder budgets"): *used = max(0, reserved - max(0, supply -
 * buffer)), how far promises go beyond what may be sold; *left =
 * max(0, budget - used), what a
 * reserve with backorder may still take beyond ATP. Negative budget
 * counts as 0. */
void formula_backorder(int64_t supply, int64_t reserved, int64_t buffer,
                       int64_t budget, int64_t *used, int64_t *left);

#endif
