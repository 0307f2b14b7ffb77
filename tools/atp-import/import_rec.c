/*
 * import_rec.c - records, problems and shared parsers of atp-import (see
 * import_rec.h).
 */
#include "import_rec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pool hands out strings from 64 KiB chunks: a million-line file makes
 * a few hundred chunks, not millions of mallocs. */
#define IMPORT_POOL_CHUNK ((size_t)64 << 10)

struct import_pool_chunk {
    import_pool_chunk *next;
    size_t used, cap;
    char data[];
};

void import_batch_init(import_batch *b)
{
    memset(b, 0, sizeof *b);
}

void import_batch_fini(import_batch *b)
{
    free(b->recs);
    free(b->csv_cols);
    for (import_pool_chunk *c = b->pool; c != NULL;) {
        import_pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(b, 0, sizeof *b);
}

char *import_strdup(import_batch *b, const char *s, size_t len)
{
    import_pool_chunk *c = b->pool;
    if (c == NULL || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > IMPORT_POOL_CHUNK ? len + 1 : IMPORT_POOL_CHUNK;
        c = malloc(sizeof *c + cap);
        if (c == NULL) {
            b->nomem = true;
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = b->pool;
        b->pool = c;
    }
    char *out = c->data + c->used;
    memcpy(out, s, len);
    out[len] = '\0';
    c->used += len + 1;
    return out;
}

const char *import_column_name(const import_batch *b, uint32_t col)
{
    return col >= 1 && col <= b->n_csv_cols ? b->csv_cols[col - 1] : NULL;
}

import_rec *import_add(import_batch *b)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        import_rec *r = realloc(b->recs, cap * sizeof *r);
        if (r == NULL) {
            b->nomem = true;
            return NULL;
        }
        b->recs = r;
        b->cap = cap;
    }
    import_rec *r = &b->recs[b->n++];
    memset(r, 0, sizeof *r);
    return r;
}

void import_diag_add(import_batch *b, import_pos pos, const char *seg_id,
                     const char *fmt, ...)
{
    import_diag d = {.pos = pos};
    snprintf(d.seg_id, sizeof d.seg_id, "%s", seg_id ? seg_id : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d.msg, sizeof d.msg, fmt, ap);
    va_end(ap);
    /* Many records from one segment (an N1 naming an unknown location)
     * are one problem. */
    size_t kept = b->n_diags < IMPORT_DIAG_KEEP ? b->n_diags : IMPORT_DIAG_KEEP;
    for (size_t i = kept; i-- > 0 && i + 8 >= kept;)
        if (memcmp(&b->diags[i].pos, &pos, sizeof pos) == 0 &&
            strcmp(b->diags[i].msg, d.msg) == 0)
            return;
    if (b->n_diags++ < IMPORT_DIAG_KEEP)
        b->diags[b->n_diags - 1] = d;
}

bool import_parse_qty(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    size_t digits = 0;
    int64_t v = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        v = v * 10 + (s[i] - '0');
        if (v > ATP_QTY_MAX)
            return false;
    }
    if (digits == 0)
        return false;
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] == '0'; i++)
            ;
    if (i != len)
        return false;
    *out = neg ? -v : v;
    return true;
}

bool import_days_from_civil(int64_t y, int m, int d, int64_t *days)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || y < 1 || y > 9999)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return false;
    /* Howard Hinnant's days_from_civil. */
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = era * 146097 + doe - 719468;
    return true;
}

/* import_digits reads exactly n digits of s as a number, -1 if not digits. */
static int64_t import_digits(const char *s, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* import_hms adds H, M, S (S may be -1: none) to a day's ms. */
static bool import_at(int64_t days, int64_t h, int64_t mi, int64_t s,
                      int64_t *ms)
{
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < -1 || s > 59)
        return false;
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (s > 0 ? s : 0) * 1000;
    return true;
}

bool import_parse_x12_date(const char *d, size_t dlen, const char *t,
                           size_t tlen, int64_t *ms)
{
    int64_t y, days;
    if (dlen == 8) {
        y = import_digits(d, 4);
        d += 4;
    } else if (dlen == 6) {
        y = import_digits(d, 2);
        y = y < 0 ? -1 : y + (y < 50 ? 2000 : 1900);
        d += 2;
    } else {
        return false;
    }
    int64_t mo = import_digits(d, 2), da = import_digits(d + 2, 2);
    if (y < 0 || mo < 0 || da < 0 ||
        !import_days_from_civil(y, (int)mo, (int)da, &days))
        return false;
    if (tlen == 0)
        return import_at(days, 0, 0, -1, ms);
    if (tlen != 4 && tlen < 6)
        return false;
    for (size_t i = 6; i < tlen; i++) /* decimal seconds: cut */
        if (t[i] < '0' || t[i] > '9')
            return false;
    int64_t s = tlen >= 6 ? import_digits(t + 4, 2) : -1;
    if (tlen >= 6 && s < 0)
        return false;
    return import_at(days, import_digits(t, 2), import_digits(t + 2, 2), s, ms);
}

bool import_parse_iso_date(const char *s, size_t len, int64_t *ms)
{
    int64_t days;
    if (len == 8) {
        int64_t y = import_digits(s, 4), mo = import_digits(s + 4, 2),
                d = import_digits(s + 6, 2);
        return y >= 0 && mo >= 0 && d >= 0 &&
               import_days_from_civil(y, (int)mo, (int)d, &days) &&
               import_at(days, 0, 0, -1, ms);
    }
    if (len < 10 || s[4] != '-' || s[7] != '-')
        return false;
    int64_t y = import_digits(s, 4), mo = import_digits(s + 5, 2),
            d = import_digits(s + 8, 2);
    if (y < 0 || mo < 0 || d < 0 ||
        !import_days_from_civil(y, (int)mo, (int)d, &days))
        return false;
    if (len == 10)
        return import_at(days, 0, 0, -1, ms);
    if (s[len - 1] == 'Z')
        len--;
    if ((len != 16 && len != 19) || (s[10] != 'T' && s[10] != ' ') ||
        s[13] != ':' || (len == 19 && s[16] != ':'))
        return false;
    int64_t sec = len == 19 ? import_digits(s + 17, 2) : -1;
    if (len == 19 && sec < 0)
        return false;
    return import_at(days, import_digits(s + 11, 2), import_digits(s + 14, 2),
                     sec, ms);
}

static const char *const import_buckets[ATP_BUCKET_COUNT] = {
    [ATP_BUCKET_ON_HAND] = "on_hand",
    [ATP_BUCKET_ALLOCATED] = "allocated",
    [ATP_BUCKET_HELD] = "held",
};

bool import_bucket_parse(const char *s, size_t len, uint8_t *bucket)
{
    for (uint8_t i = 0; i < ATP_BUCKET_COUNT; i++)
        if (strlen(import_buckets[i]) == len &&
            memcmp(import_buckets[i], s, len) == 0) {
            *bucket = i;
            return true;
        }
    return false;
}

const char *import_bucket_name(uint8_t bucket)
{
    return bucket < ATP_BUCKET_COUNT ? import_buckets[bucket] : "?";
}
