#!/usr/bin/python3
"""test_security_tls.py - TLS on every endpoint (issue 14, "TLS").

A throwaway PKI is made at test time with Debian's `openssl` in the test's
temporary directory: a CA, a server certificate for 127.0.0.1, a client
certificate, a second ("rogue") CA with its own client certificate, an
expired server certificate, a key of another pair and a DER (not PEM)
certificate. Then:

- `atpd --check-config` accepts the good tls: section and refuses an
  unreadable file, a key that is not the certificate's, an expired
  certificate, a non-PEM file and a tls+tcp:// endpoint without the
  section, each with the file name and the line of its key;
- atpd with every nng endpoint on tls+tcp:// and HTTP on https://
  (client certificates required) answers atpctl (status, atp, reserve,
  release) with --ca/--cert/--key, takes a feed from atp-feed over TLS,
  publishes its change feed to `atpctl watch` over TLS (and to nobody
  without a client certificate), and serves HTTPS to a client that trusts
  the CA;
- a client without a certificate, with one of the rogue CA, or one that
  does not trust atpd's CA, gets nothing, over nng and over HTTPS;
  atpctl without --ca says so;
- plain TCP (an SP handshake, an HTTP request) to the TLS ports fails
  cleanly, and atpd keeps serving TLS clients and stops cleanly;
- with verify_clients: none, a client with the CA alone is served (nng
  and HTTPS).

Labels: integration, security. Bounded: about 35 s.
"""

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def openssl(pki, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=pki, capture_output=True,
                       text=True, timeout=30 * harness.TIME_FACTOR)
    if r.returncode != 0:
        raise harness.TestFailure("openssl %s failed: %s" % (" ".join(args), r.stderr))


def make_pki(h):
    """The files of the module docstring, in h.tmp/pki; returns {name: path}."""
    if shutil.which("openssl") is None:
        harness.skip("openssl is not installed (scripts/install-deps.sh lists it)")
    pki = os.path.join(h.tmp, "pki")
    os.makedirs(pki)
    with open(os.path.join(pki, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n")

    def ca(name):
        openssl(pki, "req", "-x509", *EC, "-keyout", name + ".key", "-out", name + ".pem",
                "-days", "2", "-subj", "/CN=" + name)

    def leaf(name, issuer, cn, days="2", san=True):
        openssl(pki, "req", *EC, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn)
        openssl(pki, "x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem",
                "-CAkey", issuer + ".key", "-CAcreateserial", "-out", name + ".pem",
                "-days", days, *(["-extfile", "san.ext"] if san else []))

    ca("ca")
    ca("rogue-ca")
    leaf("server", "ca", "127.0.0.1")
    leaf("client", "ca", "checkout-1", san=False)
    leaf("rogue-client", "rogue-ca", "checkout-1", san=False)
    leaf("expired", "ca", "127.0.0.1", days="-1")
    openssl(pki, "x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der")
    return {n: os.path.join(pki, n) for n in os.listdir(pki)}


def tls_section(p, **over):
    t = {"cert_file": p["server.pem"], "key_file": p["server.key"], "ca_file": p["ca.pem"],
         "verify_clients": "required"}
    t.update(over)
    return t


def check_config(h, c, p):
    """--check-config on good and bad tls: sections."""
    def run(tls, name, **service):
        cfg = h.config(**service)
        cfg["regions"] = [{"id": "r1"}]
        if tls is not None:
            cfg["tls"] = tls
        path = os.path.join(h.tmp, name + ".yaml")
        text = "# " + name + "\n" + harness.to_yaml(cfg) + "\n"
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True,
                           text=True, timeout=30 * harness.TIME_FACTOR)
        return r.returncode, r.stdout + r.stderr, text.splitlines()

    def line_of(lines, key):
        return next(i + 1 for i, l in enumerate(lines) if l.strip().startswith(key + ":"))

    rc, out, _ = run(tls_section(p), "good", query_listen="tls+tcp://127.0.0.1:0",
                     http_listen="https://127.0.0.1:0")
    c.eq(rc, 0, "check-config of a good tls: section (%s)" % out.strip())

    missing = p["ca.pem"] + ".missing"
    bad = [
        ("unreadable", tls_section(p, cert_file=missing), "cert_file",
         [missing, "cannot be read"]),
        ("mismatch", tls_section(p, key_file=p["client.key"]), "key_file",
         [p["client.key"], "does not match the certificate in " + p["server.pem"]]),
        ("expired", tls_section(p, cert_file=p["expired.pem"], key_file=p["expired.key"]),
         "cert_file", [p["expired.pem"], "expired on"]),
        ("der", tls_section(p, ca_file=p["server.der"]), "ca_file",
         [p["server.der"], "is not a PEM certificate"]),
        ("key-not-pem", tls_section(p, key_file=p["server.pem"]), "key_file",
         [p["server.pem"], "is not a PEM private key"]),
        ("verify-without-ca", {"cert_file": p["server.pem"], "key_file": p["server.key"],
                               "verify_clients": "required"}, "verify_clients",
         ["needs tls.ca_file"]),
    ]
    for name, tls, key, words in bad:
        rc, out, lines = run(tls, name, query_listen="tls+tcp://127.0.0.1:0")
        c.eq(rc, 1, "check-config %s: exit status (%s)" % (name, out.strip()))
        want = "%s.yaml:%d:" % (name, line_of(lines, key))
        c.check(want in out, "check-config %s: names the file and line %r: %r",
                name, want, out)
        for w in words:
            c.check(w in out, "check-config %s: says %r: %r", name, w, out)
    rc, out, _ = run(None, "no-section", feed_listen="tls+tcp://127.0.0.1:0")
    c.check(rc == 1 and "service.feed_listen: tls+tcp://127.0.0.1:0 needs the tls: section"
            in out, "check-config: tls+tcp:// without a tls: section is refused: %s %r",
            rc, out)


def ctl(h, d, tls_args, *args, endpoint=None, timeout_ms=3000):
    r = harness.run_ctl(h, ["--endpoint", endpoint or d.query_url, "--json",
                            "--timeout", timeout_ms] + tls_args + list(args))
    return r.returncode, harness.last_json(r.stdout), r.stderr


def https_get(url, ctx, path="/v1/status"):
    host, port = url[len("https://"):].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx,
                                       timeout=10 * harness.TIME_FACTOR)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def served(h, d, good):
    rc, obj, err = ctl(h, d, good, "status")
    return rc == 0 and (obj or {}).get("ok") is True


def main(h):
    c = harness.Checks(h)
    p = make_pki(h)
    check_config(h, c, p)

    tls = "tls+tcp://127.0.0.1:0"
    cfg = harness.build_config(
        h, ["r1"], [("L1", "r1")],
        [harness.source_entry("wms", [(["L1"], ["on_hand"])])],
        query_listen=tls, ingest_listen=tls, feed_listen=tls, control_listen=tls,
        http_listen="https://127.0.0.1:0")
    cfg["tls"] = tls_section(p)
    d = h.start_atpd(cfg)
    for key in ("query", "ingest", "feed", "control"):
        c.check(d.ready[key].startswith("tls+tcp://127.0.0.1:"),
                "ready file: %s on tls+tcp:// with its port: %r", key, d.ready[key])
    c.check(d.ready["http"].startswith("https://127.0.0.1:"),
            "ready file: http on https://: %r", d.ready["http"])
    good = ["--ca", p["ca.pem"], "--cert", p["client.pem"], "--key", p["client.key"]]

    # Queries, a feed and reservations with the CA and a client certificate.
    rc, obj, err = ctl(h, d, good, "status")
    c.check(rc == 0 and (obj or {}).get("ok") is True,
            "status over tls+tcp:// with a client certificate: %s %r %s", rc, obj, err)
    feed = [h.feed_bin, "--config", d.config_path, "--endpoint", d.ingest_url, "--source",
            "wms", "--messages", 20, "--skus", 5, "--quiet"] + good
    r = subprocess.run([str(a) for a in feed], capture_output=True, text=True,
                       timeout=120 * harness.TIME_FACTOR)
    c.eq(r.returncode, 0, "atp-feed over tls+tcp:// (%s)" % r.stderr.strip()[-500:])

    def applied():
        rc, obj, _ = ctl(h, d, good, "sources")
        s = {x["id"]: x for x in (obj or {}).get("sources", [])}.get("wms", {})
        return s.get("last_seq", 0) >= 20 or s.get("applied_seq", 0) >= 20 or None
    try:
        harness.wait_until(applied, 30, 0.1, "the TLS feed applied")
    except harness.TestFailure as e:
        c.check(False, "feed over TLS applied: %s (%r)", e, ctl(h, d, good, "sources")[1])
    rc, obj, err = ctl(h, d, good, "scan", "r1")
    items = [i for i in (obj or {}).get("items", []) if i.get("supply", 0) > 0]
    c.check(rc == 0 and items, "scan over TLS finds stock fed over TLS: %s %r %s", rc, obj, err)
    sku = items[0]["sku"] if items else "SKU-0"
    rc, obj, err = ctl(h, d, good, "atp", sku, "r1")
    c.check(rc == 0 and (obj or {}).get("atp", 0) > 0, "atp over TLS: %s %r %s", rc, obj, err)
    rc, obj, err = ctl(h, d, good, "reserve", "tls-r1", "%s:r1:1" % sku, "--ttl", "1m")
    c.check(rc == 0 and (obj or {}).get("granted") is True,
            "reserve over TLS granted: %s %r %s", rc, obj, err)
    rc, obj, err = ctl(h, d, good, "release", "tls-r1")
    c.check(rc == 0 and (obj or {}).get("ok") is True, "release over TLS: %s %r %s",
            rc, obj, err)

    # The change feed over tls+tcp://: a subscriber with a client
    # certificate sees the change a reservation makes; one without sees
    # nothing (the handshake fails: the feed's only protection).
    def watch(args):
        argv = [h.atpctl_bin, "watch", "r1", "--json", "--count", "1", "--duration", "6s",
                "--feed", d.ready["feed"], "--endpoint", d.query_url] + args
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=harness._pdeathsig)
    watchers = [watch(good), watch(["--ca", p["ca.pem"]])]
    try:
        harness.wait_until(lambda: ctl(h, d, good, "status")[1]["feed"]["subscribers"] >= 1
                           or None, 10, 0.1, "a TLS subscriber")
    except harness.TestFailure as e:
        c.check(False, "the TLS subscriber connects: %s", e)
    rc, obj, err = ctl(h, d, good, "reserve", "tls-feed", "%s:r1:1" % sku, "--ttl", "1m")
    c.check(rc == 0, "reserve for the feed: %s %r %s", rc, obj, err)
    outs = [w.communicate(timeout=30 * harness.TIME_FACTOR) for w in watchers]
    c.check(watchers[0].returncode == 0 and sku in outs[0][0],
            "watch over tls+tcp:// with a client certificate sees the change: %s %r %r",
            watchers[0].returncode, outs[0][0][-300:], outs[0][1][-300:])
    c.check(outs[1][0].strip() == "",
            "watch without a client certificate sees nothing: %r", outs[1][0][-300:])

    # HTTPS with the CA and a client certificate; atpctl over https://
    # too. Without a valid client certificate the connection is closed.
    https = d.ready["http"]
    ctx = ssl.create_default_context(cafile=p["ca.pem"])
    ctx.load_cert_chain(p["client.pem"], p["client.key"])
    status, body = https_get(https, ctx)
    c.eq(status, 200, "GET /v1/status over HTTPS trusting the CA, with a client certificate")
    rogue = ssl.create_default_context(cafile=p["ca.pem"])
    rogue.load_cert_chain(p["rogue-client.pem"], p["rogue-client.key"])
    for what, cx in (("no client certificate", ssl.create_default_context(cafile=p["ca.pem"])),
                     ("a client certificate of another CA", rogue)):
        try:
            status, _ = https_get(https, cx)
            c.check(False, "HTTPS with %s must be refused: got %s", what, status)
        except (ssl.SSLError, ConnectionError, http.client.HTTPException, socket.timeout):
            pass
    rc, obj, err = ctl(h, d, good, "status", endpoint=https)
    c.check(rc == 0 and (obj or {}).get("ok") is True,
            "atpctl --endpoint https:// --ca: %s %r %s", rc, obj, err)
    try:
        https_get(https, ssl.create_default_context(cafile=p["rogue-ca.pem"]))
        c.check(False, "HTTPS: a client trusting another CA must refuse atpd's certificate")
    except ssl.SSLError:
        pass
    # TLS 1.1 is refused by tls.min_version 1.2 (and by the client's own
    # OpenSSL policy: so this shows the server does not accept it only
    # together with the version the handshake reports below).
    conn = http.client.HTTPSConnection(*https[len("https://"):].rsplit(":", 1), context=ctx,
                                       timeout=10 * harness.TIME_FACTOR)
    conn.connect()
    c.check(conn.sock.version() in ("TLSv1.2", "TLSv1.3"),
            "HTTPS negotiates TLS 1.2 or 1.3: %r", conn.sock.version())
    conn.close()

    # Clients without a trusted certificate get nothing.
    for what, args in [
            ("no client certificate", ["--ca", p["ca.pem"]]),
            ("a client certificate of another CA",
             ["--ca", p["ca.pem"], "--cert", p["rogue-client.pem"],
              "--key", p["rogue-client.key"]]),
            ("trusting another CA than atpd's",
             ["--ca", p["rogue-ca.pem"], "--cert", p["client.pem"], "--key", p["client.key"]])]:
        rc, obj, err = ctl(h, d, args, "status", timeout_ms=1500)
        c.check(rc != 0 and obj is None, "status with %s: refused (got %s %r)", what, rc, obj)
    rc, obj, err = ctl(h, d, [], "status", timeout_ms=1500)
    c.check(rc != 0 and "needs --ca" in err, "atpctl without --ca says so: %s %r", rc, err)
    feed_nocert = [str(a) for a in feed[:-len(good)]] + ["--ca", p["ca.pem"]]
    r = subprocess.run(feed_nocert, capture_output=True, text=True,
                       timeout=120 * harness.TIME_FACTOR)
    c.check(r.returncode != 0, "atp-feed without a client certificate fails: %s %r",
            r.returncode, r.stdout[-300:] + r.stderr[-300:])

    # Plain TCP to the TLS ports: closed cleanly, atpd keeps serving.
    for port in (d.query_port, d.ingest_port):
        s = socket.create_connection(("127.0.0.1", port), timeout=5 * harness.TIME_FACTOR)
        try:
            s.sendall(b"\x00SP\x00\x00\x30\x00\x00" + b"\x00" * 64)
            s.settimeout(10 * harness.TIME_FACTOR)
            got = s.recv(4096)
            c.check(not got.startswith(b"\x00SP\x00"),
                    "plain SP to tls+tcp:// port %d gets no SP handshake: %r", port, got)
        except (ConnectionError, socket.timeout):
            pass
        finally:
            s.close()
    host, port = https[len("https://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10 * harness.TIME_FACTOR)
    try:
        conn.request("GET", "/v1/status")
        r = conn.getresponse()
        c.check(r.status != 200, "plain HTTP to the HTTPS port is not served: %d", r.status)
    except (ConnectionError, http.client.HTTPException, socket.timeout):
        pass
    finally:
        conn.close()
    c.check(served(h, d, good), "atpd serves TLS clients after the plain TCP attempts")
    status, _ = https_get(https, ctx)
    c.eq(status, 200, "HTTPS after the plain TCP attempts")
    d.stop()

    # verify_clients: none - the CA alone is enough.
    cfg2 = harness.build_config(h, ["r1"], [("L1", "r1")], [], query_listen=tls,
                                http_listen="https://127.0.0.1:0")
    cfg2["tls"] = tls_section(p, verify_clients="none")
    d2 = h.start_atpd(cfg2, name="atpd-noverify")
    rc, obj, err = ctl(h, d2, ["--ca", p["ca.pem"]], "status")
    c.check(rc == 0 and (obj or {}).get("ok") is True,
            "verify_clients none: served with --ca alone: %s %r %s", rc, obj, err)
    status, _ = https_get(d2.ready["http"], ssl.create_default_context(cafile=p["ca.pem"]))
    c.eq(status, 200, "verify_clients none: HTTPS served without a client certificate")
    d2.stop()
    c.done()


if __name__ == "__main__":
    harness.run(main, "security_tls")
