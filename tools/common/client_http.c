/*
 * client_http.c - HTTP exchanges over libcurl for the tools' client (see
 * client_http.h). Runs in the caller's thread; libcurl's easy interface
 * blocks it, bounded by CURLOPT_TIMEOUT_MS.
 */
#include "client_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "tools_tls.h"

struct client_http {
    CURL *curl;
    struct curl_slist
        *json_header;              /* Content-Type: application/json (+ auth) */
    struct curl_slist *get_header; /* the Authorization header, or NULL */
    size_t recv_max;
    bool connected;
    bool not_http;     /* the last exchange got no HTTP answer */
    client_text reply; /* being received (client_http_write) */
    bool too_large;
    char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t client_http_once = PTHREAD_ONCE_INIT;
static CURLcode client_http_init_rc = CURLE_FAILED_INIT;

static void client_http_global_init(void)
{
    client_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* client_http_write collects the reply body; returning less than given
 * makes libcurl stop with CURLE_WRITE_ERROR (a reply above recv_max). */
bool client_text_append(client_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *nb = realloc(t->p, cap);
        if (nb == NULL)
            return false;
        t->p = nb;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return true;
}

static size_t client_http_write(char *p, size_t size, size_t n, void *arg)
{
    client_http *h = arg;
    size_t add = size * n;
    if (add > h->recv_max - h->reply.len) {
        h->too_large = true;
        return 0;
    }
    return client_text_append(&h->reply, p, add) ? add : 0;
}

void client_http_easy_defaults(void *curl, client_http_write_fn write,
                               void *arg, char *errbuf)
{
    CURL *c = curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* https://: atpd's certificate checked against --ca (else the
     * system's CAs), ours sent when given (tools_tls.h). */
    const tools_tls *t = tools_tls_get();
    if (t->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
    if (t->cert_file != NULL && t->key_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, t->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, t->key_file);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, arg);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    /* A SKU or id "." or ".." is a path segment of its own: sent as
     * written, not squashed as a relative path (RFC 3986 5.2.4), which
     * would reach another route or another resource. */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
}

bool client_http_auth_header(void *list, const char *token)
{
    struct curl_slist **l = list;
    if (token == NULL)
        return true;
    size_t n = strlen(token) + 32;
    char *line = malloc(n);
    if (line == NULL)
        return false;
    snprintf(line, n, "Authorization: Bearer %s", token);
    struct curl_slist *next = curl_slist_append(*l, line);
    free(line);
    if (next == NULL)
        return false;
    *l = next;
    return true;
}

atp_err client_http_open(size_t recv_max, const char *token, client_http **out,
                         char *err, size_t errlen)
{
    pthread_once(&client_http_once, client_http_global_init);
    if (client_http_init_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s",
                 curl_easy_strerror(client_http_init_rc));
        return ATP_E_TRANSPORT;
    }
    client_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return ATP_E_NOMEM;
    h->recv_max = recv_max;
    h->curl = curl_easy_init();
    h->json_header = curl_slist_append(NULL, "Content-Type: application/json");
    if (h->curl == NULL || h->json_header == NULL ||
        !client_http_auth_header(&h->json_header, token) ||
        !client_http_auth_header(&h->get_header, token)) {
        client_http_close(h);
        snprintf(err, errlen, "out of memory for an HTTP connection");
        return ATP_E_NOMEM;
    }
    client_http_easy_defaults(h->curl, client_http_write, h, h->curl_err);
    *out = h;
    return ATP_OK;
}

void client_http_close(client_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->json_header);
    curl_slist_free_all(h->get_header);
    free(h->reply.p);
    free(h);
}

atp_err client_http_exchange(client_http *h, const char *method,
                             const char *url, const char *body, size_t body_len,
                             int64_t deadline_ms, long *status, char **reply,
                             size_t *reply_len, char *err, size_t errlen)
{
    CURL *c = h->curl;
    long left = (long)(deadline_ms - clock_mono_ms());
    if (left < 1)
        left = 1;
    h->reply.len = 0;
    h->too_large = false;
    h->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, left);
    /* The API's routes are GET without a body, POST, PUT or PATCH with
     * one. */
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "POST") == 0 ? NULL : method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->json_header);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->get_header);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_off_t connect_us = 0;
    if (curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us) ==
            CURLE_OK &&
        connect_us > 0)
        h->connected = true;
    /* atpd's nng ports answer the request with SP bytes: no HTTP */
    h->not_http =
        rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY;
    if (rc != CURLE_OK) {
        const char *why = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);
        if (h->too_large)
            snprintf(err, errlen, "the reply from %s is larger than %zu bytes",
                     url, h->recv_max);
        else
            snprintf(err, errlen, "%s %s: %s", method, url, why);
        return rc == CURLE_OPERATION_TIMEDOUT ? ATP_E_TIMEOUT
               : rc == CURLE_OUT_OF_MEMORY    ? ATP_E_NOMEM
                                              : ATP_E_TRANSPORT;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    /* The reply moves to the caller; the next one starts a new buffer. */
    if (h->reply.p == NULL && !client_text_append(&h->reply, "", 0)) {
        snprintf(err, errlen, "out of memory for an empty reply");
        return ATP_E_NOMEM;
    }
    *reply = h->reply.p;
    *reply_len = h->reply.len;
    h->reply = (client_text){0};
    return ATP_OK;
}

bool client_http_connected(const client_http *h)
{
    return h->connected;
}

bool client_http_not_http(const client_http *h)
{
    return h->not_http;
}
