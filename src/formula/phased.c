/*
 * phased.c - the time-phased formula (phased.h). A row usually has a few
 * steps, but a SKU may have thousands of open PO lines: qsort, not an
 * insertion sort (a review measured O(n^2) at 4,000 lots: 15 ms a call).
 */
#include "formula/phased.h"

#include <stdlib.h>

#include "formula/formula.h"

static int phased_cmp(const void *pa, const void *pb)
{
    const phased_step *a = pa, *b = pb;
    return (a->at_ms > b->at_ms) - (a->at_ms < b->at_ms);
}

size_t phased_prepare(phased_step *s, size_t n, int64_t now_ms)
{
    s[n++] = (phased_step){now_ms, 0}; /* today is always a step */
    for (size_t i = 0; i < n; i++)
        if (s[i].at_ms < now_ms)
            s[i].at_ms = now_ms;
    qsort(s, n, sizeof *s, phased_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && s[m - 1].at_ms == s[i].at_ms)
            s[m - 1].delta = formula_sat_add(s[m - 1].delta, s[i].delta);
        else
            s[m++] = s[i];
    }
    return m;
}

int64_t phased_hold(const phased_step *s, size_t n)
{
    int64_t run = 0, low = 0;
    for (size_t k = 0; k < n; k++) {
        run = formula_sat_add(run, s[k].delta);
        if (run < low)
            low = run;
    }
    return -low;
}

void phased_profile(phased_step *s, size_t n, int64_t base, int64_t *hold)
{
    if (hold != NULL)
        *hold = phased_hold(s, n);
    int64_t run = base;
    for (size_t k = 0; k < n; k++) {
        run = formula_sat_add(run, s[k].delta);
        s[k].delta = run; /* available_on(s[k].at_ms) */
    }
    int64_t low = ATP_QTY_SUM_MAX;
    for (size_t k = n; k-- > 0;) {
        if (s[k].delta < low)
            low = s[k].delta;
        s[k].delta = low > 0 ? low : 0;
    }
}

int64_t phased_atp_on(const phased_step *p, size_t n, int64_t date_ms)
{
    size_t k = 0;
    while (k + 1 < n && p[k + 1].at_ms <= date_ms)
        k++;
    return n > 0 ? p[k].delta : 0;
}

int64_t phased_earliest(const phased_step *p, size_t n, int64_t qty)
{
    for (size_t k = 0; k < n; k++)
        if (p[k].delta >= qty)
            return p[k].at_ms;
    return -1;
}
