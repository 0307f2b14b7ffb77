/*
 * bench_json.c - what JSON costs atpd's HTTP front end per cart, without
 * transport (issue 13: "measure the parse cost of a 1,000-line cart"):
 *  1. request: the cart body as atp-bench sends it ({"channel", "lines":
 *     [{"sku", "region", "qty"}...]}) through codec_json_request, the call
 *     atpd's HTTP layer makes (jansson parse, then the msgpack request);
 *  2. reply: a cart reply of the same lines (docs/PROTOCOL.md, the ATP
 *     answer + qty + available per line) written in msgpack with the codec
 *     writer, as atpd's request code does for both interfaces, then through
 *     codec_json_from_msgpack, the conversion only HTTP pays.
 * Thread CPU time per call, median of --rounds rounds of at least 0.2 s.
 * usage: bench_json [--lines N,N,...] [--rounds N]
 * A measurement program, not a test: bounded by its rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cpu.h"
#include "codec/codec.h"

/* The request body, like atp-bench's (bench_http.c). */
static char *cart_body(unsigned n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 64, o = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
    o += (size_t)snprintf(b + o, cap - o, "{\"channel\":\"web\",\"lines\":[");
    for (unsigned i = 0; i < n; i++)
        o += (size_t)snprintf(
            b + o, cap - o,
            "%s{\"sku\":\"SKU-%u\",\"region\":\"r%u\",\"qty\":%u}",
            i ? "," : "", 10007 * i % 100000, i % 3, 1 + i % 3);
    o += (size_t)snprintf(b + o, cap - o, "]}");
    *len = o;
    return b;
}

/* The msgpack cart reply of n lines. */
static void cart_reply(codec_writer *w, unsigned n)
{
    codec_w_map(w, 3);
    codec_w_kv_bool(w, "ok", true);
    codec_w_kv_bool(w, "available", true);
    codec_w_cstr(w, "lines");
    codec_w_array(w, n);
    for (unsigned i = 0; i < n; i++) {
        char sku[24], region[8];
        snprintf(sku, sizeof sku, "SKU-%u", 10007 * i % 100000);
        snprintf(region, sizeof region, "r%u", i % 3);
        codec_w_map(w, 12);
        codec_w_kv_cstr(w, "sku", sku);
        codec_w_kv_cstr(w, "region", region);
        codec_w_kv_cstr(w, "channel", "web");
        codec_w_kv_int(w, "atp", 1180 + i % 40);
        codec_w_kv_int(w, "supply", 1240 + i % 40);
        codec_w_kv_int(w, "reserved", 3 + i % 7);
        codec_w_kv_int(w, "buffer", 60);
        codec_w_kv_cstr(w, "rule", "region");
        codec_w_kv_int(w, "shortfall", 0);
        codec_w_kv_bool(w, "stale", false);
        codec_w_kv_int(w, "qty", 1 + i % 3);
        codec_w_kv_bool(w, "available", true);
    }
}

typedef struct round_ctx {
    unsigned n;
    const char *body;
    size_t body_len;
    codec_writer *w;
    const void *reply;
    size_t reply_len;
    size_t json_len;
} round_ctx;

/* One call of each kind; false on a failure. */
static bool call_parse(void *arg)
{
    round_ctx *c = arg;
    char msg[200];
    codec_json_opts o = {.line_qty = true};
    codec_writer_reset(c->w);
    return codec_json_request(c->w, &o, c->body, c->body_len, msg,
                              sizeof msg) == ATP_OK;
}

static bool call_write(void *arg)
{
    round_ctx *c = arg;
    codec_writer_reset(c->w);
    cart_reply(c->w, c->n);
    return !codec_writer_failed(c->w);
}

static bool call_convert(void *arg)
{
    round_ctx *c = arg;
    char *out = NULL;
    atp_err e =
        codec_json_from_msgpack(c->reply, c->reply_len, &out, &c->json_len);
    free(out);
    return e == ATP_OK;
}

/* Median CPU time per call (us): bench_cpu_median_ns. */
static double time_calls(round_ctx *c, bool (*fn)(void *), int rounds)
{
    return bench_cpu_median_ns("bench_json", fn, c, rounds) / 1e3;
}

int main(int argc, char **argv)
{
    const char *list = "1,15,53,217,1000";
    int rounds = 5;
    if (bench_cpu_args(argc, argv, "bench_json", "--lines", &list, &rounds) !=
        0)
        return 2;
    codec_writer *w = codec_writer_alloc(NULL, NULL),
                 *rw = codec_writer_alloc(NULL, NULL);
    if (w == NULL || rw == NULL)
        return 1;
    printf("%6s %10s %12s %12s %12s %10s %12s %10s\n", "lines", "body B",
           "parse us", "ns/line", "reply us", "reply B", "to JSON us",
           "JSON B");
    for (const char *p = list; *p;) {
        unsigned n = (unsigned)strtoul(p, (char **)&p, 10);
        if (*p == ',')
            p++;
        if (n == 0)
            continue;
        round_ctx c = {.n = n, .w = w};
        char *body = cart_body(n, &c.body_len);
        if (body == NULL)
            return 1;
        c.body = body;
        codec_writer_reset(rw);
        cart_reply(rw, n);
        c.reply = codec_writer_data(rw, &c.reply_len);
        double parse = time_calls(&c, call_parse, rounds);
        double write = time_calls(&c, call_write, rounds);
        double conv = time_calls(&c, call_convert, rounds);
        printf("%6u %10zu %12.2f %12.0f %12.2f %10zu %12.2f %10zu\n", n,
               c.body_len, parse, parse * 1e3 / n, write, c.reply_len, conv,
               c.json_len);
        free(body);
    }
    codec_writer_free(w);
    codec_writer_free(rw);
    return 0;
}
