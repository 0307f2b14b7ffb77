/*
 * bench_proc.h - the processes atp-bench starts (atpd, the echo server,
 * redis-server): spawn, stop by pid, free loopback ports, temporary
 * directories, memory of a process, machine facts.
 *
 * Every child is registered; bench_proc_kill_all (atexit, SIGINT/SIGTERM)
 * stops those still running, and each child gets PR_SET_PDEATHSIG so that
 * it dies with atp-bench even when atp-bench is killed outright.
 * Main thread only.
 */
#ifndef ATP_BENCH_PROC_H
#define ATP_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_proc {
    pid_t pid; /* 0: not running */
    char name[32];
    int64_t started_ns; /* monotonic, just before fork */
    char log_path[512];
} bench_proc;

/* bench_proc_spawn starts argv (argv[0] is a path) with stdout and stderr
 * appended to log_path; under SCHED_BATCH when batch is set (the baselines
 * run under the scheduling atpd is configured with: same conditions).
 * Returns 0 or -1 (errno kept). */
int bench_proc_spawn(bench_proc *p, const char *name, char *const argv[],
                     const char *log_path, bool batch);
/* bench_proc_stop sends sig (SIGTERM or SIGKILL), waits up to grace_ms, then
 * SIGKILL. Returns the wait status, or -1 if it was not running. */
int bench_proc_stop(bench_proc *p, int sig, int grace_ms);
/* bench_proc_alive reaps p if it exited; true while it runs. */
bool bench_proc_alive(bench_proc *p);
void bench_proc_kill_all(void);
/* bench_proc_install_signals: SIGINT/SIGTERM kill the children and exit. */
void bench_proc_install_signals(void);

/* bench_free_port returns a free TCP port on 127.0.0.1 (0 on failure). */
int bench_free_port(void);
/* A process's memory from /proc/PID/status, in KiB (-1: unknown). */
typedef struct bench_mem {
    long rss_kb, hwm_kb;   /* VmRSS, VmHWM (peak) */
    long anon_kb, file_kb; /* RssAnon, RssFile (mapped file pages) */
} bench_mem;
void bench_mem_get(pid_t pid, bench_mem *m);
/* bench_cpu_s returns the CPU time (user + system) pid used so far, in
 * seconds (clock-tick resolution), or -1. pid 0: this process. */
double bench_cpu_s(pid_t pid);
/* bench_mkdtemp creates <base>/atp-bench.XXXXXX; returns a malloc'd path. */
char *bench_mkdtemp(const char *base);
/* bench_rm_rf removes dir and everything below it. */
void bench_rm_rf(const char *dir);
/* bench_exe_dir writes the directory of the running executable. */
bool bench_exe_dir(char *buf, size_t len);
bool bench_file_exists(const char *path);

/* Machine facts for the report. */
typedef struct bench_machine {
    long nproc;
    char cpu[128];
    char kernel[128];
    long mem_kb;
    char hostname[64];
} bench_machine;

void bench_machine_get(bench_machine *m);
/* bench_cmd_output runs a shell command and keeps the first line of its
 * output (for versions); "" when it fails. */
void bench_cmd_output(const char *cmd, char *buf, size_t len);

#endif
