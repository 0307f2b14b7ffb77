/*
 * tool_args.c - getopt_long with the tools' conventions (tool_args.h).
 * Main thread (getopt's state is global).
 */
#include "tool_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"

void tool_args_init(tool_args *t, int argc, char **argv, const char *shortopts,
                    const struct option *longopts)
{
    memset(t, 0, sizeof *t);
    t->argc = argc;
    t->argv = argv;
    t->longopts = longopts;
    /* ':' first (after a '+'): a missing value is ':', not '?', and
     * nothing is printed by getopt itself. */
    static char opts[64];
    bool in_order = shortopts[0] == '+';
    snprintf(opts, sizeof opts, "%s:%s", in_order ? "+" : "",
             shortopts + (in_order ? 1 : 0));
    t->shortopts = opts;
    opterr = 0;
    optind = 0; /* 0, not 1: glibc starts a new parse, permutation reset */
}

int tool_args_next(tool_args *t)
{
    int idx = -1;
    int c = getopt_long(t->argc, t->argv, t->shortopts, t->longopts, &idx);
    t->val = optarg;
    t->why[0] = '\0';
    if (c == -1) {
        t->rest = optind;
        t->name = NULL;
        return TOOL_ARGS_END;
    }
    static char name[64];
    t->name = name;
    if (idx >= 0) { /* the full name, not the prefix that was typed */
        snprintf(name, sizeof name, "--%s", t->longopts[idx].name);
        return c;
    }
    if (c != '?' && c != ':') {
        snprintf(name, sizeof name, "-%c", c);
        return c;
    }
    /* getopt keeps no index on errors: the option as typed, up to '=' */
    const char *arg =
        optind > 0 && optind <= t->argc ? t->argv[optind - 1] : "";
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    t->missing = c == ':' ? optopt : 0;
    if (c == ':')
        snprintf(t->why, sizeof t->why, "%s needs a %s", name,
                 optopt >= TOOL_ARGS_CA && optopt <= TOOL_ARGS_KEY ? "file"
                                                                   : "value");
    else if (optopt != 0 && strncmp(name, "--", 2) == 0)
        snprintf(t->why, sizeof t->why, "%s takes no value", name);
    else if (optopt != 0)
        snprintf(t->why, sizeof t->why, "unknown option '-%c'", optopt);
    else
        snprintf(t->why, sizeof t->why, "unknown option '%s'", name);
    return TOOL_ARGS_BAD;
}

const char *tool_args_take_more(tool_args *t)
{
    if (optind >= t->argc || strncmp(t->argv[optind], "--", 2) == 0)
        return NULL;
    return t->argv[optind++];
}

int tool_args_tls(tool_args *t, int opt, tools_tls *tls)
{
    const char **slot = opt == TOOL_ARGS_CA     ? &tls->ca_file
                        : opt == TOOL_ARGS_CERT ? &tls->cert_file
                        : opt == TOOL_ARGS_KEY  ? &tls->key_file
                                                : NULL;
    if (slot == NULL)
        return 0;
    if (t->val == NULL || t->val[0] == '\0') {
        snprintf(t->why, sizeof t->why, "%s needs a file", t->name);
        return -1;
    }
    *slot = t->val;
    return 1;
}

bool tool_args_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (*s == '-' || *s == '\0')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool tool_args_double(const char *s, double min, double max, double *out)
{
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}

void tool_args_version(const char *prog)
{
    printf("%s %s (wire protocol %d)\n", prog, ATP_VERSION, ATP_WIRE_VERSION);
}
