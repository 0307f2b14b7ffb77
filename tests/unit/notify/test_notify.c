/*
 * test_notify.c - src/notify/notify.c against a service manager played by
 * the test: a Unix datagram socket named by NOTIFY_SOCKET. Each call sends
 * what systemd expects (READY=1, RELOADING=1 with MONOTONIC_USEC,
 * STOPPING=1, WATCHDOG=1, each with STATUS= when given one); without
 * NOTIFY_SOCKET nothing is sent; the watchdog period is half of
 * WATCHDOG_USEC, and 0 when the watchdog names another process or is
 * unset.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify/notify.h"

static int g_sock = -1;
static char g_path[108];

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "/tmp/atp-notify-%d.sock", (int)getpid());
    unlink(g_path);
    g_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", g_path);
    if (g_sock < 0 || bind(g_sock, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(g_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(g_sock);
    unlink(g_path);
    return 0;
}

/* received: the next datagram, or "" when none came within 5 s. */
static const char *received(char *buf, size_t cap)
{
    ssize_t n = recv(g_sock, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_messages(void **state)
{
    (void)state;
    char buf[600];
    setenv("NOTIFY_SOCKET", g_path, 1);
    notify_ready("ready: 2 regions");
    assert_string_equal(received(buf, sizeof buf),
                        "READY=1\nSTATUS=ready: 2 regions");
    notify_reloading("reloading");
    received(buf, sizeof buf);
    assert_int_equal(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
    assert_true(strtoull(buf + 27, NULL, 10) > 0);
    assert_non_null(strstr(buf, "\nSTATUS=reloading"));
    notify_stopping("stopping");
    assert_string_equal(received(buf, sizeof buf),
                        "STOPPING=1\nSTATUS=stopping");
    notify_watchdog();
    assert_string_equal(received(buf, sizeof buf), "WATCHDOG=1");
}

static void test_nothing_without_socket(void **state)
{
    (void)state;
    char buf[64];
    unsetenv("NOTIFY_SOCKET");
    notify_ready("not sent");
    ssize_t n = recv(g_sock, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(n < 0); /* nothing arrived */
}

static void test_watchdog_period(void **state)
{
    (void)state;
    char pid[32], other[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(other, sizeof other, "%d", (int)getpid() + 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(notify_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "20000000", 1); /* systemd's WatchdogSec=20 */
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(notify_watchdog_ms(), 10000);
    setenv("WATCHDOG_PID", other, 1); /* meant for another process */
    assert_int_equal(notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "1000", 1); /* 1 ms: the period is at least 1 */
    assert_int_equal(notify_watchdog_ms(), 1);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_nothing_without_socket),
        cmocka_unit_test(test_watchdog_period),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
