/* transitions.c - stock-level transitions with hysteresis (see the header).
 * Pure; any thread, per-key state owned by the caller. */
#include "changes/transitions.h"

unsigned transitions_update(transitions_state *st, int64_t atp,
                            int64_t low_stock)
{
    bool first = !st->known;
    unsigned marks = 0;
    bool out = atp <= 0;
    bool low = st->low;
    if (low_stock <= 0) {
        low = false;
    } else if (atp < low_stock) {
        low = true;
    } else {
        int64_t band = low_stock * TRANSITIONS_BAND_PERCENT / 100;
        if (band < 1)
            band = 1;
        if (atp >= low_stock + band || first)
            low = false;
    }
    if (!first) {
        if (out && !st->out)
            marks |= TRANSITION_OUT_OF_STOCK;
        if (!out && st->out)
            marks |= TRANSITION_BACK_IN_STOCK;
        if (low && !st->low && !out)
            marks |= TRANSITION_LOW_STOCK;
    }
    st->known = true;
    st->out = out;
    st->low = low;
    return marks;
}
