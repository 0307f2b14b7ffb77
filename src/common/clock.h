/* clock.h - time sources, and deadlines for timed waits. Any thread. */
#ifndef ATP_CLOCK_H
#define ATP_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* clock_mono_ms: monotonic milliseconds, for timeouts and ages. */
int64_t clock_mono_ms(void);
/* clock_mono_ns: monotonic nanoseconds, for latency measurement. */
int64_t clock_mono_ns(void);
/* clock_wall_ms: milliseconds since the Unix epoch, for wire timestamps. */
int64_t clock_wall_ms(void);

/* Timed waits. Every condition variable that is waited on with a timeout
 * is made with clock_cond_init, and every deadline comes from
 * clock_deadline_ms: both on CLOCK_MONOTONIC, so a wall-clock step (NTP,
 * an operator's `date -s`) neither ends a wait early nor stretches it. */

/* clock_cond_init initialises cv to time its waits on CLOCK_MONOTONIC.
 * Returns pthread_cond_init's result. */
int clock_cond_init(pthread_cond_t *cv);
/* clock_deadline_ms returns the CLOCK_MONOTONIC time ms (>= 0)
 * milliseconds from now, for pthread_cond_timedwait on a condition
 * variable made with clock_cond_init. */
struct timespec clock_deadline_ms(int64_t ms);

#endif
