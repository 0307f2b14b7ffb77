/*
 * args.c - atpd's command line: the options (docs/CONFIG.md, "Command
 * line"; the man page is generated from --help by help2man, so the text
 * below is the documentation), --check-config, and the configuration
 * loaded with the command line's overrides, at start and on SIGHUP.
 * Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/health.h"
#include "common/log.h"
#include "daemon/daemon_int.h"

static void daemon_usage(FILE *f)
{
    fprintf(
        f,
        "usage: atpd [--config FILE] [options]\n"
        "       atpd --check-config FILE\n"
        "\n"
        "atpd keeps available-to-promise per SKU and region in memory, fed by\n"
        "WMS/3PL/ERP sources over nng pub/sub, and answers queries over nng\n"
        "REQ/REP (docs/PROTOCOL.md).\n"
        "\n"
        "options:\n"
        "  -c, --config FILE        configuration file (YAML, "
        "docs/CONFIG.md),\n"
        "                           read again on SIGHUP (CONFIG.md, "
        "\"Reload\");\n"
        "                           without it: one region 'default', no "
        "sources\n"
        "      --check-config FILE  validate FILE, print every problem with "
        "its\n"
        "                           line, exit 0 if valid, 1 if not\n"
        "      --query-listen URL   override service.query_listen\n"
        "      --ingest-listen URL  override service.ingest_listen\n"
        "      --feed-listen URL    override service.feed_listen (change "
        "feed)\n"
        "      --control-listen URL override service.control_listen (resync)\n"
        "      --http-listen URL    override service.http_listen (HTTP/JSON "
        "API,\n"
        "                           http://127.0.0.1:7080; off when neither)\n"
        "      --data-dir DIR       override service.data_dir (default:\n"
        "                           /var/lib/atpd installed, ./atpd-data when\n"
        "                           run from its build tree)\n"
        "      --log-level LEVEL    debug, info, warn or error\n"
        "      --ready-file FILE    once atpd is ready (state restored, every\n"
        "                           socket listening), write FILE: JSON with "
        "the\n"
        "                           pid and the URLs listened on (the port "
        "chosen\n"
        "                           when a configured one is 0)\n"
        "  -h, --help               this text\n"
        "  -V, --version            print the version\n");
}

/* daemon_print_diags prints each problem as "FILE:LINE:COL: message", to
 * stderr (start-up, --check-config) or to the log (a reload). */
static int daemon_print_diags(const char *path, const config_diags *d,
                              bool to_log)
{
    for (size_t i = 0; i < d->n; i++) {
        const config_diag *g = &d->items[i];
        char where[32] = "";
        if (g->line > 0)
            snprintf(where, sizeof where, ":%d:%d", g->line, g->column);
        if (to_log)
            log_error("atpd", "%s%s: %s", path, where, g->message);
        else
            fprintf(stderr, "%s%s: %s\n", path, where, g->message);
    }
    return (int)d->n;
}

static int daemon_check_config(const char *path)
{
    config cfg;
    config_diags diags = {0};
    atp_err err = config_load_file(path, &cfg, &diags);
    daemon_print_diags(path, &diags, false);
    config_diags_fini(&diags);
    if (err != ATP_OK) {
        fprintf(stderr, "%s: invalid configuration\n", path);
        return 1;
    }
    printf("%s: ok (%zu regions, %zu locations, %zu channels, %zu sources, "
           "%zu buffer rules, %zu bundles)\n",
           path, cfg.n_regions, cfg.n_locations, cfg.n_channels, cfg.n_sources,
           cfg.n_buffers, cfg.n_bundles);
    config_fini(&cfg);
    return 0;
}

static int daemon_override(char **field, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

int daemon_args_parse(int argc, char **argv, daemon_args *a)
{
    enum {
        OPT_CHECK = 256,
        OPT_QUERY,
        OPT_INGEST,
        OPT_FEED,
        OPT_CONTROL,
        OPT_DATA,
        OPT_LOG,
        OPT_READY,
        OPT_HTTP
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, OPT_CHECK},
        {"query-listen", required_argument, NULL, OPT_QUERY},
        {"ingest-listen", required_argument, NULL, OPT_INGEST},
        {"feed-listen", required_argument, NULL, OPT_FEED},
        {"control-listen", required_argument, NULL, OPT_CONTROL},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"http-listen", required_argument, NULL, OPT_HTTP},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case OPT_CHECK:
            return daemon_check_config(optarg);
        case OPT_QUERY:
            a->query_listen = optarg;
            break;
        case OPT_INGEST:
            a->ingest_listen = optarg;
            break;
        case OPT_FEED:
            a->feed_listen = optarg;
            break;
        case OPT_CONTROL:
            a->control_listen = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case OPT_LOG:
            a->log_level = optarg;
            break;
        case OPT_READY:
            a->ready_file = optarg;
            break;
        case OPT_HTTP:
            a->http_listen = optarg;
            break;
        case 'h':
            daemon_usage(stdout);
            return 0;
        case 'V':
            printf("atpd %s (wire protocol %d)\n", ATP_VERSION,
                   ATP_WIRE_VERSION);
            return 0;
        default:
            daemon_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "atpd: unexpected argument '%s'\n", argv[optind]);
        daemon_usage(stderr);
        return 2;
    }
    return -1;
}

int daemon__config_read(const daemon_args *a, config *cfg, bool to_log)
{
    config_diags diags = {0};
    atp_err err = a->config_path ? config_load_file(a->config_path, cfg, &diags)
                                 : config_defaults(cfg);
    if (a->config_path)
        daemon_print_diags(a->config_path, &diags, to_log);
    config_diags_fini(&diags);
    if (err != ATP_OK) {
        /* The lines above say what is wrong (the file's own diagnostics);
         * an I/O error code adds nothing to "cannot open". */
        const char *path = a->config_path ? a->config_path : "(defaults)";
        const char *sep = err == ATP_E_IO ? "" : ": ";
        const char *why = err == ATP_E_IO ? "" : atp_err_message(err);
        if (to_log)
            log_error("atpd",
                      "reload refused: cannot use configuration %s%s%s "
                      "(check it with atpd --check-config FILE); the running "
                      "configuration stays in force",
                      path, sep, why);
        else
            fprintf(stderr,
                    "atpd: cannot use configuration %s%s%s (check it with atpd "
                    "--check-config FILE; docs/CONFIG.md has every key)\n",
                    path, sep, why);
        return 1;
    }
    if ((a->query_listen &&
         daemon_override(&cfg->service.query_listen, a->query_listen)) ||
        (a->ingest_listen &&
         daemon_override(&cfg->service.ingest_listen, a->ingest_listen)) ||
        (a->feed_listen &&
         daemon_override(&cfg->service.feed_listen, a->feed_listen)) ||
        (a->control_listen &&
         daemon_override(&cfg->service.control_listen, a->control_listen)) ||
        (a->http_listen &&
         daemon_override(&cfg->service.http_listen, a->http_listen)) ||
        (a->data_dir && daemon_override(&cfg->service.data_dir, a->data_dir)) ||
        (a->log_level &&
         daemon_override(&cfg->service.log_level, a->log_level))) {
        config_fini(cfg);
        if (to_log)
            log_error("atpd", "reload refused: out of memory");
        else
            fprintf(stderr, "atpd: out of memory\n");
        return 1;
    }
    return 0;
}

/* The level was checked by the config reader or by daemon_config_load. */
void daemon__runtime_configure(const config *cfg)
{
    log_level lvl;
    if (log_parse_level(cfg->service.log_level, &lvl))
        log_set_level(lvl);
    log_set_format(cfg->service.log_json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    log_set_repeat_window_ms(cfg->service.log_repeat_window_ms);
    health_set_stall_ms(cfg->service.stall_timeout_ms);
}

int daemon_config_load(const daemon_args *a, config *cfg)
{
    if (daemon__config_read(a, cfg, false) != 0)
        return 1;
    log_level lvl;
    if (!log_parse_level(cfg->service.log_level, &lvl)) {
        fprintf(stderr,
                "atpd: unknown log level '%s' (debug, info, warn, error)\n",
                cfg->service.log_level);
        config_fini(cfg);
        return 2;
    }
    daemon__runtime_configure(cfg);
    return 0;
}
