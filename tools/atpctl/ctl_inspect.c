/*
 * ctl_inspect.c - atpctl's inspect, sources and snapshot views (see
 * ctl_inspect.h). Main thread of atpctl.
 *
 * inspect opens the store with store_options.read_only: LMDB's MDB_RDONLY,
 * one short read transaction per scan, no writer thread, nothing created
 * but LMDB's own lock.mdb when it is missing. A running atpd is not
 * disturbed: a reader only pins the pages it reads until its transaction
 * ends, which is at once.
 *
 * Strings read from the store or from a reply are printed with control
 * characters replaced, so a corrupted id cannot move the operator's cursor.
 */
#include "ctl_inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl_render.h"
#include "ctl_resv.h"

/* ---- small formatting helpers ------------------------------------------- */

void ctl_inspect_fmt_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, size, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
}

void ctl_inspect_fmt_utc_ms(uint64_t ms, char *buf, size_t size)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    if (ms / 1000 > (uint64_t)253402300799 || gmtime_r(&sec, &tm) == NULL) {
        /* Past 9999-12-31: not a time a source sends; show the number. */
        snprintf(buf, size, "%" PRIu64 " ms", ms);
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* ctl_inspect_printable copies len bytes of s into a new NUL-terminated
 * string, control bytes (and NUL) replaced by '?'. NULL on out of memory. */
static char *ctl_inspect_printable(const void *s, size_t len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *p = s;
    for (size_t i = 0; i < len; i++)
        out[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
    out[len] = '\0';
    return out;
}

static uint64_t ctl_inspect_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- loading ------------------------------------------------------------ */

typedef struct ctl_inspect_scan {
    ctl_inspect *in;
    size_t cap;
    bool oom;
} ctl_inspect_scan;

static bool ctl_inspect_offset_cb(void *ctx, const void *key, size_t key_len,
                                  const void *val, size_t val_len)
{
    ctl_inspect_scan *sc = ctx;
    ctl_inspect *in = sc->in;
    if (in->n_offsets == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        ctl_inspect_offset *o = realloc(in->offsets, cap * sizeof *o);
        if (o == NULL) {
            sc->oom = true;
            return false;
        }
        in->offsets = o;
        sc->cap = cap;
    }
    ctl_inspect_offset *o = &in->offsets[in->n_offsets];
    memset(o, 0, sizeof *o);
    o->id = ctl_inspect_printable(key, key_len);
    if (o->id == NULL) {
        sc->oom = true;
        return false;
    }
    in->n_offsets++;
    /* The layout of store.c: applied seq, source ts_ms, 2 x uint64 LE. */
    if (val_len == 16) {
        o->valid = true;
        o->seq = ctl_inspect_le64(val);
        o->ts_ms = ctl_inspect_le64((const unsigned char *)val + 8);
    }
    return true;
}

static bool ctl_inspect_meta_cb(void *ctx, const void *key, size_t key_len,
                                const void *val, size_t val_len)
{
    ctl_inspect *in = ctx;
    if (key_len == 6 && memcmp(key, "format", 6) == 0) {
        size_t n = val_len < CTL_INSPECT_FORMAT_MAX - 1
                       ? val_len
                       : CTL_INSPECT_FORMAT_MAX - 1;
        const unsigned char *p = val;
        for (size_t i = 0; i < n; i++)
            in->format[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
        in->format[n] = '\0';
        return false;
    }
    return true;
}

static void ctl_inspect_stat(const char *dir, const char *name,
                             ctl_inspect_file *out)
{
    char path[4096];
    struct stat st;
    memset(out, 0, sizeof *out);
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        stat(path, &st) != 0)
        return;
    out->present = true;
    out->bytes = (uint64_t)st.st_size;
    out->allocated = (uint64_t)st.st_blocks * 512u;
}

atp_err ctl_inspect_load(const char *dir, ctl_inspect *out, char *err,
                         size_t err_len)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    /* The checks LMDB would make, done first so the message says what is
     * wrong in the user's terms (and so that nothing is created in a
     * directory that is not a store: LMDB creates lock.mdb). */
    if (stat(dir, &st) != 0) {
        snprintf(err, err_len, "%s: %s", dir, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? ATP_E_NOT_FOUND : ATP_E_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, err_len,
                 "%s is not a directory; give atpd's data directory "
                 "(service.data_dir or --data-dir), which holds data.mdb",
                 dir);
        return ATP_E_NOT_FOUND;
    }
    ctl_inspect_stat(dir, "data.mdb", &out->data);
    if (!out->data.present) {
        snprintf(err, err_len,
                 "%s has no data.mdb: not an atpd data directory (or atpd "
                 "never started with it)",
                 dir);
        return ATP_E_NOT_FOUND;
    }
    store *s = NULL;
    store_options o = {.read_only = true, .sync = STORE_NOSYNC};
    atp_err e = store_open(dir, &o, &s);
    if (e != ATP_OK) {
        snprintf(err, err_len,
                 "%s: cannot open data.mdb as an LMDB environment "
                 "read-only (%s; the store's log line above says why: not "
                 "an LMDB file, no permission, or a lock.mdb that cannot "
                 "be created)",
                 dir, atp_err_message(e));
        return e == ATP_E_NOMEM ? ATP_E_NOMEM : ATP_E_IO;
    }
    ctl_inspect_scan sc = {out, 0, false};
    if ((e = store_info_get(s, &out->info)) != ATP_OK ||
        (e = store_scan(s, STORE_DB_META, ctl_inspect_meta_cb, out)) !=
            ATP_OK ||
        (e = store_scan(s, STORE_DB_OFFSETS, ctl_inspect_offset_cb, &sc)) !=
            ATP_OK) {
        snprintf(err, err_len, "%s: cannot read the store: %s", dir,
                 atp_err_message(e));
        store_close(s);
        return e == ATP_E_NOMEM ? ATP_E_NOMEM : ATP_E_IO;
    }
    store_close(s);
    if ((e = store_log_summary_get(dir, out->info.log_applied, &out->log)) !=
        ATP_OK) {
        snprintf(err, err_len, "%s: cannot read reservations.log: %s", dir,
                 atp_err_message(e));
        return e == ATP_E_NOMEM ? ATP_E_NOMEM : ATP_E_IO;
    }
    if (sc.oom) {
        snprintf(err, err_len, "out of memory");
        return ATP_E_NOMEM;
    }
    /* After the open: LMDB creates lock.mdb when it is missing. */
    ctl_inspect_stat(dir, "lock.mdb", &out->lock);
    return ATP_OK;
}

void ctl_inspect_fini(ctl_inspect *in)
{
    if (in == NULL)
        return;
    for (size_t i = 0; i < in->n_offsets; i++)
        free(in->offsets[i].id);
    free(in->offsets);
    memset(in, 0, sizeof *in);
}

/* ---- inspect output ----------------------------------------------------- */

/* ctl_inspect_used_pct returns used / map in percent (0 for an empty map). */
static double ctl_inspect_used_pct(const store_info *i)
{
    return i->map_bytes > 0
               ? 100.0 * (double)i->used_bytes / (double)i->map_bytes
               : 0.0;
}

static void ctl_inspect_render_file(const char *name,
                                    const ctl_inspect_file *fi, FILE *f)
{
    char b[32], a[32];
    if (!fi->present) {
        fprintf(f, "  %-9s missing\n", name);
        return;
    }
    ctl_inspect_fmt_bytes(fi->bytes, b, sizeof b);
    ctl_inspect_fmt_bytes(fi->allocated, a, sizeof a);
    fprintf(f, "  %-9s %" PRIu64 " bytes (%s; %s allocated on disk)\n", name,
            fi->bytes, b, a);
}

/* The reservation log: its chain, and what LMDB has not applied yet (a
 * start-up replays that part). */
static void ctl_inspect_render_log(const store_log_summary *l, uint64_t applied,
                                   FILE *f)
{
    if (!l->present) {
        fprintf(f,
                "reservation log: none (durability nosync, or log_bytes 0)\n");
        return;
    }
    char size[32];
    ctl_inspect_fmt_bytes(l->file_bytes, size, sizeof size);
    if (l->records == 0)
        fprintf(f,
                "reservation log: reservations.log, %s, empty (LMDB applied "
                "through LSN %" PRIu64 ")\n",
                size, applied);
    else
        fprintf(f,
                "reservation log: reservations.log, %s, %" PRIu64
                " records (%" PRIu64 " ops), LSN %" PRIu64 "..%" PRIu64
                "; LMDB applied through LSN %" PRIu64 ": %" PRIu64
                " records (%" PRIu64 " ops) still to apply%s\n",
                size, l->records, l->ops, l->first_lsn, l->last_lsn, applied,
                l->pending, l->pending_ops,
                l->torn
                    ? "; the chain ends on a torn or corrupt record (ignored)"
                    : "");
}

void ctl_inspect_render(const ctl_inspect *in, const char *dir, FILE *f)
{
    const store_info *i = &in->info;
    char a[32], b[32], c[32];
    /* atpd does not record meta "format" yet: say so only when there is
     * one to compare. */
    if (in->format[0] == '\0')
        fprintf(f, "store %s\n", dir);
    else
        fprintf(f, "store %s (format %s%s)\n", dir, in->format,
                strcmp(in->format, CTL_INSPECT_KNOWN_FORMAT) != 0
                    ? ", not the " CTL_INSPECT_KNOWN_FORMAT " this atpctl knows"
                    : "");
    fprintf(f, "files:\n");
    ctl_inspect_render_file("data.mdb", &in->data, f);
    ctl_inspect_render_file("lock.mdb", &in->lock, f);
    ctl_inspect_fmt_bytes(i->used_bytes, a, sizeof a);
    ctl_inspect_fmt_bytes(i->map_bytes, b, sizeof b);
    ctl_inspect_fmt_bytes(i->page_size, c, sizeof c);
    fprintf(f, "map:     %s used of %s (%.1f%%), page size %s\n", a, b,
            ctl_inspect_used_pct(i), c);
    /* LMDB's count is a high-water mark of reader slots, this
     * inspection's own included. */
    fprintf(f,
            "readers: %" PRIu32 " of %" PRIu32
            " slots used (high-water mark, this inspection included)\n",
            i->readers_used, i->readers_max);
    fprintf(f, "entries:\n");
    for (int d = 0; d < STORE_DB_COUNT; d++)
        fprintf(f, "  %-13s %" PRIu64 "\n", store_db_name((store_db)d),
                i->entries[d]);
    ctl_inspect_render_log(&in->log, i->log_applied, f);
    if (in->n_offsets == 0) {
        fprintf(f, "source offsets: none stored yet\n");
        return;
    }
    fprintf(f, "source offsets (last applied, as of the last snapshot):\n");
    size_t w = strlen("SOURCE"), ws = strlen("SEQ");
    char num[32];
    for (size_t k = 0; k < in->n_offsets; k++) {
        size_t l = strlen(in->offsets[k].id);
        if (l > w)
            w = l;
        int n = snprintf(num, sizeof num, "%" PRIu64, in->offsets[k].seq);
        if (n > 0 && (size_t)n > ws)
            ws = (size_t)n;
    }
    fprintf(f, "  %-*s  %*s  %s\n", (int)w, "SOURCE", (int)ws, "SEQ",
            "SOURCE TIME (UTC)");
    for (size_t k = 0; k < in->n_offsets; k++) {
        const ctl_inspect_offset *o = &in->offsets[k];
        if (!o->valid) {
            fprintf(f, "  %-*s  %*s  malformed value (expected 16 bytes)\n",
                    (int)w, o->id, (int)ws, "-");
            continue;
        }
        char t[48];
        ctl_inspect_fmt_utc_ms(o->ts_ms, t, sizeof t);
        fprintf(f, "  %-*s  %*" PRIu64 "  %s\n", (int)w, o->id, (int)ws, o->seq,
                t);
    }
}

static void ctl_inspect_w_file(codec_writer *w, const char *name,
                               const ctl_inspect_file *fi)
{
    codec_w_cstr(w, name);
    if (!fi->present) {
        codec_w_nil(w);
        return;
    }
    codec_w_map(w, 2);
    codec_w_kv_uint(w, "bytes", fi->bytes);
    codec_w_kv_uint(w, "allocated", fi->allocated);
}

bool ctl_inspect_write_json(const ctl_inspect *in, const char *dir, FILE *f)
{
    const store_info *i = &in->info;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    bool ok = false;
    if (w == NULL || a == NULL)
        goto done;
    /* Built as msgpack and written by the codec's JSON writer: one
     * escaping rule for every JSON atpctl prints. */
    codec_w_map(w, 7);
    codec_w_kv_cstr(w, "dir", dir);
    if (in->format[0])
        codec_w_kv_cstr(w, "format", in->format);
    else {
        codec_w_cstr(w, "format");
        codec_w_nil(w);
    }
    codec_w_cstr(w, "files");
    codec_w_map(w, 2);
    ctl_inspect_w_file(w, "data.mdb", &in->data);
    ctl_inspect_w_file(w, "lock.mdb", &in->lock);
    codec_w_cstr(w, "map");
    codec_w_map(w, 6);
    codec_w_kv_uint(w, "map_bytes", i->map_bytes);
    codec_w_kv_uint(w, "used_bytes", i->used_bytes);
    codec_w_cstr(w, "used_percent");
    /* Two decimals are all a dashboard needs, and stable in tests. */
    codec_w_double(w, (double)(int64_t)(ctl_inspect_used_pct(i) * 100.0 + 0.5) /
                          100.0);
    codec_w_kv_uint(w, "page_size", i->page_size);
    codec_w_kv_uint(w, "readers_used", i->readers_used);
    codec_w_kv_uint(w, "readers_max", i->readers_max);
    codec_w_cstr(w, "entries");
    codec_w_map(w, STORE_DB_COUNT);
    for (int d = 0; d < STORE_DB_COUNT; d++)
        codec_w_kv_uint(w, store_db_name((store_db)d), i->entries[d]);
    codec_w_cstr(w, "reservation_log");
    if (!in->log.present) {
        codec_w_nil(w);
    } else {
        codec_w_map(w, 9);
        codec_w_kv_uint(w, "bytes", in->log.file_bytes);
        codec_w_kv_uint(w, "records", in->log.records);
        codec_w_kv_uint(w, "ops", in->log.ops);
        codec_w_kv_uint(w, "first_lsn", in->log.first_lsn);
        codec_w_kv_uint(w, "last_lsn", in->log.last_lsn);
        codec_w_kv_uint(w, "applied_lsn", i->log_applied);
        codec_w_kv_uint(w, "pending", in->log.pending);
        codec_w_kv_uint(w, "pending_ops", in->log.pending_ops);
        codec_w_kv_bool(w, "torn", in->log.torn);
    }
    codec_w_cstr(w, "offsets");
    codec_w_array(w, (uint32_t)in->n_offsets);
    for (size_t k = 0; k < in->n_offsets; k++) {
        const ctl_inspect_offset *o = &in->offsets[k];
        if (!o->valid) {
            codec_w_map(w, 2);
            codec_w_kv_cstr(w, "source", o->id);
            codec_w_kv_bool(w, "malformed", true);
            continue;
        }
        char t[48];
        ctl_inspect_fmt_utc_ms(o->ts_ms, t, sizeof t);
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "source", o->id);
        codec_w_kv_uint(w, "seq", o->seq);
        codec_w_kv_uint(w, "ts_ms", o->ts_ms);
        codec_w_kv_cstr(w, "ts", t);
    }
    size_t len = 0;
    const void *bytes = codec_writer_data(w, &len);
    const codec_val *v = NULL;
    if (codec_writer_failed(w) || codec_decode(a, bytes, len, &v) != ATP_OK)
        goto done;
    codec_val_write_json(v, f);
    ok = true;
done:
    codec_arena_free(a);
    codec_writer_free(w);
    return ok;
}

/* ---- sources ------------------------------------------------------------ */

#define CTL_INSPECT_CELL 96

/* ctl_inspect_num reads an integer field (signed or not); false when the
 * field is absent or not an integer. */
static bool ctl_inspect_num(const codec_val *m, const char *key, int64_t *out)
{
    const codec_val *v = m != NULL ? codec_val_get(m, key) : NULL;
    uint64_t u;
    if (v == NULL)
        return false;
    if (codec_val_int(v, out))
        return true;
    if (codec_val_uint(v, &u)) {
        *out = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
        return true;
    }
    return false;
}

static void ctl_inspect_cell_num(const codec_val *m, const char *key, char *buf,
                                 size_t n)
{
    int64_t v;
    if (ctl_inspect_num(m, key, &v))
        snprintf(buf, n, "%" PRId64, v);
    else
        snprintf(buf, n, "-");
}

static void ctl_inspect_cell_str(const codec_val *m, const char *key, char *buf,
                                 size_t n)
{
    const codec_val *v = m != NULL ? codec_val_get(m, key) : NULL;
    codec_str s;
    if (v == NULL || !codec_val_str(v, &s)) {
        snprintf(buf, n, "-");
        return;
    }
    ctl_render_text(s, buf, n);
}

/* ctl_inspect_cell_ago writes a "milliseconds since" field (-1: never) as
 * a span: "850ms", "12s", "3m5s", "never". */
static void ctl_inspect_cell_ago(const codec_val *m, const char *key, char *buf,
                                 size_t n)
{
    int64_t v;
    if (!ctl_inspect_num(m, key, &v))
        snprintf(buf, n, "-");
    else if (v < 0)
        snprintf(buf, n, "never");
    else
        ctl_resv_fmt_span(v, buf, n);
}

typedef enum ctl_src_kind {
    CTL_SRC_NUM,  /* the integer field */
    CTL_SRC_STR,  /* the string field */
    CTL_SRC_AGO,  /* ms since, -1 never */
    CTL_SRC_SNAP, /* snapshots_applied (+ " (N aborted)") */
    CTL_SRC_UTC,  /* ms since the epoch, 0: never */
} ctl_src_kind;

typedef struct ctl_src_col {
    const char *header;
    const char *key;
    ctl_src_kind kind;
    bool right;
    bool wide_only;
    bool short_only;
} ctl_src_col;

static const ctl_src_col ctl_src_cols[] = {
    {"SOURCE", "id", CTL_SRC_STR, false, false, false},
    {"STATE", "state", CTL_SRC_STR, false, false, false},
    {"LAST_SEQ", "last_seq", CTL_SRC_NUM, true, false, false},
    {"LAST_TS", "last_ts_ms", CTL_SRC_UTC, false, true, false},
    {"LAG_MS", "lag_ms", CTL_SRC_NUM, true, false, false},
    {"AGE_MS", "age_ms", CTL_SRC_NUM, true, false, false},
    {"MESSAGES", "messages", CTL_SRC_NUM, true, false, false},
    {"EVENTS", "events", CTL_SRC_NUM, true, true, false},
    {"DUPS", "duplicates", CTL_SRC_NUM, true, true, false},
    {"GAPS", "gaps", CTL_SRC_NUM, true, false, false},
    {"MISSED", "missed", CTL_SRC_NUM, true, false, false},
    {"REJECTED", "rejected_messages", CTL_SRC_NUM, true, false, false},
    {"UNAUTH", "unauthorized", CTL_SRC_NUM, true, true, false},
    {"UNKNOWN_LOC", "unknown_location", CTL_SRC_NUM, true, true, false},
    {"HELD", "held", CTL_SRC_NUM, true, false, false},
    {"RESYNCS", "resync_requests", CTL_SRC_NUM, true, false, false},
    {"RESYNC_FROM", "resync_from", CTL_SRC_NUM, true, true, false},
    {"SNAPSHOTS", "snapshots_applied", CTL_SRC_SNAP, true, false, true},
    {"SNAPSHOTS", "snapshots_applied", CTL_SRC_NUM, true, true, false},
    {"SNAP_ABORTED", "snapshots_aborted", CTL_SRC_NUM, true, true, false},
    {"HEARTBEATS", "heartbeats", CTL_SRC_NUM, true, true, false},
    {"LAST_HB", "last_heartbeat_ms", CTL_SRC_AGO, true, false, false},
    {"CONFLICTS", "conflicts", CTL_SRC_NUM, true, true, false},
    {"SESSIONS", "sessions", CTL_SRC_NUM, true, true, false},
    {"UNSYNCED", "unsynced", CTL_SRC_NUM, true, true, false},
    {"SEQ_REJ", "seq_rejected", CTL_SRC_NUM, true, true, false},
    {"BAD_MAC", "bad_mac", CTL_SRC_NUM, true, true, false},
    {"RESETS", "resets", CTL_SRC_NUM, true, true, false},
};
#define CTL_SRC_NCOLS (sizeof ctl_src_cols / sizeof ctl_src_cols[0])

static void ctl_inspect_src_cell(const ctl_src_col *c, const codec_val *m,
                                 char *buf, size_t n)
{
    int64_t v, aborted;
    switch (c->kind) {
    case CTL_SRC_NUM:
        ctl_inspect_cell_num(m, c->key, buf, n);
        return;
    case CTL_SRC_STR:
        ctl_inspect_cell_str(m, c->key, buf, n);
        return;
    case CTL_SRC_AGO:
        ctl_inspect_cell_ago(m, c->key, buf, n);
        return;
    case CTL_SRC_SNAP:
        if (!ctl_inspect_num(m, c->key, &v))
            snprintf(buf, n, "-");
        else if (ctl_inspect_num(m, "snapshots_aborted", &aborted) &&
                 aborted > 0)
            snprintf(buf, n, "%" PRId64 " (%" PRId64 " aborted)", v, aborted);
        else
            snprintf(buf, n, "%" PRId64, v);
        return;
    case CTL_SRC_UTC:
        if (!ctl_inspect_num(m, c->key, &v))
            snprintf(buf, n, "-");
        else if (v <= 0)
            snprintf(buf, n, "never");
        else
            ctl_inspect_fmt_utc_ms((uint64_t)v, buf, n);
        return;
    }
}

/* ctl_inspect_src_note writes what a source that is not ok waits for;
 * returns false for an ok source (nothing to say). */
static bool ctl_inspect_src_note(const codec_val *m, char *buf, size_t n)
{
    char id[CTL_INSPECT_CELL], state[CTL_INSPECT_CELL], age[32];
    ctl_inspect_cell_str(m, "id", id, sizeof id);
    ctl_inspect_cell_str(m, "state", state, sizeof state);
    int64_t from = 0, held = 0, req = 0, missed = 0, ms = 0;
    ctl_inspect_num(m, "resync_from", &from);
    ctl_inspect_num(m, "held", &held);
    ctl_inspect_num(m, "resync_requests", &req);
    ctl_inspect_num(m, "missed", &missed);
    int64_t conflicts = 0, unsynced = 0, session = 0;
    ctl_inspect_num(m, "conflicts", &conflicts);
    ctl_inspect_num(m, "unsynced", &unsynced);
    ctl_inspect_num(m, "session", &session);
    if (strcmp(state, "conflict") == 0) {
        snprintf(
            buf, n,
            "%s: conflict: a second publisher uses this source id; %" PRId64
            " of its message%s dropped so far, session %" PRId64
            " applies (stop the other publisher)",
            id, conflicts, conflicts == 1 ? "" : "s", session);
    } else if (strcmp(state, "resyncing") == 0 && held == 0 && unsynced > 0) {
        snprintf(buf, n,
                 "%s: resyncing: a new session (or a reset) waits for its full "
                 "snapshot (%" PRId64 " request%s so far); %" PRId64
                 " message%s dropped until then",
                 id, req, req == 1 ? "" : "s", unsynced,
                 unsynced == 1 ? "" : "s");
    } else if (strcmp(state, "resyncing") == 0) {
        snprintf(buf, n,
                 "%s: resyncing: asked to resend from seq %" PRId64 " (%" PRId64
                 " request%s so far); %" PRId64
                 " later message%s held until the hole is filled",
                 id, from, req, req == 1 ? "" : "s", held,
                 held == 1 ? "" : "s");
    } else if (strcmp(state, "gapped") == 0) {
        snprintf(buf, n,
                 "%s: gapped: applied without %" PRId64
                 " message%s; its regions stay stale until a full snapshot "
                 "arrives (%" PRId64 " resync request%s sent)",
                 id, missed, missed == 1 ? "" : "s", req, req == 1 ? "" : "s");
    } else if (strcmp(state, "silent") == 0) {
        if (ctl_inspect_num(m, "age_ms", &ms) && ms >= 0) {
            char span[24];
            ctl_resv_fmt_span(ms, span, sizeof span);
            snprintf(age, sizeof age, " for %s", span);
        } else {
            snprintf(age, sizeof age, " since atpd started");
        }
        snprintf(buf, n,
                 "%s: silent: nothing received%s (past its "
                 "heartbeat_timeout); its regions are stale",
                 id, age);
    } else if (strcmp(state, "waiting") == 0) {
        snprintf(buf, n,
                 "%s: waiting: nothing received since atpd started; its "
                 "regions are stale",
                 id);
    } else if (strcmp(state, "ok") != 0) {
        snprintf(buf, n, "%s: state %s", id, state);
    } else {
        return false;
    }
    return true;
}

void ctl_inspect_render_sources(const codec_val *reply, bool wide, FILE *f)
{
    const codec_val *sources = codec_val_get(reply, "sources");
    size_t n = sources != NULL ? codec_val_len(sources) : 0;
    if (n == 0) {
        fprintf(f, "no sources configured\n");
        return;
    }
    const ctl_src_col *cols[CTL_SRC_NCOLS];
    size_t nc = 0;
    for (size_t c = 0; c < CTL_SRC_NCOLS; c++)
        if (wide ? !ctl_src_cols[c].short_only : !ctl_src_cols[c].wide_only)
            cols[nc++] = &ctl_src_cols[c];
    char *cells = calloc(n * nc, CTL_INSPECT_CELL);
    size_t width[CTL_SRC_NCOLS];
    char *line = NULL;
    if (cells == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
#define CELL(r, c) (cells + ((r)*nc + (c)) * CTL_INSPECT_CELL)
    for (size_t c = 0; c < nc; c++)
        width[c] = strlen(cols[c]->header);
    for (size_t r = 0; r < n; r++) {
        const codec_val *m = codec_val_at(sources, (uint32_t)r);
        for (size_t c = 0; c < nc; c++) {
            ctl_inspect_src_cell(cols[c], m, CELL(r, c), CTL_INSPECT_CELL);
            size_t l = strlen(CELL(r, c));
            if (l > width[c])
                width[c] = l;
        }
    }
    size_t cap = 1;
    for (size_t c = 0; c < nc; c++)
        cap += width[c] + 2;
    line = malloc(cap);
    if (line == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        free(cells);
        return;
    }
    for (size_t r = 0; r <= n; r++) {
        size_t pos = 0;
        for (size_t c = 0; c < nc; c++) {
            const char *s = r == 0 ? cols[c]->header : CELL(r - 1, c);
            int k = snprintf(line + pos, cap - pos,
                             cols[c]->right ? "%*s%s" : "%-*s%s", (int)width[c],
                             s, c + 1 == nc ? "" : "  ");
            if (k > 0)
                pos += (size_t)k;
        }
        while (pos > 0 && line[pos - 1] == ' ')
            pos--;
        line[pos] = '\0';
        fprintf(f, "%s\n", line);
    }
#undef CELL
    char note[512];
    for (size_t r = 0; r < n; r++)
        if (ctl_inspect_src_note(codec_val_at(sources, (uint32_t)r), note,
                                 sizeof note))
            fprintf(f, "  %s\n", note);
    free(line);
    free(cells);
}

/* ---- snapshot, backup -----------------------------------------------------
 */

void ctl_inspect_render_backup(const codec_val *reply, FILE *f)
{
    int64_t ms = 0;
    codec_str dir = {0};
    const codec_val *d = codec_val_get(reply, "dir");
    if (d == NULL || !codec_val_str(d, &dir) ||
        !ctl_inspect_num(reply, "ms", &ms)) {
        fprintf(f, "backup written\n");
        return;
    }
    fprintf(f,
            "backup written to %.*s in %" PRId64
            " ms (restore: docs/CONFIG.md, "
            "\"Backup and restore\")\n",
            (int)dir.len, dir.ptr, ms);
}

void ctl_inspect_render_snapshot(const codec_val *reply, FILE *f)
{
    int64_t pos = 0, ms = 0;
    bool have_pos = ctl_inspect_num(reply, "positions", &pos);
    bool have_ms = ctl_inspect_num(reply, "ms", &ms);
    if (!have_pos || !have_ms) {
        /* An older or newer atpd: say what is known. */
        fprintf(f, "snapshot stored\n");
        return;
    }
    fprintf(f, "snapshot stored: %" PRId64 " position%s in %" PRId64 " ms\n",
            pos, pos == 1 ? "" : "s", ms);
}
