/*
 * admin.c - the administered state: restored or seeded at start-up
 * (main thread), changed by a client (the admin thread, admin__apply) or
 * by SIGHUP (main thread, admin_reload), one change at a time under mu:
 * the change is validated as a configuration document, applied to the
 * engine like a reload, stored with its audit record, and only then in
 * force here (and answered). A store that refuses it undoes the engine's
 * part: nothing changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"

atp_err admin_alloc(config *cfg, const admin_persist *p, admin **out)
{
    admin *a = calloc(1, sizeof *a);
    if (a == NULL)
        return ATP_E_NOMEM;
    a->started = cfg;
    if (p != NULL)
        a->persist = *p;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->qmu, NULL);
    clock_cond_init(&a->qcond);
    *out = a;
    return ATP_OK;
}

void admin_free(admin *a)
{
    if (a == NULL)
        return;
    ATP_ASSERT(!a->running);
    if (a->have_cur)
        config_fini(&a->cur);
    for (size_t i = 0; i < a->n_hist; i++)
        admin__entry_fini(&a->hist[i]);
    free(a->hist);
    free(a->cur_text);
    free(a->file_text);
    free(a->stored_text);
    free(a->stored_file);
    for (size_t i = 0; i < a->n_left_out; i++)
        free(a->left_out[i]);
    free(a->left_out);
    pthread_cond_destroy(&a->qcond);
    pthread_mutex_destroy(&a->qmu);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void admin_restore_record(admin *a, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    if (key_len == 5 && memcmp(key, "state", 5) == 0) {
        free(a->stored_text);
        a->stored_text = NULL;
        free(a->stored_file);
        a->stored_file = NULL;
        /* One that does not decode stops the start (admin_begin), as one
         * that is no valid configuration does: seeding from the file
         * instead would drop the run-time changes and number versions
         * again over the stored history. */
        a->stored_unreadable = !admin__state_decode(
            val, val_len, &a->stored_version, &a->stored_text, &a->stored_file);
        return;
    }
    admin_entry e;
    if (key_len == 9 && ((const char *)key)[0] == 'h' &&
        admin__entry_decode(val, val_len, &e))
        admin__entry_add(a, &e);
    else
        log_warn("admin", "a stored admin record cannot be read: skipped");
}

/* admin__parse reads a state document into *out. false: why says what is
 * wrong (the first problem, with its line). */
atp_err admin__parse(const char *text, size_t len, config *out, char *why,
                     size_t why_len)
{
    config_diags d = {0};
    atp_err err = config_load_string(text, len, out, &d);
    if (err != ATP_OK && why != NULL) {
        size_t o = 0;
        why[0] = '\0';
        for (size_t i = 0; i < d.n && o + 1 < why_len; i++)
            o += (size_t)snprintf(why + o, why_len - o, "%s%s", i ? "; " : "",
                                  d.items[i].message);
        if (d.n == 0)
            snprintf(why, why_len, "%s", atp_err_message(err));
    }
    config_diags_fini(&d);
    return err;
}

static void admin_report_left_out(void *ctx, const char *what)
{
    (void)ctx;
    log_warn("admin", "stored admin state: %s", what);
}

/* admin_entry_make: an audit record of atpd's own (no change id). */
static bool admin_entry_make(admin_entry *e, const char *who, const char *op,
                             const char *what, const char *before)
{
    *e = (admin_entry){.at_ms = clock_wall_ms(),
                       .id = strdup(""),
                       .who = strdup(who),
                       .op = strdup(op),
                       .what = strdup(what),
                       .before = strdup(before),
                       .after = strdup("")};
    if (e->id && e->who && e->op && e->what && e->before && e->after)
        return true;
    admin__entry_fini(e);
    return false;
}

/* admin_from_file makes the file's administered part (cfg's, as loaded)
 * the state's next version, stored without waiting (the store's threads
 * start later; a start that dies first takes it from the file again). */
static atp_err admin_from_file(admin *a, const char *op, const char *before)
{
    admin_entry e;
    if (!admin_entry_make(&e, "config-file", op,
                          "the configuration file's buffer rules and "
                          "locations",
                          before))
        return ATP_E_NOMEM;
    e.version = a->version + 1;
    atp_err err = admin__store(a, a->cur_text, &e, false);
    if (err != ATP_OK) {
        admin__entry_fini(&e);
        return err;
    }
    a->version = e.version;
    return admin__entry_add(a, &e) ? ATP_OK : ATP_E_NOMEM;
}

static void admin_places_publish(admin *a, const config *state);

/* admin_stored_overlay lays the stored state over the file's (main
 * thread, start-up). */
static atp_err admin_stored_overlay(admin *a)
{
    config doc;
    char why[1024];
    if (admin__parse(a->stored_text, strlen(a->stored_text), &doc, why,
                     sizeof why) != ATP_OK) {
        log_error("admin",
                  "the stored admin state (version %llu) is not a valid "
                  "configuration: %s; atpd does not start on it",
                  (unsigned long long)a->stored_version, why);
        return ATP_E_CONFIG;
    }
    /* What the overlay leaves out: the file's locations the state does not
     * list (removed at run time), kept for admin_reload. */
    atp_err err = ATP_OK;
    a->left_out = calloc(a->started->n_locations + 1, sizeof *a->left_out);
    if (a->left_out == NULL)
        err = ATP_E_NOMEM;
    for (size_t i = 0; err == ATP_OK && i < a->started->n_locations; i++) {
        const char *id = a->started->locations[i].id;
        if (config_location_find(&doc, id, strlen(id)) >= 0)
            continue;
        if ((a->left_out[a->n_left_out] = strdup(id)) == NULL)
            err = ATP_E_NOMEM;
        else
            a->n_left_out++;
    }
    if (err == ATP_OK)
        err =
            config_admin_overlay(a->started, &doc, admin_report_left_out, NULL);
    /* The regions and channels the state removed at run time and the file
     * still lists: their places out of service (admin_text leaves them
     * out of the state then). */
    if (err == ATP_OK)
        admin_places_publish(a, &doc);
    config_fini(&doc);
    if (err == ATP_OK)
        log_info("admin",
                 "the stored admin state (version %llu) is in force for "
                 "buffer rules, locations and authority: the file's have not "
                 "changed since atpd last read it%s (docs/CONFIG.md, "
                 "\"Run-time administration\")",
                 (unsigned long long)a->stored_version,
                 strcmp(a->file_text, a->stored_text) == 0
                     ? ", and they are the same"
                     : "; they differ from the stored state and are not used");
    return err;
}

static atp_err admin_begin_state(admin *a);

/* admin_file_same: the file's administered part (now) is what it was
 * when last read (stored). A part stored before sources were administered
 * has no sources section: now's part without its own (written last) is
 * compared then, so an upgrade does not take the file for changed. */
static bool admin_file_same(const char *now, const char *stored)
{
    if (strcmp(now, stored) == 0)
        return true;
    const char *mark = "\nsources:\n";
    const char *at = strstr(now, mark);
    if (at == NULL || strstr(stored, mark) != NULL)
        return false;
    size_t n = (size_t)(at - now) + 1; /* through the newline before it */
    return strlen(stored) == n && strncmp(now, stored, n) == 0;
}

atp_err admin_begin(admin *a)
{
    atp_err err = admin_begin_state(a);
    if (err != ATP_OK)
        return err;
    /* Room for locations added while atpd runs (config_location_spares):
     * after the state, which names every location atpd starts with. */
    size_t spare = a->started->service.spare_locations;
    if ((err = config_location_spares(a->started, spare)) != ATP_OK)
        return err;
    if (a->started->n_locations - config_location_named(a->started) < spare)
        log_warn("admin",
                 "service.spare_locations: room for %zu locations added at "
                 "run time, not %zu (at most %d locations in all)",
                 a->started->n_locations - config_location_named(a->started),
                 spare, CONFIG_MAX_LOCATIONS);
    spare = a->started->service.spare_regions;
    if ((err = config_region_spares(a->started, spare)) != ATP_OK)
        return err;
    if (a->started->n_regions - config_regions_live(a->started) < spare)
        log_warn("admin",
                 "service.spare_regions: room for %zu regions added at run "
                 "time, not %zu (at most %d regions in all)",
                 a->started->n_regions - config_regions_live(a->started), spare,
                 CONFIG_MAX_REGIONS);
    spare = a->started->service.spare_channels;
    if ((err = config_channel_spares(a->started, spare)) != ATP_OK)
        return err;
    /* A region or channel the state removed at run time and the file
     * still lists keeps its place, out of service. */
    admin_places_publish(a, &a->cur);
    if (a->started->n_channels - config_channels_live(a->started) < spare)
        log_warn("admin",
                 "service.spare_channels: room for %zu channels added at "
                 "run time, not %zu (at most %d channels in all)",
                 a->started->n_channels - config_channels_live(a->started),
                 spare, CONFIG_MAX_CHANNELS);
    return ATP_OK;
}

/* admin_begin_state: the stored state laid over the file's, or the file's
 * seeding it. */
static atp_err admin_begin_state(admin *a)
{
    if (a->stored_unreadable) {
        log_error("admin", "the stored admin state cannot be read (not a "
                           "state record of this atpd); atpd does not start "
                           "on it");
        return ATP_E_CONFIG;
    }
    size_t len;
    atp_err err = config_admin_text(a->started, NULL, &a->file_text, &len);
    if (err != ATP_OK)
        return err;
    /* The rule (docs/CONFIG.md): the file's administered part applies when
     * it changed since atpd last read it; otherwise the stored state
     * stays. */
    bool stored = a->stored_text != NULL;
    bool file_changed =
        stored && !admin_file_same(a->file_text, a->stored_file);
    if (stored && !file_changed && (err = admin_stored_overlay(a)) != ATP_OK)
        return err;
    a->version = stored ? a->stored_version : 0;
    if ((err = config_admin_text(a->started, NULL, &a->cur_text, &len)) !=
        ATP_OK)
        return err;
    char why[1024];
    if ((err = admin__parse(a->cur_text, len, &a->cur, why, sizeof why)) !=
        ATP_OK) {
        log_error("admin", "the administered state does not read back: %s",
                  why);
        return ATP_E_INTERNAL;
    }
    a->have_cur = true;
    if (stored && !file_changed)
        return ATP_OK;
    char before[64] = "";
    if (stored)
        snprintf(before, sizeof before, "version %llu",
                 (unsigned long long)a->stored_version);
    if ((err = admin_from_file(a, stored ? "file" : "seed", before)) != ATP_OK)
        return err;
    if (stored)
        log_info("admin",
                 "the file's buffer rules and locations changed "
                 "since atpd last read it: they replace the stored admin "
                 "state (version %llu) as version %llu (docs/CONFIG.md, "
                 "\"Run-time administration\")",
                 (unsigned long long)a->stored_version,
                 (unsigned long long)a->version);
    else
        log_info("admin", "no stored admin state: seeded from the "
                          "configuration file (version 1)");
    return ATP_OK;
}

/* admin_relocate tells the sources where cfg puts the engine's locations. */
static void admin_relocate(admin *a, const config *cfg, bool full)
{
    size_t n = a->started->n_locations;
    uint16_t *loc = malloc((n ? n : 1) * sizeof *loc);
    if (loc == NULL)
        return; /* the sources keep their regions: staleness only */
    config_location_regions(a->started, cfg, loc);
    if (full)
        sources_reload(a->src, cfg, loc);
    else
        sources_relocate(a->src, loc);
    free(loc);
}

/* admin_room: want new ids of kind what ("region", "channel",
 * "location", first of them first) against room spare places of
 * service.spare_<what>s (spare of them at start): ATP_OK, or
 * ATP_E_BAD_STATE with why said (nothing is claimed then: all or none). */
static atp_err admin_room(const char *what, const char *first, size_t want,
                          size_t room, unsigned spare, char *why,
                          size_t why_len)
{
    if (want <= room)
        return ATP_OK;
    snprintf(why, why_len,
             "no room for %s '%.128s'%s: %zu %s(s) to add, %zu of the %u "
             "places for %ss added at run time (service.spare_%ss) left; "
             "restart atpd (the stored state lists the %ss added so far) to "
             "make room: nothing changed",
             what, first, want > 1 ? " and the others" : "", want, what, room,
             spare, what, what, what);
    return ATP_E_BAD_STATE;
}

/* admin_channels_claim names a spare channel place of the running
 * configuration for each of next's channels it has no place for, all or
 * none; each stays out of service until the rules command puts it in
 * (engine_authority_swap.places). A channel removed before keeps its
 * place. */
static atp_err admin_channels_claim(admin *a, const config *next, char *why,
                                    size_t why_len)
{
    config *run = a->started;
    size_t want = 0;
    const char *first = "";
    for (size_t i = 0; i < next->n_channels; i++) {
        const char *id = next->channels[i];
        if (config_channel_place(run, id, strlen(id)) < 0 && !want++)
            first = id;
    }
    size_t live = config_channels_live(run);
    atp_err err = admin_room("channel", first, want, run->n_channels - live,
                             run->service.spare_channels, why, why_len);
    for (size_t i = 0; err == ATP_OK && i < next->n_channels; i++) {
        uint32_t k;
        if ((err = config_channel_claim(run, next->channels[i], &k)) != ATP_OK)
            snprintf(why, why_len, "%s: nothing changed", atp_err_message(err));
    }
    return err;
}

/* admin_regions_claim: admin_channels_claim for regions (with next's
 * horizons). */
static atp_err admin_regions_claim(admin *a, const config *next, char *why,
                                   size_t why_len)
{
    config *run = a->started;
    size_t want = 0;
    const char *first = "";
    for (size_t i = 0; i < next->n_regions; i++) {
        const char *id = next->regions[i].id;
        if (config_region_place(run, id, strlen(id)) < 0 && !want++)
            first = id;
    }
    size_t live = config_regions_live(run);
    atp_err err = admin_room("region", first, want, run->n_regions - live,
                             run->service.spare_regions, why, why_len);
    for (size_t i = 0; err == ATP_OK && i < next->n_regions; i++) {
        const config_region *r = &next->regions[i];
        uint32_t k;
        if ((err = config_region_claim(run, r->id, r->inbound_horizon_ms,
                                       &k)) != ATP_OK)
            snprintf(why, why_len, "%s: nothing changed", atp_err_message(err));
    }
    return err;
}

/* admin_places_publish: the regions and channels of state (the state in
 * force) in service in the running configuration, those it does not list
 * out of it (removed at run time). At start-up; at run time the rules
 * command does it (engine_authority_swap.places), undone by the undo. */
static void admin_places_publish(admin *a, const config *state)
{
    config_places_follow(a->started, state, true);
}

/* admin_locations_claim names a spare place of the running configuration
 * for each location of next it does not name (config_location_claim):
 * the engine then takes it in like a location named again. A change
 * refused later (the engine's checks, the store) leaves the places it
 * named with their ids: a reader may hold their indexes, and the same
 * change retried finds them again. */
static atp_err admin_locations_claim(admin *a, const config *next, char *why,
                                     size_t why_len)
{
    /* All or none: a change that adds more than there is room for takes
     * no place (a place once named stays with its id). */
    size_t want = 0,
           room = a->started->n_locations - config_location_named(a->started);
    const char *first = NULL;
    for (size_t i = 0; i < next->n_locations; i++) {
        const char *id = next->locations[i].id;
        if (config_location_find(a->started, id, strlen(id)) < 0 && !want++)
            first = id;
    }
    atp_err err0 =
        admin_room("location", first, want, room,
                   a->started->service.spare_locations, why, why_len);
    if (err0 != ATP_OK)
        return err0;
    for (size_t i = 0; i < next->n_locations; i++) {
        const char *id = next->locations[i].id;
        if (config_location_find(a->started, id, strlen(id)) >= 0)
            continue;
        uint32_t k;
        atp_err err = config_location_claim(a->started, id, &k);
        if (err != ATP_OK) /* counted above: only out of memory */
            snprintf(why, why_len, "%s: nothing changed", atp_err_message(err));
        if (err != ATP_OK)
            return err;
        log_info("admin",
                 "location '%s' takes place %u of the running "
                 "configuration",
                 id, k);
    }
    return ATP_OK;
}

/* admin_authority_of: in sw, for each source of the running
 * configuration, next's authority over it (sources and locations matched
 * by id) for the engine to install (engine_rules_replace_swap); a source
 * next lacks, or every source when next has none (a state stored before
 * sources were administered), keeps its own (counts SIZE_MAX). */
static atp_err admin_authority_of(admin *a, const config *next,
                                  engine_authority_swap *sw)
{
    config *run = a->started;
    size_t n = run->n_sources;
    *sw =
        (engine_authority_swap){.sources = run->sources, .n = n, .places = run};
    sw->lists = calloc(n ? n : 1, sizeof *sw->lists);
    sw->counts = calloc(n ? n : 1, sizeof *sw->counts);
    atp_err err = sw->lists && sw->counts ? ATP_OK : ATP_E_NOMEM;
    for (size_t i = 0; err == ATP_OK && i < n; i++) {
        const config_source *s = &run->sources[i];
        int k = next->n_sources == 0
                    ? -1
                    : config_source_find(next, s->id, strlen(s->id));
        sw->counts[i] = SIZE_MAX;
        if (k >= 0)
            err = config_authority_map(run, next, &next->sources[k],
                                       &sw->lists[i], &sw->counts[i]);
    }
    return err;
}

/* admin_authority_done frees what sw holds: the lists the engine replaced,
 * or the ones it did not install. */
static void admin_authority_done(engine_authority_swap *sw)
{
    for (size_t i = 0; sw->lists != NULL && i < sw->n; i++)
        free(sw->lists[i]);
    free(sw->lists);
    free(sw->counts);
}

/* admin_left_out_keep: a location the state in force lists again (added
 * back at run time) is no longer left out of a reloaded file. */
static void admin_left_out_keep(admin *a, const config *state)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_left_out; i++) {
        const char *id = a->left_out[i];
        if (config_location_find(state, id, strlen(id)) >= 0)
            free(a->left_out[i]);
        else
            a->left_out[n++] = a->left_out[i];
    }
    a->n_left_out = n;
}

/* admin_places_in: once a change is stored, the places it added (out of
 * service so far) go in, their rows marked for the change feed, and the
 * locations it moved (moved) take pinned lines again: one more rules
 * command, with the same rules (engine_authority_swap.places_in). A
 * failure leaves them so until the next stored change (logged). */
static void admin_places_in(admin *a, const config *state,
                            const config *engine_next, bool moved)
{
    config *run = a->started;
    bool any = moved; /* its moved locations take pinned lines again */
    for (size_t i = 0; !any && i < state->n_regions; i++) {
        const char *id = state->regions[i].id;
        int k = config_region_place(run, id, strlen(id));
        any = k >= 0 && !config_region_in_service(run, (uint32_t)k);
    }
    for (size_t i = 0; !any && i < state->n_channels; i++) {
        const char *id = state->channels[i];
        int k = config_channel_place(run, id, strlen(id));
        any = k >= 0 && !config_channel_in_service(run, (uint32_t)k);
    }
    if (!any)
        return;
    size_t n = run->n_sources;
    size_t *keep = malloc((n ? n : 1) * sizeof *keep);
    if (keep != NULL) {
        for (size_t i = 0; i < n; i++)
            keep[i] = SIZE_MAX; /* the authority stays as it is */
        engine_authority_swap sw = {.sources = run->sources,
                                    .lists = NULL,
                                    .counts = keep,
                                    .n = n,
                                    .places = run,
                                    .places_in = true};
        engine_rules_report rep = {0};
        if (engine_rules_replace_swap(a->eng, engine_next, engine_next, &sw,
                                      &rep) == ATP_OK) {
            free(keep);
            return;
        }
        free(keep);
    }
    log_error("admin", "a region or channel added is stored but not in "
                       "service, or a location moved takes no pinned line "
                       "yet (out of memory, or atpd stops): the next stored "
                       "admin change, or the next start, settles it");
}

/* admin__commit makes next (the state document read from text, both
 * taken on success) the state in force: engine_next (next itself, or the
 * whole file for SIGHUP: full) applied, then e stored as the next
 * version. Under mu. On failure nothing changed; why says why. */
atp_err admin__commit(admin *a, config *next, char *text,
                      const config *engine_next, bool full, admin_entry *e,
                      engine_rules_report *rep, char *why, size_t why_len)
{
    engine_rules_report r0;
    if (rep == NULL)
        rep = &r0;
    /* Regions first: a location added may be in a region added. */
    atp_err err = admin_regions_claim(a, engine_next, why, why_len);
    if (err == ATP_OK)
        err = admin_channels_claim(a, engine_next, why, why_len);
    if (err == ATP_OK)
        err = admin_locations_claim(a, engine_next, why, why_len);
    if (err != ATP_OK)
        return err;
    engine_authority_swap sw;
    if ((err = admin_authority_of(a, engine_next, &sw)) != ATP_OK) {
        admin_authority_done(&sw);
        snprintf(why, why_len, "out of memory: nothing changed");
        return err;
    }
    err = engine_rules_replace_swap(a->eng, &a->cur, engine_next, &sw, rep);
    if (err != ATP_OK) {
        admin_authority_done(&sw); /* not installed */
        /* The engine's reason is the message (docs quote it); the code
         * alone says only the class. */
        if (rep->refused[0] != '\0')
            snprintf(why, why_len, "%s", rep->refused);
        else
            snprintf(why, why_len, "the engine refused it: %s",
                     atp_err_message(err));
        return err;
    }
    e->version = a->version + 1;
    e->at_ms = clock_wall_ms();
    if ((err = admin__store(a, text, e, true)) != ATP_OK) {
        /* The same swap installs the replaced lists back and the places
         * as the state in force has them (a place this change added never
         * went in service: nothing was held there). */
        sw.places_in = true;
        engine_rules_report undo = {0};
        atp_err uerr =
            engine_rules_replace_swap(a->eng, engine_next, &a->cur, &sw, &undo);
        if (uerr != ATP_OK && undo.refused[0] == '\0')
            snprintf(undo.refused, sizeof undo.refused, "%s",
                     atp_err_message(uerr));
        if (uerr == ATP_OK) {
            snprintf(why, why_len,
                     "not stored (%s): undone, nothing changed; retry once "
                     "the store has room",
                     atp_err_message(err));
        } else {
            log_error("admin",
                      "undoing a change the store refused failed "
                      "(%s): the engine runs it until restart",
                      undo.refused);
            snprintf(why, why_len,
                     "not stored (%s), and not undone (%.300s): atpd runs "
                     "the change until it restarts, which applies the "
                     "stored state",
                     atp_err_message(err), undo.refused);
            err = ATP_E_INTERNAL;
        }
        admin_authority_done(&sw);
        return err;
    }
    admin_authority_done(&sw); /* the lists replaced */
    admin_places_in(a, next, engine_next,
                    rep->moved.locations + rep->moved.restored > 0);
    /* The sources (the ingest's locations and authority) follow once the
     * change is stored: no message is taken under an authority or at a
     * location that a store failure would undo. */
    admin_relocate(a, engine_next, full);
    admin_left_out_keep(a, next);
    config_fini(&a->cur);
    a->cur = *next;
    free(a->cur_text);
    a->cur_text = text;
    a->version = e->version;
    if (!admin__entry_add(a, e))
        log_error("admin",
                  "version %llu stored but not kept in the "
                  "history in memory (out of memory)",
                  (unsigned long long)a->version);
    return ATP_OK;
}

atp_err admin_reload(admin *a, config *next, admin_check_fn check, void *ctx,
                     engine_rules_report *rep)
{
    pthread_mutex_lock(&a->mu);
    char *ftext = NULL, *text = NULL;
    size_t len;
    config doc;
    char why[1024] = "";
    atp_err err = config_admin_text(next, NULL, &ftext, &len);
    if (err != ATP_OK)
        goto out;
    if (strcmp(ftext, a->file_text) == 0) {
        /* The file's administered part is as it was: the state stays. */
        if ((err = config_admin_overlay(next, &a->cur, admin_report_left_out,
                                        NULL)) == ATP_OK &&
            (err = check(ctx, next) > 0 ? ATP_E_CONFIG : ATP_OK) == ATP_OK &&
            (err = engine_rules_replace(a->eng, &a->cur, next, rep)) == ATP_OK)
            admin_relocate(a, next, true);
        if (err == ATP_OK)
            log_info("admin",
                     "reload: the file's buffer rules and locations "
                     "are as when it was last read: the admin state "
                     "(version %llu) stays in force",
                     (unsigned long long)a->version);
        free(ftext);
        goto out;
    }
    /* The file wins, except for a location removed at run time before
     * this start and not added back since: the file still naming it is
     * not taken for adding it back (it stays out until a restart, as at a
     * start with that file), and the rest of the file applies. */
    char dropped[512] = ""; /* their ids, for the log once applied */
    size_t n_dropped = 0, used = 0;
    bool cut = false;
    for (size_t i = 0; err == ATP_OK && i < a->n_left_out; i++) {
        err = config_location_drop(next, a->left_out[i]);
        if (err == ATP_OK) {
            n_dropped++;
            int k = snprintf(dropped + used, sizeof dropped - used, "%s'%s'",
                             used ? ", " : "", a->left_out[i]);
            if (k > 0 && (size_t)k < sizeof dropped - used)
                used += (size_t)k;
            else
                cut = true, dropped[used] = '\0';
        } else if (err == ATP_E_NOT_FOUND) {
            err = ATP_OK;
        }
    }
    if (err != ATP_OK) {
        free(ftext);
        goto out;
    }
    if (check(ctx, next) > 0) {
        err = ATP_E_CONFIG;
        free(ftext);
        goto out;
    }
    /* The state is the file's part as applied (without those), the file
     * text stays the file's whole part (what the next read compares). */
    err = config_admin_text(next, NULL, &text, &len);
    if (err != ATP_OK ||
        (err = admin__parse(text, len, &doc, why, sizeof why)) != ATP_OK) {
        err = err == ATP_E_NOMEM ? ATP_E_NOMEM : ATP_E_INTERNAL;
        free(text);
        free(ftext);
        goto out;
    }
    char before[64];
    snprintf(before, sizeof before, "version %llu",
             (unsigned long long)a->version);
    admin_entry e;
    if (!admin_entry_make(&e, "sighup", "reload",
                          "the configuration file's buffer rules and "
                          "locations",
                          before)) {
        err = ATP_E_NOMEM;
        config_fini(&doc);
        free(text);
        free(ftext);
        goto out;
    }
    char *was = a->file_text; /* stored with the state */
    a->file_text = ftext;
    err = admin__commit(a, &doc, text, next, true, &e, rep, why, sizeof why);
    if (err != ATP_OK) {
        a->file_text = was;
        admin__entry_fini(&e);
        config_fini(&doc);
        free(text);
        free(ftext);
        goto out;
    }
    free(was);
    if (n_dropped > 0)
        log_info("admin",
                 "reload: %zu location(s) removed at run time are still named "
                 "by the file and stay out until atpd restarts (and the "
                 "authority entries naming them): %s%s",
                 n_dropped, dropped, cut ? ", ..." : "");
    log_info("admin",
             "reload: the file's buffer rules and locations changed "
             "since atpd last read it: they are the admin state's version "
             "%llu",
             (unsigned long long)a->version);
out:
    if (err != ATP_OK && why[0] != '\0' && rep != NULL &&
        rep->refused[0] == '\0')
        snprintf(rep->refused, sizeof rep->refused, "%.300s", why);
    pthread_mutex_unlock(&a->mu);
    return err;
}
