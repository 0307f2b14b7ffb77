/*
 * persist.c - the store behind the engine: the engine's persistence
 * interface (engine_persist) translated to store groups, the start-up
 * restore of the last snapshot and the reservations from the store, and
 * the applied file handed to the engine. The restore runs on the main
 * thread; the persistence callbacks on the engine's threads (engine and
 * snapshot writer), the done callbacks on the store's.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/done_wait.h"
#include "common/health.h"
#include "common/log.h"
#include "daemon/daemon.h"

store_options daemon_store_options(const config *cfg)
{
    ATP_ASSERT(cfg != NULL);
    return (store_options){
        .sync = cfg->reservations.sync ? STORE_SYNC : STORE_NOSYNC,
        .initial_map_bytes = 64u << 20,
        .max_map_bytes = cfg->reservations.max_map_bytes,
        .log_bytes = cfg->reservations.log_bytes,
        .log_apply_delay_ms = cfg->reservations.log_apply_delay_ms,
    };
}

static store_op *daemon_store_ops(const engine_record_op *ops, size_t n)
{
    ATP_ASSERT(ops != NULL || n == 0);
    store_op *sops = malloc((n ? n : 1) * sizeof *sops);
    if (sops == NULL)
        return NULL;
    static const store_db dbs[ENGINE_DB_COUNT] = {
        [ENGINE_DB_RESERVATIONS] = STORE_DB_RESERVATIONS,
        [ENGINE_DB_POSITIONS] = STORE_DB_POSITIONS,
        [ENGINE_DB_OFFSETS] = STORE_DB_OFFSETS,
        [ENGINE_DB_LOTS] = STORE_DB_LOTS,
        [ENGINE_DB_META] = STORE_DB_META,
    };
    for (size_t i = 0; i < n; i++) {
        ATP_ASSERT((size_t)ops[i].db < ENGINE_DB_COUNT);
        sops[i] = (store_op){dbs[ops[i].db], ops[i].key, ops[i].key_len,
                             ops[i].val, ops[i].val_len};
    }
    return sops;
}

static atp_err daemon_persist_write(void *ctx, const engine_record_op *ops,
                                    size_t n,
                                    void (*done)(void *arg, atp_err err),
                                    void *arg)
{
    store_op *sops = daemon_store_ops(ops, n);
    if (sops == NULL)
        return ATP_E_NOMEM;
    atp_err err = store_submit(ctx, sops, n, done, arg);
    free(sops);
    return err;
}

/* A snapshot handed to the store without copying its records: the store
 * keeps the translated ops until it releases the group. */
typedef struct daemon_owned {
    store_op *sops;
    void (*release)(void *owner);
    void *owner;
} daemon_owned;

static void daemon_owned_release(void *arg)
{
    daemon_owned *o = arg;
    o->release(o->owner);
    free(o->sops);
    free(o);
}

static atp_err
daemon_persist_write_owned(void *ctx, const engine_record_op *ops, size_t n,
                           void (*release)(void *owner), void *owner,
                           void (*done)(void *arg, atp_err err), void *arg)
{
    daemon_owned *o = malloc(sizeof *o);
    store_op *sops = o != NULL ? daemon_store_ops(ops, n) : NULL;
    if (sops == NULL) {
        free(o);
        return ATP_E_NOMEM;
    }
    *o = (daemon_owned){sops, release, owner};
    atp_err err =
        store_submit_owned(ctx, sops, n, daemon_owned_release, o, done, arg);
    if (err != ATP_OK) {
        free(sops);
        free(o);
    }
    return err;
}

static void daemon_persist_stats(void *ctx, engine_store_stats *out)
{
    store_stats st;
    store_stats_get(ctx, &st);
    *out = (engine_store_stats){
        .commits = st.commits,
        .failures = st.failures,
        .map_bytes = st.map_bytes,
        .used_bytes = st.used_bytes,
        .full = st.full,
        .log_appends = st.log_appends,
        .log_groups = st.log_groups,
        .log_waits = st.log_waits,
        .log_replayed = st.log_replayed,
        .env_reopens = st.env_reopens,
        .log_present = st.log_present,
        .log_size = st.log_size,
        .log_used = st.log_used,
        .log_sync = st.log_sync,
        .commit = st.commit,
    };
}

static atp_err daemon_persist_backup(void *ctx, const char *dir,
                                     void (*done)(void *arg, atp_err err),
                                     void *arg, char *why, size_t why_len)
{
    return store_backup(ctx, dir, done, arg, why, why_len);
}

static bool daemon_load_reservation(void *ctx, const void *key, size_t key_len,
                                    const void *val, size_t val_len)
{
    engine_resv_load(ctx, key, key_len, val, val_len); /* skips are logged */
    return true;
}

/* Start-up restore of the last snapshot: positions, lots, source offsets. */
typedef struct daemon_restore_ctx {
    engine *eng;
    sources *src;
    uint64_t loaded, skipped;
} daemon_restore_ctx;

static bool daemon_load_position(void *ctx, const void *key, size_t key_len,
                                 const void *val, size_t val_len)
{
    daemon_restore_ctx *r = ctx;
    if (engine_position_load(r->eng, key, key_len, val, val_len) == ATP_OK)
        r->loaded++;
    else
        r->skipped++;
    return true;
}

static bool daemon_load_lot(void *ctx, const void *key, size_t key_len,
                            const void *val, size_t val_len)
{
    daemon_restore_ctx *r = ctx;
    if (engine_lot_load(r->eng, key, key_len, val, val_len) == ATP_OK)
        r->loaded++;
    else
        r->skipped++;
    return true;
}

static bool daemon_load_offset(void *ctx, const void *key, size_t key_len,
                               const void *val, size_t val_len)
{
    daemon_restore_ctx *r = ctx;
    uint32_t src;
    uint64_t seq;
    if (engine_offset_load(r->eng, key, key_len, val, val_len, &src, &seq)) {
        sources_restore(r->src, src, seq);
        r->loaded++;
    } else {
        r->skipped++;
    }
    return true;
}

atp_err daemon_restore(store *st, engine *eng, sources *src, bool reservations)
{
    ATP_ASSERT(st != NULL && eng != NULL && src != NULL);
    int64_t t0 = clock_mono_ms();
    daemon_restore_ctx pos = {eng, src, 0, 0}, lots = pos, offs = pos;
    atp_err err;
    store_info info;
    if (store_info_get(st, &info) == ATP_OK &&
        (err = engine_reserve_positions(
             eng, info.entries[STORE_DB_POSITIONS] +
                      info.entries[STORE_DB_LOTS])) != ATP_OK)
        return err;
    if ((err = store_scan(st, STORE_DB_POSITIONS, daemon_load_position,
                          &pos)) != ATP_OK ||
        (err = store_scan(st, STORE_DB_LOTS, daemon_load_lot, &lots)) !=
            ATP_OK ||
        (err = store_scan(st, STORE_DB_OFFSETS, daemon_load_offset, &offs)) !=
            ATP_OK)
        return err;
    health_cond_set(HEALTH_SNAPSHOT, true);
    if (reservations &&
        (err = store_scan(st, STORE_DB_RESERVATIONS, daemon_load_reservation,
                          eng)) != ATP_OK)
        return err;
    /* In a cluster (docs/CLUSTER.md) the partition's stream, not this
     * disk, has the reservations: loaded at a takeover. */
    health_cond_set(HEALTH_RESERVATIONS, reservations);
    engine_stats es;
    engine_stats_get(eng, &es);
    log_info("atpd",
             "restored %llu positions, %llu lots, %llu source offsets, %llu "
             "reservations (%llu open) in %lld ms",
             (unsigned long long)pos.loaded, (unsigned long long)lots.loaded,
             (unsigned long long)offs.loaded, (unsigned long long)es.resv_total,
             (unsigned long long)es.resv_open,
             (long long)(clock_mono_ms() - t0));
    if (pos.skipped + lots.skipped + offs.skipped > 0)
        log_warn("atpd",
                 "skipped %llu stored positions, %llu lots, %llu offsets that "
                 "no longer match the configuration",
                 (unsigned long long)pos.skipped,
                 (unsigned long long)lots.skipped,
                 (unsigned long long)offs.skipped);
    return ATP_OK;
}

/* daemon_applied_open maps the store's "applied" file and gives the engine
 * each source's slot (engine_applied_attach), after the reservations are
 * loaded. Without it (cannot create or map it: a full or read-only disk)
 * atpd runs as before the file existed, with a warning: what a resend may
 * then consume is in docs/PROTOCOL.md, "Expiry, consumption, retention". */
store_applied *daemon_applied_open(const config *cfg, store *st, engine *eng)
{
    ATP_ASSERT(st != NULL && eng != NULL &&
               cfg->n_sources <= CONFIG_MAX_SOURCES);
    const char *ids[CONFIG_MAX_SOURCES];
    uint64_t *slots[CONFIG_MAX_SOURCES] = {0};
    for (size_t i = 0; i < cfg->n_sources; i++)
        ids[i] = cfg->sources[i].id;
    store_applied *a = NULL;
    atp_err err = store_applied_open(cfg->service.data_dir, store_id(st), ids,
                                     cfg->n_sources, &a);
    if (err != ATP_OK)
        log_warn("atpd",
                 "running without the applied file: %s (a restart "
                 "then knows only the snapshot's offsets)",
                 atp_err_message(err));
    for (size_t i = 0; a != NULL && i < cfg->n_sources; i++)
        slots[i] = store_applied_slot(a, i);
    engine_applied_attach(eng, slots);
    return a;
}

engine_persist daemon_persist(store *st)
{
    ATP_ASSERT(st != NULL);
    return (engine_persist){.ctx = st,
                            .write = daemon_persist_write,
                            .write_owned = daemon_persist_write_owned,
                            .stats = daemon_persist_stats,
                            .backup = daemon_persist_backup};
}

atp_err daemon_scan_local(store *st, daemon_scan_fn records,
                          daemon_scan_fn meta, void *ctx)
{
    atp_err err = store_scan(st, STORE_DB_RESERVATIONS, records, ctx);
    if (err == ATP_OK)
        err = store_scan(st, STORE_DB_META, meta, ctx);
    if (err != ATP_OK)
        log_error("atpd", "reading the local reservations: %s",
                  atp_err_message(err));
    return err;
}

static bool daemon_forget_key(void *ctx, const void *key, size_t key_len,
                              const void *val, size_t val_len)
{
    (void)val, (void)val_len;
    daemon_forget *f = ctx;
    if (key_len > 8 && key_len < sizeof f->keys[0] &&
        memcmp(key, "cluster:", 8) == 0 && f->n < DAEMON_FORGET_MAX) {
        memcpy(f->keys[f->n], key, key_len);
        f->lens[f->n++] = key_len;
    }
    return true;
}

atp_err daemon_forget_scan(store *st, daemon_forget *f)
{
    f->n = 0;
    return store_scan(st, STORE_DB_META, daemon_forget_key, f);
}

atp_err daemon_forget_cluster(store *st, const daemon_forget *f)
{
    if (f->n == 0)
        return ATP_OK;
    store_op ops[DAEMON_FORGET_MAX];
    for (size_t i = 0; i < f->n; i++)
        ops[i] = (store_op){STORE_DB_META, f->keys[i], f->lens[i], NULL, 0};
    done_wait w;
    done_wait_init(&w);
    atp_err err =
        done_wait_finish(&w, store_submit(st, ops, f->n, done_wait_signal, &w));
    if (err == ATP_OK)
        log_info("atpd",
                 "not in a cluster: the store's cluster position is "
                 "forgotten (its reservations change here from now on)");
    else
        log_error("atpd", "forgetting the store's cluster position: %s",
                  atp_err_message(err));
    return err;
}
