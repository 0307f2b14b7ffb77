/*
 * scalars.c - small parsers with no YAML: decimal integers, durations
 * ("250ms", "5s", "1d") and their display, UTF-8 and id syntax. Pure
 * functions, no allocation; any thread.
 */
#include "config/config_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* config__parse_int parses an optionally negative decimal integer, the whole
 * of s[0..len). Returns 0, -1 on bad syntax, -2 on overflow. */
int config__parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len)
        return -1;
    /* Accumulate negatively so that INT64_MIN is representable. */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return -2;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -2;
        v = -v;
    }
    *out = v;
    return 0;
}

bool config_parse_duration_ms(const char *s, int64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    int64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    int64_t mult;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(p, "d") == 0)
        mult = CONFIG__DAY_MS;
    else
        return false;
    if (v > INT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* config__format_ms writes ms in the largest unit that divides it exactly
 * ("100ms", "5s", "1d"), the way a user would write it in the file. */
void config__format_ms(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {
        {CONFIG__DAY_MS, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms,
                     units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64 "ms", ms);
}

/* config__utf8_len returns the length of the UTF-8 sequence at s (at most
 * avail bytes) and its code point, or 0 when it is not valid UTF-8
 * (overlong forms and surrogates included). */
size_t config__utf8_len(const unsigned char *s, size_t avail, uint32_t *cp)
{
    size_t n;
    uint32_t min;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

const char *config__id_check(const char *s, size_t len, size_t max_len)
{
    if (len == 0)
        return "is empty";
    if (len > max_len)
        return "is too long";
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = config__utf8_len(u + i, len - i, &cp);
        if (n == 0)
            return "is not valid UTF-8";
        /* C0, DEL and C1 controls: they break logs and terminals. */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "contains a control character";
        i += n;
    }
    return NULL;
}
