/*
 * bench_wake.c - thread hand-off round trips (bench_wake.h). Pipes rather
 * than futexes: a blocking read is how an idle thread waits in every
 * server here (epoll, condition variables), and the figure matches
 * `perf bench sched pipe`.
 */
#define _GNU_SOURCE
#include "bench_wake.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

typedef struct wake_pair {
    int ping[2], pong[2];
    int cpu;     /* the echo thread's CPU */
    bool placed; /* the echo thread runs there (read after the join) */
} wake_pair;

static int64_t wake_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool wake_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

/* wake_echo answers every byte until the ping pipe is closed. */
static void *wake_echo(void *arg)
{
    wake_pair *p = arg;
    p->placed = wake_pin(p->cpu);
    char c;
    while (read(p->ping[0], &c, 1) == 1)
        if (write(p->pong[1], &c, 1) != 1)
            break;
    return NULL;
}

/* wake_round_trips: microseconds per round trip from CPU a to CPU b, or
 * -1 when a thread cannot be placed. */
static double wake_round_trips(int a, int b, unsigned rounds, double max_s)
{
    wake_pair p = {.cpu = b};
    if (pipe(p.ping) != 0)
        return -1;
    if (pipe(p.pong) != 0) {
        close(p.ping[0]);
        close(p.ping[1]);
        return -1;
    }
    cpu_set_t saved;
    bool restore =
        pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    double us = -1;
    pthread_t t;
    /* Pin only what can be unpinned: the servers atp-bench starts later
     * inherit this thread's CPU mask. */
    if (restore && wake_pin(a) &&
        pthread_create(&t, NULL, wake_echo, &p) == 0) {
        char c = 'x';
        unsigned done = 0;
        int64_t t0 = wake_now_ns(), limit = t0 + (int64_t)(max_s * 1e9);
        /* a few rounds first: thread start-up is no hand-off */
        for (unsigned i = 0; i < rounds + 100; i++) {
            if (i == 100) {
                t0 = wake_now_ns();
                done = 0;
            }
            if (write(p.ping[1], &c, 1) != 1 || read(p.pong[0], &c, 1) != 1)
                break;
            done++;
            if ((i & 255) == 255 && wake_now_ns() > limit)
                break;
        }
        int64_t t1 = wake_now_ns();
        close(p.ping[1]); /* the echo thread reads EOF and ends */
        p.ping[1] = -1;
        pthread_join(t, NULL);
        if (done > 0 && p.placed)
            us = (double)(t1 - t0) / 1e3 / done;
    }
    if (restore)
        pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    close(p.ping[0]);
    if (p.ping[1] >= 0)
        close(p.ping[1]);
    close(p.pong[0]);
    close(p.pong[1]);
    return us;
}

bool bench_wake_measure(unsigned rounds, double max_s, bench_wake *out)
{
    /* Two CPUs this process may run on. */
    cpu_set_t set;
    int cpus[2], n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    if (n == 0)
        return false;
    out->same_cpu_us = wake_round_trips(cpus[0], cpus[0], rounds, max_s);
    out->cross_cpu_us =
        n < 2 ? -1 : wake_round_trips(cpus[0], cpus[1], rounds, max_s);
    return out->same_cpu_us > 0;
}
