/*
 * resv_record.c - the stored form of a reservation (LMDB value), msgpack:
 *
 *   [1, id, channel, state, created_ms, expires_ms, updated_ms, due_ms,
 *    order_ref | nil, [[sku, region, qty, consumed, released,
 *                       consume_source | nil, consume_seq], ...]]
 *
 * Regions and channels are stored by id, not index, so that a changed
 * configuration order cannot re-point a reservation. Engine thread (or main
 * at start-up). Stored bytes are input like any other: decoding validates
 * everything.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "engine/engine_int.h"

#define RESV_RECORD_VERSION 1
#define RESV_RECORD_FIELDS 10

unsigned char *resv_record_encode(const engine *e, const resv *r, size_t *len)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return NULL;
    codec_w_array(w, RESV_RECORD_FIELDS);
    codec_w_uint(w, RESV_RECORD_VERSION);
    codec_w_str(w, r->id, r->id_len);
    codec_w_cstr(w, e->cfg->channels[r->channel]);
    codec_w_uint(w, r->state);
    codec_w_int(w, r->created_ms);
    codec_w_int(w, r->expires_ms);
    codec_w_int(w, r->updated_ms);
    codec_w_int(w, r->due_ms);
    if (r->order_ref != NULL)
        codec_w_str(w, r->order_ref, r->order_ref_len);
    else
        codec_w_nil(w);
    codec_w_array(w, r->n_lines);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        size_t sku_len;
        const char *sku = dict_key(e->skus, r->lines[i].sku, &sku_len);
        const resv_line *l = &r->lines[i];
        codec_w_array(w, 7);
        codec_w_str(w, sku, sku_len);
        codec_w_cstr(w, e->cfg->regions[l->region].id);
        codec_w_int(w, l->qty);
        codec_w_int(w, l->consumed);
        codec_w_int(w, l->released);
        if (l->consume_src < e->cfg->n_sources)
            codec_w_cstr(w, e->cfg->sources[l->consume_src].id);
        else
            codec_w_nil(w);
        codec_w_uint(w, l->consume_seq);
    }
    unsigned char *out = NULL;
    size_t n;
    const void *data = codec_writer_data(w, &n);
    if (!codec_writer_failed(w) && (out = malloc(n)) != NULL) {
        memcpy(out, data, n);
        *len = n;
    }
    codec_writer_free(w);
    return out;
}

static int64_t resv_record_index(const char *const *ids, size_t n, codec_str s)
{
    for (size_t i = 0; i < n; i++)
        if (codec_str_eq(s, ids[i]))
            return (int64_t)i;
    return -1;
}

static int64_t resv_record_region(const engine *e, codec_str s)
{
    for (size_t i = 0; i < e->cfg->n_regions; i++)
        if (codec_str_eq(s, e->cfg->regions[i].id))
            return (int64_t)i;
    return -1;
}

static bool resv_record_int(const codec_val *v, int64_t *out)
{
    return v != NULL && codec_val_int(v, out);
}

static char *resv_record_dup(codec_str s)
{
    char *c = malloc((size_t)s.len + 1);
    if (c != NULL) {
        memcpy(c, s.ptr, s.len);
        c[s.len] = '\0';
    }
    return c;
}

atp_err resv_record_decode(engine *e, const void *buf, size_t len, resv **out)
{
    codec_arena *a = codec_arena_alloc();
    if (a == NULL)
        return ATP_E_NOMEM;
    atp_err err = ATP_E_BAD_REQUEST;
    resv *r = NULL;
    const codec_val *v, *lines;
    codec_str id, channel, ref = {0};
    int64_t version, state, created, expires, updated, due;
    if (codec_decode(a, buf, len, &v) != ATP_OK || codec_val_type(v) != CODEC_ARRAY ||
        codec_val_len(v) != RESV_RECORD_FIELDS ||
        !resv_record_int(codec_val_at(v, 0), &version) ||
        version != RESV_RECORD_VERSION || !codec_val_str(codec_val_at(v, 1), &id) ||
        !codec_str_is_id(id, ATP_RESV_ID_MAX_LEN) ||
        !codec_val_str(codec_val_at(v, 2), &channel) ||
        !resv_record_int(codec_val_at(v, 3), &state) || state < ENGINE_RESV_HELD ||
        state > ENGINE_RESV_EXPIRED || !resv_record_int(codec_val_at(v, 4), &created) ||
        !resv_record_int(codec_val_at(v, 5), &expires) ||
        !resv_record_int(codec_val_at(v, 6), &updated) ||
        !resv_record_int(codec_val_at(v, 7), &due))
        goto out;
    if (codec_val_type(codec_val_at(v, 8)) != CODEC_NIL &&
        (!codec_val_str(codec_val_at(v, 8), &ref) || !codec_str_is_id(ref, ATP_RESV_ID_MAX_LEN)))
        goto out;
    lines = codec_val_at(v, 9);
    uint32_t n = codec_val_len(lines);
    if (codec_val_type(lines) != CODEC_ARRAY || n == 0 ||
        n > e->cfg->reservations.max_lines)
        goto out;
    int64_t ch = resv_record_index((const char *const *)e->cfg->channels,
                                   e->cfg->n_channels, channel);
    if (ch < 0) {
        err = ATP_E_UNKNOWN_CHANNEL;
        goto out;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        codec_str sku;
        const codec_val *l = codec_val_at(lines, i);
        if (codec_val_type(l) != CODEC_ARRAY || codec_val_len(l) != 7 ||
            !codec_val_str(codec_val_at(l, 0), &sku) ||
            !codec_str_is_id(sku, ATP_SKU_MAX_LEN))
            goto out;
        bytes += sku.len;
    }
    if ((err = engine_skus_reserve(e, n, bytes)) != ATP_OK)
        goto out;
    err = ATP_E_BAD_REQUEST;
    if ((r = calloc(1, sizeof *r + n * sizeof(resv_line))) == NULL) {
        err = ATP_E_NOMEM;
        goto out;
    }
    r->n_lines = n;
    r->heap_idx = SIZE_MAX;
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *l = codec_val_at(lines, i);
        codec_str sku, region;
        int64_t qty, consumed, released;
        if (!codec_val_str(codec_val_at(l, 0), &sku) ||
            !codec_val_str(codec_val_at(l, 1), &region) ||
            !resv_record_int(codec_val_at(l, 2), &qty) ||
            !resv_record_int(codec_val_at(l, 3), &consumed) ||
            !resv_record_int(codec_val_at(l, 4), &released) || qty < 1 ||
            qty > ATP_QTY_MAX || consumed < 0 || released < 0 ||
            consumed > qty - released)
            goto out;
        int64_t reg = resv_record_region(e, region);
        if (reg < 0) {
            err = ATP_E_UNKNOWN_REGION;
            goto out;
        }
        uint32_t idx;
        if ((err = dict_intern(e->skus, sku.ptr, sku.len, &idx)) != ATP_OK)
            goto out;
        err = ATP_E_BAD_REQUEST;
        codec_str csrc;
        uint64_t cseq = 0;
        uint32_t src = UINT32_MAX;
        if (codec_val_str(codec_val_at(l, 5), &csrc)) {
            for (size_t s = 0; s < e->cfg->n_sources; s++)
                if (codec_str_eq(csrc, e->cfg->sources[s].id))
                    src = (uint32_t)s;
        } else if (codec_val_type(codec_val_at(l, 5)) != CODEC_NIL) {
            goto out;
        }
        if (!codec_val_uint(codec_val_at(l, 6), &cseq))
            goto out;
        r->lines[i] = (resv_line){idx,      (uint32_t)reg, qty, consumed,
                                  released, src,           cseq};
    }
    r->id = resv_record_dup(id);
    r->id_len = id.len;
    if (ref.len > 0) {
        r->order_ref = resv_record_dup(ref);
        r->order_ref_len = ref.len;
    }
    if (r->id == NULL || (ref.len > 0 && r->order_ref == NULL)) {
        err = ATP_E_NOMEM;
        goto out;
    }
    r->channel = (uint32_t)ch;
    r->state = (uint8_t)state;
    r->created_ms = created;
    r->expires_ms = expires;
    r->updated_ms = updated;
    r->due_ms = due;
    *out = r;
    r = NULL;
    err = ATP_OK;
out:
    if (r != NULL) {
        free(r->id);
        free(r->order_ref);
        free(r);
    }
    codec_arena_free(a);
    return err;
}
