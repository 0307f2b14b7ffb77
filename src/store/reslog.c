/*
 * reslog.c - the reservation log: record format (encode, decode, CRC32C)
 * and the file (create zero-filled, replay, append + fdatasync). The format
 * is described in store_int.h. Main thread at start-up, then the store's
 * writer thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "store/fault.h"
#include "store/store_int.h"

/* ---- format ---------------------------------------------------------------
 */

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
            store_crc_table[t][i] =
                (store_crc_table[t - 1][i] >> 8) ^
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
        crc = store_crc_table[7][lo & 0xff] ^
              store_crc_table[6][(lo >> 8) & 0xff] ^
              store_crc_table[5][(lo >> 16) & 0xff] ^
              store_crc_table[4][lo >> 24] ^ store_crc_table[3][b[4]] ^
              store_crc_table[2][b[5]] ^ store_crc_table[1][b[6]] ^
              store_crc_table[0][b[7]];
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
        len += STORE_LOG_OP_HDR + ops[i].key_len +
               (ops[i].val ? ops[i].val_len : 0);
    return len;
}

size_t store__log_padded(size_t len)
{
    return (len + STORE_LOG_ALIGN - 1) / STORE_LOG_ALIGN * STORE_LOG_ALIGN;
}

void store__log_encode(unsigned char *out, uint64_t epoch, uint64_t lsn,
                       const store_op *ops, size_t n)
{
    unsigned char *p = out + STORE_LOG_HDR;
    for (size_t i = 0; i < n; i++) {
        *p = (unsigned char)ops[i].db;
        store_put32(p + 1, (uint32_t)ops[i].key_len);
        store_put32(p + 5,
                    ops[i].val ? (uint32_t)ops[i].val_len : STORE_LOG_DELETE);
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
    store_put64(out + 8, epoch);
    store_put64(out + 16, lsn);
    store_put32(out + 24, (uint32_t)payload);
    store_put32(out + 28, (uint32_t)n);
    store_put32(out + 4,
                store__crc32c(0, out + 8, STORE_LOG_HDR - 8 + payload));
}

store_log_status store__log_decode(const unsigned char *buf, size_t len,
                                   uint64_t *epoch, uint64_t *lsn,
                                   size_t *rec_len, store_op *ops, size_t cap,
                                   size_t *n_ops)
{
    if (len < STORE_LOG_HDR)
        return len >= 4 && store_get32(buf) == STORE_LOG_MAGIC ? STORE_LOG_TORN
                                                               : STORE_LOG_END;
    if (store_get32(buf) != STORE_LOG_MAGIC)
        return STORE_LOG_END;
    size_t payload = store_get32(buf + 24);
    uint32_t n = store_get32(buf + 28);
    if (payload > len - STORE_LOG_HDR)
        return STORE_LOG_TORN;
    if (n == 0 || store__crc32c(0, buf + 8, STORE_LOG_HDR - 8 + payload) !=
                      store_get32(buf + 4))
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
            ops[i] =
                (store_op){(store_db)db, p, klen,
                           vlen == STORE_LOG_DELETE ? NULL : p + klen, vbytes};
        p += klen + vbytes;
    }
    if (p != end)
        return STORE_LOG_CORRUPT;
    *epoch = store_get64(buf + 8);
    *lsn = store_get64(buf + 16);
    *rec_len = STORE_LOG_HDR + payload;
    *n_ops = n;
    return STORE_LOG_OK;
}

/* ---- file -----------------------------------------------------------------
 */

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
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STORE_LOG_NAME) >=
        sizeof path)
        return ATP_E_IO;
    int fd = open(path, O_RDWR | O_CLOEXEC | (size ? O_CREAT : 0), 0640);
    if (fd < 0)
        return size == 0 && errno == ENOENT ? ATP_OK
                                            : store_log_errno("open", errno);
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

uint64_t store__log_new_epoch(void)
{
    uint64_t e = 0;
    ssize_t r;
    do
        r = getrandom(&e, sizeof e, 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof e) {
        static _Atomic uint64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
            (uint64_t)getpid() << 40 ^ ++counter * 0x9e3779b97f4a7c15u;
    }
    return e != 0 ? e : 1;
}

void store__log_rewind(store_log *l)
{
    l->wpos = 0;
    l->epoch = store__log_new_epoch();
}

/* A forward-only window on the file for replay: [base, base + len). */
typedef struct store_log_win {
    int fd;
    size_t size, base, len, cap;
    unsigned char *b;
} store_log_win;

#define STORE_LOG_READ_CHUNK (1u << 20)

/* Make [pos, pos + need) readable (clipped to the file): *p, *avail. */
static atp_err store_log_win_get(store_log_win *w, size_t pos, size_t need,
                                 const unsigned char **p, size_t *avail)
{
    if (need > w->size - pos)
        need = w->size - pos;
    if (pos < w->base || pos + need > w->base + w->len) {
        size_t keep = pos >= w->base && pos < w->base + w->len
                          ? w->base + w->len - pos
                          : 0;
        if (keep > 0)
            memmove(w->b, w->b + (pos - w->base), keep);
        w->base = pos;
        w->len = keep;
        size_t want = need > STORE_LOG_READ_CHUNK ? need : STORE_LOG_READ_CHUNK;
        if (want > w->size - pos)
            want = w->size - pos;
        if (want > w->cap) {
            unsigned char *nb = realloc(w->b, want);
            if (nb == NULL)
                return ATP_E_NOMEM;
            w->b = nb;
            w->cap = want;
        }
        while (w->len < want) {
            ssize_t r = pread(w->fd, w->b + w->len, want - w->len,
                              (off_t)(pos + w->len));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return store_log_errno("read", r < 0 ? errno : EIO);
            w->len += (size_t)r;
        }
    }
    *p = w->b + (pos - w->base);
    *avail = w->base + w->len - pos;
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
    store_log_win w = {.fd = l->fd, .size = l->size};
    size_t pos = 0, cap = 0;
    store_op *ops = NULL;
    uint64_t prev = 0, epoch0 = 0;
    atp_err err = ATP_OK;
    while (pos < l->size) {
        const unsigned char *p;
        size_t avail;
        if ((err = store_log_win_get(&w, pos, STORE_LOG_HDR, &p, &avail)) !=
            ATP_OK)
            break;
        if (avail >= STORE_LOG_HDR && store_get32(p) == STORE_LOG_MAGIC) {
            /* The whole record, unless its length runs past the file (torn:
             * never read a garbage length's worth). */
            size_t payload = store_get32(p + 24);
            if (payload <= l->size - pos - STORE_LOG_HDR &&
                (err = store_log_win_get(&w, pos, STORE_LOG_HDR + payload, &p,
                                         &avail)) != ATP_OK)
                break;
        }
        if (pos == 0 && avail >= 4 && store_get32(p) == STORE_LOG_MAGIC_V1) {
            /* Never drop what it may hold unapplied: refuse to start. */
            log_error("store",
                      "reservation log in the earlier format (magic ATPL): "
                      "start the earlier atpd once and stop it cleanly (that "
                      "applies and clears the log), then start this one");
            err = ATP_E_IO;
            break;
        }
        uint64_t epoch, lsn;
        size_t rec_len, n;
        store_log_status st =
            store__log_decode(p, avail, &epoch, &lsn, &rec_len, NULL, 0, &n);
        if (st == STORE_LOG_END && pos % STORE_LOG_ALIGN != 0) {
            pos = store__log_padded(pos); /* an append's padding */
            continue;
        }
        if (st == STORE_LOG_TORN || st == STORE_LOG_CORRUPT) {
            *bad = 1;
            log_warn("store",
                     "reservation log: %s record at offset %zu ignored "
                     "(replay stops before it: an append that never completed)",
                     st == STORE_LOG_TORN ? "torn" : "corrupt", pos);
        }
        if (st != STORE_LOG_OK ||
            (pos > 0 && (epoch != epoch0 || lsn != prev + 1)))
            break;
        if (pos == 0)
            epoch0 = epoch;
        if (lsn > applied) {
            if (n > cap) {
                store_op *grown = realloc(ops, n * sizeof *ops);
                if (grown == NULL) {
                    err = ATP_E_NOMEM;
                    break;
                }
                ops = grown;
                cap = n;
            }
            store__log_decode(p, avail, &epoch, &lsn, &rec_len, ops, cap, &n);
            if ((err = fn(ctx, lsn, ops, n)) != ATP_OK)
                break;
            *last = lsn;
        }
        prev = lsn;
        pos += rec_len;
    }
    free(ops);
    free(w.b);
    return err;
}

/* Best effort after a failed append: zero the magic of each record of buf
 * where it was written, and sync, so a replay never applies them. */
static void store_log_void(store_log *l, const unsigned char *buf, size_t len)
{
    static const unsigned char zero[4];
    size_t pos = 0, voided = 0;
    bool ok = true;
    while (pos < len && len - pos >= STORE_LOG_HDR &&
           store_get32(buf + pos) == STORE_LOG_MAGIC) {
        ok = pwrite(l->fd, zero, sizeof zero, (off_t)(l->wpos + pos)) ==
                 (ssize_t)sizeof zero &&
             ok;
        voided++;
        pos += STORE_LOG_HDR + store_get32(buf + pos + 24);
    }
    if (!ok || fdatasync(l->fd) != 0)
        log_warn("store",
                 "reservation log: the %zu records of a refused append "
                 "could not all be voided on disk (a restart after a crash may "
                 "replay them)",
                 voided);
}

atp_err store__log_append(store_log *l, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        int fault = store__fault(STORE_FAULT_LOG_WRITE);
        ssize_t w = fault ? (errno = fault, -1)
                          : pwrite(l->fd, p + done, len - done,
                                   (off_t)(l->wpos + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            atp_err err = store_log_errno("write", w < 0 ? errno : EIO);
            store_log_void(l, p, len);
            return err;
        }
        done += (size_t)w;
    }
    int fault = store__fault(STORE_FAULT_LOG_SYNC);
    int64_t t0 = clock_mono_ns();
    int e = fault ? fault : fdatasync(l->fd) != 0 ? errno : 0;
    if (l->sync_hist != NULL && !fault) /* a real sync, failed ones too */
        metrics_hist_observe(l->sync_hist, (uint64_t)(clock_mono_ns() - t0));
    if (e != 0) {
        atp_err err = store_log_errno("fdatasync", e);
        store_log_void(l, p, len);
        return err;
    }
    l->wpos += len;
    return ATP_OK;
}

atp_err store__log_clear(store_log *l)
{
    static const unsigned char zero[4];
    ssize_t w = pwrite(l->fd, zero, sizeof zero, 0);
    if (w != (ssize_t)sizeof zero)
        return store_log_errno("clear", w < 0 ? errno : EIO);
    if (fdatasync(l->fd) != 0)
        return store_log_errno("clear (fdatasync)", errno);
    l->wpos = 0;
    return ATP_OK;
}

void store__log_close(store_log *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* ---- summary (atpctl inspect) ------------------------------------------- */

typedef struct store_log_count {
    store_log_summary *out;
    uint64_t applied;
} store_log_count;

static atp_err store_log_count_cb(void *ctx, uint64_t lsn, const store_op *ops,
                                  size_t n)
{
    (void)ops;
    store_log_count *c = ctx;
    store_log_summary *o = c->out;
    if (o->records++ == 0)
        o->first_lsn = lsn;
    o->last_lsn = lsn;
    o->ops += n;
    if (lsn > c->applied) {
        o->pending++;
        o->pending_ops += n;
    }
    return ATP_OK;
}

atp_err store_log_summary_get(const char *dir, uint64_t applied,
                              store_log_summary *out)
{
    memset(out, 0, sizeof *out);
    store_log l;
    atp_err err = store__log_open(&l, dir, 0);
    if (err != ATP_OK || l.fd < 0)
        return err;
    out->present = true;
    out->file_bytes = l.size;
    store_log_count c = {out, applied};
    uint64_t last = 0;
    int bad = 0;
    err = store__log_replay(&l, 0, store_log_count_cb, &c, &last, &bad);
    out->torn = bad != 0;
    store__log_close(&l);
    return err;
}
