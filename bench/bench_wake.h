/*
 * bench_wake.h - what one thread hand-off costs on this machine: two
 * threads pass a byte back and forth over pipes, first both on one CPU,
 * then on two different CPUs.
 *
 * Every request to atpd crosses threads (nng's poller and task threads,
 * atpd's engine and log writer for reservations), and on virtual machines
 * a wake-up sent to an idle CPU can cost ten times a switch on one CPU.
 * The report carries both figures so that latencies measured on two
 * machines can be compared with what their hand-offs cost.
 */
#ifndef ATP_BENCH_WAKE_H
#define ATP_BENCH_WAKE_H

#include <stdbool.h>

typedef struct bench_wake {
    double same_cpu_us; /* round trip (two wake-ups), both threads on one CPU */
    double cross_cpu_us; /* the same on two CPUs */
    /* < 0: not measured (one CPU usable, or threads could not be placed) */
} bench_wake;

/* bench_wake_measure runs `rounds` round trips per placement, at most
 * max_s seconds each (a busy machine gives fewer rounds, not a longer
 * run). false if threads or pipes cannot be made. */
bool bench_wake_measure(unsigned rounds, double max_s, bench_wake *out);

#endif
