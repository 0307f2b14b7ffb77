/*
 * pickup.c - store pickup (ops "pickup", "pickup_cart"): for each SKU of
 * a query, every location of one region with its position and its pickup
 * ATP (docs/PROTOCOL.md, "The pickup formula"), and the region's answer.
 *
 * It runs as a command on the engine thread, the only writer, between two
 * commands, like explain.c: positions are engine-thread state, and reading
 * them there makes the answer one consistent reading (no location counted
 * in two regions across a reload's move, every location read with the
 * region answers of the same instant). Each location's position comes from
 * engine__loc_read (explain's), each region answer from engine__answer_of
 * (engine_query's), what pinned reservation lines hold there from
 * resv__pinned_at, and the pickup arithmetic from formula_pickup_of: no
 * second copy of any of them. A pinned reserve asks engine__pickup_atp,
 * the same answer for one location.
 */
#include <stdlib.h>

#include "engine/engine_int.h"
#include "engine/resv_int.h"
#include "formula/pickup.h"

/* The locations of region now (a reload may have moved some), in
 * configuration order, into out (room for every location); their count. */
static uint32_t pickup_locations(const engine *e, uint32_t region,
                                 uint32_t *out)
{
    uint32_t n = 0;
    for (size_t l = 0; l < e->cfg->n_locations; l++)
        if (e->loc_region[l] == region)
            out[n++] = (uint32_t)l;
    return n;
}

/* One (SKU, location): its position, or zeros when it has none. */
static void pickup_loc(const engine *e, uint32_t sku, uint32_t l,
                       int64_t region_atp, engine_pickup_loc *out)
{
    engine_explain_loc x = {0};
    if (sku != DICT_NONE)
        engine__loc_read(e, sku, l, &x);
    const engine_location_info *li = &e->loc_info[l];
    formula_position p = {x.on_hand, x.allocated, x.held, x.inbound};
    formula_pickup fp;
    int64_t reserved = sku != DICT_NONE ? resv__pinned_at(e, sku, l) : 0;
    formula_pickup_of(&p, reserved, li->pickup_buffer, li->pickup, region_atp,
                      &fp);
    *out = (engine_pickup_loc){.on_hand = x.on_hand,
                               .allocated = x.allocated,
                               .held = x.held,
                               .inbound = x.inbound,
                               .net = fp.net,
                               .reserved = fp.reserved,
                               .buffer = fp.buffer,
                               .atp = fp.atp};
}

int64_t engine__pickup_atp(const engine *e, uint32_t sku, uint32_t l,
                           int64_t region_atp)
{
    engine_pickup_loc x;
    pickup_loc(e, sku, l, region_atp, &x);
    return x.atp;
}

void engine__pickup_run(engine *e, engine_pickup_req *req)
{
    ATP_ASSERT_OWNER(&e->owner);
    engine_pickup x = {.err = ATP_E_NOMEM};
    size_t n_cfg = e->cfg->n_locations ? e->cfg->n_locations : 1;
    uint32_t *locations = malloc(n_cfg * sizeof *locations);
    engine_answer *ans = calloc(req->n, sizeof *ans);
    engine_pickup_loc *locs = NULL;
    if (locations == NULL || ans == NULL)
        goto done;
    x.n_locs = pickup_locations(e, req->region, locations);
    if ((uint64_t)req->n * x.n_locs > ENGINE_PICKUP_CELLS_MAX) {
        x.err = ATP_E_TOO_MANY_LINES;
        goto done;
    }
    locs = calloc((size_t)req->n * x.n_locs + 1, sizeof *locs);
    if (locs == NULL)
        goto done;
    for (uint32_t i = 0; i < req->n; i++) {
        const engine_pickup_line *l = &req->lines[i];
        uint32_t sku = dict_find(e->skus, l->sku, l->sku_len);
        engine__answer_of(e, sku, l->sku, l->sku_len, req->region, req->channel,
                          &ans[i]);
        for (uint32_t k = 0; k < x.n_locs; k++)
            pickup_loc(e, sku, locations[k], ans[i].atp,
                       &locs[(size_t)i * x.n_locs + k]);
    }
    x.err = ATP_OK;
    x.locations = locations;
    x.answers = ans;
    x.locs = locs;
    x.info = e->loc_info;
done:
    req->done(req->arg, &x);
    free(locations);
    free(ans);
    free(locs);
    free(req);
}

void engine__pickup_refuse(engine_pickup_req *req)
{
    engine_pickup x = {.err = ATP_E_BUSY};
    req->done(req->arg, &x);
    free(req);
}

atp_err engine_pickup_submit(engine *e, uint32_t region, uint32_t channel,
                             const engine_pickup_line *lines, uint32_t n,
                             engine_pickup_done_fn done, void *arg)
{
    ATP_ASSERT(region < e->n_regions && channel < e->n_channels && n > 0);
    engine_pickup_req *req = malloc(sizeof *req);
    if (req == NULL)
        return ATP_E_NOMEM;
    *req = (engine_pickup_req){.done = done,
                               .arg = arg,
                               .region = region,
                               .channel = channel,
                               .lines = lines,
                               .n = n};
    engine_cmd cmd = {.type = ENGINE_CMD_PICKUP, .pickup = req};
    atp_err err = queue_try_push(&e->q, &cmd);
    if (err != ATP_OK)
        free(req);
    return err;
}
