/*
 * records.c - the admin state's stored records (layout in admin_int.h),
 * the audit history in memory, the durable write of one change, and the
 * readers (list, history, export). Readers: any thread, under mu.
 */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "common/done_wait.h"
#include "common/log.h"

void admin__state_encode(codec_writer *w, uint64_t version, const char *text,
                         const char *file_text)
{
    codec_w_map(w, 3);
    codec_w_kv_uint(w, "v", version);
    codec_w_kv_cstr(w, "text", text);
    codec_w_kv_cstr(w, "file", file_text);
}

/* The stored audit record is the history reply's item: one encoder. */
void admin__entry_encode(codec_writer *w, const admin_entry *e)
{
    codec_w_map(w, 8);
    codec_w_kv_uint(w, "version", e->version);
    codec_w_kv_int(w, "at_ms", e->at_ms);
    codec_w_kv_cstr(w, "change_id", e->id);
    codec_w_kv_cstr(w, "who", e->who);
    codec_w_kv_cstr(w, "op", e->op);
    codec_w_kv_cstr(w, "what", e->what);
    codec_w_kv_cstr(w, "before", e->before);
    codec_w_kv_cstr(w, "after", e->after);
}

static char *admin_view_strdup(codec_view m, const char *key)
{
    codec_str s;
    if (!codec_view_str(codec_view_get(m, key), &s))
        return NULL;
    char *p = malloc(s.len + 1u);
    if (p != NULL) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

bool admin__state_decode(const void *val, size_t len, uint64_t *version,
                         char **text, char **file_text)
{
    codec_view m;
    if (codec_view_root(val, len, &m) != ATP_OK ||
        !codec_view_uint(codec_view_get(m, "v"), version))
        return false;
    *text = admin_view_strdup(m, "text");
    *file_text = admin_view_strdup(m, "file");
    if (*text != NULL && *file_text != NULL)
        return true;
    free(*text);
    free(*file_text);
    *text = *file_text = NULL;
    return false;
}

void admin__entry_fini(admin_entry *e)
{
    free(e->id);
    free(e->who);
    free(e->op);
    free(e->what);
    free(e->before);
    free(e->after);
    memset(e, 0, sizeof *e);
}

bool admin__entry_decode(const void *val, size_t len, admin_entry *e)
{
    memset(e, 0, sizeof *e);
    codec_view m;
    if (codec_view_root(val, len, &m) != ATP_OK ||
        !codec_view_uint(codec_view_get(m, "version"), &e->version) ||
        !codec_view_int(codec_view_get(m, "at_ms"), &e->at_ms))
        return false;
    e->id = admin_view_strdup(m, "change_id");
    e->who = admin_view_strdup(m, "who");
    e->op = admin_view_strdup(m, "op");
    e->what = admin_view_strdup(m, "what");
    e->before = admin_view_strdup(m, "before");
    e->after = admin_view_strdup(m, "after");
    if (e->id && e->who && e->op && e->what && e->before && e->after)
        return true;
    admin__entry_fini(e);
    return false;
}

bool admin__entry_add(admin *a, admin_entry *e)
{
    if (a->n_hist == a->cap_hist) {
        size_t cap = a->cap_hist ? a->cap_hist * 2 : 16;
        admin_entry *v = realloc(a->hist, cap * sizeof *v);
        if (v == NULL) {
            admin__entry_fini(e);
            return false;
        }
        a->hist = v;
        a->cap_hist = cap;
    }
    a->hist[a->n_hist++] = *e;
    return true;
}

/* ---- the durable write of one change ------------------------------------ */

static void admin_nowait_done(void *arg, atp_err err)
{
    (void)arg;
    if (err != ATP_OK)
        log_error("admin",
                  "the admin state taken from the file at start was not "
                  "stored (%s); it is taken from the file again at the next "
                  "start",
                  atp_err_message(err));
}

atp_err admin__store(admin *a, const char *text, const admin_entry *e,
                     bool wait)
{
    if (a->persist.put == NULL)
        return ATP_OK;
    codec_writer *ws = codec_writer_alloc(NULL, NULL);
    codec_writer *we = codec_writer_alloc(NULL, NULL);
    atp_err err = ATP_E_NOMEM;
    if (ws == NULL || we == NULL)
        goto out;
    admin__state_encode(ws, e->version, text, a->file_text);
    admin__entry_encode(we, e);
    if (codec_writer_failed(ws) || codec_writer_failed(we))
        goto out;
    uint8_t hkey[9] = {'h'};
    for (int i = 0; i < 8; i++)
        hkey[1 + i] = (uint8_t)(e->version >> (56 - 8 * i));
    admin_record r[2] = {{.key = "state", .key_len = 5},
                         {.key = hkey, .key_len = sizeof hkey}};
    r[0].val = codec_writer_data(ws, &r[0].val_len);
    r[1].val = codec_writer_data(we, &r[1].val_len);
    if (!wait) {
        err = a->persist.put(a->persist.ctx, r, 2, admin_nowait_done, NULL);
        goto out;
    }
    done_wait w;
    done_wait_init(&w);
    err = done_wait_finish(
        &w, a->persist.put(a->persist.ctx, r, 2, done_wait_signal, &w));
out:
    codec_writer_free(ws);
    codec_writer_free(we);
    return err;
}

/* ---- readers ------------------------------------------------------------ */

static void admin_w_id(codec_writer *w, const char *key, const char *id)
{
    codec_w_cstr(w, key);
    codec_w_cstr(w, id); /* NULL: nil, "any" */
}

/* admin_source_write: {id, authority: [{location, buckets}]}, one entry
 * per location (the pairs are sorted by location). */
static void admin_source_write(const config *c, const config_source *src,
                               codec_writer *w)
{
    uint32_t n = 0;
    for (size_t a = 0; a < src->n_authority; a++)
        n += a == 0 ||
             src->authority[a].location != src->authority[a - 1].location;
    codec_w_map(w, 2);
    codec_w_kv_cstr(w, "id", src->id);
    codec_w_cstr(w, "authority");
    codec_w_array(w, n);
    for (size_t a = 0; a < src->n_authority;) {
        uint32_t loc = src->authority[a].location;
        size_t b = a;
        while (b < src->n_authority && src->authority[b].location == loc)
            b++;
        codec_w_map(w, 2);
        codec_w_kv_cstr(w, "location", c->locations[loc].id);
        codec_w_cstr(w, "buckets");
        codec_w_array(w, (uint32_t)(b - a));
        for (; a < b; a++)
            codec_w_cstr(w, config_bucket_name(src->authority[a].bucket));
    }
}

void admin_list_write(admin *a, codec_writer *w)
{
    pthread_mutex_lock(&a->mu);
    const config *c = &a->cur;
    codec_w_map(w, 11);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_uint(w, "version", a->version);
    codec_w_cstr(w, "bundles");
    codec_w_array(w, (uint32_t)c->n_bundles);
    for (size_t i = 0; i < c->n_bundles; i++) {
        const config_bundle *b = &c->bundles[i];
        codec_w_map(w, 2);
        codec_w_kv_cstr(w, "sku", b->sku);
        codec_w_cstr(w, "components");
        codec_w_array(w, (uint32_t)b->n_parts);
        for (size_t k = 0; k < b->n_parts; k++) {
            codec_w_array(w, 2);
            codec_w_cstr(w, b->parts[k].sku);
            codec_w_int(w, b->parts[k].qty);
        }
    }
    codec_w_cstr(w, "buffers");
    codec_w_array(w, (uint32_t)c->n_buffers);
    for (size_t i = 0; i < c->n_buffers; i++) {
        const config_buffer_rule *r = &c->buffers[i];
        codec_w_map(w, 7);
        admin_w_id(w, "sku", r->sku);
        admin_w_id(w, "region",
                   r->region == UINT32_MAX ? NULL : c->regions[r->region].id);
        admin_w_id(w, "channel",
                   r->channel == UINT32_MAX ? NULL : c->channels[r->channel]);
        codec_w_kv_int(w, "units", r->units);
        codec_w_kv_int(w, "percent_bp", r->percent_bp);
        codec_w_kv_int(w, "low_stock", r->low_stock);
        codec_w_kv_int(w, "backorder", r->backorder);
    }
    codec_w_cstr(w, "regions");
    codec_w_array(w, (uint32_t)c->n_regions);
    for (size_t i = 0; i < c->n_regions; i++) {
        codec_w_map(w, 2);
        codec_w_kv_cstr(w, "id", c->regions[i].id);
        codec_w_kv_int(w, "inbound_horizon_ms",
                       c->regions[i].inbound_horizon_ms);
    }
    codec_w_cstr(w, "locations");
    codec_w_array(w, (uint32_t)c->n_locations);
    for (size_t i = 0; i < c->n_locations; i++) {
        const config_location *l = &c->locations[i];
        codec_w_map(w, 5);
        codec_w_kv_cstr(w, "id", l->id);
        codec_w_kv_cstr(w, "region", c->regions[l->region].id);
        codec_w_kv_cstr(w, "type", l->type);
        codec_w_kv_bool(w, "pickup", l->pickup);
        codec_w_kv_int(w, "pickup_buffer", l->pickup_buffer);
    }
    codec_w_cstr(w, "channels");
    codec_w_array(w, (uint32_t)c->n_channels);
    for (size_t i = 0; i < c->n_channels; i++)
        codec_w_cstr(w, c->channels[i]);
    codec_w_cstr(w, "sources");
    codec_w_array(w, (uint32_t)c->n_sources);
    for (size_t i = 0; i < c->n_sources; i++)
        admin_source_write(c, &c->sources[i], w);
    /* started's places are named under mu only: read whole here */
    codec_w_kv_count(w, "spare_locations",
                     a->started->n_locations -
                         config_location_named(a->started));
    codec_w_kv_count(w, "spare_channels",
                     a->started->n_channels - config_channels_live(a->started));
    codec_w_kv_count(w, "spare_regions",
                     a->started->n_regions - config_regions_live(a->started));
    pthread_mutex_unlock(&a->mu);
}

void admin_history_write(admin *a, uint64_t after, uint32_t limit,
                         codec_writer *w)
{
    pthread_mutex_lock(&a->mu);
    size_t i0 = 0;
    while (i0 < a->n_hist && a->hist[i0].version <= after)
        i0++;
    size_t n = a->n_hist - i0 < limit ? a->n_hist - i0 : limit;
    codec_w_map(w, 4);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_uint(w, "version", a->version);
    codec_w_cstr(w, "changes");
    codec_w_array(w, (uint32_t)n);
    for (size_t i = i0; i < i0 + n; i++)
        admin__entry_encode(w, &a->hist[i]);
    /* 0: nothing more; else the version to ask after for the next page */
    codec_w_kv_uint(w, "next_after",
                    n > 0 && i0 + n < a->n_hist ? a->hist[i0 + n - 1].version
                                                : 0);
    pthread_mutex_unlock(&a->mu);
}

char *admin_export(admin *a)
{
    pthread_mutex_lock(&a->mu);
    char *t = a->cur_text ? strdup(a->cur_text) : NULL;
    pthread_mutex_unlock(&a->mu);
    return t;
}

uint64_t admin_version(admin *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t v = a->version;
    pthread_mutex_unlock(&a->mu);
    return v;
}
