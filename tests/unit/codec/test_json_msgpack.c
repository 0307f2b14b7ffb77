/*
 * test_json_msgpack.c - codec_json_from_msgpack (msgpack bytes read in
 * place, the HTTP replies) against codec_decode + codec_val_write_json (the
 * decoded tree, which the reply path used before): on thousands of
 * generated values of every type, in every encoding, the same JSON byte for
 * byte; on their truncations, mutations and trailing bytes, the same error
 * code. Integers and strings are also checked against what the tree walk
 * cannot share with it (snprintf's digits, codec_json_str). Deterministic:
 * a fixed seed. Single-threaded.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

/* ---- a growable byte buffer and a deterministic generator ----------- */

typedef struct gen {
    uint8_t *p;
    size_t len, cap;
    uint64_t rng;
} gen;

static uint64_t gen_rand(gen *g)
{
    /* xorshift64*: reproducible on every platform */
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ull;
}

static unsigned gen_below(gen *g, unsigned n)
{
    return (unsigned)(gen_rand(g) % n);
}

static void gen_put(gen *g, const void *s, size_t n)
{
    if (g->len + n > g->cap) {
        g->cap = (g->len + n) * 2 + 64;
        g->p = realloc(g->p, g->cap);
        assert_non_null(g->p);
    }
    if (n > 0)
        memcpy(g->p + g->len, s, n);
    g->len += n;
}

static void gen_byte(gen *g, uint8_t b)
{
    gen_put(g, &b, 1);
}

/* gen_be appends v as n big-endian bytes. */
static void gen_be(gen *g, uint64_t v, unsigned n)
{
    for (unsigned i = n; i-- > 0;)
        gen_byte(g, (uint8_t)(v >> (8 * i)));
}

/* ---- values ------------------------------------------------------------ */

static const int64_t edge_ints[] = {0,
                                    1,
                                    5,
                                    31,
                                    32,
                                    127,
                                    128,
                                    255,
                                    256,
                                    32767,
                                    32768,
                                    65535,
                                    65536,
                                    2147483647LL,
                                    2147483648LL,
                                    4294967295LL,
                                    4294967296LL,
                                    9007199254740991LL,
                                    9007199254740992LL,
                                    INT64_MAX,
                                    -1,
                                    -5,
                                    -31,
                                    -32,
                                    -33,
                                    -127,
                                    -128,
                                    -129,
                                    -32768,
                                    -32769,
                                    -2147483648LL,
                                    -2147483649LL,
                                    -9007199254740991LL,
                                    INT64_MIN + 1,
                                    INT64_MIN};

/* Strings the escaper treats differently: empty, NUL, controls (C0, DEL,
 * C1), quotes, invalid UTF-8 (lone continuation, truncated, overlong,
 * surrogate, above U+10FFFF), valid 2-, 3- and 4-byte sequences. */
static const struct {
    const char *s;
    size_t n;
} edge_strs[] = {
#define S(lit)                                                                 \
    {                                                                          \
        lit, sizeof(lit) - 1                                                   \
    }
    S(""),
    S("\0"),
    S("a\0b"),
    S("plain-ASCII_run 0123"),
    S("\x01\x1f\x7f"),
    S("\xc2\x80\xc2\x9f\xc2\xa0"),
    S("\"\\/"),
    S("\x80"),
    S("\xff\xfe"),
    S("\xe2\x82"),
    S("\xc0\xaf"),
    S("\xed\xa0\x80"),
    S("\xf4\x90\x80\x80"),
    S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
    S("tab\there\nnl"),
    S("SKU-10007"),
    S("r2"),
#undef S
};

static void gen_int(gen *g, int64_t v)
{
    /* every encoding that holds v, the smallest and the wider ones */
    uint8_t ty[8];
    unsigned n = 0, bytes[8];
    if (v >= 0 && v <= 127)
        ty[n] = 0, bytes[n++] = 0; /* positive fixint */
    if (v >= -32 && v < 0)
        ty[n] = 1, bytes[n++] = 0; /* negative fixint */
    if (v >= 0 && v <= 0xff)
        ty[n] = 0xcc, bytes[n++] = 1;
    if (v >= 0 && v <= 0xffff)
        ty[n] = 0xcd, bytes[n++] = 2;
    if (v >= 0 && v <= 0xffffffffLL)
        ty[n] = 0xce, bytes[n++] = 4;
    if (v >= 0)
        ty[n] = 0xcf, bytes[n++] = 8;
    if (v >= -128 && v <= 127)
        ty[n] = 0xd0, bytes[n++] = 1;
    if (v >= -32768 && v <= 32767)
        ty[n] = 0xd1, bytes[n++] = 2;
    unsigned k = gen_below(g, n + 2);
    if (k >= n) { /* int32 or int64 */
        if (k == n && v >= INT32_MIN && v <= INT32_MAX)
            gen_byte(g, 0xd2), gen_be(g, (uint64_t)v, 4);
        else
            gen_byte(g, 0xd3), gen_be(g, (uint64_t)v, 8);
    } else if (ty[k] <= 1) {
        gen_byte(g, (uint8_t)v);
    } else {
        gen_byte(g, ty[k]);
        gen_be(g, (uint64_t)v, bytes[k]);
    }
}

static void gen_strlike(gen *g, uint8_t kind, const char *s, size_t n)
{
    /* kind 0: str, 1: bin, 2: ext; the width of the length field random */
    unsigned w = gen_below(g, 4);
    if (kind == 0 && w == 0 && n <= 31) {
        gen_byte(g, (uint8_t)(0xa0 | n));
    } else if (kind == 2 && w == 0 &&
               (n == 1 || n == 2 || n == 4 || n == 8 || n == 16)) {
        gen_byte(g, (uint8_t)(0xd4 + (n == 1   ? 0
                                      : n == 2 ? 1
                                      : n == 4 ? 2
                                      : n == 8 ? 3
                                               : 4)));
        gen_byte(g, (uint8_t)gen_rand(g)); /* the ext type */
    } else {
        static const uint8_t base[3] = {0xd9, 0xc4, 0xc7};
        unsigned lb = w <= 1 && n <= 0xff ? 0 : w == 2 && n <= 0xffff ? 1 : 2;
        gen_byte(g, (uint8_t)(base[kind] + lb));
        gen_be(g, n, lb == 0 ? 1 : lb == 1 ? 2 : 4);
        if (kind == 2)
            gen_byte(g, (uint8_t)gen_rand(g));
    }
    gen_put(g, s, n);
}

static void gen_value(gen *g, unsigned depth);

static void gen_container(gen *g, unsigned depth, bool map)
{
    unsigned n = gen_below(g, depth < 3 ? 6 : 3);
    unsigned w = gen_below(g, 3);
    if (w == 0 && n <= 15)
        gen_byte(g, (uint8_t)((map ? 0x80 : 0x90) | n));
    else if (w == 1)
        gen_byte(g, map ? 0xde : 0xdc), gen_be(g, n, 2);
    else
        gen_byte(g, map ? 0xdf : 0xdd), gen_be(g, n, 4);
    for (unsigned i = 0; i < n * (map ? 2u : 1u); i++)
        gen_value(g, depth + 1);
}

/* gen_value appends one random value nested below depth containers; at
 * ATP_MSG_MAX_DEPTH no more containers (the deep cases are separate). */
static void gen_value(gen *g, unsigned depth)
{
    unsigned kinds = depth < ATP_MSG_MAX_DEPTH ? 11 : 9;
    unsigned kind = gen_below(g, kinds);
    if (depth < ATP_MSG_MAX_DEPTH && gen_below(g, 3) == 0)
        kind = 9 + gen_below(g, 2); /* more containers: deeper trees */
    switch (kind) {
    case 0: { /* nil, false, true (not 0xc1: it is invalid) */
        static const uint8_t t[] = {0xc0, 0xc2, 0xc3};
        gen_byte(g, t[gen_below(g, 3)]);
        break;
    }
    case 1:
    case 2:
        gen_int(
            g, edge_ints[gen_below(g, sizeof edge_ints / sizeof edge_ints[0])]);
        break;
    case 3:
        gen_int(g, (int64_t)gen_rand(g) >> gen_below(g, 64));
        break;
    case 4: { /* float32 / float64 from random or special bits */
        static const uint64_t dbits[] = {0,
                                         0x8000000000000000ull,
                                         0x3ff8000000000000ull,
                                         0x7ff0000000000000ull,
                                         0xfff0000000000000ull,
                                         0x7ff8000000000000ull,
                                         0x0000000000000001ull,
                                         0x7fefffffffffffffull};
        bool f32 = gen_below(g, 2);
        uint64_t bits = gen_below(g, 2) ? gen_rand(g) : dbits[gen_below(g, 8)];
        if (f32)
            gen_byte(g, 0xca), gen_be(g, bits >> 32, 4);
        else
            gen_byte(g, 0xcb), gen_be(g, bits, 8);
        break;
    }
    case 5:
    case 6: {
        unsigned i = gen_below(g, sizeof edge_strs / sizeof edge_strs[0]);
        gen_strlike(g, 0, edge_strs[i].s, edge_strs[i].n);
        break;
    }
    case 7: { /* random bytes as a str, bin or ext */
        char s[40];
        size_t n = gen_below(g, sizeof s + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)gen_rand(g);
        gen_strlike(g, (uint8_t)gen_below(g, 3), s, n);
        break;
    }
    case 8: { /* a str of 1..3 edge strings: runs between escapes */
        char s[96];
        size_t n = 0;
        for (unsigned k = 1 + gen_below(g, 3); k > 0; k--) {
            unsigned i = gen_below(g, sizeof edge_strs / sizeof edge_strs[0]);
            memcpy(s + n, edge_strs[i].s, edge_strs[i].n);
            n += edge_strs[i].n;
        }
        gen_strlike(g, 0, s, n);
        break;
    }
    case 9:
        gen_container(g, depth, false);
        break;
    default:
        gen_container(g, depth, true);
        break;
    }
}

/* ---- the two conversions ---------------------------------------------- */

/* tree_json: codec_decode + codec_val_write_json; the error, and on
 * success the text in *out (malloc'ed). */
static atp_err tree_json(const void *buf, size_t len, char **out,
                         size_t *out_len)
{
    codec_arena *a = codec_arena_alloc();
    assert_non_null(a);
    const codec_val *v = NULL;
    atp_err err = codec_decode(a, buf, len, &v);
    *out = NULL;
    *out_len = 0;
    if (err == ATP_OK) {
        FILE *f = open_memstream(out, out_len);
        assert_non_null(f);
        codec_val_write_json(v, f);
        assert_int_equal(fclose(f), 0);
    }
    codec_arena_free(a);
    return err;
}

/* expect_same: both conversions give the same error, or the same text;
 * returns the error. */
static atp_err expect_same(const void *buf, size_t len)
{
    char *t, *w = NULL;
    size_t tl, wl = 0;
    atp_err te = tree_json(buf, len, &t, &tl);
    atp_err we = codec_json_from_msgpack(buf, len, &w, &wl);
    if (te != we)
        fail_msg("tree error %d, in-place error %d (%zu bytes, first 0x%02x)",
                 (int)te, (int)we, len, len ? ((const uint8_t *)buf)[0] : 0);
    if (te == ATP_OK) {
        if (tl != wl || memcmp(t, w, tl) != 0)
            fail_msg("tree JSON %.*s\nin-place JSON %.*s", (int)tl, t, (int)wl,
                     w);
        free(w);
    }
    free(t);
    return te;
}

static void test_generated_values(void **state)
{
    (void)state;
    gen g = {.rng = 0x9e3779b97f4a7c15ull};
    unsigned ok = 0;
    for (unsigned i = 0; i < 4000; i++) {
        g.len = 0;
        gen_value(&g, 0);
        assert_int_equal(expect_same(g.p, g.len), ATP_OK);
        ok++;
        /* every truncation fails, as codec_decode fails (up to 64 of
         * them for a long value, spread over its length) */
        size_t step = g.len > 64 ? g.len / 64 : 1;
        for (size_t n = 0; n < g.len; n += step)
            assert_int_not_equal(expect_same(g.p, n), ATP_OK);
        /* a trailing byte: not one object */
        gen_byte(&g, 0xc0);
        assert_int_equal(expect_same(g.p, g.len), ATP_E_BAD_REQUEST);
        g.len--;
        /* mutated bytes: whatever the tree makes of them */
        for (unsigned m = 0; m < 8 && g.len > 0; m++) {
            size_t at = gen_below(&g, (unsigned)g.len);
            uint8_t was = g.p[at];
            g.p[at] = (uint8_t)gen_rand(&g);
            (void)expect_same(g.p, g.len);
            g.p[at] = was;
        }
    }
    assert_int_equal(ok, 4000);
    free(g.p);
}

/* What the two walks could share a mistake in: integers (the digit
 * writer) against snprintf, strings against codec_json_str. */
static int jstr_sink(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, ctx) == len ? 0 : -1;
}

static void expect_text(const gen *g, const char *want, size_t want_len)
{
    char *w;
    size_t wl;
    assert_int_equal(codec_json_from_msgpack(g->p, g->len, &w, &wl), ATP_OK);
    if (wl != want_len || memcmp(w, want, wl) != 0)
        fail_msg("got %.*s, want %.*s", (int)wl, w, (int)want_len, want);
    free(w);
}

static void test_integers_and_strings(void **state)
{
    (void)state;
    gen g = {.rng = 42};
    char want[32];
    for (size_t i = 0; i < sizeof edge_ints / sizeof edge_ints[0]; i++) {
        for (unsigned k = 0; k < 8; k++) { /* several encodings */
            g.len = 0;
            gen_int(&g, edge_ints[i]);
            int n = snprintf(want, sizeof want, "%" PRId64, edge_ints[i]);
            expect_text(&g, want, (size_t)n);
        }
    }
    /* above INT64_MAX: uint64 only */
    static const uint64_t big[] = {(uint64_t)INT64_MAX + 1, UINT64_MAX,
                                   10000000000000000000ull};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        g.len = 0;
        gen_byte(&g, 0xcf);
        gen_be(&g, big[i], 8);
        int n = snprintf(want, sizeof want, "%" PRIu64, big[i]);
        expect_text(&g, want, (size_t)n);
    }
    for (size_t i = 0; i < sizeof edge_strs / sizeof edge_strs[0]; i++) {
        g.len = 0;
        gen_strlike(&g, 0, edge_strs[i].s, edge_strs[i].n);
        char *esc = NULL;
        size_t el = 0;
        FILE *f = open_memstream(&esc, &el);
        assert_non_null(f);
        assert_int_equal(
            codec_json_str(jstr_sink, f, edge_strs[i].s, edge_strs[i].n), 0);
        assert_int_equal(fclose(f), 0);
        expect_text(&g, esc, el);
        free(esc);
    }
    /* a few fixed answers, written out */
    static const uint8_t m[] = {0x83, 0x01, 0xc3, 0xc0, 0xa1, 'k', 0x93,
                                0x01, 0xff, 0xa0, 0xc4, 0x01, 0xff};
    g.len = 0;
    gen_put(&g, m, sizeof m);
    static const char mw[] = "{\"1\":true,\"null\":\"k\",\"[1,-1,\\\"\\\"]\":"
                             "\"/w==\"}";
    expect_text(&g, mw, sizeof mw - 1);
    free(g.p);
}

/* gen_nest appends n arrays (or maps with a nil key), one in the other,
 * around a 1 (or around an array or map key, key: true). */
static void gen_nest(gen *g, unsigned n, bool map, bool key)
{
    for (unsigned i = 0; i < n; i++) {
        if (map) {
            gen_byte(g, 0x81);
            if (key && i + 1 == n)
                break; /* the innermost container is the key itself */
            gen_byte(g, 0xc0);
        } else {
            gen_byte(g, 0x91);
        }
    }
    if (key && map) {
        gen_byte(g, 0x90); /* the key: [], the (n + 1)th container */
        gen_byte(g, 0x01); /* its value */
    } else {
        gen_byte(g, 0x01);
    }
}

static void test_nesting(void **state)
{
    (void)state;
    gen g = {0};
    for (unsigned map = 0; map < 2; map++) {
        g.len = 0;
        gen_nest(&g, ATP_MSG_MAX_DEPTH, map, false);
        assert_int_equal(expect_same(g.p, g.len), ATP_OK);
        g.len = 0;
        gen_nest(&g, ATP_MSG_MAX_DEPTH + 1, map, false);
        assert_int_equal(expect_same(g.p, g.len), ATP_E_TOO_LARGE);
        g.len = 0;
        gen_nest(&g, 200, map, false); /* far deeper: still refused */
        assert_int_equal(expect_same(g.p, g.len), ATP_E_TOO_LARGE);
    }
    /* a container as a map key counts as one level too */
    g.len = 0;
    gen_nest(&g, ATP_MSG_MAX_DEPTH - 1, true, true);
    assert_int_equal(expect_same(g.p, g.len), ATP_OK);
    g.len = 0;
    gen_nest(&g, ATP_MSG_MAX_DEPTH, true, true);
    assert_int_equal(expect_same(g.p, g.len), ATP_E_TOO_LARGE);
    free(g.p);
}

static void test_hostile_headers(void **state)
{
    (void)state;
    /* declared lengths and counts far beyond the input, truncated length
     * fields, 0xc1, empty input: errors, never a read past the end (the
     * sanitizer build runs this) */
    static const struct {
        const char *b;
        size_t n;
        atp_err want;
    } cases[] = {
#define C(lit, e) {lit, sizeof(lit) - 1, e}
        C("\xdb\xff\xff\xff\xff", ATP_E_TOO_LARGE),
        C("\xc6\x7f\xff\xff\xff\x00", ATP_E_TOO_LARGE),
        C("\xc9\xff\xff\xff\xff\x01", ATP_E_TOO_LARGE),
        C("\xdd\xff\xff\xff\xff", ATP_E_TOO_LARGE),
        C("\xdf\x80\x00\x00\x00\xc0\xc0", ATP_E_TOO_LARGE),
        C("\x82\xc0\xc0\xc0", ATP_E_TOO_LARGE),
        C("\xa5"
          "abc",
          ATP_E_TOO_LARGE),
        C("\xda\x00", ATP_E_BAD_REQUEST),
        C("\xc9\x00\x00\x00\x01", ATP_E_BAD_REQUEST),
        C("\xd8\x01"
          "0123456789abcde",
          ATP_E_BAD_REQUEST),
        C("\xcb\x00\x00\x00", ATP_E_BAD_REQUEST),
        C("\x92\x01", ATP_E_TOO_LARGE),
        C("\x92\x01\xcd", ATP_E_BAD_REQUEST),
        C("\x91\xc1", ATP_E_BAD_REQUEST),
        C("\xc1", ATP_E_BAD_REQUEST),
        C("\x01\x02", ATP_E_BAD_REQUEST),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* a copy of exactly n bytes: an over-read is a heap overflow */
        char *b = malloc(cases[i].n);
        assert_non_null(b);
        memcpy(b, cases[i].b, cases[i].n);
        assert_int_equal(expect_same(b, cases[i].n), cases[i].want);
        free(b);
    }
    char *w = NULL;
    size_t wl = 0;
    assert_int_equal(codec_json_from_msgpack("", 0, &w, &wl),
                     ATP_E_BAD_REQUEST);
    assert_int_equal(codec_json_from_msgpack(NULL, 0, &w, &wl),
                     ATP_E_BAD_REQUEST);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_values),
        cmocka_unit_test(test_integers_and_strings),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_hostile_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
