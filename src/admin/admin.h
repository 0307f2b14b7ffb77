/*
 * admin.h - run-time administration (docs/CONFIG.md, "Run-time
 * administration"; docs/PROTOCOL.md, "Admin"): the administered state
 * (buffer rules; regions and their horizons; locations, their region, type
 * and pickup settings; channels; the sources' authority) with its
 * version, changed by client requests and by SIGHUP, each change validated
 * like the file (config_admin_text + config_load_string), applied to the engine
 * as a reload is (engine_rules_replace), stored (through admin_persist, the
 * store behind it) before it is answered, and audited.
 *
 * Threads: admin_alloc, admin_restore_record, admin_begin on the main
 * thread at start-up; changes run one at a time on the admin thread
 * (atp:admin, admin_start) or, for SIGHUP, on the main thread
 * (admin_reload): one mutex orders them. The readers (admin_list_write,
 * admin_history_write, admin_export) take the same mutex for a copy-free
 * read of a small state; any thread.
 */
#ifndef ATP_ADMIN_H
#define ATP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "config/config.h"
#include "engine/engine.h"
#include "sources/sources.h"

typedef struct admin admin;

/* One key/value record to store (bytes borrowed for the call). */
typedef struct admin_record {
    const void *key;
    size_t key_len;
    const void *val;
    size_t val_len;
} admin_record;

/* Where the records go (the store's "admin" database, daemon/persist.c):
 * put queues n records as one atomic group and calls done(arg, err) once
 * it is durable (ATP_OK) or refused (ATP_E_STORE_FULL, ATP_E_IO...), on
 * any thread; a non-OK return means done is not called. NULL put: nothing
 * is stored (tests). */
typedef struct admin_persist {
    void *ctx;
    atp_err (*put)(void *ctx, const admin_record *r, size_t n,
                   void (*done)(void *arg, atp_err err), void *arg);
} admin_persist;

/* admin_alloc: an admin over cfg (borrowed: the configuration atpd starts
 * with; admin_begin changes its administered part). */
atp_err admin_alloc(config *cfg, const admin_persist *p, admin **out);
void admin_free(admin *a);

/* admin_restore_record takes one stored record (the store's "admin"
 * database, scanned at start-up, before admin_begin). Records it cannot
 * read are logged and skipped. */
void admin_restore_record(admin *a, const void *key, size_t key_len,
                          const void *val, size_t val_len);

/* admin_begin, before the engine is made from cfg: with a stored state,
 * lays it over cfg's buffer rules and locations (the stored state
 * wins; one log line says so); without one, seeds it from cfg (version 1,
 * stored). ATP_E_CONFIG when the stored state cannot be read (logged:
 * atpd does not start on a state it cannot trust), ATP_E_NOMEM. */
atp_err admin_begin(admin *a);

/* admin_start: after the engine exists, the admin thread that runs the
 * changes clients submit. admin_stop answers what is queued (busy) and
 * joins it: before engine_stop, while replies can still be sent. */
atp_err admin_start(admin *a, engine *eng, sources *src);
void admin_stop(admin *a);

/* A client's change (docs/PROTOCOL.md, "Admin"). Strings borrowed for
 * admin_submit (copied); ids at most 128 bytes, edit.type at most
 * ADMIN_TYPE_MAX, edit.horizon ADMIN_HORIZON_MAX (the parser judges their
 * content, as the file's). */
#define ADMIN_TYPE_MAX 256
#define ADMIN_HORIZON_MAX 32 /* edit.horizon, bytes */
typedef struct admin_change {
    config_edit edit;
    const char *change_id; /* 1..128 bytes, the idempotency key */
    const char *who;       /* the token's name, or "anonymous" */
} admin_change;

typedef struct admin_result {
    atp_err err;
    char message[1200]; /* why, when err != ATP_OK */
    uint64_t version;   /* the version the change made (or made before) */
    bool replayed;      /* the same change id and content seen before */
} admin_result;

typedef void (*admin_done_fn)(void *arg, const admin_result *res);

/* admin_submit queues c for the admin thread; done(arg, res) runs once,
 * on that thread (or in admin_stop), after the change is applied and
 * stored, or refused (nothing changed). Never blocks: ATP_E_BUSY when the
 * queue is full or the thread stopped (done not called). */
atp_err admin_submit(admin *a, const admin_change *c, admin_done_fn done,
                     void *arg);

/* admin_reload: SIGHUP's part (main thread), next being the file just
 * read. If next's administered part is what the file had when last read
 * (start or last SIGHUP), the stored state stays in force: it is laid
 * over next (locations removed at run time leave next). Otherwise the
 * file's administered part wins and becomes a new version (who
 * "sighup"). check(ctx, next) then counts what of next refuses the
 * reload (config_compare against the running configuration: after the
 * overlay, so that a location removed at run time and still in the file
 * is not taken for one added); a non-zero count refuses it (ATP_E_CONFIG,
 * nothing changed). Applies next (engine_rules_replace, sources_reload) and
 * stores the new version. Returns engine_rules_replace's error (nothing
 * changed), or the store's (applied but not stored: logged). */
typedef size_t (*admin_check_fn)(void *ctx, const config *next);
atp_err admin_reload(admin *a, config *next, admin_check_fn check, void *ctx,
                     engine_rules_report *rep);

/* Readers (any thread). admin_list_write writes the reply {ok: true,
 * version, buffers, locations} (docs/PROTOCOL.md, "admin_list");
 * admin_history_write the audit records with version > after, oldest first, at
 * most limit, as {ok: true, version, changes: [...], next_after}; admin_export
 * the state as a configuration document (malloc'd, caller frees) or NULL.
 * admin_version: the state's. */
void admin_list_write(admin *a, codec_writer *w);
void admin_history_write(admin *a, uint64_t after, uint32_t limit,
                         codec_writer *w);
char *admin_export(admin *a);
uint64_t admin_version(admin *a);

#endif
