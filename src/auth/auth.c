/*
 * auth.c - the token table, the op -> scope map and the per-token request
 * rate (docs/SECURITY.md). Any thread: the table is immutable after
 * auth_alloc; the rate counters are one atomic per token.
 */
#include "auth/auth.h"
#include "common/assert.h"
#include "common/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

/* What the check remembers of the token that last matched an entry:
 * SHA-256(token), unsalted, in memory only (never written anywhere), so
 * that a token seen once costs one hash instead of one per entry. state:
 * 0 empty, 1 being written (by the one thread that won it), 2 valid. */
typedef struct auth_seen {
    _Atomic int state;
    uint8_t h[CRYPTO_SHA256_LEN];
} auth_seen;

struct auth {
    const config_auth *cfg;
    /* Per token: the rate limit's theoretical arrival time (GCRA, ns). */
    _Atomic int64_t *tat;
    auth_seen *seen; /* per token */
};

atp_err auth_alloc(const config_auth *a, auth **out)
{
    ATP_ASSERT(a != NULL && out != NULL);
    auth *t = calloc(1, sizeof *t);
    if (t == NULL)
        return ATP_E_NOMEM;
    t->cfg = a;
    if (a->n_tokens > 0 &&
        ((t->tat = calloc(a->n_tokens, sizeof *t->tat)) == NULL ||
         (t->seen = calloc(a->n_tokens, sizeof *t->seen)) == NULL)) {
        auth_free(t);
        return ATP_E_NOMEM;
    }
    *out = t;
    return ATP_OK;
}

void auth_free(auth *t)
{
    if (t == NULL)
        return;
    free(t->tat);
    free(t->seen);
    free(t);
}

bool auth_enabled(const auth *t)
{
    return t != NULL && t->cfg->n_tokens > 0;
}

/* Every op of docs/PROTOCOL.md and the two HTTP routes that are none. The
 * probes are open: a load balancer or an orchestrator asks them without a
 * secret, and they say only whether atpd is up and ready. */
static const struct {
    const char *op;
    unsigned scope;
} auth_ops[] = {
    {"ready", AUTH_OPEN},
    {"health", AUTH_OPEN},
    {"atp", CONFIG_SCOPE_READ},
    {"cart", CONFIG_SCOPE_READ},
    {"regions", CONFIG_SCOPE_READ},
    {"scan", CONFIG_SCOPE_READ},
    {"status", CONFIG_SCOPE_READ},
    {"sources", CONFIG_SCOPE_READ},
    {"explain", CONFIG_SCOPE_READ},
    {"pickup", CONFIG_SCOPE_READ},
    {"pickup_cart", CONFIG_SCOPE_READ},
    {"promise", CONFIG_SCOPE_READ},
    {"promise_cart", CONFIG_SCOPE_READ},
    {"feed", CONFIG_SCOPE_READ},
    {"metrics", CONFIG_SCOPE_READ},
    {"reserve", CONFIG_SCOPE_RESERVE},
    {"commit", CONFIG_SCOPE_RESERVE},
    {"release", CONFIG_SCOPE_RESERVE},
    {"extend", CONFIG_SCOPE_RESERVE},
    {"reservation", CONFIG_SCOPE_RESERVE},
    {"snapshot", CONFIG_SCOPE_ADMIN},
    {"backup", CONFIG_SCOPE_ADMIN},
    /* run-time administration: reading the state is admin too (it
     * shows the whole buffer policy) */
    {"admin_list", CONFIG_SCOPE_ADMIN},
    {"admin_history", CONFIG_SCOPE_ADMIN},
    {"admin_export", CONFIG_SCOPE_ADMIN},
    {"admin_set_buffer", CONFIG_SCOPE_ADMIN},
    {"admin_remove_buffer", CONFIG_SCOPE_ADMIN},
    {"admin_set_bundle", CONFIG_SCOPE_ADMIN},
    {"admin_remove_bundle", CONFIG_SCOPE_ADMIN},
    {"admin_move_location", CONFIG_SCOPE_ADMIN},
    {"admin_set_location", CONFIG_SCOPE_ADMIN},
    {"admin_set_region", CONFIG_SCOPE_ADMIN},
    {"admin_remove_location", CONFIG_SCOPE_ADMIN},
    {"admin_add_location", CONFIG_SCOPE_ADMIN},
    {"admin_set_authority", CONFIG_SCOPE_ADMIN},
    {"admin_add_channel", CONFIG_SCOPE_ADMIN},
    {"admin_add_region", CONFIG_SCOPE_ADMIN},
    {"admin_remove_region", CONFIG_SCOPE_ADMIN},
    {"admin_remove_channel", CONFIG_SCOPE_ADMIN},
};

unsigned auth_op_scope(const char *op, size_t op_len)
{
    ATP_ASSERT(op != NULL || op_len == 0);
    for (size_t i = 0; i < sizeof auth_ops / sizeof auth_ops[0]; i++)
        if (strlen(auth_ops[i].op) == op_len &&
            memcmp(auth_ops[i].op, op, op_len) == 0)
            return auth_ops[i].scope;
    return CONFIG_SCOPE_ADMIN;
}

const char *auth_scope_name(unsigned scope)
{
    switch (scope) {
    case CONFIG_SCOPE_READ:
        return "read";
    case CONFIG_SCOPE_RESERVE:
        return "reserve";
    case CONFIG_SCOPE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

/* auth_find_salted returns the index of the entry token matches, or -1.
 * Every entry is hashed with its salt and compared, whatever matched
 * before: the time depends on the number of entries and the token's
 * length only. */
static long auth_find_salted(const config_auth *a, const char *token,
                             size_t len)
{
    long found = -1;
    for (size_t i = 0; i < a->n_tokens; i++) {
        uint8_t h[CRYPTO_SHA256_LEN];
        const config_token *e = &a->tokens[i];
        crypto_sha256_salted(e->salt, e->salt_len, token, len, h);
        bool eq = crypto_equal(h, e->sha256, CRYPTO_SHA256_LEN);
        /* Two entries of one token (a mistake): the first wins. */
        found = eq && found < 0 ? (long)i : found;
    }
    return found;
}

/* auth_find returns the index of the entry token matches, or -1. First
 * against the tokens seen before (one SHA-256 of the token, then every
 * remembered hash compared in constant time), else against every salted
 * entry (auth_find_salted), remembering a match. A guess costs the same
 * whatever it is (the remembered hashes are of valid tokens only); a valid
 * token is faster once seen, which tells its holder nothing new. */
static long auth_find(auth *t, const char *token, size_t len)
{
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(token, len, h);
    long found = -1;
    for (size_t i = 0; i < t->cfg->n_tokens; i++) {
        if (atomic_load_explicit(&t->seen[i].state, memory_order_acquire) != 2)
            continue;
        bool eq = crypto_equal(h, t->seen[i].h, CRYPTO_SHA256_LEN);
        found = eq && found < 0 ? (long)i : found;
    }
    if (found >= 0)
        return found;
    found = auth_find_salted(t->cfg, token, len);
    int empty = 0;
    if (found >= 0 && atomic_compare_exchange_strong_explicit(
                          &t->seen[found].state, &empty, 1,
                          memory_order_relaxed, memory_order_relaxed)) {
        memcpy(t->seen[found].h, h, sizeof h);
        atomic_store_explicit(&t->seen[found].state, 2, memory_order_release);
    }
    return found;
}

/* auth_rate_take: one request of token i at now_ns under its
 * requests_per_second (a burst of as many), by the generic cell rate
 * algorithm: one atomic, no lock. false: over the rate. */
static bool auth_rate_take(auth *t, size_t i, int64_t now_ns)
{
    uint32_t rate = t->cfg->requests_per_second;
    if (rate == 0)
        return true;
    int64_t step = 1000000000LL / rate;
    int64_t burst = 1000000000LL - step; /* rate requests at once */
    int64_t tat = atomic_load_explicit(&t->tat[i], memory_order_relaxed);
    for (;;) {
        int64_t base = tat > now_ns ? tat : now_ns;
        if (base - now_ns > burst)
            return false;
        if (atomic_compare_exchange_weak_explicit(&t->tat[i], &tat, base + step,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}

atp_err auth_check(auth *t, const char *token, size_t len, unsigned scope,
                   int64_t now_ns, auth_who *who, char *why, size_t why_len)
{
    ATP_ASSERT(who != NULL && why != NULL && why_len > 0);
    *who = NULL;
    if (!auth_enabled(t) || scope == AUTH_OPEN)
        return ATP_OK;
    const config_auth *a = t->cfg;
    if (token == NULL || len == 0) {
        snprintf(why, why_len,
                 "a token is required (docs/SECURITY.md): "
                 "'token' in the request, or HTTP's "
                 "Authorization: Bearer");
        return ATP_E_UNAUTHENTICATED;
    }
    long i = len <= AUTH_TOKEN_MAX ? auth_find(t, token, len) : -1;
    if (i < 0) {
        snprintf(why, why_len, "unknown token");
        return ATP_E_UNAUTHENTICATED;
    }
    ATP_ASSERT((size_t)i < a->n_tokens);
    const config_token *e = &a->tokens[i];
    if (e->expires_ms > 0 && clock_wall_ms() >= e->expires_ms) {
        snprintf(why, why_len, "token '%s' expired (auth.tokens: expires)",
                 e->name);
        return ATP_E_UNAUTHENTICATED;
    }
    if (scope != AUTH_ANY && (e->scopes & scope) == 0) {
        snprintf(why, why_len, "token '%s' lacks the scope '%s' this needs",
                 e->name, auth_scope_name(scope));
        return ATP_E_FORBIDDEN;
    }
    if (!auth_rate_take(t, (size_t)i, now_ns)) {
        snprintf(why, why_len,
                 "token '%s' is over auth.limits.requests_per_second "
                 "(%u); retry later",
                 e->name, a->requests_per_second);
        return ATP_E_QUOTA;
    }
    *who = e;
    return ATP_OK;
}

const char *auth_client(auth_who who)
{
    return who != NULL ? who->client : NULL;
}

bool auth_token_entry(const char *token, size_t len, const char *name,
                      const char *client, unsigned scopes, char *out,
                      size_t out_len)
{
    /* Names are written double-quoted: any id but one with a quote or a
     * backslash (which would need escapes) reads back as it is. */
    if (strpbrk(name, "\"\\") != NULL ||
        (client != NULL && strpbrk(client, "\"\\") != NULL))
        return false;
    uint8_t salt[16], h[CRYPTO_SHA256_LEN];
    char salt_hex[2 * sizeof salt + 1], h_hex[2 * CRYPTO_SHA256_LEN + 1];
    if (!crypto_random(salt, sizeof salt))
        return false;
    crypto_sha256_salted(salt, sizeof salt, token, len, h);
    crypto_hex(salt, sizeof salt, salt_hex);
    crypto_hex(h, sizeof h, h_hex);
    char sc[32] = "";
    for (unsigned b = CONFIG_SCOPE_READ; b <= CONFIG_SCOPE_ADMIN; b <<= 1)
        if (scopes & b)
            snprintf(sc + strlen(sc), sizeof sc - strlen(sc), "%s%s",
                     sc[0] ? ", " : "", auth_scope_name(b));
    char cl[200] = "";
    if (client != NULL)
        snprintf(cl, sizeof cl, "      client: \"%s\"\n", client);
    int n =
        snprintf(out, out_len,
                 "    - name: \"%s\"\n%s      scopes: [%s]\n      salt: %s\n"
                 "      sha256: %s\n",
                 name, cl, sc, salt_hex, h_hex);
    return n > 0 && (size_t)n < out_len;
}
