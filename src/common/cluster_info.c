/*
 * cluster_info.c - the cluster module's report to the rest of atpd
 * (cluster_info.h), one copy under a mutex.
 */
#include "common/cluster_info.h"

#include <pthread.h>

static pthread_mutex_t cluster_info_mu = PTHREAD_MUTEX_INITIALIZER;
static cluster_info cluster_info_now;

void cluster_info_set(const cluster_info *ci)
{
    pthread_mutex_lock(&cluster_info_mu);
    cluster_info_now = *ci;
    pthread_mutex_unlock(&cluster_info_mu);
}

void cluster_info_get(cluster_info *out)
{
    pthread_mutex_lock(&cluster_info_mu);
    *out = cluster_info_now;
    pthread_mutex_unlock(&cluster_info_mu);
}
