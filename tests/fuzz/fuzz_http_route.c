/*
 * fuzz_http_route.c - libFuzzer target for what the HTTP front end reads
 * before a request reaches request_handle: http_route (the method, the raw
 * path, the query parameters: percent-decoding, path segments, integers),
 * http_bearer (the Authorization header), then codec_json_request with
 * the fields the route supplied and the body, as mhd.c's http_req_run
 * does. libmicrohttpd's own parsing is its project's to fuzz.
 *
 * Input: [method byte] then NUL-separated parts: the path, then up to
 * FUZZ_PARAMS query parameters as key, value pairs (a value "\x01" stands
 * for "?key" without "="); a part after "\0\0" is the body, and the path
 * doubles as an Authorization header value.
 *
 * Checks: a refusal has a status the route table uses (400, 404, 405, 503)
 * with its code and a printable message; a route's fields and the body
 * become one msgpack map with the op (its strings may hold any bytes a
 * client percent-encoded: request_handle validates them, and fuzz.request
 * covers that); the bearer token lies inside the header. Single-threaded.
 */
#include <string.h>

#include "fuzz.h"
#include "http/http_int.h"

#define FUZZ_PARAMS 8

static const char *const fuzz_methods[] = {"GET",    "POST",  "PUT",
                                           "DELETE", "PATCH", "HEAD"};

static void fuzz_refusal(const http_call *c)
{
    size_t n = strnlen(c->message, sizeof c->message);
    fuzz_check(c->status == 400 || c->status == 404 || c->status == 405 ||
                   c->status == 503,
               "a refused route with a status the table does not use");
    fuzz_check(c->err != ATP_OK, "a refused route without an error code");
    fuzz_check(n > 0 && n < sizeof c->message &&
                   codec_str_is_id((codec_str){c->message, (uint32_t)n},
                                   sizeof c->message),
               "a refused route's message is empty or not printable UTF-8");
    fuzz_check(strnlen(c->allow, sizeof c->allow) < sizeof c->allow,
               "Allow unterminated");
}

static void fuzz_body(http_call *c, const char *body, size_t body_len,
                      codec_writer *w, codec_arena *a)
{
    if (c->n_fields < HTTP_FIELDS_MAX)
        c->fields[c->n_fields++] =
            (codec_json_field){.key = "token", .str = {"", 0}};
    codec_json_opts opts = {c->fields, c->n_fields, c->line_qty,
                            c->line_sku_qty};
    char msg[200];
    codec_writer_reset(w);
    if (codec_json_request(w, &opts, body, body_len, msg, sizeof msg) != ATP_OK)
        return; /* fuzz.json checks refusals */
    size_t len;
    const void *bytes = codec_writer_data(w, &len);
    const codec_val *v;
    codec_arena_clear(a);
    fuzz_check(codec_decode(a, bytes, len, &v) == ATP_OK &&
                   codec_val_type(v) == CODEC_MAP,
               "a routed request is not one msgpack map");
    fuzz_check(codec_val_type(codec_val_get(v, "op")) == CODEC_STR,
               "a routed request without its op");
}

/* fuzz_next: the part after the C string at p (end: the copy's last NUL). */
static char *fuzz_next(char *p, char *end)
{
    p += strlen(p);
    return p < end ? p + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static codec_arena *route_arena, *arena;
    static codec_writer *w;
    if (w == NULL) {
        fuzz_logs_all();
        route_arena = codec_arena_alloc();
        arena = codec_arena_alloc();
        w = codec_writer_alloc(NULL, NULL);
        fuzz_check(route_arena && arena && w, "setup");
    }
    if (size == 0)
        return 0;
    /* One NUL-terminated copy: the parts are C strings, as libmicrohttpd
     * hands them over. */
    char *text = malloc(size);
    fuzz_check(text != NULL, "out of memory");
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *method =
        fuzz_methods[data[0] % (sizeof fuzz_methods / sizeof fuzz_methods[0])];
    char *end = text + size - 1, *p = text;
    const char *path = p;
    p = fuzz_next(p, end);
    http_param params[FUZZ_PARAMS];
    size_t n_params = 0;
    const char *body = NULL;
    while (p < end && n_params < FUZZ_PARAMS) {
        if (*p == '\0') { /* "\0\0": the body follows */
            body = p + 1;
            break;
        }
        const char *key = p;
        p = fuzz_next(p, end);
        const char *value = p;
        p = fuzz_next(p, end);
        params[n_params++] =
            (http_param){key, strcmp(value, "\x01") == 0 ? NULL : value};
    }

    codec_str tok = http_bearer(path);
    fuzz_check(tok.len == 0 || (tok.ptr >= path &&
                                tok.ptr + tok.len <= path + strlen(path)),
               "a bearer token outside its header");

    http_call c;
    memset(&c, 0, sizeof c);
    codec_arena_clear(route_arena);
    if (!http_route(&c, method, path, params, n_params, route_arena))
        fuzz_refusal(&c);
    else if (c.op != NULL && !c.sse && !c.metrics)
        fuzz_body(&c, body ? body : "", body ? strlen(body) : 0, w, arena);
    free(text);
    return 0;
}
