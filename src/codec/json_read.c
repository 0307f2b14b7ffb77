/*
 * json_read.c - an untrusted JSON request body (the HTTP front end) turned
 * into the msgpack request map the query server reads (request.h), so that
 * both transports share one validation path. The only file that includes
 * <jansson.h>. Any thread; allocates only inside jansson (freed before
 * returning) and in the caller's writer.
 *
 * What this file decides and what it leaves to the request module: JSON
 * syntax, UTF-8, duplicate keys, "the body is an object", nesting depth and
 * the shape of an object line are checked here (BAD_REQUEST / TOO_LARGE);
 * everything about the values themselves (types, ranges, ids) is the
 * request module's, which gives the same code for the same value whichever
 * transport carried it.
 */
#include <jansson.h>

#include "codec/codec.h"

/* 2^53 - 1: the largest integer every JSON reader holds exactly. */
#define CODEC_JSON_INT_MAX 9007199254740991.0

/* codec_json_number writes a JSON number. jansson reads every number as a
 * double (JSON_DECODE_INT_AS_REAL: an integer literal too large for int64
 * would otherwise fail the whole parse, hiding which field was wrong). An
 * integral value within +-(2^53-1) is an integer; an integral value beyond
 * is written as INT64_MAX or INT64_MIN, outside the range of every integer
 * field, so the field's own range error answers (bad_qty, bad_ttl, ...);
 * a fractional value stays a float, which every integer field refuses as
 * the wrong type (bad_request), as over nng. */
static void codec_json_number(codec_writer *w, double d)
{
    /* Every double beyond 2^53 is integral; JSON has no NaN or infinity
     * (jansson refuses an overflow). */
    if (d > CODEC_JSON_INT_MAX)
        codec_w_int(w, INT64_MAX);
    else if (d < -CODEC_JSON_INT_MAX)
        codec_w_int(w, INT64_MIN);
    else if ((double)(int64_t)d != d)
        codec_w_double(w, d);
    else
        codec_w_int(w, (int64_t)d);
}

typedef struct codec_json_ctx {
    codec_writer *w;
    const codec_json_opts *opts;
    char *msg;
    size_t msg_cap;
} codec_json_ctx;

static bool codec_json_value(codec_json_ctx *c, const json_t *v,
                             unsigned depth);

static bool codec_json_deep(codec_json_ctx *c)
{
    snprintf(c->msg, c->msg_cap, "JSON nested deeper than %d levels",
             ATP_MSG_MAX_DEPTH);
    return false;
}

/* codec_json_line writes a line given as an object as the array form:
 * [sku, region, qty] (opts->line_qty; [sku, region, qty, location] when
 * opts->line_pin and it has a "location"), [sku, qty]
 * (opts->line_sku_qty) or [sku, region]; an absent member
 * is nil, which the request module refuses with the field's name. Other
 * members are ignored, as unknown request fields are. */
static bool codec_json_line(codec_json_ctx *c, const json_t *obj,
                            unsigned depth)
{
    static const char *const full[] = {"sku", "region", "qty", "location"};
    static const char *const sku_qty[] = {"sku", "qty"};
    const char *const *keys = c->opts->line_sku_qty ? sku_qty : full;
    uint32_t n = c->opts->line_qty && !c->opts->line_sku_qty ? 3 : 2;
    /* A null location is an absent one, as for every optional member. */
    const json_t *loc = json_object_get(obj, "location");
    if (n == 3 && c->opts->line_pin && loc != NULL && !json_is_null(loc))
        n = 4;
    if (depth + 1 > ATP_MSG_MAX_DEPTH)
        return codec_json_deep(c);
    codec_w_array(c->w, n);
    for (uint32_t i = 0; i < n; i++) {
        const json_t *m = json_object_get(obj, keys[i]);
        if (m == NULL)
            codec_w_nil(c->w);
        else if (!codec_json_value(c, m, depth + 1))
            return false;
    }
    return true;
}

static bool codec_json_lines(codec_json_ctx *c, const json_t *arr,
                             unsigned depth)
{
    size_t n = json_array_size(arr);
    if (depth + 1 > ATP_MSG_MAX_DEPTH)
        return codec_json_deep(c);
    codec_w_array(c->w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(arr, i);
        bool ok = json_is_object(l) ? codec_json_line(c, l, depth + 1)
                                    : codec_json_value(c, l, depth + 1);
        if (!ok)
            return false;
    }
    return true;
}

/* codec_json_value writes v; depth counts the containers around v (the
 * body object is 1), as codec_precheck counts them. */
static bool codec_json_value(codec_json_ctx *c, const json_t *v, unsigned depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth + 1 > ATP_MSG_MAX_DEPTH)
            return codec_json_deep(c);
        codec_w_map(c->w, (uint32_t)json_object_size(v));
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            codec_w_cstr(c->w, k); /* jansson refuses NUL in keys */
            if (!codec_json_value(c, m, depth + 1))
                return false;
        }
        return true;
    }
    case JSON_ARRAY:
        if (depth + 1 > ATP_MSG_MAX_DEPTH)
            return codec_json_deep(c);
        codec_w_array(c->w, (uint32_t)json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!codec_json_value(c, json_array_get(v, i), depth + 1))
                return false;
        return true;
    case JSON_STRING:
        codec_w_str(c->w, json_string_value(v), json_string_length(v));
        return true;
    case JSON_INTEGER: /* not with JSON_DECODE_INT_AS_REAL; kept for safety */
    case JSON_REAL:
        codec_json_number(c->w, json_number_value(v));
        return true;
    case JSON_TRUE:
    case JSON_FALSE:
        codec_w_bool(c->w, json_is_true(v));
        return true;
    case JSON_NULL:
        codec_w_nil(c->w);
        return true;
    }
    return codec_json_deep(c); /* no other JSON type */
}

/* codec_json_is_field: whether key is one of the fields the route gives
 * (those win over the body's members of the same name). */
static bool codec_json_is_field(const codec_json_opts *o, const char *key)
{
    for (size_t i = 0; i < o->n_fields; i++)
        if (strcmp(o->fields[i].key, key) == 0)
            return true;
    return false;
}

static void codec_json_field_write(codec_writer *w, const codec_json_field *f)
{
    codec_w_cstr(w, f->key);
    if (f->is_int)
        codec_w_int(w, f->i);
    else if (f->is_bool)
        codec_w_bool(w, f->b);
    else
        codec_w_str(w, f->str.ptr, f->str.len);
}

/* codec_json_load parses text[0..len) (any JSON value; duplicate keys
 * refused; every number a double, see codec_json_number), or returns NULL
 * with the reason in msg and the error in *err: ATP_E_TOO_LARGE for
 * nesting deeper than jansson's own limit (2048; deeper than
 * ATP_MSG_MAX_DEPTH is too_large further on, so any depth past it must
 * answer the same), else ATP_E_BAD_REQUEST. */
static json_t *codec_json_load(const char *text, size_t len, char *msg,
                               size_t msg_cap, atp_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
                                  JSON_DECODE_INT_AS_REAL,
                              &jerr);
    if (root == NULL && json_error_code(&jerr) == json_error_stack_overflow) {
        *err = ATP_E_TOO_LARGE;
        snprintf(msg, msg_cap, "JSON nested deeper than %d levels",
                 ATP_MSG_MAX_DEPTH);
    } else if (root == NULL) {
        /* jansson's text is ASCII with the offending token quoted;
         * made printable all the same: it quotes the client's bytes. */
        char t[160];
        codec_str_to_text(t, sizeof t, jerr.text, strlen(jerr.text));
        snprintf(msg, msg_cap, "malformed JSON at line %d, column %d: %s",
                 jerr.line, jerr.column, t);
        *err = ATP_E_BAD_REQUEST;
    }
    return root;
}

atp_err codec_json_request(codec_writer *w, const codec_json_opts *opts,
                           const char *body, size_t len, char *msg,
                           size_t msg_cap)
{
    json_t *root = NULL;
    if (len > 0) {
        atp_err err;
        root = codec_json_load(body, len, msg, msg_cap, &err);
        if (root == NULL)
            return err;
        if (!json_is_object(root)) {
            json_decref(root);
            snprintf(msg, msg_cap, "the request body must be a JSON object");
            return ATP_E_BAD_REQUEST;
        }
    }
    size_t n = opts->n_fields;
    const char *k;
    json_t *m;
    if (root != NULL)
        json_object_foreach(root, k, m) n += !codec_json_is_field(opts, k);
    codec_w_map(w, (uint32_t)n);
    for (size_t i = 0; i < opts->n_fields; i++)
        codec_json_field_write(w, &opts->fields[i]);
    codec_json_ctx c = {w, opts, msg, msg_cap};
    atp_err err = ATP_OK;
    if (root != NULL) {
        json_object_foreach(root, k, m)
        {
            if (codec_json_is_field(opts, k))
                continue;
            codec_w_cstr(w, k);
            bool ok = strcmp(k, "lines") == 0 && json_is_array(m)
                          ? codec_json_lines(&c, m, 1)
                          : codec_json_value(&c, m, 1);
            if (!ok) {
                err = ATP_E_TOO_LARGE;
                break;
            }
        }
        json_decref(root);
    }
    if (err == ATP_OK && codec_writer_failed(w)) {
        snprintf(msg, msg_cap, "out of memory");
        err = ATP_E_NOMEM;
    }
    return err;
}

atp_err codec_json_to_msgpack(codec_writer *w, const char *text, size_t len,
                              char *msg, size_t msg_cap)
{
    atp_err err;
    json_t *root = codec_json_load(text, len, msg, msg_cap, &err);
    if (root == NULL)
        return err;
    const codec_json_opts plain = {0}; /* no fields, lines kept as they are */
    codec_json_ctx c = {w, &plain, msg, msg_cap};
    err = codec_json_value(&c, root, 0) ? ATP_OK : ATP_E_TOO_LARGE;
    json_decref(root);
    if (err == ATP_OK && codec_writer_failed(w)) {
        snprintf(msg, msg_cap, "out of memory");
        err = ATP_E_NOMEM;
    }
    return err;
}
