/*
 * bench_source_mac.c - what a per-source key costs atpd's ingest per
 * message (issue 14: "measure the cost per message"): for source batches
 * of N delta events, as atp-feed sends them (session and MAC included),
 *  1. decode: codec_src_decode, what the ingest thread does to every
 *     message anyway;
 *  2. mac: HMAC-SHA-256 over the message's bytes before the MAC and the
 *     constant-time compare (src/crypto), what a source with a key_file
 *     adds (ingest.c, ingest_mac_ok).
 * Thread CPU time per message, median of --rounds rounds of at least
 * 0.2 s each (bench_cpu.h). usage: bench_source_mac [--events N,N,...]
 * [--rounds N] A measurement program, not a test: bounded by its rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"
#include "bench_cpu.h"
#include "codec/codec.h"
#include "crypto/crypto.h"

typedef struct mac_ctx {
    const uint8_t *msg;
    size_t len;
    const uint8_t *key;
    size_t key_len;
    codec_arena *arena;
    unsigned sink;
} mac_ctx;

static bool call_decode(void *arg)
{
    mac_ctx *c = arg;
    codec_src_msg m;
    codec_arena_clear(c->arena);
    atp_err err = codec_src_decode(c->arena, c->msg, c->len, 1000000, &m, NULL);
    c->sink += m.n_events;
    return err == ATP_OK;
}

static bool call_mac(void *arg)
{
    mac_ctx *c = arg;
    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(c->key, c->key_len, c->msg, c->len - ATP_SRC_MAC_TAIL,
                       mac);
    bool ok =
        crypto_equal(mac, c->msg + c->len - ATP_SRC_MAC_LEN, ATP_SRC_MAC_LEN);
    c->sink += mac[0];
    return ok;
}

/* A batch of n deltas with a session and a MAC under key, as atp-feed
 * writes it. Returns a malloc'd copy (caller frees). */
static uint8_t *make_msg(unsigned n, const uint8_t *key, size_t key_len,
                         size_t *len)
{
    codec_event *evs = calloc(n ? n : 1, sizeof *evs);
    char(*skus)[16] = calloc(n ? n : 1, sizeof *skus);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (evs == NULL || skus == NULL || w == NULL) {
        fprintf(stderr, "bench_source_mac: out of memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < n; i++) {
        int k = snprintf(skus[i], sizeof skus[i], "SKU-%u", i % 200000);
        evs[i] = (codec_event){.kind = ATP_EV_DELTA,
                               .bucket = 0,
                               .sku = {skus[i], (uint32_t)k},
                               .location = {"DC-EAST-1", 9},
                               .value = -3};
    }
    codec_src_msg m = {.source = {"wms-east", 8},
                       .seq = 123456789,
                       .ts_ms = 1795349398095,
                       .n_events = n,
                       .events = evs,
                       .session = 4677859682484036,
                       .mac = key};
    codec_src_encode(w, &m);
    size_t body_len;
    const void *body = codec_writer_data(w, &body_len);
    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(key, key_len, body, body_len, mac);
    codec_w_bin8(w, mac, sizeof mac);
    const void *all = codec_writer_data(w, len);
    uint8_t *copy = malloc(*len);
    if (copy == NULL || codec_writer_failed(w)) {
        fprintf(stderr, "bench_source_mac: cannot encode\n");
        exit(1);
    }
    memcpy(copy, all, *len);
    codec_writer_free(w);
    free(skus);
    free(evs);
    return copy;
}

int main(int argc, char **argv)
{
    const char *sizes = "1,25,100,1000";
    int rounds = 5;
    if (bench_cpu_args(argc, argv, "bench_source_mac", "--events", &sizes,
                       &rounds) != 0)
        return 2;
    /* a key as `openssl rand -hex 32` writes it: 64 bytes */
    const uint8_t key[] =
        "3f1c9a0e5b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468";
    printf("%8s %10s %12s %12s %8s\n", "events", "bytes", "decode_ns", "mac_ns",
           "mac/dec");
    for (const char *p = sizes; *p != '\0';) {
        unsigned n = (unsigned)strtoul(p, (char **)&p, 10);
        if (*p == ',')
            p++;
        mac_ctx c = {.key = key,
                     .key_len = sizeof key - 1,
                     .arena = codec_arena_alloc()};
        uint8_t *msg = make_msg(n, key, sizeof key - 1, &c.len);
        c.msg = msg;
        /* a message that does not decode or verify stops the program */
        double dec =
            bench_cpu_median_ns("bench_source_mac", call_decode, &c, rounds);
        double mac =
            bench_cpu_median_ns("bench_source_mac", call_mac, &c, rounds);
        printf("%8u %10zu %12.0f %12.0f %7.0f%%\n", n, c.len, dec, mac,
               100.0 * mac / dec);
        codec_arena_free(c.arena);
        free(msg);
    }
    return 0;
}
