/*
 * test_pickup.c - the store pickup keys of a location (docs/CONFIG.md,
 * "locations"): `pickup` (a boolean, default false) and `pickup_buffer`
 * (units 0..10^15, default 0); their bad values with line and column in
 * the style of the other keys; and a reload that changes them, which
 * applies them (nothing reported). Single-threaded.
 */
#include "config_test.h"

#define PLACES                                                                 \
    "regions: [{id: us}, {id: eu}]\n"                                          \
    "sources:\n"                                                               \
    "  - id: wms\n"                                                            \
    "    authority: [{locations: [dc, st], buckets: [on_hand]}]\n"

static void test_pickup_defaults_and_values(void **state)
{
    (void)state;
    config c;
    config_diags d;
    atp_err rc = config_test_load_str(
        PLACES "locations:\n"
               "  - {id: dc, region: us}\n"
               "  - {id: st, region: us, type: store, pickup: true,"
               " pickup_buffer: 2}\n",
        &c, &d);
    config_test_print(&d);
    config_diags_fini(&d);
    assert_int_equal(rc, ATP_OK);
    assert_false(c.locations[0].pickup);
    assert_int_equal(c.locations[0].pickup_buffer, 0);
    assert_true(c.locations[1].pickup);
    assert_int_equal(c.locations[1].pickup_buffer, 2);
    config_fini(&c);
}

#define ST                                                                     \
    "regions: [{id: us}]\n"                                                    \
    "sources: [{id: wms, authority: [{locations: [st], buckets: [held]}]}]\n"

static void test_pickup_bad_values(void **state)
{
    (void)state;
    static const config_test_refusal cases[] = {
        {ST "locations: [{id: st, region: us, pickup: yes}]\n", 3, 42,
         "location 'st': pickup: expected true or false, got 'yes'"},
        {ST "locations: [{id: st, region: us, pickup: True}]\n", 3, 42,
         "got 'True'"},
        {ST "locations: [{id: st, region: us, pickup: [true]}]\n", 3, 42,
         "location 'st': pickup"},
        {ST "locations: [{id: st, region: us, pickup_buffer: -1}]\n", 3, 49,
         "pickup_buffer"},
        {ST "locations: [{id: st, region: us, pickup_buffer: 2.5}]\n", 3, 49,
         "pickup_buffer"},
        {ST "locations: [{id: st, region: us, pickup_buffer: "
            "1000000000000001}]\n",
         3, 49, "0..1000000000000000"},
        {ST "locations: [{id: st, region: us, pick_up: true}]\n", 3, 0,
         "pick_up"},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

typedef struct test_seen {
    char text[1024];
    size_t refused, restart;
} test_seen;

static void test_report(void *ctx, config_change kind, const char *what)
{
    test_seen *s = ctx;
    *(kind == CONFIG_CHANGE_REFUSED ? &s->refused : &s->restart) += 1;
    snprintf(s->text + strlen(s->text), sizeof s->text - strlen(s->text),
             "%s%s", s->text[0] ? "; " : "", what);
}

/* The pickup settings are the engine's (engine_rules_replace takes them,
 * as an admin change does): a reload changing them applies them, so the
 * comparison reports nothing. */
static void test_pickup_reload_applies(void **state)
{
    (void)state;
    config a, b;
    config_diags d;
    assert_int_equal(
        config_test_load_str(PLACES "locations:\n"
                                    "  - {id: dc, region: us}\n"
                                    "  - {id: st, region: us, pickup: true}\n",
                             &a, &d),
        ATP_OK);
    config_diags_fini(&d);
    assert_int_equal(
        config_test_load_str(PLACES "locations:\n"
                                    "  - {id: dc, region: us, pickup: true}\n"
                                    "  - {id: st, region: us, pickup: true,"
                                    " pickup_buffer: 3}\n",
                             &b, &d),
        ATP_OK);
    config_diags_fini(&d);
    test_seen s = {{0}, 0, 0};
    size_t n = config_compare(&a, &b, test_report, &s);
    assert_int_equal(n, 0);
    assert_int_equal(s.refused + s.restart, 0);
    assert_string_equal(s.text, "");
    config_fini(&a);
    config_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pickup_defaults_and_values),
        cmocka_unit_test(test_pickup_bad_values),
        cmocka_unit_test(test_pickup_reload_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
