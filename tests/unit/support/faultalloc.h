/*
 * faultalloc.h - allocation failure injection for unit tests, in the manner
 * of SQLite's out-of-memory tests: run a scenario once for every
 * allocation it makes, failing exactly that one, and check that each run
 * ends in a clean error (no crash, no leak, no half-applied change).
 *
 * A test links tests/unit/support/faultalloc.c with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 * --wrap=bigmem_alloc,--wrap=bigmem_realloc (tests/CMakeLists.txt,
 * atp_fault_alloc_test): every call our code makes goes through here;
 * calls inside other libraries (libc, libyaml, msgpack, nng) do not.
 * Any thread.
 */
#ifndef ATP_TEST_FAULTALLOC_H
#define ATP_TEST_FAULTALLOC_H

#include <stdbool.h>

/* faultalloc_arm: count allocations from 0 and fail the one numbered at
 * (and, with persistent, every one after it). */
void faultalloc_arm(long at, bool persistent);

/* faultalloc_disarm stops failing; returns how many allocations failed
 * since faultalloc_arm (0: the scenario made fewer than at + 1). */
long faultalloc_disarm(void);

/* faultalloc_calls: allocations counted since faultalloc_arm. */
long faultalloc_calls(void);

#endif
