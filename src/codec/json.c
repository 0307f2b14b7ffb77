/*
 * json.c - codec_val_write_json: a decoded msgpack tree as one line of JSON,
 * for atpctl and test output; codec_json_str, the project's one JSON string
 * escaper (atpd's ready file, atp-feed's logs, atp-bench's reports use it
 * too); and the value writers json_msgpack.c shares (json_int.h), so that
 * a tree and the same bytes read in place give the same JSON. Any thread.
 *
 * The text is built in memory and written with one fwrite, so a reader of a
 * shared stream never sees half a value from this call. Recursion is
 * bounded by the nesting the decoder accepted (ATP_MSG_MAX_DEPTH).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json_int.h"

bool codec__jbuf_grow(codec_jbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    while (n > cap - b->len) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *np = realloc(b->p, cap);
    if (np == NULL) {
        b->failed = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void codec_jbuf_puts(codec_jbuf *b, const char *s)
{
    codec__jbuf_put(b, s, strlen(s));
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
        if (codec__json_plain(c)) {
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

int codec__jbuf_sink(void *ctx, const void *buf, size_t len)
{
    codec_jbuf *b = ctx;
    codec__jbuf_put(b, buf, len);
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

/* The plain ASCII string (nearly every key and value atpd writes) is
 * copied in one piece while it is scanned; anything else goes to
 * codec_json_str, the one place that knows how to escape. */
void codec__json_string(codec_jbuf *b, const char *s, size_t n)
{
    char *d = codec__jbuf_room(b, n + 2);
    if (d == NULL)
        return;
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n && codec__json_plain(p[i])) {
        d[1 + i] = (char)p[i];
        i++;
    }
    if (i < n) {
        /* what was copied lies beyond b->len: written over */
        codec_json_str(codec__jbuf_sink, b, s, n);
        return;
    }
    d[0] = '"';
    d[n + 1] = '"';
    b->len += n + 2;
}

/* Two digits at a time: a reply is mostly integers, and snprintf (its
 * format parsing and locale) cost more than the rest of their writing. */
void codec__json_u64(codec_jbuf *b, uint64_t u, bool neg)
{
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char tmp[21]; /* "-" and the 20 digits of UINT64_MAX */
    char *e = tmp + sizeof tmp, *q = e;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        q -= 2;
        memcpy(q, pairs + 2 * r, 2);
    }
    if (u >= 10) {
        q -= 2;
        memcpy(q, pairs + 2 * u, 2);
    } else {
        *--q = (char)('0' + u);
    }
    if (neg)
        *--q = '-';
    codec__jbuf_put(b, q, (size_t)(e - q));
}

void codec__json_base64(codec_jbuf *b, const char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = (const uint8_t *)s;
    char q[4];
    codec__jbuf_put(b, "\"", 1);
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
        codec__jbuf_put(b, q, 4);
    }
    codec__jbuf_put(b, "\"", 1);
}

void codec__json_double(codec_jbuf *b, double d)
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
    codec__jbuf_put(b, tmp, (size_t)n);
}

void codec__json_key_text(codec_jbuf *b, codec_jbuf *key)
{
    if (key->failed)
        b->failed = true;
    else
        codec__json_string(b, key->p, key->len);
    free(key->p);
}

static void codec_json_value(codec_jbuf *b, const msgpack_object *o);

/* codec_json_key writes a map key: strings as they are; any other key as
 * its JSON text inside a string, except bin and ext keys, whose JSON text
 * already is a string. */
static void codec_json_key(codec_jbuf *b, const msgpack_object *k)
{
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        codec_json_value(b, k);
        return;
    default: {
        codec_jbuf key = {0};
        codec_json_value(&key, k);
        codec__json_key_text(b, &key);
        return;
    }
    }
}

static void codec_json_value(codec_jbuf *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        codec_jbuf_puts(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        codec_jbuf_puts(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        codec__json_u64(b, o->via.u64, false);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        codec__json_i64(b, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        codec__json_double(b, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        codec__json_string(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        codec__json_base64(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        codec__json_base64(b, o->via.ext.ptr, o->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        codec__jbuf_put(b, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0) {
                codec__jbuf_put(b, ",", 1);
            }
            codec_json_value(b, &o->via.array.ptr[i]);
        }
        codec__jbuf_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        codec__jbuf_put(b, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i > 0) {
                codec__jbuf_put(b, ",", 1);
            }
            codec_json_key(b, &o->via.map.ptr[i].key);
            codec__jbuf_put(b, ":", 1);
            codec_json_value(b, &o->via.map.ptr[i].val);
        }
        codec__jbuf_put(b, "}", 1);
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
