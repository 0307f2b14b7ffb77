/*
 * test_x12.c - unit tests of tools/atp-import/x12*.c: separators taken from
 * ISA, the strict envelope, and what the 846 and 856 sets become
 * (docs/IMPORT.md). Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "x12.h"

/* A fixed-width ISA with '*' elements, '>' components and '~' segments. */
#define ISA                                                                    \
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "    \
    "*261201*1200*U*00401*000000042*0*P*>~\n"
#define GS "GS*IB*SENDER*RECEIVER*20261201*1200*7*X*004010~\n"
#define END(nsets) "GE*" #nsets "*7~\nIEA*1*000000042~\n"

static import_batch test_b;
static x12_opts test_o;

static void test_read(const char *text)
{
    import_batch_fini(&test_b);
    import_batch_init(&test_b);
    import_x12(text, strlen(text), &test_o, &test_b);
    assert_false(test_b.nomem);
    for (size_t i = 0; i < test_b.n_diags && i < IMPORT_DIAG_KEEP; i++)
        print_message("  problem: segment %u: %s\n",
                      test_b.diags[i].pos.segment, test_b.diags[i].msg);
}

static int test_setup(void **state)
{
    (void)state;
    x12_opts_default(&test_o);
    import_batch_init(&test_b);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    import_batch_fini(&test_b);
    return 0;
}

/* test_first_problem: there is a problem and its text holds want. */
static void test_problem(const char *want, uint32_t segment)
{
    assert_true(test_b.n_diags > 0);
    if (strstr(test_b.diags[0].msg, want) == NULL)
        fail_msg("problem '%s' does not say '%s'", test_b.diags[0].msg, want);
    assert_int_equal(test_b.diags[0].pos.segment, segment);
}

#define SET_846(ctrl, body, count)                                             \
    "ST*846*" ctrl "~\nBIA*00*DD*REF1*20261201~\n" body "SE*" #count "*" ctrl  \
    "~\n"

static void test_846_locations_and_qualifiers(void **state)
{
    (void)state;
    test_read(ISA GS SET_846("0001",
                             "N1*WH*EAST DC*92*E1~\n"
                             "LIN**SK*SKU-1*UP*012345678905~\n"
                             "QTY*17*120*EA~\nQTY*33*100*EA~\n"
                             "LIN**UP*999*SK*SKU-2~\n"
                             "N1*WH*WEST DC*92*W1~\nQTY*17*7~\n",
                             10) END(1));
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.sets_846, 1);
    assert_int_equal(test_b.ignored, 1); /* QTY*33 is not read by default */
    assert_int_equal(test_b.n, 2);
    const import_rec *r = test_b.recs;
    assert_int_equal(r[0].kind, IMPORT_SET);
    assert_string_equal(r[0].sku, "SKU-1");
    assert_string_equal(r[0].loc, "E1"); /* the header's N1 */
    assert_int_equal(r[0].bucket, ATP_BUCKET_ON_HAND);
    assert_int_equal(r[0].qty, 120);
    assert_string_equal(r[1].sku, "SKU-2"); /* SK before UP */
    assert_string_equal(r[1].loc, "W1");    /* the line's own N1 */
    assert_int_equal(r[1].qty, 7);
    assert_int_equal(r[1].loc_pos.segment, 10);

    /* --qty 33=held reads the other qualifier into another bucket. */
    assert_true(x12_parse_qty_map("17=on_hand,33=held", &test_o));
    test_read(ISA GS SET_846("0001", "LIN**SK*SKU-1~\nQTY*17*120~\nQTY*33*4~\n",
                             6) END(1));
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 2);
    assert_int_equal(test_b.recs[1].bucket, ATP_BUCKET_HELD);
    assert_null(test_b.recs[0].loc); /* no N1: --location decides */
    assert_false(x12_parse_qty_map("17=shelf", &test_o));
    assert_false(x12_parse_qty_map("=on_hand", &test_o));
}

static void test_846_problems(void **state)
{
    (void)state;
    test_read(ISA GS SET_846("0001", "LIN**SK*SKU-1~\nQTY*17*12.5~\n", 5)
                  END(1));
    test_problem("whole number", 6);
    assert_int_equal(test_b.diags[0].pos.element, 2);
    test_read(ISA GS SET_846("0001", "LIN**SK*SKU-1~\nQTY*33*5~\n", 5) END(1));
    test_problem("no QTY that --qty reads", 5);
    test_read(ISA GS SET_846("0001", "QTY*17*5~\n", 4) END(1));
    test_problem("before the first LIN", 5);
    test_read(ISA GS SET_846("0001", "LIN**ZZ*X~\nQTY*17*5~\n", 5) END(1));
    test_problem("--sku-qualifier", 5);
    test_read(ISA GS "ST*846*0001~\nLIN**SK*A~\nSE*3*0001~\n" END(1));
    test_problem("BIA", 3);
    /* Sub-records of every problem: none is kept for a bad file. */
    test_read(ISA GS SET_846(
        "0001", "LIN**SK*A~\nQTY*17*x~\nLIN**SK*B~\nQTY*17*y~\n", 7) END(1));
    assert_int_equal(test_b.n_diags, 2);
}

static void test_envelope(void **state)
{
    (void)state;
    const char *body = "LIN**SK*A~\nQTY*17*1~\n";
    char buf[2048];
    /* SE01 counts ST to SE. */
    snprintf(buf, sizeof buf, ISA GS SET_846("0001", "%s", 6) END(1), body);
    test_read(buf);
    test_problem("SE01 says 6", 7);
    /* ST02 / SE02 */
    test_read(ISA GS "ST*846*0001~\nBIA*00*DD*R*20261201~\nLIN**SK*A~\nQTY*17*"
                     "1~\nSE*5*0002~\n" END(1));
    test_problem("control number '0002'", 7);
    /* GE01 counts sets, GS06 / GE02, IEA01, ISA13 / IEA02. */
    snprintf(buf, sizeof buf, ISA GS SET_846("0001", "%s", 5) END(2), body);
    test_read(buf);
    test_problem("GE01", 8);
    snprintf(buf, sizeof buf,
             ISA GS SET_846("0001", "%s", 5) "GE*1*8~\nIEA*1*000000042~\n",
             body);
    test_read(buf);
    test_problem("control number '8'", 8);
    snprintf(buf, sizeof buf,
             ISA GS SET_846("0001", "%s", 5) "GE*1*7~\nIEA*1*43~\n", body);
    test_read(buf);
    test_problem("control number '43'", 9);
    snprintf(buf, sizeof buf, ISA GS SET_846("0001", "%s", 5) "GE*1*7~\n",
             body);
    test_read(buf);
    test_problem("ends inside ISA", 8);
    /* Nesting. */
    test_read(ISA "ST*846*0001~\n");
    test_problem("unexpected segment ST (expected GS or IEA)", 2);
    test_read(ISA GS "ST*810*0001~\nBIG*20261201~\nSE*3*0001~\n" END(1));
    test_problem("transaction set 810", 3);
    test_read("GS*IB*A*B~\n");
    test_problem("does not start with ISA", 1);
    /* Accepted: two interchanges in one file; a set of each kind. */
    snprintf(buf, sizeof buf,
             ISA GS SET_846("0001", "%s", 5) END(1)
                 ISA GS SET_846("0002", "%s", 5) END(1),
             body, body);
    test_read(buf);
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.sets_846, 2);
}

/* An 856 of version 00200 with a non-fixed-width ISA, '|' elements, '@'
 * components, '!' terminators followed by CRLF, six-digit dates. */
#define TEST_856_V2                                                            \
    "ISA|00| |00| |01|054481205 |01|123456789 |070101|1130|U|00200|"           \
    "000000001|0|P|@!\r\n"                                                     \
    "GS|SH|1|2|070101|1130|1|X|002001!\r\n"                                    \
    "ST|856|0001!\r\nBSN|00|35100|070101|1130!\r\n"                            \
    "DTM|011|070101|1130!\r\nHL|1||S!\r\nN1|ST|DC|92|E1!\r\n"                  \
    "HL|2|1|I!\r\nLIN||BP|7389141G01|ON|RG61372!\r\nSN1||1000|PC!\r\n"         \
    "SE|9|0001!\r\nGE|1|1!\r\nIEA|1|000000001!\r\n"

static void test_separators(void **state)
{
    (void)state;
    /* Not fixed-width, '!' terminator, '@' components, CRLF after it,
     * version 00200, six-digit dates. */
    test_read(TEST_856_V2);
    assert_true(x12_parse_quals("BP", &test_o));
    test_o.transit_set = true;
    test_o.transit_ms = 2 * 86400000LL;
    assert_int_equal(test_b.n_diags, 1); /* no --transit at read time */
    test_read(TEST_856_V2);
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 1);
    assert_string_equal(test_b.recs[0].sku, "7389141G01");
    /* 2007-01-01 11:30 UTC + 2 days */
    assert_int_equal(test_b.recs[0].eta_ms, 1167651000000LL + 2 * 86400000LL);
    /* A newline as the terminator (CRLF lines). */
    x12_opts_default(&test_o);
    test_read("ISA*00*          *00*          *ZZ*S              *ZZ*R         "
              "     *261201*1200*U*00401*000000042*0*P*>\r\n"
              "GS*IB*S*R*20261201*1200*7*X*004010\r\n"
              "ST*846*1\r\nBIA*00*DD*R*20261201\r\nLIN**SK*A\r\nQTY*17*3\r\n"
              "SE*5*1\r\nGE*1*7\r\nIEA*1*42\r\n");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 1);
    assert_int_equal(test_b.recs[0].qty, 3);
    /* A terminator changed mid-file: a line break inside a segment. */
    test_read(ISA GS "ST*846*0001~\nBIA*00*DD*R*20261201$\nLIN**SK*A~\n");
    test_problem("line break inside segment BIA", 4);
    assert_int_equal(test_b.diags[0].pos.line, 4);
    test_read(ISA GS "ST*846*0001~\nbad*1~\n");
    test_problem("bad segment id", 4);
    test_read(ISA GS "ST*846*0001");
    test_problem("no segment terminator", 3);
    test_read("ISA*00*");
    test_problem("cut short", 1);
}

#define SET_856(ctrl, body, count)                                             \
    "ST*856*" ctrl "~\nBSN*00*SHIP-9*20261201*1200~\n" body "SE*" #count       \
    "*" ctrl "~\n"

static void test_856_tree(void **state)
{
    (void)state;
    test_read(ISA GS SET_856(
        "0001",
        "HL*1**S~\nDTM*011*20261201*1200~\nDTM*017*20261205*0800~\n"
        "N1*ST*EAST DC*92*E1~\n"
        "HL*2*1*O~\nPRF*PO-1~\n"
        "HL*3*2*P~\n"
        "HL*4*3*I~\nLIN**UP*111*SK*SKU-1~\nSN1**12*EA~\n"
        "HL*5*2*P~\n"
        "HL*6*5*I~\nLIN**SK*SKU-1~\nSN1**8*EA~\n"
        "HL*7*6*P~\nSN1**3*EA~\n" /* a pack below an item: not counted */
        "HL*8*1*O~\nN1*ST*WEST DC*92*W1~\n"
        "HL*9*8*I~\nLIN**SK*SKU-2~\nSN1**5~\n",
        24) END(1));
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 3); /* SKU-1 twice: added up by resolve */
    const import_rec *r = test_b.recs;
    assert_int_equal(r[0].kind, IMPORT_LOT_ADD);
    assert_string_equal(r[0].sku, "SKU-1");
    assert_string_equal(r[0].loc, "E1");
    assert_string_equal(r[0].lot, "SHIP-9");
    assert_int_equal(r[0].qty, 12);
    assert_int_equal(r[0].set, 1);
    assert_int_equal(r[0].eta_ms, 1796457600000LL); /* 2026-12-05 08:00Z */
    assert_int_equal(r[1].qty, 8);       /* the pack below it is not counted */
    assert_string_equal(r[2].loc, "W1"); /* its order's ship-to */
    assert_int_equal(r[2].qty, 5);
}

static void test_856_problems_and_cancel(void **state)
{
    (void)state;
    const char *item = "HL*1**S~\nDTM*011*20261201~\nHL*2*1*I~\nLIN**SK*A~\n"
                       "SN1**4~\n";
    char buf[2048];
    snprintf(buf, sizeof buf, ISA GS SET_856("0001", "%s", 8) END(1), item);
    test_read(buf);
    test_problem("no --transit", 7);
    test_o.transit_set = true;
    test_o.transit_ms = 86400000LL;
    test_read(buf);
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.recs[0].eta_ms, 1796169600000LL); /* Dec 2 */
    assert_null(test_b.recs[0].loc);
    /* A cancellation needs no date. */
    test_read(ISA GS "ST*856*0001~\nBSN*01*SHIP-9*20261201*1200~\nHL*1**S~\n"
                     "HL*2*1*I~\nLIN**SK*A~\nSN1**4~\nSE*7*0001~\n" END(1));
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.recs[0].kind, IMPORT_LOT_CANCEL);
    test_read(ISA GS "ST*856*0001~\nBSN*00~\nHL*1**S~\nSE*4*0001~\n" END(1));
    test_problem("BSN02", 4);
    test_read(ISA GS SET_856("0001", "HL*1**S~\nHL*2*9*I~\n", 5) END(1));
    test_problem("parent HL '9'", 6);
    test_read(ISA GS SET_856("0001", "HL*1**S~\nHL*2*1*I~\nSN1**4~\n", 6)
                  END(1));
    test_problem("without its LIN", 6);
    test_read(ISA GS SET_856("0001",
                             "HL*1**S~\nDTM*017*20261301~\nHL*2*1*I~\n"
                             "LIN**SK*A~\nSN1**-4~\n",
                             8) END(1));
    assert_int_equal(test_b.n_diags, 2); /* the month, the quantity */
    /* An arrival before 1970 (YYMMDD 69 is 1969) atpd would refuse. */
    test_read(ISA GS SET_856("0001",
                             "HL*1**S~\nDTM*017*691231~\nHL*2*1*I~\n"
                             "LIN**SK*A~\nSN1**4~\n",
                             8) END(1));
    test_problem("from 1970 on", 6);
    /* --received: the shipment's lots arrived. */
    test_o.received = true;
    test_read(buf);
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.recs[0].kind, IMPORT_LOT_RECEIVE);
    assert_true(test_b.inbound_file);
    assert_false(test_b.stock_file);
}

static void test_dates_and_qty(void **state)
{
    (void)state;
    int64_t ms, q;
    assert_true(import_parse_x12_date("20240229", 8, "2359", 4, &ms));
    assert_int_equal(ms, 1709251140000LL);
    assert_false(import_parse_x12_date("20230229", 8, "", 0, &ms));
    assert_true(import_parse_x12_date("491231", 6, "", 0, &ms)); /* 2049 */
    assert_int_equal(ms, 2524521600000LL);
    assert_true(import_parse_x12_date("500101", 6, "", 0, &ms)); /* 1950 */
    assert_int_equal(ms, -631152000000LL);
    assert_false(import_parse_x12_date("20240101", 8, "2460", 4, &ms));
    assert_true(import_parse_x12_date("20240101", 8, "12003045", 8, &ms));
    assert_int_equal(ms, 1704110430000LL);
    assert_true(import_parse_iso_date("2026-12-05T08:00:00Z", 20, &ms));
    assert_int_equal(ms, 1796457600000LL);
    assert_true(import_parse_iso_date("2026-12-05 08:00", 16, &ms));
    assert_int_equal(ms, 1796457600000LL);
    assert_true(import_parse_iso_date("20261205", 8, &ms));
    assert_false(import_parse_iso_date("2026-13-05", 10, &ms));
    assert_false(import_parse_iso_date("2026/12/05", 10, &ms));
    assert_true(import_parse_qty("12.00", 5, &q));
    assert_int_equal(q, 12);
    assert_true(import_parse_qty("-3", 2, &q));
    assert_int_equal(q, -3);
    assert_true(import_parse_qty("1000000000000000", 16, &q));
    assert_false(import_parse_qty("1000000000000001", 16, &q));
    assert_false(import_parse_qty("12.5", 4, &q));
    assert_false(import_parse_qty("1,200", 5, &q));
    assert_false(import_parse_qty("", 0, &q));
    assert_false(import_parse_qty("-", 1, &q));
    assert_false(import_parse_qty("1e3", 3, &q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_846_locations_and_qualifiers,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_846_problems, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_envelope, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_separators, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_856_tree, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_856_problems_and_cancel,
                                        test_setup, test_teardown),
        cmocka_unit_test(test_dates_and_qty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
