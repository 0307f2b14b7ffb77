/*
 * ctl_sub.h - a SUB client for atpd's change feed (`atpctl watch`).
 *
 * One ctl_sub is one nng SUB socket dialed to one URL with one prefix
 * subscription, or, for an http:// URL, atpd's event stream (GET
 * /v1/changes?region=R&sku=S) giving the same messages. The only atpctl file
 * besides tools/common that includes nng: nng codes become atp_err here, the
 * native text goes to last_error. Main thread of atpctl (ctl_sub_pipe_cb aside,
 * which runs on an nng thread and touches only the atomics).
 */
#ifndef ATP_CTL_SUB_H
#define ATP_CTL_SUB_H

#include <stdbool.h>
#include <stddef.h>

#include "atp/error.h"

/* A change-feed message is a topic and one (SKU, region) with at most
 * CONFIG_MAX_CHANNELS channels: well under 1 MiB. Anything larger is not
 * from atpd; nng drops it (and the connection). */
#define CTL_SUB_RECV_MAX ((size_t)1 << 20)

typedef struct ctl_sub ctl_sub;

/* ctl_sub_open opens a SUB socket subscribed to prefix[0..prefix_len) and
 * starts dialing url in the background (reconnecting for as long as it
 * lives; nothing listening is not an error for a feed). Returns ATP_OK and
 * *out, ATP_E_BAD_REQUEST when nng refuses the URL, ATP_E_NOMEM or
 * ATP_E_TRANSPORT, with a description in err. Release with ctl_sub_close.
 * token (NULL: none) goes to an http:// stream as its bearer token; an nng
 * feed carries none (docs/SECURITY.md: TLS client certificates). */
atp_err ctl_sub_open(const char *url, const char *token, const void *prefix,
                     size_t prefix_len, ctl_sub **out, char *err,
                     size_t errlen);

void ctl_sub_close(ctl_sub *s);

/* ctl_sub_recv waits up to timeout_ms for a message. Returns ATP_OK with
 * *msg (free with ctl_sub_free_msg) and *len, ATP_E_TIMEOUT when nothing
 * came, or ATP_E_TRANSPORT / ATP_E_NOMEM (ctl_sub_last_error says why). */
atp_err ctl_sub_recv(ctl_sub *s, int timeout_ms, void **msg, size_t *len);
void ctl_sub_free_msg(void *msg, size_t len);

/* ctl_sub_connected is true while a connection to the feed is up. */
bool ctl_sub_connected(const ctl_sub *s);
/* ctl_sub_connections counts connections made so far (reconnects too). */
int ctl_sub_connections(const ctl_sub *s);

const char *ctl_sub_last_error(const ctl_sub *s);

#endif
