/* pickup.c - the store pickup formula (docs/PROTOCOL.md, "The pickup
 * formula"), pure integer code. Any thread. */
#include "formula/pickup.h"

void formula_pickup_of(const formula_position *p, int64_t reserved,
                       int64_t buffer, bool enabled, int64_t region_atp,
                       formula_pickup *out)
{
    /* The region formula's net without the inbound lots. */
    formula_position shelf = {p->on_hand, p->allocated, p->held, 0};
    int64_t net = formula_net(&shelf);
    if (buffer < 0)
        buffer = 0;
    if (reserved < 0)
        reserved = 0;
    int64_t available =
        formula_sat_add(formula_sat_add(net, -reserved), -buffer);
    if (available < 0)
        available = 0;
    int64_t atp = 0;
    if (enabled)
        atp = region_atp < available ? region_atp : available;
    *out = (formula_pickup){.net = net,
                            .reserved = reserved,
                            .buffer = buffer,
                            .available = available,
                            .atp = atp > 0 ? atp : 0};
}
