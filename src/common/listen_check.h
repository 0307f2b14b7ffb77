/*
 * listen_check.h - can this process listen on a URL? Asked at start, before
 * the store is created, so that a port already taken stops atpd with a
 * message naming it instead of leaving a data directory behind.
 * Plain POSIX sockets (no nng: common calls nothing). Any thread.
 */
#ifndef ATP_LISTEN_CHECK_H
#define ATP_LISTEN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* listen_check binds a TCP socket to url's address and port (tcp://,
 * tcp4://, tcp6://; host a name, an address, [v6] or * for any) and closes
 * it at once (tls+tcp:// and its 4/6 forms likewise: the same TCP port).
 * Returns true when that works, or when there is nothing to
 * check (port 0: the system picks a free one; another scheme such as
 * ipc://, which nng checks when it listens). Otherwise false with the
 * reason in why ("address already in use", ...). A port free now may still
 * be taken before nng binds it; nng's own error then stops atpd, after the
 * store was opened. */
bool listen_check(const char *url, char *why, size_t why_len);

#endif
