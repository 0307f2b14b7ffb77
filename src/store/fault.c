/*
 * fault.c - the store's test-only fault points (see fault.h). Compiled
 * only into atp_store_faults. Any thread.
 */
#include "store/fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const store_fault_names[STORE_FAULT_COUNT] = {
    "log_write", "log_sync", "commit", "alloc"};

static int store_fault_errno(const char *name)
{
    static const struct {
        const char *name;
        int err;
    } map[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"ENOMEM", ENOMEM}, {"EINVAL", EINVAL}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].err;
    return 0;
}

int store__fault(store_fault_point p)
{
    const char *path = getenv("ATP_STORE_FAULTS");
    if (path == NULL || p >= STORE_FAULT_COUNT)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char point[32], err[32];
    int inject = 0;
    while (inject == 0 && fscanf(f, "%31s %31s", point, err) == 2)
        if (strcmp(point, store_fault_names[p]) == 0)
            inject = store_fault_errno(err);
    fclose(f);
    return inject;
}
