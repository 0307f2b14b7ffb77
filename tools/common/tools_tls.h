/*
 * tools_tls.h - how the tools (atpctl, atp-feed, atp-bench) reach a TLS
 * endpoint: tls+tcp:// nng URLs and https:// HTTP URLs, with the server
 * checked against --ca and, with --cert/--key, a client certificate of
 * ours (atpd's tls.verify_clients). One set of files per process: main
 * sets them once after reading its options, before any socket is dialed;
 * every dial of the process then uses them (read-only afterwards, any
 * thread).
 */
#ifndef ATP_TOOLS_TLS_H
#define ATP_TOOLS_TLS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tools_tls {
    const char *ca_file;   /* CA that signs atpd's certificate (PEM) */
    const char *cert_file; /* our client certificate (PEM), or NULL */
    const char *key_file;  /* its private key (PEM, unencrypted), or NULL */
} tools_tls;

/* tools_tls_set remembers t's strings (borrowed: they must outlive every
 * dial, argv's do). Main thread, before any dial. */
void tools_tls_set(const tools_tls *t);

/* tools_tls_get: what tools_tls_set stored (all NULL before). */
const tools_tls *tools_tls_get(void);

/* tools_tls_usage: the help lines of the three options (read by each
 * tool's getopt_long table: TOOL_ARGS_TLS, tool_args.h). */
#define TOOLS_TLS_USAGE                                                        \
    "  --ca FILE       CA certificate (PEM) that atpd's certificate must "     \
    "chain to,\n"                                                              \
    "                  for tls+tcp:// and https:// endpoints\n"                \
    "  --cert FILE     client certificate (PEM) when atpd verifies clients\n"  \
    "  --key FILE      its private key (PEM)\n"

/* tools_tls_check: false (and a message in err) when t is inconsistent:
 * --cert without --key or the other way round. */
bool tools_tls_check(const tools_tls *t, char *err, size_t errlen);

/* tools_dial_url: the URL a tool dials for one of atpd's sockets: given
 * (a command-line option), else listen (the config's listen address),
 * else dflt. A "*" host means "every interface" in a listen address and
 * cannot be dialed: it becomes 127.0.0.1 (written into buf). */
const char *tools_dial_url(const char *given, const char *listen,
                           const char *dflt, char *buf, size_t size);

/* tools_tls_dial is nng_dial (flags as there) with, for a tls+tcp:// url,
 * a client TLS configuration: the server's certificate verified against
 * the CA (required: without --ca the dial fails with NNG_EINVAL and err
 * says why), our certificate when given. Other URLs dial as nng_dial.
 * Returns the nng error (0: dialing). */
int tools_tls_dial(nng_socket s, const char *url, int flags, char *err,
                   size_t errlen);

#endif
