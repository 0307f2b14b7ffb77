/*
 * queue.h - bounded multi-producer, single-consumer queue of fixed-size
 * items, with blocking push (backpressure) and timed pop.
 *
 * A mutex and two condition variables: the queue carries batches of many
 * events, so one lock round trip per batch is noise next to the work it
 * carries, and a blocked producer is the intended backpressure.
 *
 * The reservation path pushes one small command per request, so a push
 * must not cost a wake-up nobody waits for: each side counts its sleepers
 * and the other side signals only when there is one, after unlocking (a
 * woken thread then does not run straight into the lock we still hold).
 */
#ifndef ATP_QUEUE_H
#define ATP_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    unsigned char *items;
    size_t item_size;
    size_t cap;
    size_t head; /* next to pop */
    size_t len;
    unsigned pop_waiters, push_waiters; /* threads asleep in pop / push */
    bool closed;
} queue;

atp_err queue_init(queue *q, size_t item_size, size_t cap);
void queue_fini(queue *q);

/* queue_push copies item in; blocks while full. ATP_E_BAD_STATE if closed. */
atp_err queue_push(queue *q, const void *item);

/* queue_try_push copies item in if there is room, never waiting:
 * ATP_E_BUSY when full, ATP_E_BAD_STATE if closed. For callers that must
 * not block (nng callbacks). */
atp_err queue_try_push(queue *q, const void *item);

/* queue_pop copies the oldest item out. Waits at most timeout_ms (-1:
 * forever). Returns ATP_OK, ATP_E_TIMEOUT, or ATP_E_BAD_STATE when closed
 * and empty. */
atp_err queue_pop(queue *q, void *item, int64_t timeout_ms);

/* queue_close wakes everyone; pushes fail, pops drain what is left. */
void queue_close(queue *q);

size_t queue_len(queue *q);

#endif
