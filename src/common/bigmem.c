/* bigmem.c - see bigmem.h. Linux: mmap, mremap, madvise. */
#define _GNU_SOURCE
#include "common/bigmem.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Huge pages only pay off for tables of several huge pages. */
#define BIGMEM_HUGE_MIN (8u << 20)

void *bigmem_alloc(size_t bytes, bool huge)
{
    if (bytes == 0)
        bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (huge && bytes >= BIGMEM_HUGE_MIN)
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is fine */
#else
    (void)huge;
#endif
    return p;
}

void bigmem_free(void *p, size_t bytes)
{
    if (p != NULL)
        munmap(p, bytes ? bytes : 1);
}

void *bigmem_realloc(void *p, size_t old_bytes, size_t new_bytes)
{
    if (p == NULL)
        return bigmem_alloc(new_bytes, false);
    void *q = mremap(p, old_bytes ? old_bytes : 1, new_bytes ? new_bytes : 1,
                     MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

unsigned long long bigmem_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f == NULL)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? resident * (unsigned long long)page : 0;
}
