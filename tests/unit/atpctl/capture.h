/*
 * capture.h - what the atpctl unit tests share: capturing a renderer's
 * output in memory. Header-only, included by each test file (one binary
 * each).
 */
#ifndef ATP_TEST_CAPTURE_H
#define ATP_TEST_CAPTURE_H

#include <stdio.h>

typedef struct test_out {
    char *buf;
    size_t len;
    FILE *f;
} test_out;

static inline void test_out_open(test_out *o)
{
    o->buf = NULL;
    o->len = 0;
    o->f = open_memstream(&o->buf, &o->len);
    assert_non_null(o->f);
}

/* test_out_close returns the text written; the caller frees it. */
static inline const char *test_out_close(test_out *o)
{
    fclose(o->f);
    return o->buf;
}

#endif
