/*
 * atpctl.c - the operator and scripting client of atpd: builds one query,
 * sends it over REQ (tools/common/client), prints the reply as JSON or as
 * text, and says with its exit code what happened.
 *
 * Single-threaded (nng's own threads aside). Exit codes are part of the
 * interface scripts rely on: 0 ok, 1 the service answered an error, 2 usage
 * error (including a malformed cart file), 3 transport error, 4 a reserve
 * the service refused (not enough stock: an answer, not an error).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atp/error.h"
#include "atp/wire.h"
#include "client.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "ctl_cart.h"
#include "ctl_render.h"
#include "ctl_resv.h"

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_SERVICE = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_TRANSPORT = 3,
    CTL_EXIT_REFUSED = 4,
};

#define CTL_TIMEOUT_MAX_MS 3600000

typedef struct ctl_args {
    const char *endpoint; /* NULL: ATPD_ENDPOINT, then the default */
    const char *channel;  /* NULL: not given */
    const char *ttl;      /* --ttl, NULL: not given (the service default) */
    const char *order;    /* --order, NULL: not given */
    int timeout_ms;
    bool json;
    bool help;
    const char **words; /* command and its operands; owned, argc entries */
    int nwords;
} ctl_args;

/* Command options beyond the global ones (ctl_cmd.opts). */
enum {
    CTL_OPT_CHANNEL = 1 << 0,
    CTL_OPT_TTL = 1 << 1,
    CTL_OPT_ORDER = 1 << 2,
};

#define CTL_UNLIMITED (-1) /* max_operands: any number */

typedef struct ctl_cmd ctl_cmd;

/* A command builds its request into w; it may keep state for rendering in
 * *cart (only cart does). Returns a CTL_EXIT_ code. */
typedef int (*ctl_build_fn)(const ctl_args *a, codec_writer *w, ctl_cart *cart);
typedef void (*ctl_render_fn)(const codec_val *reply, const ctl_cart *cart,
                              FILE *f);

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

static int ctl_build_op_only(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    codec_w_map(w, 1);
    codec_w_kv_cstr(w, "op", a->words[0]);
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
            "ms, s, m, h or d\n        (900ms, 30s, 15m, 2h, 1d; a bare number "
            "is milliseconds); nothing was sent\n",
            s);
    return false;
}

/* ctl_build_lines writes the "lines" key and array from words[first..]:
 * [sku, region, qty] (with_qty) or [sku, region]. */
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
        codec_w_array(w, with_qty ? 3 : 2);
        codec_w_str(w, l.sku, l.sku_len);
        codec_w_str(w, l.region, l.region_len);
        if (with_qty)
            codec_w_int(w, l.qty);
    }
    return true;
}

static int ctl_build_reserve(const ctl_args *a, codec_writer *w, ctl_cart *cart)
{
    (void)cart;
    int64_t ttl = 0;
    if (!ctl_build_id_ok(a) || (a->ttl != NULL && !ctl_build_ttl(a->ttl, &ttl)))
        return CTL_EXIT_USAGE;
    /* Without --ttl the service's reservations.default_ttl applies. */
    codec_w_map(w, a->ttl != NULL ? 5 : 4);
    codec_w_kv_cstr(w, "op", "reserve");
    codec_w_kv_cstr(w, "id", a->words[1]);
    codec_w_kv_cstr(w, "channel", ctl_channel(a));
    if (!ctl_build_lines(a, 2, true, w))
        return CTL_EXIT_USAGE;
    if (a->ttl != NULL)
        codec_w_kv_int(w, "ttl_ms", ttl);
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
     * (an empty array would release nothing). */
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
static void ctl_show_sources(const codec_val *r, const ctl_cart *c, FILE *f)
{
    (void)c;
    ctl_render_sources(r, f);
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

static const ctl_cmd ctl_cmds[] = {
    {"atp", 2, 2, CTL_OPT_CHANNEL, 0, false, "atp SKU REGION [--channel C]",
     "available-to-promise of one SKU in one region", ctl_build_atp,
     ctl_show_atp},
    {"cart", 1, 1, CTL_OPT_CHANNEL, 0, false, "cart FILE|- [--channel C]",
     "check a whole cart; FILE has one 'sku region qty' per line\n"
     "        ('#' comments and blank lines ignored; '-' reads stdin)",
     ctl_build_cart, ctl_show_cart},
    {"regions", 1, 1, CTL_OPT_CHANNEL, 0, false, "regions SKU [--channel C]",
     "one SKU in every region", ctl_build_regions, ctl_show_regions},
    {"sources", 0, 0, 0, 0, false, "sources", "feed health of every source",
     ctl_build_op_only, ctl_show_sources},
    {"status", 0, 0, 0, 0, false, "status", "service status and counters",
     ctl_build_op_only, ctl_show_status},
    {"reserve", 2, CTL_UNLIMITED, CTL_OPT_CHANNEL | CTL_OPT_TTL, 2, true,
     "reserve ID SKU:REGION:QTY [SKU:REGION:QTY ...] [--ttl DURATION] "
     "[--channel C]",
     "hold stock for ID, all lines or none; exit 4 when refused (short)\n"
     "        each line is split from the right: QTY after the last ':',\n"
     "        REGION before it, the rest is the SKU (which may contain ':')\n"
     "        --ttl: how long the hold lasts (default: the service's\n"
     "        reservations.default_ttl); DURATION as in the config: 900ms,\n"
     "        30s, 15m, 2h, 1d, or a bare number of MILLISECONDS\n"
     "        the same ID and lines again replay the first answer",
     ctl_build_reserve, ctl_show_reserve},
    {"commit", 1, 1, CTL_OPT_ORDER, 0, false, "commit ID [--order REF]",
     "held -> committed (the service's committed_ttl starts); REF lets\n"
     "        allocation events name the order instead of ID",
     ctl_build_commit, ctl_show_reservation},
    {"release", 1, CTL_UNLIMITED, 0, 2, false, "release ID [SKU:REGION ...]",
     "release the named lines entirely (no quantity: a line is released\n"
     "        whole), or every line when none is named; split from the right\n"
     "        like reserve's lines",
     ctl_build_release, ctl_show_reservation},
    {"extend", 2, 2, 0, 0, false, "extend ID DURATION",
     "a held or committed reservation now expires DURATION from now\n"
     "        (900ms, 30s, 15m, 2h, 1d, or a bare number of MILLISECONDS)",
     ctl_build_extend, ctl_show_reservation},
    {"reservation", 1, 1, 0, 0, false, "reservation ID",
     "show a reservation: state, channel, order, expiry, lines", ctl_build_get,
     ctl_show_reservation},
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
    fprintf(f,
            "  help [COMMAND]\n"
            "\n"
            "options (before or after the command words):\n"
            "  --endpoint URL  atpd query endpoint (default: $ATPD_ENDPOINT, "
            "else %s)\n"
            "  --json          print the reply map as one JSON line\n"
            "  --timeout MS    send/receive timeout (default %d)\n"
            "  --channel C     sales channel (default '%s')\n"
            "  --ttl DURATION  reserve: hold time (900ms, 30s, 15m, 2h, 1d;\n"
            "                  a bare number is milliseconds, as in the "
            "config)\n"
            "  --order REF     commit: the order reference\n"
            "  --help          this help, or a command's with a command\n"
            "\n"
            "exit status: 0 ok (a reserve granted), 1 the service answered an "
            "error\n"
            "             (conflict, not_found, bad_state, bad_ttl, "
            "store_full, ...),\n"
            "             2 usage error (nothing sent), 3 cannot reach the "
            "service\n"
            "             (connect or timeout), 4 reserve refused: not enough "
            "stock\n",
            ATP_DEFAULT_QUERY_URL, CLIENT_DEFAULT_TIMEOUT_MS,
            ATP_DEFAULT_CHANNEL);
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

/* ctl_opt_value returns the value of option `name` at argv[*i] in either
 * "--name VALUE" or "--name=VALUE" form, advancing *i; NULL if argv[*i] is
 * not this option. *missing is set when the value is absent. */
static const char *ctl_opt_value(int argc, char **argv, int *i,
                                 const char *name, bool *missing)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return arg;
    }
    (*i)++;
    return argv[*i];
}

/* ctl_args_parse fills *a; returns CTL_EXIT_OK or prints and returns
 * CTL_EXIT_USAGE. Options may sit anywhere; "--" ends them. */
static int ctl_args_parse(int argc, char **argv, ctl_args *a)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    /* At most argc - 1 words; reserve and release take any number. */
    a->words = calloc((size_t)(argc > 0 ? argc : 1), sizeof *a->words);
    if (a->words == NULL) {
        fprintf(stderr, "atpctl: out of memory\n");
        return CTL_EXIT_USAGE;
    }
    bool only_words = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool missing = false;
        const char *v;
        if (only_words || arg[0] != '-' || strcmp(arg, "-") == 0) {
            a->words[a->nwords++] = arg;
        } else if (strcmp(arg, "--") == 0) {
            only_words = true;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = true;
        } else if ((v = ctl_opt_value(argc, argv, &i, "--endpoint",
                                      &missing)) != NULL) {
            if (missing || *v == '\0')
                return ctl_usage_error(NULL, "%s needs a URL", "--endpoint");
            a->endpoint = v;
        } else if ((v = ctl_opt_value(argc, argv, &i, "--channel", &missing)) !=
                   NULL) {
            if (missing || *v == '\0')
                return ctl_usage_error(NULL, "%s needs a channel id",
                                       "--channel");
            a->channel = v;
        } else if ((v = ctl_opt_value(argc, argv, &i, "--ttl", &missing)) !=
                   NULL) {
            if (missing || *v == '\0')
                return ctl_usage_error(NULL, "%s needs a duration", "--ttl");
            a->ttl = v;
        } else if ((v = ctl_opt_value(argc, argv, &i, "--order", &missing)) !=
                   NULL) {
            if (missing || *v == '\0')
                return ctl_usage_error(NULL, "%s needs an order reference",
                                       "--order");
            a->order = v;
        } else if ((v = ctl_opt_value(argc, argv, &i, "--timeout", &missing)) !=
                   NULL) {
            char *end = NULL;
            errno = 0;
            long ms = missing ? 0 : strtol(v, &end, 10);
            if (missing || errno != 0 || end == v || *end != '\0' || ms < 1 ||
                ms > CTL_TIMEOUT_MAX_MS)
                return ctl_usage_error(
                    NULL, "--timeout needs milliseconds in 1..%s", "3600000");
            a->timeout_ms = (int)ms;
        } else {
            return ctl_usage_error(NULL, "unknown option '%s'", arg);
        }
    }
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
    char err[512];
    client_opts o = {.url = url, .timeout_ms = a->timeout_ms};
    atp_err e = client_open(&o, &c, err, sizeof err);
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s\n", err);
        rc = e == ATP_E_BAD_REQUEST ? CTL_EXIT_USAGE : CTL_EXIT_TRANSPORT;
        goto done;
    }
    const codec_val *reply = NULL;
    e = client_request(c, w, arena, &reply);
    if (e != ATP_OK) {
        fprintf(stderr, "atpctl: %s\n", client_last_error(c));
        if (e == ATP_E_TIMEOUT && !client_connected(c))
            fprintf(stderr,
                    "atpctl: is atpd running? Start it with `make run`, or "
                    "point --endpoint (or ATPD_ENDPOINT) at it.\n");
        else if (e == ATP_E_TIMEOUT)
            fprintf(stderr,
                    "atpctl: no reply within %d ms; try a larger "
                    "--timeout\n",
                    a->timeout_ms);
        rc = CTL_EXIT_TRANSPORT;
        goto done;
    }
    const codec_val *okv = codec_val_get(reply, "ok");
    bool ok = false;
    if (codec_val_type(reply) != CODEC_MAP || okv == NULL ||
        !codec_val_bool(okv, &ok)) {
        fprintf(stderr,
                "atpctl: malformed reply from %s (not a map with "
                "'ok')\n",
                url);
        rc = CTL_EXIT_TRANSPORT;
        goto done;
    }
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

/* ctl_main picks the command of parsed arguments, checks its operands and
 * options, and runs it. Returns the exit code. */
static int ctl_main(const ctl_args *a)
{
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
    const char *url = a->endpoint;
    if (url == NULL) {
        url = getenv("ATPD_ENDPOINT");
        if (url == NULL || *url == '\0')
            url = ATP_DEFAULT_QUERY_URL;
    }
    return ctl_run(a, cmd, url);
}

int main(int argc, char **argv)
{
    ctl_args a;
    int rc = ctl_args_parse(argc, argv, &a);
    if (rc == CTL_EXIT_OK)
        rc = ctl_main(&a);
    free(a.words);
    return rc;
}
