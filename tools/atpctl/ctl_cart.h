/*
 * ctl_cart.h - reading an atpctl cart file: one `sku region qty` per line.
 *
 * Pure parsing, no I/O beyond the FILE it is given; main thread of atpctl.
 */
#ifndef ATP_CTL_CART_H
#define ATP_CTL_CART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atp/error.h"

/* A cart beyond this is surely a mistake (the service's own limit is
 * ATP_CART_MAX_LINES by default); the cap keeps memory bounded on a stray
 * pipe. */
#define CTL_CART_MAX_LINES 1000000

typedef struct ctl_cart_line {
    char *sku;    /* owned */
    char *region; /* owned */
    int64_t qty;
    long file_line; /* 1-based line in the file, for messages */
} ctl_cart_line;

typedef struct ctl_cart {
    ctl_cart_line *lines;
    size_t n;
} ctl_cart;

/* ctl_cart_read parses f into *out (caller's storage, empty on entry).
 * Blank lines and lines whose first non-blank character is '#' are skipped;
 * every other line must be exactly `sku region qty` (blank-separated), with
 * sku and region 1..64 bytes and qty an integer in 1..ATP_QTY_MAX.
 * Returns ATP_OK, ATP_E_BAD_REQUEST (err gets "NAME:LINE: why", where NAME
 * is name), ATP_E_IO or ATP_E_NOMEM. On error *out is left empty. A cart
 * with no lines is an error too: there is nothing to ask. */
atp_err ctl_cart_read(FILE *f, const char *name, ctl_cart *out, char *err,
                      size_t errlen);

void ctl_cart_fini(ctl_cart *c);

/* ctl_cart_parse_qty accepts only plain decimal digits (an optional '+'
 * first) in 1..ATP_QTY_MAX; returns true and *out. Shared with the
 * reservation arguments (ctl_resv.c). */
bool ctl_cart_parse_qty(const char *s, int64_t *out);

#endif
