/*
 * alloc.h - what the allocator says about itself: the only module that
 * talks to jemalloc (mallctl). Sanitizer builds run on libc's malloc and
 * have no such figures.
 */
#ifndef ATP_ALLOC_H
#define ATP_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

typedef struct alloc_stats {
    uint64_t allocated; /* bytes the application holds (stats.allocated) */
    uint64_t
        resident; /* bytes of the allocator's pages in RAM (stats.resident) */
} alloc_stats;

/* alloc_stats_get refreshes jemalloc's statistics ("epoch") and reads
 * them. false when atpd runs without jemalloc (or it refused): *out is
 * then zero. Any thread; takes jemalloc's own stats lock, so it is for a
 * scrape, not a request's hot path. */
bool alloc_stats_get(alloc_stats *out);

#endif
