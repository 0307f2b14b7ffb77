/*
 * engine_test.h - what the engine's unit tests share: a configuration
 * loaded from YAML text (printing its diagnostics, failing the test unless
 * it loads) and a batch release that fails the test unless the batch was
 * applied. Include after cmocka.h. Static inline: a test that uses one of
 * the two gets no unused-function warning for the other.
 */
#ifndef ATP_TEST_ENGINE_TEST_H
#define ATP_TEST_ENGINE_TEST_H

#include <stdio.h>
#include <string.h>

#include "config/config.h"

static inline void test_load(config *cfg, const char *yaml)
{
    config_diags diags = {0};
    atp_err err = config_load_string(yaml, strlen(yaml), cfg, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "config line %d: %s\n", diags.items[i].line,
                diags.items[i].message);
    config_diags_fini(&diags);
    assert_int_equal(err, ATP_OK);
}

static inline void test_release(void *owner, bool applied)
{
    (void)owner;
    assert_true(applied);
}

#endif
