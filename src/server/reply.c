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
    codec_w_map(w, 3 + (e->line >= 0) + owner);
    codec_w_kv_int(w, "code", e->code);
    codec_w_kv_cstr(w, "name", atp_err_name(e->code));
    codec_w_kv_str(w, "message", text, n);
    if (e->line >= 0)
        codec_w_kv_int(w, "line", e->line);
    if (owner) { /* where to send it instead (docs/CLUSTER.md) */
        cluster_info ci;
        cluster_info_get(&ci);
        codec_w_cstr(w, "owner");
        codec_w_map(w, 3);
        codec_w_kv_cstr(w, "node", ci.owner_node);
        codec_w_kv_cstr(w, "query", ci.owner_query);
        codec_w_kv_cstr(w, "http", ci.owner_http);
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
