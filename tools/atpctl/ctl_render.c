/*
 * ctl_render.c - human renderings of atpd replies (see ctl_render.h).
 * Main thread of atpctl.
 *
 * Strings from the service are printed with control characters replaced,
 * so a hostile or corrupted id cannot move the operator's cursor.
 */
#include "ctl_render.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_resv.h"

#define CTL_CELL_MAX 256

/* ---- cells -------------------------------------------------------------- */

void ctl_render_text(codec_str s, char *buf, size_t n)
{
    size_t len = s.len < n - 1 ? s.len : n - 1;
    for (size_t k = 0; k < len; k++) {
        unsigned char ch = (unsigned char)s.ptr[k];
        buf[k] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[len] = '\0';
}

/* ctl_render_fmt writes v as short text into buf: "-" when absent. */
static void ctl_render_fmt(const codec_val *v, char *buf, size_t n)
{
    if (v == NULL) {
        snprintf(buf, n, "-");
        return;
    }
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    codec_str s;
    switch (codec_val_type(v)) {
    case CODEC_NIL:
        snprintf(buf, n, "nil");
        return;
    case CODEC_BOOL:
        codec_val_bool(v, &b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        return;
    case CODEC_INT:
        codec_val_int(v, &i);
        snprintf(buf, n, "%" PRId64, i);
        return;
    case CODEC_UINT_BIG:
        codec_val_uint(v, &u);
        snprintf(buf, n, "%" PRIu64, u);
        return;
    case CODEC_FLOAT:
        codec_val_float(v, &d);
        snprintf(buf, n, "%g", d);
        return;
    case CODEC_STR: {
        codec_val_str(v, &s);
        ctl_render_text(s, buf, n);
        return;
    }
    default: {
        /* Containers and binaries: their JSON, truncated to the cell. */
        char *mem = NULL;
        size_t memlen = 0;
        FILE *mf = open_memstream(&mem, &memlen);
        if (mf == NULL) {
            snprintf(buf, n, "?");
            return;
        }
        codec_val_write_json(v, mf);
        fclose(mf);
        snprintf(buf, n, "%s", mem != NULL ? mem : "?");
        free(mem);
        return;
    }
    }
}

static void ctl_render_field(const codec_val *map, const char *key, char *buf,
                             size_t n)
{
    ctl_render_fmt(map != NULL ? codec_val_get(map, key) : NULL, buf, n);
}

static bool ctl_render_true(const codec_val *map, const char *key)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    bool b = false;
    return v != NULL && codec_val_bool(v, &b) && b;
}

static bool ctl_render_int(const codec_val *map, const char *key, int64_t *out)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    return v != NULL && codec_val_int(v, out);
}

/* ---- tables ------------------------------------------------------------- */

typedef struct ctl_col {
    const char *header;
    const char *key; /* field of the row map, or NULL: filled by the caller */
    bool right;      /* numbers align right */
} ctl_col;

typedef struct ctl_table {
    const ctl_col *cols;
    int ncols;
    char *cells; /* nrows * ncols cells of CTL_CELL_MAX bytes */
    size_t nrows;
} ctl_table;

static bool ctl_table_init(ctl_table *t, const ctl_col *cols, int ncols,
                           size_t nrows)
{
    t->cols = cols;
    t->ncols = ncols;
    t->nrows = nrows;
    t->cells = calloc(nrows > 0 ? nrows : 1, (size_t)ncols * CTL_CELL_MAX);
    return t->cells != NULL;
}

static char *ctl_table_cell(ctl_table *t, size_t row, int col)
{
    return t->cells + (row * (size_t)t->ncols + (size_t)col) * CTL_CELL_MAX;
}

/* ctl_table_fill fills every keyed column of row from map. */
static void ctl_table_fill(ctl_table *t, size_t row, const codec_val *map)
{
    for (int c = 0; c < t->ncols; c++)
        if (t->cols[c].key != NULL)
            ctl_render_field(map, t->cols[c].key, ctl_table_cell(t, row, c),
                             CTL_CELL_MAX);
}

/* ctl_table_print_w prints t (with the header line when header is true)
 * in columns at least width[c] wide; width (ncols entries) is updated to
 * what was printed, so that a table printed in parts (a scan page by page)
 * keeps its columns as long as its cells fit. */
static void ctl_table_print_w(ctl_table *t, size_t *width, bool header, FILE *f)
{
    int ncols = t->ncols;
    for (int c = 0; c < ncols; c++) {
        if (header && strlen(t->cols[c].header) > width[c])
            width[c] = strlen(t->cols[c].header);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = strlen(ctl_table_cell(t, r, c));
            if (w > width[c])
                width[c] = w;
        }
    }
    /* Each line is built in a buffer so that trailing blanks (an empty
     * last column) can be cut before printing. */
    size_t linecap = 1;
    for (int c = 0; c < ncols; c++)
        linecap += width[c] + 2;
    char *line = malloc(linecap);
    if (line == NULL)
        return;
    for (size_t r = header ? 0 : 1; r <= t->nrows; r++) {
        size_t pos = 0;
        for (int c = 0; c < ncols; c++) {
            const char *s =
                r == 0 ? t->cols[c].header : ctl_table_cell(t, r - 1, c);
            int n = snprintf(line + pos, linecap - pos,
                             t->cols[c].right ? "%*s%s" : "%-*s%s",
                             (int)width[c], s, c == ncols - 1 ? "" : "  ");
            if (n > 0)
                pos += (size_t)n;
        }
        while (pos > 0 && line[pos - 1] == ' ')
            pos--;
        line[pos] = '\0';
        fprintf(f, "%s\n", line);
    }
    free(line);
}

static void ctl_table_print(ctl_table *t, FILE *f)
{
    size_t *width = calloc(t->ncols > 0 ? (size_t)t->ncols : 1, sizeof *width);
    if (width == NULL)
        return;
    ctl_table_print_w(t, width, true, f);
    free(width);
}

static void ctl_table_fini(ctl_table *t)
{
    free(t->cells);
    t->cells = NULL;
}

/* ---- replies ------------------------------------------------------------ */

void ctl_render_atp(const codec_val *ans, FILE *f)
{
    char sku[CTL_CELL_MAX], region[CTL_CELL_MAX], channel[CTL_CELL_MAX];
    char atp[64], supply[64], reserved[64], buffer[64], rule[CTL_CELL_MAX],
        shortfall[64];
    ctl_render_field(ans, "sku", sku, sizeof sku);
    ctl_render_field(ans, "region", region, sizeof region);
    ctl_render_field(ans, "channel", channel, sizeof channel);
    ctl_render_field(ans, "atp", atp, sizeof atp);
    ctl_render_field(ans, "supply", supply, sizeof supply);
    ctl_render_field(ans, "reserved", reserved, sizeof reserved);
    ctl_render_field(ans, "buffer", buffer, sizeof buffer);
    ctl_render_field(ans, "rule", rule, sizeof rule);
    ctl_render_field(ans, "shortfall", shortfall, sizeof shortfall);
    char bo[CTL_CELL_MAX + 64] = "";
    if (codec_val_get(ans, "backorder_budget") != NULL) {
        char budget[64], used[64], left[64];
        ctl_render_field(ans, "backorder_budget", budget, sizeof budget);
        ctl_render_field(ans, "backorder_used", used, sizeof used);
        ctl_render_field(ans, "backorder_left", left, sizeof left);
        snprintf(bo, sizeof bo, "  backorder %s of %s used (%s left)", used,
                 budget, left);
    } else if (codec_val_get(ans, "limiting") != NULL) { /* a bundle */
        char lim[CTL_CELL_MAX];
        ctl_render_field(ans, "limiting", lim, sizeof lim);
        snprintf(bo, sizeof bo, "  bundle: kits, limited by %s", lim);
    }
    fprintf(f,
            "%s @ %s (%s): ATP %s  supply %s  reserved %s  buffer %s (rule "
            "%s)  shortfall %s%s%s\n",
            sku, region, channel, atp, supply, reserved, buffer, rule,
            shortfall, bo, ctl_render_true(ans, "stale") ? "  STALE" : "");
}

static const ctl_col ctl_cart_cols[] = {
    {"LINE", NULL, true},
    {"SKU", "sku", false},
    {"REGION", "region", false},
    {"QTY", "qty", true},
    {"AVAILABLE", NULL, false},
    {"ATP", "atp", true},
    {"SUPPLY", "supply", true},
    {"RESERVED", "reserved", true},
    {"BUFFER", "buffer", true},
    {"RULE", "rule", false},
    {"SHORTFALL", "shortfall", true},
    {"STALE", NULL, false},
};
#define CTL_CART_NCOLS ((int)(sizeof ctl_cart_cols / sizeof ctl_cart_cols[0]))

void ctl_render_cart(const codec_val *reply, const ctl_cart *cart, FILE *f)
{
    const codec_val *lines = codec_val_get(reply, "lines");
    size_t n = lines != NULL ? codec_val_len(lines) : 0;
    size_t short_lines = 0;
    ctl_table t;
    if (!ctl_table_init(&t, ctl_cart_cols, CTL_CART_NCOLS, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    char channel[CTL_CELL_MAX];
    const codec_val *first = n > 0 ? codec_val_at(lines, 0) : NULL;
    /* The cart's channel: top level if the reply has it, else the lines'. */
    ctl_render_field(codec_val_get(reply, "channel") != NULL ? reply : first,
                     "channel", channel, sizeof channel);
    for (size_t r = 0; r < n; r++) {
        const codec_val *ans = codec_val_at(lines, (uint32_t)r);
        ctl_table_fill(&t, r, ans);
        if (cart != NULL && r < cart->n)
            snprintf(ctl_table_cell(&t, r, 0), CTL_CELL_MAX, "%ld",
                     cart->lines[r].file_line);
        else
            snprintf(ctl_table_cell(&t, r, 0), CTL_CELL_MAX, "%zu", r + 1);
        bool avail = ctl_render_true(ans, "available");
        if (!avail)
            short_lines++;
        snprintf(ctl_table_cell(&t, r, 4), CTL_CELL_MAX, "%s",
                 avail ? "yes" : "NO");
        snprintf(ctl_table_cell(&t, r, 11), CTL_CELL_MAX, "%s",
                 ctl_render_true(ans, "stale") ? "STALE" : "");
    }
    if (ctl_render_true(reply, "available"))
        fprintf(f, "cart (%s): available, %zu line%s\n", channel, n,
                n == 1 ? "" : "s");
    else
        fprintf(f, "cart (%s): NOT available, %zu of %zu line%s short\n",
                channel, short_lines, n, n == 1 ? "" : "s");
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
}

static const ctl_col ctl_regions_cols[] = {
    {"REGION", "region", false},      {"ATP", "atp", true},
    {"SUPPLY", "supply", true},       {"RESERVED", "reserved", true},
    {"BUFFER", "buffer", true},       {"RULE", "rule", false},
    {"SHORTFALL", "shortfall", true}, {"STALE", NULL, false},
};
#define CTL_REGIONS_NCOLS                                                      \
    ((int)(sizeof ctl_regions_cols / sizeof ctl_regions_cols[0]))

void ctl_render_regions(const codec_val *reply, FILE *f)
{
    const codec_val *regions = codec_val_get(reply, "regions");
    size_t n = regions != NULL ? codec_val_len(regions) : 0;
    char sku[CTL_CELL_MAX], channel[CTL_CELL_MAX];
    ctl_render_field(reply, "sku", sku, sizeof sku);
    ctl_render_field(reply, "channel", channel, sizeof channel);
    fprintf(f, "%s (%s): %zu region%s\n", sku, channel, n, n == 1 ? "" : "s");
    ctl_table t;
    if (!ctl_table_init(&t, ctl_regions_cols, CTL_REGIONS_NCOLS, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++) {
        const codec_val *ans = codec_val_at(regions, (uint32_t)r);
        ctl_table_fill(&t, r, ans);
        snprintf(ctl_table_cell(&t, r, CTL_REGIONS_NCOLS - 1), CTL_CELL_MAX,
                 "%s", ctl_render_true(ans, "stale") ? "STALE" : "");
    }
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
}

/* ---- store pickup ------------------------------------------------------- */

static const ctl_col ctl_pickup_cols[] = {
    {"LOCATION", "location", false},
    {"TYPE", "type", false},
    {"PICKUP", NULL, false},
    {"ON_HAND", "on_hand", true},
    {"ALLOCATED", "allocated", true},
    {"HELD", "held", true},
    {"INBOUND", "inbound", true},
    {"NET", "net", true},
    {"RESERVED", "reserved", true},
    {"BUFFER", "buffer", true},
    {"PICKUP_ATP", "pickup_atp", true},
};
#define CTL_PICKUP_NCOLS                                                       \
    ((int)(sizeof ctl_pickup_cols / sizeof ctl_pickup_cols[0]))

void ctl_render_pickup(const codec_val *reply, FILE *f)
{
    const codec_val *locs = codec_val_get(reply, "locations");
    size_t n = locs != NULL ? codec_val_len(locs) : 0;
    fputs("region: ", f);
    ctl_render_atp(reply, f);
    ctl_table t;
    if (!ctl_table_init(&t, ctl_pickup_cols, CTL_PICKUP_NCOLS, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++) {
        const codec_val *l = codec_val_at(locs, (uint32_t)r);
        ctl_table_fill(&t, r, l);
        snprintf(ctl_table_cell(&t, r, 2), CTL_CELL_MAX, "%s",
                 ctl_render_true(l, "pickup") ? "yes" : "no");
    }
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
}

static const ctl_col ctl_pickup_cart_cols[] = {
    {"LOCATION", "location", false},
    {"TYPE", "type", false},
    {"PICKUP", NULL, false},
    {"FILLS", NULL, false},
    {"SHORT (SKU wanted/pickup_atp)", NULL, false},
};
#define CTL_PICKUP_CART_NCOLS                                                  \
    ((int)(sizeof ctl_pickup_cart_cols / sizeof ctl_pickup_cart_cols[0]))

/* The lines location l cannot fill, "SKU qty/pickup_atp" each. */
static void ctl_render_pickup_short(const codec_val *l, char *cell)
{
    const codec_val *lines = codec_val_get(l, "lines");
    size_t n = lines != NULL ? codec_val_len(lines) : 0, used = 0;
    for (size_t i = 0; i < n && used + 1 < CTL_CELL_MAX; i++) {
        const codec_val *x = codec_val_at(lines, (uint32_t)i);
        if (ctl_render_true(x, "available"))
            continue;
        char sku[64], qty[32], atp[32];
        ctl_render_field(x, "sku", sku, sizeof sku);
        ctl_render_field(x, "qty", qty, sizeof qty);
        ctl_render_field(x, "pickup_atp", atp, sizeof atp);
        int k = snprintf(cell + used, CTL_CELL_MAX - used, "%s%s %s/%s",
                         used ? ", " : "", sku, qty, atp);
        used = k < 0 ? used : used + (size_t)k;
    }
}

void ctl_render_pickup_cart(const codec_val *reply, FILE *f)
{
    const codec_val *locs = codec_val_get(reply, "locations");
    size_t n = locs != NULL ? codec_val_len(locs) : 0, fill = 0;
    char region[CTL_CELL_MAX], channel[CTL_CELL_MAX];
    ctl_render_field(reply, "region", region, sizeof region);
    ctl_render_field(reply, "channel", channel, sizeof channel);
    ctl_table t;
    if (!ctl_table_init(&t, ctl_pickup_cart_cols, CTL_PICKUP_CART_NCOLS, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++) {
        const codec_val *l = codec_val_at(locs, (uint32_t)r);
        bool fills = ctl_render_true(l, "fills");
        fill += fills;
        ctl_table_fill(&t, r, l);
        snprintf(ctl_table_cell(&t, r, 2), CTL_CELL_MAX, "%s",
                 ctl_render_true(l, "pickup") ? "yes" : "no");
        snprintf(ctl_table_cell(&t, r, 3), CTL_CELL_MAX, "%s",
                 fills ? "yes" : "NO");
        ctl_render_pickup_short(l, ctl_table_cell(&t, r, 4));
    }
    fprintf(
        f,
        "pickup cart in %s (%s): %s, %zu of %zu location%s listed fill%s it\n",
        region, channel,
        ctl_render_true(reply, "available") ? "available" : "NOT available",
        fill, n, n == 1 ? "" : "s", fill == 1 ? "s" : "");
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
}

/* ctl_render_flat collects `prefix.key` / value pairs of nested maps. */
static void ctl_render_flat(const codec_val *map, const char *prefix,
                            ctl_table *t, size_t *row, unsigned depth)
{
    uint32_t n = codec_val_len(map);
    for (uint32_t i = 0; i < n && *row < t->nrows; i++) {
        char key[CTL_CELL_MAX];
        ctl_render_fmt(codec_val_map_key(map, i), key, sizeof key);
        if (strcmp(key, "ok") == 0 && depth == 0)
            continue;
        const codec_val *v = codec_val_map_value(map, i);
        char path[CTL_CELL_MAX];
        /* A path longer than a cell is cut: it is only a label. */
        if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "",
                     key) >= (int)sizeof path)
            path[sizeof path - 1] = '\0';
        /* depth is bounded by the decoder's ATP_MSG_MAX_DEPTH anyway. */
        if (codec_val_type(v) == CODEC_MAP && depth < ATP_MSG_MAX_DEPTH) {
            ctl_render_flat(v, path, t, row, depth + 1);
            continue;
        }
        char *cell = ctl_table_cell(t, *row, 0);
        size_t plen = strnlen(path, CTL_CELL_MAX - 2);
        memcpy(cell, path, plen);
        cell[plen] = ':';
        cell[plen + 1] = '\0';
        ctl_render_fmt(v, ctl_table_cell(t, *row, 1), CTL_CELL_MAX);
        (*row)++;
    }
}

/* ctl_render_count_leaves counts the lines ctl_render_flat will write. */
static size_t ctl_render_count_leaves(const codec_val *map, unsigned depth)
{
    size_t count = 0;
    uint32_t n = codec_val_len(map);
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *v = codec_val_map_value(map, i);
        if (codec_val_type(v) == CODEC_MAP && depth < ATP_MSG_MAX_DEPTH)
            count += ctl_render_count_leaves(v, depth + 1);
        else
            count++;
    }
    return count;
}

static const ctl_col ctl_status_cols[] = {
    {"", NULL, false},
    {"", NULL, false},
};

void ctl_render_status(const codec_val *reply, FILE *f)
{
    size_t n = ctl_render_count_leaves(reply, 0);
    ctl_table t;
    if (!ctl_table_init(&t, ctl_status_cols, 2, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    size_t row = 0;
    ctl_render_flat(reply, "", &t, &row, 0);
    t.nrows = row;
    /* A key/value list has no header line: print rows only. */
    size_t w = 0;
    for (size_t r = 0; r < t.nrows; r++) {
        size_t l = strlen(ctl_table_cell(&t, r, 0));
        if (l > w)
            w = l;
    }
    for (size_t r = 0; r < t.nrows; r++)
        fprintf(f, "%-*s %s\n", (int)w, ctl_table_cell(&t, r, 0),
                ctl_table_cell(&t, r, 1));
    ctl_table_fini(&t);
}

/* ---- time-phased promises ----------------------------------------------- */

/* ctl_render_earliest writes a reply's "earliest_ms" (in map) as a cell:
 * "never" for null, "now" at or before now_ms, else the UTC time, with
 * relative " (in 9d23h)" after it. "-" when absent. */
static void ctl_render_earliest(const codec_val *map, int64_t now_ms,
                                bool relative, char *buf, size_t n)
{
    const codec_val *v = codec_val_get(map, "earliest_ms");
    int64_t t;
    char utc[64], span[64];
    if (v != NULL && codec_val_type(v) == CODEC_NIL) {
        snprintf(buf, n, "never");
    } else if (v == NULL || !codec_val_int(v, &t)) {
        ctl_render_fmt(v, buf, n);
    } else if (t <= now_ms) {
        snprintf(buf, n, "now");
    } else {
        ctl_resv_fmt_utc(t, utc, sizeof utc);
        ctl_resv_fmt_span(t - now_ms, span, sizeof span);
        if (relative)
            snprintf(buf, n, "%s (in %s)", utc, span);
        else
            snprintf(buf, n, "%s", utc);
    }
}

static const ctl_col ctl_schedule_cols[] = {
    {"FROM", NULL, false},
    {"ATP", "atp", true},
};

/* ctl_render_schedule: a promise's schedule, one row per date where its
 * ATP rises (the first is now). */
static void ctl_render_schedule(const codec_val *reply, FILE *f)
{
    const codec_val *sched = codec_val_get(reply, "schedule");
    size_t n = sched != NULL ? codec_val_len(sched) : 0;
    ctl_table t;
    if (!ctl_table_init(&t, ctl_schedule_cols, 2, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++) {
        const codec_val *p = codec_val_at(sched, (uint32_t)r);
        char *cell = ctl_table_cell(&t, r, 0);
        int64_t from;
        ctl_table_fill(&t, r, p);
        if (ctl_render_int(p, "from_ms", &from))
            ctl_resv_fmt_utc(from, cell, CTL_CELL_MAX);
        else
            ctl_render_field(p, "from_ms", cell, CTL_CELL_MAX);
    }
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
    if (ctl_render_true(reply, "schedule_truncated"))
        fprintf(f, "(schedule truncated: later dates where ATP rises are "
                   "not listed)\n");
}

void ctl_render_promise(const codec_val *reply, FILE *f)
{
    int64_t now = 0, t;
    ctl_render_int(reply, "now_ms", &now);
    ctl_render_atp(reply, f);
    char dated[64], hold[64], max[64];
    ctl_render_field(reply, "dated", dated, sizeof dated);
    ctl_render_field(reply, "preorder_hold", hold, sizeof hold);
    ctl_render_field(reply, "max_promisable", max, sizeof max);
    fprintf(f, "dated %s  preorder hold %s  max promisable %s\n", dated, hold,
            max);
    /* Said only when there is one: dated units no supply covers. */
    if (ctl_render_int(reply, "preorder_shortfall", &t) && t > 0)
        fprintf(f, "preorder shortfall %" PRId64 "\n", t);
    ctl_render_schedule(reply, f);
    if (ctl_render_int(reply, "date_ms", &t)) {
        char utc[64], on[64];
        ctl_resv_fmt_utc(t, utc, sizeof utc);
        ctl_render_field(reply, "atp_on_date", on, sizeof on);
        fprintf(f, "on %s: ATP %s\n", utc, on);
    }
    if (codec_val_get(reply, "qty") != NULL) {
        char qty[64], when[160];
        ctl_render_field(reply, "qty", qty, sizeof qty);
        ctl_render_earliest(reply, now, true, when, sizeof when);
        fprintf(f, "earliest for %s: %s%s\n", qty, when,
                strcmp(when, "never") == 0 ? " (no known supply covers it)"
                                           : "");
    }
}

static const ctl_col ctl_promise_cart_cols[] = {
    {"SKU", "sku", false},
    {"QTY", "qty", true},
    {"ATP", "atp", true},
    {"EARLIEST", NULL, false},
};
#define CTL_PROMISE_CART_NCOLS                                                 \
    ((int)(sizeof ctl_promise_cart_cols / sizeof ctl_promise_cart_cols[0]))

void ctl_render_promise_cart(const codec_val *reply, FILE *f)
{
    const codec_val *lines = codec_val_get(reply, "lines");
    size_t n = lines != NULL ? codec_val_len(lines) : 0, never = 0;
    int64_t now = 0;
    ctl_render_int(reply, "now_ms", &now);
    char region[CTL_CELL_MAX], channel[CTL_CELL_MAX], when[160];
    ctl_render_field(reply, "region", region, sizeof region);
    ctl_render_field(reply, "channel", channel, sizeof channel);
    ctl_render_earliest(reply, now, true, when, sizeof when);
    ctl_table t;
    if (!ctl_table_init(&t, ctl_promise_cart_cols, CTL_PROMISE_CART_NCOLS, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++) {
        const codec_val *l = codec_val_at(lines, (uint32_t)r);
        char *cell = ctl_table_cell(&t, r, CTL_PROMISE_CART_NCOLS - 1);
        ctl_table_fill(&t, r, l);
        ctl_render_earliest(l, now, false, cell, CTL_CELL_MAX);
        never += strcmp(cell, "never") == 0;
    }
    if (strcmp(when, "never") == 0)
        fprintf(f,
                "promise cart in %s (%s): NEVER complete, %zu of %zu "
                "line%s never covered\n",
                region, channel, never, n, n == 1 ? "" : "s");
    else
        fprintf(f, "promise cart in %s (%s): complete %s%s, %zu line%s\n",
                region, channel, strcmp(when, "now") == 0 ? "" : "from ", when,
                n, n == 1 ? "" : "s");
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
}

/* ---- reservations ------------------------------------------------------- */

static bool ctl_render_is(const codec_val *map, const char *key,
                          const char *want)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    codec_str s;
    return v != NULL && codec_val_str(v, &s) && codec_str_eq(s, want);
}

static const char ctl_render_replay_note[] =
    "(replay of an earlier identical request)";

/* A reservation's lines; LOCATION (3rd) only when a line is pinned. */
static const ctl_col ctl_resv_cols[] = {
    {"SKU", "sku", false},           {"REGION", "region", false},
    {"LOCATION", "location", false}, {"QTY", "qty", true},
    {"CONSUMED", "consumed", true},  {"RELEASED", "released", true},
};
static const ctl_col ctl_resv_cols_unpinned[] = {
    {"SKU", "sku", false},          {"REGION", "region", false},
    {"QTY", "qty", true},           {"CONSUMED", "consumed", true},
    {"RELEASED", "released", true},
};
#define CTL_RESV_NCOLS ((int)(sizeof ctl_resv_cols / sizeof ctl_resv_cols[0]))

static void ctl_render_backordered(const codec_val *lines, FILE *f);

static void ctl_render_resv_lines(const codec_val *lines, FILE *f)
{
    size_t n = lines != NULL ? codec_val_len(lines) : 0;
    bool pinned = false;
    for (size_t r = 0; r < n && !pinned; r++)
        pinned =
            codec_val_get(codec_val_at(lines, (uint32_t)r), "location") != NULL;
    ctl_table t;
    if (!ctl_table_init(&t, pinned ? ctl_resv_cols : ctl_resv_cols_unpinned,
                        pinned ? CTL_RESV_NCOLS : CTL_RESV_NCOLS - 1, n)) {
        fprintf(stderr, "atpctl: out of memory\n");
        return;
    }
    for (size_t r = 0; r < n; r++)
        ctl_table_fill(&t, r, codec_val_at(lines, (uint32_t)r));
    ctl_table_print(&t, f);
    ctl_table_fini(&t);
    ctl_render_backordered(lines, f);
}

/* ctl_render_backordered: "backordered SKU@REGION: N beyond ATP" for each
 * line granted from a backorder budget (PROTOCOL.md, "Backorder
 * budgets"). */
static void ctl_render_backordered(const codec_val *lines, FILE *f)
{
    for (uint32_t r = 0; r < codec_val_len(lines); r++) {
        const codec_val *l = codec_val_at(lines, r);
        char sku[CTL_CELL_MAX], region[CTL_CELL_MAX], bo[64];
        if (codec_val_get(l, "backordered") == NULL)
            continue;
        ctl_render_field(l, "sku", sku, sizeof sku);
        ctl_render_field(l, "region", region, sizeof region);
        ctl_render_field(l, "backordered", bo, sizeof bo);
        fprintf(f, "backordered %s@%s: %s beyond ATP\n", sku, region, bo);
    }
}

/* ctl_render_resv_summary writes what the parentheses of the reserve line
 * hold: "held, expires in 14m59s", "committed, order SO-1, expires in 6d23h",
 * or just the state of a finished reservation. */
static void ctl_render_resv_summary(const codec_val *res, int64_t now_ms,
                                    char *buf, size_t n)
{
    char state[CTL_CELL_MAX], ref[CTL_CELL_MAX + 16] = "", when[64];
    ctl_render_field(res, "state", state, sizeof state);
    if (codec_val_get(res, "order_ref") != NULL) {
        char v[CTL_CELL_MAX];
        ctl_render_field(res, "order_ref", v, sizeof v);
        snprintf(ref, sizeof ref, ", order %s", v);
    }
    int64_t exp;
    bool live = ctl_render_is(res, "state", "held") ||
                ctl_render_is(res, "state", "committed");
    if (!live || !ctl_render_int(res, "expires_ms", &exp)) {
        snprintf(buf, n, "%s%s", state, ref);
        return;
    }
    if (exp > now_ms)
        ctl_resv_fmt_span(exp - now_ms, when, sizeof when);
    snprintf(buf, n, "%s%s, %s%s", state, ref,
             exp > now_ms ? "expires in " : "expiring now",
             exp > now_ms ? when : "");
}

/* ctl_render_dated writes a dated reservation's date as "2026-...Z
 * (dated)", or "(due)" once it has come (PROTOCOL.md, "Dated
 * reservations"); false for a reservation without promise_ms. */
static bool ctl_render_dated(const codec_val *res, char *buf, size_t n)
{
    int64_t t;
    if (!ctl_render_int(res, "promise_ms", &t))
        return false;
    char utc[64];
    ctl_resv_fmt_utc(t, utc, sizeof utc);
    snprintf(buf, n, "%s (%s)", utc,
             ctl_render_true(res, "dated") ? "dated" : "due");
    return true;
}

/* " (pickup at LOC)" for a line pinned to a location, "" otherwise. */
static void ctl_render_pin(const codec_val *line, char *buf, size_t n)
{
    if (codec_val_get(line, "location") == NULL)
        return;
    char loc[CTL_CELL_MAX];
    ctl_render_field(line, "location", loc, sizeof loc);
    snprintf(buf, n, " (pickup at %s)", loc);
}

/* ctl_render_region: a reserve line's region, or a split line's regions
 * as "r1,r2" (PROTOCOL.md, "Split lines"), cut to the cell. */
static void ctl_render_region(const codec_val *l, char *out, size_t cap)
{
    ctl_render_field(l, "region", out, cap);
    const codec_val *regions = codec_val_get(l, "regions");
    for (uint32_t k = 0; k < codec_val_len(regions); k++) {
        char one[CTL_CELL_MAX];
        size_t at = k == 0 ? 0 : strlen(out);
        ctl_render_fmt(codec_val_at(regions, k), one, sizeof one);
        size_t len = strlen(one);
        if (at + 1 + len >= cap)
            break; /* the cell is full: the rest is cut */
        if (k > 0)
            out[at++] = ',';
        memcpy(out + at, one, len + 1);
    }
}

static void ctl_render_reserve_refused(const codec_val *reply, FILE *f)
{
    char id[CTL_CELL_MAX];
    ctl_render_field(reply, "id", id, sizeof id);
    const codec_val *lines = codec_val_get(reply, "lines");
    size_t n = lines != NULL ? codec_val_len(lines) : 0;
    if (n == 0)
        fprintf(f, "refused %s\n", id);
    for (size_t r = 0; r < n; r++) {
        const codec_val *l = codec_val_at(lines, (uint32_t)r);
        char sku[CTL_CELL_MAX], region[CTL_CELL_MAX], qty[64], avail[64];
        ctl_render_field(l, "sku", sku, sizeof sku);
        ctl_render_region(l, region, sizeof region);
        ctl_render_field(l, "qty", qty, sizeof qty);
        ctl_render_field(l, "available", avail, sizeof avail);
        /* The service says which lines fall short; an older one may not. */
        int64_t q = 0, a = 0;
        bool ok = codec_val_get(l, "ok") != NULL
                      ? ctl_render_true(l, "ok")
                      : ctl_render_int(l, "qty", &q) &&
                            ctl_render_int(l, "available", &a) && q <= a;
        char at[CTL_CELL_MAX + 16] = "";
        ctl_render_pin(l, at, sizeof at);
        fprintf(f, "refused %s: %s@%s%s wanted %s, available %s%s\n", id, sku,
                region, at, qty, avail, ok ? "" : "  SHORT");
    }
}

/* ctl_render_fill: a partial reserve's lines that got less than asked,
 * "short SKU@REGION: 3 of 5" (PROTOCOL.md, "Partial reservations"). */
static void ctl_render_fill(const codec_val *reply, FILE *f)
{
    const codec_val *fill = codec_val_get(reply, "fill");
    for (uint32_t i = 0; i < codec_val_len(fill); i++) {
        const codec_val *l = codec_val_at(fill, i);
        int64_t want, got;
        if (!ctl_render_int(l, "qty", &want) ||
            !ctl_render_int(l, "granted", &got) || got >= want)
            continue;
        char sku[CTL_CELL_MAX], region[CTL_CELL_MAX];
        ctl_render_field(l, "sku", sku, sizeof sku);
        ctl_render_region(l, region, sizeof region);
        fprintf(f, "short %s@%s: %" PRId64 " of %" PRId64 "\n", sku, region,
                got, want);
    }
}

void ctl_render_reserve(const codec_val *reply, int64_t now_ms, FILE *f)
{
    if (!ctl_render_true(reply, "granted")) {
        ctl_render_reserve_refused(reply, f);
        return;
    }
    const codec_val *res = codec_val_get(reply, "reservation");
    const codec_val *lines = codec_val_get(res, "lines");
    size_t n = lines != NULL ? codec_val_len(lines) : 0;
    char id[CTL_CELL_MAX], summary[3 * CTL_CELL_MAX], dated[96];
    ctl_render_field(res, "id", id, sizeof id);
    ctl_render_resv_summary(res, now_ms, summary, sizeof summary);
    bool is_dated = ctl_render_dated(res, dated, sizeof dated);
    fprintf(f, "reserved %s (%s):", id, summary);
    if (n > CTL_RENDER_INLINE_LINES) {
        int64_t units = 0, q;
        for (size_t r = 0; r < n; r++)
            if (ctl_render_int(codec_val_at(lines, (uint32_t)r), "qty", &q) &&
                q > 0 && __builtin_add_overflow(units, q, &units))
                units = INT64_MAX; /* only a hostile reply gets here */
        fprintf(f, " %zu lines, %" PRId64 " units\n", n, units);
        if (is_dated)
            fprintf(f, "promise %s\n", dated);
        ctl_render_resv_lines(lines, f);
    } else {
        for (size_t r = 0; r < n; r++) {
            const codec_val *l = codec_val_at(lines, (uint32_t)r);
            char sku[CTL_CELL_MAX], region[CTL_CELL_MAX], qty[64];
            ctl_render_field(l, "sku", sku, sizeof sku);
            ctl_render_field(l, "region", region, sizeof region);
            ctl_render_field(l, "qty", qty, sizeof qty);
            char at[CTL_CELL_MAX + 16] = "";
            ctl_render_pin(l, at, sizeof at);
            fprintf(f, "%s %s@%s %s%s", r == 0 ? "" : ",", sku, region, qty,
                    at);
        }
        fputc('\n', f);
        if (is_dated)
            fprintf(f, "promise %s\n", dated);
        ctl_render_backordered(lines, f);
    }
    ctl_render_fill(reply, f);
    if (ctl_render_true(reply, "replayed"))
        fprintf(f, "%s\n", ctl_render_replay_note);
}

void ctl_render_reservation(const codec_val *reply, int64_t now_ms, FILE *f)
{
    const codec_val *res = codec_val_get(reply, "reservation");
    char id[CTL_CELL_MAX], state[CTL_CELL_MAX], channel[CTL_CELL_MAX],
        ref[CTL_CELL_MAX], when[160];
    ctl_render_field(res, "id", id, sizeof id);
    ctl_render_field(res, "state", state, sizeof state);
    ctl_render_field(res, "channel", channel, sizeof channel);
    ctl_render_field(res, "order_ref", ref, sizeof ref);
    fprintf(f, "reservation %s: %s%s%s\n", id, state,
            ctl_render_true(reply, "replayed") ? " " : "",
            ctl_render_true(reply, "replayed") ? ctl_render_replay_note : "");
    fprintf(f, "  channel    %s\n  order_ref  %s\n", channel, ref);
    if (ctl_render_dated(res, when, sizeof when))
        fprintf(f, "  %-9s  %s\n", "promise", when);
    /* A finished reservation has no expiry left: say when it ended. */
    int64_t t;
    const char *label = "expires";
    const char *key = "expires_ms";
    if (ctl_render_is(res, "state", "expired"))
        label = "expired";
    else if (ctl_render_is(res, "state", "released") ||
             ctl_render_is(res, "state", "consumed")) {
        label = "ended";
        key = "updated_ms";
    }
    if (ctl_render_int(res, key, &t)) {
        ctl_resv_fmt_when(t, now_ms, when, sizeof when);
        fprintf(f, "  %-9s  %s\n", label, when);
    }
    if (ctl_render_int(res, "created_ms", &t)) {
        ctl_resv_fmt_when(t, now_ms, when, sizeof when);
        fprintf(f, "  %-9s  %s\n", "created", when);
    }
    ctl_render_resv_lines(codec_val_get(res, "lines"), f);
}

/* ---- scan --------------------------------------------------------------- */

/* Columns: SKU, one ATP column per channel (named by the first row that
 * has channels), SUPPLY, RESERVED, SHORTFALL, STALE. */
#define CTL_SCAN_FIXED 5

static bool ctl_scan_view_setup(ctl_scan_view *v, const codec_val *items)
{
    const codec_val *chs = NULL;
    uint32_t n = codec_val_len(items);
    for (uint32_t i = 0; i < n && chs == NULL; i++) {
        const codec_val *c = codec_val_get(codec_val_at(items, i), "channels");
        if (codec_val_len(c) > 0)
            chs = c;
    }
    if (chs == NULL && n > 0)
        chs = codec_val_get(codec_val_at(items, 0), "channels");
    v->nch = codec_val_len(chs);
    size_t ncols = CTL_SCAN_FIXED + v->nch;
    ctl_col *cols = calloc(ncols, sizeof *cols);
    char *names = calloc(v->nch > 0 ? v->nch : 1, CTL_CELL_MAX);
    v->width = calloc(ncols, sizeof *v->width);
    if (cols == NULL || names == NULL || v->width == NULL) {
        free(cols);
        free(names);
        free(v->width);
        v->width = NULL;
        return false;
    }
    cols[0] = (ctl_col){"SKU", "sku", false};
    for (size_t c = 0; c < v->nch; c++) {
        char ch[CTL_CELL_MAX - 8];
        ctl_render_field(codec_val_at(chs, (uint32_t)c), "channel", ch,
                         sizeof ch);
        snprintf(names + c * CTL_CELL_MAX, CTL_CELL_MAX, "ATP:%s", ch);
        cols[1 + c] = (ctl_col){names + c * CTL_CELL_MAX, NULL, true};
    }
    cols[1 + v->nch] = (ctl_col){"SUPPLY", "supply", true};
    cols[2 + v->nch] = (ctl_col){"RESERVED", "reserved", true};
    cols[3 + v->nch] = (ctl_col){"SHORTFALL", "shortfall", true};
    cols[4 + v->nch] = (ctl_col){"STALE", NULL, false};
    v->cols = cols;
    v->names = names;
    v->ncols = ncols;
    return true;
}

bool ctl_render_scan_page(const codec_val *reply, ctl_scan_view *v, FILE *f)
{
    const codec_val *items = codec_val_get(reply, "items");
    size_t n = codec_val_len(items);
    if (v->cols == NULL && !ctl_scan_view_setup(v, items))
        return false;
    ctl_table t;
    if (!ctl_table_init(&t, v->cols, (int)v->ncols, n))
        return false;
    for (size_t r = 0; r < n; r++) {
        const codec_val *it = codec_val_at(items, (uint32_t)r);
        ctl_table_fill(&t, r, it);
        /* Channels are matched by name: a row whose channels differ from
         * the header's (an atpd reconfigured between pages) shows "-". */
        const codec_val *chs = codec_val_get(it, "channels");
        for (size_t c = 0; c < v->nch; c++) {
            const char *want = v->cols[1 + c].header + 4; /* after "ATP:" */
            char *cell = ctl_table_cell(&t, r, (int)(1 + c));
            snprintf(cell, CTL_CELL_MAX, "-");
            uint32_t nk = codec_val_len(chs);
            for (uint32_t j = 0; j < nk; j++) {
                /* Configuration order: the same position first. */
                uint32_t k = (uint32_t)((c + j) % nk);
                const codec_val *ch = codec_val_at(chs, k);
                char name[CTL_CELL_MAX];
                ctl_render_field(ch, "channel", name, sizeof name);
                if (strcmp(name, want) == 0) {
                    ctl_render_field(ch, "atp", cell, CTL_CELL_MAX);
                    break;
                }
            }
        }
        snprintf(ctl_table_cell(&t, r, (int)v->ncols - 1), CTL_CELL_MAX, "%s",
                 ctl_render_true(it, "stale") ? "STALE" : "");
    }
    ctl_table_print_w(&t, v->width, !v->header_done, f);
    ctl_table_fini(&t);
    v->header_done = true;
    v->rows += n;
    return true;
}

void ctl_scan_view_fini(ctl_scan_view *v)
{
    free(v->cols);
    free(v->names);
    free(v->width);
    memset(v, 0, sizeof *v);
}
