/*
 * feed_args.h - atp-feed's command line: its options, their defaults and
 * bounds, --help. Main thread, before anything else runs.
 */
#ifndef ATP_FEED_ARGS_H
#define ATP_FEED_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atp/wire.h"
#include "config/config.h"
#include "tools_tls.h"

/* Exit status (tools/README.md). */
enum {
    FEED_EXIT_OK = 0,
    FEED_EXIT_RUNTIME = 1,
    FEED_EXIT_USAGE = 2,
    FEED_EXIT_TRANSPORT = 3,
};

#define FEED_RATE_MAX 10000000.0
#define FEED_DURATION_MAX_S 31536000.0 /* a year: bounded, not limiting */

#define FEED_DEFAULT_RATE 1000.0
#define FEED_DEFAULT_BATCH 1
#define FEED_DEFAULT_SKUS 1000
#define FEED_DEFAULT_PREFIX "SKU-"
#define FEED_DEFAULT_SEED 1
#define FEED_DEFAULT_SET_RATIO 0.05
#define FEED_DEFAULT_HEARTBEAT_MS 1000
#define FEED_DEFAULT_REPLAY_LOG 100000
#define FEED_DEFAULT_REPLAY_BYTES (256ULL << 20)
/* Sequence numbers and timestamps the feeder starts from, and how many
 * messages it sends: at most half of ATP_WIRE_INT_MAX (2^53 - 1) each, so
 * that every seq it sends and logs stays within what atpd accepts and a
 * JSON reader holds exactly. */
#define FEED_WIRE_HALF ((uint64_t)ATP_WIRE_INT_MAX / 2)
#define FEED_DEFAULT_SNAPSHOT_PART 1000
#define FEED_DEFAULT_LOT_ETA_MS 10000
#define FEED_DEFAULT_LINGER_S 1.0
/* --linger: after the last message, resync requests are answered until
 * --linger seconds pass without one, this long at most. */
#define FEED_LINGER_MAX_S 60.0

typedef struct feed_args {
    const char *config_path;
    const char *endpoint;
    const char *log_path;
    tools_tls tls; /* --ca, --cert, --key (tools_tls.h) */
    const char *sku_prefix;
    const char *sources[CONFIG_MAX_SOURCES];
    size_t n_sources;
    double rate;
    uint64_t batch;
    uint64_t messages;
    double duration_s;
    uint64_t skus;
    uint64_t seed;
    double drop, dup, reorder, set_ratio;
    uint64_t heartbeat_ms;
    uint64_t start_seq;
    uint64_t restart_seq; /* 0: not a restart */
    bool ts_start_set;
    uint64_t ts_start;
    const char *control;
    uint64_t replay_log, replay_bytes, snapshot_part, lot_eta_ms;
    double lot_ratio, linger_s;
    bool quiet, json, help, version, no_resync;
    const char *session;  /* --session: "random" (NULL), "none" or a number */
    const char *key_file; /* --key-file: overrides the config's key_file */
} feed_args;

/* feed_args_parse fills *a from argv (getopt_long, tools/common/
 * tool_args.h); --ca/--cert/--key are handed to tools_tls_set. Returns
 * FEED_EXIT_OK, or prints why with the short usage to stderr and returns
 * FEED_EXIT_USAGE. With --help or --version only those are set. */
int feed_args_parse(int argc, char **argv, feed_args *a);

/* feed_usage prints --help. */
void feed_usage(FILE *f);

#endif
