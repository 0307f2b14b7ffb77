/*
 * applied.c - the "applied" file: per source, the highest seq atpd has
 * applied (docs/PROTOCOL.md, "Expiry, consumption, retention").
 *
 * Why a mapped file and not LMDB: it changes with every source message
 * (millions per second at ingest), and what it must survive is a kill -9,
 * not a power loss. A store into a MAP_SHARED mapping is in the kernel's
 * page cache at once; the process dying does not lose it, and the kernel
 * writes the page back by itself. Cost per message: one compare and one
 * 8-byte store, no system call.
 *
 * Layout (little endian, native on every platform atpd builds for):
 *
 *   | offset | size | field                                              |
 *   |--------|------|----------------------------------------------------|
 *   | 0      | 4    | magic "ATPA" (0x41505441)                          |
 *   | 4      | 4    | version 1                                          |
 *   | 8      | 8    | store id (META "store_id" of the LMDB environment) |
 *   | 16     | 4    | number of slots                                    |
 *   | 20     | 44   | zero                                               |
 *   | 64     | 32 n | slots: id_len u8, id[23], seq u64 (offset 24)      |
 *
 * A source id of up to 23 bytes is kept as is; a longer one as its first
 * 18 bytes, its CRC32C (4) and its length (1), with id_len 0xff. A slot
 * with id_len 0 is free. A file of another store (its id differs: a wiped
 * or new LMDB environment next to an old file) or one that does not parse
 * is replaced by an empty one: its seqs describe another history. 16,448
 * bytes (64 + 512 x 32), every block allocated before it is mapped, and
 * locked (flock) while mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

#define APPLIED_MAGIC 0x41505441u
#define APPLIED_VERSION 1u
#define APPLIED_HDR 64u
#define APPLIED_SLOT 32u
#define APPLIED_ID_MAX 23u
#define APPLIED_LONG 0xffu
/* More than CONFIG_MAX_SOURCES (256): room for sources removed from the
 * config, whose slots are kept in case they come back. */
#define APPLIED_SLOTS 512u
#define APPLIED_BYTES (APPLIED_HDR + APPLIED_SLOTS * APPLIED_SLOT)

typedef struct applied_hdr {
    uint32_t magic, version;
    uint64_t store_id;
    uint32_t n_slots;
    unsigned char zero[44];
} applied_hdr;

typedef struct applied_slot {
    uint8_t id_len;
    char id[APPLIED_ID_MAX];
    uint64_t seq;
} applied_slot;

_Static_assert(sizeof(applied_hdr) == APPLIED_HDR,
               "applied header is 64 bytes");
_Static_assert(sizeof(applied_slot) == APPLIED_SLOT,
               "applied slot is 32 bytes");

struct store_applied {
    int fd; /* open (and locked) while mapped */
    void *map;
    size_t n;           /* configured sources */
    uint64_t **slot_of; /* [n]: the seq of each configured source */
};

/* applied_key fills the id bytes a slot keeps for id (see the layout). */
static void applied_key(const char *id, uint8_t *len, char key[APPLIED_ID_MAX])
{
    size_t n = strlen(id);
    memset(key, 0, APPLIED_ID_MAX);
    if (n <= APPLIED_ID_MAX) {
        *len = (uint8_t)n;
        memcpy(key, id, n);
        return;
    }
    *len = APPLIED_LONG;
    memcpy(key, id, 18);
    uint32_t crc = store__crc32c(0, id, n);
    memcpy(key + 18, &crc, 4);
    key[22] = (char)(n & 0xff);
}

/* applied_valid: a header this version wrote for this store. */
static bool applied_valid(const applied_hdr *h, uint64_t store_id)
{
    return h->magic == APPLIED_MAGIC && h->version == APPLIED_VERSION &&
           h->store_id == store_id && h->n_slots == APPLIED_SLOTS;
}

/* applied_match gives each configured id its slot: the one keeping its id,
 * else a free one, else (every slot taken by sources no longer configured)
 * the first slot no configured id uses, emptied. */
static bool applied_match(store_applied *a, applied_slot *slots,
                          const char *const *ids, size_t n)
{
    bool *used = calloc(APPLIED_SLOTS, sizeof *used);
    if (used == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t len;
        char key[APPLIED_ID_MAX];
        applied_key(ids[i], &len, key);
        for (size_t j = 0; j < APPLIED_SLOTS && a->slot_of[i] == NULL; j++)
            if (!used[j] && slots[j].id_len == len &&
                memcmp(slots[j].id, key, sizeof key) == 0) {
                used[j] = true;
                a->slot_of[i] = &slots[j].seq;
            }
    }
    for (size_t i = 0; i < n; i++) {
        if (a->slot_of[i] != NULL)
            continue;
        size_t j = 0;
        while (j < APPLIED_SLOTS && (used[j] || slots[j].id_len != 0))
            j++;
        if (j == APPLIED_SLOTS)
            for (j = 0; used[j]; j++) /* n <= 256 < APPLIED_SLOTS: ends */
                ;
        used[j] = true;
        applied_key(ids[i], &slots[j].id_len, slots[j].id);
        __atomic_store_n(&slots[j].seq, 0, __ATOMIC_RELAXED);
        a->slot_of[i] = &slots[j].seq;
    }
    free(used);
    return true;
}

atp_err store_applied_open(const char *dir, uint64_t store_id,
                           const char *const *ids, size_t n,
                           store_applied **out)
{
    char path[4096];
    if (n > 256 || (size_t)snprintf(path, sizeof path, "%s/%s", dir,
                                    STORE_APPLIED_NAME) >= sizeof path)
        return ATP_E_CONFIG;
    store_applied *a = calloc(1, sizeof *a);
    if (a == NULL ||
        (a->slot_of = calloc(n ? n : 1, sizeof *a->slot_of)) == NULL) {
        free(a);
        return ATP_E_NOMEM;
    }
    a->n = n;
    a->map = MAP_FAILED;
    a->fd = -1;
    atp_err err = ATP_E_IO;
    if (store_id == 0) /* the store could not record its id */
        goto fail;
    a->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (a->fd < 0 || fstat(a->fd, &st) != 0) {
        log_warn("store", "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    /* Held while mapped: a second atpd on the same data directory (other
     * ports) must neither resize the file under this one's mapping
     * (SIGBUS) nor mix its seqs in. */
    if (flock(a->fd, LOCK_EX | LOCK_NB) != 0) {
        log_warn("store", "%s is locked by another process: %s", path,
                 strerror(errno));
        goto fail;
    }
    if (st.st_size != (off_t)APPLIED_BYTES && st.st_size != 0)
        log_warn("store", "%s has %lld bytes, not %u: started again", path,
                 (long long)st.st_size, APPLIED_BYTES);
    /* Every block allocated before the mapping is used, always (a file of
     * the right size may still have holes: copied with cp or rsync -S):
     * a store into a hole on a full disk would be SIGBUS at the page
     * fault; here it is ENOSPC, and atpd runs without the file. A
     * copy-on-write filesystem (btrfs, ZFS) can still fail a write-back
     * later; the kernel then reports it, not atpd (docs/OPERATIONS.md). */
    if ((st.st_size != (off_t)APPLIED_BYTES &&
         ftruncate(a->fd, APPLIED_BYTES) != 0) ||
        (errno = posix_fallocate(a->fd, 0, APPLIED_BYTES)) != 0) {
        log_warn("store", "cannot size %s: %s", path, strerror(errno));
        goto fail;
    }
    a->map =
        mmap(NULL, APPLIED_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->map == MAP_FAILED) {
        log_warn("store", "cannot map %s: %s", path, strerror(errno));
        goto fail;
    }
    applied_hdr *h = a->map;
    if (!applied_valid(h, store_id)) {
        if (h->magic != 0)
            log_warn("store",
                     "%s belongs to another store or version: started again",
                     path);
        memset(a->map, 0, APPLIED_BYTES);
        h->magic = APPLIED_MAGIC;
        h->version = APPLIED_VERSION;
        h->store_id = store_id;
        h->n_slots = APPLIED_SLOTS;
    }
    err = ATP_E_NOMEM;
    if (!applied_match(a, (applied_slot *)((char *)a->map + APPLIED_HDR), ids,
                       n))
        goto fail;
    *out = a;
    return ATP_OK;
fail:
    store_applied_close(a);
    return err;
}

uint64_t *store_applied_slot(store_applied *a, size_t i)
{
    return i < a->n ? a->slot_of[i] : NULL;
}

void store_applied_close(store_applied *a)
{
    if (a == NULL)
        return;
    /* No msync: a kill -9 does not lose the page cache; a power loss is
     * not covered (docs/PROTOCOL.md says what a restart then knows). */
    if (a->map != MAP_FAILED && a->map != NULL)
        munmap(a->map, APPLIED_BYTES);
    if (a->fd >= 0)
        close(a->fd); /* and its lock */
    free(a->slot_of);
    free(a);
}
