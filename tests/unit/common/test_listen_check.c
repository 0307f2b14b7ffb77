/*
 * test_listen_check.c - unit tests of src/common/listen_check.c: a TCP port
 * another socket listens on is refused with the reason; the same port
 * once freed, port 0 and non-TCP URLs pass; the same for [::1]:port and
 * for the wildcard host *, and a host too long to be one is left to nng.
 * Loopback only (no name is resolved: that could ask a DNS server). Labels:
 * unit, ops (issue 15).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/listen_check.h"

/* test_listener listens on 127.0.0.1 at a port the system picks. */
static int test_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_taken_then_free(void **state)
{
    (void)state;
    int port;
    int fd = test_listener(&port);
    char url[64], why[256] = "";
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    assert_false(listen_check(url, why, sizeof why));
    assert_non_null(strstr(why, "in use"));
    snprintf(url, sizeof url, "tcp4://127.0.0.1:%d", port);
    assert_false(listen_check(url, why, sizeof why));
    /* tls+tcp:// is a TCP port too (issue 14). */
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port);
    assert_false(listen_check(url, why, sizeof why));
    close(fd);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    assert_true(listen_check(url, why, sizeof why));
}

static void test_ipv6_and_wildcard(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    int port = ntohs(a.sin6_port);
    char url[64], why[256] = "";
    snprintf(url, sizeof url, "tcp://[::1]:%d", port);
    assert_false(listen_check(url, why, sizeof why));
    assert_non_null(strstr(why, "another atpd, listens there"));
    close(fd);
    assert_true(listen_check(url, why, sizeof why));

    /* *: every address of the machine, 127.0.0.1 among them. */
    int fd4 = test_listener(&port);
    snprintf(url, sizeof url, "tcp4://*:%d", port);
    why[0] = '\0';
    assert_false(listen_check(url, why, sizeof why));
    assert_non_null(strstr(why, "in use"));
    close(fd4);
}

static void test_nothing_to_check(void **state)
{
    (void)state;
    char why[256];
    assert_true(listen_check("tcp://127.0.0.1:0", why, sizeof why));
    assert_true(listen_check("ipc:///tmp/atpd-test.ipc", why, sizeof why));
    assert_true(listen_check("inproc://x", why, sizeof why));
    /* A host longer than any name: not probed (nng says what is wrong). */
    char url[400] = "tcp://";
    memset(url + 6, 'h', 300);
    strcpy(url + 306, ":7450");
    assert_true(listen_check(url, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_then_free),
        cmocka_unit_test(test_ipv6_and_wildcard),
        cmocka_unit_test(test_nothing_to_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
