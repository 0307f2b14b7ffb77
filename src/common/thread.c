/* thread.c - see thread.h. */
#define _GNU_SOURCE
#include "common/thread.h"

#include "common/clock.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
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

/* ---- bounded calls ------------------------------------------------------ */

/* One bounded call, shared by the caller and the thread running it: the
 * last of the two to let go frees it (refs). mu guards done. */
typedef struct thread_job {
    void (*fn)(void *arg);
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int refs;
    _Alignas(max_align_t) unsigned char arg[64];
} thread_job;

static void thread_job_unref(thread_job *j)
{
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void *thread_job_main(void *p)
{
    thread_job *j = p;
    thread_name("atp:bounded");
    j->fn(j->arg);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    thread_job_unref(j);
    return NULL;
}

bool thread_run_bounded(void (*fn)(void *arg), const void *arg, size_t arg_size,
                        int64_t ms, const char *what)
{
    thread_job *j = calloc(1, sizeof *j);
    if (j == NULL || arg_size > sizeof j->arg) {
        free(j);
        fn((void *)arg); /* no room for a bound: just call it */
        return true;
    }
    j->fn = fn;
    j->refs = 2;
    memcpy(j->arg, arg, arg_size);
    pthread_mutex_init(&j->mu, NULL);
    clock_cond_init(&j->cv);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_job_main, j) != 0) {
        fn(j->arg);
        j->refs = 0;
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
        return true;
    }
    pthread_detach(t);
    struct timespec deadline = clock_deadline_ms(ms);
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    while (!j->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&j->cv, &j->mu, &deadline);
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    thread_job_unref(j);
    if (!done)
        log_warn("thread", "%s did not finish within %lld ms: left behind",
                 what, (long long)ms);
    return done;
}
