/*
 * test_auth.c - src/auth and the config's auth section: a token matches
 * the entry whose salted SHA-256 it gives (a vector computed outside atpd,
 * so the file format is what docs/CONFIG.md says), a missing, unknown or
 * too long token is unauthenticated, a valid one without the op's scope
 * forbidden, the probes open, every op of the protocol in the scope
 * table, the rate limit answers quota past its burst and recovers, tokens
 * that `auth_token_entry` prints load back and match, the section's
 * errors name their line, and a listener beyond loopback without tokens
 * is refused unless allow_insecure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "config/config.h"

/* salt 0001020304050607; sha256 = SHA-256(salt || token), by Python's
 * hashlib. */
#define SALT "0001020304050607"
#define H_READ                                                                 \
    "32da88739560b65d98b07ecf3d1cf02fd3ba80b6ccd2a3c8e702bc15c80b65da"
#define H_ALL "d96f2cf15e41734497d4226a6e08dab3b2eb7301e9342905979ca245b93f73ad"

static const char base_yaml[] = "auth:\n"
                                "  tokens:\n"
                                "    - name: dash\n"
                                "      scopes: [read]\n"
                                "      salt: " SALT "\n"
                                "      sha256: " H_READ "\n"
                                "    - name: checkout\n"
                                "      client: shop-a\n"
                                "      scopes: [read, reserve, admin]\n"
                                "      salt: " SALT "\n"
                                "      sha256: " H_ALL "\n";

static void load(const char *yaml, config *c)
{
    config_diags d;
    atp_err err = config_load_string(yaml, strlen(yaml), c, &d);
    for (size_t i = 0; i < d.n; i++)
        print_message("  %d: %s\n", d.items[i].line, d.items[i].message);
    config_diags_fini(&d);
    assert_int_equal(err, ATP_OK);
}

/* load_error: yaml must fail with a message containing want at line. */
static void load_error(const char *yaml, int line, const char *want)
{
    config c;
    config_diags d;
    assert_int_equal(config_load_string(yaml, strlen(yaml), &c, &d),
                     ATP_E_CONFIG);
    bool found = false;
    for (size_t i = 0; i < d.n; i++) {
        print_message("  %d: %s\n", d.items[i].line, d.items[i].message);
        found |=
            d.items[i].line == line && strstr(d.items[i].message, want) != NULL;
    }
    config_diags_fini(&d);
    assert_true(found);
}

static atp_err check(auth *t, const char *tok, unsigned scope, auth_who *who)
{
    char why[200];
    return auth_check(t, tok, tok ? strlen(tok) : 0, scope, 0, who, why,
                      sizeof why);
}

static void test_tokens_and_scopes(void **state)
{
    (void)state;
    config c;
    load(base_yaml, &c);
    assert_int_equal(c.auth.n_tokens, 2);
    assert_int_equal(c.auth.tokens[0].scopes, CONFIG_SCOPE_READ);
    assert_string_equal(c.auth.tokens[1].client, "shop-a");
    auth *t;
    assert_int_equal(auth_alloc(&c.auth, &t), ATP_OK);
    assert_true(auth_enabled(t));
    auth_who who;
    assert_int_equal(check(t, "s3cret-read", CONFIG_SCOPE_READ, &who), ATP_OK);
    assert_string_equal(who->name, "dash");
    assert_null(auth_client(who));
    assert_int_equal(check(t, "s3cret-read", CONFIG_SCOPE_RESERVE, &who),
                     ATP_E_FORBIDDEN);
    assert_null(who);
    assert_int_equal(check(t, "s3cret-read", CONFIG_SCOPE_ADMIN, &who),
                     ATP_E_FORBIDDEN);
    assert_int_equal(check(t, "s3cret-all", CONFIG_SCOPE_ADMIN, &who), ATP_OK);
    assert_string_equal(auth_client(who), "shop-a");
    /* Missing, empty, unknown, a prefix, one byte more, far too long. */
    assert_int_equal(check(t, NULL, CONFIG_SCOPE_READ, &who),
                     ATP_E_UNAUTHENTICATED);
    assert_int_equal(check(t, "", CONFIG_SCOPE_READ, &who),
                     ATP_E_UNAUTHENTICATED);
    assert_int_equal(check(t, "s3cret-rea", CONFIG_SCOPE_READ, &who),
                     ATP_E_UNAUTHENTICATED);
    assert_int_equal(check(t, "s3cret-readx", CONFIG_SCOPE_READ, &who),
                     ATP_E_UNAUTHENTICATED);
    char big[AUTH_TOKEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(check(t, big, CONFIG_SCOPE_READ, &who),
                     ATP_E_UNAUTHENTICATED);
    /* Open ops need nothing; an unknown op any valid token. */
    assert_int_equal(check(t, NULL, AUTH_OPEN, &who), ATP_OK);
    assert_null(who);
    assert_int_equal(check(t, "s3cret-read", AUTH_ANY, &who), ATP_OK);
    assert_int_equal(check(t, "nope", AUTH_ANY, &who), ATP_E_UNAUTHENTICATED);
    /* The reason never echoes the token. */
    char why[200];
    auth_check(t, "my-secret-guess", 15, CONFIG_SCOPE_READ, 0, &who, why,
               sizeof why);
    assert_null(strstr(why, "my-secret-guess"));
    auth_free(t);
    config_fini(&c);
}

static void test_off_without_tokens(void **state)
{
    (void)state;
    config c;
    load("service: {query_listen: 'tcp://127.0.0.1:0'}\n", &c);
    auth *t;
    assert_int_equal(auth_alloc(&c.auth, &t), ATP_OK);
    assert_false(auth_enabled(t));
    auth_who who = (auth_who)1;
    assert_int_equal(check(t, NULL, CONFIG_SCOPE_ADMIN, &who), ATP_OK);
    assert_null(who);
    auth_free(t);
    config_fini(&c);
}

static void test_scope_table(void **state)
{
    (void)state;
    static const struct {
        const char *op;
        unsigned scope;
    } want[] = {
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
        {"feed", CONFIG_SCOPE_READ},
        {"metrics", CONFIG_SCOPE_READ},
        {"reserve", CONFIG_SCOPE_RESERVE},
        {"commit", CONFIG_SCOPE_RESERVE},
        {"release", CONFIG_SCOPE_RESERVE},
        {"extend", CONFIG_SCOPE_RESERVE},
        {"reservation", CONFIG_SCOPE_RESERVE},
        {"snapshot", CONFIG_SCOPE_ADMIN},
        {"backup", CONFIG_SCOPE_ADMIN},
        /* Not named: closed (admin) until someone decides. */
        {"source_reset", CONFIG_SCOPE_ADMIN},
        {"atpx", CONFIG_SCOPE_ADMIN},
        {"at", CONFIG_SCOPE_ADMIN},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(auth_op_scope(want[i].op, strlen(want[i].op)),
                         want[i].scope);
}

static void test_rate_limit(void **state)
{
    (void)state;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s  limits: {requests_per_second: 10}\n",
             base_yaml);
    config c;
    load(yaml, &c);
    assert_int_equal(c.auth.requests_per_second, 10);
    auth *t;
    assert_int_equal(auth_alloc(&c.auth, &t), ATP_OK);
    auth_who who;
    char why[200];
    int64_t now = 5000000000LL;
    /* A burst of 10 at one instant, then quota. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(auth_check(t, "s3cret-read", 11, CONFIG_SCOPE_READ,
                                    now, &who, why, sizeof why),
                         ATP_OK);
    assert_int_equal(auth_check(t, "s3cret-read", 11, CONFIG_SCOPE_READ, now,
                                &who, why, sizeof why),
                     ATP_E_QUOTA);
    assert_non_null(strstr(why, "requests_per_second"));
    /* Another token has its own budget. */
    assert_int_equal(auth_check(t, "s3cret-all", 10, CONFIG_SCOPE_READ, now,
                                &who, why, sizeof why),
                     ATP_OK);
    /* 100 ms later: one more. */
    now += 100000000LL;
    assert_int_equal(auth_check(t, "s3cret-read", 11, CONFIG_SCOPE_READ, now,
                                &who, why, sizeof why),
                     ATP_OK);
    assert_int_equal(auth_check(t, "s3cret-read", 11, CONFIG_SCOPE_READ, now,
                                &who, why, sizeof why),
                     ATP_E_QUOTA);
    auth_free(t);
    config_fini(&c);
}

static void test_entry_round_trip(void **state)
{
    (void)state;
    char entry[512], yaml[1024];
    assert_true(auth_token_entry("Zm9vYmFy-tok", 12, "ops", "shop-b",
                                 CONFIG_SCOPE_READ | CONFIG_SCOPE_ADMIN, entry,
                                 sizeof entry));
    snprintf(yaml, sizeof yaml, "auth:\n  tokens:\n%s", entry);
    config c;
    load(yaml, &c);
    assert_int_equal(c.auth.n_tokens, 1);
    assert_int_equal(c.auth.tokens[0].scopes,
                     CONFIG_SCOPE_READ | CONFIG_SCOPE_ADMIN);
    assert_string_equal(c.auth.tokens[0].client, "shop-b");
    auth *t;
    assert_int_equal(auth_alloc(&c.auth, &t), ATP_OK);
    auth_who who;
    assert_int_equal(check(t, "Zm9vYmFy-tok", CONFIG_SCOPE_ADMIN, &who),
                     ATP_OK);
    assert_int_equal(check(t, "Zm9vYmFy-tok", CONFIG_SCOPE_RESERVE, &who),
                     ATP_E_FORBIDDEN);
    auth_free(t);
    config_fini(&c);
    /* A fresh salt each time: two entries of one token differ. */
    char other[512];
    assert_true(auth_token_entry("Zm9vYmFy-tok", 12, "ops", NULL,
                                 CONFIG_SCOPE_READ, other, sizeof other));
    assert_null(strstr(other, "client"));
    assert_string_not_equal(strstr(entry, "salt:"), strstr(other, "salt:"));
}

static void test_section_errors(void **state)
{
    (void)state;
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: [read, write]\n"
               "      salt: " SALT "\n      sha256: " H_READ "\n",
               4, "read, reserve or admin");
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: []\n"
               "      salt: " SALT "\n      sha256: " H_READ "\n",
               4, "at least one");
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: [read]\n"
               "      salt: 0001\n      sha256: " H_READ "\n",
               5, "hex digits");
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: [read]\n"
               "      salt: " SALT "\n      sha256: 32da\n",
               6, "expected 64 hex digits");
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: [read]\n"
               "      salt: " SALT "\n      sha256: " H_READ
               "\n      token: x\n",
               7, "token");
    load_error("auth:\n  tokens:\n    - name: a\n      scopes: [read]\n", 3,
               "missing key 'salt'");
    load_error(
        "auth:\n  tokens:\n"
        "    - {name: a, scopes: [read], salt: " SALT ", sha256: " H_READ "}\n"
        "    - {name: a, scopes: [read], salt: " SALT ", sha256: " H_ALL "}\n",
        4, "duplicate name 'a'");
    load_error("auth:\n  allow_insecure: maybe\n", 2, "true or false");
    load_error("auth:\n  limits: {requests_per_second: -1}\n", 2,
               "requests_per_second");
}

static void test_insecure_listeners(void **state)
{
    (void)state;
    load_error("service:\n  query_listen: 'tcp://0.0.0.0:7070'\n", 2,
               "not a loopback address and auth has no tokens");
    load_error("service:\n  feed_listen: 'tcp://*:7072'\n", 2,
               "allow_insecure");
    load_error("service:\n  http_listen: 'http://[::]:7080'\n", 2,
               "service.http_listen");
    config c;
    char why[512];
    load("service:\n  query_listen: 'tcp://0.0.0.0:7070'\nauth:\n  "
         "allow_insecure: true\n",
         &c);
    assert_false(config_insecure_listener(&c, false, why, sizeof why));
    assert_true(
        config_insecure_listener(&c, true, why, sizeof why)); /* the warning */
    assert_non_null(strstr(why, "tcp://0.0.0.0:7070"));
    config_fini(&c);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "service:\n  query_listen: 'tcp://0.0.0.0:7070'\n%s", base_yaml);
    load(yaml, &c);
    assert_false(config_insecure_listener(&c, true, why, sizeof why));
    config_fini(&c);
    load("service:\n  query_listen: 'tcp://127.0.0.1:0'\n"
         "  http_listen: 'http://[::1]:0'\n  feed_listen: 'ipc:///tmp/x'\n",
         &c);
    assert_false(config_insecure_listener(&c, true, why, sizeof why));
    config_fini(&c);
    /* The address test alone. */
    assert_true(config_url_is_local("tcp://127.0.0.1:7070"));
    assert_true(config_url_is_local("tcp://127.3.2.1:7070"));
    assert_true(config_url_is_local("tcp://localhost:7070"));
    assert_true(config_url_is_local("tcp://[::1]:7070"));
    assert_true(config_url_is_local("http://127.0.0.1:7080"));
    assert_true(config_url_is_local("inproc://x"));
    assert_false(config_url_is_local("tcp://0.0.0.0:7070"));
    assert_false(config_url_is_local("tcp://*:7070"));
    assert_false(config_url_is_local("tcp://[::]:7070"));
    assert_false(config_url_is_local("tcp://10.0.0.5:7070"));
    assert_false(config_url_is_local("tcp://128.0.0.1:7070"));
    assert_false(config_url_is_local("tcp://127.0.0.1.evil:7070"));
    assert_false(config_url_is_local("tcp://host.example:7070"));
    assert_false(config_url_is_local("tcp://[::1.2]:7070"));
}

static void count_change(void *ctx, config_change kind, const char *what)
{
    int *n = ctx;
    assert_int_equal(kind, CONFIG_CHANGE_RESTART);
    assert_string_equal(what, "auth");
    (*n)++;
}

/* A reload that changes the auth section (a token added, a scope, a
 * limit) is reported as needing a restart: the running tokens stay. */
static void test_reload_needs_restart(void **state)
{
    (void)state;
    config a, b;
    load(base_yaml, &a);
    load(base_yaml, &b);
    int n = 0;
    assert_int_equal(config_compare(&a, &b, count_change, &n), 0);
    b.auth.tokens[0].scopes |= CONFIG_SCOPE_ADMIN;
    assert_int_equal(config_compare(&a, &b, count_change, &n), 1);
    b.auth.tokens[0].scopes = a.auth.tokens[0].scopes;
    b.auth.requests_per_second = 5;
    assert_int_equal(config_compare(&a, &b, count_change, &n), 1);
    config_fini(&b);
    load("auth: {allow_insecure: true}\n", &b);
    assert_int_equal(config_compare(&a, &b, count_change, &n), 1);
    assert_int_equal(n, 3);
    config_fini(&a);
    config_fini(&b);
}

/* A token past its `expires` (UTC, on the wall clock) is refused as
 * unauthenticated, one before it works; a malformed time or a 31 February
 * is a config error at its line. */
static void test_expiry(void **state)
{
    (void)state;
    static const char yaml[] = "auth:\n"
                               "  tokens:\n"
                               "    - name: old\n"
                               "      scopes: [read]\n"
                               "      salt: " SALT "\n"
                               "      sha256: " H_READ "\n"
                               "      expires: 2001-01-01T00:00:00Z\n"
                               "    - name: new\n"
                               "      scopes: [read, reserve, admin]\n"
                               "      salt: " SALT "\n"
                               "      sha256: " H_ALL "\n"
                               "      expires: 9999-12-31T23:59:59Z\n";
    config c;
    load(yaml, &c);
    assert_int_equal(c.auth.tokens[0].expires_ms, 978307200000LL);
    auth *t;
    assert_int_equal(auth_alloc(&c.auth, &t), ATP_OK);
    auth_who who;
    char why[200];
    assert_int_equal(auth_check(t, "s3cret-read", 11, CONFIG_SCOPE_READ, 0,
                                &who, why, sizeof why),
                     ATP_E_UNAUTHENTICATED);
    assert_non_null(strstr(why, "token 'old' expired"));
    assert_null(who);
    assert_int_equal(check(t, "s3cret-all", CONFIG_SCOPE_RESERVE, &who),
                     ATP_OK);
    auth_free(t);
    config_fini(&c);
    static const char bad[] = "auth:\n"
                              "  tokens:\n"
                              "    - name: x\n"
                              "      scopes: [read]\n"
                              "      salt: " SALT "\n"
                              "      sha256: " H_READ "\n"
                              "      expires: 2027-02-31T00:00:00Z\n";
    load_error(
        bad, 7,
        "token 'x': expires: expected a UTC time like 2027-01-31T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_and_scopes),
        cmocka_unit_test(test_off_without_tokens),
        cmocka_unit_test(test_scope_table),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_insecure_listeners),
        cmocka_unit_test(test_reload_needs_restart),
        cmocka_unit_test(test_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
