/*
 * test_sse.c - client_sse_event_parse: the events of atpd's change-feed
 * stream (docs/HTTP.md) and the SSE rules a reader must follow (several
 * data lines, comments, CR LF, no data: skipped). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client_sse.h"

static bool parse(const char *block, char *out, size_t cap,
                  client_sse_event *ev)
{
    return client_sse_event_parse(block, strlen(block), out, cap, ev);
}

static void test_sse_events(void **state)
{
    (void)state;
    char out[256];
    client_sse_event ev;
    assert_true(parse("id: 1796511702500215\nevent: change\ndata: {\"seq\":1}",
                      out, sizeof out, &ev));
    assert_string_equal(ev.type, "change");
    assert_string_equal(ev.id, "1796511702500215");
    assert_string_equal(ev.data, "{\"seq\":1}");
    assert_int_equal(ev.data_len, 9);
    /* several data lines joined by \n; no space after the colon; CR LF */
    assert_true(parse("data:a\r\n: a comment\r\ndata: b\r\nretry: 10", out,
                      sizeof out, &ev));
    assert_string_equal(ev.type, "message");
    assert_string_equal(ev.id, "");
    assert_string_equal(ev.data, "a\nb");
    /* an empty data line is data */
    assert_true(parse("event: gap\ndata", out, sizeof out, &ev));
    assert_string_equal(ev.type, "gap");
    assert_string_equal(ev.data, "");
}

static void test_sse_skipped(void **state)
{
    (void)state;
    char out[64];
    client_sse_event ev;
    assert_false(parse("retry: 2000", out, sizeof out, &ev));
    assert_false(parse(": keep-alive", out, sizeof out, &ev));
    assert_false(parse("event: change\nid: 3", out, sizeof out, &ev));
    /* out too small for the block: refused, not overrun */
    char small[8];
    assert_false(parse("data: 0123456789", small, sizeof small, &ev));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_events),
        cmocka_unit_test(test_sse_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
