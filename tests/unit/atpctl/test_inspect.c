/*
 * test_inspect.c - unit tests of tools/atpctl/ctl_inspect.c: `atpctl
 * inspect` on a real store written through the store module into a
 * temporary directory (counts, offsets, file sizes, the human and JSON
 * output, the errors for what is not a store), the `sources` table (short
 * and wide, notes for sources that are not ok) and the `snapshot` verdict.
 * Single-threaded (the store's writer thread aside).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"

#include "codec/codec.h"
#include "ctl_inspect.h"
#include "store/store.h"

#define TS 1795349398095ULL /* 2026-11-22T12:09:58.095Z */

/* ---- helpers ------------------------------------------------------------ */

static void test_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/atp-test-inspect-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void test_rm(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static void test_rmdir(char *dir)
{
    test_rm(dir, "data.mdb");
    test_rm(dir, "lock.mdb");
    rmdir(dir);
    free(dir);
}

/* test_store_done records a group's result (writer thread; read after
 * store_close has joined it). */
static void test_store_done(void *arg, atp_err err)
{
    *(atp_err *)arg = err;
}

/* test_store_write creates a store in dir with 3 positions, 1 lot, 2
 * reservations and 3 offsets (one malformed), the way atpd lays them out
 * (src/store/store.c). store_close finishes the queued group. */
static void test_store_write(const char *dir)
{
    store *s = NULL;
    store_options o = {.sync = STORE_NOSYNC, .initial_map_bytes = 1u << 20};
    assert_int_equal(store_open(dir, &o, &s), ATP_OK);
    assert_int_equal(store_start(s), ATP_OK);
    unsigned char pos[24] = {0}, lot[16] = {0}, off1[16], off2[16];
    test_put_le64(off1, 1042);
    test_put_le64(off1 + 8, TS);
    test_put_le64(off2, 7);
    test_put_le64(off2 + 8, 0);
    const store_op ops[] = {
        {STORE_DB_POSITIONS, "DC-NJ\0SKU-1", 11, pos, sizeof pos},
        {STORE_DB_POSITIONS, "DC-NJ\0SKU-2", 11, pos, sizeof pos},
        {STORE_DB_POSITIONS, "DC-PA\0SKU-1", 11, pos, sizeof pos},
        {STORE_DB_LOTS, "DC-NJ\0SKU-1\0PO-1", 16, lot, sizeof lot},
        {STORE_DB_RESERVATIONS, "cart-1", 6, "x", 1},
        {STORE_DB_RESERVATIONS, "cart-2", 6, "y", 1},
        {STORE_DB_OFFSETS, "wms-east", 8, off1, sizeof off1},
        {STORE_DB_OFFSETS, "erp", 3, off2, sizeof off2},
        {STORE_DB_OFFSETS, "bad\x01id", 6, "short", 5},
    };
    atp_err done = ATP_E_INTERNAL;
    assert_int_equal(store_submit(s, ops, sizeof ops / sizeof ops[0],
                                  test_store_done, &done),
                     ATP_OK);
    store_close(s);
    assert_int_equal(done, ATP_OK);
}

/* ---- inspect ------------------------------------------------------------ */

static void test_load_counts_and_offsets(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    test_store_write(dir);
    ctl_inspect in;
    char err[512] = "";
    assert_int_equal(ctl_inspect_load(dir, &in, err, sizeof err), ATP_OK);
    assert_int_equal(in.info.entries[STORE_DB_POSITIONS], 3);
    assert_int_equal(in.info.entries[STORE_DB_LOTS], 1);
    assert_int_equal(in.info.entries[STORE_DB_RESERVATIONS], 2);
    assert_int_equal(in.info.entries[STORE_DB_OFFSETS], 3);
    assert_true(in.info.page_size > 0);
    assert_true(in.info.used_bytes > 0);
    assert_true(in.info.map_bytes >= in.info.used_bytes);
    assert_true(in.data.present && in.data.bytes > 0);
    assert_true(in.lock.present);
    assert_string_equal(in.format, "");
    /* Key order: "bad\x01id" < "erp" < "wms-east". */
    assert_int_equal(in.n_offsets, 3);
    assert_string_equal(in.offsets[0].id, "bad?id");
    assert_false(in.offsets[0].valid);
    assert_string_equal(in.offsets[1].id, "erp");
    assert_true(in.offsets[1].valid);
    assert_int_equal(in.offsets[1].seq, 7);
    assert_string_equal(in.offsets[2].id, "wms-east");
    assert_int_equal(in.offsets[2].seq, 1042);
    assert_int_equal(in.offsets[2].ts_ms, TS);

    test_out o;
    test_out_open(&o);
    ctl_inspect_render(&in, "D", o.f);
    const char *txt = test_out_close(&o);
    assert_non_null(strstr(txt, "store D\n"));
    assert_non_null(strstr(txt, "  positions     3\n"));
    assert_non_null(strstr(txt, "  lots          1\n"));
    assert_non_null(strstr(txt, "  reservations  2\n"));
    assert_non_null(strstr(txt, "  data.mdb  "));
    assert_non_null(strstr(txt, "  lock.mdb  "));
    assert_non_null(strstr(txt, "%), page size "));
    assert_non_null(
        strstr(txt, "  wms-east  1042  2026-11-22T12:09:58.095Z\n"));
    assert_non_null(
        strstr(txt, "  erp          7  1970-01-01T00:00:00.000Z\n"));
    assert_non_null(strstr(txt, "bad?id"));
    assert_non_null(strstr(txt, "malformed value"));
    free(o.buf);

    test_out_open(&o);
    assert_true(ctl_inspect_write_json(&in, "D", o.f));
    txt = test_out_close(&o);
    assert_non_null(strstr(txt, "{\"dir\":\"D\",\"format\":null,"));
    assert_non_null(strstr(
        txt, "\"entries\":{\"reservations\":2,\"meta\":1," /* meta: store_id */
             "\"positions\":3,\"offsets\":3,\"lots\":1,\"admin\":0}"));
    assert_non_null(strstr(txt, "{\"source\":\"wms-east\",\"seq\":1042,"
                                "\"ts_ms\":1795349398095,"
                                "\"ts\":\"2026-11-22T12:09:58.095Z\"}"));
    assert_non_null(strstr(txt, "{\"source\":\"bad?id\",\"malformed\":true}"));
    assert_non_null(strstr(txt, "\"used_percent\":"));
    assert_null(strchr(txt, '\n'));
    free(o.buf);

    ctl_inspect_fini(&in);
    test_rmdir(dir);
}

static void test_load_errors(void **state)
{
    (void)state;
    ctl_inspect in;
    char err[512];
    char *dir = test_tmpdir();
    char path[4200];

    /* Missing directory. */
    snprintf(path, sizeof path, "%s/nope", dir);
    assert_int_equal(ctl_inspect_load(path, &in, err, sizeof err),
                     ATP_E_NOT_FOUND);
    assert_non_null(strstr(err, "No such file or directory"));
    ctl_inspect_fini(&in);

    /* A directory without data.mdb: refused before LMDB creates files. */
    assert_int_equal(ctl_inspect_load(dir, &in, err, sizeof err),
                     ATP_E_NOT_FOUND);
    assert_non_null(strstr(err, "no data.mdb"));
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    ctl_inspect_fini(&in);

    /* A file, not a directory (someone gave data.mdb itself). */
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc(i * 7 + 3, f);
    fclose(f);
    assert_int_equal(ctl_inspect_load(path, &in, err, sizeof err),
                     ATP_E_NOT_FOUND);
    assert_non_null(strstr(err, "not a directory"));
    ctl_inspect_fini(&in);

    /* data.mdb that is not LMDB. */
    assert_int_equal(ctl_inspect_load(dir, &in, err, sizeof err), ATP_E_IO);
    assert_non_null(strstr(err, "cannot open data.mdb"));
    ctl_inspect_fini(&in);
    test_rmdir(dir);
}

static void test_fmt(void **state)
{
    (void)state;
    char b[64];
    ctl_inspect_fmt_bytes(812, b, sizeof b);
    assert_string_equal(b, "812 B");
    ctl_inspect_fmt_bytes(4096, b, sizeof b);
    assert_string_equal(b, "4.0 KiB");
    ctl_inspect_fmt_bytes(64u << 20, b, sizeof b);
    assert_string_equal(b, "64.0 MiB");
    ctl_inspect_fmt_bytes((uint64_t)3 << 39, b, sizeof b);
    assert_string_equal(b, "1.5 TiB");
    ctl_inspect_fmt_utc_ms(TS, b, sizeof b);
    assert_string_equal(b, "2026-11-22T12:09:58.095Z");
    ctl_inspect_fmt_utc_ms(UINT64_MAX, b, sizeof b);
    assert_string_equal(b, "18446744073709551615 ms");
}

/* ---- sources and snapshot ----------------------------------------------- */

typedef struct test_src {
    const char *id, *state;
    uint64_t last_seq, held, requests, from, applied, aborted, missed;
    int64_t age_ms, hb_ms;
} test_src;

static const codec_val *test_sources(codec_arena *a, codec_writer *w,
                                     const test_src *s, uint32_t n)
{
    codec_writer_reset(w);
    codec_w_map(w, 2);
    codec_w_kv_bool(w, "ok", true);
    codec_w_cstr(w, "sources");
    codec_w_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        codec_w_map(w, 21);
        codec_w_kv_cstr(w, "id", s[i].id);
        codec_w_kv_cstr(w, "state", s[i].state);
        codec_w_kv_uint(w, "last_seq", s[i].last_seq);
        codec_w_kv_uint(w, "last_ts_ms", s[i].last_seq ? TS : 0);
        codec_w_kv_int(w, "lag_ms", 3);
        codec_w_kv_int(w, "age_ms", s[i].age_ms);
        codec_w_kv_uint(w, "messages", s[i].last_seq);
        codec_w_kv_uint(w, "events", 5 * s[i].last_seq);
        codec_w_kv_uint(w, "duplicates", 0);
        codec_w_kv_uint(w, "gaps", s[i].requests ? 1 : 0);
        codec_w_kv_uint(w, "missed", s[i].missed);
        codec_w_kv_uint(w, "rejected_messages", 0);
        codec_w_kv_uint(w, "unauthorized", 0);
        codec_w_kv_uint(w, "unknown_location", 0);
        codec_w_kv_uint(w, "heartbeats", 4);
        codec_w_kv_int(w, "last_heartbeat_ms", s[i].hb_ms);
        codec_w_kv_uint(w, "resync_requests", s[i].requests);
        codec_w_kv_uint(w, "resync_from", s[i].from);
        codec_w_kv_uint(w, "held", s[i].held);
        codec_w_kv_uint(w, "snapshots_applied", s[i].applied);
        codec_w_kv_uint(w, "snapshots_aborted", s[i].aborted);
    }
    size_t len;
    const void *bytes = codec_writer_data(w, &len);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, bytes, len, &v), ATP_OK);
    return v;
}

static void test_sources_table(void **state)
{
    (void)state;
    static const test_src src[] = {
        {"wms-east", "ok", 1042, 0, 0, 0, 1, 0, 0, 12, 850},
        {"3pl-acme", "resyncing", 240, 759, 3, 241, 0, 0, 0, 20, -1},
        {"erp", "gapped", 58, 0, 5, 59, 2, 1, 4, 30, 65000},
        {"edi", "silent", 9, 0, 0, 0, 0, 0, 0, 12000, 12000},
        {"new", "waiting", 0, 0, 0, 0, 0, 0, 0, -1, -1},
        {"dead", "silent", 0, 0, 0, 0, 0, 0, 0, -1, -1},
    };
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    assert_non_null(a);
    assert_non_null(w);
    const codec_val *r = test_sources(a, w, src, 6);

    test_out o;
    test_out_open(&o);
    ctl_inspect_render_sources(r, false, o.f);
    const char *txt = test_out_close(&o);
    assert_non_null(strstr(txt, "SOURCE    STATE      LAST_SEQ  LAG_MS"));
    assert_non_null(strstr(txt, "HELD  RESYNCS      SNAPSHOTS  LAST_HB\n"));
    assert_null(strstr(txt, "EVENTS"));
    assert_null(strstr(txt, "RESYNC_FROM"));
    /* The ok source has no note; the others say what they wait for. */
    assert_null(strstr(txt, "  wms-east:"));
    assert_non_null(strstr(txt, "  3pl-acme: resyncing: asked to resend from "
                                "seq 241 (3 requests so far); 759 later "
                                "messages held"));
    assert_non_null(strstr(txt, "  erp: gapped: applied without 4 messages"));
    assert_non_null(strstr(txt, "  edi: silent: nothing received for 12s"));
    assert_non_null(strstr(txt, "  new: waiting: nothing received"));
    /* never heard from, past its timeout: silent since start */
    assert_non_null(strstr(txt, "  dead: silent: nothing received since atpd "
                                "started (past"));
    assert_non_null(strstr(txt, "2 (1 aborted)"));
    assert_non_null(strstr(txt, "    850ms\n")); /* wms-east LAST_HB */
    assert_non_null(strstr(txt, "    never\n")); /* 3pl-acme */
    assert_non_null(strstr(txt, "     1m5s\n")); /* erp */
    /* A header and 6 rows, 5 notes. */
    size_t lines = 0;
    for (const char *p = txt; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 12);
    free(o.buf);

    test_out_open(&o);
    ctl_inspect_render_sources(r, true, o.f);
    txt = test_out_close(&o);
    assert_non_null(strstr(txt, "LAST_TS"));
    assert_non_null(strstr(txt, "RESYNC_FROM"));
    assert_non_null(strstr(txt, "SNAP_ABORTED"));
    assert_non_null(strstr(txt, "UNKNOWN_LOC"));
    assert_non_null(strstr(txt, "2026-11-22T12:09:58.095Z"));
    assert_null(strstr(txt, "aborted)"));
    free(o.buf);

    /* No sources. */
    r = test_sources(a, w, src, 0);
    test_out_open(&o);
    ctl_inspect_render_sources(r, false, o.f);
    txt = test_out_close(&o);
    assert_string_equal(txt, "no sources configured\n");
    free(o.buf);

    codec_writer_free(w);
    codec_arena_free(a);
}

static void test_snapshot_verdict(void **state)
{
    (void)state;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_w_map(w, 3);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_uint(w, "positions", 1400);
    codec_w_kv_uint(w, "ms", 12);
    size_t len;
    const void *bytes = codec_writer_data(w, &len);
    const codec_val *v = NULL;
    assert_int_equal(codec_decode(a, bytes, len, &v), ATP_OK);
    test_out o;
    test_out_open(&o);
    ctl_inspect_render_snapshot(v, o.f);
    assert_string_equal(test_out_close(&o),
                        "snapshot stored: 1400 positions in 12 ms\n");
    free(o.buf);

    codec_writer_reset(w);
    codec_w_map(w, 1);
    codec_w_kv_bool(w, "ok", true);
    bytes = codec_writer_data(w, &len);
    assert_int_equal(codec_decode(a, bytes, len, &v), ATP_OK);
    test_out_open(&o);
    ctl_inspect_render_snapshot(v, o.f);
    assert_string_equal(test_out_close(&o), "snapshot stored\n");
    free(o.buf);
    codec_writer_free(w);
    codec_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_counts_and_offsets),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_sources_table),
        cmocka_unit_test(test_snapshot_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
