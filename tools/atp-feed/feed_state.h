/*
 * feed_state.h - the absolute state one simulated source has produced:
 * every (sku, location, bucket) value and every open inbound lot, obtained
 * by applying the source's own generated events (dropped messages too: a
 * replay or a snapshot is how they reach atpd after all).
 *
 * A full snapshot (docs/PROTOCOL.md, "Full snapshots") is this state as
 * `set` and `lot add` events. Pure: no I/O, no clock. Main thread of
 * atp-feed only.
 */
#ifndef ATP_FEED_STATE_H
#define ATP_FEED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "codec/codec.h"

typedef struct feed_state feed_state;

/* feed_state_alloc: on_hand_locs lists the locations where the source is
 * authoritative for on_hand (borrowed; must outlive the state): a received
 * lot's quantity moves into on_hand there, as atpd does. ATP_E_NOMEM. */
atp_err feed_state_alloc(const char *const *on_hand_locs, size_t n_on_hand,
                         feed_state **out);
void feed_state_free(feed_state *st);

/* feed_state_apply applies events in order, as atpd applies a valid
 * message: DELTA adds (saturating at +-ATP_QTY_MAX, as atpd clamps), SET
 * sets, LOT_ADD / LOT_CHANGE create or replace a lot, LOT_RECEIVE removes
 * it (its qty into on_hand where the source has on_hand authority),
 * LOT_CANCEL removes it; receive / cancel of an unknown lot do nothing;
 * heartbeats nothing. Returns ATP_OK or ATP_E_NOMEM (then the state is
 * incomplete: the caller must stop answering with snapshots). */
atp_err feed_state_apply(feed_state *st, const codec_event *evs, uint32_t n);

/* feed_state_clear sets every bucket value to 0 (values) and removes every
 * lot (lots): what a full snapshot that replaces them starts from
 * (atp-import --snapshot). */
void feed_state_clear(feed_state *st, bool values, bool lots);

/* feed_state_value returns the bucket's value (0 when never touched). */
int64_t feed_state_value(const feed_state *st, const char *sku,
                         const char *location, uint8_t bucket);
/* feed_state_lot: true and qty / eta when the lot is open. */
bool feed_state_lot(const feed_state *st, const char *sku, const char *location,
                    const char *lot, int64_t *qty, int64_t *eta_ms);
size_t feed_state_positions(const feed_state *st); /* non-zero values */
size_t feed_state_lots(const feed_state *st);      /* open lots */

/* feed_state_events returns the snapshot events: a SET for every non-zero
 * bucket value, then a LOT_ADD for every open lot, each group sorted by
 * (sku, location, bucket / lot) so that the same state always gives the
 * same bytes. *out (*n events) lives until the next apply, clear or free
 * (a call without a change in between returns the same array again); its
 * strings point into the state and stay valid until the next apply.
 * ATP_E_NOMEM. */
atp_err feed_state_events(feed_state *st, codec_event **out, size_t *n);

#endif
