/*
 * explain.c - the whole ATP formula of one SKU, for operators (op
 * "explain"): every location's position, every inbound lot, every open
 * reservation line, and the answer of each (region, channel).
 *
 * It runs as a command on the engine thread, the only writer, between two
 * commands: the per-location state (engine-thread only) and the rows that
 * atp reads are then the same state, so the parts add up exactly to what
 * engine_query answers at that instant. The answers themselves come from
 * engine__answer_of, the function behind engine_query: never a second copy
 * of the formula.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

/* A growing array of explain parts; failed: ran out of memory. */
typedef struct explain_vec {
    void *items;
    size_t n, cap, size;
    bool failed;
} explain_vec;

static void *explain_push(explain_vec *v)
{
    if (v->failed)
        return NULL;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *p = realloc(v->items, cap * v->size);
        if (p == NULL) {
            v->failed = true;
            return NULL;
        }
        v->items = p;
        v->cap = cap;
    }
    return (char *)v->items + v->n++ * v->size;
}

static void explain_lot(void *ctx, uint16_t loc, const char *id,
                        uint32_t id_len, int64_t qty, int64_t eta_ms,
                        bool counted)
{
    engine_explain_lot *x = explain_push(ctx);
    if (x != NULL)
        *x = (engine_explain_lot){.location = loc,
                                  .id = id,
                                  .id_len = id_len,
                                  .qty = qty,
                                  .eta_ms = eta_ms,
                                  .in_horizon = counted};
}

bool engine__loc_read(const engine *e, uint32_t sku, uint32_t l,
                      engine_explain_loc *out)
{
    const position *p = e->loc_region[l] == CONFIG_LOCATION_GONE
                            ? NULL /* removed by a reload: empty */
                            : positions_get(&e->pos, sku, (uint16_t)l);
    if (p == NULL)
        return false;
    *out = (engine_explain_loc){
        .location = l,
        .region = e->loc_region[l],
        .on_hand = p->bucket[ATP_BUCKET_ON_HAND],
        .allocated = p->bucket[ATP_BUCKET_ALLOCATED],
        .held = p->bucket[ATP_BUCKET_HELD],
        .inbound = positions_inbound(&e->pos, p),
        .net = engine__position_net(e, p),
    };
    return true;
}

static void explain_locations(engine *e, uint32_t sku, explain_vec *v)
{
    for (size_t l = 0; l < e->cfg->n_locations; l++) {
        engine_explain_loc x;
        if (!engine__loc_read(e, sku, (uint32_t)l, &x))
            continue;
        engine_explain_loc *slot = explain_push(v);
        if (slot != NULL)
            *slot = x;
    }
}

/* Every open line of sku in every reservation: the first
 * ENGINE_EXPLAIN_RESV_MAX listed, all counted in *lines. */
static void explain_resvs(engine *e, uint32_t sku, explain_vec *v,
                          uint64_t *lines)
{
    const resv_table *t = &e->resv;
    for (size_t i = 0; t->by_id != NULL && i < t->id_cap; i++) {
        for (const resv *r = t->by_id[i]; r != NULL; r = r->next_id) {
            if (r->state != ENGINE_RESV_HELD &&
                r->state != ENGINE_RESV_COMMITTED)
                continue;
            for (uint32_t k = 0; k < r->n_lines; k++) {
                const resv_line *l = &r->lines[k];
                if (l->sku != sku)
                    continue;
                (*lines)++;
                engine_explain_resv *x =
                    v->n < ENGINE_EXPLAIN_RESV_MAX ? explain_push(v) : NULL;
                if (x != NULL)
                    *x = (engine_explain_resv){
                        .id = r->id,
                        .id_len = r->id_len,
                        .region = l->region,
                        .channel = r->channel,
                        .pin = l->pin,
                        .state = (engine_resv_state)r->state,
                        .open = l->qty - l->consumed - l->released,
                        .expires_ms = r->expires_ms,
                        .promise_ms = r->promise_ms,
                        .dated = engine__phased_counts(e, r->promise_ms)};
            }
        }
    }
}

void engine__explain_run(engine *e, engine_explain_req *req)
{
    ATP_ASSERT_OWNER(&e->owner);
    /* Rows are published at the end of each batch and reservation
     * changes at once: between commands they match the positions. */
    uint32_t sku = dict_find(e->skus, req->sku, req->sku_len);
    explain_vec locs = {.size = sizeof(engine_explain_loc)};
    explain_vec lots = {.size = sizeof(engine_explain_lot)};
    explain_vec resvs = {.size = sizeof(engine_explain_resv)};
    uint64_t resv_lines = 0;
    size_t n_ans = (size_t)e->n_regions * e->n_channels;
    engine_answer *ans = calloc(n_ans, sizeof *ans);
    if (sku != DICT_NONE) {
        explain_locations(e, sku, &locs);
        engine__lots_visit(e, sku, explain_lot, &lots);
        for (size_t i = 0; i < lots.n; i++) { /* where a reload put it */
            engine_explain_lot *l = (engine_explain_lot *)lots.items + i;
            l->region = e->loc_region[l->location];
        }
        explain_resvs(e, sku, &resvs, &resv_lines);
    }
    engine_explain x = {.err = ATP_E_NOMEM};
    if (ans != NULL && !locs.failed && !lots.failed && !resvs.failed) {
        for (uint32_t r = 0; r < e->n_regions; r++)
            for (uint32_t c = 0; c < e->n_channels; c++)
                engine__answer_of(e, sku, req->sku, req->sku_len, r, c,
                                  &ans[(size_t)r * e->n_channels + c]);
        x = (engine_explain){
            .err = ATP_OK,
            .known_sku = sku != DICT_NONE,
            .now_ms = e->now_ms,
            .locs = locs.items,
            .n_locs = (uint32_t)locs.n,
            .lots = lots.items,
            .n_lots = (uint32_t)lots.n,
            .resvs = resvs.items,
            .n_resvs = (uint32_t)resvs.n,
            .resv_lines = resv_lines,
            .answers = ans,
            .info = e->loc_info,
            .horizon_ms = e->horizon_ms,
        };
    }
    req->done(req->arg, &x);
    free(ans);
    free(locs.items);
    free(lots.items);
    free(resvs.items);
    free(req);
}

void engine__explain_refuse(engine_explain_req *req)
{
    engine_explain x = {.err = ATP_E_BUSY};
    req->done(req->arg, &x);
    free(req);
}

atp_err engine_explain_submit(engine *e, const char *sku, size_t sku_len,
                              engine_explain_done_fn done, void *arg)
{
    engine_explain_req *req = malloc(sizeof *req + sku_len);
    if (req == NULL)
        return ATP_E_NOMEM;
    req->done = done;
    req->arg = arg;
    req->sku_len = sku_len;
    memcpy(req->sku, sku, sku_len);
    engine_cmd cmd = {.type = ENGINE_CMD_EXPLAIN, .explain = req};
    atp_err err = queue_try_push(&e->q, &cmd);
    if (err != ATP_OK)
        free(req);
    return err;
}
