/*
 * bench_feed.c - paced, flow-controlled source publisher (bench_feed.h).
 * Runs entirely in the calling thread.
 */
#include "bench_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atp/wire.h"
#include "bench_nng.h"
#include "client.h"
#include "common/clock.h"

/* Pre-generated traffic: at least 16 messages and 256k events, so that the
 * events cycled through touch far more positions than a CPU cache holds
 * (a small pool would flatter atpd with hot caches). */
#define BENCH_FEED_POOL_MIN 16
#define BENCH_FEED_POOL_EVENTS 262144
#define BENCH_FEED_FINAL_TIMEOUT_NS (20LL * 1000000000LL)

bool bench_sources_read(struct client *cl, const char *source,
                        bench_source_counters *c)
{
    memset(c, 0, sizeof *c);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    bool ok = false;
    if (w == NULL || a == NULL)
        goto out;
    codec_w_map(w, 1);
    codec_w_kv_cstr(w, "op", "sources");
    const codec_val *rep;
    if (client_request(cl, w, a, &rep) != ATP_OK)
        goto out;
    const codec_val *arr = codec_val_get(rep, "sources");
    for (uint32_t i = 0; i < codec_val_len(arr); i++) {
        const codec_val *s = codec_val_at(arr, i);
        codec_str id;
        if (!codec_val_str(codec_val_get(s, "id"), &id) ||
            !codec_str_eq(id, source))
            continue;
        codec_str st;
        if (codec_val_str(codec_val_get(s, "state"), &st))
            snprintf(c->state, sizeof c->state, "%.*s", (int)st.len, st.ptr);
        codec_val_uint(codec_val_get(s, "last_seq"), &c->last_seq);
        codec_val_uint(codec_val_get(s, "messages"), &c->messages);
        codec_val_uint(codec_val_get(s, "events"), &c->events);
        codec_val_uint(codec_val_get(s, "duplicates"), &c->duplicates);
        codec_val_uint(codec_val_get(s, "gaps"), &c->gaps);
        codec_val_uint(codec_val_get(s, "missed"), &c->missed);
        codec_val_uint(codec_val_get(s, "rejected_messages"), &c->rejected);
        codec_val_uint(codec_val_get(s, "heartbeats"), &c->heartbeats);
        c->found = true;
        ok = true;
        break;
    }
out:
    codec_arena_free(a);
    codec_writer_free(w);
    return ok;
}

typedef struct bench_feed {
    const bench_feed_opts *o;
    bench_feed_result *res;
    client *cl;
    bench_pub *pub;
    bench_source_counters base, last;
    int64_t t0, next_poll, next_print, next_series;
    uint64_t applied_prev; /* status.engine.events_applied at the last sample */
    bool have_applied;
} bench_feed;

/* The engine's own count of applied events (`status`), for the series:
 * `sources` counts events when the ingest thread accepts them, before the
 * engine applies them. */
static bool bench_feed_engine_applied(client *cl, uint64_t *out)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    codec_arena *a = codec_arena_alloc();
    const codec_val *v;
    bool ok = false;
    if (w != NULL && a != NULL) {
        codec_w_map(w, 1);
        codec_w_kv_cstr(w, "op", "status");
        ok = client_request(cl, w, a, &v) == ATP_OK &&
             codec_val_uint(
                 codec_val_get(codec_val_get(v, "engine"), "events_applied"),
                 out);
    }
    codec_arena_free(a);
    codec_writer_free(w);
    return ok;
}

static void bench_feed_sample(bench_feed *f, int64_t now)
{
    if (now < f->next_series)
        return;
    f->next_series = now + 100000000LL;
    uint64_t applied;
    if (!bench_feed_engine_applied(f->cl, &applied))
        return;
    int64_t s = (now - f->t0) / 1000000000LL;
    if (f->have_applied && s >= 0 && (unsigned)s < f->res->n_series &&
        applied >= f->applied_prev)
        f->res->series[s] += applied - f->applied_prev;
    f->applied_prev = applied;
    f->have_applied = true;
}

static void bench_feed_poll(bench_feed *f)
{
    bench_source_counters c;
    if (!bench_sources_read(f->cl, f->o->source, &c))
        return;
    int64_t now = clock_mono_ns();
    bench_feed_sample(f, now);
    f->last = c;
    if (!f->o->quiet && now >= f->next_print) {
        f->next_print += 1000000000LL;
        fprintf(stderr,
                "[%s] %2llds  sent %llu msgs %llu events  applied seq %llu, "
                "%llu events "
                "(%.0f/s)  gaps %llu\n",
                f->o->label, (long long)(now - f->t0) / 1000000000LL,
                (unsigned long long)f->res->msgs_sent,
                (unsigned long long)f->res->events_sent,
                (unsigned long long)c.last_seq,
                (unsigned long long)(c.events - f->base.events),
                (double)(c.events - f->base.events) /
                    ((double)(now - f->t0) / 1e9),
                (unsigned long long)(c.gaps - f->base.gaps));
    }
}

static void bench_feed_sleep_ns(int64_t ns)
{
    struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
    nanosleep(&ts, NULL);
}

static int bench_feed_send(bench_feed *f, uint64_t seq, codec_event *ev,
                           uint32_t n)
{
    codec_src_msg m = {
        .source = {f->o->source, (uint32_t)strlen(f->o->source)},
        .seq = seq,
        .ts_ms = (uint64_t)clock_wall_ms(),
        .n_events = n,
        .events = ev,
    };
    size_t bytes = 0;
    if (bench_pub_send(f->pub, &m, &bytes) != ATP_OK) {
        f->res->send_errors++;
        return -1;
    }
    f->res->msgs_sent++;
    f->res->bytes_sent += bytes;
    return 0;
}

/* Wait while too many messages are unapplied; poll now and then anyway. */
static void bench_feed_pace(bench_feed *f, uint64_t next_seq)
{
    int64_t now = clock_mono_ns();
    if (now >= f->next_poll) {
        bench_feed_poll(f);
        f->next_poll = now + 100000000LL;
    }
    if (f->o->window == 0)
        return;
    int64_t deadline = now + 10000000000LL; /* never wait forever */
    while (next_seq > f->last.last_seq + f->o->window &&
           clock_mono_ns() < deadline) {
        bench_feed_sleep_ns(
            2000000); /* each poll is a query atpd must answer */
        bench_feed_poll(f);
    }
}

int bench_feed_run(const bench_feed_opts *o, bench_feed_result *res)
{
    memset(res, 0, sizeof *res);
    bench_feed f = {.o = o, .res = res};
    res->n_series = (unsigned)(o->duration_s > 0 ? o->duration_s : 60) + 40;
    res->series = calloc(res->n_series, sizeof *res->series);
    codec_event *pool = NULL;
    uint32_t batch = o->batch ? o->batch : 1000;
    int rc = -1;
    client_opts co = {
        .url = o->query_url, .timeout_ms = 5000, .token = o->work->token};
    if (res->series == NULL ||
        client_open(&co, &f.cl, res->error, sizeof res->error) != ATP_OK)
        goto out;
    if (!bench_sources_read(f.cl, o->source, &f.base)) {
        snprintf(res->error, sizeof res->error,
                 "source '%s' unknown to atpd at %s (%s)", o->source,
                 o->query_url, client_last_error(f.cl));
        goto out;
    }
    f.last = f.base;
    if (bench_pub_open(o->ingest_url, &f.pub, res->error, sizeof res->error) !=
        ATP_OK)
        goto out;
    size_t n_pool = BENCH_FEED_POOL_EVENTS / batch;
    if (n_pool < BENCH_FEED_POOL_MIN)
        n_pool = BENCH_FEED_POOL_MIN;
    pool = calloc(n_pool * batch, sizeof *pool);
    if (pool == NULL)
        goto out;
    const bench_work *w = o->work;
    uint32_t lo = o->sku_lo,
             hi = o->sku_hi > o->sku_lo ? o->sku_hi : o->sku_lo + 1;
    bench_rng rng = {o->seed ? o->seed : 1};
    if (!o->preload) {
        for (size_t i = 0; i < n_pool * batch; i++) {
            uint32_t sku = bench_sku_pick(&rng, lo, hi);
            const char *loc =
                o->locations[bench_rng_below(&rng, o->n_locations)];
            bool set = bench_rng_below(&rng, 20) == 0;
            int64_t d = (int64_t)bench_rng_below(&rng, 3) + 1;
            pool[i] = (codec_event){
                .kind = set ? ATP_EV_SET : ATP_EV_DELTA,
                .bucket = ATP_BUCKET_ON_HAND,
                .sku = {w->skus[sku], w->sku_len[sku]},
                .location = {loc, (uint32_t)strlen(loc)},
                .value = set ? o->qty : (i & 1 ? d : -d),
            };
        }
    }
    uint64_t seq = f.base.last_seq + 1;
    res->first_seq = seq;
    f.t0 = clock_mono_ns();
    f.next_series = f.t0;
    bench_feed_sample(&f, f.t0);
    f.next_poll = f.t0 + 100000000LL;
    f.next_print = f.t0 + 1000000000LL;
    uint64_t total_pairs = (uint64_t)(hi - lo) * o->n_locations, pair = 0;
    for (uint64_t i = 0;; i++) {
        if (o->stop != NULL && atomic_load(o->stop))
            break;
        int64_t now = clock_mono_ns();
        if (!o->preload && o->duration_s > 0 &&
            now - f.t0 >= (int64_t)(o->duration_s * 1e9))
            break;
        if (!o->preload && o->max_events && res->events_sent >= o->max_events)
            break;
        if (o->preload && pair >= total_pairs)
            break;
        codec_event *ev = &pool[(i % n_pool) * batch];
        uint32_t n = batch;
        if (o->preload) {
            static const char *const lot_ids[] = {
                "PO-1", "PO-2", "PO-3", "PO-4", "PO-5", "PO-6", "PO-7", "PO-8"};
            uint32_t lots = o->lots < 8 ? o->lots : 8;
            int64_t week = 7 * 86400000LL, wall = clock_wall_ms();
            for (n = 0; n + 1 + lots <= batch && pair < total_pairs; pair++) {
                uint32_t sku = lo + (uint32_t)(pair / o->n_locations);
                const char *loc = o->locations[pair % o->n_locations];
                codec_event set = {
                    .kind = ATP_EV_SET,
                    .bucket = ATP_BUCKET_ON_HAND,
                    .sku = {w->skus[sku], w->sku_len[sku]},
                    .location = {loc, (uint32_t)strlen(loc)},
                    .value = o->qty,
                };
                ev[n++] = set;
                for (uint32_t k = 0; k < lots; k++) {
                    codec_event lot = set;
                    lot.kind = ATP_EV_LOT_ADD;
                    lot.ref = (codec_str){lot_ids[k], 4};
                    lot.eta_ms = wall + (int64_t)(k + 1) * week;
                    ev[n++] = lot;
                }
            }
        }
        if (o->events_per_s > 0) {
            int64_t due = f.t0 + (int64_t)((double)res->events_sent * 1e9 /
                                           o->events_per_s);
            while ((now = clock_mono_ns()) < due) {
                bench_feed_sleep_ns(due - now < 2000000 ? due - now : 2000000);
                if (now >= f.next_poll) {
                    bench_feed_poll(&f);
                    f.next_poll = now + 100000000LL;
                }
            }
        }
        bench_feed_pace(&f, seq);
        if (bench_feed_send(&f, seq, ev, n) == 0) {
            res->events_sent += n;
            seq++;
        }
    }
    res->send_s = (double)(clock_mono_ns() - f.t0) / 1e9;
    /* Heartbeats until the newest one is applied: proves everything before
     * it was applied, rejected or reported missed. */
    codec_event hb = {.kind = ATP_EV_HEARTBEAT};
    int64_t deadline = clock_mono_ns() + BENCH_FEED_FINAL_TIMEOUT_NS,
            next_hb = 0;
    uint64_t target = 0;
    for (;;) {
        int64_t now = clock_mono_ns();
        if (now >= next_hb) {
            if (bench_feed_send(&f, seq, &hb, 1) == 0)
                target = seq++;
            next_hb = now + 300000000LL;
        }
        bench_feed_sleep_ns(2000000);
        bench_feed_poll(&f);
        if (target && f.last.last_seq >= target) {
            res->complete = true;
            break;
        }
        if (now >= deadline)
            break;
    }
    res->applied_s = (double)(clock_mono_ns() - f.t0) / 1e9;
    res->final_seq = seq - 1;
    const bench_source_counters *b = &f.base, *l = &f.last;
    res->messages = l->messages - b->messages;
    res->events = l->events - b->events;
    res->duplicates = l->duplicates - b->duplicates;
    res->gaps = l->gaps - b->gaps;
    res->missed = l->missed - b->missed;
    res->rejected = l->rejected - b->rejected;
    res->heartbeats = l->heartbeats - b->heartbeats;
    uint64_t seqs = res->final_seq >= res->first_seq
                        ? res->final_seq - res->first_seq + 1
                        : 0;
    res->unaccounted =
        (int64_t)seqs - (int64_t)(res->messages + res->rejected + res->missed);
    /* The time of the data is the time until the final data was applied;
     * heartbeats add at most a poll interval. */
    res->events_per_s =
        res->applied_s > 0 ? (double)res->events / res->applied_s : 0;
    res->sent_events_per_s =
        res->send_s > 0 ? (double)res->events_sent / res->send_s : 0;
    if (!res->complete)
        snprintf(
            res->error, sizeof res->error,
            "atpd did not apply seq %llu within %lld s (applied up to %llu)",
            (unsigned long long)target,
            (long long)(BENCH_FEED_FINAL_TIMEOUT_NS / 1000000000LL),
            (unsigned long long)f.last.last_seq);
    rc = res->complete ? 0 : -1;
out:
    free(pool);
    bench_pub_close(f.pub);
    client_close(f.cl);
    return rc;
}

void bench_feed_result_fini(bench_feed_result *res)
{
    free(res->series);
    res->series = NULL;
}
