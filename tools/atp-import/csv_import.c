/*
 * csv_import.c - 3PL CSV files (see csv_import.h).
 */
#include "csv_import.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const csv_keys[CSV_COLS] = {
    [CSV_SKU] = "sku",       [CSV_LOCATION] = "location", [CSV_QTY] = "qty",
    [CSV_BUCKET] = "bucket", [CSV_LOT] = "lot",           [CSV_ETA] = "eta",
};

void csv_opts_default(csv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->delimiter = ',';
    o->header = true;
    o->bucket = ATP_BUCKET_ON_HAND;
    for (int c = CSV_SKU; c <= CSV_QTY; c++)
        snprintf(o->cols[c], sizeof o->cols[c], "%s", csv_keys[c]);
}

bool csv_parse_columns(const char *s, csv_opts *o, char *why, size_t why_len)
{
    char cols[CSV_COLS][CSV_COL_NAME_MAX] = {{0}};
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        int key = -1;
        for (int c = 0; eq != NULL && c < CSV_COLS; c++)
            if (strlen(csv_keys[c]) == (size_t)(eq - s) &&
                memcmp(csv_keys[c], s, (size_t)(eq - s)) == 0)
                key = c;
        size_t vn = eq ? n - (size_t)(eq + 1 - s) : 0;
        if (key < 0) {
            snprintf(why, why_len,
                     "'%.*s' is not KEY=COLUMN with KEY sku, location, qty, "
                     "bucket, lot or eta",
                     (int)(n > 40 ? 40 : n), s);
            return false;
        }
        if (cols[key][0] != '\0' || vn == 0 || vn >= CSV_COL_NAME_MAX) {
            snprintf(why, why_len, "%s: %s", csv_keys[key],
                     vn == 0                  ? "no column given"
                     : vn >= CSV_COL_NAME_MAX ? "column name too long"
                                              : "given twice");
            return false;
        }
        memcpy(cols[key], eq + 1, vn);
        s += n + (comma != NULL);
    }
    const char *bad = NULL;
    if (cols[CSV_SKU][0] == '\0' || cols[CSV_QTY][0] == '\0')
        bad = "sku and qty are needed";
    else if ((cols[CSV_LOT][0] == '\0') != (cols[CSV_ETA][0] == '\0'))
        bad = "lot and eta go together (an inbound file)";
    else if (cols[CSV_LOT][0] != '\0' && cols[CSV_BUCKET][0] != '\0')
        bad = "an inbound file (lot, eta) has no bucket";
    if (bad != NULL) {
        snprintf(why, why_len, "%s", bad);
        return false;
    }
    memcpy(o->cols, cols, sizeof cols);
    return true;
}

bool csv_parse_delimiter(const char *s, char *out)
{
    if (strcmp(s, "tab") == 0 || strcmp(s, "\t") == 0)
        *out = '\t';
    else if (strcmp(s, ",") == 0 || strcmp(s, ";") == 0 || strcmp(s, "|") == 0)
        *out = s[0];
    else
        return false;
    return true;
}

/* ---- records ------------------------------------------------------------ */

typedef struct csv_reader {
    const char *buf;
    size_t len, p;
    uint32_t line; /* of buf[p] */
    char delim;
    char *text; /* the record's fields, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *field; /* offsets into text */
    size_t n_fields, cap_fields;
} csv_reader;

static bool csv_put(csv_reader *r, char c)
{
    if (r->text_len == r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap * 2 : 256;
        char *t = realloc(r->text, cap);
        if (t == NULL)
            return false;
        r->text = t;
        r->text_cap = cap;
    }
    r->text[r->text_len++] = c;
    return true;
}

static bool csv_new_field(csv_reader *r)
{
    if (r->n_fields == r->cap_fields) {
        size_t cap = r->cap_fields ? r->cap_fields * 2 : 16;
        size_t *f = realloc(r->field, cap * sizeof *f);
        if (f == NULL)
            return false;
        r->field = f;
        r->cap_fields = cap;
    }
    r->field[r->n_fields++] = r->text_len;
    return true;
}

/* csv_end_field NUL-terminates the field, without the trailing spaces of
 * an unquoted one. */
static bool csv_end_field(csv_reader *r, bool quoted)
{
    size_t start = r->field[r->n_fields - 1];
    while (!quoted && r->text_len > start &&
           (r->text[r->text_len - 1] == ' ' ||
            (r->text[r->text_len - 1] == '\t' && r->delim != '\t')))
        r->text_len--;
    return csv_put(r, '\0');
}

enum csv_next { CSV_RECORD, CSV_EOF, CSV_BAD, CSV_NOMEM };

/* csv_next reads one record; CSV_BAD with *why set. */
static int csv_next(csv_reader *r, const char **why)
{
    r->text_len = 0;
    r->n_fields = 0;
    if (r->p >= r->len)
        return CSV_EOF;
    if (!csv_new_field(r))
        return CSV_NOMEM;
    bool quoted = false, after_quote = false, at_start = true;
    while (r->p < r->len) {
        char c = r->buf[r->p++];
        if (quoted) {
            if (c == '"' && r->p < r->len && r->buf[r->p] == '"') {
                r->p++;
                if (!csv_put(r, '"'))
                    return CSV_NOMEM;
            } else if (c == '"') {
                quoted = false;
                after_quote = true;
            } else {
                r->line += c == '\n';
                if (!csv_put(r, c))
                    return CSV_NOMEM;
            }
            continue;
        }
        if (c == r->delim || c == '\n' || c == '\r') {
            if (!csv_end_field(r, after_quote))
                return CSV_NOMEM;
            if (c == r->delim) {
                if (!csv_new_field(r))
                    return CSV_NOMEM;
                after_quote = false;
                at_start = true;
                continue;
            }
            if (c == '\r' && r->p < r->len && r->buf[r->p] == '\n')
                r->p++;
            r->line++;
            return CSV_RECORD;
        }
        if (after_quote) {
            if (c == ' ' || c == '\t')
                continue;
            *why = "text after a closing quote";
            return CSV_BAD;
        }
        if (c == '"' && at_start) {
            r->text_len = r->field[r->n_fields - 1]; /* drop leading spaces */
            quoted = true;
            continue;
        }
        if (at_start && (c == ' ' || (c == '\t' && r->delim != '\t')))
            continue;
        at_start = false;
        if (c == '"') {
            *why = "a quote inside an unquoted field";
            return CSV_BAD;
        }
        if (!csv_put(r, c))
            return CSV_NOMEM;
    }
    if (quoted) {
        *why = "a quoted field is not closed before the end of the file";
        return CSV_BAD;
    }
    return csv_end_field(r, after_quote) ? CSV_RECORD : CSV_NOMEM;
}

static const char *csv_f(const csv_reader *r, size_t i, size_t *len)
{
    const char *s = r->text + r->field[i];
    *len = strlen(s);
    return s;
}

/* ---- rows ------------------------------------------------------------- */

typedef struct csv_map {
    int idx[CSV_COLS]; /* field index, -1: not in the file */
    size_t n_fields;   /* every row has this many */
} csv_map;

/* csv_col_name: mapped column c's name in the file's header (its number
 * without one), as messages give it. */
static const char *csv_col_name(const import_batch *b, const csv_map *m, int c)
{
    const char *name = import_column_name(b, (uint32_t)m->idx[c] + 1);
    return name != NULL ? name : "?";
}

/* csv_resolve finds each mapped column in the header (or by number). */
static bool csv_resolve(const csv_opts *o, const csv_reader *r, csv_map *m,
                        import_batch *b, uint32_t line)
{
    bool ok = true;
    m->n_fields = r->n_fields;
    b->csv_cols = calloc(r->n_fields, sizeof *b->csv_cols);
    for (size_t i = 0; b->csv_cols != NULL && i < r->n_fields; i++) {
        char num[24];
        size_t n = (size_t)snprintf(num, sizeof num, "%zu", i + 1);
        const char *name = o->header ? csv_f(r, i, &n) : num;
        if ((b->csv_cols[i] = import_strdup(b, name, n)) == NULL)
            return false;
    }
    if (b->csv_cols == NULL) {
        b->nomem = true;
        return false;
    }
    b->n_csv_cols = r->n_fields;
    for (int c = 0; c < CSV_COLS; c++) {
        m->idx[c] = -1;
        const char *want = o->cols[c];
        if (want[0] == '\0')
            continue;
        char *end;
        unsigned long num = strtoul(want, &end, 10);
        if (isdigit((unsigned char)want[0]) && *end == '\0') {
            if (num >= 1 && num <= r->n_fields)
                m->idx[c] = (int)num - 1;
        } else if (o->header) {
            for (size_t i = 0; i < r->n_fields && m->idx[c] < 0; i++) {
                size_t n;
                const char *f = csv_f(r, i, &n);
                if (n == strlen(want) && strncasecmp(f, want, n) == 0)
                    m->idx[c] = (int)i;
            }
        }
        if (m->idx[c] < 0) {
            import_diag_add(b, (import_pos){line, 0, 0}, NULL,
                            "no column '%s' (%s) in the %s: name the file's "
                            "columns with --csv-columns%s",
                            want, csv_keys[c],
                            o->header ? "header" : "first row's fields",
                            c == CSV_LOCATION ? " (a file without a location "
                                                "column: leave location out "
                                                "and give --location)"
                                              : "");
            ok = false;
        }
    }
    return ok;
}

static void csv_row(const csv_opts *o, const csv_reader *r, const csv_map *m,
                    uint32_t line, import_batch *b)
{
    size_t n[CSV_COLS] = {0};
    const char *v[CSV_COLS] = {0};
    for (int c = 0; c < CSV_COLS; c++)
        if (m->idx[c] >= 0)
            v[c] = csv_f(r, (size_t)m->idx[c], &n[c]);
    size_t before = b->n_diags;
#define CSV_BAD(c, ...)                                                        \
    import_diag_add(b, (import_pos){line, 0, (uint32_t)m->idx[c] + 1}, NULL,   \
                    __VA_ARGS__)
    int64_t qty = 0, eta = 0;
    uint8_t bucket = o->bucket;
    bool lot = v[CSV_LOT] != NULL;
    if (n[CSV_SKU] == 0)
        CSV_BAD(CSV_SKU, "column %s: empty SKU", csv_col_name(b, m, CSV_SKU));
    if (v[CSV_LOCATION] != NULL && n[CSV_LOCATION] == 0)
        CSV_BAD(CSV_LOCATION, "column %s: empty location",
                csv_col_name(b, m, CSV_LOCATION));
    if (!import_parse_qty(v[CSV_QTY], n[CSV_QTY], &qty) || (lot && qty < 0))
        CSV_BAD(CSV_QTY, "column %s: '%.*s' is not a whole number %s",
                csv_col_name(b, m, CSV_QTY),
                (int)(n[CSV_QTY] > 24 ? 24 : n[CSV_QTY]), v[CSV_QTY],
                lot ? "0..10^15" : "within +-10^15");
    if (v[CSV_BUCKET] != NULL &&
        !import_bucket_parse(v[CSV_BUCKET], n[CSV_BUCKET], &bucket))
        CSV_BAD(CSV_BUCKET,
                "column %s: '%.*s' is not on_hand, allocated or held",
                csv_col_name(b, m, CSV_BUCKET),
                (int)(n[CSV_BUCKET] > 24 ? 24 : n[CSV_BUCKET]), v[CSV_BUCKET]);
    if (lot && n[CSV_LOT] == 0)
        CSV_BAD(CSV_LOT, "column %s: empty lot id",
                csv_col_name(b, m, CSV_LOT));
    if (lot && (!import_parse_iso_date(v[CSV_ETA], n[CSV_ETA], &eta) ||
                eta < 0 || eta > ATP_WIRE_INT_MAX))
        CSV_BAD(CSV_ETA,
                "column %s: '%.*s' is not a date (YYYY-MM-DD, YYYYMMDD, "
                "YYYY-MM-DDTHH:MM[:SS][Z]) from 1970 on",
                csv_col_name(b, m, CSV_ETA),
                (int)(n[CSV_ETA] > 32 ? 32 : n[CSV_ETA]), v[CSV_ETA]);
#undef CSV_BAD
    if (b->n_diags != before)
        return;
    import_rec *rec = import_add(b);
    if (rec == NULL)
        return;
    rec->kind = !lot          ? IMPORT_SET
                : o->received ? IMPORT_LOT_RECEIVE
                              : IMPORT_LOT_ADD;
    rec->bucket = bucket;
    rec->sku = import_strdup(b, v[CSV_SKU], n[CSV_SKU]);
    rec->loc = v[CSV_LOCATION]
                   ? import_strdup(b, v[CSV_LOCATION], n[CSV_LOCATION])
                   : NULL;
    rec->lot = lot ? import_strdup(b, v[CSV_LOT], n[CSV_LOT]) : NULL;
    rec->qty = qty;
    rec->eta_ms = eta;
    rec->pos = (import_pos){line, 0, (uint32_t)m->idx[CSV_SKU] + 1};
    rec->loc_pos = (import_pos){line, 0,
                                (uint32_t)(m->idx[CSV_LOCATION] >= 0
                                               ? m->idx[CSV_LOCATION] + 1
                                               : m->idx[CSV_SKU] + 1)};
}

void import_csv(const char *buf, size_t len, const csv_opts *o, import_batch *b)
{
    csv_reader r = {.buf = buf, .len = len, .line = 1, .delim = o->delimiter};
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        r.p = 3;
    csv_map m;
    bool have_map = false;
    for (;;) {
        uint32_t line = r.line;
        const char *why = NULL;
        int rc = csv_next(&r, &why);
        if (rc == CSV_EOF)
            break;
        if (rc == CSV_NOMEM) {
            b->nomem = true;
            break;
        }
        if (rc == CSV_BAD) {
            import_diag_add(b, (import_pos){line, 0, (uint32_t)r.n_fields},
                            NULL, "%s", why);
            break; /* the rest of the file cannot be cut reliably */
        }
        size_t n0;
        if (r.n_fields == 1 && (csv_f(&r, 0, &n0), n0 == 0))
            continue; /* a blank line */
        if (!have_map) {
            have_map = true;
            if (!csv_resolve(o, &r, &m, b, line))
                break;
            /* the file's kind, from its mapping (--snapshot) */
            b->inbound_file = m.idx[CSV_LOT] >= 0;
            b->stock_file = !b->inbound_file;
            if (o->header)
                continue;
        }
        if (r.n_fields != m.n_fields) {
            import_diag_add(b, (import_pos){line, 0, 0}, NULL,
                            "%zu fields; the %s has %zu", r.n_fields,
                            o->header ? "header" : "first row", m.n_fields);
            continue;
        }
        b->csv_rows++;
        csv_row(o, &r, &m, line, b);
    }
    if (!have_map && b->n_diags == 0)
        import_diag_add(b, (import_pos){1, 0, 0}, NULL, "the file is empty");
    free(r.text);
    free(r.field);
}
