/*
 * heap.h - an intrusive binary min-heap on an int64_t key (a due time).
 *
 * The element embeds a heap_node; the heap holds pointers to the nodes and
 * each node keeps its own index in the heap, so an element is removed or
 * given a new key in O(log n) without a search, and being in the heap
 * costs the element 16 bytes and the heap one pointer. Ties come out in
 * no particular order.
 *
 * Used by the engine for reservation expiry (engine/resv_table.c) and for
 * inbound lots waiting to enter their region's horizon (engine/lots.c).
 * Not thread-safe: one thread owns a heap and its nodes (the engine
 * thread; main before it starts).
 */
#ifndef ATP_HEAP_H
#define ATP_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* HEAP_NONE: the node's index when it is in no heap. */
#define HEAP_NONE SIZE_MAX

typedef struct heap_node {
    int64_t key; /* smallest first; set freely while out of the heap, else
                    only through heap_update */
    size_t idx;  /* the heap's to keep: HEAP_NONE when out of it */
} heap_node;

typedef struct heap {
    heap_node **items;
    size_t n, cap;
    size_t first_cap; /* capacity of the first allocation */
} heap;

/* HEAP_ENTRY: the element that embeds node as its field member. */
#define HEAP_ENTRY(node, type, member)                                         \
    ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* heap_init: an empty heap in the caller's storage; it allocates room for
 * first_cap nodes at the first push (0: 64) and doubles from there. A
 * zeroed heap is an empty one too, with first_cap 64. */
void heap_init(heap *h, size_t first_cap);

/* heap_fini frees the heap's array; the nodes are the caller's. */
void heap_fini(heap *h);

/* heap_node_init marks x as in no heap (call before its first push). */
static inline void heap_node_init(heap_node *x)
{
    x->idx = HEAP_NONE;
}

/* heap_node_queued: is x in a heap now? */
static inline bool heap_node_queued(const heap_node *x)
{
    return x->idx != HEAP_NONE;
}

/* heap_min returns the node with the smallest key, NULL when empty. */
static inline heap_node *heap_min(const heap *h)
{
    return h->n > 0 ? h->items[0] : NULL;
}

static inline size_t heap_count(const heap *h)
{
    return h->n;
}

/* heap_push adds x (in no heap) with its key. Returns false when out of
 * memory; x is then still in no heap and the heap unchanged. */
bool heap_push(heap *h, heap_node *x);

/* heap_remove takes x out of h; a no-op when x is in no heap. */
void heap_remove(heap *h, heap_node *x);

/* heap_update gives x, which is in h, a new key. */
void heap_update(heap *h, heap_node *x, int64_t key);

/* heap_check: every node's index is its place and no child is smaller
 * than its parent. O(n): for tests and ATP_DASSERT. */
bool heap_check(const heap *h);

/* heap_memory: the bytes the heap's array holds. */
size_t heap_memory(const heap *h);

#endif
