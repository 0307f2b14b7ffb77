/*
 * atp_import.c - atp-import: one stock or inbound file (X12 846/856, CSV)
 * checked whole and published to atpd as a source (docs/IMPORT.md).
 * Wiring only: the formats are read in x12*.c and csv_import.c, checked
 * against the config in import_resolve.c, kept in import_state.c and sent
 * in import_link.c. Main thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atp/wire.h"
#include "codec/codec.h"
#include "common/clock.h"
#include "common/file.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "import_args.h"
#include "import_link.h"
#include "import_resolve.h"
#include "import_state.h"
#include "tool_args.h"
#include "tools_tls.h"

/* Files above 1 GiB are not stock files; X12 offsets are 32-bit. */
#define IMPORT_FILE_MAX ((size_t)1 << 30)

typedef struct import_run {
    import_args a;
    config cfg;
    bool cfg_loaded;
    int src;
    uint8_t key[1024];
    size_t key_len;
    char *buf;
    size_t len;
    import_batch b;
    import_locmap map;
    codec_event *evs;
    size_t n_evs;
    import_counts counts;
    const char *format;
    /* the outcome */
    uint64_t session, seq;
    bool snapshot, applied;
    int64_t confirm_ms;
} import_run;

static int import_load_config(import_run *r)
{
    config_diags diags = {0};
    atp_err e = config_load_file(r->a.config_path, &r->cfg, &diags);
    for (size_t i = 0; e != ATP_OK && i < diags.n; i++)
        if (diags.items[i].line > 0)
            fprintf(stderr, "atp-import: %s:%d: %s\n", r->a.config_path,
                    diags.items[i].line, diags.items[i].message);
        else
            fprintf(stderr, "atp-import: %s\n", diags.items[i].message);
    config_diags_fini(&diags);
    if (e != ATP_OK) {
        fprintf(stderr, "atp-import: cannot use --config %s\n",
                r->a.config_path);
        return IMPORT_EXIT_USAGE;
    }
    r->cfg_loaded = true;
    r->src = config_source_find(&r->cfg, r->a.source, strlen(r->a.source));
    if (r->src < 0) {
        fprintf(stderr,
                "atp-import: --source %s is not a source of %s; its "
                "sources:",
                r->a.source, r->a.config_path);
        for (size_t i = 0; i < r->cfg.n_sources; i++)
            fprintf(stderr, "%s %s", i ? "," : "", r->cfg.sources[i].id);
        fprintf(stderr, "%s\n", r->cfg.n_sources ? "" : " none");
        return IMPORT_EXIT_USAGE;
    }
    const config_source *cs = &r->cfg.sources[r->src];
    char why[256];
    if (r->a.key_file != NULL &&
        !config_key_read(r->a.key_file, r->key, sizeof r->key, &r->key_len, why,
                         sizeof why)) {
        fprintf(stderr, "atp-import: --key-file %s: %s\n", r->a.key_file, why);
        return IMPORT_EXIT_USAGE;
    }
    if (r->a.key_file == NULL && cs->key_len > 0 &&
        cs->key_len <= sizeof r->key) {
        memcpy(r->key, cs->key, cs->key_len);
        r->key_len = cs->key_len;
    }
    return IMPORT_EXIT_OK;
}

/* import_read_input reads FILE, or standard input for "-". */
static int import_read_input(import_run *r)
{
    if (strcmp(r->a.file, "-") != 0) {
        r->buf = file_read_all(r->a.file, IMPORT_FILE_MAX, &r->len);
        if (r->buf == NULL) {
            fprintf(stderr, "atp-import: cannot read %s: %s\n", r->a.file,
                    errno == EFBIG ? "larger than 1 GiB" : strerror(errno));
            return IMPORT_EXIT_USAGE;
        }
        return IMPORT_EXIT_OK;
    }
    size_t cap = 1 << 16;
    r->buf = malloc(cap);
    for (;;) {
        if (r->buf != NULL && r->len == cap && cap < IMPORT_FILE_MAX) {
            char *nb = realloc(r->buf, cap * 2);
            if (nb == NULL)
                free(r->buf);
            r->buf = nb;
            cap *= 2;
        }
        if (r->buf == NULL || r->len == cap) {
            fprintf(stderr, "atp-import: standard input: %s\n",
                    r->buf ? "larger than 1 GiB" : "out of memory");
            return IMPORT_EXIT_USAGE;
        }
        size_t n = fread(r->buf + r->len, 1, cap - r->len, stdin);
        r->len += n;
        if (n == 0)
            break;
    }
    return ferror(stdin) ? IMPORT_EXIT_USAGE : IMPORT_EXIT_OK;
}

static int import_read_map(import_run *r)
{
    if (r->a.location_map == NULL)
        return IMPORT_EXIT_OK;
    size_t len;
    char *text = file_read_all(r->a.location_map, (size_t)64 << 20, &len);
    char why[256];
    if (text == NULL) {
        fprintf(stderr, "atp-import: cannot read --location-map %s: %s\n",
                r->a.location_map, strerror(errno));
        return IMPORT_EXIT_USAGE;
    }
    bool ok = import_locmap_parse(text, len, &r->map, why, sizeof why);
    free(text);
    if (!ok) {
        fprintf(stderr, "atp-import: --location-map %s: %s\n",
                r->a.location_map, why);
        return IMPORT_EXIT_USAGE;
    }
    return IMPORT_EXIT_OK;
}

/* import_parse reads the file into records and checks them. */
static void import_print_failure(const import_run *r, int exit,
                                 const char *why);

static int import_parse(import_run *r)
{
    size_t p = 0;
    if (r->len >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0)
        p = 3;
    while (p < r->len && strchr(" \t\r\n", r->buf[p]) != NULL)
        p++;
    bool x12 = r->a.format == IMPORT_FMT_X12 ||
               (r->a.format == IMPORT_FMT_AUTO && r->len - p >= 3 &&
                memcmp(r->buf + p, "ISA", 3) == 0);
    import_batch_init(&r->b);
    if (x12)
        import_x12(r->buf, r->len, &r->a.x12, &r->b);
    else
        import_csv(r->buf, r->len, &r->a.csv, &r->b);
    r->format = x12 ? "x12" : "csv";
    /* A stock file's kind is known once it is read, even with problems
     * (an 846 set, or a CSV's mapping without lot and eta). */
    if (r->a.x12.received && r->b.stock_file && !r->b.inbound_file) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "--received is for an inbound file (an 856, or a CSV with "
                 "lot and eta columns); %s is a stock file",
                 r->a.file);
        fprintf(stderr, "atp-import: %s\n", msg);
        import_print_failure(r, IMPORT_EXIT_USAGE, msg);
        return IMPORT_EXIT_USAGE;
    }
    import_target t = {&r->cfg, (size_t)r->src, r->a.location, &r->map};
    if (import_resolve(&r->b, &t, &r->evs, &r->n_evs, &r->counts))
        return IMPORT_EXIT_OK;
    if (r->b.nomem) {
        fprintf(stderr, "atp-import: out of memory reading %s\n", r->a.file);
        return IMPORT_EXIT_USAGE;
    }
    return IMPORT_EXIT_FILE;
}

/* ---- output -------------------------------------------------------------- */

static void import_json_str(FILE *f, const char *s)
{
    codec_json_str_file(f, s, strlen(s));
}

static int import_diag_cmp(const void *pa, const void *pb)
{
    /* line, then segment (an X12 file is often one line), then element;
     * qsort is not stable: equal positions are ordered by their text */
    const import_diag *a = pa, *b = pb;
    if (a->pos.line != b->pos.line)
        return a->pos.line < b->pos.line ? -1 : 1;
    if (a->pos.segment != b->pos.segment)
        return a->pos.segment < b->pos.segment ? -1 : 1;
    if (a->pos.element != b->pos.element)
        return a->pos.element < b->pos.element ? -1 : 1;
    return strcmp(a->msg, b->msg);
}

/* import_print_errors prints the problems kept, in file order (they are
 * found in two passes: reading, then checking against the config). */
static void import_print_errors(import_run *r)
{
    import_batch *b = &r->b;
    qsort(b->diags,
          b->n_diags < IMPORT_DIAG_KEEP ? b->n_diags : IMPORT_DIAG_KEEP,
          sizeof b->diags[0], import_diag_cmp);
    size_t kept = b->n_diags < IMPORT_DIAG_KEEP ? b->n_diags : IMPORT_DIAG_KEEP;
    if (r->a.json) {
        printf("{\"ok\":false,\"file\":");
        import_json_str(stdout, r->a.file);
        printf(",\"error_count\":%zu,\"errors\":[", b->n_diags);
        for (size_t i = 0; i < kept; i++) {
            const import_diag *d = &b->diags[i];
            printf("%s{\"line\":%u,\"segment\":%u,\"element\":%u,\"message\":",
                   i ? "," : "", d->pos.line, d->pos.segment, d->pos.element);
            import_json_str(stdout, d->msg);
            printf("}");
        }
        printf("]}\n");
    }
    for (size_t i = 0; i < kept; i++) {
        const import_diag *d = &b->diags[i];
        if (d->pos.segment > 0)
            fprintf(stderr, "%s:%u: segment %u%s%s%s: %s\n", r->a.file,
                    d->pos.line, d->pos.segment, d->seg_id[0] ? " (" : "",
                    d->seg_id, d->seg_id[0] ? ")" : "", d->msg);
        else if (import_column_name(b, d->pos.element) != NULL &&
                 strncmp(d->msg, "column ", 7) != 0)
            fprintf(stderr, "%s:%u: column %s: %s\n", r->a.file, d->pos.line,
                    import_column_name(b, d->pos.element), d->msg);
        else
            fprintf(stderr, "%s:%u: %s\n", r->a.file, d->pos.line, d->msg);
    }
    if (b->n_diags > kept)
        fprintf(stderr, "... and %zu more\n", b->n_diags - kept);
    fprintf(stderr, "atp-import: %s rejected (%zu problem%s): nothing sent\n",
            r->a.file, b->n_diags, b->n_diags == 1 ? "" : "s");
}

static void import_print_event(FILE *f, const codec_event *e)
{
    const char *kind = e->kind == ATP_EV_SET           ? "set"
                       : e->kind == ATP_EV_LOT_ADD     ? "lot_add"
                       : e->kind == ATP_EV_LOT_RECEIVE ? "lot_receive"
                                                       : "lot_cancel";
    fprintf(f, "[\"%s\",", kind);
    codec_json_str_file(f, e->sku.ptr, e->sku.len);
    fputc(',', f);
    codec_json_str_file(f, e->location.ptr, e->location.len);
    if (e->kind == ATP_EV_SET)
        fprintf(f, ",\"%s\",%lld]", import_bucket_name(e->bucket),
                (long long)e->value);
    else {
        fputc(',', f);
        codec_json_str_file(f, e->ref.ptr, e->ref.len);
        if (e->kind == ATP_EV_LOT_ADD)
            fprintf(f, ",%lld,%lld", (long long)e->value, (long long)e->eta_ms);
        fputc(']', f);
    }
}

static void import_print_summary(const import_run *r)
{
    const import_counts *c = &r->counts;
    uint32_t sets = r->b.sets_846 + r->b.sets_856;
    const char *sent = r->a.check ? "none" : r->snapshot ? "snapshot" : "batch";
    if (r->a.json) {
        printf("{\"ok\":true,\"file\":");
        import_json_str(stdout, r->a.file);
        printf(",\"format\":\"%s\",\"transaction_sets\":%u,\"records\":%zu,"
               "\"sets\":%zu,\"lots\":%zu,\"lot_cancels\":%zu,"
               "\"lot_receives\":%zu,\"ignored\":%llu,"
               "\"locations\":%zu,\"source\":",
               r->format, sets, r->b.n, c->sets, c->lots, c->lot_cancels,
               c->lot_receives, (unsigned long long)r->b.ignored, c->locations);
        import_json_str(stdout, r->a.source);
        printf(",\"session\":%llu,\"seq\":%llu,\"sent_as\":\"%s\","
               "\"applied\":%s,\"confirm_ms\":%lld",
               (unsigned long long)r->session, (unsigned long long)r->seq, sent,
               r->applied ? "true" : "false", (long long)r->confirm_ms);
        if (r->a.check) {
            printf(",\"events\":[");
            for (size_t i = 0; i < r->n_evs; i++) {
                if (i > 0)
                    putchar(',');
                import_print_event(stdout, &r->evs[i]);
            }
            putchar(']');
        }
        printf("}\n");
        return;
    }
    printf("atp-import: %s: %s", r->a.file, r->format);
    if (r->b.sets_846 || r->b.sets_856)
        printf(" %s%s%s, %u transaction set%s", r->b.sets_846 ? "846" : "",
               r->b.sets_846 && r->b.sets_856 ? "+" : "",
               r->b.sets_856 ? "856" : "", sets, sets == 1 ? "" : "s");
    printf(", %zu records: %zu sets, %zu lots, %zu lot cancels", r->b.n,
           c->sets, c->lots, c->lot_cancels);
    if (c->lot_receives > 0)
        printf(", %zu lot receipts", c->lot_receives);
    printf(" at %zu locations", c->locations);
    if (r->b.ignored)
        printf(" (%llu quantities ignored)", (unsigned long long)r->b.ignored);
    if (r->a.check)
        printf(": valid, nothing sent\n");
    else
        printf(" -> %s seq %llu (%s): applied in %lld ms\n", r->a.source,
               (unsigned long long)r->seq, sent, (long long)r->confirm_ms);
}

/* import_print_failure: with --json, a run that failed after the file was
 * read: {"ok": false, "file", "status": exit, "message"} (the message
 * also went to stderr). */
static void import_print_failure(const import_run *r, int exit, const char *why)
{
    if (!r->a.json)
        return;
    printf("{\"ok\":false,\"file\":");
    import_json_str(stdout, r->a.file);
    printf(",\"status\":%d,\"message\":", exit);
    import_json_str(stdout, why != NULL ? why : "see stderr");
    printf("}\n");
}

/* ---- publishing ------------------------------------------------------------
 */

static int import_publish(import_run *r)
{
    char why[512];
    import_state s;
    /* Where the source has on_hand authority: a received lot's quantity
     * moves into on_hand there, in atpd and in the state alike. */
    const config_source *cs = &r->cfg.sources[r->src];
    const char **on_hand = calloc(cs->n_authority + 1, sizeof *on_hand);
    size_t n_on_hand = 0;
    for (size_t i = 0; on_hand != NULL && i < cs->n_authority; i++)
        if (cs->authority[i].bucket == ATP_BUCKET_ON_HAND)
            on_hand[n_on_hand++] =
                r->cfg.locations[cs->authority[i].location].id;
    int rc = on_hand == NULL
                 ? -1
                 : import_state_open(r->a.state_dir, r->a.source, on_hand,
                                     n_on_hand, &s, why, sizeof why);
    if (on_hand == NULL)
        snprintf(why, sizeof why, "out of memory");
    if (rc != 0) {
        char msg[700];
        if (rc > 0)
            snprintf(msg, sizeof msg,
                     "another atp-import runs for source %s (%s/%s.lock)",
                     r->a.source, r->a.state_dir, r->a.source);
        else
            snprintf(msg, sizeof msg, "--state: %s", why);
        fprintf(stderr, "atp-import: %s\n", msg);
        import_state_close(&s);
        free(on_hand);
        import_print_failure(r, IMPORT_EXIT_USAGE, msg);
        return IMPORT_EXIT_USAGE;
    }
    char u1[300], u2[300], u3[300];
    const config_service *sv = &r->cfg.service;
    import_link_opts o = {
        .ingest_url = tools_dial_url(r->a.endpoint, sv->ingest_listen,
                                     ATP_DEFAULT_INGEST_URL, u1, sizeof u1),
        .control_url = tools_dial_url(r->a.control, sv->control_listen,
                                      ATP_DEFAULT_CONTROL_URL, u2, sizeof u2),
        .query_url = tools_dial_url(r->a.query, sv->query_listen,
                                    ATP_DEFAULT_QUERY_URL, u3, sizeof u3),
        .token = r->a.token,
        .tls = &r->a.tls,
        .source = r->a.source,
        .key = r->key,
        .key_len = r->key_len,
        .part_max = sv->max_events_per_message,
        /* atpd drops a larger message (nng's RECVMAXSZ): room for the
         * envelope and the MAC is in the margin */
        .max_bytes = sv->ingest_recv_max_bytes > 4096
                         ? sv->ingest_recv_max_bytes - 1024
                         : sv->ingest_recv_max_bytes,
        .deadline_ms = clock_mono_ms() + r->a.timeout_ms,
    };
    import_link *l = NULL;
    import_src_info before;
    rc = import_link_open(&o, &l, why, sizeof why);
    if (rc == IMPORT_LINK_OK)
        rc = import_link_sources(l, &before, why, sizeof why);
    if (rc == IMPORT_LINK_OK)
        rc = import_link_wait_quiet(l, s.session,
                                    r->cfg.sources[r->src].heartbeat_timeout_ms,
                                    &before, why, sizeof why);
    if (rc == IMPORT_LINK_OK) {
        uint64_t last =
            s.last_seq > before.last_seq ? s.last_seq : before.last_seq;
        r->seq = last + 1;
        r->session = s.session;
        while (r->session == 0 && crypto_random(&r->session, sizeof r->session))
            r->session &= (uint64_t)ATP_WIRE_INT_MAX;
        /* A snapshot (the whole state, in parts) when asked for, when the
         * file is too big for one message, and whenever atpd may lack
         * something of ours: a new state (a new publisher starts with
         * one), another session is atpd's current one, or atpd's last_seq
         * is behind ours (an earlier run's message it never applied). */
        r->snapshot = r->a.snapshot || r->n_evs > o.part_max ||
                      s.session == 0 ||
                      (before.session != 0 && before.session != s.session) ||
                      before.last_seq < s.last_seq;
        if (r->a.snapshot) /* the file replaces what it is about */
            feed_state_clear(s.st, r->b.stock_file, r->b.inbound_file);
        if (r->session == 0 ||
            feed_state_apply(s.st, r->evs, (uint32_t)r->n_evs) != ATP_OK) {
            snprintf(why, sizeof why, "out of memory or no random bytes");
            rc = IMPORT_LINK_ERROR;
        }
    }
    /* Saved before sending: whatever happens next, the next run knows
     * what atpd may have. */
    if (rc == IMPORT_LINK_OK) {
        s.session = r->session;
        s.last_seq = r->seq;
        if (import_state_save(&s, why, sizeof why) != 0)
            rc = IMPORT_LINK_ERROR;
    }
    if (rc == IMPORT_LINK_OK)
        rc = import_link_publish(l, r->session, r->seq, &r->snapshot, r->evs,
                                 r->n_evs, s.st, &before, &r->confirm_ms, why,
                                 sizeof why);
    if (rc == IMPORT_LINK_REJECTED) { /* the seq is used up, not the events */
        char why2[256];
        if (import_state_revert(&s, why2, sizeof why2) != 0 ||
            import_state_save(&s, why2, sizeof why2) != 0)
            fprintf(stderr, "atp-import: %s\n", why2);
    }
    import_link_close(l);
    import_state_close(&s);
    free(on_hand);
    r->applied = rc == IMPORT_LINK_OK;
    int exit = rc == IMPORT_LINK_OK         ? IMPORT_EXIT_OK
               : rc == IMPORT_LINK_REJECTED ? IMPORT_EXIT_REJECTED
               : rc == IMPORT_LINK_ERROR    ? IMPORT_EXIT_USAGE
                                            : IMPORT_EXIT_UNCONFIRMED;
    if (rc != IMPORT_LINK_OK) {
        fprintf(stderr, "atp-import: %s\n", why);
        import_print_failure(r, exit, why);
    }
    return exit;
}

int main(int argc, char **argv)
{
    static import_run run; /* large: not on the stack */
    import_run *r = &run;
    int rc = import_args_parse(argc, argv, &r->a);
    if (rc != IMPORT_EXIT_OK)
        return rc;
    if (r->a.help) {
        import_usage(stdout);
        return IMPORT_EXIT_OK;
    }
    if (r->a.version) {
        tool_args_version("atp-import");
        return IMPORT_EXIT_OK;
    }
    tools_tls_set(&r->a.tls);
    rc = import_load_config(r);
    if (rc == IMPORT_EXIT_OK)
        rc = import_read_map(r);
    if (rc == IMPORT_EXIT_OK)
        rc = import_read_input(r);
    if (rc == IMPORT_EXIT_OK)
        rc = import_parse(r);
    if (rc == IMPORT_EXIT_FILE)
        import_print_errors(r);
    if (rc == IMPORT_EXIT_OK && !r->a.check)
        rc = import_publish(r);
    if (rc == IMPORT_EXIT_OK)
        import_print_summary(r);
    free(r->evs);
    free(r->buf);
    import_batch_fini(&r->b);
    import_locmap_fini(&r->map);
    if (r->cfg_loaded)
        config_fini(&r->cfg);
    return rc;
}
