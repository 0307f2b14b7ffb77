/*
 * bench_proc.c - child processes, ports, directories, machine facts
 * (bench_proc.h). Main thread, except bench_proc_kill_all which may run
 * from a signal handler (it only calls kill and waitpid).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _GNU_SOURCE
#include "bench_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define BENCH_MAX_CHILDREN 32

static volatile pid_t bench_children[BENCH_MAX_CHILDREN];

static void bench_child_add(pid_t pid)
{
    for (int i = 0; i < BENCH_MAX_CHILDREN; i++) {
        if (bench_children[i] == 0) {
            bench_children[i] = pid;
            return;
        }
    }
}

static void bench_child_del(pid_t pid)
{
    for (int i = 0; i < BENCH_MAX_CHILDREN; i++)
        if (bench_children[i] == pid)
            bench_children[i] = 0;
}

void bench_proc_kill_all(void)
{
    for (int i = 0; i < BENCH_MAX_CHILDREN; i++) {
        pid_t pid = bench_children[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            bench_children[i] = 0;
        }
    }
}

static void bench_on_signal(int sig)
{
    bench_proc_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void bench_proc_install_signals(void)
{
    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(bench_proc_kill_all);
}

int bench_proc_spawn(bench_proc *p, const char *name, char *const argv[],
                     const char *log_path, bool batch)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid_t parent = getpid();
    p->started_ns = clock_mono_ns();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        /* Between fork and exec of a threaded process only calls that take
         * no lock (no stdio, no malloc): raw system calls and fixed text. */
        static const char refused[] = "atp-bench: SCHED_BATCH refused\n";
        static const char noexec[] = "atp-bench: cannot run ";
        struct sched_param prio0 = {.sched_priority = 0};
        if (batch && sched_setscheduler(0, SCHED_BATCH, &prio0) != 0)
            (void)!write(2, refused, sizeof refused - 1);
        execv(argv[0], argv);
        (void)!write(2, noexec, sizeof noexec - 1);
        (void)!write(2, argv[0], strlen(argv[0]));
        (void)!write(2, "\n", 1);
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    bench_child_add(pid);
    return 0;
}

bool bench_proc_alive(bench_proc *p)
{
    if (p->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        bench_child_del(p->pid);
        p->pid = 0;
        return false;
    }
    return true;
}

int bench_proc_stop(bench_proc *p, int sig, int grace_ms)
{
    if (p->pid <= 0)
        return -1;
    pid_t pid = p->pid;
    kill(pid, sig);
    int st = -1;
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0) {
            st = -1;
            break;
        }
        if (waited >= grace_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    bench_child_del(pid);
    p->pid = 0;
    return st;
}

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void bench_mem_get(pid_t pid, bench_mem *m)
{
    char path[64], line[256];
    *m = (bench_mem){-1, -1, -1, -1};
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "VmRSS: %ld kB", &m->rss_kb);
        sscanf(line, "VmHWM: %ld kB", &m->hwm_kb);
        sscanf(line, "RssAnon: %ld kB", &m->anon_kb);
        sscanf(line, "RssFile: %ld kB", &m->file_kb);
    }
    fclose(f);
}

double bench_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat",
             pid > 0 ? (int)pid : (int)getpid());
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may contain spaces */
    unsigned long long ut, st;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

char *bench_mkdtemp(const char *base)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s/atp-bench.XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(buf) == NULL)
        return NULL;
    return strdup(buf);
}

static int bench_rm_one(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void bench_rm_rf(const char *dir)
{
    if (dir != NULL && *dir)
        nftw(dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool bench_exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return true;
}

bool bench_file_exists(const char *path)
{
    return access(path, X_OK) == 0;
}

void bench_machine_get(bench_machine *m)
{
    memset(m, 0, sizeof *m);
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL) {
                    c++;
                    while (*c == ' ')
                        c++;
                    c[strcspn(c, "\n")] = '\0';
                    snprintf(m->cpu, sizeof m->cpu, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) == 0)
        if ((size_t)snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname,
                             u.release, u.machine) >= sizeof m->kernel)
            m->kernel[sizeof m->kernel - 1] = '\0';
    gethostname(m->hostname, sizeof m->hostname - 1);
    f = fopen("/proc/meminfo", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "MemTotal: %ld kB", &m->mem_kb) == 1)
                break;
        fclose(f);
    }
}

void bench_cmd_output(const char *cmd, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return;
    if (fgets(buf, (int)len, f) == NULL)
        buf[0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    pclose(f);
}
