/*
 * resv_record.c - the stored form of a reservation (LMDB value), msgpack.
 * Version 2 (written):
 *
 *   [2, id, channel, state, created_ms, expires_ms, updated_ms, due_ms,
 *    order_ref | nil, [[sku, region, qty, consumed, released], ...],
 *    [[source, seq, event | nil], ...]]
 *
 * A line pinned to a pickup location has a 6th member, the location's id
 * (stored by id like regions): [sku, region, qty, consumed, released,
 * location]. A line without it is not pinned, so records written before
 * pinning are read as they were; an atpd older than pinning skips a record
 * with a pinned line (counted in load_skipped): a downgrade loses open
 * pickup reservations, so do not downgrade with any open.
 *
 * The last array is the record's consumption marks (resv.h, resv->marks),
 * one per source at most; event nil: the whole message. A held record has
 * marks too (allocations that named it while held), in the same field:
 * they needed no new version.
 *
 * A 12th field, the client a reservation belongs to (tenancy,
 * docs/SECURITY.md), follows when it has one: a record without it (every
 * record written before tenancy, and every one written without it) has
 * 11 fields and is read as before.
 *
 * A 13th field, the digest of a partial reserve's request (resv.h,
 * resv->digest: what a replay is compared with), follows when it has one,
 * the 12th then being the client or nil. An atpd older than partial
 * reservations skips such a record (counted in load_skipped), like a
 * pinned line: do not downgrade with partial or split reservations open
 * (or finished ones within retention, whose replay answer would go).
 *
 * A line granted beyond ATP (docs/PROTOCOL.md, "Backorder budgets") has a
 * 7th member, its `backordered` units (1..qty), the 6th then being its
 * location or nil: [sku, region, qty, consumed, released, location | nil,
 * backordered]. An atpd older than backorders skips such a record
 * (load_skipped); it loads a backorder reserve's record without such a
 * line (filled from ATP), whose digest it then never matches
 * (docs/PROTOCOL.md, "Backorder budgets", downgrading).
 *
 * A 14th field, a dated reservation's promise_ms (docs/PROTOCOL.md,
 * "Dated reservations"), follows when it has one, after the client or nil
 * and the digest (a dated reserve always has one). An atpd older than
 * dated reservations skips such a record (load_skipped): do not downgrade
 * with preorders open.
 *
 * Version 1 (read, so that an upgrade keeps its reservations) has no marks
 * but a line of 7: [sku, region, qty, consumed, released, consume_source |
 * nil, consume_seq], the last message that consumed the line; it becomes
 * the mark (consume_source, consume_seq, whole message), as many as the
 * lines name, the highest per source. A reservation committed under
 * version 1 has no commit marks (see docs/ARCHITECTURE.md, "Consumption
 * keys").
 *
 * Regions, channels and sources are stored by id, not index, so that a
 * changed configuration order cannot re-point a reservation; a mark of a
 * source no longer configured is dropped (it cannot send any more). Engine
 * thread (or main at start-up). Stored bytes are input like any other:
 * decoding validates everything.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "common/log.h"
#include "config/config.h"
#include "engine/engine_int.h"
#include "engine/resv_int.h"

#define RESV_RECORD_VERSION 2
#define RESV_RECORD_FIELDS 11
#define RESV_RECORD_V1_FIELDS 10
#define RESV_RECORD_V1_LINE 7
#define RESV_RECORD_LINE 5

unsigned char *resv_record_encode(const engine *e, const resv *r, size_t *len)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return NULL;
    codec_w_array(w, RESV_RECORD_FIELDS + (r->promise_ms != 0  ? 3
                                           : r->digest != 0    ? 2
                                           : r->client != NULL ? 1
                                                               : 0));
    codec_w_uint(w, RESV_RECORD_VERSION);
    codec_w_str(w, r->id, r->id_len);
    codec_w_cstr(w, e->cfg->channels[r->channel]);
    codec_w_uint(w, r->state);
    codec_w_int(w, r->created_ms);
    codec_w_int(w, r->expires_ms);
    codec_w_int(w, r->updated_ms);
    codec_w_int(w, r->due.key);
    if (r->order_ref != NULL)
        codec_w_str(w, r->order_ref, r->order_ref_len);
    else
        codec_w_nil(w);
    codec_w_array(w, r->n_lines);
    for (uint32_t i = 0; i < r->n_lines; i++) {
        size_t sku_len;
        const char *sku = dict_key(e->skus, r->lines[i].sku, &sku_len);
        const resv_line *l = &r->lines[i];
        bool pinned = l->pin != 0, backordered = l->backordered > 0;
        codec_w_array(w, RESV_RECORD_LINE + (backordered ? 2 : pinned));
        codec_w_str(w, sku, sku_len);
        codec_w_cstr(w, e->cfg->regions[l->region].id);
        codec_w_int(w, l->qty);
        codec_w_int(w, l->consumed);
        codec_w_int(w, l->released);
        if (pinned)
            codec_w_cstr(w, e->cfg->locations[l->pin - 1].id);
        else if (backordered)
            codec_w_nil(w);
        if (backordered)
            codec_w_int(w, l->backordered);
    }
    codec_w_array(w, r->n_marks);
    for (uint32_t i = 0; i < r->n_marks; i++) {
        const resv_mark *m = &r->marks[i];
        codec_w_array(w, 3);
        codec_w_cstr(w, e->cfg->sources[m->src].id);
        codec_w_uint(w, m->seq);
        if (m->event == RESV_MARK_MESSAGE)
            codec_w_nil(w);
        else
            codec_w_uint(w, m->event);
    }
    if (r->client != NULL)
        codec_w_str(w, r->client, r->client_len);
    else if (r->digest != 0 || r->promise_ms != 0)
        codec_w_nil(w);
    if (r->digest != 0 || r->promise_ms != 0)
        codec_w_uint(w, r->digest);
    if (r->promise_ms != 0)
        codec_w_int(w, r->promise_ms);
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

static int64_t resv_record_region(const engine *e, codec_str s)
{
    return config_region_find(e->cfg, s.ptr, s.len);
}

/* A pinned line's stored location id: its index + 1 in *out, or 0 (the
 * line is kept as a line of its region, which alone keeps the region from
 * overselling) when the configuration no longer has that location or now
 * puts it in another region than the line's (the file was edited between
 * two runs: pinned, its stock would count in one region and its hold in
 * another). false: not an id. */
static bool resv_record_location(const engine *e, const codec_val *v,
                                 codec_str id, uint32_t region, uint32_t *out)
{
    codec_str s;
    if (!codec_val_str(v, &s) || !codec_str_is_id(s, ATP_ID_MAX_LEN))
        return false;
    *out = 0;
    const char *gone = "is no longer configured";
    int i = config_location_find(e->cfg, s.ptr, s.len);
    if (i >= 0 && e->loc_region[i] == region) {
        *out = (uint32_t)i + 1;
        return true;
    }
    if (i >= 0)
        gone = "is now in another region";
    /* Ids are at most 128 and 64 printable bytes (checked): whole. */
    log_warn("resv",
             "stored reservation '%.*s' has a line pinned to location '%.*s', "
             "which %s: kept as a line of its region, not pinned",
             (int)id.len, id.ptr, (int)s.len, s.ptr, gone);
    return true;
}

/* The index of a stored source id; -1: not configured (any more). */
static int64_t resv_record_source(const engine *e, codec_str s)
{
    for (size_t i = 0; i < e->cfg->n_sources; i++)
        if (codec_str_eq(s, e->cfg->sources[i].id))
            return (int64_t)i;
    return -1;
}

/* Version 2's marks: [[source, seq, event | nil], ...], a source at most
 * once. Returns ATP_OK, ATP_E_BAD_REQUEST or ATP_E_NOMEM. */
static atp_err resv_record_marks(const engine *e, const codec_val *marks,
                                 resv *r)
{
    uint32_t n = codec_val_len(marks);
    if (codec_val_type(marks) != CODEC_ARRAY || n > CONFIG_MAX_SOURCES)
        return ATP_E_BAD_REQUEST;
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *m = codec_val_at(marks, i);
        codec_str src;
        uint64_t seq, event = RESV_MARK_MESSAGE;
        if (codec_val_type(m) != CODEC_ARRAY || codec_val_len(m) != 3 ||
            !codec_val_str(codec_val_at(m, 0), &src) ||
            !codec_str_is_id(src, ATP_ID_MAX_LEN) ||
            !codec_val_uint(codec_val_at(m, 1), &seq) || seq > RESV_SEQ_MAX ||
            (codec_val_type(codec_val_at(m, 2)) != CODEC_NIL &&
             (!codec_val_uint(codec_val_at(m, 2), &event) ||
              event >= RESV_MARK_MESSAGE)))
            return ATP_E_BAD_REQUEST;
        int64_t s = resv_record_source(e, src);
        if (s < 0)
            continue; /* that source can no longer send */
        for (uint32_t k = 0; k < r->n_marks; k++)
            if (r->marks[k].src == (uint32_t)s)
                return ATP_E_BAD_REQUEST;
        if (!resv_mark_raise(r, (uint32_t)s, seq, (uint32_t)event))
            return ATP_E_NOMEM;
    }
    return ATP_OK;
}

/* Version 1's line tail [consume_source | nil, consume_seq]: the last
 * message that consumed the line becomes a mark of its source. */
static atp_err resv_record_v1_mark(const engine *e, const codec_val *l, resv *r)
{
    codec_str src;
    uint64_t seq;
    if (!codec_val_uint(codec_val_at(l, 6), &seq) || seq > RESV_SEQ_MAX)
        return ATP_E_BAD_REQUEST;
    if (codec_val_type(codec_val_at(l, 5)) == CODEC_NIL)
        return ATP_OK;
    if (!codec_val_str(codec_val_at(l, 5), &src))
        return ATP_E_BAD_REQUEST;
    int64_t s = resv_record_source(e, src);
    if (s >= 0 && !resv_mark_raise(r, (uint32_t)s, seq, RESV_MARK_MESSAGE))
        return ATP_E_NOMEM;
    return ATP_OK;
}

static bool resv_record_int(const codec_val *v, int64_t *out)
{
    return v != NULL && codec_val_int(v, out);
}

atp_err resv_record_decode(engine *e, const void *buf, size_t len, resv **out)
{
    codec_arena *a = codec_arena_alloc();
    if (a == NULL)
        return ATP_E_NOMEM;
    atp_err err = ATP_E_BAD_REQUEST;
    resv *r = NULL;
    const codec_val *v, *lines;
    codec_str id, channel, ref = {0}, client = {0};
    int64_t version, state, created, expires, updated, due;
    if (codec_decode(a, buf, len, &v) != ATP_OK ||
        codec_val_type(v) != CODEC_ARRAY ||
        !resv_record_int(codec_val_at(v, 0), &version) ||
        !((version == RESV_RECORD_VERSION &&
           codec_val_len(v) >= RESV_RECORD_FIELDS &&
           codec_val_len(v) <= RESV_RECORD_FIELDS + 3) ||
          (version == 1 && codec_val_len(v) == RESV_RECORD_V1_FIELDS)) ||
        !codec_val_str(codec_val_at(v, 1), &id) ||
        !codec_str_is_id(id, ATP_RESV_ID_MAX_LEN) ||
        !codec_val_str(codec_val_at(v, 2), &channel) ||
        !resv_record_int(codec_val_at(v, 3), &state) ||
        state < ENGINE_RESV_HELD || state > ENGINE_RESV_EXPIRED ||
        !resv_record_int(codec_val_at(v, 4), &created) ||
        !resv_record_int(codec_val_at(v, 5), &expires) ||
        !resv_record_int(codec_val_at(v, 6), &updated) ||
        !resv_record_int(codec_val_at(v, 7), &due))
        goto out;
    uint64_t digest = 0;
    int64_t promise = 0;
    const codec_val *cv = codec_val_at(v, RESV_RECORD_FIELDS);
    bool with_digest = codec_val_len(v) >= RESV_RECORD_FIELDS + 2;
    bool with_promise = codec_val_len(v) == RESV_RECORD_FIELDS + 3;
    if (with_promise &&
        (!resv_record_int(codec_val_at(v, RESV_RECORD_FIELDS + 2), &promise) ||
         promise <= 0 || promise > ATP_WIRE_INT_MAX))
        goto out;
    if (version == RESV_RECORD_VERSION &&
        codec_val_len(v) > RESV_RECORD_FIELDS &&
        !(with_digest && codec_val_type(cv) == CODEC_NIL) &&
        (!codec_val_str(cv, &client) ||
         !codec_str_is_id(client, ATP_ID_MAX_LEN)))
        goto out;
    if (with_digest &&
        (!codec_val_uint(codec_val_at(v, RESV_RECORD_FIELDS + 1), &digest) ||
         (digest == 0 && !with_promise)))
        goto out;
    if (codec_val_type(codec_val_at(v, 8)) != CODEC_NIL &&
        (!codec_val_str(codec_val_at(v, 8), &ref) ||
         !codec_str_is_id(ref, ATP_RESV_ID_MAX_LEN)))
        goto out;
    lines = codec_val_at(v, 9);
    uint32_t n = codec_val_len(lines);
    if (codec_val_type(lines) != CODEC_ARRAY || n == 0 ||
        n > e->cfg->reservations.max_lines)
        goto out;
    int64_t ch = config_channel_find(e->cfg, channel.ptr, channel.len);
    if (ch < 0) {
        err = ATP_E_UNKNOWN_CHANNEL;
        goto out;
    }
    size_t bytes = 0;
    uint32_t line_len = version == 1 ? RESV_RECORD_V1_LINE : RESV_RECORD_LINE;
    for (uint32_t i = 0; i < n; i++) {
        codec_str sku;
        const codec_val *l = codec_val_at(lines, i);
        uint32_t members = codec_val_len(l);
        if (codec_val_type(l) != CODEC_ARRAY ||
            (members != line_len &&
             !(version == RESV_RECORD_VERSION && members > RESV_RECORD_LINE &&
               members <= RESV_RECORD_LINE + 2)) ||
            !codec_val_str(codec_val_at(l, 0), &sku) ||
            !codec_str_is_id(sku, ATP_SKU_MAX_LEN))
            goto out;
        bytes += sku.len;
    }
    if ((err = engine__skus_reserve(e, n, bytes)) != ATP_OK)
        goto out;
    err = ATP_E_BAD_REQUEST;
    if ((r = resv__alloc(n)) == NULL) {
        err = ATP_E_NOMEM;
        goto out;
    }
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
        if (version == 1 && (err = resv_record_v1_mark(e, l, r)) != ATP_OK)
            goto out;
        err = ATP_E_BAD_REQUEST;
        uint32_t pin = 0;
        int64_t backordered = 0;
        bool has_bo = version == RESV_RECORD_VERSION &&
                      codec_val_len(l) == RESV_RECORD_LINE + 2;
        const codec_val *loc = codec_val_at(l, RESV_RECORD_LINE);
        if (version == RESV_RECORD_VERSION &&
            codec_val_len(l) > RESV_RECORD_LINE &&
            !(has_bo && codec_val_type(loc) == CODEC_NIL) &&
            !resv_record_location(e, loc, id, (uint32_t)reg, &pin))
            goto out;
        if (has_bo && (!resv_record_int(codec_val_at(l, RESV_RECORD_LINE + 1),
                                        &backordered) ||
                       backordered < 1 || backordered > qty))
            goto out;
        r->lines[i] = (resv_line){.sku = idx,
                                  .region = (uint32_t)reg,
                                  .pin = pin,
                                  .qty = qty,
                                  .consumed = consumed,
                                  .released = released,
                                  .backordered = backordered};
    }
    if (version == RESV_RECORD_VERSION &&
        (err = resv_record_marks(e, codec_val_at(v, 10), r)) != ATP_OK)
        goto out;
    err = ATP_E_BAD_REQUEST;
    r->digest = digest;
    r->promise_ms = promise;
    r->id = resv__strdup(id.ptr, id.len);
    r->id_len = id.len;
    if (ref.len > 0) {
        r->order_ref = resv__strdup(ref.ptr, ref.len);
        r->order_ref_len = ref.len;
    }
    if (client.len > 0) {
        r->client = resv__strdup(client.ptr, client.len);
        r->client_len = client.len;
    }
    if (r->id == NULL || (ref.len > 0 && r->order_ref == NULL) ||
        (client.len > 0 && r->client == NULL)) {
        err = ATP_E_NOMEM;
        goto out;
    }
    r->channel = (uint32_t)ch;
    r->state = (uint8_t)state;
    r->created_ms = created;
    r->expires_ms = expires;
    r->updated_ms = updated;
    r->due.key = due;
    *out = r;
    r = NULL;
    err = ATP_OK;
out:
    resv__free(r);
    codec_arena_free(a);
    return err;
}
