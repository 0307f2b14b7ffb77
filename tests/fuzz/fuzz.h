/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share
 * (tests/fuzz/README.md). Each target is one LLVMFuzzerTestOneInput over one
 * decoder atpd runs on untrusted bytes, linked with that decoder's module
 * library: the function the daemon calls, never a copy. Single-threaded, except
 * where a target says otherwise.
 */
#ifndef ATP_FUZZ_H
#define ATP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check aborts (libFuzzer saves the input as a crash) when a
 * property the decoder promises does not hold; what names it, in the
 * sanitizer's SUMMARY line (seen even under -close_fd_mask=2, which
 * run.sh uses so that atpd's log lines, formatted at every level, are
 * not printed). */
#define fuzz_check(cond, what)                                                 \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_broken(__FILE__, __LINE__, what);                             \
    } while (0)

_Noreturn void fuzz_broken(const char *file, int line, const char *what);

/* fuzz_logs_all: atpd's log at level debug, so that every line a decoder
 * logs is formatted (and checked by the sanitizers) on every input. */
void fuzz_logs_all(void);

struct config;

/* fuzz_config_load loads the configuration the targets that need one share
 * (fuzz_util.c) into *cfg, or aborts: small limits, so that the fuzzer
 * reaches them (5 cart lines, 3 lines a reservation, holds of 1 to 5 s,
 * forgotten 1 s after they end); regions us-east and eu, locations dc-1
 * (us-east) and dc-eu (eu), channels web and app, sources wms and erp. */
void fuzz_config_load(struct config *cfg);

/* The largest integer a JSON double holds exactly: 2^53-1. */
#define FUZZ_JSON_INT_MAX 9007199254740991LL

/* fuzz_utf8_ok: s[0..n) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). The oracle is written apart from
 * the codec's (codec__utf8_seq_len) on purpose: a target must not judge
 * the codec with the codec's own check. */
bool fuzz_utf8_ok(const unsigned char *s, size_t n);

/* fuzz_check_sent checks a value atpd sends or hands on (a decoded
 * reply, a request map): every string valid UTF-8, every map key a
 * string, and with exact_ints every integer within +-(2^53-1) (replies
 * become JSON over HTTP; request maps may hold INT64_MAX, see
 * codec_json_request). */
void fuzz_check_sent(const codec_val *v, bool exact_ints);

#endif
