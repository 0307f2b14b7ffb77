/*
 * resync_msg.c - the resync request, encoded by ingest (atpd's control PUB
 * socket) and decoded by atp-feed (docs/PROTOCOL.md, "Resync"). Any
 * thread.
 */
#include <string.h>

#include "codec/codec_int.h"
#include "common/assert.h"

void codec_resync_encode(codec_writer *w, const codec_resync_req *r)
{
    /* The topic a source subscribes to: "resync" NUL source NUL. */
    ATP_ASSERT(r->source.len > 0);
    ATP_DASSERT(memchr(r->source.ptr, '\0', r->source.len) == NULL);
    codec__w_raw(w, ATP_RESYNC_TOPIC, sizeof ATP_RESYNC_TOPIC);
    codec__w_raw(w, r->source.ptr, r->source.len);
    codec__w_raw(w, "", 1);
    codec_w_map(w, 5);
    codec_w_kv_str(w, "source", r->source.ptr, r->source.len);
    codec_w_kv_cstr(w, "mode", r->snapshot ? "snapshot" : "replay");
    codec_w_kv_uint(w, "from_seq", r->from_seq);
    codec_w_kv_count(w, "request_id", r->request_id);
    codec_w_kv_int(w, "ts_ms", r->ts_ms);
}

atp_err codec_resync_decode(codec_arena *a, const void *buf, size_t len,
                            codec_resync_req *out)
{
    const char *p = buf;
    size_t tl = sizeof ATP_RESYNC_TOPIC; /* with its NUL */
    const char *id = p + tl;
    const char *nul = len > tl ? memchr(id, '\0', len - tl) : NULL;
    if (len <= tl || memcmp(p, ATP_RESYNC_TOPIC, tl) != 0 || nul == NULL ||
        nul == id)
        return ATP_E_BAD_REQUEST;
    memset(out, 0, sizeof *out);
    out->source = (codec_str){id, (uint32_t)(nul - id)};
    const char *body = nul + 1;
    const codec_val *v = NULL;
    atp_err err = codec_decode(a, body, len - (size_t)(body - p), &v);
    if (err != ATP_OK)
        return err;
    codec_str mode = {0};
    if (codec_val_type(v) != CODEC_MAP ||
        !codec_val_str(codec_val_get(v, "mode"), &mode))
        return ATP_E_BAD_REQUEST;
    out->snapshot = codec_str_eq(mode, "snapshot");
    if (!out->snapshot && !codec_str_eq(mode, "replay"))
        return ATP_E_BAD_REQUEST;
    codec_val_uint(codec_val_get(v, "from_seq"), &out->from_seq);
    codec_val_uint(codec_val_get(v, "request_id"), &out->request_id);
    codec_val_int(codec_val_get(v, "ts_ms"), &out->ts_ms);
    return ATP_OK;
}
