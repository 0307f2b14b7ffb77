/*
 * bench_cluster.h - atp-bench --cluster N (docs/CLUSTER.md,
 * docs/PERFORMANCE.md "Cluster"): N nats-servers (a JetStream cluster when
 * N > 1) and N atpd nodes of one partition, on loopback ports picked here,
 * started with atpd and stopped with it. Node 1 is started first, so it
 * takes the lease and is the atpd every scenario measures; nodes 2..N are
 * its standbys, whose CPU (and the nats-servers') is reported per request
 * beside it. Main thread.
 */
#ifndef ATP_BENCH_CLUSTER_H
#define ATP_BENCH_CLUSTER_H

#include "atp_bench.h"

/* bench_cluster_start starts the nats-servers (stores under data_dir) and
 * writes node 1's configuration: app's configuration plus a cluster:
 * section. Returns its path, or NULL (printed why). */
const char *bench_cluster_start(bench_app *app, const char *data_dir);

/* bench_cluster_standbys starts nodes 2..N and waits (bounded) until each
 * follows the stream as a standby. 0 or -1 (printed why). */
int bench_cluster_standbys(bench_app *app, const char *data_dir);

/* bench_cluster_stop stops the standbys and the nats-servers. */
void bench_cluster_stop(bench_app *app);

/* bench_cluster_cpu_s: CPU seconds used so far by the standbys (returned)
 * and by the nats-servers (*nats_s). */
double bench_cluster_cpu_s(bench_app *app, double *nats_s);

/* bench_cluster_report prints and records (JSON section cluster_<label>)
 * the CPU per request of the owner, the standbys and the nats-servers
 * over a run, from their CPU seconds at its start. */
struct bench_run_result;
void bench_cluster_report(bench_app *app, const char *label,
                          const struct bench_run_result *res, double standby0_s,
                          double nats0_s);

#endif
