/*
 * relay.h - the change feed of the other partitions of a cluster
 * (docs/CLUSTER.md, "The change feed across partitions"): whole messages
 * their owners published, received from NATS by the cluster module on
 * its threads, queued here and sent on this node's PUB socket as they
 * are by the changes thread at its next interval.
 */
#ifndef ATP_CHANGES_RELAY_H
#define ATP_CHANGES_RELAY_H

#include <nng/nng.h>
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

/* changes_relay_flush sends every queued message on sock, or lets them
 * go when send is false (no subscriber). Changes thread. */
void changes_relay_flush(changes_relay *r, nng_socket sock, bool send);

/* changes_relay_stats: messages sent, and dropped (full queue, send
 * failure), since start. Any thread. */
void changes_relay_stats(changes_relay *r, uint64_t *sent, uint64_t *dropped);

#endif
