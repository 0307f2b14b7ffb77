/*
 * names.h - a string -> index map over an array of ids (regions,
 * locations, channels), for the hot paths that resolve ids from the wire.
 * Built once; then any number of threads may look up concurrently, while
 * one writer at a time may add ids (names_insert): a slot goes from empty
 * to filled once and never changes again, its id published last with a
 * release store, so a lookup finds an added id whole or not at all.
 */
#ifndef ATP_NAMES_H
#define ATP_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

typedef struct names_slot {
    const char *id; /* borrowed from the caller's array; NULL = empty */
    uint32_t len;
    uint32_t index;
} names_slot;

typedef struct names {
    names_slot *slots;
    size_t cap; /* power of two, at least twice the count */
} names;

/* names_init indexes ids[0..n) (borrowed: they must outlive the map).
 * A repeated id keeps its first index; a NULL entry is not indexed. */
atp_err names_init(names *m, const char *const *ids, size_t n);
void names_fini(names *m);

/* names_find returns the index of the id (ptr, len) or -1. */
int64_t names_find(const names *m, const char *ptr, size_t len);

/* names_insert adds id (borrowed, as names_init's) with index: ATP_OK,
 * ATP_E_CONFLICT (the map has the id), ATP_E_BAD_STATE (the map holds
 * half its capacity already: names_init sized it for its n entries, NULL
 * ones included, so there is room for as many ids as it had NULLs). One
 * writer at a time; lookups may run meanwhile. Linear in the capacity. */
atp_err names_insert(names *m, const char *id, uint32_t index);

#endif
