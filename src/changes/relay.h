/*
 * relay.h - the change feed of the other partitions of a cluster
 * (docs/CLUSTER.md, "The change feed across partitions"): whole messages
 * their owners published, received from NATS by the cluster module on
 * its threads, queued here and sent on by the changes thread at its next
 * interval (changes.c: the PUB socket, as they are, and the HTTP event
 * streams).
 */
#ifndef ATP_CHANGES_RELAY_H
#define ATP_CHANGES_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many messages wait for the next interval; more are
 * dropped and counted (a subscriber sees the gap in the partition's
 * sequence, as with any dropped message). */
#define CHANGES_RELAY_MAX 65536

typedef struct changes_relay changes_relay;

/* changes_relay_alloc: an empty queue; NULL when out of memory. */
changes_relay *changes_relay_alloc(void);
void changes_relay_free(changes_relay *r);

/* changes_relay_push copies msg[0..len) into the queue; false when it is
 * full (dropped, counted) or out of memory. Any thread. */
bool changes_relay_push(changes_relay *r, const void *msg, size_t len);

/* changes_relay_flush hands every queued message to send(arg, msg, len),
 * which returns whether it went out (counted as sent, else dropped).
 * Changes thread. */
typedef bool (*changes_relay_send_fn)(void *arg, const void *msg, size_t len);
void changes_relay_flush(changes_relay *r, changes_relay_send_fn send,
                         void *arg);

/* changes_relay_stats: messages sent, and dropped (full queue, send
 * failure), since start. Any thread. */
void changes_relay_stats(changes_relay *r, uint64_t *sent, uint64_t *dropped);

#endif
