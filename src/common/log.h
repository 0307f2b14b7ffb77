/*
 * log.h - leveled logging to stderr, one line per call, safe from any thread
 * (each line is written with a single fprintf, which stdio locks).
 */
#ifndef ATP_LOG_H
#define ATP_LOG_H

#include <stdbool.h>

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* log_set_level sets the minimum level printed; thread-safe. */
void log_set_level(log_level lvl);
/* log_parse_level maps "debug".."error" to a level; false if unknown. */
bool log_parse_level(const char *s, log_level *out);
bool log_enabled(log_level lvl);
void log_write(log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_write(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif
