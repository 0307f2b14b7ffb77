/*
 * ctl_render.h - atpctl's human output: one line for an ATP answer, aligned
 * tables for carts and regions, `key: value` lines for status, and
 * reservations (a one-line verdict for reserve, a block for the others).
 *
 * Pure formatting of decoded replies; main thread of atpctl. Missing fields
 * print as "-" so that an older or newer atpd still renders.
 */
#ifndef ATP_CTL_RENDER_H
#define ATP_CTL_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec/codec.h"
#include "ctl_cart.h"

/* ctl_render_atp writes `SKU @ REGION (CHANNEL): ATP n  supply n ...` and a
 * newline for one ATP answer map. */
void ctl_render_atp(const codec_val *ans, FILE *f);

/* ctl_render_cart writes a cart reply; cart (may be NULL) maps reply lines
 * back to file lines. */
void ctl_render_cart(const codec_val *reply, const ctl_cart *cart, FILE *f);

void ctl_render_regions(const codec_val *reply, FILE *f);

/* ctl_render_pickup writes a pickup reply: the region's ATP line, then a
 * table of its locations (LOCATION TYPE PICKUP ON_HAND ... PICKUP_ATP).
 * ctl_render_pickup_cart writes a pickup_cart reply: a verdict line, then
 * one row per location listed with whether it fills the cart and the
 * lines it cannot fill. */
void ctl_render_pickup(const codec_val *reply, FILE *f);
void ctl_render_pickup_cart(const codec_val *reply, FILE *f);
void ctl_render_status(const codec_val *reply, FILE *f);

/* ctl_render_promise writes a promise reply (docs/PROTOCOL.md,
 * "Time-phased promises"): today's ATP line (ctl_render_atp), then
 *   dated 40  preorder hold 12  max promisable 72
 *   preorder shortfall 8                    (only when > 0)
 *   FROM                   ATP               (the schedule)
 *   2026-12-07T11:33:59Z     0
 *   2026-12-17T11:33:59Z    72
 *   on 2026-12-18T00:00:00Z: ATP 72          (with date_ms)
 *   earliest for 40: 2026-12-17T11:33:59Z (in 9d23h)   (with qty; "now"
 *   when available now, "never" when no known supply covers it)
 * Relative times count from the reply's now_ms (the engine's clock).
 * ctl_render_promise_cart writes a promise_cart reply: the cart's earliest
 * complete date (or never), then SKU QTY ATP EARLIEST per line. */
void ctl_render_promise(const codec_val *reply, FILE *f);
void ctl_render_promise_cart(const codec_val *reply, FILE *f);

/* A granted reservation with more lines than this is shown as a table. */
#define CTL_RENDER_INLINE_LINES 8

/* ctl_render_reserve writes a reserve reply. Granted:
 *   reserved ID (held, expires in 14m59s): SKU-1@us-east 2, SKU-9@eu 1
 * (more than CTL_RENDER_INLINE_LINES lines: a count, then the line table),
 * and for a dated reservation (a preorder) the line
 *   promise 2026-12-17T11:33:59Z (dated)
 * ("(due)" once its date has come: PROTOCOL.md, "Dated reservations");
 * refused, one line per reservation line, short ones marked:
 *   refused ID: SKU-1@us-east wanted 5, available 3  SHORT
 * now_ms is the wall clock the relative times are computed from. */
void ctl_render_reserve(const codec_val *reply, int64_t now_ms, FILE *f);

/* ctl_render_reservation writes the reply of commit, release, extend and
 * reservation: `reservation ID: STATE`, then channel, order_ref, a dated
 * reservation's `promise 2026-...Z (dated)` or `(due)`, expiry (relative
 * to now_ms and absolute UTC), created, and the line table (SKU REGION
 * QTY CONSUMED RELEASED). */
void ctl_render_reservation(const codec_val *reply, int64_t now_ms, FILE *f);

/* A scan rendered page by page (`scan --all`): one table whose header is
 * printed once and whose column widths only grow. Zero-initialise it; the
 * columns are named from the first page (ATP:<channel> per channel). */
typedef struct ctl_scan_view {
    struct ctl_col *cols; /* owned */
    char *names;          /* owned: the ATP:<channel> headers */
    size_t ncols, nch;
    size_t *width; /* owned, ncols entries */
    bool header_done;
    uint64_t rows; /* rows printed so far */
} ctl_scan_view;

/* ctl_render_scan_page writes the items of one scan reply as rows (the
 * header first, the first time): SKU, ATP per channel, SUPPLY, RESERVED,
 * SHORTFALL, STALE. Returns false on out of memory. */
bool ctl_render_scan_page(const codec_val *reply, ctl_scan_view *v, FILE *f);
void ctl_scan_view_fini(ctl_scan_view *v);

/* ctl_render_text copies s into buf (n > 0 bytes, NUL-terminated,
 * truncated) with control bytes as '?'. */
void ctl_render_text(codec_str s, char *buf, size_t n);

#endif
