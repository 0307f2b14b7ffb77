/*
 * backup.c - store_backup: a consistent copy of the LMDB environment while
 * atpd runs. The request travels through the store's queue as a barrier,
 * so the copy is taken on the thread that owns LMDB writes (the applier
 * with the reservation log, the writer without), after every group queued
 * before it is committed to LMDB: every write acknowledged before the
 * backup was asked for is in the copy, and no log is needed beside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "store/fault.h"
#include "store/store_int.h"

/* store_backup_dir_ready makes dir, or accepts it empty. */
static atp_err store_backup_dir_ready(const char *dir, char *why,
                                      size_t why_len)
{
    if (dir[0] != '/') {
        snprintf(why, why_len,
                 "backup directory '%s' is not an absolute path "
                 "(it is on atpd's machine, relative to nothing)",
                 dir);
        return ATP_E_BAD_REQUEST;
    }
    if (mkdir(dir, 0750) == 0)
        return ATP_OK;
    if (errno != EEXIST) {
        snprintf(why, why_len, "cannot create backup directory %s: %s", dir,
                 strerror(errno));
        return ATP_E_IO;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(why, why_len, "backup directory %s: %s", dir, strerror(errno));
        return ATP_E_IO;
    }
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty) {
        snprintf(why, why_len,
                 "backup directory %s is not empty: give a new "
                 "or empty one (a backup never overwrites)",
                 dir);
        return ATP_E_CONFLICT;
    }
    return ATP_OK;
}

atp_err store_backup(store *s, const char *dir, store_done_fn done, void *arg,
                     char *why, size_t why_len)
{
    atp_err err = store_backup_dir_ready(dir, why, why_len);
    if (err != ATP_OK)
        return err;
    store_group *g = store__group_new(NULL, 0, done, arg);
    char *copy = strdup(dir);
    if (g == NULL || copy == NULL) {
        free(g);
        free(copy);
        snprintf(why, why_len, "out of memory");
        return ATP_E_NOMEM;
    }
    g->backup_dir = copy;
    if ((err = queue_push(&s->q, &g)) != ATP_OK) {
        store__group_free(g);
        snprintf(why, why_len, "atpd is stopping");
    }
    return err;
}

/* store_backup_sync makes the copied file and its directory entry durable. */
static int store_backup_sync(const char *dir, off_t *size)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
        return ENAMETOOLONG;
    int fd = open(path, O_RDONLY);
    int rc = 0;
    struct stat st;
    if (fd < 0 || fsync(fd) != 0 || fstat(fd, &st) != 0)
        rc = errno;
    else
        *size = st.st_size;
    if (fd >= 0)
        close(fd);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = rc ? rc : errno;
    if (dfd >= 0)
        close(dfd);
    return rc;
}

atp_err store__backup_copy(store *s, const char *dir)
{
    int64_t t0 = clock_mono_ms();
    if (s->env == NULL) { /* a reopen failed; the next commit retries */
        log_error("store", "backup to %s: the environment is not open", dir);
        return ATP_E_IO;
    }
    /* MDB_CP_COMPACT: free pages are left out, so the copy is as large as
     * the data, not as the map. It reads in one read transaction: a
     * consistent state, whatever commits meanwhile (none on this thread). */
    int rc = store__fault(STORE_FAULT_BACKUP);
    if (rc == 0)
        rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    /* LMDB creates the copy 0644 (less the umask): a backup is as private
     * as the data directory's files (0640). */
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (rc == 0 && chmod(path, 0640) != 0)
        rc = errno;
    off_t size = 0;
    if (rc == 0)
        rc = store_backup_sync(dir, &size);
    if (rc != 0) {
        log_error("store", "backup to %s failed: %s", dir, mdb_strerror(rc));
        return rc == ENOSPC ? ATP_E_STORE_FULL : ATP_E_IO;
    }
    log_info("store",
             "backup to %s: %lld bytes in %lld ms (reservation log "
             "applied through LSN %llu)",
             dir, (long long)size, (long long)(clock_mono_ms() - t0),
             (unsigned long long)atomic_load(&s->log_applied));
    return ATP_OK;
}
