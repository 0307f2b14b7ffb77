/*
 * test_proc_tcp.c - src/tls/proc_tcp.c, the janitor's reader of the
 * kernel's TCP table: from /proc/net/tcp and tcp6 text it keeps the
 * connections on the watched ports with their inode, local port and peer
 * (local and peer address in network byte order, IPv4-mapped IPv6 as
 * IPv4), and skips
 * listening sockets, other ports, and lines that do not parse. The lines
 * are the kernel's format (proc(5)), 127.0.0.1 printed as 0100007F.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

static const char v4_text[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
    "retrnsmt   uid  timeout inode\n"
    /* the TLS listener itself (port 0x1F90 = 8080): no peer */
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000     0        0 1001 1 0000000000000000 100 0 0 10 0\n"
    /* a connection to it from 127.0.0.1:43442 (0xA9B2) */
    "   1: 0100007F:1F90 0100007F:A9B2 01 00000000:00000000 00:00000000 "
    "00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1\n"
    /* a connection on another port (0x1F91) */
    "   2: 0100007F:1F91 0100007F:A9B4 01 00000000:00000000 00:00000000 "
    "00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1\n"
    /* from 10.1.2.3:443 (printed 0302010A), state CLOSE_WAIT */
    "   3: 0100007F:1F90 0302010A:01BB 08 00000000:00000000 00:00000000 "
    "00000000     0        0 1004 1 0000000000000000 20 4 30 10 -1\n"
    /* broken lines: a short address, no inode */
    "   4: 0100007F:1F9 0100007F:A9B6 01\n"
    "   5: 0100007F:1F90 0100007F:A9B8 01 00000000:00000000 00:00000000 "
    "00000000     0        0\n";

static const char v6_text[] =
    "  sl  local_address                         remote_address          "
    "              st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    /* ::1 -> ::1 port 0x1F90 from 0xC000 */
    "   0: 00000000000000000000000001000000:1F90 "
    "00000000000000000000000001000000:C000 01 00000000:00000000 "
    "00:00000000 00000000     0        0 2001 1 0000000000000000 20 4 0 10 "
    "-1\n"
    /* ::ffff:127.0.0.1 (IPv4-mapped) from port 0xC002 */
    "   1: 0000000000000000FFFF00000100007F:1F90 "
    "0000000000000000FFFF00000100007F:C002 01 00000000:00000000 "
    "00:00000000 00000000     0        0 2002 1 0000000000000000 20 4 0 10 "
    "-1\n";

static void test_v4(void **state)
{
    (void)state;
    const uint16_t ports[] = {8080};
    tls_tcp_conn *c = NULL;
    size_t n = 0, cap = 0;
    assert_true(tls__proc_tcp_parse(v4_text, false, ports, 1, &c, &n, &cap));
    assert_int_equal(n, 2);
    assert_int_equal(c[0].ino, 1002);
    assert_int_equal(c[0].peer.lport, 8080);
    assert_int_equal(c[0].peer.rport, 0xA9B2);
    assert_int_equal(c[0].peer.family, 4);
    static const uint8_t lo[16] = {127, 0, 0, 1};
    assert_memory_equal(c[0].peer.raddr, lo, 16);
    assert_memory_equal(c[0].peer.laddr, lo, 16);
    assert_int_equal(c[1].ino, 1004);
    assert_int_equal(c[1].peer.rport, 443);
    static const uint8_t ten[16] = {10, 1, 2, 3};
    assert_memory_equal(c[1].peer.raddr, ten, 16);
    /* Both ports watched: the other port's connection too. */
    const uint16_t both[] = {8081, 8080};
    n = 0;
    assert_true(tls__proc_tcp_parse(v4_text, false, both, 2, &c, &n, &cap));
    assert_int_equal(n, 3);
    assert_int_equal(c[1].ino, 1003);
    /* No port watched: nothing. */
    n = 0;
    assert_true(tls__proc_tcp_parse(v4_text, false, ports, 0, &c, &n, &cap));
    assert_int_equal(n, 0);
    free(c);
}

static void test_v6(void **state)
{
    (void)state;
    const uint16_t ports[] = {8080};
    tls_tcp_conn *c = NULL;
    size_t n = 0, cap = 0;
    assert_true(tls__proc_tcp_parse(v6_text, true, ports, 1, &c, &n, &cap));
    assert_int_equal(n, 2);
    assert_int_equal(c[0].ino, 2001);
    assert_int_equal(c[0].peer.family, 6);
    uint8_t one[16] = {0};
    one[15] = 1;
    assert_memory_equal(c[0].peer.raddr, one, 16);
    assert_memory_equal(c[0].peer.laddr, one, 16);
    assert_int_equal(c[0].peer.rport, 0xC000);
    /* An IPv4-mapped connection compares equal to the same one seen as
     * IPv4 (how nng may report it): local and peer address alike. */
    assert_int_equal(c[1].peer.family, 4);
    static const uint8_t lo[4] = {127, 0, 0, 1};
    tls_peer p4;
    memset(&p4, 0, sizeof p4);
    p4.lport = 8080;
    p4.rport = 0xC002;
    tls__peer_addr(p4.laddr, lo, false);
    p4.family = tls__peer_addr(p4.raddr, lo, false);
    assert_memory_equal(&p4, &c[1].peer, sizeof p4);
    /* The same peer and port on another local address is another
     * connection (a multi-homed host). */
    static const uint8_t other[4] = {127, 0, 0, 2};
    tls__peer_addr(p4.laddr, other, false);
    assert_memory_not_equal(&p4, &c[1].peer, sizeof p4);
    free(c);
}

static void test_empty_and_header_only(void **state)
{
    (void)state;
    const uint16_t ports[] = {8080};
    tls_tcp_conn *c = NULL;
    size_t n = 0, cap = 0;
    assert_true(tls__proc_tcp_parse("", false, ports, 1, &c, &n, &cap));
    assert_true(tls__proc_tcp_parse("  sl  local_address\n", false, ports, 1,
                                    &c, &n, &cap));
    assert_int_equal(n, 0);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_empty_and_header_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
