/*
 * config_test.h - helpers shared by the config unit tests (header only,
 * since each test is a single .c file linked with atp_config and cmocka).
 *
 * Data files are found from this file's own path (__FILE__, which CMake
 * makes absolute): <repo>/tests/unit/config/ -> <repo>/tests/data/config/.
 * Compiled by hand with a relative path, run the test from the repository
 * root. -DATP_SOURCE_DIR="/path/to/repo" overrides both.
 */
#ifndef ATP_CONFIG_TEST_H
#define ATP_CONFIG_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

/* config_test_path returns <repo>/<rel> in one of a few static buffers (a
 * test may hold two paths at once). */
static inline const char *config_test_path(const char *rel)
{
    static char bufs[4][4096];
    static int next;
    char *buf = bufs[next++ % 4];
#ifdef ATP_SOURCE_DIR
    snprintf(buf, sizeof bufs[0], "%s/%s", ATP_SOURCE_DIR, rel);
#else
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/config/");
    if (tail == NULL) {
        fprintf(stderr, "cannot locate the repository from %s\n", self);
        abort();
    }
    snprintf(buf, sizeof bufs[0], "%.*s%s", (int)(tail - self), self, rel);
#endif
    return buf;
}

static inline const char *config_test_data(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/config/%s", name);
    return config_test_path(rel);
}

static inline void config_test_print(const config_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        print_message("  %d:%d: %s\n", d->items[i].line, d->items[i].column,
                      d->items[i].message);
}

/* config_test_find returns the diag at line (and column, unless 0) whose
 * message contains every one of the needles (NULL-terminated), or NULL. */
static inline const config_diag *config_test_find(const config_diags *d,
                                                  int line, int column,
                                                  const char *const *needles)
{
    for (size_t i = 0; i < d->n; i++) {
        const config_diag *g = &d->items[i];
        if (g->line != line || (column != 0 && g->column != column))
            continue;
        bool all = true;
        for (const char *const *n = needles; *n != NULL && all; n++)
            all = strstr(g->message, *n) != NULL;
        if (all)
            return g;
    }
    return NULL;
}

static inline void config_test_expect_at(const config_diags *d, int line,
                                         int column, const char *const *needles,
                                         const char *file, int at)
{
    if (config_test_find(d, line, column, needles) != NULL)
        return;
    print_error("no diagnostic at %d:%d containing", line, column);
    for (const char *const *n = needles; *n != NULL; n++)
        print_error(" '%s'", *n);
    print_error("; got:\n");
    config_test_print(d);
    _fail(file, at);
}

/* expect_diag(&diags, line, column (0 = any), "text", "more text"...) */
#define expect_diag(d, line, column, ...)                                      \
    config_test_expect_at((d), (line), (column),                               \
                          (const char *const[]){__VA_ARGS__, NULL}, __FILE__,  \
                          __LINE__)

/* expect_diag_count fails, listing them, unless there are exactly n. */
#define expect_diag_count(d, count)                                            \
    do {                                                                       \
        if ((d)->n != (size_t)(count)) {                                       \
            print_error("expected %d diagnostics, got %zu:\n", (int)(count),   \
                        (d)->n);                                               \
            config_test_print(d);                                              \
            _fail(__FILE__, __LINE__);                                         \
        }                                                                      \
    } while (0)

/* config_test_load_str loads a NUL-terminated document. */
static inline atp_err config_test_load_str(const char *text, config *c,
                                           config_diags *d)
{
    return config_load_string(text, strlen(text), c, d);
}

/* A document the reader must refuse with exactly one diagnostic, at
 * line:column (column 0: any), containing needle. */
typedef struct config_test_refusal {
    const char *doc;
    int line, column;
    const char *needle;
} config_test_refusal;

/* expect_refusals checks each of the n cases (config_test_refusal). */
#define expect_refusals(cases, n)                                              \
    do {                                                                       \
        for (size_t i_ = 0; i_ < (n); i_++) {                                  \
            config c_;                                                         \
            config_diags d_;                                                   \
            assert_int_equal(config_test_load_str((cases)[i_].doc, &c_, &d_),  \
                             ATP_E_CONFIG);                                    \
            expect_diag(&d_, (cases)[i_].line, (cases)[i_].column,             \
                        (cases)[i_].needle);                                   \
            expect_diag_count(&d_, 1);                                         \
            config_diags_fini(&d_);                                            \
        }                                                                      \
    } while (0)

#endif
