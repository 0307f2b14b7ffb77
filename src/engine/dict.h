/*
 * dict.h - string -> dense index dictionary (SKUs) with one writer and
 * lock-free readers.
 *
 * Thread rules: dict_intern is called only by the engine thread. dict_find
 * and dict_key may be called from any thread at any time, without locks.
 * Indices are dense (0, 1, 2, ...) and never reused; keys never move.
 *
 * How readers stay safe: a key's bytes and its slot in the key directory are
 * written before the hash slot that points at it is published (release);
 * readers load the slot with acquire. When the table grows, the writer
 * builds a new one and swaps the pointer; old tables are kept until
 * dict_free (their total is smaller than the live table, and dict_memory
 * counts them), so a reader still probing an old table reads valid memory
 * and at worst misses a key that was being added concurrently. Freeing them
 * earlier would need readers to announce themselves (an epoch per reader),
 * a cost on every query for a few MB; pre-sizing (dict_reserve) avoids most
 * growth instead.
 *
 * Batches: dict_hash + dict_prefetch + dict_prefetch_key let a caller
 * overlap the cache misses of many lookups (software pipelining), then
 * finish each with dict_find_hashed / dict_intern_hashed.
 */
#ifndef ATP_DICT_H
#define ATP_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

#define DICT_NONE UINT32_MAX
/* Keys up to this long live inside their entry; longer ones take arena
 * bytes too (dict_reserve's n_bytes counts only those). */
#define DICT_INLINE 28

typedef struct dict dict;

atp_err dict_alloc(uint32_t max_keys, dict **out);
void dict_free(dict *d);

/* dict_intern returns the index of key, adding it if new (writer only).
 * ATP_E_NOMEM, or ATP_E_TOO_LARGE when max_keys is reached. */
atp_err dict_intern(dict *d, const char *key, size_t len, uint32_t *idx);

/* dict_reserve makes sure that n_keys more keys can be interned without
 * allocating, of which the ones longer than DICT_INLINE total n_bytes
 * (writer only). ATP_E_NOMEM if it cannot. */
atp_err dict_reserve(dict *d, uint32_t n_keys, size_t n_bytes);

/* dict_find returns the index of key or DICT_NONE (any thread). */
uint32_t dict_find(const dict *d, const char *key, size_t len);

/* dict_hash is the hash the two functions below take (any thread). */
uint32_t dict_hash(const char *key, size_t len);
/* dict_prefetch starts loading the table slot of hash h; dict_prefetch_key
 * reads that slot and starts loading the key entry it points at. Hints
 * only: they change nothing (any thread). */
void dict_prefetch(const dict *d, uint32_t h);
void dict_prefetch_key(const dict *d, uint32_t h);
/* dict_find_hashed / dict_intern_hashed: dict_find / dict_intern with
 * h = dict_hash(key, len) already computed. */
uint32_t dict_find_hashed(const dict *d, uint32_t h, const char *key,
                          size_t len);
atp_err dict_intern_hashed(dict *d, uint32_t h, const char *key, size_t len,
                           uint32_t *idx);

/* dict_key returns the key of a published index (any thread); *len set. */
const char *dict_key(const dict *d, uint32_t idx, size_t *len);

/* dict_count returns how many keys are published (any thread). */
uint32_t dict_count(const dict *d);

/* dict_memory returns bytes allocated, for status and benchmarks. */
size_t dict_memory(const dict *d);

#endif
