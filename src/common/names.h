/*
 * names.h - an immutable string -> index map over an array of ids (regions,
 * locations, channels), for the hot paths that resolve ids from the wire.
 * Built once; then any number of threads may look up concurrently.
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

#endif
