/*
 * admin.c - the administered state's place in the store (the "admin"
 * database behind admin_persist) and its start-up: the stored records
 * restored, then laid over the configuration (or seeded from it) before
 * the engine is made from it. Main thread; the persistence callback on
 * the admin thread (or main's, for SIGHUP), its done on the store's.
 */
#include <stdlib.h>

#include "common/log.h"
#include "daemon/daemon.h"

static atp_err daemon_admin_put(void *ctx, const admin_record *r, size_t n,
                                void (*done)(void *arg, atp_err err), void *arg)
{
    store_op ops[2];
    if (n > sizeof ops / sizeof ops[0])
        return ATP_E_INTERNAL;
    for (size_t i = 0; i < n; i++)
        ops[i] = (store_op){STORE_DB_ADMIN, r[i].key, r[i].key_len, r[i].val,
                            r[i].val_len};
    return store_submit(ctx, ops, n, done, arg);
}

static bool daemon_admin_load(void *ctx, const void *key, size_t key_len,
                              const void *val, size_t val_len)
{
    admin_restore_record(ctx, key, key_len, val, val_len);
    return true;
}

atp_err daemon_admin_open(store *st, config *cfg, admin **out)
{
    admin_persist p = {.ctx = st, .put = daemon_admin_put};
    admin *a;
    atp_err err = admin_alloc(cfg, &p, &a);
    if (err != ATP_OK)
        return err;
    if ((err = store_scan(st, STORE_DB_ADMIN, daemon_admin_load, a)) !=
            ATP_OK ||
        (err = admin_begin(a)) != ATP_OK) {
        log_error("atpd", "the admin state was not restored: %s",
                  atp_err_message(err));
        admin_free(a);
        return err;
    }
    *out = a;
    return ATP_OK;
}
