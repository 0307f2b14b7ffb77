/*
 * tool_args.h - the command line of the tools (atpctl, atp-feed,
 * atp-bench): getopt_long with one set of conventions, so that the three
 * read options alike and say the same thing about a bad one.
 *
 * - Long options take "--name VALUE" or "--name=VALUE", and a unique
 *   prefix ("--dur" for "--duration"); "--" ends the options.
 * - Every tool has --help (-h) and --version (-V): TOOL_ARGS_STD in its
 *   option table; help2man builds the man pages from their output.
 * - --ca, --cert and --key (tools_tls.h): TOOL_ARGS_TLS in the table,
 *   tool_args_tls to take them.
 * - A bad option or a missing value is not printed by getopt: next returns
 *   TOOL_ARGS_BAD with the reason in `why`, which the tool prints in its
 *   own usage error (its exit status 2).
 *
 * getopt_long's state is global: one parse at a time, main thread.
 */
#ifndef ATP_TOOL_ARGS_H
#define ATP_TOOL_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "tools_tls.h"

/* Option codes of the shared long-only options; a tool numbers its own
 * long-only options from TOOL_ARGS_OWN up. */
enum {
    TOOL_ARGS_CA = 0x100,
    TOOL_ARGS_CERT,
    TOOL_ARGS_KEY,
    TOOL_ARGS_OWN = 0x200,
};

#define TOOL_ARGS_END (-1) /* no more options (tool_args.rest: operands) */
#define TOOL_ARGS_BAD '?'  /* unknown option, missing or unwanted value */

#define TOOL_ARGS_STD                                                          \
    {"help", no_argument, NULL, 'h'},                                          \
    {                                                                          \
        "version", no_argument, NULL, 'V'                                      \
    }
#define TOOL_ARGS_TLS                                                          \
    {"ca", required_argument, NULL, TOOL_ARGS_CA},                             \
        {"cert", required_argument, NULL, TOOL_ARGS_CERT},                     \
    {                                                                          \
        "key", required_argument, NULL, TOOL_ARGS_KEY                          \
    }

typedef struct tool_args {
    int argc;
    char **argv; /* getopt_long may reorder it (operands after options) */
    const char *shortopts;         /* ":hV..." as built by tool_args_init */
    const struct option *longopts; /* ends with an all-zero entry */
    const char *name; /* the option just read, as given ("--rate") */
    const char *val;  /* its value, NULL when it takes none */
    int rest;         /* after TOOL_ARGS_END: argv[rest..argc) operands */
    int missing;      /* after TOOL_ARGS_BAD: the option whose value is
                       * missing (its code), else 0 */
    char why[160];    /* after TOOL_ARGS_BAD: what was wrong */
} tool_args;

/* tool_args_init starts a parse of argv. shortopts as getopt's, without
 * the leading ':' (added here); a leading '+' stops at the first operand
 * (atp-feed and atp-bench take none), else options and operands may mix
 * (atpctl). The strings are borrowed. */
void tool_args_init(tool_args *t, int argc, char **argv, const char *shortopts,
                    const struct option *longopts);

/* tool_args_next returns the next option's code (the `val` of its table
 * entry), TOOL_ARGS_END, or TOOL_ARGS_BAD (t->why says why). */
int tool_args_next(tool_args *t);

/* tool_args_take_more: an option with a list of values ("--replay A B"):
 * the next argument when it is not an option (does not start with "--"),
 * consumed; NULL otherwise. Only with a leading '+' in shortopts. */
const char *tool_args_take_more(tool_args *t);

/* tool_args_tls stores the value of --ca, --cert or --key in *tls when opt
 * is one of them: 1; 0 when opt is another option; -1 (t->why set) when
 * the value is empty. */
int tool_args_tls(tool_args *t, int opt, tools_tls *tls);

/* tool_args_u64 parses a whole decimal (or 0x hex) number in [min, max]. */
bool tool_args_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* tool_args_double parses a whole finite number in [min, max]. */
bool tool_args_double(const char *s, double min, double max, double *out);

/* tool_args_version prints "PROG VERSION (wire protocol N)" to stdout:
 * --version of every tool. */
void tool_args_version(const char *prog);

#endif
