/*
 * bench_redis.h - the Redis 7 baseline: what a team runs today for ATP.
 *
 * Data: one hash per (sku, region) "a:<sku>:<region>" with fields s
 * (supply), r (reserved), bu / bp (the matching buffer rule's units and
 * percent in basis points). Scripts (EVALSHA): a cart check with buffers
 * (also used for one line), an all-or-nothing reservation, commit, release.
 * The durable comparison runs redis-server with appendonly yes and
 * appendfsync always. Clients: n connections with pipelining, driven by one
 * event-loop thread (poll), hiredis for the protocol.
 *
 * Built only when hiredis is found (ATP_BENCH_HAVE_HIREDIS); otherwise
 * bench_redis_available() is false and every call fails with a message.
 */
#ifndef ATP_BENCH_REDIS_H
#define ATP_BENCH_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "bench_load.h"
#include "bench_work.h"

bool bench_redis_available(void);

/* The row values preloaded for (sku, region). */
typedef void (*bench_redis_row_fn)(void *ctx, uint32_t sku, uint32_t region,
                                   int64_t *supply, int64_t *buf_units,
                                   int64_t *buf_pct_bp);

typedef struct bench_redis bench_redis;

/* bench_redis_open connects to 127.0.0.1:port (a blocking control
 * connection), loads the scripts. */
atp_err bench_redis_open(int port, bench_redis **out, char *err, size_t errlen);
/* bench_redis_preload writes every (sku, region) of w with row(). */
atp_err bench_redis_preload(bench_redis *r, const bench_work *w,
                            bench_redis_row_fn row, void *ctx, char *err,
                            size_t errlen);
/* bench_redis_version writes the server's version ("7.0.15"). */
void bench_redis_version(bench_redis *r, char *buf, size_t len);
/* bench_redis_reserved_total sums field r of the given SKUs' hashes (for
 * the flash-sale check). */
int64_t bench_redis_field(bench_redis *r, const bench_work *w, uint32_t sku,
                          uint32_t region, const char *field);
void bench_redis_close(bench_redis *r);

typedef struct bench_redis_be bench_redis_be;

/* bench_redis_be_open opens n_conns pipelined connections carrying n_slots
 * requests in flight in all, and the loop thread. r gives the script SHAs;
 * w is borrowed. */
atp_err bench_redis_be_open(bench_redis *r, int port, unsigned n_conns,
                            unsigned n_slots, const bench_work *w,
                            bench_redis_be **out, char *err, size_t errlen);
void bench_redis_be_backend(bench_redis_be *b, bench_backend *out);
void bench_redis_be_close(bench_redis_be *b);

#endif
