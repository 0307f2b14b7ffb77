/*
 * str.c - UTF-8 and id checks on decoded strings, and the cleaning of
 * text echoed back to clients. Pure functions, any thread.
 * codec_str_is_id runs for every SKU and location of every source event,
 * so it has an ASCII fast path.
 */
#include <string.h>

#include "codec/codec_int.h"

unsigned codec__utf8_seq_len(const uint8_t *p, size_t n)
{
    uint8_t b0 = p[0];
    if (b0 < 0x80) {
        return 1;
    }
    /* Second-byte range depends on the lead byte (RFC 3629 table): this
     * excludes overlong forms, UTF-16 surrogates and values > U+10FFFF. */
    uint8_t lo = 0x80, hi = 0xbf;
    unsigned len;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0) {
            lo = 0xa0;
        } else if (b0 == 0xed) {
            hi = 0x9f;
        }
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0) {
            lo = 0x90;
        } else if (b0 == 0xf4) {
            hi = 0x8f;
        }
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (unsigned i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

bool codec_str_is_id(codec_str s, uint32_t max)
{
    if (s.len == 0 || s.len > max || s.ptr == NULL) {
        return false;
    }
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        uint8_t b = p[i];
        if (b < 0x80) {
            if (b < 0x20 || b == 0x7f) {
                return false; /* C0 control or DEL */
            }
            i++;
            continue;
        }
        unsigned n = codec__utf8_seq_len(p + i, s.len - i);
        if (n == 0) {
            return false;
        }
        /* U+0080..U+009F (C1 controls) are control characters too. */
        if (b == 0xc2 && p[i + 1] < 0xa0) {
            return false;
        }
        i += n;
    }
    return true;
}

bool codec_str_eq(codec_str s, const char *cstr)
{
    size_t n = strlen(cstr);
    return n == s.len && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

/* The length of the printable UTF-8 character at p[0..n), 0 when p[0]
 * starts no such character (invalid UTF-8, C0 or C1 control, DEL). */
static unsigned codec_str_printable_len(const uint8_t *p, size_t n)
{
    if (p[0] < 0x80)
        return p[0] >= 0x20 && p[0] != 0x7f;
    unsigned sl = codec__utf8_seq_len(p, n);
    if (sl == 2 && p[0] == 0xc2 && p[1] < 0xa0)
        return 0; /* U+0080..U+009F: C1 controls */
    return sl;
}

size_t codec_str_to_text(char *out, size_t cap, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        unsigned sl = codec_str_printable_len(p + i, len - i);
        size_t need = sl > 0 ? sl : 4;
        if (need > cap - 1 - o)
            break; /* never half a character */
        if (sl > 0) {
            memcpy(out + o, p + i, sl);
            i += sl;
        } else {
            out[o] = '\\';
            out[o + 1] = 'x';
            out[o + 2] = hex[p[i] >> 4];
            out[o + 3] = hex[p[i] & 0xf];
            i++;
        }
        o += need;
    }
    out[o] = '\0';
    return o;
}
