/*
 * ctl_token.h - `atpctl token new|hash`: the auth section's entry for a
 * client's token (docs/SECURITY.md, "Clients"), so that nobody computes a
 * salted hash by hand. No atpd involved. Main thread.
 */
#ifndef ATP_CTL_TOKEN_H
#define ATP_CTL_TOKEN_H

#include <stdio.h>

/* ctl_token_run: verb "new" makes a random token (printed first, as a
 * comment line, the only time it is shown) or "hash" reads it from token
 * (--token, $ATP_TOKEN), else from the first line of in; then prints the
 * YAML entry (name, client, scopes, salt, sha256) to out, checked by
 * loading it as atpd would. scopes: "read,reserve" (comma-separated).
 * Returns 0, or 2 (usage: printed to stderr). */
int ctl_token_run(const char *verb, const char *token, const char *name,
                  const char *client, const char *scopes, FILE *in, FILE *out);

#endif
