/* listen_check.c - bind-and-close check of a TCP listen URL (start-up, main
 * thread). */
#define _GNU_SOURCE /* getaddrinfo's flags */
#include "common/listen_check.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* listen_check_split finds host and port in "scheme://host:port"; false
 * when url is not TCP (nothing to check). */
static bool listen_check_split(const char *url, char *host, size_t host_len,
                               char *port, size_t port_len, int *family)
{
    static const struct {
        const char *prefix;
        int family;
    } schemes[] = {{"tcp://", AF_UNSPEC},    {"tcp4://", AF_INET},
                   {"tcp6://", AF_INET6},    {"tls+tcp://", AF_UNSPEC},
                   {"tls+tcp4://", AF_INET}, {"tls+tcp6://", AF_INET6}};
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) {
            rest = url + strlen(schemes[i].prefix);
            *family = schemes[i].family;
        }
    const char *colon = rest != NULL ? strrchr(rest, ':') : NULL;
    if (colon == NULL)
        return false;
    const char *h = rest, *h_end = colon;
    if (*h == '[' && h_end > h && h_end[-1] == ']') { /* [::1]:7450 */
        h++;
        h_end--;
    }
    size_t hn = (size_t)(h_end - h);
    if (hn >= host_len || strlen(colon + 1) >= port_len)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    strcpy(port, colon + 1);
    return true;
}

bool listen_check(const char *url, char *why, size_t why_len)
{
    char host[256], port[16];
    int family;
    if (!listen_check_split(url, host, sizeof host, port, sizeof port,
                            &family) ||
        strtol(port, NULL, 10) == 0)
        return true;
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(why, why_len, "cannot resolve '%s': %s", host,
                 gai_strerror(gai));
        return false;
    }
    int err = 0;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        err = errno;
    } else {
        /* As nng does: a port in TIME_WAIT after a restart is not "taken". */
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0)
            err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (err == 0)
        return true;
    snprintf(why, why_len, "%s%s", strerror(err),
             err == EADDRINUSE
                 ? " (another program, or another atpd, listens there)"
             : err == EACCES        ? " (a port below 1024 needs privileges)"
             : err == EADDRNOTAVAIL ? " (no such address on this machine)"
                                    : "");
    return false;
}
