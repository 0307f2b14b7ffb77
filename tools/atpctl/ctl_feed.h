/*
 * ctl_feed.h - the pure parts of `atpctl watch`: the subscription prefix,
 * gap detection on the
 * sequence that matches the subscription, and the human and JSON renderings
 * of messages and gaps (docs/PROTOCOL.md, "Change feed").
 *
 * No I/O beyond the FILE given; main thread of atpctl. The nng SUB socket
 * itself is in ctl_sub.c.
 */
#ifndef ATP_CTL_FEED_H
#define ATP_CTL_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atp/wire.h"
#include "codec/codec.h"

/* "atp" NUL region NUL sku NUL: the longest prefix a subscription uses. */
#define CTL_FEED_PREFIX_MAX                                                    \
    (sizeof ATP_FEED_TOPIC_ROOT + ATP_ID_MAX_LEN + 1 + ATP_SKU_MAX_LEN + 1)

/* What a watch subscribes to, which decides the sequence gaps are seen in. */
typedef enum ctl_feed_scope {
    CTL_FEED_ALL,    /* "atp\0": every message; gaps in seq */
    CTL_FEED_REGION, /* "atp\0R\0": one region; gaps in region_seq */
    CTL_FEED_KEY,    /* "atp\0R\0S\0": one (SKU, region); gaps in key_seq */
} ctl_feed_scope;

/* ctl_feed_prefix writes the subscription prefix for region (NULL: all) and
 * sku (NULL: the whole region; needs a region) into buf (at least
 * CTL_FEED_PREFIX_MAX bytes): exactly the bytes of the PROTOCOL.md table,
 * NULs included, with the trailing NUL after a SKU so that "A1" does not
 * catch "A10". Checks region and SKU with the service's id rules. Returns
 * true, *len and *scope, or false with the reason in err. */
bool ctl_feed_prefix(const char *region, const char *sku, char *buf,
                     size_t *len, ctl_feed_scope *scope, char *err,
                     size_t errlen);

/* ctl_feed_seq_name is "seq", "region_seq" or "key_seq". */
const char *ctl_feed_seq_name(ctl_feed_scope scope);

/* The topic of one message (codec_feed_split); region and sku point into
 * the message. */
typedef struct ctl_feed_topic {
    codec_str region;
    codec_str sku;
} ctl_feed_topic;

/* Gap detection on one sequence. The first message sets the baseline (no
 * gap: the watch started somewhere in the feed). */
typedef struct ctl_feed_gaps {
    bool known;
    uint64_t last;   /* last sequence seen */
    uint64_t gaps;   /* jumps seen */
    uint64_t missed; /* messages lost in those jumps */
    uint64_t resets; /* sequences that went back (atpd restarted) */
} ctl_feed_gaps;

typedef enum ctl_feed_gap_kind {
    CTL_FEED_IN_ORDER, /* got == last + 1, or the first message */
    CTL_FEED_GAP,      /* got > last + 1: got - last - 1 messages lost */
    CTL_FEED_RESET,    /* got <= last: the sequence restarted */
} ctl_feed_gap_kind;

typedef struct ctl_feed_gap {
    ctl_feed_gap_kind kind;
    uint64_t expected; /* last + 1 */
    uint64_t got;
    uint64_t missed; /* CTL_FEED_GAP only */
} ctl_feed_gap;

/* ctl_feed_gaps_check moves g to sequence got and says how it followed the
 * previous one (in *out; its kind is also returned). */
ctl_feed_gap_kind ctl_feed_gaps_check(ctl_feed_gaps *g, uint64_t got,
                                      ctl_feed_gap *out);

/* ctl_feed_msg_seq is the sequence of scope in a decoded message
 * (codec_feed_decode). */
uint64_t ctl_feed_msg_seq(const codec_feed_msg *m, ctl_feed_scope scope);

/* ctl_render_feed writes one message as a line:
 *   #812 us-east SKU-1  supply 333  reserved 2  | default 281 | web 0
 * OUT_OF_STOCK! | app 3 low
 * (`shortfall N` and `STALE` when they apply). A transition is written in
 * capitals with '!', a standing state (out, low) in lower case; with color
 * (a terminal) transitions are also bold red (out_of_stock), green
 * (back_in_stock) or yellow (low_stock). Missing fields print as "-". */
void ctl_render_feed(const ctl_feed_topic *t, const codec_val *body, bool color,
                     FILE *f);

/* ctl_feed_write_json writes the body map with a "topic" key first,
 * {"topic": {"region": R, "sku": S}, "seq": ..., ...}, as one JSON line
 * (newline included). Returns false (writing nothing) on out of memory or
 * when the body is not a map. */
bool ctl_feed_write_json(const ctl_feed_topic *t, const codec_val *body,
                         FILE *f);

/* ctl_render_gap writes a gap or reset seen on the watch's sequence, as the
 * human warning line
 *   warning: gap in region_seq: expected 12, got 15 (3 messages lost) at
 * us-east SKU-1; rebuild with a scan or (json) as {"gap": {"sequence":
 * "region_seq", "expected": 12, "got": 15, "missed": 3, "reset": false,
 * "region": R, "sku": S}}. */
void ctl_render_gap(const ctl_feed_gap *g, ctl_feed_scope scope,
                    const ctl_feed_topic *t, bool json, FILE *f);

/* ctl_feed_parse_uint accepts plain decimal digits (an optional '+'
 * first) for a value in min..max: --count, --limit, --cursor. Returns true
 * and *out. */
bool ctl_feed_parse_uint(const char *s, uint64_t min, uint64_t max,
                         uint64_t *out);

#endif
