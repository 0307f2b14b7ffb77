/*
 * test_error.c - src/common/error.c: every code of ATP_ERROR_MAP has its
 * own wire name and a message, names are unique, and a code that is not
 * in the table (a newer peer's, or garbage) gets "unknown_error" /
 * "unknown error" instead of NULL. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "atp/error.h"

static void test_error_names(void **state)
{
    (void)state;
    static const int codes[] = {
#define ATP_TEST_CODE_(name, c, wire, msg) c,
        ATP_ERROR_MAP(ATP_TEST_CODE_)
#undef ATP_TEST_CODE_
    };
    size_t n = sizeof codes / sizeof codes[0];
    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        const char *name = atp_err_name(codes[i]);
        assert_string_not_equal(name, "unknown_error");
        assert_true(strlen(atp_err_message(codes[i])) > 0);
        assert_string_not_equal(atp_err_message(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(name, atp_err_name(codes[j]));
    }
    assert_string_equal(atp_err_name(0), "ok");
    static const int unknown[] = {-1, 9999, 1 << 30};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(atp_err_name(unknown[i]), "unknown_error");
        assert_string_equal(atp_err_message(unknown[i]), "unknown error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
