#!/usr/bin/python3
"""test_resv_ctl.py - every atpctl reservation command against a real atpd.

reserve (granted with --ttl and --channel, a SKU with ':' in it, the same
again = replay, other content = conflict, refused = exit 4 with what was
available, a TTL under min_ttl, a usage error), extend, release of one
line and of the rest, commit --order, commit of a finished reservation
(bad_state), reservation (text and --json), not_found, an unreachable
service (exit 3). Each is checked through its exit status, its text, and
the state atpd then reports (ATP and the reservation itself).

Issue 13: everything runs twice, with --endpoint atpd's nng query socket
and with --endpoint its HTTP API (service.http_listen, http://...), and
the read-only commands (atp, regions, scan, cart, reservation, errors)
print byte for byte the same over both; meanwhile
`watch --json` follows the change feed over nng and over the HTTP event
stream, and both print the same messages.
"""

import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
import resv_util  # noqa: E402

STOCK = ["on_hand", "allocated", "held"]
OK, ERROR, USAGE, UNREACHABLE, REFUSED = 0, 1, 2, 3, 4


def scenario(h, c, d, q, ep, tag):
    """Every reservation command through atpctl --endpoint ep; reservation
    ids start with tag. Starts and ends with A1 at ATP 10, X:Y at 5."""
    h.log("atpctl --endpoint %s", ep)
    r1, r2, r3, r4 = (tag + n for n in ("r1", "r2", "r3", "r4"))

    def ctl(*args):
        """(exit status, stdout + stderr) of atpctl --endpoint <ep> ARGS."""
        r = harness.run_ctl(h, ["--endpoint", ep] + list(args))
        return r.returncode, r.stdout + r.stderr

    def ctl_json(*args):
        r = harness.run_ctl(h, ["--endpoint", ep, "--json"] + list(args))
        return r.returncode, harness.last_json(r.stdout)

    def get(rid):
        rc, obj = ctl_json("reservation", rid)
        return (obj or {}).get("reservation") if rc == 0 else None

    def atp(sku):
        return q.atp(sku, "east", "web").get("atp")

    # reserve: granted, two lines, one SKU with a ':' (split from the right).
    rc, out = ctl("reserve", r1, "A1:east:2", "X:Y:east:1", "--ttl", "30s",
                  "--channel", "web")
    c.eq(rc, OK, "reserve r1: exit status (%s)" % out.strip())
    c.check(out.startswith("reserved %s (" % r1), "reserve r1 prints 'reserved r1 (...)': %r",
            out)
    res = get(r1) or {}
    c.eq(res.get("channel"), "web", "r1 channel")
    c.eq([(l["sku"], l["qty"]) for l in res.get("lines", [])], [("A1", 2), ("X:Y", 1)],
         "r1 lines")
    c.eq(res.get("expires_ms", 0) - res.get("created_ms", 0), 30000, "r1 --ttl 30s")
    c.eq((atp("A1"), atp("X:Y")), (8, 4), "ATP after r1")

    rc, obj = ctl_json("reserve", r1, "A1:east:2", "X:Y:east:1", "--ttl", "30s",
                       "--channel", "web")
    c.check(rc == OK and (obj or {}).get("replayed") is True,
            "the same reserve again replays the first answer: %s %r", rc, obj)
    rc, out = ctl("reserve", r1, "A1:east:3", "--channel", "web")
    c.check(rc == ERROR and "conflict (18)" in out,
            "reserve r1 with other lines: conflict, exit 1: %s %r", rc, out)

    rc, out = ctl("reserve", r2, "A1:east:100", "--channel", "web")
    c.eq(rc, REFUSED, "reserve beyond ATP: exit 4")
    c.check("refused %s: A1@east wanted 100, available 8" % r2 in out,
            "a refusal says what was available: %r", out)
    c.eq(get(r2), None, "a refused reserve stores nothing")
    rc, out = ctl("reserve", r3, "A1:east:1", "--ttl", "10ms")
    c.check(rc == ERROR and "bad_ttl" in out,
            "--ttl 10ms under min_ttl: bad_ttl, exit 1: %s %r", rc, out)
    rc, out = ctl("reserve", r4, "A1:east")
    c.check(rc == USAGE and get(r4) is None,
            "a line without a quantity is a usage error, nothing sent: %s %r", rc, out)
    c.eq(atp("A1"), 8, "ATP after the refusals")

    # extend: now + 1h.
    t0 = harness.now_ms()
    rc, out = ctl("extend", r1, "1h")
    c.eq(rc, OK, "extend r1 1h: exit status (%s)" % out.strip())
    exp = (get(r1) or {}).get("expires_ms", 0)
    c.check(t0 + 3600 * 1000 <= exp <= harness.now_ms() + 3600 * 1000,
            "extend r1 1h: expires_ms %d in [%d, now + 1h]", exp, t0 + 3600 * 1000)

    # release one line: X:Y comes back, A1 stays held.
    rc, out = ctl("release", r1, "X:Y:east")
    c.eq(rc, OK, "release r1 X:Y:east: exit status (%s)" % out.strip())
    lines = {l["sku"]: l for l in (get(r1) or {}).get("lines", [])}
    c.eq((lines.get("X:Y", {}).get("released"), lines.get("A1", {}).get("released")),
         (1, 0), "released per line after releasing X:Y")
    c.eq((atp("A1"), atp("X:Y")), (8, 5), "ATP after releasing X:Y")

    # commit with an order reference, then release the rest.
    rc, out = ctl("commit", r1, "--order", tag + "ORD-9")
    c.eq(rc, OK, "commit r1 --order ORD-9: exit status (%s)" % out.strip())
    res = get(r1) or {}
    c.eq((res.get("state"), res.get("order_ref")), ("committed", tag + "ORD-9"),
         "r1 committed")
    rc, out = ctl("reservation", r1)
    c.check(rc == OK and out.startswith("reservation %s: committed" % r1)
            and "ORD-9" in out and "A1" in out, "reservation r1 (text): %r", out)
    rc, out = ctl("release", r1)
    c.eq(rc, OK, "release r1 (every line): exit status (%s)" % out.strip())
    c.eq((get(r1) or {}).get("state"), "released", "r1 released")
    c.eq((atp("A1"), atp("X:Y")), (10, 5), "ATP after releasing r1")

    # Finished: commit and extend are bad_state; a missing id is not_found.
    for args in (("commit", r1), ("extend", r1, "10m")):
        rc, out = ctl(*args)
        c.check(rc == ERROR and "bad_state" in out,
                "%s of a released reservation: bad_state, exit 1: %s %r", args[0], rc, out)
    rc, out = ctl("reservation", "nope")
    c.check(rc == ERROR and "not_found (19)" in out, "reservation nope: %s %r", rc, out)

    # The service commands (their numbers move with time: checked, not compared).
    rc, out = ctl("sources", "--wide")
    c.check(rc == OK and out.startswith("SOURCE") and "\nwms " in out, "sources --wide: %s %r",
            rc, out)
    rc, obj = ctl_json("status")
    c.check(rc == OK and (obj or {}).get("ready") is True, "status --json: %s %r", rc, obj)
    rc, out = ctl("snapshot")
    c.check(rc == OK and out.startswith("snapshot stored:"), "snapshot: %s %r", rc, out)


class start_watch:
    """atpctl --json watch east ARGS as a child, its stdout and stderr in
    files (stopped by pid with SIGINT)."""

    def __init__(self, h, d, name, args):
        self.out_path = os.path.join(d.dir, "watch-%s.out" % name)
        self.err_path = os.path.join(d.dir, "watch-%s.err" % name)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = harness._spawn([h.atpctl_bin, "--json"] + args +
                                       ["watch", "east", "--duration", "300s"],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self):
        with open(self.out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return [json.loads(line) for line in text.splitlines()
                if line.endswith("}")]  # a line being written is left out

    def messages(self):
        return [o for o in self.lines() if "gap" not in o]

    def gaps(self):
        return [o["gap"] for o in self.lines() if "gap" in o]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=10 * harness.TIME_FACTOR)
        except subprocess.TimeoutExpired:
            harness._stop_pid(self.proc, 1)
            return self.proc.returncode


def main(h):
    c = harness.Checks(h)
    cfg = resv_util.resv_config(h, ["east"], [("DC-1", "east")], [("wms", ["DC-1"], STOCK)],
                                channels=("web",), min_ttl="1s",
                                service={"http_listen": "http://127.0.0.1:0"})
    d = harness.Atpd(h, cfg, "atpd").start()
    q = resv_util.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    pub.send_payload(pub.next_batch("wms", [[2, "A1", "DC-1", 0, 10],
                                            [2, "X:Y", "DC-1", 0, 5]])[1])
    pub.wait_applied("wms")
    pub.close()
    http_url = d.ready.get("http", "")
    c.check(http_url.startswith("http://127.0.0.1:"), "the ready file names the HTTP URL: %r",
            http_url)

    # watch: the nng feed and the HTTP event stream, side by side.
    watches = {name: start_watch(h, d, name, args) for name, args in (
        ("nng", ["--endpoint", d.query_url, "--feed", F.feed_url(d)]),
        ("http", ["--endpoint", http_url]))}
    harness.wait_until(lambda: all("connected to" in w.stderr() for w in watches.values())
                       and q.status()["feed"]["subscribers"] >= 1
                       and q.status()["http"]["event_streams"] >= 1,
                       10, 0.02, "both watches connected")

    scenario(h, c, d, q, d.query_url, "")
    scenario(h, c, d, q, http_url, "h-")

    pub = harness.Publisher(d, q)
    pub.seq["wms"] = 1
    pub.connect()
    pub.send_payload(pub.next_batch("wms", [[2, "END", "DC-1", 0, 7]])[1])
    harness.wait_until(lambda: all(any(m.get("sku") == "END" for m in w.messages())
                                   for w in watches.values()),
                       10, 0.05, "the last change in both watches")
    pub.close()
    got = {name: w.stop() for name, w in watches.items()}
    c.eq(got, {"nng": 0, "http": 0}, "watch exit status (Ctrl-C)")
    msgs = {name: w.messages() for name, w in watches.items()}
    first = max(m[0]["seq"] for m in msgs.values())
    same = {name: [x for x in m if x["seq"] >= first] for name, m in msgs.items()}
    c.check(len(same["http"]) >= 10, "the watches saw the reservations: %d messages",
            len(same["http"]))
    c.eq(same["http"], same["nng"], "watch --json over HTTP (event stream) and nng: the "
         "same messages")
    c.eq((watches["nng"].gaps(), watches["http"].gaps()), ([], []), "no gaps")

    # The same command prints the same over both endpoints; a SKU or id
    # "." or ".." is sent as a path segment of its own, not squashed.
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "reserve", ".", "A1:east:1"])
    c.eq(r.returncode, OK, "reserve . over nng: %r" % (r.stdout + r.stderr,))
    cart = "A1 east 2\nX:Y east 1\n# a comment\nA1 east 30\n"
    for args in (["atp", "A1", "east", "--channel", "web"], ["atp", "A1", "east", "--json"],
                 ["regions", "X:Y"], ["regions", "A1", "--json"], ["scan", "east"],
                 ["scan", "east", "--json", "--limit", "1", "--all"],
                 ["reservation", "r1", "--json"], ["reservation", "nope", "--json"],
                 ["atp", "A1", "mars"], ["release", "h-r1", "--json"],
                 ["reserve", "r9", "A1:east:100"], ["cart", "-", "--channel", "web"],
                 ["cart", "-", "--json"], ["cart", "-", "--channel", "shop"],
                 ["atp", ".", "east"], ["atp", "..", "east", "--json"],
                 ["reservation", ".", "--json"], ["regions", "..", "--json"]):
        stdin = cart if args[0] == "cart" else None
        got = [harness.run_ctl(h, ["--endpoint", ep] + args, stdin=stdin)
               for ep in (d.query_url, http_url)]
        c.eq((got[1].returncode, got[1].stdout, got[1].stderr),
             (got[0].returncode, got[0].stdout, got[0].stderr),
             "atpctl %s: the same over HTTP as over nng" % " ".join(args))

    # A command the HTTP API has no route for: a usage error (2), not
    # "is atpd running?" (3).
    r = harness.run_ctl(h, ["--endpoint", http_url, "backup", os.path.join(d.dir, "bk")])
    c.check(r.returncode == USAGE and "no HTTP route" in r.stderr and "running" not in r.stderr,
            "backup over HTTP: exit %d %r", r.returncode, r.stderr)

    # No service: exit 3, over either.
    free = harness.free_ports(1)[0]
    for ep in ("tcp://127.0.0.1:%d" % free, "http://127.0.0.1:%d" % free):
        r = harness.run_ctl(h, ["--endpoint", ep, "--timeout", "500", "reservation", "r1"])
        c.eq(r.returncode, UNREACHABLE, "atpctl against no service (%s): exit 3" % ep)
    # An http:// endpoint that is not atpd's HTTP API (its nng query port).
    r = harness.run_ctl(h, ["--endpoint", "http://127.0.0.1:%d" % d.query_port,
                            "--timeout", "2000", "status"])
    c.check(r.returncode == UNREACHABLE and "service.http_listen" in r.stderr,
            "http:// at the nng port: exit 3 naming http_listen: %d %r",
            r.returncode, r.stderr)

    q.close()
    c.eq(d.stop(), 0, "clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "resv_ctl")
