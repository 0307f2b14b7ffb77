/* assert.c - the failure path of ATP_ASSERT and thread ownership. */
#include "assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void atp_assert_fail(const char *expr, const char *file, int line,
                               const char *func)
{
    /* One write(2) of a stack buffer: no allocation and no stdio lock, so
     * it works when the heap or a lock is what broke. */
    char buf[512];
    int n = snprintf(buf, sizeof buf, "atpd: assertion failed: %s (%s:%d %s)\n",
                     expr, file, line, func);
    if (n > 0) {
        size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
        ssize_t w = write(STDERR_FILENO, buf, len);
        (void)w;
    }
    abort();
}

void atp_owner_claim(atp_owner *o)
{
    o->thread = pthread_self();
    atomic_store_explicit(&o->claimed, true, memory_order_release);
}

void atp_owner_release(atp_owner *o)
{
    atomic_store_explicit(&o->claimed, false, memory_order_release);
}

bool atp_owner_holds(atp_owner *o)
{
    if (!atomic_load_explicit(&o->claimed, memory_order_acquire))
        return true;
    return pthread_equal(o->thread, pthread_self()) != 0;
}
