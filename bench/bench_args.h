/*
 * bench_args.h - atp-bench's command line: --help, the options read with
 * getopt_long in the tools' conventions (tools/common/tool_args.h), the
 * defaults that depend on the scale (--tiny, quick). Main thread.
 */
#ifndef ATP_BENCH_ARGS_H
#define ATP_BENCH_ARGS_H

#include "atp_bench.h"

/* bench_args_parse fills *a from argv. Returns -1 when atp-bench should
 * run; otherwise the exit status: 0 after printing --help or --version,
 * 2 after printing a usage error to stderr. --ca/--cert/--key are handed
 * to tools_tls_set. */
int bench_args_parse(int argc, char **argv, bench_args *a);

#endif
