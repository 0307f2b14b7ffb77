/*
 * test_scalars.c - config__utf8_len, which decides what an id's bytes
 * are (docs/CONFIG.md: ids are printable UTF-8): 1- to 4-byte sequences
 * are read with their code point; a stray continuation byte, a sequence cut
 * short, a bad continuation, an overlong form, a surrogate and anything
 * above U+10FFFF are not UTF-8 (0). Single-threaded.
 */
#include "config_test.h"

#include "config/config_int.h"

typedef struct utf8_case {
    const char *bytes;
    size_t avail;
    size_t want_len;
    uint32_t want_cp;
} utf8_case;

static void test_utf8_len(void **state)
{
    (void)state;
    static const utf8_case cases[] = {
        {"A", 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 0xe9},             /* é */
        {"\xe2\x82\xac", 3, 3, 0x20ac},       /* € */
        {"\xf0\x9f\x93\xa6", 4, 4, 0x1f4e6},  /* 📦 */
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff}, /* the last code point */
        {"\x80", 1, 0, 0},                    /* a continuation byte alone */
        {"\xff", 1, 0, 0},                    /* never in UTF-8 */
        {"\xe2\x82", 2, 0, 0},                /* cut short */
        {"\xf0\x9f\x93\xa6", 3, 0, 0},        /* cut short by avail */
        {"\xe2\x28\xac", 3, 0, 0},            /* bad continuation */
        {"\xc0\xaf", 2, 0, 0},                /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0, 0},            /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4, 0, 0},        /* overlong, 4 bytes */
        {"\xed\xa0\x80", 3, 0, 0},            /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0, 0},        /* U+110000 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0xdeadbeef;
        size_t n = config__utf8_len((const unsigned char *)cases[i].bytes,
                                    cases[i].avail, &cp);
        if (n != cases[i].want_len || (n > 0 && cp != cases[i].want_cp))
            fail_msg("case %zu: length %zu cp U+%04X, want %zu U+%04X", i, n,
                     (unsigned)cp, cases[i].want_len,
                     (unsigned)cases[i].want_cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
