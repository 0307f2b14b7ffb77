/*
 * mhd_tls.c - HTTPS: the tls: section's files handed to libmicrohttpd
 * (GnuTLS) at http_start, and the client certificate check of
 * tls.verify_clients (libmicrohttpd asks for the certificate but leaves
 * the check to us). The only file that includes GnuTLS. http_start's
 * thread, then libmicrohttpd's threads.
 */
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <string.h>

#include "common/assert.h"
#include "common/file.h"
#include "common/log.h"
#include "http/mhd_int.h"

/* http_client_cert_ok: with tls.verify_clients on HTTPS, the certificate
 * the client sent verifies against tls.ca_file (GnuTLS, with the trust
 * libmicrohttpd was given), and with `required` one was sent. The chain is
 * verified once per connection (its TLS session, and so its peer, does not
 * change), at its first request; paid only with verification on. */
bool http_client_cert_ok(const http *h, struct MHD_Connection *conn)
{
    if (h->verify == CONFIG_TLS_VERIFY_NONE)
        return true;
    http_conn_ctx *cx = http_conn_ctx_of(conn);
    if (cx != NULL && cx->cert_ok)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return false;
    gnutls_session_t s = ci->tls_session;
    unsigned n = 0, status = 0;
    bool ok = gnutls_certificate_get_peers(s, &n) == NULL || n == 0
                  ? h->verify == CONFIG_TLS_VERIFY_OPTIONAL
                  : gnutls_certificate_verify_peers2(s, &status) ==
                            GNUTLS_E_SUCCESS &&
                        status == 0;
    if (ok && cx != NULL)
        cx->cert_ok = true;
    return ok;
}

/* http_tls_read: the whole PEM file as a C string, or NULL (logged). */
static char *http_tls_read(const char *what, const char *path)
{
    char *buf = path != NULL ? file_read_all(path, 1 << 20, NULL) : NULL;
    if (buf == NULL)
        log_error("http", "cannot read %s %s for https://", what,
                  path != NULL ? path : "(not configured)");
    return buf;
}

/* http_tls_options fills opts (5 items, MHD_OPTION_END-terminated) with
 * the HTTPS options of the tls: section when service.http_listen is
 * https://. GnuTLS's priority string sets the minimum version. With
 * verify_clients, the client CA makes libmicrohttpd ask for a client
 * certificate; it does not check it: http_client_cert_ok does. false
 * (logged): a file cannot be read. */
bool http_tls_options(http *h, struct MHD_OptionItem *opts, unsigned *flags)
{
    ATP_ASSERT(h->tls_cert == NULL && h->tls_key == NULL); /* read once */
    const config_tls *t = &h->cfg->tls;
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (strncmp(h->cfg->service.http_listen, "https://", 8) != 0)
        return true;
    if ((h->tls_cert = http_tls_read("tls.cert_file", t->cert_file)) == NULL ||
        (h->tls_key = http_tls_read("tls.key_file", t->key_file)) == NULL)
        return false;
    static const char min12[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    static const char min13[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    int n = 0;
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                (void *)(t->min_version == 13 ? min13 : min12)};
    if (t->ca_file != NULL && t->verify_clients != CONFIG_TLS_VERIFY_NONE) {
        if ((h->tls_ca = http_tls_read("tls.ca_file", t->ca_file)) == NULL)
            return false;
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_ca};
        h->verify = t->verify_clients;
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    *flags |= MHD_USE_TLS;
    return true;
}
