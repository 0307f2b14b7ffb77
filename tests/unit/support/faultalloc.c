/* faultalloc.c - see faultalloc.h. Any thread. */
#include "faultalloc.h"

#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__real_bigmem_alloc(size_t bytes, bool huge);
void *__real_bigmem_realloc(void *p, size_t old_bytes, size_t new_bytes);

static _Atomic long faultalloc_at = -1; /* -1: off */
static _Atomic long faultalloc_n;       /* calls counted */
static _Atomic long faultalloc_failed;
static _Atomic bool faultalloc_persist;

void faultalloc_arm(long at, bool persistent)
{
    atomic_store(&faultalloc_at, -1);
    atomic_store(&faultalloc_n, 0);
    atomic_store(&faultalloc_failed, 0);
    atomic_store(&faultalloc_persist, persistent);
    atomic_store(&faultalloc_at, at);
}

long faultalloc_disarm(void)
{
    atomic_store(&faultalloc_at, -1);
    return atomic_load(&faultalloc_failed);
}

long faultalloc_calls(void)
{
    return atomic_load(&faultalloc_n);
}

static bool faultalloc_fail(void)
{
    long at = atomic_load(&faultalloc_at);
    if (at < 0)
        return false;
    long k = atomic_fetch_add(&faultalloc_n, 1);
    if (k == at || (k > at && atomic_load(&faultalloc_persist))) {
        atomic_fetch_add(&faultalloc_failed, 1);
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return faultalloc_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return faultalloc_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return faultalloc_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return faultalloc_fail() ? NULL : __real_strdup(s);
}

void *__wrap_bigmem_alloc(size_t bytes, bool huge)
{
    return faultalloc_fail() ? NULL : __real_bigmem_alloc(bytes, huge);
}

void *__wrap_bigmem_realloc(void *p, size_t old_bytes, size_t new_bytes)
{
    return faultalloc_fail() ? NULL
                             : __real_bigmem_realloc(p, old_bytes, new_bytes);
}
