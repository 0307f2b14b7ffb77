/*
 * read_tls.c - the tls: section (certificate, key, client CA, client
 * verification, minimum version) and the check that every TLS endpoint
 * has what it needs. The files are checked here, at the line that names
 * them, by crypto/x509.h (mbedTLS, the library nng's TLS uses), so that
 * `atpd --check-config` and every start refuse an unreadable, non-PEM or
 * expired file, or a key that is not the certificate's. Main thread at
 * start, like config.c.
 */
#include "config/config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/file.h"
#include "crypto/x509.h"

enum { TLS_CERT, TLS_KEY, TLS_CA, TLS_VERIFY, TLS_MIN_VERSION, TLS_N };

static const char *const config_tls_keys[] = {
    "cert_file", "key_file", "ca_file", "verify_clients", "min_version"};

/* A certificate chain or a key is a few KiB; more is not one. */
#define CONFIG_TLS_FILE_MAX (1024 * 1024)

/* config_tls_file reads a path key and checks the file: certificates, or
 * (is_key) a private key, against cert (the certificate file's contents,
 * at cert_path) when that is not NULL. Returns the path (owned) even when
 * the file is bad: the error is reported, and later checks must not add a
 * misleading "missing" one. *pem gets the contents when they pass (the
 * caller frees), if pem is not NULL. */
static char *config_tls_file(config__walk *w, const yaml_node_t *n,
                             const char *what, bool is_key, const char *cert,
                             const char *cert_path, char **pem)
{
    char *path = config__get_text(w, n, what, "a path to a PEM file");
    if (path == NULL)
        return NULL;
    char why[512];
    char *text = file_read_all(path, CONFIG_TLS_FILE_MAX, NULL);
    bool ok = false;
    if (text == NULL)
        snprintf(why, sizeof why, "cannot be read: %s",
                 errno == EFBIG    ? "larger than 1 MiB"
                 : errno == EINVAL ? "not a regular file"
                                   : strerror(errno));
    else if (is_key)
        ok = crypto_x509_check_key(text, cert, cert_path, why, sizeof why);
    else
        ok = crypto_x509_check_certs(text, why, sizeof why);
    if (!ok)
        config__error(w->b, config__mark_of(n), "%s: %s %s", what, path, why);
    if (ok && pem != NULL)
        *pem = text;
    else
        free(text);
    return path;
}

void config__parse_tls(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[TLS_N];
    if (!config__map_fields(w, node, "tls", config_tls_keys, TLS_N, v))
        return;
    config_tls *t = &w->b->c.tls;
    /* The key is checked against the certificate only when that one is
     * good (cert set): otherwise the certificate's error says it all. */
    char *cert = NULL;
    if (v[TLS_CERT])
        t->cert_file = config_tls_file(w, v[TLS_CERT], "tls.cert_file", false,
                                       NULL, NULL, &cert);
    if (v[TLS_KEY])
        t->key_file = config_tls_file(w, v[TLS_KEY], "tls.key_file", true, cert,
                                      t->cert_file, NULL);
    free(cert);
    if (v[TLS_CA])
        t->ca_file = config_tls_file(w, v[TLS_CA], "tls.ca_file", false, NULL,
                                     NULL, NULL);

    t->verify_clients = t->ca_file != NULL ? CONFIG_TLS_VERIFY_REQUIRED
                                           : CONFIG_TLS_VERIFY_NONE;
    if (v[TLS_VERIFY]) {
        static const char *const choices[] = {"none", "optional", "required",
                                              NULL};
        int k;
        if (config__get_choice(w, v[TLS_VERIFY], "tls.verify_clients",
                               "none, optional or required", choices, &k)) {
            t->verify_clients = k;
            if (k != CONFIG_TLS_VERIFY_NONE && t->ca_file == NULL && !v[TLS_CA])
                config__error(
                    w->b, config__mark_of(v[TLS_VERIFY]),
                    "tls.verify_clients: %s needs tls.ca_file (the CA that "
                    "signs client certificates)",
                    choices[k]);
        }
    }
    t->min_version = 12;
    if (v[TLS_MIN_VERSION]) {
        static const char *const choices[] = {"1.2", "1.3", NULL};
        int k;
        if (config__get_choice(w, v[TLS_MIN_VERSION], "tls.min_version",
                               "1.2 or 1.3", choices, &k))
            t->min_version = 12 + k;
    }
    if (t->cert_file == NULL && !v[TLS_CERT])
        config__error(
            w->b, config__mark_of(node),
            "tls: cert_file is missing (the server's PEM certificate)");
    if (t->key_file == NULL && !v[TLS_KEY])
        config__error(
            w->b, config__mark_of(node),
            "tls: key_file is missing (the certificate's PEM private key)");
}

void config__validate_tls(config__build *b)
{
    const config_service *s = &b->c.service;
    const struct {
        const char *key, *url;
    } eps[] = {
        {"service.query_listen", s->query_listen},
        {"service.ingest_listen", s->ingest_listen},
        {"service.feed_listen", s->feed_listen},
        {"service.control_listen", s->control_listen},
        {"service.http_listen", s->http_listen},
    };
    const config_tls *t = &b->c.tls;
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        if (!config_url_is_tls(eps[i].url))
            continue;
        if (t->cert_file == NULL || t->key_file == NULL)
            config__error(
                b, (config__mark){0},
                "%s: %s needs the tls: section (cert_file and key_file)",
                eps[i].key, eps[i].url);
        /* mbedTLS 2.28 (nng's TLS in Debian 12) stops at TLS 1.2. */
        else if (t->min_version == 13 && strncmp(eps[i].url, "tls+", 4) == 0)
            config__error(
                b, (config__mark){0},
                "%s: %s: tls.min_version 1.3 is only possible for https:// "
                "(nng's TLS, mbedTLS 2.28, has no TLS 1.3)",
                eps[i].key, eps[i].url);
    }
}
