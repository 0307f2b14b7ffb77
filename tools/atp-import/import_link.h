/*
 * import_link.h - atp-import's three connections to atpd and what it does
 * over them (docs/IMPORT.md, "How it publishes"): a PUB socket to the
 * ingest port for the file's message, a SUB socket to the control port for
 * atpd's replay and snapshot requests, and a REQ client for the `sources`
 * reply that tells when the message is applied.
 *
 * Every wait is bounded by the caller's deadline. Main thread of
 * atp-import.
 */
#ifndef ATP_IMPORT_LINK_H
#define ATP_IMPORT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "feed_state.h"
#include "tools_tls.h"

typedef struct import_link import_link;

typedef struct import_link_opts {
    const char *ingest_url, *control_url, *query_url;
    const char *token; /* NULL: none */
    const tools_tls *tls;
    const char *source;
    const uint8_t *key; /* the source's MAC key; key_len 0: none */
    size_t key_len;
    uint32_t part_max;   /* events per message (max_events_per_message) */
    size_t max_bytes;    /* bytes per message (ingest_recv_max_bytes) */
    int64_t deadline_ms; /* clock_mono_ms() deadline of every wait */
} import_link_opts;

/* What atpd's `sources` reply says of the source. */
typedef struct import_src_info {
    uint64_t last_seq, session, rejected_messages, snapshots_aborted;
    uint64_t conflicts, bad_mac;
    int64_t age_ms; /* since atpd last heard from the source; -1: never */
    char state[16];
} import_src_info;

enum import_link_rc {
    IMPORT_LINK_OK = 0,
    IMPORT_LINK_UNREACHABLE, /* no answer, or not atpd's ports */
    IMPORT_LINK_REJECTED,    /* atpd rejected the message */
    IMPORT_LINK_TIMEOUT,     /* not applied by the deadline */
    IMPORT_LINK_ERROR,       /* anything else (why says) */
};

/* import_link_open connects the three sockets (o is borrowed for the
 * link's life). IMPORT_LINK_OK or another code with why. */
int import_link_open(const import_link_opts *o, import_link **out, char *why,
                     size_t why_len);
void import_link_close(import_link *l);

/* import_link_sources reads the source's line of atpd's `sources` reply. */
int import_link_sources(import_link *l, import_src_info *out, char *why,
                        size_t why_len);

/* import_link_wait_quiet waits, when another session than ours is the
 * source's current one in *info, until atpd has not heard from it for
 * quiet_ms (the source's heartbeat_timeout): atpd then takes ours as a new
 * publisher instead of counting its messages as conflicts (and showing the
 * source as `conflict` for another heartbeat_timeout). *info is read again.
 * IMPORT_LINK_OK, or IMPORT_LINK_TIMEOUT at the deadline (why names the
 * other session). */
int import_link_wait_quiet(import_link *l, uint64_t session, int64_t quiet_ms,
                           import_src_info *info, char *why, size_t why_len);

/* import_link_publish sends the file: a batch of evs with sequence seq in
 * session (*snapshot false), or a full snapshot of st consistent with seq
 * (*snapshot true; also when the batch would pass max_bytes: *snapshot
 * says what was sent; parts are halved until they fit), then waits until atpd
 * applied it (the source's last_seq reaches seq in this session), resending it
 * every second and answering atpd's requests (a replay of seq: the batch again;
 * anything older, or a snapshot request: a snapshot of st). before: the
 * source's counters when the run began. *confirm_ms: how long it took. */
int import_link_publish(import_link *l, uint64_t session, uint64_t seq,
                        bool *snapshot, const codec_event *evs, size_t n,
                        feed_state *st, const import_src_info *before,
                        int64_t *confirm_ms, char *why, size_t why_len);

#endif
