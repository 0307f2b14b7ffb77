/*
 * arena.c - codec_arena: a msgpack zone that holds everything one decoded
 * message needs. Used by one thread at a time (the one decoding).
 */
#include <stdlib.h>

#include "codec/codec_int.h"

/* One chunk holds a 100-event source batch (about 21 KiB of objects and
 * events) so the steady state needs no malloc per message; clear keeps the
 * first chunk. */
#define CODEC_ARENA_CHUNK_SIZE (32 * 1024)

codec_arena *codec_arena_alloc(void)
{
    codec_arena *a = malloc(sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    if (!msgpack_zone_init(&a->zone, CODEC_ARENA_CHUNK_SIZE)) {
        free(a);
        return NULL;
    }
    return a;
}

void codec_arena_free(codec_arena *a)
{
    if (a == NULL) {
        return;
    }
    msgpack_zone_destroy(&a->zone);
    free(a);
}

void codec_arena_clear(codec_arena *a)
{
    msgpack_zone_clear(&a->zone);
}

void *codec_arena_malloc(codec_arena *a, size_t n)
{
    return msgpack_zone_malloc(&a->zone, n);
}
