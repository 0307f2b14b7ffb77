/* tools_tls.c - see tools_tls.h. nng's TLS (mbedTLS) for tls+tcp://;
 * https:// is libcurl's (client_http.c reads tools_tls_get). */
#include "tools_tls.h"

#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"

/* A PEM certificate chain or key is a few KiB. */
#define TOOLS_TLS_FILE_MAX (1 << 20)

static tools_tls tools_tls_files;

void tools_tls_set(const tools_tls *t)
{
    tools_tls_files = *t;
}

const tools_tls *tools_tls_get(void)
{
    return &tools_tls_files;
}

bool tools_tls_check(const tools_tls *t, char *err, size_t errlen)
{
    if ((t->cert_file == NULL) != (t->key_file == NULL)) {
        snprintf(err, errlen, "--cert and --key go together");
        return false;
    }
    return true;
}

/* tools_tls_host: HOST of tls+tcp://HOST:PORT ([v6] without brackets). */
static bool tools_tls_host(const char *url, char *host, size_t n)
{
    const char *h = strstr(url, "://");
    if (h == NULL)
        return false;
    h += 3;
    const char *end = *h == '[' ? strchr(++h, ']') : strrchr(h, ':');
    if (end == NULL || end == h || (size_t)(end - h) >= n)
        return false;
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    return true;
}

/* tools_tls_config: a client configuration of the process's files for
 * url. */
static int tools_tls_config(const char *url, nng_tls_config **out, char *err,
                            size_t errlen)
{
    const tools_tls *t = &tools_tls_files;
    nng_tls_config *c;
    int rv;
    if (t->ca_file == NULL) {
        snprintf(err, errlen,
                 "a tls+tcp:// endpoint needs --ca FILE (the CA of atpd's "
                 "certificate)");
        return NNG_EINVAL;
    }
    if ((rv = nng_tls_config_alloc(&c, NNG_TLS_MODE_CLIENT)) != 0) {
        snprintf(err, errlen, "cannot create a TLS configuration: %s",
                 nng_strerror(rv));
        return rv;
    }
    const char *what = "--ca";
    if ((rv = nng_tls_config_ca_file(c, t->ca_file)) == 0 &&
        (rv = nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED)) == 0 &&
        (rv = nng_tls_config_version(c, NNG_TLS_1_2, NNG_TLS_1_2)) == 0 &&
        t->cert_file != NULL) {
        /* nng wants certificate and key in one file, or both in memory:
         * read both. */
        what = "--cert/--key";
        char *cert = file_read_all(t->cert_file, TOOLS_TLS_FILE_MAX, NULL),
             *key = file_read_all(t->key_file, TOOLS_TLS_FILE_MAX, NULL);
        rv = cert == NULL || key == NULL
                 ? NNG_ENOENT
                 : nng_tls_config_own_cert(c, cert, key, NULL);
        free(cert);
        free(key);
    }
    /* The server's name is checked against its certificate: the URL's
     * host, as written (mbedTLS 2.28 compares it with the CN and the DNS
     * names, so an address must be written there as well). */
    if (rv == 0) {
        what = "the URL's host";
        char host[256];
        rv = tools_tls_host(url, host, sizeof host)
                 ? nng_tls_config_server_name(c, host)
                 : NNG_EADDRINVAL;
    }
    if (rv != 0) {
        snprintf(err, errlen, "%s refused: %s", what, nng_strerror(rv));
        nng_tls_config_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

int tools_tls_dial(nng_socket s, const char *url, int flags, char *err,
                   size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (strncmp(url, "tls+", 4) != 0)
        return nng_dial(s, url, NULL, flags);
    char buf[256];
    if (err == NULL) {
        err = buf;
        errlen = sizeof buf;
    }
    nng_dialer d;
    nng_tls_config *c = NULL;
    int rv = nng_dialer_create(&d, s, url);
    if (rv != 0)
        return rv;
    if ((rv = tools_tls_config(url, &c, err, errlen)) != 0 ||
        (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c)) != 0 ||
        (rv = nng_dialer_start(d, flags)) != 0) {
        if (c != NULL)
            nng_tls_config_free(c);
        nng_dialer_close(d);
        return rv;
    }
    nng_tls_config_free(c); /* the dialer holds it */
    return 0;
}

const char *tools_dial_url(const char *given, const char *listen,
                           const char *dflt, char *buf, size_t size)
{
    const char *u = given != NULL ? given : listen != NULL ? listen : dflt;
    const char *star = strstr(u, "://*:");
    if (star == NULL)
        return u;
    snprintf(buf, size, "%.*s://127.0.0.1:%s", (int)(star - u), u, star + 5);
    return buf;
}
