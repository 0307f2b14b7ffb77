/*
 * ctl_cart.c - parses atpctl cart files (see ctl_cart.h). Main thread.
 *
 * Everything is checked before anything is sent: a cart that is half wrong
 * must not be half asked, and the operator wants the file's line number,
 * which the service (it counts request lines from 0) cannot know.
 */
#include "ctl_cart.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "atp/wire.h"

#define CTL_CART_FIELDS 3

void ctl_cart_fini(ctl_cart *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->lines[i].sku);
        free(c->lines[i].region);
    }
    free(c->lines);
    c->lines = NULL;
    c->n = 0;
}

/* ctl_cart_split cuts line into at most max blank-separated fields, in
 * place; returns how many there were (max + 1 means "too many"). */
static int ctl_cart_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n == max)
            return max + 1;
        fields[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    return n;
}

/* ctl_cart_parse_qty: see ctl_cart.h. "2.5", "1e3", "0x10" and " 7" are
 * typos, not quantities. */
bool ctl_cart_parse_qty(const char *s, int64_t *out)
{
    if (*s == '+')
        s++;
    if (*s == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > ATP_QTY_MAX)
        return false;
    *out = v;
    return true;
}

static atp_err ctl_cart_push(ctl_cart *c, size_t *cap, char **f, int64_t qty,
                             long lineno)
{
    if (c->n == *cap) {
        size_t ncap = *cap == 0 ? 16 : *cap * 2;
        ctl_cart_line *nl = realloc(c->lines, ncap * sizeof *nl);
        if (nl == NULL)
            return ATP_E_NOMEM;
        c->lines = nl;
        *cap = ncap;
    }
    ctl_cart_line *l = &c->lines[c->n];
    l->sku = strdup(f[0]);
    l->region = strdup(f[1]);
    if (l->sku == NULL || l->region == NULL) {
        free(l->sku);
        free(l->region);
        return ATP_E_NOMEM;
    }
    l->qty = qty;
    l->file_line = lineno;
    c->n++;
    return ATP_OK;
}

atp_err ctl_cart_read(FILE *f, const char *name, ctl_cart *out, char *err,
                      size_t errlen)
{
    out->lines = NULL;
    out->n = 0;
    size_t cap = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    long lineno = 0;
    atp_err e = ATP_OK;
    ssize_t got;
    while ((got = getline(&buf, &bufcap, f)) >= 0) {
        lineno++;
        /* Strip the newline and a Windows carriage return. */
        while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            buf[--got] = '\0';
        if ((size_t)got != strlen(buf)) {
            snprintf(err, errlen, "%s:%ld: NUL byte in line", name, lineno);
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        const char *first = buf + strspn(buf, " \t");
        if (*first == '\0' || *first == '#')
            continue;
        char *fields[CTL_CART_FIELDS];
        int n = ctl_cart_split(buf, fields, CTL_CART_FIELDS);
        if (n != CTL_CART_FIELDS) {
            snprintf(err, errlen,
                     "%s:%ld: expected 'sku region qty', got %s%d field%s",
                     name, lineno, n > CTL_CART_FIELDS ? "more than " : "",
                     n > CTL_CART_FIELDS ? CTL_CART_FIELDS : n,
                     n == 1 ? "" : "s");
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        if (strlen(fields[0]) > ATP_SKU_MAX_LEN) {
            snprintf(err, errlen, "%s:%ld: SKU longer than %d bytes", name,
                     lineno, ATP_SKU_MAX_LEN);
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        if (strlen(fields[1]) > ATP_ID_MAX_LEN) {
            snprintf(err, errlen, "%s:%ld: region longer than %d bytes", name,
                     lineno, ATP_ID_MAX_LEN);
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        int64_t qty = 0;
        if (!ctl_cart_parse_qty(fields[2], &qty)) {
            snprintf(err, errlen,
                     "%s:%ld: quantity '%.32s' is not an integer in "
                     "1..%lld",
                     name, lineno, fields[2], (long long)ATP_QTY_MAX);
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        if (out->n == CTL_CART_MAX_LINES) {
            snprintf(err, errlen, "%s:%ld: more than %d lines", name, lineno,
                     CTL_CART_MAX_LINES);
            e = ATP_E_BAD_REQUEST;
            goto fail;
        }
        e = ctl_cart_push(out, &cap, fields, qty, lineno);
        if (e != ATP_OK) {
            snprintf(err, errlen, "%s:%ld: out of memory", name, lineno);
            goto fail;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error after line %ld", name, lineno);
        e = ATP_E_IO;
        goto fail;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no cart lines (expected 'sku region qty')",
                 name);
        e = ATP_E_BAD_REQUEST;
        goto fail;
    }
    free(buf);
    return ATP_OK;

fail:
    free(buf);
    ctl_cart_fini(out);
    return e;
}
