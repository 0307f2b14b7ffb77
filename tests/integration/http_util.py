"""http_util.py - the HTTP front end's test helpers (docs/HTTP.md).

Standard library only: http.client for ordinary requests, raw sockets for
what http.client cannot do (pipelining, half-sent requests). Loopback only;
every socket has a timeout (scaled by harness.TIME_FACTOR).
"""

import http.client
import json
import os
import re
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resv_util as U  # noqa: E402

ALL = ["on_hand", "allocated", "held"]


def http_config(h, http_service=None, **resv):
    """Regions east and west (locations E1, W1), channels web and app, one
    source wms for both, HTTP on a free loopback port; http_service: more
    service keys (http_timeout, ...)."""
    svc = {"http_listen": "http://127.0.0.1:0"}
    svc.update(http_service or {})
    r = dict(durability="sync", min_ttl="2s", default_ttl="10m", max_ttl="1h",
             committed_ttl="2h", retention="1h", max_lines=1000)
    r.update(resv)
    return U.resv_config(h, ["east", "west"], [("E1", "east"), ("W1", "west")],
                         [("wms", ["E1", "W1"], ALL)], channels=("web", "app"),
                         service=svc, **r)


def http_addr(d):
    """(host, port) of d's HTTP listener, from its ready file."""
    url = d.ready.get("http")
    if not url:
        raise harness.TestFailure("ready file has no 'http' URL: %r" % d.ready)
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


def metric_sums(d):
    """{name: the sum of its samples} of d's GET /metrics (labels summed)."""
    host, port = http_addr(d)
    conn = http.client.HTTPConnection(host, port, timeout=10 * harness.TIME_FACTOR)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
    finally:
        conn.close()
    if r.status != 200:
        raise harness.TestFailure("GET /metrics: HTTP %d %r" % (r.status, body[:300]))
    out = {}
    for line in body.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


class Http:
    """One keep-alive connection to d's HTTP listener."""

    def __init__(self, d, timeout_s=10.0):
        self.host, self.port = http_addr(d)
        self.timeout_s = timeout_s * harness.TIME_FACTOR
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def close(self):
        self.conn.close()

    def call(self, method, path, body=None, headers=None):
        """(status, headers {lower-case name: value}, parsed JSON reply).
        body: a dict/list (sent as JSON), bytes or str (sent as they are)."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=body, headers=hdrs)
        r = self.conn.getresponse()
        raw = r.read()
        try:
            text = raw.decode("utf-8")  # strict: every reply is UTF-8
            doc = json.loads(text)
        except (UnicodeDecodeError, ValueError) as e:
            raise harness.TestFailure("%s %s: reply is no UTF-8 JSON (%s): %r"
                                      % (method, path, e, raw[:200]))
        return r.status, {k.lower(): v for k, v in r.getheaders()}, doc

    def ok(self, method, path, body=None, status=200):
        st, _, doc = self.call(method, path, body)
        if st != status or doc.get("ok") is not True:
            raise harness.TestFailure("%s %s: HTTP %d %r (want %d, ok)"
                                      % (method, path, st, doc, status))
        return doc


def q(s):
    """A path segment, percent-encoded (every byte but unreserved ones)."""
    return urllib.parse.quote(s, safe="")


def read_response(f, head=False):
    """One HTTP/1.1 response from the binary file f: (status, headers, body
    bytes). Content-Length bodies only (atpd's replies); none after a HEAD
    request (head=True), whatever Content-Length says."""
    line = f.readline()
    if not line:
        raise harness.TestFailure("connection closed before a response")
    parts = line.decode("ascii").split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, v = line.decode("latin-1").split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = 0 if head else int(headers.get("content-length", "0"))
    body = f.read(n)
    return status, headers, body


def raw_socket(d, timeout_s=10.0):
    host, port = http_addr(d)
    s = socket.create_connection((host, port), timeout=timeout_s * harness.TIME_FACTOR)
    return s


def request_bytes(method, path, body=None, extra=""):
    """An HTTP/1.1 request as bytes (Host header, Content-Length)."""
    b = b"" if body is None else (json.dumps(body).encode() if isinstance(body, (dict, list))
                                  else body)
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (method, path, extra)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
    return head.encode() + b"\r\n" + b


def seed(feed, stock):
    """Set on_hand for [(sku, location, qty)] through source wms; waits
    until applied."""
    feed.publish("wms", [[2, s, l, 0, qty] for s, l, qty in stock])
