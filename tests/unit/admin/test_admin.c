/*
 * test_admin.c - unit tests of src/admin: the administered state over a
 * running engine and an in-memory persistence.
 * - first start seeds version 1 from the file (two records: state, audit);
 * - a change applies to the engine (ATP), stores its records, answers the
 *   next version; the same change id and content replays, other content
 *   is conflict; an unknown region is refused with its code, nothing
 *   changes;
 * - a store that refuses the write: the change is undone in the engine
 *   (ATP as before), the version stays, the answer is the store's code;
 * - a restart from the stored records with the same file: the stored state
 *   is laid over the file (rules, regions), version and history kept, a
 *   change id replays; with the file's rules edited: the file's win as
 *   the next version.
 * - SIGHUP (admin_reload): the file as last read keeps the admin state; an
 *   edited file the store refuses is undone (version, ATP, records as
 *   before); one removing a location with stock is refused by the engine;
 * - a start over damaged records: a bad audit record is skipped, a state
 *   record that cannot be read or is no valid configuration stops it.
 * Labels: unit, admin (issue 16), suite (issue 21).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/admin_int.h"
#include "atp/wire.h"
#include "codec/codec.h"

#define TEST_FILE(rules)                                                       \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"          \
    "channels: [web]\n"                                                        \
    "buffers: [" rules "]\n"

/* ---- an in-memory store ---------------------------------------------------*/

typedef struct test_rec {
    char key[16];
    size_t key_len;
    char *val;
    size_t val_len;
} test_rec;

typedef struct test_store {
    test_rec recs[64];
    size_t n;
    atp_err fail; /* ATP_OK: writes succeed */
} test_store;

static atp_err test_put(void *ctx, const admin_record *r, size_t n,
                        void (*done)(void *arg, atp_err err), void *arg)
{
    test_store *s = ctx;
    if (s->fail == ATP_OK)
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            while (k < s->n && (s->recs[k].key_len != r[i].key_len ||
                                memcmp(s->recs[k].key, r[i].key, r[i].key_len)))
                k++;
            assert_true(k < 64 && r[i].key_len <= 16);
            if (k == s->n)
                s->n++;
            else
                free(s->recs[k].val);
            memcpy(s->recs[k].key, r[i].key, r[i].key_len);
            s->recs[k].key_len = r[i].key_len;
            s->recs[k].val = malloc(r[i].val_len);
            memcpy(s->recs[k].val, r[i].val, r[i].val_len);
            s->recs[k].val_len = r[i].val_len;
        }
    done(arg, s->fail); /* on the caller's thread: allowed */
    return ATP_OK;
}

static void test_store_fini(test_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->recs[i].val);
}

/* ---- a running atpd core ------------------------------------------------- */

typedef struct test_core {
    config cfg;
    engine *eng;
    sources *src;
    admin *adm;
} test_core;

static void test_release(void *owner, bool applied)
{
    (void)owner;
    assert_true(applied);
}

static void test_core_start(test_core *t, const char *file, test_store *s,
                            bool restore)
{
    config_diags d = {0};
    assert_int_equal(config_load_string(file, strlen(file), &t->cfg, &d),
                     ATP_OK);
    config_diags_fini(&d);
    admin_persist p = {.ctx = s, .put = test_put};
    assert_int_equal(admin_alloc(&t->cfg, &p, &t->adm), ATP_OK);
    if (restore) /* the key order of the store: 'h' + version, then state */
        for (size_t i = 0; i < s->n; i++)
            admin_restore_record(t->adm, s->recs[i].key, s->recs[i].key_len,
                                 s->recs[i].val, s->recs[i].val_len);
    assert_int_equal(admin_begin(t->adm), ATP_OK);
    assert_int_equal(engine_alloc(&t->cfg, NULL, &t->eng), ATP_OK);
    assert_int_equal(sources_alloc(&t->cfg, &t->src), ATP_OK);
    assert_int_equal(engine_start(t->eng), ATP_OK);
    assert_int_equal(admin_start(t->adm, t->eng, t->src), ATP_OK);
    /* supply 10 of A in both regions */
    engine_event ev[2];
    for (int i = 0; i < 2; i++)
        ev[i] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = (uint16_t)i,
                               .sku = "A",
                               .sku_len = 1,
                               .value = 10};
    engine_batch b = {.events = ev, .n = 2, .release = test_release};
    assert_int_equal(engine_submit(t->eng, &b), ATP_OK);
    assert_int_equal(engine_sync(t->eng), ATP_OK);
}

static void test_core_stop(test_core *t)
{
    admin_stop(t->adm);
    engine_stop(t->eng);
    engine_free(t->eng);
    sources_free(t->src);
    admin_free(t->adm);
    config_fini(&t->cfg);
}

static int64_t test_atp(test_core *t, uint32_t region)
{
    engine_answer a;
    engine_query(t->eng, "A", 1, region, 0, &a);
    return a.atp;
}

/* ---- a change, waited for ------------------------------------------------ */

typedef struct test_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    admin_result res;
} test_wait;

static void test_done(void *arg, const admin_result *res)
{
    test_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static admin_result test_change(test_core *t, const char *id, config_edit edit)
{
    test_wait w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    admin_change c = {.edit = edit, .change_id = id, .who = "tester"};
    assert_int_equal(admin_submit(t->adm, &c, test_done, &w), ATP_OK);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return w.res;
}

static const config_edit test_units_us = {.kind = CONFIG_EDIT_BUFFER_SET,
                                          .sku = "A",
                                          .region = "us",
                                          .has_units = true,
                                          .units = 4};

static void test_changes(void **state)
{
    (void)state;
    test_store s = {.n = 0};
    test_core t;
    test_core_start(&t, TEST_FILE("{units: 1}"), &s, false);
    assert_int_equal(admin_version(t.adm), 1);
    assert_int_equal(s.n, 2); /* seeded: state and its audit record */
    assert_int_equal(test_atp(&t, 0), 9);

    admin_result r = test_change(&t, "c1", test_units_us);
    assert_int_equal(r.err, ATP_OK);
    assert_int_equal(r.version, 2);
    assert_false(r.replayed);
    assert_int_equal(test_atp(&t, 0), 6);
    assert_int_equal(test_atp(&t, 1), 9);
    assert_int_equal(s.n, 3); /* state replaced, one more audit record */

    r = test_change(&t, "c1", test_units_us);
    assert_int_equal(r.err, ATP_OK);
    assert_int_equal(r.version, 2);
    assert_true(r.replayed);
    config_edit other = test_units_us;
    other.units = 5;
    r = test_change(&t, "c1", other);
    assert_int_equal(r.err, ATP_E_CONFLICT);

    config_edit mars = {.kind = CONFIG_EDIT_LOCATION_MOVE,
                        .location = "dc-us",
                        .region = "mars"};
    r = test_change(&t, "c2", mars);
    assert_int_equal(r.err, ATP_E_UNKNOWN_REGION);
    assert_int_equal(admin_version(t.adm), 2);

    /* the store refuses: undone */
    s.fail = ATP_E_STORE_FULL;
    config_edit move = {
        .kind = CONFIG_EDIT_LOCATION_MOVE, .location = "dc-us", .region = "eu"};
    r = test_change(&t, "c3", move);
    assert_int_equal(r.err, ATP_E_STORE_FULL);
    assert_non_null(strstr(r.message, "undone"));
    assert_int_equal(admin_version(t.adm), 2);
    assert_int_equal(test_atp(&t, 0), 6); /* dc-us still in us */
    assert_int_equal(test_atp(&t, 1), 9);
    s.fail = ATP_OK;
    r = test_change(&t, "c3", move);
    assert_int_equal(r.err, ATP_OK);
    assert_int_equal(r.version, 3);
    assert_int_equal(test_atp(&t, 0), 0); /* us: no stock, its rule */
    assert_int_equal(test_atp(&t, 1), 19);
    test_core_stop(&t);

    /* restart, the same file: the stored state is laid over it */
    test_core_start(&t, TEST_FILE("{units: 1}"), &s, true);
    assert_int_equal(admin_version(t.adm), 3);
    assert_int_equal(t.cfg.locations[0].region, 1); /* dc-us in eu */
    assert_int_equal(t.cfg.n_buffers, 2);
    assert_int_equal(test_atp(&t, 1), 19);
    r = test_change(&t, "c1", test_units_us);
    assert_true(r.replayed);
    assert_int_equal(r.version, 2);
    test_core_stop(&t);

    /* restart with the file's rules edited: the file wins, version 4 */
    test_core_start(&t, TEST_FILE("{units: 2}"), &s, true);
    assert_int_equal(admin_version(t.adm), 4);
    assert_int_equal(t.cfg.locations[0].region, 0); /* the file's */
    assert_int_equal(test_atp(&t, 0), 8);
    test_core_stop(&t);
    test_store_fini(&s);
}

/* ---- issue 21: SIGHUP and start-up against a refusing or damaged store -- */

static config test_file(const char *text)
{
    config c;
    config_diags d = {0};
    assert_int_equal(config_load_string(text, strlen(text), &c, &d), ATP_OK);
    config_diags_fini(&d);
    return c;
}

/* SIGHUP (admin_reload): a file whose administered part is as last read
 * leaves the admin state (and a run-time change) in force; an edited file
 * that the store refuses is undone (version, ATP and stored records as
 * before, the reason in the report); stored, it is the next version; one
 * that removes a location holding stock is refused by the engine. */
/* SIGHUP's structure check (daemon: config_compare) finds nothing to
 * refuse: these cases are about the admin state, not the structure. */
static size_t test_check_none(void *ctx, const config *next)
{
    (void)ctx;
    (void)next;
    return 0;
}

static void test_reload(void **state)
{
    (void)state;
    test_store s = {.n = 0};
    test_core t;
    test_core_start(&t, TEST_FILE("{units: 1}"), &s, false);
    assert_int_equal(test_change(&t, "c1", test_units_us).err, ATP_OK);
    assert_int_equal(admin_version(t.adm), 2);
    assert_int_equal(test_atp(&t, 0), 6);

    config same = test_file(TEST_FILE("{units: 1}"));
    engine_rules_report rep = {0};
    assert_int_equal(admin_reload(t.adm, &same, test_check_none, NULL, &rep),
                     ATP_OK);
    assert_int_equal(admin_version(t.adm), 2);
    assert_int_equal(test_atp(&t, 0), 6); /* c1's rule stays in force */
    assert_int_equal(test_atp(&t, 1), 9);

    config edited = test_file(TEST_FILE("{units: 2}"));
    size_t stored = s.n;
    s.fail = ATP_E_IO;
    rep = (engine_rules_report){0};
    assert_int_equal(admin_reload(t.adm, &edited, test_check_none, NULL, &rep),
                     ATP_E_IO);
    assert_non_null(strstr(rep.refused, "undone"));
    assert_int_equal(admin_version(t.adm), 2);
    assert_int_equal(test_atp(&t, 0), 6);
    assert_int_equal(test_atp(&t, 1), 9);
    assert_int_equal(s.n, stored);
    s.fail = ATP_OK;
    rep = (engine_rules_report){0};
    assert_int_equal(admin_reload(t.adm, &edited, test_check_none, NULL, &rep),
                     ATP_OK);
    assert_int_equal(admin_version(t.adm), 3);
    assert_int_equal(test_atp(&t, 0), 8); /* the file's rules as a whole */
    assert_int_equal(test_atp(&t, 1), 8);

    config shrunk = test_file("regions: [{id: us}, {id: eu}]\n"
                              "locations: [{id: dc-us, region: us}]\n"
                              "channels: [web]\n"
                              "buffers: [{units: 2}]\n");
    rep = (engine_rules_report){0};
    assert_int_equal(admin_reload(t.adm, &shrunk, test_check_none, NULL, &rep),
                     ATP_E_BAD_STATE);
    assert_non_null(strstr(rep.refused, "dc-eu"));
    assert_int_equal(admin_version(t.adm), 3);
    assert_int_equal(test_atp(&t, 1), 8); /* dc-eu's stock still counts */
    test_core_stop(&t);
    config_fini(&same);
    config_fini(&edited);
    config_fini(&shrunk);
    test_store_fini(&s);
}

/* test_store_set replaces (or adds) the record under key. */
static void test_store_set(test_store *s, const char *key, const void *val,
                           size_t len)
{
    size_t k = 0;
    while (k < s->n && (s->recs[k].key_len != strlen(key) ||
                        memcmp(s->recs[k].key, key, strlen(key)) != 0))
        k++;
    if (k == s->n)
        s->n++;
    else
        free(s->recs[k].val);
    s->recs[k].key_len = strlen(key);
    memcpy(s->recs[k].key, key, s->recs[k].key_len);
    s->recs[k].val = malloc(len);
    memcpy(s->recs[k].val, val, len);
    s->recs[k].val_len = len;
}

/* test_begin: admin_begin's answer over the stored records s and file. */
static atp_err test_begin(test_store *s, const char *file)
{
    config cfg = test_file(file);
    admin_persist p = {.ctx = s, .put = test_put};
    admin *a;
    assert_int_equal(admin_alloc(&cfg, &p, &a), ATP_OK);
    for (size_t i = 0; i < s->n; i++)
        admin_restore_record(a, s->recs[i].key, s->recs[i].key_len,
                             s->recs[i].val, s->recs[i].val_len);
    atp_err err = admin_begin(a);
    admin_free(a);
    config_fini(&cfg);
    return err;
}

/* A start over damaged admin records: an audit record that cannot be read
 * is skipped (version and change ids kept); a state record that cannot be
 * read, or whose document is not a valid configuration, stops the start
 * (docs/CONFIG.md, "Run-time administration": not run on rules nobody
 * chose, nor seeded again over the stored history). */
static void test_damaged_records(void **state)
{
    (void)state;
    test_store s = {.n = 0};
    test_core t;
    test_core_start(&t, TEST_FILE("{units: 1}"), &s, false);
    assert_int_equal(test_change(&t, "c1", test_units_us).err, ATP_OK);
    test_core_stop(&t);

    test_store_set(&s, "h-garbage", "\xc1", 1);
    test_store_set(&s, "zz", "x", 1);
    test_core_start(&t, TEST_FILE("{units: 1}"), &s, true);
    assert_int_equal(admin_version(t.adm), 2);
    admin_result r = test_change(&t, "c1", test_units_us);
    assert_true(r.replayed);
    assert_int_equal(r.version, 2);
    assert_int_equal(test_atp(&t, 0), 6);
    test_core_stop(&t);

    /* the state record, valid, with a document that is not a configuration */
    size_t k = 0;
    while (memcmp(s.recs[k].key, "state", 5) != 0)
        k++;
    uint64_t version;
    char *text, *file_text;
    assert_true(admin__state_decode(s.recs[k].val, s.recs[k].val_len, &version,
                                    &text, &file_text));
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    admin__state_encode(w, version, "regions: [{id: us}]\nbuffers: [x]\n",
                        file_text);
    size_t len;
    const void *bad = codec_writer_data(w, &len);
    char *good = s.recs[k].val;
    size_t good_len = s.recs[k].val_len;
    s.recs[k].val = malloc(len);
    memcpy(s.recs[k].val, bad, len);
    s.recs[k].val_len = len;
    assert_int_equal(test_begin(&s, TEST_FILE("{units: 1}")), ATP_E_CONFIG);
    codec_writer_free(w);
    free(text);
    free(file_text);

    /* a state record that is no state record at all */
    size_t n = s.n;
    test_store_set(&s, "state", "\x93\x01\x02", 3);
    assert_int_equal(test_begin(&s, TEST_FILE("{units: 1}")), ATP_E_CONFIG);
    assert_int_equal(s.n, n); /* nothing seeded over the history: */
    k = 0;
    while (memcmp(s.recs[k].key, "state", 5) != 0)
        k++;
    assert_int_equal(s.recs[k].val_len, 3); /* the record is as it was */

    test_store_set(&s, "state", good, good_len);
    free(good);
    assert_int_equal(test_begin(&s, TEST_FILE("{units: 1}")), ATP_OK);
    test_store_fini(&s);
}

/* ---- locations added and authority changed at run time ----------------- */

#define TEST_SOURCES_FILE                                                      \
    "service: {spare_locations: 2}\n"                                          \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"          \
    "sources: [{id: wms, authority: [{locations: [dc-us, dc-eu]}]},"           \
    " {id: erp}]\n"

/* A location added takes a spare place; authority given to a source is
 * what the ingest's check says only once stored: a change the store
 * refuses leaves the sources' table (and the engine) as they were; two
 * additions with one place left are refused whole. */
static void test_add_and_authority(void **state)
{
    (void)state;
    test_store s = {.n = 0};
    test_core t;
    test_core_start(&t, TEST_SOURCES_FILE, &s, false);
    assert_int_equal(t.cfg.n_locations, 4); /* two named, two spare */
    config_edit add = {
        .kind = CONFIG_EDIT_LOCATION_ADD, .location = "st-1", .region = "us"};
    admin_result r = test_change(&t, "a1", add);
    assert_int_equal(r.err, ATP_OK);
    int k = config_location_find(&t.cfg, "st-1", 4);
    assert_int_equal(k, 2);
    assert_false(sources_location_gone(t.src, (uint32_t)k));
    assert_int_equal(sources_locations_live(t.src), 3);
    /* erp gets st-1's on_hand: refused by the store first */
    config_edit grant = {.kind = CONFIG_EDIT_AUTHORITY_SET,
                         .source = "erp",
                         .location = "st-1",
                         .buckets = 1u << ATP_BUCKET_ON_HAND};
    s.fail = ATP_E_IO;
    r = test_change(&t, "g1", grant);
    assert_int_equal(r.err, ATP_E_IO);
    assert_false(sources_authorized(t.src, 1, (uint32_t)k, ATP_BUCKET_ON_HAND));
    assert_int_equal(t.cfg.sources[1].n_authority, 0);
    s.fail = ATP_OK;
    r = test_change(&t, "g1", grant);
    assert_int_equal(r.err, ATP_OK);
    assert_true(sources_authorized(t.src, 1, (uint32_t)k, ATP_BUCKET_ON_HAND));
    assert_false(sources_authorized(t.src, 0, (uint32_t)k, ATP_BUCKET_ON_HAND));
    assert_int_equal(t.cfg.sources[1].n_authority, 1);
    /* wms owns dc-us's on_hand: erp cannot take it (the file's check) */
    grant.location = "dc-us";
    r = test_change(&t, "g2", grant);
    assert_int_equal(r.err, ATP_E_CONFIG);
    assert_true(sources_authorized(t.src, 0, 0, ATP_BUCKET_ON_HAND));
    /* one place left; a SIGHUP'd file adding two is refused whole */
    config next = test_file(
        "service: {spare_locations: 2}\n"
        "regions: [{id: us}, {id: eu}]\n"
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu},"
        " {id: st-1, region: us}, {id: st-2, region: eu}, {id: st-3, "
        "region: eu}]\n"
        "sources: [{id: wms, authority: [{locations: [dc-us, dc-eu]}]},"
        " {id: erp, authority: [{locations: [st-1], buckets: [on_hand]}]}]\n");
    engine_rules_report rep;
    assert_int_equal(admin_reload(t.adm, &next, test_check_none, NULL, &rep),
                     ATP_E_BAD_STATE);
    assert_non_null(strstr(rep.refused, "no room for location 'st-2' and the "
                                        "others"));
    assert_true(config_location_find(&t.cfg, "st-2", 4) < 0);
    assert_int_equal(config_location_named(&t.cfg), 3); /* no place taken */
    config_fini(&next);
    test_core_stop(&t);

    /* restart with the same file: st-1 and erp's authority from the state */
    test_core_start(&t, TEST_SOURCES_FILE, &s, true);
    k = config_location_find(&t.cfg, "st-1", 4);
    assert_int_equal(k, 2);
    assert_int_equal(t.cfg.n_locations, 5); /* three named, two spare */
    assert_true(sources_authorized(t.src, 1, (uint32_t)k, ATP_BUCKET_ON_HAND));
    test_core_stop(&t);
    test_store_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_damaged_records),
        cmocka_unit_test(test_add_and_authority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
