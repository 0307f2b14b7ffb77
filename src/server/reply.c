/* reply.c - reply maps for queries (docs/PROTOCOL.md). Any thread. */
#include "server/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/cluster_info.h"
#include "formula/rules.h"

void reply_error_set(reply_error *e, atp_err code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void reply_error_write(codec_writer *w, const reply_error *e)
{
    /* Messages echo what the client sent (an unknown op, a region) and
     * vsnprintf may have cut a character in two: every error leaves here
     * as valid UTF-8, or a strict client could not even read its code. */
    const char *m = e->message[0] ? e->message : atp_err_message(e->code);
    char text[4 * sizeof e->message];
    size_t n = codec_str_to_text(text, sizeof text, m, strlen(m));
    codec_w_map(w, 2);
    codec_w_kv_bool(w, "ok", false);
    codec_w_cstr(w, "error");
    bool owner = e->code == ATP_E_NOT_OWNER;
    bool map = e->code == ATP_E_CROSS_PARTITION && e->map != NULL;
    codec_w_map(w, 3 + (e->line >= 0) + owner + map);
    codec_w_kv_int(w, "code", e->code);
    codec_w_kv_cstr(w, "name", atp_err_name(e->code));
    codec_w_kv_str(w, "message", text, n);
    if (e->line >= 0)
        codec_w_kv_int(w, "line", e->line);
    if (!owner && !map)
        return;
    /* where to send it instead (docs/CLUSTER.md) */
    cluster_info ci;
    cluster_info_get(&ci);
    if (owner) {
        cluster_owner o = {0};
        if (e->part > 0 && (size_t)e->part <= ci.n_parts) {
            o = ci.parts[e->part - 1];
        } else {
            memcpy(o.partition, ci.partition, sizeof o.partition);
            memcpy(o.node, ci.owner_node, sizeof o.node);
            memcpy(o.query, ci.owner_query, sizeof o.query);
            memcpy(o.http, ci.owner_http, sizeof o.http);
        }
        codec_w_cstr(w, "owner");
        reply_owner_write(w, &o);
        return;
    }
    codec_w_cstr(w, "partitions");
    reply_partitions_write(w, e->map, &ci);
}

void reply_owner_write(codec_writer *w, const cluster_owner *o)
{
    codec_w_map(w, 4);
    codec_w_kv_cstr(w, "partition", o->partition);
    codec_w_kv_cstr(w, "node", o->node);
    codec_w_kv_cstr(w, "query", o->query);
    codec_w_kv_cstr(w, "http", o->http);
}

void reply_partitions_write(codec_writer *w, const config_cluster *k,
                            const cluster_info *ci)
{
    codec_w_array(w, (uint32_t)k->n_partitions);
    for (size_t i = 0; i < k->n_partitions; i++) {
        const config_partition *p = &k->partitions[i];
        cluster_owner o = {0};
        if (i < ci->n_parts)
            o = ci->parts[i];
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "partition", p->name);
        codec_w_cstr(w, "regions");
        codec_w_array(w, (uint32_t)p->n_regions);
        for (size_t j = 0; j < p->n_regions; j++)
            codec_w_cstr(w, p->regions[j]);
        codec_w_cstr(w, "owner");
        reply_owner_write(w, &o);
        codec_w_kv_int(w, "epoch", (int64_t)o.epoch);
    }
}

void reply_answer_write(codec_writer *w, codec_str sku, const char *region,
                        const char *channel, const engine_answer *a)
{
    codec_w_kv_str(w, "sku", sku.ptr, sku.len);
    codec_w_kv_cstr(w, "region", region);
    codec_w_kv_cstr(w, "channel", channel);
    codec_w_kv_int(w, "atp", a->atp);
    codec_w_kv_int(w, "supply", a->supply);
    codec_w_kv_int(w, "reserved", a->reserved);
    codec_w_kv_int(w, "buffer", a->buffer);
    codec_w_kv_cstr(w, "rule", rules_level_name(a->rule_level));
    codec_w_kv_int(w, "shortfall", a->shortfall);
    codec_w_kv_bool(w, "stale", a->stale);
    if (a->backorder_budget > 0) {
        codec_w_kv_int(w, "backorder_budget", a->backorder_budget);
        codec_w_kv_int(w, "backorder_used", a->backorder_used);
        codec_w_kv_int(w, "backorder_left", a->backorder_left);
    }
    if (a->limiting != NULL)
        codec_w_kv_str(w, "limiting", a->limiting, a->limiting_len);
}
