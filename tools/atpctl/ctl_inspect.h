/*
 * ctl_inspect.h - atpctl's operator views beyond one reply rendered as is:
 *
 *   - `inspect DATA_DIR`: an offline look at atpd's LMDB store, opened
 *     read-only through the store module (which alone includes <lmdb.h>),
 *     so it works while atpd runs and never changes the data;
 *   - the `sources` table with the resync columns (short and --wide);
 *   - the `snapshot` verdict.
 *
 * Main thread of atpctl. Rendering is pure formatting; ctl_inspect_load is
 * the only function that touches the disk.
 */
#ifndef ATP_CTL_INSPECT_H
#define ATP_CTL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atp/error.h"
#include "codec/codec.h"
#include "store/store.h"

/* One LMDB file of the environment as the file system sees it. */
typedef struct ctl_inspect_file {
    bool present;
    uint64_t bytes;     /* st_size */
    uint64_t allocated; /* st_blocks * 512: what the disk really holds */
} ctl_inspect_file;

/* One row of the offsets database: what atpd last stored for a source. */
typedef struct ctl_inspect_offset {
    char *id;       /* owned; control bytes replaced by '?' */
    bool valid;     /* the value is the expected 2 x uint64 LE */
    uint64_t seq;   /* last applied sequence number */
    uint64_t ts_ms; /* the source's timestamp of that message */
} ctl_inspect_offset;

#define CTL_INSPECT_FORMAT_MAX 64

typedef struct ctl_inspect {
    store_info info;
    char format[CTL_INSPECT_FORMAT_MAX]; /* meta "format"; "" when absent */
    ctl_inspect_file data, lock;         /* data.mdb, lock.mdb */
    ctl_inspect_offset *offsets;         /* owned, in key order */
    size_t n_offsets;
    store_log_summary log; /* reservations.log */
} ctl_inspect;

/* The store format this atpctl knows (src/store/store.c, meta "format"). */
#define CTL_INSPECT_KNOWN_FORMAT "atpd-1"

/* ctl_inspect_load opens the store in dir read-only, reads its summary into
 * *out (caller's storage; ctl_inspect_fini it in every case) and closes it.
 * Returns ATP_OK; ATP_E_NOT_FOUND when dir is not an atpd data directory
 * (missing, not a directory, no data.mdb); ATP_E_IO when LMDB cannot read
 * it (not an LMDB file, permissions, a lock file that cannot be created);
 * ATP_E_NOMEM. On error, err says why in one line. */
atp_err ctl_inspect_load(const char *dir, ctl_inspect *out, char *err,
                         size_t err_len);
void ctl_inspect_fini(ctl_inspect *in);

/* ctl_inspect_render writes the human summary: files, map use, databases,
 * the reservation log (records in its chain, and those LMDB has not
 * applied yet), source offsets (seq and UTC time). */
void ctl_inspect_render(const ctl_inspect *in, const char *dir, FILE *f);

/* ctl_inspect_write_json writes the summary as one JSON line (no newline):
 * {"dir", "format", "files": {"data.mdb": {"bytes", "allocated"}, ...},
 *  "map": {"map_bytes", "used_bytes", "used_percent", "page_size",
 *          "readers_used", "readers_max"},
 *  "entries": {"reservations": n, "meta": n, "positions": n, "offsets": n,
 *              "lots": n, "admin": n},
 *  "offsets": [{"source", "seq", "ts_ms", "ts"} or {"source", "malformed"}],
 *  "reservation_log": null (no file) or {"bytes", "records", "ops",
 *          "first_lsn", "last_lsn", "applied_lsn", "pending", "pending_ops",
 *          "torn"}}.
 * Returns false on out of memory (nothing written). */
bool ctl_inspect_write_json(const ctl_inspect *in, const char *dir, FILE *f);

/* ctl_inspect_fmt_bytes writes n as "812 B", "4.0 KiB", "1.5 MiB", ... */
void ctl_inspect_fmt_bytes(uint64_t n, char *buf, size_t size);

/* ctl_inspect_fmt_utc_ms writes ms since the epoch as
 * "2025-01-02T03:04:05.678Z". */
void ctl_inspect_fmt_utc_ms(uint64_t ms, char *buf, size_t size);

/* ctl_inspect_render_sources writes the `sources` reply as a table. Short
 * form: SOURCE STATE LAST_SEQ LAG_MS AGE_MS MESSAGES GAPS MISSED REJECTED
 * HELD RESYNCS SNAPSHOTS LAST_HB, then one note per source that is not ok
 * (what it waits for). wide adds every other counter of the reply. */
void ctl_inspect_render_sources(const codec_val *reply, bool wide, FILE *f);

/* ctl_inspect_render_snapshot writes "snapshot stored: N positions in M ms". */
/* ctl_inspect_render_backup prints a backup reply (directory, time). */
void ctl_inspect_render_backup(const codec_val *reply, FILE *f);
void ctl_inspect_render_snapshot(const codec_val *reply, FILE *f);

#endif
