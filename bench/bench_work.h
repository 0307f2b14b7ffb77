/*
 * bench_work.h - atp-bench's workload model: the SKUs and regions it uses,
 * the logical requests it sends (one line, a cart, reservation operations)
 * and their encoding for atpd (msgpack through the codec).
 *
 * A logical request is encoded per system: for atpd and the echo floor as
 * the same msgpack bytes, for Redis as EVALSHA arguments (bench_redis.c),
 * so every system sees exactly the same work. Pure code, no I/O: safe from
 * any thread as long as a bench_work is not modified while in use.
 */
#ifndef ATP_BENCH_WORK_H
#define ATP_BENCH_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

typedef enum bench_op {
    BENCH_OP_ATP,
    BENCH_OP_CART,
    BENCH_OP_RESERVE,
    BENCH_OP_COMMIT,
    BENCH_OP_RELEASE,
    BENCH_OP_COUNT,
} bench_op;

const char *bench_op_name(unsigned op);

/* What a scenario does after a reservation is granted. */
typedef enum bench_follow {
    BENCH_FOLLOW_NONE,
    BENCH_FOLLOW_COMMIT,
    BENCH_FOLLOW_RELEASE,
    BENCH_FOLLOW_EXPIRE, /* nothing: the short TTL lets it expire */
} bench_follow;

typedef struct bench_line {
    uint32_t sku;    /* index into bench_work.skus */
    uint32_t region; /* index into bench_work.regions */
    int64_t qty;
} bench_line;

/* Outcome classes of one request. */
typedef enum bench_status {
    BENCH_ST_OK,      /* answered; for reserve: granted; cart: available */
    BENCH_ST_REFUSED, /* answered: reserve refused / cart not available */
    BENCH_ST_ERROR,   /* error reply, transport error, timeout */
} bench_status;

/* A logical request and, once done, its outcome. Owned by the runner while
 * in flight; lines are owned (freed with the request) unless lines_shared. */
typedef struct bench_req {
    struct bench_req *next; /* queue link (runner) */
    uint8_t op;             /* bench_op */
    uint8_t follow;         /* bench_follow, for reserve */
    bool lines_shared;      /* lines belong to someone else (replay plan) */
    bool release_lines;     /* release only these lines (else everything) */
    bool measured;          /* intended inside the measurement window */
    uint32_t n_lines;
    bench_line *lines;
    uint64_t resv;       /* reservation number (reserve/commit/release) */
    int64_t ttl_ms;      /* reserve: 0 = atpd's default */
    int64_t intended_ns; /* when it was meant to be sent (monotonic) */
    int64_t sent_ns;
    /* outcome */
    uint8_t status; /* bench_status */
    int err_code; /* atp_err of an error reply, or ATP_E_TIMEOUT / TRANSPORT */
    uint32_t reply_len;
    uint32_t req_len;
} bench_req;

typedef struct bench_work {
    char **skus;       /* SKU ids */
    uint32_t *sku_len; /* their lengths: requests are encoded at full rate */
    uint32_t n_skus;
    char **regions; /* region ids, configuration order */
    uint32_t *region_len;
    uint32_t n_regions;
    char *channel;        /* channel of every request */
    char resv_prefix[48]; /* reservation ids: <prefix><resv> */
    /* atpd's client token (--token, $ATP_TOKEN; docs/SECURITY.md), NULL:
     * none. Borrowed. Every atpd request carries it: the map's "token"
     * (first) over nng, Authorization: Bearer over HTTP. */
    const char *token;
    int64_t committed_ttl_ms;
    int fill;           /* reserves: BENCH_FILL_* (--reserve-fill) */
    uint32_t max_lines; /* reservations.max_lines: a split cart's lines
                           count twice (0: no limit known) */
    bool kits;          /* ATP requests ask KIT-<sku> (--query-bundles) */
    bool promise;       /* ATP requests are `promise` (--query-promise) */
} bench_work;

enum {
    BENCH_FILL_PLAIN,
    BENCH_FILL_PARTIAL,
    BENCH_FILL_SPLIT,
    BENCH_FILL_BACKORDER
};

/* bench_work_init_synthetic names SKUs <prefix>0 .. <prefix>n-1. Regions
 * are copied. Returns false on out of memory. */
bool bench_work_init(bench_work *w, const char *sku_prefix, uint32_t n_skus,
                     char *const *regions, uint32_t n_regions,
                     const char *channel);
/* bench_work_set_skus replaces the SKU table with a copy of names. */
bool bench_work_set_skus(bench_work *w, char *const *names, uint32_t n);
void bench_work_fini(bench_work *w);

/* bench_req_alloc returns a zeroed request with room for n lines (owned). */
bench_req *bench_req_alloc(uint8_t op, uint32_t n_lines);
void bench_req_free(bench_req *r);

/* bench_resv_id writes the reservation id of number n into buf. */
int bench_resv_id(const bench_work *w, uint64_t n, char *buf, size_t len);

/* bench_encode_atpd writes r as an atpd request (docs/PROTOCOL.md). */
void bench_encode_atpd(const bench_work *w, const bench_req *r,
                       codec_writer *cw);

/* bench_classify_atpd reads an atpd reply: status, error code. */
void bench_classify_atpd(const void *buf, size_t len, uint8_t op,
                         uint8_t *status, int *err_code);

/* ---- random numbers and distributions --------------------------------- */

typedef struct bench_rng {
    uint64_t s;
} bench_rng;

uint64_t bench_rng_next(bench_rng *r);
/* [0, n) for n >= 1 */
uint64_t bench_rng_below(bench_rng *r, uint64_t n);
double bench_rng_unit(bench_rng *r);

/* Basket sizes (lines per cart): an empirical quantile table sampled by
 * log-linear interpolation. The default is the UCI Online Retail figures
 * (p50 15, p90 53, p99 217, p99.9 ~600, max 1114). */
typedef struct bench_basket {
    double q[16];
    double v[16];
    unsigned n;
} bench_basket;

void bench_basket_default(bench_basket *b);
/* bench_basket_from_sizes builds the table from observed sizes (sorted in
 * place). Returns false when n == 0. */
bool bench_basket_from_sizes(bench_basket *b, uint32_t *sizes, size_t n);
/* bench_basket_draw returns a size in [1, cap]. */
uint32_t bench_basket_draw(const bench_basket *b, bench_rng *r, uint32_t cap);
/* bench_basket_quantile returns the table's q-quantile (for the report). */
double bench_basket_quantile(const bench_basket *b, double q);

/* bench_sku_pick draws a SKU index in [lo, hi) with an 80/20 hot set (80 %
 * of picks go to the first fifth), like atp-feed. */
uint32_t bench_sku_pick(bench_rng *r, uint32_t lo, uint32_t hi);

#endif
