/*
 * test_csv.c - unit tests of tools/atp-import/csv_import.c: RFC 4180
 * fields, the column mapping, stock and inbound rows, and the problems of
 * a bad file with their line and column (docs/IMPORT.md, "CSV").
 * Single-threaded; no I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csv_import.h"

static import_batch test_b;
static csv_opts test_o;

static void test_read(const char *text)
{
    import_batch_fini(&test_b);
    import_batch_init(&test_b);
    import_csv(text, strlen(text), &test_o, &test_b);
    assert_false(test_b.nomem);
    for (size_t i = 0; i < test_b.n_diags && i < IMPORT_DIAG_KEEP; i++)
        print_message("  problem: line %u column %u: %s\n",
                      test_b.diags[i].pos.line, test_b.diags[i].pos.element,
                      test_b.diags[i].msg);
}

static int test_setup(void **state)
{
    (void)state;
    csv_opts_default(&test_o);
    import_batch_init(&test_b);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    import_batch_fini(&test_b);
    return 0;
}

static void test_problem(const char *want, uint32_t line, uint32_t column)
{
    assert_true(test_b.n_diags > 0);
    if (strstr(test_b.diags[0].msg, want) == NULL)
        fail_msg("problem '%s' does not say '%s'", test_b.diags[0].msg, want);
    assert_int_equal(test_b.diags[0].pos.line, line);
    assert_int_equal(test_b.diags[0].pos.element, column);
}

static void test_stock_rfc4180(void **state)
{
    (void)state;
    /* BOM, CRLF, a quoted delimiter, a doubled quote, a quoted line break,
     * spaces around unquoted fields, a blank line, no final newline. */
    test_read("\xef\xbb\xbfSKU,Location,QTY\r\n"
              "SKU-1 , DC-1 , 120\r\n"
              "\"SKU,2\",DC-1,7\r\n"
              "\r\n"
              "\"say \"\"hi\"\"\",DC-2,0\r\n"
              "\"two\nlines\",DC-2,-4");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 4);
    assert_int_equal(test_b.csv_rows, 4);
    const import_rec *r = test_b.recs;
    assert_string_equal(r[0].sku, "SKU-1");
    assert_string_equal(r[0].loc, "DC-1");
    assert_int_equal(r[0].qty, 120);
    assert_int_equal(r[0].kind, IMPORT_SET);
    assert_int_equal(r[0].bucket, ATP_BUCKET_ON_HAND);
    assert_string_equal(r[1].sku, "SKU,2");
    assert_string_equal(r[2].sku, "say \"hi\"");
    assert_int_equal(r[2].pos.line, 5);
    assert_string_equal(r[3].sku, "two\nlines"); /* atpd's check refuses it */
    assert_int_equal(r[3].qty, -4);
}

static void test_mapping(void **state)
{
    (void)state;
    char why[160];
    assert_true(csv_parse_columns("sku=Item,location=3,qty=On Hand,bucket=B",
                                  &test_o, why, sizeof why));
    assert_true(csv_parse_delimiter(";", &test_o.delimiter));
    test_read("Item;B;Warehouse;On Hand\nA;held;W1;5\n");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.recs[0].bucket, ATP_BUCKET_HELD);
    assert_string_equal(test_b.recs[0].loc, "W1");
    /* No header: columns by number. */
    test_o.header = false;
    assert_true(csv_parse_columns("sku=1,qty=2", &test_o, why, sizeof why));
    assert_true(csv_parse_delimiter("tab", &test_o.delimiter));
    test_read("A\t5\nB\t6\n");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 2);
    assert_null(test_b.recs[1].loc); /* --location decides */
    /* Inbound: lot and eta. */
    test_o.header = true;
    test_o.delimiter = ',';
    assert_true(csv_parse_columns("sku=sku,location=loc,qty=qty,lot=po,eta=eta",
                                  &test_o, why, sizeof why));
    test_read("sku,loc,qty,po,eta\nA,DC-1,40,PO-7,2026-12-05T08:00:00Z\n");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.recs[0].kind, IMPORT_LOT_ADD);
    assert_string_equal(test_b.recs[0].lot, "PO-7");
    assert_int_equal(test_b.recs[0].eta_ms, 1796457600000LL);
    /* Bad mappings. */
    assert_false(csv_parse_columns("sku=a", &test_o, why, sizeof why));
    assert_false(
        csv_parse_columns("sku=a,qty=b,lot=c", &test_o, why, sizeof why));
    assert_false(
        csv_parse_columns("sku=a,qty=b,shelf=c", &test_o, why, sizeof why));
    assert_false(
        csv_parse_columns("sku=a,qty=b,sku=c", &test_o, why, sizeof why));
    assert_false(csv_parse_columns("sku=a,qty=b,lot=c,eta=d,bucket=e", &test_o,
                                   why, sizeof why));
    assert_false(csv_parse_delimiter("::", &test_o.delimiter));
}

static void test_problems(void **state)
{
    (void)state;
    test_read("sku,location,qty\nA,DC-1,12.5\nB,DC-1\nC,,3\nD,DC-1,x\n");
    assert_int_equal(test_b.n_diags, 4);
    test_problem("'12.5' is not a whole number", 2, 3);
    assert_int_equal(test_b.diags[1].pos.line, 3);    /* 2 fields */
    assert_int_equal(test_b.diags[2].pos.element, 2); /* empty location */
    assert_int_equal(test_b.n, 0);                    /* no record of them */
    test_read("sku,qty\nA,1\n");
    test_problem("no column 'location'", 1, 0);
    test_read("sku,location,qty\n\"A,DC-1,1\n");
    test_problem("not closed", 2, 1);
    test_read("sku,location,qty\nA\"x,DC-1,1\n");
    test_problem("quote inside an unquoted field", 2, 1);
    test_read("sku,location,qty\n\"A\"x,DC-1,1\n");
    test_problem("after a closing quote", 2, 1);
    test_read("");
    test_problem("empty", 1, 0);
    char why[160];
    assert_true(csv_parse_columns("sku=sku,location=location,qty=qty,bucket="
                                  "bucket",
                                  &test_o, why, sizeof why));
    test_read("sku,location,qty,bucket\nA,DC-1,1,shelf\n");
    test_problem("'shelf' is not on_hand", 2, 4);
    assert_true(csv_parse_columns("sku=sku,location=location,qty=qty,lot=lot,"
                                  "eta=eta",
                                  &test_o, why, sizeof why));
    test_read("sku,location,qty,lot,eta\nA,DC-1,-1,L,2026-01-01\n"
              "A,DC-1,1,L,2026-02-30\n");
    test_problem("0..10^15", 2, 3);
    assert_int_equal(test_b.diags[1].pos.element, 5);
    /* A header alone is a valid, empty file (with --snapshot: all zero). */
    csv_opts_default(&test_o);
    test_read("sku,location,qty\n");
    assert_int_equal(test_b.n_diags, 0);
    assert_int_equal(test_b.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stock_rfc4180, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_mapping, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_problems, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
