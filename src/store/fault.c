/*
 * fault.c - the store's test-only fault points (see fault.h). Compiled
 * only into atp_store_faults. Any thread.
 */
#include "store/fault.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const store_fault_names[STORE_FAULT_COUNT] = {
    "log_write", "log_sync", "commit", "alloc", "backup"};

static int store_fault_errno(const char *name)
{
    static const struct {
        const char *name;
        int err;
    } map[] = {{"EIO", EIO},
               {"ENOSPC", ENOSPC},
               {"ENOMEM", ENOMEM},
               {"EINVAL", EINVAL}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].err;
    return 0;
}

/* store_fault_read: the errno the file at path injects at point p (0:
 * none); *stall when its line says "stall". */
static int store_fault_read(const char *path, store_fault_point p, bool *stall)
{
    *stall = false;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char point[32], err[32];
    int inject = 0;
    while (inject == 0 && !*stall && fscanf(f, "%31s %31s", point, err) == 2)
        if (strcmp(point, store_fault_names[p]) == 0) {
            *stall = strcmp(err, "stall") == 0;
            inject = store_fault_errno(err);
        }
    fclose(f);
    return inject;
}

int store__fault(store_fault_point p)
{
    const char *path = getenv("ATP_STORE_FAULTS");
    if (path == NULL || p >= STORE_FAULT_COUNT)
        return 0;
    for (;;) {
        bool stall;
        int inject = store_fault_read(path, p, &stall);
        if (!stall)
            return inject;
        /* A call that hangs (a dead disk, a hung NFS server): the thread
         * waits here until the line is removed, then goes on normally. */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
