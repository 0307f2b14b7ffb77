/*
 * heap.c - the intrusive min-heap (heap.h). Any thread; one owner per heap.
 */
#include "common/heap.h"

#include <stdlib.h>

#include "common/assert.h"

#define HEAP_FIRST_CAP 64

void heap_init(heap *h, size_t first_cap)
{
    *h = (heap){.first_cap = first_cap ? first_cap : HEAP_FIRST_CAP};
}

void heap_fini(heap *h)
{
    free(h->items);
    *h = (heap){.first_cap = h->first_cap};
}

static void heap_place(heap *h, size_t i, heap_node *x)
{
    h->items[i] = x;
    x->idx = i;
}

/* heap_sift moves x, whose slot i is a hole, up or down to its place. */
static void heap_sift(heap *h, size_t i, heap_node *x)
{
    while (i > 0 && h->items[(i - 1) / 2]->key > x->key) {
        heap_place(h, i, h->items[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= h->n)
            break;
        if (r < h->n && h->items[r]->key < h->items[l]->key)
            m = r;
        if (h->items[m]->key >= x->key)
            break;
        heap_place(h, i, h->items[m]);
        i = m;
    }
    heap_place(h, i, x);
    /* Where it landed, it is in order with its parent. */
    ATP_DASSERT(i == 0 || h->items[(i - 1) / 2]->key <= x->key);
}

bool heap_push(heap *h, heap_node *x)
{
    ATP_ASSERT(x->idx == HEAP_NONE); /* twice in: the heap would break */
    if (h->n == h->cap) {
        size_t cap = h->cap         ? h->cap * 2
                     : h->first_cap ? h->first_cap
                                    : HEAP_FIRST_CAP;
        heap_node **n = realloc(h->items, cap * sizeof *n);
        if (n == NULL)
            return false;
        h->items = n;
        h->cap = cap;
    }
    h->n++;
    heap_sift(h, h->n - 1, x);
    return true;
}

void heap_remove(heap *h, heap_node *x)
{
    size_t i = x->idx;
    if (i == HEAP_NONE)
        return;
    ATP_ASSERT(i < h->n && h->items[i] == x); /* x is in this heap */
    heap_node *last = h->items[--h->n];
    if (last != x)
        heap_sift(h, i, last);
    x->idx = HEAP_NONE;
}

void heap_update(heap *h, heap_node *x, int64_t key)
{
    ATP_ASSERT(x->idx < h->n && h->items[x->idx] == x);
    x->key = key;
    heap_sift(h, x->idx, x);
}

bool heap_check(const heap *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->items[i]->idx != i)
            return false;
        if (i > 0 && h->items[(i - 1) / 2]->key > h->items[i]->key)
            return false;
    }
    return true;
}

size_t heap_memory(const heap *h)
{
    return h->cap * sizeof *h->items;
}
