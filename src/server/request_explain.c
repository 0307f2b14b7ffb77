/*
 * request_explain.c - op "explain": the whole ATP formula of one SKU
 * (docs/PROTOCOL.md, "explain"). The engine reads its state on its own
 * thread (engine_explain_submit); this file only writes it out, adding
 * what configuration and the sources module know: location and region
 * ids, horizons, and the state and lag of the sources that feed each
 * region (staleness).
 */
#include <string.h>

#include "common/clock.h"
#include "formula/bundles.h"
#include "formula/formula.h"
#include "formula/rules.h"
#include "server/reply.h"
#include "server/request_int.h"

/* Which of units and percent set the buffer (max of the two): "units",
 * "percent", or "none" when the rule asks for no buffer at all. */
static const char *explain_buffer_by(const engine_answer *a,
                                     int64_t *from_percent)
{
    *from_percent = formula_buffer(0, a->buffer_percent_bp, a->supply);
    if (a->buffer == 0)
        return "none";
    return a->buffer_units >= *from_percent ? "units" : "percent";
}

/* One channel: the ATP answer of `atp` (reply_answer_write) plus the
 * matched rule's parts. */
static void explain_channel(const request_env *env, codec_str sku, uint32_t r,
                            uint32_t c, const engine_answer *a, codec_writer *w)
{
    int64_t from_percent;
    const char *by = explain_buffer_by(a, &from_percent);
    codec_w_map(w, REPLY_ANSWER_FIELDS(a) + 5);
    reply_answer_write(w, sku, env->cfg->regions[r].id, env->cfg->channels[c],
                       a);
    codec_w_kv_int(w, "buffer_units", a->buffer_units);
    codec_w_kv_int(w, "buffer_percent_bp", a->buffer_percent_bp);
    codec_w_kv_int(w, "buffer_from_percent", from_percent);
    codec_w_kv_cstr(w, "buffer_by", by);
    codec_w_kv_int(w, "low_stock", a->low_stock);
}

/* The sources with authority in region r, with what makes a region stale. */
static void explain_sources(const request_env *env, uint32_t r, codec_writer *w)
{
    const config *cfg = env->cfg;
    uint32_t n = 0;
    for (size_t s = 0; s < cfg->n_sources; s++)
        n += sources_feeds(env->src, (uint32_t)s, r);
    codec_w_array(w, n);
    int64_t now = clock_mono_ms();
    for (size_t s = 0; s < cfg->n_sources; s++) {
        if (!sources_feeds(env->src, (uint32_t)s, r))
            continue;
        sources_status st;
        sources_status_get(env->src, (uint32_t)s, now, &st);
        codec_w_map(w, 5);
        codec_w_kv_cstr(w, "id", st.id);
        codec_w_kv_cstr(w, "state", sources_state_name(st.state));
        codec_w_kv_int(w, "lag_ms", st.lag_ms);
        codec_w_kv_int(w, "age_ms", st.age_ms);
        codec_w_kv_count(w, "last_seq", st.last_seq);
    }
}

/* The region and channel places explain answers for, read once: an admin
 * change may flip them meanwhile, and the array headers must count what
 * is written. The answers have a place per channel place (spares
 * included); the channels in service are the first live of them, and as
 * many first region places. */
typedef struct explain_places {
    size_t regions, live;
    uint8_t in_r[CONFIG_MAX_REGIONS], in_c[CONFIG_MAX_CHANNELS];
    uint32_t n_in, n_ch;
} explain_places;

static void explain_places_read(const config *cfg, explain_places *p)
{
    p->live = config_channels_live(cfg);
    p->regions = config_regions_live(cfg);
    p->n_in = p->n_ch = 0;
    for (uint32_t r = 0; r < p->regions; r++)
        p->n_in += p->in_r[r] =
            config_region_in_service(cfg, r) &&
            config_partition_here(&cfg->cluster, cfg->regions[r].id,
                                  strlen(cfg->regions[r].id));
    for (uint32_t c = 0; c < p->live; c++)
        p->n_ch += p->in_c[c] = config_channel_in_service(cfg, c);
}

static void explain_regions(const request_env *env, codec_str sku,
                            const engine_explain *x, codec_writer *w)
{
    const config *cfg = env->cfg;
    explain_places pl;
    explain_places_read(cfg, &pl);
    size_t live = pl.live, regions = pl.regions;
    const uint8_t *in_r = pl.in_r, *in_c = pl.in_c;
    uint32_t n_ch = pl.n_ch;
    codec_w_array(w, pl.n_in);
    for (uint32_t r = 0; r < regions; r++) {
        if (!in_r[r])
            continue; /* a spare place, or removed at run time */
        const engine_answer *ans = &x->answers[(size_t)r * cfg->n_channels];
        codec_w_map(w, 7);
        codec_w_kv_cstr(w, "region", cfg->regions[r].id);
        codec_w_kv_int(w, "inbound_horizon_ms", x->horizon_ms[r]);
        codec_w_kv_int(w, "supply", ans->supply);
        codec_w_kv_int(w, "reserved", ans->reserved);
        codec_w_kv_bool(w, "stale", ans->stale);
        codec_w_cstr(w, "sources");
        explain_sources(env, r, w);
        codec_w_cstr(w, "channels");
        codec_w_array(w, n_ch);
        for (uint32_t c = 0; c < live; c++)
            if (in_c[c])
                explain_channel(env, sku, r, c, &ans[c], w);
    }
}

static void explain_locations(const config *cfg, const engine_explain *x,
                              codec_writer *w)
{
    codec_w_array(w, x->n_locs);
    for (uint32_t i = 0; i < x->n_locs; i++) {
        const engine_explain_loc *l = &x->locs[i];
        const config_location *cl = &cfg->locations[l->location];
        codec_w_map(w, 8);
        codec_w_kv_cstr(w, "location", cl->id);
        codec_w_kv_cstr(w, "region", cfg->regions[l->region].id);
        codec_w_kv_int(w, "on_hand", l->on_hand);
        codec_w_kv_int(w, "allocated", l->allocated);
        codec_w_kv_int(w, "held", l->held);
        codec_w_kv_int(w, "inbound", l->inbound);
        codec_w_kv_int(w, "net", l->net);
        codec_w_kv_cstr(w, "type", x->info[l->location].type);
    }
}

static void explain_lots(const config *cfg, const engine_explain *x,
                         codec_writer *w)
{
    codec_w_array(w, x->n_lots);
    for (uint32_t i = 0; i < x->n_lots; i++) {
        const engine_explain_lot *l = &x->lots[i];
        const config_location *cl = &cfg->locations[l->location];
        codec_w_map(w, 6);
        codec_w_kv_str(w, "lot", l->id, l->id_len);
        codec_w_kv_cstr(w, "location", cl->id);
        codec_w_kv_cstr(w, "region", cfg->regions[l->region].id);
        codec_w_kv_int(w, "qty", l->qty);
        codec_w_kv_int(w, "eta_ms", l->eta_ms);
        codec_w_kv_bool(w, "in_horizon", l->in_horizon);
    }
}

static void explain_resvs(const config *cfg, const engine_explain *x,
                          codec_writer *w)
{
    codec_w_array(w, x->n_resvs);
    for (uint32_t i = 0; i < x->n_resvs; i++) {
        const engine_explain_resv *r = &x->resvs[i];
        codec_w_map(w, 6 + (r->pin != 0) + 2 * (r->promise_ms != 0));
        codec_w_kv_str(w, "id", r->id, r->id_len);
        codec_w_kv_cstr(w, "state", engine_resv_state_name(r->state));
        codec_w_kv_cstr(w, "region", cfg->regions[r->region].id);
        if (r->pin != 0)
            codec_w_kv_cstr(w, "location", cfg->locations[r->pin - 1].id);
        codec_w_kv_cstr(w, "channel", cfg->channels[r->channel]);
        codec_w_kv_int(w, "qty", r->open);
        codec_w_kv_int(w, "expires_ms", r->expires_ms);
        if (r->promise_ms != 0) {
            codec_w_kv_int(w, "promise_ms", r->promise_ms);
            codec_w_kv_bool(w, "dated", r->dated);
        }
    }
}

/* A bundle's explain (docs/PROTOCOL.md, "Bundles"): its definition, and
 * per region and channel in service its components' ATP and the kits
 * each makes, read now. */
static void explain_bundle(const request_env *env, codec_str sku,
                           const engine_bundle_part *parts, uint32_t n,
                           codec_writer *w)
{
    const config *cfg = env->cfg;
    explain_places pl;
    explain_places_read(cfg, &pl);
    size_t live = pl.live, regions = pl.regions;
    const uint8_t *in_r = pl.in_r, *in_c = pl.in_c;
    uint32_t n_in = pl.n_in, n_ch = pl.n_ch;
    codec_w_map(w, 4);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_str(w, "sku", sku.ptr, sku.len);
    codec_w_cstr(w, "bundle");
    codec_w_array(w, n);
    for (uint32_t k = 0; k < n; k++) {
        codec_w_array(w, 2);
        codec_w_str(w, parts[k].sku, parts[k].sku_len);
        codec_w_int(w, parts[k].qty);
    }
    codec_w_cstr(w, "regions");
    codec_w_array(w, n_in);
    for (uint32_t r = 0; r < regions; r++) {
        if (!in_r[r])
            continue;
        codec_w_map(w, 2);
        codec_w_kv_cstr(w, "region", cfg->regions[r].id);
        codec_w_cstr(w, "channels");
        codec_w_array(w, n_ch);
        for (uint32_t c = 0; c < live; c++) {
            if (!in_c[c])
                continue;
            engine_answer kit;
            engine_query(env->eng, sku.ptr, sku.len, r, c, &kit);
            codec_w_map(w, 4);
            codec_w_kv_cstr(w, "channel", cfg->channels[c]);
            codec_w_kv_int(w, "atp", kit.atp);
            if (kit.limiting != NULL)
                codec_w_kv_str(w, "limiting", kit.limiting, kit.limiting_len);
            else /* no longer a bundle since: its own answer */
                codec_w_kv_cstr(w, "limiting", NULL);
            codec_w_cstr(w, "components");
            codec_w_array(w, n);
            for (uint32_t k = 0; k < n; k++) {
                engine_answer a;
                engine_query(env->eng, parts[k].sku, parts[k].sku_len, r, c,
                             &a);
                codec_w_map(w, 4);
                codec_w_kv_str(w, "sku", parts[k].sku, parts[k].sku_len);
                codec_w_kv_int(w, "qty", parts[k].qty);
                codec_w_kv_int(w, "atp", a.atp);
                codec_w_kv_int(w, "kits", bundles_kits(a.atp, parts[k].qty));
            }
        }
    }
}

/* The engine's answer (engine thread, or engine_stop's drain). */
static void request_explain_done(void *arg, const engine_explain *x)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    const config *cfg = as->env->cfg;
    engine_bundle_part parts[ENGINE_BUNDLE_MAX_PARTS];
    uint32_t n_parts;
    if (x->err != ATP_OK) {
        reply_error e = {.line = -1};
        if (x->err == ATP_E_BUSY)
            request_busy(&e, ATP_E_BAD_STATE);
        else
            reply_error_set(&e, x->err, "explain: %s", atp_err_message(x->err));
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else if (engine_bundle_get(as->env->eng, as->sku.ptr, as->sku.len, parts,
                                 &n_parts)) {
        explain_bundle(as->env, as->sku, parts, n_parts, w);
    } else {
        codec_w_map(w, 10);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_str(w, "sku", as->sku.ptr, as->sku.len);
        codec_w_kv_bool(w, "known_sku", x->known_sku);
        codec_w_kv_int(w, "now_ms", x->now_ms);
        codec_w_cstr(w, "regions");
        explain_regions(as->env, as->sku, x, w);
        codec_w_cstr(w, "locations");
        explain_locations(cfg, x, w);
        codec_w_cstr(w, "lots");
        explain_lots(cfg, x, w);
        codec_w_cstr(w, "reservations");
        explain_resvs(cfg, x, w);
        codec_w_kv_count(w, "reservation_lines", x->resv_lines);
        codec_w_kv_bool(w, "reservations_truncated",
                        x->resv_lines > x->n_resvs);
    }
    as->finish(as->owner);
}

bool request_explain_start(request_env *env, const request_fields *f,
                           codec_writer *w, request_async *async,
                           reply_error *e)
{
    if (!request_sku(f->sku, &async->sku, e))
        return false;
    async->env = env;
    async->w = w;
    async->started_ms = clock_mono_ms();
    atp_err err = engine_explain_submit(
        env->eng, async->sku.ptr, async->sku.len, request_explain_done, async);
    return request_submitted(err, "explain", e);
}
