/*
 * snapshot.c - full-snapshot assembly (docs/PROTOCOL.md, "Full snapshots"):
 * the parts of one source's snapshot are kept until the last one, then all
 * of them are resolved and handed on as one batch that replaces the
 * source's authority. A part out of order, another session's part, a
 * timeout or too many events abandon it whole. Ingest thread; the batch's
 * release runs where it is applied (the engine thread).
 */
#include <stdlib.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/log.h"
#include "ingest/ingest_int.h"

/* What the engine releases after applying a snapshot. */
typedef struct ingest_snapshot_batch {
    ingest_core *core;
    uint32_t src;
    uint64_t seq, ts_ms;
    ingest_item **items;
    size_t n;
    engine_event *events;
} ingest_snapshot_batch;

void ingest__snapshot_reset(ingest_snapshot *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        ingest__item_free(sn->items[i]);
    sn->n = 0;
    sn->events = 0;
    sn->active = false;
}

void ingest__snapshot_abort(ingest_core *c, uint32_t src, const char *why)
{
    ingest_snapshot *sn = &c->snaps[src];
    log_warn("ingest",
             "snapshot %llu of source %s abandoned (%s): nothing of "
             "it applied",
             (unsigned long long)sn->id, c->cfg->sources[src].id, why);
    ingest__snapshot_reset(sn);
    sources_snapshot_aborted(c->src, src);
}

/* ingest_snapshot_release: engine thread, after the snapshot is applied. */
static void ingest_snapshot_release(void *owner, bool applied)
{
    ingest_snapshot_batch *sb = owner;
    if (!applied)
        log_error("ingest", "snapshot of source %s could not be applied",
                  sb->core->cfg->sources[sb->src].id);
    /* The source's applied offset is now the snapshot's seq. */
    sources_applied(sb->core->src, sb->src, sb->seq, sb->ts_ms,
                    clock_wall_ms());
    for (size_t i = 0; i < sb->n; i++)
        ingest__item_free(sb->items[i]);
    free(sb->items);
    free(sb->events);
    free(sb);
}

/* ingest_snapshot_resolve resolves every part into events (room for
 * sn->events): the count, or -1 when a part is rejected. */
static int64_t ingest_snapshot_resolve(ingest_core *c, uint32_t src,
                                       const ingest_snapshot *sn,
                                       engine_event *events)
{
    uint64_t n = 0;
    for (size_t i = 0; i < sn->n; i++) {
        const ingest_item *part = sn->items[i];
        uint32_t hb;
        int64_t k = ingest__resolve(c, src, sn->seq, part->m.events,
                                    part->m.n_events, events + n, &hb);
        if (k < 0)
            return -1;
        n += (uint64_t)k;
    }
    ATP_ASSERT(n <= sn->events);
    return (int64_t)n;
}

/* All parts are here: resolve everything, then hand it on as one batch
 * that replaces the source's authority. */
static void ingest_snapshot_apply(ingest_core *c, uint32_t src)
{
    ingest_snapshot *sn = &c->snaps[src];
    ATP_ASSERT(sn->active && sn->n > 0);
    /* A snapshot older than what was applied (a late or repeated one)
     * would roll the positions back, and the messages after it would not
     * come again: they are duplicates now. */
    if (sources_snapshot_stale(c->src, src, sn->seq)) {
        ingest__snapshot_abort(c, src,
                               "older than the messages already applied; a new "
                               "session numbers at or above the last applied "
                               "seq, docs/PROTOCOL.md \"Publisher sessions\"");
        return;
    }
    if (!sources_session_current(c->src, src, sn->session)) {
        ingest__snapshot_abort(c, src,
                               "its session is no longer the current one");
        return;
    }
    ingest_snapshot_batch *sb = calloc(1, sizeof *sb);
    engine_event *events =
        malloc((sn->events ? sn->events : 1) * sizeof *events);
    int64_t n = sb != NULL && events != NULL
                    ? ingest_snapshot_resolve(c, src, sn, events)
                    : -2;
    if (n < 0) {
        free(sb);
        free(events);
        ingest__snapshot_abort(c, src,
                               n == -2 ? "out of memory"
                                       : "events outside the source's "
                                         "authority");
        return;
    }
    *sb = (ingest_snapshot_batch){
        c, src, sn->seq, sn->items[0]->ts_ms, sn->items, sn->n, events};
    engine_batch b = {.events = events,
                      .n = (uint32_t)n,
                      .from_source = true,
                      .source = src,
                      .seq = sn->seq,
                      .ts_ms = sn->items[0]->ts_ms,
                      .replace_authority = true,
                      .restarts_sequence = sources_restarting(c->src, src),
                      .release = ingest_snapshot_release,
                      .owner = sb};
    uint64_t seq = sn->seq;
    sn->items = NULL; /* the batch owns them now */
    sn->n = sn->cap = 0;
    sn->events = 0;
    sn->active = false;
    if (c->hooks.submit(c->hooks.ctx, &b) != ATP_OK) {
        ingest_snapshot_release(sb, false);
        return;
    }
    log_info("ingest",
             "snapshot of source %s applied: %lld events, consistent "
             "with seq %llu",
             c->cfg->sources[src].id, (long long)n, (unsigned long long)seq);
    sources_snapshot_applied(c->src, src, seq, c->now_ms, &c->io);
}

/* ingest_snapshot_keep appends a part to sn: false on out of memory. */
static bool ingest_snapshot_keep(ingest_snapshot *sn, ingest_item *it)
{
    if (sn->n == sn->cap) {
        size_t cap = sn->cap ? sn->cap * 2 : 64;
        ingest_item **items = realloc(sn->items, cap * sizeof *items);
        if (items == NULL)
            return false;
        sn->items = items;
        sn->cap = cap;
    }
    sn->items[sn->n++] = it;
    sn->events += it->m.n_events;
    sn->next_part++;
    return true;
}

void ingest__snapshot_part(ingest_core *c, ingest_item *it)
{
    ATP_ASSERT(it->decode_err == ATP_OK && it->m.kind == ATP_MSG_SNAPSHOT);
    uint32_t src = it->src;
    ingest_snapshot *sn = &c->snaps[src];
    const codec_src_msg *m = &it->m;
    if (m->part == 0) {
        if (sn->active)
            ingest__snapshot_abort(c, src, "a new snapshot began");
        *sn = (ingest_snapshot){.active = true,
                                .id = m->snapshot_id,
                                .session = m->session,
                                .seq = m->seq,
                                .items = sn->items,
                                .cap = sn->cap,
                                .started_ms = c->now_ms};
    } else if (!sn->active || m->snapshot_id != sn->id ||
               m->part != sn->next_part || m->seq != sn->seq ||
               m->session != sn->session) {
        if (sn->active)
            ingest__snapshot_abort(c, src, "a part is missing");
        ingest__item_free(it);
        return;
    }
    bool last = m->last;
    if (!ingest_snapshot_keep(sn, it)) {
        ingest__item_free(it);
        ingest__snapshot_abort(c, src, "out of memory");
    } else if (sn->events > c->cfg->service.snapshot_max_events) {
        ingest__snapshot_abort(c, src, "too many events");
    } else if (last) {
        ingest_snapshot_apply(c, src);
    }
}
