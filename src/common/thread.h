/* thread.h - naming our threads, so `top -H`, `ps -L` and profiles tell
 * the engine from the store writer. Calling thread only. */
#ifndef ATP_THREAD_H
#define ATP_THREAD_H

/* thread_name: name the calling thread (at most 15 characters are kept;
 * failure is harmless and ignored). */
void thread_name(const char *name);

#endif
