/*
 * log.h - leveled logging to stderr, one line per call, safe from any thread
 * (lines are formatted and written under one mutex, so they never mix).
 *
 * Two formats (service.log_format): text, "TIME LEVEL MODULE message", and
 * json, one object per line {"time", "level", "module", "message"} (plus
 * "suppressed" on a line that reports repeats), valid UTF-8 whatever the
 * message holds (invalid bytes become U+FFFD).
 *
 * Repeats: a line identical to one printed less than the repeat window ago
 * (same level, module and message) is not printed but counted; the next
 * identical line after the window is printed with the count ("(N identical
 * lines suppressed in the last S s)"); a count still pending when its slot
 * is taken by another line or at log_repeats_flush is printed as a summary
 * ("; a summary, not one more" in text, "summary": true in json), which is
 * not one more occurrence. Window 0: every line is printed.
 */
#ifndef ATP_LOG_H
#define ATP_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;
typedef enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format;

#define LOG_REPEAT_WINDOW_DEFAULT_MS 60000

/* log_set_level sets the minimum level printed; thread-safe. */
void log_set_level(log_level lvl);
/* log_parse_level maps "debug".."error" to a level; false if unknown. */
bool log_parse_level(const char *s, log_level *out);
bool log_enabled(log_level lvl);
/* log_set_format / log_set_repeat_window_ms: thread-safe, take effect with
 * the next line. */
void log_set_format(log_format fmt);
/* log_parse_format maps "text" / "json" to a format; false if unknown. */
bool log_parse_format(const char *s, log_format *out);
void log_set_repeat_window_ms(int64_t ms);
void log_write(log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_repeats_flush prints every pending count of suppressed repeats and
 * forgets the lines seen, so that the next of each is printed: at
 * shutdown (no count is lost) and before a reload (whose every line the
 * operator must see, also when the last reload said the same). Any thread. */
void log_repeats_flush(void);

#define log_debug(mod, ...) log_write(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif
