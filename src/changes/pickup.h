/*
 * pickup.h - the pickup feed's publisher (docs/PROTOCOL.md, "Pickup
 * feed"): each pickup location's own state per SKU, on the change feed's
 * PUB socket under the topic "pickup" NUL location NUL sku NUL. The engine
 * computes the changes (engine_pickup_take); this part numbers, encodes
 * and sends them. Changes thread only (changes.c calls it every interval).
 */
#ifndef ATP_CHANGES_PICKUP_H
#define ATP_CHANGES_PICKUP_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>

#include "atp/error.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"

typedef struct changes_pickup changes_pickup;

/* changes_pickup_alloc: the publisher's state for cfg's locations; its
 * sequences start at seq_base (changes.c: the start time's, so they grow
 * across restarts). NULL: out of memory. */
changes_pickup *changes_pickup_alloc(const config *cfg, uint64_t seq_base);
void changes_pickup_free(changes_pickup *p);

/* changes_pickup_flush publishes what the engine drained since the last
 * call (nothing is built when nobody listens: send false), then asks the
 * engine for the next drain. w is the caller's scratch writer. Returns the
 * messages sent; *failures counts those that could not be. */
uint64_t changes_pickup_flush(changes_pickup *p, engine *eng, nng_socket sock,
                              bool send, codec_writer *w, uint64_t *failures);

/* changes_pickup_published: messages sent since start (any thread). */
uint64_t changes_pickup_published(const changes_pickup *p);

#endif
