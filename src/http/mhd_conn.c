/*
 * mhd_conn.c - libmicrohttpd's connections: what atpd keeps per
 * connection (its request deadline entry, whether its client certificate
 * was verified), the connection counters, and the deadline's state as a
 * request is read, answered and completed (deadline.h). libmicrohttpd's
 * threads.
 */
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/assert.h"
#include "http/mhd_int.h"

http_conn_ctx *http_conn_ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* http_conn_deadline: the deadline entry of conn (http_connection_cb). */
static http_deadline_conn *http_conn_deadline(struct MHD_Connection *conn)
{
    http_conn_ctx *cx = http_conn_ctx_of(conn);
    return cx != NULL ? cx->dl : NULL;
}

void http_conn_answering(http *h, struct MHD_Connection *conn)
{
    http_deadline_answering(h->dl, http_conn_deadline(conn));
}

void http_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http *h = cls;
    /* The reply is out: the next request has its deadline from now. */
    http_deadline_reading(h->dl, http_conn_deadline(conn));
    http_req *r = *con_cls;
    if (r != NULL)
        http_req_put(cls, r);
    *con_cls = NULL;
}

void http_connection_cb(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    http *h = cls;
    ATP_ASSERT(toe == MHD_CONNECTION_NOTIFY_STARTED ||
               toe == MHD_CONNECTION_NOTIFY_CLOSED);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&h->conns_open, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->conns_total, 1, memory_order_relaxed);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_conn_ctx *cx = calloc(1, sizeof *cx);
        if (cx != NULL && ci != NULL)
            cx->dl = http_deadline_open(h->dl, ci->connect_fd);
        *socket_context =
            cx; /* NULL (no memory): no deadline, verified each time */
    } else {
        http_conn_ctx *cx = *socket_context;
        /* Before libmicrohttpd closes the socket (deadline.h). */
        if (cx != NULL)
            http_deadline_close(h->dl, cx->dl);
        free(cx);
        *socket_context = NULL;
        atomic_fetch_sub_explicit(&h->conns_open, 1, memory_order_relaxed);
    }
}
