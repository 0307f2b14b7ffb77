/*
 * import_state.h - what atp-import keeps between runs for one source, in
 * its state directory (docs/IMPORT.md, "How it publishes"): the publisher
 * session, the last sequence number, and the source's state as atpd should
 * have it (every bucket value and open lot sent), from which a full
 * snapshot is made.
 *
 * DIR/ID.state holds them as one source snapshot message (the wire format,
 * docs/PROTOCOL.md, "Full snapshots": its seq is the last seq, its session
 * the session), so that reading it back goes through the same checks as
 * anything atpd reads. DIR/ID.lock (flock) lets one run per source at a
 * time. Main thread of atp-import.
 */
#ifndef ATP_IMPORT_STATE_H
#define ATP_IMPORT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed_state.h"

typedef struct import_state {
    uint64_t session;  /* 0: none yet (an empty state) */
    uint64_t last_seq; /* the last seq used (0: none) */
    feed_state *st;
    int lock_fd;
    char *path; /* DIR/ID.state */
    char *source;
    char *read_buf; /* the state file as read at open (NULL: none) */
    size_t read_len;
    const char *const *on_hand_locs;
    size_t n_on_hand;
} import_state;

/* import_state_open takes DIR/ID.lock (without waiting), creating DIR when
 * it does not exist, and reads DIR/ID.state when it exists. on_hand_locs
 * (borrowed, outliving s) are the locations where the source has on_hand
 * authority: a received lot's quantity moves into on_hand there, as atpd
 * does (feed_state.h). Returns 0; 1 when another run holds the
 * lock; -1 with why on any other failure (unreadable or invalid state
 * file: it is never overwritten then). */
int import_state_open(const char *dir, const char *source,
                      const char *const *on_hand_locs, size_t n_on_hand,
                      import_state *s, char *why, size_t why_len);

/* import_state_save writes the state (temporary file, fsync, rename, fsync
 * of the directory). 0, or -1 with why. */
int import_state_save(const import_state *s, char *why, size_t why_len);

/* import_state_revert puts st back as it was read at open (empty for a
 * first run), keeping session and last_seq: after atpd refused the file.
 * 0, or -1 with why. */
int import_state_revert(import_state *s, char *why, size_t why_len);

/* import_state_close releases the lock and frees s. */
void import_state_close(import_state *s);

#endif
