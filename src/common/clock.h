/* clock.h - time sources. Any thread. */
#ifndef ATP_CLOCK_H
#define ATP_CLOCK_H

#include <stdint.h>

/* clock_mono_ms: monotonic milliseconds, for timeouts and ages. */
int64_t clock_mono_ms(void);
/* clock_mono_ns: monotonic nanoseconds, for latency measurement. */
int64_t clock_mono_ns(void);
/* clock_wall_ms: milliseconds since the Unix epoch, for wire timestamps. */
int64_t clock_wall_ms(void);

#endif
