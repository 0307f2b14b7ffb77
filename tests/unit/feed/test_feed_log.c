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
    feed_json_str(f, "a\tb\x01\xc3\xa9", 6);
    fclose(f);
    assert_string_equal(buf, "\"a\\u0009b\\u0001\xc3\xa9\"");
    free(buf);
    assert_string_equal(feed_bucket_name(ATP_BUCKET_ALLOCATED), "allocated");
    assert_string_equal(feed_bucket_name(9), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_line),
        cmocka_unit_test(test_dropped_heartbeat_line),
        cmocka_unit_test(test_json_str_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
