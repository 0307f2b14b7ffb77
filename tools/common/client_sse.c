/*
 * client_sse.c - Server-Sent Events over libcurl's multi interface (see
 * client_sse.h). Runs in the caller's thread: libcurl works only inside
 * client_sse_next, whose waits (curl_multi_poll) are bounded by its
 * timeout.
 */
#include "client_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client_http.h"
#include "codec/codec.h"
#include "common/clock.h"

/* How long one connection attempt may take before it counts as failed
 * (and is retried). */
#define CLIENT_SSE_CONNECT_MS 5000

struct client_sse {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *accept;
    char *url;
    bool active;      /* easy is in multi: a transfer runs */
    bool connected;   /* the running transfer answered 200 */
    bool refused;     /* the last transfer answered another status: report */
    int connections;  /* transfers that answered 200 */
    long status;      /* of the running transfer; 0 until known */
    int64_t retry_at; /* monotonic ms: start the next transfer then */
    client_text in;   /* received text; [off, in.len) not parsed yet */
    size_t off;
    bool overflow;
    char *ev; /* the strings of the event returned */
    size_t ev_cap;
    char curl_err[CURL_ERROR_SIZE];
    char last_error[512];
};

static size_t client_sse_write(char *p, size_t size, size_t n, void *arg)
{
    client_sse *s = arg;
    size_t add = size * n;
    if (s->status == 0) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->status == 200) {
            s->connected = true;
            s->connections++;
        }
    }
    if (add > CLIENT_SSE_BUF_MAX - (s->in.len - s->off)) {
        s->overflow = true;
        return 0; /* ends the transfer: CURLE_WRITE_ERROR */
    }
    if (s->off > 0 && s->in.len + add + 1 > s->in.cap) {
        /* drop what was parsed before growing */
        memmove(s->in.p, s->in.p + s->off, s->in.len - s->off + 1);
        s->in.len -= s->off;
        s->off = 0;
    }
    return client_text_append(&s->in, p, add) ? add : 0;
}

atp_err client_sse_open(const char *url, const char *token, client_sse **out,
                        char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl could not start");
        return ATP_E_TRANSPORT;
    }
    client_sse *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ATP_E_NOMEM;
    s->url = strdup(url);
    s->multi = curl_multi_init();
    s->easy = curl_easy_init();
    s->accept = curl_slist_append(NULL, "Accept: text/event-stream");
    if (s->url == NULL || s->multi == NULL || s->easy == NULL ||
        s->accept == NULL || !client_http_auth_header(&s->accept, token)) {
        client_sse_close(s);
        snprintf(err, errlen, "out of memory for an event stream");
        return ATP_E_NOMEM;
    }
    CURL *c = s->easy;
    client_http_easy_defaults(c, client_sse_write, s, s->curl_err);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->accept);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CLIENT_SSE_CONNECT_MS);
    *out = s;
    return ATP_OK;
}

void client_sse_close(client_sse *s)
{
    if (s == NULL)
        return;
    if (s->active)
        curl_multi_remove_handle(s->multi, s->easy);
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->accept);
    free(s->url);
    free(s->in.p);
    free(s->ev);
    free(s);
}

bool client_sse_event_parse(const char *block, size_t n, char *out,
                            size_t out_cap, client_sse_event *ev)
{
    if (out_cap < n + 16)
        return false;
    /* type, id and data copied apart in out: together never longer than
     * the block they come from, plus "message" and three NULs */
    char type[32] = "message", id[32] = "";
    const char *end = block + n;
    size_t dn = 0;
    bool has_data = false;
    for (const char *line = block; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *next = nl != NULL ? nl + 1 : end;
        size_t ln = (size_t)((nl != NULL ? nl : end) - line);
        if (ln > 0 && line[ln - 1] == '\r')
            ln--;
        const char *colon = memchr(line, ':', ln);
        size_t fn = colon != NULL ? (size_t)(colon - line) : ln;
        const char *val = colon != NULL ? colon + 1 : line + ln;
        size_t vn = (size_t)(line + ln - val);
        if (vn > 0 && *val == ' ') {
            val++;
            vn--;
        }
        if (fn == 4 && memcmp(line, "data", 4) == 0) {
            if (has_data)
                out[dn++] = '\n';
            memcpy(out + dn, val, vn);
            dn += vn;
            has_data = true;
        } else if (fn == 5 && memcmp(line, "event", 5) == 0) {
            snprintf(type, sizeof type, "%.*s", (int)vn, val);
        } else if (fn == 2 && memcmp(line, "id", 2) == 0) {
            snprintf(id, sizeof id, "%.*s", (int)vn, val);
        } /* a comment (fn 0), "retry" and unknown fields: ignored */
        line = next;
    }
    if (!has_data)
        return false;
    out[dn] = '\0';
    char *t = out + dn + 1; /* type and id after the data */
    size_t room = out_cap - (dn + 1);
    int tn = snprintf(t, room, "%s", type);
    snprintf(t + tn + 1, room - (size_t)tn - 1, "%s", id);
    *ev = (client_sse_event){t, t + tn + 1, out, dn};
    return true;
}

/* client_sse_parse takes the next complete event with data from the
 * buffer into *ev. Events without data (the stream's "retry:" preamble,
 * comments) are consumed and skipped, as the SSE standard says. */
static bool client_sse_parse(client_sse *s, client_sse_event *ev)
{
    for (;;) {
        if (s->off >= s->in.len)
            return false; /* also: nothing received yet, in.p NULL */
        char *start = s->in.p + s->off;
        char *end = strstr(start, "\n\n");
        if (end == NULL)
            return false;
        size_t block = (size_t)(end - start);
        s->off += block + 2;
        if (block + 16 > s->ev_cap) {
            char *nb = realloc(s->ev, block + 16);
            if (nb == NULL)
                return false;
            s->ev = nb;
            s->ev_cap = block + 16;
        }
        if (client_sse_event_parse(start, block, s->ev, s->ev_cap, ev))
            return true;
    }
}

/* client_sse_ended: the running transfer finished (the stream ended, the
 * connection failed or the server refused it). */
static void client_sse_ended(client_sse *s, CURLcode rc)
{
    curl_multi_remove_handle(s->multi, s->easy);
    s->active = false;
    s->connected = false;
    s->retry_at = clock_mono_ms() + CLIENT_SSE_RETRY_MS;
    if (s->status != 0 && s->status != 200) {
        char body[200];
        size_t left = s->in.len - s->off;
        body[0] = '\0';
        if (left > 0)
            codec_str_to_text(body, sizeof body, s->in.p + s->off,
                              left < 160 ? left : 160);
        snprintf(s->last_error, sizeof s->last_error, "GET %s: HTTP %ld: %s",
                 s->url, s->status, body);
        s->refused = true;
    } else if (s->overflow) {
        snprintf(s->last_error, sizeof s->last_error,
                 "GET %s: more than %zu bytes without an event", s->url,
                 (size_t)CLIENT_SSE_BUF_MAX);
    } else {
        snprintf(s->last_error, sizeof s->last_error, "GET %s: %s", s->url,
                 rc == CURLE_OK   ? "the stream ended"
                 : s->curl_err[0] ? s->curl_err
                                  : curl_easy_strerror(rc));
    }
    s->off = s->in.len = 0; /* a half event of the old stream is lost */
}

atp_err client_sse_next(client_sse *s, int timeout_ms, client_sse_event *ev)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (client_sse_parse(s, ev))
            return ATP_OK;
        if (s->refused) {
            s->refused = false;
            return ATP_E_TRANSPORT;
        }
        int64_t now = clock_mono_ms();
        if (!s->active && now >= s->retry_at) {
            s->status = 0;
            s->overflow = false;
            s->curl_err[0] = '\0';
            if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
                snprintf(s->last_error, sizeof s->last_error,
                         "libcurl cannot start a transfer");
                return ATP_E_TRANSPORT;
            }
            s->active = true;
        }
        int running = 0;
        curl_multi_perform(s->multi, &running);
        CURLMsg *m;
        int left_msgs;
        while ((m = curl_multi_info_read(s->multi, &left_msgs)) != NULL)
            if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy)
                client_sse_ended(s, m->data.result);
        if (client_sse_parse(s, ev))
            return ATP_OK;
        now = clock_mono_ms();
        if (now >= deadline)
            return s->refused ? (s->refused = false, ATP_E_TRANSPORT)
                              : ATP_E_TIMEOUT;
        int64_t wait = deadline - now;
        if (!s->active && s->retry_at - now < wait)
            wait = s->retry_at - now > 0 ? s->retry_at - now : 1;
        if (wait > 100)
            wait = 100;
        curl_multi_poll(s->multi, NULL, 0, (int)wait, NULL);
    }
}

bool client_sse_connected(const client_sse *s)
{
    return s->connected;
}

int client_sse_connections(const client_sse *s)
{
    return s->connections;
}

const char *client_sse_last_error(const client_sse *s)
{
    return s->last_error;
}
