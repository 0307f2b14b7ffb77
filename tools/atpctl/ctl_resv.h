/*
 * ctl_resv.h - the pure parts of atpctl's reservation commands: reading
 * `SKU:REGION:QTY` / `SKU:REGION` arguments, reservation ids and durations,
 * and formatting times for people.
 *
 * No I/O; main thread of atpctl. Everything is checked here before anything
 * is sent, with the same id rule the service applies (codec_str_is_id).
 */
#ifndef ATP_CTL_RESV_H
#define ATP_CTL_RESV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/wire.h"

/* docs/PROTOCOL.md "Reservations": ids and order references are 1..128
 * printable bytes. (The service keeps the number private to src/server.) */
#define CTL_RESV_ID_MAX ATP_RESV_ID_MAX_LEN

/* One line of a reservation argument. sku and region point into the
 * argument (borrowed, not NUL-terminated at their length). */
typedef struct ctl_resv_line {
    const char *sku;
    size_t sku_len;
    const char *region;
    size_t region_len;
    int64_t qty;          /* 0 when parsed without a quantity */
    const char *location; /* QTY@LOCATION: the pickup location, or NULL */
    size_t location_len;
} ctl_resv_line;

/* ctl_resv_line_parse reads arg as `SKU:REGION:QTY[@LOCATION]` (with_qty)
 * or `SKU:REGION`, splitting from the right: the last ':'-separated field
 * is the quantity (with the location a line is pinned to after its first
 * '@': 1..ATP_ID_MAX_LEN printable bytes, no ':'), the one before it the
 * region, and everything before that the SKU, which may itself contain ':'
 * (a region cannot). The SKU must be
 * 1..ATP_SKU_MAX_LEN and the region 1..ATP_ID_MAX_LEN bytes of printable
 * UTF-8; the quantity plain decimal digits in 1..ATP_QTY_MAX. Returns true
 * and *out (pointing into arg), or false with the reason in err. */
bool ctl_resv_line_parse(const char *arg, bool with_qty, ctl_resv_line *out,
                         char *err, size_t errlen);

/* ctl_resv_id_ok is true when s is a valid reservation id or order
 * reference: 1..CTL_RESV_ID_MAX bytes of printable UTF-8. */
bool ctl_resv_id_ok(const char *s);

/* ctl_resv_ttl_parse reads a duration with the configuration's syntax
 * (config_parse_duration_ms): "900ms", "30s", "15m", "2h", "1d", but
 * unlike the config not a bare number: on a command line "--ttl 5" is as
 * likely meant as 5 s as 5 ms, so a unit is required. Zero is refused (a
 * TTL must be positive).
 * Whether it lies within the service's min_ttl..max_ttl is for the service
 * to say (bad_ttl). Returns true and *ms, or false. */
bool ctl_resv_ttl_parse(const char *s, int64_t *ms);

/* ctl_resv_fmt_span writes a non-negative span of ms in at most two units,
 * truncated: 899999 -> "14m59s", 7200000 -> "2h", 604799000 -> "6d23h",
 * 450 -> "450ms". Negative spans are written as their absolute value. */
void ctl_resv_fmt_span(int64_t ms, char *buf, size_t n);

/* ctl_resv_fmt_utc writes ms since the epoch as "2025-01-02T03:04:05Z"
 * (seconds, truncated). */
void ctl_resv_fmt_utc(int64_t ms, char *buf, size_t n);

/* ctl_resv_fmt_when writes `in 14m59s (2025-...Z)` for a time after now_ms
 * and `3s ago (2025-...Z)` for one before (or equal). */
void ctl_resv_fmt_when(int64_t when_ms, int64_t now_ms, char *buf, size_t n);

#endif
