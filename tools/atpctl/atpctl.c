/*
 * atpctl.c - the operator and scripting client of atpd: builds one query,
 * sends it over REQ (tools/common/client), prints the reply as JSON or as
 * text, and says with its exit code what happened.
 *
 * Single-threaded (nng's own threads aside). Exit codes are part of the
 * interface scripts rely on: 0 ok, 1 the service answered an error, 2 usage
 * error (including a malformed cart file), 3 transport error.
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
#include "ctl_cart.h"
#include "ctl_render.h"

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_SERVICE = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_TRANSPORT = 3,
};

#define CTL_MAX_WORDS 8
#define CTL_TIMEOUT_MAX_MS 3600000

typedef struct ctl_args {
    const char *endpoint; /* NULL: ATPD_ENDPOINT, then the default */
    const char *channel;  /* NULL: not given */
    int timeout_ms;
    bool json;
    bool help;
    const char *words[CTL_MAX_WORDS]; /* command and its operands */
    int nwords;
} ctl_args;

typedef struct ctl_cmd ctl_cmd;

/* A command builds its request into w; it may keep state for rendering in
 * *cart (only cart does). Returns a CTL_EXIT_ code. */
typedef int (*ctl_build_fn)(const ctl_args *a, codec_writer *w, ctl_cart *cart);
typedef void (*ctl_render_fn)(const codec_val *reply, const ctl_cart *cart,
                              FILE *f);

struct ctl_cmd {
    const char *name;
    int min_operands;
    int max_operands;
    bool channel; /* accepts --channel */
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

static const ctl_cmd ctl_cmds[] = {
    {"atp", 2, 2, true, "atp SKU REGION [--channel C]",
     "available-to-promise of one SKU in one region", ctl_build_atp,
     ctl_show_atp},
    {"cart", 1, 1, true, "cart FILE|- [--channel C]",
     "check a whole cart; FILE has one 'sku region qty' per line\n"
     "        ('#' comments and blank lines ignored; '-' reads stdin)",
     ctl_build_cart, ctl_show_cart},
    {"regions", 1, 1, true, "regions SKU [--channel C]",
     "one SKU in every region", ctl_build_regions, ctl_show_regions},
    {"sources", 0, 0, false, "sources", "feed health of every source",
     ctl_build_op_only, ctl_show_sources},
    {"status", 0, 0, false, "status", "service status and counters",
     ctl_build_op_only, ctl_show_status},
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
            "  --help          this help, or a command's with a command\n"
            "\n"
            "exit status: 0 ok, 1 the service answered an error, 2 usage "
            "error,\n"
            "             3 cannot reach the service (connect or timeout)\n",
            ATP_DEFAULT_QUERY_URL, CLIENT_DEFAULT_TIMEOUT_MS,
            ATP_DEFAULT_CHANNEL);
}

static void ctl_cmd_usage(const ctl_cmd *c, FILE *f)
{
    fprintf(f,
            "usage: atpctl [--endpoint URL] [--json] [--timeout MS] %s\n"
            "  %s\n",
            c->synopsis, c->summary);
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
    bool only_words = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool missing = false;
        const char *v;
        if (only_words || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (a->nwords == CTL_MAX_WORDS)
                return ctl_usage_error(NULL, "too many arguments at '%s'", arg);
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
 * cart file line, when the service named a request line). */
static void ctl_print_service_error(const codec_val *reply,
                                    const ctl_cart *cart, const char *path)
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
                                cart.n > 0 ? a->words[1] : NULL);
        rc = CTL_EXIT_SERVICE;
        goto done;
    }
    if (!a->json)
        cmd->render(reply, cart.n > 0 ? &cart : NULL, stdout);
    rc = CTL_EXIT_OK;

done:
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_USAGE; /* e.g. stdout is a closed pipe */
    client_close(c);
    ctl_cart_fini(&cart);
    codec_writer_free(w);
    codec_arena_free(arena);
    return rc;
}

int main(int argc, char **argv)
{
    ctl_args a;
    int rc = ctl_args_parse(argc, argv, &a);
    if (rc != CTL_EXIT_OK)
        return rc;
    const char *name = a.nwords > 0 ? a.words[0] : NULL;
    if (name != NULL && strcmp(name, "help") == 0) {
        const ctl_cmd *c = a.nwords > 1 ? ctl_cmd_find(a.words[1]) : NULL;
        if (a.nwords > 1 && c == NULL)
            return ctl_usage_error(NULL, "unknown command '%s'", a.words[1]);
        if (c != NULL)
            ctl_cmd_usage(c, stdout);
        else
            ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    const ctl_cmd *cmd = name != NULL ? ctl_cmd_find(name) : NULL;
    if (a.help) {
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
    int operands = a.nwords - 1;
    if (operands < cmd->min_operands)
        return ctl_usage_error(cmd, "%s: missing arguments", cmd->name);
    if (operands > cmd->max_operands)
        return ctl_usage_error(cmd, "unexpected argument '%s'",
                               a.words[1 + cmd->max_operands]);
    if (a.channel != NULL && !cmd->channel)
        return ctl_usage_error(cmd, "%s does not take --channel", cmd->name);
    const char *url = a.endpoint;
    if (url == NULL) {
        url = getenv("ATPD_ENDPOINT");
        if (url == NULL || *url == '\0')
            url = ATP_DEFAULT_QUERY_URL;
    }
    return ctl_run(&a, cmd, url);
}
