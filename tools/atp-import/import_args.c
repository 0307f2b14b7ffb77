/*
 * import_args.c - atp-import's command line (see import_args.h).
 */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "config/config.h"
#include "import_args.h"
#include "tool_args.h"

enum {
    IMPORT_OPT_CONFIG = TOOL_ARGS_OWN,
    IMPORT_OPT_SOURCE,
    IMPORT_OPT_STATE,
    IMPORT_OPT_FORMAT,
    IMPORT_OPT_LOCATION,
    IMPORT_OPT_LOCATION_MAP,
    IMPORT_OPT_SKU_QUAL,
    IMPORT_OPT_QTY,
    IMPORT_OPT_TRANSIT,
    IMPORT_OPT_RECEIVED,
    IMPORT_OPT_SNAPSHOT,
    IMPORT_OPT_CSV_COLUMNS,
    IMPORT_OPT_DELIMITER,
    IMPORT_OPT_NO_HEADER,
    IMPORT_OPT_BUCKET,
    IMPORT_OPT_ENDPOINT,
    IMPORT_OPT_CONTROL,
    IMPORT_OPT_QUERY,
    IMPORT_OPT_TOKEN,
    IMPORT_OPT_KEY_FILE,
    IMPORT_OPT_TIMEOUT,
    IMPORT_OPT_CHECK,
    IMPORT_OPT_JSON,
};

static const struct option import_options[] = {
    {"config", required_argument, NULL, IMPORT_OPT_CONFIG},
    {"source", required_argument, NULL, IMPORT_OPT_SOURCE},
    {"state", required_argument, NULL, IMPORT_OPT_STATE},
    {"format", required_argument, NULL, IMPORT_OPT_FORMAT},
    {"location", required_argument, NULL, IMPORT_OPT_LOCATION},
    {"location-map", required_argument, NULL, IMPORT_OPT_LOCATION_MAP},
    {"sku-qualifier", required_argument, NULL, IMPORT_OPT_SKU_QUAL},
    {"qty", required_argument, NULL, IMPORT_OPT_QTY},
    {"transit", required_argument, NULL, IMPORT_OPT_TRANSIT},
    {"received", no_argument, NULL, IMPORT_OPT_RECEIVED},
    {"snapshot", no_argument, NULL, IMPORT_OPT_SNAPSHOT},
    {"csv-columns", required_argument, NULL, IMPORT_OPT_CSV_COLUMNS},
    {"delimiter", required_argument, NULL, IMPORT_OPT_DELIMITER},
    {"no-header", no_argument, NULL, IMPORT_OPT_NO_HEADER},
    {"bucket", required_argument, NULL, IMPORT_OPT_BUCKET},
    {"endpoint", required_argument, NULL, IMPORT_OPT_ENDPOINT},
    {"control", required_argument, NULL, IMPORT_OPT_CONTROL},
    {"query", required_argument, NULL, IMPORT_OPT_QUERY},
    {"token", required_argument, NULL, IMPORT_OPT_TOKEN},
    {"key-file", required_argument, NULL, IMPORT_OPT_KEY_FILE},
    {"timeout", required_argument, NULL, IMPORT_OPT_TIMEOUT},
    {"check", no_argument, NULL, IMPORT_OPT_CHECK},
    {"json", no_argument, NULL, IMPORT_OPT_JSON},
    TOOL_ARGS_TLS,
    TOOL_ARGS_STD,
    {NULL, 0, NULL, 0},
};

void import_usage(FILE *f)
{
    fputs(
        "Usage: atp-import --config FILE --source ID --state DIR [OPTION]... "
        "FILE\n"
        "Read a stock or inbound file (EDI X12 846 or 856, or CSV), check all "
        "of it,\n"
        "publish it to atpd as the source ID, and wait until atpd applied it "
        "(docs/IMPORT.md).\n"
        "A file is all or nothing: one bad segment or line rejects it whole.\n"
        "\n"
        "  --config FILE         atpd's configuration (source, authority, "
        "locations)\n"
        "  --source ID           the source the file is published as\n"
        "  --state DIR           session, sequence and state kept between "
        "runs\n"
        "  --format F            auto (default), x12 or csv\n"
        "  --location LOC        location of records that name none\n"
        "  --location-map FILE   CODE LOCATION lines: the file's codes to "
        "location ids\n"
        "  --sku-qualifier LIST  X12 LIN qualifiers by priority (default "
        "SK,VP,BP,IN,UP,EN)\n"
        "  --qty LIST            846 QTY qualifier=bucket (default "
        "17=on_hand)\n"
        "  --transit DUR         856: ETA = ship date (DTM*011) + DUR when no "
        "DTM*017\n"
        "  --received            856 or inbound CSV: the lots arrived: they "
        "are "
        "received\n"
        "  --snapshot            send the whole state, the file replacing "
        "what it is about\n"
        "  --csv-columns LIST    sku=NAME,location=NAME,qty=NAME[,bucket=NAME]"
        "[,lot=NAME,eta=NAME]\n"
        "  --delimiter C         CSV separator: , ; | or tab\n"
        "  --no-header           the CSV's first line is data (columns by "
        "number)\n"
        "  --bucket B            CSV without a bucket column: on_hand "
        "(default), allocated, held\n"
        "  --endpoint URL        atpd's ingest (default: "
        "service.ingest_listen)\n"
        "  --control URL         atpd's control socket (default: "
        "service.control_listen)\n"
        "  --query URL           atpd's query socket (default: "
        "service.query_listen)\n"
        "  --token T             token with read scope (default $ATP_TOKEN)\n"
        "  --key-file FILE       the source's MAC key (default: its key_file)\n"
        "  --timeout DUR         wait for atpd to apply it (default 30s)\n"
        "  --check               check the file and print what would be "
        "sent; send nothing\n"
        "  --json                one JSON line on stdout\n" TOOLS_TLS_USAGE
        "  -h, --help            this help\n"
        "  -V, --version         the version\n"
        "\n"
        "Exit status: 0 applied (or valid, with --check), 1 file rejected, 2 "
        "usage,\n"
        "3 not applied within --timeout, 4 atpd rejected the message.\n",
        f);
}

static int import_bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "atp-import: bad value '%s' for %s%s%s\n", val, opt,
            why ? ": " : "", why ? why : "");
    fprintf(stderr, "Try 'atp-import --help'.\n");
    return IMPORT_EXIT_USAGE;
}

/* import_set_str takes the string options. */
static bool import_set_str(import_args *a, int opt, const char *v)
{
    const char **slot = opt == IMPORT_OPT_CONFIG         ? &a->config_path
                        : opt == IMPORT_OPT_SOURCE       ? &a->source
                        : opt == IMPORT_OPT_STATE        ? &a->state_dir
                        : opt == IMPORT_OPT_LOCATION     ? &a->location
                        : opt == IMPORT_OPT_LOCATION_MAP ? &a->location_map
                        : opt == IMPORT_OPT_ENDPOINT     ? &a->endpoint
                        : opt == IMPORT_OPT_CONTROL      ? &a->control
                        : opt == IMPORT_OPT_QUERY        ? &a->query
                        : opt == IMPORT_OPT_TOKEN        ? &a->token
                        : opt == IMPORT_OPT_KEY_FILE     ? &a->key_file
                                                         : NULL;
    if (slot != NULL)
        *slot = v;
    return slot != NULL;
}

/* import_duration: the config's duration syntax with its unit required,
 * as atpctl's --ttl: a bare 48 is as likely meant as hours as ms. */
static bool import_duration(const char *v, int64_t *ms)
{
    size_t n = strlen(v);
    return n > 0 && !(v[n - 1] >= '0' && v[n - 1] <= '9') &&
           config_parse_duration_ms(v, ms);
}

static int import_set_value(import_args *a, tool_args *t, int opt)
{
    const char *v = t->val;
    char why[160];
    if (import_set_str(a, opt, v))
        return v[0] != '\0' ? IMPORT_EXIT_OK : import_bad(t->name, v, "empty");
    switch (opt) {
    case IMPORT_OPT_FORMAT:
        a->format = strcmp(v, "auto") == 0  ? IMPORT_FMT_AUTO
                    : strcmp(v, "x12") == 0 ? IMPORT_FMT_X12
                    : strcmp(v, "csv") == 0 ? IMPORT_FMT_CSV
                                            : -1;
        return a->format >= 0 ? IMPORT_EXIT_OK
                              : import_bad(t->name, v, "auto, x12 or csv");
    case IMPORT_OPT_SKU_QUAL:
        return x12_parse_quals(v, &a->x12)
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v, "qualifiers of 1-3 characters");
    case IMPORT_OPT_QTY:
        return x12_parse_qty_map(v, &a->x12)
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v, "QUALIFIER=BUCKET,...");
    case IMPORT_OPT_TRANSIT:
        a->x12.transit_set = true;
        /* a year at most: an ETA plus it stays a wire integer */
        return import_duration(v, &a->x12.transit_ms) &&
                       a->x12.transit_ms >= 0 &&
                       a->x12.transit_ms <= 366LL * 86400000
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v,
                                "a duration with its unit, such as 2d or "
                                "36h, at most 366d");
    case IMPORT_OPT_TIMEOUT:
        return import_duration(v, &a->timeout_ms) && a->timeout_ms > 0
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v,
                                "a duration with its unit, such as 30s");
    case IMPORT_OPT_CSV_COLUMNS:
        return csv_parse_columns(v, &a->csv, why, sizeof why)
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v, why);
    case IMPORT_OPT_DELIMITER:
        return csv_parse_delimiter(v, &a->csv.delimiter)
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v, ", ; | or tab");
    case IMPORT_OPT_BUCKET:
        return import_bucket_parse(v, strlen(v), &a->csv.bucket)
                   ? IMPORT_EXIT_OK
                   : import_bad(t->name, v, "on_hand, allocated or held");
    default:
        return import_bad(t->name, v, NULL);
    }
}

int import_args_parse(int argc, char **argv, import_args *a)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = 30000;
    x12_opts_default(&a->x12);
    csv_opts_default(&a->csv);
    tool_args t;
    tool_args_init(&t, argc, argv, "hV", import_options);
    int opt;
    while ((opt = tool_args_next(&t)) != TOOL_ARGS_END) {
        int rc = IMPORT_EXIT_OK;
        if (opt == TOOL_ARGS_BAD) {
            fprintf(stderr, "atp-import: %s\nTry 'atp-import --help'.\n",
                    t.why);
            return IMPORT_EXIT_USAGE;
        }
        int tls = tool_args_tls(&t, opt, &a->tls);
        if (tls < 0) {
            fprintf(stderr, "atp-import: %s\n", t.why);
            return IMPORT_EXIT_USAGE;
        }
        if (tls > 0)
            continue;
        if (opt == 'h')
            a->help = true;
        else if (opt == 'V')
            a->version = true;
        else if (opt == IMPORT_OPT_SNAPSHOT)
            a->snapshot = true;
        else if (opt == IMPORT_OPT_CHECK)
            a->check = true;
        else if (opt == IMPORT_OPT_RECEIVED)
            a->x12.received = a->csv.received = true;
        else if (opt == IMPORT_OPT_JSON)
            a->json = true;
        else if (opt == IMPORT_OPT_NO_HEADER)
            a->csv.header = false;
        else
            rc = import_set_value(a, &t, opt);
        if (rc != IMPORT_EXIT_OK)
            return rc;
    }
    if (a->help || a->version)
        return IMPORT_EXIT_OK;
    const char *missing = a->config_path == NULL ? "--config"
                          : a->source == NULL    ? "--source"
                          : a->state_dir == NULL && !a->check
                              ? "--state (or --check)"
                              : NULL;
    if (missing == NULL && argc - t.rest != 1)
        missing = argc - t.rest == 0 ? "FILE" : NULL;
    if (missing != NULL || argc - t.rest != 1) {
        if (missing != NULL)
            fprintf(stderr, "atp-import: %s is needed\n", missing);
        else
            fprintf(stderr, "atp-import: one FILE at a time\n");
        fprintf(stderr, "Try 'atp-import --help'.\n");
        return IMPORT_EXIT_USAGE;
    }
    a->file = argv[t.rest];
    if (a->token == NULL)
        a->token = client_token_env();
    return IMPORT_EXIT_OK;
}
