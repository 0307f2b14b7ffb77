/*
 * fuzz_source_msg.c - libFuzzer target for the codec's network-facing
 * decoders: codec_src_decode (source feeds) and codec_decode (queries).
 * Single-threaded. Built and run by tests/fuzz (ATP_FUZZ=ON; README.md
 * there); its seeds are tests/corpus/codec, which ctest also replays
 * through tests/unit/codec/test_corpus.c.
 *
 * Asserts (abort, which libFuzzer reports) that codec_decode agrees with
 * codec_precheck, that codec_json_from_msgpack (bytes read in place, the
 * HTTP replies) fails with the same code or writes what
 * codec_val_write_json writes for the decoded tree, and that an accepted
 * source message re-encodes to one that decodes to the same content.
 */
#include <string.h>

#include "codec/codec.h"
#include "fuzz.h"

static codec_arena *fuzz_arena, *fuzz_arena2;
static codec_writer *fuzz_writer;
static FILE *fuzz_devnull;

/* fuzz_json_same: the in-place JSON of data is the decoded tree's (dec:
 * codec_decode's answer, v its tree). */
static void fuzz_json_same(const uint8_t *data, size_t size, atp_err dec,
                           const codec_val *v)
{
    char *json = NULL, *tree = NULL;
    size_t jlen = 0, tlen = 0;
    atp_err err = codec_json_from_msgpack(data, size, &json, &jlen);
    fuzz_check(err == dec || err == ATP_E_NOMEM,
               "codec_json_from_msgpack disagrees with codec_decode");
    if (err != ATP_OK || dec != ATP_OK) {
        free(json);
        return;
    }
    FILE *f = open_memstream(&tree, &tlen);
    fuzz_check(f != NULL, "open_memstream");
    codec_val_write_json(v, f);
    fuzz_check(fclose(f) == 0, "memstream");
    fuzz_check(tlen == jlen && memcmp(tree, json, jlen) == 0,
               "codec_json_from_msgpack writes other JSON than the tree");
    free(tree);
    free(json);
}

static int fuzz_str_same(codec_str a, codec_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_arena == NULL) {
        fuzz_logs_all();
        fuzz_arena = codec_arena_alloc();
        fuzz_arena2 = codec_arena_alloc();
        fuzz_writer = codec_writer_alloc(NULL, NULL);
        fuzz_devnull = fopen("/dev/null", "w");
        fuzz_check(fuzz_arena && fuzz_arena2 && fuzz_writer && fuzz_devnull,
                   "setup");
    }
    atp_err pre = codec_precheck(data, size, ATP_MSG_MAX_DEPTH);

    const codec_val *v = NULL;
    codec_arena_clear(fuzz_arena);
    atp_err dec = codec_decode(fuzz_arena, data, size, &v);
    fuzz_check(dec == pre, "codec_decode disagrees with codec_precheck");
    if (dec == ATP_OK) {
        codec_val_write_json(v, fuzz_devnull);
    }
    fuzz_json_same(data, size, dec, v);

    codec_src_msg m, m2;
    uint32_t bad;
    codec_arena_clear(fuzz_arena);
    if (codec_src_decode(fuzz_arena, data, size, 100000, &m, &bad) != ATP_OK) {
        return 0;
    }
    fuzz_check(pre == ATP_OK, "source message accepted despite precheck");
    codec_writer_reset(fuzz_writer);
    codec_src_encode(fuzz_writer, &m);
    size_t len;
    const void *buf = codec_writer_data(fuzz_writer, &len);
    fuzz_check(!codec_writer_failed(fuzz_writer), "encode failed");
    codec_arena_clear(fuzz_arena2);
    fuzz_check(codec_src_decode(fuzz_arena2, buf, len, 100000, &m2, &bad) ==
                   ATP_OK,
               "re-encoded message rejected");
    fuzz_check(fuzz_str_same(m.source, m2.source) && m.seq == m2.seq &&
                   m.ts_ms == m2.ts_ms && m.n_events == m2.n_events,
               "envelope changed in round trip");
    for (uint32_t i = 0; i < m.n_events; i++) {
        const codec_event *a = &m.events[i], *b = &m2.events[i];
        fuzz_check(a->kind == b->kind && a->bucket == b->bucket &&
                       a->value == b->value && fuzz_str_same(a->sku, b->sku) &&
                       fuzz_str_same(a->location, b->location) &&
                       fuzz_str_same(a->ref, b->ref),
                   "event changed in round trip");
    }
    return 0;
}
