/*
 * test_resolve.c - unit tests of tools/atp-import/import_resolve.c: the
 * location map, locations and authority from atpd's configuration, SKU and
 * lot checks, duplicates within a file, and the events sent
 * (docs/IMPORT.md). Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv_import.h"
#include "import_resolve.h"
#include "x12.h"

static const char test_config[] =
    "regions:\n  - id: main\nlocations:\n"
    "  - {id: DC-1, region: main, type: dc}\n"
    "  - {id: DC-2, region: main, type: dc}\n"
    "  - {id: STORE-9, region: main, type: store}\n"
    "sources:\n  - id: tpl\n    authority:\n"
    "      - locations: [DC-1, DC-2]\n        buckets: [on_hand, inbound]\n"
    "  - id: pos\n    authority:\n      - locations: [STORE-9]\n";

static config test_cfg;
static import_locmap test_map;
static import_batch test_b;
static codec_event *test_evs;
static size_t test_n;
static import_counts test_counts;

static int test_setup(void **state)
{
    (void)state;
    config_diags d = {0};
    assert_int_equal(
        config_load_string(test_config, strlen(test_config), &test_cfg, &d),
        ATP_OK);
    config_diags_fini(&d);
    char why[160];
    const char *map = "# codes of the 3PL\nE1 DC-1\nW1=DC-2\n\nS9,STORE-9\n";
    assert_true(
        import_locmap_parse(map, strlen(map), &test_map, why, sizeof why));
    import_batch_init(&test_b);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    free(test_evs);
    test_evs = NULL;
    import_batch_fini(&test_b);
    import_locmap_fini(&test_map);
    config_fini(&test_cfg);
    return 0;
}

/* test_resolve reads csv (sku,location,qty[,lot,eta]) and resolves it as
 * source tpl with default location dflt. */
static bool test_resolve(const char *csv, const char *dflt)
{
    free(test_evs);
    test_evs = NULL;
    import_batch_fini(&test_b);
    import_batch_init(&test_b);
    csv_opts o;
    csv_opts_default(&o);
    char why[160];
    if (strstr(csv, ",lot,eta") != NULL)
        assert_true(csv_parse_columns("sku=sku,location=location,qty=qty,"
                                      "lot=lot,eta=eta",
                                      &o, why, sizeof why));
    import_csv(csv, strlen(csv), &o, &test_b);
    import_target t = {&test_cfg, 0, dflt, &test_map};
    bool ok = import_resolve(&test_b, &t, &test_evs, &test_n, &test_counts);
    for (size_t i = 0; i < test_b.n_diags && i < IMPORT_DIAG_KEEP; i++)
        print_message("  problem: line %u: %s\n", test_b.diags[i].pos.line,
                      test_b.diags[i].msg);
    return ok;
}

static void test_problem(const char *want, uint32_t line)
{
    assert_true(test_b.n_diags > 0);
    if (strstr(test_b.diags[0].msg, want) == NULL)
        fail_msg("problem '%s' does not say '%s'", test_b.diags[0].msg, want);
    assert_int_equal(test_b.diags[0].pos.line, line);
}

static void test_events(void **state)
{
    (void)state;
    assert_true(test_resolve("sku,location,qty\nA,E1,5\nB,DC-2,6\nA,E1,5\n"
                             "C,W1,0\n",
                             NULL));
    assert_int_equal(test_n, 3); /* the repeated identical value once */
    assert_int_equal(test_counts.sets, 3);
    assert_int_equal(test_counts.locations, 2);
    assert_int_equal(test_evs[0].kind, ATP_EV_SET);
    assert_true(codec_str_eq(test_evs[0].location, "DC-1")); /* mapped */
    assert_true(codec_str_eq(test_evs[1].sku, "B"));
    assert_int_equal(test_evs[1].value, 6);
    assert_true(codec_str_eq(test_evs[2].location, "DC-2"));
    assert_true(test_resolve("sku,location,qty,lot,eta\n"
                             "A,DC-1,40,PO-7,2026-12-05\n"
                             "A,DC-2,40,PO-7,2026-12-05\n",
                             NULL));
    assert_int_equal(test_counts.lots, 2);
    assert_int_equal(test_evs[0].kind, ATP_EV_LOT_ADD);
    assert_true(codec_str_eq(test_evs[0].ref, "PO-7"));
    assert_int_equal(test_evs[0].value, 40);
    assert_int_equal(test_evs[0].eta_ms, 1796428800000LL);
}

static void test_refusals(void **state)
{
    (void)state;
    /* Not configured, mapped or not; another source's; no location. */
    assert_false(test_resolve("sku,location,qty\nA,DC-9,5\n", NULL));
    test_problem("'DC-9' is not a location of the config", 2);
    assert_false(test_resolve("sku,location,qty\nA,S9,5\n", NULL));
    test_problem("no on_hand authority at location STORE-9", 2);
    assert_false(test_resolve("sku,qty\nA,5\n", NULL));
    test_problem("no column 'location'", 1);
    /* SKUs and lot ids as atpd checks them. */
    char big[200];
    snprintf(big, sizeof big, "sku,location,qty\n%065d,DC-1,1\n", 7);
    assert_false(test_resolve(big, NULL));
    test_problem("is not 1..64 printable", 2);
    assert_false(test_resolve("sku,location,qty\n\"a\tb\",DC-1,1\n", NULL));
    test_problem("printable", 2);
    /* Two values for one position; a lot twice. */
    assert_false(test_resolve("sku,location,qty\nA,E1,5\nA,DC-1,6\n", NULL));
    test_problem("set again to another value (6, first 5 at line 2)", 3);
    assert_false(
        test_resolve("sku,location,qty,lot,eta\n"
                     "A,DC-1,4,PO,2026-12-05\nA,DC-1,4,PO,2026-12-05\n",
                     NULL));
    test_problem("lot PO of A at DC-1 given again", 3);
    assert_int_equal(test_n, 0);
    assert_null(test_evs);
    /* One run lists every problem: a location (found when checking) and a
     * quantity (found when reading) of two rows. */
    assert_false(
        test_resolve("sku,location,qty\nA,DC-9,5\nB,DC-1,1.5\n", NULL));
    assert_int_equal(test_b.n_diags, 2);
}

static void test_default_location_and_map(void **state)
{
    (void)state;
    assert_true(test_resolve("sku,location,qty\nA,E1,5\n", "DC-2"));
    assert_true(codec_str_eq(test_evs[0].location, "DC-1"));
    char why[160];
    import_locmap m = {0};
    assert_false(import_locmap_parse("E1\n", 3, &m, why, sizeof why));
    assert_non_null(strstr(why, "line 1"));
    import_locmap_fini(&m);
    assert_false(import_locmap_parse("E1 A\nE1 B\n", 10, &m, why, sizeof why));
    assert_non_null(strstr(why, "given twice"));
    import_locmap_fini(&m);
    assert_false(import_locmap_parse("E1 A B\n", 7, &m, why, sizeof why));
    import_locmap_fini(&m);
}

/* An 856's items of one SKU to one location add up, however the location
 * is named (a mapped code, the id itself, --location); in two shipments
 * (two sets) the same lot twice is a problem. */
static void test_856_sums_after_mapping(void **state)
{
    (void)state;
#define ISA856                                                                 \
    "ISA*00*          *00*          *ZZ*S              *ZZ*R              "    \
    "*261201*1200*U*00401*000000042*0*P*>~\nGS*SH*S*R*20261201*1200*7*X*"      \
    "004010~\n"
#define SET856(ctrl, ship)                                                     \
    "ST*856*" ctrl "~\nBSN*00*" ship "*20261201*1200~\nHL*1**S~\n"             \
    "DTM*017*20261205~\nHL*2*1*O~\nN1*ST*E*92*E1~\nHL*3*2*I~\nLIN**SK*A~\n"    \
    "SN1**11~\nHL*4*1*O~\nN1*ST*E*92*DC-1~\nHL*5*4*I~\nLIN**SK*A~\n"           \
    "SN1**31~\nHL*6*1*I~\nLIN**SK*A~\nSN1**2~\nSE*18*" ctrl "~\n"
    x12_opts o;
    x12_opts_default(&o);
    const char *one = ISA856 SET856("1", "SHIP-1") "GE*1*7~\nIEA*1*42~\n";
    import_batch_fini(&test_b);
    import_batch_init(&test_b);
    import_x12(one, strlen(one), &o, &test_b);
    assert_int_equal(test_b.n, 3);
    import_target t = {&test_cfg, 0, "DC-1", &test_map};
    free(test_evs);
    assert_true(import_resolve(&test_b, &t, &test_evs, &test_n, &test_counts));
    assert_int_equal(test_n, 1);
    assert_int_equal(test_evs[0].value, 44); /* 11 + 31 + 2 */
    assert_int_equal(test_counts.lots, 1);
    const char *two = ISA856 SET856("1", "SHIP-1")
        SET856("2", "SHIP-1") "GE*2*7~\nIEA*1*42~\n";
    import_batch_fini(&test_b);
    import_batch_init(&test_b);
    import_x12(two, strlen(two), &o, &test_b);
    free(test_evs);
    assert_false(import_resolve(&test_b, &t, &test_evs, &test_n, &test_counts));
    assert_non_null(strstr(test_b.diags[0].msg, "given again"));
    test_evs = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_default_location_and_map,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_856_sums_after_mapping, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
