/*
 * transitions.h - stock-level transitions of one (SKU, region, channel) as
 * the change feed sees successive ATP values. Pure logic, no I/O.
 *
 * - out_of_stock: ATP reaches 0 from above.
 * - back_in_stock: ATP rises above 0 after an out_of_stock.
 * - low_stock: ATP drops below the rule's low-stock threshold L (and is not
 *   0 yet). The low state clears only once ATP is back at L + band, band =
 *   max(1, L * TRANSITIONS_BAND_PERCENT / 100): a value wobbling around L
 *   reports low_stock once, not on every wobble.
 * The first value seen for a key reports no transition (there is no
 * "before"), only the state flags.
 */
#ifndef ATP_TRANSITIONS_H
#define ATP_TRANSITIONS_H

#include <stdbool.h>
#include <stdint.h>

#define TRANSITIONS_BAND_PERCENT 10

enum transitions_mark {
    TRANSITION_OUT_OF_STOCK = 1u << 0,
    TRANSITION_BACK_IN_STOCK = 1u << 1,
    TRANSITION_LOW_STOCK = 1u << 2,
};

typedef struct transitions_state {
    bool known;
    bool out; /* at 0 */
    bool low; /* below the low-stock threshold, hysteresis applied */
} transitions_state;

/* transitions_update moves st to the new ATP and returns the marks (a set
 * of enum transitions_mark). low_stock 0 disables the low-stock mark. */
unsigned transitions_update(transitions_state *st, int64_t atp,
                            int64_t low_stock);

#endif
