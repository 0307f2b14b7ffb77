/*
 * test_changes.c - unit tests of src/changes/changes.c: one feed interval
 * with more changed (SKU, region) keys than the first tables hold (4096
 * keys, 4096 transition states per channel) publishes every one of them
 * exactly once, with no send failure and one message per key; the feed
 * sequence counts them. The consumer is the listener (as the HTTP event
 * streams are); no subscriber connects (the PUB socket listens on
 * 127.0.0.1, port 0).
 * Threads: the test thread; the engine and changes threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "changes/changes.h"
#include "config/config.h"
#include "engine/engine.h"

#define TEST_SKUS 5000
#define TEST_BATCH 500

static const char test_yaml[] =
    "service: {feed_listen: 'tcp://127.0.0.1:0', feed_interval: 1s}\n"
    "regions: [{id: us}]\n"
    "locations: [{id: dc-us, region: us}]\n"
    "channels: [web]\n";

typedef struct test_seen {
    unsigned char *count; /* per SKU: messages seen */
    _Atomic int keys, extra, ticks;
} test_seen;

/* Changes thread. */
static void test_listener(void *arg, const changes_event *ev)
{
    test_seen *s = arg;
    if (ev == NULL) {
        atomic_fetch_add(&s->ticks, 1);
        return;
    }
    assert_int_equal(ev->region, 0);
    assert_true(ev->sku_len > 1 && ev->sku[0] == 'S');
    int i = atoi(ev->sku + 1);
    assert_true(i >= 0 && i < TEST_SKUS);
    if (s->count[i]++ == 0)
        atomic_fetch_add(&s->keys, 1);
    else
        atomic_fetch_add(&s->extra, 1);
}

static void test_release(void *owner, bool applied)
{
    (void)owner;
    assert_true(applied);
}

static void test_many_keys_one_interval(void **state)
{
    (void)state;
    config cfg;
    config_diags diags = {0};
    atp_err err =
        config_load_string(test_yaml, strlen(test_yaml), &cfg, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                diags.items[i].message);
    config_diags_fini(&diags);
    assert_int_equal(err, ATP_OK);

    engine *e;
    assert_int_equal(engine_alloc(&cfg, NULL, &e), ATP_OK);
    changes *c;
    assert_int_equal(changes_alloc(&cfg, e, &c), ATP_OK);
    test_seen seen = {.count = calloc(TEST_SKUS, 1)};
    assert_non_null(seen.count);
    changes_listener_set(c, test_listener, &seen);
    changes_listener_watch(c, 1);
    assert_int_equal(engine_start(e), ATP_OK);
    uint64_t seq0 = changes_seq(c);

    /* All the keys change before the changes thread starts: its first
     * flush, one interval (1 s) after changes_start, takes them all. */
    static char skus[TEST_SKUS][8];
    static engine_event ev[TEST_SKUS];
    for (int i = 0; i < TEST_SKUS; i++) {
        snprintf(skus[i], sizeof skus[i], "S%d", i);
        ev[i] = (engine_event){.kind = ATP_EV_SET,
                               .bucket = ATP_BUCKET_ON_HAND,
                               .location = 0,
                               .sku = skus[i],
                               .sku_len = strlen(skus[i]),
                               .value = 1 + i % 7};
    }
    for (int i = 0; i < TEST_SKUS; i += TEST_BATCH) {
        engine_batch b = {
            .events = ev + i, .n = TEST_BATCH, .release = test_release};
        assert_int_equal(engine_submit(e, &b), ATP_OK);
    }
    assert_int_equal(engine_sync(e), ATP_OK);
    assert_int_equal(changes_start(c), ATP_OK);

    for (int i = 0; i < 30000 && atomic_load(&seen.keys) < TEST_SKUS; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&seen.keys), TEST_SKUS);
    changes_stop(c);
    assert_int_equal(atomic_load(&seen.extra), 0);
    changes_stats st;
    changes_stats_get(c, &st);
    assert_int_equal(st.published, TEST_SKUS);
    assert_int_equal(st.send_failures, 0);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(changes_seq(c) - seq0, TEST_SKUS);

    engine_stop(e);
    changes_free(c);
    engine_free(e);
    free(seen.count);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_keys_one_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
