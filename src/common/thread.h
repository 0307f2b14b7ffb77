/* thread.h - naming our threads, so `top -H`, `ps -L` and profiles tell
 * the engine from the store writer (calling thread only), and their CPU
 * scheduling policy (the whole process). */
#ifndef ATP_THREAD_H
#define ATP_THREAD_H

/* thread_name: name the calling thread (at most 15 characters are kept;
 * failure is harmless and ignored). */
void thread_name(const char *name);

/* thread_sched_batch puts every thread of the process under SCHED_BATCH;
 * threads created afterwards inherit it. A batch thread woken up does not preempt
 * the thread that woke it: on a busy machine the engine thread, which wakes
 * nng's threads with every reply it sends, then finishes its burst instead
 * of being switched out mid-way (docs/PERFORMANCE.md has the measurements).
 * Returns 0 or an errno value. */
int thread_sched_batch(void);

/* thread_sched_name names the calling thread's policy: "batch" or
 * "normal" (SCHED_OTHER), else "realtime" or "idle". */
const char *thread_sched_name(void);

#endif
