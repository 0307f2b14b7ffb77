/*
 * feed_log.c - JSON Lines record of generated messages (see feed_log.h).
 * Main thread of atp-feed.
 */
#include "feed_log.h"

#include <inttypes.h>
#include <string.h>

#include "atp/wire.h"

const char *feed_bucket_name(unsigned bucket)
{
    switch (bucket) {
    case ATP_BUCKET_ON_HAND:
        return "on_hand";
    case ATP_BUCKET_ALLOCATED:
        return "allocated";
    case ATP_BUCKET_HELD:
        return "held";
    default:
        return "?";
    }
}

void feed_json_str(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f); /* UTF-8 passes through: ids are valid UTF-8 */
    }
    fputc('"', f);
}

int feed_log_write(FILE *f, const feed_msg *m, uint64_t ts_ms)
{
    fputs("{\"source\":", f);
    feed_json_str(f, m->source_id, strlen(m->source_id));
    fprintf(f,
            ",\"seq\":%" PRIu64 ",\"ts_ms\":%" PRIu64
            ",\"sent\":%s,\"copies\":%u,\"reordered\":%s,\"events\":[",
            m->seq, ts_ms, m->dropped ? "false" : "true", m->copies,
            m->reordered ? "true" : "false");
    for (uint32_t i = 0; i < m->n_events; i++) {
        const codec_event *e = &m->events[i];
        if (i > 0)
            fputc(',', f);
        switch (e->kind) {
        case ATP_EV_DELTA:
        case ATP_EV_SET:
            fputs(e->kind == ATP_EV_DELTA ? "[\"delta\"," : "[\"set\",", f);
            feed_json_str(f, e->sku.ptr, e->sku.len);
            fputc(',', f);
            feed_json_str(f, e->location.ptr, e->location.len);
            fprintf(f, ",\"%s\",%" PRId64 "]", feed_bucket_name(e->bucket),
                    e->value);
            break;
        case ATP_EV_HEARTBEAT:
            fputs("[\"heartbeat\"]", f);
            break;
        default:
            fprintf(f, "[%u]", e->kind);
            break;
        }
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}
