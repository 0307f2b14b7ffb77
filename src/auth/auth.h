/*
 * auth.h - clients' tokens and scopes (docs/SECURITY.md, "Clients"): the
 * one place that decides whether a request may run.
 *
 * The table is built once from the config's auth section (which must
 * outlive it) and is read-only afterwards, except the per-token rate
 * counters (atomics). Every function is safe from any thread.
 */
#ifndef ATP_AUTH_H
#define ATP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"
#include "config/config.h"

/* The longest token accepted (bytes); a longer one is unknown. */
#define AUTH_TOKEN_MAX 512

/* The scope an operation needs: CONFIG_SCOPE_READ, _RESERVE, _ADMIN, or
 * AUTH_OPEN (no token needed: the liveness and readiness probes). */
#define AUTH_OPEN 0u
/* Any valid token, whatever its scopes: an op atpd does not know is
 * answered unknown_op only to an authenticated client. */
#define AUTH_ANY 0x80u

typedef struct auth auth;

/* Who a checked request comes from: the token's entry (name, client),
 * NULL when authentication is off or the op is open. */
typedef const config_token *auth_who;

/* auth_alloc builds the table for a (borrowed, must outlive it). With no
 * tokens configured *out is an "off" table: every request passes. */
atp_err auth_alloc(const config_auth *a, auth **out);
void auth_free(auth *t);

/* auth_enabled: tokens are configured (t may be NULL: off). */
bool auth_enabled(const auth *t);

/* auth_op_scope returns the scope op (op_len bytes: "atp", "reserve",
 * "snapshot", "feed" for the change feed, "metrics" for GET /metrics ...)
 * needs. An op this table does not name needs admin: a new op is closed
 * until someone decides otherwise. */
unsigned auth_op_scope(const char *op, size_t op_len);

/* auth_scope_name: "read", "reserve", "admin" or "none" (open). */
const char *auth_scope_name(unsigned scope);

/* auth_check decides whether token (len bytes; NULL or len 0: none was
 * given) may run an op that needs scope, at now_ns (monotonic, for the
 * rate limit). Returns ATP_OK with *who (NULL when authentication is off
 * or the scope is AUTH_OPEN); ATP_E_UNAUTHENTICATED (no token, one no
 * entry matches, or one past its `expires` on the wall clock),
 * ATP_E_FORBIDDEN (a valid token without scope),
 * ATP_E_QUOTA (its requests_per_second spent), each with a printable
 * reason in why[0..why_len) that never echoes the token. The token is
 * hashed with every entry's salt and compared with every entry in
 * constant time, so the time taken says nothing about which entry (if
 * any) is close. */
atp_err auth_check(auth *t, const char *token, size_t len, unsigned scope,
                   int64_t now_ns, auth_who *who, char *why, size_t why_len);

/* auth_client: the client name reservations of who belong to for
 * tenancy (its `client`), NULL when not bound (who NULL or no client):
 * such a request sees every reservation. */
const char *auth_client(auth_who who);

/* auth_token_entry writes the YAML entry for token (len bytes) with a
 * fresh random salt to out (NUL-terminated): what `atpctl token hash`
 * prints. name, client (may be NULL) and scopes (a CONFIG_SCOPE_* mask)
 * go into it as given, double-quoted. Returns false when a name holds a
 * quote or a backslash, the kernel gave no random bytes or out is too
 * small (512 bytes are enough for ids of up to 128). */
bool auth_token_entry(const char *token, size_t len, const char *name,
                      const char *client, unsigned scopes, char *out,
                      size_t out_len);

#endif
