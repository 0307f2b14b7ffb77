/*
 * atpctl.c - the operator and scripting client of atpd: builds one query,
 * sends it over REQ or, with an http:// --endpoint, atpd's HTTP API
 * (tools/common/client, the same maps both ways), prints the reply as JSON or
 * as text, and says with its exit code what happened. `scan --all` follows the
 * pages; `watch` subscribes to the change feed instead (ctl_sub.c) and
 * prints messages until --count, --duration or Ctrl-C.
 *
 * Single-threaded (nng's own threads aside). Exit codes are part of the
 * interface scripts rely on: 0 ok, 1 the service answered an error, 2 usage
 * error (including a malformed cart file), 3 transport error, 4 a reserve
 * the service refused (not enough stock: an answer, not an error).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "client.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "ctl_admin.h"
#include "ctl_args.h"
#include "ctl_cart.h"
#include "ctl_cluster.h"
#include "ctl_feed.h"
#include "ctl_inspect.h"
#include "ctl_render.h"
#include "ctl_resv.h"
#include "ctl_sub.h"
#include "ctl_token.h"
#include "ctl_when.h"
#include "sp_probe.h"
#include "tool_args.h"
#include "tools_tls.h"

/* docs/PROTOCOL.md "scan": limit 1..10,000. */
#define CTL_SCAN_LIMIT_MAX 10000
/* watch: how long one receive waits before the loop looks at Ctrl-C and
 * the --duration deadline again. */
#define CTL_WATCH_POLL_MS 100
/* watch: after this long without a connection, say so (once). */
#define CTL_WATCH_CONNECT_NOTE_MS 2000

/* Command options beyond the global ones (ctl_cmd.opts). */
enum {
    CTL_OPT_CHANNEL = 1 << 0,
    CTL_OPT_TTL = 1 << 1,
    CTL_OPT_ORDER = 1 << 2,
    CTL_OPT_FEED = 1 << 3,
    CTL_OPT_COUNT = 1 << 4,
    CTL_OPT_DURATION = 1 << 5,
    CTL_OPT_LIMIT = 1 << 6,
    CTL_OPT_CURSOR = 1 << 7,
    CTL_OPT_ALL = 1 << 8,
    CTL_OPT_WIDE = 1 << 9,
    CTL_OPT_ENTRY = 1 << 10, /* token: --name, --scopes, --client */
    CTL_OPT_PICKUP_ONLY = 1 << 11,
    CTL_OPT_PARTIAL = 1 << 12,
    CTL_OPT_SPLIT = 1 << 13,
    CTL_OPT_BACKORDER = 1 << 14,
    CTL_OPT_QTY = 1 << 15,
    CTL_OPT_DATE = 1 << 16,
    CTL_OPT_PROMISE = 1 << 17,
};

#define CTL_UNLIMITED (-1) /* max_operands: any number */

typedef struct ctl_cmd ctl_cmd;

/* A command builds its request into w; it may keep state for rendering in
 * *cart (only cart does). Returns a CTL_EXIT_ code. */
typedef int (*ctl_build_fn)(const ctl_args *a, codec_writer *w, ctl_cart *cart);
typedef void (*ctl_render_fn)(const codec_val *reply, const ctl_cart *cart,
                              FILE *f);
/* A command that is not one request and one reply (scan, watch) runs
 * itself. Returns a CTL_EXIT_ code. */
typedef int (*ctl_run_fn)(const ctl_args *a, const ctl_cmd *cmd);

struct ctl_cmd {
    const char *name;
    int min_operands;
    int max_operands; /* or CTL_UNLIMITED */
    unsigned opts;    /* CTL_OPT_ flags it accepts */
    /* Index in words of the first SKU:REGION[:QTY] argument, whose position
     * an error's "line" refers to; 0: the command has no such lines. */
    int line_word;
    bool refusable; /* "granted": false in the reply exits CTL_EXIT_REFUSED */
    const char *synopsis;
    const char *summary;
    ctl_build_fn build;
    ctl_render_fn render;
    ctl_run_fn run; /* NULL: build, one request, render */
};

static const char *ctl_channel(const ctl_args *a)
{
    /* Always sent, even when defaulted: the draft protocol only states the
     * default for `atp`, and being explicit costs nothing. */
    return a->channel != NULL ? a->channel : ATP_DEFAULT_CHANNEL;
}

static int ctl_build_atp(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 4);
    codec_w_kv_cstr(w, "op", "atp");
    codec_w_kv_cstr(w, "sku", a->words[1]);
    codec_w_kv_cstr(w, "region", a->words[2]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    return CTL_EXIT_OK;
}

static int ctl_build_cart(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    const char *path = a->words[1];
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "atpctl: cannot open %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    char err[512];
    atp_err e =
        ctl_cart_read(f, is_stdin ? "<stdin>" : path, cart, err, sizeof err);
    if (!is_stdin)
        fclose(f);
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s; nothing was sent\n", err);
        return CTL_EXIT_USAGE;
    }
    codec_w_map(w, 3);
    codec_w_kv_cstr(w, "op", "cart");
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    codec_w_cstr(w, "lines");
    codec_w_array(w, (uint32_t)cart->n);
    for (size_t i = 0; i < cart->n; i++) {
        codec_w_array(w, 3);
        codec_w_cstr(w, cart->lines[i].sku);
        codec_w_cstr(w, cart->lines[i].region);
        codec_w_int(w, cart->lines[i].qty);
    }
    return CTL_EXIT_OK;
}

static int ctl_build_regions(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 3);
    codec_w_kv_cstr(w, "op", "regions");
    codec_w_kv_cstr(w, "sku", a->words[1]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    return CTL_EXIT_OK;
}

/* pickup SKU REGION: every location of REGION for SKU. */
static int ctl_build_pickup(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 5);
    codec_w_kv_cstr(w, "op", "pickup");
    codec_w_kv_cstr(w, "sku", a->words[1]);
    codec_w_kv_cstr(w, "region", a->words[2]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    codec_w_kv_bool(w, "pickup_only", a->pickup_only);
    return CTL_EXIT_OK;
}

/* ctl_build_sku_qty_lines writes the "lines" key and the [sku, qty] lines
 * of a cart in one region (pickup-cart, promise-cart) from words[2..]:
 * each SKU:QTY split at its last ':' (a SKU may contain ':'); the service
 * checks the SKU itself. */
static int ctl_build_sku_qty_lines(const ctl_args *a, codec_writer *w)
{
    codec_w_cstr(w, "lines");
    codec_w_array(w, (uint32_t)(a->nwords - 2));
    for (int i = 2; i < a->nwords; i++) {
        const char *arg = a->words[i], *c = strrchr(arg, ':');
        int64_t qty;
        if (c == NULL || c == arg || !ctl_cart_parse_qty(c + 1, &qty)) {
            fprintf(stderr,
                    "atpctl: '%.80s': expected SKU:QTY (QTY 1..%lld); "
                    "nothing was sent\n",
                    arg, (long long)ATP_QTY_MAX);
            return CTL_EXIT_USAGE;
        }
        codec_w_array(w, 2);
        codec_w_str(w, arg, (size_t)(c - arg));
        codec_w_int(w, qty);
    }
    return CTL_EXIT_OK;
}

/* pickup-cart REGION SKU:QTY... */
static int ctl_build_pickup_cart(const ctl_args *a, codec_writer *w,
                                 ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 5);
    codec_w_kv_cstr(w, "op", "pickup_cart");
    codec_w_kv_cstr(w, "region", a->words[1]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    codec_w_kv_bool(w, "pickup_only", a->pickup_only);
    return ctl_build_sku_qty_lines(a, w);
}

/* ctl_build_when reads the WHEN of option opt (--date, --promise) against
 * this machine's wall clock (a +DURATION counts from it); a bad one is a
 * usage error and nothing is sent. */
static bool ctl_build_when(const char *opt, const char *s, int64_t *ms)
{
    if (ctl_when_parse(s, clock_wall_ms(), ms))
        return true;
    fprintf(stderr,
            "atpctl: bad %s '%.80s': expected " CTL_WHEN_FORMS
            "; nothing was sent\n",
            opt, s);
    return false;
}

/* promise SKU REGION [--qty Q] [--date WHEN]: qty and date_ms are sent
 * only when given (their keys in the reply say they were asked). */
static int ctl_build_promise(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    int64_t qty = 0, date = 0;
    if (a->qty != NULL && !ctl_cart_parse_qty(a->qty, &qty)) {
        fprintf(stderr,
                "atpctl: bad --qty '%.80s': expected an integer in 1..%lld; "
                "nothing was sent\n",
                a->qty, (long long)ATP_QTY_MAX);
        return CTL_EXIT_USAGE;
    }
    if (a->date != NULL && !ctl_build_when("--date", a->date, &date))
        return CTL_EXIT_USAGE;
    codec_w_map(w, 4 + (a->qty != NULL) + (a->date != NULL));
    codec_w_kv_cstr(w, "op", "promise");
    codec_w_kv_cstr(w, "sku", a->words[1]);
    codec_w_kv_cstr(w, "region", a->words[2]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    if (a->qty != NULL)
        codec_w_kv_int(w, "qty", qty);
    if (a->date != NULL)
        codec_w_kv_int(w, "date_ms", date);
    return CTL_EXIT_OK;
}

/* promise-cart REGION SKU:QTY...: the cart's earliest complete date. */
static int ctl_build_promise_cart(const ctl_args *a, codec_writer *w,
                                  ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 4);
    codec_w_kv_cstr(w, "op", "promise_cart");
    codec_w_kv_cstr(w, "region", a->words[1]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    return ctl_build_sku_qty_lines(a, w);
}

static int ctl_build_op_only(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 1);
    codec_w_kv_cstr(w, "op", a->words[0]);
    return CTL_EXIT_OK;
}

/* ctl_build_backup: DIR is on atpd's machine; a relative one is made
 * absolute from atpctl's working directory (the same machine, usually). */
static int ctl_build_backup(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    char path[4096], cwd[4096];
    const char *dir = a->words[1];
    if (dir[0] != '/') {
        if (getcwd(cwd, sizeof cwd) == NULL ||
            snprintf(path, sizeof path, "%s/%s", cwd, dir) >=
                (int)sizeof path) {
            fprintf(stderr, "atpctl: backup: cannot make %s absolute\n", dir);
            return CTL_EXIT_USAGE;
        }
        dir = path;
    }
    codec_w_map(w, 2);
    codec_w_kv_cstr(w, "op", "backup");
    codec_w_kv_cstr(w, "dir", dir);
    return CTL_EXIT_OK;
}

/* ctl_build_id checks the reservation id (words[1]) the way the service
 * will, so that a typo is a usage error and nothing is sent. */
static bool ctl_build_id_ok(const ctl_args *a)
{
    if (ctl_resv_id_ok(a->words[1]))
        return true;
    fprintf(stderr,
            "atpctl: reservation id '%.80s' must be 1..%d bytes of printable "
            "UTF-8; nothing was sent\n",
            a->words[1], CTL_RESV_ID_MAX);
    return false;
}

static bool ctl_build_ttl(const char *s, int64_t *ms)
{
    if (ctl_resv_ttl_parse(s, ms))
        return true;
    fprintf(stderr,
            "atpctl: bad duration '%.80s': expected a positive number with "
            "its unit, ms, s, m, h or d\n        (900ms, 30s, 15m, 2h, 1d; a "
            "bare number is refused: 5 could mean 5s or 5ms); nothing was "
            "sent\n",
            s);
    return false;
}

/* ctl_build_split_regions writes "R1,R2,..." as the array of a split
 * line's regions (PROTOCOL.md, "Split lines"). */
static void ctl_build_split_regions(codec_writer *w, const char *s, size_t n)
{
    uint32_t count = 1;
    for (size_t i = 0; i < n; i++)
        count += s[i] == ',';
    codec_w_array(w, count);
    for (size_t start = 0, i = 0; i <= n; i++)
        if (i == n || s[i] == ',') {
            codec_w_str(w, s + start, i - start);
            start = i + 1;
        }
}

/* ctl_build_lines writes the "lines" key and array from words[first..]:
 * [sku, region, qty] (with_qty; [sku, region, qty, location] for
 * SKU:REGION:QTY@LOCATION) or [sku, region]. */
static bool ctl_build_lines(const ctl_args *a, int first, bool with_qty,
                            codec_writer *w)
{
    codec_w_cstr(w, "lines");
    codec_w_array(w, (uint32_t)(a->nwords - first));
    for (int i = first; i < a->nwords; i++) {
        ctl_resv_line l;
        char err[256];
        if (!ctl_resv_line_parse(a->words[i], with_qty, &l, err, sizeof err)) {
            fprintf(stderr, "atpctl: line %d: %s; nothing was sent\n",
                    i - first + 1, err);
            return false;
        }
        codec_w_array(w, with_qty ? 3u + (l.location != NULL) : 2u);
        codec_w_str(w, l.sku, l.sku_len);
        if (a->split && with_qty)
            ctl_build_split_regions(w, l.region, l.region_len);
        else
            codec_w_str(w, l.region, l.region_len);
        if (with_qty)
            codec_w_int(w, l.qty);
        if (with_qty && l.location != NULL)
            codec_w_str(w, l.location, l.location_len);
    }
    return true;
}

static int ctl_build_reserve(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    int64_t ttl = 0, promise = 0;
    if (!ctl_build_id_ok(a) ||
        (a->ttl != NULL && !ctl_build_ttl(a->ttl, &ttl)) ||
        (a->promise != NULL &&
         !ctl_build_when("--promise", a->promise, &promise)))
        return CTL_EXIT_USAGE;
    /* Without --ttl the service's reservations.default_ttl applies (a
     * preorder's must reach its date: the service says so, bad_request). */
    codec_w_map(w, 4 + (a->ttl != NULL) + a->partial + a->backorder +
                       (a->promise != NULL));
    codec_w_kv_cstr(w, "op", "reserve");
    codec_w_kv_cstr(w, "id", a->words[1]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    if (!ctl_build_lines(a, 2, true, w))
        return CTL_EXIT_USAGE;
    if (a->ttl != NULL)
        codec_w_kv_int(w, "ttl_ms", ttl);
    if (a->partial)
        codec_w_kv_bool(w, "partial", true);
    if (a->backorder)
        codec_w_kv_bool(w, "backorder", true);
    if (a->promise != NULL)
        codec_w_kv_int(w, "promise_ms", promise);
    return CTL_EXIT_OK;
}

static int ctl_build_commit(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    if (!ctl_build_id_ok(a))
        return CTL_EXIT_USAGE;
    if (a->order != NULL && !ctl_resv_id_ok(a->order)) {
        fprintf(stderr,
                "atpctl: order reference '%.80s' must be 1..%d bytes of "
                "printable UTF-8; nothing was sent\n",
                a->order, CTL_RESV_ID_MAX);
        return CTL_EXIT_USAGE;
    }
    codec_w_map(w, a->order != NULL ? 3 : 2);
    codec_w_kv_cstr(w, "op", "commit");
    codec_w_kv_cstr(w, "id", a->words[1]);
    if (a->order != NULL)
        codec_w_kv_cstr(w, "order_ref", a->order);
    return CTL_EXIT_OK;
}

static int ctl_build_release(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    if (!ctl_build_id_ok(a))
        return CTL_EXIT_USAGE;
    /* No lines: the request has no "lines" key, which releases everything
     * (an empty array is refused: bad_request). */
    bool some = a->nwords > 2;
    codec_w_map(w, some ? 3 : 2);
    codec_w_kv_cstr(w, "op", "release");
    codec_w_kv_cstr(w, "id", a->words[1]);
    if (some && !ctl_build_lines(a, 2, false, w))
        return CTL_EXIT_USAGE;
    return CTL_EXIT_OK;
}

static int ctl_build_extend(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    int64_t ttl = 0;
    if (!ctl_build_id_ok(a) || !ctl_build_ttl(a->words[2], &ttl))
        return CTL_EXIT_USAGE;
    codec_w_map(w, 3);
    codec_w_kv_cstr(w, "op", "extend");
    codec_w_kv_cstr(w, "id", a->words[1]);
    codec_w_kv_int(w, "ttl_ms", ttl);
    return CTL_EXIT_OK;
}

static int ctl_build_get(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    if (!ctl_build_id_ok(a))
        return CTL_EXIT_USAGE;
    codec_w_map(w, 2);
    codec_w_kv_cstr(w, "op", "reservation");
    codec_w_kv_cstr(w, "id", a->words[1]);
    return CTL_EXIT_OK;
}

static void ctl_show_atp(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_atp(r, f);
}
static void ctl_show_cart(const codec_val *r, const ctl_cart *c, FILE *f)
{
    ctl_render_cart(r, c, f);
}
static void ctl_show_regions(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_regions(r, f);
}
static void ctl_show_pickup(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_pickup(r, f);
}
static void ctl_show_pickup_cart(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_pickup_cart(r, f);
}
static void ctl_show_promise(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_promise(r, f);
}
static void ctl_show_promise_cart(const codec_val *r, const ctl_cart *c,
                                  FILE *f)
{
    (void)c;
    ctl_render_promise_cart(r, f);
}
static void ctl_show_sources(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_inspect_render_sources(r, false, f);
}
static void ctl_show_status(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_status(r, f);
}

static void ctl_show_reserve(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_reserve(r, clock_wall_ms(), f);
}
static void ctl_show_reservation(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_reservation(r, clock_wall_ms(), f);
}

static int ctl_run_scan(const ctl_args *a, const ctl_cmd *cmd);
static int ctl_run_watch(const ctl_args *a, const ctl_cmd *cmd);

static void ctl_show_snapshot(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_inspect_render_snapshot(r, f);
}

/* ctl_build_source: "source reset SOURCE" (the only source action). */
static int ctl_build_source(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    if (strcmp(a->words[1], "reset") != 0) {
        fprintf(stderr,
                "atpctl: source: unknown action '%s'; expected: source "
                "reset SOURCE\n",
                a->words[1]);
        return CTL_EXIT_USAGE;
    }
    codec_w_map(w, 2);
    codec_w_kv_cstr(w, "op", "source_reset");
    codec_w_kv_cstr(w, "source", a->words[2]);
    return CTL_EXIT_OK;
}

static void ctl_show_source_reset(const codec_val *r, const ctl_cart *c,
                                  FILE *f)
{
    (void)c;
    codec_str id = {"?", 1};
    codec_val_str(codec_val_get(r, "source"), &id);
    fprintf(f,
            "source %.*s reset: nothing of it applies until its next full "
            "snapshot (atpd asked for one); see 'atpctl sources'\n",
            (int)id.len, id.ptr);
}

static void ctl_show_backup(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_inspect_render_backup(r, f);
}

static void ctl_show_sources_wide(const codec_val *r, const ctl_cart *c,
                                  FILE *f)
{
    (void)c;
    ctl_inspect_render_sources(r, true, f);
}

static int ctl_run(const ctl_args *a, const ctl_cmd *cmd, const char *url);
static const char *ctl_query_url(const ctl_args *a);
static int ctl_usage_error(const ctl_cmd *c, const char *fmt, const char *arg);

/* ctl_run_sources is the plain request with the table --wide asks for. */
static int ctl_run_sources(const ctl_args *a, const ctl_cmd *cmd)
{
    ctl_cmd c = *cmd;
    c.render = a->wide ? ctl_show_sources_wide : ctl_show_sources;
    return ctl_run(a, &c, ctl_query_url(a));
}

/* ctl_run_inspect reads the store in words[1] offline (no atpd involved).
 * Exit: 0 ok, 2 not an atpd data directory, 1 LMDB cannot read it. */
static int ctl_run_inspect(const ctl_args *a, const ctl_cmd *cmd)
{
    if (a->endpoint != NULL)
        return ctl_usage_error(cmd, "%s",
                               "inspect reads the data directory, not atpd: "
                               "no --endpoint");
    ctl_inspect in;
    char err[1024];
    atp_err e = ctl_inspect_load(a->words[1], &in, err, sizeof err);
    int rc = CTL_EXIT_OK;
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s\n", err);
        rc = e == ATP_E_NOT_FOUND ? CTL_EXIT_USAGE : CTL_EXIT_SERVICE;
    } else if (a->json) {
        if (!ctl_inspect_write_json(&in, a->words[1], stdout)) {
            fprintf(stderr, "atpctl: out of memory\n");
            rc = CTL_EXIT_SERVICE;
        } else {
            fputc('\n', stdout);
        }
    } else {
        ctl_inspect_render(&in, a->words[1], stdout);
    }
    ctl_inspect_fini(&in);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE; /* e.g. stdout is a closed pipe */
    return rc;
}

static int ctl_client_open(const ctl_args *a, const char *url, client **c);
static int ctl_exchange(client *c, const codec_writer *w, codec_arena *arena,
                        int timeout_ms, const codec_val **reply, bool *ok);

/* ctl_run_cluster asks each URL (or the one endpoint) for its status and
 * prints a row per node (ctl_cluster.c); --json: an array of the
 * replies' cluster members (null for a node that did not answer or is
 * not in a cluster). Exit 0 when every node answered, 3 otherwise. */
static int ctl_run_cluster(const ctl_args *a, const ctl_cmd *cmd)
{
    (void)cmd;
    int n = a->nwords > 1 ? a->nwords - 1 : 1;
    int rc = CTL_EXIT_OK;
    char *map = NULL; /* the first partition map a node gave */
    size_t map_len = 0;
    FILE *mf = a->json ? NULL : open_memstream(&map, &map_len);
    bool mapped = false;
    if (a->json)
        fputc('[', stdout);
    else
        ctl_cluster_header(stdout);
    for (int i = 0; i < n; i++) {
        const char *url = a->nwords > 1 ? a->words[1 + i] : ctl_query_url(a);
        codec_arena *arena = codec_arena_alloc();
        codec_writer *w = codec_writer_alloc(NULL, NULL);
        client *c = NULL;
        const codec_val *reply = NULL;
        bool ok = false;
        int r = arena && w ? CTL_EXIT_OK : CTL_EXIT_TRANSPORT;
        if (r == CTL_EXIT_OK) {
            codec_w_map(w, 1);
            codec_w_kv_cstr(w, "op", "status");
            r = ctl_client_open(a, url, &c);
        }
        if (r == CTL_EXIT_OK)
            r = ctl_exchange(c, w, arena, a->timeout_ms, &reply, &ok);
        if (r != CTL_EXIT_OK || !ok)
            reply = NULL, rc = CTL_EXIT_TRANSPORT;
        if (a->json) {
            const codec_val *cl =
                reply ? codec_val_get(reply, "cluster") : NULL;
            if (i > 0)
                fputc(',', stdout);
            if (cl != NULL)
                codec_val_write_json(cl, stdout);
            else
                fputs("null", stdout);
        } else {
            ctl_cluster_row(url, reply, "no answer", stdout);
            if (!mapped && mf != NULL)
                mapped = ctl_cluster_map(reply, mf);
        }
        client_close(c);
        codec_writer_free(w);
        codec_arena_free(arena);
    }
    if (a->json)
        fputs("]\n", stdout);
    if (mf != NULL && fclose(mf) == 0 && map != NULL)
        fputs(map, stdout);
    free(map);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE;
    return rc;
}

/* ctl_build_admin / ctl_show_admin: `admin ...` (ctl_admin.c). */
static int ctl_build_admin(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    bool usage;
    if (ctl_admin_build(a, w, &usage) == 0)
        return CTL_EXIT_OK;
    if (usage)
        fprintf(stderr,
                "atpctl: admin: expected list | export | history [AFTER] | "
                "set-buffer CHANGE_ID [sku=S] [region=R] [channel=C] "
                "[units=N] [percent=P] [low_stock=N] [backorder=N] | "
                "set-bundle CHANGE_ID SKU COMPONENT:QTY ... | remove-bundle "
                "CHANGE_ID SKU | remove-buffer "
                "CHANGE_ID [sku=S] [region=R] [channel=C] | move-location "
                "CHANGE_ID LOCATION REGION | set-location CHANGE_ID LOCATION "
                "[type=T] [pickup=true|false] [pickup_buffer=N] | set-region "
                "CHANGE_ID REGION INBOUND_HORIZON | remove-location CHANGE_ID "
                "LOCATION | add-location CHANGE_ID LOCATION REGION [type=T] "
                "[pickup=true|false] [pickup_buffer=N] | set-authority "
                "CHANGE_ID SOURCE LOCATION BUCKET,...|none | add-channel "
                "CHANGE_ID CHANNEL | add-region CHANGE_ID REGION "
                "[INBOUND_HORIZON] | remove-region CHANGE_ID REGION | "
                "remove-channel CHANGE_ID CHANNEL\n");
    return CTL_EXIT_USAGE;
}

static void ctl_show_admin(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_admin_render(r, f);
}

/* ctl_run_token: `token new|hash` makes an auth entry; no atpd involved. */
static int ctl_run_token(const ctl_args *a, const ctl_cmd *cmd)
{
    (void)cmd;
    if (a->endpoint != NULL)
        return ctl_usage_error(cmd, "%s", "token needs no atpd: no --endpoint");
    return ctl_token_run(a->words[1], a->token, a->name, a->client, a->scopes,
                         stdin, stdout);
}

static const ctl_cmd ctl_cmds[] = {
    {"atp", 2, 2, CTL_OPT_CHANNEL, 0, false, "atp SKU REGION [--channel C]",
     "available-to-promise of one SKU in one region", ctl_build_atp,
     ctl_show_atp, NULL},
    {"cart", 1, 1, CTL_OPT_CHANNEL, 0, false, "cart FILE|- [--channel C]",
     "check a whole cart; FILE has one 'sku region qty' per line\n"
     "        ('#' comments and blank lines ignored; '-' reads stdin)",
     ctl_build_cart, ctl_show_cart, NULL},
    {"regions", 1, 1, CTL_OPT_CHANNEL, 0, false, "regions SKU [--channel C]",
     "one SKU in every region", ctl_build_regions, ctl_show_regions, NULL},
    {"pickup", 2, 2, CTL_OPT_CHANNEL | CTL_OPT_PICKUP_ONLY, 0, false,
     "pickup SKU REGION [--channel C] [--pickup-only]",
     "store pickup: every location of REGION for SKU, its stock on the\n"
     "        shelf, pickup buffer and pickup ATP (never above the\n"
     "        region's ATP); --pickup-only: the pickup-enabled ones only",
     ctl_build_pickup, ctl_show_pickup, NULL},
    {"pickup-cart", 2, CTL_UNLIMITED, CTL_OPT_CHANNEL | CTL_OPT_PICKUP_ONLY, 0,
     false,
     "pickup-cart REGION SKU:QTY [SKU:QTY ...] [--channel C] [--pickup-only]",
     "store pickup of a cart: per location of REGION, whether it can\n"
     "        fill the whole cart and which lines it cannot; --pickup-only:\n"
     "        only the pickup-enabled locations that fill it",
     ctl_build_pickup_cart, ctl_show_pickup_cart, NULL},
    {"promise", 2, 2, CTL_OPT_CHANNEL | CTL_OPT_QTY | CTL_OPT_DATE, 0, false,
     "promise SKU REGION [--channel C] [--qty Q] [--date WHEN]",
     "time-phased promise (docs/PROTOCOL.md, \"Time-phased promises\"):\n"
     "        today's ATP line, preorders (dated units, the preorder hold\n"
     "        they take of today's stock, a preorder shortfall), then the\n"
     "        schedule FROM (UTC) / ATP: how many can be promised from each\n"
     "        date on, inbound lots beyond the horizon counted at their ETA;\n"
     "        --date WHEN: the ATP on that date; --qty Q: the earliest date\n"
     "        Q can be promised ('never': no known supply covers it)",
     ctl_build_promise, ctl_show_promise, NULL},
    {"promise-cart", 2, CTL_UNLIMITED, CTL_OPT_CHANNEL, 2, false,
     "promise-cart REGION SKU:QTY [SKU:QTY ...] [--channel C]",
     "the earliest date the whole cart can be promised in REGION (a\n"
     "        reserve --promise of that date is granted if nothing changed\n"
     "        meanwhile), and per line SKU, QTY, ATP today, EARLIEST; a cart\n"
     "        never complete (a line no known supply covers) is an answer:\n"
     "        exit 0, as cart and pickup-cart when not available",
     ctl_build_promise_cart, ctl_show_promise_cart, NULL},
    {"sources", 0, 0, CTL_OPT_WIDE, 0, false, "sources [--wide]",
     "feed health of every source: state, sequence, gaps, resync (HELD\n"
     "        messages behind a hole, RESYNCS requests sent, SNAPSHOTS\n"
     "        applied), LAST_HB, and a note per source that is not ok;\n"
     "        --wide adds every other counter of the reply",
     ctl_build_op_only, ctl_show_sources, ctl_run_sources},
    {"source", 2, 2, 0, 0, false, "source reset SOURCE",
     "admin: reset SOURCE's sequence and publisher session: held\n"
     "        messages dropped, nothing applied until its next full\n"
     "        snapshot, whatever that snapshot's seq (docs/PROTOCOL.md,\n"
     "        \"source_reset\")",
     ctl_build_source, ctl_show_source_reset, NULL},
    {"snapshot", 0, 0, 0, 0, false, "snapshot",
     "store positions, lots and source offsets now (atpd also does it\n"
     "        every service.snapshot_interval); a large store may need a\n"
     "        larger --timeout",
     ctl_build_op_only, ctl_show_snapshot, NULL},
    {"backup", 1, 1, 0, 0, false, "backup DIR",
     "online backup: atpd copies its store (compacted) to DIR/data.mdb on\n"
     "        its own machine; DIR must be new or empty (a relative DIR is\n"
     "        made absolute here). Every reservation acknowledged before the\n"
     "        command is in the copy. Restore: docs/CONFIG.md, \"Backup and\n"
     "        restore\"; a large store may need a larger --timeout",
     ctl_build_backup, ctl_show_backup, NULL},
    {"inspect", 1, 1, 0, 0, false, "inspect DATA_DIR",
     "offline summary of atpd's store in DATA_DIR (no atpd needed; safe\n"
     "        while it runs: read-only): file sizes, map use, entries per\n"
     "        database, the reservation log (records, LSNs, how many LMDB\n"
     "        has not applied yet), source offsets (seq, source time UTC)\n"
     "        exit 2: not an atpd data directory (missing, no data.mdb);\n"
     "        exit 1: LMDB cannot read it (not LMDB, permissions)",
     NULL, NULL, ctl_run_inspect},
    {"status", 0, 0, 0, 0, false, "status", "service status and counters",
     ctl_build_op_only, ctl_show_status, NULL},
    {"cluster", 0, CTL_UNLIMITED, 0, 0, false, "cluster [URL ...]",
     "a cluster's nodes (docs/CLUSTER.md): one row per node URL given\n"
     "        (default: the one endpoint) with its partition, role (owner\n"
     "        or standby), the owner it sees, the lease epoch, the\n"
     "        stream's last sequence, how far it read it, its lag and\n"
     "        its NATS connection; exit 3 when a node does not answer",
     NULL, NULL, ctl_run_cluster},
    {"reserve", 2, CTL_UNLIMITED,
     CTL_OPT_CHANNEL | CTL_OPT_TTL | CTL_OPT_PARTIAL | CTL_OPT_SPLIT |
         CTL_OPT_BACKORDER | CTL_OPT_PROMISE,
     2, true,
     "reserve ID SKU:REGION:QTY[@LOCATION] [SKU:REGION:QTY ...] [--ttl "
     "DURATION] "
     "[--channel C] [--partial] [--split] [--backorder] [--promise WHEN]",
     "hold stock for ID, all lines or none; exit 4 when refused (short)\n"
     "        --partial: hold what there is of each line (a line with\n"
     "        nothing is left out; refused only when nothing at all is)\n"
     "        --split: REGION is R1,R2,...: the line is filled from R1,\n"
     "        then R2, ... (a split shipment; its SKU in no other line)\n"
     "        --backorder: a line may also take its row's backorder\n"
     "        budget beyond ATP (lines show backordered N)\n"
     "        --promise WHEN: a dated reservation (a preorder) for WHEN,\n"
     "        granted against the ATP on that date (inbound lots arriving\n"
     "        by then first); --ttl must reach WHEN; prints promise\n"
     "        <UTC> (dated), or (due) once WHEN has come\n"
     "        each line is split from the right: QTY after the last ':',\n"
     "        REGION before it, the rest is the SKU (which may contain ':')\n"
     "        @LOCATION pins the line to that pickup store: held there and\n"
     "        in the region (PROTOCOL.md, \"Pinned lines\")\n"
     "        --ttl: how long the hold lasts (default: the service's\n"
     "        reservations.default_ttl); DURATION with its unit: 900ms,\n"
     "        30s, 15m, 2h, 1d (a bare number is refused)\n"
     "        the same ID and lines again replay the first answer",
     ctl_build_reserve, ctl_show_reserve, NULL},
    {"commit", 1, 1, CTL_OPT_ORDER, 0, false, "commit ID [--order REF]",
     "held -> committed (the service's committed_ttl starts); REF lets\n"
     "        allocation events name the order instead of ID",
     ctl_build_commit, ctl_show_reservation, NULL},
    {"release", 1, CTL_UNLIMITED, 0, 2, false, "release ID [SKU:REGION ...]",
     "release the named lines entirely (no quantity: a line is released\n"
     "        whole), or every line when none is named; split from the right\n"
     "        like reserve's lines",
     ctl_build_release, ctl_show_reservation, NULL},
    {"extend", 2, 2, 0, 0, false, "extend ID DURATION",
     "a held or committed reservation now expires DURATION from now\n"
     "        (900ms, 30s, 15m, 2h, 1d; a bare number is refused)",
     ctl_build_extend, ctl_show_reservation, NULL},
    {"reservation", 1, 1, 0, 0, false, "reservation ID",
     "show a reservation: state, channel, order, expiry, lines", ctl_build_get,
     ctl_show_reservation, NULL},
    {"scan", 1, 1, CTL_OPT_LIMIT | CTL_OPT_CURSOR | CTL_OPT_ALL, 0, false,
     "scan REGION [--limit N] [--cursor C] [--all]",
     "every SKU of REGION with the ATP of each channel, page by page:\n"
     "        one page (--limit SKUs, default the service's 1,000, at most\n"
     "        10,000) from --cursor (default 0), or with --all every page\n"
     "        to the end; --json prints each page's reply map as a line",
     NULL, NULL, ctl_run_scan},
    {"watch", 0, 2, CTL_OPT_FEED | CTL_OPT_COUNT | CTL_OPT_DURATION, 0, false,
     "watch [REGION [SKU]] [--feed URL] [--count N] [--duration D]",
     "follow the change feed: everything, one region, or exactly one SKU\n"
     "        in a region; one line per message (--json: the message map\n"
     "        with a \"topic\" {region, sku}); a lost message is reported\n"
     "        as a warning line (--json: {\"gap\": {...}}), found with seq,\n"
     "        region_seq or key_seq as subscribed. Runs until Ctrl-C (exit\n"
     "        0), --count N messages or --duration D (900ms, 30s, 15m, ...);\n"
     "        nothing arriving is not an error. --feed: default\n"
     "        $ATPD_FEED, else an http:// --endpoint (its event stream),\n"
     "        else " ATP_DEFAULT_FEED_URL ". REGION is first\n"
     "        checked with atpd at --endpoint: unknown is an error (exit 1);\n"
     "        atpd not answering is a warning (the feed may come up later)",
     NULL, NULL, ctl_run_watch},
    {"admin", 1, 20, CTL_OPT_LIMIT, 0, false,
     "admin list|export|history [AFTER]|set-buffer ID [K=V ...]|"
     "remove-buffer ID [K=V ...]|set-bundle ID SKU C:Q ...|remove-bundle ID "
     "SKU|move-location ID LOCATION REGION|"
     "set-location ID LOCATION [K=V ...]|set-region ID REGION HORIZON|"
     "remove-location ID LOCATION|add-location ID LOCATION REGION [K=V ...]|"
     "set-authority ID SOURCE LOCATION BUCKETS|add-channel ID CHANNEL|"
     "add-region ID REGION [HORIZON]|remove-region ID REGION|"
     "remove-channel ID CHANNEL",
     "run-time administration (docs/PROTOCOL.md, \"Admin\"; admin scope):\n"
     "        list: the buffer rules, each region's inbound horizon,\n"
     "        each location's region, type and pickup settings, the\n"
     "        channels, the sources' authority, the spare places, with the\n"
     "        state's version; export: the state as a config file that\n"
     "        atpd --check-config accepts; history [AFTER]: the audit\n"
     "        records after version AFTER (--limit N, default 100);\n"
     "        set-buffer ID: add or replace the rule of a scope (sku=S,\n"
     "        region=R, channel=C; none: the global default) with units=N,\n"
     "        percent=P (at most 2 decimals), low_stock=N, backorder=N\n"
     "        (units reserves with --backorder may promise beyond ATP);\n"
     "        set-bundle ID SKU C:Q ...: define the bundle SKU as Q of each\n"
     "        component C (1 to 16); remove-bundle ID SKU;\n"
     "        remove-buffer ID: remove the rule of a scope; move-location\n"
     "        ID LOCATION REGION; set-location ID LOCATION: its type=T,\n"
     "        pickup=true|false, pickup_buffer=N (those given change);\n"
     "        set-region ID REGION HORIZON: its inbound_horizon (2d, 36h,\n"
     "        0); remove-location ID LOCATION (refused while it has stock\n"
     "        or open pinned reservation lines); add-location ID LOCATION\n"
     "        REGION [type=T] [pickup=..] [pickup_buffer=N]: a new location\n"
     "        (it takes stock once a source has authority there);\n"
     "        set-authority ID SOURCE LOCATION BUCKETS: the buckets\n"
     "        (on_hand,allocated,held,inbound, comma-separated; none)\n"
     "        SOURCE owns at LOCATION (list shows the sources' authority);\n"
     "        add-channel ID CHANNEL: a new sales channel (answered at once,\n"
     "        rules for it with set-buffer channel=CHANNEL); add-region ID\n"
     "        REGION [HORIZON]: a new region (empty until add-location or\n"
     "        move-location puts a location in it); remove-region ID REGION,\n"
     "        remove-channel ID CHANNEL (refused while anything names them).\n"
     "        ID is the change id: the same ID and\n"
     "        change again answers the first version (replayed)",
     ctl_build_admin, ctl_show_admin, NULL},
    {"token", 1, 1, CTL_OPT_ENTRY, 0, false,
     "token new|hash --name NAME --scopes read,reserve,admin [--client C]",
     "the auth.tokens entry of a client's token (docs/SECURITY.md) to\n"
     "        paste into atpd's config: new makes a random token and shows\n"
     "        it once; hash takes --token, $ATP_TOKEN or a line on stdin.\n"
     "        --scopes: one or more of read, reserve, admin (comma-\n"
     "        separated); --client binds the token's reservations to C",
     NULL, NULL, ctl_run_token},
};
#define CTL_NCMDS (sizeof ctl_cmds / sizeof ctl_cmds[0])

static const ctl_cmd *ctl_cmd_find(const char *name)
{
    for (size_t i = 0; i < CTL_NCMDS; i++)
        if (strcmp(ctl_cmds[i].name, name) == 0)
            return &ctl_cmds[i];
    return NULL;
}

static void ctl_usage(FILE *f)
{
    fprintf(f, "usage: atpctl [--endpoint URL] [--json] [--timeout MS] COMMAND "
               "...\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < CTL_NCMDS; i++)
        fprintf(f, "  %s\n        %s\n", ctl_cmds[i].synopsis,
                ctl_cmds[i].summary);
    fprintf(
        f,
        "  help [COMMAND]\n"
        "\n"
        "options (before or after the command words):\n"
        "  --endpoint URL  atpd query endpoint (default: $ATPD_ENDPOINT, "
        "else %s);\n"
        "                  an http:// URL (atpd's service.http_listen, e.g.\n"
        "                  http://127.0.0.1:7080) uses the HTTP/JSON API:\n"
        "                  the same commands, the same output\n"
        "                  tls+tcp:// and https:// need --ca\n" TOOLS_TLS_USAGE
        "  --json          print the reply map as one JSON line\n"
        "  --timeout MS    send/receive timeout (default %d)\n"
        "  --token T       the client's token when atpd has auth.tokens\n"
        "                  (default: $ATP_TOKEN; prefer it: an argument\n"
        "                  shows in ps); sent with every request\n"
        "  --channel C     sales channel (default '%s')\n"
        "  --ttl DURATION  reserve: hold time with its unit (900ms, 30s,\n"
        "                  15m, 2h, 1d; a bare number is refused)\n"
        "  --order REF     commit: the order reference\n"
        "  --limit N       scan: SKUs per page (1..%d)\n"
        "  --cursor C      scan: where the page starts (next_cursor of\n"
        "                  the previous page; default 0)\n"
        "  --all           scan: every page to the end\n"
        "  --wide          sources: every counter, not the short table\n"
        "  --partial       reserve: hold what there is of each line\n"
        "  --split         reserve: REGION is R1,R2,... filled in that order\n"
        "  --backorder     reserve: lines may take the backorder budget\n"
        "  --promise WHEN  reserve: a dated reservation (preorder) for WHEN\n"
        "  --qty Q         promise: the earliest date Q can be promised\n"
        "  --date WHEN     promise: the ATP on that date\n"
        "                  WHEN: ms since the epoch, YYYY-MM-DD (midnight\n"
        "                  UTC), YYYY-MM-DDTHH:MM[:SS]Z (UTC), or +DURATION\n"
        "                  from now (+10d, +36h; units as --ttl)\n"
        "  --pickup-only   pickup, pickup-cart: pickup-enabled locations\n"
        "                  only (pickup-cart: those that fill the cart)\n"
        "  --feed URL      watch: atpd change feed (default: $ATPD_FEED,\n"
        "                  else the --endpoint when it is http://, else\n"
        "                  %s); an http:// URL reads the\n"
        "                  HTTP API's event stream (GET /v1/changes)\n"
        "  --count N       watch: exit 0 after N messages\n"
        "  --duration D    watch: exit 0 after D (900ms, 30s, 15m, ...)\n"
        "  --help          this help, or a command's with a command\n"
        "  --version       print atpctl's version\n"
        "\n"
        "exit status: 0 ok (a reserve granted), 1 the service answered an "
        "error\n"
        "             (conflict, not_found, bad_state, bad_ttl, "
        "store_full, ...),\n"
        "             2 usage error (nothing sent), 3 cannot reach the "
        "service\n"
        "             (connect or timeout), 4 reserve refused: not enough "
        "stock\n"
        "             watch: 0 at the end (Ctrl-C, --count, --duration),\n"
        "             1 unknown REGION, 2 bad arguments or feed URL, 3 "
        "the socket failed\n",
        ATP_DEFAULT_QUERY_URL, CLIENT_DEFAULT_TIMEOUT_MS, ATP_DEFAULT_CHANNEL,
        CTL_SCAN_LIMIT_MAX, ATP_DEFAULT_FEED_URL);
}

static void ctl_cmd_usage(const ctl_cmd *c, FILE *f)
{
    fprintf(f,
            "usage: atpctl [--endpoint URL] [--json] [--timeout MS] %s\n"
            "  %s\n",
            c->synopsis, c->summary);
    if (c->refusable)
        fprintf(f, "exit status: 0 granted, 4 refused, 1 error reply, 2 "
                   "usage, 3 transport\n");
    if (c->run == ctl_run_watch)
        fprintf(f, "exit status: 0 at the end (Ctrl-C, --count, "
                   "--duration), 1 unknown REGION,\n"
                   "             2 usage or bad URL, 3 the socket failed\n");
}

/* ctl_usage_error prints why, then the relevant usage, to stderr. */
static int ctl_usage_error(const ctl_cmd *c, const char *fmt, const char *arg)
{
    fputs("atpctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    if (c != NULL) {
        ctl_cmd_usage(c, stderr);
    } else {
        /* The full help is a screen long; an error shows the short form. */
        fprintf(stderr,
                "usage: atpctl [--endpoint URL] [--json] [--timeout MS] "
                "COMMAND ...\ncommands:");
        for (size_t i = 0; i < CTL_NCMDS; i++)
            fprintf(stderr, " %s", ctl_cmds[i].name);
        fprintf(stderr, " help  (atpctl --help for details)\n");
    }
    return CTL_EXIT_USAGE;
}

/* ctl_args_read parses the command line (ctl_args.c) and prints a usage
 * error as ctl_usage_error does. */
static int ctl_args_read(int argc, char **argv, ctl_args *a)
{
    char why[160];
    int rc = ctl_args_parse(argc, argv, a, why, sizeof why);
    if (rc != CTL_EXIT_OK)
        return ctl_usage_error(NULL, "%s", why);
    return CTL_EXIT_OK;
}

/* ctl_print_service_error prints `error <name> (<code>): message` (and the
 * cart file line, or the SKU:REGION argument, when the service named a
 * request line). */
static void ctl_print_service_error(const codec_val *reply,
                                    const ctl_cart *cart, const char *path,
                                    const ctl_args *a, const ctl_cmd *cmd)
{
    const codec_val *err = codec_val_get(reply, "error");
    int64_t code = ATP_E_INTERNAL;
    codec_str name = {0}, msg = {0};
    const codec_val *v;
    bool have_code = false;
    if (err != NULL && (v = codec_val_get(err, "code")) != NULL)
        have_code = codec_val_int(v, &code);
    if (err == NULL || (v = codec_val_get(err, "name")) == NULL ||
        !codec_val_str(v, &name)) {
        const char *n = have_code ? atp_err_name((int)code) : "unknown_error";
        name.ptr = n;
        name.len = (uint32_t)strlen(n);
    }
    if (err == NULL || (v = codec_val_get(err, "message")) == NULL ||
        !codec_val_str(v, &msg)) {
        const char *m =
            have_code ? atp_err_message((int)code) : "no error details";
        msg.ptr = m;
        msg.len = (uint32_t)strlen(m);
    }
    fprintf(stderr, "error %.*s (%" PRId64 "): %.*s", (int)name.len, name.ptr,
            code, (int)msg.len, msg.ptr);
    uint64_t line = 0;
    if (err != NULL && cart != NULL &&
        (v = codec_val_get(err, "line")) != NULL && codec_val_uint(v, &line)) {
        if (line < cart->n)
            fprintf(stderr,
                    " (cart line %" PRIu64 ", %s:%ld: %s %s %" PRId64 ")", line,
                    path, cart->lines[line].file_line, cart->lines[line].sku,
                    cart->lines[line].region, cart->lines[line].qty);
        else
            fprintf(stderr, " (cart line %" PRIu64 ")", line);
    } else if (err != NULL && cmd->line_word > 0 &&
               (v = codec_val_get(err, "line")) != NULL &&
               codec_val_uint(v, &line)) {
        /* Lines are sent in argument order, so line i is this argument. */
        if (line < (uint64_t)(a->nwords - cmd->line_word))
            fprintf(stderr, " (line %" PRIu64 ": %s)", line + 1,
                    a->words[cmd->line_word + (int)line]);
        else
            fprintf(stderr, " (line %" PRIu64 ")", line + 1);
    }
    fputc('\n', stderr);
    const char *env = getenv("ATP_TOKEN");
    bool given = a->token != NULL || (env != NULL && env[0] != '\0');
    if (code == ATP_E_UNAUTHENTICATED)
        fprintf(stderr,
                "atpctl: %s; give atpctl a token with $ATP_TOKEN or --token "
                "(`atpctl token new` makes one: docs/SECURITY.md)\n",
                given ? "the token given was refused" : "no token was given");
    const codec_val *owner = err ? codec_val_get(err, "owner") : NULL;
    codec_str node = {0}, url = {0};
    if (code == ATP_E_NOT_OWNER && owner != NULL) {
        codec_val_str(codec_val_get(owner, "node"), &node);
        codec_val_str(codec_val_get(owner, "query"), &url);
        if (node.len > 0)
            fprintf(stderr,
                    "atpctl: the partition's owner is %.*s (%.*s), which did "
                    "not answer: during a takeover (about the cluster's "
                    "lease) retry; `atpctl cluster URL...` shows who owns "
                    "it (docs/CLUSTER.md)\n",
                    (int)node.len, node.ptr, (int)url.len, url.ptr);
        else
            fprintf(stderr, "atpctl: no node owns the partition now: during a "
                            "takeover (about the cluster's lease) retry "
                            "(docs/CLUSTER.md)\n");
    }
}

/* ctl_client_open opens the REQ client for url; returns CTL_EXIT_OK, or
 * prints why and returns CTL_EXIT_USAGE (a URL nng refuses) or
 * CTL_EXIT_TRANSPORT. */
static int ctl_client_open(const ctl_args *a, const char *url, client **c)
{
    char err[512];
    client_opts o = {
        .url = url, .timeout_ms = a->timeout_ms, .token = a->token};
    atp_err e = client_open(&o, c, err, sizeof err);
    if (e == ATP_OK)
        return CTL_EXIT_OK;
    fprintf(stderr, "atpctl: %s\n", err);
    return e == ATP_E_BAD_REQUEST ? CTL_EXIT_USAGE : CTL_EXIT_TRANSPORT;
}

/* ctl_exchange sends what w holds and decodes the reply into arena: a map
 * with a boolean "ok" (*reply, *ok). Returns CTL_EXIT_OK, or prints why and
 * returns CTL_EXIT_TRANSPORT when there is no such reply. */
static int ctl_exchange(client *c, const codec_writer *w, codec_arena *arena,
                        int timeout_ms, const codec_val **reply, bool *ok)
{
    const char *url = client_url(c);
    atp_err e = client_request(c, w, arena, reply);
    if (e == ATP_E_UNKNOWN_OP) { /* a command the HTTP API has no route for */
        fprintf(stderr,
                "atpctl: %s: use atpd's nng endpoint (service.query_listen) "
                "for it\n",
                client_last_error(c));
        return CTL_EXIT_USAGE;
    }
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s\n", client_last_error(c));
        if (client_wrong_peer(c) && strncmp(url, "http://", 7) == 0)
            fprintf(stderr,
                    "atpctl: an http:// --endpoint (or ATPD_ENDPOINT) must "
                    "name atpd's HTTP API (service.http_listen, e.g. "
                    "http://127.0.0.1:7080)\n");
        else if (client_wrong_peer(c))
            fprintf(stderr,
                    "atpctl: --endpoint (or ATPD_ENDPOINT) must name atpd's "
                    "query port (service.query_listen, default %s)\n",
                    ATP_DEFAULT_QUERY_URL);
        else if (!client_connected(c) && strncmp(url, "tls+", 4) == 0)
            /* A refused TLS handshake looks the same as nothing there. */
            fprintf(stderr,
                    "atpctl: is atpd running there? If it is: --ca must be "
                    "the CA of its certificate, the certificate must name "
                    "the URL's host, and when atpd verifies clients "
                    "--cert/--key must be a certificate of its tls.ca_file "
                    "(docs/SECURITY.md, \"TLS\").\n");
        else if (!client_connected(c))
            fprintf(stderr,
                    "atpctl: is atpd running? Start it with `make run`, or "
                    "point --endpoint (or ATPD_ENDPOINT) at it.\n");
        else if (e == ATP_E_TIMEOUT)
            fprintf(stderr,
                    "atpctl: atpd is slow or stopped; try a larger --timeout "
                    "(now %d ms)\n",
                    timeout_ms);
        return CTL_EXIT_TRANSPORT;
    }
    const codec_val *okv = codec_val_get(*reply, "ok");
    *ok = false;
    if (codec_val_type(*reply) != CODEC_MAP || okv == NULL ||
        !codec_val_bool(okv, ok)) {
        fprintf(stderr,
                "atpctl: malformed reply from %s (not a map with "
                "'ok')\n",
                url);
        return CTL_EXIT_TRANSPORT;
    }
    return CTL_EXIT_OK;
}

/* ctl_query_url is --endpoint, else $ATPD_ENDPOINT, else the default. */
static const char *ctl_query_url(const ctl_args *a)
{
    const char *url = a->endpoint;
    if (url == NULL) {
        url = getenv("ATPD_ENDPOINT");
        if (url == NULL || *url == '\0')
            url = ATP_DEFAULT_QUERY_URL;
    }
    return url;
}

static int ctl_run(const ctl_args *a, const ctl_cmd *cmd, const char *url)
{
    int rc = CTL_EXIT_TRANSPORT;
    ctl_cart cart = {0};
    codec_arena *arena = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    client *c = NULL;
    if (arena == NULL || w == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        goto done;
    }
    rc = cmd->build(a, w, &cart);
    if (rc != CTL_EXIT_OK)
        goto done;
    if ((rc = ctl_client_open(a, url, &c)) != CTL_EXIT_OK)
        goto done;
    const codec_val *reply = NULL;
    bool ok = false;
    if ((rc = ctl_exchange(c, w, arena, a->timeout_ms, &reply, &ok)) !=
        CTL_EXIT_OK)
        goto done;
    if (a->json) {
        codec_val_write_json(reply, stdout);
        fputc('\n', stdout);
    }
    if (!ok) {
        ctl_print_service_error(reply, cart.n > 0 ? &cart : NULL,
                                cart.n > 0 ? a->words[1] : NULL, a, cmd);
        rc = CTL_EXIT_SERVICE;
        goto done;
    }
    rc = CTL_EXIT_OK;
    if (cmd->refusable) {
        /* A refusal is an answer, not an error, but a script must be able
         * to tell it from a hold without reading the output. */
        const codec_val *g = codec_val_get(reply, "granted");
        bool granted = false;
        if (g == NULL || !codec_val_bool(g, &granted)) {
            fprintf(stderr,
                    "atpctl: malformed reply from %s (no boolean "
                    "'granted')\n",
                    url);
            rc = CTL_EXIT_TRANSPORT;
            goto done;
        }
        if (!granted)
            rc = CTL_EXIT_REFUSED;
    }
    if (!a->json)
        cmd->render(reply, cart.n > 0 ? &cart : NULL, stdout);

done:
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE; /* e.g. stdout is a closed pipe */
    client_close(c);
    ctl_cart_fini(&cart);
    codec_writer_free(w);
    codec_arena_free(arena);
    return rc;
}

/* ---- scan --------------------------------------------------------------- */

/* ctl_run_scan asks for one page of a region, or with --all follows
 * next_cursor to the end; prints each reply map (--json) or one table. */
static int ctl_run_scan(const ctl_args *a, const ctl_cmd *cmd)
{
    const char *region = a->words[1];
    uint64_t limit = 0, cursor = 0;
    if (a->limit != NULL &&
        !ctl_feed_parse_uint(a->limit, 1, CTL_SCAN_LIMIT_MAX, &limit)) {
        char why[128];
        snprintf(why, sizeof why, "--limit needs a number in 1..%d",
                 CTL_SCAN_LIMIT_MAX);
        return ctl_usage_error(cmd, "%s", why);
    }
    if (a->cursor != NULL &&
        !ctl_feed_parse_uint(a->cursor, 0, UINT32_MAX, &cursor))
        return ctl_usage_error(cmd, "%s",
                               "--cursor needs a non-negative integer (a "
                               "next_cursor)");
    const char *url = ctl_query_url(a);
    int rc = CTL_EXIT_TRANSPORT;
    codec_arena *arena = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    client *c = NULL;
    ctl_scan_view view = {0};
    uint64_t first_seq = 0, first_rseq = 0, pages = 0;
    uint64_t start = cursor;
    bool more = false;
    if (arena == NULL || w == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        goto done;
    }
    if ((rc = ctl_client_open(a, url, &c)) != CTL_EXIT_OK)
        goto done;
    /* Bounded: every page must move the cursor forward, and a cursor is a
     * SKU index below 2^32. */
    for (;;) {
        codec_writer_reset(w);
        codec_arena_clear(arena);
        codec_w_map(w, limit > 0 ? 4 : 3);
        codec_w_kv_cstr(w, "op", "scan");
        codec_w_kv_cstr(w, "region", region);
        codec_w_kv_uint(w, "cursor", cursor);
        if (limit > 0)
            codec_w_kv_uint(w, "limit", limit);
        const codec_val *reply = NULL;
        bool ok = false;
        if ((rc = ctl_exchange(c, w, arena, a->timeout_ms, &reply, &ok)) !=
            CTL_EXIT_OK)
            goto done;
        if (a->json) {
            codec_val_write_json(reply, stdout);
            fputc('\n', stdout);
        }
        if (!ok) {
            ctl_print_service_error(reply, NULL, NULL, a, cmd);
            rc = CTL_EXIT_SERVICE;
            goto done;
        }
        if (pages++ == 0) {
            /* The first page's sequences are where a cache built from
             * this scan starts following the feed. */
            codec_val_uint(codec_val_get(reply, "seq"), &first_seq);
            codec_val_uint(codec_val_get(reply, "region_seq"), &first_rseq);
        }
        if (!a->json && !ctl_render_scan_page(reply, &view, stdout)) {
            fprintf(stderr, "atpctl: out of memory\n");
            rc = CTL_EXIT_TRANSPORT;
            goto done;
        }
        const codec_val *nc = codec_val_get(reply, "next_cursor");
        uint64_t next = 0;
        if (nc == NULL || codec_val_type(nc) == CODEC_NIL) {
            more = false;
            break;
        }
        if (!codec_val_uint(nc, &next) || next <= cursor) {
            fprintf(stderr,
                    "atpctl: malformed reply from %s (next_cursor does not "
                    "move forward from %" PRIu64 ")\n",
                    url, cursor);
            rc = CTL_EXIT_TRANSPORT;
            goto done;
        }
        cursor = next;
        more = true;
        if (!a->all)
            break;
        if (fflush(stdout) != 0)
            break;
    }
    rc = CTL_EXIT_OK;
    if (!a->json) {
        printf("%s: %" PRIu64 " SKU%s from cursor %" PRIu64 " (%" PRIu64
               " page%s); feed seq %" PRIu64 ", region_seq %" PRIu64 "%s\n",
               region, view.rows, view.rows == 1 ? "" : "s", start, pages,
               pages == 1 ? "" : "s", first_seq, first_rseq,
               pages > 1 ? " (first page)" : "");
        if (more)
            printf("more: atpctl scan %s --cursor %" PRIu64 "%s%s (or --all)\n",
                   region, cursor, a->limit != NULL ? " --limit " : "",
                   a->limit != NULL ? a->limit : "");
    }
done:
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE; /* e.g. stdout is a closed pipe */
    ctl_scan_view_fini(&view);
    client_close(c);
    codec_writer_free(w);
    codec_arena_free(arena);
    return rc;
}

/* ---- watch -------------------------------------------------------------- */

static volatile sig_atomic_t ctl_watch_signal;

static void ctl_watch_on_signal(int sig)
{
    ctl_watch_signal = sig;
}

/* ctl_watch_signals makes SIGINT and SIGTERM end the watch loop (checked
 * every CTL_WATCH_POLL_MS) instead of the process, so the output is
 * flushed and the exit status is 0. */
static void ctl_watch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ctl_watch_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Several partitions of a cluster number their messages each
 * (docs/CLUSTER.md, "The change feed across partitions"): gaps are
 * tracked per partition, the first CTL_WATCH_PARTS named. */
#define CTL_WATCH_PARTS 16

typedef struct ctl_watch {
    const ctl_args *a;
    ctl_feed_scope scope;
    ctl_feed_gaps gaps; /* every partition's, summed at the end */
    char part_name[CTL_WATCH_PARTS][65];
    ctl_feed_gaps part_gaps[CTL_WATCH_PARTS];
    int n_parts;
    bool color;
    uint64_t printed;
    uint64_t malformed;
} ctl_watch;

/* ctl_watch_gaps: the gap tracker of a message's partition (none: the
 * one of the whole feed). */
static ctl_feed_gaps *ctl_watch_gaps(ctl_watch *wt, codec_str part)
{
    if (part.len == 0 || part.len > 64)
        return &wt->gaps;
    for (int i = 0; i < wt->n_parts; i++)
        if (strlen(wt->part_name[i]) == part.len &&
            memcmp(wt->part_name[i], part.ptr, part.len) == 0)
            return &wt->part_gaps[i];
    if (wt->n_parts == CTL_WATCH_PARTS)
        return &wt->gaps;
    int i = wt->n_parts++;
    memcpy(wt->part_name[i], part.ptr, part.len);
    wt->part_name[i][part.len] = '\0';
    return &wt->part_gaps[i];
}

/* ctl_watch_message checks and prints one message (and a gap warning
 * before it). Returns false for a message that is not a change-feed
 * message (reported on stderr, not printed). */
static bool ctl_watch_message(ctl_watch *wt, codec_arena *arena,
                              const void *msg, size_t len)
{
    ctl_feed_topic t;
    const void *body_bytes;
    size_t body_len;
    const codec_val *body = NULL;
    codec_feed_msg fm;
    codec_arena_clear(arena);
    /* Checked whole by the feed's decoder; printed from the map as it
     * came, so that keys a newer atpd adds are shown too. */
    if (codec_feed_decode(arena, msg, len, &fm) != ATP_OK ||
        !codec_feed_split(msg, len, &t.region, &t.sku, &body_bytes,
                          &body_len) ||
        codec_decode(arena, body_bytes, body_len, &body) != ATP_OK) {
        if (wt->malformed++ < 10)
            fprintf(stderr,
                    "atpctl: ignoring a %zu-byte message that is not a "
                    "change-feed message (topic, then a map with %s)\n",
                    len, ctl_feed_seq_name(wt->scope));
        return false;
    }
    uint64_t seq = ctl_feed_msg_seq(&fm, wt->scope);
    ctl_feed_gap g;
    if (ctl_feed_gaps_check(ctl_watch_gaps(wt, fm.partition), seq, &g) !=
        CTL_FEED_IN_ORDER)
        ctl_render_gap(&g, wt->scope, &t, wt->a->json, stdout);
    if (wt->a->json) {
        if (!ctl_feed_write_json(&t, body, stdout))
            fprintf(stderr, "atpctl: out of memory for a message\n");
    } else {
        ctl_render_feed(&t, body, wt->color, stdout);
    }
    wt->printed++;
    return true;
}

/* ctl_watch_check_region asks atpd (--endpoint) whether region exists, so
 * that a typo is an error instead of a silent subscription that never
 * receives anything. Returns CTL_EXIT_OK (exists, or atpd cannot be asked:
 * warned, the feed may come up later) or CTL_EXIT_SERVICE (atpd's error
 * printed). */
static int ctl_watch_check_region(const ctl_args *a, const ctl_cmd *cmd,
                                  const char *region)
{
    codec_arena *arena = codec_arena_alloc();
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    client *c = NULL;
    char err[512];
    const char *url = ctl_query_url(a);
    int rc = CTL_EXIT_OK;
    client_opts o = {
        .url = url, .timeout_ms = a->timeout_ms, .token = a->token};
    const codec_val *reply = NULL, *okv;
    bool ok = false;
    if (arena == NULL || w == NULL ||
        client_open(&o, &c, err, sizeof err) != ATP_OK)
        goto done;
    codec_w_map(w, 3);
    codec_w_kv_cstr(w, "op", "scan");
    codec_w_kv_cstr(w, "region", region);
    codec_w_kv_uint(w, "limit", 1);
    if (client_request(c, w, arena, &reply) != ATP_OK) {
        fprintf(stderr,
                "atpctl: warning: cannot check region '%s' with atpd (%s); "
                "watching anyway\n",
                region, client_last_error(c));
        goto done;
    }
    if ((okv = codec_val_get(reply, "ok")) != NULL &&
        codec_val_bool(okv, &ok) && !ok) {
        ctl_print_service_error(reply, NULL, NULL, a, cmd);
        rc = CTL_EXIT_SERVICE;
    }
done:
    client_close(c);
    codec_writer_free(w);
    codec_arena_free(arena);
    return rc;
}

/* ctl_run_watch subscribes to the prefix of the words (everything, a
 * region, or one SKU of a region) and prints messages until --count,
 * --duration or a signal. */
static int ctl_run_watch(const ctl_args *a, const ctl_cmd *cmd)
{
    const char *region = a->nwords > 1 ? a->words[1] : NULL;
    const char *sku = a->nwords > 2 ? a->words[2] : NULL;
    char prefix[CTL_FEED_PREFIX_MAX], err[512];
    size_t prefix_len = 0;
    ctl_watch wt = {.a = a};
    if (!ctl_feed_prefix(region, sku, prefix, &prefix_len, &wt.scope, err,
                         sizeof err))
        return ctl_usage_error(cmd, "%s", err);
    uint64_t count = 0;
    int64_t duration_ms = 0;
    if (a->count != NULL &&
        !ctl_feed_parse_uint(a->count, 1, UINT64_MAX, &count))
        return ctl_usage_error(cmd, "%s", "--count needs a number >= 1");
    if (a->duration != NULL && !ctl_resv_ttl_parse(a->duration, &duration_ms))
        return ctl_usage_error(cmd, "%s",
                               "--duration needs a positive duration with "
                               "its unit (900ms, 30s, 15m, 2h, 1d)");
    /* --feed, else $ATPD_FEED, else the HTTP API's event stream when
     * --endpoint is http://, else the default nng feed. */
    const char *url = a->feed;
    if (url == NULL) {
        url = getenv("ATPD_FEED");
        if (url == NULL || *url == '\0')
            url = strncmp(ctl_query_url(a), "http", 4) == 0
                      ? ctl_query_url(a)
                      : ATP_DEFAULT_FEED_URL;
    }
    bool http =
        strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
    if (region != NULL) {
        int rc = ctl_watch_check_region(a, cmd, region);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    /* Another kind of socket at the feed URL is a mistake to say now;
     * nothing listening is not (the feed may come up later). */
    if (!http && sp_probe(url, SP_PROTO_SUB, SP_PROTO_PUB, a->timeout_ms, err,
                          sizeof err) == ATP_E_BAD_REQUEST) {
        fprintf(stderr,
                "atpctl: %s\natpctl: --feed (or ATPD_FEED) must name atpd's "
                "change feed (service.feed_listen, default %s)\n",
                err, ATP_DEFAULT_FEED_URL);
        return CTL_EXIT_USAGE;
    }
    ctl_sub *sub = NULL;
    atp_err e =
        ctl_sub_open(url, a->token, prefix, prefix_len, &sub, err, sizeof err);
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s\n", err);
        return e == ATP_E_BAD_REQUEST ? CTL_EXIT_USAGE : CTL_EXIT_TRANSPORT;
    }
    codec_arena *arena = codec_arena_alloc();
    if (arena == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        ctl_sub_close(sub);
        return CTL_EXIT_TRANSPORT;
    }
    wt.color = !a->json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    ctl_watch_signals();
    if (!a->json)
        fprintf(stderr,
                "atpctl: watching %s%s%s%s on %s (gaps by %s; Ctrl-C "
                "to stop)\n",
                region != NULL ? region : "everything", sku != NULL ? " " : "",
                sku != NULL ? sku : "",
                region != NULL && sku == NULL ? " (region)" : "", url,
                ctl_feed_seq_name(wt.scope));
    int rc = CTL_EXIT_OK;
    int64_t start = clock_mono_ms();
    bool noted = false, was_up = false;
    while (ctl_watch_signal == 0 && (count == 0 || wt.printed < count)) {
        /* Connection changes go to stderr (scripts wait for "connected":
         * what atpd publishes before it is not seen). */
        bool up = ctl_sub_connected(sub);
        if (up != was_up)
            fprintf(stderr,
                    up ? "atpctl: connected to %s\n"
                       : "atpctl: lost %s; reconnecting (messages "
                         "published meanwhile are lost)\n",
                    url);
        was_up = up;
        int wait = CTL_WATCH_POLL_MS;
        if (duration_ms > 0) {
            int64_t left = start + duration_ms - clock_mono_ms();
            if (left <= 0)
                break;
            if (left < wait)
                wait = (int)left;
        }
        void *msg = NULL;
        size_t len = 0;
        e = ctl_sub_recv(sub, wait, &msg, &len);
        if (e == ATP_E_TIMEOUT) {
            if (!noted && ctl_sub_connections(sub) == 0 &&
                clock_mono_ms() - start >= CTL_WATCH_CONNECT_NOTE_MS) {
                /* Not an error: the feed may come up later. Said once. */
                fprintf(stderr,
                        "atpctl: nothing listens at %s yet; still trying\n",
                        url);
                noted = true;
            }
            continue;
        }
        if (e != ATP_OK) {
            fprintf(stderr, "atpctl: %s\n", ctl_sub_last_error(sub));
            rc = CTL_EXIT_TRANSPORT;
            break;
        }
        ctl_watch_message(&wt, arena, msg, len);
        ctl_sub_free_msg(msg, len);
        /* Live output: a pipe gets every line as it arrives. */
        if (fflush(stdout) != 0) {
            rc = CTL_EXIT_USAGE; /* e.g. stdout is a closed pipe */
            break;
        }
    }
    for (int i = 0; i < wt.n_parts; i++) {
        wt.gaps.gaps += wt.part_gaps[i].gaps;
        wt.gaps.missed += wt.part_gaps[i].missed;
        wt.gaps.resets += wt.part_gaps[i].resets;
    }
    if (!a->json && (wt.gaps.gaps > 0 || wt.gaps.resets > 0))
        fprintf(stderr,
                "atpctl: %" PRIu64 " message%s, %" PRIu64 " gap%s (%" PRIu64
                " lost), %" PRIu64 " restart%s\n",
                wt.printed, wt.printed == 1 ? "" : "s", wt.gaps.gaps,
                wt.gaps.gaps == 1 ? "" : "s", wt.gaps.missed, wt.gaps.resets,
                wt.gaps.resets == 1 ? "" : "s");
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE;
    codec_arena_free(arena);
    ctl_sub_close(sub);
    return rc;
}

/* ctl_main picks the command of parsed arguments, checks its operands and
 * options, and runs it. Returns the exit code. */
static int ctl_main(const ctl_args *a)
{
    if (a->version) {
        tool_args_version("atpctl");
        return CTL_EXIT_OK;
    }
    const char *name = a->nwords > 0 ? a->words[0] : NULL;
    if (name != NULL && strcmp(name, "help") == 0) {
        const ctl_cmd *c = a->nwords > 1 ? ctl_cmd_find(a->words[1]) : NULL;
        if (a->nwords > 1 && c == NULL)
            return ctl_usage_error(NULL, "unknown command '%s'", a->words[1]);
        if (c != NULL)
            ctl_cmd_usage(c, stdout);
        else
            ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    const ctl_cmd *cmd = name != NULL ? ctl_cmd_find(name) : NULL;
    if (a->help) {
        if (cmd != NULL)
            ctl_cmd_usage(cmd, stdout);
        else
            ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (name == NULL)
        return ctl_usage_error(NULL, "%s", "no command given");
    if (cmd == NULL)
        return ctl_usage_error(NULL, "unknown command '%s'", name);
    int operands = a->nwords - 1;
    if (operands < cmd->min_operands)
        return ctl_usage_error(cmd, "%s: missing arguments", cmd->name);
    if (cmd->max_operands != CTL_UNLIMITED && operands > cmd->max_operands)
        return ctl_usage_error(cmd, "unexpected argument '%s'",
                               a->words[1 + cmd->max_operands]);
    if (a->channel != NULL && !(cmd->opts & CTL_OPT_CHANNEL))
        return ctl_usage_error(cmd, "%s does not take --channel", cmd->name);
    if (a->ttl != NULL && !(cmd->opts & CTL_OPT_TTL))
        return ctl_usage_error(cmd, "%s does not take --ttl", cmd->name);
    if (a->order != NULL && !(cmd->opts & CTL_OPT_ORDER))
        return ctl_usage_error(cmd, "%s does not take --order", cmd->name);
    const struct {
        bool given;
        unsigned opt;
        const char *name;
    } more[] = {
        {a->feed != NULL, CTL_OPT_FEED, "--feed"},
        {a->count != NULL, CTL_OPT_COUNT, "--count"},
        {a->duration != NULL, CTL_OPT_DURATION, "--duration"},
        {a->limit != NULL, CTL_OPT_LIMIT, "--limit"},
        {a->cursor != NULL, CTL_OPT_CURSOR, "--cursor"},
        {a->all, CTL_OPT_ALL, "--all"},
        {a->wide, CTL_OPT_WIDE, "--wide"},
        {a->pickup_only, CTL_OPT_PICKUP_ONLY, "--pickup-only"},
        {a->partial, CTL_OPT_PARTIAL, "--partial"},
        {a->split, CTL_OPT_SPLIT, "--split"},
        {a->backorder, CTL_OPT_BACKORDER, "--backorder"},
        {a->qty != NULL, CTL_OPT_QTY, "--qty"},
        {a->date != NULL, CTL_OPT_DATE, "--date"},
        {a->promise != NULL, CTL_OPT_PROMISE, "--promise"},
        {a->name != NULL, CTL_OPT_ENTRY, "--name"},
        {a->scopes != NULL, CTL_OPT_ENTRY, "--scopes"},
        {a->client != NULL, CTL_OPT_ENTRY, "--client"},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        if (more[i].given && !(cmd->opts & more[i].opt)) {
            char why[128];
            snprintf(why, sizeof why, "%s does not take %s", cmd->name,
                     more[i].name);
            return ctl_usage_error(cmd, "%s", why);
        }
    }
    if (cmd->run != NULL)
        return cmd->run(a, cmd);
    return ctl_run(a, cmd, ctl_query_url(a));
}

int main(int argc, char **argv)
{
    ctl_args a;
    int rc = ctl_args_read(argc, argv, &a);
    if (rc == CTL_EXIT_OK && a.token == NULL)
        a.token = client_token_env();
    if (rc == CTL_EXIT_OK)
        rc = ctl_main(&a);
    return rc;
}
