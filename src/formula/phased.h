/*
 * phased.h - the time-phased formula (docs/PROTOCOL.md, "The time-phased
 * formula") as pure arithmetic over one row's steps in time.
 *
 * A row's future is a list of steps: a future lot adds its quantity at its
 * arrival, a dated reservation takes its units at its promise date. With
 * base = supply - buffer - ordinary (today's), available_on(t) = base + the
 * sum of the steps at or before t, and
 *
 *     atp_on(D) = max(0, min over t >= D of available_on(t)).
 *
 * No I/O, no allocation, no globals: callable from any thread (qsort
 * sorts in place). Sums
 * saturate like formula.h's.
 */
#ifndef ATP_FORMULA_PHASED_H
#define ATP_FORMULA_PHASED_H

#include <stddef.h>
#include <stdint.h>

typedef struct phased_step {
    int64_t at_ms; /* when: a lot's arrival, a dated reservation's date */
    int64_t delta; /* + a lot's quantity, - a dated reservation's units */
} phased_step;

/* phased_prepare sorts s[0..n) by time, moves every step before now_ms to
 * now_ms (a date already passed takes effect now: the caller sets a late
 * lot's arrival to now + 1 itself) and merges steps of one instant; a
 * step at now_ms is first, whether one was given or not (delta 0).
 * s must have room for n + 1 steps. Returns the number of steps (>= 1). */
size_t phased_prepare(phased_step *s, size_t n, int64_t now_ms);

/* phased_profile turns prepared steps into the profile, in place: s[k]
 * .delta becomes atp_on(s[k].at_ms) for base (max(0, the minimum of
 * available_on over s[k..])), nondecreasing in k. *hold (may be NULL)
 * gets the preorder hold of the steps, max(0, -(the lowest running sum
 * of the deltas)): what of today's supply the negative steps need. */
void phased_profile(phased_step *s, size_t n, int64_t base, int64_t *hold);

/* phased_hold: the hold of prepared steps alone (phased_profile's, without
 * changing them). */
int64_t phased_hold(const phased_step *s, size_t n);

/* phased_atp_on: atp_on(date_ms) of a profile (the last step at or before
 * date_ms; the first when date_ms is earlier). */
int64_t phased_atp_on(const phased_step *p, size_t n, int64_t date_ms);

/* phased_earliest: the first date of a profile whose atp_on is at least
 * qty; -1 when none is. */
int64_t phased_earliest(const phased_step *p, size_t n, int64_t qty);

#endif
