/*
 * fuzz_json.c - libFuzzer target for the HTTP front end's JSON bodies:
 * codec_json_request, which turns a request body into the msgpack map
 * request_handle reads (src/http/mhd.c), and codec_json_to_msgpack, which
 * reads atpd's JSON replies in atpctl over HTTP.
 *
 * Input: [control byte] [JSON text]. Control bit 0: line_qty (the cart and
 * reserve routes); bit 1: the route supplies fields from the path and
 * query string (op, sku, an integer qty) and the token, as mhd.c does.
 *
 * Checks: an accepted body becomes one msgpack map that decodes within
 * ATP_MSG_MAX_DEPTH, with one entry per field plus one per body member
 * that is not a field, every string valid UTF-8; a refusal has a printable
 * message (it goes back to the client). Single-threaded.
 */
#include <string.h>

#include "atp/wire.h"
#include "fuzz.h"

static codec_writer *fuzz_w;
static codec_arena *fuzz_arena;

/* fuzz_json_after checks one call's outcome; want_map: a request map. */
static void fuzz_json_after(atp_err err, const char *msg, size_t msg_cap,
                            bool want_map, uint32_t min_entries)
{
    if (err != ATP_OK) {
        size_t n = strnlen(msg, msg_cap);
        fuzz_check(err == ATP_E_BAD_REQUEST || err == ATP_E_TOO_LARGE,
                   "a JSON body refused with an unexpected code");
        fuzz_check(n > 0 && n < msg_cap &&
                       codec_str_is_id((codec_str){msg, (uint32_t)n},
                                       (uint32_t)msg_cap),
                   "a refusal's message is empty or not printable UTF-8");
        return;
    }
    size_t len;
    const void *bytes = codec_writer_data(fuzz_w, &len);
    fuzz_check(!codec_writer_failed(fuzz_w), "writer failed");
    const codec_val *v;
    codec_arena_clear(fuzz_arena);
    fuzz_check(
        codec_decode(fuzz_arena, bytes, len, &v) == ATP_OK,
        "an accepted body is not one msgpack value within the depth limit");
    fuzz_check(
        !want_map ||
            (codec_val_type(v) == CODEC_MAP && codec_val_len(v) >= min_entries),
        "an accepted request body is not a map holding the route's fields");
    fuzz_check_sent(v, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_w == NULL) {
        fuzz_logs_all();
        fuzz_w = codec_writer_alloc(NULL, NULL);
        fuzz_arena = codec_arena_alloc();
        fuzz_check(fuzz_w && fuzz_arena, "setup");
    }
    if (size == 0)
        return 0;
    size_t len = size - 1;
    char *body =
        malloc(len ? len : 1); /* exactly len: ASan sees a read past it */
    fuzz_check(body != NULL, "out of memory");
    memcpy(body, data + 1, len);
    static const codec_json_field fields[] = {
        {.key = "op", .str = {"cart", 4}},
        {.key = "sku", .str = {"SKU-1", 5}},
        {.key = "qty", .is_int = true, .i = 3},
        {.key = "token", .str = {"", 0}},
    };
    codec_json_opts opts = {.line_qty = data[0] & 1};
    if (data[0] & 2) {
        opts.fields = fields;
        opts.n_fields = sizeof fields / sizeof fields[0];
    }
    char msg[200];
    codec_writer_reset(fuzz_w);
    atp_err err = codec_json_request(fuzz_w, &opts, body, len, msg, sizeof msg);
    fuzz_json_after(err, msg, sizeof msg, true, (uint32_t)opts.n_fields);

    if (len > 0) {
        codec_writer_reset(fuzz_w);
        err = codec_json_to_msgpack(fuzz_w, body, len, msg, sizeof msg);
        fuzz_json_after(err, msg, sizeof msg, false, 0);
    }
    free(body);
    return 0;
}
