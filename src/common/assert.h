/* assert.h - invariants that must hold, checked where they are relied on.
 *
 * ATP_ASSERT(cond) is on in every build, release included. A broken
 * invariant in an inventory service is a promise about to be broken (a
 * negative reservation total, a bucket that no longer sums): stopping is
 * safer than answering, because every acknowledged reservation is already
 * in the store's log and a restart replays it (docs/OPERATIONS.md: the
 * service unit restarts atpd). Use it where the check costs a compare or
 * two, at module edges and on the engine's hot data.
 *
 * ATP_DASSERT(cond) is for checks that cost real work (a loop over a
 * bucket, a table walk): compiled in Debug and sanitizer builds
 * (ATP_DEBUG_ASSERTS, set by CMakeLists.txt), in release it compiles to
 * nothing but still type-checks its argument, which is not evaluated.
 *
 * A failed assertion writes one line to stderr
 * ("atpd: assertion failed: <expr> (<file>:<line> <function>)") and calls
 * abort(), so a core dump and the sanitizers' stack trace follow.
 *
 * Thread ownership: an atp_owner records the thread that owns some data
 * (the engine thread owns the engine's tables); ATP_ASSERT_OWNER(o) checks
 * that the calling thread is that thread, in debug builds, once
 * atp_owner_claim(o) has been called. Before the claim (start-up and
 * restore run on the main thread) and after atp_owner_release it holds for
 * every thread. */
#ifndef ATP_ASSERT_H
#define ATP_ASSERT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

_Noreturn void atp_assert_fail(const char *expr, const char *file, int line,
                               const char *func);

#define ATP_ASSERT(cond)                                                       \
    ((cond) ? (void)0 : atp_assert_fail(#cond, __FILE__, __LINE__, __func__))

#ifdef ATP_DEBUG_ASSERTS
#define ATP_DASSERT(cond) ATP_ASSERT(cond)
#else
#define ATP_DASSERT(cond) ((void)sizeof(!(cond)))
#endif

typedef struct atp_owner {
    atomic_bool claimed;
    pthread_t thread;
} atp_owner;

/* atp_owner_claim: the calling thread owns o from now on. */
void atp_owner_claim(atp_owner *o);

/* atp_owner_release: no thread owns o any more (the owner stopped). */
void atp_owner_release(atp_owner *o);

/* atp_owner_holds: true when o is unclaimed or claimed by the caller. */
bool atp_owner_holds(atp_owner *o);

#define ATP_ASSERT_OWNER(o) ATP_DASSERT(atp_owner_holds(o))

#endif
