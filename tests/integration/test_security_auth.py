#!/usr/bin/python3
"""test_security_auth.py - clients' tokens and scopes (issue 14, "Clients";
docs/SECURITY.md), on both interfaces of a real atpd:

- every op over nng and every route over HTTP (the SSE change feed and
  /metrics too) works with a token of its scope;
- without a token, with an unknown or an expired one, or with one that
  lacks the scope,
  each is refused with unauthenticated (29, HTTP 401 + WWW-Authenticate)
  or forbidden (30, HTTP 403) and changes nothing (the reservations are
  read back with a valid token); ready/health and /healthz, /readyz stay
  open; a "token" member in an HTTP body is no token;
- the refusals are counted in /metrics by op and code;
- tenancy: a token bound to client A cannot see, commit, release or
  extend client B's reservation (not_found) nor replay its id (conflict),
  also after a restart; an unbound token sees all;
- limits: past auth.limits.requests_per_second a token gets quota (31,
  HTTP 429); over http_connections_per_peer a new connection is closed;
- a client listener beyond loopback without tokens: atpd --check-config
  says so, and atpd refuses to start (exit 1) before it binds anything or
  creates its data directory, with the config or a --query-listen
  override; allow_insecure: true passes the check (never started here:
  nothing binds beyond loopback).
"""

import hashlib
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

E_UNAUTH, E_FORBIDDEN, E_QUOTA = 29, 30, 31

SALT = bytes(range(16))
TOKENS = {  # name: (token, scopes, client)
    "reader": ("tok-reader-0123456789", ["read"], None),
    "shop-a": ("tok-shop-a-0123456789", ["read", "reserve"], "a"),
    "shop-b": ("tok-shop-b-0123456789", ["read", "reserve"], "b"),
    "admin": ("tok-admin-0123456789", ["admin"], None),
    "ops": ("tok-ops-0123456789", ["read", "reserve", "admin"], None),
    # every scope, but past its `expires`: refused as unauthenticated
    "expired": ("tok-expired-0123456789", ["read", "reserve", "admin"], None),
}
EXPIRES = {"expired": "2001-01-01T00:00:00Z"}


TOOL_TOKEN = "tok-tool-0123456789"


def token_entries(tokens):
    out = []
    for name, (tok, scopes, client) in tokens.items():
        e = {"name": name, "scopes": scopes, "salt": SALT.hex(),
             "sha256": hashlib.sha256(SALT + tok.encode()).hexdigest()}
        if client:
            e["client"] = client
        if name in EXPIRES:
            e["expires"] = EXPIRES[name]
        out.append(e)
    return out


def tok(name):
    return TOKENS[name][0]


class TokClient(U.Client):
    """A query client that puts its token (None: none) into every request."""

    def __init__(self, port, token, d=None):
        super().__init__(port, d=d)
        self.token = token

    def req_once(self, body):
        if self.token is not None and isinstance(body, dict):
            body = dict(body, token=self.token)
        return super().req_once(body)


def nng_ops(rid, backup_dir):
    """(op, request, scope) for every op of docs/PROTOCOL.md."""
    return [
        ("atp", {"op": "atp", "sku": "A", "region": "east"}, "read"),
        ("cart", {"op": "cart", "lines": [["A", "east", 1]]}, "read"),
        ("regions", {"op": "regions", "sku": "A"}, "read"),
        ("scan", {"op": "scan", "region": "east"}, "read"),
        ("status", {"op": "status"}, "read"),
        ("sources", {"op": "sources"}, "read"),
        ("explain", {"op": "explain", "sku": "A"}, "read"),
        ("pickup", {"op": "pickup", "sku": "A", "region": "east"}, "read"),
        ("pickup_cart", {"op": "pickup_cart", "region": "east", "lines": [["A", 1]]}, "read"),
        ("reserve", {"op": "reserve", "id": rid, "lines": [["A", "east", 2]]}, "reserve"),
        ("reservation", {"op": "reservation", "id": rid}, "reserve"),
        ("extend", {"op": "extend", "id": rid, "ttl_ms": 600000}, "reserve"),
        ("commit", {"op": "commit", "id": rid}, "reserve"),
        ("release", {"op": "release", "id": rid}, "reserve"),
        ("snapshot", {"op": "snapshot"}, "admin"),
        ("backup", {"op": "backup", "dir": backup_dir}, "admin"),
    ]


def check_nng(ck, d, anon, c_for):
    """Every op without, with a wrong and with an out-of-scope token, then
    with its own: refusals first, so that nothing they could change exists
    yet, then the real ones in lifecycle order."""
    probe = c_for("ops")
    before = probe.status()["reservations"]
    out_of_scope = {"read": "admin", "reserve": "reader", "admin": "reader"}
    refused = {}
    for op, body, scope in nng_ops("N1", os.path.join(d.dir, "backup-refused")):
        for who, client, want in (("none", anon, E_UNAUTH),
                                  ("wrong", TokClient(d.query_port, "tok-nope", d=d), E_UNAUTH),
                                  ("empty", TokClient(d.query_port, "", d=d), E_UNAUTH),
                                  ("expired", c_for("expired"), E_UNAUTH),
                                  ("scope", c_for(out_of_scope[scope]), E_FORBIDDEN)):
            r = client.req(body)
            ck.eq(harness.error_code(r), want, "nng %s with %s token: code" % (op, who))
            ck.check("tok-" not in str(r), "nng %s: the reply echoes no token: %r", op, r)
            refused[(op, want)] = refused.get((op, want), 0) + 1
    # Nothing changed: no reservation N1, the counters as before, no backup.
    ck.eq(probe.get("N1"), None, "refused reserve created nothing")
    after = probe.status()["reservations"]
    for k in ("open", "held", "granted", "refused"):
        ck.eq(after[k], before[k], "status.reservations.%s unchanged by refusals" % k)
    ck.check(not os.path.exists(os.path.join(d.dir, "backup-refused")),
             "a refused backup wrote nothing")
    # Open ops need no token.
    for op in ("ready", "health"):
        ck.check(anon.req({"op": op}).get("ok") is True, "nng %s without a token works", op)
    # An unknown op: authentication first, then unknown_op.
    ck.eq(harness.error_code(anon.req({"op": "frobnicate"})), E_UNAUTH, "unknown op, no token")
    ck.eq(harness.error_code(c_for("reader").req({"op": "frobnicate"})), 2,
          "unknown op, valid token: unknown_op")
    # A token that is not a string is no token.
    ck.eq(harness.error_code(anon.req({"op": "atp", "sku": "A", "region": "east",
                                       "token": 12345})), E_UNAUTH, "integer token")
    refused[("atp", E_UNAUTH)] += 1
    # Each op with a token of its scope.
    scoped = {"read": c_for("reader"), "reserve": c_for("shop-a"), "admin": c_for("admin")}
    for op, body, scope in nng_ops("N1", os.path.join(d.dir, "backup-ok")):
        r = scoped[scope].req(body)
        ck.check(r.get("ok") is True, "nng %s with a %s token: %r", op, scope, r)
    ck.check(os.path.isdir(os.path.join(d.dir, "backup-ok")), "backup with admin token wrote")
    return refused


def check_http(ck, d, c_ops):
    w = H.Http(d)

    def call(method, path, body=None, token=None, raw_auth=None):
        hdrs = {}
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if raw_auth is not None:
            hdrs["Authorization"] = raw_auth
        return w.call(method, path, body, hdrs)

    routes = [
        ("GET", "/v1/availability/A/east", None, "read", 200),
        ("GET", "/v1/availability/A", None, "read", 200),
        ("POST", "/v1/availability/cart", {"lines": [{"sku": "A", "region": "east", "qty": 1}]},
         "read", 200),
        ("GET", "/v1/regions/east/availability", None, "read", 200),
        ("GET", "/v1/explain/A", None, "read", 200),
        ("GET", "/v1/pickup/east/A", None, "read", 200),
        ("POST", "/v1/pickup/east/cart", {"lines": [{"sku": "A", "qty": 1}]}, "read", 200),
        ("GET", "/v1/sources", None, "read", 200),
        ("GET", "/v1/status", None, "read", 200),
        ("POST", "/v1/reservations", {"id": "H1", "lines": [["A", "east", 1]]}, "reserve", 201),
        ("GET", "/v1/reservations/H1", None, "reserve", 200),
        ("POST", "/v1/reservations/H1/extend", {"ttl_ms": 600000}, "reserve", 200),
        ("POST", "/v1/reservations/H1/commit", {}, "reserve", 200),
        ("POST", "/v1/reservations/H1/release", {}, "reserve", 200),
        ("DELETE", "/v1/reservations/H1", None, "reserve", 200),
        ("POST", "/v1/snapshots", None, "admin", 200),
    ]
    out_of_scope = {"read": "admin", "reserve": "reader", "admin": "reader"}
    scoped = {"read": "reader", "reserve": "shop-a", "admin": "admin"}
    for method, path, body, scope, _ in routes:
        for who, kw, want, status in (
                ("no", {}, E_UNAUTH, 401),
                ("wrong", {"token": "tok-nope"}, E_UNAUTH, 401),
                ("expired", {"token": tok("expired")}, E_UNAUTH, 401),
                ("basic", {"raw_auth": "Basic dG9rOng="}, E_UNAUTH, 401),
                ("out-of-scope", {"token": tok(out_of_scope[scope])}, E_FORBIDDEN, 403)):
            st, hdrs, doc = call(method, path, body, **kw)
            ck.eq((st, harness.error_code(doc)), (status, want),
                  "HTTP %s %s with %s token" % (method, path, who))
            if status == 401:
                ck.check(hdrs.get("www-authenticate", "").startswith("Bearer"),
                         "HTTP %s %s 401 has WWW-Authenticate: Bearer (%r)", method, path,
                         hdrs.get("www-authenticate"))
    # A body's "token" member is no token.
    st, _, doc = call("POST", "/v1/reservations",
                      {"id": "H2", "lines": [["A", "east", 1]], "token": tok("shop-a")})
    ck.eq((st, harness.error_code(doc)), (401, E_UNAUTH), "token in the JSON body is ignored")
    ck.eq(c_ops.get("H1"), None, "refused HTTP reserve created nothing")
    ck.eq(c_ops.get("H2"), None, "body token created nothing")
    for method, path, body, scope, status in routes:
        st, _, doc = call(method, path, body, token=tok(scoped[scope]))
        ck.check(st == status and doc.get("ok") is True,
                 "HTTP %s %s with a %s token: %d %r", method, path, scope, st, doc)
    # The probes stay open.
    for path in ("/healthz", "/readyz"):
        st, _, doc = call("GET", path)
        ck.eq(st, 200, "GET %s without a token" % path)
    # /metrics: read scope, and it counts the refusals by op and code.
    st, _, _ = call("GET", "/metrics")
    ck.eq(st, 401, "GET /metrics without a token")
    w.conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + tok("reader")})
    r = w.conn.getresponse()
    text = r.read().decode()
    ck.eq(r.status, 200, "GET /metrics with a read token")
    w.close()
    return text


def sse_status(d, token):
    """The status line of GET /v1/changes (the stream is then closed)."""
    s = H.raw_socket(d)
    try:
        extra = "Authorization: Bearer %s\r\n" % token if token else ""
        s.sendall(H.request_bytes("GET", "/v1/changes", extra=extra))
        f = s.makefile("rb")
        line = f.readline().decode("ascii", "replace")
        return int(line.split(" ")[1]) if line else 0
    finally:
        s.close()


def check_tenancy(ck, d, c_for):
    a, b, ops = c_for("shop-a"), c_for("shop-b"), c_for("ops")
    r = a.reserve("T1", [["A", "east", 1]])
    ck.check(r.get("granted") is True, "client a reserves T1: %r", r)
    r = ops.reserve("T0", [["A", "east", 1]])
    ck.check(r.get("granted") is True, "an unbound token reserves T0: %r", r)

    def refusals(when):
        for body in ({"op": "reservation", "id": "T1"}, {"op": "commit", "id": "T1"},
                     {"op": "release", "id": "T1"},
                     {"op": "extend", "id": "T1", "ttl_ms": 600000}):
            ck.eq(harness.error_code(b.req(body)), U.E_NOT_FOUND,
                  "%s: client b's %s of a's reservation: not_found" % (when, body["op"]))
        ck.eq(harness.error_code(b.reserve("T1", [["A", "east", 1]])), U.E_CONFLICT,
              "%s: client b replaying a's id: conflict" % when)
        ck.eq(harness.error_code(a.req({"op": "reservation", "id": "T0"})), U.E_NOT_FOUND,
              "%s: a bound client does not see an unbound one's reservation" % when)
        got = a.get("T1")
        ck.check(got is not None and got["state"] == "held",
                 "%s: a's reservation still held for a: %r", when, got)
        ck.check(ops.get("T1") is not None, "%s: an unbound token sees a's reservation" % when)

    refusals("before restart")
    d.stop()
    d.start()
    for cl in (a, b, ops):
        cl.close()
    refusals("after restart")
    ck.check(a.req({"op": "commit", "id": "T1"}).get("ok") is True, "a commits its own T1")


def check_tools(h, ck, d):
    """atpctl: `token hash` makes an entry atpd accepts (the "tool" token
    of main's config); --token and $ATP_TOKEN over nng and HTTP."""
    http = d.ready["http"]
    for ep in (d.query_url, http):
        r = harness.run_ctl(h, ["--endpoint", ep, "--json", "status"])
        ck.check(r.returncode == 1 and "unauthenticated" in r.stderr,
                 "atpctl %s status without a token: exit 1 unauthenticated (%d %r)", ep,
                 r.returncode, r.stderr[-300:])
        ck.check("no token was given" in r.stderr and "ATP_TOKEN" in r.stderr,
                 "atpctl %s says how to give it a token: %r", ep, r.stderr[-300:])
        r = harness.run_ctl(h, ["--endpoint", ep, "--json", "--token", TOOL_TOKEN, "status"])
        ck.check(r.returncode == 0, "atpctl %s --token status: %d %r", ep, r.returncode,
                 r.stderr[-300:])
        env = dict(os.environ, ATP_TOKEN=TOOL_TOKEN)
        rid = "CTL-" + ep.split(":")[0]
        r = subprocess.run([h.atpctl_bin, "--endpoint", ep, "reserve", rid, "A:east:1"],
                           capture_output=True, text=True, env=env,
                           timeout=30 * harness.TIME_FACTOR)
        ck.check(r.returncode == 0, "ATP_TOKEN=... atpctl %s reserve: %d %r", ep,
                 r.returncode, r.stderr[-300:])
        r = harness.run_ctl(h, ["--endpoint", ep, "--token", tok("reader"), "release", rid])
        ck.check(r.returncode == 1 and "forbidden" in r.stderr,
                 "atpctl %s release with a read token: forbidden (%d %r)", ep, r.returncode,
                 r.stderr[-300:])


def check_example_client(h, ck, d):
    """docs/examples/client.py: Client(url, token=...) sends the token."""
    import importlib.util
    path = os.path.join(h.source_dir, "docs", "examples", "client.py")
    spec = importlib.util.spec_from_file_location("atp_example_client", path)
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    c = ex.Client(d.query_url, token=tok("reader"))
    ck.eq(c.atp("A", "east").get("ok"), True, "example client with a token")
    c.close()
    c = ex.Client(d.query_url)
    try:
        c.atp("A", "east")
        ck.check(False, "example client without a token: refused")
    except ex.AtpError as e:
        ck.eq(e.code, E_UNAUTH, "example client without a token: unauthenticated")
    c.close()


def tool_entry(h):
    """The entry `atpctl token hash` prints for TOOL_TOKEN, as a dict."""
    r = subprocess.run([h.atpctl_bin, "token", "hash", "--name", "tool",
                        "--scopes", "read,reserve"], input=TOOL_TOKEN + "\n",
                       capture_output=True, text=True, timeout=30 * harness.TIME_FACTOR)
    if r.returncode != 0:
        raise harness.TestFailure("atpctl token hash: %d %r" % (r.returncode, r.stderr))
    e = {}
    for line in r.stdout.splitlines():
        k, v = line.strip().lstrip("- ").split(": ", 1)
        e[k] = v.strip('"') if k != "scopes" else v.strip("[]").split(", ")
    salt = bytes.fromhex(e["salt"])
    if hashlib.sha256(salt + TOOL_TOKEN.encode()).hexdigest() != e["sha256"]:
        raise harness.TestFailure("atpctl token hash: sha256 is not SHA-256(salt || token)")
    return e


def check_limits(h, ck):
    cfg = H.http_config(h)
    cfg["auth"] = {"tokens": token_entries(TOKENS),
                   "limits": {"requests_per_second": 2, "http_connections_per_peer": 2}}
    d = h.start_atpd(cfg, name="limits")
    c = TokClient(d.query_port, tok("reader"), d=d)
    codes = [harness.error_code(c.req({"op": "atp", "sku": "A", "region": "east"}))
             for _ in range(50)]
    ck.check(E_QUOTA in codes, "50 requests at once over 2/s: quota (%r)", codes)
    ck.check(codes[0] is None, "the first request passes (%r)", codes)
    # Another token has its own budget.
    r = TokClient(d.query_port, tok("ops"), d=d).req({"op": "status"})
    ck.check(r.get("ok") is True, "another token is not limited by the first: %r", r)
    # Over HTTP the same budget: within 50 requests (however slow this
    # machine is) one is over it.
    w = H.Http(d)
    seen = []
    for _ in range(50):
        st, hdrs, doc = w.call("GET", "/v1/status", None,
                               {"Authorization": "Bearer " + tok("reader")})
        seen.append((st, harness.error_code(doc)))
        if st == 429:
            ck.eq(hdrs.get("retry-after"), "1", "429 has Retry-After")
            break
    ck.check((429, E_QUOTA) in seen, "HTTP over the rate: 429 quota (%r)", seen[-3:])
    w.close()
    # Connections per peer: two kept open, the third closed by atpd. The
    # connections closed above may still count for a moment (atpd sees
    # their end asynchronously): wait, bounded, until two are served.
    def two_open():
        socks = [H.raw_socket(d) for _ in range(2)]
        try:
            for s in socks:
                s.sendall(H.request_bytes("GET", "/healthz"))
                H.read_response(s.makefile("rb"))
            return socks
        except (harness.TestFailure, OSError):
            for s in socks:
                s.close()
            return None
    socks = harness.wait_until(two_open, 10 * harness.TIME_FACTOR, 0.05,
                               "two HTTP connections served")
    third = H.raw_socket(d)
    try:
        third.sendall(H.request_bytes("GET", "/healthz"))
        data = third.recv(4096)
    except OSError:
        data = b""
    ck.eq(data, b"", "a third connection from one peer is closed without an answer")
    for s in socks + [third]:
        s.close()
    d.stop()

    # Open reservations per client: 2 for client a, over nng and HTTP.
    cfg = H.http_config(h)
    cfg["auth"] = {"tokens": token_entries(TOKENS), "limits": {"max_open_reservations": 2}}
    d = h.start_atpd(cfg, name="open-limit")
    ops = TokClient(d.query_port, tok("ops"), d=d)
    feed = U.Feeder(d, ops)
    H.seed(feed, [("A", "E1", 100)])
    a = TokClient(d.query_port, tok("shop-a"), d=d)
    for rid in ("L1", "L2"):
        ck.check(a.reserve(rid, [["A", "east", 1]]).get("granted") is True,
                 "client a's reservation %s under the limit", rid)
    r = a.reserve("L3", [["A", "east", 1]])
    ck.eq(harness.error_code(r), E_QUOTA, "client a's third open reservation: quota")
    ck.check("max_open_reservations" in str(r), "the quota message names the limit: %r", r)
    ck.eq(ops.get("L3"), None, "a refused reservation holds nothing")
    w = H.Http(d)
    st, _, doc = w.call("POST", "/v1/reservations", {"id": "L4", "lines": [["A", "east", 1]]},
                        {"Authorization": "Bearer " + tok("shop-a")})
    ck.eq((st, harness.error_code(doc)), (429, E_QUOTA), "HTTP: the third one is 429 quota")
    w.close()
    b = TokClient(d.query_port, tok("shop-b"), d=d)
    ck.check(b.reserve("L5", [["A", "east", 1]]).get("granted") is True,
             "client b is not limited by a's reservations")
    ck.check(a.req({"op": "release", "id": "L1"}).get("ok") is True, "a releases one")
    ck.check(a.reserve("L3", [["A", "east", 1]]).get("granted") is True,
             "then a may hold another")
    feed.close()
    d.stop()


def check_insecure(h, ck):
    base = h.config()
    base["regions"] = [{"id": "east"}]

    def write(name, cfg):
        path = os.path.join(h.tmp, name)
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        return path

    bad = dict(base, service=dict(base["service"], query_listen="tcp://0.0.0.0:0",
                                  data_dir=os.path.join(h.tmp, "insecure-data")))
    path = write("insecure.yaml", bad)
    r = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True, text=True,
                       timeout=30 * harness.TIME_FACTOR)
    ck.check(r.returncode != 0 and "not a loopback address" in r.stdout + r.stderr,
             "--check-config refuses 0.0.0.0 without tokens: %d %r", r.returncode,
             (r.stdout + r.stderr)[-400:])
    r = subprocess.run([h.atpd_bin, "--config", path], capture_output=True, text=True,
                       timeout=30 * harness.TIME_FACTOR)
    ck.check(r.returncode == 1 and "allow_insecure" in r.stderr,
             "atpd refuses to start on 0.0.0.0 without tokens: %d %r", r.returncode,
             r.stderr[-400:])
    ck.check(not os.path.exists(bad["service"]["data_dir"]),
             "refused before the data directory was created")
    # A loopback config with a command-line override beyond loopback.
    good = dict(base, service=dict(base["service"],
                                   data_dir=os.path.join(h.tmp, "override-data")))
    path = write("override.yaml", good)
    r = subprocess.run([h.atpd_bin, "--config", path, "--query-listen", "tcp://0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30 * harness.TIME_FACTOR)
    ck.check(r.returncode == 1 and "service.query_listen" in r.stderr,
             "--query-listen 0.0.0.0 override refused: %d %r", r.returncode, r.stderr[-400:])
    ck.check(not os.path.exists(good["service"]["data_dir"]),
             "override refused before the data directory was created")
    # allow_insecure: the check passes (not started: it would bind 0.0.0.0).
    ok = dict(bad, auth={"allow_insecure": True})
    r = subprocess.run([h.atpd_bin, "--check-config", write("allow.yaml", ok)],
                       capture_output=True, text=True, timeout=30 * harness.TIME_FACTOR)
    ck.eq(r.returncode, 0, "--check-config accepts 0.0.0.0 with allow_insecure: true")
    # Tokens: the same listener passes too.
    ok = dict(bad, auth={"tokens": token_entries({"reader": TOKENS["reader"]})})
    r = subprocess.run([h.atpd_bin, "--check-config", write("tokens.yaml", ok)],
                       capture_output=True, text=True, timeout=30 * harness.TIME_FACTOR)
    ck.eq(r.returncode, 0, "--check-config accepts 0.0.0.0 with tokens")


def main(h):
    ck = harness.Checks(h)
    check_insecure(h, ck)
    cfg = H.http_config(h)
    cfg["auth"] = {"tokens": token_entries(TOKENS) + [tool_entry(h)]}
    d = h.start_atpd(cfg)

    def c_for(name):
        return TokClient(d.query_port, tok(name), d=d)

    ops = c_for("ops")
    feed = U.Feeder(d, ops)
    H.seed(feed, [("A", "E1", 100)])
    anon = TokClient(d.query_port, None, d=d)

    h.log("nng: every op, refused and allowed")
    refused = check_nng(ck, d, anon, c_for)
    h.log("HTTP: every route, refused and allowed")
    metrics = check_http(ck, d, ops)
    for (op, code), n in sorted(refused.items()):
        name = {E_UNAUTH: "unauthenticated", E_FORBIDDEN: "forbidden"}[code]
        line = 'atpd_request_errors_total{transport="nng",op="%s",code="%s"} %d' % (op, name, n)
        ck.check(line in metrics, "/metrics counts %s", line)
    ck.check('atpd_request_errors_total{transport="http",op="reserve",code="unauthenticated"}'
             in metrics, "/metrics counts HTTP refusals by op")
    h.log("SSE change feed")
    ck.eq(sse_status(d, None), 401, "GET /v1/changes without a token")
    ck.eq(sse_status(d, tok("admin")), 403, "GET /v1/changes with an admin-only token")
    ck.eq(sse_status(d, tok("reader")), 200, "GET /v1/changes with a read token")
    h.log("atpctl --token, $ATP_TOKEN")
    check_tools(h, ck, d)
    check_example_client(h, ck, d)
    h.log("tenancy")
    check_tenancy(ck, d, c_for)
    feed.close()
    d.stop()
    h.log("limits")
    check_limits(h, ck)
    ck.done()


if __name__ == "__main__":
    harness.run(main, "security_auth")
