/*
 * cluster.c - set-up, and the cluster thread (`atp:cluster`): connect,
 * hold or wait for the partition's lease, follow the stream while a
 * standby, take the partition over (docs/CLUSTER.md, "Takeover"), report
 * cluster_info. Every wait is bounded by the lease's timing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "common/assert.h"
#include "common/clock.h"
#include "common/done_wait.h"
#include "common/health.h"
#include "common/log.h"
#include "common/thread.h"

/* The thread's tick: an eighth of the lease, at most 250 ms. A standby
 * tries to create the lease every quarter of it; an owner renews every
 * third. Safety does not rest on the lease's timing but on the stream's
 * fence (docs/CLUSTER.md, "Fencing"): so an owner whose renewals get no
 * answer (NATS electing a leader takes 4-8 s on nats-server 2.9, measured
 * by integration.cluster_failover) keeps serving and retrying for the
 * lease plus CLUSTER_NATS_GRACE_MS after its last renewal; a refused one
 * (another node took the key) or a fenced write ends it at once. */
static int64_t cluster_tick_ms(const cluster *c)
{
    int64_t t = c->cfg->cluster.lease_ms / 8;
    return t > 250 ? 250 : t;
}

atp_err cluster_alloc(const config *cfg, const engine_persist *inner,
                      cluster **out)
{
    ATP_ASSERT(cfg->cluster.enabled && inner != NULL && inner->write != NULL);
    cluster *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ATP_E_NOMEM;
    c->cfg = cfg;
    c->inner = *inner;
    const config_cluster *k = &cfg->cluster;
    char upper[80];
    size_t i = 0;
    for (; k->name[i] != '\0' && i + 1 < sizeof upper; i++)
        upper[i] = (char)toupper((unsigned char)k->name[i]);
    upper[i] = '\0';
    snprintf(c->stream, sizeof c->stream, "%s_%s", upper, k->partition);
    snprintf(c->subj_all, sizeof c->subj_all, "%s.%s.>", k->name, k->partition);
    snprintf(c->subj_group, sizeof c->subj_group, "%s.%s.g", k->name,
             k->partition);
    snprintf(c->subj_epoch, sizeof c->subj_epoch, "%s.%s.epoch", k->name,
             k->partition);
    snprintf(c->bucket, sizeof c->bucket, "%s_leases", k->name);
    snprintf(c->subj_feed, sizeof c->subj_feed, "%s.%s", k->name, k->partition);
    snprintf(c->meta_key, sizeof c->meta_key, "cluster:%s", c->stream);
    c->adv_query =
        k->advertise_query ? k->advertise_query : cfg->service.query_listen;
    c->adv_http =
        k->advertise_http ? k->advertise_http : cfg->service.http_listen;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->map_mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->info = (cluster_info){.enabled = true, .lease_ms = k->lease_ms};
    snprintf(c->info.name, sizeof c->info.name, "%s", k->name);
    snprintf(c->info.node, sizeof c->info.node, "%s", k->node);
    snprintf(c->info.partition, sizeof c->info.partition, "%s", k->partition);
    for (size_t p = 0; p < k->n_partitions && p < CLUSTER_INFO_PARTS; p++)
        snprintf(c->info.parts[p].partition, sizeof c->info.parts[p].partition,
                 "%s", k->partitions[p].name);
    c->info.n_parts = k->n_partitions;
    cluster_info_set(&c->info);
    *out = c;
    return ATP_OK;
}

/* ---- connection, stream and bucket ------------------------------------- */

static atp_err cluster_connect(cluster *c)
{
    const config_cluster *k = &c->cfg->cluster;
    if (c->opts == NULL) {
        if (natsOptions_Create(&c->opts) != NATS_OK)
            return ATP_E_NOMEM;
        natsOptions_SetServers(c->opts, (const char **)k->nats, (int)k->n_nats);
        natsOptions_SetName(c->opts, k->node);
        natsOptions_SetMaxReconnect(c->opts, -1); /* forever */
        natsOptions_SetReconnectWait(c->opts, 100);
        natsOptions_SetTimeout(c->opts, 1000);
        /* A dead server is noticed within about a second. */
        natsOptions_SetPingInterval(c->opts, 500);
        natsOptions_SetMaxPingsOut(c->opts, 2);
    }
    natsStatus s = natsConnection_Connect(&c->nc, c->opts);
    if (s != NATS_OK) {
        c->nc = NULL;
        snprintf(c->why, sizeof c->why, "connect: %s", natsStatus_GetText(s));
        return ATP_E_TRANSPORT;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    if (natsConnection_JetStream(&c->js, c->nc, &jo) != NATS_OK)
        return ATP_E_TRANSPORT;
    return ATP_OK;
}

/* cluster_max_age_ms: how long the stream keeps a group message. The
 * latest record of a reservation was written at most its longest TTL
 * (max_ttl, committed_ttl) before it ends, and it is remembered for
 * `retention` after that, then deleted with a record of its own: so the
 * stream's retained window always holds the latest record of every
 * reservation the engine remembers, and nothing older is needed. An hour
 * more for clocks and slow expiry. */
static int64_t cluster_max_age_ms(const config *cfg)
{
    const config_reservations *r = &cfg->reservations;
    int64_t ttl = r->max_ttl_ms > r->committed_ttl_ms ? r->max_ttl_ms
                                                      : r->committed_ttl_ms;
    return ttl + r->retention_ms + 3600 * 1000;
}

/* cluster_bucket_ttl makes an existing lease bucket's TTL the configured
 * lease (a lease changed since the bucket was made): the key must expire
 * a lease after its last renewal, no sooner, no later. */
static atp_err cluster_bucket_ttl(cluster *c)
{
    const int64_t want = c->cfg->cluster.lease_ms * 1000000; /* ns */
    char name[128];
    snprintf(name, sizeof name, "KV_%s", c->bucket);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, c->js, name, NULL, &jerr) != NATS_OK) {
        snprintf(c->why, sizeof c->why, "bucket %s: no stream info", c->bucket);
        kvStore_Destroy(c->kv);
        c->kv = NULL;
        return ATP_E_TRANSPORT;
    }
    atp_err err = ATP_OK;
    if (si->Config->MaxAge != want) {
        si->Config->MaxAge = want;
        if (si->Config->Duplicates > want)
            si->Config->Duplicates = want;
        jsStreamInfo *up = NULL;
        if (js_UpdateStream(&up, c->js, si->Config, NULL, &jerr) == NATS_OK) {
            jsStreamInfo_Destroy(up);
            log_info("cluster",
                     "lease bucket %s: TTL set to the lease, %lld ms",
                     c->bucket, (long long)c->cfg->cluster.lease_ms);
        } else {
            snprintf(c->why, sizeof c->why,
                     "bucket %s: cannot set its TTL to the lease (%d)",
                     c->bucket, (int)jerr);
            kvStore_Destroy(c->kv);
            c->kv = NULL;
            err = ATP_E_TRANSPORT;
        }
    }
    jsStreamInfo_Destroy(si);
    return err;
}

/* cluster_prepare makes the stream and the lease bucket when they do not
 * exist yet (the first node to start makes them; the others find them). */
static atp_err cluster_prepare(cluster *c)
{
    const config_cluster *k = &c->cfg->cluster;
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[1] = {c->subj_all};
    sc.Name = c->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = k->replicas;
    sc.MaxAge = cluster_max_age_ms(c->cfg) * 1000000; /* ns */
    sc.Duplicates = (int64_t)k->lease_ms * 4 * 1000000;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) /* another MaxAge */
        s = js_UpdateStream(&si, c->js, &sc, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
    } else if (jerr != JSStreamNameExistErr &&
               (s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr)) !=
                   NATS_OK) {
        snprintf(c->why, sizeof c->why, "stream %s: %s (%d)", c->stream,
                 natsStatus_GetText(s), (int)jerr);
        return ATP_E_TRANSPORT;
    } else if (si != NULL) {
        jsStreamInfo_Destroy(si);
    }
    if (js_KeyValue(&c->kv, c->js, c->bucket) == NATS_OK)
        return cluster_bucket_ttl(c);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = c->bucket;
    kc.History = 1;
    kc.TTL = k->lease_ms * 1000000; /* ns */
    kc.Replicas = k->replicas;
    if ((s = js_CreateKeyValue(&c->kv, c->js, &kc)) != NATS_OK) {
        const char *text = nats_GetLastError(NULL);
        snprintf(c->why, sizeof c->why, "bucket %s: %s", c->bucket,
                 text != NULL ? text : natsStatus_GetText(s));
        c->kv = NULL;
        if (js_KeyValue(&c->kv, c->js, c->bucket) != NATS_OK) {
            c->kv = NULL;
            return ATP_E_TRANSPORT;
        }
    }
    return ATP_OK;
}

/* ---- the lease ---------------------------------------------------------- */

static void cluster_lease_value(cluster *c, uint64_t epoch)
{
    c->lease_value_len =
        snprintf(c->lease_value, sizeof c->lease_value, "%s\n%s\n%s\n%llu",
                 c->cfg->cluster.node, c->adv_query ? c->adv_query : "",
                 c->adv_http ? c->adv_http : "", (unsigned long long)epoch);
}

/* cluster_owner_parse reads a lease value, "node\nquery\nhttp\nepoch"
 * (the URLs may be empty), into *o (its partition name kept). */
void cluster__owner_parse(const char *v, cluster_owner *o)
{
    char *fields[3] = {o->node, o->query, o->http};
    size_t caps[3] = {sizeof o->node, sizeof o->query, sizeof o->http};
    const char *p = v, *nl;
    for (int i = 0; i < 3; i++) {
        fields[i][0] = '\0';
        if (p == NULL)
            continue;
        nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(fields[i], caps[i], "%.*s", (int)len, p);
        p = nl ? nl + 1 : NULL;
    }
    o->epoch = p != NULL ? strtoull(p, NULL, 10) : 0;
}

/* cluster_owner_get reads the lease of partition into *o (node empty:
 * none). */
static void cluster_owner_get(cluster *c, const char *partition,
                              cluster_owner *o)
{
    kvEntry *e = NULL;
    memset(o, 0, sizeof *o);
    snprintf(o->partition, sizeof o->partition, "%s", partition);
    if (kvStore_Get(&e, c->kv, partition) != NATS_OK)
        return;
    cluster__owner_parse(kvEntry_ValueString(e), o);
    kvEntry_Destroy(e);
}

/* cluster_owner_read: who owns this node's partition, into c->info. */
static void cluster_owner_read(cluster *c)
{
    cluster_owner o;
    cluster_owner_get(c, c->cfg->cluster.partition, &o);
    memcpy(c->info.owner_node, o.node, sizeof o.node);
    memcpy(c->info.owner_query, o.query, sizeof o.query);
    memcpy(c->info.owner_http, o.http, sizeof o.http);
    c->info.epoch = o.epoch;
}

void cluster__lost(cluster *c, const char *why)
{
    atomic_store(&c->owner, false);
    health_cond_set(HEALTH_RESERVATIONS, false); /* refuse from now on */
    cluster_info ci; /* this node no longer names itself the owner */
    cluster_info_get(&ci);
    ci.owner = false;
    ci.owner_node[0] = ci.owner_query[0] = ci.owner_http[0] = '\0';
    cluster_info_set(&ci);
    log_error("cluster",
              "node %s lost the lease of partition %s (epoch %llu): %s; "
              "exiting with status %d to start again as a standby",
              c->cfg->cluster.node, c->cfg->cluster.partition,
              (unsigned long long)atomic_load(&c->epoch), why,
              CLUSTER_EXIT_LOST);
    log_repeats_flush();
    /* A moment for the replies of the group just refused (not_owner) to
     * leave: the engine writes them on its thread. */
    usleep(200 * 1000);
    _exit(CLUSTER_EXIT_LOST);
}

/* cluster_lease_release deletes the lease key only while it is still this
 * owner's revision: a delete marker (as the key-value store writes one)
 * fenced by the key's last sequence, so a key another node has taken
 * meanwhile stays. */
static void cluster_lease_release(cluster *c)
{
    char subject[256];
    snprintf(subject, sizeof subject, "$KV.%s.%s", c->bucket,
             c->cfg->cluster.partition);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, NULL, 0) != NATS_OK)
        return;
    natsMsgHeader_Set(m, "KV-Operation", "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = c->lease_rev;
    po.MaxWait = 1000;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (js_PublishMsg(&pa, c->js, m, &po, &jerr) == NATS_OK) {
        jsPubAck_Destroy(pa);
        log_info("cluster", "node %s handed partition %s back",
                 c->cfg->cluster.node, c->cfg->cluster.partition);
    } else {
        log_warn("cluster",
                 "node %s could not hand partition %s back (%d): a standby "
                 "takes it once the lease expires",
                 c->cfg->cluster.node, c->cfg->cluster.partition, (int)jerr);
    }
    natsMsg_Destroy(m);
}

/* cluster_renew: the owner's compare-and-set renewal, when it is due. */
static void cluster_renew(cluster *c, int64_t now);

void cluster__renew_now(cluster *c)
{
    if (c->taking_over)
        cluster_renew(c, clock_mono_ms());
}

static void cluster_renew(cluster *c, int64_t now)
{
    if (now < c->lease_next_ms)
        return;
    const int64_t lease = c->cfg->cluster.lease_ms;
    uint64_t rev = 0;
    natsStatus s =
        kvStore_Update(&rev, c->kv, c->cfg->cluster.partition, c->lease_value,
                       c->lease_value_len, c->lease_rev);
    if (s == NATS_OK) {
        c->lease_rev = rev;
        c->lease_hard_until = now + lease + CLUSTER_NATS_GRACE_MS;
        atomic_store(&c->hard_until, c->lease_hard_until);
        c->lease_next_ms = now + lease / 3;
        return;
    }
    /* Refused (another revision: someone took the key) or no answer (NATS
     * electing a leader, a reconnect, JetStream without its meta leader):
     * the first is lost at once, the others only once NATS stayed silent
     * past the grace. Only the stream's "wrong last sequence" is a
     * refusal. */
    const char *text = nats_GetLastError(NULL);
    if (text != NULL && strstr(text, "wrong last sequence") != NULL) {
        char why[320];
        snprintf(why, sizeof why,
                 "its renewal was refused (%.200s): another node holds it",
                 text);
        cluster__lost(c, why);
    }
    if (clock_mono_ms() >= c->lease_hard_until)
        cluster__lost(c, "NATS did not answer its renewals for the lease "
                         "and the grace after it");
    c->lease_next_ms = now + cluster_tick_ms(c);
}

/* ---- takeover ----------------------------------------------------------- */

/* How long the stream's first message waits for its answer. */
#define CLUSTER_PUBLISH_WAIT_MS_INIT 1000

/* Records loaded (and stored) per step of a takeover, the lease renewed
 * between steps. */
#define CLUSTER_LOAD_SLICE 20000

/* cluster_stream_init publishes the stream's first message (subject
 * <name>.<partition>.init, fixed message id "init"). */
static void cluster_stream_init(cluster *c)
{
    char subject[200];
    snprintf(subject, sizeof subject, "%s.%s.init", c->cfg->cluster.name,
             c->cfg->cluster.partition);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, "init", 4) != NATS_OK)
        return;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = "init";
    po.MaxWait = CLUSTER_PUBLISH_WAIT_MS_INIT;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (js_PublishMsg(&pa, c->js, m, &po, &jerr) == NATS_OK)
        jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

static void cluster_report(cluster *c, int64_t now);

/* cluster_takeover, right after this node created the lease key: read the
 * stream to its end, fence it with the marker, load the copy. Returns
 * false when the lease ran out first (the node stays a standby). */
static bool cluster_takeover(cluster *c, int64_t t0)
{
    char why[160] = "";
    /* One deadline that renewals do not move: a takeover that cannot
     * finish gives the lease up rather than hold it for ever. */
    const int64_t deadline =
        t0 + c->cfg->cluster.lease_ms + CLUSTER_NATS_GRACE_MS;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (now >= deadline || now >= c->lease_hard_until ||
            atomic_load(&c->stop)) {
            snprintf(why, sizeof why, "%s",
                     atomic_load(&c->stop) ? "atpd is stopping"
                                           : "NATS did not answer in time");
            break;
        }
        cluster_renew(c, now);
        cluster_report(c, now);
        uint64_t last = 0, msgs = 0;
        if (cluster__stream_last(c, &last, &msgs) != ATP_OK)
            continue;
        if (last == 0) {
            /* A new stream: one message first, so that the stream's last
             * sequence is never 0 again (0 means "do not check" to the
             * fence). The same id from every node: stored once. */
            cluster_stream_init(c);
            continue;
        }
        /* A consumer that stalls (its server died, NATS electing) is
         * made again from where the copy is, after a second without
         * progress. A stream whose messages all aged out has nothing
         * to read. */
        int64_t progress_ms = clock_mono_ms();
        uint64_t seen = c->applied_seq;
        while (msgs > 0 && c->applied_seq < last &&
               clock_mono_ms() < deadline && !atomic_load(&c->stop)) {
            cluster__follow_read(c, cluster_tick_ms(c));
            cluster_renew(c, clock_mono_ms());
            if (c->applied_seq != seen) {
                seen = c->applied_seq;
                progress_ms = clock_mono_ms();
            } else if (clock_mono_ms() - progress_ms > 1000) {
                cluster__follow_stop(c);
                progress_ms = clock_mono_ms();
            }
        }
        if (msgs > 0 && c->applied_seq < last)
            continue;
        char marker[96];
        int len =
            snprintf(marker, sizeof marker, "%s %llu", c->cfg->cluster.node,
                     (unsigned long long)atomic_load(&c->epoch));
        atomic_store(&c->last_seq, last);
        atp_err err = cluster__publish(c, c->subj_epoch, marker, (size_t)len);
        if (err == ATP_OK) {
            /* The marker's sequence is the epoch: it grows with every
             * takeover as long as the stream lasts (a key's revision does
             * not: nats-server 2.9 restarts a bucket whose entries all
             * expired at a lower sequence, measured). The lease names
             * it from now on. */
            uint64_t epoch = atomic_load(&c->last_seq);
            atomic_store(&c->epoch, epoch);
            c->info.epoch = epoch;
            cluster_lease_value(c, epoch);
            c->lease_next_ms = 0;
            cluster_renew(c, clock_mono_ms());
            break;
        }
        /* another write came in between: read again */
    }
    if (why[0] != '\0') {
        log_warn("cluster", "takeover of %s abandoned: %s",
                 c->cfg->cluster.partition, why);
        return false;
    }
    cluster__follow_stop(c);
    /* The copy is the stream's state up to the marker (read to the end,
     * or nothing left to read): its position, for the local store. */
    if (c->applied_seq < atomic_load(&c->last_seq))
        c->applied_seq = atomic_load(&c->last_seq);
    /* This node's store takes the copy first (what changed since its last
     * write, and the position). If it cannot, it keeps its older
     * position: a restart reads the stream on from there. */
    c->taking_over = true;
    cluster__local_write(c, "the takeover's");
    c->taking_over = false;
    size_t n = 0, loaded = 0;
    engine_record_op *ops = cluster__copy_ops(&c->copy, &n);
    if (ops == NULL)
        cluster__lost(c, "out of memory while loading the reservations");
    atomic_store(&c->owner, true); /* the engine's writes may go now */
    for (size_t i = 0; i < n; i += CLUSTER_LOAD_SLICE) {
        size_t k = n - i < CLUSTER_LOAD_SLICE ? n - i : CLUSTER_LOAD_SLICE,
               got = 0;
        if (engine_resv_adopt(c->eng, ops + i, k, &got) != ATP_OK)
            cluster__lost(c, "the engine stopped during the takeover");
        loaded += got;
        cluster_renew(c, clock_mono_ms());
    }
    free(ops);
    cluster__copy_free(&c->copy);
    health_cond_set(HEALTH_RESERVATIONS, true); /* ready: serving */
    c->info.takeovers++;
    c->info.takeover_ms = clock_mono_ms() - t0;
    log_info(
        "cluster",
        "node %s owns partition %s (epoch %llu): %zu reservations "
        "loaded from the warm copy (the stream to sequence %llu) in %lld ms",
        c->cfg->cluster.node, c->cfg->cluster.partition,
        (unsigned long long)atomic_load(&c->epoch), loaded,
        (unsigned long long)atomic_load(&c->last_seq),
        (long long)c->info.takeover_ms);
    return true;
}

/* cluster_try_lease: a standby's attempt to create the lease key. */
static void cluster_try_lease(cluster *c, int64_t now)
{
    if (now < c->lease_next_ms)
        return;
    const int64_t lease = c->cfg->cluster.lease_ms;
    c->lease_next_ms = now + lease / 4;
    /* The epoch is the key's revision at creation; the value names it,
     * so it is written again right after with the epoch in it. */
    cluster_lease_value(c, 0);
    uint64_t rev = 0;
    if (kvStore_Create(&rev, c->kv, c->cfg->cluster.partition, c->lease_value,
                       c->lease_value_len) != NATS_OK) {
        cluster_owner_read(c);
        return;
    }
    c->lease_rev = rev;
    c->lease_hard_until = now + lease + CLUSTER_NATS_GRACE_MS;
    atomic_store(&c->hard_until, c->lease_hard_until);
    /* The epoch is the stream sequence of this owner's takeover marker
     * (cluster_takeover): until the marker is in, the key's revision
     * stands for it in the log. */
    atomic_store(&c->epoch, rev);
    log_info("cluster",
             "node %s took the lease of partition %s (key revision %llu)",
             c->cfg->cluster.node, c->cfg->cluster.partition,
             (unsigned long long)rev);
    if (!cluster_takeover(c, now))
        return;
    snprintf(c->info.owner_node, sizeof c->info.owner_node, "%s",
             c->cfg->cluster.node);
    snprintf(c->info.owner_query, sizeof c->info.owner_query, "%s",
             c->adv_query ? c->adv_query : "");
    snprintf(c->info.owner_http, sizeof c->info.owner_http, "%s",
             c->adv_http ? c->adv_http : "");
}

/* ---- the thread ---------------------------------------------------------- */

static void cluster_report(cluster *c, int64_t now)
{
    c->info.owner = atomic_load(&c->owner);
    c->info.connected = c->nc != NULL && natsConnection_Status(c->nc) ==
                                             NATS_CONN_STATUS_CONNECTED;
    c->info.applied_seq =
        c->info.owner ? atomic_load(&c->last_seq) : c->applied_seq;
    c->info.records = c->copy.n;
    c->info.published = atomic_load(&c->published);
    c->info.refused = atomic_load(&c->refused);
    c->info.feed_lost = cluster__feed_lost(c);
    c->info.stored_seq = c->local_seq;
    c->info.feed_rejected = atomic_load(&c->feed_rejected);
    if (c->kv != NULL)
        cluster__map_copy(c, &c->info);
    if (c->js != NULL && now >= c->next_stream_ms) {
        uint64_t last = 0;
        if (cluster__stream_last(c, &last, NULL) == ATP_OK)
            c->info.stream_seq = last;
        c->next_stream_ms = now + 1000;
    }
    cluster_info_set(&c->info);
}

static void *cluster_thread_main(void *arg)
{
    cluster *c = arg;
    thread_name("atp:cluster");
    int64_t next_try_ms = 0;
    bool warned = false;
    while (!atomic_load(&c->stop)) {
        int64_t now = clock_mono_ms();
        if (c->kv == NULL) {
            if (now >= next_try_ms) {
                next_try_ms = now + 1000;
                if ((c->nc != NULL || cluster_connect(c) == ATP_OK) &&
                    cluster_prepare(c) == ATP_OK) {
                    log_info("cluster",
                             "node %s connected: stream %s, lease bucket %s",
                             c->cfg->cluster.node, c->stream, c->bucket);
                    cluster__map_start(c);
                } else if (!warned) {
                    warned = true;
                    log_warn("cluster",
                             "NATS JetStream not usable yet (%s); retrying "
                             "every second",
                             c->why);
                }
            }
            if (c->kv == NULL) {
                cluster_report(c, now);
                usleep(100 * 1000);
                continue;
            }
        }
        if (atomic_load(&c->owner)) {
            cluster_renew(c, now);
            cluster_report(c, now);
            usleep((useconds_t)cluster_tick_ms(c) * 1000);
        } else if (!cluster__seed_check(c)) {
            /* the stream not readable yet: the local copy waits */
            cluster_report(c, now);
            usleep(100 * 1000);
        } else {
            cluster__follow_read(c, cluster_tick_ms(c));
            cluster__local_tick(c, clock_mono_ms());
            cluster_try_lease(c, clock_mono_ms());
            cluster_report(c, clock_mono_ms());
        }
    }
    return NULL;
}

void cluster_advertise(cluster *c, const char *query, const char *http)
{
    if (c->cfg->cluster.advertise_query == NULL && query != NULL) {
        snprintf(c->bound_query, sizeof c->bound_query, "%s", query);
        c->adv_query = c->bound_query;
    }
    if (c->cfg->cluster.advertise_http == NULL && http != NULL) {
        snprintf(c->bound_http, sizeof c->bound_http, "%s", http);
        c->adv_http = c->bound_http;
    }
}

atp_err cluster_start(cluster *c, engine *eng)
{
    c->eng = eng;
    health_cond_set(HEALTH_RESERVATIONS, false); /* until a takeover */
    if (cluster__publisher_start(c) != ATP_OK)
        return ATP_E_NOMEM;
    if (pthread_create(&c->thread, NULL, cluster_thread_main, c) != 0) {
        cluster__publisher_stop(c);
        return ATP_E_NOMEM;
    }
    c->started = true;
    return ATP_OK;
}

void cluster_stop(cluster *c)
{
    if (c == NULL || !c->started)
        return;
    /* The publisher first (engine_stop left it nothing in flight), while
     * the cluster thread still renews; then the renewals. */
    cluster__publisher_stop(c);
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    cluster__map_stop(c);
    cluster__feed_stop(c);
    if (atomic_load(&c->owner) && c->kv != NULL) {
        /* Hand the lease back: a standby takes over without waiting for
         * the TTL. */
        atomic_store(&c->owner, false);
        cluster_lease_release(c);
    }
    c->started = false;
}

void cluster_free(cluster *c)
{
    if (c == NULL)
        return;
    cluster__follow_stop(c);
    cluster__feed_close(c);
    if (c->kv != NULL)
        kvStore_Destroy(c->kv);
    if (c->js != NULL)
        jsCtx_Destroy(c->js);
    if (c->nc != NULL)
        natsConnection_Destroy(c->nc);
    if (c->opts != NULL)
        natsOptions_Destroy(c->opts);
    cluster__copy_free(&c->copy);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->map_mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
