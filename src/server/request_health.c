/*
 * request_health.c - the ops "ready" and "health" and the readiness and
 * health sections of "status" (docs/PROTOCOL.md; HTTP: /readyz, /healthz).
 * They read only common/health's atomics and the sources' status, never
 * the engine: they answer while start-up still loads the state.
 */
#include "common/clock.h"
#include "common/health.h"
#include "server/request_int.h"

bool request_is_ready(const request_env *env)
{
    return !env->gate_ready || health_ready();
}

/* request_sources_fresh: every configured source is "ok" (none waiting,
 * gapped, silent or resyncing). Writes the others ({id, state}) as an
 * array when w is not NULL. Before atpd is ready: false, none listed. */
static bool request_sources_fresh(request_env *env, codec_writer *w)
{
    if (!request_is_ready(env)) { /* main is still restoring their state */
        if (w != NULL)
            codec_w_array(w, 0);
        return false;
    }
    int64_t now = clock_mono_ms();
    size_t n = sources_count(env->src);
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        sources_status st;
        sources_status_get(env->src, (uint32_t)i, now, &st);
        bad += st.state != SOURCES_OK;
    }
    if (w != NULL) {
        codec_w_array(w, bad);
        for (size_t i = 0; i < n && bad > 0; i++) {
            sources_status st;
            sources_status_get(env->src, (uint32_t)i, now, &st);
            if (st.state != SOURCES_OK) {
                codec_w_map(w, 2);
                codec_w_kv_cstr(w, "id", st.id);
                codec_w_kv_cstr(w, "state", sources_state_name(st.state));
                bad--;
            }
        }
    }
    return bad == 0;
}

/* The conditions that do not hold yet, as an array of names. */
static void request_failing_write(const request_env *env, bool fresh_too,
                                  bool fresh, codec_writer *w)
{
    uint32_t n = 0;
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        n += env->gate_ready && !health_cond_met((health_cond)c);
    bool stale = fresh_too && !fresh;
    codec_w_array(w, n + stale);
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        if (env->gate_ready && !health_cond_met((health_cond)c))
            codec_w_cstr(w, health_cond_name((health_cond)c));
    if (stale)
        codec_w_cstr(w, "sources_fresh");
}

void request_readiness_write(request_env *env, codec_writer *w)
{
    codec_w_map(w, HEALTH_COND_COUNT + 1);
    for (int c = 0; c < HEALTH_COND_COUNT; c++)
        codec_w_kv_bool(w, health_cond_name((health_cond)c),
                        !env->gate_ready || health_cond_met((health_cond)c));
    codec_w_kv_bool(w, "sources_fresh", request_sources_fresh(env, NULL));
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
    bool fresh = request_sources_fresh(env, NULL);
    bool ready = request_is_ready(env) && (!fresh_too || fresh);
    codec_w_map(w, 5);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "ready", ready);
    codec_w_cstr(w, "failing");
    request_failing_write(env, fresh_too, fresh, w);
    codec_w_kv_bool(w, "sources_fresh", fresh);
    codec_w_cstr(w, "stale_sources");
    request_sources_fresh(env, w);
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
