/*
 * request_health.c - the ops "ready" and "health" and the readiness and
 * health sections of "status" (docs/PROTOCOL.md; HTTP: /readyz, /healthz).
 * They read only common/health's atomics and the sources' status, never
 * the engine: they answer while start-up still loads the state.
 */
#include "common/clock.h"
#include "common/cluster_info.h"
#include "common/health.h"
#include "config/config.h"
#include "server/request_int.h"

bool request_is_ready(const request_env *env)
{
    return !env->gate_ready || health_ready();
}

bool request_is_standby(const request_env *env)
{
    if (!env->gate_ready || health_cond_met(HEALTH_RESERVATIONS) ||
        !health_cond_met(HEALTH_SNAPSHOT))
        return false;
    cluster_info ci;
    cluster_info_get(&ci);
    return ci.enabled;
}

bool request_is_serving(const request_env *env)
{
    return request_is_ready(env) && !health_stopping();
}

/* One reading of every source's state: fresh, failing and stale_sources
 * are derived from it alone, so a source changing state meanwhile cannot
 * make them disagree (or the array's length its entries). */
typedef struct request_fresh {
    uint32_t n, bad;
    bool known; /* false before atpd is ready: their state is restoring */
    const char *id[CONFIG_MAX_SOURCES];
    sources_state state[CONFIG_MAX_SOURCES];
} request_fresh;

static void request_fresh_read(request_env *env, request_fresh *fr)
{
    fr->n = fr->bad = 0;
    fr->known = request_is_ready(env);
    if (!fr->known) /* main is still restoring their state */
        return;
    int64_t now = clock_mono_ms();
    size_t n = sources_count(env->src);
    for (size_t i = 0; i < n && i < CONFIG_MAX_SOURCES; i++) {
        sources_status st;
        sources_status_get(env->src, (uint32_t)i, now, &st);
        fr->id[i] = st.id;
        fr->state[i] = st.state;
        fr->bad += st.state != SOURCES_OK;
        fr->n++;
    }
}

/* Every configured source is "ok" (none waiting, gapped, silent or
 * resyncing). Before atpd is ready: false. */
static bool request_fresh_ok(const request_fresh *fr)
{
    return fr->known && fr->bad == 0;
}

/* The sources that are not "ok", as an array of {id, state}. */
static void request_fresh_write(const request_fresh *fr, codec_writer *w)
{
    codec_w_array(w, fr->bad);
    for (uint32_t i = 0; i < fr->n; i++)
        if (fr->state[i] != SOURCES_OK) {
            codec_w_map(w, 2);
            codec_w_kv_cstr(w, "id", fr->id[i]);
            codec_w_kv_cstr(w, "state", sources_state_name(fr->state[i]));
        }
}

/* The conditions that do not hold yet, as an array of names. */
static void request_failing_write(const request_env *env, bool fresh_too,
                                  bool fresh, codec_writer *w)
{
    uint32_t n = 0;
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        n += env->gate_ready && !health_cond_met((health_cond)c);
    bool stopping = health_stopping();
    bool stale = fresh_too && !fresh;
    codec_w_array(w, n + stopping + stale);
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        if (env->gate_ready && !health_cond_met((health_cond)c))
            codec_w_cstr(w, health_cond_name((health_cond)c));
    if (stopping)
        codec_w_cstr(w, "stopping");
    if (stale)
        codec_w_cstr(w, "sources_fresh");
}

void request_readiness_write(request_env *env, codec_writer *w)
{
    request_fresh fr;
    request_fresh_read(env, &fr);
    codec_w_map(w, HEALTH_COND_COUNT + 2);
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        codec_w_kv_bool(w, health_cond_name((health_cond)c),
                        !env->gate_ready || health_cond_met((health_cond)c));
    codec_w_kv_bool(w, "stopping", health_stopping());
    codec_w_kv_bool(w, "sources_fresh", request_fresh_ok(&fr));
}

/* The four health fields: healthy, stuck (name and stall of each stuck
 * thread), stall_timeout_ms and every watched thread. */
static void request_health_kv(codec_writer *w)
{
    health_thread_info t[HEALTH_THREADS_MAX];
    size_t stuck;
    size_t n =
        health_threads_get(clock_mono_ms(), t, HEALTH_THREADS_MAX, &stuck);
    codec_w_kv_bool(w, "healthy", stuck == 0);
    codec_w_cstr(w, "stuck");
    codec_w_array(w, (uint32_t)stuck);
    for (size_t i = 0; i < n; i++)
        if (t[i].stuck) {
            codec_w_map(w, 2);
            codec_w_kv_cstr(w, "thread", t[i].name);
            codec_w_kv_int(w, "stalled_ms", t[i].since_ms);
        }
    codec_w_kv_int(w, "stall_timeout_ms", health_stall_ms());
    codec_w_cstr(w, "threads");
    codec_w_array(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        codec_w_map(w, 4);
        codec_w_kv_cstr(w, "name", t[i].name);
        codec_w_kv_bool(w, "busy", t[i].busy);
        codec_w_kv_bool(w, "stuck", t[i].stuck);
        codec_w_kv_int(w, "since_ms", t[i].since_ms);
    }
}

void request_health_write(codec_writer *w)
{
    codec_w_map(w, 4);
    request_health_kv(w);
}

bool request_ready(request_env *env, const request_fields *f, codec_arena *a,
                   codec_writer *w, reply_error *e)
{
    (void)a;
    bool fresh_too = false;
    if (f->sources.p != NULL) {
        codec_str s;
        if (!codec_view_str(f->sources, &s) || !codec_str_eq(s, "fresh")) {
            reply_error_set(
                e, ATP_E_BAD_REQUEST,
                "'sources' must be the string \"fresh\" (or absent)");
            return false;
        }
        fresh_too = true;
    }
    request_fresh fr;
    request_fresh_read(env, &fr);
    bool fresh = request_fresh_ok(&fr);
    bool ready = request_is_serving(env) && (!fresh_too || fresh);
    codec_w_map(w, 5);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "ready", ready);
    codec_w_cstr(w, "failing");
    request_failing_write(env, fresh_too, fresh, w);
    codec_w_kv_bool(w, "sources_fresh", fresh);
    codec_w_cstr(w, "stale_sources");
    request_fresh_write(&fr, w);
    return true;
}

bool request_health(request_env *env, const request_fields *f, codec_arena *a,
                    codec_writer *w, reply_error *e)
{
    (void)env, (void)f, (void)a, (void)e;
    codec_w_map(w, 5);
    codec_w_kv_bool(w, "ok", true);
    request_health_kv(w);
    return true;
}
