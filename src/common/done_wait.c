/*
 * done_wait.c - one asynchronous completion waited for (done_wait.h).
 */
#include "common/done_wait.h"

#include "common/clock.h"

void done_wait_init(done_wait *w)
{
    *w = (done_wait){.done = false};
    pthread_mutex_init(&w->mu, NULL);
    clock_cond_init(&w->cv);
}

void done_wait_signal(void *arg, atp_err err)
{
    done_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

atp_err done_wait_finish(done_wait *w, atp_err queued)
{
    atp_err err = queued;
    if (err == ATP_OK) {
        pthread_mutex_lock(&w->mu);
        while (!w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        err = w->err;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return err;
}
