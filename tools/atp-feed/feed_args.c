/*
 * feed_args.c - atp-feed's command line (feed_args.h): --help and the
 * options, read with getopt_long in the tools' conventions
 * (tools/common/tool_args.h). Main thread.
 */
#include "feed_args.h"

#include <stdio.h>
#include <string.h>

#include "tool_args.h"

void feed_usage(FILE *f)
{
    fprintf(
        f,
        "usage: atp-feed --config FILE [options]\n"
        "\n"
        "Plays sources of atpd's config and publishes their stock messages to\n"
        "atpd's ingest endpoint (nng PUB). Stops after --messages or\n"
        "--duration (at least one is required).\n"
        "\n"
        "  --config FILE       atpd's YAML config (sources, endpoint)\n"
        "  --endpoint URL      default: the config's service.ingest_listen\n"
        "                      (tls+tcp://: --ca, as "
        "--control)\n" TOOLS_TLS_USAGE
        "  --source ID         play this source (repeatable); default: every\n"
        "                      source of the config that has an authority\n"
        "  --rate N            data messages per second overall, round robin\n"
        "                      over the sources; 0 = as fast as possible\n"
        "                      (default %.0f)\n"
        "  --batch N           events per data message (default %d)\n"
        "  --messages N        stop after N data messages\n"
        "  --duration SECONDS  stop after this long (on the schedule's clock\n"
        "                      when --rate > 0)\n"
        "  --skus N            SKUs <prefix>0 .. <prefix>N-1, 80/20 hot\n"
        "                      (default %d)\n"
        "  --sku-prefix P      default '%s'\n"
        "  --seed N            PRNG seed (default %d); same seed and\n"
        "                      arguments give the same messages\n"
        "  --drop P            probability a message takes its seq but is\n"
        "                      not sent\n"
        "  --dup P             probability a message is sent twice\n"
        "  --reorder P         probability a message is sent after its\n"
        "                      source's next message\n"
        "  --set-ratio P       probability an event is a SET, not a DELTA\n"
        "                      (default %.2f)\n"
        "  --heartbeat-ms MS   heartbeat message per source every MS (default\n"
        "                      %d; 0 = none but the final one)\n"
        "  --start-seq N       first seq of every source (default 1): a new\n"
        "                      stream whose state starts empty\n"
        "                      (N, --restart-seq, --messages and --ts-start\n"
        "                      below 2^52: seqs stay within atpd's 2^53-1)\n"
        "  --restart-seq N     continue an earlier run (same seed and\n"
        "                      arguments, --rate > 0): regenerate its\n"
        "                      messages below seq N without sending them\n"
        "                      (state and replay log complete), publish\n"
        "                      from N on\n"
        "  --lot-ratio P       probability an event is an inbound lot event\n"
        "                      (add/change/receive/cancel) on locations\n"
        "                      where the source has inbound authority\n"
        "                      (default 0; sources with only inbound\n"
        "                      authority always send lot events)\n"
        "  --lot-eta-ms MS     lot ETAs are now + [0, MS] (default %d)\n"
        "\n"
        "Resync (answers atpd's requests, docs/PROTOCOL.md \"Resync\"):\n"
        "  --control URL       atpd's control PUB (default: the config's\n"
        "                      service.control_listen)\n"
        "  --no-resync         do not answer resync requests\n"
        "  --replay-log N      messages kept per source for replays\n"
        "                      (default %d; older ones: a snapshot instead)\n"
        "  --replay-log-bytes N  and at most N bytes per source (default\n"
        "                      %llu)\n"
        "  --snapshot-part N   events per snapshot part (default %d)\n"
        "  --linger SECONDS    after the last message, keep answering until\n"
        "                      SECONDS pass without a request (default %.1f;\n"
        "                      0 = exit at once)\n"
        "\n"
        "Publisher (docs/PROTOCOL.md, \"Publisher sessions\", \"Source "
        "keys\"):\n"
        "  --session S         the session id every message carries: random\n"
        "                      (default, new each run), a number 1..2^53-1\n"
        "                      (continue a run's session: --restart-seq), or\n"
        "                      none (an old publisher's messages)\n"
        "  --key-file FILE     sign every message with the key in FILE (mode\n"
        "                      0600); default: the source's key_file in the\n"
        "                      config, if any\n"
        "\n"
        "  --ts-start MS       timestamps = MS + the schedule's clock, not\n"
        "                      the wall clock (byte-identical logs)\n"
        "  --log FILE          JSON Lines, one per generated message (dropped\n"
        "                      ones too), in generation order\n"
        "  --json              summary as JSON on stdout (default: text\n"
        "                      on stderr)\n"
        "  --quiet             no progress line every second\n"
        "  --help              this help\n"
        "  --version           print atp-feed's version\n"
        "\n"
        "Every source ends with a heartbeat that is never dropped, duplicated\n"
        "or reordered: a receiver that has everything has last_seq equal to\n"
        "its seq.\n"
        "exit status: 0 done, 1 failed while running, 2 bad arguments or\n"
        "config, 3 cannot connect to atpd\n",
        FEED_DEFAULT_RATE, FEED_DEFAULT_BATCH, FEED_DEFAULT_SKUS,
        FEED_DEFAULT_PREFIX, FEED_DEFAULT_SEED, FEED_DEFAULT_SET_RATIO,
        FEED_DEFAULT_HEARTBEAT_MS, FEED_DEFAULT_LOT_ETA_MS,
        FEED_DEFAULT_REPLAY_LOG, (unsigned long long)FEED_DEFAULT_REPLAY_BYTES,
        FEED_DEFAULT_SNAPSHOT_PART, FEED_DEFAULT_LINGER_S);
}

static int feed_usage_error(const char *fmt, const char *a1, const char *a2)
{
    fputs("atp-feed: ", stderr);
    fprintf(stderr, fmt, a1, a2);
    /* The full help is two screens; an error gets the short form. */
    fputs("\nusage: atp-feed --config FILE (--messages N | --duration S) "
          "[options]\n(atp-feed --help lists the options)\n",
          stderr);
    return FEED_EXIT_USAGE;
}

enum {
    FEED_OPT_CONFIG = TOOL_ARGS_OWN,
    FEED_OPT_ENDPOINT,
    FEED_OPT_LOG,
    FEED_OPT_SKU_PREFIX,
    FEED_OPT_SOURCE,
    FEED_OPT_RATE,
    FEED_OPT_BATCH,
    FEED_OPT_MESSAGES,
    FEED_OPT_DURATION,
    FEED_OPT_SKUS,
    FEED_OPT_SEED,
    FEED_OPT_DROP,
    FEED_OPT_DUP,
    FEED_OPT_REORDER,
    FEED_OPT_SET_RATIO,
    FEED_OPT_HEARTBEAT_MS,
    FEED_OPT_START_SEQ,
    FEED_OPT_TS_START,
    FEED_OPT_RESTART_SEQ,
    FEED_OPT_LOT_RATIO,
    FEED_OPT_LOT_ETA_MS,
    FEED_OPT_CONTROL,
    FEED_OPT_REPLAY_LOG,
    FEED_OPT_REPLAY_LOG_BYTES,
    FEED_OPT_SNAPSHOT_PART,
    FEED_OPT_LINGER,
    FEED_OPT_SESSION,
    FEED_OPT_KEY_FILE,
    FEED_OPT_QUIET,
    FEED_OPT_JSON,
    FEED_OPT_NO_RESYNC,
};

static const struct option feed_options[] = {
    TOOL_ARGS_STD,
    TOOL_ARGS_TLS,
    {"config", required_argument, NULL, FEED_OPT_CONFIG},
    {"endpoint", required_argument, NULL, FEED_OPT_ENDPOINT},
    {"log", required_argument, NULL, FEED_OPT_LOG},
    {"sku-prefix", required_argument, NULL, FEED_OPT_SKU_PREFIX},
    {"source", required_argument, NULL, FEED_OPT_SOURCE},
    {"rate", required_argument, NULL, FEED_OPT_RATE},
    {"batch", required_argument, NULL, FEED_OPT_BATCH},
    {"messages", required_argument, NULL, FEED_OPT_MESSAGES},
    {"duration", required_argument, NULL, FEED_OPT_DURATION},
    {"skus", required_argument, NULL, FEED_OPT_SKUS},
    {"seed", required_argument, NULL, FEED_OPT_SEED},
    {"drop", required_argument, NULL, FEED_OPT_DROP},
    {"dup", required_argument, NULL, FEED_OPT_DUP},
    {"reorder", required_argument, NULL, FEED_OPT_REORDER},
    {"set-ratio", required_argument, NULL, FEED_OPT_SET_RATIO},
    {"heartbeat-ms", required_argument, NULL, FEED_OPT_HEARTBEAT_MS},
    {"start-seq", required_argument, NULL, FEED_OPT_START_SEQ},
    {"ts-start", required_argument, NULL, FEED_OPT_TS_START},
    {"restart-seq", required_argument, NULL, FEED_OPT_RESTART_SEQ},
    {"lot-ratio", required_argument, NULL, FEED_OPT_LOT_RATIO},
    {"lot-eta-ms", required_argument, NULL, FEED_OPT_LOT_ETA_MS},
    {"control", required_argument, NULL, FEED_OPT_CONTROL},
    {"replay-log", required_argument, NULL, FEED_OPT_REPLAY_LOG},
    {"replay-log-bytes", required_argument, NULL, FEED_OPT_REPLAY_LOG_BYTES},
    {"snapshot-part", required_argument, NULL, FEED_OPT_SNAPSHOT_PART},
    {"linger", required_argument, NULL, FEED_OPT_LINGER},
    {"session", required_argument, NULL, FEED_OPT_SESSION},
    {"key-file", required_argument, NULL, FEED_OPT_KEY_FILE},
    {"quiet", no_argument, NULL, FEED_OPT_QUIET},
    {"json", no_argument, NULL, FEED_OPT_JSON},
    {"no-resync", no_argument, NULL, FEED_OPT_NO_RESYNC},
    {NULL, 0, NULL, 0},
};

static void feed_args_defaults(feed_args *a)
{
    memset(a, 0, sizeof *a);
    a->rate = FEED_DEFAULT_RATE;
    a->batch = FEED_DEFAULT_BATCH;
    a->skus = FEED_DEFAULT_SKUS;
    a->sku_prefix = FEED_DEFAULT_PREFIX;
    a->seed = FEED_DEFAULT_SEED;
    a->set_ratio = FEED_DEFAULT_SET_RATIO;
    a->heartbeat_ms = FEED_DEFAULT_HEARTBEAT_MS;
    a->start_seq = 1;
    a->replay_log = FEED_DEFAULT_REPLAY_LOG;
    a->replay_bytes = FEED_DEFAULT_REPLAY_BYTES;
    a->snapshot_part = FEED_DEFAULT_SNAPSHOT_PART;
    a->lot_eta_ms = FEED_DEFAULT_LOT_ETA_MS;
    a->linger_s = FEED_DEFAULT_LINGER_S;
}

/* feed_args_source adds a --source; FEED_EXIT_OK or the usage error. */
static int feed_args_source(feed_args *a, const char *val)
{
    if (a->n_sources == CONFIG_MAX_SOURCES)
        return feed_usage_error("too many --source (at most %s)%s", "256", "");
    for (size_t k = 0; k < a->n_sources; k++)
        if (strcmp(a->sources[k], val) == 0)
            return feed_usage_error("--source '%s' given twice%s", val, "");
    a->sources[a->n_sources++] = val;
    return FEED_EXIT_OK;
}

/* feed_args_value stores the value of option opt; false when it is out of
 * the option's range (or empty where a name is needed). */
static bool feed_args_value(feed_args *a, int opt, const char *val)
{
    uint64_t v;
    switch (opt) {
    case FEED_OPT_CONFIG:
        a->config_path = val;
        return true;
    case FEED_OPT_ENDPOINT:
        a->endpoint = val;
        return *val != '\0';
    case FEED_OPT_LOG:
        a->log_path = val;
        return true;
    case FEED_OPT_SKU_PREFIX:
        a->sku_prefix = val;
        return true;
    case FEED_OPT_CONTROL:
        a->control = val;
        return *val != '\0';
    case FEED_OPT_KEY_FILE:
        a->key_file = val;
        return *val != '\0';
    case FEED_OPT_RATE:
        return tool_args_double(val, 0, FEED_RATE_MAX, &a->rate);
    case FEED_OPT_BATCH:
        return tool_args_u64(val, 1, UINT32_MAX, &a->batch);
    case FEED_OPT_MESSAGES:
        return tool_args_u64(val, 1, FEED_WIRE_HALF, &a->messages);
    case FEED_OPT_DURATION:
        return tool_args_double(val, 0.001, FEED_DURATION_MAX_S,
                                &a->duration_s);
    case FEED_OPT_SKUS:
        return tool_args_u64(val, 1, ATP_QTY_MAX, &a->skus);
    case FEED_OPT_SEED:
        return tool_args_u64(val, 0, UINT64_MAX, &a->seed);
    case FEED_OPT_DROP:
        return tool_args_double(val, 0, 1, &a->drop);
    case FEED_OPT_DUP:
        return tool_args_double(val, 0, 1, &a->dup);
    case FEED_OPT_REORDER:
        return tool_args_double(val, 0, 1, &a->reorder);
    case FEED_OPT_SET_RATIO:
        return tool_args_double(val, 0, 1, &a->set_ratio);
    case FEED_OPT_HEARTBEAT_MS:
        return tool_args_u64(val, 0, 86400000, &a->heartbeat_ms);
    case FEED_OPT_START_SEQ:
        return tool_args_u64(val, 0, FEED_WIRE_HALF, &a->start_seq);
    case FEED_OPT_RESTART_SEQ:
        return tool_args_u64(val, 1, FEED_WIRE_HALF, &a->restart_seq);
    case FEED_OPT_LOT_RATIO:
        return tool_args_double(val, 0, 1, &a->lot_ratio);
    case FEED_OPT_LOT_ETA_MS:
        return tool_args_u64(val, 0, 366ULL * 86400000, &a->lot_eta_ms);
    case FEED_OPT_REPLAY_LOG:
        return tool_args_u64(val, 0, 100000000, &a->replay_log);
    case FEED_OPT_REPLAY_LOG_BYTES:
        return tool_args_u64(val, 0, UINT64_MAX / 4, &a->replay_bytes);
    case FEED_OPT_SNAPSHOT_PART:
        return tool_args_u64(val, 1, 1000000, &a->snapshot_part);
    case FEED_OPT_LINGER:
        return tool_args_double(val, 0, FEED_LINGER_MAX_S, &a->linger_s);
    case FEED_OPT_SESSION:
        a->session = val;
        return strcmp(val, "random") == 0 || strcmp(val, "none") == 0 ||
               tool_args_u64(val, 1, ATP_WIRE_INT_MAX, &v);
    case FEED_OPT_TS_START:
        a->ts_start_set = true;
        return tool_args_u64(val, 0, FEED_WIRE_HALF, &a->ts_start);
    }
    return false;
}

/* feed_args_check: what the options mean together. */
static int feed_args_check(feed_args *a)
{
    if (a->config_path == NULL)
        return feed_usage_error("--config FILE is required%s%s", "", "");
    if (a->messages == 0 && a->duration_s == 0)
        return feed_usage_error(
            "give --messages N or --duration SECONDS (a run is bounded)%s%s",
            "", "");
    if (a->restart_seq > 0 && a->restart_seq < a->start_seq)
        return feed_usage_error(
            "--restart-seq must be at least --start-seq%s%s", "", "");
    char why[128];
    if (!tools_tls_check(&a->tls, why, sizeof why))
        return feed_usage_error("%s%s", why, "");
    tools_tls_set(&a->tls);
    return FEED_EXIT_OK;
}

int feed_args_parse(int argc, char **argv, feed_args *a)
{
    feed_args_defaults(a);
    tool_args t;
    tool_args_init(&t, argc, argv, "+hV", feed_options);
    int opt, rc, tls;
    while ((opt = tool_args_next(&t)) != TOOL_ARGS_END) {
        bool *flag = opt == 'h'                  ? &a->help
                     : opt == 'V'                ? &a->version
                     : opt == FEED_OPT_QUIET     ? &a->quiet
                     : opt == FEED_OPT_JSON      ? &a->json
                     : opt == FEED_OPT_NO_RESYNC ? &a->no_resync
                                                 : NULL;
        if (flag != NULL) {
            *flag = true;
        } else if (opt == TOOL_ARGS_BAD ||
                   (tls = tool_args_tls(&t, opt, &a->tls)) < 0) {
            return feed_usage_error("%s%s", t.why, "");
        } else if (tls > 0) {
            continue;
        } else if (opt == FEED_OPT_SOURCE) {
            if ((rc = feed_args_source(a, t.val)) != FEED_EXIT_OK)
                return rc;
        } else if (!feed_args_value(a, opt, t.val)) {
            return feed_usage_error("bad value '%s' for %s", t.val, t.name);
        }
    }
    if (t.rest < argc)
        return feed_usage_error("unexpected argument '%s'%s", argv[t.rest], "");
    if (a->help || a->version)
        return FEED_EXIT_OK;
    return feed_args_check(a);
}
