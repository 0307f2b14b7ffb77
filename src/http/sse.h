/*
 * sse.h - the change feed as Server-Sent Events (GET /v1/changes,
 * docs/HTTP.md): the streams, their filters and buffers, fed by the
 * changes thread. No HTTP library here: the glue gives each stream two
 * callbacks, called with the stream's lock held so that a wake-up is never
 * lost between "nothing to send" and "here is an event".
 */
#ifndef ATP_HTTP_SSE_H
#define ATP_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "changes/changes.h"
#include "config/config.h"
#include "http/http_int.h"

typedef struct http_sse http_sse;
typedef struct http_sse_stream http_sse_stream;

/* The glue's side of a stream: sleep(ctx) when the stream has nothing to
 * send (the glue stops polling it), wake(ctx) when it has again (or has
 * ended); each called with the stream's lock held, wake only after a
 * sleep. */
typedef struct http_sse_io {
    void (*sleep)(void *ctx);
    void (*wake)(void *ctx);
    void *ctx;
} http_sse_io;

/* http_sse_alloc registers the streams as a listener of chg (before
 * changes_start); chg NULL (unit tests): nothing is registered, the
 * feed's sequence reads as 0, and events come through http_sse_feed. */
atp_err http_sse_alloc(const config *cfg, changes *chg, http_sse **out);
void http_sse_free(http_sse *s);

/* http_sse_open opens a stream for call c (fields region and sku filter
 * it: an absent region is every region; sku is exact). last_event_id: the
 * request's Last-Event-ID header or NULL. Returns the stream, or NULL
 * with *err and msg (unknown_region, bad_sku, bad_request, nomem). Any
 * thread. */
http_sse_stream *http_sse_open(http_sse *s, const http_call *c,
                               const char *last_event_id, http_sse_io io,
                               atp_err *err, char *msg, size_t msg_cap);
/* http_sse_read copies up to n bytes of the stream's pending text into
 * buf. Returns the count; 0: nothing now (io.sleep was called, io.wake
 * will be); -1: the stream has ended (atpd stopping). */
ssize_t http_sse_read(http_sse_stream *st, char *buf, size_t n);
/* http_sse_close forgets the stream (the connection is gone). */
void http_sse_close(http_sse_stream *st);
/* http_sse_end_all ends every stream (waking the sleeping ones): their
 * reads return -1 from now on. */
void http_sse_end_all(http_sse *s);
/* http_sse_feed is the changes listener (changes thread): ev NULL is a
 * tick (keep-alives, and streams closed since are freed). */
void http_sse_feed(void *arg, const changes_event *ev);
/* http_sse_keepalive_set: the silence after which a stream gets a
 * keep-alive comment (15 s; unit tests shorten it). Before streams open. */
void http_sse_keepalive_set(http_sse *s, int64_t ms);
/* http_sse_count: streams open now. */
size_t http_sse_count(http_sse *s);

#endif
