/*
 * ctl_args.h - atpctl's command line: the global and command options,
 * read with getopt_long in the tools' conventions (tools/common/
 * tool_args.h): options before, between or after the command words, "--"
 * ends them. Which command takes which option is atpctl.c's business.
 * Main thread.
 */
#ifndef ATP_CTL_ARGS_H
#define ATP_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "tools_tls.h"

/* Exit status: part of the interface scripts rely on (tools/README.md). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_SERVICE = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_TRANSPORT = 3,
    CTL_EXIT_REFUSED = 4,
};

#define CTL_TIMEOUT_MAX_MS 3600000

typedef struct ctl_args {
    const char *endpoint; /* NULL: ATPD_ENDPOINT, then the default */
    const char *channel;  /* NULL: not given */
    const char *ttl;      /* --ttl, NULL: not given (the service default) */
    const char *order;    /* --order, NULL: not given */
    const char *feed;     /* watch --feed, NULL: ATPD_FEED, then default */
    const char *count;    /* watch --count, NULL: not given */
    const char *duration; /* watch --duration, NULL: not given */
    const char *limit;    /* scan --limit, NULL: the service default */
    const char *cursor;   /* scan --cursor, NULL: 0 */
    const char *token;    /* --token, NULL: ATP_TOKEN, then none */
    const char *name;     /* token hash --name */
    const char *scopes;   /* token hash --scopes */
    const char *client;   /* token hash --client */
    const char *qty;      /* promise --qty, NULL: not given */
    const char *date;     /* promise --date WHEN, NULL: not given */
    const char *promise;  /* reserve --promise WHEN, NULL: not given */
    int timeout_ms;
    tools_tls tls; /* --ca, --cert, --key (tools_tls.h) */
    bool json;
    bool help;
    bool version; /* --version: print it, send nothing */
    bool all;     /* scan --all */
    bool wide;    /* sources --wide */
    /* pickup, pickup-cart --pickup-only */
    bool pickup_only;
    /* reserve --partial, --split, --backorder */
    bool partial, split, backorder;
    char **words; /* command and its operands: the end of argv */
    int nwords;
} ctl_args;

/* ctl_args_parse fills *a from argv (whose order getopt_long may change:
 * a->words points into it) and hands --ca/--cert/--key to tools_tls_set.
 * Returns CTL_EXIT_OK, or CTL_EXIT_USAGE with the reason in why. */
int ctl_args_parse(int argc, char **argv, ctl_args *a, char *why, size_t n);

#endif
