/*
 * fault.h - fault points of the store, for tests (SQLite's approach: the
 * test build can make any write fail, so the error paths run in tests).
 *
 * Compiled in only with ATP_STORE_FAULTS, which only the test build's
 * library atp_store_faults (and the atpd-faults binary that links it)
 * defines; in atpd, store__fault is the constant 0 and every fault point
 * compiles away.
 *
 * In the test build: the environment variable ATP_STORE_FAULTS names a
 * file; each line of it is "<point> <errno>", e.g.
 *
 *     log_sync EIO
 *     commit ENOSPC
 *
 * and makes that point fail with that errno (EIO, ENOSPC, ENOMEM, EINVAL) every
 * time it is reached, until the line is removed. "<point> stall" makes the
 * thread that reaches the point wait there (as in an fdatasync on a hung
 * disk) until the line is removed, then go on without a fault: the test of
 * /healthz's stuck-thread detection (integration.ops_health). The file is read
 * at each point reached (a test rewrites it while atpd runs); a missing file
 * means no faults. Points: log_write  the reservation log's pwrite log_sync the
 * reservation log's fdatasync commit     an LMDB write transaction's commit
 * (after its puts) alloc      store_start's allocations backup     a backup's
 * copy of LMDB (before mdb_env_copy2): "stall" makes a backup as long as the
 * test wants
 */
#ifndef ATP_STORE_FAULT_H
#define ATP_STORE_FAULT_H

typedef enum store_fault_point {
    STORE_FAULT_LOG_WRITE,
    STORE_FAULT_LOG_SYNC,
    STORE_FAULT_COMMIT,
    STORE_FAULT_ALLOC,
    STORE_FAULT_BACKUP,
    STORE_FAULT_COUNT,
} store_fault_point;

#ifdef ATP_STORE_FAULTS
/* store__fault returns the errno to inject at point p, or 0. Any thread. */
int store__fault(store_fault_point p);
#else
#define store__fault(p) ((void)(p), 0)
#endif

#endif
