/*
 * bench_auth.c - what checking a client's token costs atpd per request
 * (docs/PERFORMANCE.md, "Authentication cost"): auth_check with 1, 4 and
 * 16 configured entries (every entry is hashed and compared, whatever
 * matches), for a valid 64-character token and for an unknown one (the
 * same work: the time must not tell them apart), single-threaded.
 * usage: bench_auth [--n N]   (default 1,000,000 checks per case; bounded)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "config/config.h"

#define BENCH_TOKEN                                                            \
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* bench_auth_config loads n entries; the last one is BENCH_TOKEN's. */
static bool bench_auth_config(unsigned n, config *c)
{
    char *doc = malloc(1024 * (n + 1));
    if (doc == NULL)
        return false;
    size_t o = (size_t)sprintf(doc, "auth:\n  tokens:\n");
    for (unsigned i = 0; i < n; i++) {
        char name[32], other[80];
        snprintf(name, sizeof name, "t%u", i);
        snprintf(other, sizeof other, "other-token-%u", i);
        const char *tok = i + 1 == n ? BENCH_TOKEN : other;
        if (!auth_token_entry(tok, strlen(tok), name, NULL, CONFIG_SCOPE_READ,
                              doc + o, 1024)) {
            free(doc);
            return false;
        }
        o += strlen(doc + o);
    }
    atp_err err = config_load_string(doc, o, c, NULL);
    free(doc);
    return err == ATP_OK;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_auth [--n N]\n");
            return 2;
        }
    }
    if (n == 0 || n > UINT64_C(100000000))
        n = 1000000;
    static const unsigned entries[] = {1, 4, 16};
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++) {
        config c;
        auth *t;
        if (!bench_auth_config(entries[k], &c) ||
            auth_alloc(&c.auth, &t) != ATP_OK) {
            fprintf(stderr, "bench_auth: cannot build the token table\n");
            return 1;
        }
        const char *cases[] = {
            BENCH_TOKEN,
            "an unknown token of some length, 64 characters long......."};
        for (int v = 0; v < 2; v++) {
            auth_who who;
            char why[200];
            size_t len = strlen(cases[v]);
            atp_err want = v == 0 ? ATP_OK : ATP_E_UNAUTHENTICATED;
            int64_t t0 = clock_mono_ns();
            for (uint64_t i = 0; i < n; i++)
                if (auth_check(t, cases[v], len, CONFIG_SCOPE_READ, 0, &who,
                               why, sizeof why) != want) {
                    fprintf(stderr, "bench_auth: unexpected answer\n");
                    return 1;
                }
            int64_t t1 = clock_mono_ns();
            printf("%2u entries, %-7s token: %7.1f ns per check\n", entries[k],
                   v == 0 ? "valid" : "unknown", (double)(t1 - t0) / (double)n);
        }
        auth_free(t);
        config_fini(&c);
    }
    return 0;
}
