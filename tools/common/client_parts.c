/*
 * client_parts.c - the tools' client in a cluster of several partitions
 * (docs/CLUSTER.md, "Several partitions"): a reserve whose lines lie in
 * several partitions is held in each partition, all or nothing, and a
 * commit, release, extend or get of a reservation goes to every partition
 * it may have lines in. One thread at a time, like the client.
 */
#include "client_parts.h"

#include <stdio.h>
#include <string.h>

/* The partition map as a node gives it (error.partitions of
 * cross_partition, status.cluster.partitions): an array of {partition,
 * regions, owner: {node, query, http}}. A region no partition names is
 * the first partition's. */
static uint32_t client_parts_of(const codec_val *map, codec_str region)
{
    for (uint32_t i = 0; i < codec_val_len(map); i++) {
        const codec_val *rs = codec_val_get(codec_val_at(map, i), "regions");
        for (uint32_t j = 0; j < codec_val_len(rs); j++) {
            codec_str s;
            if (codec_val_str(codec_val_at(rs, j), &s) && s.len == region.len &&
                memcmp(s.ptr, region.ptr, s.len) == 0)
                return i;
        }
    }
    return 0;
}

/* client_parts_of_line: the partition of a line [sku, region, ...]; a
 * split line's regions (a list) must all be in one. -1: none (not a
 * line, or a split line over several partitions: not splittable). */
static int client_parts_of_line(const codec_val *map, const codec_val *line)
{
    const codec_val *r = codec_val_at(line, 1);
    codec_str s;
    if (codec_val_str(r, &s))
        return (int)client_parts_of(map, s);
    int part = -1;
    for (uint32_t j = 0; j < codec_val_len(r); j++) {
        if (!codec_val_str(codec_val_at(r, j), &s))
            return -1;
        int p = (int)client_parts_of(map, s);
        if (part >= 0 && p != part)
            return -1;
        part = p;
    }
    return part;
}

/* client_parts_splittable: every line has one partition. */
static bool client_parts_splittable(const codec_val *map,
                                    const codec_val *lines)
{
    for (uint32_t l = 0; l < codec_val_len(lines); l++)
        if (client_parts_of_line(map, codec_val_at(lines, l)) < 0)
            return false;
    return true;
}

/* client_parts_peer: a client to partition i's owner (its URL of the
 * kind c speaks), opened once and kept; it follows not_owner itself but
 * never splits a request. NULL when the map names no owner (none holds
 * the lease: the partition's part is unavailable) or it cannot be
 * opened. */
static client *client_parts_peer(client *c, client_parts *p,
                                 const codec_val *map, uint32_t i)
{
    const codec_val *owner = codec_val_get(codec_val_at(map, i), "owner");
    codec_str url = {0};
    char target[512];
    if (!codec_val_str(
            codec_val_get(owner, client__is_http(c) ? "http" : "query"),
            &url) ||
        url.len == 0 || url.len >= sizeof target)
        return NULL;
    snprintf(target, sizeof target, "%.*s", (int)url.len, url.ptr);
    if (p->peers[i] != NULL && strcmp(client_url(p->peers[i]), target) == 0)
        return p->peers[i];
    client_close(p->peers[i]);
    p->peers[i] = NULL;
    if (client__open_like(c, target, &p->peers[i]) != ATP_OK)
        return NULL;
    return p->peers[i];
}

/* client_parts_send sends req with "lines" replaced by the lines of
 * partition i (all of them when lines is NULL) to its owner. */
static atp_err client_parts_send(client *c, client_parts *p,
                                 const codec_val *map, uint32_t i,
                                 const codec_val *req, const codec_val *lines,
                                 codec_arena *a, const codec_val **reply)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return ATP_E_NOMEM;
    uint32_t n = codec_val_len(req);
    codec_w_map(w, n);
    for (uint32_t k = 0; k < n; k++) {
        const codec_val *key = codec_val_map_key(req, k);
        codec_str ks;
        codec_w_val(w, key);
        if (lines == NULL || !codec_val_str(key, &ks) || ks.len != 5 ||
            memcmp(ks.ptr, "lines", 5) != 0) {
            codec_w_val(w, codec_val_map_value(req, k));
            continue;
        }
        uint32_t mine = 0;
        for (uint32_t l = 0; l < codec_val_len(lines); l++)
            mine += client_parts_of_line(map, codec_val_at(lines, l)) == (int)i;
        codec_w_array(w, mine);
        for (uint32_t l = 0; l < codec_val_len(lines); l++) {
            const codec_val *line = codec_val_at(lines, l);
            if (client_parts_of_line(map, line) == (int)i)
                codec_w_val(w, line);
        }
    }
    client *peer = client_parts_peer(c, p, map, i);
    atp_err e =
        peer != NULL ? client_request(peer, w, a, reply) : ATP_E_TRANSPORT;
    codec_writer_free(w);
    return e;
}

/* client_parts_has: whether the request's lines name partition i. */
static bool client_parts_has(const codec_val *map, const codec_val *lines,
                             uint32_t i)
{
    for (uint32_t l = 0; l < codec_val_len(lines); l++)
        if (client_parts_of_line(map, codec_val_at(lines, l)) == (int)i)
            return true;
    return false;
}

static int64_t client_parts_code(const codec_val *reply)
{
    int64_t code = 0;
    codec_val_int(codec_val_get(codec_val_get(reply, "error"), "code"), &code);
    return code;
}

/* client_parts_decode decodes what w holds into a (copied there) and
 * frees w. */
static atp_err client_parts_decode(codec_writer *w, codec_arena *a,
                                   const codec_val **out)
{
    size_t len = 0;
    const void *data = codec_writer_data(w, &len);
    void *copy = codec_writer_failed(w) ? NULL : codec_arena_malloc(a, len);
    atp_err e = ATP_E_NOMEM;
    if (copy != NULL) {
        memcpy(copy, data, len);
        e = codec_decode(a, copy, len, out);
    }
    codec_writer_free(w);
    return e;
}

/* client_parts_concat writes the array key of every reply (of its map
 * inner, when not NULL) as one array. */
static void client_parts_concat(codec_writer *w,
                                const codec_val *const *replies, uint32_t n,
                                const char *inner, const char *key)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *r =
            inner ? codec_val_get(replies[i], inner) : replies[i];
        total += codec_val_len(codec_val_get(r, key));
    }
    codec_w_array(w, total);
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *r =
            inner ? codec_val_get(replies[i], inner) : replies[i];
        const codec_val *ls = codec_val_get(r, key);
        for (uint32_t l = 0; l < codec_val_len(ls); l++)
            codec_w_val(w, codec_val_at(ls, l));
    }
}

static bool client_parts_key_is(const codec_val *key, const char *name)
{
    codec_str ks;
    return codec_val_str(key, &ks) && codec_str_eq(ks, name);
}

/* client_parts_merge writes the first of the replies (NULL entries: the
 * partitions without a part) with its reservation's "lines" and its
 * "fill" made of every reply's, and "parts", the partitions' names; then
 * decodes it into a. A reply's other fields (replayed, the state, the
 * times) are the first part's. */
static atp_err client_parts_merge(const codec_val *map,
                                  const codec_val *const *replies, uint32_t n,
                                  codec_arena *a, const codec_val **out)
{
    const codec_val *first = NULL, *present[CLIENT_PARTS_MAX];
    uint32_t parts = 0;
    for (uint32_t i = 0; i < n; i++)
        if (replies[i] != NULL)
            present[parts++] = replies[i];
    first = parts > 0 ? present[0] : NULL;
    if (first == NULL)
        return ATP_E_INTERNAL; /* callers merge at least one part */
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return ATP_E_NOMEM;
    uint32_t m = codec_val_len(first);
    /* fill: every part's that has one (a part of split lines has it, one
     * of plain lines may not) */
    bool fill_first = codec_val_get(first, "fill") != NULL, fill_any = false;
    for (uint32_t i = 0; i < parts; i++)
        fill_any |= codec_val_get(present[i], "fill") != NULL;
    codec_w_map(w, m + 1 + (fill_any && !fill_first));
    if (fill_any && !fill_first) {
        codec_w_cstr(w, "fill");
        client_parts_concat(w, present, parts, NULL, "fill");
    }
    for (uint32_t k = 0; k < m; k++) {
        const codec_val *key = codec_val_map_key(first, k);
        const codec_val *val = codec_val_map_value(first, k);
        codec_w_val(w, key);
        if (client_parts_key_is(key, "fill")) {
            client_parts_concat(w, present, parts, NULL, "fill");
        } else if (client_parts_key_is(key, "reservation") &&
                   codec_val_type(val) == CODEC_MAP) {
            uint32_t vm = codec_val_len(val);
            codec_w_map(w, vm);
            for (uint32_t j = 0; j < vm; j++) {
                const codec_val *ik = codec_val_map_key(val, j);
                codec_w_val(w, ik);
                if (client_parts_key_is(ik, "lines"))
                    client_parts_concat(w, present, parts, "reservation",
                                        "lines");
                else
                    codec_w_val(w, codec_val_map_value(val, j));
            }
        } else {
            codec_w_val(w, val);
        }
    }
    codec_w_cstr(w, "parts");
    codec_w_array(w, parts);
    for (uint32_t i = 0; i < n; i++) {
        if (replies[i] == NULL)
            continue;
        codec_str name = {"", 0};
        codec_val_str(codec_val_get(codec_val_at(map, i), "partition"), &name);
        codec_w_str(w, name.ptr, name.len);
    }
    return client_parts_decode(w, a, out);
}

/* client_parts_conflict makes *out the conflict error of a part that a
 * replay answers no longer held: the id was used by an earlier attempt
 * that was released (all or nothing) or has ended. */
static atp_err client_parts_conflict(const codec_val *map, uint32_t i,
                                     codec_arena *a, const codec_val **out)
{
    codec_str name = {"", 0};
    codec_val_str(codec_val_get(codec_val_at(map, i), "partition"), &name);
    char msg[256];
    snprintf(msg, sizeof msg,
             "this id's part in partition '%.*s' is no longer held (an "
             "earlier attempt with this id was released or ended): reserve "
             "with a new id; nothing is held",
             (int)name.len, name.ptr);
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return ATP_E_NOMEM;
    codec_w_map(w, 2);
    codec_w_kv_bool(w, "ok", false);
    codec_w_cstr(w, "error");
    codec_w_map(w, 3);
    codec_w_kv_int(w, "code", ATP_E_CONFLICT);
    codec_w_kv_cstr(w, "name", atp_err_name(ATP_E_CONFLICT));
    codec_w_kv_cstr(w, "message", msg);
    return client_parts_decode(w, a, out);
}

/* client_parts_held: a granted part's reservation is held (a replay
 * answers it as it is now: it may have been released since). */
static bool client_parts_held(const codec_val *r)
{
    codec_str st;
    return codec_val_str(
               codec_val_get(codec_val_get(r, "reservation"), "state"), &st) &&
           (codec_str_eq(st, "held") || codec_str_eq(st, "committed"));
}

/* client_parts_release releases id in partition i (best effort: a
 * failure leaves the hold to its TTL). */
static void client_parts_release(client *c, client_parts *p,
                                 const codec_val *map, uint32_t i,
                                 const codec_val *id, codec_arena *a)
{
    codec_writer *w = codec_writer_alloc(NULL, NULL);
    if (w == NULL)
        return;
    codec_w_map(w, 2);
    codec_w_kv_cstr(w, "op", "release");
    codec_w_cstr(w, "id");
    codec_w_val(w, id);
    const codec_val *reply = NULL;
    client *peer = client_parts_peer(c, p, map, i);
    if (peer != NULL)
        (void)client_request(peer, w, a, &reply);
    codec_writer_free(w);
}

atp_err client_parts_reserve(client *c, client_parts *p, const codec_val *req,
                             const codec_val *map, codec_arena *a,
                             const codec_val **reply)
{
    uint32_t n = codec_val_len(map);
    if (n == 0 || n > CLIENT_PARTS_MAX)
        return ATP_OK; /* keep the node's answer */
    const codec_val *lines = codec_val_get(req, "lines");
    const codec_val *id = codec_val_get(req, "id");
    bool partial = false;
    /* Not split: a partial reserve (what each partition can give is not
     * all or nothing), and a split line over several partitions. The
     * node's cross_partition answer stands. */
    if ((codec_val_bool(codec_val_get(req, "partial"), &partial) && partial) ||
        !client_parts_splittable(map, lines))
        return ATP_OK;
    const codec_val *got[CLIENT_PARTS_MAX] = {0};
    bool asked[CLIENT_PARTS_MAX] = {0};
    const codec_val *refusal = NULL, *failure = NULL;
    atp_err fail_err = ATP_OK;
    /* In the map's order, so that two carts racing for the same units
     * meet in the same partition first. A refusal stops: holding the
     * rest would only take stock others may get. */
    for (uint32_t i = 0;
         i < n && refusal == NULL && failure == NULL && fail_err == ATP_OK;
         i++) {
        if (!client_parts_has(map, lines, i))
            continue;
        const codec_val *r = NULL;
        asked[i] = true;
        atp_err e = client_parts_send(c, p, map, i, req, lines, a, &r);
        bool ok = false, granted = false;
        if (e != ATP_OK)
            fail_err = e;
        else if (!codec_val_bool(codec_val_get(r, "ok"), &ok) || !ok)
            failure = r;
        else if (codec_val_bool(codec_val_get(r, "granted"), &granted) &&
                 granted && client_parts_held(r))
            got[i] = r;
        else if (granted &&
                 client_parts_conflict(map, i, a, &failure) != ATP_OK)
            fail_err = ATP_E_NOMEM;
        else if (!granted)
            refusal = r;
    }
    if (refusal == NULL && failure == NULL && fail_err == ATP_OK)
        return client_parts_merge(map, got, n, a, reply);
    /* All or nothing: every part asked is released, the one that failed
     * too (a timeout may have held it). */
    for (uint32_t i = 0; i < n; i++)
        if (asked[i] && id != NULL)
            client_parts_release(c, p, map, i, id, a);
    if (fail_err != ATP_OK)
        return fail_err;
    *reply = failure != NULL ? failure : refusal;
    return ATP_OK;
}

atp_err client_parts_by_id(client *c, client_parts *p, const codec_val *req,
                           const codec_val *map, codec_arena *a,
                           const codec_val **reply)
{
    uint32_t n = codec_val_len(map);
    if (n < 2 || n > CLIENT_PARTS_MAX)
        return ATP_E_INTERNAL; /* client.c passes a map of 2..16 */
    const codec_val *got[CLIENT_PARTS_MAX] = {0};
    const codec_val *not_found = NULL, *failure = NULL;
    bool any = false;
    /* A release of some lines goes to their partitions, each with its
     * own; without lines, to every partition. */
    const codec_val *lines = codec_val_get(req, "lines");
    if (lines != NULL &&
        (codec_val_len(lines) == 0 || !client_parts_splittable(map, lines)))
        lines = NULL; /* not lines of ours: each node says what is wrong */
    for (uint32_t i = 0; i < n; i++) {
        const codec_val *r = NULL;
        if (lines != NULL && !client_parts_has(map, lines, i))
            continue;
        atp_err e = client_parts_send(c, p, map, i, req, lines, a, &r);
        if (e != ATP_OK)
            return e; /* this partition's part is in doubt: say so */
        bool ok = false;
        if (codec_val_bool(codec_val_get(r, "ok"), &ok) && ok) {
            got[i] = r;
            any = true;
        } else if (client_parts_code(r) == ATP_E_NOT_FOUND) {
            not_found = r;
        } else if (failure == NULL) {
            failure = r;
        }
    }
    if (failure != NULL)
        *reply = failure;
    else if (!any)
        *reply = not_found;
    else
        return client_parts_merge(map, got, n, a, reply);
    return ATP_OK;
}

void client_parts_fini(client_parts *p)
{
    for (size_t i = 0; i < CLIENT_PARTS_MAX; i++) {
        client_close(p->peers[i]);
        p->peers[i] = NULL;
    }
}
