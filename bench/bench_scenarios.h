/*
 * bench_scenarios.h - atp-bench's scenarios (point, cart, reserve, ingest,
 * peak, restart, memory, tls, import, quick). Main thread.
 */
#ifndef ATP_BENCH_SCENARIOS_H
#define ATP_BENCH_SCENARIOS_H

#include "atp_bench.h"

/* bench_run_scenario runs the scenario `name` (quick: all but tls) and
 * adds its runs, sections and targets to app->rep. Returns 0, or -1 when
 * a scenario failed (the report says why). */
int bench_run_scenario(bench_app *app, const char *name);

/* bench_scenario_import: the import scenario (bench_import.c). */
int bench_scenario_import(bench_app *app);

#endif
