/*
 * import_args.h - atp-import's command line (docs/IMPORT.md, "Command
 * line"; the tools' conventions, tools/common/tool_args.h). Main thread.
 */
#ifndef ATP_IMPORT_ARGS_H
#define ATP_IMPORT_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "csv_import.h"
#include "tools_tls.h"
#include "x12.h"

enum import_exit {
    IMPORT_EXIT_OK = 0,
    IMPORT_EXIT_FILE = 1,        /* the file was rejected: nothing sent */
    IMPORT_EXIT_USAGE = 2,       /* options, config, state, map */
    IMPORT_EXIT_UNCONFIRMED = 3, /* atpd did not apply it in time */
    IMPORT_EXIT_REJECTED = 4,    /* atpd rejected the message */
};

enum import_format { IMPORT_FMT_AUTO, IMPORT_FMT_X12, IMPORT_FMT_CSV };

typedef struct import_args {
    const char *config_path, *source, *state_dir, *file;
    const char *location, *location_map;
    const char *endpoint, *control, *query, *token, *key_file;
    int format;
    bool snapshot, check, json, help, version;
    int64_t timeout_ms;
    x12_opts x12;
    csv_opts csv;
    tools_tls tls;
} import_args;

/* import_args_parse fills a from argv; IMPORT_EXIT_OK or IMPORT_EXIT_USAGE
 * (the reason printed on stderr). */
int import_args_parse(int argc, char **argv, import_args *a);

void import_usage(FILE *f);

#endif
