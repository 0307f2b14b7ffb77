/*
 * source_msg.c - decoding and encoding of source messages (docs/PROTOCOL.md,
 * "Source feeds"). Decoding runs on the ingest thread for every message a
 * WMS/3PL/ERP adapter publishes, so it walks the unpacked msgpack objects
 * directly and allocates nothing but the one events array.
 *
 * Error codes, following the PROTOCOL.md table:
 *   envelope not [1, str, uint, uint, array] nor
 *     [2, str, uint, uint, uint, uint, bool, array] (either optionally
 *     followed by session, or by session and MAC), source id not an id,
 *     seq, ts_ms or snapshot_id not integers in 0..2^53-1, part above
 *     2^32-1, session not 1..2^53-1, MAC not bin 32 written as bin 8 at
 *     the very end                                -> BAD_REQUEST
 *   more events than max_events                   -> TOO_MANY_LINES
 *   event not a non-empty array, kind not 1..3 or 6..9 (4, 5 reserved),
 *     wrong arity for its kind, a kind a snapshot
 *     may not carry (only 2 and 6)                -> BAD_EVENT
 *   lot quantity outside 0..10^15, eta_ms outside
 *     0..2^53-1                                   -> BAD_QTY
 *   a field of an event of the wrong msgpack type -> BAD_REQUEST
 *   SKU not 1..ATP_SKU_MAX_LEN printable UTF-8    -> BAD_SKU
 *   location not an id                            -> BAD_REQUEST
 *   bucket an integer outside 0..2                -> BAD_BUCKET
 *   value/delta an integer with |v| > 10^15       -> BAD_QTY
 *   ref not 1..CODEC_REF_MAX_LEN printable UTF-8  -> BAD_ID
 * Each check looks at its own field only, so one field's error can never
 * be masked by another's.
 */
#include <string.h>

#include "codec/codec_int.h"

static bool codec_src_str(const msgpack_object *o, codec_str *out)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return true;
}

/* codec_src_int reads an integer field into *out when it lies in
 * lo..hi: BAD_REQUEST when it is not an integer, BAD_QTY when it is one
 * out of range (hi <= INT64_MAX). */
static atp_err codec_src_int(const msgpack_object *o, int64_t lo, int64_t hi,
                             int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)hi)
            return ATP_E_BAD_QTY;
        *out = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < lo)
            return ATP_E_BAD_QTY;
        *out = o->via.i64;
    } else {
        return ATP_E_BAD_REQUEST;
    }
    return *out < lo ? ATP_E_BAD_QTY : ATP_OK;
}

/* An envelope's unsigned field (seq, ts_ms, snapshot_id): 0..2^53-1. */
static bool codec_src_uint(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.u64 > (uint64_t)ATP_WIRE_INT_MAX)
        return false;
    *out = o->via.u64;
    return true;
}

/* [kind, sku, location, lot(, qty, eta_ms)] */
static atp_err codec_src_lot(const msgpack_object *f, uint32_t n,
                             codec_event *ev)
{
    bool with_qty = ev->kind == ATP_EV_LOT_ADD || ev->kind == ATP_EV_LOT_CHANGE;
    if (n != (with_qty ? 6u : 4u))
        return ATP_E_BAD_EVENT;
    if (!codec_src_str(&f[1], &ev->sku))
        return ATP_E_BAD_REQUEST;
    if (!codec_str_is_id(ev->sku, ATP_SKU_MAX_LEN))
        return ATP_E_BAD_SKU;
    if (!codec_src_str(&f[2], &ev->location) ||
        !codec_str_is_id(ev->location, ATP_ID_MAX_LEN))
        return ATP_E_BAD_REQUEST;
    if (!codec_src_str(&f[3], &ev->ref))
        return ATP_E_BAD_REQUEST;
    if (!codec_str_is_id(ev->ref, CODEC_REF_MAX_LEN))
        return ATP_E_BAD_ID;
    if (!with_qty)
        return ATP_OK;
    atp_err err = codec_src_int(&f[4], 0, ATP_QTY_MAX, &ev->value);
    if (err == ATP_OK) /* an ETA is a time, not a quantity: beyond 10^15 ms */
        err = codec_src_int(&f[5], 0, ATP_WIRE_INT_MAX, &ev->eta_ms);
    return err;
}

/* codec_src_event decodes one event array e into ev. */
static atp_err codec_src_event(const msgpack_object *e, codec_event *ev)
{
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size == 0) {
        return ATP_E_BAD_EVENT;
    }
    const msgpack_object *f = e->via.array.ptr;
    uint32_t n = e->via.array.size;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return ATP_E_BAD_EVENT;
    }
    uint64_t kind = f[0].via.u64;

    memset(ev, 0, sizeof(*ev));
    switch (kind) {
    case ATP_EV_HEARTBEAT:
        if (n != 1) {
            return ATP_E_BAD_EVENT;
        }
        ev->kind = ATP_EV_HEARTBEAT;
        return ATP_OK;
    case ATP_EV_DELTA:
        if (n != 5 && n != 6) {
            return ATP_E_BAD_EVENT;
        }
        break;
    case ATP_EV_SET:
        if (n != 5) {
            return ATP_E_BAD_EVENT;
        }
        break;
    case ATP_EV_LOT_ADD:
    case ATP_EV_LOT_CHANGE:
    case ATP_EV_LOT_RECEIVE:
    case ATP_EV_LOT_CANCEL:
        ev->kind = (uint8_t)kind;
        return codec_src_lot(f, n, ev);
    default:
        /* 4 and 5 are reserved and never valid. */
        return ATP_E_BAD_EVENT;
    }
    ev->kind = (uint8_t)kind;

    if (!codec_src_str(&f[1], &ev->sku)) {
        return ATP_E_BAD_REQUEST;
    }
    if (!codec_str_is_id(ev->sku, ATP_SKU_MAX_LEN)) {
        return ATP_E_BAD_SKU;
    }
    if (!codec_src_str(&f[2], &ev->location) ||
        !codec_str_is_id(ev->location, ATP_ID_MAX_LEN)) {
        return ATP_E_BAD_REQUEST;
    }

    if (f[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (f[3].via.u64 >= ATP_BUCKET_COUNT) {
            return ATP_E_BAD_BUCKET;
        }
        ev->bucket = (uint8_t)f[3].via.u64;
    } else if (f[3].type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return ATP_E_BAD_BUCKET;
    } else {
        return ATP_E_BAD_REQUEST;
    }

    atp_err err = codec_src_int(&f[4], -ATP_QTY_MAX, ATP_QTY_MAX, &ev->value);
    if (err != ATP_OK) {
        return err;
    }

    if (n == 6) {
        if (!codec_src_str(&f[5], &ev->ref)) {
            return ATP_E_BAD_REQUEST;
        }
        if (!codec_str_is_id(ev->ref, CODEC_REF_MAX_LEN)) {
            return ATP_E_BAD_ID;
        }
    }
    return ATP_OK;
}

/* The optional tail after the events: f[0] session, f[1] MAC (n of them).
 * The MAC must be the message's last bytes, as bin 8, so that what it
 * covers is exactly the bytes before it (docs/PROTOCOL.md, "Source keys"). */
static bool codec_src_tail(const msgpack_object *f, uint32_t n,
                           const uint8_t *buf, size_t len, codec_src_msg *out)
{
    if (n == 0)
        return true;
    if (!codec_src_uint(&f[0], &out->session) || out->session == 0)
        return false;
    if (n == 1)
        return true;
    const uint8_t *end = buf + len;
    if (f[1].type != MSGPACK_OBJECT_BIN ||
        f[1].via.bin.size != ATP_SRC_MAC_LEN || len < ATP_SRC_MAC_TAIL ||
        (const uint8_t *)f[1].via.bin.ptr != end - ATP_SRC_MAC_LEN ||
        end[-ATP_SRC_MAC_TAIL] != 0xc4)
        return false;
    out->mac = end - ATP_SRC_MAC_LEN;
    return true;
}

atp_err codec_src_decode(codec_arena *a, const void *buf, size_t len,
                         uint32_t max_events, codec_src_msg *out,
                         uint32_t *bad_event)
{
    uint32_t bad = UINT32_MAX;
    atp_err err;
    msgpack_object root;

    err = codec__unpack(a, buf, len, ATP_MSG_MAX_DEPTH, &root);
    if (err != ATP_OK) {
        goto fail;
    }
    err = ATP_E_BAD_REQUEST;
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 5) {
        goto fail;
    }
    const msgpack_object *f = root.via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        goto fail;
    }
    const msgpack_object *events;
    memset(out, 0, sizeof *out);
    uint32_t size = root.via.array.size;
    if (f[0].via.u64 == ATP_MSG_SOURCE_BATCH && size >= 5 && size <= 7) {
        if (!codec_src_uint(&f[2], &out->seq) ||
            !codec_src_uint(&f[3], &out->ts_ms) ||
            !codec_src_tail(f + 5, size - 5, buf, len, out)) {
            goto fail;
        }
        events = &f[4];
    } else if (f[0].via.u64 == ATP_MSG_SNAPSHOT && size >= 8 && size <= 10) {
        uint64_t part;
        if (!codec_src_uint(&f[2], &out->snapshot_id) ||
            !codec_src_uint(&f[3], &part) ||
            !codec_src_uint(&f[4], &out->ts_ms) ||
            !codec_src_uint(&f[5], &out->seq) ||
            f[6].type != MSGPACK_OBJECT_BOOLEAN || part > UINT32_MAX ||
            !codec_src_tail(f + 8, size - 8, buf, len, out))
            goto fail;
        out->part = (uint32_t)part;
        out->last = f[6].via.boolean;
        events = &f[7];
    } else {
        goto fail;
    }
    out->kind = (uint8_t)f[0].via.u64;
    if (!codec_src_str(&f[1], &out->source) ||
        !codec_str_is_id(out->source, ATP_ID_MAX_LEN) ||
        events->type != MSGPACK_OBJECT_ARRAY) {
        goto fail;
    }

    uint32_t n = events->via.array.size;
    if (n > max_events) {
        err = ATP_E_TOO_MANY_LINES;
        goto fail;
    }
    out->n_events = n;
    out->events = NULL;
    if (n == 0) {
        return ATP_OK;
    }
    out->events = codec_arena_malloc(a, (size_t)n * sizeof(codec_event));
    if (out->events == NULL) {
        err = ATP_E_NOMEM;
        goto fail;
    }
    const msgpack_object *ev = events->via.array.ptr;
    for (uint32_t i = 0; i < n; i++) {
        err = codec_src_event(&ev[i], &out->events[i]);
        if (err == ATP_OK && out->kind == ATP_MSG_SNAPSHOT &&
            out->events[i].kind != ATP_EV_SET &&
            out->events[i].kind != ATP_EV_LOT_ADD)
            err = ATP_E_BAD_EVENT; /* a snapshot states values, no changes */
        if (err != ATP_OK) {
            bad = i;
            goto fail;
        }
    }
    return ATP_OK;

fail:
    if (bad_event != NULL) {
        *bad_event = bad;
    }
    return err;
}

void codec_src_encode(codec_writer *w, const codec_src_msg *m)
{
    uint32_t tail = (m->session != 0 || m->mac != NULL) + (m->mac != NULL);
    if (m->kind == ATP_MSG_SNAPSHOT) {
        codec_w_array(w, 8 + tail);
        codec_w_uint(w, ATP_MSG_SNAPSHOT);
        codec_w_str(w, m->source.ptr, m->source.len);
        codec_w_uint(w, m->snapshot_id);
        codec_w_uint(w, m->part);
        codec_w_uint(w, m->ts_ms);
        codec_w_uint(w, m->seq);
        codec_w_bool(w, m->last);
    } else {
        codec_w_array(w, 5 + tail);
        codec_w_uint(w, ATP_MSG_SOURCE_BATCH);
        codec_w_str(w, m->source.ptr, m->source.len);
        codec_w_uint(w, m->seq);
        codec_w_uint(w, m->ts_ms);
    }
    codec_w_array(w, m->n_events);
    for (uint32_t i = 0; i < m->n_events; i++) {
        const codec_event *e = &m->events[i];
        switch (e->kind) {
        case ATP_EV_DELTA:
        case ATP_EV_SET: {
            bool ref = e->kind == ATP_EV_DELTA && e->ref.len > 0;
            codec_w_array(w, ref ? 6 : 5);
            codec_w_uint(w, e->kind);
            codec_w_str(w, e->sku.ptr, e->sku.len);
            codec_w_str(w, e->location.ptr, e->location.len);
            codec_w_uint(w, e->bucket);
            codec_w_int(w, e->value);
            if (ref) {
                codec_w_str(w, e->ref.ptr, e->ref.len);
            }
            break;
        }
        case ATP_EV_LOT_ADD:
        case ATP_EV_LOT_CHANGE:
        case ATP_EV_LOT_RECEIVE:
        case ATP_EV_LOT_CANCEL: {
            bool qty =
                e->kind == ATP_EV_LOT_ADD || e->kind == ATP_EV_LOT_CHANGE;
            codec_w_array(w, qty ? 6 : 4);
            codec_w_uint(w, e->kind);
            codec_w_str(w, e->sku.ptr, e->sku.len);
            codec_w_str(w, e->location.ptr, e->location.len);
            codec_w_str(w, e->ref.ptr, e->ref.len);
            if (qty) {
                codec_w_int(w, e->value);
                codec_w_int(w, e->eta_ms);
            }
            break;
        }
        default:
            /* heartbeat, and kinds this version cannot encode: [kind] */
            codec_w_array(w, 1);
            codec_w_uint(w, e->kind);
            break;
        }
    }
    if (tail > 0)
        codec_w_uint(w, m->session);
}
