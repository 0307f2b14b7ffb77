/*
 * bench_wrk.h - a cross-check of atp-bench's HTTP client: single-line ATP
 * over HTTP and the HTTP floor driven by wrk (Debian's wrk 4.1, one thread,
 * a generated Lua script drawing the same SKUs as the point scenario), so
 * that the ratio atpd-http / http-floor is also measured with a client
 * that costs the shared CPUs less than libcurl (docs/PERFORMANCE.md, "HTTP:
 * the client"). Closed loop only (wrk has no fixed rate); wrk's own
 * percentiles, no per-second series. Main thread.
 */
#ifndef ATP_BENCH_WRK_H
#define ATP_BENCH_WRK_H

#include "atp_bench.h"

/* bench_wrk_point runs wrk repeats times against atpd's HTTP URL and the
 * HTTP floor, interleaved, and adds the entries "atpd-http-wrk" and
 * "http-floor-wrk" of scenario "point". Returns 0, or -1 (warned) when wrk
 * is missing or a run failed. */
int bench_wrk_point(bench_app *app, unsigned repeats);
/* bench_wrk_reserve: the same for durable one-line reservations that all
 * expire (reserve only, --reserve-mix 0,0,100), scenario "reserve-single"
 * op "reserve"; compare with atpd over nng at that mix. */
int bench_wrk_reserve(bench_app *app, unsigned repeats);

#endif
