/*
 * cluster_int.h - the cluster module's state, shared by its files:
 * cluster.c (set-up, the cluster thread: lease and takeover), copy.c (the
 * warm copy of the partition's records), follow.c (reading the stream),
 * publish.c (the persistence wrapper and its publisher thread).
 */
#ifndef ATP_CLUSTER_INT_H
#define ATP_CLUSTER_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cluster/cluster.h"
#include "common/cluster_info.h"

/* How long past its lease an owner goes on retrying when NATS does not
 * answer at all (a JetStream leader election on nats-server 2.9 takes
 * 4-8 s; one measured gap was 13.8 s), before it gives up and exits. */
#define CLUSTER_NATS_GRACE_MS 15000

/* One reservation's current record in the warm copy: key, then value. */
typedef struct cluster_rec {
    struct cluster_rec *next;
    uint32_t key_len, val_len;
    char data[];
} cluster_rec;

/* The warm copy (copy.c): the latest record of every reservation id the
 * stream holds, read by a standby. Cluster thread only. */
typedef struct cluster_copy {
    cluster_rec **slots;
    size_t cap, n;
    /* The ids changed since the local store last took the copy (local.c):
     * each a 2-byte length (LE) and the id, repeats allowed. Kept while
     * track is true (not while the copy is seeded from the store). */
    bool track;
    /* A change the dirty list (or the copy) could not take (out of
     * memory): the store can no longer be brought to the copy. */
    bool dirty_lost;
    char *dirty;
    size_t dirty_len, dirty_cap, dirty_n;
} cluster_copy;

/* A group the engine handed to the publisher (publish.c). */
typedef struct cluster_job {
    struct cluster_job *next;
    engine_record_op *ops; /* into the same allocation */
    size_t n;
    void (*done)(void *arg, atp_err err);
    void *arg;
} cluster_job;

struct cluster {
    const config *cfg;
    engine_persist inner;
    engine *eng;
    /* Names (cluster.c): the stream, its subjects, the lease bucket. */
    char stream[160], subj_all[160], subj_group[160], subj_epoch[160];
    char bucket[96];
    const char *adv_query, *adv_http;
    char bound_query[CLUSTER_INFO_URL_MAX], bound_http[CLUSTER_INFO_URL_MAX];
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    natsSubscription *sub; /* following the stream (standby) */
    /* The change feed across partitions (feed.c): the owner's subject,
     * the subscription to every partition's, where messages go. */
    char subj_feed[160];
    natsConnection *feed_nc; /* the feed's own (map thread makes it) */
    natsSubscription *feed_sub;
    int64_t feed_next_ms; /* the next attempt to make them */
    cluster_feed_fn feed_fn;
    void *feed_arg;
    _Atomic bool feed_ready; /* feed_nc set: publish may use it */
    _Atomic uint64_t feed_lost, feed_rejected;
    _Atomic uint64_t feed_dropped; /* by libnats (map thread reads it) */
    /* Cluster thread. */
    cluster_copy copy;
    uint64_t applied_seq; /* the stream sequence the copy reached */
    /* The local copy (local.c): what the store held at start (the meta
     * record), whether it was checked against the stream, and the
     * position the store has. */
    uint64_t seed_seq;
    int64_t seed_created;
    bool seed_meta, seed_foreign, seed_checked;
    uint64_t local_seq;
    int64_t local_next_ms;
    /* The store's position is to be deleted before anything else is
     * written (a reset: the store's records are not the copy's). */
    bool meta_stale;
    bool local_lost;        /* dirty_lost handled: the position deleted */
    bool taking_over;       /* local writes renew the lease between slices */
    int64_t stream_created; /* the stream's creation time (ns), as read */
    char meta_key[200];
    /* Other streams' positions found at start: deleted at the next write. */
#define CLUSTER_FOREIGN_MAX 4
    char foreign[CLUSTER_FOREIGN_MAX][200];
    size_t foreign_len[CLUSTER_FOREIGN_MAX], n_foreign;
    uint64_t lease_rev; /* the revision this owner wrote last */
    /* Monotonic ms after which an owner whose renewals go unanswered
     * gives up (the last renewal's send time + lease + the grace). */
    int64_t lease_hard_until;
    int64_t lease_next_ms; /* next renewal or attempt */
    char lease_value[700];
    int lease_value_len;
    cluster_info info;
    char why[256];          /* the last connection or set-up failure */
    int64_t next_stream_ms; /* when the report asks the stream again */
    /* The partition map (map.c): its thread's copy of every partition's
     * lease, when each was last written, and the epochs for relays. */
    pthread_t map_thread;
    bool map_started;
    pthread_mutex_t map_mu; /* guards map_parts, map_seen_ms */
    cluster_owner map_parts[CLUSTER_INFO_PARTS];
    int64_t map_seen_ms[CLUSTER_INFO_PARTS];
    _Atomic uint64_t map_epoch[CLUSTER_INFO_PARTS];
    /* Shared. */
    _Atomic bool owner;     /* serving: the publisher may publish */
    _Atomic bool stop;      /* cluster_stop: threads leave */
    _Atomic uint64_t epoch; /* this ownership's epoch */
    _Atomic uint64_t published, refused;
    _Atomic int64_t hard_until; /* lease_hard_until, for the publisher */
    /* The publisher's queue and its stream position (publish.c). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cluster_job *head, *tail;
    bool pub_stop;
    /* The stream's last sequence as the owner made it: written by the
     * thread publishing (the cluster thread's takeover marker, then the
     * publisher's groups, never both at once), read by the report. */
    _Atomic uint64_t last_seq;
    _Atomic uint64_t msg_counter;
    pthread_t thread, pub_thread;
    bool started;
};

/* copy.c */
atp_err cluster__copy_put(cluster_copy *cp, const char *key, size_t key_len,
                          const void *val, size_t val_len);
void cluster__copy_del(cluster_copy *cp, const char *key, size_t key_len);
/* The copy as record ops (ENGINE_DB_RESERVATIONS puts) borrowing its
 * records: valid until the copy changes. NULL on no memory. */
engine_record_op *cluster__copy_ops(const cluster_copy *cp, size_t *n);
void cluster__copy_free(cluster_copy *cp);
/* cluster__copy_reset: every record's id marked changed, then the records
 * dropped (the dirty list kept): what the local store holds of them is
 * deleted at the next write unless the stream brings them back. */
void cluster__copy_reset(cluster_copy *cp);
/* cluster__copy_dirty_ops: one op per changed id (a put of its record, or
 * a delete when the copy has none), borrowing the dirty list and the
 * records: valid until the copy changes; *n ops; NULL when out of memory
 * (or none changed: *n 0). cluster__copy_dirty_clear forgets them. */
engine_record_op *cluster__copy_dirty_ops(const cluster_copy *cp, size_t *n);
void cluster__copy_dirty_clear(cluster_copy *cp);

/* follow.c: subscribe from the start of the stream; read what arrived
 * within wait_ms into the copy (cluster__group_apply: one group
 * message's records). */
atp_err cluster__follow_start(cluster *c);
void cluster__follow_stop(cluster *c);
void cluster__follow_read(cluster *c, int64_t wait_ms);
/* cluster__stream_last: the stream's last sequence (0: nothing was ever
 * written) and how many messages it holds now (*msgs, if not NULL: 0
 * when every one aged out, the last sequence staying). */
atp_err cluster__stream_last(cluster *c, uint64_t *seq, uint64_t *msgs);
/* group.c: cluster__group_put writes op (a reservation record, or its
 * deletion when val is NULL) at buf, which has room for
 * CLUSTER_GROUP_ENTRY(op) bytes, and returns how many it wrote;
 * cluster__group_apply puts a group message's records into the copy
 * (false: the payload is malformed, and nothing of it is applied). */
#define CLUSTER_GROUP_ENTRY(op)                                                \
    (6 + (op)->key_len + ((op)->val != NULL ? (op)->val_len : 0))
size_t cluster__group_put(char *buf, const engine_record_op *op);
bool cluster__group_apply(cluster_copy *cp, const char *data, size_t len);

/* publish.c */
atp_err cluster__publisher_start(cluster *c);
void cluster__publisher_stop(cluster *c);
/* cluster__publish one message with the owner's fence (expected last
 * sequence c->last_seq, unless 0), retried with the same message id
 * until hard_until. ATP_OK: stored, c->last_seq moved;
 * ATP_E_NOT_OWNER: fenced (another owner wrote) or NATS stayed silent. */
atp_err cluster__publish(cluster *c, const char *subject, const void *data,
                         size_t len);

/* cluster.c: the owner lost its lease: stop acknowledging, end the
 * process (CLUSTER_EXIT_LOST). */
void cluster__lost(cluster *c, const char *why);

/* feed.c: the feed's own connection and the subscription to every
 * partition's change feed (several partitions only), tried every second
 * until made (the map's thread: it blocks); feed_stop drains the
 * subscription (after the map's thread ended), feed_close closes the
 * connection (cluster_free, after the change feed stopped). feed_lost:
 * messages published or received that were lost. */
void cluster__feed_start(cluster *c);
void cluster__feed_stop(cluster *c);
void cluster__feed_close(cluster *c);
uint64_t cluster__feed_lost(cluster *c);

/* local.c: the warm copy in this node's store (docs/CLUSTER.md, "A
 * node's local copy"). seed_check (cluster thread, once connected):
 * whether the copy seeded from the store (cluster_seed) goes on from the
 * stream, else it is reset. local_write: the changed records and the
 * stream position, written and waited for (cluster thread); false on a
 * failure (kept for the next). local_tick: local_write once a second. */
bool cluster__seed_check(cluster *c);
/* cluster.c: a renewal now (an owner's), between long local writes. */
void cluster__renew_now(cluster *c);
bool cluster__local_write(cluster *c, const char *why);
void cluster__local_tick(cluster *c, int64_t now);

/* map.c: the partition map's thread (several partitions only), after the
 * bucket is there; stopped (c->stop set) before cluster_free. map_copy:
 * the owners into info->parts, an owner not heard of for a lease and a
 * half cleared. cluster__owner_parse (cluster.c): a lease value into *o,
 * its partition name kept. */
void cluster__map_start(cluster *c);
void cluster__map_stop(cluster *c);
void cluster__map_copy(cluster *c, cluster_info *info);
void cluster__owner_parse(const char *v, cluster_owner *o);

#endif
