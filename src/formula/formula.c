/* formula.c - the ATP formula (docs/PROTOCOL.md, "The ATP answer"), pure
 * integer code. Any thread. */
#include "formula/formula.h"

int64_t formula_sat_add(int64_t a, int64_t b)
{
    /* Inputs are clamped first, so the addition itself cannot overflow. */
    if (a > ATP_QTY_SUM_MAX)
        a = ATP_QTY_SUM_MAX;
    if (a < -ATP_QTY_SUM_MAX)
        a = -ATP_QTY_SUM_MAX;
    if (b > ATP_QTY_SUM_MAX)
        b = ATP_QTY_SUM_MAX;
    if (b < -ATP_QTY_SUM_MAX)
        b = -ATP_QTY_SUM_MAX;
    int64_t s = a + b;
    if (s > ATP_QTY_SUM_MAX)
        return ATP_QTY_SUM_MAX;
    if (s < -ATP_QTY_SUM_MAX)
        return -ATP_QTY_SUM_MAX;
    return s;
}

int64_t formula_net(const formula_position *p)
{
    int64_t free_stock =
        formula_sat_add(p->on_hand, -formula_sat_add(p->allocated, p->held));
    if (free_stock < 0)
        free_stock = 0; /* a location never contributes a negative amount */
    int64_t inbound = p->inbound_in_horizon > 0 ? p->inbound_in_horizon : 0;
    return formula_sat_add(free_stock, inbound);
}

int64_t formula_buffer(int64_t units, int64_t percent_bp, int64_t supply)
{
    if (units < 0)
        units = 0;
    if (percent_bp <= 0 || supply <= 0)
        return units;
    /* ceil(bp * supply / 10000) in 128 bits: bp * supply may exceed 2^63. */
    unsigned __int128 num = (unsigned __int128)percent_bp * (uint64_t)supply;
    unsigned __int128 pct = (num + 9999) / 10000;
    int64_t by_percent = pct > (unsigned __int128)ATP_QTY_SUM_MAX
                             ? ATP_QTY_SUM_MAX
                             : (int64_t)pct;
    return by_percent > units ? by_percent : units;
}

void formula_atp(int64_t supply, int64_t reserved, int64_t buffer,
                 formula_answer *out)
{
    int64_t atp = formula_sat_add(supply, -formula_sat_add(reserved, buffer));
    int64_t shortfall = formula_sat_add(reserved, -supply);
    out->atp = atp > 0 ? atp : 0;
    out->supply = supply;
    out->reserved = reserved;
    out->buffer = buffer;
    out->shortfall = shortfall > 0 ? shortfall : 0;
}

void formula_backorder(int64_t supply, int64_t reserved, int64_t buffer,
                       int64_t budget, int64_t *used, int64_t *left)
{
    /* What may be sold is supply beyond the buffer (never below 0: a
     * buffer larger than the stock keeps back nothing more, so it never
     * eats into the budget). */
    int64_t sellable = formula_sat_add(supply, -buffer);
    int64_t over = formula_sat_add(reserved, sellable > 0 ? -sellable : 0);
    *used = over > 0 ? over : 0;
    int64_t room = formula_sat_add(budget > 0 ? budget : 0, -*used);
    *left = room > 0 ? room : 0;
}
