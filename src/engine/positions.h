/*
 * positions.h - the stock position of every (SKU, location): on_hand,
 * allocated, held (and, later, inbound lots).
 *
 * Owned by the engine thread: no locking, no other thread may touch it.
 * Readers never see positions directly; they read the per-(SKU, region)
 * aggregates the engine derives from them.
 *
 * Open addressing keyed by ((sku + 1) << 16 | location) (the + 1 keeps
 * key 0 free to mark an empty slot), 32 bytes an entry, grown at load 3/4:
 * about 43..86 bytes per position (51 at 10M). The key's top bit marks a
 * position changed since the last snapshot, so dirty tracking costs no
 * space. Inbound quantities (lots inside the horizon) are rare, so
 * they live in a side table, and the key's next bit says a position has
 * an entry there: the common position does not pay 8 bytes for them.
 */
#ifndef ATP_POSITIONS_H
#define ATP_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

#define POSITION_DIRTY (1ULL << 63)
#define POSITION_INBOUND (1ULL << 62) /* has an entry in the inbound table */
#define POSITION_PICKUP (1ULL << 61)  /* marked for the pickup feed */
#define POSITION_KEY_MASK                                                      \
    (~(POSITION_DIRTY | POSITION_INBOUND | POSITION_PICKUP))

typedef struct position {
    uint64_t key; /* (sku + 1) << 16 | location, | flags above; 0 = empty */
    int64_t bucket[3]; /* indexed by enum atp_bucket */
} position;

/* Sums kept beside the table for a few positions (inbound lots inside
 * the horizon; open reservation lines pinned to a location): open
 * addressing on the position's key (no flags), grown at load 1/2, never
 * removed (such positions are few). The sums are exact in 128 bits: any
 * number of quantities of up to 10^15 may add up, and a saturated running
 * sum would stay wrong after the ones that pushed it over go away. */
typedef struct position_sums {
    uint64_t *keys;
    __int128 *qty;
    size_t cap, used;
} position_sums;

typedef struct positions {
    position *slots; /* bigmem */
    size_t cap;      /* power of two */
    size_t used;
    position_sums inbound; /* per position with POSITION_INBOUND */
} positions;

atp_err positions_init(positions *p, size_t initial);
void positions_fini(positions *p);

/* positions_reserve grows the table now so that n more upserts cannot fail.
 * ATP_E_NOMEM if it cannot. */
atp_err positions_reserve(positions *p, size_t n);

/* positions_get returns the position or NULL. */
position *positions_get(const positions *p, uint32_t sku, uint16_t loc);

/* positions_prefetch starts loading the slot where (sku, loc) would be
 * (a hint for batched applies; changes nothing). */
void positions_prefetch(const positions *p, uint32_t sku, uint16_t loc);

/* positions_upsert returns the position, creating it zeroed if new.
 * NULL on out of memory. The pointer is valid until the next upsert. */
position *positions_upsert(positions *p, uint32_t sku, uint16_t loc);

/* positions_inbound returns the inbound quantity counted for e (0 if
 * none), at most ATP_QTY_SUM_MAX (formula.h). */
int64_t positions_inbound(const positions *p, const position *e);

/* positions_inbound_add adds d to e's inbound quantity. ATP_E_NOMEM (and
 * nothing changed) if its entry cannot be made. e stays valid. */
atp_err positions_inbound_add(positions *p, position *e, int64_t d);

/* positions_memory returns the bytes both tables take. */
size_t positions_memory(const positions *p);

/* position_sums_reserve makes room for n more keys, so that the next n
 * position_sums_add of new keys cannot fail. ATP_E_NOMEM if it cannot. */
atp_err position_sums_reserve(position_sums *s, size_t n);
/* position_sums_get: the sum of (sku, loc), 0 when it has none. */
__int128 position_sums_get(const position_sums *s, uint32_t sku, uint16_t loc);
/* position_sums_add adds d to the sum of (sku, loc), making its entry if
 * it has none: ATP_E_NOMEM (nothing changed) only then, when there is no
 * room and none can be made. */
atp_err position_sums_add(position_sums *s, uint32_t sku, uint16_t loc,
                          __int128 d);
/* position_sums_nonzero_at: how many SKUs have a non-zero sum at loc. */
uint64_t position_sums_nonzero_at(const position_sums *s, uint16_t loc);
void position_sums_fini(position_sums *s);
size_t position_sums_memory(const position_sums *s);

static inline uint32_t position_sku(const position *e)
{
    return (uint32_t)((e->key & POSITION_KEY_MASK) >> 16) - 1;
}
static inline uint16_t position_loc(const position *e)
{
    return (uint16_t)(e->key & 0xffff);
}

#endif
