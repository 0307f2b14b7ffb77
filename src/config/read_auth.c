/*
 * read_auth.c - the auth section, as far as the sources need it:
 * allow_insecure (docs/CONFIG.md, "auth"), and config_url_is_local. The
 * clients' part of the section (tokens, limits) is the auth work's
 * (docs/SECURITY.md, "Clients"). Main thread at start (or a tool's thread).
 */
#include "config/config_int.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

static const char *const config_auth_keys[] = {"allow_insecure"};

void config__parse_auth(config__walk *w, const yaml_node_t *node)
{
    yaml_node_t *v[1];
    if (!config__map_fields(w, node, "auth", config_auth_keys, 1, v))
        return;
    if (v[0] != NULL) {
        static const char *const choices[] = {"false", "true", NULL};
        int k;
        if (config__get_choice(w, v[0], "auth.allow_insecure", "true or false",
                               choices, &k))
            w->b->c.auth.allow_insecure = k == 1;
    }
}

bool config_url_is_local(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return false;
    size_t scheme = (size_t)(p - url);
    /* ipc:// and inproc:// never leave the machine (file permissions
     * guard an ipc path). */
    if ((scheme == 3 && memcmp(url, "ipc", 3) == 0) ||
        (scheme == 6 && memcmp(url, "inproc", 6) == 0))
        return true;
    const char *h = p + 3, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        return end != NULL && (size_t)(end - h - 1) == 3 && memcmp(h + 1, "::1", 3) == 0;
    }
    end = strrchr(h, ':');
    size_t n = end != NULL ? (size_t)(end - h) : strlen(h);
    if (n == 9 && memcmp(h, "localhost", 9) == 0)
        return true;
    /* 127.0.0.0/8, written as a dotted quad. */
    unsigned a, bb, c, d;
    char tail;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return sscanf(buf, "%u.%u.%u.%u%c", &a, &bb, &c, &d, &tail) == 4 && a == 127 &&
           bb < 256 && c < 256 && d < 256;
}
