/*
 * test_nomem.c - the configuration loader when an allocation fails
 * (tests/unit/support/faultalloc.h): every allocation of loading the
 * shipped demo file, each bad_*.yaml of tests/data/config and the defaults
 * fails once, then from there on. Each run returns the result of the run
 * without failures, or ATP_E_NOMEM with nothing half-built (the sanitizer
 * build finds leaks), never a crash. Single-threaded.
 */
#include "config_test.h"

#include "../support/faultalloc.h"
#include "atp/error.h"
#include "common/log.h"

typedef struct nomem_result {
    atp_err err;
    size_t n_regions, n_locations, n_channels, n_sources, n_buffers, n_diags;
} nomem_result;

static nomem_result nomem_load(const char *path)
{
    config c;
    config_diags d = {0};
    nomem_result r = {0};
    r.err = path ? config_load_file(path, &c, &d) : config_defaults(&c);
    if (r.err == ATP_OK) {
        r.n_regions = c.n_regions;
        r.n_locations = c.n_locations;
        r.n_channels = c.n_channels;
        r.n_sources = c.n_sources;
        r.n_buffers = c.n_buffers;
        config_fini(&c);
    }
    r.n_diags = d.n;
    config_diags_fini(&d);
    return r;
}

static void nomem_assert_same(const nomem_result *a, const nomem_result *b)
{
    assert_int_equal(a->err, b->err);
    assert_int_equal(a->n_regions, b->n_regions);
    assert_int_equal(a->n_locations, b->n_locations);
    assert_int_equal(a->n_channels, b->n_channels);
    assert_int_equal(a->n_sources, b->n_sources);
    assert_int_equal(a->n_buffers, b->n_buffers);
    assert_int_equal(a->n_diags, b->n_diags);
}

/* path NULL: config_defaults. */
static void nomem_each_allocation(const char *path)
{
    nomem_result ref = nomem_load(path);
    for (int persistent = 0; persistent < 2; persistent++) {
        for (long at = 0;; at++) {
            faultalloc_arm(at, persistent);
            nomem_result r = nomem_load(path);
            if (faultalloc_disarm() == 0) {
                nomem_assert_same(&ref, &r);
                assert_true(at > 0);
                if (persistent)
                    print_message("%s: %ld allocations\n",
                                  path ? strrchr(path, '/') + 1 : "(defaults)",
                                  at);
                break;
            }
            if (r.err != ATP_E_NOMEM) {
                /* The failed allocation did not matter (a diagnostic's
                 * detail, say): the result is the one without failures. */
                assert_int_equal(r.err, ref.err);
            }
        }
    }
}

static void test_nomem_demo(void **state)
{
    (void)state;
    nomem_each_allocation(config_test_path("config/demo.yaml"));
    nomem_each_allocation(config_test_path("config/minimal.yaml"));
    nomem_each_allocation(NULL);
}

static void test_nomem_bad_files(void **state)
{
    (void)state;
    static const char *const files[] = {
        "bad_authority.yaml", "bad_buffers.yaml",   "bad_ids.yaml",
        "bad_keys.yaml",      "bad_locations.yaml", "bad_many.yaml",
        "bad_new_keys.yaml",  "bad_ranges.yaml",    "bad_syntax.yaml",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        nomem_each_allocation(config_test_data(files[i]));
}

int main(void)
{
    log_set_level(
        (log_level)(LOG_ERROR + 1)); /* expected out-of-memory lines */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nomem_demo),
        cmocka_unit_test(test_nomem_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
