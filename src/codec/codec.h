/*
 * codec.h - msgpack encoding and decoding for every atpd wire message.
 *
 * The only module that includes <msgpack.h>, and <jansson.h> (JSON request
 * bodies of the HTTP front end, json_read.c). Thread-safe as long as each
 * thread uses its own codec_arena and codec_writer.
 *
 * Decoding is two-staged: codec_precheck() walks the raw bytes first and
 * rejects declared container sizes that exceed the remaining input and
 * nesting deeper than ATP_MSG_MAX_DEPTH (msgpack-c 4.0 would otherwise
 * allocate whatever a 5-byte header declares). Only then is msgpack-c asked
 * to unpack, into the caller's arena.
 *
 * Decoded strings (codec_str) point into the input buffer: the input must
 * outlive the decoded value. Everything else a decode allocates lives in the
 * arena and is freed by codec_arena_clear()/codec_arena_free().
 */
#ifndef ATP_CODEC_H
#define ATP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"

typedef struct codec_str {
    const char *ptr; /* not NUL-terminated */
    uint32_t len;
} codec_str;

/* ---- arena ------------------------------------------------------------ */

typedef struct codec_arena codec_arena;

/* codec_arena_alloc returns a new arena or NULL on out of memory. */
codec_arena *codec_arena_alloc(void);
void codec_arena_free(codec_arena *a);
/* codec_arena_clear frees everything decoded into a, keeps a usable. */
void codec_arena_clear(codec_arena *a);
/* codec_arena_malloc allocates n bytes that live until the arena is cleared. */
void *codec_arena_malloc(codec_arena *a, size_t n);

/* ---- precheck --------------------------------------------------------- */

/* codec_precheck validates that buf[0..len) holds exactly one msgpack object
 * whose every declared length fits in the remaining bytes and whose nesting
 * is at most max_depth. Returns ATP_OK, ATP_E_TOO_LARGE (depth or sizes) or
 * ATP_E_BAD_REQUEST (truncated, trailing bytes, reserved byte 0xc1).
 * Depth counts containers: a scalar is depth 0, [] is 1, [[]] is 2; a
 * max_depth above 64 is treated as 64. "Sizes": a str/bin/ext length
 * longer than the bytes that follow, or an array (map) declaring more
 * elements (twice more entries) than bytes that follow. "Truncated": the
 * input ends inside a length field or fixed-size value, or before the last
 * element of a container. Empty input is BAD_REQUEST. Any thread. */
atp_err codec_precheck(const void *buf, size_t len, unsigned max_depth);

/* ---- generic values (for tools and tests) ----------------------------- */

typedef enum codec_type {
    CODEC_NIL,
    CODEC_BOOL,
    CODEC_INT,      /* positive or negative integer that fits int64 */
    CODEC_UINT_BIG, /* positive integer above INT64_MAX */
    CODEC_FLOAT,
    CODEC_STR,
    CODEC_BIN,
    CODEC_ARRAY,
    CODEC_MAP,
    CODEC_EXT,
} codec_type;

typedef struct codec_val codec_val; /* opaque, lives in an arena */

/* codec_decode prechecks (depth ATP_MSG_MAX_DEPTH) and unpacks buf into a
 * value tree in arena a. Returns ATP_OK, a codec_precheck error or
 * ATP_E_NOMEM. *out is valid until the arena is cleared and while buf
 * lives. The tree holds at most one 24-byte object per input byte. */
atp_err codec_decode(codec_arena *a, const void *buf, size_t len,
                     const codec_val **out);

/* Accessors take NULL and values of the wrong type: they then return false,
 * NULL, 0 (and codec_val_type() CODEC_NIL for NULL). */
codec_type codec_val_type(const codec_val *v);
bool codec_val_bool(const codec_val *v, bool *out);
bool codec_val_int(const codec_val *v, int64_t *out);   /* CODEC_INT only */
bool codec_val_uint(const codec_val *v, uint64_t *out); /* non-negative ints */
bool codec_val_float(const codec_val *v, double *out);  /* floats and ints */
bool codec_val_str(const codec_val *v, codec_str *out);
uint32_t codec_val_len(const codec_val *v); /* array/map length, else 0 */
const codec_val *codec_val_at(const codec_val *arr, uint32_t i);
const codec_val *codec_val_map_key(const codec_val *map, uint32_t i);
const codec_val *codec_val_map_value(const codec_val *map, uint32_t i);
/* codec_val_get returns the value of string key `key` in a map, or NULL.
 * With duplicate keys the first one wins. Linear in the map size. */
const codec_val *codec_val_get(const codec_val *map, const char *key);

/* codec_val_write_json writes v as one line of JSON (no newline) to f.
 * Binary and ext values are written as base64 strings; map keys that are
 * not strings are converted to their JSON text, in quotes ({1:2} gives
 * {"1":2}). Strings as codec_json_str writes them (invalid UTF-8 bytes
 * become U+FFFD, control characters \u00XX). Floats: %.17g, NaN and
 * infinities as null. On out of memory nothing is written. */
void codec_val_write_json(const codec_val *v, FILE *f);

/* codec_json_from_msgpack writes the msgpack object buf[0..len) as JSON,
 * byte for byte what codec_val_write_json writes for its decoded tree,
 * into a new buffer: *out (caller frees with free(), not NUL-terminated)
 * and *out_len. It reads the bytes in place (no tree, no arena) and
 * accepts what codec_decode accepts: one object, nested at most
 * ATP_MSG_MAX_DEPTH deep. Returns ATP_OK, codec_decode's error for the
 * same bytes (BAD_REQUEST, TOO_LARGE), or ATP_E_NOMEM. */
atp_err codec_json_from_msgpack(const void *buf, size_t len, char **out,
                                size_t *out_len);

/* ---- views: reading a message in place (the query server) ------------ */

/* A view is the position of one msgpack object inside a prechecked buffer;
 * p == NULL means "absent" (a missing field). Views allocate nothing and
 * are valid while the buffer lives. The accessors answer like their
 * codec_val_* counterparts for the same bytes and accept absent views. */
typedef struct codec_view {
    const uint8_t *p;
} codec_view;

/* codec_view_root prechecks buf[0..len) (depth ATP_MSG_MAX_DEPTH) and, on
 * ATP_OK, gives its object. Returns the codec_precheck error otherwise. */
atp_err codec_view_root(const void *buf, size_t len, codec_view *out);
codec_type codec_view_type(codec_view v);
bool codec_view_int(codec_view v, int64_t *out);   /* CODEC_INT only */
bool codec_view_uint(codec_view v, uint64_t *out); /* non-negative ints */
bool codec_view_str(codec_view v, codec_str *out);
bool codec_view_bool(codec_view v, bool *out);
uint32_t codec_view_len(codec_view v); /* array/map length, else 0 */
/* codec_view_get returns the value of the first string key `key` in map v;
 * absent if there is none or v is no map. Linear in the map's bytes. */
codec_view codec_view_get(codec_view v, const char *key);
/* codec_view_first returns a container's first child (for a map: the first
 * key; keys and values alternate), absent if v is empty or no container.
 * codec_view_next returns the object that follows v and its children in
 * the buffer: the next sibling. The caller counts (codec_view_len) and
 * never asks past the last child. Linear in the bytes passed over. */
codec_view codec_view_first(codec_view v);
codec_view codec_view_next(codec_view v);

/* ---- writer ----------------------------------------------------------- */

/* Writer errors are sticky: after a sink or allocation failure every later
 * write is dropped and codec_writer_failed() is true until reset/retarget.
 * codec_w_cstr(w, NULL) writes nil. */

/* codec_sink appends len bytes; returns 0 on success, non-zero on failure
 * (the writer then remembers the failure in codec_writer_failed). */
typedef int (*codec_sink)(void *ctx, const void *buf, size_t len);

typedef struct codec_writer codec_writer;

/* codec_writer_alloc returns a writer that appends to sink(ctx, ...).
 * With sink == NULL it appends to an internal growable buffer, readable with
 * codec_writer_data(); codec_writer_reset() empties it. */
codec_writer *codec_writer_alloc(codec_sink sink, void *ctx);
void codec_writer_free(codec_writer *w);
void codec_writer_reset(codec_writer *w);
/* codec_writer_retarget points an existing writer at another sink context
 * (e.g. the next nng message), clearing the failure flag. On a buffer
 * writer (sink NULL) ctx is unused and only the flag is cleared. */
void codec_writer_retarget(codec_writer *w, void *ctx);
const void *codec_writer_data(const codec_writer *w, size_t *len);
bool codec_writer_failed(const codec_writer *w);

/* codec_json_str writes s[0..n) as one JSON string literal, quotes
 * included, to sink(ctx, ...), piece by piece: '"' and '\\' escaped,
 * control characters (U+0000..U+001F, U+007F, U+0080..U+009F) as \u00XX,
 * valid UTF-8 as it is, every byte that is not part of a valid UTF-8
 * sequence as \ufffd. The output is valid UTF-8 JSON whatever s holds.
 * s may be NULL when n is 0. Returns 0, or the sink's first non-zero
 * result (the output then stops there). The project's one JSON string
 * escaper: atpd, atpctl, atp-feed and atp-bench all write through it.
 * Any thread. */
int codec_json_str(codec_sink sink, void *ctx, const char *s, size_t n);
/* codec_json_str_file is codec_json_str to a stdio stream: 0, or EOF if
 * a write failed. */
int codec_json_str_file(FILE *f, const char *s, size_t n);

void codec_w_nil(codec_writer *w);
void codec_w_bool(codec_writer *w, bool b);
void codec_w_int(codec_writer *w, int64_t i);
void codec_w_uint(codec_writer *w, uint64_t u);
void codec_w_double(codec_writer *w, double d);
void codec_w_str(codec_writer *w, const char *s, size_t len);
void codec_w_cstr(codec_writer *w, const char *s); /* NUL-terminated */
/* codec_w_bin8 writes n <= 255 bytes as bin 8 (0xc4 n bytes): a source
 * message's MAC (docs/PROTOCOL.md, "Source keys"). */
void codec_w_bin8(codec_writer *w, const void *p, uint8_t n);
void codec_w_array(codec_writer *w, uint32_t n);
void codec_w_map(codec_writer *w, uint32_t n);
/* codec_w_kv_* write one key (C string) and a value: for map bodies. They
 * are inline so that the length of a literal key is known when compiling
 * (replies are mostly keys); codec_w_kvn_* take the key's length. */
void codec_w_kvn_int(codec_writer *w, const char *key, size_t kn, int64_t i);
void codec_w_kvn_uint(codec_writer *w, const char *key, size_t kn, uint64_t u);
void codec_w_kvn_bool(codec_writer *w, const char *key, size_t kn, bool b);
void codec_w_kvn_str(codec_writer *w, const char *key, size_t kn, const char *s,
                     size_t n);

static inline void codec_w_kv_int(codec_writer *w, const char *key, int64_t i)
{
    codec_w_kvn_int(w, key, strlen(key), i);
}

static inline void codec_w_kv_uint(codec_writer *w, const char *key, uint64_t u)
{
    codec_w_kvn_uint(w, key, strlen(key), u);
}

/* codec_w_kv_count writes a counter as min(u, ATP_WIRE_INT_MAX): every
 * JSON reader holds it exactly, and a counter that gets there (centuries
 * of traffic; a byte count sooner) stops there (PROTOCOL.md, "Numbers"). */
static inline void codec_w_kv_count(codec_writer *w, const char *key,
                                    uint64_t u)
{
    codec_w_kv_uint(w, key,
                    u > (uint64_t)ATP_WIRE_INT_MAX ? (uint64_t)ATP_WIRE_INT_MAX
                                                   : u);
}

static inline void codec_w_kv_bool(codec_writer *w, const char *key, bool b)
{
    codec_w_kvn_bool(w, key, strlen(key), b);
}

static inline void codec_w_kv_str(codec_writer *w, const char *key,
                                  const char *s, size_t n)
{
    codec_w_kvn_str(w, key, strlen(key), s, n);
}

/* s == NULL writes nil */
static inline void codec_w_kv_cstr(codec_writer *w, const char *key,
                                   const char *s)
{
    if (s == NULL) {
        codec_w_cstr(w, key);
        codec_w_nil(w);
        return;
    }
    codec_w_kvn_str(w, key, strlen(key), s, strlen(s));
}
/* codec_w_val re-encodes a decoded value (tools forwarding, round trips). */
void codec_w_val(codec_writer *w, const codec_val *v);

/* ---- JSON requests (the HTTP front end; json_read.c, jansson) ---------- */

/* A field of the request that the HTTP route supplies (from the path or
 * the query string): a string, or an integer when is_int. */
typedef struct codec_json_field {
    const char *key; /* NUL-terminated */
    codec_str str;
    bool is_int;
    int64_t i;
    bool is_bool; /* a boolean b instead (a query's true or false) */
    bool b;
} codec_json_field;

typedef struct codec_json_opts {
    const codec_json_field *fields; /* written first; they win over body
                                       members of the same name */
    size_t n_fields;
    bool line_qty; /* lines given as objects carry qty (cart, reserve) */
    /* Lines given as objects are [sku, qty] (pickup_cart: one region for
     * the cart); overrides line_qty. */
    bool line_sku_qty;
    /* With line_qty: a line object's "location" member, when it has one,
     * becomes a 4th member [sku, region, qty, location] (reserve). */
    bool line_pin;
} codec_json_opts;

/* codec_json_request writes to w one msgpack map: opts->fields, then every
 * member of the JSON object body[0..len) whose name is not a field's (len
 * 0: no body). Members of "lines" given as objects {"sku", "region",
 * "qty"} become arrays [sku, region, qty] ([sku, region] without
 * line_qty, [sku, qty] with line_sku_qty, [sku, region, qty, location]
 * with line_pin when "location" is there; an absent member is nil);
 * arrays pass as they are. Numbers:
 * an integral value within +-(2^53-1) is an integer, a larger one INT64_MAX
 * or INT64_MIN (out of every field's range), a fractional one a float.
 * Returns ATP_OK; ATP_E_BAD_REQUEST (malformed JSON, invalid UTF-8, a NUL
 * in a string, a duplicate key, a body that is no object) or
 * ATP_E_TOO_LARGE (nesting deeper than ATP_MSG_MAX_DEPTH, counted as
 * codec_precheck counts it) with a printable message in msg[0..msg_cap);
 * ATP_E_NOMEM when w failed. Any thread. */
atp_err codec_json_request(codec_writer *w, const codec_json_opts *opts,
                           const char *body, size_t len, char *msg,
                           size_t msg_cap);

/* codec_json_to_msgpack writes the JSON value text[0..len) to w as
 * msgpack, as it is: objects as maps in member order, arrays, strings,
 * true/false/null, numbers by codec_json_request's rules (an integral
 * value within +-(2^53-1) an integer). For a client reading atpd's JSON
 * replies (atpctl over HTTP), which its msgpack readers then render.
 * Returns ATP_OK; ATP_E_BAD_REQUEST (malformed JSON, invalid UTF-8, a
 * duplicate key) or ATP_E_TOO_LARGE (nested deeper than
 * ATP_MSG_MAX_DEPTH) with a printable message in msg[0..msg_cap);
 * ATP_E_NOMEM when w failed. Any thread. */
atp_err codec_json_to_msgpack(codec_writer *w, const char *text, size_t len,
                              char *msg, size_t msg_cap);

/* ---- source messages (ingest) ----------------------------------------- */

/* Longest optional ref of a DELTA event (bytes). */
#define CODEC_REF_MAX_LEN ATP_RESV_ID_MAX_LEN

typedef struct codec_event {
    uint8_t kind;   /* enum atp_event_kind */
    uint8_t bucket; /* enum atp_bucket, for DELTA and SET */
    codec_str sku;
    codec_str location;
    int64_t
        value; /* delta (DELTA), value (SET), lot quantity (LOT_ADD/CHANGE) */
    codec_str ref;  /* DELTA: optional order / reservation reference;
                       LOT_*: the lot id (len 0: none) */
    int64_t eta_ms; /* LOT_ADD / LOT_CHANGE: expected arrival, wall clock */
} codec_event;

typedef struct codec_src_msg {
    codec_str source;
    uint64_t seq; /* batch: its sequence; snapshot: consistent with */
    uint64_t ts_ms;
    uint32_t n_events;
    codec_event *events;  /* in the arena */
    uint8_t kind;         /* ATP_MSG_SNAPSHOT, else a batch (0 encodes as 1) */
    uint64_t snapshot_id; /* snapshot only */
    uint32_t part;        /* snapshot only: 0, 1, 2, ... */
    bool last;            /* snapshot only: the final part */
    uint64_t session;     /* the publisher's session; 0: none sent */
    /* decode: the MAC's 32 bytes (in buf, its last ones), NULL: none sent.
     * encode: non-NULL writes the envelope one longer, for the MAC the
     * caller appends (0xc4 0x20 and the 32 bytes, wire.h); not read. */
    const uint8_t *mac;
} codec_src_msg;

/* codec_src_decode decodes and validates a whole source message: envelope
 * shape, every event's kind and arity, SKU 1..ATP_SKU_MAX_LEN printable
 * bytes, location 1..ATP_ID_MAX_LEN, bucket < ATP_BUCKET_COUNT,
 * |value| <= ATP_QTY_MAX, ref 1..CODEC_REF_MAX_LEN, at most max_events
 * events. Any violation rejects the whole message: returns the error
 * (BAD_REQUEST, TOO_LARGE, BAD_SKU, BAD_QTY, BAD_BUCKET, BAD_EVENT, BAD_ID,
 * TOO_MANY_LINES, NOMEM; source_msg.c lists which check gives which) and
 * leaves *out undefined. Strings in *out point into buf; events (NULL when
 * there are none) live in arena a. Any thread.
 * On error, *bad_event (if not NULL) gets the index of the offending event
 * or UINT32_MAX for the envelope. */
atp_err codec_src_decode(codec_arena *a, const void *buf, size_t len,
                         uint32_t max_events, codec_src_msg *out,
                         uint32_t *bad_event);

/* codec_src_encode writes a whole source message (used by atp-feed, tests).
 * With m->session set it is written after the events; with m->mac set the
 * envelope counts one more element, which the caller appends.
 * A DELTA's ref is written only when ref.len > 0; events of other kinds
 * than DELTA and SET are written as [kind]. */
void codec_src_encode(codec_writer *w, const codec_src_msg *m);

/* ---- resync requests (ingest -> a source's atp-feed) ------------------- */

/* One request on the resync control socket (docs/PROTOCOL.md, "Resync"):
 * the topic "resync" NUL source NUL, then the map {"source", "mode",
 * "from_seq", "request_id", "ts_ms"}. */
typedef struct codec_resync_req {
    codec_str source;    /* 1..ATP_ID_MAX_LEN bytes, no NUL */
    bool snapshot;       /* mode "snapshot"; false: "replay" */
    uint64_t from_seq;   /* replay: the first seq to resend */
    uint64_t request_id; /* per atpd run; written as at most 2^53-1 */
    int64_t ts_ms;       /* when asked (wall clock) */
} codec_resync_req;

/* codec_resync_encode writes a whole request, topic included, into w
 * (whose buffer then holds the message to send). Any thread. */
void codec_resync_encode(codec_writer *w, const codec_resync_req *r);

/* codec_resync_decode reads a whole request buf[0..len): the topic with a
 * non-empty source id, then a map whose "mode" is "replay" or "snapshot";
 * from_seq, request_id (unsigned) and ts_ms (integer) are 0 when absent.
 * Returns ATP_OK, ATP_E_BAD_REQUEST (not such a request), a precheck error
 * or ATP_E_NOMEM. out->source points into buf; the decode uses arena a. */
atp_err codec_resync_decode(codec_arena *a, const void *buf, size_t len,
                            codec_resync_req *out);

/* ---- change-feed messages (changes -> subscribers) --------------------- */

/* A change-feed message (docs/PROTOCOL.md, "Change feed"): the topic "atp"
 * NUL region NUL sku NUL, then the body map {"seq", "region_seq",
 * "key_seq", "ts_ms", "sku", "region", "supply", "reserved", "shortfall",
 * "stale", "channels": [{"channel", "atp", "buffer", "rule",
 * "out_of_stock", "low_stock", "transitions": [names], and
 * "backorder_budget", "backorder_used" when the budget is above 0}]}. */
enum codec_feed_mark { /* transitions, written in this order */
                       CODEC_FEED_OUT_OF_STOCK = 1u << 0,
                       CODEC_FEED_BACK_IN_STOCK = 1u << 1,
                       CODEC_FEED_LOW_STOCK = 1u << 2,
};
#define CODEC_FEED_MARKS 3

typedef struct codec_feed_channel {
    codec_str channel;
    int64_t atp, buffer;
    codec_str rule; /* the matched rule's level name */
    bool out_of_stock, low_stock;
    unsigned marks; /* enum codec_feed_mark bits */
    /* The matched rule's backorder budget and its use; written (and read
     * back) only when the budget is above 0. */
    int64_t backorder_budget, backorder_used;
} codec_feed_channel;

typedef struct codec_feed_msg {
    /* Several partitions of a cluster: the partition whose owner numbered
     * the sequences; length 0: none (not written). */
    codec_str partition;
    uint64_t seq, region_seq, key_seq;
    int64_t ts_ms;
    codec_str sku, region;
    int64_t supply, reserved, shortfall;
    bool stale;
    uint32_t n_channels;
    const codec_feed_channel *channels; /* decode: in the arena */
} codec_feed_msg;

/* codec_feed_mark_name: the wire name of bit i (0..CODEC_FEED_MARKS-1). */
const char *codec_feed_mark_name(unsigned i);

/* codec_feed_encode writes a whole message, topic included, into w (a
 * buffer writer: sink NULL); the body (what the HTTP event stream carries)
 * starts at *body_off of codec_writer_data. region and sku must hold no
 * NUL. Any thread. */
void codec_feed_encode(codec_writer *w, const codec_feed_msg *m,
                       size_t *body_off);

/* One pickup feed message (docs/PROTOCOL.md, "Pickup feed"): a pickup
 * location's own state for one SKU. */
typedef struct codec_feed_pickup {
    uint64_t seq, location_seq;
    int64_t ts_ms;
    codec_str location, sku, region;
    bool pickup;
    int64_t net, reserved, buffer, available;
} codec_feed_pickup;

/* codec_feed_pickup_encode writes a whole pickup message, its topic
 * "pickup" NUL location NUL sku NUL included, into w (a buffer writer).
 * location and sku must hold no NUL. Any thread. */
void codec_feed_pickup_encode(codec_writer *w, const codec_feed_pickup *m);

/* codec_feed_topic writes only the topic for region and sku (atpctl turns
 * an HTTP event back into the PUB message it is). */
void codec_feed_topic(codec_writer *w, codec_str region, codec_str sku);

/* codec_feed_split splits msg[0..len) into its topic (non-empty region
 * and sku, pointing into msg) and the body after it. false: the message
 * does not start with such a topic. */
bool codec_feed_split(const void *msg, size_t len, codec_str *region,
                      codec_str *sku, const void **body, size_t *body_len);

/* codec_feed_decode reads a whole message: the topic, then a body with
 * every key above of its type (other keys ignored; a transition name not
 * known here ignored). Returns ATP_OK, ATP_E_BAD_REQUEST, a precheck error
 * or ATP_E_NOMEM. Strings point into msg; channels live in arena a. */
atp_err codec_feed_decode(codec_arena *a, const void *msg, size_t len,
                          codec_feed_msg *out);

/* ---- validation helpers shared by decoders ---------------------------- */

/* codec_str_is_id: 1..max bytes, printable (valid UTF-8, no C0 or C1
 * control characters, no DEL). */
bool codec_str_is_id(codec_str s, uint32_t max);
/* codec_str_to_text copies in[0..len) into out as printable UTF-8 text:
 * printable characters as they are, every other byte (invalid UTF-8, C0 or
 * C1 control, DEL) as the four characters \xHH, so that whatever a client
 * sent can be echoed back to it. Stops before a character that would not
 * fit whole. out (cap >= 1 bytes) is NUL-terminated; returns its length. */
size_t codec_str_to_text(char *out, size_t cap, const char *in, size_t len);
bool codec_str_eq(codec_str s, const char *cstr);

#endif
