/*
 * test_ui.c - unit tests of src/http/ui.c and the generated table of the
 * dashboard's files (src/http/ui/embed.cmake): every path the page loads
 * is found with its type, /ui and /ui/ are the page, other paths are not;
 * and the files keep to the Content-Security-Policy they are served with
 * (no inline script or style, no event-handler attributes, no other
 * origin) and are UTF-8, so the page the browser test sees is what a
 * strict CSP allows. Labels: unit, http.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "http/ui.h"

/* bytes[0..len) contains s? */
static bool test_has(const http_ui_asset *a, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= a->len; i++)
        if (memcmp(a->bytes + i, s, n) == 0)
            return true;
    return false;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static bool test_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (k == 9 || i + k >= n + (k == 0))
            return false;
        uint32_t cp = k == 0 ? c : c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static void test_find(void **state)
{
    (void)state;
    static const struct {
        const char *path, *type;
    } want[] = {
        {"/ui", "text/html; charset=utf-8"},
        {"/ui/", "text/html; charset=utf-8"},
        {"/ui/index.html", "text/html; charset=utf-8"},
        {"/ui/ui.js", "text/javascript; charset=utf-8"},
        {"/ui/ui.css", "text/css; charset=utf-8"},
        {"/ui/favicon.svg", "image/svg+xml; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const http_ui_asset *a = http_ui_find(want[i].path);
        assert_non_null(a);
        assert_string_equal(a->type, want[i].type);
        assert_true(a->len > 100);
    }
    assert_ptr_equal(http_ui_find("/ui"), http_ui_find("/ui/index.html"));
    const char *none[] = {
        "/",          "/ui/x.js",     "/uix",       "/ui/index.htm",
        "/ui//ui.js", "/ui/../ui.js", "/v1/status", "/UI"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_null(http_ui_find(none[i]));
}

static void test_files_keep_to_csp(void **state)
{
    (void)state;
    size_t n = 0;
    for (const http_ui_asset *a = http_ui_assets; a->path != NULL; a++, n++) {
        assert_true(test_utf8(a->bytes, a->len));
        assert_int_equal(a->bytes[a->len],
                         0); /* the generator ends each with 0 */
        assert_false(test_has(a, "https://"));
        assert_false(
            test_has(a, "<script>"));        /* inline script: CSP blocks it */
        assert_false(test_has(a, "<style")); /* inline style */
        assert_false(test_has(a, " style=\"")); /* style attribute */
        assert_false(test_has(a, " onclick=")); /* event-handler attribute */
        assert_false(test_has(a, " onload="));
        assert_false(test_has(a, "eval("));
        assert_false(
            test_has(a, "innerHTML")); /* text only, never markup from data */
    }
    assert_int_equal(n, 4);
    const http_ui_asset *page = http_ui_find("/ui");
    assert_true(test_has(page, "<script src=\"/ui/ui.js\""));
    assert_true(test_has(page, "href=\"/ui/ui.css\""));
    assert_true(test_has(page, "href=\"/ui/favicon.svg\""));
    /* The policy: nothing but atpd itself. */
    assert_non_null(strstr(HTTP_UI_CSP, "default-src 'none'"));
    assert_null(strstr(HTTP_UI_CSP, "unsafe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_files_keep_to_csp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
