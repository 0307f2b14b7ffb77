/*
 * ctl_when.c - a point in time from the command line (see ctl_when.h).
 * Pure; main thread of atpctl.
 *
 * The calendar arithmetic is done here rather than with timegm(): timegm
 * normalises (2026-02-30 becomes March 2nd), and a typo in a preorder date
 * must be refused, not moved.
 */
#include "ctl_when.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"
#include "ctl_resv.h"

#define CTL_WHEN_DAY_MS 86400000LL

/* ctl_when_digits reads exactly n decimal digits at s into *out. */
static bool ctl_when_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool ctl_when_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ctl_when_days: days from 1970-01-01 to y-m-d of the proleptic Gregorian
 * calendar (Howard Hinnant's days_from_civil), for y >= 1970. */
static int64_t ctl_when_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ctl_when_date reads "YYYY-MM-DD" at s (10 bytes) as the ms of its
 * midnight UTC. */
static bool ctl_when_date(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (!ctl_when_digits(s, 4, &y) || s[4] != '-' ||
        !ctl_when_digits(s + 5, 2, &m) || s[7] != '-' ||
        !ctl_when_digits(s + 8, 2, &d))
        return false;
    if (y < 1970 || m < 1 || m > 12 || d < 1 ||
        d > mdays[m - 1] + (m == 2 && ctl_when_leap(y)))
        return false;
    *ms = ctl_when_days(y, m, d) * CTL_WHEN_DAY_MS;
    return true;
}

/* ctl_when_time reads "THH:MM[:SS]Z" at s, the rest of the string, as ms
 * after midnight. */
static bool ctl_when_time(const char *s, int64_t *ms)
{
    int h, mi, sec = 0;
    size_t n = strlen(s);
    if ((n != 7 && n != 10) || s[0] != 'T' || !ctl_when_digits(s + 1, 2, &h) ||
        s[3] != ':' || !ctl_when_digits(s + 4, 2, &mi) || s[n - 1] != 'Z')
        return false;
    if (n == 10 && (s[6] != ':' || !ctl_when_digits(s + 7, 2, &sec)))
        return false;
    if (h > 23 || mi > 59 || sec > 59)
        return false;
    *ms = ((int64_t)h * 3600 + mi * 60 + sec) * 1000;
    return true;
}

/* ctl_when_epoch reads a string of decimal digits as ms since the epoch. */
static bool ctl_when_epoch(const char *s, int64_t *ms)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n] != '\0' || n > 16) /* 2^53-1 has 16 digits */
        return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno != 0 || v > ATP_WIRE_INT_MAX)
        return false;
    *ms = v;
    return true;
}

bool ctl_when_parse(const char *s, int64_t now_ms, int64_t *ms)
{
    int64_t v = 0, t = 0;
    if (s[0] == '+') {
        if (!ctl_resv_ttl_parse(s + 1, &t) || now_ms < 0 ||
            t > ATP_WIRE_INT_MAX - now_ms)
            return false;
        *ms = now_ms + t;
        return true;
    }
    if (ctl_when_epoch(s, &v)) {
        *ms = v;
        return true;
    }
    size_t n = strlen(s);
    if (n < 10 || !ctl_when_date(s, &v) ||
        (n > 10 && !ctl_when_time(s + 10, &t)))
        return false;
    *ms = v + t;
    return true;
}
