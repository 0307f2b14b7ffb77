/*
 * test_resv_tenancy.c - tenancy of reservations (docs/SECURITY.md,
 * "Tenancy"): a request bound to client b sees none of client a's
 * reservations (reservation, commit, release, extend: not_found; reserve
 * of its id: conflict, even with the same content) nor an unbound one's;
 * an unbound request sees all. The stored record carries the client as a
 * 12th field only when it has one (an unbound record stays the 11 fields
 * every earlier version wrote), and a restart (engine_resv_load of the
 * stored bytes into a new engine) keeps the owner.
 *
 * Threads: the test thread submits and waits for the answers (bounded);
 * the engine thread decides and calls back; the fake store keeps a copy of
 * every reservation record it is handed and completes at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/error.h"
#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

static const char tenancy_yaml[] = "regions: [{id: east}]\n"
                                   "locations: [{id: dc-1, region: east}]\n"
                                   "channels: [web]\n";

/* ---- a store that keeps the last record of each id ------------------------
 */

#define MAX_RECS 16
static struct {
    pthread_mutex_t mu;
    char key[MAX_RECS][32];
    unsigned char val[MAX_RECS][1024];
    size_t val_len[MAX_RECS];
    int n;
} store = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atp_err store_write(void *ctx, const engine_record_op *ops, size_t n,
                           void (*done)(void *arg, atp_err err), void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&store.mu);
    for (size_t i = 0; i < n; i++) {
        if (ops[i].db != ENGINE_DB_RESERVATIONS || ops[i].val == NULL)
            continue;
        int k = 0;
        while (k < store.n &&
               !(strlen(store.key[k]) == ops[i].key_len &&
                 memcmp(store.key[k], ops[i].key, ops[i].key_len) == 0))
            k++;
        assert_true(k < MAX_RECS && ops[i].key_len < 32 &&
                    ops[i].val_len <= 1024);
        memcpy(store.key[k], ops[i].key, ops[i].key_len);
        store.key[k][ops[i].key_len] = '\0';
        memcpy(store.val[k], ops[i].val, ops[i].val_len);
        store.val_len[k] = ops[i].val_len;
        store.n += k == store.n;
    }
    pthread_mutex_unlock(&store.mu);
    done(arg, ATP_OK);
    return ATP_OK;
}

static int store_find(const char *id)
{
    for (int k = 0; k < store.n; k++)
        if (strcmp(store.key[k], id) == 0)
            return k;
    fail_msg("no stored record for %s", id);
    return -1;
}

/* ---- one operation, waited for ------------------------------------------- */

typedef struct answer {
    atomic_bool done;
    atp_err err;
    bool granted, replayed;
} answer;

static void answer_cb(void *arg, const engine_resv_result *res)
{
    answer *a = arg;
    a->err = res->err;
    a->granted = res->granted;
    a->replayed = res->replayed;
    atomic_store(&a->done, true);
}

static answer run(engine *e, engine_resv_op op, const char *id,
                  const char *client, int64_t qty)
{
    answer a = {0};
    engine_resv_line line = {.sku = "A", .sku_len = 1, .region = 0, .qty = qty};
    engine_resv_req req = {.op = op,
                           .id = id,
                           .id_len = (uint32_t)strlen(id),
                           .lines = op == ENGINE_RESV_RESERVE ? &line : NULL,
                           .n_lines = op == ENGINE_RESV_RESERVE ? 1 : 0,
                           .ttl_ms = op == ENGINE_RESV_EXTEND ? 600000 : 0,
                           .client = client,
                           .client_len = client ? (uint32_t)strlen(client) : 0,
                           .done = answer_cb,
                           .arg = &a};
    assert_int_equal(engine_resv_submit(e, &req), ATP_OK);
    for (int i = 0; i < 10000 && !atomic_load(&a.done); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(&a.done));
    return a;
}

static engine *engine_with_stock(config *cfg, bool load_stored)
{
    engine_persist persist = {.write = store_write};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &persist, &e), ATP_OK);
    for (int k = 0; load_stored && k < store.n; k++)
        assert_int_equal(engine_resv_load(e, store.key[k], strlen(store.key[k]),
                                          store.val[k], store.val_len[k]),
                         ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    static engine_event ev = {.kind = ATP_EV_SET,
                              .bucket = ATP_BUCKET_ON_HAND,
                              .location = 0,
                              .sku_len = 1,
                              .sku = "A",
                              .value = 100};
    static engine_batch b = {.events = &ev, .n = 1, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return e;
}

/* The refusals b gets for a's reservation "r-a" and the unbound "r-0". */
static void check_isolation(engine *e)
{
    static const engine_resv_op ops[] = {ENGINE_RESV_GET, ENGINE_RESV_COMMIT,
                                         ENGINE_RESV_RELEASE,
                                         ENGINE_RESV_EXTEND};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        assert_int_equal(run(e, ops[i], "r-a", "b", 0).err, ATP_E_NOT_FOUND);
        assert_int_equal(run(e, ops[i], "r-0", "a", 0).err, ATP_E_NOT_FOUND);
    }
    /* Same content, another client: never the original answer. */
    assert_int_equal(run(e, ENGINE_RESV_RESERVE, "r-a", "b", 2).err,
                     ATP_E_CONFLICT);
    answer own = run(e, ENGINE_RESV_RESERVE, "r-a", "a", 2);
    assert_int_equal(own.err, ATP_OK);
    assert_true(own.granted && own.replayed);
    assert_int_equal(run(e, ENGINE_RESV_GET, "r-a", "a", 0).err, ATP_OK);
    assert_int_equal(run(e, ENGINE_RESV_GET, "r-a", NULL, 0).err, ATP_OK);
    assert_int_equal(run(e, ENGINE_RESV_GET, "r-0", NULL, 0).err, ATP_OK);
}

static void test_tenancy(void **state)
{
    (void)state;
    config cfg;
    test_load(&cfg, tenancy_yaml);
    store.n = 0;
    engine *e = engine_with_stock(&cfg, false);
    answer a = run(e, ENGINE_RESV_RESERVE, "r-a", "a", 2);
    assert_true(a.err == ATP_OK && a.granted && !a.replayed);
    a = run(e, ENGINE_RESV_RESERVE, "r-0", NULL, 3);
    assert_true(a.err == ATP_OK && a.granted);
    check_isolation(e);
    /* Refusals changed nothing: 100 - 2 - 3 held. */
    engine_answer ans;
    engine_query(e, "A", 1, 0, 0, &ans);
    assert_int_equal(ans.reserved, 5);
    engine_stop(e);
    engine_free(e);

    /* The stored form: 12 fields with the client, 11 without. */
    codec_arena *arena = codec_arena_alloc();
    const codec_val *v;
    int k = store_find("r-a");
    assert_int_equal(codec_decode(arena, store.val[k], store.val_len[k], &v),
                     ATP_OK);
    assert_int_equal(codec_val_len(v), 12);
    codec_str client;
    assert_true(codec_val_str(codec_val_at(v, 11), &client));
    assert_true(client.len == 1 && client.ptr[0] == 'a');
    k = store_find("r-0");
    assert_int_equal(codec_decode(arena, store.val[k], store.val_len[k], &v),
                     ATP_OK);
    assert_int_equal(codec_val_len(v), 11);
    codec_arena_free(arena);

    /* A restart: the same answers from the stored bytes. */
    e = engine_with_stock(&cfg, true);
    check_isolation(e);
    assert_int_equal(run(e, ENGINE_RESV_COMMIT, "r-a", "a", 0).err, ATP_OK);
    assert_int_equal(run(e, ENGINE_RESV_RELEASE, "r-0", NULL, 0).err, ATP_OK);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

/* A 12th field that is no client id: the record is refused (counted as
 * skipped), never half-loaded. */
static void test_bad_client_field(void **state)
{
    (void)state;
    config cfg;
    test_load(&cfg, tenancy_yaml);
    store.n = 0;
    engine *e = engine_with_stock(&cfg, false);
    assert_true(run(e, ENGINE_RESV_RESERVE, "r-0", NULL, 1).granted);
    engine_stop(e);
    engine_free(e);
    int k = store_find("r-0");
    /* fixarray 11 -> 12, then an integer where the client belongs. */
    unsigned char buf[1100];
    assert_int_equal(store.val[k][0], 0x9b);
    memcpy(buf, store.val[k], store.val_len[k]);
    buf[0] = 0x9c;
    buf[store.val_len[k]] = 0x05;
    engine_persist persist = {.write = store_write};
    assert_int_equal(engine_alloc(&cfg, &persist, &e), ATP_OK);
    assert_int_not_equal(
        engine_resv_load(e, "r-0", 3, buf, store.val_len[k] + 1), ATP_OK);
    buf[store.val_len[k]] = 0xa0; /* "": not an id either */
    assert_int_not_equal(
        engine_resv_load(e, "r-0", 3, buf, store.val_len[k] + 1), ATP_OK);
    buf[store.val_len[k]] = 0xa1, buf[store.val_len[k] + 1] = 'z';
    assert_int_equal(engine_resv_load(e, "r-0", 3, buf, store.val_len[k] + 2),
                     ATP_OK);
    engine_free(e);
    config_fini(&cfg);
}

/* auth.limits.max_open_reservations: client a holds at most 2 open
 * reservations; a third is quota (nothing held), a replay of one it holds
 * is no new hold, a finished one frees a place; b and unbound requests
 * are not limited by a's count. */
static void test_open_limit(void **state)
{
    (void)state;
    config cfg;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "%sauth: {allow_insecure: false, limits: "
             "{max_open_reservations: 2}}\n",
             tenancy_yaml);
    test_load(&cfg, yaml);
    store.n = 0;
    engine *e = engine_with_stock(&cfg, false);
    assert_true(run(e, ENGINE_RESV_RESERVE, "a1", "a", 1).granted);
    assert_true(run(e, ENGINE_RESV_RESERVE, "a2", "a", 1).granted);
    assert_int_equal(run(e, ENGINE_RESV_RESERVE, "a3", "a", 1).err,
                     ATP_E_QUOTA);
    assert_int_equal(run(e, ENGINE_RESV_GET, "a3", "a", 0).err,
                     ATP_E_NOT_FOUND);
    answer again = run(e, ENGINE_RESV_RESERVE, "a1", "a", 1);
    assert_true(again.err == ATP_OK && again.replayed);
    assert_true(run(e, ENGINE_RESV_RESERVE, "b1", "b", 1).granted);
    assert_true(run(e, ENGINE_RESV_RESERVE, "n1", NULL, 1).granted);
    assert_true(run(e, ENGINE_RESV_RESERVE, "n2", NULL, 1).granted);
    assert_true(run(e, ENGINE_RESV_RESERVE, "n3", NULL, 1).granted);
    /* Committed still counts; released does not. */
    assert_int_equal(run(e, ENGINE_RESV_COMMIT, "a1", "a", 0).err, ATP_OK);
    assert_int_equal(run(e, ENGINE_RESV_RESERVE, "a3", "a", 1).err,
                     ATP_E_QUOTA);
    assert_int_equal(run(e, ENGINE_RESV_RELEASE, "a2", "a", 0).err, ATP_OK);
    assert_true(run(e, ENGINE_RESV_RESERVE, "a3", "a", 1).granted);
    assert_int_equal(run(e, ENGINE_RESV_RESERVE, "a4", "a", 1).err,
                     ATP_E_QUOTA);
    engine_stop(e);
    engine_free(e);
    /* The count is rebuilt from the stored records at start. */
    e = engine_with_stock(&cfg, true);
    assert_int_equal(run(e, ENGINE_RESV_RESERVE, "a4", "a", 1).err,
                     ATP_E_QUOTA);
    assert_true(run(e, ENGINE_RESV_RESERVE, "b2", "b", 1).granted);
    engine_stop(e);
    engine_free(e);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenancy),
        cmocka_unit_test(test_bad_client_field),
        cmocka_unit_test(test_open_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
