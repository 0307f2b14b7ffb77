/*
 * resv_int.h - what the reservation files share (resv.c: operations,
 * resv_table.c: the table, resv_group.c: group commit, resv_record.c:
 * stored form). Engine thread only, like resv.h; not for the rest of the
 * engine.
 */
#ifndef ATP_RESV_INT_H
#define ATP_RESV_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine_int.h"
#include "engine/resv.h"

/* After a failed write, expiry and rewritten consumptions wait this long. */
#define RESV_RETRY_MS 1000

/* One operation in a group: its write, its reply, and how to undo it. */
struct resv_pending {
    void (*done)(void *arg, const engine_resv_result *res); /* NULL: none */
    void *arg;
    atp_err err;
    bool granted, replayed;
    bool grant;          /* a new reservation: counted as granted once stored */
    int64_t backordered; /* a grant's units beyond ATP, counted then too */
    bool dated;          /* a grant of a dated reserve, counted then too */
    resv *snap;          /* the record after the operation (reply), or NULL */
    char *key;           /* record id (owned) */
    uint32_t key_len;
    resv *before;   /* before-image, NULL: the record did not exist */
    bool wrote;     /* this operation changed the record */
    bool keep;      /* a consumption: never undone, written again on failure */
    bool mark_only; /* a held record's mark (kept too); no snapshot waits
                     * for it (resv_consumptions_gen says why) */
    unsigned char *val; /* encoded record to write, NULL: delete */
    size_t val_len;
};

/* resv__is_open: held or committed, the states that hold stock. */
static inline bool resv__is_open(uint8_t st)
{
    return st == ENGINE_RESV_HELD || st == ENGINE_RESV_COMMITTED;
}

/* resv__line_open: what line l of r holds of the reserved total now. */
static inline int64_t resv__line_open(const resv *r, const resv_line *l)
{
    return resv__is_open(r->state) ? l->qty - l->consumed - l->released : 0;
}

/* ---- resv_table.c ------------------------------------------------------- */

/* Records: resv__alloc returns a zeroed record of n_lines lines in no
 * heap (NULL: no memory); resv__free frees one and what it owns (NULL:
 * nothing); resv__clone a deep copy, in no index or heap; resv__strdup a
 * NUL-ended copy of s[0..n). */
resv *resv__alloc(uint32_t n_lines);
void resv__free(resv *r);
resv *resv__clone(const resv *r);
char *resv__strdup(const char *s, uint32_t n);

/* resv__mark_covers: is (seq, event) of src at or below r's mark for src,
 * already applied while r was as it is? */
bool resv__mark_covers(const resv *r, uint32_t src, uint64_t seq,
                       uint32_t event);

/* resv__find / resv__find_ref: the record of an id or an order reference
 * (NULL: none). */
resv *resv__find(const resv_table *t, const char *id, size_t len);
resv *resv__find_ref(const resv_table *t, const char *ref, size_t len);

/* resv__client_find returns the counter of client name[0..len), added
 * when create is true (NULL: not there, or no memory to add it). */
resv_client *resv__client_find(resv_table *t, const char *name, uint32_t len,
                               bool create);

/* resv__replace makes `next` the record in place of `cur` (either may be
 * NULL), moving reserved totals by the difference. Takes ownership of next
 * and frees cur. */
void resv__replace(struct engine *e, resv *cur, resv *next);

/* resv__pinned_room makes room in e->pinned for r's pinned lines, so that
 * putting r in (resv__replace) cannot fail: call it before a new record
 * with pinned lines goes in. ATP_E_NOMEM: no room (nothing changed). */
atp_err resv__pinned_room(struct engine *e, const resv *r);
/* resv__pinned_at: what open lines pinned to location hold of sku, at
 * most ATP_QTY_SUM_MAX. Engine thread. */
int64_t resv__pinned_at(const struct engine *e, uint32_t sku,
                        uint32_t location);

/* ---- resv_group.c ------------------------------------------------------- */

/* resv__reply_now answers an operation that changed nothing and depends on
 * nothing in flight, at once; resv__reply_after_writes answers one that
 * read r once what is queued before it is durable (r is copied). */
void resv__reply_now(struct engine *e, const engine_resv_req *req, atp_err err,
                     const resv *snap, bool granted, bool replayed);
void resv__reply_after_writes(struct engine *e, const engine_resv_req *req,
                              atp_err err, const resv *r, bool granted,
                              bool replayed);

/* resv__change applies a change (cur -> next) now and queues its write and
 * its reply. next may be NULL (purge); req or its done may be NULL
 * (expiry, consumption). Takes next. Returns the queued write, NULL when
 * it was refused for memory (then req was answered, nothing changed). */
resv_pending *resv__change(struct engine *e, const engine_resv_req *req,
                           resv *cur, resv *next, bool granted);

/* resv__pin_undoable_at: would undoing a change not stored yet (a failed
 * write) put back an open line pinned to location? The pinned sums count
 * changes before they are durable; an admin change that relies on "no
 * pins there" must not see a release that may still be undone. */
bool resv__pin_undoable_at(const struct engine *e, uint32_t location);

/* resv__group_fini frees g and what it holds, unanswered (engine_free). */
void resv__group_fini(resv_group *g);

#endif
