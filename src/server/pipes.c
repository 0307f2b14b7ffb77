/*
 * pipes.c - the query socket's pipe table (pipes.h): open addressing,
 * linear probing, deletion by backward shift (no tombstones, so a table
 * that sees millions of short connections never fills with them).
 */
#include "server/pipes.h"

#include <stdlib.h>

#include "common/assert.h"

#define PIPES_MIN_CAP 64

/* Fibonacci hashing: nng hands out pipe ids in sequence, which this
 * spreads over the table. */
static size_t pipes_home(const pipes *t, uint32_t id)
{
    return (size_t)((id * UINT32_C(2654435769)) & (t->cap - 1));
}

static size_t pipes_find(const pipes *t, uint32_t id)
{
    if (t->cap == 0)
        return SIZE_MAX;
    for (size_t i = pipes_home(t, id);; i = (i + 1) & (t->cap - 1)) {
        if (t->ids[i] == id)
            return i;
        if (t->ids[i] == 0)
            return SIZE_MAX;
    }
}

static void pipes_put(pipes *t, uint32_t id, int64_t last_ms)
{
    size_t i = pipes_home(t, id);
    while (t->ids[i] != 0)
        i = (i + 1) & (t->cap - 1);
    t->ids[i] = id;
    t->last_ms[i] = last_ms;
    t->n++;
}

static atp_err pipes_grow(pipes *t)
{
    size_t cap = t->cap ? t->cap * 2 : PIPES_MIN_CAP;
    pipes next = {.ids = calloc(cap, sizeof *next.ids),
                  .last_ms = calloc(cap, sizeof *next.last_ms),
                  .cap = cap};
    if (next.ids == NULL || next.last_ms == NULL) {
        pipes_fini(&next);
        return ATP_E_NOMEM;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->ids[i] != 0)
            pipes_put(&next, t->ids[i], t->last_ms[i]);
    pipes_fini(t);
    *t = next;
    return ATP_OK;
}

void pipes_fini(pipes *t)
{
    free(t->ids);
    free(t->last_ms);
    *t = (pipes){0};
}

atp_err pipes_add(pipes *t, uint32_t id, int64_t now_ms)
{
    ATP_ASSERT(id != 0);
    if (pipes_touch(t, id, now_ms))
        return ATP_OK;
    /* At most half full: probes stay short. */
    if (2 * (t->n + 1) > t->cap) {
        atp_err err = pipes_grow(t);
        if (err != ATP_OK)
            return err;
    }
    pipes_put(t, id, now_ms);
    return ATP_OK;
}

bool pipes_touch(pipes *t, uint32_t id, int64_t now_ms)
{
    size_t i = pipes_find(t, id);
    if (i == SIZE_MAX)
        return false;
    if (now_ms > t->last_ms[i])
        t->last_ms[i] = now_ms;
    return true;
}

/* pipes_delete empties slot i and moves back the entries after it that
 * would no longer be found past the hole. */
static void pipes_delete(pipes *t, size_t i)
{
    size_t mask = t->cap - 1;
    t->ids[i] = 0;
    t->n--;
    for (size_t j = (i + 1) & mask; t->ids[j] != 0; j = (j + 1) & mask) {
        size_t home = pipes_home(t, t->ids[j]);
        /* j's entry may stay only if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->ids[i] = t->ids[j];
        t->last_ms[i] = t->last_ms[j];
        t->ids[j] = 0;
        i = j;
    }
}

bool pipes_remove(pipes *t, uint32_t id)
{
    size_t i = pipes_find(t, id);
    if (i == SIZE_MAX)
        return false;
    pipes_delete(t, i);
    return true;
}

size_t pipes_take_idle(pipes *t, int64_t now_ms, int64_t idle_ms, uint32_t *out,
                       size_t max)
{
    size_t n = 0;
    size_t i = 0;
    while (i < t->cap && n < max) {
        if (t->ids[i] != 0 && t->last_ms[i] <= now_ms - idle_ms) {
            out[n++] = t->ids[i];
            /* The shift may move a later entry into slot i: look again. */
            pipes_delete(t, i);
            continue;
        }
        i++;
    }
    return n;
}
