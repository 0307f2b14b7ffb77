/*
 * log.c - leveled stderr logging with UTC timestamps, text or JSON lines,
 * identical repeats counted instead of printed. Any thread: one mutex
 * guards the repeat table and the write, so lines never interleave and a
 * count is printed once.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_MSG_MAX 1024
#define LOG_MODULE_MAX 32
#define LOG_REPEAT_SLOTS 64 /* distinct recent lines remembered */

static _Atomic int log_min_level = LOG_INFO;
static _Atomic int log_fmt = LOG_FORMAT_TEXT;
static _Atomic int64_t log_window_ms = LOG_REPEAT_WINDOW_DEFAULT_MS;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

/* One recently printed line (guarded by log_mu). */
typedef struct log_repeat {
    uint64_t hash; /* 0: empty */
    int level;
    char module[LOG_MODULE_MAX];
    char msg[LOG_MSG_MAX];
    int64_t printed_ms;  /* monotonic */
    uint64_t suppressed; /* identical lines since printed_ms */
} log_repeat;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_repeat log_repeats[LOG_REPEAT_SLOTS];

void log_set_level(log_level lvl)
{
    atomic_store(&log_min_level, (int)lvl);
}
void log_set_format(log_format fmt)
{
    atomic_store(&log_fmt, (int)fmt);
}
void log_set_repeat_window_ms(int64_t ms)
{
    atomic_store(&log_window_ms, ms);
}

bool log_parse_level(const char *s, log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (log_level)i;
            return true;
        }
    }
    return false;
}

bool log_parse_format(const char *s, log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

bool log_enabled(log_level lvl)
{
    return (int)lvl >= atomic_load(&log_min_level);
}

static int64_t log_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* log_utf8_len returns the length of the valid UTF-8 sequence at s (at most
 * n bytes), or 0 when it is not one (overlong, surrogate, beyond U+10FFFF,
 * truncated). */
static size_t log_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* log_json_str writes s as a JSON string: escaped, invalid UTF-8 replaced
 * by U+FFFD, so every line is valid JSON in valid UTF-8. */
static void log_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', f);
    while (n > 0) {
        size_t len = log_utf8_len(p, n);
        if (len == 0) {
            fputs("\\ufffd", f);
            len = 1;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fwrite(p, 1, len, f);
        }
        p += len;
        n -= len;
    }
    fputc('"', f);
}

/* log_emit prints one line (under log_mu). suppressed > 0: that many
 * identical lines were not printed in the last span_ms; summary: this line
 * only says so (it is not one more occurrence). */
static void log_emit(int lvl, const char *module, const char *msg,
                     uint64_t suppressed, int64_t span_ms, bool summary)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64]; /* room for any year the compiler can imagine */
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (atomic_load(&log_fmt) == LOG_FORMAT_JSON) {
        fprintf(stderr,
                "{\"time\": \"%s\", \"level\": \"%s\", \"module\": ", when,
                log_names[lvl]);
        log_json_str(stderr, module);
        fputs(", \"message\": ", stderr);
        log_json_str(stderr, msg);
        if (suppressed > 0)
            fprintf(stderr,
                    ", \"suppressed\": %llu, \"suppressed_span_ms\": %lld%s",
                    (unsigned long long)suppressed, (long long)span_ms,
                    summary ? ", \"summary\": true" : "");
        fputs("}\n", stderr);
    } else if (suppressed > 0) {
        fprintf(stderr,
                "%s %-5s %-7s %s (%llu identical lines suppressed in the "
                "last %lld s%s)\n",
                when, log_names[lvl], module, msg,
                (unsigned long long)suppressed,
                (long long)(span_ms + 999) / 1000,
                summary ? "; a summary, not one more" : "");
    } else {
        fprintf(stderr, "%s %-5s %-7s %s\n", when, log_names[lvl], module, msg);
    }
    fflush(stderr);
}

static uint64_t log_hash(int lvl, const char *module, const char *msg)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)lvl; /* FNV-1a */
    for (const char *p = module; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull; /* module and message apart */
    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h ? h : 1;
}

/* log_slot_flush prints the slot's pending count, if any (under log_mu). */
static void log_slot_flush(log_repeat *r, int64_t now_ms)
{
    if (r->hash != 0 && r->suppressed > 0)
        log_emit(r->level, r->module, r->msg, r->suppressed,
                 now_ms - r->printed_ms, true);
    r->suppressed = 0;
}

/* log_repeat_check returns whether the line is to be printed, and with how
 * many suppressed repeats before it (under log_mu). */
static bool log_repeat_check(int lvl, const char *module, const char *msg,
                             int64_t window_ms, uint64_t *suppressed,
                             int64_t *span_ms)
{
    int64_t now = log_mono_ms();
    uint64_t h = log_hash(lvl, module, msg);
    log_repeat *r = &log_repeats[h % LOG_REPEAT_SLOTS];
    bool same = r->hash == h && r->level == lvl &&
                strcmp(r->module, module) == 0 && strcmp(r->msg, msg) == 0;
    if (same && now - r->printed_ms < window_ms) {
        r->suppressed++;
        return false;
    }
    if (same) {
        *suppressed = r->suppressed;
        *span_ms = now - r->printed_ms;
    } else {
        log_slot_flush(r, now);
        r->hash = h;
        r->level = lvl;
        snprintf(r->module, sizeof r->module, "%s", module);
        snprintf(r->msg, sizeof r->msg, "%s", msg);
    }
    r->printed_ms = now;
    r->suppressed = 0;
    return true;
}

void log_write(log_level lvl, const char *module, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int64_t window = atomic_load(&log_window_ms);
    uint64_t suppressed = 0;
    int64_t span_ms = 0;
    pthread_mutex_lock(&log_mu);
    if (window <= 0 ||
        log_repeat_check((int)lvl, module, msg, window, &suppressed, &span_ms))
        log_emit((int)lvl, module, msg, suppressed, span_ms, false);
    pthread_mutex_unlock(&log_mu);
}

void log_repeats_flush(void)
{
    pthread_mutex_lock(&log_mu);
    int64_t now = log_mono_ms();
    for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++) {
        log_slot_flush(&log_repeats[i], now);
        log_repeats[i].hash = 0;
    }
    pthread_mutex_unlock(&log_mu);
}
