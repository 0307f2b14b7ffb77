/*
 * test_feed_log.c - unit tests of tools/atp-feed/feed_log.c: the exact JSON
 * Lines format that integration tests replay. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atp/wire.h"
#include "feed_log.h"

static char *test_render(const feed_msg *m, uint64_t ts)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(feed_log_write(f, m, ts), 0);
    fclose(f);
    return buf;
}

static void test_data_line(void **state)
{
    (void)state;
    codec_event ev[2] = {
        {.kind = ATP_EV_DELTA,
         .bucket = ATP_BUCKET_ON_HAND,
         .sku = {"SKU-1", 5},
         .location = {"DC-NJ", 5},
         .value = -5},
        {.kind = ATP_EV_SET,
         .bucket = ATP_BUCKET_HELD,
         .sku = {"SKU-\"7\\", 7},
         .location = {"DC-PA", 5},
         .value = 3},
    };
    feed_msg m = {.source_id = "wms-east",
                  .seq = 17,
                  .copies = 2,
                  .n_events = 2,
                  .events = ev};
    char *s = test_render(&m, 1700000000000ULL);
    assert_string_equal(
        s, "{\"source\":\"wms-east\",\"seq\":17,\"ts_ms\":1700000000000,"
           "\"sent\":true,\"copies\":2,\"reordered\":false,\"events\":["
           "[\"delta\",\"SKU-1\",\"DC-NJ\",\"on_hand\",-5],"
           "[\"set\",\"SKU-\\\"7\\\\\",\"DC-PA\",\"held\",3]]}\n");
    free(s);
}

static void test_dropped_heartbeat_line(void **state)
{
    (void)state;
    codec_event hb = {.kind = ATP_EV_HEARTBEAT};
    feed_msg m = {.source_id = "erp",
                  .seq = 3,
                  .heartbeat = true,
                  .dropped = true,
                  .copies = 0,
                  .n_events = 1,
                  .events = &hb};
    char *s = test_render(&m, 5);
    assert_string_equal(s, "{\"source\":\"erp\",\"seq\":3,\"ts_ms\":5,"
                           "\"sent\":false,\"copies\":0,\"reordered\":false,"
                           "\"events\":[[\"heartbeat\"]]}\n");
    free(s);
}

static void test_json_str_escapes(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    codec_json_str_file(f, "a\tb\x01\xc3\xa9", 6);
    fclose(f);
    assert_string_equal(buf, "\"a\\u0009b\\u0001\xc3\xa9\"");
    free(buf);
    assert_string_equal(feed_bucket_name(ATP_BUCKET_ALLOCATED), "allocated");
    assert_string_equal(feed_bucket_name(9), "?");
}

static void test_lot_line(void **state)
{
    (void)state;
    codec_event ev[4] = {
        {.kind = ATP_EV_LOT_ADD,
         .sku = {"S1", 2},
         .location = {"DC", 2},
         .ref = {"L0", 2},
         .value = 12,
         .eta_ms = 1700000004000LL},
        {.kind = ATP_EV_LOT_CHANGE,
         .sku = {"S1", 2},
         .location = {"DC", 2},
         .ref = {"L0", 2},
         .value = 10,
         .eta_ms = 1700000006000LL},
        {.kind = ATP_EV_LOT_RECEIVE,
         .sku = {"S1", 2},
         .location = {"DC", 2},
         .ref = {"L0", 2}},
        {.kind = ATP_EV_LOT_CANCEL,
         .sku = {"S2", 2},
         .location = {"DC", 2},
         .ref = {"L1", 2}},
    };
    feed_msg m = {
        .source_id = "asn", .seq = 3, .copies = 1, .n_events = 4, .events = ev};
    char *s = test_render(&m, 5);
    assert_string_equal(
        s,
        "{\"source\":\"asn\",\"seq\":3,\"ts_ms\":5,\"sent\":true,\"copies\":1,"
        "\"reordered\":false,\"events\":["
        "[\"lot_add\",\"S1\",\"DC\",\"L0\",12,1700000004000],"
        "[\"lot_change\",\"S1\",\"DC\",\"L0\",10,1700000006000],"
        "[\"lot_receive\",\"S1\",\"DC\",\"L0\"],"
        "[\"lot_cancel\",\"S2\",\"DC\",\"L1\"]]}\n");
    free(s);
}

static void test_resync_notes(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    feed_resync_note r = {.source = "wms",
                          .request_id = 7,
                          .mode = "replay",
                          .from_seq = 42,
                          .first_seq = 42,
                          .last_seq = 50,
                          .messages = 9,
                          .ts_ms = 1000};
    assert_int_equal(feed_log_replay(f, &r), 0);
    feed_resync_note n = {.source = "wms",
                          .request_id = 8,
                          .mode = "replay",
                          .from_seq = 3,
                          .snapshot_id = 2,
                          .seq = 50,
                          .parts = 3,
                          .events = 2010,
                          .positions = 2000,
                          .lots = 10,
                          .reason = "log \"short\"",
                          .ts_ms = 1001};
    assert_int_equal(feed_log_snapshot(f, &n), 0);
    fclose(f);
    assert_string_equal(
        buf,
        "{\"replay\":{\"source\":\"wms\",\"request_id\":7,\"mode\":\"replay\","
        "\"from_seq\":42,\"first_seq\":42,\"last_seq\":50,\"messages\":9,"
        "\"ts_ms\":1000}}\n"
        "{\"snapshot\":{\"source\":\"wms\",\"request_id\":8,\"mode\":"
        "\"replay\","
        "\"from_seq\":3,\"snapshot_id\":2,\"seq\":50,\"parts\":3,"
        "\"events\":2010,\"positions\":2000,\"lots\":10,\"ts_ms\":1001,"
        "\"reason\":\"log \\\"short\\\"\"}}\n");
    free(buf);
    assert_string_equal(feed_event_name(ATP_EV_LOT_CANCEL), "lot_cancel");
    assert_string_equal(feed_event_name(99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_line),
        cmocka_unit_test(test_dropped_heartbeat_line),
        cmocka_unit_test(test_json_str_escapes),
        cmocka_unit_test(test_lot_line),
        cmocka_unit_test(test_resync_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
