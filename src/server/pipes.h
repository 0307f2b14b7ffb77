/*
 * pipes.h - when each connection of the query socket last did something,
 * so that idle ones can be closed (service.query_idle_timeout).
 *
 * nng 1.5.2 has no idle timeout on a REP socket: a client that connects,
 * finishes the SP handshake and then sends nothing, or drips a message a
 * byte at a time (bounded in size by NNG_OPT_RECVMAXSZ, not in time),
 * holds a file descriptor and a pipe for as long as it likes. The server
 * records every pipe here when nng attaches it, touches it when a request
 * arrives from it or its reply goes out, and closes the ones that
 * pipes_take_idle returns.
 *
 * A table of pipe ids (nng's, never 0) with a time each, open addressing
 * with linear probing: a touch is one hash and a few compares, cheap next
 * to a request (tens of microseconds). Pure: no lock, no clock (callers
 * pass now_ms and serialize the calls; the server holds one mutex).
 */
#ifndef ATP_SERVER_PIPES_H
#define ATP_SERVER_PIPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct pipes {
    uint32_t *ids;    /* 0: empty slot */
    int64_t *last_ms; /* when the pipe last did something */
    size_t cap;       /* a power of two, or 0 before the first add */
    size_t n;         /* pipes in the table */
} pipes;

/* pipes_fini frees the table; a zeroed pipes is an empty table. */
void pipes_fini(pipes *t);

/* pipes_add records pipe id (not 0) as active at now_ms (an id already
 * there is touched). ATP_E_NOMEM when the table cannot grow: the pipe is
 * then not watched, and never closed for idleness. */
atp_err pipes_add(pipes *t, uint32_t id, int64_t now_ms);

/* pipes_touch: pipe id did something at now_ms. false: not in the table
 * (removed already, or never added); nothing changes. */
bool pipes_touch(pipes *t, uint32_t id, int64_t now_ms);

/* pipes_remove forgets pipe id (it closed); false if it was not there. */
bool pipes_remove(pipes *t, uint32_t id);

/* pipes_take_idle removes up to max pipes idle for idle_ms or longer at
 * now_ms (last_ms <= now_ms - idle_ms), writes their ids to out and
 * returns how many. */
size_t pipes_take_idle(pipes *t, int64_t now_ms, int64_t idle_ms, uint32_t *out,
                       size_t max);

#endif
