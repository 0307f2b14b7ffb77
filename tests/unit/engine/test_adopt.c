/*
 * test_adopt.c - engine_resv_adopt, the load of a cluster takeover
 * (docs/CLUSTER.md): an "owner" engine makes reservations through a store
 * that keeps the latest record of each id (what the partition's stream
 * keeps); a "standby" engine with the same stock adopts those records and
 * must then answer every row exactly as the owner does, count the same
 * open reservations, know each reservation, and grant or refuse the
 * remaining stock exactly as the owner would. Adopting the same records
 * again loads none (an id the engine holds is skipped).
 *
 * Threads: the test thread submits and waits with engine_sync; each
 * engine's thread decides and writes through the store callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine_test.h"

static const char test_yaml[] = "regions:\n"
                                "  - id: main\n"
                                "locations:\n"
                                "  - {id: dc-1, region: main}\n"
                                "reservations:\n"
                                "  durability: nosync\n";

#define TEST_SKUS 6
#define TEST_IDS 64

/* The stream's view: the latest record of each id (NULL: none/deleted). */
typedef struct test_stream {
    char *key[TEST_IDS];
    size_t key_len[TEST_IDS];
    char *val[TEST_IDS];
    size_t val_len[TEST_IDS];
    size_t n;
    size_t writes;
} test_stream;

static test_stream test_log;

static size_t test_slot(test_stream *s, const void *key, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->key_len[i] == len && memcmp(s->key[i], key, len) == 0)
            return i;
    assert_true(s->n < TEST_IDS);
    s->key[s->n] = malloc(len);
    memcpy(s->key[s->n], key, len);
    s->key_len[s->n] = len;
    s->val[s->n] = NULL;
    return s->n++;
}

/* Engine thread: a reservation group is "stored" at once. */
static atp_err test_write(void *ctx, const engine_record_op *ops, size_t n,
                          void (*done)(void *arg, atp_err err), void *arg)
{
    test_stream *s = ctx;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].db != ENGINE_DB_RESERVATIONS)
            continue;
        size_t k = test_slot(s, ops[i].key, ops[i].key_len);
        free(s->val[k]);
        s->val[k] = NULL;
        if (ops[i].val != NULL) {
            s->val[k] = malloc(ops[i].val_len);
            memcpy(s->val[k], ops[i].val, ops[i].val_len);
            s->val_len[k] = ops[i].val_len;
        }
        s->writes++;
    }
    done(arg, ATP_OK);
    return ATP_OK;
}

static engine *test_engine(config *cfg, test_stream *s)
{
    test_load(cfg, test_yaml);
    engine_persist p = {.ctx = s, .write = test_write};
    engine *e;
    assert_int_equal(engine_alloc(cfg, &p, &e), ATP_OK);
    assert_int_equal(engine_start(e), ATP_OK);
    static engine_event ev[TEST_SKUS];
    static char skus[TEST_SKUS][8];
    for (int i = 0; i < TEST_SKUS; i++) {
        snprintf(skus[i], sizeof skus[i], "S%d", i);
        ev[i] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = 0,
                               .sku_len = (uint32_t)strlen(skus[i]),
                               .sku = skus[i],
                               .value = 6 + 2 * i};
    }
    static engine_batch b = {
        .events = ev, .n = TEST_SKUS, .release = test_release};
    assert_int_equal(engine_submit(e, &b), ATP_OK);
    assert_int_equal(engine_sync(e), ATP_OK);
    return e;
}

typedef struct test_call {
    engine_resv_line lines[2];
    engine_resv_req req;
    atomic_bool answered;
    atp_err err;
    bool granted;
} test_call;

static void test_done(void *arg, const engine_resv_result *res)
{
    test_call *c = arg;
    c->err = res->err;
    c->granted = res->granted;
    atomic_store(&c->answered, true);
}

/* One operation, answered before it returns. */
static test_call *test_op(engine *e, engine_resv_op op, const char *id, int sku,
                          int64_t qty, int sku2, int64_t qty2)
{
    static test_call c;
    static char names[2][8];
    memset(&c, 0, sizeof c);
    snprintf(names[0], sizeof names[0], "S%d", sku);
    snprintf(names[1], sizeof names[1], "S%d", sku2);
    uint32_t n = 0;
    if (op == ENGINE_RESV_RESERVE) {
        c.lines[n++] = (engine_resv_line){
            .sku = names[0], .sku_len = (uint32_t)strlen(names[0]), .qty = qty};
        if (qty2 > 0 && sku2 != sku)
            c.lines[n++] =
                (engine_resv_line){.sku = names[1],
                                   .sku_len = (uint32_t)strlen(names[1]),
                                   .qty = qty2};
    }
    c.req = (engine_resv_req){.op = op,
                              .id = id,
                              .id_len = (uint32_t)strlen(id),
                              .ttl_ms = 3600 * 1000,
                              .lines = n ? c.lines : NULL,
                              .n_lines = n,
                              .done = test_done,
                              .arg = &c};
    assert_int_equal(engine_resv_submit(e, &c.req), ATP_OK);
    /* The store completes inside its write, so the reply comes one turn of
     * the engine later: a sync queued meanwhile waits for it. */
    for (int i = 0; i < 100 && !atomic_load(&c.answered); i++)
        assert_int_equal(engine_sync(e), ATP_OK);
    assert_true(atomic_load(&c.answered));
    return &c;
}

static int64_t test_atp(engine *e, int sku)
{
    char name[8];
    snprintf(name, sizeof name, "S%d", sku);
    engine_answer a;
    engine_query(e, name, strlen(name), 0, 0, &a);
    return a.atp;
}

static void test_adopt_matches_owner(void **state)
{
    (void)state;
    srand(7);
    config cfg_a, cfg_b;
    test_stream standby_store = {0};
    engine *owner = test_engine(&cfg_a, &test_log);
    engine *standby = test_engine(&cfg_b, &standby_store);
    /* The owner: reserves (some refused as stock runs out), commits,
     * releases, over a few SKUs. */
    size_t granted = 0, refused = 0;
    for (int step = 0; step < 400; step++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", rand() % 48);
        int kind = rand() % 10;
        test_call *c;
        if (kind < 7)
            c = test_op(owner, ENGINE_RESV_RESERVE, id, rand() % TEST_SKUS,
                        1 + rand() % 6, rand() % TEST_SKUS, rand() % 3);
        else if (kind < 9)
            c = test_op(owner, ENGINE_RESV_COMMIT, id, 0, 0, 0, 0);
        else
            c = test_op(owner, ENGINE_RESV_RELEASE, id, 0, 0, 0, 0);
        if (kind < 7 && c->err == ATP_OK)
            c->granted ? granted++ : refused++;
    }
    if (!(granted > 20 && refused > 5)) /* stock did run out */
        fail_msg("granted %zu, refused %zu", granted, refused);
    /* The stream's current records, as a standby's warm copy has them. */
    engine_record_op ops[TEST_IDS];
    size_t n = 0;
    for (size_t i = 0; i < test_log.n; i++)
        if (test_log.val[i] != NULL)
            ops[n++] = (engine_record_op){ENGINE_DB_RESERVATIONS,
                                          test_log.key[i], test_log.key_len[i],
                                          test_log.val[i], test_log.val_len[i]};
    assert_true(n > 10);
    size_t loaded = 0;
    assert_int_equal(engine_resv_adopt(standby, ops, n, &loaded), ATP_OK);
    assert_int_equal(loaded, n);
    engine_stats sa, sb;
    engine_stats_get(owner, &sa);
    engine_stats_get(standby, &sb);
    assert_int_equal(sa.resv_open, sb.resv_open);
    assert_int_equal(sa.resv_committed, sb.resv_committed);
    for (int k = 0; k < TEST_SKUS; k++)
        assert_int_equal(test_atp(owner, k), test_atp(standby, k));
    /* Again: every id is held already, nothing changes. */
    assert_int_equal(engine_resv_adopt(standby, ops, n, &loaded), ATP_OK);
    assert_int_equal(loaded, 0);
    for (int k = 0; k < TEST_SKUS; k++)
        assert_int_equal(test_atp(owner, k), test_atp(standby, k));
    /* The new owner grants exactly what is left, and no more. */
    for (int k = 0; k < TEST_SKUS; k++) {
        int64_t left = test_atp(standby, k);
        char id[16];
        snprintf(id, sizeof id, "more%d", k);
        test_call *c =
            test_op(standby, ENGINE_RESV_RESERVE, id, k, left + 1, k, 0);
        assert_false(left > 0 && c->granted);
        if (left > 0) {
            snprintf(id, sizeof id, "last%d", k);
            c = test_op(standby, ENGINE_RESV_RESERVE, id, k, left, k, 0);
            assert_true(c->granted);
        }
        assert_int_equal(test_atp(standby, k), 0);
    }
    engine_stop(owner);
    engine_stop(standby);
    engine_free(owner);
    engine_free(standby);
    config_fini(&cfg_a);
    config_fini(&cfg_b);
    for (size_t i = 0; i < test_log.n; i++) {
        free(test_log.key[i]);
        free(test_log.val[i]);
    }
    for (size_t i = 0; i < standby_store.n; i++) {
        free(standby_store.key[i]);
        free(standby_store.val[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adopt_matches_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
