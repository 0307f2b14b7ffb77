/*
 * done_wait.h - a caller waiting for one asynchronous completion
 * (`void done(void *arg, atp_err err)`, the store's and the persistence's
 * callback shape) on another thread: the admin thread for its durable
 * write, the cluster thread for its takeover's local write. Timed on
 * CLOCK_MONOTONIC like every wait of ours (common/clock.h), though it
 * waits without a deadline: the completion always comes.
 */
#ifndef ATP_DONE_WAIT_H
#define ATP_DONE_WAIT_H

#include <pthread.h>
#include <stdbool.h>

#include "atp/error.h"

typedef struct done_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    atp_err err;
} done_wait;

void done_wait_init(done_wait *w);

/* done_wait_signal is the completion callback: arg is the done_wait. */
void done_wait_signal(void *arg, atp_err err);

/* done_wait_finish waits for the signal when queued is ATP_OK (the
 * operation was accepted and will complete), destroys w and returns the
 * completion's error, or queued itself when it is not ATP_OK. */
atp_err done_wait_finish(done_wait *w, atp_err queued);

#endif
