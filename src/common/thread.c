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
     * before main) do not inherit it: set them one by one, and scan again
     * while a pass still found one (one of them may have started another
     * meanwhile). */
    int rc = 0;
    for (int pass = 0; pass < 8; pass++) {
        DIR *d = opendir("/proc/self/task");
        if (d == NULL)
            return errno;
        int changed = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
            if (tid <= 0 || sched_getscheduler(tid) == SCHED_BATCH)
                continue;
            if (sched_setscheduler(tid, SCHED_BATCH, &prio0) == 0)
                changed++;
            else if (errno != ESRCH && rc == 0)
                rc = errno;
        }
        closedir(d);
        if (changed == 0)
            break;
    }
    return rc;
}

const char *thread_sched_name(void)
{
    switch (sched_getscheduler(0)) {
    case SCHED_BATCH:
        return "batch";
    case SCHED_OTHER:
        return "normal";
    case SCHED_IDLE:
        return "idle";
    default:
        return "realtime";
    }
}
