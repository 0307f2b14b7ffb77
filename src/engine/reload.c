/*
 * reload.c - new buffer rules, location regions, types and pickup settings
 * at run time (SIGHUP, main's reload; the admin ops): the rule set is built and
 * compared on the caller's thread, then published by the engine thread as one
 * command on its queue, together with the locations that move to another region
 * (relocate.c), so every grant and every batch after it sees the new rules and
 * regions and none before it does; the rows whose answer may change are marked
 * for the change feed in the same step.
 */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/dict.h"

/* ---- caller's thread: which scopes changed ------------------------------ */

static int engine_str_cmp(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* A rule with the engine's places for its region and channel (by id:
 * the two configurations compared may index them differently). */
typedef struct engine_rule_at {
    const config_buffer_rule *r;
    uint32_t region, channel;
} engine_rule_at;

/* Order by scope, then by value: equal rules end up side by side. */
static int engine_rule_cmp(const void *pa, const void *pb)
{
    const engine_rule_at *x = pa, *y = pb;
    const config_buffer_rule *a = x->r, *b = y->r;
    int c = engine_str_cmp(a->sku, b->sku);
    if (c != 0)
        return c;
    if (x->region != y->region)
        return x->region < y->region ? -1 : 1;
    if (x->channel != y->channel)
        return x->channel < y->channel ? -1 : 1;
    if (a->units != b->units)
        return a->units < b->units ? -1 : 1;
    if (a->percent_bp != b->percent_bp)
        return a->percent_bp < b->percent_bp ? -1 : 1;
    if (a->low_stock != b->low_stock)
        return a->low_stock < b->low_stock ? -1 : 1;
    if (a->backorder != b->backorder)
        return a->backorder < b->backorder ? -1 : 1;
    return 0;
}

static engine_rule_at *engine_rules_sorted(const config *started,
                                           const config *c)
{
    engine_rule_at *v = malloc((c->n_buffers ? c->n_buffers : 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_buffers; i++)
        v[i] = (engine_rule_at){
            &c->buffers[i], engine__region_of(started, c, c->buffers[i].region),
            engine__channel_of(started, c, c->buffers[i].channel)};
    qsort(v, c->n_buffers, sizeof *v, engine_rule_cmp);
    return v;
}

/* engine_rules_diff puts into *out the scope of every rule in one set and
 * not, identical, in the other (a merge of both sets, sorted), with the
 * engine's region places. */
static atp_err engine_rules_diff(const config *started, const config *running,
                                 const config *next, engine_rule_scope **out,
                                 size_t *n_out)
{
    engine_rule_at *a = engine_rules_sorted(started, running);
    engine_rule_at *b = engine_rules_sorted(started, next);
    size_t cap = running->n_buffers + next->n_buffers;
    engine_rule_scope *sc = malloc((cap ? cap : 1) * sizeof *sc);
    if (a == NULL || b == NULL || sc == NULL) {
        free(a);
        free(b);
        free(sc);
        return ATP_E_NOMEM;
    }
    size_t i = 0, k = 0, n = 0;
    while (i < running->n_buffers || k < next->n_buffers) {
        int c = i == running->n_buffers ? 1
                : k == next->n_buffers  ? -1
                                        : engine_rule_cmp(&a[i], &b[k]);
        if (c == 0) {
            i++, k++;
            continue;
        }
        const engine_rule_at *r = c < 0 ? &a[i++] : &b[k++];
        if (r->region != UINT32_MAX - 1) /* a place the engine has */
            sc[n++] = (engine_rule_scope){r->r->sku, r->region};
    }
    free(a);
    free(b);
    *out = sc;
    *n_out = n;
    return ATP_OK;
}

atp_err engine_rules_replace(engine *e, const config *running,
                             const config *next, engine_rules_report *report)
{
    return engine_rules_replace_swap(e, running, next, NULL, report);
}

atp_err engine_rules_replace_swap(engine *e, const config *running,
                                  const config *next,
                                  engine_authority_swap *swap,
                                  engine_rules_report *report)
{
    if (report != NULL)
        report->refused[0] = '\0';
    size_t n_locs = e->cfg->n_locations;
    uint16_t *loc_region =
        malloc((n_locs ? n_locs : 1) * 2 * sizeof *loc_region);
    if (loc_region == NULL)
        return ATP_E_NOMEM;
    if (next->n_regions > config_regions_live(e->cfg) ||
        next->n_channels > config_channels_live(e->cfg) ||
        config_location_regions(e->cfg, next, loc_region) !=
            next->n_locations) {
        free(loc_region);
        if (report != NULL)
            snprintf(report->refused, sizeof report->refused,
                     "a region, location or channel atpd has no place for: "
                     "only a restart applies that");
        return ATP_E_CONFIG;
    }
    rules *r;
    atp_err err = engine__rules_build(next, e->cfg, &r);
    if (err != ATP_OK) {
        free(loc_region);
        return err;
    }
    engine_rule_scope *scopes;
    size_t n_scopes;
    engine_location_info *info = NULL;
    if ((err = engine_rules_diff(e->cfg, running, next, &scopes, &n_scopes)) !=
        ATP_OK) {
        rules_free(r);
        free(loc_region);
        return err;
    }
    int64_t *horizon = engine__horizons_of(e->cfg, next);
    if (horizon == NULL ||
        (err = engine__loc_info_of(e->cfg, next, &info)) != ATP_OK) {
        err = horizon == NULL ? ATP_E_NOMEM : err;
        free(horizon);
        free(scopes);
        rules_free(r);
        free(loc_region);
        return err;
    }
    /* The places next no longer has: regions and channels removed. */
    size_t nr = config_regions_live(e->cfg), nc = config_channels_live(e->cfg);
    uint32_t *gone = malloc((nr + nc + 1) * sizeof *gone);
    size_t n_gone_r = 0, n_gone_c = 0;
    bool in = swap != NULL && swap->places != NULL && swap->places_in;
    engine_rule_scope *sc = realloc(
        scopes, (n_scopes + 1 + (in ? next->n_regions : 0)) * sizeof *scopes);
    if (sc != NULL)
        scopes = sc;
    if (gone == NULL || sc == NULL) {
        free(gone);
        engine__loc_info_free(info, n_locs);
        free(horizon);
        free(scopes);
        rules_free(r);
        free(loc_region);
        return ATP_E_NOMEM;
    }
    for (uint32_t k = 0; k < nr; k++) {
        const char *id = e->cfg->regions[k].id;
        if (config_region_in_service(e->cfg, k) &&
            config_region_find(next, id, strlen(id)) < 0)
            gone[n_gone_r++] = k;
    }
    for (uint32_t k = 0; k < nc; k++) {
        const char *id = e->cfg->channels[k];
        if (config_channel_in_service(e->cfg, k) &&
            config_channel_find(next, id, strlen(id)) < 0)
            gone[n_gone_r + n_gone_c++] = k;
    }
    /* A channel added or removed changes every row's list of answers:
     * each row is marked for the change feed once (as for a rule of every
     * SKU and region), so a subscriber's copy never keeps a removed
     * channel or lacks an added one until the row changes. */
    /* ... and a region put in service has every row of it marked. Only
     * a command that switches places (swap->places) does either. */
    size_t n_rule_scopes = n_scopes;
    bool channels_changed =
        swap != NULL && swap->places != NULL && n_gone_c > 0;
    for (size_t k = 0; in && !channels_changed && k < next->n_channels; k++) {
        int p = config_channel_place(e->cfg, next->channels[k],
                                     strlen(next->channels[k]));
        channels_changed =
            p >= 0 && !config_channel_in_service(e->cfg, (uint32_t)p);
    }
    if (channels_changed)
        scopes[n_scopes++] = (engine_rule_scope){NULL, UINT32_MAX};
    for (size_t k = 0; in && !channels_changed && k < next->n_regions; k++) {
        const char *id = next->regions[k].id;
        int p = config_region_place(e->cfg, id, strlen(id));
        if (p >= 0 && !config_region_in_service(e->cfg, (uint32_t)p))
            scopes[n_scopes++] = (engine_rule_scope){NULL, (uint32_t)p};
    }
    engine_sync_waiter w;
    engine__waiter_init(&w);
    char why[sizeof report->refused] = "";
    engine_rules_change change = {.next = r,
                                  .scopes = scopes,
                                  .n_scopes = n_scopes,
                                  .loc_region = loc_region,
                                  .was = loc_region + n_locs,
                                  .info = info,
                                  .horizon_ms = horizon,
                                  .authority = swap,
                                  .next_cfg = next,
                                  .removed_regions = gone,
                                  .n_removed_regions = n_gone_r,
                                  .removed_channels = gone + n_gone_r,
                                  .n_removed_channels = n_gone_c,
                                  .why = why,
                                  .why_len = sizeof why,
                                  .waiter = &w};
    engine_cmd cmd = {.type = ENGINE_CMD_RULES, .rules = &change};
    err = engine__waiter_wait(&w, queue_push(&e->q, &cmd));
    if (!change.taken)
        rules_free(r);
    free(gone);
    engine__loc_info_free(change.info, n_locs); /* next's, or the replaced */
    free(change.horizon_ms);                    /* the same */
    free(scopes);
    free(loc_region);
    if (report != NULL) {
        *report =
            (engine_rules_report){.rules = next->n_buffers,
                                  .scopes_changed = n_rule_scopes,
                                  .rows_marked = change.rows_marked,
                                  .moved = change.moved,
                                  .horizons_changed = change.horizons_changed};
        memcpy(report->refused, why, sizeof why);
    }
    return err;
}

/* ---- engine thread ------------------------------------------------------ */

static uint64_t engine_rules_mark_scope(engine *e, const engine_rule_scope *s)
{
    uint32_t r0 = s->region == UINT32_MAX ? 0 : s->region;
    uint32_t r1 = s->region == UINT32_MAX
                      ? (uint32_t)config_regions_live(e->cfg) /* named */
                      : s->region + 1;
    uint32_t k0 = 0, k1 = dict_count(e->skus);
    if (s->sku != NULL) {
        k0 = dict_find(e->skus, s->sku, strlen(s->sku));
        if (k0 == DICT_NONE)
            return 0; /* no row yet: its first answer has the new rule */
        k1 = k0 + 1;
    }
    for (uint32_t region = r0; region < r1; region++) {
        if (!config_region_in_service(e->cfg, region))
            continue; /* nothing is published for it */
        for (uint32_t sku = k0; sku < k1; sku++)
            engine__dirty_mark(e, engine__row_at(e, sku, region), sku, region);
    }
    return (uint64_t)(k1 - k0) * (r1 - r0);
}

/* engine_horizons_publish makes next's inbound horizons the engine's and
 * counts the lots of each region whose horizon changed again (their rows
 * marked for the change feed); reloc_seq is odd: readers of several rows
 * see all regions' new supply or none. */
static void engine_horizons_publish(engine *e, engine_rules_change *change)
{
    if (memcmp(e->horizon_ms, change->horizon_ms,
               e->n_regions * sizeof *e->horizon_ms) == 0)
        return;
    int64_t *old = e->horizon_ms;
    e->horizon_ms = change->horizon_ms;
    change->horizon_ms = old;
    for (uint32_t r = 0; r < e->n_regions; r++)
        change->horizons_changed += old[r] != e->horizon_ms[r];
    engine__lots_rehorizon(e, old, e->now_ms);
    engine__supply_flush(e);
}

/* engine_authority_install swaps the sources' authority lists (engine
 * thread, inside the rules command: nothing of this thread reads them
 * meanwhile, and the caller waits for the command). */
static void engine_authority_install(engine_authority_swap *sw)
{
    for (size_t i = 0; sw != NULL && i < sw->n; i++) {
        if (sw->counts[i] == SIZE_MAX)
            continue;
        config_source *s = &sw->sources[i];
        config_authority *v = s->authority;
        size_t n = s->n_authority;
        s->authority = sw->lists[i];
        s->n_authority = sw->counts[i];
        sw->lists[i] = v;
        sw->counts[i] = n;
    }
}

/* engine_removal_check: a region removed must have no location left in it
 * (after the command's moves) and no remembered reservation naming it; a
 * channel removed, no remembered reservation made in it: stored records
 * would name nothing at the next start. ATP_OK, or ATP_E_BAD_STATE with
 * change->why said. Engine thread. */
static atp_err engine_removal_check(engine *e, engine_rules_change *change)
{
    for (size_t i = 0; i < change->n_removed_regions; i++) {
        uint32_t r = change->removed_regions[i];
        const char *id = e->cfg->regions[r].id;
        for (size_t l = 0; l < e->cfg->n_locations; l++)
            if (change->loc_region[l] == r) {
                snprintf(change->why, change->why_len,
                         "region %s cannot be removed: location %s is in it; "
                         "move it to another region or remove it first",
                         id, e->cfg->locations[l].id);
                return ATP_E_BAD_STATE;
            }
        size_t n = resv_table_using(&e->resv, r, UINT32_MAX);
        if (n > 0) {
            snprintf(change->why, change->why_len,
                     "region %s cannot be removed: %zu reservations atpd "
                     "remembers have lines in it (open ones, or finished "
                     "ones within reservations.retention); release them or "
                     "let them end and be forgotten first",
                     id, n);
            return ATP_E_BAD_STATE;
        }
    }
    for (size_t i = 0; i < change->n_removed_channels; i++) {
        uint32_t c = change->removed_channels[i];
        size_t n = resv_table_using(&e->resv, UINT32_MAX, c);
        if (n > 0) {
            snprintf(change->why, change->why_len,
                     "channel %s cannot be removed: %zu reservations atpd "
                     "remembers were made in it (open ones, or finished ones "
                     "within reservations.retention); release them or let "
                     "them end and be forgotten first",
                     e->cfg->channels[c], n);
            return ATP_E_BAD_STATE;
        }
    }
    return ATP_OK;
}

/* engine_places_switch: every region and channel place of the engine's
 * configuration that next does not name out of service, and with
 * places_in every one it names in (swap->places; engine thread, inside
 * the rules command). */
static void engine_places_switch(engine *e, const engine_rules_change *change)
{
    config *run = change->authority ? change->authority->places : NULL;
    const config *next = change->next_cfg;
    if (run == NULL || next == NULL)
        return;
    ATP_ASSERT(run == e->cfg);
    config_places_follow(run, next, change->authority->places_in);
}

void engine__rules_apply(engine *e, engine_rules_change *change)
{
    ATP_ASSERT_OWNER(&e->owner);
    atp_err rc = engine_removal_check(e, change);
    if (rc != ATP_OK) { /* refused: nothing changed */
        engine__sync_signal(change->waiter, rc);
        return;
    }
    /* The bundles of next, built here (their SKUs are interned, which only
     * this thread does) before anything changes: refused, nothing did.
     * Only when they changed: 100,000 of them take a second to build, and
     * the replaced set is kept (readers may hold it) until engine_free. */
    bundles *next_bundles = NULL;
    uint64_t next_digest = change->next_cfg != NULL
                               ? config_bundles_digest(change->next_cfg)
                               : e->bundles_digest;
    if (next_digest != e->bundles_digest &&
        (rc = engine__bundles_build(e, change->next_cfg, &next_bundles)) !=
            ATP_OK) {
        snprintf(change->why, change->why_len,
                 "the bundles could not be set up (%s)", atp_err_message(rc));
        engine__sync_signal(change->waiter, rc);
        return;
    }
    rules **sets = realloc(e->retired.sets, (e->retired.n + 1) * sizeof *sets);
    bundles **bsets = realloc(e->retired_bundles.sets,
                              (e->retired_bundles.n + 1) * sizeof *bsets);
    if (bsets != NULL)
        e->retired_bundles.sets = bsets;
    if (sets == NULL || bsets == NULL) { /* nothing changed: the caller
                                            frees next */
        if (sets != NULL)
            e->retired.sets = sets;
        bundles_free(next_bundles);
        engine__sync_signal(change->waiter, ATP_E_NOMEM);
        return;
    }
    e->retired.sets = sets;
    atp_err err = engine__relocate(e, change);
    if (err != ATP_OK) { /* refused: nothing changed */
        bundles_free(next_bundles);
        engine__sync_signal(change->waiter, err);
        return;
    }
    /* The pickup feed says what a change of a location's region or
     * settings did to its positions: it needs the regions before. */
    size_t n_locs = e->cfg->n_locations;
    uint16_t *was =
        e->pfeed.enabled ? malloc((n_locs ? n_locs : 1) * sizeof *was) : NULL;
    if (was != NULL)
        memcpy(was, e->loc_region, n_locs * sizeof *was);
    /* Odd while rows and rules change: readers of several rows wait. */
    uint32_t seq = atomic_load_explicit(&e->reloc_seq, memory_order_relaxed);
    ATP_ASSERT((seq & 1) == 0); /* even between moves: one writer */
    atomic_store_explicit(&e->reloc_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    engine__relocate_publish(e, change);
    if (change->authority != NULL && change->authority->places_in &&
        e->loc_settling != NULL) /* the change stored, or undone */
        memset(e->loc_settling, 0, e->cfg->n_locations);
    engine_authority_install(change->authority);
    /* Which sources may allocate where: the locations' regions and the
     * sources' authority, either of which this command may change. */
    resv_may_allocate_set(&e->resv, e->cfg, e->loc_region);
    engine_horizons_publish(e, change);
    sets[e->retired.n++] =
        atomic_exchange_explicit(&e->rules, change->next, memory_order_acq_rel);
    if (next_bundles != NULL) { /* room for the replaced set: made above */
        engine__bundles_install(e, next_bundles);
        e->bundles_digest = next_digest;
    }
    /* after the rules: a channel put in service answers with its rules */
    engine_places_switch(e, change);
    atomic_store_explicit(&e->reloc_seq, seq + 2, memory_order_release);
    change->taken = true;
    /* Types and pickup settings: read only on this thread (explain,
     * pickup), so a swap is the whole publication. */
    engine_location_info *info = e->loc_info;
    e->loc_info = change->info;
    change->info = info;
    if (was != NULL)
        engine__pickup_settings(e, was, info);
    else if (e->pfeed.enabled)
        log_error("engine", "out of memory: the pickup feed does not publish "
                            "this change of locations' settings");
    free(was);
    /* A rule for every SKU (or a region's every SKU) marks many rows: the
     * feed then publishes each once, as after a region turning stale. */
    uint64_t marked = 0;
    for (size_t i = 0; i < change->n_scopes; i++)
        marked += engine_rules_mark_scope(e, &change->scopes[i]);
    change->rows_marked = marked;
    engine__sync_signal(change->waiter, ATP_OK);
}
