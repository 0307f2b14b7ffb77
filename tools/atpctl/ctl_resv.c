/*
 * ctl_resv.c - parsing and time formatting for atpctl's reservation
 * commands (see ctl_resv.h). Pure; main thread of atpctl.
 */
#include "ctl_resv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "atp/wire.h"
#include "codec/codec.h"
#include "config/config.h"
#include "ctl_cart.h"

/* ctl_resv_last_colon returns the last ':' in s[0..len), or NULL. */
static const char *ctl_resv_last_colon(const char *s, size_t len)
{
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':')
            return s + i - 1;
    return NULL;
}

static bool ctl_resv_str_ok(const char *s, size_t len, uint32_t max)
{
    codec_str cs = {.ptr = s, .len = (uint32_t)len};
    return len <= max && codec_str_is_id(cs, max);
}

bool ctl_resv_line_parse(const char *arg, bool with_qty, ctl_resv_line *out,
                         char *err, size_t errlen)
{
    const char *form = with_qty ? "SKU:REGION:QTY[@LOCATION]" : "SKU:REGION";
    size_t len = strlen(arg);
    size_t region_end = len; /* the region ends at the qty's ':' or at NUL */
    int64_t qty = 0;
    out->location = NULL;
    out->location_len = 0;
    if (with_qty) {
        const char *c = ctl_resv_last_colon(arg, len);
        if (c == NULL) {
            snprintf(err, errlen, "'%.80s': expected %s", arg, form);
            return false;
        }
        /* QTY@LOCATION: the quantity ends at the field's first '@'. */
        const char *at = strchr(c + 1, '@');
        char digits[32];
        size_t qlen = at != NULL ? (size_t)(at - c - 1) : strlen(c + 1);
        snprintf(digits, sizeof digits, "%.*s", (int)qlen, c + 1);
        if (qlen >= sizeof digits || !ctl_cart_parse_qty(digits, &qty)) {
            snprintf(err, errlen,
                     "'%.80s': quantity '%.32s' is not an integer in 1..%lld "
                     "(expected %s)",
                     arg, digits, (long long)ATP_QTY_MAX, form);
            return false;
        }
        if (at != NULL &&
            !ctl_resv_str_ok(at + 1, strlen(at + 1), ATP_ID_MAX_LEN)) {
            snprintf(err, errlen,
                     "'%.80s': the location must be 1..%d bytes of printable "
                     "UTF-8 (expected %s)",
                     arg, ATP_ID_MAX_LEN, form);
            return false;
        }
        if (at != NULL) {
            out->location = at + 1;
            out->location_len = strlen(at + 1);
        }
        region_end = (size_t)(c - arg);
    }
    const char *c = ctl_resv_last_colon(arg, region_end);
    if (c == NULL) {
        snprintf(err, errlen, "'%.80s': expected %s", arg, form);
        return false;
    }
    const char *region = c + 1;
    size_t region_len = region_end - (size_t)(region - arg);
    size_t sku_len = (size_t)(c - arg);
    if (!ctl_resv_str_ok(arg, sku_len, ATP_SKU_MAX_LEN)) {
        snprintf(err, errlen,
                 "'%.80s': the SKU must be 1..%d bytes of printable UTF-8 "
                 "(expected %s)",
                 arg, ATP_SKU_MAX_LEN, form);
        return false;
    }
    if (!ctl_resv_str_ok(region, region_len, ATP_ID_MAX_LEN)) {
        snprintf(err, errlen,
                 "'%.80s': the region must be 1..%d bytes of printable "
                 "UTF-8 (expected %s)",
                 arg, ATP_ID_MAX_LEN, form);
        return false;
    }
    out->sku = arg;
    out->sku_len = sku_len;
    out->region = region;
    out->region_len = region_len;
    out->qty = qty;
    return true;
}

bool ctl_resv_id_ok(const char *s)
{
    return ctl_resv_str_ok(s, strlen(s), CTL_RESV_ID_MAX);
}

bool ctl_resv_ttl_parse(const char *s, int64_t *ms)
{
    int64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || (s[n - 1] >= '0' && s[n - 1] <= '9'))
        return false; /* no unit */
    if (!config_parse_duration_ms(s, &v) || v <= 0)
        return false;
    *ms = v;
    return true;
}

void ctl_resv_fmt_span(int64_t ms, char *buf, size_t n)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    enum { NUNITS = sizeof units / sizeof units[0] };
    /* Negated in unsigned arithmetic, so INT64_MIN works too. */
    uint64_t left = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (left < 1000) {
        snprintf(buf, n, "%" PRIu64 "ms", left);
        return;
    }
    size_t i = 0;
    while ((uint64_t)units[i].ms > left)
        i++;
    uint64_t major = left / (uint64_t)units[i].ms;
    uint64_t minor = i + 1 < NUNITS ? left % (uint64_t)units[i].ms /
                                          (uint64_t)units[i + 1].ms
                                    : 0;
    if (minor > 0)
        snprintf(buf, n, "%" PRIu64 "%s%" PRIu64 "%s", major, units[i].unit,
                 minor, units[i + 1].unit);
    else
        snprintf(buf, n, "%" PRIu64 "%s", major, units[i].unit);
}

void ctl_resv_fmt_utc(int64_t ms, char *buf, size_t n)
{
    /* Floor division, so that -1 ms is 1969-12-31T23:59:59Z. */
    time_t sec = (time_t)(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL ||
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "@%" PRId64 "ms", ms);
}

void ctl_resv_fmt_when(int64_t when_ms, int64_t now_ms, char *buf, size_t n)
{
    char span[64], utc[64];
    ctl_resv_fmt_utc(when_ms, utc, sizeof utc);
    /* Both are wall clocks of machines that may disagree a little; the
     * absolute time is the authority, the relative one a convenience. */
    int64_t d;
    if (__builtin_sub_overflow(when_ms, now_ms, &d))
        d = when_ms > now_ms ? INT64_MAX : INT64_MIN; /* a hostile reply */
    ctl_resv_fmt_span(d, span, sizeof span);
    if (d > 0)
        snprintf(buf, n, "in %s (%s)", span, utc);
    else
        snprintf(buf, n, "%s ago (%s)", span, utc);
}
