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

const char *feed_event_name(unsigned kind)
{
    switch (kind) {
    case ATP_EV_DELTA:
        return "delta";
    case ATP_EV_SET:
        return "set";
    case ATP_EV_HEARTBEAT:
        return "heartbeat";
    case ATP_EV_LOT_ADD:
        return "lot_add";
    case ATP_EV_LOT_CHANGE:
        return "lot_change";
    case ATP_EV_LOT_RECEIVE:
        return "lot_receive";
    case ATP_EV_LOT_CANCEL:
        return "lot_cancel";
    default:
        return "?";
    }
}

int feed_log_write(FILE *f, const feed_msg *m, uint64_t ts_ms)
{
    fputs("{\"source\":", f);
    codec_json_str_file(f, m->source_id, strlen(m->source_id));
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
            codec_json_str_file(f, e->sku.ptr, e->sku.len);
            fputc(',', f);
            codec_json_str_file(f, e->location.ptr, e->location.len);
            fprintf(f, ",\"%s\",%" PRId64 "]", feed_bucket_name(e->bucket),
                    e->value);
            break;
        case ATP_EV_HEARTBEAT:
            fputs("[\"heartbeat\"]", f);
            break;
        case ATP_EV_LOT_ADD:
        case ATP_EV_LOT_CHANGE:
        case ATP_EV_LOT_RECEIVE:
        case ATP_EV_LOT_CANCEL:
            fprintf(f, "[\"%s\",", feed_event_name(e->kind));
            codec_json_str_file(f, e->sku.ptr, e->sku.len);
            fputc(',', f);
            codec_json_str_file(f, e->location.ptr, e->location.len);
            fputc(',', f);
            codec_json_str_file(f, e->ref.ptr, e->ref.len);
            if (e->kind == ATP_EV_LOT_ADD || e->kind == ATP_EV_LOT_CHANGE)
                fprintf(f, ",%" PRId64 ",%" PRId64, e->value, e->eta_ms);
            fputc(']', f);
            break;
        default:
            fprintf(f, "[%u]", e->kind);
            break;
        }
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}

static void feed_log_note_head(FILE *f, const char *what,
                               const feed_resync_note *n)
{
    fprintf(f, "{\"%s\":{\"source\":", what);
    codec_json_str_file(f, n->source, strlen(n->source));
    fprintf(f, ",\"request_id\":%" PRIu64 ",\"mode\":", n->request_id);
    codec_json_str_file(f, n->mode, strlen(n->mode));
    fprintf(f, ",\"from_seq\":%" PRIu64, n->from_seq);
}

static int feed_log_note_tail(FILE *f, const feed_resync_note *n)
{
    fprintf(f, ",\"ts_ms\":%" PRIu64, n->ts_ms);
    if (n->reason != NULL) {
        fputs(",\"reason\":", f);
        codec_json_str_file(f, n->reason, strlen(n->reason));
    }
    fputs("}}\n", f);
    return ferror(f) ? -1 : 0;
}

int feed_log_replay(FILE *f, const feed_resync_note *n)
{
    feed_log_note_head(f, "replay", n);
    fprintf(f,
            ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
            ",\"messages\":%" PRIu64,
            n->first_seq, n->last_seq, n->messages);
    return feed_log_note_tail(f, n);
}

int feed_log_snapshot(FILE *f, const feed_resync_note *n)
{
    feed_log_note_head(f, "snapshot", n);
    fprintf(f,
            ",\"snapshot_id\":%" PRIu64 ",\"seq\":%" PRIu64
            ",\"parts\":%" PRIu32 ",\"events\":%" PRIu64
            ",\"positions\":%" PRIu64 ",\"lots\":%" PRIu64,
            n->snapshot_id, n->seq, n->parts, n->events, n->positions, n->lots);
    return feed_log_note_tail(f, n);
}
