/*
 * admin_int.h - what the admin module's files share: the state (admin.c),
 * its records (records.c), the thread (thread.c). Not for other modules.
 *
 * Records of the store's "admin" database (values msgpack maps):
 *   key          value
 *   "state"      {v: version, text: the state as a YAML document,
 *                 file: the file's administered part when last read}
 *   'h' + v(8B)  {version, at_ms: ms since the epoch, change_id ("" for
 *                 atpd's own), who, op, what, before, after}: the
 *                 admin_history reply's item
 * Both are written in one group per change, so the state and its last
 * audit record never disagree.
 */
#ifndef ATP_ADMIN_INT_H
#define ATP_ADMIN_INT_H

#include <pthread.h>

#include "admin/admin.h"

/* One audit record. Strings owned (malloc'd). */
typedef struct admin_entry {
    uint64_t version;
    int64_t at_ms;
    char *id, *who, *op, *what, *before, *after;
} admin_entry;

/* A queued change: the request's strings copied into buf. */
typedef struct admin_job {
    admin_change c;
    admin_done_fn done;
    void *arg;
    /* seven ids of at most 128 bytes, a type of at most ADMIN_TYPE_MAX
     * and a horizon, and a bundle's 16 component SKUs of at most 64
     * bytes, NULs included */
    char buf[2048 + 16 * 65];
    config_bundle_part parts[16]; /* a bundle set's components */
} admin_job;

#define ADMIN_QUEUE_CAP 32

struct admin {
    config *started; /* the engine's configuration (borrowed) */
    admin_persist persist;
    engine *eng;
    sources *src;
    /* mu guards everything below; held for a whole change. */
    pthread_mutex_t mu;
    config cur; /* the administered state in force (a document's) */
    bool have_cur;
    char *cur_text; /* its YAML text */
    uint64_t version;
    char *file_text; /* the file's administered part when last read */
    /* Locations the file names that the stored state had removed at run
     * time: left out of the running configuration at start-up, and out
     * of every reloaded file until a restart (admin_reload). */
    char **left_out;
    size_t n_left_out;
    admin_entry *hist;
    size_t n_hist, cap_hist;
    /* restored at start-up, before admin_begin */
    char *stored_text, *stored_file;
    uint64_t stored_version;
    bool stored_unreadable; /* a state record that does not decode */
    /* the queue of the admin thread (guarded by qmu) */
    pthread_mutex_t qmu;
    pthread_cond_t qcond;
    admin_job *q[ADMIN_QUEUE_CAP];
    size_t q_head, q_n;
    bool running, stopping;
    pthread_t thread;
};

/* admin__entry_add appends e (taking its strings). false: out of memory
 * (e's strings freed). Under mu. */
bool admin__entry_add(admin *a, admin_entry *e);
void admin__entry_fini(admin_entry *e);

/* admin__records_encode writes the state record and e's audit record
 * into w1 and w2 (buffer writers); admin__record_decode reads one record:
 * the state (*is_state, version and text malloc'd) or an entry. */
void admin__state_encode(codec_writer *w, uint64_t version, const char *text,
                         const char *file_text);
void admin__entry_encode(codec_writer *w, const admin_entry *e);
bool admin__state_decode(const void *val, size_t len, uint64_t *version,
                         char **text, char **file_text);
bool admin__entry_decode(const void *val, size_t len, admin_entry *e);

/* admin__store writes the state (text, with a->file_text) and e as one
 * group and, if wait, waits until it is durable: ATP_OK when it is (or
 * nothing stores: tests). Without wait (start-up, before the store's
 * threads run) a failure is only logged. Under mu. */
atp_err admin__store(admin *a, const char *text, const admin_entry *e,
                     bool wait);

/* admin__parse reads a state document into *out; on error why has the
 * file's messages. */
atp_err admin__parse(const char *text, size_t len, config *out, char *why,
                     size_t why_len);

/* admin__commit makes next (read from text; both taken on success) the
 * state in force: engine_next applied (next itself, or SIGHUP's whole
 * file: full), then e stored as the next version. Under mu. On failure
 * nothing changed (a store refusal is undone in the engine) and why says
 * why. rep may be NULL. */
atp_err admin__commit(admin *a, config *next, char *text,
                      const config *engine_next, bool full, admin_entry *e,
                      engine_rules_report *rep, char *why, size_t why_len);

/* admin__apply runs one client change (admin thread, takes mu). */
void admin__apply(admin *a, const admin_change *c, admin_result *res);

#endif
