/*
 * fuzz_store_log.c - libFuzzer target for the reservation log read back
 * at start-up (reservations.log: after a crash it may end in a torn or
 * corrupt record, or hold anything a bad disk or copy left):
 * store__log_replay, the loop store_open and store_log_summary_get (atpctl
 * inspect) run, over a memory file holding the input, and store__log_decode
 * on the input's first record.
 *
 * Input: [control byte] [the file]. Control bit 0: before the replay, set
 * the CRC32C of each record the replay would reach to the right value
 * (libFuzzer cannot invert a CRC; without this its mutations never get past
 * the check into the ops). Bits 1-3: the LSN already applied to LMDB.
 *
 * Checks: the ops handed to the callback lie inside the file's record and
 * are read whole (ASan sees any byte beyond), LSNs come in order above the
 * applied one, and decode's answer on a buffer of exactly the input's size
 * agrees with its ops. Single-threaded.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "store/store_int.h"

static uint32_t fuzz_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* fuzz_fix_crcs walks the records as the replay does and rewrites each
 * one's CRC (bytes 4..8, over bytes 8.. of the header and the payload). */
static void fuzz_fix_crcs(unsigned char *b, size_t len)
{
    size_t pos = 0;
    while (pos < len && len - pos >= STORE_LOG_HDR) {
        unsigned char *p = b + pos;
        size_t payload = fuzz_get32(p + 24);
        if (fuzz_get32(p) != STORE_LOG_MAGIC) {
            if (pos % STORE_LOG_ALIGN == 0)
                return;
            pos = store__log_padded(pos);
            continue;
        }
        if (payload > len - pos - STORE_LOG_HDR)
            return;
        uint32_t crc = store__crc32c(0, p + 8, STORE_LOG_HDR - 8 + payload);
        memcpy(p + 4, &crc, 4); /* little endian, as the format is */
        pos += STORE_LOG_HDR + payload;
    }
}

typedef struct fuzz_replay {
    const unsigned char *file;
    size_t len;
    uint64_t applied, prev;
    uint64_t sum; /* of every byte handed over: each is read */
} fuzz_replay;

static atp_err fuzz_replay_cb(void *ctx, uint64_t lsn, const store_op *ops,
                              size_t n)
{
    fuzz_replay *r = ctx;
    fuzz_check(lsn > r->applied && (r->prev == 0 || lsn == r->prev + 1),
               "replay handed over an LSN out of order");
    r->prev = lsn;
    fuzz_check(n > 0, "a record without ops");
    for (size_t i = 0; i < n; i++) {
        fuzz_check(ops[i].db < STORE_DB_COUNT && ops[i].key_len > 0,
                   "an op with a bad db or an empty key");
        const unsigned char *k = ops[i].key, *v = ops[i].val;
        for (size_t j = 0; j < ops[i].key_len; j++)
            r->sum += k[j];
        fuzz_check(v != NULL || ops[i].val_len == 0, "a delete with a value");
        for (size_t j = 0; v != NULL && j < ops[i].val_len; j++)
            r->sum += v[j];
    }
    return ATP_OK;
}

/* store__log_decode on exactly the file's bytes: OK only with its ops
 * inside, as many as it says. */
static void fuzz_decode(const unsigned char *file, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    fuzz_check(b != NULL, "out of memory");
    memcpy(b, file, len);
    uint64_t epoch, lsn;
    size_t rec_len, n;
    store_op ops[16];
    store_log_status st =
        store__log_decode(b, len, &epoch, &lsn, &rec_len, ops, 16, &n);
    if (st == STORE_LOG_OK) {
        fuzz_check(rec_len >= STORE_LOG_HDR && rec_len <= len && n > 0,
                   "a decoded record larger than the file");
        for (size_t i = 0; i < n && i < 16; i++)
            fuzz_check((const unsigned char *)ops[i].key >= b + STORE_LOG_HDR &&
                           (const unsigned char *)ops[i].key + ops[i].key_len +
                                   ops[i].val_len <=
                               b + rec_len,
                       "an op outside its record");
    }
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        fuzz_logs_all();
        fd = memfd_create("reservations.log", MFD_CLOEXEC);
        fuzz_check(fd >= 0, "memfd_create");
    }
    if (size == 0)
        return 0;
    size_t len = size - 1;
    unsigned char *file = malloc(len ? len : 1);
    fuzz_check(file != NULL, "out of memory");
    memcpy(file, data + 1, len);
    if (data[0] & 1)
        fuzz_fix_crcs(file, len);
    fuzz_decode(file, len);

    fuzz_check(ftruncate(fd, 0) == 0 && ftruncate(fd, (off_t)len) == 0 &&
                   pwrite(fd, file, len, 0) == (ssize_t)len,
               "writing the memory file");
    store_log l = {.fd = fd, .size = len};
    fuzz_replay r = {.file = file, .len = len, .applied = (data[0] >> 1) & 7};
    uint64_t last;
    int bad;
    atp_err err =
        store__log_replay(&l, r.applied, fuzz_replay_cb, &r, &last, &bad);
    fuzz_check(err == ATP_OK || err == ATP_E_IO,
               "replay failed other than on the format");
    fuzz_check(last >= r.applied && (r.prev == 0 || last == r.prev),
               "replay's last LSN is not the last one handed over");
    free(file);
    return 0;
}
