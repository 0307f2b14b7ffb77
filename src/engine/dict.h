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
 * dict_free (their total is smaller than the live table), so a reader still
 * probing an old table reads valid memory and at worst misses a key that
 * was being added concurrently.
 */
#ifndef ATP_DICT_H
#define ATP_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

#define DICT_NONE UINT32_MAX

typedef struct dict dict;

atp_err dict_alloc(uint32_t max_keys, dict **out);
void dict_free(dict *d);

/* dict_intern returns the index of key, adding it if new (writer only).
 * ATP_E_NOMEM, or ATP_E_TOO_LARGE when max_keys is reached. */
atp_err dict_intern(dict *d, const char *key, size_t len, uint32_t *idx);

/* dict_reserve makes sure that n_keys more keys totalling n_bytes can be
 * interned without allocating (writer only). ATP_E_NOMEM if it cannot. */
atp_err dict_reserve(dict *d, uint32_t n_keys, size_t n_bytes);

/* dict_find returns the index of key or DICT_NONE (any thread). */
uint32_t dict_find(const dict *d, const char *key, size_t len);

/* dict_key returns the key of a published index (any thread); *len set. */
const char *dict_key(const dict *d, uint32_t idx, size_t *len);

/* dict_count returns how many keys are published (any thread). */
uint32_t dict_count(const dict *d);

/* dict_memory returns bytes allocated, for status and benchmarks. */
size_t dict_memory(const dict *d);

#endif
