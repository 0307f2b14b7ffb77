/*
 * test_args.c - unit tests of src/daemon/args.c and startup.c: the
 * command line's exit codes (--help, --version, --check-config, usage
 * errors), its overrides applied over the configuration, an unknown log
 * level refused at start, the store's options taken from the
 * configuration, and the checks of the listen addresses made before
 * anything is created. Labels: unit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon/daemon_int.h"

/* test_parse runs daemon_args_parse on a NULL-terminated list, with
 * getopt's state reset (optind 0: GNU's full re-initialisation). */
static int test_parse(daemon_args *a, const char **list)
{
    char *argv[32];
    int argc = 0;
    while (list[argc] != NULL && argc < 31) {
        argv[argc] = (char *)list[argc];
        argc++;
    }
    argv[argc] = NULL;
    memset(a, 0, sizeof *a);
    optind = 0;
    return daemon_args_parse(argc, argv, a);
}

/* test_yaml writes text to a temporary file; its path in path. */
static void test_yaml(char *path, size_t len, const char *text)
{
    snprintf(path, len, "/tmp/atp-daemon-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_exit_codes(void **state)
{
    (void)state;
    daemon_args a;
    assert_int_equal(test_parse(&a, (const char *[]){"atpd", "--help", NULL}),
                     0);
    assert_int_equal(test_parse(&a, (const char *[]){"atpd", "-V", NULL}), 0);
    assert_int_equal(
        test_parse(&a, (const char *[]){"atpd", "--no-such", NULL}), 2);
    assert_int_equal(test_parse(&a, (const char *[]){"atpd", "extra", NULL}),
                     2);
    assert_int_equal(test_parse(&a, (const char *[]){"atpd", NULL}), -1);
    assert_null(a.config_path);
}

static void test_check_config(void **state)
{
    (void)state;
    char good[64], bad[64];
    test_yaml(good, sizeof good,
              "regions: [{id: r}]\nlocations:\n  - {id: dc, region: r}\n");
    test_yaml(
        bad, sizeof bad,
        "regions: [{id: r}]\nlocations:\n  - {id: dc, region: nowhere}\n");
    daemon_args a;
    assert_int_equal(
        test_parse(&a, (const char *[]){"atpd", "--check-config", good, NULL}),
        0);
    assert_int_equal(
        test_parse(&a, (const char *[]){"atpd", "--check-config", bad, NULL}),
        1);
    unlink(good);
    unlink(bad);
}

static void test_overrides(void **state)
{
    (void)state;
    daemon_args a;
    assert_int_equal(
        test_parse(&a, (const char *[]){"atpd", "--query-listen",
                                        "tcp://127.0.0.1:0", "--ingest-listen",
                                        "tcp://127.0.0.1:0", "--feed-listen",
                                        "tcp://127.0.0.1:0", "--control-listen",
                                        "tcp://127.0.0.1:0", "--http-listen",
                                        "http://127.0.0.1:0", "--data-dir",
                                        "/tmp/atp-daemon-dir", "--log-level",
                                        "warn", "--ready-file", "/tmp/ready",
                                        NULL}),
        -1);
    assert_string_equal(a.ready_file, "/tmp/ready");
    config cfg;
    assert_int_equal(daemon__config_read(&a, &cfg, false), 0);
    assert_string_equal(cfg.service.query_listen, "tcp://127.0.0.1:0");
    assert_string_equal(cfg.service.ingest_listen, "tcp://127.0.0.1:0");
    assert_string_equal(cfg.service.feed_listen, "tcp://127.0.0.1:0");
    assert_string_equal(cfg.service.control_listen, "tcp://127.0.0.1:0");
    assert_string_equal(cfg.service.http_listen, "http://127.0.0.1:0");
    assert_string_equal(cfg.service.data_dir, "/tmp/atp-daemon-dir");
    assert_string_equal(cfg.service.log_level, "warn");
    /* port 0 given four times: each socket gets a port of its own */
    assert_int_equal(daemon_check_listeners(&cfg), 0);
    config_fini(&cfg);
}

static void test_bad_log_level(void **state)
{
    (void)state;
    daemon_args a;
    assert_int_equal(
        test_parse(&a, (const char *[]){"atpd", "--log-level", "loud", NULL}),
        -1);
    config cfg;
    assert_int_equal(daemon_config_load(&a, &cfg), 2); /* cfg freed */
}

static void test_missing_config(void **state)
{
    (void)state;
    daemon_args a;
    assert_int_equal(
        test_parse(
            &a, (const char *[]){"atpd", "-c", "/nonexistent/atpd.yaml", NULL}),
        -1);
    config cfg;
    assert_int_equal(daemon_config_load(&a, &cfg), 1);
}

static void test_listeners(void **state)
{
    (void)state;
    config cfg;
    assert_int_equal(config_defaults(&cfg), ATP_OK);
    /* the same fixed port twice: refused before anything binds */
    char *url = "tcp://127.0.0.1:1";
    free(cfg.service.query_listen);
    free(cfg.service.ingest_listen);
    cfg.service.query_listen = strdup(url);
    cfg.service.ingest_listen = strdup(url);
    assert_int_equal(daemon_check_listeners(&cfg), 1);
    config_fini(&cfg);
}

static void test_store_options(void **state)
{
    (void)state;
    config cfg;
    assert_int_equal(config_defaults(&cfg), ATP_OK);
    store_options o = daemon_store_options(&cfg);
    assert_int_equal(o.sync, STORE_SYNC);
    assert_int_equal(o.initial_map_bytes, 64u << 20);
    assert_int_equal(o.max_map_bytes, cfg.reservations.max_map_bytes);
    assert_int_equal(o.log_bytes, cfg.reservations.log_bytes);
    cfg.reservations.sync = false;
    assert_int_equal(daemon_store_options(&cfg).sync, STORE_NOSYNC);
    config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_bad_log_level),
        cmocka_unit_test(test_missing_config),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_store_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
