/*
 * change.c - one client change on the admin thread: the idempotency
 * check by change id, the stable codes of names that do not exist, the
 * change written into the state document and read back (the file's
 * messages), then admin.c's commit. Its audit record says what was asked
 * and the rule or region before and after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "common/log.h"

/* admin_q writes id into buf quoted as the configuration file writes it
 * (config_quote), or * for NULL (any): distinct ids, and an id "*" and
 * any, never write the same text. */
static const char *admin_q(const char *id, char *buf, size_t n)
{
    if (id == NULL)
        return "*";
    config_quote(buf, n, id);
    return buf;
}

/* ADMIN_Q_MAX: room for an id of ATP_ID_MAX_LEN (or a SKU) quoted, each
 * byte escaped. */
#define ADMIN_Q_MAX (4 * 128 + 3)

/* admin_buckets_show: bucket bits as "[on_hand, held]" ("[]": none), in
 * the buckets' order, so that equal sets write equal text. */
static void admin_buckets_show(unsigned bits, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (unsigned k = 0; k < ATP_AUTH_BUCKET_COUNT && o < n; k++)
        if (bits & (1u << k))
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o > 1 ? ", " : "",
                                  config_bucket_name(k));
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* admin_location_values: a location set's or add's values, canonical:
 * "type=T pickup=B pickup_buffer=N", "-" for a value a set does not
 * change; an add writes its defaults for those not given (no type, false,
 * 0), so that leaving a value out and giving its default are one change. */
static void admin_location_values(const config_edit *e, char *buf, size_t n)
{
    char q[4 * ADMIN_TYPE_MAX + 3], pb[24] = "-"; /* a type: any text */
    bool add = e->kind == CONFIG_EDIT_LOCATION_ADD;
    if (e->has_pickup_buffer || add)
        snprintf(pb, sizeof pb, "%lld",
                 (long long)(e->has_pickup_buffer ? e->pickup_buffer : 0));
    snprintf(buf, n, "type=%s pickup=%s pickup_buffer=%s",
             e->type ? admin_q(e->type, q, sizeof q) : "-",
             e->has_pickup ? (e->pickup ? "true" : "false")
             : add         ? "false"
                           : "-",
             pb);
}

/* A bundle's components as text: "SKU":QTY,... (16 quoted SKUs of at
 * most 64 bytes, each byte at most 4 when escaped, fit). */
#define ADMIN_BUNDLE_TEXT_MAX (16 * (4 * 64 + 3 + 10) + 1)

static void admin_parts_show(const config_bundle_part *parts, size_t n_parts,
                             char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n_parts && at < n; k++) {
        char q[ADMIN_Q_MAX];
        int w = snprintf(buf + at, n - at, "%s%s:%lld", k ? "," : "",
                         admin_q(parts[k].sku, q, sizeof q),
                         (long long)parts[k].qty);
        if (w < 0)
            return;
        at += (size_t)w;
    }
}

/* admin_what: the change's content, canonical (equal for equal changes:
 * the idempotency check compares it): ids quoted, any scope *, numbers
 * as values (a percent in basis points, a horizon in milliseconds when it
 * parses), so that two writings of one change are equal and two changes
 * never are. */
static void admin_what(const config_edit *e, char *buf, size_t n)
{
    char q1[ADMIN_Q_MAX], q2[ADMIN_Q_MAX], q3[ADMIN_Q_MAX],
        q4[4 * ADMIN_TYPE_MAX + 64]; /* a location's values, a type quoted */
    switch (e->kind) {
    case CONFIG_EDIT_BUFFER_SET: {
        char u[24] = "-", p[24] = "-", l[24] = "-";
        if (e->has_units)
            snprintf(u, sizeof u, "%lld", (long long)e->units);
        if (e->has_percent)
            snprintf(p, sizeof p, "%lld.%02lld",
                     (long long)(e->percent_bp / 100),
                     (long long)(e->percent_bp % 100));
        if (e->has_low_stock)
            snprintf(l, sizeof l, "%lld", (long long)e->low_stock);
        /* A backorder budget is appended only when given, so that the
         * text of every change made before budgets existed stays. */
        char bo[40] = "";
        if (e->has_backorder)
            snprintf(bo, sizeof bo, " backorder=%lld", (long long)e->backorder);
        snprintf(buf, n,
                 "set_buffer sku=%s region=%s channel=%s units=%s "
                 "percent=%s low_stock=%s%s",
                 admin_q(e->sku, q1, sizeof q1),
                 admin_q(e->region, q2, sizeof q2),
                 admin_q(e->channel, q3, sizeof q3), u, p, l, bo);
        return;
    }
    case CONFIG_EDIT_BUFFER_REMOVE:
        snprintf(buf, n, "remove_buffer sku=%s region=%s channel=%s",
                 admin_q(e->sku, q1, sizeof q1),
                 admin_q(e->region, q2, sizeof q2),
                 admin_q(e->channel, q3, sizeof q3));
        return;
    case CONFIG_EDIT_LOCATION_MOVE:
        snprintf(buf, n, "move_location location=%s region=%s",
                 admin_q(e->location, q1, sizeof q1),
                 admin_q(e->region, q2, sizeof q2));
        return;
    case CONFIG_EDIT_LOCATION_SET:
        admin_location_values(e, q4, sizeof q4);
        snprintf(buf, n, "set_location location=%s %s",
                 admin_q(e->location, q1, sizeof q1), q4);
        return;
    case CONFIG_EDIT_REGION_SET: {
        int64_t ms;
        if (config_parse_duration_ms(e->horizon, &ms))
            snprintf(buf, n, "set_region region=%s inbound_horizon=%lldms",
                     admin_q(e->region, q1, sizeof q1), (long long)ms);
        else /* refused later with the file's message; never stored */
            snprintf(buf, n, "set_region region=%s inbound_horizon=%s",
                     admin_q(e->region, q1, sizeof q1),
                     admin_q(e->horizon, q2, sizeof q2));
        return;
    }
    case CONFIG_EDIT_LOCATION_REMOVE:
        snprintf(buf, n, "remove_location location=%s",
                 admin_q(e->location, q1, sizeof q1));
        return;
    case CONFIG_EDIT_LOCATION_ADD:
        admin_location_values(e, q4, sizeof q4);
        snprintf(buf, n, "add_location location=%s region=%s %s",
                 admin_q(e->location, q1, sizeof q1),
                 admin_q(e->region, q2, sizeof q2), q4);
        return;
    case CONFIG_EDIT_CHANNEL_ADD:
        snprintf(buf, n, "add_channel channel=%s",
                 admin_q(e->channel, q1, sizeof q1));
        return;
    case CONFIG_EDIT_REGION_REMOVE:
        snprintf(buf, n, "remove_region region=%s",
                 admin_q(e->region, q1, sizeof q1));
        return;
    case CONFIG_EDIT_CHANNEL_REMOVE:
        snprintf(buf, n, "remove_channel channel=%s",
                 admin_q(e->channel, q1, sizeof q1));
        return;
    case CONFIG_EDIT_BUNDLE_SET: {
        char parts[ADMIN_BUNDLE_TEXT_MAX];
        admin_parts_show(e->parts, e->n_parts, parts, sizeof parts);
        snprintf(buf, n, "set_bundle sku=%s components=%s",
                 admin_q(e->sku, q1, sizeof q1), parts);
        return;
    }
    case CONFIG_EDIT_BUNDLE_REMOVE:
        snprintf(buf, n, "remove_bundle sku=%s",
                 admin_q(e->sku, q1, sizeof q1));
        return;
    case CONFIG_EDIT_REGION_ADD: {
        int64_t ms = 0; /* absent: 0, the file's default */
        if (e->horizon == NULL || config_parse_duration_ms(e->horizon, &ms))
            snprintf(buf, n, "add_region region=%s inbound_horizon=%lldms",
                     admin_q(e->region, q1, sizeof q1), (long long)ms);
        else /* refused later with the file's message; never stored */
            snprintf(buf, n, "add_region region=%s inbound_horizon=%s",
                     admin_q(e->region, q1, sizeof q1),
                     admin_q(e->horizon, q2, sizeof q2));
        return;
    }
    case CONFIG_EDIT_AUTHORITY_SET: {
        char b[64];
        admin_buckets_show(e->buckets, b, sizeof b);
        snprintf(buf, n, "set_authority source=%s location=%s buckets=%s",
                 admin_q(e->source, q1, sizeof q1),
                 admin_q(e->location, q2, sizeof q2), b);
        return;
    }
    }
}

static void admin_rule_show(const config_buffer_rule *r, char *buf, size_t n)
{
    if (r == NULL) {
        buf[0] = '\0';
        return;
    }
    int k = snprintf(buf, n, "units %lld, percent %lld.%02lld, low_stock %lld",
                     (long long)r->units, (long long)(r->percent_bp / 100),
                     (long long)(r->percent_bp % 100), (long long)r->low_stock);
    if (r->backorder != 0 && k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ", backorder %lld",
                 (long long)r->backorder);
}

/* admin_before_after: the rule (or the location's region) in c. */
static void admin_show(const config *c, const config_edit *e, char *buf,
                       size_t n)
{
    buf[0] = '\0';
    if (e->kind == CONFIG_EDIT_BUNDLE_SET ||
        e->kind == CONFIG_EDIT_BUNDLE_REMOVE) {
        const config_bundle *b = config_bundle_find(c, e->sku, strlen(e->sku));
        if (b != NULL) {
            char parts[ADMIN_BUNDLE_TEXT_MAX];
            admin_parts_show(b->parts, b->n_parts, parts, sizeof parts);
            snprintf(buf, n, "components %s", parts);
        }
        return;
    }
    if (e->kind == CONFIG_EDIT_REGION_SET) {
        int k = config_region_find(c, e->region, strlen(e->region));
        if (k >= 0)
            snprintf(buf, n, "inbound_horizon %lldms",
                     (long long)c->regions[k].inbound_horizon_ms);
        return;
    }
    if (e->kind == CONFIG_EDIT_CHANNEL_ADD ||
        e->kind == CONFIG_EDIT_CHANNEL_REMOVE) {
        if (config_channel_find(c, e->channel, strlen(e->channel)) >= 0)
            snprintf(buf, n, "channel %s", e->channel);
        return;
    }
    if (e->kind == CONFIG_EDIT_REGION_ADD ||
        e->kind == CONFIG_EDIT_REGION_REMOVE) {
        int k = config_region_find(c, e->region, strlen(e->region));
        if (k >= 0)
            snprintf(buf, n, "region %s, inbound_horizon %lldms", e->region,
                     (long long)c->regions[k].inbound_horizon_ms);
        return;
    }
    if (e->kind == CONFIG_EDIT_AUTHORITY_SET) {
        int s = config_source_find(c, e->source, strlen(e->source));
        int k = config_location_find(c, e->location, strlen(e->location));
        unsigned bits = 0;
        for (size_t a = 0; s >= 0 && k >= 0 && a < c->sources[s].n_authority;
             a++)
            if (c->sources[s].authority[a].location == (uint32_t)k)
                bits |= 1u << c->sources[s].authority[a].bucket;
        char b[64];
        admin_buckets_show(bits, b, sizeof b);
        snprintf(buf, n, "buckets %s", b);
        return;
    }
    if (e->kind == CONFIG_EDIT_LOCATION_MOVE ||
        e->kind == CONFIG_EDIT_LOCATION_SET ||
        e->kind == CONFIG_EDIT_LOCATION_REMOVE ||
        e->kind == CONFIG_EDIT_LOCATION_ADD) {
        int k = config_location_find(c, e->location, strlen(e->location));
        if (k < 0)
            return;
        const config_location *l = &c->locations[k];
        if (e->kind == CONFIG_EDIT_LOCATION_ADD)
            snprintf(buf, n,
                     "region %s, type \"%.128s\", pickup %s, pickup_buffer "
                     "%lld",
                     c->regions[l->region].id, l->type ? l->type : "",
                     l->pickup ? "true" : "false", (long long)l->pickup_buffer);
        else if (e->kind != CONFIG_EDIT_LOCATION_SET)
            snprintf(buf, n, "region %s", c->regions[l->region].id);
        else
            snprintf(buf, n, "type \"%.128s\", pickup %s, pickup_buffer %lld",
                     l->type ? l->type : "", l->pickup ? "true" : "false",
                     (long long)l->pickup_buffer);
        return;
    }
    for (size_t i = 0; i < c->n_buffers; i++)
        if (config_admin_rule_matches(c, &c->buffers[i], e->sku, e->region,
                                      e->channel)) {
            admin_rule_show(&c->buffers[i], buf, n);
            return;
        }
}

static const char *admin_op_name(config_edit_kind k)
{
    switch (k) {
    case CONFIG_EDIT_BUFFER_SET:
        return "set_buffer";
    case CONFIG_EDIT_BUFFER_REMOVE:
        return "remove_buffer";
    case CONFIG_EDIT_LOCATION_MOVE:
        return "move_location";
    case CONFIG_EDIT_LOCATION_SET:
        return "set_location";
    case CONFIG_EDIT_REGION_SET:
        return "set_region";
    case CONFIG_EDIT_LOCATION_REMOVE:
        return "remove_location";
    case CONFIG_EDIT_LOCATION_ADD:
        return "add_location";
    case CONFIG_EDIT_AUTHORITY_SET:
        return "set_authority";
    case CONFIG_EDIT_CHANNEL_ADD:
        return "add_channel";
    case CONFIG_EDIT_REGION_ADD:
        return "add_region";
    case CONFIG_EDIT_REGION_REMOVE:
        return "remove_region";
    case CONFIG_EDIT_CHANNEL_REMOVE:
        return "remove_channel";
    case CONFIG_EDIT_BUNDLE_SET:
        return "set_bundle";
    case CONFIG_EDIT_BUNDLE_REMOVE:
        return "remove_bundle";
    }
    return "?";
}

/* admin_names_check: the stable codes of names the state lacks. */
static bool admin_names_check(const config *c, const config_edit *e,
                              admin_result *res)
{
    if (e->kind == CONFIG_EDIT_CHANNEL_REMOVE &&
        strcmp(e->channel, ATP_DEFAULT_CHANNEL) == 0) {
        res->err = ATP_E_BAD_REQUEST;
        snprintf(res->message, sizeof res->message,
                 "the channel '%s' is always there (the default of a query "
                 "without one): nothing changed",
                 ATP_DEFAULT_CHANNEL);
        return false;
    }
    if (e->kind == CONFIG_EDIT_REGION_REMOVE && c->n_regions == 1 &&
        strcmp(c->regions[0].id, e->region) == 0) {
        res->err = ATP_E_BAD_STATE;
        snprintf(res->message, sizeof res->message,
                 "region '%.128s' is the last one: atpd keeps at least one; "
                 "nothing changed",
                 e->region);
        return false;
    }
    if (e->region != NULL && e->kind != CONFIG_EDIT_REGION_ADD &&
        config_region_find(c, e->region, strlen(e->region)) < 0) {
        char list[160];
        config_region_list(c, list, sizeof list);
        res->err = ATP_E_UNKNOWN_REGION;
        snprintf(res->message, sizeof res->message,
                 "unknown region '%.128s'; regions: %s. Nothing changed "
                 "(admin_add_region adds one)",
                 e->region, list);
        return false;
    }
    if (e->channel != NULL && e->kind != CONFIG_EDIT_CHANNEL_ADD &&
        config_channel_find(c, e->channel, strlen(e->channel)) < 0) {
        char list[160];
        config_channel_list(c, list, sizeof list);
        res->err = ATP_E_UNKNOWN_CHANNEL;
        snprintf(res->message, sizeof res->message,
                 "unknown channel '%.128s'; channels: %s. Nothing changed",
                 e->channel, list);
        return false;
    }
    return true;
}

/* admin_replay: a change id seen before answers as it did (same content)
 * or conflict. false: new id. */
static bool admin_replay(admin *a, const admin_change *c, const char *what,
                         admin_result *res)
{
    for (size_t i = a->n_hist; i-- > 0;) {
        const admin_entry *h = &a->hist[i];
        if (h->id[0] == '\0' || strcmp(h->id, c->change_id) != 0)
            continue;
        if (strcmp(h->what, what) == 0) {
            res->version = h->version;
            res->replayed = true;
        } else {
            res->err = ATP_E_CONFLICT;
            snprintf(res->message, sizeof res->message,
                     "change id '%.128s' was used for another change "
                     "(version %llu: %.400s): nothing changed",
                     c->change_id, (unsigned long long)h->version, h->what);
        }
        return true;
    }
    return false;
}

/* admin_removed_snapshot: a removed location's (zero) positions are
 * written at once, which deletes their stored records, as after a reload
 * that removes one: a location named again later (a file that lists it)
 * starts empty rather than with stock from an older snapshot. The state
 * is already stored: a failure is only logged (the next snapshot does
 * it). Admin thread; waits for the store. */
static void admin_removed_snapshot(admin *a)
{
    atp_err err = engine_snapshot_now(a->eng);
    if (err != ATP_OK)
        log_warn("admin",
                 "the snapshot after removing a location failed (%s): the "
                 "next one deletes its positions' records",
                 atp_err_message(err));
}

void admin__apply(admin *a, const admin_change *c, admin_result *res)
{
    *res = (admin_result){.err = ATP_OK};
    const config_edit *e = &c->edit;
    /* what: ids quoted; a bundle's components make before and after long */
    char what[3072 + ADMIN_BUNDLE_TEXT_MAX], before[ADMIN_BUNDLE_TEXT_MAX + 16],
        after[ADMIN_BUNDLE_TEXT_MAX + 16];
    admin_what(e, what, sizeof what);
    pthread_mutex_lock(&a->mu);
    if (admin_replay(a, c, what, res) || !admin_names_check(&a->cur, e, res))
        goto out;
    char *text;
    size_t len;
    atp_err err = config_admin_text(&a->cur, e, &text, &len);
    if (err != ATP_OK) {
        res->err = err;
        if (err == ATP_E_UNKNOWN_LOCATION) /* an id: printable */
            snprintf(res->message, sizeof res->message,
                     "unknown location '%.128s' (admin_add_location adds "
                     "one): nothing changed",
                     e->location);
        else if (err == ATP_E_UNKNOWN_SOURCE)
            snprintf(res->message, sizeof res->message,
                     "unknown source '%.128s' (sources are added by a restart "
                     "with a new file): nothing changed",
                     e->source);
        else if (err == ATP_E_CONFLICT && e->kind == CONFIG_EDIT_CHANNEL_ADD)
            snprintf(res->message, sizeof res->message,
                     "channel '%.128s' exists: nothing changed", e->channel);
        else if (err == ATP_E_CONFLICT && e->kind == CONFIG_EDIT_REGION_ADD)
            snprintf(res->message, sizeof res->message,
                     "region '%.128s' exists (admin_set_region changes its "
                     "inbound_horizon): nothing changed",
                     e->region);
        else if (err == ATP_E_CONFLICT)
            snprintf(res->message, sizeof res->message,
                     "location '%.128s' exists (admin_set_location and "
                     "admin_move_location change it): nothing changed",
                     e->location);
        else if (err == ATP_E_NOT_FOUND &&
                 e->kind == CONFIG_EDIT_BUNDLE_REMOVE) /* an id: printable */
            snprintf(res->message, sizeof res->message,
                     "no bundle '%.64s': nothing changed", e->sku);
        else
            snprintf(res->message, sizeof res->message, "%s: nothing changed",
                     err == ATP_E_NOT_FOUND ? "no buffer rule of that scope"
                                            : atp_err_message(err));
        goto out;
    }
    config next;
    char why[1024];
    if ((err = admin__parse(text, len, &next, why, sizeof why)) != ATP_OK) {
        free(text);
        res->err = err;
        bool rm = e->kind == CONFIG_EDIT_REGION_REMOVE ||
                  e->kind == CONFIG_EDIT_CHANNEL_REMOVE;
        snprintf(res->message, sizeof res->message,
                 "invalid change: %s; nothing changed%s%.128s%s", why,
                 rm ? " (move or remove the locations and remove the buffer "
                      "rules that name '"
                    : "",
                 rm ? (e->region ? e->region : e->channel) : "",
                 rm ? "' first)" : "");
        goto out;
    }
    admin_show(&a->cur, e, before, sizeof before);
    admin_show(&next, e, after, sizeof after);
    admin_entry h = {.id = strdup(c->change_id),
                     .who = strdup(c->who),
                     .op = strdup(admin_op_name(e->kind)),
                     .what = strdup(what),
                     .before = strdup(before),
                     .after = strdup(after)};
    engine_rules_report rep;
    if (!h.id || !h.who || !h.op || !h.what || !h.before || !h.after)
        err = ATP_E_NOMEM;
    else
        err = admin__commit(a, &next, text, &next, false, &h, &rep, why,
                            sizeof why);
    if (err != ATP_OK) {
        admin__entry_fini(&h);
        config_fini(&next);
        free(text);
        res->err = err;
        snprintf(res->message, sizeof res->message, "%s",
                 err == ATP_E_NOMEM ? "out of memory: nothing changed" : why);
        goto out;
    }
    res->version = a->version;
    if (rep.moved.removed > 0)
        admin_removed_snapshot(a);
out:
    pthread_mutex_unlock(&a->mu);
}
