/*
 * bigmem.h - large tables straight from the kernel (mmap), any thread.
 *
 * Why not malloc: jemalloc keeps freed pages resident until its decay runs,
 * and decay only runs while the process allocates; an idle atpd kept every
 * table it had outgrown (the positions table doubles up to 640 MB at 10M
 * positions). munmap gives the memory back at once. Pages are zero and are
 * only backed when first touched, like calloc.
 */
#ifndef ATP_BIGMEM_H
#define ATP_BIGMEM_H

#include <stdbool.h>
#include <stddef.h>

/* bigmem_alloc returns bytes of zeroed memory or NULL. With huge set, the
 * kernel is asked to back it with transparent huge pages (fewer page
 * faults and TLB misses for tables accessed at random; only worth it for
 * tables that are touched everywhere anyway). Free with bigmem_free. */
void *bigmem_alloc(size_t bytes, bool huge);

/* bigmem_free returns p (from bigmem_alloc of the same bytes) to the
 * kernel. NULL is a no-op. */
void bigmem_free(void *p, size_t bytes);

/* bigmem_realloc resizes p (bigmem_alloc of old_bytes) to new_bytes, keeping
 * the contents; the grown part is zero. NULL on failure: p is unchanged. */
void *bigmem_realloc(void *p, size_t old_bytes, size_t new_bytes);

/* bigmem_rss_bytes returns the process's resident set size (all of it:
 * heap, tables, libraries, stacks) from /proc/self/statm, or 0 when it
 * cannot be read. Any thread. */
unsigned long long bigmem_rss_bytes(void);

#endif
