/*
 * config.c - reads atpd's YAML configuration into struct config.
 *
 * libyaml's document API gives a tree whose every node keeps its line and
 * column, so each problem can point at the node that causes it. The section
 * readers (read_*.c) check what one node alone can tell (keys, types,
 * ranges, id syntax); validate.c then checks the sections against each
 * other. Nothing stops at the first problem: the user gets the whole list in
 * one run.
 *
 * This file holds the entry points: loading from a string or a file, the
 * top-level mapping, defaults and freeing (lookups: index.c). Main thread at
 * start (or a tool's thread); no global state, so concurrent loads are fine.
 */
#include "config/config_int.h"

#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* A configuration is a hand-written file; this only stops a wrong path
 * (a device, a log file) from being read into memory for ever. */
#define CONFIG_FILE_MAX_BYTES (256L * 1024 * 1024)

/* The data directories of config_default_data_dir; the two paths below
 * come from CMake (src/config/CMakeLists.txt). */
#define CONFIG_BUILD_TREE_DATA_DIR "./atpd-data"
#define CONFIG_DEFAULT_LOG_LEVEL "info"

static const char *const config_root_keys[] = {
    "service",      "regions", "locations", "channels", "sources", "buffers",
    "reservations", "auth",    "tls",       "bundles",  "cluster"};

static void config_parse_root(config__walk *w, const yaml_node_t *root)
{
    yaml_node_t *v[11];
    /* An empty document ("" or a lone "---"): all defaults. */
    if (root == NULL || config__node_is_null(root))
        return;
    if (!config__map_fields(w, root, "the top level", config_root_keys, 11, v))
        return;
    /* A section left empty ("regions:" with every entry commented out)
     * reads as absent. */
    for (int i = 0; i < 11; i++) {
        if (v[i] != NULL && config__node_is_null(v[i]))
            v[i] = NULL;
    }
    if (v[0])
        config__parse_service(w, v[0]);
    if (v[1] && !w->b->oom)
        config__parse_regions(w, v[1]);
    if (v[2] && !w->b->oom)
        config__parse_locations(w, v[2]);
    if (v[3] && !w->b->oom)
        config__parse_channels(w, v[3]);
    if (v[4] && !w->b->oom)
        config__parse_sources(w, v[4]);
    if (v[5] && !w->b->oom)
        config__parse_buffers(w, v[5]);
    if (v[6] && !w->b->oom)
        config__parse_reservations(w, v[6]);
    if (v[7] && !w->b->oom)
        config__parse_auth(w, v[7]);
    if (v[8] && !w->b->oom)
        config__parse_tls(w, v[8]);
    if (v[9] && !w->b->oom)
        config__parse_bundles(w, v[9]);
    if (v[10] && !w->b->oom)
        config__parse_cluster(w, v[10]);
    config__validate_tls(w->b);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

static void config_reservations_defaults(config_reservations *r)
{
    r->default_ttl_ms = 15 * 60 * 1000;
    r->min_ttl_ms = 1000;
    r->max_ttl_ms = 24 * 3600 * 1000;
    r->committed_ttl_ms = 7LL * 24 * 3600 * 1000;
    r->retention_ms = 24 * 3600 * 1000;
    r->max_lines = 1000;
    r->sync = true;
    r->max_map_bytes = (size_t)64 << 30;
    r->log_bytes = (size_t)64 << 20;
    r->log_apply_delay_ms = 0;
}

const char *config_default_data_dir_for(const char *exe, const char *build_dir)
{
    size_t n = strlen(build_dir);
    while (n > 1 && build_dir[n - 1] == '/')
        n--;
    bool in_tree =
        exe != NULL && strncmp(exe, build_dir, n) == 0 && exe[n] == '/';
    return in_tree ? CONFIG_BUILD_TREE_DATA_DIR : ATP_INSTALLED_DATA_DIR;
}

const char *config_default_data_dir(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n >= 0)
        exe[n] = '\0';
    /* Both sides resolved: the build directory may be reached by a link. */
    char build[PATH_MAX];
    const char *dir = realpath(ATP_BUILD_DIR, build) ? build : ATP_BUILD_DIR;
    return config_default_data_dir_for(n >= 0 ? exe : NULL, dir);
}

static atp_err config_service_defaults(config_service *s)
{
    memset(s, 0, sizeof *s);
    s->query_listen = strdup(ATP_DEFAULT_QUERY_URL);
    s->ingest_listen = strdup(ATP_DEFAULT_INGEST_URL);
    s->feed_listen = strdup(ATP_DEFAULT_FEED_URL);
    s->control_listen = strdup(ATP_DEFAULT_CONTROL_URL);
    s->resync_retry_ms = 2000;
    s->resync_timeout_ms = 30000;
    s->resync_hold_messages = 65536;
    s->snapshot_timeout_ms = 30000;
    s->snapshot_max_events = 50000000;
    s->feed_interval_ms = 50;
    s->snapshot_interval_ms = 1000;
    s->data_dir = strdup(config_default_data_dir());
    s->log_level = strdup(CONFIG_DEFAULT_LOG_LEVEL);
    s->log_repeat_window_ms = LOG_REPEAT_WINDOW_DEFAULT_MS;
    s->stall_timeout_ms = 10000;
    s->stop_drain_ms = 0;
    s->ingest_recv_max_bytes = 4 * 1024 * 1024;
    s->ingest_recv_buffer = 8192;
    s->query_recv_max_bytes = 1024 * 1024;
    s->query_contexts = 64;
    s->query_idle_timeout_ms = 300000;
    s->tls_handshake_timeout_ms = 10000;
    s->max_events_per_message = 100000;
    s->max_cart_lines = ATP_CART_MAX_LINES;
    s->reorder_window_ms = 100;
    s->reorder_max_messages = 256;
    s->spare_locations = 256;
    s->spare_channels = 4;
    s->spare_regions = 2;
    s->http_threads = 2;
    s->http_max_connections = 1024;
    s->http_timeout_ms = 30000;
    s->http_max_header_bytes = 32 * 1024;
    if (s->query_listen == NULL || s->ingest_listen == NULL ||
        s->feed_listen == NULL || s->control_listen == NULL ||
        s->data_dir == NULL || s->log_level == NULL)
        return ATP_E_NOMEM;
    return ATP_OK;
}

/* config_add_default_channel / _region give a build its built-in entries. */
static bool config_add_default_channel(config__build *b)
{
    b->c.channels = calloc(1, sizeof *b->c.channels);
    b->channel_marks = calloc(1, sizeof *b->channel_marks);
    if (b->c.channels == NULL || b->channel_marks == NULL)
        return false;
    b->c.channels[0] = strdup(ATP_DEFAULT_CHANNEL);
    if (b->c.channels[0] == NULL)
        return false;
    b->c.n_channels = 1;
    return true;
}

static bool config_add_default_region(config__build *b)
{
    /* A regions section whose every entry was invalid left empty arrays. */
    free(b->c.regions);
    free(b->region_marks);
    b->c.regions = calloc(1, sizeof *b->c.regions);
    b->region_marks = calloc(1, sizeof *b->region_marks);
    if (b->c.regions == NULL || b->region_marks == NULL)
        return false;
    b->c.regions[0].id = strdup("default");
    if (b->c.regions[0].id == NULL)
        return false;
    b->c.n_regions = 1;
    return true;
}

/* config_build_fini frees the side tables (and c, when keep_config is
 * false). */
static void config_build_fini(config__build *b, bool keep_config)
{
    for (size_t i = 0; i < b->c.n_locations && b->locations; i++)
        free(b->locations[i].region);
    for (size_t i = 0; i < b->c.n_sources && b->sources; i++) {
        for (size_t j = 0; j < b->sources[i].n_claims; j++)
            free(b->sources[i].claims[j].location);
        free(b->sources[i].claims);
    }
    for (size_t i = 0; i < b->c.n_buffers && b->buffers; i++) {
        free(b->buffers[i].region);
        free(b->buffers[i].channel);
    }
    free(b->region_marks);
    free(b->locations);
    free(b->channel_marks);
    free(b->sources);
    free(b->buffers);
    if (!keep_config)
        config_fini(&b->c);
}

/* config_line_of_offset counts the lines before a byte offset: libyaml's
 * reader errors (bad UTF-8) carry an offset but no line. */
static int config_line_of_offset(const char *text, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static void config_report_yaml_error(config__build *b, const yaml_parser_t *p,
                                     const char *text, size_t len)
{
    config__mark m = {(int)p->problem_mark.line + 1,
                      (int)p->problem_mark.column + 1};
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_READER_ERROR) {
        m.line = config_line_of_offset(text, len, p->problem_offset);
        m.column = 0;
        config__error(b, m, "YAML syntax error: %s (byte %zu)", problem,
                      p->problem_offset);
    } else if (p->error == YAML_MEMORY_ERROR) {
        b->oom = true;
    } else if (p->context != NULL) {
        config__error(b, m, "YAML syntax error: %s (%s at line %d)", problem,
                      p->context, (int)p->context_mark.line + 1);
    } else {
        config__error(b, m, "YAML syntax error: %s", problem);
    }
}

atp_err config_load_string(const char *text, size_t len, config *out,
                           config_diags *diags)
{
    memset(out, 0, sizeof *out);
    if (diags != NULL) {
        diags->items = NULL;
        diags->n = 0;
    }
    config__build b;
    memset(&b, 0, sizeof b);
    b.diags = diags;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    atp_err rc = ATP_OK;

    if (!yaml_parser_initialize(&parser))
        return ATP_E_NOMEM;
    config_reservations_defaults(&b.c.reservations);
    if (config_service_defaults(&b.c.service) != ATP_OK ||
        !config_add_default_channel(&b)) {
        b.oom = true;
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        config_report_yaml_error(&b, &parser, text, len);
        goto done;
    }
    have_doc = true;

    config__walk w = {&b, &doc};
    config_parse_root(&w, yaml_document_get_root_node(&doc));

    /* One document per file: a second one is almost always two files
     * concatenated by mistake, and reading only the first would hide it. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        config_report_yaml_error(&b, &parser, text, len);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&next);
        if (root != NULL)
            config__error(&b, config__mark_of(root),
                          "a second YAML document; the configuration is one "
                          "document (remove the '---')");
        yaml_document_delete(&next);
    }

    if (b.c.n_regions == 0 && !b.oom && !config_add_default_region(&b))
        b.oom = true;
    if (!b.oom) {
        config__validate(&b);
        config__check_sources_insecure(&b);
        config__check_insecure(&b);
    }

done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    config__diags_finish(&b);
    if (b.oom)
        rc = ATP_E_NOMEM;
    else if (b.n_errors > 0)
        rc = ATP_E_CONFIG;
    if (rc == ATP_OK && config__index_build(&b.c) != ATP_OK)
        rc = ATP_E_NOMEM;
    config_build_fini(&b, rc == ATP_OK);
    if (rc == ATP_OK)
        *out = b.c;
    return rc;
}

atp_err config_load_file(const char *path, config *out, config_diags *diags)
{
    memset(out, 0, sizeof *out);
    if (diags != NULL) {
        diags->items = NULL;
        diags->n = 0;
    }
    config__build b;
    memset(&b, 0, sizeof b);
    b.diags = diags;

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        config__error(&b, (config__mark){0, 0}, "cannot open '%s': %s", path,
                      strerror(errno));
        return ATP_E_IO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    atp_err rc = ATP_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)CONFIG_FILE_MAX_BYTES) {
                config__error(&b, (config__mark){0, 0},
                              "'%s' is larger than %ld bytes; is it really "
                              "the configuration?",
                              path, CONFIG_FILE_MAX_BYTES);
                rc = ATP_E_CONFIG;
                goto done;
            }
            cap = cap ? cap * 2 : 64 * 1024;
            char *t = realloc(text, cap);
            if (t == NULL) {
                rc = ATP_E_NOMEM;
                goto done;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                /* A directory opens fine and fails here, with EISDIR. */
                config__error(&b, (config__mark){0, 0}, "cannot read '%s': %s",
                              path, strerror(errno));
                rc = ATP_E_IO;
            }
            break;
        }
    }
    fclose(f);
    f = NULL;
    if (rc == ATP_OK)
        rc = config_load_string(text, len, out, diags);
done:
    if (f != NULL)
        fclose(f);
    free(text);
    return rc;
}

atp_err config_defaults(config *out)
{
    config__build b;
    memset(&b, 0, sizeof b);
    memset(out, 0, sizeof *out);
    config_reservations_defaults(&b.c.reservations);
    if (config_service_defaults(&b.c.service) != ATP_OK ||
        !config_add_default_channel(&b) || !config_add_default_region(&b) ||
        config__index_build(&b.c) != ATP_OK) {
        config_build_fini(&b, false);
        return ATP_E_NOMEM;
    }
    config_build_fini(&b, true);
    *out = b.c;
    return ATP_OK;
}

void config_fini(config *c)
{
    if (c == NULL)
        return;
    free(c->service.query_listen);
    free(c->service.ingest_listen);
    free(c->service.feed_listen);
    free(c->service.control_listen);
    free(c->service.http_listen);
    for (size_t i = 0; i < c->cluster.n_nats; i++)
        free(c->cluster.nats[i]);
    free(c->cluster.nats);
    free(c->cluster.name);
    free(c->cluster.node);
    free(c->cluster.partition);
    free(c->cluster.advertise_query);
    for (size_t i = 0; i < c->cluster.n_partitions; i++) {
        config_partition *p = &c->cluster.partitions[i];
        for (size_t j = 0; j < p->n_regions; j++)
            free(p->regions[j]);
        free(p->name);
        free(p->regions);
    }
    free(c->cluster.partitions);
    free(c->cluster.partitions_key);
    free(c->cluster.advertise_http);
    free(c->tls.cert_file);
    free(c->tls.key_file);
    free(c->tls.ca_file);
    free(c->service.data_dir);
    free(c->service.log_level);
    for (size_t i = 0; i < c->n_regions; i++)
        free(c->regions[i].id);
    free(c->regions);
    for (size_t i = 0; i < c->n_locations; i++) {
        free(c->locations[i].id);
        free(c->locations[i].type);
    }
    free(c->locations);
    for (size_t i = 0; i < c->n_channels; i++)
        free(c->channels[i]);
    free(c->channels);
    for (size_t i = 0; i < c->n_sources; i++) {
        free(c->sources[i].id);
        free(c->sources[i].authority);
        free(c->sources[i].key_file);
        if (c->sources[i].key != NULL)
            memset(c->sources[i].key, 0, c->sources[i].key_len);
        free(c->sources[i].key);
    }
    free(c->sources);
    for (size_t i = 0; i < c->n_buffers; i++)
        free(c->buffers[i].sku);
    free(c->buffers);
    config_bundles_free(c->bundles, c->n_bundles);
    for (size_t i = 0; i < c->auth.n_tokens; i++) {
        free(c->auth.tokens[i].name);
        free(c->auth.tokens[i].client);
    }
    free(c->auth.tokens);
    config__index_free(c);
    memset(c, 0, sizeof *c);
}
