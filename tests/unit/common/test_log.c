/*
 * test_log.c - unit tests of src/common/log.c: identical lines within the
 * repeat window are counted, not printed, and the count comes with the next
 * identical line after the window, with a flush, or when another line
 * takes the slot; different lines are never suppressed; window 0 prints
 * everything; the json format is one valid JSON object per line, with
 * invalid UTF-8 replaced. stderr is redirected to a temporary file.
 * Labels: unit, ops (issue 15).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/log.h"

static char test_out[1 << 16];

/* test_capture_start sends stderr to a fresh temporary file. */
static int test_capture_start(void)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    fclose(tmp); /* fd 2 keeps the file open */
    return saved;
}

/* test_capture_end restores stderr and returns what was written. */
static const char *test_capture_end(int saved)
{
    fflush(stderr);
    off_t len = lseek(2, 0, SEEK_END);
    assert_true(len >= 0 && (size_t)len < sizeof test_out);
    assert_int_equal(pread(2, test_out, (size_t)len, 0), len);
    test_out[len] = '\0';
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    return test_out;
}

static int test_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_repeats_suppressed(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_TEXT);
    log_set_repeat_window_ms(200);
    int saved;
    int64_t t0;
    /* The six lines must fall within the window: on a loaded machine
     * (sanitizer build beside busy loops) the process can be switched out
     * longer than that between two of them (seen once in CI-style runs);
     * then the scenario starts again, up to 20 times. */
    for (int attempt = 0;; attempt++) {
        assert_true(attempt < 20);
        saved = test_capture_start();
        t0 = clock_mono_ms();
        for (int i = 0; i < 5; i++)
            log_info("ingest", "asked source wms for a replay from seq %d", 7);
        log_info("ingest", "another line");
        if (clock_mono_ms() - t0 < 200)
            break; /* all within the window */
        log_repeats_flush();
        test_capture_end(saved);
        usleep(250 * 1000); /* the next attempt's lines are not repeats */
    }
    /* After the window: printed again, with the count. */
    while (clock_mono_ms() - t0 <= 250)
        usleep(10 * 1000);
    log_info("ingest", "asked source wms for a replay from seq %d", 7);
    const char *out = test_capture_end(saved);
    assert_int_equal(test_count_lines(out), 3);
    assert_non_null(strstr(out, "asked source wms for a replay from seq 7\n"));
    assert_non_null(strstr(out, "another line\n"));
    assert_non_null(strstr(out, "asked source wms for a replay from seq 7 "
                                "(4 identical lines suppressed in the last"));
    log_repeats_flush(); /* nothing pending: prints nothing */
}

static void test_flush_and_levels(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_TEXT);
    log_set_repeat_window_ms(60000);
    int saved = test_capture_start();
    for (int i = 0; i < 3; i++)
        log_warn("store", "disk slow");
    log_error("store", "disk slow"); /* another level: another line */
    log_repeats_flush();
    log_repeats_flush();            /* once only */
    log_warn("store", "disk slow"); /* forgotten by the flush: printed */
    const char *out = test_capture_end(saved);
    assert_int_equal(test_count_lines(out), 4);
    assert_non_null(strstr(out, "error store   disk slow\n"));
    assert_non_null(
        strstr(out, "disk slow (2 identical lines suppressed in the last "));
    assert_non_null(strstr(out, " s; a summary, not one more)\n"));
}

static void test_window_off(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_TEXT);
    log_set_repeat_window_ms(0);
    int saved = test_capture_start();
    for (int i = 0; i < 4; i++)
        log_info("atpd", "same");
    const char *out = test_capture_end(saved);
    assert_int_equal(test_count_lines(out), 4);
    log_set_repeat_window_ms(LOG_REPEAT_WINDOW_DEFAULT_MS);
}

static void test_json(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    log_set_repeat_window_ms(60000);
    int saved = test_capture_start();
    log_info("atpd", "quote \" back \\ tab \t bad \xff ok \xc3\xa9");
    /* A lead byte without its continuation, a surrogate, an overlong '/':
     * each byte of them is U+FFFD, the valid neighbours stay. */
    log_info("atpd", "cut \xc3( sur \xed\xa0\x80 long \xc0\xaf end");
    log_info("atpd", "twice");
    log_info("atpd", "twice");
    log_repeats_flush();
    const char *out = test_capture_end(saved);
    log_set_format(LOG_FORMAT_TEXT);
    assert_int_equal(test_count_lines(out), 4);
    assert_non_null(
        strstr(out, "\"message\": \"cut \\ufffd( sur \\ufffd\\ufffd\\ufffd "
                    "long \\ufffd\\ufffd end\"}\n"));
    assert_true(strncmp(out, "{\"time\": \"", 10) == 0);
    assert_non_null(strstr(out,
                           "\"level\": \"info\", \"module\": \"atpd\", "
                           "\"message\": \"quote \\\" back \\\\ tab \\u0009 "
                           "bad \\ufffd ok \xc3\xa9\"}\n"));
    assert_non_null(strstr(out, "\"message\": \"twice\"}\n"));
    assert_non_null(strstr(out, "\"message\": \"twice\", \"suppressed\": 1, "));
    assert_non_null(strstr(out, ", \"summary\": true}\n"));
}

static void test_parse(void **state)
{
    (void)state;
    log_format f;
    assert_true(log_parse_format("json", &f) && f == LOG_FORMAT_JSON);
    assert_true(log_parse_format("text", &f) && f == LOG_FORMAT_TEXT);
    assert_false(log_parse_format("xml", &f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_suppressed),
        cmocka_unit_test(test_flush_and_levels),
        cmocka_unit_test(test_window_off),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
