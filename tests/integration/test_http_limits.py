#!/usr/bin/python3
"""test_http_limits.py - the HTTP front end's limits (docs/HTTP.md, "Limits").

- slowloris: a client that sends half a request line and headers, and one
  that sends half a body, are dropped after service.http_timeout, while
  another client is served all along; an idle keep-alive connection too;
- service.http_max_connections: connections past it are not served until
  one closes; then they are;
- service.http_max_header_bytes: a request with larger headers is refused
  (libmicrohttpd's own 431), and atpd keeps serving;
- a request waiting on the engine (a reservation) does not hold up others
  on other connections.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

MAX_CONN = 6


def closed_by_peer(s, timeout_s):
    """True when the peer closes s (EOF or reset) within timeout_s."""
    s.settimeout(timeout_s)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def main(h):
    ck = harness.Checks(h)
    cfg = H.http_config(h, {"http_timeout": "1s", "http_max_header_bytes": 4096,
                            "http_threads": 1})
    d = h.start_atpd(cfg)
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    H.seed(feed, [("A", "E1", 10)])

    # ---- slowloris ---------------------------------------------------------
    half_head = H.raw_socket(d)
    half_head.sendall(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    half_body = H.raw_socket(d)
    half_body.sendall(b"POST /v1/availability/cart HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"lines\":")
    idle = H.raw_socket(d)
    idle.sendall(H.request_bytes("GET", "/v1/status"))
    st, _, _ = H.read_response(idle.makefile("rb"))
    ck.eq(st, 200, "the idle connection's first request")
    t0 = time.monotonic()
    w = H.Http(d)
    served = 0
    # Another client is served while the slow ones hang, up to their drop.
    deadline = t0 + 8 * harness.TIME_FACTOR
    dropped = {}
    while time.monotonic() < deadline and len(dropped) < 3:
        w.ok("GET", "/v1/availability/A/east")
        served += 1
        for name, s in (("half headers", half_head), ("half body", half_body), ("idle", idle)):
            if name not in dropped and closed_by_peer(s, 0.05):
                dropped[name] = time.monotonic() - t0
    ck.eq(sorted(dropped), ["half body", "half headers", "idle"],
          "every slow or idle connection is dropped (after %r)" % dropped)
    ck.check(all(0.5 <= t <= 6 * harness.TIME_FACTOR for t in dropped.values()),
             "dropped after about http_timeout (1 s): %r", dropped)
    ck.check(served >= 3, "another client was served meanwhile (%d requests)", served)
    ck.check(c.status()["http"]["timed_out"] >= 3,
             "status counts them in http.timed_out: %r", c.status()["http"])
    m = H.raw_socket(d)
    m.sendall(H.request_bytes("GET", "/metrics"))
    _, _, text = H.read_response(m.makefile("rb"))
    m.close()
    n = [int(line.split()[1]) for line in text.decode().splitlines()
         if line.startswith("atpd_http_timed_out_total ")]
    ck.check(n and n[0] >= 3, "and /metrics in atpd_http_timed_out_total: %r", n)
    for s in (half_head, half_body, idle):
        s.close()
    w.close()

    # ---- connection limit (an atpd of its own: no idle timeout meanwhile) ---
    d2 = h.start_atpd(H.http_config(h, {"http_max_connections": MAX_CONN}), name="atpd-conn")
    socks = []
    for i in range(MAX_CONN):
        s = H.raw_socket(d2)
        s.sendall(H.request_bytes("GET", "/v1/availability/A/east"))
        st, _, _ = H.read_response(s.makefile("rb"))
        ck.eq(st, 200, "connection %d of %d is served" % (i + 1, MAX_CONN))
        socks.append(s)
    extra = H.raw_socket(d2)
    extra.settimeout(0.5 * harness.TIME_FACTOR)
    answered = None
    try:
        extra.sendall(H.request_bytes("GET", "/v1/availability/A/east"))
        data = extra.recv(4096)
        answered = bool(data)
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        answered = False
    ck.eq(answered, False, "a connection past http_max_connections is not served")
    extra.close()
    socks.pop().close()
    # One slot is free again: a new connection is served (bounded retries:
    # atpd notices the close on its next turn).
    def served_again():
        try:
            s = H.raw_socket(d2, timeout_s=1)
            s.sendall(H.request_bytes("GET", "/v1/availability/A/east"))
            st, _, _ = H.read_response(s.makefile("rb"))
            s.close()
            return st == 200
        except (OSError, harness.TestFailure):
            return False
    harness.wait_until(served_again, 10 * harness.TIME_FACTOR, 0.1,
                       "a connection served once another closed")
    for s in socks:
        s.close()
    d2.stop()

    # ---- two Content-Length headers that differ ----------------------------
    # (RFC 9112 6.3): refused before the body, and the connection closed, so
    # what follows is never read as a request of its own (smuggling).
    s = H.raw_socket(d)
    s.sendall(b"POST /v1/availability/cart HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 5\r\n"
              b"Content-Length: 7\r\n\r\n{}{}{}{}GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
    f = s.makefile("rb")
    st, _, body = H.read_response(f)
    ck.eq((st, harness.error_code(json.loads(body))), (400, 1),
          "two Content-Length headers: 400 bad_request (%r)" % (body,))
    ck.check(b"Content-Length" in body, "the message says why: %r" % (body,))
    try:
        rest = f.read()  # up to the close (the socket's timeout bounds it)
    except (socket.timeout, ConnectionResetError):
        rest = b"(not closed)"
    ck.eq(rest, b"", "and the connection is closed: nothing after it is answered")
    s.close()

    # ---- header size -------------------------------------------------------
    s = H.raw_socket(d)
    s.sendall(H.request_bytes("GET", "/v1/status", extra="X-Big: %s\r\n" % ("y" * 8000)))
    try:
        st, _, _ = H.read_response(s.makefile("rb"))
    except (harness.TestFailure, ConnectionResetError):
        st = None  # closed without an answer: refused too
    ck.check(st is None or st in (413, 431), "headers over http_max_header_bytes: %r", st)
    s.close()

    # ---- a waiting reservation does not hold others up ---------------------
    w1, w2 = H.Http(d), H.Http(d)
    w1.ok("POST", "/v1/reservations", {"id": "r1", "lines": [["A", "east", 1]]}, status=201)
    for _ in range(20):
        w2.ok("GET", "/v1/availability/A/east")
        w1.ok("POST", "/v1/reservations/r1/extend", {"ttl_ms": 600000})
    ck.eq(w2.ok("GET", "/v1/availability/A/east")["reserved"], 1, "reserved after the extends")
    w1.close()
    w2.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_limits")
