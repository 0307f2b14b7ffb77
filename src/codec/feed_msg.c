/*
 * feed_msg.c - the change-feed message, encoded by changes (atpd's PUB
 * socket and HTTP event streams) and decoded by atpctl watch
 * (docs/PROTOCOL.md, "Change feed"). Any thread.
 */
#include <string.h>

#include "codec/codec_int.h"
#include "common/assert.h"

static const char *const codec_feed_marks[CODEC_FEED_MARKS] = {
    "out_of_stock", "back_in_stock", "low_stock"};

const char *codec_feed_mark_name(unsigned i)
{
    return i < CODEC_FEED_MARKS ? codec_feed_marks[i] : NULL;
}

/* root NUL a NUL b NUL: the trailing NUL keeps a subscription to SKU "A1"
 * (or location "ST-1") from catching "A10" ("ST-10"). An id with a NUL in
 * it would shift every subscriber's prefix: ids are checked long before
 * this. root is a string literal's bytes with its NUL. */
static void codec_feed_topic_of(codec_writer *w, const char *root,
                                size_t root_len, codec_str a, codec_str b)
{
    ATP_ASSERT(a.len > 0 && b.len > 0);
    ATP_DASSERT(memchr(a.ptr, '\0', a.len) == NULL &&
                memchr(b.ptr, '\0', b.len) == NULL);
    codec__w_raw(w, root, root_len);
    codec__w_raw(w, a.ptr, a.len);
    codec__w_raw(w, "", 1);
    codec__w_raw(w, b.ptr, b.len);
    codec__w_raw(w, "", 1);
}

void codec_feed_topic(codec_writer *w, codec_str region, codec_str sku)
{
    codec_feed_topic_of(w, ATP_FEED_TOPIC_ROOT, sizeof ATP_FEED_TOPIC_ROOT,
                        region, sku);
}

void codec_feed_pickup_encode(codec_writer *w, const codec_feed_pickup *m)
{
    codec_feed_topic_of(w, ATP_PICKUP_TOPIC_ROOT, sizeof ATP_PICKUP_TOPIC_ROOT,
                        m->location, m->sku);
    codec_w_map(w, 11);
    codec_w_kv_uint(w, "seq", m->seq);
    codec_w_kv_uint(w, "location_seq", m->location_seq);
    codec_w_kv_int(w, "ts_ms", m->ts_ms);
    codec_w_kv_str(w, "location", m->location.ptr, m->location.len);
    codec_w_kv_str(w, "sku", m->sku.ptr, m->sku.len);
    codec_w_kv_str(w, "region", m->region.ptr, m->region.len);
    codec_w_kv_bool(w, "pickup", m->pickup);
    codec_w_kv_int(w, "net", m->net);
    codec_w_kv_int(w, "reserved", m->reserved);
    codec_w_kv_int(w, "buffer", m->buffer);
    codec_w_kv_int(w, "available", m->available);
}

static void codec_feed_channel_encode(codec_writer *w,
                                      const codec_feed_channel *c)
{
    bool budget = c->backorder_budget > 0;
    codec_w_map(w, budget ? 9 : 7);
    codec_w_kv_str(w, "channel", c->channel.ptr, c->channel.len);
    codec_w_kv_int(w, "atp", c->atp);
    codec_w_kv_int(w, "buffer", c->buffer);
    codec_w_kv_str(w, "rule", c->rule.ptr, c->rule.len);
    codec_w_kv_bool(w, "out_of_stock", c->out_of_stock);
    codec_w_kv_bool(w, "low_stock", c->low_stock);
    codec_w_cstr(w, "transitions");
    unsigned marks = c->marks & ((1u << CODEC_FEED_MARKS) - 1);
    codec_w_array(w, (uint32_t)__builtin_popcount(marks));
    for (unsigned b = 0; b < CODEC_FEED_MARKS; b++)
        if (marks & (1u << b))
            codec_w_cstr(w, codec_feed_marks[b]);
    if (budget) {
        codec_w_kv_int(w, "backorder_budget", c->backorder_budget);
        codec_w_kv_int(w, "backorder_used", c->backorder_used);
    }
}

void codec_feed_encode(codec_writer *w, const codec_feed_msg *m,
                       size_t *body_off)
{
    ATP_ASSERT(m->n_channels == 0 || m->channels != NULL);
    codec_feed_topic(w, m->region, m->sku);
    codec_writer_data(w, body_off);
    codec_w_map(w, 11 + (m->partition.len > 0));
    if (m->partition.len > 0) /* several partitions: whose sequences */
        codec_w_kv_str(w, "partition", m->partition.ptr, m->partition.len);
    codec_w_kv_uint(w, "seq", m->seq);
    codec_w_kv_uint(w, "region_seq", m->region_seq);
    codec_w_kv_uint(w, "key_seq", m->key_seq);
    codec_w_kv_int(w, "ts_ms", m->ts_ms);
    codec_w_kv_str(w, "sku", m->sku.ptr, m->sku.len);
    codec_w_kv_str(w, "region", m->region.ptr, m->region.len);
    codec_w_kv_int(w, "supply", m->supply);
    codec_w_kv_int(w, "reserved", m->reserved);
    codec_w_kv_int(w, "shortfall", m->shortfall);
    codec_w_kv_bool(w, "stale", m->stale);
    codec_w_cstr(w, "channels");
    codec_w_array(w, m->n_channels);
    for (uint32_t i = 0; i < m->n_channels; i++)
        codec_feed_channel_encode(w, &m->channels[i]);
}

bool codec_feed_split(const void *msg, size_t len, codec_str *region,
                      codec_str *sku, const void **body, size_t *body_len)
{
    const char *p = msg;
    size_t root = sizeof ATP_FEED_TOPIC_ROOT;
    if (len < root || memcmp(p, ATP_FEED_TOPIC_ROOT, root) != 0)
        return false;
    const char *r = p + root, *end = p + len;
    const char *nul = memchr(r, '\0', (size_t)(end - r));
    if (nul == NULL || nul == r)
        return false;
    const char *s = nul + 1;
    const char *nul2 = memchr(s, '\0', (size_t)(end - s));
    if (nul2 == NULL || nul2 == s)
        return false;
    *region = (codec_str){r, (uint32_t)(nul - r)};
    *sku = (codec_str){s, (uint32_t)(nul2 - s)};
    *body = nul2 + 1;
    *body_len = (size_t)(end - (nul2 + 1));
    return true;
}

/* Field readers: false when the key is missing or of another type. */
static bool codec_feed_get_uint(const codec_val *m, const char *k,
                                uint64_t *out)
{
    return codec_val_uint(codec_val_get(m, k), out);
}
static bool codec_feed_get_int(const codec_val *m, const char *k, int64_t *out)
{
    return codec_val_int(codec_val_get(m, k), out);
}
static bool codec_feed_get_bool(const codec_val *m, const char *k, bool *out)
{
    return codec_val_bool(codec_val_get(m, k), out);
}
static bool codec_feed_get_str(const codec_val *m, const char *k,
                               codec_str *out)
{
    return codec_val_str(codec_val_get(m, k), out);
}

static bool codec_feed_channel_decode(const codec_val *v, codec_feed_channel *c)
{
    const codec_val *tr = codec_val_get(v, "transitions");
    if (codec_val_type(v) != CODEC_MAP || codec_val_type(tr) != CODEC_ARRAY ||
        !codec_feed_get_str(v, "channel", &c->channel) ||
        !codec_feed_get_int(v, "atp", &c->atp) ||
        !codec_feed_get_int(v, "buffer", &c->buffer) ||
        !codec_feed_get_str(v, "rule", &c->rule) ||
        !codec_feed_get_bool(v, "out_of_stock", &c->out_of_stock) ||
        !codec_feed_get_bool(v, "low_stock", &c->low_stock))
        return false;
    c->marks = 0;
    c->backorder_budget = c->backorder_used = 0;
    if (codec_val_get(v, "backorder_budget") != NULL &&
        (!codec_feed_get_int(v, "backorder_budget", &c->backorder_budget) ||
         !codec_feed_get_int(v, "backorder_used", &c->backorder_used)))
        return false;
    for (uint32_t i = 0; i < codec_val_len(tr); i++) {
        codec_str s;
        if (!codec_val_str(codec_val_at(tr, i), &s))
            return false;
        for (unsigned b = 0; b < CODEC_FEED_MARKS; b++)
            if (codec_str_eq(s, codec_feed_marks[b]))
                c->marks |= 1u << b;
    }
    return true;
}

atp_err codec_feed_decode(codec_arena *a, const void *msg, size_t len,
                          codec_feed_msg *out)
{
    codec_str region, sku;
    const void *body;
    size_t body_len;
    if (!codec_feed_split(msg, len, &region, &sku, &body, &body_len))
        return ATP_E_BAD_REQUEST;
    const codec_val *v = NULL;
    atp_err err = codec_decode(a, body, body_len, &v);
    if (err != ATP_OK)
        return err;
    memset(out, 0, sizeof *out);
    const codec_val *chs = codec_val_get(v, "channels");
    if (codec_val_type(v) != CODEC_MAP || codec_val_type(chs) != CODEC_ARRAY ||
        !codec_feed_get_uint(v, "seq", &out->seq) ||
        !codec_feed_get_uint(v, "region_seq", &out->region_seq) ||
        !codec_feed_get_uint(v, "key_seq", &out->key_seq) ||
        !codec_feed_get_int(v, "ts_ms", &out->ts_ms) ||
        !codec_feed_get_str(v, "sku", &out->sku) ||
        !codec_feed_get_str(v, "region", &out->region) ||
        !codec_feed_get_int(v, "supply", &out->supply) ||
        !codec_feed_get_int(v, "reserved", &out->reserved) ||
        !codec_feed_get_int(v, "shortfall", &out->shortfall) ||
        !codec_feed_get_bool(v, "stale", &out->stale))
        return ATP_E_BAD_REQUEST;
    if (codec_val_get(v, "partition") != NULL &&
        !codec_feed_get_str(v, "partition", &out->partition))
        return ATP_E_BAD_REQUEST;
    /* The body repeats the topic: a message whose two disagree is not one
     * atpd sends. */
    if (out->sku.len != sku.len ||
        memcmp(out->sku.ptr, sku.ptr, sku.len) != 0 ||
        out->region.len != region.len ||
        memcmp(out->region.ptr, region.ptr, region.len) != 0)
        return ATP_E_BAD_REQUEST;
    uint32_t n = codec_val_len(chs);
    codec_feed_channel *c = codec_arena_malloc(a, (n ? n : 1) * sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (!codec_feed_channel_decode(codec_val_at(chs, i), &c[i]))
            return ATP_E_BAD_REQUEST;
    out->channels = c;
    out->n_channels = n;
    return ATP_OK;
}
