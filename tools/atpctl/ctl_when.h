/*
 * ctl_when.h - reading a point in time from atpctl's command line: the
 * WHEN of `promise --date` and `reserve --promise` (docs/PROTOCOL.md,
 * "Time-phased promises", "Dated reservations").
 *
 * Pure: the wall clock is the caller's argument, so that a test can fix
 * it. Main thread of atpctl.
 */
#ifndef ATP_CTL_WHEN_H
#define ATP_CTL_WHEN_H

#include <stdbool.h>
#include <stdint.h>

/* The accepted forms, for messages and --help. */
#define CTL_WHEN_FORMS                                                         \
    "ms since the epoch, YYYY-MM-DD (midnight UTC), "                          \
    "YYYY-MM-DDTHH:MM[:SS]Z (UTC) or +DURATION from now (+10d, +36h)"

/* ctl_when_parse reads s as one of:
 *   - an integer of ms since the epoch (decimal digits only);
 *   - a UTC date YYYY-MM-DD: its midnight UTC;
 *   - a UTC time YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS followed by 'Z'
 *     (upper case 'T' and 'Z', as written in the docs; no offset, no
 *     fraction: an offset is a conversion the operator should see done);
 *   - '+' and a duration with its unit, the syntax of --ttl
 *     (ctl_resv_ttl_parse: 900ms, 30s, 15m, 2h, 1d; positive): now_ms
 *     plus that.
 * The result must lie in 0..2^53-1 (what the protocol takes, and a
 * calendar date from 1970 to 9999). A date in the past is not refused
 * here: the service says what it means (now, for a promise; an ordinary
 * reservation, for a reserve). Returns true and *ms, or false. */
bool ctl_when_parse(const char *s, int64_t now_ms, int64_t *ms);

#endif
