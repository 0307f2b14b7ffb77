/* thread.h - naming our threads, so `top -H`, `ps -L` and profiles tell
 * the engine from the store writer (calling thread only), and their CPU
 * scheduling policy (the whole process). */
#ifndef ATP_THREAD_H
#define ATP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* thread_name: name the calling thread (at most 15 characters are kept;
 * failure is harmless and ignored). */
void thread_name(const char *name);

/* thread_sched_batch puts every thread of the process under SCHED_BATCH;
 * threads created afterwards inherit it. A batch thread woken up does not
 * preempt the thread that woke it: on a busy machine the engine thread, which
 * wakes nng's threads with every reply it sends, then finishes its burst
 * instead of being switched out mid-way (docs/PERFORMANCE.md has the
 * measurements). Returns 0 or an errno value. */
int thread_sched_batch(void);

/* thread_sched_name names the calling thread's policy: "batch" or
 * "normal" (SCHED_OTHER), else "realtime" or "idle". */
const char *thread_sched_name(void);

/* thread_run_bounded runs fn on a copy of arg[0..arg_size) (at most 64
 * bytes) on a new thread and waits at most ms for it. Returns true when fn
 * returned in time (or ran on the calling thread because no thread could
 * be started); false when it is still running: a warning naming `what` is
 * logged, and the call is left behind, detached (it frees its copy if it
 * ever returns).
 *
 * For a call that must not hold up a shutdown forever: nng 1.5.2's
 * nng_close can wait forever for a pipe that a peer is connecting or
 * sending on at that moment (seen stopping atpd under a feeder sending
 * thousands of messages a second: every nng thread idle, the close waiting
 * on a condition nobody signals; the closes after it then wait too). The
 * transports close their sockets through this, 1 s each: a stop takes at
 * most 4 s more, and the kernel closes what is left at exit. */
bool thread_run_bounded(void (*fn)(void *arg), const void *arg, size_t arg_size,
                        int64_t ms, const char *what);

#endif
