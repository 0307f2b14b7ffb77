/*
 * read_auth.c - the auth section (docs/CONFIG.md, "auth"; docs/SECURITY.md):
 * clients' tokens as salted SHA-256 hashes with their scopes and optional
 * client name, the per-client limits, and allow_insecure; and the check
 * that refuses a listener beyond loopback without tokens. Main thread at
 * start (or a tool's thread).
 *
 * A token itself never appears in the file: `atpctl token hash` prints an
 * entry (salt and SHA-256(salt || token)) for a token, so nobody computes
 * one by hand.
 */
#include "config/config_int.h"
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static const char *const config_auth_keys[] = {"tokens", "allow_insecure",
                                               "limits"};
enum { AUTH_TOKENS, AUTH_ALLOW_INSECURE, AUTH_LIMITS, AUTH_N };

static const char *const config_token_keys[] = {"name", "client", "scopes",
                                                "salt", "sha256", "expires"};
enum {
    TOK_NAME,
    TOK_CLIENT,
    TOK_SCOPES,
    TOK_SALT,
    TOK_SHA256,
    TOK_EXPIRES,
    TOK_N
};

static const char *const config_limit_keys[] = {"max_open_reservations",
                                                "requests_per_second",
                                                "http_connections_per_peer"};
enum { LIM_OPEN, LIM_RATE, LIM_CONNS, LIM_N };

static const char *const config_scope_names[] = {"read", "reserve", "admin",
                                                 NULL};

/* config_token_scopes reads a scopes: list into CONFIG_SCOPE_* bits (0 and
 * reported when it is empty or names an unknown scope). */
static unsigned config_token_scopes(config__walk *w, const yaml_node_t *node,
                                    const char *name)
{
    char what[200];
    snprintf(what, sizeof what, "%s: scopes", name);
    size_t n = config__get_seq(w, node, what, "read, reserve, admin");
    if (node->type == YAML_SEQUENCE_NODE && n == 0)
        config__error(w->b, config__mark_of(node),
                      "%s: empty; list at least one of read, reserve, admin",
                      what);
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int k;
        if (config__get_choice(w, config__seq_item(w, node, i), what,
                               "read, reserve or admin", config_scope_names,
                               &k))
            bits |= 1u << k;
    }
    return bits;
}

/* config_token_hex reads a hex string of min..max bytes into out. */
static bool config_token_hex(config__walk *w, const yaml_node_t *node,
                             const char *what, size_t min, size_t max,
                             uint8_t *out, size_t *n_out)
{
    size_t len;
    const char *s = config__scalar(w, node, what, "hex digits", &len);
    if (s == NULL)
        return false;
    if (len % 2 != 0 || len < 2 * min || len > 2 * max ||
        !crypto_unhex(s, len, out, len / 2)) {
        if (min == max)
            config__error(w->b, config__mark_of(node),
                          "%s: expected %zu hex digits, got %zu characters "
                          "(atpctl token hash prints a valid entry)",
                          what, 2 * min, len);
        else
            config__error(w->b, config__mark_of(node),
                          "%s: expected %zu..%zu hex digits (an even number), "
                          "got %zu characters (atpctl token hash prints a "
                          "valid entry)",
                          what, 2 * min, 2 * max, len);
        return false;
    }
    *n_out = len / 2;
    return true;
}

/* config_token_expiry reads "YYYY-MM-DDTHH:MM:SSZ" (UTC, RFC 3339 without
 * fractions or offsets) as ms since the epoch; 0 and reported otherwise. */
static int64_t config_token_expiry(config__walk *w, const yaml_node_t *node,
                                   const char *what)
{
    const char *s = node->type == YAML_SCALAR_NODE
                        ? (const char *)node->data.scalar.value
                        : NULL;
    struct tm tm = {0};
    char z = 0, end = 0;
    if (s != NULL &&
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z,
               &end) == 7 &&
        z == 'Z' && strlen(s) == 20 && tm.tm_year >= 1970 &&
        tm.tm_year <= 9999 && tm.tm_mon >= 1 && tm.tm_mon <= 12 &&
        tm.tm_mday >= 1 && tm.tm_mday <= 31 && tm.tm_hour <= 23 &&
        tm.tm_min <= 59 && tm.tm_sec <= 59) {
        int mday = tm.tm_mday, mon = tm.tm_mon;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        if (t > 0 && tm.tm_mday == mday && tm.tm_mon == mon - 1) /* no 31 Feb */
            return (int64_t)t * 1000;
    }
    char shown[80];
    config__error(w->b, config__mark_of(node),
                  "%s: expected a UTC time like 2027-01-31T00:00:00Z, got %s",
                  what, config__node_show(node, shown, sizeof shown));
    return 0;
}

static void config_parse_token(config__walk *w, const yaml_node_t *item,
                               size_t i, config__mark *marks)
{
    config__build *b = w->b;
    yaml_node_t *v[TOK_N];
    char name[160];
    config__entry_name(name, sizeof name, "token", "auth.tokens", NULL, i);
    if (!config__map_fields(w, item, name, config_token_keys, TOK_N, v))
        return;
    if (v[TOK_NAME] == NULL) {
        config__error(b, config__mark_of(item), "%s: missing key 'name'", name);
        return;
    }
    char *id =
        config__get_id(w, v[TOK_NAME], "auth.tokens: name", ATP_ID_MAX_LEN);
    if (id == NULL)
        return;
    config_token *t = &b->c.auth.tokens[b->c.auth.n_tokens];
    memset(t, 0, sizeof *t);
    t->name = id;
    marks[b->c.auth.n_tokens++] = config__mark_of(v[TOK_NAME]);
    config__entry_name(name, sizeof name, "token", "auth.tokens", id, i);
    if (v[TOK_CLIENT] != NULL) {
        char what[200];
        snprintf(what, sizeof what, "%s: client", name);
        t->client = config__get_id(w, v[TOK_CLIENT], what, ATP_ID_MAX_LEN);
    }
    const char *missing[] = {NULL, NULL, "scopes", "salt", "sha256"};
    for (int k = TOK_SCOPES; k <= TOK_SHA256; k++)
        if (v[k] == NULL)
            config__error(b, config__mark_of(item), "%s: missing key '%s'",
                          name, missing[k]);
    if (v[TOK_SCOPES] != NULL)
        t->scopes = config_token_scopes(w, v[TOK_SCOPES], name);
    char what[200];
    snprintf(what, sizeof what, "%s: salt", name);
    if (v[TOK_SALT] != NULL)
        config_token_hex(w, v[TOK_SALT], what, CONFIG_TOKEN_SALT_MIN,
                         CONFIG_TOKEN_SALT_MAX, t->salt, &t->salt_len);
    snprintf(what, sizeof what, "%s: sha256", name);
    size_t hlen;
    if (v[TOK_SHA256] != NULL)
        config_token_hex(w, v[TOK_SHA256], what, CONFIG_TOKEN_HASH_LEN,
                         CONFIG_TOKEN_HASH_LEN, t->sha256, &hlen);
    snprintf(what, sizeof what, "%s: expires", name);
    if (v[TOK_EXPIRES] != NULL)
        t->expires_ms = config_token_expiry(w, v[TOK_EXPIRES], what);
}

static void config_parse_tokens(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "auth.tokens", "token entries");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_TOKENS, "auth.tokens");
    if (n == 0)
        return;
    b->c.auth.tokens = calloc(n, sizeof *b->c.auth.tokens);
    config__mark *marks = calloc(n, sizeof *marks);
    if (b->c.auth.tokens == NULL || marks == NULL) {
        free(marks);
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++)
        config_parse_token(w, config__seq_item(w, seq, i), i, marks);
    /* A name is how an operator retires one token of several: unique. */
    for (size_t i = 1; i < b->c.auth.n_tokens; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->c.auth.tokens[i].name, b->c.auth.tokens[j].name) ==
                0) {
                char at[48];
                config__error(b, marks[i],
                              "auth.tokens: duplicate name '%s' (first at %s)",
                              b->c.auth.tokens[i].name,
                              config__at(marks[j], marks[i], at, sizeof at));
                break;
            }
    free(marks);
}

static void config_parse_limits(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[LIM_N];
    if (!config__map_fields(w, node, "auth.limits", config_limit_keys, LIM_N,
                            v))
        return;
    config_auth *a = &w->b->c.auth;
    uint32_t *out[LIM_N] = {&a->max_open_reservations, &a->requests_per_second,
                            &a->http_connections_per_peer};
    for (int k = 0; k < LIM_N; k++) {
        char what[80];
        int64_t n;
        snprintf(what, sizeof what, "auth.limits.%s", config_limit_keys[k]);
        if (v[k] != NULL && config__get_int(w, v[k], what, 0, 1000000000, &n))
            *out[k] = (uint32_t)n;
    }
}

void config__parse_auth(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[AUTH_N];
    if (!config__map_fields(w, node, "auth", config_auth_keys, AUTH_N, v))
        return;
    w->b->auth_mark = config__mark_of(node);
    if (v[AUTH_TOKENS] != NULL && !config__node_is_null(v[AUTH_TOKENS]))
        config_parse_tokens(w, v[AUTH_TOKENS]);
    if (v[AUTH_ALLOW_INSECURE] != NULL) {
        static const char *const choices[] = {"false", "true", NULL};
        int k;
        if (config__get_choice(w, v[AUTH_ALLOW_INSECURE], "auth.allow_insecure",
                               "true or false", choices, &k))
            w->b->c.auth.allow_insecure = k == 1;
    }
    if (v[AUTH_LIMITS] != NULL && !config__node_is_null(v[AUTH_LIMITS]))
        config_parse_limits(w, v[AUTH_LIMITS]);
}

/* ---- listeners beyond loopback ------------------------------------------- */

bool config_url_is_local(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return false;
    size_t scheme = (size_t)(p - url);
    /* ipc:// and inproc:// never leave the machine (file permissions
     * guard an ipc path). */
    if ((scheme == 3 && memcmp(url, "ipc", 3) == 0) ||
        (scheme == 6 && memcmp(url, "inproc", 6) == 0))
        return true;
    const char *h = p + 3, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        return end != NULL && (size_t)(end - h - 1) == 3 &&
               memcmp(h + 1, "::1", 3) == 0;
    }
    end = strrchr(h, ':');
    size_t n = end != NULL ? (size_t)(end - h) : strlen(h);
    if (n == 9 && memcmp(h, "localhost", 9) == 0)
        return true;
    /* 127.0.0.0/8, written as a dotted quad. */
    unsigned a, bb, c, d;
    char tail;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return sscanf(buf, "%u.%u.%u.%u%c", &a, &bb, &c, &d, &tail) == 4 &&
           a == 127 && bb < 256 && c < 256 && d < 256;
}

/* The client-facing listeners: the sources' endpoints (ingest, control)
 * are the sources' credentials' concern (docs/SECURITY.md, "Sources"). */
#define CONFIG_CLIENT_LISTENERS 3
static void config_client_listeners(const config_service *s,
                                    const char *keys[CONFIG_CLIENT_LISTENERS],
                                    const char *urls[CONFIG_CLIENT_LISTENERS])
{
    keys[0] = "service.query_listen", urls[0] = s->query_listen;
    keys[1] = "service.feed_listen", urls[1] = s->feed_listen;
    keys[2] = "service.http_listen", urls[2] = s->http_listen;
}

#define CONFIG_INSECURE_FMT                                                    \
    "%s: %s is not a loopback address and auth has no tokens: anyone who "     \
    "reaches it could read, reserve and release; configure auth.tokens "       \
    "(docs/SECURITY.md), listen on 127.0.0.1, or set auth.allow_insecure: "    \
    "true"

bool config_insecure_listener(const config *c, bool any, char *why,
                              size_t why_len)
{
    const char *keys[CONFIG_CLIENT_LISTENERS], *urls[CONFIG_CLIENT_LISTENERS];
    if (c->auth.allow_insecure && !any)
        return false;
    config_client_listeners(&c->service, keys, urls);
    for (size_t i = 0; i < CONFIG_CLIENT_LISTENERS && c->auth.n_tokens == 0;
         i++)
        if (urls[i] != NULL && !config_url_is_local(urls[i])) {
            if (c->auth.allow_insecure)
                snprintf(why, why_len,
                         "%s: %s is not a loopback address and "
                         "auth has no tokens (auth.allow_insecure: true): "
                         "anyone who reaches it can read, reserve and release",
                         keys[i], urls[i]);
            else
                snprintf(why, why_len, CONFIG_INSECURE_FMT, keys[i], urls[i]);
            return true;
        }
    /* The sources' listener too: an --ingest-listen override is checked
     * here, after the file's own check. */
    return config__source_insecure(c, why, why_len);
}

void config__check_insecure(config__build *b)
{
    const char *keys[CONFIG_CLIENT_LISTENERS], *urls[CONFIG_CLIENT_LISTENERS];
    config__mark marks[CONFIG_CLIENT_LISTENERS] = {
        b->query_listen_mark, b->feed_listen_mark, b->http_listen_mark};
    if (b->c.auth.n_tokens > 0 || b->c.auth.allow_insecure)
        return;
    config_client_listeners(&b->c.service, keys, urls);
    for (size_t i = 0; i < CONFIG_CLIENT_LISTENERS; i++)
        if (urls[i] != NULL && !config_url_is_local(urls[i]))
            config__error(b, marks[i], CONFIG_INSECURE_FMT, keys[i], urls[i]);
}
