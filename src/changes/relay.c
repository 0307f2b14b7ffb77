/*
 * relay.c - the other partitions' change-feed messages, queued for the
 * changes thread (see relay.h). A mutex-guarded list: at most one push
 * per message another owner published, a few thousand a second.
 */
#include "changes/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct relay_msg {
    struct relay_msg *next;
    size_t len;
    unsigned char data[];
} relay_msg;

struct changes_relay {
    pthread_mutex_t mu;
    relay_msg *head, *tail; /* guarded by mu */
    size_t n;               /* guarded by mu */
    _Atomic uint64_t sent, dropped;
};

changes_relay *changes_relay_alloc(void)
{
    changes_relay *r = calloc(1, sizeof *r);
    if (r != NULL)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void changes_relay_free_list(relay_msg *m)
{
    while (m != NULL) {
        relay_msg *next = m->next;
        free(m);
        m = next;
    }
}

void changes_relay_free(changes_relay *r)
{
    if (r == NULL)
        return;
    changes_relay_free_list(r->head);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool changes_relay_push(changes_relay *r, const void *msg, size_t len)
{
    relay_msg *m = malloc(sizeof *m + len);
    if (m == NULL) {
        atomic_fetch_add(&r->dropped, 1);
        return false;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data, msg, len);
    pthread_mutex_lock(&r->mu);
    bool room = r->n < CHANGES_RELAY_MAX;
    if (room) {
        if (r->tail != NULL)
            r->tail->next = m;
        else
            r->head = m;
        r->tail = m;
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    if (!room) {
        free(m);
        atomic_fetch_add(&r->dropped, 1);
    }
    return room;
}

void changes_relay_flush(changes_relay *r, changes_relay_send_fn send,
                         void *arg)
{
    pthread_mutex_lock(&r->mu);
    relay_msg *m = r->head;
    r->head = r->tail = NULL;
    r->n = 0;
    pthread_mutex_unlock(&r->mu);
    while (m != NULL) {
        relay_msg *next = m->next;
        atomic_fetch_add(send(arg, m->data, m->len) ? &r->sent : &r->dropped,
                         1);
        free(m);
        m = next;
    }
}

void changes_relay_stats(changes_relay *r, uint64_t *sent, uint64_t *dropped)
{
    *sent = atomic_load(&r->sent);
    *dropped = atomic_load(&r->dropped);
}
