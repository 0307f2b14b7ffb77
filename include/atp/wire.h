/*
 * atp/wire.h - the wire contract shared by atpd, atpctl, atp-feed and clients.
 *
 * Every value here is on the wire: never renumber, only append.
 * docs/PROTOCOL.md is the prose version of this file.
 */
#ifndef ATP_WIRE_H
#define ATP_WIRE_H

#include <stdint.h>

#define ATP_WIRE_VERSION 1

/* Default endpoints (the demo's). */
#define ATP_DEFAULT_QUERY_URL "tcp://127.0.0.1:7450"
#define ATP_DEFAULT_INGEST_URL "tcp://127.0.0.1:7451"
#define ATP_DEFAULT_FEED_URL "tcp://127.0.0.1:7452"

/* Change feed topics (nng prefix subscriptions): every message starts with
 *   "atp" NUL region NUL sku NUL
 * then the msgpack body. Subscribe to "atp\0" for everything,
 * "atp\0<region>\0" for a region, "atp\0<region>\0<sku>\0" for exactly
 * one SKU (the NUL after the SKU keeps "A1" from matching "A10"). */
#define ATP_FEED_TOPIC_ROOT "atp"
/* The pickup feed's topics: "pickup" NUL location NUL sku NUL
 * (docs/PROTOCOL.md, "Pickup feed"). */
#define ATP_PICKUP_TOPIC_ROOT "pickup"

/* Source messages: msgpack arrays.
 *   [ATP_MSG_SOURCE_BATCH, source_id:str, seq:uint, ts_ms:uint, events:array]
 *   [ATP_MSG_SNAPSHOT, source_id:str, snapshot_id:uint, part:uint, ts_ms:uint,
 *    seq:uint, last:bool, events:array]   (full snapshot, consistent with seq)
 * Either may end with the publisher's session (uint 1..2^53-1, chosen at
 * random when the adapter starts) and then a MAC (bin 32, written as bin 8:
 * the message's last ATP_SRC_MAC_TAIL bytes are 0xc4 0x20 and
 * HMAC-SHA-256(source key, every byte before them)). docs/PROTOCOL.md,
 * "Publisher sessions" and "Source keys".
 * Event: msgpack array whose first element is the event kind:
 *   [ATP_EV_DELTA, sku:str, location:str, bucket:uint, delta:int (, ref:str)]
 *   [ATP_EV_SET,   sku:str, location:str, bucket:uint, value:int]
 *   [ATP_EV_HEARTBEAT]
 *   [ATP_EV_LOT_ADD | ATP_EV_LOT_CHANGE, sku, location, lot:str, qty:int,
 * eta_ms:int] [ATP_EV_LOT_RECEIVE | ATP_EV_LOT_CANCEL, sku, location, lot:str]
 * Kinds 4 and 5 are reserved (never used on the wire). */
enum atp_msg_kind {
    ATP_MSG_SOURCE_BATCH = 1,
    ATP_MSG_SNAPSHOT = 2,
};

#define ATP_SRC_MAC_LEN 32
#define ATP_SRC_MAC_TAIL (2 + ATP_SRC_MAC_LEN) /* 0xc4 0x20 mac */

enum atp_event_kind {
    ATP_EV_DELTA = 1,
    ATP_EV_SET = 2,
    ATP_EV_HEARTBEAT = 3,
    ATP_EV_RESERVED_4 = 4,
    ATP_EV_RESERVED_5 = 5,
    ATP_EV_LOT_ADD = 6,
    ATP_EV_LOT_CHANGE = 7,
    ATP_EV_LOT_RECEIVE = 8,
    ATP_EV_LOT_CANCEL = 9,
};

/* Position buckets. inbound is carried by lots, not by bucket events. */
enum atp_bucket {
    ATP_BUCKET_ON_HAND = 0,
    ATP_BUCKET_ALLOCATED = 1,
    ATP_BUCKET_HELD = 2,
    ATP_BUCKET_COUNT = 3,
    /* Authority only (config `buckets: [inbound]`): who may send lot events
     * for a location. Not a position bucket. */
    ATP_AUTH_INBOUND = 3,
    ATP_AUTH_BUCKET_COUNT = 4,
};

/* Resync requests, published by atpd on its control PUB socket with the
 * topic "resync" NUL source_id NUL, then a msgpack map
 * {"source", "mode": "replay" | "snapshot", "from_seq", "request_id",
 *  "ts_ms"}. */
#define ATP_DEFAULT_CONTROL_URL "tcp://127.0.0.1:7453"
#define ATP_RESYNC_TOPIC "resync"

/* Which rule level produced a buffer, most specific first (on the wire as
 * the string in parentheses). */
enum atp_rule_level {
    ATP_RULE_SKU_REGION_CHANNEL = 0, /* "sku+region+channel" */
    ATP_RULE_SKU_REGION = 1,         /* "sku+region" */
    ATP_RULE_SKU_CHANNEL = 2,        /* "sku+channel" */
    ATP_RULE_SKU = 3,                /* "sku" */
    ATP_RULE_REGION_CHANNEL = 4,     /* "region+channel" */
    ATP_RULE_REGION = 5,             /* "region" */
    ATP_RULE_CHANNEL = 6,            /* "channel" */
    ATP_RULE_GLOBAL = 7, /* "global" (configured or the built-in 0) */
    ATP_RULE_LEVELS = 8,
};

/* Limits (also enforced on the wire). */
#define ATP_SKU_MAX_LEN 64
#define ATP_ID_MAX_LEN 64 /* location, region, channel, source ids */
#define ATP_QTY_MAX 1000000000000000LL /* |any quantity| <= 10^15 */
/* The largest integer atpd sends or accepts where it is not a quantity:
 * 2^53 - 1, exact in an IEEE double, so JavaScript's JSON.parse, jq and
 * every JSON library read it unrounded (PROTOCOL.md, "Numbers"). Source
 * seq, ts_ms, snapshot_id and eta_ms are bounded by it on input; change
 * feed sequences stay below it; counters stop at it. */
#define ATP_WIRE_INT_MAX 9007199254740991LL
#define ATP_MSG_MAX_DEPTH 8      /* msgpack nesting accepted */
#define ATP_CART_MAX_LINES 10000 /* default; configurable lower */
#define ATP_RESV_ID_MAX_LEN 128  /* reservation ids and order refs */
#define ATP_DEFAULT_CHANNEL "default"

#endif
