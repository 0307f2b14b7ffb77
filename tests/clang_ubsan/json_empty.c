/*
 * json_empty.c - issue 12, defect 10: an empty msgpack string written as
 * JSON, under clang's UndefinedBehaviorSanitizer. Single-threaded.
 *
 * msgpack-c decodes an empty string (or bin) that comes before any other
 * string of a message with a NULL pointer; the JSON writer used to compute
 * NULL + 0 on it. C says that is undefined and clang's UBSan reports it
 * ("applying zero offset to null pointer"); GCC's UBSan does not check it,
 * so unit.codec.json (built by the project's compiler) cannot catch it.
 * run.sh builds this driver and src/codec with clang -fsanitize=undefined
 * -fno-sanitize-recover=all: the report aborts the driver, a failure.
 * Every case goes through codec_json_from_msgpack too (the bytes read in
 * place: the HTTP replies), which must give the same text.
 *
 * Exit status: 0 when every case gives the expected JSON, 1 when one does
 * not; a UBSan report ends the process with a non-zero status first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"

typedef struct json_case {
    const char *msgpack; /* bytes */
    size_t len;
    const char *want;
} json_case;

#define CASE(lit, want)                                                        \
    {                                                                          \
        lit, sizeof(lit) - 1, want                                             \
    }

static const json_case json_cases[] = {
    CASE("\xa0", "\"\""),                  /* an empty str alone */
    CASE("\xc4\x00", "\"\""),              /* an empty bin */
    CASE("\x92\xa0\xa1x", "[\"\",\"x\"]"), /* before another string */
    CASE("\x81\xa0\xa0", "{\"\":\"\"}"),   /* an empty key and value */
    CASE("\x81\x01\xa0", "{\"1\":\"\"}"),  /* after an integer key */
    CASE("\x82\xa2op\xa0\xa1k\xa0",
         "{\"op\":\"\",\"k\":\"\"}"), /* later ones */
};

/* json_empty_check returns 0 when the msgpack bytes of c are written as
 * c->want, else 1 (and says why on stderr). */
static int json_empty_check(const json_case *c)
{
    codec_arena *a = codec_arena_alloc();
    if (a == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    const codec_val *v = NULL;
    atp_err err = codec_decode(a, c->msgpack, c->len, &v);
    if (err != ATP_OK) {
        fprintf(stderr, "case %s: decode failed (%d)\n", c->want, (int)err);
        codec_arena_free(a);
        return 1;
    }
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (f == NULL) {
        codec_arena_free(a);
        return 1;
    }
    codec_val_write_json(v, f);
    fclose(f);
    codec_arena_free(a);
    /* the writer ends the line with a newline or not: compare the value */
    if (outlen > 0 && out[outlen - 1] == '\n')
        out[--outlen] = '\0';
    int bad = strcmp(out, c->want) != 0;
    if (bad)
        fprintf(stderr, "want %s, got %s\n", c->want, out);
    free(out);
    char *json = NULL;
    size_t jlen = 0;
    if (codec_json_from_msgpack(c->msgpack, c->len, &json, &jlen) != ATP_OK ||
        jlen != strlen(c->want) || memcmp(json, c->want, jlen) != 0) {
        fprintf(stderr, "case %s: codec_json_from_msgpack differs\n", c->want);
        bad = 1;
    }
    free(json);
    return bad;
}

int main(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++)
        bad |= json_empty_check(&json_cases[i]);
    printf("%s: %zu cases\n", bad ? "FAIL" : "ok",
           sizeof json_cases / sizeof json_cases[0]);
    return bad;
}
