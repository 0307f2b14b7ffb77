/*
 * config.c - reads atpd's YAML configuration into struct config.
 *
 * libyaml's document API gives a tree whose every node keeps its line and
 * column, so each problem can point at the node that causes it. This file
 * checks what one node alone can tell (keys, types, ranges, id syntax);
 * validate.c then checks the sections against each other. Nothing stops at
 * the first problem: the user gets the whole list in one run.
 *
 * Also here: defaults, lookups, durations, freeing. Main thread at start (or
 * a tool's thread); no global state, so concurrent loads are fine.
 */
#include "config/config_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/log.h"

/* Bounds of the service keys (docs/CONFIG.md lists them with reasons). */
#define CONFIG_RECV_MAX_BYTES_MIN 1024
#define CONFIG_RECV_MAX_BYTES_MAX (1024 * 1024 * 1024)
/* nng refuses NNG_OPT_RECVBUF above 8192 (checked against nng 1.5.2). */
#define CONFIG_RECV_BUFFER_MAX 8192
#define CONFIG_QUERY_CONTEXTS_MAX 4096
#define CONFIG_EVENTS_PER_MESSAGE_MAX 1000000
#define CONFIG_REORDER_WINDOW_MAX_MS (60 * 1000)
#define CONFIG_REORDER_MESSAGES_MAX 65536
#define CONFIG_HEARTBEAT_MIN_MS 10
#define CONFIG__DAY_MS (24LL * 3600 * 1000)
#define CONFIG_HORIZON_MAX_MS (366 * CONFIG__DAY_MS)
/* A configuration is a hand-written file; this only stops a wrong path
 * (a device, a log file) from being read into memory for ever. */
#define CONFIG_FILE_MAX_BYTES (256L * 1024 * 1024)

#define CONFIG_DEFAULT_DATA_DIR "./atpd-data"
#define CONFIG_DEFAULT_LOG_LEVEL "info"

static const char *const config_bucket_names[ATP_AUTH_BUCKET_COUNT] = {
    [ATP_BUCKET_ON_HAND] = "on_hand",
    [ATP_BUCKET_ALLOCATED] = "allocated",
    [ATP_BUCKET_HELD] = "held",
    [ATP_AUTH_INBOUND] = "inbound",
};

const char *config__bucket_name(unsigned bucket)
{
    return bucket < ATP_AUTH_BUCKET_COUNT ? config_bucket_names[bucket] : "?";
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */

const char *config__at(config__mark earlier, config__mark later, char *buf,
                       size_t size)
{
    if (earlier.line == later.line)
        snprintf(buf, size, "line %d, column %d", earlier.line, earlier.column);
    else
        snprintf(buf, size, "line %d", earlier.line);
    return buf;
}

void config__error(config__build *b, config__mark mark, const char *fmt, ...)
{
    b->n_errors++;
    if (b->diags == NULL || b->diags->n >= CONFIG__MAX_DIAGS)
        return;
    config_diag *items =
        realloc(b->diags->items, (b->diags->n + 1) * sizeof *items);
    if (items == NULL) {
        b->oom = true;
        return;
    }
    b->diags->items = items;
    config_diag *d = &items[b->diags->n++];
    d->line = mark.line;
    d->column = mark.column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
}

/* config__diags_finish sorts the diagnostics by position, so that the user
 * reads the file top to bottom, and adds the "more problems" line. Stable
 * (insertion sort, at most CONFIG__MAX_DIAGS items): problems found at the
 * same node keep the order they were found in. */
static void config__diags_finish(config__build *b)
{
    config_diags *d = b->diags;
    if (d == NULL)
        return;
    for (size_t i = 1; i < d->n; i++) {
        config_diag tmp = d->items[i];
        size_t j = i;
        while (j > 0 && (d->items[j - 1].line > tmp.line ||
                         (d->items[j - 1].line == tmp.line &&
                          d->items[j - 1].column > tmp.column))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = tmp;
    }
    if (b->n_errors > d->n) {
        size_t more = b->n_errors - d->n;
        config_diag *items = realloc(d->items, (d->n + 1) * sizeof *items);
        if (items == NULL) {
            b->oom = true;
            return;
        }
        d->items = items;
        config_diag *last = &items[d->n++];
        last->line = 0;
        last->column = 0;
        snprintf(last->message, sizeof last->message,
                 "... and %zu more problems not listed", more);
    }
}

void config_diags_fini(config_diags *d)
{
    if (d == NULL)
        return;
    free(d->items);
    d->items = NULL;
    d->n = 0;
}

/* ------------------------------------------------------------------ */
/* Small parsers (no YAML)                                             */

/* config__parse_int parses an optionally negative decimal integer, the whole
 * of s[0..len). Returns 0, -1 on bad syntax, -2 on overflow. */
static int config__parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len)
        return -1;
    /* Accumulate negatively so that INT64_MIN is representable. */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return -2;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -2;
        v = -v;
    }
    *out = v;
    return 0;
}

bool config_parse_duration_ms(const char *s, int64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    int64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    int64_t mult;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(p, "d") == 0)
        mult = CONFIG__DAY_MS;
    else
        return false;
    if (v > INT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* config__format_ms writes ms in the largest unit that divides it exactly
 * ("100ms", "5s", "1d"), the way a user would write it in the file. */
static void config__format_ms(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {
        {CONFIG__DAY_MS, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms,
                     units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64 "ms", ms);
}

enum config_percent_result {
    CONFIG_PERCENT_OK,
    CONFIG_PERCENT_SYNTAX,
    CONFIG_PERCENT_DECIMALS,
    CONFIG_PERCENT_RANGE,
};

/* config_parse_percent_bp parses "12", "2.5", "0.25" into basis points. A
 * leading '-' parses (so that "-1" is reported as out of range, which is
 * what it is); trailing zeros beyond two decimals are harmless ("2.500").
 * No float on the way: 0.29 must be exactly 29 bp. */
static enum config_percent_result
config_parse_percent_bp(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    int64_t whole = 0;
    size_t digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (whole <= 1000) /* beyond that it is out of range anyway */
            whole = whole * 10 + (s[i] - '0');
    }
    if (digits == 0)
        return CONFIG_PERCENT_SYNTAX;
    int64_t frac = 0;
    bool extra_decimals = false;
    if (i < len && s[i] == '.') {
        i++;
        size_t fdigits = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
            if (fdigits < 2)
                frac = frac * 10 + (s[i] - '0');
            else if (s[i] != '0')
                extra_decimals = true;
        }
        if (fdigits == 0)
            return CONFIG_PERCENT_SYNTAX;
        if (fdigits == 1)
            frac *= 10;
    }
    if (i != len)
        return CONFIG_PERCENT_SYNTAX;
    if (extra_decimals)
        return CONFIG_PERCENT_DECIMALS;
    int64_t bp = whole * 100 + frac;
    if ((neg && bp != 0) || bp > 10000)
        return CONFIG_PERCENT_RANGE;
    *out = bp;
    return CONFIG_PERCENT_OK;
}

/* config__utf8_len returns the length of the UTF-8 sequence at s (at most
 * avail bytes) and its code point, or 0 when it is not valid UTF-8
 * (overlong forms and surrogates included). */
static size_t config__utf8_len(const unsigned char *s, size_t avail,
                               uint32_t *cp)
{
    size_t n;
    uint32_t min;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

const char *config__id_check(const char *s, size_t len, size_t max_len)
{
    if (len == 0)
        return "is empty";
    if (len > max_len)
        return "is too long";
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = config__utf8_len(u + i, len - i, &cp);
        if (n == 0)
            return "is not valid UTF-8";
        /* C0, DEL and C1 controls: they break logs and terminals. */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "contains a control character";
        i += n;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* YAML node helpers                                                   */

/* config__walk: the document being read, and where problems go. */
typedef struct config__walk {
    config__build *b;
    yaml_document_t *doc;
} config__walk;

static config__mark config__mark_of(const yaml_node_t *n)
{
    config__mark m = {(int)n->start_mark.line + 1,
                      (int)n->start_mark.column + 1};
    return m;
}

static yaml_node_t *config__node(config__walk *w, int index)
{
    return yaml_document_get_node(w->doc, index);
}

/* A plain empty, "~" or "null" scalar is YAML's null ("key:" with nothing). */
static bool config__node_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* config_text_show copies text for a message into buf (size >= 8): at most
 * size - 5 bytes, ending in "..." when shortened (never inside a UTF-8
 * sequence), control characters (C0, DEL, C1) shown as '?' so that a
 * message stays one printable line. */
static const char *config_text_show(const unsigned char *v, size_t len,
                                    char *buf, size_t size)
{
    size_t max = len <= size - 1 ? size - 1 : size - 4;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = 1;
        uint32_t cp = v[i];
        if (v[i] >= 0x80) {
            n = config__utf8_len(v + i, len - i, &cp);
            if (n == 0) /* libyaml only hands over UTF-8; be safe anyway */
                n = 1, cp = 0;
        }
        bool ctl = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
        size_t out = ctl ? 1 : n;
        if (o + out > max)
            break;
        if (ctl)
            buf[o++] = '?';
        else
            memcpy(buf + o, v + i, n), o += n;
        i += n;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* config__node_show describes a node for a message: a scalar as 'its text'
 * (shortened), other nodes by kind. */
static const char *config__node_show(const yaml_node_t *n, char *buf,
                                     size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (config__node_is_null(n))
        return "null";
    buf[0] = '\'';
    config_text_show(n->data.scalar.value, n->data.scalar.length, buf + 1,
                     size - 2);
    strcat(buf, "'");
    return buf;
}

static char *config_strndup(config__build *b, const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL) {
        b->oom = true;
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static char *config__strdup(config__build *b, const char *s)
{
    return config_strndup(b, s, strlen(s));
}

/* config__scalar returns the text of a non-null scalar node, or reports
 * "WHAT: expected EXPECTED, got ..." and returns NULL. */
static const char *config__scalar(config__walk *w, const yaml_node_t *n,
                                  const char *what, const char *expected,
                                  size_t *len)
{
    char shown[48];
    if (n->type != YAML_SCALAR_NODE || config__node_is_null(n)) {
        config__error(w->b, config__mark_of(n), "%s: expected %s, got %s", what,
                      expected, config__node_show(n, shown, sizeof shown));
        return NULL;
    }
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

/* config__get_int reads an integer in [min, max]. */
static bool config__get_int(config__walk *w, const yaml_node_t *n,
                            const char *what, int64_t min, int64_t max,
                            int64_t *out)
{
    char expected[80];
    snprintf(expected, sizeof expected, "an integer %" PRId64 "..%" PRId64, min,
             max);
    size_t len;
    const char *s = config__scalar(w, n, what, expected, &len);
    if (s == NULL)
        return false;
    int64_t v = 0;
    int rc = config__parse_int(s, len, &v);
    char shown[48];
    if (rc == -1) {
        config__error(w->b, config__mark_of(n), "%s: expected %s, got %s", what,
                      expected, config__node_show(n, shown, sizeof shown));
        return false;
    }
    if (rc == 0 && v < 0 && min == 0) {
        config__error(w->b, config__mark_of(n),
                      "%s: %s is negative; expected %" PRId64 "..%" PRId64,
                      what, config__node_show(n, shown, sizeof shown), min,
                      max);
        return false;
    }
    if (rc == -2 || v < min || v > max) {
        config__error(w->b, config__mark_of(n),
                      "%s: %s is out of range; expected %" PRId64 "..%" PRId64,
                      what, config__node_show(n, shown, sizeof shown), min,
                      max);
        return false;
    }
    *out = v;
    return true;
}

/* config__get_duration reads a duration (config_parse_duration_ms) within
 * [min_ms, max_ms]. */
static bool config__get_duration(config__walk *w, const yaml_node_t *n,
                                 const char *what, int64_t min_ms,
                                 int64_t max_ms, int64_t *out)
{
    static const char expected[] =
        "a duration like 250ms, 5s, 15m, 2h, 1d or a number of milliseconds";
    size_t len;
    const char *s = config__scalar(w, n, what, expected, &len);
    if (s == NULL)
        return false;
    char shown[48], lo[32], hi[32];
    int64_t v = 0;
    if (strlen(s) != len || !config_parse_duration_ms(s, &v)) {
        config__error(w->b, config__mark_of(n), "%s: expected %s, got %s", what,
                      expected, config__node_show(n, shown, sizeof shown));
        return false;
    }
    if (v < min_ms || v > max_ms) {
        config__format_ms(min_ms, lo, sizeof lo);
        config__format_ms(max_ms, hi, sizeof hi);
        config__error(w->b, config__mark_of(n),
                      "%s: %s is out of range; expected %s..%s", what,
                      config__node_show(n, shown, sizeof shown), lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* config__get_text reads a non-empty string without NUL bytes (URLs, paths). */
static char *config__get_text(config__walk *w, const yaml_node_t *n,
                              const char *what, const char *expected)
{
    size_t len;
    const char *s = config__scalar(w, n, what, expected, &len);
    if (s == NULL)
        return NULL;
    if (len == 0 || strlen(s) != len) {
        config__error(w->b, config__mark_of(n), "%s: %s; expected %s", what,
                      len == 0 ? "is empty" : "contains a NUL byte", expected);
        return NULL;
    }
    return config_strndup(w->b, s, len);
}

/* config__get_id reads an id. An invalid id is reported and still returned
 * (see config__build), NULL only when the node is not a scalar at all. */
static char *config__get_id(config__walk *w, const yaml_node_t *n,
                            const char *what, size_t max_len)
{
    char expected[64];
    snprintf(expected, sizeof expected, "an id of 1..%zu printable bytes",
             max_len);
    size_t len;
    const char *s = config__scalar(w, n, what, expected, &len);
    if (s == NULL)
        return NULL;
    const char *why = config__id_check(s, len, max_len);
    if (why != NULL) {
        char shown[48];
        config__error(w->b, config__mark_of(n), "%s: %s %s; expected %s", what,
                      config__node_show(n, shown, sizeof shown), why, expected);
    }
    return config_strndup(w->b, s, len);
}

/* config__get_seq checks that n is a sequence and returns its item count
 * (0 and a report when it is not). */
static size_t config__get_seq(config__walk *w, const yaml_node_t *n,
                              const char *what, const char *of)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        char shown[48];
        config__error(w->b, config__mark_of(n),
                      "%s: expected a sequence of %s, got %s", what, of,
                      config__node_show(n, shown, sizeof shown));
        return 0;
    }
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *config__seq_item(config__walk *w, const yaml_node_t *n,
                                     size_t i)
{
    return config__node(w, n->data.sequence.items.start[i]);
}

/* config__seq_limit reports a sequence longer than max at its first extra
 * item and returns how many items to read. */
static size_t config__seq_limit(config__walk *w, const yaml_node_t *seq,
                                size_t n, size_t max, const char *what)
{
    if (n <= max)
        return n;
    config__error(w->b, config__mark_of(config__seq_item(w, seq, max)),
                  "%s: %zu entries, at most %zu are allowed", what, n, max);
    return max;
}

/* The most keys a section has (service has 19): checked below, so adding a
 * key beyond it fails loudly instead of overrunning first[]. */
#define CONFIG_MAX_KEYS 32

/* config__map_fields checks that node is a mapping whose keys are all among
 * keys[] (each at most once) and puts each key's value in vals[] (NULL when
 * absent). Reports unknown, duplicate and non-scalar keys and goes on.
 * Returns false (reported) when node is not a mapping. what names the place
 * for messages: "service", "regions entry". */
static bool config__map_fields(config__walk *w, const yaml_node_t *node,
                               const char *what, const char *const *keys,
                               size_t n_keys, yaml_node_t **vals)
{
    char shown[48];
    config__mark first[CONFIG_MAX_KEYS];
    assert(n_keys <= CONFIG_MAX_KEYS); /* a programming error, not input */
    for (size_t k = 0; k < n_keys; k++)
        vals[k] = NULL;
    if (node->type != YAML_MAPPING_NODE) {
        config__error(w->b, config__mark_of(node),
                      "%s: expected a mapping, got %s", what,
                      config__node_show(node, shown, sizeof shown));
        return false;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *key = config__node(w, p->key);
        if (key->type != YAML_SCALAR_NODE) {
            config__error(w->b, config__mark_of(key),
                          "%s: a key must be a plain word, got %s", what,
                          config__node_show(key, shown, sizeof shown));
            continue;
        }
        const char *ks = (const char *)key->data.scalar.value;
        size_t k = 0;
        while (k < n_keys && strcmp(keys[k], ks) != 0)
            k++;
        if (k < n_keys && vals[k] == NULL) {
            vals[k] = config__node(w, p->value);
            first[k] = config__mark_of(key);
        } else if (k < n_keys) {
            char at[48];
            config__error(
                w->b, config__mark_of(key),
                "%s: duplicate key '%s' (first at %s); a key may "
                "appear once",
                what, keys[k],
                config__at(first[k], config__mark_of(key), at, sizeof at));
        } else {
            char allowed[256];
            size_t o = 0;
            allowed[0] = '\0';
            for (size_t j = 0; j < n_keys && o < sizeof allowed; j++)
                o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s%s",
                                      j ? ", " : "", keys[j]);
            /* The message must fit config_diag.message with the whole list
             * of allowed keys: shorten the unknown key if need be. */
            int fixed = snprintf(NULL, 0, "unknown key '' in %s; allowed: %s",
                                 what, allowed);
            int room = (int)sizeof(((config_diag *)0)->message) - 1 - fixed;
            char kshown[40];
            size_t ksize = room < 12 ? 12 : (size_t)room + 1;
            if (ksize > sizeof kshown)
                ksize = sizeof kshown;
            config_text_show(key->data.scalar.value, key->data.scalar.length,
                             kshown, ksize);
            config__error(w->b, config__mark_of(key),
                          "unknown key '%s' in %s; allowed: %s", kshown, what,
                          allowed);
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Sections                                                            */

static const char *const config_service_keys[] = {
    "query_listen",          "ingest_listen",          "data_dir",
    "ingest_recv_max_bytes", "ingest_recv_buffer",     "query_recv_max_bytes",
    "query_contexts",        "max_events_per_message", "max_cart_lines",
    "reorder_window",        "reorder_max_messages",   "log_level",
    "feed_listen",           "feed_interval",          "snapshot_interval",
    "control_listen",        "resync_retry",           "resync_timeout",
    "resync_hold_messages",
};
enum {
    SVC_QUERY_LISTEN,
    SVC_INGEST_LISTEN,
    SVC_DATA_DIR,
    SVC_INGEST_RECV_MAX_BYTES,
    SVC_INGEST_RECV_BUFFER,
    SVC_QUERY_RECV_MAX_BYTES,
    SVC_QUERY_CONTEXTS,
    SVC_MAX_EVENTS,
    SVC_MAX_CART_LINES,
    SVC_REORDER_WINDOW,
    SVC_REORDER_MAX_MESSAGES,
    SVC_LOG_LEVEL,
    SVC_FEED_LISTEN,
    SVC_FEED_INTERVAL,
    SVC_SNAPSHOT_INTERVAL,
    SVC_CONTROL_LISTEN,
    SVC_RESYNC_RETRY,
    SVC_RESYNC_TIMEOUT,
    SVC_RESYNC_HOLD,
    SVC_N
};

/* config_replace_str frees *slot and takes v, when v is not NULL. */
static void config_replace_str(char **slot, char *v)
{
    if (v != NULL) {
        free(*slot);
        *slot = v;
    }
}

static char *config_get_url(config__walk *w, const yaml_node_t *n,
                            const char *what)
{
    static const char expected[] =
        "an nng URL like tcp://127.0.0.1:7450 or ipc:///tmp/atpd.ipc";
    char *url = config__get_text(w, n, what, expected);
    if (url == NULL)
        return NULL;
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || sep[3] == '\0') {
        char shown[48];
        config__error(w->b, config__mark_of(n),
                      "%s: %s is not a URL; expected %s", what,
                      config__node_show(n, shown, sizeof shown), expected);
        free(url);
        return NULL;
    }
    return url;
}

static void config__parse_service(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[SVC_N];
    if (!config__map_fields(w, node, "service", config_service_keys, SVC_N, v))
        return;
    config_service *s = &w->b->c.service;
    int64_t n;

    if (v[SVC_QUERY_LISTEN]) {
        config_replace_str(
            &s->query_listen,
            config_get_url(w, v[SVC_QUERY_LISTEN], "service.query_listen"));
        w->b->query_listen_mark = config__mark_of(v[SVC_QUERY_LISTEN]);
    }
    if (v[SVC_INGEST_LISTEN]) {
        config_replace_str(
            &s->ingest_listen,
            config_get_url(w, v[SVC_INGEST_LISTEN], "service.ingest_listen"));
        w->b->ingest_listen_mark = config__mark_of(v[SVC_INGEST_LISTEN]);
    }
    if (v[SVC_FEED_LISTEN])
        config_replace_str(
            &s->feed_listen,
            config_get_url(w, v[SVC_FEED_LISTEN], "service.feed_listen"));
    if (v[SVC_FEED_INTERVAL])
        config__get_duration(w, v[SVC_FEED_INTERVAL], "service.feed_interval",
                             1, 60000, &s->feed_interval_ms);
    if (v[SVC_CONTROL_LISTEN])
        config_replace_str(
            &s->control_listen,
            config_get_url(w, v[SVC_CONTROL_LISTEN], "service.control_listen"));
    if (v[SVC_RESYNC_RETRY])
        config__get_duration(w, v[SVC_RESYNC_RETRY], "service.resync_retry", 10,
                             600000, &s->resync_retry_ms);
    if (v[SVC_RESYNC_TIMEOUT])
        config__get_duration(w, v[SVC_RESYNC_TIMEOUT], "service.resync_timeout",
                             10, 3600000, &s->resync_timeout_ms);
    if (v[SVC_RESYNC_HOLD] &&
        config__get_int(w, v[SVC_RESYNC_HOLD], "service.resync_hold_messages",
                        1, 1000000, &n))
        s->resync_hold_messages = (uint32_t)n;
    if (v[SVC_SNAPSHOT_INTERVAL])
        config__get_duration(w, v[SVC_SNAPSHOT_INTERVAL],
                             "service.snapshot_interval", 10, 3600000,
                             &s->snapshot_interval_ms);
    if (v[SVC_DATA_DIR])
        config_replace_str(&s->data_dir, config__get_text(w, v[SVC_DATA_DIR],
                                                          "service.data_dir",
                                                          "a directory path"));
    if (v[SVC_INGEST_RECV_MAX_BYTES] &&
        config__get_int(
            w, v[SVC_INGEST_RECV_MAX_BYTES], "service.ingest_recv_max_bytes",
            CONFIG_RECV_MAX_BYTES_MIN, CONFIG_RECV_MAX_BYTES_MAX, &n))
        s->ingest_recv_max_bytes = (size_t)n;
    if (v[SVC_INGEST_RECV_BUFFER] &&
        config__get_int(w, v[SVC_INGEST_RECV_BUFFER],
                        "service.ingest_recv_buffer", 1, CONFIG_RECV_BUFFER_MAX,
                        &n))
        s->ingest_recv_buffer = (int)n;
    if (v[SVC_QUERY_RECV_MAX_BYTES] &&
        config__get_int(
            w, v[SVC_QUERY_RECV_MAX_BYTES], "service.query_recv_max_bytes",
            CONFIG_RECV_MAX_BYTES_MIN, CONFIG_RECV_MAX_BYTES_MAX, &n))
        s->query_recv_max_bytes = (size_t)n;
    if (v[SVC_QUERY_CONTEXTS] &&
        config__get_int(w, v[SVC_QUERY_CONTEXTS], "service.query_contexts", 1,
                        CONFIG_QUERY_CONTEXTS_MAX, &n))
        s->query_contexts = (int)n;
    if (v[SVC_MAX_EVENTS] &&
        config__get_int(w, v[SVC_MAX_EVENTS], "service.max_events_per_message",
                        1, CONFIG_EVENTS_PER_MESSAGE_MAX, &n))
        s->max_events_per_message = (uint32_t)n;
    if (v[SVC_MAX_CART_LINES] &&
        config__get_int(w, v[SVC_MAX_CART_LINES], "service.max_cart_lines", 1,
                        ATP_CART_MAX_LINES, &n))
        s->max_cart_lines = (uint32_t)n;
    if (v[SVC_REORDER_WINDOW])
        config__get_duration(w, v[SVC_REORDER_WINDOW], "service.reorder_window",
                             0, CONFIG_REORDER_WINDOW_MAX_MS,
                             &s->reorder_window_ms);
    if (v[SVC_REORDER_MAX_MESSAGES] &&
        config__get_int(w, v[SVC_REORDER_MAX_MESSAGES],
                        "service.reorder_max_messages", 1,
                        CONFIG_REORDER_MESSAGES_MAX, &n))
        s->reorder_max_messages = (uint32_t)n;
    if (v[SVC_LOG_LEVEL]) {
        static const char expected[] = "one of debug, info, warn, error";
        size_t len;
        const char *lv = config__scalar(w, v[SVC_LOG_LEVEL],
                                        "service.log_level", expected, &len);
        log_level lvl;
        if (lv != NULL && log_parse_level(lv, &lvl)) {
            config_replace_str(&s->log_level, config__strdup(w->b, lv));
        } else if (lv != NULL) {
            char shown[48];
            config__error(
                w->b, config__mark_of(v[SVC_LOG_LEVEL]),
                "service.log_level: expected %s, got %s", expected,
                config__node_show(v[SVC_LOG_LEVEL], shown, sizeof shown));
        }
    }
}

static const char *const config_resv_keys[] = {
    "default_ttl", "min_ttl",         "max_ttl",    "committed_ttl",
    "retention",   "max_lines",       "durability", "max_map_bytes",
    "log_bytes",   "log_apply_delay",
};
enum {
    RSV_DEFAULT_TTL,
    RSV_MIN_TTL,
    RSV_MAX_TTL,
    RSV_COMMITTED_TTL,
    RSV_RETENTION,
    RSV_MAX_LINES,
    RSV_DURABILITY,
    RSV_MAX_MAP_BYTES,
    RSV_LOG_BYTES,
    RSV_LOG_APPLY_DELAY,
    RSV_N
};

#define CONFIG_TTL_MAX_MS (366LL * 24 * 3600 * 1000)

static void config__parse_reservations(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[RSV_N];
    if (!config__map_fields(w, node, "reservations", config_resv_keys, RSV_N,
                            v))
        return;
    config_reservations *r = &w->b->c.reservations;
    int64_t n;
    if (v[RSV_DEFAULT_TTL])
        config__get_duration(w, v[RSV_DEFAULT_TTL], "reservations.default_ttl",
                             1000, CONFIG_TTL_MAX_MS, &r->default_ttl_ms);
    if (v[RSV_MIN_TTL])
        config__get_duration(w, v[RSV_MIN_TTL], "reservations.min_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->min_ttl_ms);
    if (v[RSV_MAX_TTL])
        config__get_duration(w, v[RSV_MAX_TTL], "reservations.max_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->max_ttl_ms);
    if (v[RSV_COMMITTED_TTL])
        config__get_duration(w, v[RSV_COMMITTED_TTL],
                             "reservations.committed_ttl", 1000,
                             CONFIG_TTL_MAX_MS, &r->committed_ttl_ms);
    if (v[RSV_RETENTION])
        config__get_duration(w, v[RSV_RETENTION], "reservations.retention", 0,
                             CONFIG_TTL_MAX_MS, &r->retention_ms);
    if (v[RSV_MAX_LINES] &&
        config__get_int(w, v[RSV_MAX_LINES], "reservations.max_lines", 1,
                        ATP_CART_MAX_LINES, &n))
        r->max_lines = (uint32_t)n;
    if (v[RSV_MAX_MAP_BYTES] &&
        config__get_int(w, v[RSV_MAX_MAP_BYTES], "reservations.max_map_bytes",
                        1 << 20, INT64_MAX / 4, &n))
        r->max_map_bytes = (size_t)n;
    if (v[RSV_LOG_BYTES] &&
        config__get_int(w, v[RSV_LOG_BYTES], "reservations.log_bytes", 0,
                        (int64_t)1 << 32, &n)) {
        if (n != 0 && n < (1 << 20))
            config__error(w->b, config__mark_of(v[RSV_LOG_BYTES]),
                          "reservations.log_bytes: expected 0 (no log) or "
                          "1048576 .. 4294967296, got %lld",
                          (long long)n);
        else
            r->log_bytes = (size_t)n;
    }
    if (v[RSV_LOG_APPLY_DELAY])
        config__get_duration(w, v[RSV_LOG_APPLY_DELAY],
                             "reservations.log_apply_delay", 0, 60 * 1000,
                             &r->log_apply_delay_ms);
    if (v[RSV_DURABILITY]) {
        static const char expected[] = "sync or nosync";
        size_t len;
        const char *d = config__scalar(
            w, v[RSV_DURABILITY], "reservations.durability", expected, &len);
        if (d != NULL && (strcmp(d, "sync") == 0 || strcmp(d, "nosync") == 0)) {
            r->sync = strcmp(d, "sync") == 0;
        } else if (d != NULL) {
            char shown[48];
            config__error(
                w->b, config__mark_of(v[RSV_DURABILITY]),
                "reservations.durability: expected %s, got %s", expected,
                config__node_show(v[RSV_DURABILITY], shown, sizeof shown));
        }
    }
    if (r->min_ttl_ms > r->max_ttl_ms || r->default_ttl_ms < r->min_ttl_ms ||
        r->default_ttl_ms > r->max_ttl_ms)
        config__error(
            w->b, config__mark_of(node),
            "reservations: expected min_ttl <= default_ttl <= max_ttl, "
            "got %lld ms <= %lld ms <= %lld ms",
            (long long)r->min_ttl_ms, (long long)r->default_ttl_ms,
            (long long)r->max_ttl_ms);
}

/* config__entry_name writes how messages name an entry: "region 'us-east'",
 * or "regions entry 3" (1-based) while its id is unknown. */
static void config__entry_name(char *buf, size_t size, const char *kind,
                               const char *section, const char *id, size_t i)
{
    if (id != NULL)
        snprintf(buf, size, "%s '%.64s'", kind, id);
    else
        snprintf(buf, size, "%s entry %zu", section, i + 1);
}

static const char *const config_region_keys[] = {"id", "inbound_horizon"};

static void config__parse_regions(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "regions", "regions");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_REGIONS, "regions");
    if (n == 0)
        return;
    b->c.regions = calloc(n, sizeof *b->c.regions);
    b->region_marks = calloc(n, sizeof *b->region_marks);
    if (b->c.regions == NULL || b->region_marks == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[2];
        if (!config__map_fields(w, item, "regions entry", config_region_keys, 2,
                                v))
            continue;
        char name[96];
        if (v[0] == NULL) {
            config__entry_name(name, sizeof name, "region", "regions", NULL, i);
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'id'", name);
            continue;
        }
        char *id = config__get_id(w, v[0], "region id", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        config_region *r = &b->c.regions[b->c.n_regions];
        b->region_marks[b->c.n_regions] = config__mark_of(v[0]);
        b->c.n_regions++;
        r->id = id;
        config__entry_name(name, sizeof name, "region", "regions", id, i);
        if (v[1]) {
            char what[128];
            snprintf(what, sizeof what, "%s: inbound_horizon", name);
            config__get_duration(w, v[1], what, 0, CONFIG_HORIZON_MAX_MS,
                                 &r->inbound_horizon_ms);
        }
    }
}

static const char *const config_location_keys[] = {"id", "region", "type"};

static void config__parse_locations(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "locations", "locations");
    n = config__seq_limit(w, seq, n, CONFIG_MAX_LOCATIONS, "locations");
    if (n == 0)
        return;
    b->c.locations = calloc(n, sizeof *b->c.locations);
    b->locations = calloc(n, sizeof *b->locations);
    if (b->c.locations == NULL || b->locations == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[3];
        if (!config__map_fields(w, item, "locations entry",
                                config_location_keys, 3, v))
            continue;
        char name[96], what[128];
        if (v[0] == NULL) {
            config__entry_name(name, sizeof name, "location", "locations", NULL,
                               i);
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'id'", name);
            continue;
        }
        char *id = config__get_id(w, v[0], "location id", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        size_t k = b->c.n_locations++;
        config_location *l = &b->c.locations[k];
        config__location_src *src = &b->locations[k];
        l->id = id;
        src->id = config__mark_of(v[0]);
        config__entry_name(name, sizeof name, "location", "locations", id, i);
        if (v[1] == NULL) {
            config__error(b, config__mark_of(item),
                          "%s: missing required key 'region'", name);
        } else {
            snprintf(what, sizeof what, "%s: region", name);
            src->region = config__get_id(w, v[1], what, ATP_ID_MAX_LEN);
            src->region_mark = config__mark_of(v[1]);
        }
        if (v[2] != NULL) {
            snprintf(what, sizeof what, "%s: type", name);
            l->type = config__get_id(w, v[2], what, ATP_ID_MAX_LEN);
        }
        if (l->type == NULL)
            l->type = config__strdup(b, "");
    }
}

static void config__parse_channels(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "channels", "channel ids");
    if (n == 0)
        return;
    /* channels[0] is the built-in default; the file may name it too. */
    size_t cap = n + 1 < CONFIG_MAX_CHANNELS ? n + 1 : CONFIG_MAX_CHANNELS;
    char **ch = realloc(b->c.channels, cap * sizeof *ch);
    if (ch == NULL) {
        b->oom = true;
        return;
    }
    b->c.channels = ch;
    config__mark *marks = realloc(b->channel_marks, cap * sizeof *marks);
    if (marks == NULL) {
        b->oom = true;
        return;
    }
    b->channel_marks = marks;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        char *id = config__get_id(w, item, "channel", ATP_ID_MAX_LEN);
        if (id == NULL)
            continue;
        /* Naming the default channel is allowed (it documents that the
         * file uses it); only the first mention is free, a second one is a
         * duplicate like any other. */
        if (strcmp(id, ATP_DEFAULT_CHANNEL) == 0 &&
            b->channel_marks[0].line == 0) {
            b->channel_marks[0] = config__mark_of(item);
            free(id);
            continue;
        }
        if (b->c.n_channels == cap) {
            free(id);
            config__error(b, config__mark_of(item),
                          "channels: more than %d, counting the built-in "
                          "'%s'; at most %d are allowed",
                          CONFIG_MAX_CHANNELS, ATP_DEFAULT_CHANNEL,
                          CONFIG_MAX_CHANNELS);
            break;
        }
        b->c.channels[b->c.n_channels] = id;
        b->channel_marks[b->c.n_channels] = config__mark_of(item);
        b->c.n_channels++;
    }
}

static const char *const config_source_keys[] = {"id", "heartbeat_timeout",
                                                 "authority", "resync"};
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

static void config__parse_sources(config__walk *w, const yaml_node_t *seq)
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
        yaml_node_t *v[4];
        if (!config__map_fields(w, item, "sources entry", config_source_keys, 4,
                                v))
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
    }
}

static const char *const config_buffer_keys[] = {
    "sku", "region", "channel", "units", "percent", "low_stock"};

static void config__parse_buffers(config__walk *w, const yaml_node_t *seq)
{
    config__build *b = w->b;
    size_t n = config__get_seq(w, seq, "buffers", "buffer rules");
    n = config__seq_limit(w, seq, n, CONFIG__MAX_BUFFERS, "buffers");
    if (n == 0)
        return;
    b->c.buffers = calloc(n, sizeof *b->c.buffers);
    b->buffers = calloc(n, sizeof *b->buffers);
    if (b->c.buffers == NULL || b->buffers == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        yaml_node_t *item = config__seq_item(w, seq, i);
        yaml_node_t *v[6];
        if (!config__map_fields(w, item, "buffers entry", config_buffer_keys, 6,
                                v))
            continue;
        size_t k = b->c.n_buffers++;
        config_buffer_rule *r = &b->c.buffers[k];
        config__buffer_src *src = &b->buffers[k];
        src->mark = config__mark_of(item);
        r->line = src->mark.line;
        r->region = UINT32_MAX;
        r->channel = UINT32_MAX;
        if (v[0])
            r->sku =
                config__get_id(w, v[0], "buffer rule sku", ATP_SKU_MAX_LEN);
        if (v[1]) {
            src->region =
                config__get_id(w, v[1], "buffer rule region", ATP_ID_MAX_LEN);
            src->region_mark = config__mark_of(v[1]);
        }
        if (v[2]) {
            src->channel =
                config__get_id(w, v[2], "buffer rule channel", ATP_ID_MAX_LEN);
            src->channel_mark = config__mark_of(v[2]);
        }
        if (v[3])
            config__get_int(w, v[3], "buffer rule units", 0, ATP_QTY_MAX,
                            &r->units);
        if (v[4]) {
            static const char expected[] =
                "a percentage 0..100 with at most 2 decimals, like 2.5";
            size_t len;
            const char *s =
                config__scalar(w, v[4], "buffer rule percent", expected, &len);
            char shown[48];
            enum config_percent_result pr =
                s ? config_parse_percent_bp(s, len, &r->percent_bp)
                  : CONFIG_PERCENT_OK; /* not a scalar: reported */
            if (pr == CONFIG_PERCENT_SYNTAX)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: expected %s, got %s",
                              expected,
                              config__node_show(v[4], shown, sizeof shown));
            else if (pr == CONFIG_PERCENT_DECIMALS)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: %s has more than 2 "
                              "decimals; expected %s",
                              config__node_show(v[4], shown, sizeof shown),
                              expected);
            else if (pr == CONFIG_PERCENT_RANGE)
                config__error(b, config__mark_of(v[4]),
                              "buffer rule percent: %s is out of range; "
                              "expected %s",
                              config__node_show(v[4], shown, sizeof shown),
                              expected);
        }
        if (v[5])
            config__get_int(w, v[5], "buffer rule low_stock", 0, ATP_QTY_MAX,
                            &r->low_stock);
        if (v[3] == NULL && v[4] == NULL && v[5] == NULL)
            config__error(b, src->mark,
                          "buffer rule sets none of units, percent, low_stock; "
                          "expected at least one (units: 0 for no buffer)");
    }
}

static const char *const config_root_keys[] = {
    "service", "regions", "locations",   "channels",
    "sources", "buffers", "reservations"};

static void config_parse_root(config__walk *w, const yaml_node_t *root)
{
    yaml_node_t *v[7];
    /* An empty document ("" or a lone "---"): all defaults. */
    if (root == NULL || config__node_is_null(root))
        return;
    if (!config__map_fields(w, root, "the top level", config_root_keys, 7, v))
        return;
    /* A section left empty ("regions:" with every entry commented out)
     * reads as absent. */
    for (int i = 0; i < 7; i++) {
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
    s->feed_interval_ms = 50;
    s->snapshot_interval_ms = 1000;
    s->data_dir = strdup(CONFIG_DEFAULT_DATA_DIR);
    s->log_level = strdup(CONFIG_DEFAULT_LOG_LEVEL);
    s->ingest_recv_max_bytes = 4 * 1024 * 1024;
    s->ingest_recv_buffer = 8192;
    s->query_recv_max_bytes = 1024 * 1024;
    s->query_contexts = 64;
    s->max_events_per_message = 100000;
    s->max_cart_lines = ATP_CART_MAX_LINES;
    s->reorder_window_ms = 100;
    s->reorder_max_messages = 256;
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
    if (!b.oom)
        config__validate(&b);

done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    config__diags_finish(&b);
    if (b.oom)
        rc = ATP_E_NOMEM;
    else if (b.n_errors > 0)
        rc = ATP_E_CONFIG;
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
        !config_add_default_channel(&b) || !config_add_default_region(&b)) {
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
    }
    free(c->sources);
    for (size_t i = 0; i < c->n_buffers; i++)
        free(c->buffers[i].sku);
    free(c->buffers);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */

static bool config_id_eq(const char *stored, const char *id, size_t len)
{
    /* id is not NUL-terminated and may hold a NUL: compare lengths first. */
    return stored != NULL && strlen(stored) == len &&
           memcmp(stored, id, len) == 0;
}

int config_region_find(const config *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_regions; i++)
        if (config_id_eq(c->regions[i].id, id, len))
            return (int)i;
    return -1;
}

int config_location_find(const config *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_locations; i++)
        if (config_id_eq(c->locations[i].id, id, len))
            return (int)i;
    return -1;
}

int config_channel_find(const config *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_channels; i++)
        if (config_id_eq(c->channels[i], id, len))
            return (int)i;
    return -1;
}

int config_source_find(const config *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_sources; i++)
        if (config_id_eq(c->sources[i].id, id, len))
            return (int)i;
    return -1;
}
