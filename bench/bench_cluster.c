/*
 * bench_cluster.c - atp-bench --cluster N (bench_cluster.h).
 */
#include "bench_cluster.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_load.h"
#include "bench_proc.h"
#include "bench_report.h"
#include "codec/codec.h"
#include "common/clock.h"

static int bench_nats_ports[5], bench_route_ports[5];

/* bench_port_open: something accepts TCP connections on 127.0.0.1:port. */
static bool bench_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *bench_nats_path(const bench_app *app)
{
    if (app->a.nats_server != NULL)
        return app->a.nats_server;
    return access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
                                                      : "/usr/bin/nats-server";
}

/* bench_cluster_write_cfg writes node k's configuration (k from 1): the
 * bench's own configuration file and a cluster: section. */
static int bench_cluster_write_cfg(bench_app *app, unsigned k, char *path,
                                   size_t cap)
{
    snprintf(path, cap, "%s/atpd-node%u.yaml", app->tmp, k);
    FILE *in = fopen(app->cfg_path, "r"), *out = fopen(path, "w");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "atp-bench: cannot write %s: %s\n", path,
                strerror(errno));
        if (in != NULL)
            fclose(in);
        if (out != NULL)
            fclose(out);
        return -1;
    }
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, out);
    fclose(in);
    fprintf(out, "\n# added by atp-bench --cluster\ncluster:\n  nats: [");
    for (unsigned j = 0; j < app->a.cluster; j++)
        fprintf(out, "%snats://127.0.0.1:%d", j ? ", " : "",
                bench_nats_ports[j]);
    fprintf(out, "]\n  node: bench-%u\n  replicas: %u\n  lease: 3s\n", k,
            app->a.cluster);
    return fclose(out) == 0 ? 0 : -1;
}

const char *bench_cluster_start(bench_app *app, const char *data_dir)
{
    unsigned n = app->a.cluster;
    for (unsigned k = 0; k < n; k++) {
        bench_nats_ports[k] = bench_free_port();
        bench_route_ports[k] = bench_free_port();
    }
    for (unsigned k = 0; k < n; k++) {
        char name[32], port[16], store[1200], cluster[64], routes[512] = "",
                                                           log[1200];
        snprintf(name, sizeof name, "bench-nats-%u", k + 1);
        snprintf(port, sizeof port, "%d", bench_nats_ports[k]);
        snprintf(store, sizeof store, "%s-nats-%u", data_dir, k + 1);
        snprintf(cluster, sizeof cluster, "nats://127.0.0.1:%d",
                 bench_route_ports[k]);
        for (unsigned j = 0; j < n; j++) {
            if (j == k)
                continue;
            size_t used = strlen(routes);
            snprintf(routes + used, sizeof routes - used,
                     "%snats://127.0.0.1:%d", used ? "," : "",
                     bench_route_ports[j]);
        }
        snprintf(log, sizeof log, "%s/nats-%u.log", app->tmp, k + 1);
        char *argv[] = {(char *)bench_nats_path(app),
                        "-n",
                        name,
                        "-a",
                        "127.0.0.1",
                        "-p",
                        port,
                        "-js",
                        "-sd",
                        store,
                        n > 1 ? "--cluster_name" : NULL,
                        "atp-bench",
                        "--cluster",
                        cluster,
                        "--routes",
                        routes,
                        NULL};
        if (bench_proc_spawn(&app->nats[k], "nats-server", argv, log,
                             app->a.sched_batch) != 0) {
            fprintf(stderr, "atp-bench: cannot start %s: %s\n", argv[0],
                    strerror(errno));
            return NULL;
        }
    }
    int64_t deadline = clock_mono_ns() + 30000000000LL;
    for (unsigned k = 0; k < n; k++) {
        while (!bench_port_open(bench_nats_ports[k]) &&
               clock_mono_ns() < deadline && bench_proc_alive(&app->nats[k]))
            bench_sleep_ms(20);
        if (!bench_port_open(bench_nats_ports[k])) {
            fprintf(stderr, "atp-bench: nats-server %u did not listen\n",
                    k + 1);
            return NULL;
        }
    }
    return bench_cluster_write_cfg(app, 1, app->cluster_cfg_path,
                                   sizeof app->cluster_cfg_path) == 0
               ? app->cluster_cfg_path
               : NULL;
}

/* bench_standby_following: node's status says it is a standby, connected
 * to NATS, with no lag. */
static bool bench_standby_following(const char *url)
{
    client *c = NULL;
    client_opts o = {.url = url, .timeout_ms = 1000};
    if (client_open(&o, &c, NULL, 0) != ATP_OK)
        return false;
    codec_arena *a = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    bool ok = false;
    const codec_val *reply = NULL;
    if (a != NULL && w != NULL) {
        codec_w_map(w, 1);
        codec_w_kv_cstr(w, "op", "status");
        if (client_request(c, w, a, &reply) == ATP_OK) {
            const codec_val *cl = codec_val_get(reply, "cluster");
            codec_str role = {0};
            bool up = false;
            uint64_t lag = 1;
            ok = cl != NULL &&
                 codec_val_str(codec_val_get(cl, "role"), &role) &&
                 role.len == 7 && memcmp(role.ptr, "standby", 7) == 0 &&
                 codec_val_bool(codec_val_get(cl, "connected"), &up) && up &&
                 codec_val_uint(codec_val_get(cl, "lag"), &lag) && lag == 0;
        }
    }
    codec_writer_free(w);
    codec_arena_free(a);
    client_close(c);
    return ok;
}

int bench_cluster_standbys(bench_app *app, const char *data_dir)
{
    for (unsigned k = 2; k <= app->a.cluster; k++) {
        char cfg[1100], dir[1200], log[1200], query[64];
        if (bench_cluster_write_cfg(app, k, cfg, sizeof cfg) != 0)
            return -1;
        snprintf(dir, sizeof dir, "%s-node%u", data_dir, k);
        snprintf(log, sizeof log, "%s/atpd-node%u.log", app->tmp, k);
        snprintf(query, sizeof query, "tcp://127.0.0.1:%d", bench_free_port());
        char any[] = "tcp://127.0.0.1:0";
        char *argv[] = {(char *)app->a.atpd,
                        "--config",
                        cfg,
                        "--query-listen",
                        query,
                        "--ingest-listen",
                        any,
                        "--feed-listen",
                        any,
                        "--control-listen",
                        any,
                        "--data-dir",
                        dir,
                        "--log-level",
                        "warn",
                        NULL};
        bench_proc *p = &app->standby[k - 2];
        if (bench_proc_spawn(p, "atpd-standby", argv, log,
                             app->a.sched_batch) != 0) {
            fprintf(stderr, "atp-bench: cannot start %s: %s\n", argv[0],
                    strerror(errno));
            return -1;
        }
        int64_t deadline = clock_mono_ns() + 60000000000LL;
        while (!bench_standby_following(query)) {
            if (clock_mono_ns() > deadline || !bench_proc_alive(p)) {
                fprintf(stderr,
                        "atp-bench: standby node %u did not follow the "
                        "stream within 60 s (log: %s)\n",
                        k, log);
                return -1;
            }
            bench_sleep_ms(50);
        }
    }
    return 0;
}

void bench_cluster_stop(bench_app *app)
{
    for (unsigned k = 0; k < 4; k++)
        if (app->standby[k].pid > 0)
            bench_proc_stop(&app->standby[k], SIGKILL, 0);
    for (unsigned k = 0; k < 5; k++)
        if (app->nats[k].pid > 0)
            bench_proc_stop(&app->nats[k], SIGTERM, 5000);
}

double bench_cluster_cpu_s(bench_app *app, double *nats_s)
{
    double standby = 0, nats = 0;
    for (unsigned k = 0; k < 4; k++)
        if (app->standby[k].pid > 0)
            standby += bench_cpu_s(app->standby[k].pid);
    for (unsigned k = 0; k < 5; k++)
        if (app->nats[k].pid > 0)
            nats += bench_cpu_s(app->nats[k].pid);
    *nats_s = nats;
    return standby;
}

void bench_cluster_report(bench_app *app, const char *label,
                          const struct bench_run_result *res, double standby0_s,
                          double nats0_s)
{
    double nats_s = 0;
    double standby_s = bench_cluster_cpu_s(app, &nats_s) - standby0_s;
    nats_s -= nats0_s;
    uint64_t done = atomic_load(&res->completed);
    if (done == 0)
        return;
    double per = 1e6 / (double)done, owner = res->server_cpu_s * per,
           standbys = standby_s * per, nats = nats_s * per;
    unsigned n = app->a.cluster;
    printf("[%s] cluster of %u: CPU per request: owner %.1f us, standbys "
           "%.1f us (%u), nats-servers %.1f us (%u), all %.1f us\n",
           label, n, owner, standbys, n - 1, nats, n, owner + standbys + nats);
    char key[128];
    snprintf(key, sizeof key, "cluster_%s", label);
    for (char *p = key; *p; p++)
        if (*p == '/' || *p == '-' || *p == ' ' || *p == '#')
            *p = '_';
    bench_report_section(app->rep, key,
                         "{\"nodes\": %u, \"requests\": %llu, "
                         "\"owner_cpu_us_per_req\": %.2f, "
                         "\"standbys_cpu_us_per_req\": %.2f, "
                         "\"nats_cpu_us_per_req\": %.2f}",
                         n, (unsigned long long)done, owner, standbys, nats);
}
