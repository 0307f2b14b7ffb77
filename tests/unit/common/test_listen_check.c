/*
 * test_listen_check.c - unit tests of src/common/listen_check.c: a TCP port
 * another socket listens on is refused with the reason; the same port
 * once freed, port 0 and non-TCP URLs pass. Loopback only (no name is
 * resolved: that could ask a DNS server). Labels: unit, ops (issue 15).
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
    close(fd);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    assert_true(listen_check(url, why, sizeof why));
}

static void test_nothing_to_check(void **state)
{
    (void)state;
    char why[256];
    assert_true(listen_check("tcp://127.0.0.1:0", why, sizeof why));
    assert_true(listen_check("ipc:///tmp/atpd-test.ipc", why, sizeof why));
    assert_true(listen_check("inproc://x", why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_then_free),
        cmocka_unit_test(test_nothing_to_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
