/*
 * test_compare.c - unit tests of src/config/compare.c: config_compare
 * reports nothing for what a reload applies (buffer rules, a location's
 * region, heartbeat timeouts, service.log_*), CONFIG_CHANGE_RESTART for
 * each start-up key that changed and for a location's type, and
 * CONFIG_CHANGE_REFUSED for a changed structure: a location added, a
 * region added, a channel, a source's authority over a location that
 * stays, a region's inbound_horizon, a source added. A location removed
 * (with its authority entries) or the locations in another order are not
 * reported.
 * Labels: unit, ops (issues 15, 16).
 */
#include "config_test.h"

#define BASE_PLACES                                                            \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "channels: [web]\n"                                                        \
    "sources:\n"                                                               \
    "  - id: wms\n"                                                            \
    "    heartbeat_timeout: 5s\n"                                              \
    "    authority: [{locations: [dc-us, dc-eu], buckets: [on_hand]}]\n"

static const char test_base[] =
    "service: {data_dir: /tmp/a, log_level: info}\n" BASE_PLACES
    "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"
    "buffers: [{units: 1}]\n";

typedef struct test_seen {
    char text[2048];
    size_t refused, restart;
} test_seen;

static void test_report(void *ctx, config_change kind, const char *what)
{
    test_seen *s = ctx;
    if (kind == CONFIG_CHANGE_REFUSED)
        s->refused++;
    else
        s->restart++;
    snprintf(s->text + strlen(s->text), sizeof s->text - strlen(s->text),
             "%s%s: %s", s->text[0] ? "; " : "",
             kind == CONFIG_CHANGE_REFUSED ? "refused" : "restart", what);
}

static void test_load(config *c, const char *yaml)
{
    config_diags d = {0};
    atp_err err = config_test_load_str(yaml, c, &d);
    config_test_print(&d);
    config_diags_fini(&d);
    assert_int_equal(err, ATP_OK);
}

/* test_diff compares test_base with yaml; returns what was reported. */
static test_seen test_diff(const char *yaml)
{
    config a, b;
    test_load(&a, test_base);
    test_load(&b, yaml);
    test_seen s = {{0}, 0, 0};
    size_t n = config_compare(&a, &b, test_report, &s);
    assert_int_equal(n, s.refused + s.restart);
    config_fini(&a);
    config_fini(&b);
    return s;
}

static void test_runtime_only(void **state)
{
    (void)state;
    test_seen s = test_diff(
        "service: {data_dir: /tmp/a, log_level: debug, log_format: json,"
        " log_repeat_window: 5s}\n"
        "regions: [{id: us}, {id: eu}]\n"
        "channels: [web]\n"
        "sources:\n"
        "  - id: wms\n"
        "    heartbeat_timeout: 1m\n"
        "    authority: [{locations: [dc-us, dc-eu], buckets: [on_hand]}]\n"
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n"
        "buffers: [{units: 4}, {sku: X, region: eu, units: 2}]\n");
    assert_string_equal(s.text, "");
}

static void test_restart_keys(void **state)
{
    (void)state;
    test_seen s = test_diff(
        "service: {data_dir: /tmp/b, log_level: info, query_listen: "
        "'tcp://127.0.0.1:9999', snapshot_interval: 5s}\n"
        "reservations: {default_ttl: 1m, durability: nosync}\n" BASE_PLACES
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n");
    assert_int_equal(s.refused, 0);
    assert_string_equal(
        s.text, "restart: service.query_listen; restart: service.data_dir; "
                "restart: service.snapshot_interval; restart: "
                "reservations.default_ttl; restart: reservations.durability");
}

static void test_structure(void **state)
{
    (void)state;
    /* A move is applied by the reload (the engine moves the stock). */
    test_seen s = test_diff(
        "service: {data_dir: /tmp/a}\n" BASE_PLACES
        "locations: [{id: dc-us, region: eu}, {id: dc-eu, region: eu}]\n"
        "buffers: [{units: 1}]\n");
    assert_string_equal(s.text, "");
    s = test_diff(
        "service: {data_dir: /tmp/a}\n" BASE_PLACES
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu},"
        " {id: dc-x, region: eu}]\n");
    /* A location added: applied too (it takes a spare place). */
    assert_string_equal(s.text, "");
    /* Locations match by id: another order is no change. */
    s = test_diff(
        "service: {data_dir: /tmp/a}\n" BASE_PLACES
        "locations: [{id: dc-eu, region: eu}, {id: dc-us, region: us}]\n"
        "buffers: [{units: 1}]\n");
    assert_string_equal(s.text, "");
    /* A location removed, with the authority entries naming it, and the
     * authority over a location that stays: both applied (the admin state
     * takes the sources' authority). */
#define ONLY_DC_EU(buckets)                                                    \
    "service: {data_dir: /tmp/a}\n"                                            \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "channels: [web]\n"                                                        \
    "sources:\n"                                                               \
    "  - id: wms\n"                                                            \
    "    heartbeat_timeout: 5s\n"                                              \
    "    authority: [{locations: [dc-eu], buckets: [" buckets "]}]\n"          \
    "locations: [{id: dc-eu, region: eu}]\n"                                   \
    "buffers: [{units: 1}]\n"
    s = test_diff(ONLY_DC_EU("on_hand"));
    assert_string_equal(s.text, "");
    s = test_diff(ONLY_DC_EU("held"));
#undef ONLY_DC_EU
    assert_string_equal(s.text, "");
    s = test_diff(
        "service: {data_dir: /tmp/a}\n"
        "regions: [{id: us}, {id: eu}, {id: ap}]\n"
        "channels: [web, app]\n"
        "sources:\n"
        "  - id: wms\n"
        "    heartbeat_timeout: 5s\n"
        "    authority: [{locations: [dc-us], buckets: [on_hand]}]\n"
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n");
    assert_int_equal(s.refused, 0); /* a region and a channel added */
    assert_string_equal(s.text, "");
    /* a channel removed: structure */
    s = test_diff("service: {data_dir: /tmp/a}\n"
                  "regions: [{id: us}, {id: eu}]\n"
                  "channels: [app]\n"
                  "locations: [{id: dc-us, region: us}, {id: dc-eu, region: "
                  "eu}]\n");
    /* a channel removed: the admin state's (the engine checks what names
     * it); only the sources are structure */
    assert_string_equal(s.text, "refused: sources: 1 -> 0");
}

/* Each refused change on its own names what changed, so the operator
 * knows what to undo (or that a restart is needed). */
static void test_structure_details(void **state)
{
    (void)state;
    /* a region's inbound_horizon is applied by the engine: no report */
    const char *places_tail =
        "channels: [web]\n"
        "sources:\n"
        "  - id: wms\n"
        "    heartbeat_timeout: 5s\n"
        "    authority: [{locations: [dc-us, dc-eu], buckets: [on_hand]}]\n"
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n";
    char doc[1024];
    snprintf(doc, sizeof doc, "%s%s",
             "service: {data_dir: /tmp/a}\n"
             "regions: [{id: us, inbound_horizon: 1h}, {id: eu}]\n",
             places_tail);
    test_seen s = test_diff(doc);
    assert_int_equal(s.refused, 0);
    assert_string_equal(s.text, "");
    /* regions in another order: matched by id, no difference */
    snprintf(doc, sizeof doc, "%s%s",
             "service: {data_dir: /tmp/a}\n"
             "regions: [{id: eu}, {id: us}]\n",
             places_tail);
    s = test_diff(doc);
    assert_int_equal(s.refused, 0);
    assert_string_equal(s.text, "");
    s = test_diff("service: {data_dir: /tmp/a}\n" BASE_PLACES
                  "locations: [{id: dc-us, region: us}, {id: dc-eu, region: "
                  "eu, type: store}]\n");
    assert_int_equal(s.refused, 0); /* applied by the reload: no report */
    assert_string_equal(s.text, "");
    s = test_diff(
        "service: {data_dir: /tmp/a}\n" BASE_PLACES "  - id: pos\n"
        "    heartbeat_timeout: 5s\n"
        "    authority: [{locations: [dc-eu], buckets: [allocated]}]\n"
        "locations: [{id: dc-us, region: us}, {id: dc-eu, region: eu}]\n");
    assert_int_equal(s.refused, 1);
    assert_string_equal(s.text, "refused: sources: 1 -> 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_only),
        cmocka_unit_test(test_restart_keys),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_structure_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
