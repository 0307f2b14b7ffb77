/*
 * feed_replay.h - one source's bounded replay log: the exact bytes of its
 * last messages, by sequence number, so that a `replay` request
 * (docs/PROTOCOL.md, "Resync") can be answered with the original messages.
 *
 * Bounded both in messages and in bytes: the oldest go first. Messages are
 * consecutive (seq = last + 1); anything else restarts the log. Pure: no
 * I/O. Main thread of atp-feed only.
 */
#ifndef ATP_FEED_REPLAY_H
#define ATP_FEED_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct feed_replay_entry {
    uint64_t seq;
    void *buf; /* owned */
    size_t len;
} feed_replay_entry;

typedef struct feed_replay {
    feed_replay_entry *ring;
    size_t cap;       /* max messages kept (0: keep none) */
    size_t max_bytes; /* max bytes kept (0: no byte limit) */
    size_t head;      /* index of the oldest */
    size_t n;
    size_t bytes;
    uint64_t evicted; /* messages pushed out by the bounds */
} feed_replay;

/* feed_replay_init: keep at most max_msgs messages and max_bytes bytes
 * (0: unbounded in bytes). ATP_E_NOMEM. */
atp_err feed_replay_init(feed_replay *r, size_t max_msgs, size_t max_bytes);
void feed_replay_fini(feed_replay *r);

/* feed_replay_add copies buf[0..len) as message seq, evicting the oldest
 * while a bound is exceeded. A seq that is not last + 1 empties the log
 * first. A single message larger than max_bytes is not kept (the log is
 * then empty). ATP_E_NOMEM (the log is then emptied, never wrong). */
atp_err feed_replay_add(feed_replay *r, uint64_t seq, const void *buf,
                        size_t len);

/* feed_replay_range: false when empty, else the first and last seq kept. */
bool feed_replay_range(const feed_replay *r, uint64_t *first, uint64_t *last);

/* feed_replay_get: the message seq if kept (buf borrowed until the next
 * add or fini). */
bool feed_replay_get(const feed_replay *r, uint64_t seq, const void **buf,
                     size_t *len);

#endif
