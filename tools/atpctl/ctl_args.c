/*
 * ctl_args.c - atpctl's command line (ctl_args.h). Main thread.
 */
#include "ctl_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "tool_args.h"

enum {
    CTL_ARG_ENDPOINT = TOOL_ARGS_OWN,
    CTL_ARG_CHANNEL,
    CTL_ARG_TTL,
    CTL_ARG_ORDER,
    CTL_ARG_FEED,
    CTL_ARG_COUNT,
    CTL_ARG_DURATION,
    CTL_ARG_LIMIT,
    CTL_ARG_CURSOR,
    CTL_ARG_TOKEN,
    CTL_ARG_NAME,
    CTL_ARG_SCOPES,
    CTL_ARG_CLIENT,
    CTL_ARG_QTY,
    CTL_ARG_DATE,
    CTL_ARG_PROMISE,
    CTL_ARG_TIMEOUT,
    CTL_ARG_JSON,
    CTL_ARG_ALL,
    CTL_ARG_WIDE,
    CTL_ARG_PICKUP_ONLY,
    CTL_ARG_PARTIAL,
    CTL_ARG_SPLIT,
    CTL_ARG_BACKORDER,
};

static const struct option ctl_options[] = {
    TOOL_ARGS_STD,
    TOOL_ARGS_TLS,
    {"endpoint", required_argument, NULL, CTL_ARG_ENDPOINT},
    {"channel", required_argument, NULL, CTL_ARG_CHANNEL},
    {"ttl", required_argument, NULL, CTL_ARG_TTL},
    {"order", required_argument, NULL, CTL_ARG_ORDER},
    {"feed", required_argument, NULL, CTL_ARG_FEED},
    {"count", required_argument, NULL, CTL_ARG_COUNT},
    {"duration", required_argument, NULL, CTL_ARG_DURATION},
    {"limit", required_argument, NULL, CTL_ARG_LIMIT},
    {"cursor", required_argument, NULL, CTL_ARG_CURSOR},
    {"token", required_argument, NULL, CTL_ARG_TOKEN},
    {"name", required_argument, NULL, CTL_ARG_NAME},
    {"scopes", required_argument, NULL, CTL_ARG_SCOPES},
    {"client", required_argument, NULL, CTL_ARG_CLIENT},
    {"qty", required_argument, NULL, CTL_ARG_QTY},
    {"date", required_argument, NULL, CTL_ARG_DATE},
    {"promise", required_argument, NULL, CTL_ARG_PROMISE},
    {"timeout", required_argument, NULL, CTL_ARG_TIMEOUT},
    {"json", no_argument, NULL, CTL_ARG_JSON},
    {"all", no_argument, NULL, CTL_ARG_ALL},
    {"wide", no_argument, NULL, CTL_ARG_WIDE},
    {"pickup-only", no_argument, NULL, CTL_ARG_PICKUP_ONLY},
    {"partial", no_argument, NULL, CTL_ARG_PARTIAL},
    {"split", no_argument, NULL, CTL_ARG_SPLIT},
    {"backorder", no_argument, NULL, CTL_ARG_BACKORDER},
    {NULL, 0, NULL, 0},
};

/* The options whose value is a non-empty string kept as is in ctl_args. */
static const struct {
    int opt;
    size_t field;    /* offsetof(ctl_args, <the const char * member>) */
    const char *fmt; /* the usage error when the value is empty */
} ctl_str_opts[] = {
    {CTL_ARG_ENDPOINT, offsetof(ctl_args, endpoint), "%s needs a URL"},
    {CTL_ARG_CHANNEL, offsetof(ctl_args, channel), "%s needs a channel id"},
    {CTL_ARG_TTL, offsetof(ctl_args, ttl), "%s needs a duration"},
    {CTL_ARG_ORDER, offsetof(ctl_args, order), "%s needs an order reference"},
    {CTL_ARG_FEED, offsetof(ctl_args, feed), "%s needs a URL"},
    {CTL_ARG_COUNT, offsetof(ctl_args, count), "%s needs a number"},
    {CTL_ARG_DURATION, offsetof(ctl_args, duration), "%s needs a duration"},
    {CTL_ARG_LIMIT, offsetof(ctl_args, limit), "%s needs a number"},
    {CTL_ARG_CURSOR, offsetof(ctl_args, cursor), "%s needs a number"},
    {CTL_ARG_TOKEN, offsetof(ctl_args, token), "%s needs a token"},
    {CTL_ARG_NAME, offsetof(ctl_args, name), "%s needs a name"},
    {CTL_ARG_SCOPES, offsetof(ctl_args, scopes),
     "%s needs read, reserve and/or admin"},
    {CTL_ARG_CLIENT, offsetof(ctl_args, client), "%s needs a client name"},
    {CTL_ARG_QTY, offsetof(ctl_args, qty), "%s needs a quantity"},
    {CTL_ARG_DATE, offsetof(ctl_args, date), "%s needs a date (WHEN)"},
    {CTL_ARG_PROMISE, offsetof(ctl_args, promise), "%s needs a date (WHEN)"},
};

/* ctl_args_str stores a string option's value: 1; 0 when opt is not one;
 * -1 (why set) when the value is empty. */
static int ctl_args_str(ctl_args *a, const tool_args *t, int opt, char *why,
                        size_t n)
{
    for (size_t k = 0; k < sizeof ctl_str_opts / sizeof ctl_str_opts[0]; k++) {
        if (ctl_str_opts[k].opt != opt)
            continue;
        if (t->val[0] == '\0') {
            snprintf(why, n, ctl_str_opts[k].fmt, t->name);
            return -1;
        }
        *(const char **)(void *)((char *)a + ctl_str_opts[k].field) = t->val;
        return 1;
    }
    return 0;
}

/* ctl_args_bad: why the option was refused; a missing value gets the
 * option's own words ("--endpoint needs a URL"). */
static void ctl_args_bad(const tool_args *t, char *why, size_t n)
{
    snprintf(why, n, "%s", t->why);
    if (t->missing == CTL_ARG_TIMEOUT)
        snprintf(why, n, "--timeout needs milliseconds in 1..%d",
                 CTL_TIMEOUT_MAX_MS);
    for (size_t k = 0; k < sizeof ctl_str_opts / sizeof ctl_str_opts[0]; k++)
        if (t->missing != 0 && ctl_str_opts[k].opt == t->missing)
            snprintf(why, n, ctl_str_opts[k].fmt, t->name);
}

/* ctl_args_timeout: --timeout in 1..CTL_TIMEOUT_MAX_MS milliseconds. */
static bool ctl_args_timeout(ctl_args *a, const char *v)
{
    char *end = NULL;
    errno = 0;
    long ms = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || ms < 1 ||
        ms > CTL_TIMEOUT_MAX_MS)
        return false;
    a->timeout_ms = (int)ms;
    return true;
}

/* ctl_args_flag: the bool a flag option sets, NULL for other options. */
static bool *ctl_args_flag(ctl_args *a, int opt)
{
    if (opt == CTL_ARG_PICKUP_ONLY)
        return &a->pickup_only;
    if (opt == CTL_ARG_PARTIAL)
        return &a->partial;
    if (opt == CTL_ARG_SPLIT)
        return &a->split;
    if (opt == CTL_ARG_BACKORDER)
        return &a->backorder;
    return opt == 'h'            ? &a->help
           : opt == 'V'          ? &a->version
           : opt == CTL_ARG_JSON ? &a->json
           : opt == CTL_ARG_ALL  ? &a->all
           : opt == CTL_ARG_WIDE ? &a->wide
                                 : NULL;
}

int ctl_args_parse(int argc, char **argv, ctl_args *a, char *why, size_t n)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    tool_args t;
    tool_args_init(&t, argc, argv, "hV", ctl_options);
    int opt;
    while ((opt = tool_args_next(&t)) != TOOL_ARGS_END) {
        bool *flag = ctl_args_flag(a, opt);
        int took = 0;
        if (flag != NULL) {
            *flag = true;
        } else if (opt == TOOL_ARGS_BAD ||
                   (took = tool_args_tls(&t, opt, &a->tls)) < 0) {
            ctl_args_bad(&t, why, n);
            return CTL_EXIT_USAGE;
        } else if (took > 0) {
            continue;
        } else if (opt == CTL_ARG_TIMEOUT) {
            if (!ctl_args_timeout(a, t.val)) {
                snprintf(why, n, "--timeout needs milliseconds in 1..%d",
                         CTL_TIMEOUT_MAX_MS);
                return CTL_EXIT_USAGE;
            }
        } else if (ctl_args_str(a, &t, opt, why, n) < 0) {
            return CTL_EXIT_USAGE;
        }
    }
    a->words = argv + t.rest;
    a->nwords = argc - t.rest;
    if (!tools_tls_check(&a->tls, why, n))
        return CTL_EXIT_USAGE;
    tools_tls_set(&a->tls);
    return CTL_EXIT_OK;
}
