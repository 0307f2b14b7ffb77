/*
 * json.c - codec_val_write_json: a decoded msgpack tree as one line of JSON,
 * for atpctl, the HTTP front end and test output; and codec_json_str, the
 * project's one JSON string escaper (atpd's ready file, atp-feed's logs,
 * atp-bench's reports use it too). Any thread.
 *
 * The text is built in memory and written with one fwrite, so a reader of a
 * shared stream never sees half a value from this call. Recursion is
 * bounded by the nesting the decoder accepted (ATP_MSG_MAX_DEPTH).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"

typedef struct codec_jbuf {
    char *p;
    size_t len;
    size_t cap;
    bool failed; /* out of memory: the output is dropped */
} codec_jbuf;

static void codec_jbuf_put(codec_jbuf *b, const char *s, size_t n)
{
    if (b->failed || n == 0) {
        return; /* n == 0: s may be NULL (msgpack-c's empty strings) */
    }
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (n > cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void codec_jbuf_puts(codec_jbuf *b, const char *s)
{
    codec_jbuf_put(b, s, strlen(s));
}

/* codec_json_str_control: U+0000..U+001F, U+007F and U+0080..U+009F, the
 * control characters of docs/PROTOCOL.md's "printable", in UTF-8 at p
 * (sl bytes). */
static bool codec_json_str_control(const uint8_t *p, unsigned sl)
{
    return (sl == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
           (sl == 2 && p[0] == 0xc2 && p[1] < 0xa0);
}

int codec_json_str(codec_sink sink, void *ctx, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    size_t run = 0; /* start of bytes that can be copied as they are */
    size_t i = 0;
    int rv;

/* The sink sees only non-empty pieces, so s (NULL for msgpack-c's empty
 * strings) is never offset when n is 0. */
#define CODEC_JSON_PUT(buf, len)                                               \
    do {                                                                       \
        if ((len) > 0 && (rv = sink(ctx, (buf), (len))) != 0)                  \
            return rv;                                                         \
    } while (0)
    CODEC_JSON_PUT("\"", 1);
    while (i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        unsigned sl = c < 0x80 ? 1 : codec__utf8_seq_len(p + i, n - i);
        if (sl > 1 && !codec_json_str_control(p + i, sl)) {
            i += sl;
            continue;
        }
        CODEC_JSON_PUT(s + run, i - run);
        if (c == '"') {
            CODEC_JSON_PUT("\\\"", 2);
        } else if (c == '\\') {
            CODEC_JSON_PUT("\\\\", 2);
        } else if (sl == 0) {
            CODEC_JSON_PUT("\\ufffd", 6);
        } else {
            /* a control character: C0 and DEL (one byte) or C1 (two) */
            uint8_t cp = sl == 1 ? c : p[i + 1]; /* U+0080..U+009F: c2 80..9f */
            char esc[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 0xf]};
            CODEC_JSON_PUT(esc, sizeof(esc));
            i += sl - 1;
        }
        i++;
        run = i;
    }
    CODEC_JSON_PUT(s + run,
                   n - run); /* not evaluated for n == 0: s may be NULL */
    CODEC_JSON_PUT("\"", 1);
#undef CODEC_JSON_PUT
    return 0;
}

static int codec_jbuf_sink(void *ctx, const void *buf, size_t len)
{
    codec_jbuf *b = ctx;
    codec_jbuf_put(b, buf, len);
    return b->failed ? -1 : 0;
}

static int codec_json_file_sink(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, ctx) == len ? 0 : -1;
}

int codec_json_str_file(FILE *f, const char *s, size_t n)
{
    return codec_json_str(codec_json_file_sink, f, s, n) == 0 ? 0 : EOF;
}

static void codec_json_base64(codec_jbuf *b, const char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = (const uint8_t *)s;
    char q[4];

    codec_jbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        codec_jbuf_put(b, q, 4);
    }
    codec_jbuf_put(b, "\"", 1);
}

static void codec_json_double(codec_jbuf *b, double d)
{
    char tmp[40];
    if (!isfinite(d)) {
        codec_jbuf_puts(b, "null"); /* JSON has no NaN or Inf */
        return;
    }
    int n = snprintf(tmp, sizeof(tmp), "%.17g", d);
    /* A process that called setlocale() may get "1,5": JSON needs a dot.
     * %g never writes a thousands separator, so this is the only comma. */
    for (int i = 0; i < n; i++) {
        if (tmp[i] == ',') {
            tmp[i] = '.';
        }
    }
    codec_jbuf_put(b, tmp, (size_t)n);
}

static void codec_json_value(codec_jbuf *b, const msgpack_object *o);

/* codec_json_key writes a map key: strings as they are; any other key as
 * its JSON text inside a string ({1: x} becomes {"1": x}), except bin and
 * ext keys, whose JSON text already is a string. */
static void codec_json_key(codec_jbuf *b, const msgpack_object *k)
{
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        codec_json_value(b, k);
        return;
    default: {
        codec_jbuf tmp = {0};
        codec_json_value(&tmp, k);
        if (tmp.failed) {
            b->failed = true;
        } else {
            codec_json_str(codec_jbuf_sink, b, tmp.p, tmp.len);
        }
        free(tmp.p);
        return;
    }
    }
}

static void codec_json_value(codec_jbuf *b, const msgpack_object *o)
{
    char tmp[32];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        codec_jbuf_puts(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        codec_jbuf_puts(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)o->via.u64);
        codec_jbuf_puts(b, tmp);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)o->via.i64);
        codec_jbuf_puts(b, tmp);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        codec_json_double(b, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        codec_json_str(codec_jbuf_sink, b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        codec_json_base64(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        codec_json_base64(b, o->via.ext.ptr, o->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        codec_jbuf_put(b, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0) {
                codec_jbuf_put(b, ",", 1);
            }
            codec_json_value(b, &o->via.array.ptr[i]);
        }
        codec_jbuf_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        codec_jbuf_put(b, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i > 0) {
                codec_jbuf_put(b, ",", 1);
            }
            codec_json_key(b, &o->via.map.ptr[i].key);
            codec_jbuf_put(b, ":", 1);
            codec_json_value(b, &o->via.map.ptr[i].val);
        }
        codec_jbuf_put(b, "}", 1);
        break;
    default:
        codec_jbuf_puts(b, "null");
        break;
    }
}

void codec_val_write_json(const codec_val *v, FILE *f)
{
    codec_jbuf b = {0};
    if (v == NULL) {
        codec_jbuf_puts(&b, "null");
    } else {
        codec_json_value(&b, codec__obj(v));
    }
    if (!b.failed) {
        fwrite(b.p, 1, b.len, f);
    }
    free(b.p);
}

atp_err codec_json_from_msgpack(codec_arena *a, const void *buf, size_t len,
                                char **out, size_t *out_len)
{
    const codec_val *v;
    atp_err err = codec_decode(a, buf, len, &v);
    if (err != ATP_OK)
        return err;
    /* JSON of a reply is about twice its msgpack: one allocation, mostly. */
    codec_jbuf b = {.cap = len * 2 + 64};
    b.p = malloc(b.cap);
    b.failed = b.p == NULL;
    codec_json_value(&b, codec__obj(v));
    if (b.failed || b.p == NULL) {
        free(b.p);
        return ATP_E_NOMEM;
    }
    *out = b.p;
    *out_len = b.len;
    return ATP_OK;
}
