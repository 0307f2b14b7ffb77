/*
 * ctl_feed.c - subscription prefixes, topic splitting, gap detection and
 * renderings for `atpctl watch` (see ctl_feed.h). Pure; main thread of
 * atpctl.
 *
 * Strings from the feed are printed with control characters replaced, so a
 * hostile or corrupted id cannot move the operator's cursor.
 */
#include "ctl_feed.h"

#include <inttypes.h>
#include <string.h>

#include "ctl_render.h"

/* ---- subscription ------------------------------------------------------- */

static bool ctl_feed_id_ok(const char *s, uint32_t max)
{
    size_t len = strlen(s);
    codec_str cs = {.ptr = s, .len = (uint32_t)len};
    return len >= 1 && len <= max && codec_str_is_id(cs, max);
}

bool ctl_feed_prefix(const char *region, const char *sku, char *buf,
                     size_t *len, ctl_feed_scope *scope, char *err,
                     size_t errlen)
{
    if (sku != NULL && region == NULL) {
        snprintf(err, errlen, "a SKU needs a region: watch REGION SKU");
        return false;
    }
    if (region != NULL && !ctl_feed_id_ok(region, ATP_ID_MAX_LEN)) {
        snprintf(err, errlen,
                 "region '%.80s' must be 1..%d bytes of printable UTF-8",
                 region, ATP_ID_MAX_LEN);
        return false;
    }
    if (sku != NULL && !ctl_feed_id_ok(sku, ATP_SKU_MAX_LEN)) {
        snprintf(err, errlen,
                 "SKU '%.80s' must be 1..%d bytes of printable UTF-8", sku,
                 ATP_SKU_MAX_LEN);
        return false;
    }
    /* sizeof includes the root's NUL: "atp\0". */
    size_t n = sizeof ATP_FEED_TOPIC_ROOT;
    memcpy(buf, ATP_FEED_TOPIC_ROOT, n);
    *scope = CTL_FEED_ALL;
    if (region != NULL) {
        size_t l = strlen(region) + 1;
        memcpy(buf + n, region, l);
        n += l;
        *scope = CTL_FEED_REGION;
    }
    if (sku != NULL) {
        /* The NUL after the SKU is what keeps A10 out of A1's watch. */
        size_t l = strlen(sku) + 1;
        memcpy(buf + n, sku, l);
        n += l;
        *scope = CTL_FEED_KEY;
    }
    *len = n;
    return true;
}

const char *ctl_feed_seq_name(ctl_feed_scope scope)
{
    switch (scope) {
    case CTL_FEED_REGION:
        return "region_seq";
    case CTL_FEED_KEY:
        return "key_seq";
    case CTL_FEED_ALL:
    default:
        return "seq";
    }
}

bool ctl_feed_parse_uint(const char *s, uint64_t min, uint64_t max,
                         uint64_t *out)
{
    if (*s == '+')
        s++;
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* ---- gaps --------------------------------------------------------------- */

ctl_feed_gap_kind ctl_feed_gaps_check(ctl_feed_gaps *g, uint64_t got,
                                      ctl_feed_gap *out)
{
    ctl_feed_gap r = {.kind = CTL_FEED_IN_ORDER, .got = got};
    if (g->known) {
        r.expected = g->last + 1;
        if (got > g->last + 1) {
            r.kind = CTL_FEED_GAP;
            r.missed = got - g->last - 1;
            g->gaps++;
            g->missed += r.missed;
        } else if (got <= g->last) {
            /* atpd numbers its messages from 1 again after a restart; the
             * subscriber cannot tell what it missed: rebuild. */
            r.kind = CTL_FEED_RESET;
            g->resets++;
        }
    } else {
        r.expected = got;
    }
    g->known = true;
    g->last = got;
    if (out != NULL)
        *out = r;
    return r.kind;
}

uint64_t ctl_feed_msg_seq(const codec_feed_msg *m, ctl_feed_scope scope)
{
    switch (scope) {
    case CTL_FEED_REGION:
        return m->region_seq;
    case CTL_FEED_KEY:
        return m->key_seq;
    case CTL_FEED_ALL:
    default:
        return m->seq;
    }
}

/* ---- human rendering ---------------------------------------------------- */

#define CTL_FEED_CELL 160

/* ctl_feed_field writes a scalar field as text: "-" when absent. */
static void ctl_feed_field(const codec_val *map, const char *key, char *buf,
                           size_t n)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    int64_t i;
    uint64_t u;
    codec_str s;
    if (v != NULL && codec_val_int(v, &i))
        snprintf(buf, n, "%" PRId64, i);
    else if (v != NULL && codec_val_uint(v, &u))
        snprintf(buf, n, "%" PRIu64, u);
    else if (v != NULL && codec_val_str(v, &s))
        ctl_render_text(s, buf, n);
    else
        snprintf(buf, n, "-");
}

static bool ctl_feed_true(const codec_val *map, const char *key)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    bool b = false;
    return v != NULL && codec_val_bool(v, &b) && b;
}

static bool ctl_feed_nonzero(const codec_val *map, const char *key)
{
    const codec_val *v = map != NULL ? codec_val_get(map, key) : NULL;
    int64_t i = 0;
    return v != NULL && codec_val_int(v, &i) && i != 0;
}

/* The transitions, in the order the publisher writes them, with how they
 * are highlighted. */
static const struct {
    const char *name;
    const char *loud;  /* the human form */
    const char *color; /* ANSI SGR */
} ctl_feed_marks[] = {
    {"out_of_stock", "OUT_OF_STOCK!", "\033[1;31m"},
    {"back_in_stock", "BACK_IN_STOCK!", "\033[1;32m"},
    {"low_stock", "LOW_STOCK!", "\033[1;33m"},
};
#define CTL_FEED_NMARKS (sizeof ctl_feed_marks / sizeof ctl_feed_marks[0])

static void ctl_render_feed_channel(const codec_val *ch, bool color, FILE *f)
{
    char name[CTL_FEED_CELL], atp[32];
    ctl_feed_field(ch, "channel", name, sizeof name);
    ctl_feed_field(ch, "atp", atp, sizeof atp);
    fprintf(f, " | %s %s", name, atp);
    const codec_val *tr = codec_val_get(ch, "transitions");
    uint32_t n = codec_val_len(tr);
    bool marked_out = false, marked_low = false;
    for (uint32_t i = 0; i < n; i++) {
        codec_str s;
        if (!codec_val_str(codec_val_at(tr, i), &s))
            continue;
        size_t m = 0;
        while (m < CTL_FEED_NMARKS && !codec_str_eq(s, ctl_feed_marks[m].name))
            m++;
        if (m == CTL_FEED_NMARKS) {
            /* A transition this atpctl does not know: say it, plainly. */
            char other[CTL_FEED_CELL];
            ctl_render_text(s, other, sizeof other);
            fprintf(f, " %s!", other);
            continue;
        }
        marked_out |= m == 0;
        marked_low |= m == 2;
        if (color)
            fprintf(f, " %s%s\033[0m", ctl_feed_marks[m].color,
                    ctl_feed_marks[m].loud);
        else
            fprintf(f, " %s", ctl_feed_marks[m].loud);
    }
    /* The standing state, when no transition just said it. */
    if (ctl_feed_true(ch, "out_of_stock") && !marked_out)
        fprintf(f, " out");
    else if (ctl_feed_true(ch, "low_stock") && !marked_low &&
             !ctl_feed_true(ch, "out_of_stock"))
        fprintf(f, " low");
}

void ctl_render_feed(const ctl_feed_topic *t, const codec_val *body, bool color,
                     FILE *f)
{
    char seq[32], region[CTL_FEED_CELL], sku[CTL_FEED_CELL], supply[32],
        reserved[32], shortfall[32];
    ctl_feed_field(body, "seq", seq, sizeof seq);
    /* The topic is what the subscription matched; the body says the same. */
    ctl_render_text(t->region, region, sizeof region);
    ctl_render_text(t->sku, sku, sizeof sku);
    ctl_feed_field(body, "supply", supply, sizeof supply);
    ctl_feed_field(body, "reserved", reserved, sizeof reserved);
    fprintf(f, "#%s %s %s  supply %s  reserved %s", seq, region, sku, supply,
            reserved);
    if (ctl_feed_nonzero(body, "shortfall")) {
        ctl_feed_field(body, "shortfall", shortfall, sizeof shortfall);
        fprintf(f, "  shortfall %s", shortfall);
    }
    const codec_val *chs = codec_val_get(body, "channels");
    uint32_t n = codec_val_len(chs);
    for (uint32_t i = 0; i < n; i++)
        ctl_render_feed_channel(codec_val_at(chs, i), color, f);
    if (ctl_feed_true(body, "stale"))
        fprintf(f, "  STALE");
    fputc('\n', f);
}

/* ---- JSON --------------------------------------------------------------- */

static bool ctl_feed_json_of(codec_writer *w, FILE *f)
{
    if (codec_writer_failed(w))
        return false;
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    codec_arena *a = codec_arena_alloc();
    const codec_val *v = NULL;
    bool ok = a != NULL && codec_decode(a, data, len, &v) == ATP_OK;
    if (ok) {
        codec_val_write_json(v, f);
        fputc('\n', f);
    }
    codec_arena_free(a);
    return ok;
}

bool ctl_feed_write_json(const ctl_feed_topic *t, const codec_val *body,
                         FILE *f)
{
    if (codec_val_type(body) != CODEC_MAP)
        return false;
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return false;
    uint32_t n = codec_val_len(body);
    codec_w_map(w, n + 1);
    codec_w_cstr(w, "topic");
    codec_w_map(w, 2);
    codec_w_cstr(w, "region");
    codec_w_str(w, t->region.ptr, t->region.len);
    codec_w_cstr(w, "sku");
    codec_w_str(w, t->sku.ptr, t->sku.len);
    for (uint32_t i = 0; i < n; i++) {
        codec_w_val(w, codec_val_map_key(body, i));
        codec_w_val(w, codec_val_map_value(body, i));
    }
    bool ok = ctl_feed_json_of(w, f);
    codec_writer_free(w);
    return ok;
}

void ctl_render_gap(const ctl_feed_gap *g, ctl_feed_scope scope,
                    const ctl_feed_topic *t, bool json, FILE *f)
{
    const char *name = ctl_feed_seq_name(scope);
    if (json) {
        codec_writer *w = codec_writer_alloc(NULL, NULL);
        if (w != NULL) {
            codec_w_map(w, 1);
            codec_w_cstr(w, "gap");
            codec_w_map(w, 7);
            codec_w_kv_cstr(w, "sequence", name);
            codec_w_kv_uint(w, "expected", g->expected);
            codec_w_kv_uint(w, "got", g->got);
            codec_w_kv_uint(w, "missed", g->missed);
            codec_w_kv_bool(w, "reset", g->kind == CTL_FEED_RESET);
            codec_w_cstr(w, "region");
            codec_w_str(w, t->region.ptr, t->region.len);
            codec_w_cstr(w, "sku");
            codec_w_str(w, t->sku.ptr, t->sku.len);
        }
        if (w == NULL || !ctl_feed_json_of(w, f))
            fprintf(f,
                    "{\"gap\": {\"sequence\": \"%s\", \"expected\": "
                    "%" PRIu64 ", \"got\": %" PRIu64 "}}\n",
                    name, g->expected, g->got);
        codec_writer_free(w);
        return;
    }
    char region[CTL_FEED_CELL], sku[CTL_FEED_CELL];
    ctl_render_text(t->region, region, sizeof region);
    ctl_render_text(t->sku, sku, sizeof sku);
    if (g->kind == CTL_FEED_RESET)
        fprintf(f,
                "warning: %s went back: expected %" PRIu64 ", got %" PRIu64
                " at %s %s (atpd restarted?); rebuild with a scan\n",
                name, g->expected, g->got, region, sku);
    else
        fprintf(f,
                "warning: gap in %s: expected %" PRIu64 ", got %" PRIu64
                " (%" PRIu64 " message%s lost) at %s %s; rebuild with a "
                "scan\n",
                name, g->expected, g->got, g->missed, g->missed == 1 ? "" : "s",
                region, sku);
}
