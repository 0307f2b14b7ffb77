/*
 * read_sources.c - the sources section: each source's id, heartbeat
 * timeout, resync flag and authority (which buckets of which locations it
 * reports), and the bucket names used in it. The claims are kept as names
 * for validate.c to resolve and check for overlaps. Main thread at start.
 */
#include "atp/wire.h"
#include "config/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_HEARTBEAT_MIN_MS 10

static const char *const config_bucket_names[ATP_AUTH_BUCKET_COUNT] = {
    [ATP_BUCKET_ON_HAND] = "on_hand",
    [ATP_BUCKET_ALLOCATED] = "allocated",
    [ATP_BUCKET_HELD] = "held",
    [ATP_AUTH_INBOUND] = "inbound",
};

const char *config_bucket_name(unsigned bucket)
{
    return bucket < ATP_AUTH_BUCKET_COUNT ? config_bucket_names[bucket] : "?";
}

static const char *const config_source_keys[] = {
    "id",     "heartbeat_timeout", "authority",
    "resync", "max_seq_jump",      "key_file"};
enum {
    SRC_ID,
    SRC_HEARTBEAT,
    SRC_AUTHORITY,
    SRC_RESYNC,
    SRC_MAX_SEQ_JUMP,
    SRC_KEY_FILE,
    SRC_N
};

#define CONFIG_SEQ_JUMP_DEFAULT 1000000
#define CONFIG_KEY_MIN 16 /* bytes; 32 random ones (64 hex digits) advised */
static const char *const config_authority_keys[] = {"locations", "buckets"};

/* config_parse_buckets returns the bucket bits of a buckets: list (all three
 * when the key is absent). */
static uint8_t config_parse_buckets(config__walk *w, const yaml_node_t *node,
                                    const char *name)
{
    if (node == NULL)
        return CONFIG__ALL_BUCKETS;
    char what[128];
    snprintf(what, sizeof what, "%s: authority buckets", name);
    size_t n =
        config__get_seq(w, node, what, "on_hand, allocated, held, inbound");
    if (node->type == YAML_SEQUENCE_NODE && n == 0)
        config__error(w->b, config__mark_of(node),
                      "%s: empty; list at least one of on_hand, allocated, "
                      "held, or leave the key out for all three",
                      what);
    uint8_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, node, i);
        size_t len;
        const char *s = config__scalar(
            w, item, what, "on_hand, allocated, held or inbound", &len);
        if (s == NULL)
            continue;
        unsigned k = 0;
        while (k < ATP_AUTH_BUCKET_COUNT &&
               strcmp(config_bucket_names[k], s) != 0)
            k++;
        if (k == ATP_AUTH_BUCKET_COUNT) {
            char shown[48];
            config__error(w->b, config__mark_of(item),
                          "%s: unknown bucket %s; expected on_hand, allocated, "
                          "held or inbound",
                          name, config__node_show(item, shown, sizeof shown));
            continue;
        }
        bits |= (uint8_t)(1u << k);
    }
    return bits;
}

/* config_parse_authority turns a source's authority: list into claims, one
 * per location named (each with the buckets of its entry). */
static void config_parse_authority(config__walk *w, const yaml_node_t *seq,
                                   config__source_src *src, const char *name)
{
    config__build *b = w->b;
    char what[128];
    snprintf(what, sizeof what, "%s: authority", name);
    size_t n = config__get_seq(w, seq, what, "{locations, buckets} entries");
    /* Count first: one allocation for all the claims of the source. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = config__seq_item(w, seq, i);
        if (e->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start;
             p < e->data.mapping.pairs.top; p++) {
            yaml_node_t *k = config__node(w, p->key);
            yaml_node_t *v = config__node(w, p->value);
            if (k->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k->data.scalar.value, "locations") == 0 &&
                v->type == YAML_SEQUENCE_NODE)
                total += (size_t)(v->data.sequence.items.top -
                                  v->data.sequence.items.start);
        }
    }
    if (total > 0) {
        src->claims = calloc(total, sizeof *src->claims);
        if (src->claims == NULL) {
            b->oom = true;
            return;
        }
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *e = config__seq_item(w, seq, i);
        yaml_node_t *v[2];
        if (!config__map_fields(w, e, "authority entry", config_authority_keys,
                                2, v))
            continue;
        uint8_t bits = config_parse_buckets(w, v[1], name);
        if (v[0] == NULL) {
            config__error(b, config__mark_of(e),
                          "%s: authority entry without 'locations'; expected "
                          "{locations: [...], buckets: [...]}",
                          name);
            continue;
        }
        char lwhat[128];
        snprintf(lwhat, sizeof lwhat, "%s: authority locations", name);
        size_t nl = config__get_seq(w, v[0], lwhat, "location ids");
        if (v[0]->type == YAML_SEQUENCE_NODE && nl == 0)
            config__error(b, config__mark_of(v[0]),
                          "%s: empty; list at least one location id", lwhat);
        for (size_t j = 0; j < nl && src->n_claims < total; j++) {
            yaml_node_t *item = config__seq_item(w, v[0], j);
            char *loc = config__get_id(w, item, lwhat, ATP_ID_MAX_LEN);
            if (loc == NULL)
                continue;
            config__claim_src *cl = &src->claims[src->n_claims++];
            cl->location = loc;
            cl->mark = config__mark_of(item);
            cl->buckets = bits;
        }
    }
}

bool config_key_read(const char *path, uint8_t *key, size_t cap, size_t *len,
                     char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, why_len, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    uint8_t buf[CONFIG_KEY_MAX + 3];
    ssize_t n = -1;
    if (!S_ISREG(st.st_mode))
        snprintf(why, why_len, "not a regular file");
    else if ((st.st_mode & 077) != 0)
        snprintf(why, why_len,
                 "mode %04o lets group or others read or write the key; chmod "
                 "600 it",
                 (unsigned)(st.st_mode & 07777));
    else if ((n = read(fd, buf, sizeof buf)) < 0)
        snprintf(why, why_len, "%s", strerror(errno));
    close(fd);
    if (n < 0)
        return false;
    size_t k = (size_t)n;
    if (k > 0 && buf[k - 1] == '\n')
        k--;
    if (k > 0 && buf[k - 1] == '\r' && (size_t)n > k)
        k--;
    bool ok = k >= CONFIG_KEY_MIN && k <= CONFIG_KEY_MAX && k <= cap;
    if (ok) {
        memcpy(key, buf, k);
        *len = k;
    } else {
        snprintf(why, why_len,
                 "the key must be %d..%d bytes (a trailing newline not "
                 "counted), not %zu; 32 random bytes as hex: openssl rand -hex "
                 "32",
                 CONFIG_KEY_MIN, CONFIG_KEY_MAX, k);
    }
    memset(buf, 0, sizeof buf);
    return ok;
}

/* config_read_key reads s->key_file into s->key (config_key_read). */
static void config_read_key(config__walk *w, const yaml_node_t *node,
                            config_source *s, const char *name)
{
    uint8_t key[CONFIG_KEY_MAX];
    size_t len;
    char why[256];
    if (!config_key_read(s->key_file, key, sizeof key, &len, why, sizeof why)) {
        config__error(w->b, config__mark_of(node), "%s: key_file %s: %s", name,
                      s->key_file, why);
        return;
    }
    s->key = malloc(len);
    if (s->key == NULL) {
        w->b->oom = true;
    } else {
        memcpy(s->key, key, len);
        s->key_len = len;
    }
    memset(key, 0, sizeof key);
}

bool config__source_insecure(const config *c, char *why, size_t why_len)
{
    const char *url = c->service.ingest_listen;
    if (url == NULL || config_url_is_local(url))
        return false;
    for (size_t i = 0; i < c->n_sources; i++)
        if (c->sources[i].key == NULL && c->sources[i].key_file == NULL) {
            snprintf(
                why, why_len,
                "service.ingest_listen: %s is not a loopback address and "
                "source %s has no key_file: anyone who reaches it could "
                "publish that source's stock; give every source a key_file "
                "(docs/SECURITY.md, \"Sources\"), listen on 127.0.0.1, or "
                "set auth.allow_insecure: true",
                url, c->sources[i].id);
            return true; /* one is enough to say what to do */
        }
    return false;
}

void config__check_sources_insecure(config__build *b)
{
    char why[512];
    if (!b->c.auth.allow_insecure &&
        config__source_insecure(&b->c, why, sizeof why))
        config__error(b, b->ingest_listen_mark, "%s", why);
}

void config__parse_sources(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "sources", "sources");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_SOURCES, "sources");
    if (n == 0)
        return;
    b->c.sources = calloc(n, sizeof *b->c.sources);
    b->sources = calloc(n, sizeof *b->sources);
    if (b->c.sources == NULL || b->sources == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[SRC_N];
        if (!config__map_fields(w, item, "sources entry", config_source_keys,
                                SRC_N, v))
            continue;
        char name[96];
        if (v[0] == NULL) {
            config__entry_name(name, sizeof name, "source", "sources", NULL, i);
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'id'", name);
            continue;
        }
        char *id = config__get_id(w, v[0], "source id", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        size_t k = b->c.n_sources++;
        config_source *s = &b->c.sources[k];
        s->id = id;
        s->heartbeat_timeout_ms = 5000;
        s->resync = true;
        s->max_seq_jump = CONFIG_SEQ_JUMP_DEFAULT;
        b->sources[k].id = config__mark_of(v[0]);
        config__entry_name(name, sizeof name, "source", "sources", id, i);
        if (v[1]) {
            char what[128];
            snprintf(what, sizeof what, "%s: heartbeat_timeout", name);
            config__get_duration(w, v[1], what, CONFIG_HEARTBEAT_MIN_MS,
                                 CONFIG__DAY_MS, &s->heartbeat_timeout_ms);
        }
        if (v[2])
            config_parse_authority(w, v[2], &b->sources[k], name);
        if (v[3]) {
            size_t len;
            const char *r =
                config__scalar(w, v[3], "source resync", "true or false", &len);
            if (r != NULL &&
                (strcmp(r, "true") == 0 || strcmp(r, "false") == 0)) {
                s->resync = strcmp(r, "true") == 0;
            } else if (r != NULL) {
                char shown[48];
                config__error(b, config__mark_of(v[3]),
                              "%s: resync: expected true or false, got %s",
                              name,
                              config__node_show(v[3], shown, sizeof shown));
            }
        }
        if (v[SRC_MAX_SEQ_JUMP]) {
            char what[128];
            int64_t jump;
            snprintf(what, sizeof what, "%s: max_seq_jump", name);
            if (config__get_int(w, v[SRC_MAX_SEQ_JUMP], what, 1,
                                ATP_WIRE_INT_MAX, &jump))
                s->max_seq_jump = (uint64_t)jump;
        }
        if (v[SRC_KEY_FILE]) {
            char what[128];
            snprintf(what, sizeof what, "%s: key_file", name);
            s->key_file =
                config__get_text(w, v[SRC_KEY_FILE], what, "a file path");
            if (s->key_file != NULL)
                config_read_key(w, v[SRC_KEY_FILE], s, name);
        }
    }
}
