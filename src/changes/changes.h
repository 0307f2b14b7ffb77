/*
 * changes.h - the change feed: an nng PUB socket publishing, at most once
 * per (SKU, region) per interval, the latest ATP of every channel with
 * transition marks and sequence numbers (docs/PROTOCOL.md, "Change feed").
 *
 * Threads: one changes thread (changes_start) takes the rows the engine
 * marked as changed every service.feed_interval, reads them lock-free and
 * publishes. changes_seq/changes_region_seq/changes_stats_get may be called
 * from any thread.
 */
#ifndef ATP_CHANGES_H
#define ATP_CHANGES_H

#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"
#include "engine/engine.h"

typedef struct changes changes;

typedef struct changes_stats {
    uint64_t published; /* messages sent since start */
    uint64_t flushes;   /* intervals that had something to publish */
    uint64_t send_failures;
    uint64_t subscribers;      /* connected SUB pipes now */
    uint64_t pickup_published; /* pickup feed messages sent since start */
    uint64_t pickup_dropped;   /* pickup feed changes lost (memory, send) */
    uint64_t relayed;          /* other partitions' messages sent on */
    uint64_t relay_dropped;    /* other partitions' messages lost here */
} changes_stats;

/* changes_alloc opens the PUB socket on cfg->service.feed_listen and tells
 * the engine to start marking changed rows. Call before engine_start. */
atp_err changes_alloc(const config *cfg, engine *eng, changes **out);
atp_err changes_start(changes *c);
/* changes_listen_url: the URL the feed listens on, with the port the
 * system chose when the configured one is 0 (valid until changes_free). */
const char *changes_listen_url(const changes *c);
/* changes_stop publishes nothing more and waits for the thread. */
void changes_stop(changes *c);
void changes_free(changes *c);

/* changes_seq is the global sequence of the last message published: a scan
 * that reads it before reading rows is consistent with it (every change a
 * scan misses comes later in the feed with a higher sequence). */
uint64_t changes_seq(const changes *c);
/* changes_region_seq is the same for one region's own sequence. */
uint64_t changes_region_seq(const changes *c, uint32_t region);

void changes_stats_get(const changes *c, changes_stats *out);

/* A message as a second consumer sees it (the HTTP event streams). */
typedef struct changes_event {
    uint32_t region;
    const char *sku;
    size_t sku_len;
    uint64_t seq;
    const void *body; /* the msgpack map the PUB message carries */
    size_t body_len;
} changes_event;

/* changes_listener_set registers fn, called on the changes thread for
 * every message published (ev) and once per feed interval with ev NULL
 * (a tick, for keep-alives). fn must not block. Call before
 * changes_start, at most once. */
typedef void (*changes_listener_fn)(void *arg, const changes_event *ev);
void changes_listener_set(changes *c, changes_listener_fn fn, void *arg);
/* changes_listener_watch: delta +1/-1 as the listener gains or loses a
 * consumer; while it has none (and no SUB is connected) nothing is built.
 * Any thread. */
void changes_listener_watch(changes *c, int delta);

/* Several partitions of a cluster (docs/CLUSTER.md, "The change feed
 * across partitions"). changes_mirror_set: fn gets every whole message
 * (topic and body) this node publishes, on the changes thread, also while
 * no SUB is connected here; set before changes_start. changes_relay_msg
 * (arg: the changes): a whole message another partition's owner
 * published, sent on this node's PUB socket as it is at the next
 * interval (at most CHANGES_RELAY_MAX wait; more are dropped and
 * counted). Any thread. */
typedef void (*changes_mirror_fn)(void *arg, const void *msg, size_t len);
void changes_mirror_set(changes *c, changes_mirror_fn fn, void *arg);
void changes_relay_msg(void *arg, const void *msg, size_t len);

#endif
