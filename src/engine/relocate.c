/*
 * relocate.c - a reload moving locations to other regions (engine thread,
 * inside the reload's one command, reload.c).
 *
 * Positions are keyed by (SKU, location) and stored by location id, so a
 * move changes no position: only which (SKU, region) row each one's net
 * adds to. engine__relocate stages the whole move in the batch accumulator
 * (-net on the old row, +net on the new, per position of every moved
 * location) and checks every row it touches against the bound of a sum
 * (ATP_QTY_SUM_MAX) before anything is visible; a refused move is
 * discarded unpublished. engine__relocate_publish then changes the
 * location -> region map, writes the rows, re-counts the moved locations'
 * inbound lots under their new horizon and rebuilds which sources may
 * consume reservations where, all while reloc_seq is odd: a reader of
 * several rows sees the move whole or not at all.
 *
 * A removed location (CONFIG_LOCATION_GONE) must have no stock: its
 * positions are all zero, so nothing moves; the engine drops events still
 * queued for it, and the ingest rejects new ones. A location named again
 * (restored) comes back empty.
 *
 * Reservations are per (SKU, region) and are not touched: a region that
 * loses supply below what it has reserved shows a shortfall, the formula's
 * usual answer (never a negative ATP). A location with open pinned lines
 * is neither removed nor moved (relocate_check_pinned says why).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "engine/resv_int.h"
#include "formula/formula.h"

/* Stage -net / +net for every position of a moved location; returns how
 * many positions moved (room for all of them is reserved first). */
static bool relocate_moves(const engine *e, const uint16_t *next, uint16_t loc)
{
    return next[loc] != e->loc_region[loc] &&
           next[loc] != CONFIG_LOCATION_GONE &&
           e->loc_region[loc] != CONFIG_LOCATION_GONE;
}

static atp_err relocate_stage(engine *e, const uint16_t *next, uint64_t *n_pos)
{
    uint64_t n = 0;
    for (size_t i = 0; i < e->pos.cap; i++) {
        const position *p = &e->pos.slots[i];
        if (p->key != 0 && relocate_moves(e, next, position_loc(p)))
            n++;
    }
    *n_pos = n;
    if (n == 0)
        return ATP_OK;
    if (n > UINT32_MAX / 4 || !engine__acc_reserve(e, (uint32_t)(2 * n)))
        return ATP_E_NOMEM;
    for (size_t i = 0; i < e->pos.cap; i++) {
        const position *p = &e->pos.slots[i];
        if (p->key == 0)
            continue;
        uint16_t loc = position_loc(p);
        if (!relocate_moves(e, next, loc))
            continue;
        int64_t net = engine__position_net(e, p);
        if (net == 0)
            continue;
        engine__acc_add(e, position_sku(p), e->loc_region[loc], -net);
        engine__acc_add(e, position_sku(p), next[loc], net);
    }
    return ATP_OK;
}

typedef struct relocate_check {
    engine *e;
    uint64_t rows;
    char *why;
    size_t why_len;
} relocate_check;

/* A row may end beyond the bound of a supply (2^53-1, shown clamped,
 * PROTOCOL.md "Numbers") only if it already was and the move brings it
 * closer: a move never pushes a row past it. */
static bool relocate_row_ok(void *ctx, uint32_t sku, uint32_t region,
                            __int128 d)
{
    relocate_check *c = ctx;
    c->rows++;
    __int128 before = engine__supply_exact(c->e, sku, region),
             after = before + d;
    if (after <= ATP_QTY_SUM_MAX && after >= -ATP_QTY_SUM_MAX)
        return true;
    if ((after > 0 && after <= before) || (after < 0 && after >= before))
        return true;
    size_t len;
    const char *id = dict_key(c->e->skus, sku, &len);
    snprintf(c->why, c->why_len,
             "moving the locations would take the supply of SKU %.*s in "
             "region %s beyond %s2^53-1, the bound of a supply "
             "(docs/PROTOCOL.md, \"Numbers\")",
             (int)(len > 64 ? 64 : len), id, c->e->cfg->regions[region].id,
             after < 0 ? "-" : "");
    return false;
}

/* A location is removed only without stock: no position with a non-zero
 * bucket or inbound, no lot. Its zero positions stay in memory; the next
 * snapshot (main's reload asks for one at once) deletes their records, so
 * the location comes back empty if a later reload or start names it
 * again. */
static bool relocate_removes(const engine *e, const uint16_t *next,
                             uint16_t loc)
{
    return next[loc] == CONFIG_LOCATION_GONE &&
           e->loc_region[loc] != CONFIG_LOCATION_GONE;
}

static bool relocate_stocked(const engine *e, const position *p)
{
    return p->bucket[0] != 0 || p->bucket[1] != 0 || p->bucket[2] != 0 ||
           positions_inbound(&e->pos, p) != 0;
}

/* One pass over the positions and one over the lots, whatever the number
 * of locations removed; the message names the first one found with
 * stock. */
static atp_err relocate_check_removed(engine *e, const uint16_t *next,
                                      char *why, size_t why_len)
{
    uint32_t bad = UINT32_MAX;
    for (size_t i = 0; i < e->pos.cap && bad == UINT32_MAX; i++) {
        const position *p = &e->pos.slots[i];
        if (p->key != 0 && relocate_removes(e, next, position_loc(p)) &&
            relocate_stocked(e, p))
            bad = position_loc(p);
    }
    if (bad == UINT32_MAX) {
        uint16_t at;
        if (engine__lots_first(e, next, &at))
            bad = at;
    }
    if (bad == UINT32_MAX)
        return ATP_OK;
    uint64_t stocked = 0;
    for (size_t i = 0; i < e->pos.cap; i++) {
        const position *p = &e->pos.slots[i];
        stocked +=
            p->key != 0 && position_loc(p) == bad && relocate_stocked(e, p);
    }
    snprintf(why, why_len,
             "location %s cannot be removed: it still has stock (%llu SKUs "
             "with a non-zero on_hand, allocated, held or inbound; %zu "
             "inbound lots); its source must set them to 0 (and cancel or "
             "receive the lots) first",
             e->cfg->locations[bad].id, (unsigned long long)stocked,
             engine__lots_at(e, (uint16_t)bad));
    return ATP_E_BAD_STATE;
}

/* Nor removed or moved with open reservation lines pinned to it: their
 * customers are to collect there, and a pinned line holds its units in
 * the region it was made in; moved, the location's stock would count as
 * free in the new region while the old one still held it for them. */
static atp_err relocate_check_pinned(engine *e, const uint16_t *next, char *why,
                                     size_t why_len)
{
    for (size_t l = 0; l < e->cfg->n_locations; l++) {
        bool removes = relocate_removes(e, next, (uint16_t)l);
        if (!removes && !relocate_moves(e, next, (uint16_t)l))
            continue;
        uint64_t n = position_sums_nonzero_at(&e->pinned, (uint16_t)l);
        if (n == 0 && resv__pin_undoable_at(e, (uint32_t)l)) {
            snprintf(why, why_len,
                     "location %s cannot be %s now: the release of a "
                     "reservation line pinned to it is not stored yet; try "
                     "again in a moment",
                     e->cfg->locations[l].id,
                     removes ? "removed" : "moved to another region");
            return ATP_E_BAD_STATE;
        }
        if (n == 0)
            continue;
        snprintf(why, why_len,
                 "location %s cannot be %s: open reservations hold %llu SKUs "
                 "for pickup there; release them, or let them be consumed "
                 "or expire, first",
                 e->cfg->locations[l].id,
                 removes ? "removed" : "moved to another region",
                 (unsigned long long)n);
        return ATP_E_BAD_STATE;
    }
    return ATP_OK;
}

atp_err engine__relocate(engine *e, engine_rules_change *change)
{
    change->moved = (engine_relocate_report){0};
    size_t changed = 0;
    for (size_t l = 0; l < e->cfg->n_locations; l++) {
        uint16_t was = e->loc_region[l], is = change->loc_region[l];
        changed += was != is;
        change->moved.locations +=
            relocate_moves(e, change->loc_region, (uint16_t)l);
        change->moved.removed += was != is && is == CONFIG_LOCATION_GONE;
        change->moved.restored += was != is && was == CONFIG_LOCATION_GONE;
    }
    if (changed == 0)
        return ATP_OK;
    atp_err err = relocate_check_removed(e, change->loc_region, change->why,
                                         change->why_len);
    if (err == ATP_OK)
        err = relocate_check_pinned(e, change->loc_region, change->why,
                                    change->why_len);
    if (err != ATP_OK)
        return err;
    err = relocate_stage(e, change->loc_region, &change->moved.positions);
    if (err != ATP_OK) {
        engine__acc_discard(e);
        snprintf(change->why, change->why_len, "out of memory");
        return err;
    }
    relocate_check c = {e, 0, change->why, change->why_len};
    if (!engine__acc_each(e, relocate_row_ok, &c)) {
        engine__acc_discard(e);
        return ATP_E_BAD_QTY;
    }
    change->moved.rows = c.rows;
    return ATP_OK;
}

void engine__relocate_publish(engine *e, engine_rules_change *change)
{
    if (change->moved.locations + change->moved.removed +
            change->moved.restored ==
        0)
        return;
    size_t n = e->cfg->n_locations;
    memcpy(change->was, e->loc_region, n * sizeof *change->was);
    memcpy(e->loc_region, change->loc_region, n * sizeof *change->was);
    /* A change not stored yet (the admin's first command): its moved
     * locations take no pinned line until it is (engine_int.h). */
    bool pending = change->authority != NULL &&
                   change->authority->places != NULL &&
                   !change->authority->places_in;
    if (pending && e->loc_settling == NULL)
        e->loc_settling = calloc(n ? n : 1, 1);
    for (size_t l = 0; pending && e->loc_settling != NULL && l < n; l++)
        if (change->was[l] != e->loc_region[l])
            e->loc_settling[l] = 1;
    engine__supply_flush(e);
    engine__lots_relocated(e, change->was, e->now_ms);
    engine__supply_flush(e);
}
