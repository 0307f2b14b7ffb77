/*
 * reslog.c - the reservation log: record format (encode, decode, CRC32C)
 * and the file (create zero-filled, replay, append + fdatasync). The format
 * is described in store_int.h. Main thread at start-up, then the store's
 * writer thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store_int.h"

/* ---- format --------------------------------------------------------------- */

static uint32_t store_crc_table[8][256];
static pthread_once_t store_crc_once = PTHREAD_ONCE_INIT;

static void store_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        store_crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            store_crc_table[t][i] = (store_crc_table[t - 1][i] >> 8) ^
                                    store_crc_table[0][store_crc_table[t - 1][i] & 0xff];
}

/* Slicing by 8: a record is a few hundred bytes, encoded on the writer
 * thread for every reservation group. */
uint32_t store__crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&store_crc_once, store_crc_init);
    const unsigned char *b = p;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                             (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        crc = store_crc_table[7][lo & 0xff] ^ store_crc_table[6][(lo >> 8) & 0xff] ^
              store_crc_table[5][(lo >> 16) & 0xff] ^ store_crc_table[4][lo >> 24] ^
              store_crc_table[3][b[4]] ^ store_crc_table[2][b[5]] ^
              store_crc_table[1][b[6]] ^ store_crc_table[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = (crc >> 8) ^ store_crc_table[0][(crc ^ *b++) & 0xff];
    return ~crc;
}

static void store_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void store_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t store_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t store_get64(const unsigned char *p)
{
    return (uint64_t)store_get32(p) | (uint64_t)store_get32(p + 4) << 32;
}

size_t store__log_record_size(const store_op *ops, size_t n)
{
    size_t len = STORE_LOG_HDR;
    for (size_t i = 0; i < n; i++)
        len += STORE_LOG_OP_HDR + ops[i].key_len + (ops[i].val ? ops[i].val_len : 0);
    return len;
}

void store__log_encode(unsigned char *out, uint64_t lsn, const store_op *ops,
                       size_t n)
{
    unsigned char *p = out + STORE_LOG_HDR;
    for (size_t i = 0; i < n; i++) {
        *p = (unsigned char)ops[i].db;
        store_put32(p + 1, (uint32_t)ops[i].key_len);
        store_put32(p + 5, ops[i].val ? (uint32_t)ops[i].val_len : STORE_LOG_DELETE);
        p += STORE_LOG_OP_HDR;
        memcpy(p, ops[i].key, ops[i].key_len);
        p += ops[i].key_len;
        if (ops[i].val != NULL) {
            memcpy(p, ops[i].val, ops[i].val_len);
            p += ops[i].val_len;
        }
    }
    size_t payload = (size_t)(p - out) - STORE_LOG_HDR;
    store_put32(out, STORE_LOG_MAGIC);
    store_put64(out + 8, lsn);
    store_put32(out + 16, (uint32_t)payload);
    store_put32(out + 20, (uint32_t)n);
    store_put32(out + 4, store__crc32c(0, out + 8, STORE_LOG_HDR - 8 + payload));
}

store_log_status store__log_decode(const unsigned char *buf, size_t len,
                                   uint64_t *lsn, size_t *rec_len,
                                   store_op *ops, size_t cap, size_t *n_ops)
{
    if (len < STORE_LOG_HDR)
        return len >= 4 && store_get32(buf) == STORE_LOG_MAGIC ? STORE_LOG_TORN
                                                                : STORE_LOG_END;
    if (store_get32(buf) != STORE_LOG_MAGIC)
        return STORE_LOG_END;
    size_t payload = store_get32(buf + 16);
    uint32_t n = store_get32(buf + 20);
    if (payload > len - STORE_LOG_HDR)
        return STORE_LOG_TORN;
    if (n == 0 ||
        store__crc32c(0, buf + 8, STORE_LOG_HDR - 8 + payload) != store_get32(buf + 4))
        return STORE_LOG_CORRUPT;
    const unsigned char *p = buf + STORE_LOG_HDR, *end = p + payload;
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < STORE_LOG_OP_HDR)
            return STORE_LOG_CORRUPT;
        unsigned db = p[0];
        size_t klen = store_get32(p + 1);
        uint32_t vlen = store_get32(p + 5);
        size_t vbytes = vlen == STORE_LOG_DELETE ? 0 : vlen;
        p += STORE_LOG_OP_HDR;
        if (db >= STORE_DB_COUNT || klen == 0 || klen > (size_t)(end - p) ||
            vbytes > (size_t)(end - p) - klen)
            return STORE_LOG_CORRUPT;
        if (ops != NULL && i < cap)
            ops[i] = (store_op){(store_db)db, p, klen,
                                vlen == STORE_LOG_DELETE ? NULL : p + klen, vbytes};
        p += klen + vbytes;
    }
    if (p != end)
        return STORE_LOG_CORRUPT;
    *lsn = store_get64(buf + 8);
    *rec_len = STORE_LOG_HDR + payload;
    *n_ops = n;
    return STORE_LOG_OK;
}

/* ---- file ----------------------------------------------------------------- */

static atp_err store_log_errno(const char *what, int e)
{
    log_error("store", "reservation log: %s: %s", what, strerror(e));
    return e == ENOSPC || e == EDQUOT ? ATP_E_STORE_FULL : ATP_E_IO;
}

/* Zero-fill from the current end to size: written (not merely allocated)
 * blocks, so an append's fdatasync has no extent conversion to journal. */
static atp_err store_log_fill(int fd, size_t from, size_t size)
{
    int rc = posix_fallocate(fd, (off_t)from, (off_t)(size - from));
    if (rc != 0)
        return store_log_errno("preallocate", rc);
    enum { CHUNK = 1 << 20 };
    void *zero = calloc(1, CHUNK);
    if (zero == NULL)
        return ATP_E_NOMEM;
    for (size_t off = from; off < size;) {
        size_t len = size - off < CHUNK ? size - off : CHUNK;
        ssize_t w = pwrite(fd, zero, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(zero);
            return store_log_errno("zero-fill", w < 0 ? errno : EIO);
        }
        off += (size_t)w;
    }
    free(zero);
    return fsync(fd) == 0 ? ATP_OK : store_log_errno("fsync", errno);
}

atp_err store__log_open(store_log *l, const char *dir, size_t size)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STORE_LOG_NAME) >= sizeof path)
        return ATP_E_IO;
    int fd = open(path, O_RDWR | O_CLOEXEC | (size ? O_CREAT : 0), 0640);
    if (fd < 0)
        return size == 0 && errno == ENOENT ? ATP_OK : store_log_errno("open", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        atp_err err = store_log_errno("stat", errno);
        close(fd);
        return err;
    }
    l->fd = fd;
    l->size = (size_t)st.st_size;
    if (size > l->size) {
        atp_err err = store_log_fill(fd, l->size, size);
        if (err != ATP_OK) {
            /* Leave it as it was: what it held is still to be replayed. */
            if (ftruncate(fd, (off_t)l->size) != 0)
                log_warn("store", "reservation log: cannot shrink back: %s",
                         strerror(errno));
            return err;
        }
        l->size = size;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { /* the new file's directory entry */
            if (fsync(dfd) != 0)
                log_warn("store", "reservation log: fsync of %s: %s", dir,
                         strerror(errno));
            close(dfd);
        }
    }
    return ATP_OK;
}

atp_err store__log_replay(store_log *l, uint64_t applied,
                          atp_err (*fn)(void *ctx, uint64_t lsn,
                                        const store_op *ops, size_t n),
                          void *ctx, uint64_t *last, int *bad)
{
    *last = applied;
    *bad = 0;
    if (l->fd < 0 || l->size == 0)
        return ATP_OK;
    unsigned char *map = malloc(l->size);
    if (map == NULL)
        return ATP_E_NOMEM;
    size_t have = 0; /* read lazily: a clean log is mostly zeros */
    size_t pos = 0, cap = 0;
    store_op *ops = NULL;
    uint64_t prev = 0;
    atp_err err = ATP_OK;
    for (;;) {
        /* Make sure the header and then the whole record are read. */
        size_t want = pos + STORE_LOG_HDR;
        for (int pass = 0; pass < 2; pass++) {
            if (want > l->size)
                want = l->size;
            while (have < want) {
                size_t chunk = l->size - have < (1u << 20) ? l->size - have : (1u << 20);
                ssize_t r = pread(l->fd, map + have, chunk, (off_t)have);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    err = store_log_errno("read", r < 0 ? errno : EIO);
                    goto out;
                }
                have += (size_t)r;
            }
            if (pass == 0 && have - pos >= STORE_LOG_HDR &&
                memcmp(map + pos, "\x41\x54\x50\x4c", 4) == 0) {
                size_t payload = (size_t)map[pos + 16] | (size_t)map[pos + 17] << 8 |
                                 (size_t)map[pos + 18] << 16 | (size_t)map[pos + 19] << 24;
                want = pos + STORE_LOG_HDR + payload;
            } else {
                break;
            }
        }
        uint64_t lsn;
        size_t rec_len, n;
        store_log_status st =
            store__log_decode(map + pos, have - pos, &lsn, &rec_len, NULL, 0, &n);
        if (st == STORE_LOG_TORN || st == STORE_LOG_CORRUPT) {
            *bad = 1;
            log_warn("store", "reservation log: %s record at offset %zu ignored "
                     "(replay stops before it: an append that never completed)",
                     st == STORE_LOG_TORN ? "torn" : "corrupt", pos);
        }
        if (st != STORE_LOG_OK || (pos > 0 && lsn != prev + 1))
            break;
        if (lsn > applied) {
            if (n > cap) {
                store_op *grown = realloc(ops, n * sizeof *ops);
                if (grown == NULL) {
                    err = ATP_E_NOMEM;
                    goto out;
                }
                ops = grown;
                cap = n;
            }
            store__log_decode(map + pos, have - pos, &lsn, &rec_len, ops, cap, &n);
            if ((err = fn(ctx, lsn, ops, n)) != ATP_OK)
                goto out;
            *last = lsn;
        }
        prev = lsn;
        pos += rec_len;
    }
out:
    free(ops);
    free(map);
    return err;
}

atp_err store__log_append(store_log *l, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(l->fd, p + done, len - done, (off_t)(l->wpos + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return store_log_errno("write", w < 0 ? errno : EIO);
        done += (size_t)w;
    }
    if (fdatasync(l->fd) != 0)
        return store_log_errno("fdatasync", errno);
    l->wpos += len;
    return ATP_OK;
}

atp_err store__log_clear(store_log *l)
{
    static const unsigned char zero[4];
    if (pwrite(l->fd, zero, sizeof zero, 0) != (ssize_t)sizeof zero ||
        fdatasync(l->fd) != 0)
        return store_log_errno("clear", errno);
    l->wpos = 0;
    return ATP_OK;
}

void store__log_close(store_log *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
