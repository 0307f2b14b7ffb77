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
 *    "on_hand",5],["set","SKU-7","DC-PA","held",3],["heartbeat"]]}
 * Returns 0, or -1 when the FILE reports an error. */
int feed_log_write(FILE *f, const feed_msg *m, uint64_t ts_ms);

/* feed_json_str writes s[0..len) as a JSON string (quotes included). */
void feed_json_str(FILE *f, const char *s, size_t len);

/* feed_bucket_name returns "on_hand", "allocated", "held" or "?". */
const char *feed_bucket_name(unsigned bucket);

#endif
