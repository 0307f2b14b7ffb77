/*
 * value.c - generic decoding (codec_decode) and read-only accessors of the
 * decoded tree. Any thread; a tree belongs to the thread that owns its
 * arena. Every accessor accepts NULL and wrong types (returning false, NULL
 * or 0), so callers can chain codec_val_get() without checking each step.
 */
#include <string.h>

#include "codec/codec_int.h"
#include "common/log.h"

atp_err codec__unpack(codec_arena *a, const void *buf, size_t len,
                      unsigned max_depth, msgpack_object *out)
{
    atp_err err = codec_precheck(buf, len, max_depth);
    if (err != ATP_OK) {
        return err;
    }
    size_t off = 0;
    msgpack_unpack_return r =
        msgpack_unpack((const char *)buf, len, &off, &a->zone, out);
    switch (r) {
    case MSGPACK_UNPACK_SUCCESS:
        return ATP_OK;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return ATP_E_NOMEM;
    default:
        /* The precheck accepted what msgpack-c refuses: a disagreement
         * between the two parsers, worth a line in the log. */
        log_warn("codec", "msgpack_unpack returned %d after precheck", (int)r);
        return ATP_E_BAD_REQUEST;
    }
}

atp_err codec_decode(codec_arena *a, const void *buf, size_t len,
                     const codec_val **out)
{
    msgpack_object *o = msgpack_zone_malloc(&a->zone, sizeof(*o));
    if (o == NULL) {
        return ATP_E_NOMEM;
    }
    atp_err err = codec__unpack(a, buf, len, ATP_MSG_MAX_DEPTH, o);
    if (err != ATP_OK) {
        return err;
    }
    *out = codec__val(o);
    return ATP_OK;
}

codec_type codec_val_type(const codec_val *v)
{
    if (v == NULL) {
        return CODEC_NIL;
    }
    const msgpack_object *o = codec__obj(v);
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        return CODEC_BOOL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 > (uint64_t)INT64_MAX ? CODEC_UINT_BIG : CODEC_INT;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return CODEC_INT;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return CODEC_FLOAT;
    case MSGPACK_OBJECT_STR:
        return CODEC_STR;
    case MSGPACK_OBJECT_BIN:
        return CODEC_BIN;
    case MSGPACK_OBJECT_ARRAY:
        return CODEC_ARRAY;
    case MSGPACK_OBJECT_MAP:
        return CODEC_MAP;
    case MSGPACK_OBJECT_EXT:
        return CODEC_EXT;
    case MSGPACK_OBJECT_NIL:
    default:
        return CODEC_NIL;
    }
}

bool codec_val_bool(const codec_val *v, bool *out)
{
    if (v == NULL || codec__obj(v)->type != MSGPACK_OBJECT_BOOLEAN) {
        return false;
    }
    *out = codec__obj(v)->via.boolean;
    return true;
}

bool codec_val_int(const codec_val *v, int64_t *out)
{
    if (v == NULL) {
        return false;
    }
    const msgpack_object *o = codec__obj(v);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return true;
    }
    return false;
}

bool codec_val_uint(const codec_val *v, uint64_t *out)
{
    if (v == NULL) {
        return false;
    }
    const msgpack_object *o = codec__obj(v);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *out = o->via.u64;
        return true;
    }
    /* msgpack-c stores non-negative int8..int64 as POSITIVE_INTEGER; this
     * branch only guards against a future change of that rule. */
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= 0) {
        *out = (uint64_t)o->via.i64;
        return true;
    }
    return false;
}

bool codec_val_float(const codec_val *v, double *out)
{
    if (v == NULL) {
        return false;
    }
    const msgpack_object *o = codec__obj(v);
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        /* Many encoders write 2.0 as 2: accept integers, rounded to the
         * nearest double above 2^53. */
        *out = (double)o->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return true;
    default:
        return false;
    }
}

bool codec_val_str(const codec_val *v, codec_str *out)
{
    if (v == NULL || codec__obj(v)->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    out->ptr = codec__obj(v)->via.str.ptr;
    out->len = codec__obj(v)->via.str.size;
    return true;
}

uint32_t codec_val_len(const codec_val *v)
{
    if (v == NULL) {
        return 0;
    }
    const msgpack_object *o = codec__obj(v);
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        return o->via.array.size;
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        return o->via.map.size;
    }
    return 0;
}

const codec_val *codec_val_at(const codec_val *arr, uint32_t i)
{
    if (arr == NULL) {
        return NULL;
    }
    const msgpack_object *o = codec__obj(arr);
    if (o->type != MSGPACK_OBJECT_ARRAY || i >= o->via.array.size) {
        return NULL;
    }
    return codec__val(&o->via.array.ptr[i]);
}

static const msgpack_object_kv *codec_val_kv(const codec_val *map, uint32_t i)
{
    if (map == NULL) {
        return NULL;
    }
    const msgpack_object *o = codec__obj(map);
    if (o->type != MSGPACK_OBJECT_MAP || i >= o->via.map.size) {
        return NULL;
    }
    return &o->via.map.ptr[i];
}

const codec_val *codec_val_map_key(const codec_val *map, uint32_t i)
{
    const msgpack_object_kv *kv = codec_val_kv(map, i);
    return kv ? codec__val(&kv->key) : NULL;
}

const codec_val *codec_val_map_value(const codec_val *map, uint32_t i)
{
    const msgpack_object_kv *kv = codec_val_kv(map, i);
    return kv ? codec__val(&kv->val) : NULL;
}

const codec_val *codec_val_get(const codec_val *map, const char *key)
{
    if (map == NULL || codec__obj(map)->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    const msgpack_object_map *m = &codec__obj(map)->via.map;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            (n == 0 || memcmp(k->via.str.ptr, key, n) == 0)) {
            return codec__val(&m->ptr[i].val);
        }
    }
    return NULL;
}
