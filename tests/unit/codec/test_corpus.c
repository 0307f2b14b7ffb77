/*
 * test_corpus.c - robustness replay of the codec: every seed in the corpus
 * directory (tests/corpus/codec) and a few thousand deterministic mutations
 * of them go through codec_precheck, codec_decode, codec_val_write_json and
 * codec_src_decode. Single-threaded.
 *
 * Checks: no crash (run it under ASan/UBSan); codec_decode agrees with
 * codec_precheck (a disagreement means msgpack-c parses differently from our
 * walk); codec_view_root agrees with both and its in-place reading gives
 * the same types, lengths, integers and strings as the decoded tree, at
 * every node; every decoded value re-encodes to bytes that decode again and
 * re-encode identically; every decoded source message re-encodes to one that
 * decodes to the same content; each seed gives the result its name states.
 *
 * The corpus directory comes from argv[1], else from the compile definition
 * ATP_CODEC_CORPUS_DIR. Without either the test fails (it must not pass by
 * testing nothing).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"

#define CORPUS_MAX_FILES 256
#define CORPUS_MAX_SIZE (64 * 1024)
#define MUTATIONS_TOTAL 20000
#define MAX_EVENTS 100000

typedef struct seed {
    char name[256];
    uint8_t *data;
    size_t len;
} seed;

static const char *corpus_dir;
static seed seeds[CORPUS_MAX_FILES];
static size_t n_seeds;

/* Outcome counters, so the test can prove that mutations reached both the
 * accepting and the rejecting paths. */
static unsigned n_decoded, n_src_decoded, n_rejected;

static FILE *devnull;
static codec_arena *arena, *arena2;
static codec_writer *w1, *w2;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const seed *)a)->name, ((const seed *)b)->name);
}

static int load_corpus(void **state)
{
    (void)state;
    if (corpus_dir == NULL) {
        fprintf(stderr, "no corpus dir: pass it as argv[1] or compile with "
                        "-DATP_CODEC_CORPUS_DIR\n");
        return -1;
    }
    DIR *d = opendir(corpus_dir);
    if (d == NULL) {
        perror(corpus_dir);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n_seeds < CORPUS_MAX_FILES) {
        size_t nl = strlen(de->d_name);
        if (nl < 9 || strcmp(de->d_name + nl - 8, ".msgpack") != 0 ||
            nl >= sizeof(seeds[0].name)) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", corpus_dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            perror(path);
            closedir(d);
            return -1;
        }
        seed *s = &seeds[n_seeds];
        s->data = malloc(CORPUS_MAX_SIZE);
        if (s->data == NULL) {
            fclose(f);
            closedir(d);
            return -1;
        }
        s->len = fread(s->data, 1, CORPUS_MAX_SIZE, f);
        fclose(f);
        memcpy(s->name, de->d_name, nl + 1);
        n_seeds++;
    }
    closedir(d);
    /* readdir order varies between file systems: sort for determinism */
    qsort(seeds, n_seeds, sizeof(seeds[0]), cmp_name);

    devnull = fopen("/dev/null", "w");
    arena = codec_arena_alloc();
    arena2 = codec_arena_alloc();
    w1 = codec_writer_alloc(NULL, NULL);
    w2 = codec_writer_alloc(NULL, NULL);
    if (devnull == NULL || !arena || !arena2 || !w1 || !w2) {
        return -1;
    }
    return 0;
}

static int free_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_seeds; i++) {
        free(seeds[i].data);
    }
    if (devnull != NULL) {
        fclose(devnull);
    }
    codec_arena_free(arena);
    codec_arena_free(arena2);
    codec_writer_free(w1);
    codec_writer_free(w2);
    return 0;
}

static void expect_same_msg(const codec_src_msg *x, const codec_src_msg *y)
{
    assert_int_equal(x->source.len, y->source.len);
    assert_memory_equal(x->source.ptr, y->source.ptr, x->source.len);
    assert_true(x->seq == y->seq && x->ts_ms == y->ts_ms);
    assert_int_equal(x->n_events, y->n_events);
    for (uint32_t i = 0; i < x->n_events; i++) {
        const codec_event *a = &x->events[i], *b = &y->events[i];
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->bucket, b->bucket);
        assert_true(a->value == b->value);
        assert_int_equal(a->sku.len, b->sku.len);
        assert_int_equal(a->location.len, b->location.len);
        assert_int_equal(a->ref.len, b->ref.len);
        if (a->sku.len > 0) {
            assert_memory_equal(a->sku.ptr, b->sku.ptr, a->sku.len);
        }
        if (a->location.len > 0) {
            assert_memory_equal(a->location.ptr, b->location.ptr,
                                a->location.len);
        }
        if (a->ref.len > 0) {
            assert_memory_equal(a->ref.ptr, b->ref.ptr, a->ref.len);
        }
    }
}

/* expect_lookup: codec_view_get(v, name) is the object codec_val_get
 * finds in the decoded map t, at the same place in the bytes (the first of
 * duplicate keys), or absent where the tree has none. */
static void expect_lookup(const codec_val *t, codec_view v, const char *name)
{
    const codec_val *want = codec_val_get(t, name);
    codec_view got = codec_view_get(v, name);
    if (want == NULL) {
        assert_null(got.p);
        return;
    }
    uint32_t n = codec_val_len(t), j = 0;
    while (j < n && codec_val_map_value(t, j) != want)
        j++;
    assert_true(j < n);
    codec_view at = codec_view_first(v);
    for (uint32_t step = 0; step < 2 * j + 1; step++)
        at = codec_view_next(at);
    assert_ptr_equal(got.p, at.p);
}

/* same_lookup: the string key `key` of map t (view v) is found where the
 * tree finds it, and a key one bit away from it where the tree does (most
 * often: nowhere), so a lookup that compares lengths only fails here. */
static void same_lookup(const codec_val *t, codec_view v, const codec_val *key)
{
    codec_str ks;
    char name[64];
    if (!codec_val_str(key, &ks) || ks.len == 0 || ks.len >= sizeof name ||
        memchr(ks.ptr, 0, ks.len) != NULL)
        return;
    memcpy(name, ks.ptr, ks.len);
    name[ks.len] = 0;
    expect_lookup(t, v, name);
    name[ks.len - 1] ^= 1;
    if (name[ks.len - 1] != 0)
        expect_lookup(t, v, name);
}

/* same_as_view: the view at v reads like the decoded tree at t, children
 * included, and returns the view that follows it. */
static codec_view same_as_view(const codec_val *t, codec_view v)
{
    codec_type ty = codec_val_type(t);
    assert_int_equal(codec_view_type(v), ty);
    assert_int_equal(codec_view_len(v), codec_val_len(t));
    int64_t i1 = 0, i2 = 0;
    assert_int_equal(codec_view_int(v, &i1), codec_val_int(t, &i2));
    assert_true(i1 == i2);
    uint64_t u1 = 0, u2 = 0;
    assert_int_equal(codec_view_uint(v, &u1), codec_val_uint(t, &u2));
    assert_true(u1 == u2);
    codec_str s1 = {0}, s2 = {0};
    assert_int_equal(codec_view_str(v, &s1), codec_val_str(t, &s2));
    assert_int_equal(s1.len, s2.len);
    if (s1.len > 0) /* where an empty string points does not matter */
        assert_ptr_equal(s1.ptr, s2.ptr);
    bool b1 = false, b2 = false;
    assert_int_equal(codec_view_bool(v, &b1), codec_val_bool(t, &b2));
    assert_int_equal(b1, b2);
    uint32_t n = codec_val_len(t);
    codec_view c = codec_view_first(v);
    if (n == 0)
        assert_null(c.p);
    for (uint32_t k = 0; k < n; k++) {
        if (ty == CODEC_ARRAY) {
            c = same_as_view(codec_val_at(t, k), c);
        } else {
            same_lookup(t, v, codec_val_map_key(t, k));
            c = same_as_view(codec_val_map_key(t, k), c);
            c = same_as_view(codec_val_map_value(t, k), c);
        }
    }
    codec_view next = codec_view_next(v);
    if (n > 0)
        assert_ptr_equal(next.p, c.p);
    return next;
}

/* check_generic: precheck and codec_decode agree; a decoded tree survives
 * JSON output and re-encodes to a fixed point. */
static void check_generic(const uint8_t *buf, size_t len)
{
    atp_err pre = codec_precheck(buf, len, ATP_MSG_MAX_DEPTH);
    const codec_val *v = NULL;
    codec_arena_clear(arena);
    atp_err dec = codec_decode(arena, buf, len, &v);
    if (dec != pre) {
        fail_msg("precheck says %s, codec_decode %s", atp_err_name(pre),
                 atp_err_name(dec));
    }
    codec_view root;
    assert_int_equal(codec_view_root(buf, len, &root), dec);
    if (dec != ATP_OK) {
        n_rejected++;
        return;
    }
    n_decoded++;
    assert_ptr_equal(same_as_view(v, root).p, buf + len);
    codec_val_write_json(v, devnull);

    codec_writer_reset(w1);
    codec_w_val(w1, v);
    size_t l1;
    const void *b1 = codec_writer_data(w1, &l1);
    assert_false(codec_writer_failed(w1));
    const codec_val *v2 = NULL;
    codec_arena_clear(arena2);
    assert_int_equal(codec_decode(arena2, b1, l1, &v2), ATP_OK);
    assert_int_equal(codec_val_type(v2), codec_val_type(v));
    assert_int_equal(codec_val_len(v2), codec_val_len(v));
    codec_writer_reset(w2);
    codec_w_val(w2, v2);
    size_t l2;
    const void *b2 = codec_writer_data(w2, &l2);
    assert_int_equal(l2, l1);
    assert_memory_equal(b2, b1, l1);
}

/* check_source returns codec_src_decode's result for buf, after checking
 * that an accepted message round-trips and a rejected one was rejected for
 * a reason the header documents. */
static atp_err check_source(const uint8_t *buf, size_t len)
{
    codec_src_msg m;
    uint32_t bad = 0;
    codec_arena_clear(arena);
    atp_err err = codec_src_decode(arena, buf, len, MAX_EVENTS, &m, &bad);
    atp_err pre = codec_precheck(buf, len, ATP_MSG_MAX_DEPTH);
    if (pre != ATP_OK) {
        assert_int_equal(err, pre);
        assert_int_equal(bad, UINT32_MAX);
        return err;
    }
    switch (err) {
    case ATP_OK:
        break;
    case ATP_E_BAD_REQUEST: /* the envelope or a field of an event */
        return err;
    case ATP_E_TOO_MANY_LINES:
        assert_int_equal(bad, UINT32_MAX);
        return err;
    case ATP_E_BAD_SKU:
    case ATP_E_BAD_QTY:
    case ATP_E_BAD_BUCKET:
    case ATP_E_BAD_EVENT:
    case ATP_E_BAD_ID:
        assert_true(bad != UINT32_MAX); /* only events give these */
        return err;
    default:
        fail_msg("undocumented error %s", atp_err_name(err));
    }
    n_src_decoded++;
    for (uint32_t i = 0; i < m.n_events; i++) {
        const codec_event *e = &m.events[i];
        assert_true(e->kind >= ATP_EV_DELTA && e->kind <= ATP_EV_HEARTBEAT);
        if (e->kind != ATP_EV_HEARTBEAT) {
            assert_true(codec_str_is_id(e->sku, ATP_SKU_MAX_LEN));
            assert_true(codec_str_is_id(e->location, ATP_ID_MAX_LEN));
            assert_true(e->bucket < ATP_BUCKET_COUNT);
            assert_true(e->value >= -ATP_QTY_MAX && e->value <= ATP_QTY_MAX);
        }
    }
    codec_writer_reset(w1);
    codec_src_encode(w1, &m);
    size_t l1;
    const void *b1 = codec_writer_data(w1, &l1);
    assert_false(codec_writer_failed(w1));
    codec_src_msg m2;
    codec_arena_clear(arena2);
    assert_int_equal(codec_src_decode(arena2, b1, l1, MAX_EVENTS, &m2, &bad),
                     ATP_OK);
    expect_same_msg(&m, &m2);
    return ATP_OK;
}

/* Each seed gives the result its file name states: "<wire name>--...". */
static void test_corpus_seeds(void **state)
{
    (void)state;
    assert_true(n_seeds >= 10);
    for (size_t i = 0; i < n_seeds; i++) {
        const seed *s = &seeds[i];
        check_generic(s->data, s->len);
        atp_err err = check_source(s->data, s->len);
        const char *sep = strstr(s->name, "--");
        assert_non_null(sep);
        size_t nl = (size_t)(sep - s->name);
        const char *got = atp_err_name(err);
        if (strlen(got) != nl || strncmp(got, s->name, nl) != 0) {
            fail_msg("%s: codec_src_decode returned %s", s->name, got);
        }
    }
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* xorshift64*: deterministic across platforms */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t n)
{
    return n ? rng_next() % n : 0;
}

/* Bytes that change the meaning of a msgpack stream the most. */
static const uint8_t interesting[] = {
    0x00, 0x01, 0x03, 0x05, 0x7f, 0x80, 0x8f, 0x90, 0x91, 0x95, 0x9f, 0xa0,
    0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xc9, 0xca, 0xcb, 0xcc, 0xcf,
    0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

/* mutate applies 1..3 random edits (mostly 1) to buf[0..*len) (capacity
 * cap). */
static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    unsigned edits = 1 + (rng_below(4) == 0 ? (unsigned)rng_below(3) : 0);
    for (unsigned e = 0; e < edits; e++) {
        size_t n = *len;
        switch (rng_below(8)) {
        case 0: /* flip a bit */
            if (n > 0) {
                buf[rng_below(n)] ^= (uint8_t)(1u << rng_below(8));
            }
            break;
        case 1: /* overwrite with an interesting byte */
        case 2:
            if (n > 0) {
                buf[rng_below(n)] = interesting[rng_below(sizeof(interesting))];
            }
            break;
        case 3: /* insert a byte */
            if (n < cap) {
                size_t at = rng_below(n + 1);
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = (uint8_t)rng_next();
                (*len)++;
            }
            break;
        case 4: /* delete a byte */
            if (n > 0) {
                size_t at = rng_below(n);
                memmove(buf + at, buf + at + 1, n - at - 1);
                (*len)--;
            }
            break;
        case 5: /* truncate */
            *len = rng_below(n + 1);
            break;
        case 6: { /* splice the tail of another seed */
            const seed *o = &seeds[rng_below(n_seeds)];
            size_t at = rng_below(n + 1);
            size_t from = rng_below(o->len + 1);
            size_t take = o->len - from;
            if (take > cap - at) {
                take = cap - at;
            }
            memcpy(buf + at, o->data + from, take);
            *len = at + take;
            break;
        }
        default: /* set a 16-bit big-endian length-like field to an edge */
            if (n >= 2) {
                static const uint16_t edges[] = {0, 1, 0x7fff, 0xffff};
                size_t at = rng_below(n - 1);
                uint16_t v = edges[rng_below(4)];
                buf[at] = (uint8_t)(v >> 8);
                buf[at + 1] = (uint8_t)v;
            }
            break;
        }
    }
}

static void test_corpus_mutations(void **state)
{
    (void)state;
    assert_true(n_seeds > 0);
    size_t cap = 2 * CORPUS_MAX_SIZE;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    n_decoded = n_src_decoded = n_rejected = 0;
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (unsigned i = 0; i < MUTATIONS_TOTAL; i++) {
        const seed *s = &seeds[i % n_seeds];
        memcpy(buf, s->data, s->len);
        size_t len = s->len;
        mutate(buf, &len, cap);
        check_generic(buf, len);
        check_source(buf, len);
    }
    free(buf);
    printf("mutations: %u decoded, %u rejected, %u valid source messages\n",
           n_decoded, n_rejected, n_src_decoded);
    /* both paths must have been exercised for the test to mean anything */
    assert_true(n_decoded > MUTATIONS_TOTAL / 20);
    assert_true(n_rejected > MUTATIONS_TOTAL / 20);
    assert_true(n_src_decoded > MUTATIONS_TOTAL / 100);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        corpus_dir = argv[1];
    } else {
#ifdef ATP_CODEC_CORPUS_DIR
        corpus_dir = ATP_CODEC_CORPUS_DIR;
#endif
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_seeds),
        cmocka_unit_test(test_corpus_mutations),
    };
    return cmocka_run_group_tests(tests, load_corpus, free_corpus);
}
