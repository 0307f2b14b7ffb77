/*
 * bench_import.c - the import scenario (atp-bench --scenario import): how
 * fast atp-import takes a large file into atpd (docs/PERFORMANCE.md,
 * "Import"). Main thread.
 *
 * Two generated files of --import-lines lines each, setting the same
 * positions (SKU IMP-n at the source's on-hand locations): an X12 846 (one
 * LIN and one QTY per line) and a CSV. Each is run through the real
 * atp-import binary against the real atpd, alternately, three times: with
 * --check (reading and checking only: the parser's rate) and for real (until
 * atpd's `sources` shows it applied: the end-to-end rate). Reported: lines
 * per second (median), atp-import's CPU per line (wait4's rusage) and
 * atpd's CPU per line (its /proc stat before and after).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atp_bench.h"
#include "bench_proc.h"
#include "bench_report.h"
#include "bench_scenarios.h"
#include "common/clock.h"

extern char **environ;

#define BI_RUNS 3

typedef struct bi_result {
    double wall_s, cpu_s, atpd_cpu_s;
    int status;
} bi_result;

static int bi_write_846(const char *path, const bench_app *app, uint64_t n,
                        int64_t qty)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "ISA*00*          *00*          *ZZ*BENCH          *ZZ*ATPD    "
            "       *261201*1200*U*00401*000000001*0*P*>~\n"
            "GS*IB*BENCH*ATPD*20261201*1200*1*X*004010~\n"
            "ST*846*0001~\nBIA*00*DD*BENCH*20261201~\n"
            "N1*WH*BENCH*92*%s~\n",
            app->src_locs[0]);
    for (uint64_t i = 0; i < n; i++)
        fprintf(f, "LIN**SK*IMP-%llu~\nQTY*17*%lld*EA~\n",
                (unsigned long long)i, (long long)(qty + (int64_t)(i % 7)));
    fprintf(f, "SE*%llu*0001~\nGE*1*1~\nIEA*1*000000001~\n",
            (unsigned long long)(2 * n + 4));
    return fclose(f) == 0 ? 0 : -1;
}

static int bi_write_csv(const char *path, const bench_app *app, uint64_t n,
                        int64_t qty)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "sku,location,qty\n");
    for (uint64_t i = 0; i < n; i++)
        fprintf(f, "IMP-%llu,%s,%lld\n", (unsigned long long)i,
                app->src_locs[0], (long long)(qty + (int64_t)(i % 7)));
    return fclose(f) == 0 ? 0 : -1;
}

/* bi_run runs atp-import with argv, output to log; its wall and CPU time. */
static int bi_run(const bench_app *app, char *const argv[], const char *log,
                  bi_result *r)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    double atpd0 = bench_cpu_s(app->atpd.pid);
    int64_t t0 = clock_mono_ns();
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    struct rusage ru;
    int status;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    r->wall_s = (double)(clock_mono_ns() - t0) / 1e9;
    r->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    r->atpd_cpu_s = bench_cpu_s(app->atpd.pid) - atpd0;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return 0;
}

static int bi_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bi_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bi_cmp);
    return v[n / 2];
}

/* One format's runs: [0] --check, [1] published. */
typedef struct bi_format {
    const char *name;
    char path[1100];
    long long bytes;
    bi_result runs[2][BI_RUNS];
} bi_format;

static void bi_report(bench_app *app, const bi_format *fm, int n_fm,
                      uint64_t lines)
{
    char json[2048];
    size_t off = 0;
    off += (size_t)snprintf(json + off, sizeof json - off,
                            "{\"lines\": %llu, \"runs\": %d",
                            (unsigned long long)lines, BI_RUNS);
    for (int f = 0; f < n_fm; f++) {
        double rate[2][BI_RUNS], cpu[2][BI_RUNS], atpd[BI_RUNS];
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < BI_RUNS; k++) {
                const bi_result *r = &fm[f].runs[m][k];
                rate[m][k] = (double)lines / r->wall_s;
                cpu[m][k] = r->cpu_s * 1e6 / (double)lines;
                if (m == 1)
                    atpd[k] = r->atpd_cpu_s * 1e6 / (double)lines;
            }
        double check_rate = bi_median(rate[0], BI_RUNS),
               check_cpu = bi_median(cpu[0], BI_RUNS),
               pub_rate = bi_median(rate[1], BI_RUNS),
               pub_cpu = bi_median(cpu[1], BI_RUNS),
               atpd_cpu = bi_median(atpd, BI_RUNS);
        off += (size_t)snprintf(
            json + off, sizeof json - off,
            ", \"%s\": {\"bytes\": %lld, \"check_lines_per_s\": %.0f, "
            "\"check_cpu_us_per_line\": %.3f, \"lines_per_s\": %.0f, "
            "\"import_cpu_us_per_line\": %.3f, \"atpd_cpu_us_per_line\": "
            "%.3f}",
            fm[f].name, fm[f].bytes, check_rate, check_cpu, pub_rate, pub_cpu,
            atpd_cpu);
        if (!app->a.quiet)
            fprintf(stderr,
                    "  %-4s %llu lines (%lld bytes): check %.0f lines/s (%.2f "
                    "us CPU/line); end to end %.0f lines/s (atp-import %.2f "
                    "us/line, atpd %.2f us/line)\n",
                    fm[f].name, (unsigned long long)lines, fm[f].bytes,
                    check_rate, check_cpu, pub_rate, pub_cpu, atpd_cpu);
    }
    snprintf(json + off, sizeof json - off, "}");
    bench_report_section(app->rep, "import", "%s", json);
}

int bench_scenario_import(bench_app *app)
{
    if (app->n_src_locs == 0 || app->own_atpd == false) {
        bench_report_warn(app->rep, "import needs atp-bench to start atpd "
                                    "itself and a source with on_hand "
                                    "locations: skipped");
        return 0;
    }
    char tool[1200], state[1100], log[1100];
    snprintf(tool, sizeof tool, "%s/../atp-import", app->exe_dir);
    if (access(tool, X_OK) != 0)
        snprintf(tool, sizeof tool, "%s/atp-import", app->exe_dir);
    snprintf(state, sizeof state, "%s/import-state", app->tmp);
    snprintf(log, sizeof log, "%s/atp-import.log", app->tmp);
    if (mkdir(state, 0755) != 0 && errno != EEXIST)
        return -1;
    uint64_t lines = app->a.import_lines;
    bi_format fm[2] = {{.name = "x12"}, {.name = "csv"}};
    snprintf(fm[0].path, sizeof fm[0].path, "%s/import.edi", app->tmp);
    snprintf(fm[1].path, sizeof fm[1].path, "%s/import.csv", app->tmp);
    if (bi_write_846(fm[0].path, app, lines, 100) != 0 ||
        bi_write_csv(fm[1].path, app, lines, 200) != 0) {
        bench_report_warn(app->rep, "import: cannot write the files");
        return -1;
    }
    for (int f = 0; f < 2; f++) {
        struct stat st;
        fm[f].bytes = stat(fm[f].path, &st) == 0 ? (long long)st.st_size : -1;
    }
    /* Interleaved: check and publish of each format, BI_RUNS rounds. */
    for (int k = 0; k < BI_RUNS; k++)
        for (int f = 0; f < 2; f++)
            for (int m = 0; m < 2; m++) {
                char *argv[18];
                int a = 0;
                argv[a++] = tool;
                argv[a++] = "--config";
                argv[a++] = app->cfg_path;
                argv[a++] = "--source";
                argv[a++] = (char *)app->source;
                argv[a++] = "--endpoint";
                argv[a++] = app->ingest_url;
                argv[a++] = "--control";
                argv[a++] = app->control_url;
                argv[a++] = "--query";
                argv[a++] = app->query_url;
                argv[a++] = "--timeout";
                argv[a++] = "300s";
                if (m == 0) {
                    argv[a++] = "--check";
                } else {
                    argv[a++] = "--state";
                    argv[a++] = state;
                }
                argv[a++] = fm[f].path;
                argv[a] = NULL;
                bi_result *r = &fm[f].runs[m][k];
                if (bi_run(app, argv, log, r) != 0 || r->status != 0) {
                    bench_report_warn(app->rep,
                                      "import: atp-import %s%s failed (exit "
                                      "%d; see %s)",
                                      fm[f].name, m == 0 ? " --check" : "",
                                      r->status, log);
                    return -1;
                }
            }
    bi_report(app, fm, 2, lines);
    return 0;
}
