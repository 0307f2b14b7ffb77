/*
 * thread.c - the admin thread (atp:admin): runs the changes clients
 * submit, one at a time, so that the nng and HTTP callbacks never wait for
 * the engine or the store. Its queue is a small ring under qmu; a full
 * queue answers busy at once.
 */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "common/assert.h"
#include "common/thread.h"

static void *admin_thread_main(void *arg)
{
    admin *a = arg;
    thread_name("atp:admin");
    pthread_mutex_lock(&a->qmu);
    for (;;) {
        while (a->q_n == 0 && !a->stopping)
            pthread_cond_wait(&a->qcond, &a->qmu);
        if (a->q_n == 0)
            break; /* stopping, nothing left */
        admin_job *j = a->q[a->q_head];
        a->q_head = (a->q_head + 1) % ADMIN_QUEUE_CAP;
        a->q_n--;
        pthread_mutex_unlock(&a->qmu);
        admin_result res;
        admin__apply(a, &j->c, &res);
        j->done(j->arg, &res);
        free(j);
        pthread_mutex_lock(&a->qmu);
    }
    pthread_mutex_unlock(&a->qmu);
    return NULL;
}

atp_err admin_start(admin *a, engine *eng, sources *src)
{
    ATP_ASSERT(eng != NULL && src != NULL && !a->running);
    a->eng = eng;
    a->src = src;
    a->stopping = false;
    if (pthread_create(&a->thread, NULL, admin_thread_main, a) != 0)
        return ATP_E_NOMEM;
    a->running = true;
    return ATP_OK;
}

void admin_stop(admin *a)
{
    if (a == NULL || !a->running)
        return;
    /* What is queued still runs: each was accepted, and its client waits
     * for the answer; the engine runs until after this. */
    pthread_mutex_lock(&a->qmu);
    a->stopping = true;
    pthread_cond_signal(&a->qcond);
    pthread_mutex_unlock(&a->qmu);
    pthread_join(a->thread, NULL);
    a->running = false;
}

/* admin_copy copies s into the job's buffer (at *o). */
static const char *admin_copy(admin_job *j, size_t *o, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    if (*o + n > sizeof j->buf)
        return NULL;
    char *p = memcpy(j->buf + *o, s, n);
    *o += n;
    return p;
}

atp_err admin_submit(admin *a, const admin_change *c, admin_done_fn done,
                     void *arg)
{
    admin_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ATP_E_NOMEM;
    size_t o = 0;
    j->c = *c;
    const config_edit *e = &c->edit;
    j->c.edit.sku = admin_copy(j, &o, e->sku);
    j->c.edit.region = admin_copy(j, &o, e->region);
    j->c.edit.channel = admin_copy(j, &o, e->channel);
    j->c.edit.location = admin_copy(j, &o, e->location);
    j->c.change_id = admin_copy(j, &o, c->change_id);
    j->c.who = admin_copy(j, &o, c->who);
    j->c.edit.type = admin_copy(j, &o, e->type);
    j->c.edit.horizon = admin_copy(j, &o, e->horizon);
    j->c.edit.source = admin_copy(j, &o, e->source);
    ATP_ASSERT(e->n_parts <= sizeof j->parts / sizeof j->parts[0]);
    for (size_t k = 0; k < e->n_parts; k++)
        j->parts[k] = (config_bundle_part){
            (char *)admin_copy(j, &o, e->parts[k].sku), e->parts[k].qty};
    j->c.edit.parts = e->n_parts > 0 ? j->parts : NULL;
    /* ids are at most 128 bytes each, a type ADMIN_TYPE_MAX, a horizon
     * ADMIN_HORIZON_MAX, component SKUs 64: they always fit */
    ATP_ASSERT(j->c.change_id != NULL && j->c.who != NULL);
    ATP_ASSERT((e->type == NULL) == (j->c.edit.type == NULL));
    ATP_ASSERT((e->horizon == NULL) == (j->c.edit.horizon == NULL));
    ATP_ASSERT((e->source == NULL) == (j->c.edit.source == NULL));
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&a->qmu);
    if (!a->running || a->stopping || a->q_n == ADMIN_QUEUE_CAP) {
        pthread_mutex_unlock(&a->qmu);
        free(j);
        return ATP_E_BUSY;
    }
    a->q[(a->q_head + a->q_n) % ADMIN_QUEUE_CAP] = j;
    a->q_n++;
    pthread_cond_signal(&a->qcond);
    pthread_mutex_unlock(&a->qmu);
    return ATP_OK;
}
