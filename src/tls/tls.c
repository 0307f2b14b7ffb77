/* tls.c - see tls.h. nng 1.5.2 with mbedTLS 2.28 (Debian 12). */
#include "tls/tls.h"

#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/log.h"
#include "tls/tls_int.h"

/* A certificate chain or a key is a few KiB. */
#define TLS_FILE_MAX (1024 * 1024)

/* tls_config_build: a server TLS configuration from t. NULL with why. */
static nng_tls_config *tls_config_build(const config_tls *t, const char **why,
                                        int *rv)
{
    nng_tls_config *c = NULL;
    char *cert = NULL, *key = NULL;
    static const nng_tls_auth_mode modes[] = {
        [CONFIG_TLS_VERIFY_NONE] = NNG_TLS_AUTH_MODE_NONE,
        [CONFIG_TLS_VERIFY_OPTIONAL] = NNG_TLS_AUTH_MODE_OPTIONAL,
        [CONFIG_TLS_VERIFY_REQUIRED] = NNG_TLS_AUTH_MODE_REQUIRED,
    };
    *rv = 0;
    if (t->cert_file == NULL || t->key_file == NULL) {
        *why = "no tls.cert_file and tls.key_file in the configuration";
        return NULL;
    }
    if ((*rv = nng_tls_config_alloc(&c, NNG_TLS_MODE_SERVER)) != 0) {
        *why = "cannot create a TLS configuration";
        return NULL;
    }
    if ((cert = file_read_all(t->cert_file, TLS_FILE_MAX, NULL)) == NULL ||
        (key = file_read_all(t->key_file, TLS_FILE_MAX, NULL)) == NULL) {
        *why = "cannot read tls.cert_file or tls.key_file";
        goto fail;
    }
    if ((*rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0) {
        *why = "tls.cert_file and tls.key_file refused";
        goto fail;
    }
    if (t->ca_file != NULL &&
        (*rv = nng_tls_config_ca_file(c, t->ca_file)) != 0) {
        *why = "tls.ca_file refused";
        goto fail;
    }
    int verify = t->verify_clients >= 0 &&
                         t->verify_clients <= CONFIG_TLS_VERIFY_REQUIRED
                     ? t->verify_clients
                     : CONFIG_TLS_VERIFY_REQUIRED;
    if ((*rv = nng_tls_config_auth_mode(c, modes[verify])) != 0) {
        *why = "tls.verify_clients refused";
        goto fail;
    }
    /* mbedTLS 2.28 has no TLS 1.3: the config refuses min_version 1.3 for
     * nng endpoints, so the range is always 1.2..1.2 here. */
    if ((*rv = nng_tls_config_version(c, NNG_TLS_1_2, NNG_TLS_1_2)) != 0) {
        *why = "TLS 1.2 refused";
        goto fail;
    }
    free(cert);
    free(key);
    return c;
fail:
    free(cert);
    free(key);
    nng_tls_config_free(c);
    return NULL;
}

/* tls_listener_secure gives listener l the TLS configuration of t. */
static atp_err tls_listener_secure(nng_listener l, const char *url,
                                   const config_tls *t, const char *who)
{
    const char *why = NULL;
    int rv;
    nng_tls_config *c = tls_config_build(t, &why, &rv);
    if (c != NULL) {
        /* The listener takes its own hold on c. */
        rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, c);
        nng_tls_config_free(c);
        if (rv == 0)
            return ATP_OK;
        why = "the listener refused its TLS configuration";
    }
    log_error(who, "cannot listen on %s: %s%s%s", url, why, rv != 0 ? ": " : "",
              rv != 0 ? nng_strerror(rv) : "");
    return ATP_E_TRANSPORT;
}

atp_err tls_listen(nng_socket sock, const char *url, const config_tls *t,
                   const char *who, char *bound, size_t bound_n)
{
    nng_listener l;
    int rv = nng_listener_create(&l, sock, url);
    if (rv != 0) {
        log_error(who, "cannot listen on %s: %s", url, nng_strerror(rv));
        return ATP_E_TRANSPORT;
    }
    bool tls = config_url_is_tls(url);
    if (tls && tls_listener_secure(l, url, t, who) != ATP_OK) {
        nng_listener_close(l);
        return ATP_E_TRANSPORT;
    }
    /* Its pipes are recorded before it accepts any (tls_int.h). */
    if (tls && tls__watch_socket(sock) != ATP_OK) {
        log_error(who, "cannot listen on %s: cannot watch its TLS handshakes",
                  url);
        nng_listener_close(l);
        return ATP_E_TRANSPORT;
    }
    if ((rv = nng_listener_start(l, 0)) != 0) {
        log_error(who, "cannot listen on %s: %s", url, nng_strerror(rv));
        nng_listener_close(l);
        return ATP_E_TRANSPORT;
    }
    int port = 0;
    if (tls && (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0 ||
                port <= 0 || port > 65535 ||
                tls__watch_port(sock, (uint16_t)port) != ATP_OK)) {
        log_error(who, "cannot listen on %s: cannot watch its TLS handshakes",
                  url);
        nng_listener_close(l);
        return ATP_E_TRANSPORT;
    }
    char *u;
    snprintf(bound, bound_n, "%s", url);
    if (nng_listener_get_string(l, NNG_OPT_URL, &u) == 0) {
        snprintf(bound, bound_n, "%s", u);
        nng_strfree(u);
    }
    return ATP_OK;
}
