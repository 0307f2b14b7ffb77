/*
 * ctl_token.c - `atpctl token new|hash` (ctl_token.h). The entry comes
 * from src/auth (auth_token_entry: a fresh salt, SHA-256(salt || token))
 * and is loaded back with the config module before it is printed, so what
 * an operator pastes is what atpd accepts. Main thread.
 */
#include "ctl_token.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "config/config.h"
#include "crypto/crypto.h"

/* ctl_token_scopes parses "read,reserve,admin" (any order, no blanks)
 * into CONFIG_SCOPE_* bits; 0 when a word is none of them. */
static unsigned ctl_token_scopes(const char *s)
{
    static const char *const names[] = {"read", "reserve", "admin"};
    unsigned bits = 0;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        size_t k = 0;
        while (k < 3 && !(strlen(names[k]) == n && memcmp(names[k], s, n) == 0))
            k++;
        if (k == 3)
            return 0;
        bits |= 1u << k;
        s += n + (s[n] == ',');
    }
    return bits;
}

/* ctl_token_check loads entry as atpd's config would; prints its problems. */
static bool ctl_token_check(const char *entry)
{
    size_t n = strlen(entry) + 32;
    char *doc = malloc(n);
    if (doc == NULL)
        return false;
    snprintf(doc, n, "auth:\n  tokens:\n%s", entry);
    config c;
    config_diags d;
    atp_err err = config_load_string(doc, strlen(doc), &c, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "atpctl: token: %s\n", d.items[i].message);
    config_diags_fini(&d);
    if (err == ATP_OK)
        config_fini(&c);
    free(doc);
    return err == ATP_OK;
}

int ctl_token_run(const char *verb, const char *token, const char *name,
                  const char *client, const char *scopes, FILE *in, FILE *out)
{
    bool fresh = strcmp(verb, "new") == 0;
    if (!fresh && strcmp(verb, "hash") != 0) {
        fprintf(stderr, "atpctl: token: expected 'new' or 'hash', got '%s'\n",
                verb);
        return 2;
    }
    unsigned bits = scopes != NULL ? ctl_token_scopes(scopes) : 0;
    if (name == NULL || bits == 0) {
        fprintf(stderr,
                "atpctl: token %s needs --name NAME and --scopes "
                "read,reserve,admin (one or more)\n",
                verb);
        return 2;
    }
    char line[AUTH_TOKEN_MAX + 2];
    if (fresh) {
        uint8_t raw[32];
        if (!crypto_random(raw, sizeof raw)) {
            fprintf(stderr, "atpctl: token: the kernel gave no random bytes\n");
            return 2;
        }
        crypto_hex(raw, sizeof raw, line);
        token = line;
    } else if (token == NULL) {
        if (fgets(line, sizeof line, in) == NULL) {
            fprintf(stderr, "atpctl: token hash: no token (--token, $ATP_TOKEN "
                            "or one line on stdin)\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        token = line;
    }
    size_t len = strlen(token);
    if (len == 0 || len > AUTH_TOKEN_MAX) {
        fprintf(stderr, "atpctl: token: a token is 1..%d bytes\n",
                AUTH_TOKEN_MAX);
        return 2;
    }
    char entry[1024];
    if (!auth_token_entry(token, len, name, client, bits, entry,
                          sizeof entry)) {
        fprintf(stderr,
                "atpctl: token: cannot write the entry (a name or client "
                "with a quote or backslash, one over 128 bytes, or no "
                "random bytes from the kernel)\n");
        return 2;
    }
    if (!ctl_token_check(entry))
        return 2;
    if (fresh)
        fprintf(out, "# token (give it to the client; shown only now): %s\n",
                token);
    fputs(entry, out);
    return 0;
}
