/*
 * test_file.c - unit tests of src/common/file.c: a file is read whole with
 * a NUL after it; exactly max bytes pass, one more is EFBIG; a missing
 * file is ENOENT, a directory EISDIR, a device EINVAL. Files in a fresh
 * temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"

static char dir[64];

static int test_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/atp-test-file-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int test_teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    unlink(path);
    return rmdir(dir);
}

static void test_read(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("-----BEGIN X-----\n", f);
    fclose(f);
    size_t len = 0;
    char *s = file_read_all(path, 18, &len);
    assert_non_null(s);
    assert_int_equal(len, 18);
    assert_string_equal(s, "-----BEGIN X-----\n");
    free(s);
    errno = 0;
    assert_null(file_read_all(path, 17, &len));
    assert_int_equal(errno, EFBIG);
}

static void test_errors(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_null(file_read_all(path, 100, NULL));
    assert_int_equal(errno, ENOENT);
    assert_null(file_read_all(dir, 100, NULL));
    assert_int_equal(errno, EISDIR);
    /* A device (or a FIFO) is refused, not read: it could block or
     * never end. */
    assert_null(file_read_all("/dev/zero", 100, NULL));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
