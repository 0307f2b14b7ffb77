/*
 * request_admin.c - the admin ops answered later, once stored: snapshot
 * (the engine writes positions, lots and offsets) and backup (the store
 * copies its environment). The nng or HTTP callback only submits; the
 * engine or store thread writes the reply and calls async->finish.
 */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "server/reply.h"
#include "server/request_int.h"

/* request_snapshot_done: the engine's answer to a snapshot request (engine
 * thread, or the thread stopping the engine). */
static void request_snapshot_done(void *arg, atp_err err)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    if (err != ATP_OK) {
        reply_error e = {.line = -1};
        if (err == ATP_E_BUSY)
            reply_error_set(&e, err,
                            "snapshot not taken: atpd is shutting down "
                            "or busy with other snapshots; retry later");
        else
            reply_error_set(&e, err, "snapshot not stored: %s",
                            atp_err_message(err));
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else {
        engine_stats es;
        engine_stats_get(as->env->eng, &es);
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_uint(w, "positions", es.snapshot_last_positions);
        codec_w_kv_int(w, "ms", clock_mono_ms() - as->started_ms);
    }
    as->finish(as->owner);
}

/* Take a snapshot of positions, lots and offsets now, answered once it is
 * stored, like a reservation: the nng callback never waits for the store.
 * Returns true when submitted (the reply comes through async->finish). */
bool request_snapshot_start(request_env *env, codec_writer *w,
                            request_async *async, reply_error *e)
{
    async->env = env;
    async->w = w;
    async->started_ms = clock_mono_ms();
    atp_err err =
        engine_snapshot_submit(env->eng, request_snapshot_done, async);
    if (err == ATP_OK)
        return true;
    request_busy(e, err);
    return false;
}

/* request_backup_done: the store's answer to a backup (a store thread). */
static void request_backup_done(void *arg, atp_err err)
{
    request_async *as = arg;
    codec_writer *w = as->w;
    if (err != ATP_OK) {
        reply_error e = {.line = -1};
        reply_error_set(&e, err,
                        "backup to %s failed: %s (atpd's log says more); "
                        "remove what it left there before trying again",
                        as->backup_dir, atp_err_message(err));
        request_count_error(as->env, as, e.code);
        reply_error_write(w, &e);
    } else {
        codec_w_map(w, 3);
        codec_w_kv_bool(w, "ok", true);
        codec_w_kv_cstr(w, "dir", as->backup_dir);
        codec_w_kv_int(w, "ms", clock_mono_ms() - as->started_ms);
    }
    as->finish(as->owner);
}

/* An online backup into the directory "dir" on atpd's machine, answered
 * once the copy is synced (docs/PROTOCOL.md, "backup"). Returns true when
 * queued (the reply comes through async->finish). */
bool request_backup_start(request_env *env, const request_fields *f,
                          codec_writer *w, request_async *async, reply_error *e)
{
    codec_str dir;
    if (!request_id(f->dir, "dir", REQUEST_BACKUP_DIR_MAX, ATP_E_BAD_REQUEST,
                    &dir, e))
        return false;
    memcpy(async->backup_dir, dir.ptr, dir.len);
    async->backup_dir[dir.len] = '\0';
    async->env = env;
    async->w = w;
    async->started_ms = clock_mono_ms();
    char why[REQUEST_BACKUP_DIR_MAX + 256];
    atp_err err =
        engine_backup_submit(env->eng, async->backup_dir, request_backup_done,
                             async, why, sizeof why);
    if (err == ATP_OK)
        return true;
    reply_error_set(e, err, "%s", why);
    return false;
}
