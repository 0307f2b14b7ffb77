/* queue.c - bounded MPSC queue (see queue.h). Any thread. */
#include "common/queue.h"

#include "common/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

atp_err queue_init(queue *q, size_t item_size, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->items = malloc(item_size * cap);
    if (q->items == NULL)
        return ATP_E_NOMEM;
    q->item_size = item_size;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    clock_cond_init(&q->not_empty);
    clock_cond_init(&q->not_full);
    return ATP_OK;
}

void queue_fini(queue *q)
{
    if (q->items == NULL)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    q->items = NULL;
}

/* Copy item in at the tail and release the lock; a sleeping consumer is
 * woken after unlocking. Called with q->mu held and room in the queue. */
static void queue_put_unlock(queue *q, const void *item)
{
    size_t tail = (q->head + q->len) % q->cap;
    memcpy(q->items + tail * q->item_size, item, q->item_size);
    q->len++;
    bool wake = q->pop_waiters > 0;
    pthread_mutex_unlock(&q->mu);
    /* A sleeper counted under the lock is asleep or about to recheck len
     * under it, so a signal after unlocking is never lost. */
    if (wake)
        pthread_cond_signal(&q->not_empty);
}

atp_err queue_push(queue *q, const void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == q->cap && !q->closed) {
        q->push_waiters++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->push_waiters--;
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return ATP_E_BAD_STATE;
    }
    queue_put_unlock(q, item);
    return ATP_OK;
}

atp_err queue_try_push(queue *q, const void *item)
{
    pthread_mutex_lock(&q->mu);
    if (q->closed || q->len == q->cap) {
        atp_err err = q->closed ? ATP_E_BAD_STATE : ATP_E_BUSY;
        pthread_mutex_unlock(&q->mu);
        return err;
    }
    queue_put_unlock(q, item);
    return ATP_OK;
}

atp_err queue_pop(queue *q, void *item, int64_t timeout_ms)
{
    struct timespec deadline = clock_deadline_ms(timeout_ms);
    pthread_mutex_lock(&q->mu);
    while (q->len == 0 && !q->closed) {
        int rc = 0;
        q->pop_waiters++;
        if (timeout_ms < 0)
            pthread_cond_wait(&q->not_empty, &q->mu);
        else
            rc = pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline);
        q->pop_waiters--;
        if (rc == ETIMEDOUT) {
            if (q->len > 0)
                break;
            pthread_mutex_unlock(&q->mu);
            return ATP_E_TIMEOUT;
        }
    }
    if (q->len == 0) { /* closed and drained */
        pthread_mutex_unlock(&q->mu);
        return ATP_E_BAD_STATE;
    }
    memcpy(item, q->items + q->head * q->item_size, q->item_size);
    q->head = (q->head + 1) % q->cap;
    q->len--;
    bool wake = q->push_waiters > 0;
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->not_full);
    return ATP_OK;
}

void queue_close(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

size_t queue_len(queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
