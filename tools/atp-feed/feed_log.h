/*
 * feed_log.h - atp-feed's JSON Lines record of every generated message,
 * dropped ones included, in generation order.
 *
 * Integration tests replay this log into an independent model of atpd, so
 * each line says exactly what the message held and what happened to it.
 * Writes to a caller's FILE; main thread of atp-feed.
 */
#ifndef ATP_FEED_LOG_H
#define ATP_FEED_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "generator.h"

/* feed_log_write writes one line for m, sent with timestamp ts_ms:
 *   {"source":"wms-east","seq":17,"ts_ms":1700000000000,"sent":true,
 *    "copies":1,"reordered":false,"events":[["delta","SKU-1","DC-NJ",
 *    "on_hand",5],["set","SKU-7","DC-PA","held",3],["heartbeat"],
 *    ["lot_add","SKU-2","DC-NJ","L0",12,1700000004000],
 *    ["lot_change","SKU-2","DC-NJ","L0",10,1700000006000],
 *    ["lot_receive","SKU-2","DC-NJ","L0"],["lot_cancel",...]]}
 * Returns 0, or -1 when the FILE reports an error. */
int feed_log_write(FILE *f, const feed_msg *m, uint64_t ts_ms);

/* What atp-feed did about one resync request, for the log. */
typedef struct feed_resync_note {
    const char *source;
    uint64_t request_id;
    const char *mode;  /* as requested: "replay" or "snapshot" */
    uint64_t from_seq; /* as requested */
    /* replay: */
    uint64_t first_seq, last_seq; /* resent range (messages == 0: none) */
    uint64_t messages;
    /* snapshot: */
    uint64_t snapshot_id, seq; /* consistent with seq */
    uint32_t parts;
    uint64_t events, positions, lots;
    const char *reason; /* why this answer, or NULL */
    uint64_t ts_ms;
} feed_resync_note;

/* feed_log_replay writes
 *   {"replay":{"source":"wms-east","request_id":7,"mode":"replay",
 *    "from_seq":1042,"first_seq":1042,"last_seq":1200,"messages":159,
 *    "ts_ms":...,"reason":"..."}}
 * and feed_log_snapshot
 *   {"snapshot":{"source":"wms-east","request_id":8,"mode":"snapshot",
 *    "from_seq":0,"snapshot_id":1,"seq":1200,"parts":3,"events":2400,
 *    "positions":2390,"lots":10,"ts_ms":...,"reason":"..."}}
 * ("reason" only when set). Returns 0, or -1 on a FILE error. */
int feed_log_replay(FILE *f, const feed_resync_note *n);
int feed_log_snapshot(FILE *f, const feed_resync_note *n);

/* feed_event_name returns "delta", "set", "heartbeat", "lot_add",
 * "lot_change", "lot_receive", "lot_cancel" or "?". */
const char *feed_event_name(unsigned kind);

/* feed_bucket_name returns "on_hand", "allocated", "held" or "?". */
const char *feed_bucket_name(unsigned bucket);

#endif
