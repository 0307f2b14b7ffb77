/* thread.c - see thread.h. */
#define _GNU_SOURCE
#include "common/thread.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

void thread_name(const char *name)
{
    char buf[16];
    size_t n = strlen(name);
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    memcpy(buf, name, n);
    buf[n] = '\0';
    (void)pthread_setname_np(pthread_self(), buf);
}

int thread_sched_batch(void)
{
    struct sched_param prio0 = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH, &prio0) != 0)
        return errno;
    /* Threads that exist already (jemalloc's background threads start
     * before main) do not inherit it: set them one by one. */
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return errno;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long tid = strtol(de->d_name, NULL, 10);
        if (tid > 0 && sched_setscheduler((pid_t)tid, SCHED_BATCH, &prio0) != 0 &&
            errno != ESRCH && rc == 0)
            rc = errno;
    }
    closedir(d);
    return rc;
}
