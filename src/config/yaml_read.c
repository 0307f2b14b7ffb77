/*
 * yaml_read.c - reading libyaml nodes and reporting problems with them.
 *
 * The diagnostics list (config__error and the final sort), the node helpers
 * (position, null, how a node is shown in a message) and the typed readers
 * every section uses: integers, durations, text, ids, sequences, and
 * mappings with a fixed set of keys. Each reader reports what is wrong with
 * the node's line and column and lets the caller go on. Main thread at
 * start, like config.c.
 */
#include "common/assert.h"
#include "config/config_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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
void config__diags_finish(config__build *b)
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
/* YAML node helpers                                                   */

config__mark config__mark_of(const yaml_node_t *n)
{
    config__mark m = {(int)n->start_mark.line + 1,
                      (int)n->start_mark.column + 1};
    return m;
}

yaml_node_t *config__node(config__walk *w, int index)
{
    return yaml_document_get_node(w->doc, index);
}

/* A plain empty, "~" or "null" scalar is YAML's null ("key:" with nothing). */
bool config__node_is_null(const yaml_node_t *n)
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
 * sequence), each byte of a control character (C0, DEL, C1) written as
 * the four characters \xHH (as every message atpd echoes, PROTOCOL.md),
 * so that a message stays one printable line. */
static const char *config_text_show(const unsigned char *v, size_t len,
                                    char *buf, size_t size)
{
    /* A character is written if it fits with room left for "..." after
     * it, or, the last one, if it fits at all: a control byte takes 4, so
     * the input's length alone does not say whether all of it fits. */
    size_t cap = size - 1;
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
        size_t out = ctl ? 4 * n : n;
        if (o + out > (i + n >= len ? cap : cap - 3))
            break;
        if (ctl) {
            static const char hex[] = "0123456789abcdef";
            for (size_t k = 0; k < n; k++) {
                buf[o++] = '\\';
                buf[o++] = 'x';
                buf[o++] = hex[v[i + k] >> 4];
                buf[o++] = hex[v[i + k] & 15];
            }
        } else {
            memcpy(buf + o, v + i, n), o += n;
        }
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
const char *config__node_show(const yaml_node_t *n, char *buf, size_t size)
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

char *config__strdup(config__build *b, const char *s)
{
    return config_strndup(b, s, strlen(s));
}

/* config__scalar returns the text of a non-null scalar node, or reports
 * "WHAT: expected EXPECTED, got ..." and returns NULL. */
const char *config__scalar(config__walk *w, const yaml_node_t *n,
                           const char *what, const char *expected, size_t *len)
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

/* config__get_choice: see config_int.h. */
bool config__get_choice(config__walk *w, const yaml_node_t *n, const char *what,
                        const char *expected, const char *const *choices,
                        int *out)
{
    size_t len;
    const char *s = config__scalar(w, n, what, expected, &len);
    if (s == NULL)
        return false;
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return true;
        }
    }
    char shown[48];
    config__error(w->b, config__mark_of(n), "%s: expected %s, got %s", what,
                  expected, config__node_show(n, shown, sizeof shown));
    return false;
}

/* config__get_int reads an integer in [min, max]. */
bool config__get_int(config__walk *w, const yaml_node_t *n, const char *what,
                     int64_t min, int64_t max, int64_t *out)
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
bool config__get_duration(config__walk *w, const yaml_node_t *n,
                          const char *what, int64_t min_ms, int64_t max_ms,
                          int64_t *out)
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
char *config__get_text(config__walk *w, const yaml_node_t *n, const char *what,
                       const char *expected)
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
char *config__get_id(config__walk *w, const yaml_node_t *n, const char *what,
                     size_t max_len)
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
size_t config__get_seq(config__walk *w, const yaml_node_t *n, const char *what,
                       const char *of)
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

yaml_node_t *config__seq_item(config__walk *w, const yaml_node_t *n, size_t i)
{
    return config__node(w, n->data.sequence.items.start[i]);
}

/* config__seq_limit reports a sequence longer than max at its first extra
 * item and returns how many items to read. */
size_t config__seq_limit(config__walk *w, const yaml_node_t *seq, size_t n,
                         size_t max, const char *what)
{
    if (n <= max)
        return n;
    config__error(w->b, config__mark_of(config__seq_item(w, seq, max)),
                  "%s: %zu entries, at most %zu are allowed", what, n, max);
    return max;
}

/* config_edit_distance is the Levenshtein distance between a and b, or a
 * number above limit when it exceeds limit (or a key is too long to
 * bother). For "did you mean". */
static size_t config_edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return limit + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* config_unknown_key reports key, not among keys[], with every allowed key
 * and the closest one ("did you mean") when it is a likely typo. */
static void config_unknown_key(config__walk *w, const yaml_node_t *key,
                               const char *what, const char *const *keys,
                               size_t n_keys)
{
    char allowed[768];
    size_t o = 0;
    allowed[0] = '\0';
    const char *near = NULL;
    size_t near_d = 0;
    const char *ks = (const char *)key->data.scalar.value;
    /* A typo is at most a third of the key's letters away (at least 1,
     * at most 3): "snapshot_intervall", "max_line". */
    size_t limit = strlen(ks) / 3;
    limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
    for (size_t j = 0; j < n_keys && o < sizeof allowed; j++) {
        o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s%s",
                              j ? ", " : "", keys[j]);
        size_t d = config_edit_distance(ks, keys[j], limit);
        if (d <= limit && (near == NULL || d < near_d)) {
            near = keys[j];
            near_d = d;
        }
    }
    char kshown[48], hint[96] = "";
    config_text_show(key->data.scalar.value, key->data.scalar.length, kshown,
                     sizeof kshown);
    const char *section = near == NULL && strcmp(what, "the top level") == 0
                              ? config__section_of_key(ks)
                              : NULL;
    if (near != NULL)
        snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
    else if (section != NULL) /* data_dir: at the top instead of in service */
        snprintf(hint, sizeof hint, "did you mean '%s.%s' (inside '%s:')? ",
                 section, kshown, section);
    config__error(w->b, config__mark_of(key),
                  "unknown key '%s' in %s; %sallowed: %s", kshown, what, hint,
                  allowed);
}

/* config__map_fields checks that node is a mapping whose keys are all among
 * keys[] (each at most once) and puts each key's value in vals[] (NULL when
 * absent). Reports unknown, duplicate and non-scalar keys and goes on.
 * Returns false (reported) when node is not a mapping. what names the place
 * for messages: "service", "regions entry". */
bool config__map_fields(config__walk *w, const yaml_node_t *node,
                        const char *what, const char *const *keys,
                        size_t n_keys, yaml_node_t **vals)
{
    char shown[48];
    config__mark first[CONFIG_MAX_KEYS];
    /* A programming error, not input: every section's key count is checked
     * at compile time (config_int.h); this catches a caller that was not. */
    ATP_ASSERT(n_keys <= CONFIG_MAX_KEYS);
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
            config_unknown_key(w, key, what, keys, n_keys);
        }
    }
    return true;
}
