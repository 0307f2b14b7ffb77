/*
 * feed_replay.c - bounded replay log of one source (see feed_replay.h).
 * Main thread of atp-feed.
 */
#include "feed_replay.h"

#include <stdlib.h>
#include <string.h>

atp_err feed_replay_init(feed_replay *r, size_t max_msgs, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->cap = max_msgs;
    r->max_bytes = max_bytes;
    if (max_msgs == 0)
        return ATP_OK;
    r->ring = calloc(max_msgs, sizeof *r->ring);
    return r->ring != NULL ? ATP_OK : ATP_E_NOMEM;
}

static void feed_replay_pop(feed_replay *r)
{
    feed_replay_entry *e = &r->ring[r->head];
    r->bytes -= e->len;
    free(e->buf);
    e->buf = NULL;
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

static void feed_replay_clear(feed_replay *r)
{
    while (r->n > 0)
        feed_replay_pop(r);
    r->head = 0;
}

void feed_replay_fini(feed_replay *r)
{
    if (r->ring != NULL)
        feed_replay_clear(r);
    free(r->ring);
    memset(r, 0, sizeof *r);
}

atp_err feed_replay_add(feed_replay *r, uint64_t seq, const void *buf,
                        size_t len)
{
    if (r->cap == 0)
        return ATP_OK;
    uint64_t first, last;
    if (feed_replay_range(r, &first, &last) && seq != last + 1)
        feed_replay_clear(r);
    if (r->max_bytes > 0 && len > r->max_bytes) {
        r->evicted += r->n;
        feed_replay_clear(r); /* keeping older ones would leave a hole */
        return ATP_OK;
    }
    while (r->n > 0 && (r->n == r->cap ||
                        (r->max_bytes > 0 && r->bytes + len > r->max_bytes))) {
        feed_replay_pop(r);
        r->evicted++;
    }
    void *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        feed_replay_clear(r);
        return ATP_E_NOMEM;
    }
    memcpy(copy, buf, len);
    feed_replay_entry *e = &r->ring[(r->head + r->n) % r->cap];
    e->seq = seq;
    e->buf = copy;
    e->len = len;
    r->n++;
    r->bytes += len;
    return ATP_OK;
}

bool feed_replay_range(const feed_replay *r, uint64_t *first, uint64_t *last)
{
    if (r->n == 0)
        return false;
    *first = r->ring[r->head].seq;
    *last = r->ring[(r->head + r->n - 1) % r->cap].seq;
    return true;
}

bool feed_replay_get(const feed_replay *r, uint64_t seq, const void **buf,
                     size_t *len)
{
    uint64_t first, last;
    if (!feed_replay_range(r, &first, &last) || seq < first || seq > last)
        return false;
    const feed_replay_entry *e = &r->ring[(r->head + (seq - first)) % r->cap];
    *buf = e->buf;
    *len = e->len;
    return true;
}
