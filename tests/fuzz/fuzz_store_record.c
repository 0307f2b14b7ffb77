/*
 * fuzz_store_record.c - libFuzzer target for what atpd reads back from
 * LMDB at start-up (after a crash, a full disk or a bad copy the bytes may
 * be anything): the four decoders main.c's restore calls on every stored
 * key/value, in its order: engine_position_load, engine_lot_load,
 * engine_offset_load, then engine_resv_load (resv_record_decode).
 *
 * An input is a list of records, each
 *   [db: 1 byte, mod 4] [key length: 1 byte] [key] [value length: 2 bytes LE]
 * [value] (a record cut short takes what is left); they are loaded, grouped by
 * db in the restore's order, into a fresh engine, which is then started,
 * synced, stopped and freed: a loaded state must stand up to the engine's
 * own checks (ATP_DASSERT in this build), answer with valid ids and exact
 * numbers (fuzz_check_answers) and free without a leak. Threads:
 * the fuzzer's, and the engine thread between start and stop.
 */
#include <string.h>

#include "atp/wire.h"
#include "config/config.h"
#include "engine/engine.h"
#include "fuzz.h"

enum {
    FUZZ_DB_POSITIONS,
    FUZZ_DB_LOTS,
    FUZZ_DB_OFFSETS,
    FUZZ_DB_RESERVATIONS,
    FUZZ_DBS
};

typedef struct fuzz_rec {
    unsigned db;
    const uint8_t *key, *val;
    size_t key_len, val_len;
} fuzz_rec;

#define FUZZ_RECS_MAX 64

static config fuzz_cfg;
static bool fuzz_ready;

/* fuzz_parse splits data into at most FUZZ_RECS_MAX records; the count. */
static size_t fuzz_parse(const uint8_t *data, size_t size, fuzz_rec *recs)
{
    size_t n = 0, p = 0;
    while (p < size && n < FUZZ_RECS_MAX) {
        fuzz_rec *r = &recs[n++];
        r->db = data[p++] % FUZZ_DBS;
        size_t klen = p < size ? data[p++] : 0;
        if (klen > size - p)
            klen = size - p;
        r->key = data + p;
        r->key_len = klen;
        p += klen;
        size_t vlen =
            p + 2 <= size ? (size_t)data[p] | (size_t)data[p + 1] << 8 : 0;
        p += p + 2 <= size ? 2 : size - p;
        if (vlen > size - p)
            vlen = size - p;
        r->val = data + p;
        r->val_len = vlen;
        p += vlen;
    }
    return n;
}

/* fuzz_copy: the bytes in a buffer of exactly n bytes, as LMDB hands them
 * over (its pages end where the value ends, as far as ASan can tell). */
static void *fuzz_copy(const uint8_t *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    fuzz_check(c != NULL, "out of memory");
    memcpy(c, p, n);
    return c;
}

static void fuzz_load(engine *e, const fuzz_rec *r)
{
    void *key = fuzz_copy(r->key, r->key_len),
         *val = fuzz_copy(r->val, r->val_len);
    uint32_t src;
    uint64_t seq;
    switch (r->db) {
    case FUZZ_DB_POSITIONS:
        engine_position_load(e, key, r->key_len, val, r->val_len);
        break;
    case FUZZ_DB_LOTS:
        engine_lot_load(e, key, r->key_len, val, r->val_len);
        break;
    case FUZZ_DB_OFFSETS:
        if (engine_offset_load(e, key, r->key_len, val, r->val_len, &src, &seq))
            fuzz_check(src < fuzz_cfg.n_sources,
                       "offset of a source not configured");
        break;
    default:
        engine_resv_load(e, key, r->key_len, val, r->val_len);
        break;
    }
    free(key);
    free(val);
}

/* fuzz_check_answers: what the restore loaded is what atpd then sends
 * (scan, the change feed, explain): every SKU id a valid id, every answer
 * within +-(2^53-1). */
static void fuzz_check_answers(engine *e)
{
    uint32_t n = engine_sku_count(e);
    for (uint32_t sku = 0; sku < n; sku++)
        for (uint32_t reg = 0; reg < fuzz_cfg.n_regions; reg++)
            for (uint32_t ch = 0; ch < fuzz_cfg.n_channels; ch++) {
                engine_answer a;
                const char *id;
                size_t len;
                if (!engine_answer_index(e, sku, reg, ch, &a, &id, &len))
                    continue;
                fuzz_check(
                    codec_str_is_id((codec_str){id, (uint32_t)len},
                                    ATP_SKU_MAX_LEN),
                    "a restored SKU id atpd would send is not a valid id");
                int64_t v[] = {a.atp, a.supply, a.reserved, a.buffer,
                               a.shortfall};
                for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
                    fuzz_check(
                        v[i] <= FUZZ_JSON_INT_MAX && v[i] >= -FUZZ_JSON_INT_MAX,
                        "a restored answer does not fit a double exactly");
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_ready) {
        fuzz_logs_all();
        fuzz_config_load(&fuzz_cfg);
        fuzz_ready = true;
    }
    fuzz_rec recs[FUZZ_RECS_MAX];
    size_t n = fuzz_parse(data, size, recs);
    engine *e;
    fuzz_check(engine_alloc(&fuzz_cfg, NULL, &e) == ATP_OK, "engine_alloc");
    for (unsigned db = 0; db < FUZZ_DBS; db++)
        for (size_t i = 0; i < n; i++)
            if (recs[i].db == db)
                fuzz_load(e, &recs[i]);
    fuzz_check(engine_start(e) == ATP_OK, "engine_start");
    fuzz_check(engine_sync(e) == ATP_OK, "engine_sync");
    fuzz_check_answers(e);
    engine_stop(e);
    engine_free(e);
    return 0;
}
